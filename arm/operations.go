package arm

import "strings"

// OperationsCatalog answers GET /providers/{namespace}/operations: one entry
// per RBAC action the namespace's routes check (the actions role
// definitions name), in the shape ARM's operations APIs share.
func (rt *Router) OperationsCatalog(namespace, providerDisplay string) Handler {
	return func(r *Request) (*Response, error) {
		var out []any
		for _, a := range rt.Actions(namespace) {
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
