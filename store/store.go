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
package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned when a document or task does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned by Create when the key already exists.
var ErrConflict = errors.New("already exists")

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
	Created    time.Time
}

// Reader reads documents.
type Reader interface {
	Get(ctx context.Context, kind, key string) (Doc, error)
	List(ctx context.Context, kind string, q ListQuery) ([]Doc, error)
	GetTask(ctx context.Context, id string) (Task, error)
	GetTaskByKey(ctx context.Context, key string) (Task, error)
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
}

// Store is the metadata store.
type Store interface {
	Reader
	// Update runs fn in one read-write transaction, committed if fn returns nil.
	Update(ctx context.Context, fn func(tx Tx) error) error
	// ClaimTasks leases up to limit tasks due at now to owner for lease.
	ClaimTasks(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]Task, error)
	// ExtendLease pushes a held lease to until; ErrNotFound if owner no longer holds it.
	ExtendLease(ctx context.Context, id, owner string, until time.Time) error
	// ReleaseLeases frees every lease whose owner starts with ownerPrefix (a restarted node's old leases).
	ReleaseLeases(ctx context.Context, ownerPrefix string) (int, error)
	// NextTaskTime is the earliest RunAt among unleased tasks (zero if none).
	NextTaskTime(ctx context.Context) (time.Time, error)
	Close() error
}
