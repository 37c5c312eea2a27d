package ops

import (
	"context"
	"errors"
	"strings"

	"github.com/safehold/safehold/store"
)

// A face whose repeated request must be answered with the operation
// already running for it (a DELETE of a resource being deleted answers
// that delete's operation, as ARM answers a DELETE of a resource in
// Deleting state, rather than queueing a second one that could run after
// the resource was made again) records that operation under a key of its
// own (the resource id), in the transaction that starts it
// (StartUnlessRunning); the operation forgets it when it ends (EndPending).
const pendingKind = "operation.pending"

// Pending is the record of the operation running for a key.
type Pending struct {
	OpID string `json:"opId"`
	// Identity is what the operation acts on (a disk's uniqueId, say: a
	// resource of that name made again has another); "" any.
	Identity string `json:"identity,omitempty"`
	// Location is where the face's polling URLs of the operation are.
	Location string `json:"location,omitempty"`
}

func pendingKey(key string) string { return strings.ToLower(key) }

// running answers, through r, the record of key whose operation is still
// running and acts on identity (nil when there is none).
func (m *Manager) running(ctx context.Context, r store.Reader, key, identity string) (*Pending, error) {
	p, err := store.GetJSON[Pending](ctx, r, pendingKind, pendingKey(key), "pending operation")
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil || !strings.EqualFold(p.Identity, identity) {
		return nil, err
	}
	op, err := m.GetIn(ctx, r, p.OpID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil || op.Done() {
		return nil, err
	}
	return p, nil
}

// StartUnlessRunning starts op with input in tx as the operation running
// for key, acting on p.Identity (recorded as p, with op's id), unless one
// recorded for key that acts on it still runs: then nothing is started, op
// takes that one's id, and the answer is its record, which the request
// answers instead (and there is nothing to Notify). start (nil: nothing) runs in tx only when op
// starts, before it (op has its id then): the face's own changes that come
// with the operation.
// fresh says the resource at key is one that no operation of key can act
// on yet (a backup instance not yet being deleted: a delete still running
// for its id removed an earlier one of that name), so op starts unasked.
func (m *Manager) StartUnlessRunning(ctx context.Context, tx store.Tx, key string, p Pending, fresh bool, op *Operation, input any, start func() error) (*Pending, error) {
	if !fresh {
		run, err := m.running(ctx, tx, key, p.Identity)
		if run != nil {
			op.ID = run.OpID
		}
		if run != nil || err != nil {
			return run, err
		}
	}
	if op.ID == "" {
		op.ID = NewID()
	}
	if start != nil {
		if err := start(); err != nil {
			return nil, err
		}
	}
	if err := m.Start(ctx, tx, op, input); err != nil {
		return nil, err
	}
	p.OpID = op.ID
	return nil, store.WriteJSON(ctx, tx.Put, store.Doc{Kind: pendingKind, Key: pendingKey(key)}, p, "pending operation")
}

// EndPending has o forget, when it ends (in the transaction that ends
// it, either way), that it runs for key (a record of another operation
// stays). Call it from o's Func.
func (o *Operation) EndPending(ctx context.Context, key string) {
	forget := func(tx store.Tx) error {
		p, err := store.GetJSON[Pending](ctx, tx, pendingKind, pendingKey(key), "pending operation")
		if errors.Is(err, store.ErrNotFound) || (err == nil && p.OpID != o.ID) {
			return nil
		}
		if err != nil {
			return err
		}
		return tx.Delete(ctx, pendingKind, pendingKey(key))
	}
	o.OnSuccess(forget)
	o.OnFailure(forget)
}
