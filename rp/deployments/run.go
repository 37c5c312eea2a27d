package deployments

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/ops"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// parallel bounds the resources of one deployment deployed at once.
const parallel = 8

// resourceDeadline bounds, in real time, the wait for one resource's
// asynchronous operation: a deployment always ends.
const resourceDeadline = 2 * time.Hour

// holdSlot bounds, in real time, how long one run of a deployment follows
// its resources' asynchronous operations: then, when nothing else can
// start, the run parks (ends its task's run, which comes again a little
// later and takes up the operations where their records leave them, by
// their polling URLs), so that slow deployments do not keep the light
// task slots every other deployment and resource group delete needs.
const holdSlot = 2 * time.Second

// parked is deployOne's answer for a resource still deploying when its
// run's hold ended: its operation's record keeps how to follow it.
var parked = &arm.Error{Code: "DeploymentParked"}

// run deploys a deployment's resources (the operation's Func). Run again
// after a crash or on another replica, it takes up where the recorded
// operations leave it: a resource recorded Succeeded is not deployed
// again, any other is PUT again (Incremental PUTs are idempotent).
func (pr *Provider) run(ctx context.Context, op *ops.Operation) (rerr error) {
	var idStr string
	if err := op.DecodeInput(&idStr); err != nil {
		return err
	}
	id, err := arm.ParseID(idStr)
	if err != nil {
		return err
	}
	// Any other end of the run (an error of the store, a panic) ends the
	// deployment Failed with the operation: a deployment never stays
	// Running after its operation ended. A parked run ends nothing.
	ended, parks := false, false
	defer func() {
		if p := recover(); p != nil {
			pr.p.Logger.Error("deployment run panicked", "deployment", idStr, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			rerr = arm.Errorf(http.StatusInternalServerError, "InternalServerError", "The deployment stopped on an internal error: %v", p)
		}
		if rerr != nil && !ended && !parks && ctx.Err() == nil {
			op.OnFailure(pr.failed(ctx, id, op.ID, asCloud(rerr)))
		}
	}()
	sub, group, name := id.SubscriptionID, id.ResourceGroup, id.Name()
	s, err := pr.load(ctx, pr.p.Store, sub, group, name)
	if arm.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if s.Run.Operation != op.ID || !active(s.Properties.ProvisioningState) {
		return nil // a later PUT took the name over, or it ended
	}
	start := s.Properties.Timestamp
	end := func(state string, outputs map[string]any, outRes []resourceRef, derr *arm.Error) func(tx store.Tx) error {
		ended = true
		return func(tx store.Tx) error {
			cur, err := pr.load(ctx, tx, sub, group, name)
			if arm.IsNotFound(err) {
				return nil
			}
			if err != nil || cur.Run.Operation != op.ID {
				return err
			}
			cur.Properties.ProvisioningState = state
			pr.endOps(cur, state)
			cur.Properties.Duration = isoDuration(pr.p.Now().Sub(start))
			cur.Properties.Outputs = outputs
			cur.Properties.OutputResources = outRes
			if derr != nil {
				derr = arm.ListedDetails(derr) // az iterates every error's details
			}
			cur.Properties.Error = derr
			return resource.Put(ctx, tx, id, cur)
		}
	}
	g, err := pr.groupOf(ctx, sub, group)
	if err != nil {
		if arm.IsNotFound(err) {
			e := asCloud(err)
			op.OnFailure(end("Failed", nil, nil, e))
			return e
		}
		return err
	}
	t, err := compile(s.Run.Template, s.Run.Given, sub, g.Name, g.Location, s.Run.Tenant, name, start)
	if err != nil {
		e := asCloud(templateInvalid(err))
		op.OnFailure(end("Failed", nil, nil, e))
		return e
	}
	t.keepFalse = keepsFalseConditions(s.Run.APIVersion) // kept where it was not recorded
	if s.Run.Cancel {
		e := arm.ListedDetails(arm.Errorf(http.StatusConflict, "DeploymentCanceled", "The deployment '%s' was cancelled.", name))
		op.OnFailure(end("Canceled", nil, nil, e))
		return e
	}
	if err := pr.setState(ctx, id, op.ID, "Running"); err != nil {
		return err
	}
	caller := s.Run.Caller
	corr := s.Properties.CorrelationID
	x := &execution{pr: pr, t: t, id: id, opID: op.ID, caller: caller, corr: corr}
	done := map[string]bool{}
	x.following = map[string]deployOp{}
	x.inFlight = map[string]bool{}
	var failedBefore []arm.Error // by an earlier run of this operation
	for _, o := range s.Run.Ops {
		switch {
		case o.ProvisioningState == "Succeeded":
			done[strings.ToLower(o.TargetID)] = true
		case o.ProvisioningState == "Failed":
			done[strings.ToLower(o.TargetID)] = true
			failedBefore = append(failedBefore, failureOf(o))
		case o.ProvisioningState == "Running" && o.PollKind != "":
			x.following[strings.ToLower(o.TargetID)] = o // parked: follow its operation
			x.inFlight[strings.ToLower(o.TargetID)] = true
		case o.ProvisioningState == "Running":
			x.inFlight[strings.ToLower(o.TargetID)] = true
		}
	}
	failures, canceled, since := x.deploy(ctx, t.resources, done, len(failedBefore) > 0)
	failures = append(failedBefore, failures...)
	if since.IsZero() && !canceled && ctx.Err() == nil && s.Properties.Mode == "Complete" && (len(failures) == 0 || len(x.inFlight) > 0) {
		// Complete mode: then the group's resources the template does not
		// name are deleted (after a failure, only the deletions earlier
		// runs left going are followed).
		dels, err := x.deletions(ctx, t)
		if err != nil {
			e := asCloud(err)
			op.OnFailure(end("Failed", nil, nil, e))
			return e
		}
		var more []arm.Error
		more, canceled, since = x.deploy(ctx, dels, done, len(failures) > 0)
		failures = append(failures, more...)
	}
	if ctx.Err() != nil {
		return ctx.Err() // stopped (shutdown, lost lease): run again
	}
	if !since.IsZero() && !canceled {
		// Resources still deploying and nothing else to start (or, after
		// a failure, nothing more to start at all: as ARM, the deployment
		// ends once what was deploying has): the task slot goes to other
		// work until the run comes again, sooner for a young wait.
		parks = true
		return ops.Wait(fmt.Errorf("deployment %s waits for its resources' operations", name), min(max(time.Since(since)/10, time.Second), 15*time.Second))
	}
	var outRes []resourceRef
	for _, r := range t.resources {
		if r.condition {
			outRes = append(outRes, resourceRef{ID: r.id})
		}
	}
	if canceled {
		e := arm.ListedDetails(arm.Errorf(http.StatusConflict, "DeploymentCanceled", "The deployment '%s' was cancelled.", name))
		op.OnFailure(end("Canceled", nil, outRes, e))
		return e
	}
	if len(failures) > 0 {
		e := arm.BadRequest("DeploymentFailed", "At least one resource deployment operation failed. Please list deployment operations for details. Please see https://aka.ms/arm-deployment-operations for usage details.")
		e.Details = failures
		op.OnFailure(end("Failed", nil, outRes, e))
		return e
	}
	c := x.evalCtx(ctx)
	outputs, err := t.evalOutputs(c)
	if err != nil {
		e := asCloud(templateInvalid(err))
		e2 := arm.BadRequest("DeploymentOutputEvaluationFailed", "Unable to evaluate template outputs: '%s'. Please see error details and deployment operations.", strings.Join(keysOf(t.outputs), ","))
		e2.Details = []arm.Error{*e}
		op.OnFailure(end("Failed", nil, outRes, e2))
		return e2
	}
	op.OnSuccess(end("Succeeded", outputs, outRes, nil))
	op.ResultStatus = http.StatusOK
	return nil
}

// failed ends deployment id, run by operation opID, Failed with derr.
func (pr *Provider) failed(ctx context.Context, id arm.ResourceID, opID string, derr *arm.Error) func(tx store.Tx) error {
	return func(tx store.Tx) error {
		var cur stored
		if err := resource.Get(ctx, tx, id, &cur); err != nil || cur.Run.Operation != opID || !active(cur.Properties.ProvisioningState) {
			if arm.IsNotFound(err) {
				return nil
			}
			return err
		}
		cur.Properties.ProvisioningState = "Failed"
		pr.endOps(&cur, "Failed")
		cur.Properties.Duration = isoDuration(pr.p.Now().Sub(cur.Properties.Timestamp))
		cur.Properties.Error = arm.ListedDetails(derr)
		return resource.Put(ctx, tx, id, &cur)
	}
}

// endOps ends the operations of deployment cur, which ends in state,
// that are still Running (a run that stopped on an error of its own, or a
// cancel, follows them no more): Canceled, as the deployment, or Failed.
// Every operation of an ended deployment has ended.
func (pr *Provider) endOps(cur *stored, state string) {
	if state == "Succeeded" {
		return
	}
	for i, o := range cur.Run.Ops {
		if o.ProvisioningState != "Running" {
			continue
		}
		o.ProvisioningState, o.Timestamp = "Canceled", pr.p.Now()
		e := arm.Errorf(http.StatusConflict, "DeploymentCanceled", "The deployment ended (%s) before the operation of '%s' did: it was followed no more.", state, o.TargetID)
		if state != "Canceled" {
			o.ProvisioningState = "Failed"
			e.Code = "DeploymentFailed"
		}
		o.StatusMessage, _ = json.Marshal(map[string]any{"status": o.ProvisioningState, "error": arm.ListedDetails(e)})
		o.PollKind, o.PollURL = "", ""
		cur.Run.Ops[i] = o
	}
}

// failureOf is the error a failed operation recorded.
func failureOf(o deployOp) arm.Error {
	var m struct {
		Error *arm.Error `json:"error"`
	}
	if json.Unmarshal(o.StatusMessage, &m) == nil && m.Error != nil && m.Error.Code != "" {
		return *m.Error
	}
	return arm.Error{Code: "ResourceDeploymentFailure", Message: fmt.Sprintf("The deployment of '%s' failed.", o.TargetID), Target: o.TargetID}
}

func asCloud(err error) *arm.Error {
	var ae *arm.Error
	if arm.As(err, &ae) {
		return ae
	}
	return arm.Errorf(http.StatusInternalServerError, "InternalServerError", "%v", err)
}

func (pr *Provider) setState(ctx context.Context, id arm.ResourceID, opID, state string) error {
	return pr.p.Store.Update(ctx, func(tx store.Tx) error {
		var s stored
		if err := resource.Get(ctx, tx, id, &s); err != nil {
			return err
		}
		if s.Run.Operation != opID || s.Properties.ProvisioningState == state {
			return nil
		}
		s.Properties.ProvisioningState = state
		return resource.Put(ctx, tx, id, &s)
	})
}

// execution is one run of a deployment.
type execution struct {
	pr     *Provider
	t      *template
	id     arm.ResourceID
	opID   string
	caller arm.Caller
	corr   string
	mu     sync.Mutex // serializes the records of operations
	// following are the operations of resources a parked run left
	// deploying, by lower-cased resource id: followed, not PUT again.
	following map[string]deployOp
	// inFlight are the resources an earlier run of the operation left
	// deploying (by lower-cased id): after a failure, the only ones a run
	// takes up.
	inFlight map[string]bool
	holdEnd  time.Time // when this run parks (holdSlot after it began)
}

// deploy runs items (the template's resources, or the deletions of
// Complete mode) in dependency order, independent
// ones at once (up to parallel); after the first failure it starts
// nothing more and waits for what runs.
//
// A resource still deploying when the run's hold ends is parked: nothing
// that depends on it starts in this run, and since is the earliest start
// of the waits of the parked ones (zero when none is). stopped (a resource
// failed in an earlier run) starts only what earlier runs left deploying.
func (x *execution) deploy(ctx context.Context, items []*tres, done map[string]bool, stopped bool) (failures []arm.Error, canceled bool, since time.Time) {
	x.holdEnd = time.Now().Add(holdSlot)
	n := len(items)
	state := make([]int, n) // 0 waiting, 1 running, 2 done, 3 failed, 4 parked
	for i, r := range items {
		if done[strings.ToLower(r.id)] {
			state[i] = 2
		}
	}
	type result struct {
		i   int
		err *arm.Error
	}
	results := make(chan result)
	running := 0
	stop := stopped
	start := func(i int) {
		state[i] = 1
		running++
		go func(i int) {
			results <- result{i, x.deploySafely(ctx, items[i])}
		}(i)
	}
	if stopped {
		for i, r := range items {
			if state[i] == 0 && x.inFlight[strings.ToLower(r.id)] {
				start(i)
			}
		}
	}
	for {
		for progress := true; progress && !stop; {
			progress = false
			for i, r := range items {
				if state[i] != 0 || running >= parallel {
					continue
				}
				ready := true
				for _, j := range r.deps {
					if state[j] != 2 {
						ready = false
					}
				}
				if !ready {
					continue
				}
				if !r.condition {
					state[i] = 2
					progress = true
					continue
				}
				start(i)
			}
		}
		if running == 0 {
			for i, st := range state {
				if st == 4 {
					if o := x.following[strings.ToLower(items[i].id)]; since.IsZero() || o.PollSince.Before(since) {
						since = o.PollSince
					}
				}
			}
			return failures, canceled, since
		}
		res := <-results
		running--
		if res.err == parked {
			state[res.i] = 4
		} else if res.err != nil {
			state[res.i] = 3
			if res.err.Code == "DeploymentCanceled" {
				canceled = true
			} else {
				failures = append(failures, *res.err)
			}
			stop = true
		} else {
			state[res.i] = 2
		}
		if !stop && x.cancelled(ctx) {
			canceled, stop = true, true
		}
		if ctx.Err() != nil {
			stop = true
		}
	}
}

func (x *execution) cancelled(ctx context.Context) bool {
	var s stored
	if err := resource.Get(ctx, x.pr.p.Store, x.id, &s); err != nil {
		return false
	}
	return s.Run.Cancel && s.Run.Operation == x.opID
}

// record writes a deployment operation (by its id) into the deployment.
func (x *execution) record(ctx context.Context, o deployOp) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.pr.p.Store.Update(ctx, func(tx store.Tx) error {
		var s stored
		if err := resource.Get(ctx, tx, x.id, &s); err != nil {
			return err
		}
		if s.Run.Operation != x.opID {
			return nil
		}
		for i := range s.Run.Ops {
			if s.Run.Ops[i].OperationID == o.OperationID {
				s.Run.Ops[i] = o
				return resource.Put(ctx, tx, x.id, &s)
			}
		}
		s.Run.Ops = append(s.Run.Ops, o)
		return resource.Put(ctx, tx, x.id, &s)
	})
}

func operationID(deployment, target string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(deployment + "|" + target)))
	return strings.ToUpper(hex.EncodeToString(sum[:8]))
}

// evalCtx is the context a resource's body and the outputs are evaluated
// in at deployment time: reference() and listKeys() read through the
// router as the caller.
func (x *execution) evalCtx(ctx context.Context) *evalCtx {
	c := x.t.ctx()
	c.reference = func(id, ver string, full bool) (any, error) {
		if ver == "" {
			ver = x.versionFor(id)
		}
		st, _, b := x.call(ctx, http.MethodGet, id, "api-version="+url.QueryEscape(ver), nil)
		if st != http.StatusOK {
			return nil, errf("The resource '%s' that reference() names could not be read (%d): %s", id, st, errorText(b))
		}
		v, err := decodeJSON(b)
		if err != nil {
			return nil, errf("The resource '%s' that reference() names answered no JSON.", id)
		}
		m, _ := v.(map[string]any)
		if full {
			return m, nil
		}
		if p, ok := m["properties"]; ok {
			return p, nil
		}
		return map[string]any{}, nil
	}
	c.listKeys = func(id, ver string) (any, error) {
		st, _, b := x.call(ctx, http.MethodPost, id+"/listKeys", "api-version="+url.QueryEscape(ver), nil)
		if st != http.StatusOK {
			return nil, errf("listKeys of '%s' failed (%d): %s", id, st, errorText(b))
		}
		return decodeJSON(b)
	}
	return c
}

// versionFor is the api-version to read id with: the template's for its
// own resources, else the newest its type lists.
func (x *execution) versionFor(id string) string {
	for _, r := range x.t.resources {
		if strings.EqualFold(r.id, id) {
			return r.apiVersion
		}
	}
	if rid, err := arm.ParseID(id); err == nil && rid.Namespace != "" {
		_, vs, ok := arm.TypeVersions(rid.Namespace, strings.Join(rid.Types, "/"))
		if !ok {
			vs = arm.UnionVersions(x.pr.rt.NamespaceVersions(rid.Namespace)) // newest first
		}
		for _, v := range vs { // newest first: the newest stable one
			if !arm.IsPreviewVersion(v) {
				return v
			}
		}
		if len(vs) > 0 {
			return vs[0]
		}
	}
	return "2022-09-01"
}

func errorText(b []byte) string {
	var e struct {
		Error *arm.Error `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != nil {
		return e.Error.Code + ": " + e.Error.Message
	}
	return strings.TrimSpace(string(b))
}

func cloudErrorOf(status int, b []byte) *arm.Error {
	var e struct {
		Error *arm.Error `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error != nil && e.Error.Code != "" {
		e.Error.Status = status
		return e.Error
	}
	return arm.Errorf(status, http.StatusText(status), "%s", strings.TrimSpace(string(b)))
}

// deploySafely is deployOne with a panic (a fault of the server's, in the
// template's evaluation or a handler) the resource's failure, as a
// request's panic is its 500, not the end of the process.
func (x *execution) deploySafely(ctx context.Context, r *tres) (e *arm.Error) {
	defer func() {
		if p := recover(); p != nil {
			x.pr.p.Logger.Error("deployment resource panicked", "deployment", x.id.String(), "resource", r.id, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			e = arm.Errorf(http.StatusInternalServerError, "InternalServerError", "Deploying '%s' stopped on an internal error: %v", r.id, p)
			e.Target = r.id
		}
	}()
	return x.deployOne(ctx, r)
}

// deployOne PUTs one resource as the caller and waits for its
// asynchronous operation; nil when it succeeded.
func (x *execution) deployOne(ctx context.Context, r *tres) *arm.Error {
	now := x.pr.p.Now()
	o := deployOp{OperationID: operationID(x.id.String(), r.id), ProvisioningState: "Running", Operation: "Create", Started: now, Timestamp: now,
		TargetID: r.id, TargetType: r.typ, TargetName: r.name, APIVersion: r.apiVersion}
	x.mu.Lock()
	f, resumed := x.following[strings.ToLower(r.id)]
	x.mu.Unlock()
	if r.del {
		o.Operation = "Delete"
	}
	if resumed {
		o = f // a parked run's: its operation is followed, the resource not PUT again
	} else {
		x.record(ctx, o)
	}
	fail := func(status int, e *arm.Error) *arm.Error {
		if ctx.Err() != nil {
			// The run stopped (shutdown, lost lease), not the resource:
			// its operation stays Running, for the next run to take up.
			return e
		}
		o.ProvisioningState, o.Timestamp = "Failed", x.pr.p.Now()
		if e.Code == "DeploymentCanceled" {
			o.ProvisioningState = "Canceled"
		}
		o.StatusCode = statusName(status)
		b, _ := json.Marshal(map[string]any{"status": "Failed", "error": e})
		o.StatusMessage = b
		x.record(context.WithoutCancel(ctx), o)
		return e
	}
	first := http.StatusCreated
	if !resumed && r.del {
		o.PollSince = time.Now()
		st, done, e := x.deleteOne(ctx, r, &o)
		if e != nil {
			return fail(st, e)
		}
		first = st
		o.StatusCode = statusName(st)
		if done {
			return x.succeeded(ctx, o, first)
		}
	} else if !resumed {
		c := x.evalCtx(ctx)
		body, err := x.t.body(c, r)
		if err != nil {
			e := asCloud(templateInvalid(err))
			e.Target = r.id
			return fail(http.StatusBadRequest, e)
		}
		b, _ := json.Marshal(body)
		st, hdr, rb := x.call(ctx, http.MethodPut, r.id, "api-version="+url.QueryEscape(r.apiVersion), b)
		if st >= 400 {
			e := cloudErrorOf(st, rb)
			if e.Target == "" {
				e.Target = r.id
			}
			return fail(st, e)
		}
		first = st
		o.StatusCode = statusName(st)
		if done, perr := follow(&o, st, hdr, rb); done {
			if perr != nil {
				return x.failedWrite(r, perr, fail)
			}
			return x.succeeded(ctx, o, first)
		}
	} else if st := o.StatusCode; st != "" {
		first = statusCode(st)
	}
	if perr := x.wait(ctx, r, &o); perr == parked {
		x.mu.Lock()
		x.following[strings.ToLower(r.id)] = o
		x.mu.Unlock()
		x.record(ctx, o)
		return parked
	} else if perr != nil {
		return x.failedWrite(r, perr, fail)
	}
	return x.succeeded(ctx, o, first)
}

// failedWrite is the failure of resource r's write whose operation ended
// with perr (fail records it).
func (x *execution) failedWrite(r *tres, perr *arm.Error, fail func(int, *arm.Error) *arm.Error) *arm.Error {
	if perr.Code == "DeploymentCanceled" {
		return fail(http.StatusConflict, perr)
	}
	e := arm.Errorf(http.StatusConflict, "ResourceDeploymentFailure", "The resource write operation failed to complete successfully, because it reached terminal provisioning state 'Failed'.")
	e.Target = r.id
	e.Details = []arm.Error{*perr}
	return fail(perr.Status, e)
}

// succeeded records o, the operation of a resource whose write first
// answered status first, Succeeded.
func (x *execution) succeeded(ctx context.Context, o deployOp, first int) *arm.Error {
	o.ProvisioningState, o.Timestamp, o.StatusCode = "Succeeded", x.pr.p.Now(), statusName(first)
	o.PollKind, o.PollURL = "", ""
	o.StatusMessage, _ = json.Marshal(map[string]any{"status": "Succeeded"})
	x.record(ctx, o)
	return nil
}

// statusCode is the status statusName names (201 for any other).
func statusCode(name string) int {
	for _, st := range []int{http.StatusOK, http.StatusCreated, http.StatusAccepted, http.StatusNoContent} {
		if statusName(st) == name {
			return st
		}
	}
	return http.StatusCreated
}

func statusName(st int) string {
	switch st {
	case http.StatusOK:
		return "OK"
	case http.StatusCreated:
		return "Created"
	case http.StatusAccepted:
		return "Accepted"
	case http.StatusNoContent:
		return "NoContent"
	}
	return strings.ReplaceAll(http.StatusText(st), " ", "")
}

// follow sets in o how to follow the asynchronous operation of its
// resource's write, which answered st, hdr and body: its
// Azure-AsyncOperation status, its Location, or the resource's own
// provisioningState. done when the answer is the end already (err nil:
// succeeded).
func follow(o *deployOp, st int, hdr http.Header, body []byte) (done bool, err *arm.Error) {
	o.PollSince = time.Now()
	if as := hdr.Get("Azure-AsyncOperation"); as != "" {
		o.PollKind, o.PollURL = "async", as
		return false, nil
	}
	if loc := hdr.Get("Location"); loc != "" && st == http.StatusAccepted {
		o.PollKind, o.PollURL = "location", loc
		return false, nil
	}
	// No operation to follow: the resource's provisioningState, if it has
	// one that is not final, is.
	o.PollKind = "state"
	return stateEnded(o.TargetID, body)
}

// stateEnded reads a resource's provisioningState from body: done when it
// is final (none is), err when it is not Succeeded.
func stateEnded(id string, body []byte) (done bool, err *arm.Error) {
	var rb struct {
		Properties struct {
			ProvisioningState string `json:"provisioningState"`
		} `json:"properties"`
	}
	json.Unmarshal(body, &rb)
	switch strings.ToLower(rb.Properties.ProvisioningState) {
	case "", "succeeded":
		return true, nil
	case "failed", "canceled":
		return true, arm.Errorf(http.StatusConflict, "ResourceOperationFailure", "The resource '%s' reached the provisioning state '%s'.", id, rb.Properties.ProvisioningState)
	}
	return false, nil
}

// pollOnce reads once how o's operation (follow) stands: done when it
// ended (err nil: succeeded).
func (x *execution) pollOnce(ctx context.Context, r *tres, o *deployOp) (done bool, err *arm.Error) {
	if o.PollKind == "state" {
		st, _, body := x.call(ctx, http.MethodGet, r.id, "api-version="+url.QueryEscape(r.apiVersion), nil)
		if st >= 400 {
			return true, cloudErrorOf(st, body)
		}
		return stateEnded(r.id, body)
	}
	u, perr := url.Parse(o.PollURL)
	if perr != nil {
		return true, arm.Errorf(http.StatusBadGateway, "InvalidAsyncOperation", "The resource '%s' answered a polling URL that cannot be read: %s", r.id, o.PollURL)
	}
	st, _, b := x.call(ctx, http.MethodGet, u.EscapedPath(), u.RawQuery, nil)
	if st >= 400 {
		return true, cloudErrorOf(st, b)
	}
	if o.PollKind == "location" {
		return st != http.StatusAccepted, nil
	}
	var sb struct {
		Status string     `json:"status"`
		Error  *arm.Error `json:"error"`
	}
	json.Unmarshal(b, &sb)
	switch strings.ToLower(sb.Status) {
	case "succeeded":
		return true, nil
	case "failed", "canceled", "cancelled":
		if sb.Error == nil || sb.Error.Code == "" {
			return true, arm.Errorf(http.StatusConflict, "ResourceOperationFailure", "The operation of '%s' ended %s.", r.id, sb.Status)
		}
		return true, sb.Error
	}
	return false, nil
}

// wait follows o's operation (follow) to its end, or parks (answers
// parked) once the run's hold has passed.
func (x *execution) wait(ctx context.Context, r *tres, o *deployOp) *arm.Error {
	delay := 50 * time.Millisecond
	for {
		if time.Since(o.PollSince) > resourceDeadline {
			return arm.Errorf(http.StatusGatewayTimeout, "ResourceDeploymentTimedOut", "The resource '%s' did not finish deploying within %s.", r.id, resourceDeadline)
		}
		if x.cancelled(ctx) {
			return arm.Errorf(http.StatusConflict, "DeploymentCanceled", "The deployment was cancelled while '%s' was deploying.", r.id)
		}
		if time.Now().After(x.holdEnd) {
			return parked
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return arm.Errorf(http.StatusServiceUnavailable, "DeploymentInterrupted", "The deployment was interrupted: %v", ctx.Err())
		case <-t.C:
		}
		delay = min(delay*3/2, time.Second)
		if done, err := x.pollOnce(ctx, r, o); done {
			return err
		}
	}
}

// call sends one request through the router as the deployment's caller,
// as though the caller had sent it (authorization, locks, the resource
// group's state, the handler).
func (x *execution) call(ctx context.Context, method, path, rawQuery string, body []byte) (int, http.Header, []byte) {
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	u := "https://safehold-deployment" + (&url.URL{Path: path}).EscapedPath()
	if strings.Contains(path, "%") {
		u = "https://safehold-deployment" + path // already escaped (an operation URL's path)
	}
	if rawQuery != "" {
		u += "?" + rawQuery
	}
	// The operator's ARM fault rules apply to it as to a client's request.
	if err := x.pr.p.Inject(ctx, "arm", path); err != nil {
		e := asCloud(err)
		if ctx.Err() != nil {
			e = arm.Errorf(http.StatusServiceUnavailable, "DeploymentInterrupted", "The deployment was interrupted: %v", ctx.Err())
		}
		b, _ := json.Marshal(map[string]any{"error": e})
		return e.Status, http.Header{}, b
	}
	rctx, _ := arm.StartRequest(ctx, "deployment-"+ops.NewID(), x.corr)
	rctx = arm.WithCaller(rctx, x.caller)
	hr, err := http.NewRequestWithContext(rctx, method, u, bytes.NewReader(body))
	if err != nil {
		b, _ := json.Marshal(map[string]any{"error": arm.BadRequest("InvalidRequestUri", "The resource id '%s' is not a valid path: %v", path, err)})
		return http.StatusBadRequest, http.Header{}, b
	}
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	var w recorder
	func() {
		defer func() {
			if p := recover(); p != nil { // as the server's middleware answers a handler's panic
				x.pr.p.Logger.Error("panic serving a deployment's request", "method", method, "path", path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				w = recorder{status: http.StatusInternalServerError}
				b, _ := json.Marshal(map[string]any{"error": arm.Errorf(http.StatusInternalServerError, "InternalServerError", "The server encountered an internal error.")})
				w.body.Write(b)
			}
		}()
		x.pr.serve.ServeHTTP(&w, hr)
	}()
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.status, w.Header(), w.body.Bytes()
}

// recorder is an http.ResponseWriter keeping what it is given.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *recorder) Header() http.Header {
	if w.header == nil {
		w.header = http.Header{}
	}
	return w.header
}

func (w *recorder) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
}

func (w *recorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}
