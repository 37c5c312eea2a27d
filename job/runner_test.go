package job_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/safehold/safehold/job"
	"github.com/safehold/safehold/store"
)

// Light tasks hold none of the Concurrency slots: with one slot, ten light
// tasks run at once, and long tasks enqueued beside them still run one at a
// time.
func TestLightTasksHoldNoSlot(t *testing.T) {
	ctx := context.Background()
	s, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "db.sqlite"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	release := make(chan struct{})
	var mu sync.Mutex
	light, long, maxLong, done := 0, 0, 0, 0
	wait := func(ctx context.Context) error {
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	r := &job.Runner{Store: s, NodeID: "n1", Concurrency: 1, Poll: 10 * time.Millisecond}
	r.Register("long", func(ctx context.Context, tk store.Task) error {
		mu.Lock()
		long++
		maxLong = max(maxLong, long)
		mu.Unlock()
		err := wait(ctx)
		mu.Lock()
		long--
		done++
		mu.Unlock()
		return err
	})
	r.RegisterLight("light", func(ctx context.Context, tk store.Task) error {
		mu.Lock()
		light++
		mu.Unlock()
		err := wait(ctx)
		mu.Lock()
		light--
		done++
		mu.Unlock()
		return err
	})
	enqueue := func(kind string) {
		t.Helper()
		if err := s.Update(ctx, func(tx store.Tx) error {
			_, err := tx.Enqueue(ctx, store.Task{Kind: kind})
			return err
		}); err != nil {
			t.Fatal(err)
		}
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
}
