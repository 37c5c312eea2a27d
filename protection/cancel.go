package protection

import (
	"context"
	"errors"
	"time"
)

// Cancelling a running job. A face records the request in the job, in its
// own transaction (Details[DetailCancelRequested], status "Cancelling"),
// and calls CancelRequested after the commit. The job's work runs under a
// context that ends with the cause ErrCancelled as soon as the request is
// seen: at once when the job runs in this process, within cancelPoll when
// it runs on another replica (the watcher reads the job from the store).
// Whatever the work was waiting on (a fault rule's latency, a lock, a disk
// read) is interrupted; the job ends Cancelled by the one rule (finish),
// and a capture cut short records no recovery point (its snapshots are
// deleted again).

// cancelPoll is how often a running job looks for a cancellation made on
// another replica (real time).
const cancelPoll = 500 * time.Millisecond

// CancelRequested wakes the job's work in this process when it runs here
// (call it after committing the request; on other replicas the job's
// watcher finds the request in the store).
func (e *Engine) CancelRequested(jobID string) {
	e.mu.Lock()
	w := e.cancels[jobID]
	e.mu.Unlock()
	if w != nil {
		w.cancel(ErrCancelled)
	}
}

// cancelWatch is a running job's cancel func in this process.
type cancelWatch struct{ cancel context.CancelCauseFunc }

// watchCancel returns a context for a job's work that ends with the cause
// ErrCancelled when the job's cancellation is requested; stop releases it.
func (e *Engine) watchCancel(ctx context.Context, jobID string) (context.Context, func()) {
	jctx, cancel := context.WithCancelCause(ctx)
	w := &cancelWatch{cancel: cancel}
	e.mu.Lock()
	if e.cancels == nil {
		e.cancels = map[string]*cancelWatch{}
	}
	e.cancels[jobID] = w // a run that took the job over replaces an earlier one
	e.mu.Unlock()
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(cancelPoll)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-jctx.Done():
				return
			case <-t.C:
				if e.cancelled(jctx, jobID) != nil {
					cancel(ErrCancelled)
					return
				}
			}
		}
	}()
	return jctx, func() {
		close(done)
		e.mu.Lock()
		if e.cancels[jobID] == w {
			delete(e.cancels, jobID)
		}
		e.mu.Unlock()
		cancel(nil)
	}
}

// userCancelled reports whether ctx ended because the job was cancelled
// (not because the server is shutting down).
func userCancelled(ctx context.Context) bool {
	return ctx.Err() != nil && errors.Is(context.Cause(ctx), ErrCancelled)
}
