package resources

import (
	"strconv"
	"strings"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/resource"
)

// Azure's reserved resource names (Resource Manager's "reserved resource
// name" rule): names that are one of reservedWords, contain one of
// reservedParts, or begin with one of reservedPrefixes, in any case.
var (
	reservedWords = []string{"ACCESS", "APP_CODE", "APP_THEMES", "APP_DATA", "APP_GLOBALRESOURCES", "APP_LOCALRESOURCES", "APP_WEBREFERENCES",
		"APP_BROWSERS", "AZURE", "BING", "BIZSPARK", "BIZTALK", "CORTANA", "DIRECTX", "DOTNET", "DYNAMICS", "EXCEL", "EXCHANGE", "FOREFRONT",
		"GROOVE", "HOLOLENS", "HYPERV", "KINECT", "LYNC", "MSDN", "O365", "OFFICE", "OFFICE365", "ONEDRIVE", "ONENOTE", "OUTLOOK",
		"POWERPOINT", "SHAREPOINT", "SKYPE", "VISIO", "VISUALSTUDIO"}
	reservedParts    = []string{"MICROSOFT", "WINDOWS"}
	reservedPrefixes = []string{"LOGIN", "XBOX"}
)

// reservedName reports whether ARM refuses name as a reserved word.
func reservedName(name string) bool {
	u := strings.ToUpper(name)
	for _, w := range reservedWords {
		if u == w {
			return true
		}
	}
	for _, w := range reservedParts {
		if strings.Contains(u, w) {
			return true
		}
	}
	for _, w := range reservedPrefixes {
		if strings.HasPrefix(u, w) {
			return true
		}
	}
	return false
}

// checkResourceName is POST /providers/Microsoft.Resources/checkResourceName
// (armsubscriptions' CheckResourceName): whether a name of a resource type
// is Allowed or Reserved (a trademark or reserved word).
func (pr *Provider) checkResourceName(r *arm.Request) (*arm.Response, error) {
	var body struct {
		Name *string `json:"name"`
		Type *string `json:"type"`
	}
	if err := r.Decode(&body); err != nil {
		return nil, err
	}
	if body.Name == nil || *body.Name == "" {
		return nil, arm.BadRequestAt("name", "InvalidRequestContent", "The request content was invalid: 'name' is required (the resource name to check).")
	}
	if body.Type == nil || *body.Type == "" {
		return nil, arm.BadRequestAt("type", "InvalidRequestContent", "The request content was invalid: 'type' is required (the resource type of the name, as 'Microsoft.Compute/disks').")
	}
	status := "Allowed"
	if reservedName(*body.Name) {
		status = "Reserved"
	}
	return arm.OK(map[string]any{"name": *body.Name, "type": *body.Type, "status": status}), nil
}

// providerPermissions is GET /subscriptions/{sub}/providers/{ns}/providerPermissions
// (armresources' ProvidersClient.ProviderPermissions): the roles the
// provider's applications hold in the subscription. Safehold's providers
// run inside the server and act through no application of the directory,
// so the list is empty; a namespace Safehold does not serve is 404.
func (pr *Provider) providerPermissions(r *arm.Request) (*arm.Response, error) {
	if _, err := pr.namespaceParam(r); err != nil {
		return nil, err
	}
	return arm.OK(map[string]any{"value": []any{}}), nil
}

// checkZonePeers is POST /subscriptions/{sub}/providers/Microsoft.Resources/checkZonePeers
// (armsubscriptions' CheckZonePeers): for each logical zone of the
// subscription in a location, the logical zone of each peer subscription
// that is the same physical zone (each subscription maps its zones its
// own way: resource.ZoneMapping, as the location list answers it). A peer
// the caller may not read is answered as one that does not exist: 400
// naming it.
func (pr *Provider) checkZonePeers(r *arm.Request) (*arm.Response, error) {
	sub := r.Param("subscriptionId")
	ctx := r.HTTP.Context()
	if err := resource.CheckSubscription(ctx, pr.p.Store, sub); err != nil {
		return nil, err
	}
	var body struct {
		Location        *string  `json:"location"`
		SubscriptionIDs []string `json:"subscriptionIds"`
	}
	if err := r.Decode(&body); err != nil {
		return nil, err
	}
	if body.Location == nil || *body.Location == "" {
		return nil, arm.BadRequestAt("location", "InvalidRequestContent", "The request content was invalid: 'location' is required (the region whose zones to compare, as 'eastus').")
	}
	loc := resource.NormLocation(*body.Location)
	if !resource.KnownLocation(loc) {
		return nil, arm.BadRequestAt("location", "LocationNotAvailableForResourceType", "The provided location '%s' is not available. List of available regions is '%s'.", *body.Location, strings.Join(resource.Locations, ","))
	}
	if len(body.SubscriptionIDs) == 0 {
		return nil, arm.BadRequestAt("subscriptionIds", "InvalidRequestContent", "The request content was invalid: 'subscriptionIds' is required (the peer subscriptions, as 'subscriptions/{subscriptionId}').")
	}
	var peers []string
	for i, s := range body.SubscriptionIDs {
		id := strings.TrimPrefix(strings.TrimPrefix(s, "/"), "subscriptions/")
		if id == "" || strings.Contains(id, "/") {
			return nil, arm.BadRequestAt("subscriptionIds["+strconv.Itoa(i)+"]", "InvalidRequestContent", "The request content was invalid: '%s' is not a subscription id; give 'subscriptions/{subscriptionId}'.", s)
		}
		if resource.CheckSubscription(ctx, pr.p.Store, id) != nil || !r.Allowed("Microsoft.Resources/subscriptions/read", "/subscriptions/"+id) {
			return nil, arm.BadRequestAt("subscriptionIds["+strconv.Itoa(i)+"]", "InvalidSubscriptionId", "The subscription '%s' could not be found, or you may not read it: name a subscription of this tenant you can read.", id)
		}
		peers = append(peers, id)
	}
	own := resource.ZoneMapping(sub, loc)
	out := make([]any, 0, len(own))
	for _, z := range own {
		var ps []any
		for _, p := range peers {
			for _, pz := range resource.ZoneMapping(p, loc) {
				if pz[1] == z[1] {
					ps = append(ps, map[string]any{"subscriptionId": p, "availabilityZone": pz[0]})
				}
			}
		}
		out = append(out, map[string]any{"availabilityZone": z[0], "peers": ps})
	}
	return arm.OK(map[string]any{"subscriptionId": sub, "location": loc, "availabilityZonePeers": out}), nil
}
