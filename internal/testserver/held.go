package testserver

import (
	"net/http"
	"strings"
	"time"

	"github.com/safehold/safehold/clock"
)

// MoveClock sets the server's clock fake (WithClock) to at and wakes its
// job runner: tasks are due by that clock, so one enqueued later than at
// waits until the clock reaches it (a test holds an operation that way).
func (e *Env) MoveClock(fake *clock.Fake, at time.Time) {
	e.Server.Jobs.ClockMoved(e.Ctx(), func() { fake.Set(at) })
	e.Server.Jobs.Notify()
}

// SameOperation fails the test unless the answers r1 and r2 (202s of
// long-running operations) poll the same operation: the same
// Azure-AsyncOperation and Location.
func (e *Env) SameOperation(what string, r1, r2 *http.Response) {
	e.T.Helper()
	for _, h := range []string{"Azure-AsyncOperation", "Location"} {
		if a, b := r1.Header.Get(h), r2.Header.Get(h); a == "" || a != b {
			e.T.Errorf("%s: the second answer's %s is %q, want the first's %q", what, h, b, a)
		}
	}
}

// FaultRuleHits is how many matches the server's fault rule name has had
// (-1 when there is no such rule: never added, deleted, or used up). It
// reads the rules in memory, so a goroutine of the test may call it.
func (e *Env) FaultRuleHits(name string) int {
	for _, r := range e.Server.Faults.List() {
		if strings.EqualFold(r.Name, name) {
			return r.Hits
		}
	}
	return -1
}

// WaitFaultRuleHit waits (for what) until the fault rule name has matched:
// what the rule holds (its latency) has begun.
func (e *Env) WaitFaultRuleHit(what, name string) {
	e.T.Helper()
	e.WaitFor(what, func() bool { return e.FaultRuleHits(name) >= 1 })
}
