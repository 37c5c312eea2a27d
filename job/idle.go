package job

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/safehold/safehold/store"
)

// ErrNotClaimable is WaitIdle's error when due work cannot be claimed.
var ErrNotClaimable = errors.New("the tasks due cannot be claimed")

// claimGiveUp is how long WaitIdle waits for failing claims (other than
// out of space) to succeed again.
const claimGiveUp = 30 * time.Second

// WaitIdle returns when the runner has nothing to do at the clock's current
// time: no task is running or being claimed and no task is due. It is what
// a clock advance waits for between steps, so the work of each moment is
// done before time moves on. It needs a started runner.
//
// Work that is due but cannot be claimed ends the wait with the claims'
// error (ErrNotClaimable): at once when the store is out of space while
// no task runs (every claim is a write; nothing runs until space is freed;
// a task that fails for want of space too may give some back as it ends),
// or once claims have failed for half a minute (claimGiveUp), during the
// wait.
func (r *Runner) WaitIdle(ctx context.Context) error {
	quiet := 0
	began := time.Now()
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
			if until, err := r.pinnedAway(ctx); err != nil {
				return fmt.Errorf("wait for idle runner: %w", err)
			} else if !until.IsZero() {
				// The work due is held from this node until until (real
				// time): a task in a real-time backoff (Backoff), or
				// handed to another node (RunOn), which claims it
				// meanwhile. It is waited for, as what is due now must
				// be done before the clock moves on, but no claim here
				// can take it before then: it was claimed again and
				// again (a Notify every 2 ms) until its pin ended.
				quiet = 0
				select {
				case <-ctx.Done():
					return fmt.Errorf("wait for idle runner: %w", ctx.Err())
				case <-time.After(min(time.Until(until), pinRecheck)):
				}
				continue
			}
			if f := r.claimFail.Load(); f != nil && f.last.After(began) &&
				(f.alone && errors.Is(f.err, syscall.ENOSPC) || f.last.Sub(f.since) >= claimGiveUp && time.Since(began) >= claimGiveUp) {
				return fmt.Errorf("wait for idle runner: %w (failing since %s): %w", ErrNotClaimable, f.since.UTC().Format(time.RFC3339), f.err)
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

// pinRecheck is how often WaitIdle looks again at due work pinned away
// from this node (PinTask) before the pin ends: another node may claim it,
// or it may be completed or rescheduled.
const pinRecheck = 250 * time.Millisecond

// pinnedAway is the end (real time) of the pins that keep the tasks due
// now from this node's runners, when every due task is so held; zero when
// one is claimable here (or the store cannot tell).
func (r *Runner) pinnedAway(ctx context.Context) (time.Time, error) {
	dr, ok := r.Store.(store.DueReader)
	if !ok {
		return time.Time{}, nil
	}
	claimable, until, err := dr.DueFor(ctx, r.NodeID, r.Clock.Now(), time.Now())
	if err != nil || claimable {
		return time.Time{}, err
	}
	return until, nil
}

// Busy reports whether a task is running or being claimed.
func (r *Runner) Busy() bool { return r.active.Load() != 0 }
