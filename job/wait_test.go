package job_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/job"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

// lockedBuffer is a log's buffer written by the runner's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestWaitIsNoWarning: a task whose work is to wait (job.Wait: a
// deployment following its resources' operations, leaving its slot
// meanwhile) runs again after its delay, and its wait is logged as
// information ("task waits"), not as the warning of a retried failure
// ("task will retry"), which every park of a slow deployment logged.
func TestWaitIsNoWarning(t *testing.T) {
	st := storetest.SQLite(t)
	var log lockedBuffer
	r := &job.Runner{Store: st, NodeID: "n1", Logger: slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	var runs atomic.Int32
	r.RegisterLight("waits", func(context.Context, store.Task) error {
		if runs.Add(1) == 1 {
			return job.Wait(errors.New("its resources' operations"), 10*time.Millisecond)
		}
		return nil
	})
	startRunner(t, r)
	ctx := context.Background()
	if err := st.Update(ctx, func(tx store.Tx) error { _, err := tx.Enqueue(ctx, store.Task{Kind: "waits"}); return err }); err != nil {
		t.Fatal(err)
	}
	r.Notify()
	testsvc.WaitFor(t, "the task's second run", func() bool { return runs.Load() >= 2 })
	if s := log.String(); !strings.Contains(s, "task waits") || strings.Contains(s, "level=WARN") {
		t.Errorf("the log of a task that waits:\n%s", s)
	}
}
