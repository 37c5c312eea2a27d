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

// claimCounter counts the claims made through it, passing the store's
// wake-ups through.
type claimCounter struct {
	store.Store
	claims atomic.Int64
}

func (c *claimCounter) ClaimTasks(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]store.Task, error) {
	c.claims.Add(1)
	return c.Store.ClaimTasks(ctx, owner, now, lease, limit)
}

func (c *claimCounter) Wakeups() <-chan struct{} { return c.Store.(store.Waker).Wakeups() }

func (c *claimCounter) DueFor(ctx context.Context, node string, now, wall time.Time) (bool, time.Time, error) {
	return c.Store.(store.DueReader).DueFor(ctx, node, now, wall)
}

// ran is a handler that records when it ran (real time and the clock's).
type ran struct {
	done chan struct{}
	at   atomic.Pointer[time.Time]
	clk  clock.Clock
}

func newRan(clk clock.Clock) *ran { return &ran{done: make(chan struct{}), clk: clk} }

func (r *ran) handle(context.Context, store.Task) error {
	now := r.clk.Now()
	r.at.Store(&now)
	close(r.done)
	return nil
}

func (r *ran) wait(t *testing.T, what string) time.Time {
	t.Helper()
	select {
	case <-r.done:
		return *r.at.Load()
	case <-time.After(testsvc.WaitLimit):
		t.Fatalf("timed out after %v waiting for %s (the runner waits an hour idle)", testsvc.WaitLimit, what)
		return time.Time{}
	}
}

// idleAfter waits until the runner made n claims or more through st and is
// idle (nothing running or being claimed): it waits then for a wake-up, or
// an hour (IdlePoll). A task enqueued before its first claim would be run
// by that claim, whether or not anything woke it.
func idleAfter(t *testing.T, r *job.Runner, st *claimCounter, n int64) {
	t.Helper()
	testsvc.WaitWithin(t, testsvc.WaitLimit, "the runner to claim and be idle", func() bool { return st.claims.Load() >= n && !r.Busy() })
}

func startRunner(t *testing.T, r *job.Runner) {
	t.Helper()
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
}

// TestIdleRunnerClaimsSeldom: a runner with nothing to do claims no more
// than every IdlePoll (5 s); it claimed every Poll (200 ms), five claims a
// second of an idle server (found by the session's known list).
func TestIdleRunnerClaimsSeldom(t *testing.T) {
	st := &claimCounter{Store: storetest.SQLite(t)}
	startRunner(t, &job.Runner{Store: st, NodeID: "n1"})
	start := st.claims.Load()
	time.Sleep(3 * time.Second) // the window the claims are counted in
	if n := st.claims.Load() - start; n > 2 {
		t.Fatalf("an idle runner claimed %d times in 3 s, want at most 2 (IdlePoll 5 s)", n)
	}
}

// TestIdleRunnerRunsWhatIsDue: an idle runner (IdlePoll an hour) still
// runs a task at once when one is enqueued with no Notify (the store
// tells it), when the next task comes due on a running clock, and when
// a clock that is moved (a Fake, the server's Control) moves past a task's
// due time.
func TestIdleRunnerRunsWhatIsDue(t *testing.T) {
	t.Run("enqueued", func(t *testing.T) {
		st := &claimCounter{Store: storetest.SQLite(t)}
		r := &job.Runner{Store: st, NodeID: "n1", IdlePoll: time.Hour}
		h := newRan(clock.Real{})
		r.Register("k", h.handle)
		startRunner(t, r)
		idleAfter(t, r, st, 1)
		storetest.Enqueue(t, st, store.Task{Kind: "k"})
		h.wait(t, "the task enqueued")
	})
	t.Run("due", func(t *testing.T) {
		st := storetest.SQLite(t)
		r := &job.Runner{Store: st, NodeID: "n1", IdlePoll: time.Hour}
		h := newRan(clock.Real{})
		r.Register("k", h.handle)
		startRunner(t, r)
		// Enqueued before the runner's last claim is done with, due after.
		due := time.Now().Add(1500 * time.Millisecond)
		storetest.Enqueue(t, st, store.Task{Kind: "k", RunAt: due})
		if at := h.wait(t, "the task due in 1.5 s"); at.Before(due) {
			t.Fatalf("the task ran at %v, before it was due (%v)", at, due)
		}
	})
	t.Run("clock moved", func(t *testing.T) {
		st := &claimCounter{Store: storetest.SQLite(t)}
		fake := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
		r := &job.Runner{Store: st, Clock: fake, NodeID: "n1", IdlePoll: time.Hour}
		h := newRan(fake)
		r.Register("k", h.handle)
		startRunner(t, r)
		idleAfter(t, r, st, 1)
		due := fake.Now().Add(time.Hour)
		storetest.Enqueue(t, st, store.Task{Kind: "k", RunAt: due})
		idleAfter(t, r, st, 2) // the claim the enqueue woke found it not due
		fake.Advance(time.Hour)
		if at := h.wait(t, "the task due when the clock moved"); at.Before(due) {
			t.Fatalf("the task ran at %v, before it was due (%v)", at, due)
		}
	})
	t.Run("clock control resumed", func(t *testing.T) {
		st := storetest.SQLite(t)
		ctl := clock.NewControl()
		ctl.Set(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
		r := &job.Runner{Store: st, Clock: ctl, NodeID: "n1", IdlePoll: time.Hour}
		h := newRan(ctl)
		r.Register("k", h.handle)
		startRunner(t, r)
		due := ctl.Now().Add(time.Second)
		storetest.Enqueue(t, st, store.Task{Kind: "k", RunAt: due})
		ctl.Resume() // it runs on: the task is due a second later
		h.wait(t, "the task due a second after the clock resumed")
	})
}

// TestIdleRunnerPicksUpAnotherReplicasTask: a task another replica enqueues
// in the shared PostgreSQL wakes an idle runner (IdlePoll an hour) through
// the store's notifications.
func TestIdleRunnerPicksUpAnotherReplicasTask(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	mine, theirs := &claimCounter{Store: storetest.Postgres(t, url)}, storetest.Postgres(t, url)
	r := &job.Runner{Store: mine, NodeID: "n1", IdlePoll: time.Hour}
	h := newRan(clock.Real{})
	r.Register("k", h.handle)
	startRunner(t, r)
	idleAfter(t, r, mine, 1)
	storetest.Enqueue(t, theirs, store.Task{Kind: "k"})
	h.wait(t, "the task the other replica enqueued")
}

// TestWaitIdleWaitsForPinnedWorkWithoutClaiming: WaitIdle (what a clock
// advance waits on) waits for a task due now but held from this node's
// runner for 1.5 s of real time (a Backoff; a RunOn to a node that does
// not claim it) until it has run, the clock standing still, and makes few
// claims meanwhile: no claim can take the task before its pin ends.
// Before, WaitIdle woke the runner every 2 ms, which claimed each time
// (hundreds of claims), until the pin ended.
func TestWaitIdleWaitsForPinnedWorkWithoutClaiming(t *testing.T) {
	const pin = 1500 * time.Millisecond
	for _, c := range []struct {
		name string
		err  error
	}{
		{"backoff", job.Backoff(errors.New("a lapsed lease's holder"), pin)},
		{"handed to another node", job.RunOn(errors.New("its data lives on n2"), "n2", pin)},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := &claimCounter{Store: storetest.SQLite(t)}
			clk := clock.NewFake(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)) // stands still
			r := &job.Runner{Store: st, Clock: clk, NodeID: "n1"}
			var runs atomic.Int32
			pinned := make(chan time.Time, 1)
			r.Register("k", func(context.Context, store.Task) error {
				if runs.Add(1) == 1 {
					pinned <- time.Now()
					return c.err
				}
				return nil
			})
			startRunner(t, r)
			task := storetest.Enqueue(t, st, store.Task{Kind: "k", RunAt: clk.Now()})
			r.Notify()
			var at time.Time
			select {
			case at = <-pinned:
			case <-time.After(testsvc.WaitLimit):
				t.Fatal("the task did not run")
			}
			// Wait until its pin is written (the runner is idle again).
			testsvc.WaitWithin(t, testsvc.WaitLimit, "the task pinned", func() bool {
				tk, err := st.GetTask(context.Background(), task.ID)
				return err == nil && tk.LeaseOwner == "" && !r.Busy()
			})
			before := st.claims.Load()
			ctx, cancel := context.WithTimeout(context.Background(), testsvc.WaitLimit)
			defer cancel()
			if err := r.WaitIdle(ctx); err != nil {
				t.Fatal(err)
			}
			claims := st.claims.Load() - before
			if n := runs.Load(); n != 2 {
				t.Fatalf("WaitIdle returned with the pinned task run %d times, want 2 (it waits for it)", n)
			}
			if d := time.Since(at); d < pin {
				t.Fatalf("the pinned task ran again %s after its pin, before it ended (%s)", d, pin)
			}
			if _, err := st.GetTask(context.Background(), task.ID); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("the task after WaitIdle: %v", err)
			}
			if claims > 30 {
				t.Fatalf("%d claims while WaitIdle waited %s for the pin to end, want a few", claims, pin)
			}
			t.Logf("%d claims while WaitIdle waited", claims)
		})
	}
}
