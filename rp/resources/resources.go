// Package resources serves Microsoft.Resources: subscriptions, tenants,
// providers (always Registered), locations, resource groups and generic
// resource listing.
package resources

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/arm/armops"
	"github.com/safehold/safehold/ops"
	"github.com/safehold/safehold/rbac"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// Subscription is a stored subscription.
type Subscription struct {
	ID                   string         `json:"id"`
	SubscriptionID       string         `json:"subscriptionId"`
	TenantID             string         `json:"tenantId"`
	DisplayName          string         `json:"displayName"`
	State                string         `json:"state"`
	SubscriptionPolicies map[string]any `json:"subscriptionPolicies"`
	AuthorizationSource  string         `json:"authorizationSource"`
	// ManagedByTenants are the tenants managing the subscription through
	// Azure Lighthouse: none here, an empty list as Azure answers it.
	ManagedByTenants []ManagedByTenant `json:"managedByTenants"`
	// Tags are the subscription's (the Tags API at the subscription's
	// scope writes them).
	Tags map[string]string `json:"tags,omitempty"`
}

// ManagedByTenant is a tenant of a subscription's managedByTenants.
type ManagedByTenant struct {
	TenantID string `json:"tenantId"`
}

// NewSubscription returns a subscription body.
func NewSubscription(id, tenant, name string) Subscription {
	return Subscription{ID: "/subscriptions/" + id, SubscriptionID: id, TenantID: tenant, DisplayName: name, State: "Enabled",
		SubscriptionPolicies: map[string]any{"locationPlacementId": "Public_2014-09-01", "quotaId": "PayAsYouGo_2014-09-01", "spendingLimit": "Off"},
		AuthorizationSource:  "RoleBased", ManagedByTenants: []ManagedByTenant{}}
}

// PutSubscription stores a subscription.
func PutSubscription(ctx context.Context, tx store.Tx, s Subscription) error {
	b, _ := json.Marshal(s)
	return tx.Put(ctx, store.Doc{Kind: resource.SubscriptionKind, Key: s.SubscriptionID, Value: b})
}

// ResourceGroup is a resource group resource (its document lives in
// resource, so that providers below this one can create groups).
type ResourceGroup = resource.ResourceGroup

// Locations are the regions Safehold reports; resources may use any of them.
var Locations = resource.Locations

// Provider serves Microsoft.Resources.
type Provider struct {
	p  *resource.Platform
	rt *arm.Router
}

// Register implements server.Provider.
func (pr *Provider) Register(rt *arm.Router, p *resource.Platform) error {
	pr.p, pr.rt = p, rt
	rt.RegisterNamespace(arm.Namespace{Name: "Microsoft.Resources", AnyVersion: true, Versions: arm.APIVersionsResources})
	rt.Handle("GET", "/subscriptions", pr.listSubscriptions, arm.NoAuthz())
	rt.Handle("GET", "/tenants", pr.listTenants, arm.NoAuthz())
	rt.Handle("GET", "/subscriptions/{subscriptionId}", pr.getSubscription)
	rt.Handle("GET", "/subscriptions/{subscriptionId}/locations", pr.listLocations, arm.Action("Microsoft.Resources/subscriptions/read"))
	rt.Handle("GET", "/subscriptions/{subscriptionId}/providers", pr.listProviders, arm.Action("Microsoft.Resources/subscriptions/read"))
	rt.Handle("GET", "/subscriptions/{subscriptionId}/providers/{namespace}", pr.getProvider, arm.Action("Microsoft.Resources/subscriptions/read"))
	rt.Handle("POST", "/subscriptions/{subscriptionId}/providers/{namespace}/register", pr.registerProvider, arm.Action("Microsoft.Resources/subscriptions/read"))
	rt.Handle("POST", "/subscriptions/{subscriptionId}/providers/{namespace}/unregister", pr.unregisterProvider, arm.Action("Microsoft.Resources/subscriptions/read"))
	rt.Handle("GET", "/subscriptions/{subscriptionId}/providers/{namespace}/resourceTypes", pr.providerResourceTypes, arm.Action("Microsoft.Resources/subscriptions/read"))
	rt.Handle("GET", "/subscriptions/{subscriptionId}/providers/{namespace}/providerPermissions", pr.providerPermissions, arm.Action("Microsoft.Resources/subscriptions/read"))
	rt.Handle("POST", "/subscriptions/{subscriptionId}/providers/Microsoft.Resources/checkZonePeers", pr.checkZonePeers, arm.Action("Microsoft.Resources/subscriptions/read"))
	// Any signed-in caller may check a name, as in ARM.
	rt.Handle("POST", "/providers/Microsoft.Resources/checkResourceName", pr.checkResourceName, arm.NoAuthz())
	rt.Handle("POST", "/providers/Microsoft.Resources/calculateTemplateHash", pr.calculateTemplateHash, arm.NoAuthz())
	// The tenant's providers (no registration state) and Microsoft.Resources'
	// operations, which any signed-in caller may read, as in ARM.
	rt.Handle("GET", "/providers", pr.listProviders, arm.NoAuthz())
	rt.Handle("GET", "/providers/{namespace}", pr.getProvider, arm.NoAuthz())
	rt.Handle("GET", "/providers/Microsoft.Resources/operations", rt.OperationsCatalog("Microsoft.Resources", "Microsoft Resources"), arm.NoAuthz())
	rt.Handle("GET", "/subscriptions/{subscriptionId}/resources", pr.listSubResources, arm.Action("Microsoft.Resources/subscriptions/resources/read"))
	rt.Handle("GET", "/subscriptions/{subscriptionId}/resourceGroups", pr.listGroups, arm.NoAuthz()) // filtered per group below
	resource.PrefetchList("Microsoft.Resources/resourceGroups", func(sub string) []store.Read {
		return []store.Read{resource.ListRead("Microsoft.Resources/resourceGroups", sub)}
	})
	rg := "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}"
	rt.HandleResource(rg, arm.Methods{Get: pr.getGroup, Put: pr.putGroup, Patch: pr.patchGroup, Delete: pr.deleteGroup})
	rt.Handle("HEAD", rg, pr.headGroup)
	rt.Handle("GET", "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/resources", pr.listGroupResources, arm.Action("Microsoft.Resources/subscriptions/resourceGroups/resources/read"))
	rt.Handle("GET", "/subscriptions/{subscriptionId}/operationresults/{operationId}", pr.operationResult, arm.NoAuthz())
	rt.Handle("POST", rg+"/moveResources", pr.moveResources, arm.Action("Microsoft.Resources/subscriptions/resourceGroups/moveResources/action"))
	rt.Handle("POST", rg+"/validateMoveResources", pr.moveResources, arm.Action("Microsoft.Resources/subscriptions/resourceGroups/validateMoveResources/action"))
	rt.Handle("POST", rg+"/exportTemplate", pr.exportTemplate, arm.Action("Microsoft.Resources/subscriptions/resourceGroups/exportTemplate/action"))
	pr.registerTags(rt)
	// Light: a group's delete removes records and files (its resources'
	// cascades), never copies disk data, so it runs beside backups instead
	// of queueing behind them.
	p.Ops.RegisterLight("resourcegroup.delete", pr.runDeleteGroup)
	return nil
}

func (pr *Provider) subscriptions(ctx context.Context) ([]Subscription, error) {
	return store.ListJSON[Subscription](ctx, pr.p.Store, resource.SubscriptionKind, store.ListQuery{}, "subscription")
}

func (pr *Provider) listSubscriptions(r *arm.Request) (*arm.Response, error) {
	subs, err := pr.subscriptions(r.HTTP.Context())
	if err != nil {
		return nil, err
	}
	// As in ARM, a subscription is listed to a caller who may read it or
	// something in it (a role on one of its resource groups), or who holds
	// any role there (Backup Operator, say, grants no read of the
	// subscription): az login finds no subscription otherwise.
	const read = "Microsoft.Resources/subscriptions/read"
	ctx, caller := r.HTTP.Context(), r.Caller().ObjectID
	var visible []Subscription
	for _, s := range subs {
		if s.ManagedByTenants == nil { // stored before managedByTenants was answered
			s.ManagedByTenants = []ManagedByTenant{}
		}
		if pr.p.Authorize == nil || pr.p.Authorize(ctx, caller, read, s.ID) == nil || r.GrantedBelow(read, s.ID) ||
			(pr.p.AssignedWithin != nil && pr.p.AssignedWithin(ctx, caller, s.ID)) {
			visible = append(visible, s)
		}
	}
	return pageOf(r, visible)
}

func pageOf[T any](r *arm.Request, items []T) (*arm.Response, error) {
	return arm.PageOK(r, items, groupPage)
}

// groupPage is how many items a page of this provider's lists holds.
const groupPage = 1000

func (pr *Provider) listTenants(r *arm.Request) (*arm.Response, error) {
	t := pr.p.TenantID
	return arm.OK(arm.Values([]any{map[string]any{"id": "/tenants/" + t, "tenantId": t, "tenantCategory": "Home", "displayName": "Safehold", "defaultDomain": "safehold.local", "domains": []string{"safehold.local"}, "tenantType": "AAD"}})), nil
}

func (pr *Provider) getSubscription(r *arm.Request) (*arm.Response, error) {
	d, err := pr.p.Store.Get(r.HTTP.Context(), resource.SubscriptionKind, r.Param("subscriptionId"))
	if errors.Is(err, store.ErrNotFound) {
		return nil, arm.Errorf(http.StatusNotFound, "SubscriptionNotFound", "The subscription '%s' could not be found.", r.Param("subscriptionId"))
	}
	if err != nil {
		return nil, err
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(d.Value, &body); err != nil {
		return nil, err
	}
	if _, ok := body["managedByTenants"]; !ok { // stored before it was answered
		body["managedByTenants"] = json.RawMessage("[]")
	}
	return arm.OK(body), nil
}

func (pr *Provider) listLocations(r *arm.Request) (*arm.Response, error) {
	if err := resource.CheckSubscription(r.HTTP.Context(), store.Prefetched(r.HTTP.Context(), pr.p.Store), r.Param("subscriptionId")); err != nil {
		return nil, err
	}
	sub := r.Param("subscriptionId")
	var out []any
	for _, l := range Locations {
		info := resource.LocationInfos[l]
		category := "Other"
		if info.Recommended {
			category = "Recommended"
		}
		place := resource.LocationPlaces[l]
		metadata := map[string]any{"regionType": "Physical", "regionCategory": category, "geographyGroup": info.GeographyGroup, "geography": info.Geography,
			"latitude": place.Latitude, "longitude": place.Longitude, "physicalLocation": place.PhysicalLocation}
		if place.Paired != "" {
			metadata["pairedRegion"] = []any{map[string]any{"name": place.Paired, "id": "/subscriptions/" + sub + "/locations/" + place.Paired}}
		}
		// A region with zones has three, as the compute SKUs list them
		// (Microsoft.Compute/skus); the subscription's logical zones map
		// to the region's physical ones its own way. A region without
		// zones answers no mappings, as Azure's list does.
		var zones []any
		for _, m := range resource.ZoneMapping(sub, l) {
			zones = append(zones, map[string]any{"logicalZone": m[0], "physicalZone": m[1]})
		}
		loc := map[string]any{"id": "/subscriptions/" + sub + "/locations/" + l, "name": l, "type": "Region",
			"displayName": info.DisplayName, "regionalDisplayName": info.RegionalDisplayName(), "metadata": metadata}
		if zones != nil {
			loc["availabilityZoneMappings"] = zones
		}
		out = append(out, loc)
	}
	return arm.OK(arm.Values(out)), nil
}

// providerBody is a provider as GET /subscriptions/{sub}/providers/{ns}
// shows it (GET /providers/{ns}, the tenant's, when sub is ""): one entry
// per resource type the namespace serves, each with the api-versions the
// router accepts for that type (arm.TypeVersions, else every version of
// the namespace), newest first, and the newest stable one as its default.
func (pr *Provider) providerBody(sub string, ns arm.Namespace) map[string]any {
	rts := pr.resourceTypes(ns)
	if sub == "" {
		return map[string]any{"id": "/providers/" + ns.Name, "namespace": ns.Name, "resourceTypes": rts}
	}
	return map[string]any{"id": "/subscriptions/" + sub + "/providers/" + ns.Name, "namespace": ns.Name, "registrationState": "Registered", "registrationPolicy": "RegistrationRequired",
		"resourceTypes": rts}
}

// resourceTypes lists the resource types of ns as its provider shows them.
func (pr *Provider) resourceTypes(ns arm.Namespace) []any {
	nsVersions := arm.UnionVersions(ns.Versions)
	types := pr.rt.ResourceTypes(ns.Name)
	if strings.EqualFold(ns.Name, "Microsoft.Resources") {
		types = []string{"locations", "operations", "providers", "resourceGroups", "resources", "subscriptions", "subscriptions/locations", "subscriptions/providers", "subscriptions/resourceGroups", "subscriptions/resources", "subscriptions/tagNames", "tags", "tenants"}
	}
	tracked := pr.trackedTypes(ns.Name)
	rts := make([]any, 0, len(types))
	for _, t := range types {
		versions := nsVersions
		if _, vs, ok := arm.TypeVersions(ns.Name, t); ok {
			versions = vs
		}
		// As ARM answers them: the regions by display name, and a
		// tracked type (a resource of a resource group that takes a
		// location and tags) says so.
		capabilities := "None"
		if tracked[strings.ToLower(t)] {
			capabilities = "SupportsTags, SupportsLocation"
		}
		e := map[string]any{"resourceType": t, "locations": locationDisplayNames, "apiVersions": versions, "capabilities": capabilities}
		if def := defaultVersion(versions); def != "" {
			e["defaultApiVersion"] = def
		}
		if t == "operations" || strings.HasPrefix(t, "locations") {
			e["locations"] = []string{}
		}
		rts = append(rts, e)
	}
	if len(rts) == 0 {
		rts = append(rts, map[string]any{"resourceType": "*", "locations": locationDisplayNames, "apiVersions": nsVersions})
	}
	return rts
}

// defaultVersion is the newest stable version of vs (newest first), "" if
// none.
func defaultVersion(vs []string) string {
	for _, v := range vs {
		if !arm.IsPreviewVersion(v) {
			return v
		}
	}
	return ""
}

// locationDisplayNames are Locations by display name ("East US"), as a
// provider's resource types list their regions in ARM.
var locationDisplayNames = func() []string {
	out := make([]string, len(Locations))
	for i, l := range Locations {
		out[i] = resource.LocationInfos[l].DisplayName
	}
	return out
}()

// trackedTypes are the types of namespace ns (lower case) that are
// tracked resources: created by a PUT of a resource group's
// providers/{ns}/{type}/{name}, a top-level type, which takes a location
// and tags.
func (pr *Provider) trackedTypes(ns string) map[string]bool {
	out := map[string]bool{}
	param := func(seg string) bool { return strings.HasPrefix(seg, "{") }
	for _, ri := range pr.rt.Routes() {
		seg := strings.Split(strings.Trim(ri.Pattern, "/"), "/")
		if ri.Method != http.MethodPut || len(seg) != 8 || !strings.EqualFold(seg[0], "subscriptions") || !param(seg[1]) ||
			!strings.EqualFold(seg[2], "resourceGroups") || !param(seg[3]) || !strings.EqualFold(seg[4], "providers") ||
			!strings.EqualFold(seg[5], ns) || param(seg[6]) || !param(seg[7]) {
			continue
		}
		out[strings.ToLower(seg[6])] = true
	}
	return out
}

func (pr *Provider) listProviders(r *arm.Request) (*arm.Response, error) {
	var out []any
	for _, ns := range pr.rt.Namespaces() {
		out = append(out, pr.providerBody(r.Param("subscriptionId"), ns))
	}
	return arm.OK(arm.Values(out)), nil
}

// namespaceParam is the namespace the request's path names (any case).
func (pr *Provider) namespaceParam(r *arm.Request) (arm.Namespace, error) {
	name := r.Param("namespace")
	for _, ns := range pr.rt.Namespaces() {
		if strings.EqualFold(ns.Name, name) {
			return ns, nil
		}
	}
	return arm.Namespace{}, arm.Errorf(http.StatusNotFound, "InvalidResourceNamespace", "The resource namespace '%s' is invalid.", name)
}

func (pr *Provider) getProvider(r *arm.Request) (*arm.Response, error) {
	ns, err := pr.namespaceParam(r)
	if err != nil {
		return nil, err
	}
	return arm.OK(pr.providerBody(r.Param("subscriptionId"), ns)), nil
}

func (pr *Provider) registerProvider(r *arm.Request) (*arm.Response, error) {
	return pr.getProvider(r)
}

// unregisterProvider refuses: Safehold's providers are registered in every
// subscription for good.
func (pr *Provider) unregisterProvider(r *arm.Request) (*arm.Response, error) {
	ns, err := pr.namespaceParam(r)
	if err != nil {
		return nil, err
	}
	return nil, arm.BadRequest("OperationNotSupported", "The resource provider '%s' cannot be unregistered: Safehold's resource providers are registered in every subscription.", ns.Name)
}

// providerResourceTypes answers GET /subscriptions/{s}/providers/{ns}/resourceTypes.
func (pr *Provider) providerResourceTypes(r *arm.Request) (*arm.Response, error) {
	ns, err := pr.namespaceParam(r)
	if err != nil {
		return nil, err
	}
	return arm.OK(arm.Values(pr.resourceTypes(ns))), nil
}

func rgID(sub, rg string) arm.ResourceID {
	return arm.ResourceID{SubscriptionID: sub, ResourceGroup: rg}
}

var (
	tagNameRE = regexp.MustCompile(`(?i)^\s*tagName\s+eq\s+'([^']*)'\s*(?:and\s+tagValue\s+eq\s+'([^']*)'\s*)?$`)
)

// tagFilter parses ARM's resource-group $filter: tagName eq 'n' [and tagValue eq 'v'].
func tagFilter(f string) (name, value string, err error) {
	if strings.TrimSpace(f) == "" {
		return "", "", nil
	}
	m := tagNameRE.FindStringSubmatch(f)
	if m == nil {
		return "", "", arm.BadRequest("InvalidFilterInQueryString", "The $filter '%s' is not supported: use tagName eq 'name' [and tagValue eq 'value'].", f)
	}
	return m[1], m[2], nil
}

func lookupTag(tags map[string]string, name string) (string, bool) {
	for k, v := range tags {
		if strings.EqualFold(k, name) {
			return v, true
		}
	}
	return "", false
}

func validRGName(n string) bool {
	if len(n) == 0 || len(n) > 90 || strings.HasSuffix(n, ".") {
		return false
	}
	for _, c := range n {
		if unicode.IsLetter(c) || unicode.IsDigit(c) {
			continue
		}
		if !strings.ContainsRune("-_.()", c) {
			return false
		}
	}
	return true
}

func (pr *Provider) getRG(ctx context.Context, r store.Reader, sub, name string) (*ResourceGroup, error) {
	var g ResourceGroup
	if err := resource.Get(ctx, r, rgID(sub, name), &g); err != nil {
		if arm.IsNotFound(err) {
			return nil, arm.Errorf(http.StatusNotFound, "ResourceGroupNotFound", "Resource group '%s' could not be found.", name)
		}
		return nil, err
	}
	return &g, nil
}

// groupProperties is what a resource group PUT or PATCH may send as its
// properties (provisioningState, read-only and ignored): ARM's
// ResourceGroupProperties. Anything but an object is 400
// InvalidRequestContent naming 'properties', as ARM answers it (a string
// was accepted).
type groupProperties struct {
	ProvisioningState *string `json:"provisioningState"`
}

func (pr *Provider) putGroup(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	sub, name := r.Param("subscriptionId"), r.Param("resourceGroupName")
	if !validRGName(name) {
		return nil, arm.BadRequest("InvalidResourceGroup", "The provided resource group name '%s' has these invalid characters or length: use 1-90 letters, digits, '-', '_', '.', '(' or ')', not ending in '.'.", name)
	}
	var body struct {
		Location   string            `json:"location"`
		Tags       map[string]string `json:"tags"`
		ManagedBy  string            `json:"managedBy"`
		Properties *groupProperties  `json:"properties"` // read-only, but not anything
	}
	if err := r.Decode(&body); err != nil {
		return nil, err
	}
	if body.Location == "" {
		return nil, arm.BadRequest("LocationRequired", "The location property is required for this definition.")
	}
	loc := resource.NormLocation(body.Location)
	if !resource.KnownLocation(loc) {
		return nil, arm.BadRequest("LocationNotAvailableForResourceGroup", "The provided location '%s' is not available for resource group. List of available regions is '%s'.", body.Location, strings.Join(Locations, ","))
	}
	created := false
	var g *ResourceGroup
	err := pr.p.Store.Update(ctx, func(tx store.Tx) error {
		if err := resource.CheckSubscription(ctx, tx, sub); err != nil {
			return err
		}
		old, err := pr.getRG(ctx, tx, sub, name)
		if err != nil {
			if !arm.IsNotFound(err) {
				return err
			}
			created = true
			g = &ResourceGroup{ID: rgID(sub, name).String(), Name: name, Type: "Microsoft.Resources/resourceGroups", Location: loc}
		} else {
			if !strings.EqualFold(old.Location, loc) {
				return arm.Conflict("InvalidResourceGroupLocation", "Invalid resource group location '%s'. The Resource group already exists in location '%s'.", body.Location, old.Location)
			}
			if old.Properties.ProvisioningState == "Deleting" {
				return arm.Conflict("ResourceGroupBeingDeleted", "The resource group '%s' is in deprovisioning state and cannot perform this operation.", old.Name)
			}
			g = old
		}
		g.Tags, g.ManagedBy = body.Tags, body.ManagedBy
		g.Properties.ProvisioningState = "Succeeded"
		return resource.Put(ctx, tx, rgID(sub, g.Name), g)
	})
	if err != nil {
		return nil, err
	}
	return arm.CreatedOrOK(created, g), nil
}

func (pr *Provider) patchGroup(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	sub, name := r.Param("subscriptionId"), r.Param("resourceGroupName")
	var body struct {
		Tags       *map[string]string `json:"tags"`
		ManagedBy  *string            `json:"managedBy"`
		Properties *groupProperties   `json:"properties"` // read-only, but not anything
	}
	if err := r.Decode(&body); err != nil {
		return nil, err
	}
	var g *ResourceGroup
	err := pr.p.Store.Update(ctx, func(tx store.Tx) error {
		var err error
		if g, err = pr.getRG(ctx, tx, sub, name); err != nil {
			return err
		}
		if body.Tags != nil {
			g.Tags = *body.Tags
		}
		if body.ManagedBy != nil {
			g.ManagedBy = *body.ManagedBy
		}
		return resource.Put(ctx, tx, rgID(sub, g.Name), g)
	})
	if err != nil {
		return nil, err
	}
	return arm.OK(g), nil
}

func (pr *Provider) getGroup(r *arm.Request) (*arm.Response, error) {
	name := r.Param("resourceGroupName")
	g, err := resource.GetWire[ResourceGroup](r.HTTP.Context(), pr.p.Store, rgID(r.Param("subscriptionId"), name))
	if err != nil {
		if arm.IsNotFound(err) {
			return nil, arm.Errorf(http.StatusNotFound, "ResourceGroupNotFound", "Resource group '%s' could not be found.", name)
		}
		return nil, err
	}
	return arm.OK(g), nil
}

// existingGroup fails with 404 ResourceGroupNotFound unless the request's
// resource group exists.
func (pr *Provider) existingGroup(r *arm.Request) error {
	name := r.Param("resourceGroupName")
	ok, err := resource.Exists(r.HTTP.Context(), pr.p.Store, rgID(r.Param("subscriptionId"), name).String())
	if err != nil {
		return err
	}
	if !ok {
		return arm.Errorf(http.StatusNotFound, "ResourceGroupNotFound", "Resource group '%s' could not be found.", name)
	}
	return nil
}

// moveResources answers a resource group's moveResources and
// validateMoveResources (az resource move, armresources' BeginMoveResources
// and BeginValidateMoveResources): Safehold moves no resource between
// resource groups or subscriptions, which it says (400
// ResourceMoveNotSupported, the code Azure gives a type that cannot move)
// rather than 404 as if the group had no such action.
func (pr *Provider) moveResources(r *arm.Request) (*arm.Response, error) {
	if err := pr.existingGroup(r); err != nil {
		return nil, err
	}
	return nil, arm.BadRequest("ResourceMoveNotSupported", "Resource move is not supported: Safehold does not move resources between resource groups or subscriptions. "+
		"Create them in the target resource group instead (a disk from a snapshot of it; a backup by protecting the datasource in a vault there).")
}

// exportTemplate answers a resource group's exportTemplate (az group
// export, armresources' BeginExportTemplate): Safehold serves no ARM
// templates or deployments, which it says (400 OperationNotSupported)
// rather than 404 as if the group had no such action.
func (pr *Provider) exportTemplate(r *arm.Request) (*arm.Response, error) {
	if err := pr.existingGroup(r); err != nil {
		return nil, err
	}
	return nil, arm.BadRequest("OperationNotSupported", "Exporting a resource group's template is not supported: Safehold serves no ARM templates or deployments. "+
		"Read the group's resources with a GET of each (az resource list -g %s, then az resource show).", r.Param("resourceGroupName"))
}

func (pr *Provider) headGroup(r *arm.Request) (*arm.Response, error) {
	ok, err := resource.Exists(r.HTTP.Context(), pr.p.Store, rgID(r.Param("subscriptionId"), r.Param("resourceGroupName")).String())
	if err != nil {
		return nil, err
	}
	if !ok {
		return arm.Status(http.StatusNotFound, nil), nil
	}
	return arm.NoContent(), nil
}

func (pr *Provider) listGroups(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	sub := r.Param("subscriptionId")
	if err := resource.CheckSubscription(ctx, store.Prefetched(ctx, pr.p.Store), sub); err != nil {
		return nil, err
	}
	tagName, tagValue, err := tagFilter(r.Query("$filter"))
	if err != nil {
		return nil, err
	}
	// Like ARM, list the groups the caller may read (a principal whose role
	// is scoped to one group sees that group), filtered by tag when asked.
	// Role assignments only grant, and a grant covers every scope below
	// its own: a caller allowed on the subscription may read every group,
	// so only a caller who is not is checked group by group.
	const read = "Microsoft.Resources/subscriptions/resourceGroups/read"
	all := r.Allowed(read, "/subscriptions/"+sub)
	var keepErr error
	keep := func(d store.Doc) bool {
		if !all && !r.Allowed(read, d.Key) {
			return false
		}
		if tagName != "" {
			var g struct {
				Tags map[string]string `json:"tags"`
			}
			if err := json.Unmarshal(d.Value, &g); err != nil {
				keepErr = fmt.Errorf("decode %s: %w", d.Key, err)
				return false
			}
			v, ok := lookupTag(g.Tags, tagName)
			if !ok || (tagValue != "" && v != tagValue) {
				return false
			}
		}
		return true
	}
	return arm.PageFunc(r, groupPage, func(start, size int) ([]json.RawMessage, bool, error) {
		page, more, err := resource.ListWirePage[ResourceGroup](ctx, store.Prefetched(ctx, pr.p.Store), "Microsoft.Resources/resourceGroups", "/subscriptions/"+sub, keep, start, size)
		if err == nil {
			err = keepErr
		}
		return page, more, err
	})
}

func (pr *Provider) deleteGroup(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	sub, name := r.Param("subscriptionId"), r.Param("resourceGroupName")
	op := &ops.Operation{Kind: "resourcegroup.delete", ResourceID: "/subscriptions/" + sub + "/resourceGroups/" + name, Caller: r.Caller()}
	// The delete cascades into the group's vaults and their backup data:
	// a vault's resource guard must allow it, as it must deleting that
	// data directly (checked here, before anything is deleted).
	if err := resource.CheckCascade(ctx, store.Prefetched(ctx, pr.p.Store), rgID(sub, name).String(), r.Allowed); err != nil {
		return nil, err
	}
	done := false // deleted in the transaction: no task to wake
	err := pr.p.Store.Update(ctx, func(tx store.Tx) error {
		done = false
		g, err := pr.getRG(ctx, tx, sub, name)
		if err != nil {
			return err
		}
		op.ResourceID = g.ID
		// A group with nothing under it (no resource, no role assignment)
		// has nothing to cascade into: it goes in this transaction, with
		// its operation recorded done, instead of as a task whose claim and
		// end are two more commits (under load, deletes otherwise lag and
		// every list carries the groups still Deleting). Read in the
		// transaction, so nothing created meanwhile is left behind.
		if empty, err := pr.emptyGroup(ctx, tx, g.ID); err != nil {
			return err
		} else if empty {
			done = true
			if err := resource.Delete(ctx, tx, rgID(sub, g.Name)); err != nil {
				return err
			}
			op.ResultStatus, op.PercentComplete = http.StatusOK, 100
			return pr.p.Ops.Completed(ctx, tx, op)
		}
		g.Properties.ProvisioningState = "Deleting"
		if err := resource.Put(ctx, tx, rgID(sub, g.Name), g); err != nil {
			return err
		}
		return pr.p.Ops.Start(ctx, tx, op, g.ID)
	})
	if err != nil {
		return nil, err // an absent group is 404 ResourceGroupNotFound, as in ARM
	}
	if !done {
		pr.p.Ops.Notify()
	}
	return arm.Accepted().Async(r, "", "/subscriptions/"+sub+"/operationresults/"+op.ID), nil
}

// emptyGroup reports whether nothing is under the group id: no resource,
// no role assignment and no management lock at or below it.
func (pr *Provider) emptyGroup(ctx context.Context, tx store.Reader, id string) (bool, error) {
	any, err := resource.AnyUnder(ctx, tx, id, rbac.AssignmentKind, resource.LockKind)
	return !any, err
}

func (pr *Provider) runDeleteGroup(ctx context.Context, op *ops.Operation) error {
	var id string
	if err := op.DecodeInput(&id); err != nil {
		return err
	}
	parsed, err := arm.ParseID(id)
	if err != nil {
		return err
	}
	// Whatever fails the delete (a check below, or the cascade: a disk
	// attached to a VM of another group refuses its delete), the group is
	// back to Succeeded in the transaction that ends the operation Failed,
	// as Azure rolls a failed delete back; what the cascade deleted before
	// it failed stays deleted.
	op.OnFailure(func(tx store.Tx) error { return pr.rollBackDelete(ctx, tx, parsed) })
	// A group that another delete removed meanwhile is deleted as asked:
	// nothing is left to check or delete. One no longer Deleting (another
	// delete of it failed and put it back, or it was removed and a client
	// made it again) is not this delete's to cascade into: it stays, with
	// everything in it.
	g, err := pr.getRG(ctx, pr.p.Store, parsed.SubscriptionID, parsed.ResourceGroup)
	if arm.IsNotFound(err) {
		op.ResultStatus = http.StatusOK
		return nil
	}
	if err == nil && g.Properties.ProvisioningState != "Deleting" {
		return arm.Conflict("ResourceGroupNotDeleting", "The resource group '%s' is no longer being deleted (another delete of it failed, or it was deleted and created again meanwhile): nothing in it was deleted. Delete it again if you mean to.", g.Name)
	}
	// A management lock at, above or under the group refused the request
	// (the router's check); one made since it was accepted refuses the
	// delete here, before anything is deleted.
	if err := resource.CheckLocks(ctx, pr.p.Store, http.MethodDelete, id); err != nil {
		return err
	}
	// A group holding what cannot be deleted (a vault with backups, a disk
	// encryption set disks elsewhere use) is not deleted, nor anything in
	// it: the operation fails with that resource's error.
	if err := pr.p.CheckDeleteUnder(ctx, pr.p.Store, id); err != nil {
		var b *resource.Blocked
		var inner *arm.Error
		if !errors.As(err, &b) || !arm.As(b.Err, &inner) || inner.Status >= 500 {
			return err // (a failure to read, not a refusal)
		}
		return deletionBlocked(parsed, b.ID, inner)
	}
	// The cascade stops where the group stops being this delete's (see
	// errNotDeleting): a delete of it that ran at once with this one
	// removed it, and a client made it again.
	drop, err := pr.p.ClearUnderWhile(ctx, id, func(ctx context.Context) error {
		g, err := pr.getRG(ctx, pr.p.Store, parsed.SubscriptionID, parsed.ResourceGroup)
		if arm.IsNotFound(err) || err == nil && g.Properties.ProvisioningState != "Deleting" {
			return errNotDeleting
		}
		return err
	})
	if errors.Is(err, errNotDeleting) {
		op.ResultStatus = http.StatusOK // what it was accepted for is gone
		return nil
	}
	if err != nil {
		return err
	}
	// The documents left under the group and its own go in the transaction
	// that ends the operation (after everything under it that needed more,
	// role assignments included).
	op.OnSuccess(func(tx store.Tx) error {
		// Checked again in this transaction: another delete of the group,
		// run at once with this one, may have removed it since, and a
		// client made it again. That group is not this delete's: what it
		// was accepted for is gone, and the one made again stays.
		if g, err := pr.getRG(ctx, tx, parsed.SubscriptionID, parsed.ResourceGroup); err == nil && g.Properties.ProvisioningState != "Deleting" {
			return nil
		} else if err != nil && !arm.IsNotFound(err) {
			return err
		}
		if err := drop(tx); err != nil {
			return err
		}
		if err := resource.Delete(ctx, tx, parsed); !arm.IsNotFound(err) {
			return err
		}
		return nil
	})
	op.ResultStatus = http.StatusOK
	return nil
}

// errNotDeleting stops a group delete's cascade: the group is gone, or
// is no longer Deleting (removed by another delete and made again).
var errNotDeleting = errors.New("the resource group is no longer being deleted")

// rollBackDelete puts a group whose delete failed back to Succeeded. A
// group gone already (another delete of it removed it) has nothing to put
// back: the failure ends the operation all the same.
func (pr *Provider) rollBackDelete(ctx context.Context, tx store.Tx, id arm.ResourceID) error {
	g, err := pr.getRG(ctx, tx, id.SubscriptionID, id.ResourceGroup)
	if arm.IsNotFound(err) {
		return nil
	}
	if err != nil || g.Properties.ProvisioningState != "Deleting" {
		return err
	}
	g.Properties.ProvisioningState = "Succeeded"
	return resource.Put(ctx, tx, rgID(id.SubscriptionID, g.Name), g)
}

// deletionBlocked is ARM's error for a group delete that met a resource
// which cannot be deleted: ResourceGroupDeletionBlocked naming it, with
// the resource's own error in its message and details.
func deletionBlocked(group arm.ResourceID, blocker string, inner *arm.Error) error {
	what := blocker
	if rid, err := arm.ParseID(blocker); err == nil {
		what = rid.Type() + "/" + rid.Name()
	}
	e := arm.Conflict("ResourceGroupDeletionBlocked", "Deletion of resource group '%s' failed as resources with identifiers '%s' could not be deleted. The provisioning state of the resource group will be rolled back; nothing in it was deleted. %s (Code: %s)",
		group.ResourceGroup, what, inner.Message, inner.Code)
	e.Details = []arm.Error{*inner}
	return e
}

func (pr *Provider) operationResult(r *arm.Request) (*arm.Response, error) {
	return armops.ResultResponse(pr.p.Ops, r, r.Param("operationId"))
}

// genericResource is a resource as a resource list answers it (ARM's
// GenericResourceExpanded).
type genericResource struct {
	ID                string            `json:"id"`
	Name              string            `json:"name"`
	Type              string            `json:"type"`
	Location          string            `json:"location,omitempty"`
	Tags              map[string]string `json:"tags,omitempty"`
	Kind              string            `json:"kind,omitempty"`
	ManagedBy         string            `json:"managedBy,omitempty"`
	SKU               json.RawMessage   `json:"sku,omitempty"`
	Plan              json.RawMessage   `json:"plan,omitempty"`
	Identity          json.RawMessage   `json:"identity,omitempty"`
	ExtendedLocation  json.RawMessage   `json:"extendedLocation,omitempty"`
	CreatedTime       *time.Time        `json:"createdTime,omitempty"`
	ChangedTime       *time.Time        `json:"changedTime,omitempty"`
	ProvisioningState string            `json:"provisioningState,omitempty"`
}

// listUnder lists the top-level resources below scope that meet the
// request's $filter, with what its $expand asks for: those the caller may
// read, each checked with its own type's read action (a role that reads
// all but disks lists no disk, wherever it is held). (A caller who may not
// list the scope as a whole also gets only those of the scopes where it
// may: the router's filtered list.)
func (pr *Provider) listUnder(r *arm.Request, scope string) (*arm.Response, error) {
	f, err := parseResourceFilter(r.Query("$filter"))
	if err != nil {
		return nil, err
	}
	docs, err := pr.p.Store.List(r.HTTP.Context(), "resource", store.ListQuery{ScopePrefix: strings.ToLower(scope) + "/", Type: f.typ()})
	if err != nil {
		return nil, err
	}
	out := []genericResource{}
	for i := range docs {
		d := &docs[i]
		var g genericResource
		if err := json.Unmarshal(d.Value, &g); err != nil {
			continue
		}
		id, err := arm.ParseID(g.ID)
		if err != nil || id.Namespace == "" || len(id.Types) != 1 || id.Scope != "" {
			continue // resource groups, child and extension resources are not listed
		}
		if strings.EqualFold(id.Namespace, "Microsoft.Resources") && strings.EqualFold(id.Types[0], "deployments") {
			continue // deployments are records of ARM's, not resources a list shows (as in Azure)
		}
		if !f.match(&g, id.ResourceGroup) || !r.Allowed(id.Type()+"/read", g.ID) {
			continue
		}
		g.CreatedTime, g.ChangedTime, g.ProvisioningState = nil, nil, ""
		expand(&g, d, r.Query("$expand"))
		out = append(out, g)
	}
	return pageOf(r, out)
}

func (pr *Provider) listSubResources(r *arm.Request) (*arm.Response, error) {
	if err := resource.CheckSubscription(r.HTTP.Context(), store.Prefetched(r.HTTP.Context(), pr.p.Store), r.Param("subscriptionId")); err != nil {
		return nil, err
	}
	return pr.listUnder(r, "/subscriptions/"+r.Param("subscriptionId"))
}

func (pr *Provider) listGroupResources(r *arm.Request) (*arm.Response, error) {
	if _, err := pr.getRG(r.HTTP.Context(), pr.p.Store, r.Param("subscriptionId"), r.Param("resourceGroupName")); err != nil {
		return nil, err
	}
	return pr.listUnder(r, rgID(r.Param("subscriptionId"), r.Param("resourceGroupName")).String())
}

// calculateTemplateHash is ARM's hash of a deployment template: Safehold
// deploys templates but does not hash them on request, so it says so.
func (pr *Provider) calculateTemplateHash(r *arm.Request) (*arm.Response, error) {
	return nil, arm.BadRequest("OperationNotSupported", "calculateTemplateHash is not supported: Safehold runs template deployments (PUT .../resourceGroups/{group}/providers/Microsoft.Resources/deployments/{name}), each answering its template's hash in properties.templateHash, but does not hash a template on its own.")
}
