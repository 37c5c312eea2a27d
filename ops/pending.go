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
// own (the resource id), in the transaction that starts it; the operation
// forgets it when it ends (EndPending).
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

// Running answers, through r, the record of key whose operation is still
// running and acts on identity (nil when there is none).
func (m *Manager) Running(ctx context.Context, r store.Reader, key, identity string) (*Pending, error) {
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

// SetPending records in tx that p's operation is the one running for key.
func SetPending(ctx context.Context, tx store.Tx, key string, p Pending) error {
	return store.WriteJSON(ctx, tx.Put, store.Doc{Kind: pendingKind, Key: pendingKey(key)}, p, "pending operation")
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
