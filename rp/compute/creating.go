package compute

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/failure"
	"github.com/safehold/safehold/ops"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// A disk or snapshot whose creation is a long-running operation is visible
// from the moment the PUT answers 202: its body, with provisioningState
// Creating, is recorded in the same transaction that starts the operation,
// and GET answers it while the operation runs. When the operation
// succeeds the real resource replaces it; when it fails the resource is
// gone again (GET 404; the operation's status carries the error), so the
// name can be reused at once.
const creatingKind = "compute.creating"

type creating struct {
	OpID string          `json:"opId"`
	Body json.RawMessage `json:"body"`
}

func creatingKey(id string) string { return strings.ToLower(id) }

// startCreate starts an operation creating resource id and records its
// transient body (provisioningState Creating) in the same transaction.
func (pr *Provider) startCreate(r *arm.Request, kind, id, location string, spec, body any) (*arm.Response, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	return pr.startWith(r, kind, id, location, spec, func(ctx context.Context, tx store.Tx, op *ops.Operation) error {
		v, _ := json.Marshal(creating{OpID: op.ID, Body: b})
		return tx.Put(ctx, store.Doc{Kind: creatingKind, Key: creatingKey(id), Scope: creatingKey(id), Value: v})
	})
}

// pendingCreate returns the transient body of a resource being created
// (nil when no creation of id is running).
func (pr *Provider) pendingCreate(ctx context.Context, id string) (json.RawMessage, error) {
	d, err := pr.p.Store.Get(ctx, creatingKind, creatingKey(id))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c, err := store.DecodeJSON[creating](d, "creating body")
	if err != nil {
		return nil, nil // unreadable: no creation to show
	}
	op, err := pr.p.Ops.Get(ctx, c.OpID)
	if errors.Is(err, ops.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if op.Done() {
		return nil, nil
	}
	return c.Body, nil
}

// retryBusy turns "the source volume is frozen by another capture" into a
// retry of the operation (the capture holding it ends soon).
func retryBusy(err error) error {
	if errors.Is(err, compute.ErrBusy) {
		return ops.Backoff(err, time.Second) // real time: the clock may stand frozen
	}
	var ee *compute.ErrElsewhere
	if errors.As(err, &ee) {
		if ee.Alive { // the disk's owner (or the leader, for new disks) must do it: hand it the task
			return ops.RunOn(err, ee.Holder)
		}
		return failure.Conflictf("DiskOwnerUnavailable", "%s", ee.Error())
	}
	return err
}

// applySettings stores the settings a create request sent (and a disk's
// extendedLocation) on the resource it created.
func (pr *Provider) applySettings(ctx context.Context, id string, settings compute.Settings, ext json.RawMessage) error {
	if len(settings) == 0 && len(ext) == 0 {
		return nil
	}
	_, err := pr.svc.UpdateSettings(ctx, id, settings, ext)
	return err
}

// answerCreated ends a create operation whose resource now exists: it
// forgets the transient body and answers the resource, read with read.
func answerCreated[R any](ctx context.Context, pr *Provider, op *ops.Operation, id string, read func(context.Context, string) (R, error)) error {
	res, err := read(ctx, id)
	if err != nil {
		return err
	}
	if err := pr.created(ctx, id); err != nil {
		return err
	}
	return setResult(op, http.StatusOK, res)
}

// created forgets the transient body once the resource exists.
func (pr *Provider) created(ctx context.Context, id string) error {
	return pr.p.Store.Update(ctx, func(tx store.Tx) error { return store.DeleteKeys(ctx, tx, creatingKind, creatingKey(id)) })
}

// getWithCreating is the GET handler of disks and snapshots: the resource
// that idOf names, read with read, else its transient body while it is
// being created, else read's error (the 404).
func getWithCreating[R any](pr *Provider, idOf func(*arm.Request) string, read func(context.Context, string) (R, error)) arm.Handler {
	return func(r *arm.Request) (*arm.Response, error) {
		ctx, id := r.HTTP.Context(), idOf(r)
		body, err := read(ctx, id)
		if err == nil {
			return arm.OK(body), nil
		}
		if !arm.IsNotFound(err) {
			return nil, err
		}
		b, perr := pr.pendingCreate(ctx, id)
		if perr != nil {
			return nil, perr
		}
		if b == nil {
			return nil, err
		}
		return arm.OK(b), nil
	}
}

// checkNotCreating refuses a change of a resource while it is being created.
func (pr *Provider) checkNotCreating(ctx context.Context, id, what string) error {
	b, err := pr.pendingCreate(ctx, id)
	if err != nil {
		return err
	}
	if b != nil {
		rid, _ := arm.ParseID(id)
		return arm.Errorf(http.StatusConflict, "OperationNotAllowed", "The %s '%s' is being created (provisioningState Creating); wait for its creation to finish and retry.", what, rid.Name())
	}
	return nil
}

// pendingUnder lists the transient bodies of the resources of type typ
// being created under scope (a subscription or resource group id) that
// are not in have (ids already listed).
func (pr *Provider) pendingUnder(ctx context.Context, scope, typ string, have map[string]bool) ([]json.RawMessage, error) {
	docs, err := store.Prefetched(ctx, pr.p.Store).List(ctx, creatingKind, pendingQuery(scope))
	if err != nil {
		return nil, err
	}
	var out []json.RawMessage
	for _, d := range docs {
		rid, err := arm.ParseID(d.Key)
		if err != nil || !rid.IsType(typ) || have[creatingKey(d.Key)] {
			continue
		}
		var c creating
		if json.Unmarshal(d.Value, &c) != nil {
			continue
		}
		op, err := pr.p.Ops.Get(ctx, c.OpID)
		if err != nil || op.Done() {
			continue
		}
		out = append(out, c.Body)
	}
	return out, nil
}

// pendingQuery is pendingUnder's list.
func pendingQuery(scope string) store.ListQuery {
	return store.ListQuery{ScopePrefix: strings.ToLower(scope) + "/"}
}

// listScope is the subscription or resource group a list request names
// (404 ResourceGroupNotFound for a missing group).
func (pr *Provider) listScope(r *arm.Request) (string, error) {
	scope := "/subscriptions/" + r.Param("subscriptionId")
	if rg := r.Param("resourceGroupName"); rg != "" {
		if err := checkRG(r.HTTP.Context(), pr, r); err != nil {
			return "", err
		}
		scope += "/resourceGroups/" + rg
	}
	return scope, nil
}

// listWithCreating is the list handler of a resource type typ whose
// resources list reads (by scope) and id names: the stored resources
// followed by those under the scope that are still being created.
func listWithCreating[T any](pr *Provider, typ string, list func(context.Context, string) ([]T, error), id func(T) string) arm.Handler {
	reads := func(scope string) []store.Read {
		return []store.Read{resource.ListRead(typ, scope), {Kind: creatingKind, List: true, Q: pendingQuery(scope)}}
	}
	resource.PrefetchList(typ, reads)
	return func(r *arm.Request) (*arm.Response, error) {
		scope, err := pr.listScope(r)
		if err != nil {
			return nil, err
		}
		// The stored resources (list: resource.List) and those being
		// created, read with the request's checks (PostgreSQL; else in
		// one round trip of their own).
		ctx := r.HTTP.Context()
		ctx = store.WithPrefetched(ctx, store.PrefetchWith(ctx, pr.p.Store, reads(scope)...))
		rs, err := list(ctx, scope)
		if err != nil {
			return nil, err
		}
		return pageWithCreating(ctx, pr, r, scope, typ, rs, id)
	}
}

// pageWithCreating answers a list: the stored resources followed by those
// of type typ under scope that are still being created.
func pageWithCreating[T any](ctx context.Context, pr *Provider, r *arm.Request, scope, typ string, rs []T, id func(T) string) (*arm.Response, error) {
	have := map[string]bool{}
	items := make([]any, 0, len(rs))
	for _, x := range rs {
		have[creatingKey(id(x))] = true
		items = append(items, x)
	}
	pending, err := pr.pendingUnder(ctx, scope, typ, have)
	if err != nil {
		return nil, err
	}
	for _, b := range pending {
		items = append(items, b)
	}
	return arm.PageOK(r, items, 1000)
}
