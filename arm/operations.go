package arm

import (
	"slices"
	"strings"
)

// PublishedOperation is one entry of a provider's published operations
// catalog, in its own wording: the RBAC action, and the display's
// resource, operation and description.
type PublishedOperation struct {
	Name, Resource, Operation, Description string
}

// Published is a catalog table of rows (name, resource, operation,
// description), as the providers write Azure's catalogs, for
// PublishedCatalog.
func Published(rows [][4]string) []PublishedOperation {
	out := make([]PublishedOperation, len(rows))
	for i, o := range rows {
		out[i] = PublishedOperation{Name: o[0], Resource: o[1], Operation: o[2], Description: o[3]}
	}
	return out
}

// OperationsCatalog answers GET /providers/{namespace}/operations: one entry
// per RBAC action the namespace's routes check (the actions role
// definitions name), in the shape ARM's operations APIs share.
func (rt *Router) OperationsCatalog(namespace, providerDisplay string) Handler {
	return rt.PublishedCatalog(namespace, providerDisplay, nil)
}

// PublishedCatalog is OperationsCatalog for a provider whose catalog Azure
// publishes: the published entries first, as published (Azure's catalog
// describes the provider's RBAC actions, those of features Safehold does
// not serve included, and clients build role definitions from it), then
// the actions of the routes the published catalog does not name, in the
// generated wording. The router keeps the catalog for Catalog
// (Microsoft.Authorization's providerOperations).
func (rt *Router) PublishedCatalog(namespace, providerDisplay string, published []PublishedOperation) Handler {
	if rt.catalogs == nil {
		rt.catalogs = map[string]catalog{}
	}
	rt.catalogs[strings.ToLower(namespace)] = catalog{namespace: namespace, display: providerDisplay, published: published}
	return func(r *Request) (*Response, error) {
		ops := rt.catalogOperations(rt.catalogs[strings.ToLower(namespace)])
		out := make([]any, len(ops))
		for i, o := range ops {
			out[i] = map[string]any{
				"name":         o.Name,
				"isDataAction": false,
				"origin":       "user",
				"display":      map[string]any{"provider": providerDisplay, "resource": o.Resource, "operation": o.Operation, "description": o.Description},
			}
		}
		l, err := Page(r, out, 1000)
		if err != nil {
			return nil, err
		}
		return OK(l), nil
	}
}

// catalog is what PublishedCatalog was given for a namespace.
type catalog struct {
	namespace, display string
	published          []PublishedOperation
}

// catalogOperations lists c's operations: the published ones, then the
// actions of the namespace's routes they do not name, in the generated
// wording.
func (rt *Router) catalogOperations(c catalog) []PublishedOperation {
	out := append([]PublishedOperation(nil), c.published...)
	seen := map[string]bool{}
	for _, p := range c.published {
		seen[strings.ToLower(p.Name)] = true
	}
	for _, a := range rt.Actions(c.namespace) {
		if seen[strings.ToLower(a)] {
			continue
		}
		parts := strings.Split(a, "/")
		verb := parts[len(parts)-1]
		res := strings.Join(parts[1:len(parts)-1], "/")
		if verb == "action" && len(parts) > 2 {
			res = strings.Join(parts[1:len(parts)-2], "/")
			verb = parts[len(parts)-2]
		}
		op := map[string]string{"read": "Read " + res, "write": "Create or update " + res, "delete": "Delete " + res}[verb]
		if op == "" {
			op = verb + " on " + res
		}
		out = append(out, PublishedOperation{Name: a, Resource: res, Operation: op, Description: op})
	}
	return out
}

// Catalog returns the operations catalog of namespace (any case) as its
// /providers/{namespace}/operations answers it: the namespace's name as
// registered, the provider's display name and the operations; ok is false
// for a namespace that has no catalog.
func (rt *Router) Catalog(namespace string) (name, display string, ops []PublishedOperation, ok bool) {
	c, ok := rt.catalogs[strings.ToLower(namespace)]
	if !ok {
		return "", "", nil, false
	}
	return c.namespace, c.display, rt.catalogOperations(c), true
}

// Catalogs lists the namespaces that have an operations catalog, sorted.
func (rt *Router) Catalogs() []string {
	out := make([]string, 0, len(rt.catalogs))
	for _, c := range rt.catalogs {
		out = append(out, c.namespace)
	}
	slices.Sort(out)
	return out
}
