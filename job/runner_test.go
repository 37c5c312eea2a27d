package job_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/safehold/safehold/job"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

// Light tasks hold none of the Concurrency slots: with one slot, ten light
// tasks run at once, and long tasks enqueued beside them still run one at a
// time.
func TestLightTasksHoldNoSlot(t *testing.T) {
	ctx := context.Background()
	s := storetest.SQLite(t)

	release := make(chan struct{})
	var mu sync.Mutex
	light, long, maxLight, maxLong, done := 0, 0, 0, 0, 0
	// held counts a task in *running (its most at once in *most) until
	// release is closed, then in done.
	held := func(running, most *int) func(context.Context, store.Task) error {
		return func(ctx context.Context, tk store.Task) error {
			mu.Lock()
			*running++
			*most = max(*most, *running)
			mu.Unlock()
			var err error
			select {
			case <-release:
			case <-ctx.Done():
				err = ctx.Err()
			}
			mu.Lock()
			*running--
			done++
			mu.Unlock()
			return err
		}
	}
	r := &job.Runner{Store: s, NodeID: "n1", Concurrency: 1, Poll: 10 * time.Millisecond}
	r.Register("long", held(&long, &maxLong))
	r.RegisterLight("light", held(&light, &maxLight))
	enqueue := func(kind string) {
		t.Helper()
		storetest.Enqueue(t, s, store.Task{Kind: kind})
		r.Notify()
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer r.Stop()

	deadline := time.After(60 * time.Second)
	until := func(what string, cond func() bool) {
		t.Helper()
		for {
			mu.Lock()
			ok := cond()
			mu.Unlock()
			if ok {
				return
			}
			select {
			case <-deadline:
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("%s: %d light and %d long tasks running, %d done", what, light, long, done)
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	for range 10 {
		enqueue("light")
	}
	until("ten light tasks at once with one slot", func() bool { return light == 10 })
	enqueue("long")
	enqueue("long")
	until("a long task beside them", func() bool { return long == 1 })
	close(release)
	until("all done", func() bool { return done == 12 })
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
	ctx := context.Background()
	s := storetest.SQLite(t)

	release := make(chan struct{})
	var mu sync.Mutex
	long, maxLong, longDone, lightDone := 0, 0, 0, 0
	r := &job.Runner{Store: s, NodeID: "n1", Concurrency: 1, Poll: 10 * time.Millisecond}
	r.Register("long", func(ctx context.Context, tk store.Task) error {
		mu.Lock()
		long++
		maxLong = max(maxLong, long)
		mu.Unlock()
		var err error
		select {
		case <-release:
		case <-ctx.Done():
			err = ctx.Err()
		}
		mu.Lock()
		long--
		longDone++
		mu.Unlock()
		return err
	})
	r.RegisterLight("light", func(ctx context.Context, tk store.Task) error {
		mu.Lock()
		lightDone++
		mu.Unlock()
		return nil
	})
	enqueue := func(kind string) {
		t.Helper()
		storetest.Enqueue(t, s, store.Task{Kind: kind})
		r.Notify()
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	deadline := time.After(60 * time.Second)
	until := func(what string, cond func() bool) {
		t.Helper()
		for {
			mu.Lock()
			ok := cond()
			mu.Unlock()
			if ok {
				return
			}
			select {
			case <-deadline:
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("%s: %d long running, %d long and %d light done", what, long, longDone, lightDone)
			case <-time.After(5 * time.Millisecond):
			}
		}
	}
	enqueue("long")
	until("the long task holds the slot", func() bool { return long == 1 })
	enqueue("long")
	for range 10 {
		enqueue("light")
	}
	until("ten light tasks while the slot is held", func() bool { return lightDone == 10 })
	mu.Lock()
	if long != 1 || longDone != 0 {
		t.Errorf("long tasks: %d running, %d done; want 1 running, none done", long, longDone)
	}
	mu.Unlock()
	close(release)
	until("both long tasks done", func() bool { return longDone == 2 })
	if maxLong != 1 {
		t.Errorf("%d long tasks ran at once; Concurrency is 1", maxLong)
	}
}
