// Package deployments serves ARM template deployments
// (Microsoft.Resources/deployments) at resource-group scope: a template
// and its parameters are validated when the deployment is PUT, and an
// operation deploys its resources as the caller, each through the same
// router a client's PUT goes through (authorization, locks, validation,
// the resource's own asynchronous operation), independent resources at
// once and dependents after them.
package deployments

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/arm/armops"
	"github.com/safehold/safehold/ops"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

const (
	typeName = "Microsoft.Resources/deployments"
	opKind   = "deployment.run"
)

// Provider serves deployments.
type Provider struct {
	// Through, when set, wraps the router for the deployment's own
	// requests as the server wraps it for a client's once authenticated
	// (the leader's placement of new disks): they take the path a
	// client's request takes.
	Through func(next http.Handler) http.Handler

	p     *resource.Platform
	rt    *arm.Router
	serve http.Handler // rt, Through
}

// Deployment is a deployment as the wire shows it (DeploymentExtended).
type Deployment struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	Location   string            `json:"location,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	Properties Properties        `json:"properties"`
}

// Properties are a deployment's properties.
type Properties struct {
	TemplateHash      string            `json:"templateHash,omitempty"`
	Parameters        map[string]any    `json:"parameters,omitempty"`
	Mode              string            `json:"mode"`
	ProvisioningState string            `json:"provisioningState"`
	Timestamp         time.Time         `json:"timestamp"`
	Duration          string            `json:"duration"`
	CorrelationID     string            `json:"correlationId,omitempty"`
	Providers         []provider        `json:"providers"`
	Dependencies      []dependency      `json:"dependencies"`
	Outputs           map[string]any    `json:"outputs,omitempty"`
	OutputResources   []resourceRef     `json:"outputResources,omitempty"`
	ValidatedResource []resourceRef     `json:"validatedResources,omitempty"`
	Error             *arm.Error        `json:"error,omitempty"`
	DebugSetting      map[string]string `json:"debugSetting,omitempty"`
}

type provider struct {
	Namespace     string         `json:"namespace"`
	ResourceTypes []providerType `json:"resourceTypes"`
}

type providerType struct {
	ResourceType string   `json:"resourceType"`
	Locations    []string `json:"locations"`
}

type dependency struct {
	DependsOn    []basicDependency `json:"dependsOn"`
	ID           string            `json:"id"`
	ResourceType string            `json:"resourceType"`
	ResourceName string            `json:"resourceName"`
}

type basicDependency struct {
	ID           string `json:"id"`
	ResourceType string `json:"resourceType"`
	ResourceName string `json:"resourceName"`
}

type resourceRef struct {
	ID string `json:"id"`
}

// stored is a deployment's document: its wire form and what running it
// needs (never answered: the template, the parameters as given, secure
// ones included, and the operations).
type stored struct {
	Deployment
	Run runState `json:"_run"`
}

type runState struct {
	Template   map[string]any `json:"template"`
	Given      map[string]any `json:"given,omitempty"`
	Caller     arm.Caller     `json:"caller"`
	Operation  string         `json:"operation,omitempty"` // the ops operation running it
	Cancel     bool           `json:"cancel,omitempty"`
	Ops        []deployOp     `json:"ops,omitempty"`
	Tenant     string         `json:"tenant,omitempty"`
	GroupLoc   string         `json:"groupLocation,omitempty"`
	APIVersion string         `json:"apiVersion,omitempty"` // of the PUT (keepsFalseConditions)
	Subscripti string         `json:"-"`
}

// deployOp is a deployment operation (one resource's deployment).
type deployOp struct {
	OperationID       string          `json:"operationId"`
	ProvisioningState string          `json:"provisioningState"`
	Operation         string          `json:"provisioningOperation"`
	Timestamp         time.Time       `json:"timestamp"`
	Started           time.Time       `json:"started"`
	StatusCode        string          `json:"statusCode,omitempty"`
	StatusMessage     json.RawMessage `json:"statusMessage,omitempty"`
	TargetID          string          `json:"targetId,omitempty"`
	TargetType        string          `json:"targetType,omitempty"`
	TargetName        string          `json:"targetName,omitempty"`
	APIVersion        string          `json:"apiVersion,omitempty"`
	// How to follow the resource's asynchronous operation (follow):
	// "async" (its Azure-AsyncOperation URL), "location" (its Location
	// URL) or "state" (the resource's provisioningState), since when in
	// real time; a run that parks leaves them for the next to take up.
	PollKind  string    `json:"pollKind,omitempty"`
	PollURL   string    `json:"pollUrl,omitempty"`
	PollSince time.Time `json:"pollSince,omitempty"`
}

// Register implements server.Provider.
func (pr *Provider) Register(rt *arm.Router, p *resource.Platform) error {
	pr.p, pr.rt, pr.serve = p, rt, rt
	if pr.Through != nil {
		pr.serve = pr.Through(rt)
	}
	const d = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.Resources/deployments/{deploymentName}"
	// Every answer's errors carry details as lists, the router's refusals
	// (authorization, the group, the api-version) as the handlers' own: az's
	// deployment commands iterate them (arm.ListsDetails).
	listed := arm.ListsDetails()
	rt.Handle("GET", d[:strings.LastIndexByte(d, '/')], pr.list, listed)
	rt.Handle("GET", d, pr.get, listed)
	rt.Handle("PUT", d, pr.put, listed)
	rt.Handle("DELETE", d, pr.delete, listed)
	rt.Handle("POST", d+"/validate", pr.validate, arm.Action("Microsoft.Resources/deployments/validate/action"), listed)
	rt.Handle("POST", d+"/cancel", pr.cancel, arm.Action("Microsoft.Resources/deployments/cancel/action"), listed)
	rt.Handle("POST", d+"/exportTemplate", pr.exportTemplate, arm.Action("Microsoft.Resources/deployments/exportTemplate/action"), listed)
	// Deployment operations answer at both paths (the SDKs use the one
	// without providers/Microsoft.Resources).
	const o = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/deployments/{deploymentName}"
	for _, base := range []string{d, o} {
		rt.Handle("GET", base+"/operations", pr.listOps, arm.Action("Microsoft.Resources/deployments/operations/read"), listed)
		rt.Handle("GET", base+"/operations/{operationId}", pr.getOp, arm.Action("Microsoft.Resources/deployments/operations/read"), listed)
	}
	rt.Handle("GET", d+"/operationStatuses/{operationId}", pr.status, arm.Action("Microsoft.Resources/deployments/read"), listed)
	rt.Handle("POST", d+"/whatIf", pr.whatIf, arm.Action("Microsoft.Resources/deployments/whatIf/action"), listed)
	p.Ops.RegisterLight(opKind, pr.run)
	return nil
}

func deploymentID(sub, group, name string) arm.ResourceID {
	id, _ := arm.ParseID("/subscriptions/" + sub + "/resourceGroups/" + group + "/providers/Microsoft.Resources/deployments/" + name)
	return id
}

func (pr *Provider) load(ctx context.Context, r store.Reader, sub, group, name string) (*stored, error) {
	var s stored
	if err := resource.Get(ctx, r, deploymentID(sub, group, name), &s); err != nil {
		if arm.IsNotFound(err) {
			return nil, arm.Errorf(http.StatusNotFound, "DeploymentNotFound", "Deployment '%s' could not be found.", name)
		}
		return nil, err
	}
	return &s, nil
}

// request is a deployment's PUT or validate body.
type request struct {
	Location   string            `json:"location"`
	Tags       map[string]string `json:"tags"`
	Properties *struct {
		Template          json.RawMessage `json:"template"`
		TemplateLink      json.RawMessage `json:"templateLink"`
		Parameters        json.RawMessage `json:"parameters"`
		ParametersLink    json.RawMessage `json:"parametersLink"`
		Mode              string          `json:"mode"`
		DebugSetting      map[string]any  `json:"debugSetting"`
		OnErrorDeployment json.RawMessage `json:"onErrorDeployment"`
		ExpressionEval    json.RawMessage `json:"expressionEvaluationOptions"`
	} `json:"properties"`
}

// prepare reads a PUT or validate body and compiles its template.
func (pr *Provider) prepare(r *arm.Request) (*request, *template, map[string]any, map[string]any, error) {
	ctx := r.HTTP.Context()
	sub, group, name := r.Param("subscriptionId"), r.Param("resourceGroupName"), r.Param("deploymentName")
	if err := checkName(name); err != nil {
		return nil, nil, nil, nil, err
	}
	var req request
	if err := json.Unmarshal(lenientJSON(r.Body), &req); err != nil {
		return nil, nil, nil, nil, arm.BadRequest("InvalidRequestContent", "The request content was invalid and could not be deserialized: %v.", err)
	}
	for k, v := range req.Tags {
		if err := arm.CheckTag(k, v); err != nil {
			return nil, nil, nil, nil, err
		}
	}
	if req.Properties == nil {
		return nil, nil, nil, nil, arm.BadRequest("InvalidRequestContent", "The request content is missing 'properties': give properties.template, properties.parameters and properties.mode.")
	}
	p := req.Properties
	if len(p.TemplateLink) > 0 && string(p.TemplateLink) != "null" {
		return nil, nil, nil, nil, arm.BadRequest("InvalidTemplate", "properties.templateLink (a template at a remote URL) is not supported: Safehold fetches no remote templates. Pass the template inline in properties.template (az deployment group create --template-file).")
	}
	if len(p.ParametersLink) > 0 && string(p.ParametersLink) != "null" {
		return nil, nil, nil, nil, arm.BadRequest("InvalidTemplate", "properties.parametersLink (parameters at a remote URL) is not supported: pass the parameters inline in properties.parameters.")
	}
	if len(p.Template) == 0 || string(p.Template) == "null" {
		return nil, nil, nil, nil, arm.BadRequest("InvalidRequestContent", "The request content has no properties.template: give the template inline.")
	}
	switch strings.ToLower(p.Mode) {
	case "incremental":
		p.Mode = "Incremental"
	case "complete":
		p.Mode = "Complete"
	case "":
		return nil, nil, nil, nil, arm.BadRequest("InvalidRequestContent", "The request content is missing properties.mode: give 'Incremental' or 'Complete'.")
	default:
		return nil, nil, nil, nil, arm.BadRequest("InvalidDeploymentMode", "The deployment mode '%s' is not valid: use 'Incremental' or 'Complete'.", p.Mode)
	}
	if len(p.OnErrorDeployment) > 0 && string(p.OnErrorDeployment) != "null" {
		return nil, nil, nil, nil, arm.BadRequest("InvalidRequestContent", "properties.onErrorDeployment (a rollback deployment) is not supported: leave it out.")
	}
	tv, err := decodeJSON(p.Template)
	if err != nil {
		return nil, nil, nil, nil, arm.BadRequest("InvalidTemplate", "The template is not valid JSON: %v", err)
	}
	tm, ok := tv.(map[string]any)
	if !ok {
		return nil, nil, nil, nil, arm.BadRequest("InvalidTemplate", "The template must be a JSON object.")
	}
	given := map[string]any{}
	if len(p.Parameters) > 0 && string(p.Parameters) != "null" {
		gv, err := decodeJSON(p.Parameters)
		if err != nil {
			return nil, nil, nil, nil, arm.BadRequest("InvalidRequestContent", "properties.parameters is not valid JSON: %v", err)
		}
		gm, ok := gv.(map[string]any)
		if !ok {
			return nil, nil, nil, nil, arm.BadRequest("InvalidRequestContent", "properties.parameters must be an object of {\"name\": {\"value\": ...}}.")
		}
		given = gm
	}
	g, err := pr.groupOf(ctx, sub, group)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	t, err := compile(tm, given, sub, g.Name, g.Location, r.Caller().TenantID, name, pr.p.Now())
	if err != nil {
		return nil, nil, nil, nil, templateInvalid(err)
	}
	t.keepFalse = keepsFalseConditions(r.APIVersion)
	// Each resource of the template is written as the caller: one it may
	// not write refuses the deployment before anything is deployed, as ARM's
	// preflight does.
	for _, res := range t.resources {
		if !res.condition {
			continue
		}
		if err := preflight(r, res.typ+"/write", res.id, "template resource '"+res.name+"' of type '"+res.typ+"'"); err != nil {
			return nil, nil, nil, nil, err
		}
	}
	// Complete mode deletes the group's resources the template does not
	// name as the caller: one it may not delete refuses the deployment
	// first too. (What nested deployments to the group deploy is known
	// when they have run: with one, each deletion's own authorization
	// decides then.)
	if p.Mode == "Complete" && len(t.nestedHere()) == 0 {
		x := &execution{pr: pr, t: t, caller: r.Caller(), corr: arm.CorrelationID(ctx)}
		left, err := x.leftovers(ctx, t, nil)
		if err != nil {
			return nil, nil, nil, nil, err
		}
		for _, l := range left {
			if !l.deletable() {
				continue
			}
			if err := preflight(r, l.Type+"/delete", l.ID, "resource '"+l.Name+"' of type '"+l.Type+"', which the deployment in Complete mode deletes (the template does not name it)"); err != nil {
				return nil, nil, nil, nil, err
			}
		}
	}
	return &req, t, tm, given, nil
}

// preflight authorizes the caller of r for action on id, what the
// deployment will do to what (a resource, named): a refusal is ARM's
// preflight one, 400 InvalidTemplateDeployment naming the action, the 403
// in its details.
func preflight(r *arm.Request, action, id, what string) error {
	err := r.Authorize(action, id)
	var ae *arm.Error
	if err == nil || !arm.As(err, &ae) || ae.Status != http.StatusForbidden {
		return err
	}
	c := r.Caller()
	e := arm.BadRequest("InvalidTemplateDeployment", "The template deployment failed with error: 'Authorization failed for %s. The client '%s' with object id '%s' does not have permission to perform action '%s' at scope '%s'.'", what, c.AppID, c.ObjectID, action, id)
	e.Details = []arm.Error{*ae}
	return e
}

// groupOf reads the deployment's resource group: 404 ResourceGroupNotFound
// naming it when there is none, as ARM answers.
func (pr *Provider) groupOf(ctx context.Context, sub, group string) (*resource.ResourceGroup, error) {
	g, err := resource.GetShared[resource.ResourceGroup](ctx, pr.p.Store, mustGroup(sub, group))
	if arm.IsNotFound(err) {
		return nil, arm.Errorf(http.StatusNotFound, "ResourceGroupNotFound", "Resource group '%s' could not be found.", group)
	}
	return g, err
}

func mustGroup(sub, group string) arm.ResourceID {
	id, _ := arm.ParseID("/subscriptions/" + sub + "/resourceGroups/" + group)
	return id
}

func checkName(name string) error {
	if len(name) == 0 || len(name) > 64 {
		return arm.BadRequest("InvalidDeploymentName", "The deployment name '%s' is not valid: it must be 1 to 64 characters long.", name)
	}
	for _, c := range name {
		if !(c == '-' || c == '_' || c == '.' || c == '(' || c == ')' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return arm.BadRequest("InvalidDeploymentName", "The deployment name '%s' is not valid: it may contain letters, digits, '-', '_', '.', '(' and ')' only.", name)
		}
	}
	return nil
}

// templateInvalid is ARM's 400 InvalidTemplate for a template error.
func templateInvalid(err error) error {
	te, ok := err.(*templateError)
	if !ok {
		return err
	}
	e := arm.BadRequest("InvalidTemplate", "Deployment template validation failed: '%s'.", strings.TrimSuffix(te.Error(), "."))
	if te.path != "" {
		e.Target = te.path
		e.AdditionalInfo = []arm.AdditionalInfo{{Type: "TemplateViolation", Info: map[string]any{"path": te.path, "lineNumber": 0, "linePosition": 0}}}
	}
	return e
}

// wireParams are the parameters as a deployment answers them: type and
// value, a secure one's value never.
func wireParams(t *template) map[string]any {
	out := map[string]any{}
	for _, n := range t.paramNames {
		typ, _ := t.paramDefs[n]["type"].(string)
		p := map[string]any{"type": wireType(typ)}
		if !t.secure[n] {
			p["value"] = t.params[n]
		}
		out[n] = p
	}
	return out
}

func describe(t *template) ([]provider, []dependency) {
	provs := []provider{}
	byNS := map[string]int{}
	seen := map[string]bool{}
	deps := []dependency{}
	for _, r := range t.resources {
		ns, typ, _ := strings.Cut(r.typ, "/")
		i, ok := byNS[strings.ToLower(ns)]
		if !ok {
			i = len(provs)
			byNS[strings.ToLower(ns)] = i
			provs = append(provs, provider{Namespace: ns, ResourceTypes: []providerType{}})
		}
		if !seen[strings.ToLower(r.typ)] {
			seen[strings.ToLower(r.typ)] = true
			provs[i].ResourceTypes = append(provs[i].ResourceTypes, providerType{ResourceType: typ, Locations: []string{t.location}})
		}
		if len(r.deps) > 0 {
			d := dependency{ID: r.id, ResourceType: r.typ, ResourceName: r.name, DependsOn: []basicDependency{}}
			for _, j := range r.deps {
				o := t.resources[j]
				d.DependsOn = append(d.DependsOn, basicDependency{ID: o.id, ResourceType: o.typ, ResourceName: o.name})
			}
			deps = append(deps, d)
		}
	}
	return provs, deps
}

// The deployment history's bounds (ARM's): a group keeps at most
// historyMax deployments; past historyGroomAt, the oldest that ended are
// deleted until historyGroomTo are left.
const (
	historyMax     = 800
	historyGroomAt = 700
	historyGroomTo = 600
)

// groom deletes the oldest ended deployments of the group, past
// historyGroomAt, until historyGroomTo are left: each by a DELETE through
// the router as r's caller, as ARM's automatic deletions are the user's
// (a caller who may not delete deployments, or a CanNotDelete lock on the
// group, keeps them; the next deployment tries again).
func (pr *Provider) groom(r *arm.Request, all []Deployment) {
	if len(all) <= historyGroomAt {
		return
	}
	ctx := r.HTTP.Context()
	sortByTime(all) // newest first
	x := &execution{pr: pr, caller: r.Caller(), corr: arm.CorrelationID(ctx)}
	n := len(all)
	for i := len(all) - 1; i >= 0 && n > historyGroomTo; i-- {
		if active(all[i].Properties.ProvisioningState) {
			continue
		}
		if st, _, b := x.call(ctx, http.MethodDelete, all[i].ID, "api-version=2022-09-01", nil); st >= 400 {
			pr.p.Logger.Info("deployment history not groomed", "deployment", all[i].ID, "status", st, "error", errorText(b))
			return
		}
		n--
	}
}

// history lists the deployments of a group.
func (pr *Provider) history(ctx context.Context, sub, group string) ([]Deployment, error) {
	return resource.List[Deployment](ctx, pr.p.Store, typeName, "/subscriptions/"+sub+"/resourceGroups/"+group)
}

// historyCount counts the deployments of a group, and tells whether one
// is named name, reading none (their templates are what a deployment's
// document mostly holds): what every PUT needs to know of the history.
func (pr *Provider) historyCount(ctx context.Context, sub, group, name string) (n int, has bool, err error) {
	key := deploymentID(sub, group, name).String()
	rd := resource.ListRead(typeName, "/subscriptions/"+sub+"/resourceGroups/"+group)
	err = store.ListView(ctx, pr.p.Store, rd.Kind, rd.Q, func(d *store.Doc, _ bool) bool {
		n++
		has = has || strings.EqualFold(d.Key, key)
		return true
	})
	return n, has, err
}

func (pr *Provider) put(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	sub, group, name := r.Param("subscriptionId"), r.Param("resourceGroupName"), r.Param("deploymentName")
	req, t, tm, given, err := pr.prepare(r)
	if err != nil {
		return nil, err
	}
	// The history is counted, not read: it is read (to groom it) only
	// past historyGroomAt.
	n, has, err := pr.historyCount(ctx, sub, group, name)
	if err != nil {
		return nil, err
	}
	if n >= historyMax && !has {
		// What kept the oldest may have been lifted since (the answer
		// below says to): the deployment goes ahead once they are gone.
		all, err := pr.history(ctx, sub, group)
		if err != nil {
			return nil, err
		}
		pr.groom(r, all)
		if n, has, err = pr.historyCount(ctx, sub, group, name); err != nil {
			return nil, err
		}
	}
	if n >= historyMax && !has {
		return nil, arm.Conflict("DeploymentQuotaExceeded", "Creating the deployment '%s' would exceed the quota of '%d'. The current deployment count is '%d'. Please delete some deployments before creating a new one (az deployment group delete), or lift what keeps the oldest from being deleted automatically: a CanNotDelete lock on the resource group, or the caller's want of Microsoft.Resources/deployments/delete.", name, historyMax, n)
	}
	id := deploymentID(sub, group, name)
	provs, deps := describe(t)
	now := pr.p.Now()
	s := &stored{Deployment: Deployment{ID: id.String(), Name: name, Type: typeName, Tags: req.Tags,
		Properties: Properties{TemplateHash: t.hash, Parameters: wireParams(t), Mode: req.Properties.Mode, ProvisioningState: "Accepted",
			Timestamp: now, Duration: "PT0S", CorrelationID: arm.CorrelationID(ctx), Providers: provs, Dependencies: deps}},
		Run: runState{Template: tm, Given: given, Caller: r.Caller(), Tenant: r.Caller().TenantID, APIVersion: r.APIVersion}}
	op := &ops.Operation{Kind: opKind, ResourceID: id.String(), Caller: r.Caller(), CorrelationID: arm.CorrelationID(ctx)}
	created := true
	err = pr.p.Store.Update(ctx, func(tx store.Tx) error {
		var old stored
		err := resource.Get(ctx, tx, id, &old)
		created = arm.IsNotFound(err)
		if err != nil && !created {
			return err
		}
		if !created && active(old.Properties.ProvisioningState) {
			return arm.Conflict("DeploymentActive", "The deployment '%s' is still running (%s): wait for it to end, or cancel it, before deploying under its name again.", name, old.Properties.ProvisioningState)
		}
		op.ID = ""
		if err := pr.p.Ops.Start(ctx, tx, op, id.String()); err != nil {
			return err
		}
		s.Run.Operation = op.ID
		return resource.Put(ctx, tx, id, s)
	})
	if err != nil {
		return nil, err
	}
	pr.p.Ops.Notify()
	if !has {
		n++
	}
	if n > historyGroomAt {
		// The history with this deployment, the newest (ARM moves a name
		// deployed again to the newest place).
		if all, err := pr.history(ctx, sub, group); err == nil {
			pr.groom(r, all)
		}
	}
	return arm.CreatedOrOK(created, s.Deployment).Async(r, id.String()+"/operationStatuses/"+op.ID, ""), nil
}

func active(state string) bool {
	switch state {
	case "Accepted", "Running", "Canceling":
		return true
	}
	return false
}

func (pr *Provider) get(r *arm.Request) (*arm.Response, error) {
	s, err := pr.load(r.HTTP.Context(), pr.p.Store, r.Param("subscriptionId"), r.Param("resourceGroupName"), r.Param("deploymentName"))
	if err != nil {
		if r.HTTP.Method == http.MethodHead {
			return nil, arm.Errorf(http.StatusNotFound, "DeploymentNotFound", "")
		}
		return nil, err
	}
	return arm.OK(s.Deployment), nil
}

func (pr *Provider) list(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	sub, group := r.Param("subscriptionId"), r.Param("resourceGroupName")
	if _, err := pr.groupOf(ctx, sub, group); err != nil {
		return nil, err
	}
	all, err := resource.List[stored](ctx, pr.p.Store, typeName, "/subscriptions/"+sub+"/resourceGroups/"+group)
	if err != nil {
		return nil, err
	}
	want := ""
	if f := strings.TrimSpace(r.Query("$filter")); f != "" {
		k, v, ok := strings.Cut(f, " eq ")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "provisioningState") {
			return nil, arm.BadRequest("InvalidFilter", "The $filter '%s' is not supported: filter deployments with provisioningState eq '{state}'.", f)
		}
		want = strings.Trim(strings.TrimSpace(v), "'")
	}
	out := []Deployment{}
	for _, s := range all {
		if want != "" && !strings.EqualFold(s.Properties.ProvisioningState, want) {
			continue
		}
		out = append(out, s.Deployment)
	}
	// Newest first, as ARM lists them.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	sortByTime(out)
	if top := r.Query("$top"); top != "" {
		n, err := strconv.Atoi(top)
		if err != nil || n < 1 {
			return nil, arm.BadRequest("InvalidQueryParameterValue", "The $top '%s' is not valid: give a positive integer.", top)
		}
		if n < len(out) {
			out = out[:n]
		}
	}
	return arm.PageOK(r, out, 100)
}

func sortByTime(ds []Deployment) {
	for i := 1; i < len(ds); i++ {
		for j := i; j > 0 && ds[j].Properties.Timestamp.After(ds[j-1].Properties.Timestamp); j-- {
			ds[j], ds[j-1] = ds[j-1], ds[j]
		}
	}
}

func (pr *Provider) delete(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	sub, group, name := r.Param("subscriptionId"), r.Param("resourceGroupName"), r.Param("deploymentName")
	id := deploymentID(sub, group, name)
	gone := false
	op := &ops.Operation{Kind: "deployment.delete", ResourceID: id.String(), Caller: r.Caller(), ResultStatus: http.StatusNoContent, PercentComplete: 100}
	err := pr.p.Store.Update(ctx, func(tx store.Tx) error {
		var s stored
		err := resource.Get(ctx, tx, id, &s)
		if gone = arm.IsNotFound(err); gone {
			return nil
		}
		if err != nil {
			return err
		}
		if active(s.Properties.ProvisioningState) {
			return arm.Conflict("DeploymentActive", "The deployment '%s' is running (%s) and cannot be deleted: cancel it first (POST .../deployments/%s/cancel), or wait for it to end.", name, s.Properties.ProvisioningState, name)
		}
		if err := resource.Delete(ctx, tx, id); err != nil {
			return err
		}
		op.ID = ""
		return pr.p.Ops.Completed(ctx, tx, op)
	})
	if err != nil {
		return nil, err
	}
	if gone {
		if _, err := pr.groupOf(ctx, sub, group); err != nil {
			return nil, err
		}
		return arm.NoContent(), nil
	}
	return arm.Accepted().Async(r, "", "/subscriptions/"+sub+"/operationresults/"+op.ID), nil
}

func (pr *Provider) validate(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	sub, group, name := r.Param("subscriptionId"), r.Param("resourceGroupName"), r.Param("deploymentName")
	req, t, _, _, err := pr.prepare(r)
	if err != nil {
		var ae *arm.Error
		if arm.As(err, &ae) && ae.Status == http.StatusBadRequest {
			// The validate result's own shape: {"error": {...}} with 400.
			return arm.Status(http.StatusBadRequest, map[string]any{"error": arm.ListedDetails(ae)}), nil
		}
		return nil, err
	}
	provs, deps := describe(t)
	d := Deployment{ID: deploymentID(sub, group, name).String(), Name: name, Type: typeName, Tags: req.Tags,
		Properties: Properties{TemplateHash: t.hash, Parameters: wireParams(t), Mode: req.Properties.Mode, ProvisioningState: "Succeeded",
			Timestamp: pr.p.Now(), Duration: "PT0S", CorrelationID: arm.CorrelationID(ctx), Providers: provs, Dependencies: deps, ValidatedResource: []resourceRef{}}}
	for _, res := range t.resources {
		if res.condition {
			d.Properties.ValidatedResource = append(d.Properties.ValidatedResource, resourceRef{ID: res.id})
		}
	}
	return arm.OK(d), nil
}

func (pr *Provider) cancel(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	sub, group, name := r.Param("subscriptionId"), r.Param("resourceGroupName"), r.Param("deploymentName")
	id := deploymentID(sub, group, name)
	err := pr.p.Store.Update(ctx, func(tx store.Tx) error {
		s, err := pr.load(ctx, tx, sub, group, name)
		if err != nil {
			return err
		}
		if !active(s.Properties.ProvisioningState) {
			return arm.Conflict("DeploymentCannotBeCancelled", "The deployment '%s' cannot be cancelled: it has ended (%s). Only an Accepted or Running deployment can be.", name, s.Properties.ProvisioningState)
		}
		s.Run.Cancel = true
		return resource.Put(ctx, tx, id, s)
	})
	if err != nil {
		return nil, err
	}
	return arm.NoContent(), nil
}

func (pr *Provider) exportTemplate(r *arm.Request) (*arm.Response, error) {
	s, err := pr.load(r.HTTP.Context(), pr.p.Store, r.Param("subscriptionId"), r.Param("resourceGroupName"), r.Param("deploymentName"))
	if err != nil {
		return nil, err
	}
	return arm.OK(map[string]any{"template": s.Run.Template}), nil
}

func (pr *Provider) status(r *arm.Request) (*arm.Response, error) {
	return armops.StatusResponse(pr.p.Ops, r, r.Param("operationId"))
}

// opWire is a deployment operation as the wire shows it.
func opWire(depID string, o deployOp) map[string]any {
	p := map[string]any{
		"provisioningOperation": o.Operation,
		"provisioningState":     o.ProvisioningState,
		"timestamp":             o.Timestamp.Format(time.RFC3339Nano),
		"duration":              isoDuration(o.Timestamp.Sub(o.Started)),
		"trackingId":            o.OperationID,
	}
	if o.StatusCode != "" {
		p["statusCode"] = o.StatusCode
	}
	if len(o.StatusMessage) > 0 {
		p["statusMessage"] = o.StatusMessage
	}
	if o.TargetID != "" {
		p["targetResource"] = map[string]any{"id": o.TargetID, "resourceType": o.TargetType, "resourceName": o.TargetName, "apiVersion": o.APIVersion}
	}
	return map[string]any{"id": depID + "/operations/" + o.OperationID, "operationId": o.OperationID, "properties": p}
}

func (pr *Provider) listOps(r *arm.Request) (*arm.Response, error) {
	s, err := pr.load(r.HTTP.Context(), pr.p.Store, r.Param("subscriptionId"), r.Param("resourceGroupName"), r.Param("deploymentName"))
	if err != nil {
		return nil, err
	}
	out := []map[string]any{}
	for i := len(s.Run.Ops) - 1; i >= 0; i-- {
		out = append(out, opWire(s.ID, s.Run.Ops[i]))
	}
	if top := r.Query("$top"); top != "" {
		n, err := strconv.Atoi(top)
		if err != nil || n < 1 {
			return nil, arm.BadRequest("InvalidQueryParameterValue", "The $top '%s' is not valid: give a positive integer.", top)
		}
		if n < len(out) {
			out = out[:n]
		}
	}
	return arm.PageOK(r, out, 100)
}

func (pr *Provider) getOp(r *arm.Request) (*arm.Response, error) {
	s, err := pr.load(r.HTTP.Context(), pr.p.Store, r.Param("subscriptionId"), r.Param("resourceGroupName"), r.Param("deploymentName"))
	if err != nil {
		return nil, err
	}
	for _, o := range s.Run.Ops {
		if strings.EqualFold(o.OperationID, r.Param("operationId")) {
			return arm.OK(opWire(s.ID, o)), nil
		}
	}
	return nil, arm.Errorf(http.StatusNotFound, "DeploymentOperationNotFound", "The deployment operation '%s' of deployment '%s' could not be found.", r.Param("operationId"), s.Name)
}

// isoDuration writes d as ISO 8601 (PT1.234S).
func isoDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := fmt.Sprintf("PT%.3fS", d.Seconds())
	if d >= time.Minute {
		s = fmt.Sprintf("PT%dM%.3fS", int(d.Minutes()), (d % time.Minute).Seconds())
	}
	return s
}

// lenientJSON turns the JSON with comments that ARM accepts (az sends a
// template file as it is, comments included, after an unquoted
// "template:" key) into JSON: comments outside strings are dropped and
// bare property names quoted.
func lenientJSON(b []byte) []byte {
	out := make([]byte, 0, len(b)+16)
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '"':
			j := i + 1
			for j < len(b) && b[j] != '"' {
				if b[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(b) {
				return append(out, b[i:]...)
			}
			out = append(out, b[i:j+1]...)
			i = j
		case c == '/' && i+1 < len(b) && b[i+1] == '/':
			for i < len(b) && b[i] != '\n' {
				i++
			}
			if i < len(b) {
				out = append(out, '\n')
			}
		case c == '/' && i+1 < len(b) && b[i+1] == '*':
			end := bytes.Index(b[i+2:], []byte("*/"))
			if end < 0 {
				return out
			}
			i += end + 3
			out = append(out, ' ')
		case c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			j := i
			for j < len(b) && (b[j] == '_' || b[j] == '$' || b[j] >= 'a' && b[j] <= 'z' || b[j] >= 'A' && b[j] <= 'Z' || b[j] >= '0' && b[j] <= '9') {
				j++
			}
			k := j
			for k < len(b) && (b[k] == ' ' || b[k] == '\t' || b[k] == '\r' || b[k] == '\n') {
				k++
			}
			word := b[i:j]
			if k < len(b) && b[k] == ':' {
				out = append(append(append(out, '"'), word...), '"')
			} else {
				out = append(out, word...) // true, false, null
			}
			i = j - 1
		default:
			out = append(out, c)
		}
	}
	return out
}
