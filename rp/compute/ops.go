package compute

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/arm/armops"
	"github.com/safehold/safehold/ops"
	"github.com/safehold/safehold/store"
)

const (
	rgPrefix  = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Compute"
	subPrefix = "/subscriptions/{subscriptionId}/providers/Microsoft.Compute"
)

// opInput is what every compute operation carries.
type opInput struct {
	ResourceID string          `json:"resourceId"`
	Spec       json.RawMessage `json:"spec,omitempty"`
	// Identity is, for a delete, the identity of the resource it was
	// accepted for (a disk's or snapshot's uniqueId, a VM's vmId): the
	// delete leaves a resource of that name with another alone. Deletes
	// accepted by releases before it have none and delete what they find.
	Identity string `json:"identity,omitempty"`
}

// opSpec decodes an operation's input and its spec as a T.
func opSpec[T any](op *ops.Operation) (opInput, T, error) {
	var in opInput
	var spec T
	if err := op.DecodeInput(&in); err != nil {
		return in, spec, err
	}
	err := json.Unmarshal(in.Spec, &spec)
	return in, spec, err
}

func (pr *Provider) registerOps(rt *arm.Router) {
	rt.Handle("GET", subPrefix+"/locations/{location}/operations/{operationId}", func(r *arm.Request) (*arm.Response, error) {
		return armops.StatusResponse(pr.p.Ops, r, r.Param("operationId"))
	}, arm.Action("Microsoft.Compute/locations/operations/read"))
	rt.Handle("GET", subPrefix+"/locations/{location}/DiskOperations/{operationId}", func(r *arm.Request) (*arm.Response, error) {
		return armops.StatusResponse(pr.p.Ops, r, r.Param("operationId"))
	}, arm.Action("Microsoft.Compute/locations/DiskOperations/read"))
	rt.Handle("GET", subPrefix+"/locations/{location}/operationResults/{operationId}", func(r *arm.Request) (*arm.Response, error) {
		return armops.ResultResponse(pr.p.Ops, r, r.Param("operationId"))
	}, arm.Action("Microsoft.Compute/locations/operations/read"))
}

func opPaths(r *arm.Request, location, opID string) (status, result string) {
	base := "/subscriptions/" + r.Param("subscriptionId") + "/providers/Microsoft.Compute/locations/" + url.PathEscape(strings.ToLower(location))
	return base + "/operations/" + opID, base + "/operationResults/" + opID
}

// start records an operation and answers 202 with both polling headers
// (or status with body, when body is set).
func (pr *Provider) start(r *arm.Request, kind, resourceID, location string, spec any, status int, body any) (*arm.Response, error) {
	return pr.startWithStatus(r, kind, resourceID, location, spec, status, body, nil)
}

// startWith is start (202, no body) that also runs also(tx, op) in the
// transaction starting the operation.
func (pr *Provider) startWith(r *arm.Request, kind, resourceID, location string, spec any, also func(context.Context, store.Tx, *ops.Operation) error) (*arm.Response, error) {
	return pr.startWithStatus(r, kind, resourceID, location, spec, 0, nil, also)
}

func (pr *Provider) startWithStatus(r *arm.Request, kind, resourceID, location string, spec any, status int, body any,
	also func(context.Context, store.Tx, *ops.Operation) error) (*arm.Response, error) {
	in := opInput{ResourceID: resourceID}
	if spec != nil {
		b, err := json.Marshal(spec)
		if err != nil {
			return nil, err
		}
		in.Spec = b
	}
	return pr.launch(r, kind, location, in, status, body, also)
}

// launch is startWithStatus of the operation input in.
func (pr *Provider) launch(r *arm.Request, kind, location string, in opInput, status int, body any,
	also func(context.Context, store.Tx, *ops.Operation) error) (*arm.Response, error) {
	return pr.launchUnless(r, kind, location, in, status, body, func(ctx context.Context, tx store.Tx, op *ops.Operation) (*ops.Pending, error) {
		if err := pr.p.Ops.Start(ctx, tx, op, in); err != nil {
			return nil, err
		}
		if also != nil {
			return nil, also(ctx, tx, op)
		}
		return nil, nil
	})
}

// launchUnless is launch whose operation start starts in its transaction,
// unless it answers the record of one already running (its location's
// polling URLs are answered then, and nothing of op is stored).
func (pr *Provider) launchUnless(r *arm.Request, kind, location string, in opInput, status int, body any,
	start func(context.Context, store.Tx, *ops.Operation) (*ops.Pending, error)) (*arm.Response, error) {
	op := &ops.Operation{ID: ops.NewID(), Kind: kind, ResourceID: in.ResourceID, Caller: r.Caller(), Location: strings.ToLower(location)}
	st, res := opPaths(r, location, op.ID)
	op.StatusPath = st
	ctx := r.HTTP.Context()
	var run *ops.Pending
	err := pr.p.Store.Update(ctx, func(tx store.Tx) (err error) {
		run, err = start(ctx, tx, op)
		return err
	})
	if err != nil {
		return nil, err
	}
	if run != nil {
		st, res := opPaths(r, run.Location, run.OpID)
		return arm.Accepted().Async(r, st, res), nil
	}
	pr.p.Ops.Notify()
	if status == 0 {
		status = http.StatusAccepted
	}
	return arm.Status(status, body).Async(r, st, res), nil
}

// completed records an operation that already finished and answers 202
// with polling headers whose result is result (nil: 200 without body).
func (pr *Provider) completed(r *arm.Request, kind, resourceID, location string, result any) (*arm.Response, error) {
	op := &ops.Operation{ID: ops.NewID(), Kind: kind, ResourceID: resourceID, Caller: r.Caller(), ResultStatus: http.StatusOK, Location: strings.ToLower(location)}
	if result != nil {
		b, err := json.Marshal(result)
		if err != nil {
			return nil, err
		}
		// The status carries the result too, as Compute's does
		// (properties.output): clients that stop at the status read it there.
		op.Result, op.Properties = b, json.RawMessage(`{"output":`+string(b)+`}`)
	}
	st, res := opPaths(r, location, op.ID)
	op.StatusPath = st
	ctx := r.HTTP.Context()
	if err := pr.p.Store.Update(ctx, func(tx store.Tx) error { return pr.p.Ops.Completed(ctx, tx, op) }); err != nil {
		return nil, err
	}
	return arm.Accepted().Async(r, st, res), nil
}

func setResult(op *ops.Operation, status int, body any) error {
	op.ResultStatus = status
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		op.Result = b
	}
	return nil
}
