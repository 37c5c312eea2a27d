// Package network serves a minimal Microsoft.Network: virtual networks and
// their subnets, network security groups and their rules, public IP
// addresses and network interfaces, enough for what Azure Backup's users
// do around it (az vm create, a Recovery Services restore to a new VM in
// a named virtual network and subnet). References are kept as ARM keeps
// them: a network interface's ip configuration holds a private address of
// its subnet and names the public address and security group it uses, the
// subnet, the address and the group name it back, and a VM that uses the
// interface is named in its virtualMachine; what is in use cannot be
// deleted. A write answers as Azure's network provider does: the resource
// with its provisioningState, an etag and an Azure-AsyncOperation header
// (the work is done when it answers).
package network

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/uuid"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/arm/armops"
	"github.com/safehold/safehold/ops"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

const (
	namespace       = "Microsoft.Network"
	vnetType        = "Microsoft.Network/virtualNetworks"
	subnetType      = "Microsoft.Network/virtualNetworks/subnets"
	nsgType         = "Microsoft.Network/networkSecurityGroups"
	ruleType        = "Microsoft.Network/networkSecurityGroups/securityRules"
	defaultRuleType = "Microsoft.Network/networkSecurityGroups/defaultSecurityRules"
	pipType         = "Microsoft.Network/publicIPAddresses"
	nicType         = "Microsoft.Network/networkInterfaces"
	ipcType         = "Microsoft.Network/networkInterfaces/ipConfigurations"

	joinSubnet = "Microsoft.Network/virtualNetworks/subnets/join/action"
	joinPIP    = "Microsoft.Network/publicIPAddresses/join/action"
	joinNSG    = "Microsoft.Network/networkSecurityGroups/join/action"
)

// Provider serves Microsoft.Network. It is also compute's Network: the
// network interfaces a VM names are checked and marked used through it.
type Provider struct {
	p *resource.Platform
}

// Register implements resource.Provider.
func (pr *Provider) Register(rt *arm.Router, p *resource.Platform) error {
	pr.p = p
	rt.RegisterNamespace(arm.Namespace{Name: namespace, AnyVersion: true, Versions: arm.UnionVersions(arm.APIVersionsNetwork)})
	sub := "/subscriptions/{subscriptionId}"
	rg := sub + "/resourceGroups/{resourceGroupName}/providers/Microsoft.Network"
	subNS := sub + "/providers/Microsoft.Network"

	V := rg + "/virtualNetworks/{virtualNetworkName}"
	rt.HandleResource(V, wrapMethods(arm.Methods{List: pr.listIn(vnetType, wireVNet), Get: pr.getVNet, Put: pr.putVNet, Patch: pr.patchTags(vnetType), Delete: pr.deleteVNet}))
	rt.Handle("GET", subNS+"/virtualNetworks", arm.DetailsListed(pr.listIn(vnetType, wireVNet)))
	rt.HandleResource(V+"/subnets/{subnetName}", wrapMethods(arm.Methods{List: pr.listSubnets, Get: pr.getSubnet, Put: pr.putSubnet, Delete: pr.deleteSubnet}))

	G := rg + "/networkSecurityGroups/{networkSecurityGroupName}"
	rt.HandleResource(G, wrapMethods(arm.Methods{List: pr.listIn(nsgType, wireNSG), Get: pr.getNSG, Put: pr.putNSG, Patch: pr.patchTags(nsgType), Delete: pr.deleteNSG}))
	rt.Handle("GET", subNS+"/networkSecurityGroups", arm.DetailsListed(pr.listIn(nsgType, wireNSG)))
	rt.HandleResource(G+"/securityRules/{securityRuleName}", wrapMethods(arm.Methods{List: pr.listRules, Get: pr.getRule, Put: pr.putRule, Delete: pr.deleteRule}))
	rt.HandleResource(G+"/defaultSecurityRules/{defaultSecurityRuleName}", wrapMethods(arm.Methods{List: pr.listDefaultRules, Get: pr.getDefaultRule}))

	P := rg + "/publicIPAddresses/{publicIpAddressName}"
	rt.HandleResource(P, wrapMethods(arm.Methods{List: pr.listIn(pipType, wirePIP), Get: pr.getPIP, Put: pr.putPIP, Patch: pr.patchTags(pipType), Delete: pr.deletePIP}))
	rt.Handle("GET", subNS+"/publicIPAddresses", arm.DetailsListed(pr.listIn(pipType, wirePIP)))

	N := rg + "/networkInterfaces/{networkInterfaceName}"
	rt.HandleResource(N, wrapMethods(arm.Methods{List: pr.listIn(nicType, wireNIC), Get: pr.getNIC, Put: pr.putNIC, Patch: pr.patchTags(nicType), Delete: pr.deleteNIC}))
	rt.Handle("GET", subNS+"/networkInterfaces", arm.DetailsListed(pr.listIn(nicType, wireNIC)))
	rt.HandleResource(N+"/ipConfigurations/{ipConfigurationName}", wrapMethods(arm.Methods{List: pr.listIPConfigs, Get: pr.getIPConfig}))

	rt.Handle("GET", subNS+"/locations/{location}/operations/{operationId}", func(r *arm.Request) (*arm.Response, error) {
		return armops.StatusResponse(pr.p.Ops, r, r.Param("operationId"))
	}, arm.Action("Microsoft.Network/locations/operations/read"))
	rt.Handle("GET", subNS+"/locations/{location}/operationResults/{operationId}", func(r *arm.Request) (*arm.Response, error) {
		return armops.ResultResponse(pr.p.Ops, r, r.Param("operationId"))
	}, arm.Action("Microsoft.Network/locations/operationResults/read"))
	rt.Handle("GET", "/providers/Microsoft.Network/operations", rt.OperationsCatalog(namespace, "Microsoft Network"), arm.NoAuthz())

	p.OnDelete(nicType, 15, pr.cascadeNIC)
	p.OnDelete(pipType, 16, pr.cascadePIP)
	p.OnDeleteCheck(nicType, pr.checkNIC)
	p.OnDeleteCheck(pipType, pr.checkPIP)
	p.OnDeleteCheck(vnetType, pr.checkVNet)
	p.OnDeleteCheck(nsgType, pr.checkNSG)
	return nil
}

func wrapMethods(m arm.Methods) arm.Methods {
	for _, h := range []*arm.Handler{&m.List, &m.Get, &m.Put, &m.Patch, &m.Delete} {
		if *h != nil {
			*h = arm.DetailsListed(*h)
		}
	}
	return m
}

// Ref is a reference to another resource ({"id": ...}).
type Ref struct {
	ID string `json:"id"`
}

func newEtag() string { return `W/"` + uuid.NewString() + `"` }
func newGUID() string { return uuid.NewString() }
func refID(r *Ref) string {
	if r == nil {
		return ""
	}
	return r.ID
}

// idIn is the id of the resource the request's path names in its group.
func idIn(r *arm.Request, pairs ...string) arm.ResourceID {
	return arm.NewID(r.Param("subscriptionId"), r.Param("resourceGroupName"), namespace, pairs...)
}

// opPaths are an operation's Azure-AsyncOperation and Location paths.
func opPaths(r *arm.Request, location, opID string) (status, result string) {
	base := "/subscriptions/" + r.Param("subscriptionId") + "/providers/Microsoft.Network/locations/" + url.PathEscape(strings.ToLower(location))
	return base + "/operations/" + opID, base + "/operationResults/" + opID
}

// write runs change in a transaction with the operation that records it
// (done when it commits) and answers change's body: 201 for a resource it
// created, 200 otherwise, with Azure-AsyncOperation as Azure's network
// provider answers a PUT.
func (pr *Provider) write(r *arm.Request, resourceID string, change func(b *batch) (body any, location string, created bool, err error)) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	op := &ops.Operation{ID: ops.NewID(), Kind: "network.write", ResourceID: resourceID, Caller: r.Caller()}
	var body any
	var location string
	var created bool
	err := pr.p.Store.Update(ctx, func(tx store.Tx) error {
		b := newBatch(ctx, tx, pr.p)
		var err error
		if body, location, created, err = change(b); err != nil {
			return err
		}
		if err := b.flush(); err != nil {
			return err
		}
		// The body as stored (its etag is the one flush gave it).
		body = b.wireOf(body)
		op.StatusPath, _ = opPaths(r, location, op.ID)
		op.Location = resource.NormLocation(location)
		return pr.p.Ops.Completed(ctx, tx, op)
	})
	if err != nil {
		return nil, err
	}
	st, _ := opPaths(r, location, op.ID)
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	return arm.Status(status, body).Async(r, st, ""), nil
}

// remove runs del in a transaction with the operation that records it and
// answers 202 with both polling headers, or 204 when del found nothing.
func (pr *Provider) remove(r *arm.Request, resourceID string, del func(b *batch) (location string, found bool, err error)) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	op := &ops.Operation{ID: ops.NewID(), Kind: "network.delete", ResourceID: resourceID, Caller: r.Caller(), ResultStatus: http.StatusOK}
	var location string
	var found bool
	err := pr.p.Store.Update(ctx, func(tx store.Tx) error {
		b := newBatch(ctx, tx, pr.p)
		var err error
		if location, found, err = del(b); err != nil || !found {
			return err
		}
		if err := b.flush(); err != nil {
			return err
		}
		op.StatusPath, _ = opPaths(r, location, op.ID)
		op.Location = resource.NormLocation(location)
		return pr.p.Ops.Completed(ctx, tx, op)
	})
	if err != nil {
		return nil, err
	}
	if !found {
		return arm.NoContent(), nil
	}
	st, res := opPaths(r, location, op.ID)
	return arm.Accepted().Async(r, st, res), nil
}

// checkGroup is the 404 of a request naming a resource group that does
// not exist.
func (pr *Provider) checkGroup(r *arm.Request) error {
	return resource.CheckResourceGroup(r.HTTP.Context(), pr.p.Store, r.Param("subscriptionId"), r.Param("resourceGroupName"))
}

// tracked reads a new or changed tracked resource's location and tags from
// a PUT: the location is required and known; it may not change.
type trackedIn struct {
	Location string            `json:"location"`
	Tags     map[string]string `json:"tags"`
}

func (in *trackedIn) check(typ string) (string, error) {
	loc := resource.NormLocation(in.Location)
	if loc == "" {
		return "", arm.BadRequest("LocationRequired", "The location property is required for this definition.")
	}
	if err := resource.CheckLocation(in.Location, typ); err != nil {
		return "", err
	}
	return loc, nil
}

// sameLocation refuses moving an existing resource to another location.
func sameLocation(t *arm.TrackedResource, loc string) error {
	if t.ID != "" && !strings.EqualFold(t.Location, loc) {
		return arm.Errorf(http.StatusConflict, "InvalidResourceLocation", "The resource '%s' already exists in location '%s' in resource group '%s'. A resource with the same name cannot be created in location '%s'. Please select a new resource name.", t.Name, t.Location, mustRG(t.ID), loc)
	}
	return nil
}

func mustRG(id string) string {
	rid, _ := arm.ParseID(id)
	return rid.ResourceGroup
}

// refNotFound is Azure's 400 for a reference to a resource that does not
// exist (or is in another region).
func refNotFound(ref, by string) error {
	return arm.BadRequest("InvalidResourceReference", "Resource %s referenced by resource %s was not found. Please make sure that the referenced resource exists, and that both resources are in the same region.", ref, by)
}

// patchTags is a tracked resource's PATCH (Azure's UpdateTags): its tags
// replaced.
func (pr *Provider) patchTags(typ string) arm.Handler {
	return func(r *arm.Request) (*arm.Response, error) {
		var in struct {
			Tags map[string]string `json:"tags"`
		}
		if err := r.Decode(&in); err != nil {
			return nil, err
		}
		rid, err := arm.ParseID(r.Path())
		if err != nil {
			return nil, err
		}
		ctx := r.HTTP.Context()
		var out any
		err = pr.p.Store.Update(ctx, func(tx store.Tx) error {
			b := newBatch(ctx, tx, pr.p)
			t, err := b.tracked(typ, rid)
			if err != nil {
				return err
			}
			if in.Tags != nil {
				t.Tags = in.Tags
			}
			if err := b.flush(); err != nil {
				return err
			}
			out = b.wireOf(b.docOf(typ, rid))
			return nil
		})
		if err != nil {
			return nil, err
		}
		return arm.OK(out), nil
	}
}

// listIn answers the resources of typ in the path's resource group, or in
// its subscription when it names none.
func (pr *Provider) listIn(typ string, view func(json.RawMessage) (any, error)) arm.Handler {
	return func(r *arm.Request) (*arm.Response, error) {
		ctx := r.HTTP.Context()
		scope := "/subscriptions/" + r.Param("subscriptionId")
		if rg := r.Param("resourceGroupName"); rg != "" {
			if err := pr.checkGroup(r); err != nil {
				return nil, err
			}
			scope += "/resourceGroups/" + rg
		} else if err := resource.CheckSubscription(ctx, pr.p.Store, r.Param("subscriptionId")); err != nil {
			return nil, err
		}
		raws, err := resource.List[json.RawMessage](ctx, pr.p.Store, typ, scope)
		if err != nil {
			return nil, err
		}
		out := make([]any, 0, len(raws))
		for _, raw := range raws {
			v, err := view(raw)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return arm.PageOK(r, out, 1000)
	}
}

// groupOf is the resource group scope of an id ("" when it has none).
func groupOf(id string) string {
	rid, err := arm.ParseID(id)
	if err != nil {
		return ""
	}
	return rid.ResourceGroupID()
}

// under reports whether id is at or below scope.
func under(id, scope string) bool {
	id, scope = strings.ToLower(id), strings.ToLower(strings.TrimRight(scope, "/"))
	return id == scope || strings.HasPrefix(id, scope+"/")
}

var _ = context.Background
