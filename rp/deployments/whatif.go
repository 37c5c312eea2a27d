package deployments

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strings"

	"github.com/safehold/safehold/arm"
)

// whatIfChange is one resource's predicted change (WhatIfChange).
type whatIfChange struct {
	ResourceID        string           `json:"resourceId"`
	ChangeType        string           `json:"changeType"`
	UnsupportedReason string           `json:"unsupportedReason,omitempty"`
	Before            map[string]any   `json:"before,omitempty"`
	After             map[string]any   `json:"after,omitempty"`
	Delta             []propertyChange `json:"delta,omitempty"`
}

// propertyChange is one property's predicted change (WhatIfPropertyChange).
type propertyChange struct {
	Path               string `json:"path"`
	PropertyChangeType string `json:"propertyChangeType"`
	Before             any    `json:"before,omitempty"`
	After              any    `json:"after,omitempty"`
}

// whatIf predicts what deploying the template would change, reading each
// of its resources as the caller (POST .../whatIf; az deployment group
// what-if): Create for one that does not exist, NoChange when every
// property the template sets has that value already, else Modify with the
// properties that would change; Unsupported, saying why, for one whose
// properties cannot be known before the deployment runs (a reference() to
// a resource it creates). A nested deployment is not listed itself: its
// template's resources are, as Azure's what-if expands it (Unsupported
// when its template or parameters cannot be known before). The group's
// other top-level resources are listed too: Ignore in Incremental mode,
// Delete (as it is) in Complete mode, Ignore for one another resource
// manages (Complete mode leaves it), Unsupported when a nested deployment
// that could not be expanded decides it. Nothing is written.
func (pr *Provider) whatIf(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	req, t, _, _, err := pr.prepare(r)
	if err != nil {
		return nil, err
	}
	x := &execution{pr: pr, t: t, caller: r.Caller(), corr: arm.CorrelationID(ctx)}
	p := &prediction{keep: map[string]bool{}, changes: []whatIfChange{}}
	if err := x.predict(ctx, t, p, 0); err != nil {
		return nil, err
	}
	left, err := x.leftovers(ctx, t, p.keep)
	if err != nil {
		return nil, arm.ListedDetails(asCloud(err))
	}
	for _, l := range left {
		ch := whatIfChange{ResourceID: l.ID, ChangeType: "Ignore"}
		switch {
		case req.Properties.Mode != "Complete" || !l.deletable():
		case p.unknown != "":
			ch.ChangeType, ch.UnsupportedReason = "Unsupported", "Complete mode deletes it unless the template's nested deployment '"+p.unknown+"' deploys it, which is known when that deployment runs."
		default:
			ch.ChangeType, ch.Before = "Delete", l.Raw
		}
		p.changes = append(p.changes, ch)
	}
	return arm.OK(map[string]any{"status": "Succeeded", "properties": map[string]any{"changes": p.changes}}), nil
}

// prediction is what a what-if found: the changes, the resources its
// nested deployments deploy (lower-cased ids), and the name of a nested
// deployment whose resources could not be known ("" none).
type prediction struct {
	changes []whatIfChange
	keep    map[string]bool
	unknown string
}

// maxWhatIfDepth bounds the nested deployments a what-if expands within
// one another.
const maxWhatIfDepth = 8

// predict adds to p the changes deploying t would make (nested
// deployments expanded, depth deep already).
func (x *execution) predict(ctx context.Context, t *template, p *prediction, depth int) error {
	c := (&execution{pr: x.pr, t: t, caller: x.caller, corr: x.corr}).evalCtx(ctx)
	for _, res := range t.resources {
		if depth > 0 && res.condition {
			// What a nested deployment deploys (its outputResources,
			// which Complete mode keeps: deployedBy).
			p.keep[strings.ToLower(res.id)] = true
		}
		if !res.condition {
			continue
		}
		ch := whatIfChange{ResourceID: res.id}
		body, err := t.body(c, res)
		if err != nil {
			ch.ChangeType, ch.UnsupportedReason = "Unsupported", "The resource's properties cannot be known before the deployment runs: "+strings.TrimSuffix(err.Error(), ".")+"."
			if res.nested && p.unknown == "" {
				p.unknown = res.name
			}
			p.changes = append(p.changes, ch)
			continue
		}
		if res.nested {
			if reason := x.predictNested(ctx, t, res, body, p, depth); reason != "" {
				ch.ChangeType, ch.UnsupportedReason = "Unsupported", reason
				if p.unknown == "" {
					p.unknown = res.name
				}
				p.changes = append(p.changes, ch)
			}
			continue
		}
		after := map[string]any{"id": res.id, "name": res.name, "type": res.typ, "apiVersion": res.apiVersion}
		for k, v := range body {
			after[k] = v
		}
		st, _, b := x.call(ctx, http.MethodGet, res.id, "api-version="+url.QueryEscape(res.apiVersion), nil)
		switch {
		case st == http.StatusNotFound:
			ch.ChangeType, ch.After = "Create", after
		case st == http.StatusOK:
			var before map[string]any
			if json.Unmarshal(b, &before) != nil {
				ch.ChangeType, ch.UnsupportedReason = "Unsupported", "The resource's current state could not be read."
				break
			}
			ch.Before, ch.After = before, after
			diff(body, before, "", &ch.Delta)
			ch.ChangeType = "NoChange"
			if len(ch.Delta) > 0 {
				ch.ChangeType = "Modify"
			}
		default:
			return arm.ListedDetails(cloudErrorOf(st, b))
		}
		p.changes = append(p.changes, ch)
	}
	return nil
}

// predictNested adds to p the changes nested deployment res (its body
// evaluated) would make; else says why they cannot be known.
func (x *execution) predictNested(ctx context.Context, t *template, res *tres, body map[string]any, p *prediction, depth int) string {
	if depth >= maxWhatIfDepth {
		return fmt.Sprintf("The nested deployment is more than %d deployments deep: what it deploys is not expanded.", maxWhatIfDepth)
	}
	props, _ := body["properties"].(map[string]any)
	// The template and parameters as the nested deployment's PUT sends
	// them, read back as its PUT reads them.
	b, _ := json.Marshal(map[string]any{"template": props["template"], "parameters": props["parameters"]})
	v, err := decodeJSON(b)
	if err != nil {
		return "The nested deployment's template could not be read."
	}
	m := v.(map[string]any)
	tm, _ := m["template"].(map[string]any)
	given, _ := m["parameters"].(map[string]any)
	gid, err := arm.ParseID(res.scope)
	if err != nil {
		return "The nested deployment's resource group could not be read."
	}
	g, err := x.pr.groupOf(ctx, gid.SubscriptionID, gid.ResourceGroup)
	if err != nil {
		return "The nested deployment's resource group: " + strings.TrimSuffix(err.Error(), ".") + "."
	}
	nt, err := compile(tm, given, gid.SubscriptionID, g.Name, g.Location, t.tenant, res.name, t.now)
	if err != nil {
		return "The nested deployment's template is not valid: " + strings.TrimSuffix(err.Error(), ".") + "."
	}
	if err := x.predict(ctx, nt, p, depth+1); err != nil {
		return "The nested deployment's resources could not be read: " + strings.TrimSuffix(err.Error(), ".") + "."
	}
	return ""
}

// diff appends to out the properties the template sets (want) whose value
// in the resource as it is (have) differs, by their paths below prefix.
func diff(want, have map[string]any, prefix string, out *[]propertyChange) {
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		w := normalized(want[k])
		path := k
		if prefix != "" {
			path = prefix + "." + k
		}
		var h any
		found := false
		for hk, hv := range have {
			if strings.EqualFold(hk, k) {
				h, found = normalized(hv), true
			}
		}
		wm, wIsMap := w.(map[string]any)
		hm, hIsMap := h.(map[string]any)
		switch {
		case !found:
			*out = append(*out, propertyChange{Path: path, PropertyChangeType: "Create", After: w})
		case wIsMap && hIsMap:
			diff(wm, hm, path, out)
		case !sameValue(w, h):
			*out = append(*out, propertyChange{Path: path, PropertyChangeType: "Modify", Before: h, After: w})
		}
	}
}

// normalized is v as JSON decodes it (numbers float64).
func normalized(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	json.Unmarshal(b, &out)
	return out
}

// sameValue compares two JSON values, strings without regard to case (ARM
// reads locations, SKUs and enum values so).
func sameValue(a, b any) bool {
	if as, ok := a.(string); ok {
		bs, ok := b.(string)
		return ok && strings.EqualFold(as, bs)
	}
	return reflect.DeepEqual(a, b)
}
