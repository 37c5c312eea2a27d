package clock

import (
	"sync"
	"time"
)

// Control is the server's controllable clock: real time shifted by an
// offset, either running or frozen. Operators move it through the admin
// API (safehold clock ...) to test schedules, retention and expiry without
// waiting. It drives schedules, retention, expiry, soft-delete purge and
// job and recovery-point times; tokens, TLS and garbage-collection grace
// windows always use real time.
type Control struct {
	mu     sync.Mutex
	base   func() time.Time
	offset time.Duration // when running: Now = base() + offset
	frozen bool
	at     time.Time // when frozen: Now = at
	change func(State)
	gen    uint64 // counts the changes made here (Set, Advance, Resume)
	moves  moves
}

// State is what Control shows and persists.
type State struct {
	Now    time.Time `json:"now"`
	Frozen bool      `json:"frozen"`
	// Offset is Now minus real time at the moment State was taken. A
	// running clock keeps it; a frozen clock's falls as real time passes
	// (its Now stands still), and Resume keeps the offset it has then.
	Offset time.Duration `json:"offset"`
}

// NewControl returns a running clock at real time (no offset).
func NewControl() *Control { return &Control{base: func() time.Time { return time.Now().UTC() }} }

// NewControlAt returns a clock whose real-time source is base (for tests of
// the clock itself).
func NewControlAt(base func() time.Time) *Control { return &Control{base: base} }

// OnChange sets a function called (without the lock) after every change,
// e.g. to persist the state.
func (c *Control) OnChange(fn func(State)) {
	c.mu.Lock()
	c.change = fn
	c.mu.Unlock()
}

// Now returns the controlled time.
func (c *Control) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nowLocked()
}

func (c *Control) nowLocked() time.Time {
	if c.frozen {
		return c.at
	}
	return c.base().Add(c.offset).UTC()
}

// Real returns the time the control's clock moves from (real time), which
// neither set, advance nor a frozen clock changes.
func (c *Control) Real() time.Time { return c.base().UTC() }

// RealNow is real time by c: a Control's Real, or the Now of another clock
// (a test's own, which a test moves as it likes).
func RealNow(c Clock) time.Time {
	if ctl, ok := c.(*Control); ok {
		return ctl.Real()
	}
	return c.Now().UTC()
}

// State returns the current state.
func (c *Control) State() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stateLocked()
}

func (c *Control) stateLocked() State {
	now := c.nowLocked()
	return State{Now: now, Frozen: c.frozen, Offset: now.Sub(c.base())}
}

func (c *Control) changed() State {
	c.gen++
	st := c.stateLocked()
	fn := c.change
	c.mu.Unlock()
	if fn != nil {
		fn(st)
	}
	c.moves.moved()
	c.mu.Lock()
	return st
}

// Changed is closed at the clock's next move: a Set, Advance or Resume,
// or a Restore of another replica's state (Notifier).
func (c *Control) Changed() <-chan struct{} { return c.moves.changed() }

// Set freezes the clock at t.
func (c *Control) Set(t time.Time) State {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.frozen, c.at = true, t.UTC()
	return c.changed()
}

// Advance moves the clock forward by d and leaves it frozen there.
func (c *Control) Advance(d time.Duration) State {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at = c.nowLocked().Add(d)
	c.frozen = true
	return c.changed()
}

// Resume lets the clock run again from where it stands (keeping the offset
// to real time).
func (c *Control) Resume() State {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.frozen {
		c.offset = c.at.Sub(c.base())
		c.frozen = false
	}
	return c.changed()
}

// Restore sets a persisted state: frozen at st.Now, or running with
// st.Offset.
func (c *Control) Restore(st State) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.restoreLocked(st)
}

func (c *Control) restoreLocked(st State) {
	if st.Frozen {
		c.frozen, c.at = true, st.Now.UTC()
	} else {
		c.frozen, c.offset = false, st.Offset
	}
	c.moves.moved() // (moves has a lock of its own)
}

// Generation counts the changes made through Set, Advance and Resume
// (not Restore): read it before reading a shared state to restore with
// RestoreIf.
func (c *Control) Generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// RestoreIf restores st (Restore) unless the clock was changed here since
// Generation answered gen: a state read while a change was being made here
// is older than that change and must not undo it. It reports whether it
// restored st.
func (c *Control) RestoreIf(st State, gen uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return false
	}
	c.restoreLocked(st)
	return true
}
