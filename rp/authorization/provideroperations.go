package authorization

import (
	"net/http"
	"strings"

	"github.com/safehold/safehold/arm"
)

// Microsoft.Authorization/providerOperations: each resource provider's
// operations (the RBAC actions its routes check, in its operations
// catalog's wording), grouped by resource type, as az provider operation
// list and show and the SDKs' ProviderOperationsMetadata read them to
// write custom roles. Any signed-in caller may read them, as in Azure.
func (pr *Provider) registerProviderOperations(rt *arm.Router) {
	po := "/providers/Microsoft.Authorization/providerOperations"
	rt.Handle("GET", po, func(r *arm.Request) (*arm.Response, error) {
		var out []any
		for _, ns := range rt.Catalogs() {
			out = append(out, providerOperations(rt, ns))
		}
		l, err := arm.Page(r, out, 1000)
		if err != nil {
			return nil, err
		}
		return arm.OK(l), nil
	}, arm.NoAuthz())
	rt.Handle("GET", po+"/{resourceProviderNamespace}", func(r *arm.Request) (*arm.Response, error) {
		ns := r.Param("resourceProviderNamespace")
		if _, _, _, ok := rt.Catalog(ns); !ok {
			return nil, arm.Errorf(http.StatusNotFound, "InvalidResourceNamespace", "The resource namespace '%s' is invalid: Safehold serves the operations of %s.", ns, strings.Join(rt.Catalogs(), ", "))
		}
		return arm.OK(providerOperations(rt, ns)), nil
	}, arm.NoAuthz())
}

// providerOperations is the ProviderOperationsMetadata of namespace ns:
// the operations of each resource type under resourceTypes (the type is
// the action's path between the namespace and the verb,
// backupVaults/backupInstances for
// Microsoft.DataProtection/backupVaults/backupInstances/read), those of
// the namespace itself (Microsoft.RecoveryServices/register/action) under
// operations.
func providerOperations(rt *arm.Router, ns string) map[string]any {
	name, display, ops, _ := rt.Catalog(ns)
	byType := map[string][]any{}
	typeDisplay := map[string]string{}
	var types []string
	top := []any{}
	for _, o := range ops {
		op := map[string]any{"name": o.Name, "displayName": o.Operation, "description": o.Description, "origin": "user", "isDataAction": false}
		parts := strings.Split(o.Name, "/")
		end := len(parts) - 1
		if strings.EqualFold(parts[end], "action") && end > 1 {
			end--
		}
		typ := strings.Join(parts[1:end], "/")
		if typ == "" {
			top = append(top, op)
			continue
		}
		key := strings.ToLower(typ)
		if _, ok := byType[key]; !ok {
			types = append(types, key)
			typeDisplay[key] = typ
		}
		byType[key] = append(byType[key], op)
	}
	rts := make([]any, 0, len(types))
	for _, k := range types {
		rts = append(rts, map[string]any{"name": typeDisplay[k], "displayName": typeDisplay[k], "operations": byType[k]})
	}
	return map[string]any{"id": "/providers/Microsoft.Authorization/providerOperations/" + name, "name": name,
		"type": "Microsoft.Authorization/providerOperations", "displayName": display, "resourceTypes": rts, "operations": top}
}
