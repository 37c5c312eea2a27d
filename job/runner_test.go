package job_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/job"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

// slots is a runner with one slot on a fresh store, and the tasks' counters
// (under mu) that the tests wait on.
type slots struct {
	t        *testing.T
	s        store.Store
	r        *job.Runner
	mu       sync.Mutex
	release  chan struct{}
	deadline <-chan time.Time
	state    func() string // the counters, for a failure (called under mu)
}

func newSlots(t *testing.T) *slots {
	s := storetest.SQLite(t)
	return &slots{t: t, s: s, r: &job.Runner{Store: s, NodeID: "n1", Concurrency: 1, Poll: 10 * time.Millisecond},
		release: make(chan struct{}), deadline: time.After(60 * time.Second)}
}

// held is a task that counts itself in *running (its most at once in
// *most) until release is closed, then in *done.
func (x *slots) held(running, most, done *int) func(context.Context, store.Task) error {
	return func(ctx context.Context, tk store.Task) error {
		x.mu.Lock()
		*running++
		*most = max(*most, *running)
		x.mu.Unlock()
		var err error
		select {
		case <-x.release:
		case <-ctx.Done():
			err = ctx.Err()
		}
		x.mu.Lock()
		*running--
		*done++
		x.mu.Unlock()
		return err
	}
}

// start starts the runner (stopped when the test ends).
func (x *slots) start() {
	x.t.Helper()
	if err := x.r.Start(context.Background()); err != nil {
		x.t.Fatal(err)
	}
	x.t.Cleanup(x.r.Stop)
}

func (x *slots) enqueue(kind string) {
	x.t.Helper()
	storetest.Enqueue(x.t, x.s, store.Task{Kind: kind})
	x.r.Notify()
}

// until waits, until the test's deadline, for cond (called under mu).
func (x *slots) until(what string, cond func() bool) {
	x.t.Helper()
	for {
		x.mu.Lock()
		ok := cond()
		x.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-x.deadline:
			x.mu.Lock()
			defer x.mu.Unlock()
			x.t.Fatalf("%s: %s", what, x.state())
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// Light tasks hold none of the Concurrency slots: with one slot, ten light
// tasks run at once, and long tasks enqueued beside them still run one at a
// time.
func TestLightTasksHoldNoSlot(t *testing.T) {
	x := newSlots(t)
	light, long, maxLight, maxLong, done := 0, 0, 0, 0, 0
	x.state = func() string { return fmt.Sprintf("%d light and %d long tasks running, %d done", light, long, done) }
	x.r.Register("long", x.held(&long, &maxLong, &done))
	x.r.RegisterLight("light", x.held(&light, &maxLight, &done))
	x.start()

	for range 10 {
		x.enqueue("light")
	}
	x.until("ten light tasks at once with one slot", func() bool { return light == 10 })
	x.enqueue("long")
	x.enqueue("long")
	x.until("a long task beside them", func() bool { return long == 1 })
	close(x.release)
	x.until("all done", func() bool { return done == 12 })
	if maxLong != 1 {
		t.Errorf("%d long tasks ran at once; Concurrency is 1", maxLong)
	}
	if maxLight != 10 {
		t.Errorf("%d light tasks ran at once, want all 10", maxLight)
	}
}

// While long tasks hold every slot, light tasks are still claimed and run,
// and the long task queued behind the held slot still waits for it.
func TestLightTasksRunWhileSlotsAreHeld(t *testing.T) {
	x := newSlots(t)
	long, maxLong, longDone, lightDone := 0, 0, 0, 0
	x.state = func() string {
		return fmt.Sprintf("%d long running, %d long and %d light done", long, longDone, lightDone)
	}
	x.r.Register("long", x.held(&long, &maxLong, &longDone))
	x.r.RegisterLight("light", func(ctx context.Context, tk store.Task) error {
		x.mu.Lock()
		lightDone++
		x.mu.Unlock()
		return nil
	})
	x.start()

	x.enqueue("long")
	x.until("the long task holds the slot", func() bool { return long == 1 })
	x.enqueue("long")
	for range 10 {
		x.enqueue("light")
	}
	x.until("ten light tasks while the slot is held", func() bool { return lightDone == 10 })
	x.mu.Lock()
	if long != 1 || longDone != 0 {
		t.Errorf("long tasks: %d running, %d done; want 1 running, none done", long, longDone)
	}
	x.mu.Unlock()
	close(x.release)
	x.until("both long tasks done", func() bool { return longDone == 2 })
	if maxLong != 1 {
		t.Errorf("%d long tasks ran at once; Concurrency is 1", maxLong)
	}
}

// countingStore counts the Updates made through it (the store underneath
// does them).
type countingStore struct {
	store.Store
	mu      sync.Mutex
	updates int
}

func (c *countingStore) Update(ctx context.Context, fn func(tx store.Tx) error) error {
	c.mu.Lock()
	c.updates++
	c.mu.Unlock()
	return c.Store.Update(ctx, fn)
}

func (c *countingStore) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.updates
}

// A task its handler completed in its own transaction costs no second
// write; one it did not complete, the runner completes. Either way the task
// is gone.
func TestRunnerCompletesOnlyTasksLeftOpen(t *testing.T) {
	x := newSlots(t)
	cs := &countingStore{Store: x.s}
	x.r.Store = cs
	done := 0
	x.state = func() string { return fmt.Sprintf("%d tasks done", done) }
	x.r.Register("self", func(ctx context.Context, tk store.Task) error {
		defer func() { x.mu.Lock(); done++; x.mu.Unlock() }()
		return cs.Update(ctx, func(tx store.Tx) error { return tx.CompleteTask(ctx, tk.ID) })
	})
	x.r.Register("open", func(ctx context.Context, tk store.Task) error {
		defer func() { x.mu.Lock(); done++; x.mu.Unlock() }()
		return nil
	})
	x.start()
	ctx := context.Background()
	for i, kind := range []string{"self", "open"} {
		task := storetest.Enqueue(t, x.s, store.Task{Kind: kind})
		x.r.Notify()
		x.until(kind+" task done", func() bool { return done == i+1 })
		deadline := time.Now().Add(time.Minute)
		for {
			_, err := x.s.GetTask(ctx, task.ID)
			if err == store.ErrNotFound {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s task still there a minute after its handler returned (%v)", kind, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
		if n := cs.count(); n != i+1 {
			t.Errorf("after the %s task: %d Updates through the runner's store, want %d", kind, n, i+1)
		}
	}
}

// TestLeaseRenewalsFailingStopTheHandlerBeforeTheLeaseEnds: a renewal that
// waited behind a busy writer (as under load) succeeds, then the file
// system fills up and the renewals fail. The runner retries them, but must
// stop the handler a while before the lease it last wrote runs out: from
// then on another claim (another replica's) may run the task, and two
// handlers would work on it at once. The lease's end is counted from when
// the renewal was asked for (the lease it wrote starts then), not from
// when the busy writer answered.
func TestLeaseRenewalsFailingStopTheHandlerBeforeTheLeaseEnds(t *testing.T) {
	// Renewed every 3 s: the margin checked below (1.5 s, where the runner
	// leaves 3) holds however late a loaded machine runs the renewals'
	// ticks, short of a second and a half.
	const lease = 9 * time.Second
	disk := testsvc.SmallDisk(t, 8)
	s, filler := storetest.SQLiteAt(t, filepath.Join(disk, "meta.db")), filepath.Join(disk, "filler")
	r := &job.Runner{Store: s, NodeID: "n1", Lease: lease, Poll: 10 * time.Millisecond}
	ctx := context.Background()
	type result struct {
		until, stopped time.Time // the last lease written; when the handler was stopped
		err            error
	}
	res := make(chan result, 1)
	var ran atomic.Bool
	r.Register("work", func(hctx context.Context, tk store.Task) error {
		if ran.Swap(true) {
			return nil
		}
		// Keep the writer busy across the first renewal (at 3 s).
		go func() {
			time.Sleep(lease/3 - lease/12)
			s.Update(ctx, func(store.Tx) error { time.Sleep(lease / 6); return nil })
		}()
		var until time.Time
		for deadline := time.Now().Add(testsvc.WaitLimit); ; time.Sleep(2 * time.Millisecond) {
			got, err := s.GetTask(ctx, tk.ID)
			if err != nil {
				res <- result{err: err}
				return nil
			}
			if got.LeaseUntil.After(tk.LeaseUntil) {
				until = got.LeaseUntil
				break
			}
			if time.Now().After(deadline) {
				res <- result{err: context.DeadlineExceeded}
				return nil
			}
		}
		testsvc.FillUp(t, filler, 0) // the renewals fail from now on
		select {
		case <-hctx.Done():
		case <-time.After(3 * lease):
		}
		res <- result{until: until, stopped: time.Now()}
		os.Remove(filler)
		return hctx.Err()
	})
	storetest.Enqueue(t, s, store.Task{Kind: "work"})
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	got := <-res
	if got.err != nil {
		t.Fatalf("the lease was not renewed: %v", got.err)
	}
	// Stopped a while before the end: the handler needs time to see its
	// context end, and another replica's clock may run a little ahead.
	if margin := got.until.Sub(got.stopped); margin < lease/6 {
		t.Fatalf("the handler was stopped at %s, %s before its lease ran out at %s (want at least %s): another claim could run the task while it still works",
			got.stopped.Format("15:04:05.000"), margin, got.until.Format("15:04:05.000"), lease/6)
	}
	testsvc.WaitFor(t, "the task to run again and end", func() bool {
		next, err := s.NextTaskTime(ctx)
		return err == nil && next.IsZero() && !r.Busy()
	})
}

// TestTaskRunsAgainAfterTheDatabaseWasOutOfReach: a handler whose writes
// met the database out of reach (store.ErrUnavailable, as PostgreSQL's
// store answers then; store.ErrOutcomeUnknown for a COMMIT never answered)
// did not record what it did, a job's end among it: its task runs again,
// and is completed only once a run of it succeeds. It was completed at
// once, so a job whose end could not be written stayed InProgress for ever
// (found by chaos22: PostgreSQL restarted, then its connections taken).
func TestTaskRunsAgainAfterTheDatabaseWasOutOfReach(t *testing.T) {
	for _, cause := range []error{store.ErrUnavailable, store.ErrOutcomeUnknown} {
		x := newSlots(t)
		runs := 0
		x.state = func() string { return fmt.Sprintf("%d runs", runs) }
		x.r.Register("write", func(ctx context.Context, tk store.Task) error {
			x.mu.Lock()
			runs++
			n := runs
			x.mu.Unlock()
			if n == 1 {
				return fmt.Errorf("end the job: %w: connection refused", cause)
			}
			return nil
		})
		x.start()
		task := storetest.Enqueue(t, x.s, store.Task{Kind: "write"})
		x.r.Notify()
		x.until("the task's first run", func() bool { return runs >= 1 })
		x.until("the task's second run", func() bool { return runs >= 2 })
		deadline := time.Now().Add(time.Minute)
		for {
			_, err := x.s.GetTask(context.Background(), task.ID)
			if err == store.ErrNotFound {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%v: the task still there a minute after its second run (%v)", cause, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
		x.mu.Lock()
		if runs != 2 {
			t.Errorf("%v: %d runs, want 2", cause, runs)
		}
		x.mu.Unlock()
	}
}

// TestHandlerOfARemovedTaskRunsToItsEnd: a task completed by someone
// else's write while its handler runs (an item's schedule stopped during
// its scheduled backup) has no claim left to run it again, so its handler
// goes on past the lease renewals that find it gone, and its writes,
// still fenced by its claim, commit. The runner stopped it at the first
// such renewal, and the job it ran stayed InProgress for ever.
func TestHandlerOfARemovedTaskRunsToItsEnd(t *testing.T) {
	const lease = 900 * time.Millisecond // renewed every 300 ms
	s := storetest.SQLite(t)
	r := &job.Runner{Store: s, NodeID: "n1", Lease: lease, Poll: 10 * time.Millisecond}
	ctx := context.Background()
	res := make(chan error, 1)
	r.Register("work", func(hctx context.Context, tk store.Task) error {
		err := s.Update(ctx, func(tx store.Tx) error { return tx.CompleteTask(ctx, tk.ID) }) // not under its lease: another's write
		if err == nil {
			select {
			case <-hctx.Done(): // stopped by a renewal that found the task gone
				err = hctx.Err()
			case <-time.After(3 * lease): // past several renewals
				err = s.Update(hctx, func(tx store.Tx) error {
					return tx.Put(hctx, store.Doc{Kind: "result", Key: tk.ID, Value: []byte(`"done"`)})
				})
			}
		}
		res <- err
		return err
	})
	task := storetest.Enqueue(t, s, store.Task{Kind: "work"})
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	select {
	case err := <-res:
		if err != nil {
			t.Fatalf("the handler of the removed task: %v, want it to run to its end and write", err)
		}
	case <-time.After(testsvc.WaitLimit):
		t.Fatal("the handler never ended")
	}
	if _, err := s.Get(ctx, "result", task.ID); err != nil {
		t.Fatalf("the handler's write: %v", err)
	}
}
