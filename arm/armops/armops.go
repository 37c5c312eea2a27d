// Package armops is the wire of ARM's asynchronous operations: how a
// failed operation's error is written (Describe, a CloudError), the status
// resource an Azure-AsyncOperation URL answers (StatusResponse) and the
// answer of a Location URL (ResultResponse). The operations themselves
// (records, tasks, runs) live in ops, which knows no wire.
package armops

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/ops"
)

// Describe is the ops.Describe of ARM: the CloudError err stands for
// (arm.As) with its status, or 500 InternalServerError naming err.
func Describe(err error) (int, json.RawMessage) {
	var ae *arm.Error
	if !arm.As(err, &ae) {
		ae = arm.Errorf(http.StatusInternalServerError, "InternalServerError", "The operation failed: %v", err)
	}
	b, _ := json.Marshal(ae)
	if ae.Status == 0 {
		return http.StatusBadRequest, b
	}
	return ae.Status, b
}

// cloudError reads back the error Describe recorded.
func cloudError(op *ops.Operation) *arm.Error {
	var e arm.Error
	if len(op.Error) > 0 {
		json.Unmarshal(op.Error, &e)
	}
	return &e
}

// StatusBody is the ARM status resource of op.
func StatusBody(op *ops.Operation, id string) map[string]any {
	b := map[string]any{
		"id":        id,
		"name":      op.ID,
		"status":    op.Status,
		"startTime": op.StartTime.Format(time.RFC3339Nano),
	}
	if op.EndTime != nil {
		b["endTime"] = op.EndTime.Format(time.RFC3339Nano)
	}
	if op.Done() {
		b["percentComplete"] = 100
	} else if op.PercentComplete > 0 {
		b["percentComplete"] = op.PercentComplete
	}
	if len(op.Error) > 0 && op.Status != ops.Succeeded {
		b["error"] = cloudError(op)
	}
	if op.Status == ops.Succeeded && len(op.Properties) > 0 {
		b["properties"] = op.Properties
	}
	return b
}

// Lookup reads the operation id a status or result route r names: an
// OperationNotFound failure unless it is an operation of what the route is
// under. A route below a resource (a vault's operationResults) answers only
// that resource's operations, and one below a subscription (a location's
// operationStatus) only operations in that subscription: operation ids are
// not capabilities, and the route's authorization covers its own scope only.
// The caller must be the one who started the operation or be allowed to
// read its resource.
func Lookup(m *ops.Manager, r *arm.Request, id string) (*ops.Operation, error) {
	op, err := m.Lookup(r.HTTP.Context(), id)
	if err != nil {
		return nil, err
	}
	if !routeCovers(r.Path(), op.ResourceID) || !locationCovers(r.Path(), op) {
		return nil, arm.Errorf(http.StatusNotFound, "OperationNotFound", "The operation '%s' was not found.", id)
	}
	// The status routes are open to any authenticated caller (the router's
	// OpenOperationRoutes): whoever started the operation polls it, as does
	// whoever may read its resource; anyone else is refused as ARM refuses
	// the resource itself (an operation's result may carry a secret, such
	// as beginGetAccess's SAS).
	if c := r.Caller(); op.Caller.ObjectID == "" || !strings.EqualFold(c.ObjectID, op.Caller.ObjectID) {
		if err := r.Authorize(arm.ReadAction(op.ResourceID), op.ResourceID); err != nil {
			return nil, err
		}
	}
	return op, nil
}

// routeCovers reports whether an operation on resourceID may be read
// through the status route path (…/{operationStatus|operationResults|
// operations}/{id}): the route's scope is what comes before those two
// segments, and the operation must be in its subscription, in its resource
// group when it names one, and below its top-level resource when it names
// one (not a location).
func routeCovers(path, resourceID string) bool {
	seg := strings.Split(strings.Trim(path, "/"), "/")
	if len(seg) < 2 {
		return false
	}
	rsub, rrg, rroot := scopeOf("/" + strings.Join(seg[:len(seg)-2], "/"))
	osub, org, oroot := scopeOf(resourceID)
	if rsub == "" || !strings.EqualFold(rsub, osub) {
		return false
	}
	if rrg != "" && !strings.EqualFold(rrg, org) {
		return false
	}
	return rroot == "" || strings.EqualFold(rroot, oroot)
}

// locationCovers reports whether the operation may be read through the
// status route path: a location-scoped route (…/providers/{ns}/locations/
// {location}/{operations|operationStatus|…}/{id}) answers only the
// operations of its region, as ARM's do (another region's route answers
// 404). An operation recorded without its region (before it was kept)
// is answered under any; so are operations read through routes not under
// a location. Compute's records of before kept the region in StatusPath.
func locationCovers(path string, op *ops.Operation) bool {
	want := op.Location
	if want == "" {
		want = locationOf(op.StatusPath)
	}
	got := locationOf(path)
	return want == "" || got == "" || normLocation(got) == normLocation(want)
}

// locationOf is the {location} of a path …/providers/{ns}/locations/
// {location}/…, or "".
func locationOf(path string) string {
	seg := strings.Split(strings.Trim(path, "/"), "/")
	for i := 0; i+3 < len(seg); i++ {
		if strings.EqualFold(seg[i], "providers") && strings.EqualFold(seg[i+2], "locations") {
			return seg[i+3]
		}
	}
	return ""
}

// normLocation is a region as ARM compares them: unescaped (a polling URL
// may carry 'West US' escaped once or twice: west%20us, west%2520us),
// without spaces, in lower case.
func normLocation(l string) string {
	for range 3 {
		u, err := url.PathUnescape(l)
		if err != nil || u == l {
			break
		}
		l = u
	}
	return strings.ToLower(strings.ReplaceAll(l, " ", ""))
}

// scopeOf splits an ARM path into its subscription, its resource group and
// its top-level resource (/subscriptions/s[/resourceGroups/g]/providers/
// ns/type/name); each "" when the path does not name one (a location is
// not a resource).
func scopeOf(path string) (sub, rg, root string) {
	seg := strings.Split(strings.Trim(path, "/"), "/")
	if len(seg) < 2 || !strings.EqualFold(seg[0], "subscriptions") {
		return "", "", ""
	}
	sub = seg[1]
	if len(seg) >= 4 && strings.EqualFold(seg[2], "resourceGroups") {
		rg = seg[3]
	}
	for i := 2; i+3 < len(seg); i++ {
		if strings.EqualFold(seg[i], "providers") {
			if !strings.EqualFold(seg[i+2], "locations") {
				root = "/" + strings.Join(seg[:i+4], "/")
			}
			break
		}
	}
	return sub, rg, root
}

// StatusResponse answers an Azure-AsyncOperation poll: always 200 with the status resource.
func StatusResponse(m *ops.Manager, r *arm.Request, id string) (*arm.Response, error) {
	op, err := Lookup(m, r, id)
	if err != nil {
		return nil, err
	}
	resp := arm.OK(StatusBody(op, r.Path()))
	if !op.Done() {
		resp.RetryAfter(r)
	}
	return resp, nil
}

// ResultResponse answers a Location poll: 202 (with Location and Retry-After)
// while running; then what the synchronous call would have answered: the
// result (200 with body, or 204), or the operation's error.
func ResultResponse(m *ops.Manager, r *arm.Request, id string) (*arm.Response, error) {
	op, err := Lookup(m, r, id)
	if err != nil {
		return nil, err
	}
	switch op.Status {
	case ops.InProgress:
		return arm.Accepted().SetHeader("Location", r.URL(r.Path())).RetryAfter(r), nil
	case ops.Succeeded:
		if op.ResultStatus == http.StatusNoContent || (op.ResultStatus == 0 && len(op.Result) == 0) {
			return arm.NoContent(), nil
		}
		st := op.ResultStatus
		if st == 0 {
			st = http.StatusOK
		}
		if len(op.Result) == 0 {
			return arm.Status(st, nil), nil
		}
		return arm.Status(st, json.RawMessage(op.Result)), nil
	default:
		e := cloudError(op)
		e.Status = op.ErrorStatus
		if e.Status == 0 {
			e.Status = http.StatusBadRequest
		}
		return nil, e
	}
}
