package protection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/safehold/safehold/snapshot"
	"github.com/safehold/safehold/store"
)

type retentionPayload struct {
	Face   string `json:"face"`
	ItemID string `json:"itemId"`
}

// ApplyRetention deletes an item's expired recovery points (both tiers) and
// the operational tier of points whose operational expiry passed while the
// vault tier keeps them; an item whose protection is stopped keeps every
// point. It plans the next sweep (a keyed durable task) at the earliest
// expiry left and returns that time (zero: none).
func (e *Engine) ApplyRetention(ctx context.Context, face, itemID string) (time.Time, error) {
	f, err := e.face(face)
	if err != nil {
		return time.Time{}, err
	}
	unlock, err := e.lockItem(ctx, itemID)
	if err != nil {
		return time.Time{}, err
	}
	defer unlock()
	return e.applyRetention(ctx, face, f, itemID)
}

func (e *Engine) applyRetention(ctx context.Context, face string, f Face, itemID string) (time.Time, error) {
	it, err := f.Item(ctx, e.Store, itemID)
	if err != nil {
		return time.Time{}, nil // gone, or not protected here any more
	}
	points, err := ListRecoveryPoints(ctx, e.Store, it.ID)
	if err != nil {
		return time.Time{}, err
	}
	now := e.Now()
	var next time.Time
	plan := func(t time.Time) {
		if !t.IsZero() && t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	dropped := false
	defer func() {
		if dropped {
			e.GCVault(ctx, it.VaultKey)
		}
	}()
	keepAll := it.State == ItemStopped
	var kept []*RecoveryPoint
	for _, p := range points {
		if !keepAll && p.Expired(now) {
			if err := e.dropPoint(ctx, it.VaultKey, p, true); err != nil {
				return time.Time{}, fmt.Errorf("delete expired recovery point %s: %w", p.ID, err)
			}
			dropped = dropped || p.HasTier(TierVault)
			continue
		}
		if iu := p.InstantExpiry(); p.HasTier(TierOperational) && !iu.IsZero() && !iu.After(now) && p.HasTier(TierVault) {
			if err := e.dropPoint(ctx, it.VaultKey, p, false); err != nil {
				return time.Time{}, err
			}
		} else if p.HasTier(TierOperational) {
			plan(p.InstantExpiry())
		}
		if !keepAll && p.Expiry != nil {
			plan(*p.Expiry)
		}
		kept = append(kept, p)
	}
	if err := e.tierSweep(ctx, it, kept, now, plan); err != nil {
		return time.Time{}, err
	}
	err = e.Store.Update(ctx, func(tx store.Tx) error {
		key := retentionKey(it.ID)
		if next.IsZero() {
			if t, err := tx.GetTaskByKey(ctx, key); err == nil {
				return tx.CompleteTask(ctx, t.ID)
			}
			return nil
		}
		_, err := tx.Enqueue(ctx, store.Task{Kind: taskRetention, Key: key, RunAt: next, Payload: mustJSON(retentionPayload{Face: face, ItemID: it.ID})})
		return err
	})
	return next, err
}

// retentionKey is the keyed task of an item's next retention sweep.
func retentionKey(itemID string) string { return taskRetention + ":" + strings.ToLower(itemID) }

func (e *Engine) runRetentionTask(ctx context.Context, t store.Task) error {
	var p retentionPayload
	if err := json.Unmarshal(t.Payload, &p); err != nil {
		return fmt.Errorf("decode retention task: %w", err)
	}
	if err := e.Store.Update(ctx, func(tx store.Tx) error {
		if err := tx.CompleteTask(ctx, t.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return nil
	}); err != nil {
		return err
	}
	_, err := e.ApplyRetention(ctx, p.Face, p.ItemID)
	return err
}

// DeletePoints deletes recovery points in both tiers (vaultKey names the
// vault tier, "" : none) and frees the vault-tier space they held.
func (e *Engine) DeletePoints(ctx context.Context, vaultKey string, points ...*RecoveryPoint) error {
	vault := false
	for _, p := range points {
		if err := e.dropPoint(ctx, vaultKey, p, true); err != nil {
			return err
		}
		vault = vault || p.HasTier(TierVault)
	}
	if vault {
		e.GCVault(ctx, vaultKey)
	}
	return nil
}

// WithItem runs fn holding the item's lease, the one every backup,
// retention sweep and data deletion of the item holds: no backup records a
// point of the item while fn runs. fn must not call the engine's methods
// that take the lease themselves (Backup, ApplyRetention, DeleteItemData).
func (e *Engine) WithItem(ctx context.Context, itemID string, fn func(ctx context.Context) error) error {
	unlock, err := e.lockItem(ctx, itemID)
	if err != nil {
		return err
	}
	defer unlock()
	return fn(ctx)
}

// DeleteItemData deletes every recovery point of an item in both tiers and
// ends its retention sweeps, holding the item's lease until remove (the
// face's removal of the item; nil: none) has run in the transaction that
// ends the sweeps. A backup of the item therefore either records its point
// before the points are listed (and it is deleted with them) or takes the
// lease after the item is gone (and records none): the lease is never free
// between the data's deletion and the item's.
func (e *Engine) DeleteItemData(ctx context.Context, itemID, vaultKey string, remove func(ctx context.Context, tx store.Tx) error) error {
	unlock, err := e.lockItem(ctx, itemID)
	if err != nil {
		return err
	}
	defer unlock()
	points, err := ListRecoveryPoints(ctx, e.Store, itemID)
	if err != nil {
		return err
	}
	if err := e.DeletePoints(ctx, vaultKey, points...); err != nil {
		return err
	}
	return e.Store.Update(ctx, func(tx store.Tx) error {
		if t, err := tx.GetTaskByKey(ctx, retentionKey(itemID)); err == nil {
			if err := tx.CompleteTask(ctx, t.ID); err != nil {
				return err
			}
		}
		if remove != nil {
			return remove(ctx, tx)
		}
		return nil
	})
}

// dropPoint deletes a point's operational snapshots and, with all, its
// vault copy and record (else only the operational tier).
func (e *Engine) dropPoint(ctx context.Context, vaultKey string, p *RecoveryPoint, all bool) error {
	if p.HasTier(TierOperational) {
		for _, s := range p.Snapshots {
			if err := e.Disks.DeleteSnapshot(ctx, s.SnapshotID); err != nil && !errors.Is(err, ErrNotFound) {
				return fmt.Errorf("delete snapshot %s: %w", s.SnapshotID, err)
			}
		}
	}
	if all && p.HasTier(TierVault) && vaultKey != "" {
		repo, release, err := e.vault(ctx, vaultKey)
		if err != nil {
			return err
		}
		for _, s := range p.Snapshots {
			if err := repo.Delete(ctx, snapshot.ID(s.EngineID)); err != nil && !errors.Is(err, snapshot.ErrNotFound) {
				release()
				return fmt.Errorf("delete vault copy of %s: %w", s.SnapshotID, err)
			}
		}
		release()
	}
	return e.Store.Update(ctx, func(tx store.Tx) error {
		if all {
			err := DeleteRecoveryPoint(ctx, tx, p.ItemID, p.ID)
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			return err
		}
		cur, err := GetRecoveryPoint(ctx, tx, p.ItemID, p.ID)
		if err != nil {
			return nil
		}
		cur.DropTier(TierOperational)
		*p = *cur
		return PutRecoveryPoint(ctx, tx, cur)
	})
}
