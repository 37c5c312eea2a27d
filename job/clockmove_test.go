package job_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/job"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

// A clock set forward past a running task's lease through ClockMoved does
// not make the task claimable: its lease is renewed at the new time. The
// same jump made without ClockMoved would (checked last, so the test can
// tell the two apart).
func TestClockMovedKeepsRunningTasks(t *testing.T) {
	ctx := context.Background()
	s := storetest.SQLite(t)
	ctl := clock.NewControl()
	ctl.Set(time.Date(2017, 8, 3, 5, 30, 0, 0, time.UTC))
	started, release := make(chan struct{}), make(chan struct{})
	// The runner claims once, at its start (the task is enqueued before):
	// polling, it could claim its own running task after the jump without
	// ClockMoved, before the other worker's claim the test makes.
	r := &job.Runner{Store: s, Clock: ctl, NodeID: "n1", Lease: time.Minute, Poll: time.Hour}
	r.Register("long", func(ctx context.Context, tk store.Task) error {
		close(started)
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	storetest.Enqueue(t, s, store.Task{Kind: "long", RunAt: ctl.Now()})
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	defer close(release)
	select {
	case <-started:
	case <-time.After(time.Minute):
		t.Fatal("the task did not start")
	}

	r.ClockMoved(ctx, func() { ctl.Set(time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)) })
	if ts, err := s.ClaimTasks(ctx, "other/1", ctl.Now(), time.Minute, 10); err != nil || len(ts) != 0 {
		t.Fatalf("after ClockMoved another worker claimed %d tasks (%v): the running task's lease was not renewed", len(ts), err)
	}
	ctl.Set(ctl.Now().Add(24 * time.Hour))
	if ts, err := s.ClaimTasks(ctx, "other/1", ctl.Now(), time.Minute, 10); err != nil || len(ts) != 1 {
		t.Fatalf("a jump without ClockMoved: %d tasks claimable (%v), want the running one", len(ts), err)
	}
}

// A clock set forward past a running task's lease without ClockMoved makes
// the task claimable by other workers, but never by the runner running it:
// its next poll claims the other due task only, and the running one is not
// run a second time (found by flake18: the poll took its own task over).
func TestRunnerNeverClaimsItsRunningTask(t *testing.T) {
	ctx := context.Background()
	s := storetest.SQLite(t)
	ctl := clock.NewControl()
	ctl.Set(time.Date(2017, 8, 3, 5, 30, 0, 0, time.UTC))
	started, release, marked := make(chan struct{}, 4), make(chan struct{}), make(chan struct{})
	r := &job.Runner{Store: s, Clock: ctl, NodeID: "n1", Lease: time.Minute, Poll: time.Hour, Concurrency: 4}
	r.Register("long", func(ctx context.Context, tk store.Task) error {
		started <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	r.Register("marker", func(ctx context.Context, tk store.Task) error {
		close(marked)
		return nil
	})
	storetest.Enqueue(t, s, store.Task{Kind: "long", RunAt: ctl.Now()})
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-started:
	case <-time.After(time.Minute):
		t.Fatal("the task did not start")
	}

	// The jump without ClockMoved; the marker is due after the long task,
	// so a claim that took the long task again takes it first, in the
	// same claim as the marker (the runner starts both before the next).
	ctl.Set(ctl.Now().Add(24 * time.Hour))
	storetest.Enqueue(t, s, store.Task{Kind: "marker", RunAt: ctl.Now()})
	r.Notify()
	select {
	case <-marked:
	case <-time.After(2 * time.Minute):
		t.Fatal("the marker task did not run")
	}
	close(release)
	r.Stop() // waits for every handler started, so started holds them all
	if n := len(started); n != 0 {
		t.Fatalf("the running task was claimed again by its own runner and run %d more times", n)
	}
}

// TestRetryAtKeepsItsTimeWhenTheClockMoves: a handler waiting for a time on
// the clock (a rehydration's end) returns job.RetryAt that time; the clock
// moved forward after the handler read it, before the runner rescheduled
// the task (safehold clock set, a test's clock), does not push the wait on:
// the task is due at that time and runs again once the clock gets there.
// A Retry of the same delay is counted from the reschedule, the move past
// the wait's end (found by flake26: TestArchiveTierThroughSDK's restore
// waited an hour past its rehydration, for ever, 4 runs in 13 at load).
func TestRetryAtKeepsItsTimeWhenTheClockMoves(t *testing.T) {
	ctx := context.Background()
	for _, at := range []bool{true, false} {
		s := storetest.SQLite(t)
		fake := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
		var due time.Time
		waited, ranAgain := make(chan struct{}), make(chan struct{})
		runs := 0
		r := &job.Runner{Store: s, Clock: fake, NodeID: "n1", IdlePoll: time.Hour}
		r.Register("wait", func(ctx context.Context, tk store.Task) error {
			if runs++; runs > 1 {
				close(ranAgain)
				return nil
			}
			due = fake.Now().Add(time.Hour)
			fake.Advance(10 * time.Minute) // moved before the runner reschedules
			defer close(waited)
			if at {
				return job.RetryAt(errors.New("rehydrating"), due, time.Hour)
			}
			return job.Retry(errors.New("rehydrating"), time.Hour)
		})
		task := storetest.Enqueue(t, s, store.Task{Kind: "wait", RunAt: fake.Now()})
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
		<-waited
		var got store.Task
		testsvc.WaitWithin(t, testsvc.WaitLimit, "the task rescheduled", func() bool {
			var err error
			got, err = s.GetTask(ctx, task.ID)
			return err == nil && got.Attempts > 0 && got.LeaseOwner == ""
		})
		if !at {
			// The delay counts from the moved clock: due 10 minutes late.
			if want := due.Add(10 * time.Minute); !got.RunAt.Equal(want) {
				t.Fatalf("a Retry of an hour: due %v, want %v", got.RunAt, want)
			}
			r.Stop()
			continue
		}
		if !got.RunAt.Equal(due) {
			t.Fatalf("a RetryAt %v: the task is due %v", due, got.RunAt)
		}
		fake.Set(due)
		select {
		case <-ranAgain:
		case <-time.After(testsvc.WaitLimit):
			t.Fatalf("the task due at %v did not run again when the clock got there", due)
		}
		r.Stop()
	}
}

// A task's backoff (job.Backoff) is a wait in real time: on a clock left
// frozen (safehold clock set or advance leave it so) the task runs again
// once the delay has passed, and not before. Counted on the clock, as a
// Retry is, it never ran again: a backup that met its disk's owner with a
// lapsed lease retried 2 s later on a clock standing still, and its job
// stayed InProgress for ever (found by chaos26's TestReplicasCampaign,
// PostgreSQL stopped 30 s after a clock advance). The runner's own wait for
// the database out of reach is one too.
func TestBackoffEndsOnAFrozenClock(t *testing.T) {
	ctx := context.Background()
	s := storetest.SQLite(t)
	ctl := clock.NewControl()
	ctl.Advance(48 * time.Hour) // frozen where the advance leaves it
	const delay = 300 * time.Millisecond
	var mu sync.Mutex
	var runs []time.Time
	ran := make(chan struct{}, 8)
	r := &job.Runner{Store: s, Clock: ctl, NodeID: "n1", Lease: time.Minute, Poll: 20 * time.Millisecond, IdlePoll: 50 * time.Millisecond}
	handler := func(first error) job.Handler {
		return func(ctx context.Context, tk store.Task) error {
			mu.Lock()
			runs = append(runs, time.Now())
			n := len(runs)
			mu.Unlock()
			ran <- struct{}{}
			if n == 1 {
				return first
			}
			return nil
		}
	}
	cases := []struct {
		name  string
		first error
		want  time.Duration
	}{
		{"Backoff", job.Backoff(errors.New("disk d1's owner n2 let its lease lapse"), delay), delay},
		{"Unavailable", fmt.Errorf("write the job: %w", store.ErrUnavailable), 5 * time.Second},
	}
	for _, c := range cases {
		r.Register(c.name, handler(c.first))
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			mu.Lock()
			runs = nil
			mu.Unlock()
			storetest.Enqueue(t, s, store.Task{Kind: c.name, RunAt: ctl.Now()})
			r.Notify()
			for i := 0; i < 2; i++ {
				select {
				case <-ran:
				case <-time.After(2 * time.Minute):
					t.Fatalf("the task ran %d times in 2 minutes on the frozen clock, want 2: its retry never came due", i)
				}
			}
			mu.Lock()
			gap := runs[1].Sub(runs[0])
			mu.Unlock()
			if gap < c.want {
				t.Errorf("the task ran again %v after its first run, before its backoff of %v", gap, c.want)
			}
			if !ctl.State().Frozen {
				t.Fatal("the clock runs")
			}
		})
	}
}
