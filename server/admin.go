package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/job"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/store"
)

// The admin API (Safehold.Admin) lets an Owner of the default subscription
// control the server for tests: its clock, a reset to an empty state, fault
// rules and repository verification. The CLI's clock, reset, fault and
// verify verbs call it.
const (
	adminNS   = "Safehold.Admin"
	adminPath = "/providers/" + adminNS
)

const clockDocKey = "clock"

// registerAdmin adds the admin routes.
func (s *Server) registerAdmin() {
	s.Router.RegisterNamespace(arm.Namespace{Name: adminNS, AnyVersion: true, Versions: []string{"2024-01-01"}})
	h := func(method, path string, fn arm.Handler) {
		s.Router.Handle(method, adminPath+path, s.requireOwner(fn), arm.NoAuthz())
	}
	h("GET", "/clock", s.clockRoute(s.clockShow))
	h("POST", "/clock/advance", s.clockRoute(s.clockAdvance))
	h("POST", "/clock/set", s.clockRoute(s.clockSet))
	h("POST", "/clock/resume", s.clockRoute(s.clockResume))
	h("POST", "/reset", s.adminReset)
	h("GET", "/faultRules", s.faultList)
	h("POST", "/faultRules", s.faultAdd)
	h("DELETE", "/faultRules", s.faultClear)
	h("DELETE", "/faultRules/{name}", s.faultDelete)
	h("POST", "/verify", s.adminVerify)
	h("GET", "/verify/{operationId}", s.adminVerifyStatus)
	h("GET", "/computeQuotas/{subscriptionId}/{location}", s.quotaShow)
	h("POST", "/computeQuotas/{subscriptionId}/{location}", s.quotaSet)
	h("PUT", vmImagePath, s.vmImageImport)
	h("DELETE", vmImagePath, s.vmImageDelete)
}

// requireOwner lets only an Owner of the default subscription through: the
// caller needs both a write action (Contributor has it, User Access
// Administrator not) and roleAssignments/write (Contributor lacks it).
func (s *Server) requireOwner(next arm.Handler) arm.Handler {
	return func(r *arm.Request) (*arm.Response, error) {
		scope := "/subscriptions/" + s.Bootstrap.SubscriptionID
		for _, action := range []string{adminNS + "/" + strings.ToLower(r.HTTP.Method) + "/action", "Microsoft.Authorization/roleAssignments/write"} {
			if err := s.Authz.Check(r.HTTP.Context(), r.Caller(), action, scope); err != nil {
				var ae *arm.Error
				if arm.As(err, &ae) {
					ae.Message += " The Safehold admin API needs the Owner role on the default subscription."
					return nil, ae
				}
				return nil, err
			}
		}
		return next(r)
	}
}

// initClock sets up the controllable clock: the persisted state, or
// ClockStart when given.
func (s *Server) initClock(ctx context.Context) error {
	ctl, ok := s.Config.Clock.(*clock.Control)
	if !ok {
		return nil // a test drives its own clock
	}
	s.ClockControl = ctl
	st, err := store.GetJSON[clock.State](ctx, s.Store, "config", clockDocKey, "clock state")
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	switch {
	case s.Config.ClockStart != nil:
		ctl.Set(*s.Config.ClockStart)
		if st != nil { // a start set back from where the clock stood keeps the work due then due (clockSet)
			prev := clock.NewControl()
			prev.Restore(*st)
			if err := s.pullTasks(ctx, prev.Now(), ctl.Now()); err != nil {
				return err
			}
		}
	case st != nil:
		ctl.Restore(*st)
	}
	save := func(st clock.State) {
		ctx := context.Background()
		var version int64
		var value []byte
		if err := s.Store.Update(ctx, func(tx store.Tx) error {
			var err error
			version, value, err = putClock(ctx, tx, st)
			return err
		}); err != nil {
			// The change holds here; followClock writes it once the store
			// answers (unless another replica moved the clock since).
			s.logger.Error("save clock state; written again once the store answers", "err", err)
			b, _ := json.Marshal(st)
			s.clockSeen.unsaved(b)
			return
		}
		s.clockSeen.set(version, value, true)
	}
	save(ctl.State())
	ctl.OnChange(save)
	return nil
}

// putClock writes the clock state st in tx and answers the stored
// document's version and bytes.
func putClock(ctx context.Context, tx store.Tx, st clock.State) (int64, []byte, error) {
	if err := store.WriteJSON(ctx, tx.Put, store.Doc{Kind: "config", Key: clockDocKey}, st, "clock state"); err != nil {
		return 0, nil, err
	}
	d, err := tx.Get(ctx, "config", clockDocKey)
	return d.Version, d.Value, err
}

// followClock keeps this replica's clock on the shared one: the admin API
// of any replica moves the state in the store, and every replica restores
// it within a tenth of a second (replicas only).
func (s *Server) followClock(ctx context.Context) {
	ctl := s.ClockControl
	if ctl == nil || s.Config.Store == "" {
		return
	}
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		s.followClockOnce(ctx, ctl)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// followClockOnce restores the stored clock state when another replica
// moved it since this replica last wrote or restored it (a newer version),
// and writes this replica's state again when the store lost it, if this
// replica wrote it (a state it only restored is restored again from the
// store, whatever its version: the writer writes its own again): a version
// older than the one this replica wrote or restored, or the same version
// holding another state (the database lost its last commits, in a crash
// with synchronous_commit off or a failover to a standby behind it, and a
// replica restarted since wrote the state it found), or a change made here
// that the store could not take. Left alone, the replicas' clocks stayed
// apart for good (each restores only newer versions): a clock resumed
// just before PostgreSQL crashed ran on the replica that resumed it and
// stayed frozen on the others, which never claimed the work due on the
// first one's clock (found by TestReplicasOutages, =scheduled).
func (s *Server) followClockOnce(ctx context.Context, ctl *clock.Control) {
	gen := ctl.Generation() // before the read: a change made here since is newer
	d, err := s.Store.Get(ctx, "config", clockDocKey)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return
	}
	version, value, own := s.clockSeen.get()
	switch {
	case d.Version == version && bytes.Equal(d.Value, value):
	case d.Version > version, !own && err == nil:
		// Newer: another replica moved the clock. Or older, or the same
		// version holding another state, while this replica's state is
		// one it only restored: the store lost commits, and the replica
		// that made the latest change writes it again, not this one,
		// whose state may be older than that change (a clock set it
		// followed, before a resume it never saw: written again here,
		// over the resume written again meanwhile, it froze every
		// replica's clock for good, found by TestReplicasOutages,
		// =scheduled).
		st, err := store.DecodeJSON[clock.State](d, "clock state")
		if err != nil {
			return
		}
		if ctl.Generation() != gen {
			return // changed here meanwhile: its own save decides
		}
		restored := false
		s.Jobs.ClockMoved(ctx, func() { restored = ctl.RestoreIf(*st, gen) })
		if restored {
			s.clockSeen.set(d.Version, d.Value, false)
		}
	default:
		s.rewriteClock(ctx, ctl, d)
	}
}

// rewriteClock writes this replica's clock state over the stored one,
// read as read, unless the stored one changed since.
func (s *Server) rewriteClock(ctx context.Context, ctl *clock.Control, read store.Doc) {
	var version int64
	var value []byte
	wrote := false
	err := s.Store.Update(ctx, func(tx store.Tx) error {
		cur, err := tx.Get(ctx, "config", clockDocKey)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if cur.Version != read.Version || !bytes.Equal(cur.Value, read.Value) {
			return nil // moved since: the next look decides
		}
		version, value, err = putClock(ctx, tx, ctl.State())
		wrote = err == nil
		return err
	})
	if err != nil || !wrote {
		return
	}
	s.logger.Warn("the stored clock state had lost this replica's last change (the database lost commits, or could not take it): written again", "stored_version", read.Version, "version", version)
	s.clockSeen.set(version, value, true)
}

// storedClock is the clock state in the store as this replica last wrote
// or restored it: its document's version and bytes (value is the state a
// change made here could not write, the version the one before it), and
// whether this replica wrote it (own: a change made here, or its state at
// start) or only restored it.
type storedClock struct {
	mu      sync.Mutex
	version int64
	value   []byte
	own     bool
}

func (s *storedClock) get() (int64, []byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.version, s.value, s.own
}

func (s *storedClock) set(version int64, value []byte, own bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.version, s.value, s.own = version, bytes.Clone(value), own
}

// unsaved records a state a change made here could not write.
func (s *storedClock) unsaved(value []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.value, s.own = bytes.Clone(value), true
}

type clockBody struct {
	Now    string `json:"now"`
	Frozen bool   `json:"frozen"`
	// Offset is now minus real time, as of this answer: a frozen clock's
	// falls as real time passes (clock.State.Offset).
	Offset string `json:"offset"`
	// Runs is how many scheduled tasks an advance ran (advance only).
	Runs *int `json:"runs,omitempty"`
	// Advance is the clock advance running on this server, if one is
	// (show only): what the CLI prints while it waits.
	Advance *advanceState `json:"advance,omitempty"`
}

// advanceState is a running clock advance: its target and the jobs not
// ended (of any vault, on any replica) the work it waits for runs, with
// what each waits for itself (protection.DetailWaiting).
type advanceState struct {
	Target string       `json:"target"`
	Jobs   []advanceJob `json:"jobs"`
}

type advanceJob struct {
	ID        string  `json:"id"`
	Vault     string  `json:"vault"`
	Item      string  `json:"item,omitempty"`
	Operation string  `json:"operation"`
	Status    string  `json:"status"`
	Progress  float64 `json:"progress"`
	Waiting   string  `json:"waiting,omitempty"`
}

func clockOut(st clock.State) clockBody {
	return clockBody{Now: st.Now.Format(time.RFC3339Nano), Frozen: st.Frozen, Offset: st.Offset.Round(time.Millisecond).String()}
}

func (s *Server) clockCtl() (*clock.Control, error) {
	if s.ClockControl == nil {
		return nil, arm.Errorf(http.StatusConflict, "ClockNotControllable", "This server runs on a clock its embedding program drives; the clock admin API is not available.")
	}
	return s.ClockControl, nil
}

// clockRoute is a route of the clock admin API: h runs with the
// controllable clock, or the request is refused (409
// ClockNotControllable) when the server has none.
func (s *Server) clockRoute(h func(*arm.Request, *clock.Control) (*arm.Response, error)) arm.Handler {
	return func(r *arm.Request) (*arm.Response, error) {
		c, err := s.clockCtl()
		if err != nil {
			return nil, err
		}
		return h(r, c)
	}
}

// clockRequest is the body of clock advance ({"duration"}) and clock set
// ({"time"}).
type clockRequest struct {
	Duration string `json:"duration"`
	Time     string `json:"time"`
	// RequestID makes an advance idempotent (advanceTarget): the CLI
	// sends a fresh one per command and the same one when it is retried.
	RequestID string `json:"requestId"`
}

func decodeClock(r *arm.Request) (clockRequest, error) {
	var body clockRequest
	err := r.Decode(&body)
	return body, err
}

func (s *Server) clockShow(r *arm.Request, c *clock.Control) (*arm.Response, error) {
	out := clockOut(c.State())
	if target := s.advancing.Load(); target != nil {
		// An advance runs here: the jobs it waits for (best effort: the
		// clock's state stands without them).
		out.Advance = &advanceState{Target: target.UTC().Format(time.RFC3339Nano), Jobs: []advanceJob{}}
		if js, err := protection.RunningJobsAnywhere(r.HTTP.Context(), s.Store); err == nil {
			for _, j := range js {
				out.Advance.Jobs = append(out.Advance.Jobs, advanceJob{ID: j.ID, Vault: j.VaultID, Item: j.ItemName, Operation: j.Operation,
					Status: j.Status, Progress: j.Progress, Waiting: j.Details[protection.DetailWaiting]})
			}
		}
	}
	return arm.OK(out), nil
}

// ParseAdvance parses a clock advance: a Go duration (36h, 90m), one with
// leading week and day counts as operators type them (1d, 2d12h, 1w, 1w2d),
// or an ISO 8601 duration (P7D, PT4H, P1M). Days and weeks are calendar
// days, as P1D's. A leading minus (-1d, -P7D) goes back. It returns the
// target time from now.
func ParseAdvance(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, fmt.Errorf("empty duration: give one as 1d, 2d12h, 1w, 36h, 90m or P7D")
	}
	if iso := strings.TrimLeft(s, "+-"); len(s)-len(iso) <= 1 && strings.HasPrefix(strings.ToUpper(iso), "P") {
		d, err := protection.ParseDuration(strings.ToUpper(iso))
		if err != nil {
			return time.Time{}, err
		}
		if s[0] == '-' {
			d = protection.Duration{Years: -d.Years, Months: -d.Months, Weeks: -d.Weeks, Days: -d.Days,
				Hours: -d.Hours, Minutes: -d.Minutes, Seconds: -d.Seconds}
		}
		return d.AddTo(now), nil
	}
	bad := fmt.Errorf("%q is not a duration: use days and weeks (1d, 2d12h, 1w), a Go duration (36h, 90m) or an ISO 8601 duration (P7D, PT4H)", s)
	sign, rest := 1, s
	if rest[0] == '-' || rest[0] == '+' {
		if rest[0] == '-' {
			sign = -1
		}
		rest = rest[1:]
	}
	days, counted := 0, false
	for _, u := range []struct {
		unit byte
		days int
	}{{'w', 7}, {'d', 1}} {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i >= len(rest) || rest[i]|0x20 != u.unit { // 1D, 1W too
			continue
		}
		if i > 7 { // past 9000-01-01 either way; keeps AddDate from overflowing
			return time.Time{}, fmt.Errorf("%q is too long", s)
		}
		n, _ := strconv.Atoi(rest[:i])
		days += n * u.days
		rest, counted = rest[i+1:], true
	}
	var d time.Duration
	if rest != "" {
		var err error
		if d, err = time.ParseDuration(rest); err != nil || rest[0] == '-' || rest[0] == '+' {
			return time.Time{}, bad
		}
	} else if !counted {
		return time.Time{}, bad
	}
	return now.AddDate(0, 0, sign*days).Add(time.Duration(sign) * d), nil
}

func (s *Server) clockAdvance(r *arm.Request, c *clock.Control) (*arm.Response, error) {
	body, err := decodeClock(r)
	if err != nil {
		return nil, err
	}
	now := c.Now() // once: a running clock moves between two reads
	target, err := ParseAdvance(body.Duration, now)
	if err != nil {
		return nil, arm.BadRequest("InvalidDuration", "The duration '%s' is invalid: %v.", body.Duration, err)
	}
	if err := CheckClockTime(target); err != nil {
		return nil, arm.BadRequest("InvalidDuration", "The duration '%s' moves the clock out of range, to %s: %v.", body.Duration, target.Format(time.RFC3339), err)
	}
	back := target.Before(now)
	if body.RequestID != "" {
		if len(body.RequestID) > 128 {
			return nil, arm.BadRequest("InvalidRequestId", "The requestId is %d characters long; give at most 128 (the CLI sends a UUID).", len(body.RequestID))
		}
		again, applied := false, false
		if target, back, again, applied, err = s.advanceTarget(r.HTTP.Context(), body.RequestID, target, back); err != nil {
			return nil, err
		}
		if applied || again && !back && c.Now().After(target) {
			// Applied already (recorded so once it was made), or, for one
			// cut short, the clock moved past its target since.
			// Applied already (its answer was lost: the replica serving it
			// was killed), and the clock moved on since: nothing to redo.
			// The direction is the first request's: its target, behind the
			// clock now, is no move back (the clock was set back to it,
			// frozen, by a retry after the clock had moved on).
			// (A move back is a set to an absolute time: made again below.)
			out := clockOut(c.State())
			out.Runs = new(int)
			return arm.OK(out), nil
		}
	}
	if back {
		// Back (-1d): a clock set to that time; nothing runs.
		s.advanceMu.Lock()
		defer s.advanceMu.Unlock()
		st, err := s.setClock(r.HTTP.Context(), c, target)
		if err != nil {
			return nil, err
		}
		s.advanceApplied(r.HTTP.Context(), body.RequestID)
		out := clockOut(st)
		out.Runs = new(int)
		return arm.OK(out), nil
	}
	runs, err := s.AdvanceClock(r.HTTP.Context(), target)
	if err != nil {
		return nil, err
	}
	s.advanceApplied(r.HTTP.Context(), body.RequestID)
	out := clockOut(c.State())
	out.Runs = &runs
	return arm.OK(out), nil
}

// advanceKind holds the target of each clock advance made with a request
// id (advanceTarget), for a day of real time (pruneAdvances).
const advanceKind = "clock.advance"

// advanceKeep is how long (real time) an advance's record is kept: a
// client retries within it.
const advanceKeep = 24 * time.Hour

type advanceRecord struct {
	Target time.Time `json:"target"`
	At     time.Time `json:"at"`             // real time, for pruning
	Back   bool      `json:"back,omitempty"` // a move back (a set to Target)
	// Applied: the advance was made to its end; a retry changes nothing.
	Applied bool `json:"applied,omitempty"`
}

// advanceTarget makes a clock advance idempotent by its request id: the
// first request with id records its target (target, computed from the
// clock as it then stood); a request with the same id again (the client
// retrying an advance whose answer it never got: the replica serving it
// was killed after the clock moved, or part way) answers the recorded
// target, its direction (back: a move back), again=true and whether the
// first was applied to its end (advanceApplied), so that it moves the
// clock to where the first would have, not a second duration further,
// and not at all when the first was made. One lookup of the id, whatever
// the records of the day (the leader prunes them: pruneAdvances).
func (s *Server) advanceTarget(ctx context.Context, id string, target time.Time, back bool) (time.Time, bool, bool, bool, error) {
	key := strings.ToLower(id)
	again, applied := false, false
	err := s.Store.Update(ctx, func(tx store.Tx) error {
		if rec, err := store.GetJSON[advanceRecord](ctx, tx, advanceKind, key, "clock advance"); err == nil {
			target, back, again, applied = rec.Target, rec.Back, true, rec.Applied
			return nil
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return store.WriteJSON(ctx, tx.Put, store.Doc{Kind: advanceKind, Key: key}, advanceRecord{Target: target, At: time.Now().UTC(), Back: back}, "clock advance")
	})
	return target, back, again, applied, err
}

// advanceApplied records that the advance with request id (none: "")
// was made to its end, so that a retry of it changes nothing, even after
// the clock moved elsewhere since. Not recorded (the store out of reach),
// a retry moves the clock to the first one's target again.
func (s *Server) advanceApplied(ctx context.Context, id string) {
	if id == "" {
		return
	}
	key := strings.ToLower(id)
	err := s.Store.Update(context.WithoutCancel(ctx), func(tx store.Tx) error {
		rec, err := store.GetJSON[advanceRecord](ctx, tx, advanceKind, key, "clock advance")
		if err != nil || rec.Applied {
			return err
		}
		rec.Applied = true
		return store.WriteJSON(ctx, tx.Put, store.Doc{Kind: advanceKind, Key: key}, rec, "clock advance")
	})
	if err != nil {
		s.logger.Warn("record a clock advance as made; a retry of it moves the clock to its target again", "requestId", id, "err", err)
	}
}

// pruneAdvances deletes the clock advances' records older than
// advanceKeep (real time), and those that cannot be read (the leader's
// upkeep, hourly).
func (s *Server) pruneAdvances(ctx context.Context) {
	docs, err := s.Store.List(ctx, advanceKind, store.ListQuery{})
	if err != nil {
		if ctx.Err() == nil {
			s.logger.Warn("list clock advance records", "err", err)
		}
		return
	}
	now := time.Now().UTC()
	var old []string
	for _, d := range docs {
		if rec, err := store.DecodeJSON[advanceRecord](d, "clock advance"); err != nil || now.Sub(rec.At) > advanceKeep {
			old = append(old, d.Key)
		}
	}
	if len(old) == 0 {
		return
	}
	if err := s.Store.Update(ctx, func(tx store.Tx) error { return store.DeleteKeys(ctx, tx, advanceKind, old...) }); err != nil && ctx.Err() == nil {
		s.logger.Warn("prune clock advance records", "err", err)
	}
}

// maxAdvanceSteps bounds the moments one advance visits.
const maxAdvanceSteps = 200000

// AdvanceClock moves the controllable clock to target, running what would
// have happened in between in order: it repeatedly waits until the job
// runner is idle, then moves the clock to the next due task's time (never
// past target), so each scheduled run happens at its own time and sees
// the work before it done. It returns the number of steps taken, once the
// work due at target is done; the clock stays frozen at target.
func (s *Server) AdvanceClock(ctx context.Context, target time.Time) (int, error) {
	c, err := s.clockCtl()
	if err != nil {
		return 0, err
	}
	s.advanceMu.Lock()
	defer s.advanceMu.Unlock()
	s.advancing.Store(&target)
	defer s.advancing.Store(nil)
	c.Set(c.Now()) // freeze while stepping
	steps := 0
	for {
		if err := s.Jobs.WaitIdle(ctx); err != nil {
			return steps, advanceStopped(c.Now(), target, err)
		}
		if busy, err := s.othersBusy(ctx, c.Now()); err != nil {
			return steps, err
		} else if busy {
			continue // other replicas still run work due by now
		}
		next, err := s.Store.NextTaskTime(ctx)
		if err != nil {
			return steps, err
		}
		if next.IsZero() || next.After(target) {
			break
		}
		if steps++; steps > maxAdvanceSteps {
			return steps, arm.Errorf(http.StatusConflict, "AdvanceTooLong", "The clock advance stopped at %s after %d steps: some work keeps rescheduling itself.", c.Now().Format(time.RFC3339), maxAdvanceSteps)
		}
		if next.After(c.Now()) {
			c.Set(next)
		}
		s.settle(ctx)
	}
	c.Set(target)
	s.settle(ctx)
	if err := s.Jobs.WaitIdle(ctx); err != nil {
		return steps, advanceStopped(c.Now(), target, err)
	}
	for {
		if busy, err := s.othersBusy(ctx, c.Now()); err != nil || !busy {
			return steps, err
		}
		if err := s.Jobs.WaitIdle(ctx); err != nil {
			return steps, advanceStopped(c.Now(), target, err)
		}
	}
}

// advanceStopped is the error of an advance whose wait for the work due at
// now failed: when that work cannot be claimed (the store is out of space,
// or refuses the claims), a 507 or 503 saying where the clock stopped and
// what to do; else err.
func advanceStopped(now, target time.Time, err error) error {
	if !errors.Is(err, job.ErrNotClaimable) {
		return err
	}
	at := now.UTC().Format(time.RFC3339)
	if errors.Is(err, syscall.ENOSPC) {
		return arm.Errorf(http.StatusInsufficientStorage, "InsufficientStorage", "The clock advance stopped at %s, before %s: the work due then cannot start because the server is out of storage space (%v). Free space on the file system of Safehold's data directory (or its database's), then advance the clock again.", at, target.UTC().Format(time.RFC3339), err)
	}
	return arm.Errorf(http.StatusServiceUnavailable, "ServiceUnavailable", "The clock advance stopped at %s, before %s: the work due then cannot start (%v). Retry the advance once the store accepts writes again.", at, target.UTC().Format(time.RFC3339), err)
}

// settle lets the runners see a clock step: this one at once; with other
// live replicas every runner gets a fair chance at the work now due (they
// follow the clock within 100 ms, and their runners claim at its move), so that work
// bound to one replica (a disk's capture on its owner) is not claimed and
// handed back by this one alone.
func (s *Server) settle(ctx context.Context) {
	if !s.othersLive(ctx) {
		s.Jobs.Notify()
		return
	}
	select {
	case <-ctx.Done():
	case <-time.After(400 * time.Millisecond):
	}
}

// othersLive reports whether replicas other than this one run on the store
// (when it cannot tell, that they may).
func (s *Server) othersLive(ctx context.Context) bool {
	if s.Config.Store == "" {
		return false
	}
	ids, err := s.LiveReplicas(ctx)
	return err != nil || slices.ContainsFunc(ids, func(id string) bool { return id != s.NodeID })
}

// othersBusy reports whether tasks are leased at now by the other live
// replicas (call it when this runner is idle: a lease of its own is one a
// failed write left behind, as a dead replica's is; neither runs, and on
// the frozen clock neither would expire), waiting a little when they are.
func (s *Server) othersBusy(ctx context.Context, now time.Time) (bool, error) {
	lc, ok := s.kinds.(store.LeaseCounter)
	if !ok || s.Config.Store == "" {
		return false, nil
	}
	live, err := s.LiveReplicas(ctx)
	if err != nil {
		return false, err
	}
	others := slices.DeleteFunc(live, func(id string) bool { return id == s.NodeID })
	if len(others) == 0 {
		return false, nil
	}
	n, err := lc.LeasedTasks(ctx, now, others)
	if err != nil || n == 0 {
		return false, err
	}
	select {
	case <-ctx.Done():
		return false, ctx.Err()
	case <-time.After(50 * time.Millisecond):
	}
	return true, nil
}

// ClockLatest is the latest time the clock may be set or advanced to:
// schedules, retention (up to 99 years), expiry and purge add to the
// clock's time, and a time after year 9999 cannot be written as JSON (a
// vault created at 10000-01-01 was a 500).
var ClockLatest = time.Date(9000, 1, 1, 0, 0, 0, 0, time.UTC)

// ClockEarliest is the earliest time the clock may be set or moved back
// to, the Unix epoch: a move back past year 0 (advance -P3000Y) set the
// clock to a time no JSON can carry, and every backup and clock advance
// was a 500 until it was set again.
var ClockEarliest = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)

// CheckClockTime refuses a clock time after ClockLatest or before
// ClockEarliest.
func CheckClockTime(t time.Time) error {
	if t.After(ClockLatest) {
		return fmt.Errorf("the clock goes up to %s, leaving room for the retention and schedules that add years to it before year 9999, the last ARM's times can carry", ClockLatest.Format(time.RFC3339))
	}
	if t.Before(ClockEarliest) {
		return fmt.Errorf("the clock goes back to %s (the Unix epoch) at the earliest", ClockEarliest.Format(time.RFC3339))
	}
	return nil
}

// maxRunningOffset is how far from real time a running clock may be: it
// runs at real time plus its offset, a time.Duration (at most ~292
// years), so a clock resumed further away jumped (resumed at 2400-01-01,
// it ran from 2319; at 1500-01-01, from 1734). A frozen clock goes up to
// ClockLatest.
const maxRunningOffset = 290 * 365 * 24 * time.Hour

func (s *Server) clockSet(r *arm.Request, c *clock.Control) (*arm.Response, error) {
	body, err := decodeClock(r)
	if err != nil {
		return nil, err
	}
	t, err := time.Parse(time.RFC3339Nano, body.Time)
	if err != nil {
		return nil, arm.BadRequest("InvalidTime", "The time '%s' is not an RFC 3339 time such as 2026-01-01T00:00:00Z.", body.Time)
	}
	if err := CheckClockTime(t); err != nil {
		return nil, arm.BadRequest("InvalidTime", "The time '%s' is out of range: %v.", body.Time, err)
	}
	s.advanceMu.Lock()
	defer s.advanceMu.Unlock()
	st, err := s.setClock(r.HTTP.Context(), c, t)
	if err != nil {
		return nil, err
	}
	return arm.OK(clockOut(st)), nil
}

// setClock sets the clock to t, frozen (call it holding advanceMu).
func (s *Server) setClock(ctx context.Context, c *clock.Control, t time.Time) (clock.State, error) {
	var st clock.State
	var pullErr error
	// Work due before a move back stays due (the tasks' run times are
	// instants of this clock): a backup accepted a moment ago, queued or
	// running when a restart releases its lease, would otherwise wait
	// until the clock came back to it; and the leases move with it. The
	// move is made before the runner renews the leases of the tasks
	// running here at the new time, which moving them after would cut
	// short by the jump.
	s.Jobs.ClockMoved(ctx, func() {
		before := c.Now()
		st = c.Set(t)
		pullErr = s.pullTasks(ctx, before, st.Now)
	})
	if pullErr != nil {
		return st, pullErr
	}
	s.Jobs.Notify()
	return st, nil
}

// pullTasks makes the tasks due by from due at to, and moves their leases
// back by the jump, when the clock moved back from from to to
// (store.TaskPuller).
func (s *Server) pullTasks(ctx context.Context, from, to time.Time) error {
	if p, ok := s.kinds.(store.TaskPuller); ok && to.Before(from) {
		_, err := p.PullTasks(ctx, from, to)
		return err
	}
	return nil
}

func (s *Server) clockResume(r *arm.Request, c *clock.Control) (*arm.Response, error) {
	s.advanceMu.Lock()
	defer s.advanceMu.Unlock()
	if st := c.State(); st.Frozen {
		if real := c.Real(); st.Now.After(real.Add(maxRunningOffset)) || st.Now.Before(real.Add(-maxRunningOffset)) {
			return nil, arm.BadRequest("InvalidTime", "The clock, frozen at %s, cannot run from there: a running clock keeps within 290 years of real time (%s to %s). Set it within that range and resume, or leave it frozen and move it with clock set or clock advance.",
				st.Now.Format(time.RFC3339), real.Add(-maxRunningOffset).Format(time.RFC3339), real.Add(maxRunningOffset).Format(time.RFC3339))
		}
	}
	st := c.Resume()
	s.Jobs.Notify()
	return arm.OK(clockOut(st)), nil
}
