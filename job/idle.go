package job

import (
	"context"
	"fmt"
	"time"
)

// WaitIdle returns when the runner has nothing to do at the clock's current
// time: no task is running or being claimed and no task is due. It is what
// a clock advance waits for between steps, so the work of each moment is
// done before time moves on. It needs a started runner.
func (r *Runner) WaitIdle(ctx context.Context) error {
	quiet := 0
	for {
		if r.active.Load() == 0 {
			next, err := r.Store.NextTaskTime(ctx)
			if err != nil {
				return fmt.Errorf("wait for idle runner: %w", err)
			}
			if next.IsZero() || next.After(r.Clock.Now()) {
				// Seen idle twice in a row: a claim that started between
				// the two reads would have shown as active.
				if quiet++; quiet >= 2 && r.active.Load() == 0 {
					return nil
				}
				continue
			}
			r.Notify()
		}
		quiet = 0
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for idle runner: %w", ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// Busy reports whether a task is running or being claimed.
func (r *Runner) Busy() bool { return r.active.Load() != 0 }
