package protection

import (
	"context"
	"time"

	"github.com/safehold/safehold/store"
)

// ApplyPolicy applies a changed policy to the items it protects, as Azure
// does when a policy with protected items is updated: one ConfigureBackup
// job per item, in which the item's schedule is planned again by the new
// policy (Reschedule, which also applies its retention to the points
// taken). It runs inside the caller's transaction, with the
// policy write, so the jobs exist exactly when the change does (a failure
// aborts the change: no job, no new policy). job makes an item's job
// record (its vault, names and policy); the jobs are returned in the order
// of items.
func (e *Engine) ApplyPolicy(ctx context.Context, tx store.Tx, face string, items []*Item, job func(*Item) *Job) ([]*Job, error) {
	out := make([]*Job, 0, len(items))
	for _, it := range items {
		j := job(it)
		j.Operation = OpConfigureBackup
		now := e.Now()
		j.StartTime = now
		if err := e.Reschedule(ctx, tx, face, it); err != nil {
			return nil, err
		}
		j.Tasks = []JobTask{{Name: "Apply policy " + j.PolicyName, Status: JobCompleted, StartTime: now, EndTime: &now}}
		j.Finish(now, nil)
		if err := CreateJob(ctx, tx, j); err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, nil
}

// reexpire applies a long-term (Recovery Services) policy's retention to
// the points an item already has, as Azure does when the item's policy
// changes or is modified: each scheduled point's expiry is computed again
// by the policy's rules (extended, it is kept longer; reduced, it goes at
// the retention sweep planned now when an expiry changed); an on-demand
// point keeps the expiry its backup gave it, an archived one its own.
func reexpire(ctx context.Context, tx store.Tx, face string, it *Item, now time.Time) error {
	if it.Policy == nil || it.Policy.LongTerm == nil || !it.takesBackups() {
		return nil
	}
	points, err := ListRecoveryPoints(ctx, tx, it.ID)
	if err != nil {
		return err
	}
	changed := false
	for _, p := range points {
		if p.RetentionTag == onDemandTag || p.Archive != nil {
			continue
		}
		keep, _ := it.Policy.Keep(p.Time, nil, "", nil)
		if keep.Expiry == nil || p.Expiry != nil && p.Expiry.Equal(*keep.Expiry) && p.RetentionTag == keep.Tag {
			continue
		}
		p.Expiry, p.RetentionTag = keep.Expiry, keep.Tag
		if err := PutRecoveryPoint(ctx, tx, p); err != nil {
			return err
		}
		changed = true
	}
	if !changed {
		return nil
	}
	_, err = tx.Enqueue(ctx, store.Task{Kind: taskRetention, Key: retentionKey(it.ID), RunAt: now, Payload: mustJSON(retentionPayload{Face: face, ItemID: it.ID})})
	return err
}
