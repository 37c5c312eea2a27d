package protection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/job"
	"github.com/safehold/safehold/store"
)

// Run is one scheduled run of a protected item.
type Run struct {
	ItemID string
	// Due is when the run was scheduled; Now is when it actually runs
	// (later after downtime).
	Due, Now time.Time
	// ID is stable for this item and due time: use it for the run's job or
	// recovery point id so that a run repeated after a crash (its work done,
	// the next run not yet recorded) finds its own work instead of doubling it.
	ID string
	// Data is the opaque payload given to Schedule.
	Data json.RawMessage
}

// RunFunc does one scheduled run and returns when the item runs next (zero
// time: no further runs). Errors of its own work (a failed backup) should be
// recorded (as a failed job) and still return the next time; a returned
// error retries this run after RetryDelay.
type RunFunc func(ctx context.Context, run Run) (next time.Time, err error)

// Scheduler keeps one keyed durable task per protected item
// ("schedule:"+itemID) in the job runner's queue. A run's task is
// completed and the next run's task enqueued in one transaction, so a
// schedule is never lost or doubled, across restarts too.
//
// # Missed-run rule
//
// When a run is claimed after its due time, it runs once, immediately, for
// the whole missed window (its backup is taken at the actual time); the
// occurrences missed in between are not replayed, and the next run is the
// schedule's first occurrence after the actual run time. So after any
// downtime an item gets exactly one catch-up backup, then its normal cadence.
type Scheduler struct {
	store      store.Store
	clock      clock.Clock
	runner     *job.Runner
	kind       string
	fn         RunFunc
	RetryDelay time.Duration // after a RunFunc error; default 5 minutes
}

type runPayload struct {
	ItemID string          `json:"itemId"`
	Due    time.Time       `json:"due"`
	Data   json.RawMessage `json:"data,omitempty"`
}

// NewScheduler registers the task kind "schedule/"+name with runner; each
// vault kind has its own (e.g. "dataprotection", "recoveryservices").
func NewScheduler(s store.Store, clk clock.Clock, runner *job.Runner, name string, fn RunFunc) *Scheduler {
	sc := &Scheduler{store: s, clock: clk, runner: runner, kind: "schedule/" + name, fn: fn, RetryDelay: 5 * time.Minute}
	runner.Register(sc.kind, sc.run)
	return sc
}

// TaskKey is the keyed task of an item's schedule.
func TaskKey(itemID string) string { return "schedule:" + itemID }

// Schedule sets (or replaces) the item's next run at due, inside tx; data
// is handed back in Run.Data. Call Notify after commit when due is now.
func (s *Scheduler) Schedule(ctx context.Context, tx store.Tx, itemID string, due time.Time, data any) error {
	var raw json.RawMessage
	if data != nil {
		b, err := json.Marshal(data)
		if err != nil {
			return fmt.Errorf("schedule %s: %w", itemID, err)
		}
		raw = b
	}
	b, err := json.Marshal(runPayload{ItemID: itemID, Due: due.UTC(), Data: raw})
	if err != nil {
		return fmt.Errorf("schedule %s: %w", itemID, err)
	}
	_, err = tx.Enqueue(ctx, store.Task{Kind: s.kind, Key: TaskKey(itemID), Payload: b, RunAt: due})
	return err
}

// ScheduleBy plans the item's next run at due unless a run is already
// planned before it (an expiry to apply), inside tx. A run being worked on
// (claimed) is no plan: it read the item before this transaction and plans
// its successor from what it read (a suspended item's run plans no backup,
// and perhaps nothing), so it is replaced, and its end then leaves the new
// plan alone. Before, resuming an item while its run was working kept that
// run as the plan, and the run ended the item's schedule.
func (s *Scheduler) ScheduleBy(ctx context.Context, tx store.Tx, itemID string, due time.Time) error {
	if t, err := tx.GetTaskByKey(ctx, TaskKey(itemID)); err == nil && t.LeaseOwner == "" && t.RunAt.Before(due) {
		return nil
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return s.Schedule(ctx, tx, itemID, due, nil)
}

// Unschedule removes the item's pending run, inside tx (no error if none).
func (s *Scheduler) Unschedule(ctx context.Context, tx store.Tx, itemID string) error {
	return unschedule(ctx, tx, itemID)
}

func unschedule(ctx context.Context, tx store.Tx, itemID string) error {
	t, err := tx.GetTaskByKey(ctx, TaskKey(itemID))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := tx.CompleteTask(ctx, t.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// NextRun is the item's pending run time (zero if none).
func (s *Scheduler) NextRun(ctx context.Context, itemID string) (time.Time, error) {
	t, err := s.store.GetTaskByKey(ctx, TaskKey(itemID))
	if errors.Is(err, store.ErrNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	return t.RunAt, nil
}

// Notify wakes the job runner.
func (s *Scheduler) Notify() { s.runner.Notify() }

// RunID is the stable id of an item's run due at due.
func RunID(itemID string, due time.Time) string {
	return uuid.NewSHA1(uuid.NameSpaceURL, []byte(itemID+"|"+due.UTC().Format(time.RFC3339Nano))).String()
}

func (s *Scheduler) run(ctx context.Context, t store.Task) error {
	var p runPayload
	if err := json.Unmarshal(t.Payload, &p); err != nil {
		return fmt.Errorf("decode schedule task %s: %w", t.ID, err)
	}
	now := s.clock.Now()
	run := Run{ItemID: p.ItemID, Due: p.Due, Now: now, ID: RunID(p.ItemID, p.Due), Data: p.Data}
	next, err := s.fn(ctx, run)
	var re *job.RetryError
	if errors.As(err, &re) {
		return err // the run asked for its own delay (a disk owned elsewhere)
	}
	if transient(err) {
		// The database out of reach (restarting, its connections taken)
		// before the run's job was recorded, or while it was read: the run
		// is tried again as soon as for any task that met it, not after
		// RetryDelay (its occurrence's backup waited five minutes).
		return job.Backoff(err, unavailableRetry)
	}
	if err != nil {
		return job.Retry(err, s.RetryDelay)
	}
	return s.store.Update(ctx, func(tx store.Tx) error {
		// The task may have been replaced (policy changed, protection
		// stopped) while this run worked: then leave the new plan alone.
		if _, err := tx.GetTask(ctx, t.ID); errors.Is(err, store.ErrNotFound) {
			return nil
		} else if err != nil {
			return err
		}
		if err := tx.CompleteTask(ctx, t.ID); err != nil {
			return err
		}
		if next.IsZero() {
			return nil
		}
		b, err := json.Marshal(runPayload{ItemID: p.ItemID, Due: next.UTC(), Data: p.Data})
		if err != nil {
			return err
		}
		_, err = tx.Enqueue(ctx, store.Task{Kind: s.kind, Key: TaskKey(p.ItemID), Payload: b, RunAt: next})
		return err
	})
}

// IsMissed reports whether a run due at due and running at now missed at
// least one further occurrence of sched.
func IsMissed(sched Schedule, due, now time.Time) bool {
	n := sched.Next(due)
	return !n.IsZero() && !n.After(now)
}
