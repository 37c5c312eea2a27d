package job_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/job"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

// absentSetup is a task of kind "op" (no job: an operation's) claimed by
// replica n1's runner "n1/boot1" on a SQLite store whose clock stands
// still, and the runner of replica n2 (Lease ttl) that may take it on:
// its handler records the run.
func absentSetup(t *testing.T, ttl time.Duration) (store.Store, *clock.Fake, *job.Runner, store.Task, *ran) {
	t.Helper()
	clk := clock.NewFake(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	st := storetest.SQLite(t)
	storetest.Enqueue(t, st, store.Task{Kind: "op", Key: "op:1", RunAt: clk.Now()})
	claimed, err := st.ClaimTasks(context.Background(), "n1/boot1", clk.Now(), ttl, 1)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("n1's claim: %v %+v", err, claimed)
	}
	r := &job.Runner{Store: st, Clock: clk, NodeID: "n2", Lease: ttl, Poll: 20 * time.Millisecond}
	h := newRan(clk)
	r.Register("op", h.handle)
	startRunner(t, r)
	return st, clk, r, claimed[0], h
}

// onlyN2Runs is the leader's view of the replicas: n2 runs, n1 does not
// (its presence lapsed: killed).
func onlyN2Runs(_ context.Context, node string) (bool, error) { return node == "n2", nil }

// TestAbsentReplicasTaskReleasedAfterALeaseOfRealTime: the task of an
// operation (no job) claimed by a replica that no longer runs is taken on
// by the replica left once the leader (ReleaseAbsent) has found it gone a
// lease (ttl) of real time, while the server clock stands still: its
// lease, an instant of that clock, never lapses then. Before, only the
// claims that ran a job were freed (07d3cb7): a delete's or a PATCH's
// operation held by a replica killed with kill -9 stayed InProgress until
// it ran again or the clock moved.
func TestAbsentReplicasTaskReleasedAfterALeaseOfRealTime(t *testing.T) {
	const ttl = 300 * time.Millisecond
	ctx := context.Background()
	st, _, r, task, h := absentSetup(t, ttl)
	began := time.Now()
	if n, err := r.ReleaseAbsent(ctx, onlyN2Runs); err != nil || n != 0 {
		t.Fatalf("released at once, on the first sight of the replica gone: %d %v", n, err)
	}
	if tk, err := st.GetTask(ctx, task.ID); err != nil || tk.LeaseOwner != "n1/boot1" {
		t.Fatalf("the task after the first sight: %+v %v", tk, err)
	}
	var freed atomic.Int64
	testsvc.WaitWithin(t, time.Minute, "the gone replica's task to run on n2", func() bool {
		n, err := r.ReleaseAbsent(ctx, onlyN2Runs)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 && time.Since(began) < ttl {
			t.Fatalf("released %d leases %s after the first sight, before a lease (%s) of real time", n, time.Since(began), ttl)
		}
		freed.Add(int64(n))
		select {
		case <-h.done:
			return true
		default:
			return false
		}
	})
	if freed.Load() != 1 {
		t.Fatalf("leases released: %d, want the task's 1", freed.Load())
	}
	// The runner completes the task after its handler returns: wait for
	// that, not for the handler alone.
	testsvc.WaitWithin(t, time.Minute, "the task to be completed after its run on n2", func() bool {
		_, err := st.GetTask(ctx, task.ID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		return err != nil
	})
}

// TestAbsentClaimThatRenewsKeepsItsTask: a claim whose replica's presence
// lapsed while it still renews its task's lease (the lease's end moves)
// keeps the task however long that lasts; once it stops renewing, the
// task is freed a lease of real time after the last renewal, and runs on
// n2. Before (07d3cb7), a claim that ran a job lost it a lease after its
// presence lapsed, renewals or not.
func TestAbsentClaimThatRenewsKeepsItsTask(t *testing.T) {
	const ttl = 300 * time.Millisecond
	ctx := context.Background()
	st, clk, r, task, h := absentSetup(t, ttl)
	renewed := time.Now()
	for began := time.Now(); time.Since(began) < 4*ttl; time.Sleep(ttl / 6) {
		clk.Advance(10 * time.Millisecond) // a running clock: each renewal moves the lease's end
		if err := st.ExtendLease(ctx, task.Lease(), clk.Now().Add(ttl)); err != nil {
			t.Fatalf("n1's renewal %s after its claim: %v", time.Since(began), err)
		}
		renewed = time.Now()
		if n, err := r.ReleaseAbsent(ctx, onlyN2Runs); err != nil || n != 0 {
			t.Fatalf("released the leases of a claim that renews them, %s after its first sight: %d %v", time.Since(began), n, err)
		}
	}
	testsvc.WaitWithin(t, time.Minute, "the task to run on n2 once n1 stopped renewing", func() bool {
		n, err := r.ReleaseAbsent(ctx, onlyN2Runs)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 && time.Since(renewed) < ttl {
			t.Fatalf("released %s after the last renewal, before a lease (%s) of real time", time.Since(renewed), ttl)
		}
		select {
		case <-h.done:
			return true
		default:
			return false
		}
	})
}
