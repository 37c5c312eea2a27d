package protection

import (
	"context"

	"github.com/safehold/safehold/store"
)

// ApplyPolicy applies a changed policy to the items it protects, as Azure
// does when a policy with protected items is updated: one ConfigureBackup
// job per item, in which the item's schedule is planned again by the new
// policy (Reschedule). It runs inside the caller's transaction, with the
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
