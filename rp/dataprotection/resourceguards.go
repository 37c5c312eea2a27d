package dataprotection

import (
	"net/http"
	"strings"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// Resource guards (Microsoft.DataProtection/resourceGuards): multi-user
// authorization for both vault kinds. A guard is a tracked resource, usually
// in a subscription or group the backup admin has no rights on; it lists the
// critical operations it protects (resource.GuardOperations, less its
// vaultCriticalOperationExclusionList), and under it the request objects
// each operation's callers name ({requestType}/default). Vaults link to a
// guard through their backupResourceGuardProxies (guardproxies.go), after
// which resource.CheckCritical authorizes their critical operations on the
// guard.

type guardResource struct {
	arm.TrackedResource
	SystemData *arm.SystemData  `json:"systemData,omitempty"`
	Properties *guardProperties `json:"properties"`
}

type guardProperties struct {
	ProvisioningState                   string           `json:"provisioningState"`
	AllowAutoApprovals                  bool             `json:"allowAutoApprovals"`
	ResourceGuardOperations             []guardOperation `json:"resourceGuardOperations"`
	VaultCriticalOperationExclusionList []string         `json:"vaultCriticalOperationExclusionList"`
	Description                         string           `json:"description,omitempty"`
}

type guardOperation struct {
	VaultCriticalOperation string `json:"vaultCriticalOperation"`
	RequestResourceType    string `json:"requestResourceType"`
}

// guardInput is what a PUT sets (the read-only properties are ignored).
type guardInput struct {
	Location   string            `json:"location"`
	Tags       map[string]string `json:"tags"`
	Properties *struct {
		VaultCriticalOperationExclusionList []string `json:"vaultCriticalOperationExclusionList"`
		Description                         string   `json:"description"`
	} `json:"properties"`
}

var guardName = newNameRule(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}[A-Za-z0-9_]$|^[A-Za-z0-9]$`, "resource guard", "use 1 to 64 letters, digits, '_', '.' and '-', starting with a letter or digit")

const defaultGuardDescription = "Critical operations on the vaults linked to this resource guard need permission on it."

// registerGuards adds the resource guard routes and the Backup vault's
// resource guard proxies (V is the vault path pattern).
func (pr *Provider) registerGuards(rt *arm.Router, sub, rg, V string) {
	G := rg + "/providers/Microsoft.DataProtection/resourceGuards/{resourceGuardsName}"
	listGuardsRG, listGuardsSub := scopedLists[guardResource](pr, resource.GuardType, nil)
	rt.HandleResource(G, arm.Methods{List: listGuardsRG, Get: pr.getGuard, Put: pr.putGuard, Patch: pr.patchGuard, Delete: pr.deleteGuard})
	rt.Handle("GET", sub+"/providers/Microsoft.DataProtection/resourceGuards", listGuardsSub)
	seen := map[string]bool{}
	for _, o := range resource.GuardOperations {
		if seen[o.Request] {
			continue
		}
		seen[o.Request] = true
		rt.HandleResource(G+"/"+o.Request+"/{requestName}", arm.Methods{List: pr.guardRequests(o, true), Get: pr.guardRequests(o, false)})
	}
	pr.registerProxies(rt, V)
}

func guardIDOf(r *arm.Request) arm.ResourceID {
	return arm.NewID(r.Param("subscriptionId"), r.Param("resourceGroupName"), namespace, "resourceGuards", r.Param("resourceGuardsName"))
}

// guardOperations are the operations a guard protects: every one less the
// excluded.
func guardOperations(excluded []string) []guardOperation {
	out := []guardOperation{}
	for _, o := range resource.GuardOperations {
		if !resource.Excluded(excluded, o.Vault) {
			out = append(out, guardOperation{VaultCriticalOperation: o.Vault, RequestResourceType: o.RequestType()})
		}
	}
	return out
}

// checkExclusions canonicalises the excluded operations: each a vault
// critical operation (or its request type).
func checkExclusions(in []string) ([]string, error) {
	out := []string{}
	for i, x := range in {
		found := ""
		for _, o := range resource.GuardOperations {
			if strings.EqualFold(x, o.Vault) {
				found = o.Vault
			} else if strings.EqualFold(x, o.RequestType()) && found == "" {
				found = o.Vault
			}
		}
		if found == "" {
			var allowed []string
			for _, o := range resource.GuardOperations {
				allowed = append(allowed, o.Vault)
			}
			return nil, fieldError("properties.vaultCriticalOperationExclusionList["+itoa(i)+"]", "'%s' is not a critical operation a resource guard protects; allowed values: '%s'", x, strings.Join(allowed, "', '"))
		}
		out = append(out, found)
	}
	return out, nil
}

func (pr *Provider) putGuard(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	in, name, err := decodeNamed[guardInput](r, "resourceGuardsName", guardName)
	if err != nil {
		return nil, err
	}
	if err := pr.checkPlacement(r, in.Location, resource.GuardType); err != nil {
		return nil, err
	}
	var excl []string
	desc := ""
	if in.Properties != nil {
		var err error
		if excl, err = checkExclusions(in.Properties.VaultCriticalOperationExclusionList); err != nil {
			return nil, err
		}
		desc = in.Properties.Description
	}
	id := guardIDOf(r)
	resp, err := putTracked(pr, r, id, func(tx store.Tx, old *guardResource) (*guardResource, error) {
		out := guardResource{TrackedResource: arm.TrackedResource{ID: id.String(), Name: name, Type: resource.GuardType, Location: resource.NormLocation(in.Location), Tags: in.Tags}}
		if old != nil {
			if resource.NormLocation(old.Location) != out.Location {
				return nil, fieldError("location", "'%s' differs from the resource guard's location '%s'; a resource guard cannot move", in.Location, old.Location)
			}
			out.ID, out.Name, out.SystemData = old.ID, old.Name, old.SystemData // (as created, whatever the path's casing)
			if desc == "" && old.Properties != nil {
				desc = old.Properties.Description
			}
		}
		if desc == "" {
			desc = defaultGuardDescription
		}
		if excl == nil {
			excl = []string{}
		}
		out.Properties = &guardProperties{ProvisioningState: "Succeeded", AllowAutoApprovals: true, ResourceGuardOperations: guardOperations(excl),
			VaultCriticalOperationExclusionList: excl, Description: desc}
		out.SystemData = arm.Touch(out.SystemData, r.Caller(), pr.p.Now())
		return &out, resource.Put(ctx, tx, id, &out)
	})
	if err == nil && resp.Status == http.StatusCreated && r.APIVersion[:min(len(r.APIVersion), 10)] < guardCreatedSince {
		resp.Status = http.StatusOK
	}
	return resp, err
}

// guardCreatedSince is the first api-version whose ResourceGuards_Put lists
// 201: before it the spec lists 200 alone, and the SDKs generated from it
// (armdataprotection v1 at 2022-04-01) take any other code, a 201 included,
// for an error, so a guard created at an older version answers 200.
const guardCreatedSince = "2024-04-01"

func (pr *Provider) guardFor(r *arm.Request) (*guardResource, error) {
	ctx := r.HTTP.Context()
	if err := resource.CheckResourceGroup(ctx, pr.p.Store, r.Param("subscriptionId"), r.Param("resourceGroupName")); err != nil {
		return nil, err
	}
	var g guardResource
	if err := resource.Get(ctx, pr.p.Store, guardIDOf(r), &g); err != nil {
		return nil, err
	}
	return &g, nil
}

func (pr *Provider) getGuard(r *arm.Request) (*arm.Response, error) {
	g, err := pr.guardFor(r)
	if err != nil {
		return nil, err
	}
	return arm.OK(g), nil
}

func (pr *Provider) patchGuard(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	var in struct {
		Tags map[string]string `json:"tags"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if _, err := pr.guardFor(r); err != nil {
		return nil, err
	}
	var out guardResource
	err := pr.p.Store.Update(ctx, func(tx store.Tx) error {
		if err := resource.Get(ctx, tx, guardIDOf(r), &out); err != nil {
			return err
		}
		if in.Tags != nil {
			out.Tags = in.Tags
		}
		out.SystemData = arm.Touch(out.SystemData, r.Caller(), pr.p.Now())
		return resource.Put(ctx, tx, guardIDOf(r), &out)
	})
	if err != nil {
		return nil, err
	}
	return arm.OK(&out), nil
}

// deleteGuard deletes a guard no vault is linked to: a linked guard would
// leave its vaults' critical operations unguarded behind their admins'
// backs, so its vaults must unlink first.
func (pr *Provider) deleteGuard(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	if err := resource.CheckResourceGroup(ctx, pr.p.Store, r.Param("subscriptionId"), r.Param("resourceGroupName")); err != nil {
		return nil, err
	}
	id := guardIDOf(r)
	deleted := false
	err := pr.p.Store.Update(ctx, func(tx store.Tx) error {
		var g guardResource
		if err := resource.Get(ctx, tx, id, &g); err != nil {
			if isNotFound(err) {
				return nil
			}
			return err
		}
		links, err := resource.GuardLinks(ctx, tx, g.ID)
		if err != nil {
			return err
		}
		if len(links) > 0 {
			return arm.Conflict("UserErrorResourceGuardInUse", "The resource guard '%s' protects %d vault(s) (for example through '%s'): the vaults must delete their resource guard proxies before the guard is deleted.", g.Name, len(links), links[0].ID)
		}
		deleted = true
		return resource.Delete(ctx, tx, id)
	})
	if err != nil {
		return nil, err
	}
	if !deleted {
		return arm.NoContent(), nil
	}
	return arm.OK(nil), nil
}

// guardRequests answers the request objects of operation o under a guard:
// its one request, "default" (list, or get by name).
func (pr *Provider) guardRequests(o resource.GuardOperation, list bool) arm.Handler {
	return func(r *arm.Request) (*arm.Response, error) {
		g, err := pr.guardFor(r)
		if err != nil {
			return nil, err
		}
		def := arm.ProxyResource{ID: g.ID + "/" + o.Request + "/default", Name: "default", Type: o.RequestType()}
		if list {
			return arm.OK(arm.Values([]arm.ProxyResource{def})), nil
		}
		if !strings.EqualFold(r.Param("requestName"), "default") {
			return nil, arm.Errorf(http.StatusNotFound, "ResourceNotFound", "The resource guard '%s' has no %s request '%s': its one request is 'default'.", g.Name, o.Request, r.Param("requestName"))
		}
		return arm.OK(def), nil
	}
}
