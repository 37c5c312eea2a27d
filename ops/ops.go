// Package ops is the one shared mechanism for ARM long-running operations:
// an operation record in the store, created in the same transaction as the
// change that needs it together with a durable task that does the work.
// It knows no wire: a failed operation's error is recorded as the Describe
// function given to NewManager writes it, and the status resources and
// result responses of the polling URLs are written by arm/armops. Resource
// providers choose their own URL shapes and call armops from their status
// routes.
package ops

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/failure"
	"github.com/safehold/safehold/job"
	"github.com/safehold/safehold/store"
)

// Operation states.
const (
	InProgress = "InProgress"
	Succeeded  = "Succeeded"
	Failed     = "Failed"
	Canceled   = "Canceled"
)

const (
	docKind  = "operation"
	taskKind = "operation"
	// The tasks of light operation kinds (RegisterLight, RegisterDone): run
	// in the job runner's pool of short tasks.
	lightTaskKind = "operation.light"
)

// Operation is a long-running operation's record.
type Operation struct {
	ID              string          `json:"id"`
	Kind            string          `json:"kind"`
	ResourceID      string          `json:"resourceId,omitempty"`
	StatusPath      string          `json:"statusPath,omitempty"` // the id shown in the status resource
	Location        string          `json:"location,omitempty"`   // the region whose location-scoped polling routes answer it (another's: 404); "": any
	Status          string          `json:"status"`
	StartTime       time.Time       `json:"startTime"`
	EndTime         *time.Time      `json:"endTime,omitempty"`
	Ended           *time.Time      `json:"ended,omitempty"` // when it ended in real time (clock.RealNow), which Prune goes by
	PercentComplete float64         `json:"percentComplete,omitempty"`
	Error           json.RawMessage `json:"error,omitempty"`        // on failure: the error body, as Describe wrote it
	ErrorStatus     int             `json:"errorStatus,omitempty"`  // on failure: the status of the synchronous answer
	Properties      json.RawMessage `json:"properties,omitempty"`   // status properties on success (e.g. jobId)
	Result          json.RawMessage `json:"result,omitempty"`       // body of the Location result on success
	ResultStatus    int             `json:"resultStatus,omitempty"` // 200 (with Result) or 204
	Input           json.RawMessage `json:"input,omitempty"`        // what the worker needs
	Caller          arm.Caller      `json:"caller"`
	CorrelationID   string          `json:"correlationId,omitempty"` // of the request that started it
	// TransientRetries counts the runs of its Func that met the metadata
	// database out of reach and left it to its task to run again.
	TransientRetries int `json:"transientRetries,omitempty"`

	onSuccess []func(tx store.Tx) error // see OnSuccess
	onFailure []func(tx store.Tx) error // see OnFailure
}

// OnSuccess has fn run, when the Func that calls it succeeds, in the
// transaction that ends the operation Succeeded (one commit fewer than a
// transaction of its own, and atomic with the end). If fn fails, nothing of
// that transaction commits and the operation runs again later.
func (o *Operation) OnSuccess(fn func(tx store.Tx) error) { o.onSuccess = append(o.onSuccess, fn) }

// OnFailure has fn run, when the Func that calls it fails (not with a
// Retry), in the transaction that ends the operation Failed: an undo that
// commits with the failure or not at all (if fn fails, the operation runs
// again later).
func (o *Operation) OnFailure(fn func(tx store.Tx) error) { o.onFailure = append(o.onFailure, fn) }

// Done reports whether the operation reached a terminal state.
func (o *Operation) Done() bool { return o.Status != InProgress }

// DecodeInput unmarshals the operation's input.
func (o *Operation) DecodeInput(v any) error { return json.Unmarshal(o.Input, v) }

// Func does an operation's work. On success it may set op.Properties,
// op.Result and op.ResultStatus. A Retry (job.Retry) error runs it again
// later; any other error fails the operation, recorded as the Manager's
// Describe writes it (ARM's: a *failure.Error or a CloudError with its code,
// anything else InternalServerError). Funcs must be safe to run again after
// a crash (the task is re-run when its lease expires).
type Func func(ctx context.Context, op *Operation) error

// WithInput is fn as a Func that decodes the operation's input into a T
// first (an input that does not decode fails the operation).
func WithInput[T any](fn func(ctx context.Context, op *Operation, in T) error) Func {
	return func(ctx context.Context, op *Operation) error {
		var in T
		if err := op.DecodeInput(&in); err != nil {
			return err
		}
		return fn(ctx, op, in)
	}
}

// Describe turns the error an operation failed with into what its status
// resource and result show: the status of the synchronous answer and the
// error body. The ARM layer gives it (armops.Describe); ops knows no wire.
type Describe func(err error) (status int, body json.RawMessage)

// Retry wraps err so the operation's Func runs again after delay (a
// job.Retry, for faces that do not import job).
func Retry(err error, delay time.Duration) error { return job.Retry(err, delay) }

// Backoff wraps err so the operation's Func runs again after delay of real
// time, whatever the clock does (a job.Backoff): a wait for something
// outside the clock (a capture holding a source volume), which a clock
// left frozen would never end.
func Backoff(err error, delay time.Duration) error { return job.Backoff(err, delay) }

// Wait is Backoff for an operation whose work is to wait (a job.Wait): no
// failure, logged as information.
func Wait(err error, delay time.Duration) error { return job.Wait(err, delay) }

// RunOn wraps err so the operation's task runs again at once on the node
// of holder (a lease holder, "node" or "node/boot"): work that must run
// where its data lives. The task stays pinned there for PinTerm of real
// time; then any replica may run it (and finds that node gone).
func RunOn(err error, holder string) error {
	return job.RunOn(err, store.OwnerNode(holder), PinTerm)
}

// PinTerm is how long a task handed to a node waits for it alone.
const PinTerm = 45 * time.Second

// Manager creates, runs and reads operations.
type Manager struct {
	store    store.Store
	clock    clock.Clock
	runner   *job.Runner
	funcs    map[string]Func
	light    map[string]bool
	describe Describe
}

// NewManager registers the operation task handler with runner; describe
// records the errors of failed operations.
func NewManager(s store.Store, clk clock.Clock, runner *job.Runner, describe Describe) *Manager {
	m := &Manager{store: s, clock: clk, runner: runner, funcs: map[string]Func{}, light: map[string]bool{}, describe: describe}
	runner.Register(taskKind, m.runTask)
	runner.RegisterLight(lightTaskKind, m.runTask)
	return m
}

// Register sets the Func for an operation kind.
func (m *Manager) Register(kind string, fn Func) { m.funcs[kind] = fn }

// RegisterLight sets the Func for an operation kind whose work is short
// metadata work (a few store transactions, no disk or repository data):
// its tasks run in the job runner's pool of light tasks (job.RegisterLight),
// so they do not queue behind backups and restores.
func (m *Manager) RegisterLight(kind string, fn Func) {
	m.funcs[kind] = fn
	m.light[kind] = true
}

// NewID returns a fresh URL-safe operation id: a version 7 UUID, which
// starts with the time, so the records an operation writes go to the end of
// the store's key index (a random id put each in another page of it, which
// under a write per group delete was a measurable part of the writer's work).
// Its 74 random bits keep it unguessable.
func NewID() string {
	if id, err := uuid.NewV7(); err == nil {
		return id.String()
	}
	return uuid.NewString()
}

// Start records op (ID assigned if empty, status InProgress) and enqueues its
// work, inside tx. Call Notify after the transaction commits.
func (m *Manager) Start(ctx context.Context, tx store.Tx, op *Operation, input any) error {
	if op.ID == "" {
		op.ID = NewID()
	}
	if _, ok := m.funcs[op.Kind]; !ok {
		return fmt.Errorf("start operation: no func for kind %q", op.Kind)
	}
	op.Status = InProgress
	op.StartTime = m.clock.Now()
	if op.CorrelationID == "" {
		op.CorrelationID = arm.CorrelationID(ctx)
	}
	if input != nil {
		b, err := json.Marshal(input)
		if err != nil {
			return fmt.Errorf("start operation %s: %w", op.Kind, err)
		}
		op.Input = b
	}
	if err := m.put(ctx, tx, op); err != nil {
		return err
	}
	kind := taskKind
	if m.light[op.Kind] {
		kind = lightTaskKind
	}
	_, err := tx.Enqueue(ctx, store.Task{Kind: kind, Payload: []byte(op.ID)})
	return err
}

// Launch starts op with input in a transaction of its own, in which with
// (nil: nothing) runs first, and wakes the worker once it committed: the
// work an ARM request accepts with a 202. When with or the start fails,
// nothing of either is stored.
func (m *Manager) Launch(ctx context.Context, op *Operation, input any, with func(tx store.Tx) error) error {
	err := m.store.Update(ctx, func(tx store.Tx) error {
		if with != nil {
			if err := with(tx); err != nil {
				return err
			}
		}
		return m.Start(ctx, tx, op, input)
	})
	if err != nil {
		return err
	}
	m.Notify()
	return nil
}

// Completed records an operation that finished synchronously (for APIs that
// must still hand out polling URLs).
func (m *Manager) Completed(ctx context.Context, tx store.Tx, op *Operation) error {
	if op.ID == "" {
		op.ID = NewID()
	}
	now, real := m.clock.Now(), clock.RealNow(m.clock)
	op.StartTime, op.EndTime, op.Ended = now, &now, &real
	if op.Status == "" {
		op.Status = Succeeded
	}
	return m.put(ctx, tx, op)
}

// Notify wakes the worker after a Start committed.
func (m *Manager) Notify() { m.runner.Notify() }

// put stores op's record. Records are read by id only (and pruned in key
// order), so they carry no scope or type: those index entries (the resource
// id's and the kind's, each placed by its own value) would only cost the
// writer.
func (m *Manager) put(ctx context.Context, tx store.Tx, op *Operation) error {
	return store.WriteJSON(ctx, tx.Put, store.Doc{Kind: docKind, Key: op.ID}, op, "operation")
}

// Get reads an operation; ErrNotFound if it does not exist.
func (m *Manager) Get(ctx context.Context, id string) (*Operation, error) {
	return m.GetIn(ctx, m.store, id)
}

// GetIn reads an operation through r (a transaction, to Finish it there).
func (m *Manager) GetIn(ctx context.Context, r store.Reader, id string) (*Operation, error) {
	return store.GetJSON[Operation](ctx, r, docKind, id, "operation")
}

// ErrNotFound is returned by Get for an unknown operation.
var ErrNotFound = store.ErrNotFound

func (m *Manager) runTask(ctx context.Context, t store.Task) error {
	op, err := m.Get(ctx, string(t.Payload))
	if err != nil {
		return fmt.Errorf("run operation %s: %w", t.Payload, err)
	}
	if op.Done() {
		return nil
	}
	fn := m.funcs[op.Kind]
	if fn == nil {
		return job.Retry(fmt.Errorf("no func for operation kind %q", op.Kind), time.Minute)
	}
	ferr := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("operation %s panicked: %v", op.Kind, p)
			}
		}()
		return fn(arm.WithCorrelationID(ctx, op.CorrelationID), op)
	}()
	var re *job.RetryError
	if errors.As(ferr, &re) {
		return ferr
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(ferr, store.ErrUnavailable) || errors.Is(ferr, store.ErrOutcomeUnknown) {
		// The database was out of reach while the Func worked (a restart,
		// every connection taken): it runs again, as after a crash, rather
		// than the operation end Failed while what it started goes on (a
		// job it runs stayed InProgress for ever, its task completed with
		// the operation). Counted in the operation, so that a write that
		// times out every time still ends it, after maxTransientRetries.
		n, done := 0, false
		err := m.store.Update(ctx, func(tx store.Tx) error {
			cur, err := m.GetIn(ctx, tx, op.ID)
			if err != nil || cur.TransientRetries >= maxTransientRetries {
				return err
			}
			if done = cur.Done(); done {
				return nil // ended meanwhile, from outside its Func: the runner completes its task
			}
			cur.TransientRetries++
			n = cur.TransientRetries
			return m.put(ctx, tx, cur)
		})
		switch {
		case err != nil:
			return ferr // still out of reach: the runner runs the task again
		case done:
			return nil
		case n > 0:
			return job.Backoff(fmt.Errorf("operation %s: %w", op.Kind, ferr), transientDelay(n))
		}
	}
	var afterErr error
	err = m.store.Update(ctx, func(tx store.Tx) error {
		after := op.onSuccess
		if ferr != nil {
			after = op.onFailure
		}
		for _, fn := range after {
			if afterErr = fn(tx); afterErr != nil {
				return afterErr
			}
		}
		if err := m.Finish(ctx, tx, op, ferr); err != nil {
			return err
		}
		return tx.CompleteTask(ctx, t.ID)
	})
	if afterErr != nil && ctx.Err() == nil {
		return job.Backoff(fmt.Errorf("operation %s: %w", op.Kind, afterErr), time.Second)
	}
	return err
}

// maxTransientRetries bounds the runs of an operation's Func that end
// meeting the database out of reach (about five minutes of them, from 1 s
// doubling to a minute); the one after fails the operation.
const maxTransientRetries = 10

// transientDelay is how long after its n'th run that met the database out
// of reach an operation's Func runs again.
func transientDelay(n int) time.Duration {
	d := time.Second
	for i := 1; i < n && d < time.Minute; i++ {
		d *= 2
	}
	return min(d, time.Minute)
}

// Finish marks a running operation done, in tx (its task runner does when
// its Func returns; a face does from outside the Func, for example when a
// job the operation tracks completes): err nil means success, any other
// error fails it as Describe writes it.
func (m *Manager) Finish(ctx context.Context, tx store.Tx, op *Operation, err error) error {
	now, real := m.clock.Now(), clock.RealNow(m.clock)
	if now.Before(op.StartTime) {
		now = op.StartTime // the clock set back while it ran: it ends as it starts, never before
	}
	op.EndTime, op.Ended = &now, &real
	if err != nil {
		op.Status = Failed
		op.ErrorStatus, op.Error = m.describe(err)
	} else {
		op.Status, op.PercentComplete = Succeeded, 100
	}
	return m.put(ctx, tx, op)
}

// Lookup reads an operation for a status or result route: a NotFound
// failure (OperationNotFound) when unknown.
func (m *Manager) Lookup(ctx context.Context, id string) (*Operation, error) {
	op, err := m.Get(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, failure.NotFoundf("OperationNotFound", "The operation '%s' was not found.", id)
	}
	return op, err
}

// RegisterDone registers operation kinds whose work the request that starts
// them has already done: their run does nothing and ends them Succeeded.
func (m *Manager) RegisterDone(kinds ...string) {
	for _, kind := range kinds {
		m.RegisterLight(kind, func(context.Context, *Operation) error { return nil })
	}
}

// Keep is how long, in real time, a finished operation's record stays
// after it ended: its status and result URLs answer until then (clients
// poll them within minutes), and then it is pruned (Prune). Real time, not
// the server's clock: the record serves a client polling in real time, so
// a clock advanced a month must not make the status URL of an operation
// that ended a second ago answer 404 to its poller, nor one set back keep
// every record for the month (as a token's or a SAS's validity, 8ced85b).
const Keep = 7 * 24 * time.Hour

// pruneBatch is how many operation records Prune reads and deletes at once.
const pruneBatch = 500

// Prune deletes the records of the operations that ended before cutoff, in
// real time (Ended; EndTime for a record written before Ended was), a
// running operation kept whatever its age, a batch per commit, and
// returns how many it deleted. A finished record never changes again, so
// deleting it races with nothing; a status URL of a pruned operation
// answers 404 OperationNotFound, as an unknown one.
func (m *Manager) Prune(ctx context.Context, cutoff time.Time) (int, error) {
	n, after := 0, ""
	for {
		docs, err := m.store.List(ctx, docKind, store.ListQuery{After: after, Limit: pruneBatch})
		if err != nil || len(docs) == 0 {
			return n, err
		}
		after = docs[len(docs)-1].Key
		var old []string
		for _, d := range docs {
			var end struct {
				EndTime *time.Time `json:"endTime"`
				Ended   *time.Time `json:"ended"`
			}
			if json.Unmarshal(d.Value, &end) == nil && end.Ended == nil {
				end.Ended = end.EndTime
			}
			if end.Ended != nil && end.Ended.Before(cutoff) {
				old = append(old, d.Key)
			}
		}
		if len(old) > 0 {
			if err := m.store.Update(ctx, func(tx store.Tx) error { return store.DeleteKeys(ctx, tx, docKind, old...) }); err != nil {
				return n, err
			}
			n += len(old)
		}
		if len(docs) < pruneBatch {
			return n, nil
		}
	}
}
