package compute

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/ops"
	"github.com/safehold/safehold/store"
)

// A DELETE of a disk, snapshot or VM is a long-running operation that
// acts only on the resource it was accepted for: its input records that
// resource's identity (a disk's or snapshot's uniqueId, a VM's vmId), and
// when it runs, a resource of that name with another identity (deleted
// meanwhile and made again) is left alone; the operation ends Succeeded,
// for what it was asked to delete is gone. While it runs its resource is
// being deleted (a document of kind deletingKind, keyed by the resource
// id, names it): a DELETE of the same resource answers that operation
// again (202 with the same polling URLs, as Azure answers a DELETE of a
// resource in Deleting state) rather than queueing another.
const deletingKind = "compute.deleting"

type deleting struct {
	OpID     string `json:"opId"`
	Identity string `json:"identity"`
	Location string `json:"location"` // of the operation's polling URLs
}

// startDelete accepts the DELETE of resource id (location, identity) with
// an operation of kind: the one already deleting it, else a new one.
func (pr *Provider) startDelete(r *arm.Request, kind, id, location, identity string) (*arm.Response, error) {
	in := opInput{ResourceID: id, Identity: identity}
	return pr.launch(r, kind, location, in, 0, nil, func(ctx context.Context, tx store.Tx, op *ops.Operation) error {
		cur, err := store.GetJSON[deleting](ctx, tx, deletingKind, creatingKey(id), "pending delete")
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		case strings.EqualFold(cur.Identity, identity):
			o, err := pr.p.Ops.GetIn(ctx, tx, cur.OpID)
			if err != nil && !errors.Is(err, ops.ErrNotFound) {
				return err
			}
			if err == nil && !o.Done() {
				return &running{id: cur.OpID, location: cur.Location}
			}
		}
		return store.WriteJSON(ctx, tx.Put, store.Doc{Kind: deletingKind, Key: creatingKey(id)},
			deleting{OpID: op.ID, Identity: identity, Location: location}, "pending delete")
	})
}

// runDelete is the operation that deletes the resource it names with del,
// if it still has the identity recorded when the delete was accepted ("":
// any); a resource already gone (or another of that name) is deleted.
// When it ends, its resource is no longer being deleted.
func runDelete(del func(ctx context.Context, id, identity string) error) ops.Func {
	return func(ctx context.Context, op *ops.Operation) error {
		var in opInput
		if err := op.DecodeInput(&in); err != nil {
			return err
		}
		done := func(tx store.Tx) error { return forgetDelete(ctx, tx, in.ResourceID, op.ID) }
		op.OnSuccess(done)
		op.OnFailure(done)
		if err := del(ctx, in.ResourceID, in.Identity); err != nil && !arm.IsNotFound(err) {
			return err
		}
		op.ResultStatus = http.StatusOK
		return nil
	}
}

// forgetDelete removes the record that operation opID is deleting
// resource id (a record of another operation stays).
func forgetDelete(ctx context.Context, tx store.Tx, id, opID string) error {
	cur, err := store.GetJSON[deleting](ctx, tx, deletingKind, creatingKey(id), "pending delete")
	if errors.Is(err, store.ErrNotFound) || (err == nil && cur.OpID != opID) {
		return nil
	}
	if err != nil {
		return err
	}
	return tx.Delete(ctx, deletingKind, creatingKey(id))
}
