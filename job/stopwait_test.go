package job_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/job"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

// TestStopLeavesARunThatNeverEnds: Stop waits StopWait at most for a
// handler that does not return once cancelled (a scheduled run stuck
// outside its context), then returns, the task still leased; the node's
// next start (a runner of the same node on the same store) releases the
// lease and runs the task again, to its end. Before, Stop waited for the
// handler without limit: the server never shut down.
func TestStopLeavesARunThatNeverEnds(t *testing.T) {
	st := storetest.SQLite(t)
	stuck, unstick := make(chan struct{}), make(chan struct{})
	defer close(unstick)
	r := &job.Runner{Store: st, NodeID: "n1", Poll: 20 * time.Millisecond, StopWait: 200 * time.Millisecond}
	r.Register("schedule/k", func(context.Context, store.Task) error {
		close(stuck)
		<-unstick // its context is not looked at
		return nil
	})
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	task := storetest.Enqueue(t, st, store.Task{Kind: "schedule/k", Key: "schedule:item"})
	select {
	case <-stuck:
	case <-time.After(time.Minute):
		t.Fatal("the task did not start within a minute")
	}
	stopped := make(chan struct{})
	began := time.Now()
	go func() { r.Stop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(time.Minute):
		t.Fatal("Stop still waits for the stuck handler after a minute (StopWait 200ms)")
	}
	if d := time.Since(began); d < 200*time.Millisecond {
		t.Fatalf("Stop returned after %s, before StopWait", d)
	}
	if tk, err := st.GetTask(context.Background(), task.ID); err != nil || tk.LeaseOwner == "" {
		t.Fatalf("the stuck run's task after Stop: %+v %v, want it still leased", tk, err)
	}
	// The node started again: the task runs to its end.
	r2 := &job.Runner{Store: st, NodeID: "n1", Poll: 20 * time.Millisecond}
	h := newRan(clock.Real{})
	r2.Register("schedule/k", h.handle)
	startRunner(t, r2)
	h.wait(t, "the stuck run's task taken on by the node's next start")
	deadline := time.Now().Add(time.Minute)
	for {
		_, err := st.GetTask(context.Background(), task.ID)
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the task is still there a minute after its run: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
