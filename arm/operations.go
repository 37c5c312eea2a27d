package arm

import "strings"

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
// generated wording.
func (rt *Router) PublishedCatalog(namespace, providerDisplay string, published []PublishedOperation) Handler {
	return func(r *Request) (*Response, error) {
		var out []any
		seen := map[string]bool{}
		for _, p := range published {
			seen[strings.ToLower(p.Name)] = true
			out = append(out, map[string]any{
				"name":         p.Name,
				"isDataAction": false,
				"origin":       "user",
				"display":      map[string]any{"provider": providerDisplay, "resource": p.Resource, "operation": p.Operation, "description": p.Description},
			})
		}
		for _, a := range rt.Actions(namespace) {
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
			out = append(out, map[string]any{
				"name":         a,
				"isDataAction": false,
				"origin":       "user",
				"display":      map[string]any{"provider": providerDisplay, "resource": res, "operation": op, "description": op},
			})
		}
		l, err := Page(r, out, 1000)
		if err != nil {
			return nil, err
		}
		return OK(l), nil
	}
}
