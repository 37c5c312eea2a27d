package protection_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/job"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/store"
)

type schedEnv struct {
	st     store.Store
	clk    *clock.Fake
	runner *job.Runner
	sched  *protection.Scheduler
	mu     sync.Mutex
	runs   []protection.Run
	every  protection.Schedule
	fail   int // fail this many runs first
}

func newSchedEnv(t *testing.T, dir string, clk *clock.Fake) *schedEnv {
	t.Helper()
	st, err := store.OpenSQLite(context.Background(), filepath.Join(dir, "s.db"), clk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ri, _ := protection.ParseRepeatingInterval("R/2021-01-01T00:00:00Z/PT4H", nil)
	se := &schedEnv{st: st, clk: clk, every: ri}
	se.start(t)
	return se
}

// start starts se's runner and a scheduler on its store whose runs record
// themselves (after failing se.fail times) and plan the next occurrence of
// se.every; the runner stops when t ends.
func (se *schedEnv) start(t *testing.T) {
	t.Helper()
	se.runner = &job.Runner{Store: se.st, Clock: se.clk, NodeID: "n1", Poll: 5 * time.Millisecond}
	se.sched = protection.NewScheduler(se.st, se.clk, se.runner, "test", func(ctx context.Context, run protection.Run) (time.Time, error) {
		se.mu.Lock()
		defer se.mu.Unlock()
		if se.fail > 0 {
			se.fail--
			return time.Time{}, errors.New("transient")
		}
		se.runs = append(se.runs, run)
		return se.every.Next(run.Now), nil
	})
	se.sched.RetryDelay = time.Minute
	if err := se.runner.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(se.runner.Stop)
}

// waitPlanned waits until item's task runs after at.
func (se *schedEnv) waitPlanned(t *testing.T, item string, at time.Time) time.Time {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); {
		se.runner.Notify()
		next, err := se.sched.NextRun(context.Background(), item)
		if err != nil {
			t.Fatal(err)
		}
		if next.After(at) {
			return next
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("no run planned after %v", at)
	return time.Time{}
}

func (se *schedEnv) count() int {
	se.mu.Lock()
	defer se.mu.Unlock()
	return len(se.runs)
}

func TestSchedulerRunsOncePerOccurrenceAndCatchesUpOnce(t *testing.T) {
	t0 := time.Date(2021, 1, 1, 1, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	dir := t.TempDir()
	se := newSchedEnv(t, dir, clk)
	ctx := context.Background()
	if err := se.st.Update(ctx, func(tx store.Tx) error { return se.sched.Schedule(ctx, tx, "item1", se.every.Next(t0), nil) }); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2021, 1, 1, 4, 0, 0, 0, time.UTC)
	for i := 0; i < 6; i++ {
		clk.Set(at)
		next := se.waitPlanned(t, "item1", at)
		if !next.Equal(at.Add(4 * time.Hour)) {
			t.Fatalf("next after %v = %v", at, next)
		}
		at = next
	}
	if n := se.count(); n != 6 {
		t.Fatalf("%d runs, want 6", n)
	}
	ids := map[string]bool{}
	for _, r := range se.runs {
		if ids[r.ID] {
			t.Fatalf("run id %s repeated", r.ID)
		}
		ids[r.ID] = true
		if r.ID != protection.RunID("item1", r.Due) {
			t.Fatalf("run id not stable")
		}
	}

	// Downtime of a day and a half: one catch-up run, then the cadence.
	se.runner.Stop()
	down := at.Add(36*time.Hour + 30*time.Minute)
	clk.Set(down)
	se2 := newSchedEnvOn(t, se, clk)
	next := se2.waitPlanned(t, "item1", down)
	if n := se2.count(); n != 7 {
		t.Fatalf("%d runs after downtime, want 7 (one catch-up)", n)
	}
	if last := se2.runs[6]; !last.Due.Equal(at) || !last.Now.Equal(down) || !protection.IsMissed(se.every, last.Due, last.Now) {
		t.Fatalf("catch-up run %+v", last)
	}
	if want := se.every.Next(down); !next.Equal(want) {
		t.Fatalf("next after catch-up = %v, want %v", next, want)
	}

	// A failing run is retried after RetryDelay, not lost.
	se2.mu.Lock()
	se2.fail = 1
	se2.mu.Unlock()
	clk.Set(next)
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline) && se2.count() == 7; {
		se2.runner.Notify()
		if task, err := se2.st.GetTaskByKey(ctx, protection.TaskKey("item1")); err == nil && task.Attempts > 0 {
			clk.Set(next.Add(time.Minute))
		}
		time.Sleep(2 * time.Millisecond)
	}
	se2.waitPlanned(t, "item1", next.Add(time.Minute))
	if n := se2.count(); n != 8 {
		t.Fatalf("%d runs after a retried failure, want 8", n)
	}

	// Unschedule stops the item.
	if err := se2.st.Update(ctx, func(tx store.Tx) error { return se2.sched.Unschedule(ctx, tx, "item1") }); err != nil {
		t.Fatal(err)
	}
	if n, _ := se2.sched.NextRun(ctx, "item1"); !n.IsZero() {
		t.Fatalf("still planned at %v", n)
	}
}

// newSchedEnvOn restarts a runner and scheduler on se's store (a restart).
func newSchedEnvOn(t *testing.T, se *schedEnv, clk *clock.Fake) *schedEnv {
	t.Helper()
	ne := &schedEnv{st: se.st, clk: clk, every: se.every, runs: se.runs}
	ne.start(t)
	return ne
}

// An item resumed while its run is working (a suspended item's run reads
// the item, applies retention and plans no backup) keeps the plan the
// resume made: ScheduleBy replaced only a run planned, not one claimed, so
// the working run stayed the plan and, ending with nothing to plan, ended
// the item's schedule for good (found by hostile19a).
func TestScheduleByWhileTheRunWorks(t *testing.T) {
	t0 := time.Date(2021, 1, 1, 1, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	st, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "s.db"), clk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	runner := &job.Runner{Store: st, Clock: clk, NodeID: "n1", Poll: 5 * time.Millisecond}
	started, release := make(chan struct{}), make(chan struct{})
	sched := protection.NewScheduler(st, clk, runner, "test", func(ctx context.Context, run protection.Run) (time.Time, error) {
		close(started)
		<-release
		return time.Time{}, nil // the run read the item suspended: nothing to plan
	})
	if err := runner.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(runner.Stop)
	ctx := context.Background()
	if err := st.Update(ctx, func(tx store.Tx) error { return sched.Schedule(ctx, tx, "item1", t0, nil) }); err != nil {
		t.Fatal(err)
	}
	runner.Notify()
	select {
	case <-started:
	case <-time.After(2 * time.Minute):
		t.Fatal("the run did not start")
	}
	due := t0.Add(4 * time.Hour)
	if err := st.Update(ctx, func(tx store.Tx) error { return sched.ScheduleBy(ctx, tx, "item1", due) }); err != nil {
		t.Fatal(err)
	}
	close(release)
	for deadline := time.Now().Add(2 * time.Minute); ; {
		// The working run's claim goes with its end (or with its task,
		// replaced).
		if n, err := st.LeasedTasks(ctx, clk.Now(), nil); err != nil {
			t.Fatal(err)
		} else if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the run did not end")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if next, err := sched.NextRun(ctx, "item1"); err != nil || !next.Equal(due) {
		t.Fatalf("planned after the run ended: %v (%v), want %v", next, err, due)
	}
	// A run planned (not working) before due stays the plan.
	if err := st.Update(ctx, func(tx store.Tx) error { return sched.ScheduleBy(ctx, tx, "item1", due.Add(time.Hour)) }); err != nil {
		t.Fatal(err)
	}
	if next, _ := sched.NextRun(ctx, "item1"); !next.Equal(due) {
		t.Fatalf("a planned run was replaced: %v, want %v", next, due)
	}
}
