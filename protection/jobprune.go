package protection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/safehold/safehold/store"
)

// Job history is kept as Azure keeps a vault's: an ended job is deleted
// once it ended longer ago than Engine.JobRetention (DefaultJobRetention,
// six months, unless set; the server's --job-retention), so job lists stop
// showing it; a running job is kept whatever its age. The pruning is one
// keyed durable task in the engine's scheduler ("schedule/prunejobs"),
// run at the first start and at a start with another retention
// (PlanJobPruning) and planned by each run for when
// the oldest ended job left comes of age: it runs on the engine's clock (a
// clock advance runs it) and once across replicas.

// DefaultJobRetention is how long ended jobs are kept by default.
const DefaultJobRetention = 180 * 24 * time.Hour

// pruneJobsItem names the pruning's one schedule.
const pruneJobsItem = "prunejobs"

// pruneBatch bounds the jobs one transaction deletes.
const pruneBatch = 500

// ParseJobRetention parses how long ended jobs are kept: an ISO 8601
// duration (P180D) or a Go duration (4320h), at least a day; "off" keeps
// them forever (-1).
func ParseJobRetention(s string) (time.Duration, error) { return parsePeriod(s, 24*time.Hour, "a day") }

func (e *Engine) jobRetention() time.Duration {
	if e.JobRetention == 0 {
		return DefaultJobRetention
	}
	return e.JobRetention
}

// prunePlan is the data of the pruning's schedule: the retention its
// plan was worked out with (each run hands it on to the next).
type prunePlan struct {
	Retention time.Duration `json:"retention"`
}

// PlanJobPruning plans the pruning of old jobs at start. When none is
// planned with the retention in force (a new store, one from before
// pruning or with it off, or a retention changed since the plan) it
// prunes at once and plans the next run; else it keeps the plan, so
// history made by setting the clock back (jobs of a past date) is not
// pruned by a restart but when the pruning comes due on the clock. With
// jobs kept forever it removes the plan.
func (e *Engine) PlanJobPruning(ctx context.Context) error {
	if e.pruneSched == nil {
		return nil
	}
	keep := e.jobRetention()
	if keep < 0 {
		return e.Store.Update(ctx, func(tx store.Tx) error { return e.pruneSched.Unschedule(ctx, tx, pruneJobsItem) })
	}
	if t, err := e.Store.GetTaskByKey(ctx, TaskKey(pruneJobsItem)); err == nil {
		var p runPayload
		var plan prunePlan
		if json.Unmarshal(t.Payload, &p) == nil && json.Unmarshal(p.Data, &plan) == nil && plan.Retention == keep {
			return nil
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	now := e.Now()
	next, err := e.pruneJobs(ctx, Run{ItemID: pruneJobsItem, Due: now, Now: now})
	if err != nil {
		return fmt.Errorf("prune jobs: %w", err)
	}
	return e.Store.Update(ctx, func(tx store.Tx) error {
		return e.pruneSched.Schedule(ctx, tx, pruneJobsItem, next, prunePlan{Retention: keep})
	})
}

// pruneJobs is the pruning's RunFunc: it deletes the jobs that ended a
// retention ago or earlier and runs next when the oldest ended job left
// comes of age (always after now; a retention from now when none is left).
func (e *Engine) pruneJobs(ctx context.Context, run Run) (time.Time, error) {
	keep := e.jobRetention()
	if keep < 0 {
		return time.Time{}, nil
	}
	docs, err := e.Store.List(ctx, jobKind, store.ListQuery{})
	if err != nil {
		return time.Time{}, fmt.Errorf("list jobs: %w", err)
	}
	ended, err := decodeDocs(docs, "job", func(j *Job) bool { return j.EndTime != nil })
	if err != nil {
		return time.Time{}, err
	}
	cutoff, next := run.Now.Add(-keep), run.Now.Add(keep)
	var old []string
	for _, j := range ended {
		if !j.EndTime.After(cutoff) {
			old = append(old, j.ID)
		} else if t := j.EndTime.Add(keep); t.Before(next) {
			next = t
		}
	}
	for len(old) > 0 {
		batch := old[:min(len(old), pruneBatch)]
		old = old[len(batch):]
		if err := e.Store.Update(ctx, func(tx store.Tx) error { return store.DeleteKeys(ctx, tx, jobKind, batch...) }); err != nil {
			return time.Time{}, fmt.Errorf("delete old jobs: %w", err)
		}
		e.Logger.Info("pruned job history", "jobs", len(batch), "endedBefore", cutoff)
	}
	return next, nil
}
