package deployments

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/safehold/safehold/arm"
)

// Complete mode: once the template's resources are deployed, the
// top-level resources of the deployment's resource group that the template
// does not name are deleted, each by a DELETE through the router as the
// caller (its authorization, locks and the resource's own rules: a vault
// that still protects items stays, and the deployment fails), as ARM's
// Complete mode deletes them. As in ARM: a resource whose condition is
// false is deleted too (it is not deployed; at an api-version of the
// deployment before 2019-05-10 it is kept), not one the template deploys
// a child of, nor what
// the template's nested deployments (at any depth) deployed, nor resources
// of other groups; extension and child resources are not listed. A
// resource managed by another (an attached disk) is left to it.

// leftover is a top-level resource of the group the template does not
// name.
type leftover struct {
	ID        string         `json:"id"`
	Type      string         `json:"type"`
	Name      string         `json:"name"`
	ManagedBy string         `json:"managedBy"`
	Raw       map[string]any `json:"-"`
}

// deletable reports whether Complete mode deletes l: not when another
// resource manages it (an attached disk).
func (l leftover) deletable() bool { return l.ManagedBy == "" }

// named are the ids (lower-cased) of the group's top-level resources t
// names: its resources (a false condition's only when t.keepFalse) and the
// parents of its child resources.
func (t *template) named() map[string]bool {
	out := map[string]bool{}
	for _, r := range t.resources {
		if !r.condition && !t.keepFalse {
			continue
		}
		id, err := arm.ParseID(r.id)
		if err != nil || id.Scope != "" || !strings.EqualFold(id.SubscriptionID, t.sub) || !strings.EqualFold(id.ResourceGroup, t.group) || id.Namespace == "" {
			continue
		}
		top, err := joinID(t.groupID(), id.Namespace+"/"+id.Types[0], []string{id.Names[0]})
		if err == nil {
			out[strings.ToLower(top)] = true
		}
	}
	return out
}

// keepsFalseConditions reports whether a deployment at apiVersion keeps,
// in Complete mode, the resources whose conditions are false: before
// 2019-05-10, as ARM (Azure CLI, PowerShell and the SDKs send later ones).
func keepsFalseConditions(apiVersion string) bool { return apiVersion < "2019-05-10" }

// nestedHere are t's nested deployments to its own group (what they
// deploy is known when they have run).
func (t *template) nestedHere() []*tres {
	var out []*tres
	for _, r := range t.resources {
		if r.nested && r.condition && strings.EqualFold(r.scope, t.groupID()) {
			out = append(out, r)
		}
	}
	return out
}

// leftovers lists, as the caller, the group's top-level resources t does
// not name (nor keep: more ids, lower-cased, not to list).
func (x *execution) leftovers(ctx context.Context, t *template, keep map[string]bool) ([]leftover, error) {
	named := t.named()
	var out []leftover
	path, query := t.groupID()+"/resources", "api-version=2021-04-01"
	for pages := 0; path != "" && pages < 1000; pages++ {
		st, _, b := x.call(ctx, http.MethodGet, path, query, nil)
		if st != http.StatusOK {
			return nil, cloudErrorOf(st, b)
		}
		var page struct {
			Value    []json.RawMessage `json:"value"`
			NextLink string            `json:"nextLink"`
		}
		if err := json.Unmarshal(b, &page); err != nil {
			return nil, arm.Errorf(http.StatusInternalServerError, "InternalServerError", "The resource group's resources could not be read: %v", err)
		}
		for _, v := range page.Value {
			var l leftover
			if json.Unmarshal(v, &l) != nil || l.ID == "" {
				continue
			}
			json.Unmarshal(v, &l.Raw)
			if k := strings.ToLower(l.ID); !named[k] && !keep[k] {
				out = append(out, l)
			}
		}
		path, query = "", ""
		if page.NextLink != "" {
			u, err := url.Parse(page.NextLink)
			if err != nil {
				break
			}
			path, query = u.EscapedPath(), u.RawQuery
		}
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].ID) < strings.ToLower(out[j].ID) })
	return out, nil
}

// deployedBy are the resources (lower-cased ids) t's nested deployments
// deployed, read from them as the caller: at any depth (a module's own
// modules are nested deployments of its template) and wherever they are
// placed (one in another group may place its own back in this one). One
// that cannot be read fails Complete mode rather than leaving what it
// deployed to be deleted.
func (x *execution) deployedBy(ctx context.Context, t *template) (map[string]bool, error) {
	keep := map[string]bool{}
	var next []string
	for _, r := range t.resources {
		if r.nested && r.condition {
			next = append(next, r.id)
		}
	}
	read := map[string]bool{}
	for len(next) > 0 { // each read once: a finite walk
		id := next[0]
		next = next[1:]
		if read[strings.ToLower(id)] {
			continue
		}
		read[strings.ToLower(id)] = true
		st, _, b := x.call(ctx, http.MethodGet, id, "api-version=2022-09-01", nil)
		if st != http.StatusOK {
			return nil, cloudErrorOf(st, b)
		}
		var d Deployment
		if err := json.Unmarshal(b, &d); err != nil {
			return nil, arm.Errorf(http.StatusInternalServerError, "InternalServerError", "The nested deployment '%s' could not be read: %v", id, err)
		}
		for _, o := range d.Properties.OutputResources {
			keep[strings.ToLower(o.ID)] = true
			if rid, err := arm.ParseID(o.ID); err == nil && rid.Scope == "" && strings.EqualFold(rid.Namespace, "Microsoft.Resources") && len(rid.Types) == 1 && strings.EqualFold(rid.Types[0], "deployments") {
				next = append(next, o.ID)
			}
		}
	}
	return keep, nil
}

// deleteRank orders Complete mode's deletions: virtual machines first,
// then network interfaces (which hold addresses, security groups and
// subnets), then the rest.
func deleteRank(typ string) int {
	switch strings.ToLower(typ) {
	case "microsoft.compute/virtualmachines":
		return 0
	case "microsoft.network/networkinterfaces":
		return 1
	}
	return 2
}

// deletions are the deletions of Complete mode, as items for deploy:
// each after those of a lower rank.
func (x *execution) deletions(ctx context.Context, t *template) ([]*tres, error) {
	keep, err := x.deployedBy(ctx, t)
	if err != nil {
		return nil, err
	}
	left, err := x.leftovers(ctx, t, keep)
	if err != nil {
		return nil, err
	}
	left = slices.DeleteFunc(left, func(l leftover) bool { return !l.deletable() })
	sort.SliceStable(left, func(i, j int) bool { return deleteRank(left[i].Type) < deleteRank(left[j].Type) })
	items := make([]*tres, 0, len(left))
	for i, l := range left {
		r := &tres{path: "(Complete mode)", typ: l.Type, name: l.Name, id: l.ID, apiVersion: x.versionFor(l.ID), condition: true, del: true}
		for j := range i {
			if deleteRank(left[j].Type) < deleteRank(l.Type) {
				r.deps = append(r.deps, j)
			}
		}
		items = append(items, r)
	}
	return items, nil
}

// deleteOne deletes resource r (a Complete mode deletion) and sets in o
// how to follow the deletion's operation: done when it has ended.
func (x *execution) deleteOne(ctx context.Context, r *tres, o *deployOp) (st int, done bool, e *arm.Error) {
	st, hdr, b := x.call(ctx, http.MethodDelete, r.id, "api-version="+url.QueryEscape(r.apiVersion), nil)
	if st == http.StatusNotFound {
		return http.StatusOK, true, nil // gone already
	}
	if st >= 400 {
		e := cloudErrorOf(st, b)
		if e.Target == "" {
			e.Target = r.id
		}
		return st, true, e
	}
	if as := hdr.Get("Azure-AsyncOperation"); as != "" {
		o.PollKind, o.PollURL = "async", as
		return st, false, nil
	}
	if loc := hdr.Get("Location"); loc != "" && st == http.StatusAccepted {
		o.PollKind, o.PollURL = "location", loc
		return st, false, nil
	}
	return st, true, nil
}
