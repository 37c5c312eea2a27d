// Package clock is the only place in Safehold that reads the wall clock.
// Everything time-dependent (schedules, retention, expiry, operation timing)
// takes a Clock so tests can drive time with a Fake instead of sleeping.
package clock

import (
	"sync"
	"time"
)

// Clock tells the time.
type Clock interface {
	Now() time.Time
}

// Notifier is a Clock that can be moved (a Fake, the server's Control):
// Changed answers a channel closed at its next move, so that what waits
// for a time on it (the job runner, for the next task due) wakes when the
// clock jumps rather than when real time would have brought it there.
type Notifier interface {
	Changed() <-chan struct{}
}

// moves is a Notifier's channel, closed and replaced at each move.
type moves struct {
	mu sync.Mutex
	ch chan struct{}
}

func (m *moves) changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ch == nil {
		m.ch = make(chan struct{})
	}
	return m.ch
}

func (m *moves) moved() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ch != nil {
		close(m.ch)
		m.ch = nil
	}
}

// Real is the system clock, in UTC.
type Real struct{}

// Now returns the current UTC time.
func (Real) Now() time.Time { return time.Now().UTC() }

// Fake is a manually advanced clock for tests. The zero value starts at the
// Unix epoch; use NewFake for a specific start.
type Fake struct {
	mu    sync.Mutex
	now   time.Time
	moves moves
}

// NewFake returns a fake clock set to t.
func NewFake(t time.Time) *Fake { return &Fake{now: t.UTC()} }

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves the fake time forward by d.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
	f.moves.moved()
}

// Set moves the fake time to t.
func (f *Fake) Set(t time.Time) {
	f.mu.Lock()
	f.now = t.UTC()
	f.mu.Unlock()
	f.moves.moved()
}

// Changed is closed at the next Advance or Set (Notifier).
func (f *Fake) Changed() <-chan struct{} { return f.moves.changed() }

// processStart is a reading of the monotonic clock taken at start-up.
var processStart = time.Now()

// Mono is a reading of the monotonic clock (the time since the process
// started) for measuring a duration: time.Now reads the wall clock as
// well, two clock reads instead of one.
func Mono() time.Duration { return time.Since(processStart) }

// MonoAt is t's reading of the monotonic clock, as Mono: t must come from
// time.Now (a Time with a monotonic reading).
func MonoAt(t time.Time) time.Duration { return t.Sub(processStart) }
