package compute

import (
	"context"
	"net/http"

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
// being deleted (ops.Manager.StartUnlessRunning records it for the
// resource id): a DELETE of the same resource answers that operation again
// (202 with the same polling URLs, as Azure answers a DELETE of a resource
// in Deleting state) rather than queueing another.

// startDelete accepts the DELETE of resource id (location, identity) with
// an operation of kind: the one already deleting it, else a new one.
func (pr *Provider) startDelete(r *arm.Request, kind, id, location, identity string) (*arm.Response, error) {
	in := opInput{ResourceID: id, Identity: identity}
	return pr.launchUnless(r, kind, location, in, 0, nil, func(ctx context.Context, tx store.Tx, op *ops.Operation) (*ops.Pending, error) {
		return pr.p.Ops.StartUnlessRunning(ctx, tx, id, ops.Pending{Identity: identity, Location: location}, false, op, in, nil)
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
		op.EndPending(ctx, in.ResourceID)
		if err := del(ctx, in.ResourceID, in.Identity); err != nil && !arm.IsNotFound(err) {
			return err
		}
		op.ResultStatus = http.StatusOK
		return nil
	}
}
