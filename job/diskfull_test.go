package job_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/job"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

// TestLeaseRenewalOutOfSpace runs a task on a SQLite store whose file
// system fills up while the task works, so its lease cannot be renewed.
// The handler is stopped before the lease could run out, and the task is
// not completed however the handler ended (a job it ran would otherwise
// never end): once space is back, the next claim runs it again to the end.
func TestLeaseRenewalOutOfSpace(t *testing.T) {
	dir := testsvc.SmallDisk(t, 8)
	s := storetest.SQLiteAt(t, filepath.Join(dir, "meta.db"))
	filler := filepath.Join(dir, "filler")
	r := &job.Runner{Store: s, NodeID: "n1", Lease: 600 * time.Millisecond, Poll: 10 * time.Millisecond}
	var runs atomic.Int32
	stopped := make(chan error, 1)
	r.Register("work", func(ctx context.Context, tk store.Task) error {
		if runs.Add(1) > 1 {
			return nil
		}
		testsvc.FillUp(t, filler, 0)
		select { // the renewals fail: the runner stops the handler
		case <-ctx.Done():
		case <-time.After(30 * time.Second):
		}
		// Space comes back as the handler ends: the runner could write
		// the task's completion now, and must not.
		os.Remove(filler)
		stopped <- ctx.Err()
		return ctx.Err()
	})
	ctx := context.Background()
	if err := s.Update(ctx, func(tx store.Tx) error {
		_, err := tx.Enqueue(ctx, store.Task{Kind: "work", RunAt: time.Now().Add(-time.Second)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	if err := <-stopped; !errors.Is(err, context.Canceled) {
		t.Fatalf("the handler whose lease could not be renewed was not stopped: %v", err)
	}
	testsvc.WaitFor(t, "the task to run again and end", func() bool {
		next, err := s.NextTaskTime(ctx)
		return err == nil && next.IsZero() && !r.Busy()
	})
	if n := runs.Load(); n != 2 {
		t.Fatalf("the task ran %d times, want 2 (stopped, then again to the end)", n)
	}
}

// TestWaitIdleAtALeftLeasesEnd: a task whose lease a runner left behind
// (its node died, or its last write failed) is due again when the lease
// ends, the time NextTaskTime gives. With the clock frozen at exactly that
// time, WaitIdle has the task claimed and run, rather than wait for ever
// for a claim that finds the lease still live.
func TestWaitIdleAtALeftLeasesEnd(t *testing.T) {
	s := storetest.SQLite(t)
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	r := &job.Runner{Store: s, Clock: clk, NodeID: "n1", Lease: time.Minute, Poll: 10 * time.Millisecond}
	var runs atomic.Int32
	r.Register("work", func(ctx context.Context, tk store.Task) error { runs.Add(1); return nil })
	ctx := context.Background()
	if err := s.Update(ctx, func(tx store.Tx) error {
		_, err := tx.Enqueue(ctx, store.Task{Kind: "work", RunAt: t0})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if got, err := s.ClaimTasks(ctx, "gone/boot", t0, time.Minute, 1); err != nil || len(got) != 1 {
		t.Fatalf("claim: %v %v", got, err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	next, err := s.NextTaskTime(ctx)
	if err != nil || !next.Equal(t0.Add(time.Minute)) {
		t.Fatalf("next task time %v %v, want the lease's end", next, err)
	}
	clk.Set(next)
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := r.WaitIdle(wctx); err != nil {
		t.Fatal(err)
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("the task ran %d times, want 1", n)
	}
}
