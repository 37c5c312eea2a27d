// Package job runs durable background work from the store's task queue:
// tasks are enqueued in the same transaction as the resource change that
// needs them, leased while they run (the lease is renewed while the handler
// works), retried with backoff on transient failure, and picked up again
// after a crash once the dead node's lease expires (or at once when the same
// node restarts).
package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/store"
)

// unavailableRetry is how long after a handler met the database out of
// reach (store.ErrUnavailable, store.ErrOutcomeUnknown) its task runs again.
const unavailableRetry = 5 * time.Second

// Handler runs one task. Returning nil completes the task; a Retry error
// reschedules it; any other error completes it as failed (the handler is
// expected to have recorded the failure wherever users see it).
type Handler func(ctx context.Context, t store.Task) error

// RetryError asks the runner to run the task again after Delay, or at At.
type RetryError struct {
	Err   error
	Delay time.Duration
	// At, when set, is the time on the runner's clock the task runs again
	// (Delay is then only what logs say): a wait for a time on the clock
	// (a rehydration's end). A Delay is counted from the clock's time when
	// the runner reschedules the task, so a clock moved forward between
	// the handler's reading of it and the reschedule (safehold clock set,
	// a test's clock) would push such a wait on by the move: it waited for
	// a time the moved clock had reached, and never ran again.
	At time.Time
	// Real, when set, makes Delay a wait in real time (Backoff), not on
	// the runner's clock.
	Real bool
	// Node, when set, is the node whose runners alone run the task again,
	// for Pin (real time); after that any runner may.
	Node string
	Pin  time.Duration
	// Waiting marks a wait that is the task's work, not a failure (Wait):
	// logged as information, not as a warning.
	Waiting bool
}

func (e *RetryError) Error() string { return fmt.Sprintf("retry in %s: %v", e.Delay, e.Err) }
func (e *RetryError) Unwrap() error { return e.Err }

// Retry wraps err so the task runs again after delay.
func Retry(err error, delay time.Duration) error { return &RetryError{Err: err, Delay: delay} }

// RetryAt wraps err so the task runs again at time at on the runner's
// clock (whatever the clock does meanwhile); delay is how long that is
// from the handler's reading of the clock, for the logs.
func RetryAt(err error, at time.Time, delay time.Duration) error {
	return &RetryError{Err: err, Delay: delay, At: at}
}

// Backoff wraps err so the task runs again after delay of real time,
// whatever the runner's clock does: a backoff for something outside the
// clock (a disk owner's lapsed lease, the database out of reach). Counted
// on the clock, it never ended while the clock stood frozen (safehold
// clock set or advance leave it so), and the job it ran stayed InProgress
// for ever. The task is due at once on the clock and held from every
// runner until delay has passed (store.HeldNode).
func Backoff(err error, delay time.Duration) error {
	return &RetryError{Err: err, Delay: delay, Real: true}
}

// Wait is Backoff for a task whose work is to wait (a deployment following
// its resources' operations, which leaves its slot meanwhile): err says
// for what; it is no failure, and logged as information.
func Wait(err error, delay time.Duration) error {
	return &RetryError{Err: err, Delay: delay, Real: true, Waiting: true}
}

// RunOn wraps err so the task runs again at once on node (work that must
// run where its data lives): only node's runners claim it for pin of real
// time, after which any runner may (and finds out that node is gone).
func RunOn(err error, node string, pin time.Duration) error {
	return &RetryError{Err: err, Node: node, Pin: pin}
}

// Runner claims and runs tasks.
type Runner struct {
	Store       store.Store
	Clock       clock.Clock
	Logger      *slog.Logger
	NodeID      string        // stable per node; leases are "NodeID/boot"
	Lease       time.Duration // default 60s
	Concurrency int           // default 4
	// Light bounds the tasks of light kinds (RegisterLight) running at once,
	// in a pool of their own beside Concurrency's; default 32.
	Light int
	// Poll is how soon the runner claims again while tasks run here, due
	// work could not be claimed or claims fail; default 200ms.
	Poll time.Duration
	// IdlePoll is how long an idle runner waits at most before it claims
	// again (default 5s, never less than Poll): it wakes at once on
	// Notify, on the store's Wakeups (its enqueues, and with PostgreSQL
	// other replicas'), at a move of a clock that tells (clock.Notifier),
	// and when the next task is due (NextTaskTime: a schedule, a retry, a
	// dead holder's lease running out). The poll only catches what none
	// of them tells (a lost PostgreSQL notification).
	IdlePoll time.Duration
	// StopWait bounds how long Stop waits for the running handlers once
	// it has cancelled them (default 30s): one that does not return (a
	// run stuck outside its context) is left behind, its task leased to
	// this runner's claim, which the next start of the node releases
	// (Start) and another replica's leader frees once this one has gone a
	// lease (ReleaseAbsent): the run is taken on from its last step, and
	// its job ends. Stop waited for it without limit: the server never
	// shut down.
	StopWait time.Duration

	mu       sync.Mutex
	handlers map[string]Handler
	light    map[string]bool
	owner    string
	wakeOnce sync.Once
	wake     chan struct{}
	cancel   context.CancelCauseFunc
	wg       sync.WaitGroup
	sem      chan struct{}
	lightSem chan struct{}
	active   atomic.Int64           // claims in flight plus running tasks (see WaitIdle)
	claimMu  sync.Mutex             // held by each claim, and by ClockMoved
	leases   map[string]store.Lease // the leases of the tasks running here, by task id
	// claimFail is set while claims fail (nil once one succeeds): WaitIdle
	// ends with its error rather than wait for work nobody can claim.
	claimFail atomic.Pointer[claimFailure]
	// absent: the claims of nodes found not running, by owner (ReleaseAbsent).
	absent map[string]*absentClaim
}

// claimFailure is a run of failed claims: since the first, the last one's
// time and error, whether no task ran here when it failed (alone), and
// when the run was last logged.
type claimFailure struct {
	since, last, logged time.Time
	err                 error
	alone               bool
}

// claimFailed records a failed claim, and logs it when the failures begin
// and then once a minute (a store out of space fails every poll).
func (r *Runner) claimFailed(err error) {
	now := time.Now()
	f := claimFailure{since: now, last: now, err: err, alone: r.active.Load() == 1} // (the claim's own count)
	if prev := r.claimFail.Load(); prev != nil {
		f.since, f.logged = prev.since, prev.logged
	}
	if now.Sub(f.logged) >= time.Minute {
		f.logged = now
		r.Logger.Error("claim tasks", "err", err, "failing_since", f.since)
	}
	r.claimFail.Store(&f)
}

// ClockMoved moves the clock (move sets it) while no claim runs here, then
// renews the leases of the tasks running here at the new time. A task's
// lease is measured on the clock its due times are on, so a clock set
// forward past a running task's lease would let the next claim take the
// task over while it runs (and one set back leaves leases that outlive a
// dead holder by the jump).
func (r *Runner) ClockMoved(ctx context.Context, move func()) {
	r.claimMu.Lock()
	defer r.claimMu.Unlock()
	move()
	r.mu.Lock()
	ls := make([]store.Lease, 0, len(r.leases))
	for _, l := range r.leases {
		ls = append(ls, l)
	}
	r.mu.Unlock()
	until := r.Clock.Now().Add(r.Lease)
	for _, l := range ls {
		if err := r.Store.ExtendLease(ctx, l, until); err != nil {
			r.Logger.Warn("renew a task lease after a clock move", "task", l.TaskID, "err", err)
		}
	}
}

// Register sets the handler for a task kind. Call before Start.
func (r *Runner) Register(kind string, h Handler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.handlers == nil {
		r.handlers = map[string]Handler{}
	}
	r.handlers[kind] = h
}

// RegisterLight sets the handler for a kind of short task: metadata work
// that ends in a few store transactions (an ARM operation such as a
// resource group's delete). Such tasks do not hold one of the Concurrency
// slots meant for long tasks (backups, restores, captures): up to Light of
// them run at once, beside the long ones, where a burst of them (a test
// suite deleting its groups) would otherwise run four at a time, each a few
// commits long, and wait behind running backups.
// While long tasks hold every slot, the runner claims light kinds only
// (store.WithClaimKinds). Call before Start.
func (r *Runner) RegisterLight(kind string, h Handler) {
	r.Register(kind, h)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.light == nil {
		r.light = map[string]bool{}
	}
	r.light[kind] = true
}

// Notify wakes the runner (call after enqueueing due work).
func (r *Runner) Notify() {
	select {
	case r.wakeCh() <- struct{}{}:
	default:
	}
}

func (r *Runner) wakeCh() chan struct{} {
	r.wakeOnce.Do(func() { r.wake = make(chan struct{}, 1) })
	return r.wake
}

// Start releases this node's stale leases and starts the claim loop.
func (r *Runner) Start(ctx context.Context) error {
	if r.Lease <= 0 {
		r.Lease = 60 * time.Second
	}
	if r.Concurrency == 0 {
		r.Concurrency = 4
	}
	if r.Light == 0 {
		r.Light = 32
	}
	if r.Poll == 0 {
		r.Poll = 200 * time.Millisecond
	}
	if r.IdlePoll == 0 {
		r.IdlePoll = 5 * time.Second
	}
	r.IdlePoll = max(r.IdlePoll, r.Poll)
	if r.Clock == nil {
		r.Clock = clock.Real{}
	}
	if r.Logger == nil {
		r.Logger = slog.Default()
	}
	if r.NodeID == "" {
		r.NodeID = "node"
	}
	if _, err := r.Store.ReleaseLeases(ctx, r.NodeID+"/"); err != nil {
		return fmt.Errorf("start job runner: %w", err)
	}
	r.owner = r.NodeID + "/" + uuid.NewString()
	r.wakeCh()
	r.sem = make(chan struct{}, r.Concurrency)
	r.lightSem = make(chan struct{}, r.Light)
	ctx, r.cancel = context.WithCancelCause(context.WithoutCancel(ctx))
	r.wg.Add(1)
	go r.loop(ctx)
	return nil
}

// Stop cancels running handlers and waits for them.
func (r *Runner) Stop() { r.StopFor(nil) }

// StopFor is Stop saying why: the running handlers' context.Cause is
// cause (ErrReset: their work is about to be deleted, not resumed). It
// waits StopWait at most for them (see StopWait).
func (r *Runner) StopFor(cause error) {
	if r.cancel != nil {
		r.cancel(cause)
	}
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	wait := r.StopWait
	if wait <= 0 {
		wait = 30 * time.Second
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		r.mu.Lock()
		running := make([]string, 0, len(r.leases))
		for id := range r.leases {
			running = append(running, id)
		}
		r.mu.Unlock()
		if r.Logger != nil {
			r.Logger.Error("stopped without waiting longer for tasks whose handlers did not return once cancelled; their leases stay, released at the node's next start or freed by another replica's leader",
				"waited", wait, "tasks", running)
		}
	}
}

// ErrReset is the cause a server's reset stops its runner with: it
// deletes every job and task next, so the work stopped never resumes.
var ErrReset = errors.New("the server is being reset: its jobs and tasks are deleted")

func (r *Runner) loop(ctx context.Context) {
	defer r.wg.Done()
	t := time.NewTimer(r.Poll)
	defer t.Stop()
	var remote <-chan struct{} // enqueues (other processes' too), when the store tells
	if w, ok := r.Store.(store.Waker); ok {
		remote = w.Wakeups()
	}
	moves, _ := r.Clock.(clock.Notifier)
	for {
		var moved <-chan struct{} // taken before the claim: a move after it wakes the wait
		if moves != nil {
			moved = moves.Changed()
		}
		r.claimAndRun(ctx)
		t.Reset(r.wait(ctx))
		select {
		case <-ctx.Done():
			return
		case <-r.wakeCh():
		case <-remote:
		case <-moved:
		case <-t.C:
		}
	}
}

// wait is how long the loop may wait after a claim before the next one:
// Poll while tasks run here or claims fail (as before), else until the
// next task is due on the runner's clock, between Poll and IdlePoll. An
// idle runner claimed every Poll, five claims a second of an idle server.
func (r *Runner) wait(ctx context.Context) time.Duration {
	r.mu.Lock()
	running := len(r.leases)
	r.mu.Unlock()
	if running > 0 || r.active.Load() > 0 || r.claimFail.Load() != nil {
		return r.Poll
	}
	next, err := r.Store.NextTaskTime(ctx)
	switch {
	case err != nil:
		return r.Poll
	case next.IsZero():
		return r.IdlePoll
	case !next.After(r.Clock.Now()):
		// Due now: unless every due task is pinned away from this node
		// (a real-time backoff, or handed to another node) until some
		// time, when no claim here can take it before then.
		if until, err := r.pinnedAway(ctx); err == nil && !until.IsZero() {
			return min(max(time.Until(until), r.Poll), r.IdlePoll)
		}
		return r.Poll
	}
	return min(max(next.Sub(r.Clock.Now()), r.Poll), r.IdlePoll)
}

func (r *Runner) claimAndRun(ctx context.Context) {
	r.active.Add(1)
	defer r.active.Add(-1)
	r.mu.Lock()
	var lightKinds []string
	for k := range r.light {
		lightKinds = append(lightKinds, k)
	}
	r.mu.Unlock()
	for {
		// At most as many tasks of any kind as there are free slots for
		// long ones (a claimed long task must start at once: its lease
		// runs). Light tasks take no such slot, so the loop claims again
		// while they run; with every slot held, it claims light kinds only.
		if ctx.Err() != nil {
			return
		}
		cctx, limit := ctx, cap(r.sem)-len(r.sem)
		if limit <= 0 {
			limit = cap(r.lightSem) - len(r.lightSem)
			if limit <= 0 || len(lightKinds) == 0 {
				return
			}
			cctx = store.WithClaimKinds(ctx, lightKinds)
		}
		r.claimMu.Lock()
		// Never the tasks running here: after the clock jumped forward
		// without ClockMoved their leases look expired, and claiming one
		// would run it a second time in this process.
		r.mu.Lock()
		running := make([]string, 0, len(r.leases))
		for id := range r.leases {
			running = append(running, id)
		}
		r.mu.Unlock()
		if len(running) > 0 {
			cctx = store.WithClaimExcept(cctx, running)
		}
		// A task leased to this runner that it does not run (its claim's
		// answer lost with the database, its release unwritten) is
		// claimed again, not left to its lease's end on the clock.
		cctx = store.WithReclaimOwn(cctx)
		tasks, err := r.Store.ClaimTasks(cctx, r.owner, r.Clock.Now(), r.Lease, limit)
		if err == nil {
			r.mu.Lock()
			if r.leases == nil {
				r.leases = map[string]store.Lease{}
			}
			for _, t := range tasks {
				r.leases[t.ID] = t.Lease()
			}
			r.mu.Unlock()
		}
		r.claimMu.Unlock()
		if err != nil {
			if ctx.Err() == nil {
				r.claimFailed(err)
			}
			return
		}
		if r.claimFail.Load() != nil {
			r.claimFail.Store(nil)
		}
		if len(tasks) == 0 {
			return
		}
		for _, t := range tasks {
			r.mu.Lock()
			sem := r.sem
			if r.light[t.Kind] {
				sem = r.lightSem // may wait for a light task to end; they are short
			}
			r.mu.Unlock()
			sem <- struct{}{}
			r.wg.Add(1)
			r.active.Add(1)
			go func(t store.Task) {
				defer r.wg.Done()
				defer func() { <-sem; r.active.Add(-1); r.Notify() }()
				r.run(ctx, t)
			}(t)
		}
	}
}

func (r *Runner) run(ctx context.Context, t store.Task) {
	defer func() {
		r.mu.Lock()
		if l, ok := r.leases[t.ID]; ok && l == t.Lease() {
			delete(r.leases, t.ID)
		}
		r.mu.Unlock()
	}()
	r.mu.Lock()
	h := r.handlers[t.Kind]
	r.mu.Unlock()
	log := r.Logger.With("task", t.ID, "kind", t.Kind)
	if h == nil {
		log.Error("no handler for task kind; retrying later")
		r.Store.Update(ctx, func(tx store.Tx) error {
			return tx.RescheduleTask(ctx, t.ID, r.Clock.Now().Add(time.Minute), "no handler for kind "+t.Kind)
		})
		return
	}
	// Every commit the handler makes is fenced by this claim's lease: once
	// another worker has claimed the task, the handler's Updates fail with
	// store.ErrLeaseLost and commit nothing.
	ctx = store.WithLease(ctx, t.Lease())
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done, renewing := make(chan struct{}), make(chan struct{})
	// lost: the handler was stopped, its lease someone else's or about
	// to run out.
	var lost bool
	go func() { // renew the lease while the handler works
		defer close(renewing)
		tick := time.NewTicker(r.Lease / 3)
		defer tick.Stop()
		// renewed is when the lease last written began: the claim's, or
		// a renewal's (asked for then; it may be answered much later).
		renewed := time.Now()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				asked := time.Now()
				err := r.Store.ExtendLease(ctx, t.Lease(), r.Clock.Now().Add(r.Lease))
				if err == nil {
					renewed = asked
					continue
				}
				// A renewal the store could not write (out of space,
				// unavailable) is tried again while the lease lasts; the
				// handler stops once the lease is another's, or would
				// run out before the next try (due a third of the lease
				// on) had time to fail too and the handler to stop: more
				// than half of the lease must be left, so it stops at
				// the latest a third of it before the end.
				if !errors.Is(err, store.ErrLeaseLost) && time.Since(renewed) < r.Lease/2 {
					log.Warn("renew task lease; trying again", "err", err)
					continue
				}
				if errors.Is(err, store.ErrLeaseLost) && r.removedUnderHandler(ctx, t) {
					// The task was completed or replaced while its handler
					// ran (an item's schedule stopped, or planned anew,
					// during its scheduled backup): no claim will ever run
					// it again, so the handler goes on to its end, its
					// writes still fenced by this claim (which no other
					// can take over now); stopped, its job stayed
					// InProgress for ever.
					log.Info("task removed while its handler runs; the handler goes on to its end")
					return
				}
				if ctx.Err() == nil {
					log.Warn("lost task lease", "err", err)
				}
				lost = true
				cancel()
				return
			}
		}
	}()
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("task panicked: %v", p)
			}
		}()
		return h(hctx, t)
	}()
	close(done)
	<-renewing
	if ctx.Err() != nil {
		return // shutting down: the lease is released at next start
	}
	if lost {
		// The handler was stopped part way: the task is left as it is for
		// its next claim to run it again, not completed (whatever it
		// answered), as a job it ran would never end otherwise.
		log.Warn("task stopped without its lease; its next claim runs it again", "err", err)
		return
	}
	var re *RetryError
	if errors.As(err, &re) {
		if re.Node != "" {
			log.Info("task handed to its node", "node", re.Node, "reason", re.Err)
		} else if re.Waiting {
			log.Info("task waits", "for", re.Err, "delay", re.Delay)
		} else {
			log.Warn("task will retry", "err", re.Err, "delay", re.Delay)
		}
		due := re.At
		if due.IsZero() {
			due = r.Clock.Now().Add(re.Delay)
		}
		if uerr := r.Store.Update(ctx, func(tx store.Tx) error {
			if re.Node != "" {
				return tx.PinTask(ctx, t.ID, due, re.Err.Error(), re.Node, time.Now().Add(re.Pin))
			}
			if re.Real {
				return tx.PinTask(ctx, t.ID, r.Clock.Now(), re.Err.Error(), store.HeldNode, time.Now().Add(re.Delay))
			}
			return tx.RescheduleTask(ctx, t.ID, due, re.Err.Error())
		}); uerr != nil && !errors.Is(uerr, store.ErrNotFound) {
			log.Error("reschedule task", "err", uerr)
		}
		return
	}
	if errors.Is(err, store.ErrLeaseLost) {
		log.Warn("task lease lost; another worker owns the task now", "err", err)
		return
	}
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrOutcomeUnknown) {
		// The database was out of reach: what the handler could not write
		// (a job's end, its operation's) is not written, so the task runs
		// again once it answers, as after a claim lost to a crash;
		// completed here, its job would stay InProgress for ever.
		log.Warn("task met the database out of reach; it runs again", "err", err, "delay", unavailableRetry)
		if uerr := r.Store.Update(ctx, func(tx store.Tx) error {
			// A real wait (Backoff): the database's outage is not on the clock.
			return tx.PinTask(ctx, t.ID, r.Clock.Now(), err.Error(), store.HeldNode, time.Now().Add(unavailableRetry))
		}); uerr != nil && !errors.Is(uerr, store.ErrNotFound) {
			log.Error("reschedule task", "err", uerr) // its lease lapses: the next claim runs it
		}
		return
	}
	if err != nil {
		log.Warn("task failed", "err", err)
	}
	// Handlers that end their work in a transaction usually complete their
	// task in it (ops.Manager does): then there is nothing left to write,
	// and a read says so without queueing a write behind everyone else's.
	if _, gerr := r.Store.GetTask(ctx, t.ID); errors.Is(gerr, store.ErrNotFound) {
		return
	}
	if uerr := r.Store.Update(ctx, func(tx store.Tx) error { return tx.CompleteTask(ctx, t.ID) }); uerr != nil && !errors.Is(uerr, store.ErrNotFound) {
		log.Error("complete task", "err", uerr)
	}
}

// removedUnderHandler reports whether the task t, whose lease renewal
// failed for a lost lease, is gone while its claim's fence is still this
// runner's: it was completed or replaced by someone else's write, not
// claimed again (a claim takes the fence), so nobody else runs it.
func (r *Runner) removedUnderHandler(ctx context.Context, t store.Task) bool {
	if _, err := r.Store.GetTask(ctx, t.ID); !errors.Is(err, store.ErrNotFound) {
		return false
	}
	// ctx carries t's lease: an Update checks the fence before fn.
	return r.Store.Update(ctx, func(store.Tx) error { return nil }) == nil
}
