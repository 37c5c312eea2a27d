package recoveryservices

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// Soft delete of a VM's backup data, as Azure's Recovery Services vaults
// do it. While the vault's backupconfig has softDeleteFeatureState Enabled
// or AlwaysON, DELETE of a protected item (az backup protection disable
// --delete-backup-data) still answers 202 and ends its DeleteBackupData
// job Completed, but the item stays, with its recovery points and
// snapshots: ProtectionStopped, no policy, isScheduledForDeferredDelete
// true and deferredDeleteTimeInUTC the deletion time. It is purged (points
// in both tiers, item, container) softDeleteRetentionPeriodInDays (14 by
// default) after the deletion by a durable task.
//
// A soft-deleted item takes no backup, restore, file recovery, policy or
// resume until it is undeleted: a PUT of the item with isRehydrate true
// (az backup protection undelete) brings it back ProtectionStopped with
// its points (an Undelete job); resuming protection then restarts its
// schedule. Once the purge has begun (it marks the item first), an
// undelete is 409. Another DELETE of a soft-deleted item is refused while soft
// delete is on, and purges it at once when soft delete is off. The VM
// stays with this vault until the purge, and the vault cannot be deleted
// while it holds soft-deleted items.

const (
	purgeItemTask = "recoveryservices.purgeItem"
	opUndelete    = "Undelete"
)

// softDeleteDays is the vault's soft-delete retention in days when soft
// delete is on, else 0.
func softDeleteDays(ctx context.Context, rd store.Reader, vid arm.ResourceID) (int, error) {
	_, c, err := loadConfig(ctx, rd, vid, "vault")
	if err != nil {
		return 0, err
	}
	switch c.Properties["softDeleteFeatureState"] {
	case "Enabled", "AlwaysON":
	default:
		return 0, nil
	}
	if d, ok := c.Properties["softDeleteRetentionPeriodInDays"].(float64); ok && d >= 14 {
		return int(d), nil
	}
	if d, ok := c.Properties["softDeleteRetentionPeriodInDays"].(int); ok && d >= 14 {
		return d, nil
	}
	return 14, nil
}

// softDeleted refuses what a soft-deleted item cannot do (what names it).
func softDeleted(it *itemRecord, what string) error {
	if it.DeletedAt == nil {
		return nil
	}
	return arm.BadRequest("BMSUserErrorItemSoftDeleted", "The backup data of '%s' was deleted on %s and is kept in the soft-deleted state until %s: undelete it (az backup protection undelete, or a PUT of the item with properties.isRehydrate true) before %s.",
		it.FriendlyName, it.DeletedAt.UTC().Format(time.RFC3339), it.PurgeAt.UTC().Format(time.RFC3339), what)
}

type purgeItemPayload struct {
	ItemID    string    `json:"itemId"`
	DeletedAt time.Time `json:"deletedAt"`
}

func purgeItemKey(itemID string) string { return "purge:" + strings.ToLower(itemID) }

// softDeleteItem turns an item soft-deleted (package comment) and runs
// finish in the same transaction. Safe to repeat.
func (pr *Provider) softDeleteItem(ctx context.Context, id arm.ResourceID, days int, finish func(context.Context, store.Tx) error) error {
	return pr.Engine.WithItem(ctx, id.String(), func(ctx context.Context) error {
		return pr.p.Store.Update(ctx, func(tx store.Tx) error {
			it, err := pr.loadItem(ctx, tx, id)
			if isNotFound(err) {
				return finish(ctx, tx)
			}
			if err != nil {
				return err
			}
			if it.DeletedAt == nil {
				now := pr.p.Now().UTC()
				purge := now.AddDate(0, 0, days)
				it.DeletedAt, it.PurgeAt = &now, &purge
				it.State, it.PolicyID, it.PolicyName = stateStopped, "", ""
				if err := resource.Put(ctx, tx, id, it); err != nil {
					return err
				}
				if err := pr.reschedule(ctx, tx, it); err != nil {
					return err
				}
				payload, _ := json.Marshal(purgeItemPayload{ItemID: it.ID, DeletedAt: now})
				if _, err := tx.Enqueue(ctx, store.Task{Kind: purgeItemTask, Key: purgeItemKey(it.ID), Payload: payload, RunAt: purge}); err != nil {
					return err
				}
			}
			return finish(ctx, tx)
		})
	})
}

// runPurgeItem is the purge task: it purges the soft-deleted item it was
// planned for (not one deleted again after an undelete).
func (pr *Provider) runPurgeItem(ctx context.Context, t store.Task) error {
	var p purgeItemPayload
	if err := json.Unmarshal(t.Payload, &p); err != nil {
		return nil // unreadable: nothing to do
	}
	id, err := arm.ParseID(p.ItemID)
	if err != nil {
		return nil
	}
	// The decision is a transaction that marks the item: an undelete
	// committed before it leaves nothing to purge, and one after it finds
	// the purge begun and is refused (undeleteItem), rather than answering
	// done for points the purge goes on to delete.
	var it *itemRecord
	err = pr.p.Store.Update(ctx, func(tx store.Tx) error {
		it = nil
		cur, err := pr.loadItem(ctx, tx, id)
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if cur.DeletedAt == nil || !cur.DeletedAt.Equal(p.DeletedAt) {
			return nil
		}
		if !cur.Purging {
			cur.Purging = true
			if err := resource.Put(ctx, tx, id, cur); err != nil {
				return err
			}
		}
		it = cur
		return nil
	})
	if err != nil || it == nil {
		return err
	}
	return pr.removeItem(ctx, it, nil)
}

// cancelPurgeItem drops an item's purge task, if it has one.
func cancelPurgeItem(ctx context.Context, tx store.Tx, itemID string) error {
	return store.CompleteTaskByKey(ctx, tx, purgeItemKey(itemID))
}

// undeleteItem is the PUT of a soft-deleted item with isRehydrate true:
// the item is ProtectionStopped again, with its points, and its purge is
// cancelled.
func undeleteItem(ctx context.Context, tx store.Tx, it *itemRecord) error {
	if it.DeletedAt == nil {
		return arm.BadRequest("BMSUserErrorInvalidInput", "properties.isRehydrate undeletes a soft-deleted item, and the backup data of '%s' is not deleted: leave isRehydrate out.", it.FriendlyName)
	}
	if it.Purging {
		return arm.Conflict("BMSUserErrorItemSoftDeleted", "The soft-delete retention of the backup data of '%s' ended on %s and its purge has begun: it can no longer be undeleted.",
			it.FriendlyName, it.PurgeAt.UTC().Format(time.RFC3339))
	}
	it.DeletedAt, it.PurgeAt = nil, nil
	it.State, it.PolicyID, it.PolicyName = stateStopped, "", ""
	return cancelPurgeItem(ctx, tx, it.ID)
}

// softDeletedCount is how many of items are soft-deleted.
func softDeletedCount(items []itemRecord) int {
	n := 0
	for i := range items {
		if items[i].DeletedAt != nil {
			n++
		}
	}
	return n
}

// deleteRefusal is the answer to DELETE of a soft-deleted item while soft
// delete is on.
func deleteRefusal(it *itemRecord) error {
	return arm.BadRequest("BMSUserErrorItemSoftDeleted", "The backup data of '%s' is already deleted and kept in the soft-deleted state until %s, when it is purged. Undelete it to keep it, or disable the vault's soft delete and delete it again to purge it now.",
		it.FriendlyName, it.PurgeAt.UTC().Format(time.RFC3339))
}
