// Package store is Safehold's metadata store: a small document store with
// transactions and a durable task queue, behind one contract that every
// driver (SQLite by default, PostgreSQL for scale-out) implements and that
// the conformance suite in storetest checks.
//
// Guarantees every implementation gives:
//   - Update runs fn in one serializable transaction: either every write in
//     it becomes visible and durable (it survives kill -9 of the process once
//     Update returns nil), or none does.
//   - Reads after a successful Update see its writes (read-after-write), from
//     any goroutine.
//   - Keys and scopes compare case-insensitively; the stored Doc keeps the
//     caller's casing in Value, never in Key.
//   - Missing documents and tasks are reported with ErrNotFound, duplicate
//     creates with ErrConflict, so callers can test with errors.Is.
//   - A claimed task is leased: no other claimer gets it until the lease
//     expires, so a crashed worker's task runs again and a live one's never
//     runs twice at once.
//   - Leases are fenced: every claim of a task numbers its lease with a new
//     epoch (Task.LeaseEpoch, growing per task). An Update whose ctx carries
//     a lease (WithLease) checks, inside its transaction, that the task's
//     latest claim is still that owner and epoch, and fails with
//     ErrLeaseLost (committing nothing) once another claim took over, even
//     if that claim has since completed the task. ExtendLease checks the same.
//     A worker whose lease lapsed can therefore neither commit results nor
//     finish its task after another worker picked it up. A lease that merely
//     expired, with nobody claiming the task since, still passes.
package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"
)

// ErrNotFound is returned when a document or task does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned by Create when the key already exists.
var ErrConflict = errors.New("already exists")

// ErrLeaseLost is returned by ExtendLease and by an Update made under a lease
// (WithLease) when the task was claimed again since (by anyone), or when
// ExtendLease finds the task gone. It wraps ErrNotFound so that callers written
// against the older contract (ExtendLease returned ErrNotFound) keep working.
var ErrLeaseLost = fmt.Errorf("task lease lost (the task was claimed again or no longer exists): %w", ErrNotFound)

// ErrUnavailable is returned (wrapped, with the cause) when the database
// could not run a request now: it cannot be reached, it dropped the
// connection, or a statement ran past the writer's statement timeout. A
// write that fails with it committed nothing; the request may be retried.
// Its Unavailable method lets the ARM layer answer 503 with Retry-After
// without importing the store.
var ErrUnavailable error = unavailableError{}

type unavailableError struct{}

func (unavailableError) Error() string     { return "the metadata database is unavailable" }
func (unavailableError) Unavailable() bool { return true }

// ErrOutcomeUnknown is returned (wrapped, with the cause) by an Update
// whose COMMIT was sent but not answered (it timed out, or its connection
// dropped) when the database could not be asked afterwards what became of
// the transaction (it stayed out of reach): the write may have committed,
// and may be visible once the database answers again, or not. Unlike
// ErrUnavailable it does not say that nothing was written. Its
// OutcomeUnknown method lets the ARM layer answer so (504, without
// Retry-After) without importing the store.
var ErrOutcomeUnknown error = outcomeUnknownError{}

type outcomeUnknownError struct{}

func (outcomeUnknownError) Error() string {
	return "the metadata database did not answer whether the write was committed"
}
func (outcomeUnknownError) OutcomeUnknown() bool { return true }

// ErrInsufficientStorage is returned (wrapped, with the cause) when a write
// failed because the database is out of space: SQLite's "database or disk
// is full" (SQLITE_FULL, which is what a write failing with ENOSPC becomes
// there), PostgreSQL's disk_full (53100). The write committed nothing. It
// matches syscall.ENOSPC (errors.Is), so that the callers that handle a
// file system out of space (a job ending UserErrorInsufficientStorage, an
// ARM write answering 507) handle the store's the same way.
var ErrInsufficientStorage error = fullError{}

type fullError struct{}

func (fullError) Error() string             { return "the metadata database is out of space" }
func (fullError) Is(target error) bool      { return target == syscall.ENOSPC }
func (fullError) InsufficientStorage() bool { return true }

// outOfSpace marks err as ErrInsufficientStorage when it is an ENOSPC (or
// already says so) and returns it unchanged otherwise.
func outOfSpace(err error) error {
	if err == nil || errors.Is(err, ErrInsufficientStorage) || !errors.Is(err, syscall.ENOSPC) {
		return err
	}
	return fmt.Errorf("%w: %w", ErrInsufficientStorage, err)
}

// Lease identifies one claim of a task: the fencing token of the work done
// under it.
type Lease struct {
	TaskID string
	Owner  string
	Epoch  int64
}

type leaseKey struct{}

// WithLease returns a context whose Updates are fenced by l: each checks, in
// its own transaction, that l is still the task's latest claim.
func WithLease(ctx context.Context, l Lease) context.Context {
	return context.WithValue(ctx, leaseKey{}, l)
}

// Fence is a check an Update makes in its own transaction before its fn
// (WithFence): work done under a lease other than a task's (an item's
// lease in the protection engine) commits nothing once that lease is
// another holder's. Its error is the Update's, and nothing of fn is
// written.
type Fence func(ctx context.Context, r Reader) error

type fencesKey struct{}

// WithFence returns a context whose Updates each run f, in their own
// transaction, before their fn (besides the fences ctx has already).
func WithFence(ctx context.Context, f Fence) context.Context {
	old, _ := ctx.Value(fencesKey{}).([]Fence)
	return context.WithValue(ctx, fencesKey{}, append(old[:len(old):len(old)], f))
}

// WithoutFences returns a context whose Updates run none of ctx's fences
// (a lease's own release, which must be written whoever holds it now).
func WithoutFences(ctx context.Context) context.Context {
	return context.WithValue(ctx, fencesKey{}, []Fence(nil))
}

// fenced is fn preceded by ctx's fences (fn itself when it has none). The
// drivers' Updates call it.
func fenced(ctx context.Context, fn func(tx Tx) error) func(tx Tx) error {
	fs, _ := ctx.Value(fencesKey{}).([]Fence)
	if len(fs) == 0 {
		return fn
	}
	return func(tx Tx) error {
		for _, f := range fs {
			if err := f(ctx, tx); err != nil {
				return err
			}
		}
		return fn(tx)
	}
}

type claimKindsKey struct{}

// WithClaimKinds returns a context whose ClaimTasks claim only tasks of the
// given kinds (the job runner's light tasks, while its slots for long tasks
// are all held).
func WithClaimKinds(ctx context.Context, kinds []string) context.Context {
	return context.WithValue(ctx, claimKindsKey{}, kinds)
}

// ClaimKinds returns the kinds ctx restricts ClaimTasks to (nil: any kind).
func ClaimKinds(ctx context.Context) []string {
	k, _ := ctx.Value(claimKindsKey{}).([]string)
	return k
}

type claimExceptKey struct{}

// WithClaimExcept returns a context whose ClaimTasks never claim the tasks
// with the given ids: the ones the claiming runner is running, whose lease
// may look expired after the clock jumped forward (a runner must not take
// its own running task over and run it twice).
func WithClaimExcept(ctx context.Context, ids []string) context.Context {
	return context.WithValue(ctx, claimExceptKey{}, ids)
}

// ClaimExcept returns the task ids ctx keeps ClaimTasks from claiming.
func ClaimExcept(ctx context.Context) []string {
	ids, _ := ctx.Value(claimExceptKey{}).([]string)
	return ids
}

type reclaimOwnKey struct{}

// WithReclaimOwn returns a context whose ClaimTasks also claim the due
// tasks leased to their very owner that ClaimExcept does not list: the
// claiming runner passes every task it runs there, so such a lease is one
// it holds without running its task: a claim whose COMMIT answer was lost
// with its connection (the database committed it; the claim, tried again,
// found the task leased), or a release its run could not write. Left
// alone, that lease ran out only at its end on the clock, which a clock
// advance holds still: the advance waited for it for ever.
func WithReclaimOwn(ctx context.Context) context.Context {
	return context.WithValue(ctx, reclaimOwnKey{}, true)
}

// ReclaimOwn reports whether ctx's ClaimTasks claim the owner's own
// leases again (WithReclaimOwn).
func ReclaimOwn(ctx context.Context) bool {
	b, _ := ctx.Value(reclaimOwnKey{}).(bool)
	return b
}

// LeaseFrom returns the lease ctx carries, if any.
func LeaseFrom(ctx context.Context) (Lease, bool) {
	l, ok := ctx.Value(leaseKey{}).(Lease)
	return l, ok && l.TaskID != ""
}

// Doc is one stored document.
type Doc struct {
	Kind    string // the collection, e.g. "resource", "operation", "principal"
	Key     string // unique within Kind, case-insensitive
	Scope   string // optional grouping used by List's ScopePrefix, case-insensitive
	Type    string // optional sub-type used by List's Type filter, case-insensitive
	Value   []byte // the document, usually JSON
	Version int64  // set by the store: 1 on create, +1 on every Put
	Created time.Time
	Updated time.Time
}

// ListQuery selects documents of one kind.
type ListQuery struct {
	ScopePrefix string // only docs whose Scope starts with this (case-insensitive)
	Type        string // only docs of this Type (case-insensitive), when set
	After       string // only keys greater than this (for paging)
	Limit       int    // at most this many, when > 0
}

// Task is a unit of durable background work.
type Task struct {
	ID         string
	Kind       string // which handler runs it
	Key        string // optional unique key: enqueueing an existing key replaces that task
	Payload    []byte
	RunAt      time.Time
	Attempts   int
	LastError  string
	LeaseOwner string
	LeaseUntil time.Time
	LeaseEpoch int64 // set on tasks returned by ClaimTasks: the claim's fencing epoch
	Created    time.Time
}

// HeldNode is the node no runner is (a node's name never holds "/"): a
// task pinned to it (PinTask) is claimed by nobody until its pin ends, in
// real time, and then by anyone. A wait for something outside the clock
// (a lapsed lease's holder, the database) pins its task so, as a run time
// on the clock never comes while the clock stands frozen.
const HeldNode = "/held"

// OwnerNode is the node part of a claim owner "node/boot".
func OwnerNode(owner string) string {
	node, _, _ := strings.Cut(owner, "/")
	return node
}

// Lease is the claim a task returned by ClaimTasks carries.
func (t Task) Lease() Lease { return Lease{TaskID: t.ID, Owner: t.LeaseOwner, Epoch: t.LeaseEpoch} }

// Reader reads documents.
type Reader interface {
	Get(ctx context.Context, kind, key string) (Doc, error)
	List(ctx context.Context, kind string, q ListQuery) ([]Doc, error)
	GetTask(ctx context.Context, id string) (Task, error)
	GetTaskByKey(ctx context.Context, key string) (Task, error)
}

// Viewer is a Reader whose reads can share a document's value with the
// store (its read cache) instead of copying it, for callers that only read
// the value.
type Viewer interface {
	// View is Get for a caller that never modifies the returned Value
	// (which may be the store's own): a document as Get returns it, or
	// ErrNotFound.
	View(ctx context.Context, kind, key string) (Doc, error)
}

// View reads a document whose Value the caller only reads: through r's
// View when r is a Viewer, else r.Get.
func View(ctx context.Context, r Reader, kind, key string) (Doc, error) {
	if v, ok := r.(Viewer); ok {
		return v.View(ctx, kind, key)
	}
	return r.Get(ctx, kind, key)
}

// ListViewer is a Reader that can hand a list's documents to a function
// without copying them.
type ListViewer interface {
	// ListView calls fn, in key order, with each document List would
	// return for q, until fn returns false. d is shared with the store:
	// fn must not modify it or its Value. When stable, the store never
	// modifies it either (a write replaces a document), so fn may keep
	// it, and the document is handed as the same *Doc until it changes.
	ListView(ctx context.Context, kind string, q ListQuery, fn func(d *Doc, stable bool) bool) error
}

// ListView visits a list's documents through r's ListView when r is a
// ListViewer, else those of r.List (none stable).
func ListView(ctx context.Context, r Reader, kind string, q ListQuery, fn func(d *Doc, stable bool) bool) error {
	if v, ok := r.(ListViewer); ok {
		return v.ListView(ctx, kind, q, fn)
	}
	docs, err := r.List(ctx, kind, q)
	for i := range docs {
		if !fn(&docs[i], false) {
			break
		}
	}
	return err
}

// AnyUnderReader is a Reader that tells whether any document of some kinds
// lies under a scope prefix in one query that reads no document.
type AnyUnderReader interface {
	AnyUnder(ctx context.Context, prefix string, kinds []string) (bool, error)
}

// AnyUnder reports whether r holds a document of any of kinds whose Scope
// starts with prefix (case-insensitive, as ListQuery.ScopePrefix; "" is
// any): through r's AnyUnder when r is an AnyUnderReader, else a
// one-document List of each kind.
func AnyUnder(ctx context.Context, r Reader, prefix string, kinds ...string) (bool, error) {
	if a, ok := r.(AnyUnderReader); ok {
		return a.AnyUnder(ctx, prefix, kinds)
	}
	for _, k := range kinds {
		docs, err := r.List(ctx, k, ListQuery{ScopePrefix: prefix, Limit: 1})
		if err != nil || len(docs) > 0 {
			return len(docs) > 0, err
		}
	}
	return false, nil
}

// Exists reports whether a document exists (View, without the value).
func Exists(ctx context.Context, r Reader, kind, key string) (bool, error) {
	_, err := View(ctx, r, kind, key)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// DeleteKeys deletes the documents of kind with these keys in tx; a key
// with no document is no error (a delete that may run twice, or after
// another one).
func DeleteKeys(ctx context.Context, tx Tx, kind string, keys ...string) error {
	for _, k := range keys {
		if err := tx.Delete(ctx, kind, k); err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
	}
	return nil
}

// CompleteTaskByKey removes the task of key in tx, if there is one.
func CompleteTaskByKey(ctx context.Context, tx Tx, key string) error {
	t, err := tx.GetTaskByKey(ctx, key)
	if err == nil {
		err = tx.CompleteTask(ctx, t.ID)
	}
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// Tx is a read-write transaction.
type Tx interface {
	Reader
	// Create inserts a new document; ErrConflict if the key exists.
	Create(ctx context.Context, d Doc) error
	// Put inserts or replaces a document.
	Put(ctx context.Context, d Doc) error
	// Delete removes a document; ErrNotFound if absent.
	Delete(ctx context.Context, kind, key string) error
	// DeleteScope removes every document of kind whose Scope starts with prefix and returns how many.
	DeleteScope(ctx context.Context, kind, prefix string) (int, error)

	// Enqueue adds a task (ID assigned if empty). With a Key, an existing task of that key is replaced.
	Enqueue(ctx context.Context, t Task) (Task, error)
	// CompleteTask removes a finished task.
	CompleteTask(ctx context.Context, id string) error
	// RescheduleTask releases a task's lease, records err and sets its next run.
	RescheduleTask(ctx context.Context, id string, runAt time.Time, lastError string) error
	// PinTask is RescheduleTask handing the task to one node: until until
	// (real time: pins outlast a frozen clock) only runners of node (claim
	// owners "node/…") claim it; after that any runner may, so a task
	// pinned to a node that died is not stranded. Work that must run where
	// some data lives (a disk's capture on its owner) pins itself there.
	PinTask(ctx context.Context, id string, runAt time.Time, lastError, node string, until time.Time) error
}

// Store is the metadata store.
type Store interface {
	Reader
	// Update runs fn in one read-write transaction, committed if fn returns
	// nil. When ctx carries a lease (WithLease) the transaction first checks
	// it and fails with ErrLeaseLost if another claim took over.
	Update(ctx context.Context, fn func(tx Tx) error) error
	// ClaimTasks leases up to limit tasks due at now to owner for lease,
	// each under a new epoch. Concurrent claimers (other processes too)
	// never get the same task. owner is "node/boot" (OwnerNode): tasks
	// pinned to another node (PinTask) are skipped until their pin ends.
	// A ctx from WithClaimKinds claims only tasks of those kinds.
	ClaimTasks(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]Task, error)
	// ExtendLease pushes a held lease to until; ErrLeaseLost (which wraps
	// ErrNotFound) if l is no longer the task's latest claim or the task is gone.
	ExtendLease(ctx context.Context, l Lease, until time.Time) error
	// ReleaseLeases frees every lease whose owner starts with ownerPrefix (a restarted node's old leases).
	ReleaseLeases(ctx context.Context, ownerPrefix string) (int, error)
	// NextTaskTime is the earliest RunAt among unleased tasks (zero if none).
	NextTaskTime(ctx context.Context) (time.Time, error)
	Close() error
}

// LeaseCounter is implemented by stores that can count the tasks leased
// at now by the nodes given (their runners' owners are "node/boot"; nil
// counts every node's): the clock's advance waits for other live replicas'
// work with it (not for the lease a node that died, or a runner whose last
// write failed, left behind: on a frozen clock it would never expire).
type LeaseCounter interface {
	LeasedTasks(ctx context.Context, now time.Time, nodes []string) (int, error)
}

// LeaseLister is implemented by stores that list the leased tasks: the
// leader frees those of a replica that stopped running once it has been
// gone a lease of real time (job.Runner.ReleaseAbsent), as a lease, an
// instant of the server clock, never lapses while that clock stands still.
type LeaseLister interface {
	// Leases lists every task a claim holds, whatever its lease's end:
	// ID, Kind, LeaseOwner and LeaseUntil (no payload).
	Leases(ctx context.Context) ([]Task, error)
}

// DueReader is implemented by stores that tell why due work is not
// claimed: a clock advance waits for a task held in a real-time backoff
// or handed to another node (PinTask) until its pin ends, rather than
// claim it again and again meanwhile.
type DueReader interface {
	// DueFor reports whether a task due at now (its run time reached,
	// unleased or its lease ended at now, as ClaimTasks takes it) is
	// claimable by a runner of node at wall (real time), and otherwise
	// the earliest end (real time) of the pins that keep the due tasks
	// from it (zero when no task is due).
	DueFor(ctx context.Context, node string, now, wall time.Time) (claimable bool, pinnedUntil time.Time, err error)
}

// TaskPuller is implemented by stores that can keep due work due across
// a clock set back: PullTasks makes every task due at or before from (the
// clock's time before the move) and after to (its time after it) due at
// to, and returns how many it moved. A task's run time is an instant of
// the clock, so one accepted before the move (a backup queued, a running
// task whose lease a restart releases) would otherwise wait until the
// clock caught up with it again. Leases are instants of the clock too:
// every lease ending after to moves back by the jump (from - to), so a
// live one keeps what was left of it and one that had lapsed stays lapsed
// (a holder that died before it renewed its leases at the new time would
// otherwise keep its tasks until the clock came back).
type TaskPuller interface {
	PullTasks(ctx context.Context, from, to time.Time) (int, error)
}

// Waker is implemented by stores that learn about tasks enqueued by other
// processes (PostgreSQL's LISTEN/NOTIFY): Wakeups delivers a value soon after
// any process commits an Enqueue. Runners still poll as the fallback.
type Waker interface {
	Wakeups() <-chan struct{}
}
