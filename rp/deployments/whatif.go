package deployments

import (
	"encoding/json"
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
// a resource it creates). The group's other top-level resources are
// listed too: Ignore in Incremental mode, Delete (as it is) in Complete
// mode, Ignore for one another resource manages (Complete mode leaves it),
// Unsupported when the template's nested deployments to the group decide
// it (what they deploy is known when they run). Nothing is written.
func (pr *Provider) whatIf(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	req, t, _, _, err := pr.prepare(r)
	if err != nil {
		return nil, err
	}
	x := &execution{pr: pr, t: t, caller: r.Caller(), corr: arm.CorrelationID(ctx)}
	c := x.evalCtx(ctx)
	changes := []whatIfChange{}
	for _, res := range t.resources {
		if !res.condition {
			continue
		}
		ch := whatIfChange{ResourceID: res.id}
		body, err := t.body(c, res)
		if err != nil {
			ch.ChangeType, ch.UnsupportedReason = "Unsupported", "The resource's properties cannot be known before the deployment runs: "+strings.TrimSuffix(err.Error(), ".")+"."
			changes = append(changes, ch)
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
			return nil, arm.ListedDetails(cloudErrorOf(st, b))
		}
		changes = append(changes, ch)
	}
	left, err := x.leftovers(ctx, t, nil)
	if err != nil {
		return nil, arm.ListedDetails(asCloud(err))
	}
	nested := t.nestedHere()
	for _, l := range left {
		ch := whatIfChange{ResourceID: l.ID, ChangeType: "Ignore"}
		switch {
		case req.Properties.Mode != "Complete" || !l.deletable():
		case len(nested) > 0:
			ch.ChangeType, ch.UnsupportedReason = "Unsupported", "Complete mode deletes it unless the template's nested deployment '"+nested[0].name+"' deploys it, which is known when that deployment runs."
		default:
			ch.ChangeType, ch.Before = "Delete", l.Raw
		}
		changes = append(changes, ch)
	}
	return arm.OK(map[string]any{"status": "Succeeded", "properties": map[string]any{"changes": changes}}), nil
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
