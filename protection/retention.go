package protection

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/safehold/safehold/snapshot"
	"github.com/safehold/safehold/store"
)

// Absolute tagging criteria (Azure's absoluteCriteria values).
const (
	AllBackup    = "AllBackup"
	FirstOfDay   = "FirstOfDay"
	FirstOfWeek  = "FirstOfWeek"
	FirstOfMonth = "FirstOfMonth"
	FirstOfYear  = "FirstOfYear"
)

// TagRule is one retention tag of a policy: which backups get it and how
// long they are kept.
type TagRule struct {
	Tag      string   // Default, Daily, Weekly, Monthly, Yearly
	Priority int      // lower wins when several tags match (Azure's taggingPriority)
	Default  bool     // the fallback tag every backup gets when no other matches
	Criteria []string // absolute criteria; a backup matching any of them qualifies
	Retain   Duration // kept this long after the backup time; zero keeps it forever
}

// Retention assigns tags and expiry times to backups.
//
// A backup at t gets the matching tag with the lowest Priority: FirstOfDay
// matches when no earlier point of the item exists on t's calendar day in
// Location, FirstOfWeek the same for t's week (weeks start on WeekStart,
// Sunday by default, as in Azure), FirstOfMonth/FirstOfYear likewise,
// AllBackup always; with no match it gets the Default tag. Its expiry is
// t + Retain of that tag (calendar arithmetic in Location).
type Retention struct {
	Rules     []TagRule
	Location  *time.Location
	WeekStart time.Weekday
}

func (r Retention) loc() *time.Location {
	if r.Location == nil {
		return time.UTC
	}
	return r.Location
}

// Rule returns the rule of a tag name (case-insensitive).
func (r Retention) Rule(tag string) (TagRule, bool) {
	for _, x := range r.Rules {
		if strings.EqualFold(x.Tag, tag) {
			return x, true
		}
	}
	return TagRule{}, false
}

// Tag picks the tag for a backup at t; earlier holds the times of the
// item's existing points (any order; later ones are ignored).
func (r Retention) Tag(t time.Time, earlier []time.Time) TagRule {
	rules := append([]TagRule(nil), r.Rules...)
	sort.SliceStable(rules, func(a, b int) bool { return rules[a].Priority < rules[b].Priority })
	var def TagRule
	for _, x := range rules {
		if x.Default {
			def = x
			continue
		}
		for _, c := range x.Criteria {
			if r.matches(c, t, earlier) {
				return x
			}
		}
	}
	return def
}

// PeriodStart is the start of the day, week, month or year (per criterion)
// containing t in the retention's location.
func (r Retention) PeriodStart(criterion string, t time.Time) time.Time {
	lt := t.In(r.loc())
	y, m, d := lt.Date()
	switch criterion {
	case FirstOfWeek:
		back := (int(lt.Weekday()) - int(r.WeekStart) + 7) % 7
		return time.Date(y, m, d-back, 0, 0, 0, 0, r.loc())
	case FirstOfMonth:
		return time.Date(y, m, 1, 0, 0, 0, 0, r.loc())
	case FirstOfYear:
		return time.Date(y, 1, 1, 0, 0, 0, 0, r.loc())
	default:
		return time.Date(y, m, d, 0, 0, 0, 0, r.loc())
	}
}

func (r Retention) matches(c string, t time.Time, earlier []time.Time) bool {
	switch {
	case strings.EqualFold(c, AllBackup):
		return true
	case strings.EqualFold(c, FirstOfDay), strings.EqualFold(c, FirstOfWeek), strings.EqualFold(c, FirstOfMonth), strings.EqualFold(c, FirstOfYear):
		var canon string
		for _, k := range []string{FirstOfDay, FirstOfWeek, FirstOfMonth, FirstOfYear} {
			if strings.EqualFold(c, k) {
				canon = k
			}
		}
		start := r.PeriodStart(canon, t)
		for _, e := range earlier {
			if !e.Before(start) && e.Before(t) {
				return false
			}
		}
		return true
	}
	return false
}

// Expiry is when a backup at t with rule's tag expires (nil: never).
func (r Retention) Expiry(t time.Time, rule TagRule) *time.Time {
	if rule.Retain.IsZero() {
		return nil
	}
	e := rule.Retain.AddTo(t.In(r.loc())).UTC()
	return &e
}

// ExpiredPoints returns the points whose expiry is at or before now,
// oldest first.
func ExpiredPoints(points []*RecoveryPoint, now time.Time) []*RecoveryPoint {
	var out []*RecoveryPoint
	for _, p := range points {
		if p.Expired(now) {
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Time.Before(out[b].Time) })
	return out
}

// The retention sweep: the engine applies the rules above to an item's
// points, deletes what expired and plans its next sweep.

type retentionPayload struct {
	Face   string `json:"face"`
	ItemID string `json:"itemId"`
}

// ApplyRetention deletes an item's expired recovery points (both tiers) and
// the operational tier of points whose operational expiry passed while the
// vault tier keeps them; an item whose protection is stopped keeps every
// point, one whose backups are suspended its latest. It plans the next sweep (a keyed durable task) at the earliest
// expiry left and returns that time (zero: none).
func (e *Engine) ApplyRetention(ctx context.Context, face, itemID string) (time.Time, error) {
	f, err := e.face(face)
	if err != nil {
		return time.Time{}, err
	}
	ctx, unlock, err := e.lockItem(ctx, itemID)
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
	// Suspended backups keep the points as the policy says but the
	// latest (points are newest first), which stays past its expiry
	// while the item is suspended (Azure's suspendBackups, a Recovery
	// Services item's BackupsSuspended): without it the item would be
	// left with no backup at all. Resumed, it expires as it would have.
	latest := ""
	if it.State == ItemSuspended && len(points) > 0 {
		latest = points[0].ID
	}
	// A point a running restore reads stays whole (both tiers) past its
	// expiry until the restore ends: the restore was accepted while the
	// point was there, and its data must not go under it. The sweep looks
	// again a minute on (of the server clock), and each minute after while
	// a restore uses it.
	restoring, err := restoringPoints(ctx, e.Store, it)
	if err != nil {
		return time.Time{}, err
	}
	var kept []*RecoveryPoint
	for _, p := range points {
		if restoring[p.ID] && (p.Expired(now) || p.HasTier(TierOperational) && p.HasTier(TierVault) && !p.InstantExpiry().IsZero() && !p.InstantExpiry().After(now)) {
			plan(now.Add(restoreHoldRecheck))
			continue
		}
		if !keepAll && p.ID != latest && p.Expired(now) {
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
		if !keepAll && p.ID != latest && p.Expiry != nil {
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

// restoreHoldRecheck is how long after a sweep that kept an expired point
// for a running restore the next sweep looks again.
const restoreHoldRecheck = time.Minute

// restoringPoints is the set of the item's points that restores still
// running read (their jobs' RecoveryPointID).
func restoringPoints(ctx context.Context, r store.Reader, it *Item) (map[string]bool, error) {
	js, err := RunningJobs(ctx, r, it.VaultID, JobFilter{ItemID: it.ID, Operation: OpRestore})
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, j := range js {
		if j.RecoveryPointID != "" {
			out[j.RecoveryPointID] = true
		}
	}
	return out, nil
}

// retentionKey is the keyed task of an item's next retention sweep.
func retentionKey(itemID string) string { return taskRetention + ":" + strings.ToLower(itemID) }

// runRetentionTask is the item's sweep task. The task stays until the
// sweep's last transaction replaces it with the next sweep or completes
// it (applyRetention; the runner completes it when the sweep ends
// otherwise), so that its lease is renewed while the sweep waits for the
// item's lease (behind a backup of a large disk, say) or deletes many
// points: completed first, its renewal found it gone a third of a lease
// on, and the runner stopped the sweep then with nothing left to run it
// again, so an item whose protection was suspended kept its expired
// points for ever (TestRetentionSweepOutlivesItsTaskLease).
func (e *Engine) runRetentionTask(ctx context.Context, t store.Task, p retentionPayload) error {
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
	ctx, unlock, err := e.lockItem(ctx, itemID)
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
// between the data's deletion and the item's. check (nil: none) runs
// under the lease before the points are listed and again in the
// transaction that removes the item (the face's check that the item is
// still the one it was asked to delete: one made again under its id since
// is another); when it fails, nothing more is deleted and its error is
// returned.
func (e *Engine) DeleteItemData(ctx context.Context, itemID, vaultKey string, check func(ctx context.Context, r store.Reader) error,
	remove func(ctx context.Context, tx store.Tx) error) error {
	ctx, unlock, err := e.lockItem(ctx, itemID)
	if err != nil {
		return err
	}
	defer unlock()
	if check == nil {
		check = func(context.Context, store.Reader) error { return nil }
	}
	if err := check(ctx, e.Store); err != nil {
		return err
	}
	points, err := ListRecoveryPoints(ctx, e.Store, itemID)
	if err != nil {
		return err
	}
	if err := e.DeletePoints(ctx, vaultKey, points...); err != nil {
		return err
	}
	return e.Store.Update(ctx, func(tx store.Tx) error {
		if err := check(ctx, tx); err != nil {
			return err
		}
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
