package resources_test

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armsubscriptions"
	"github.com/google/uuid"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/rbac"
	"github.com/safehold/safehold/rp/resources"
	"github.com/safehold/safehold/store"
)

// TestCheckResourceName: armsubscriptions' CheckResourceName (POST
// /providers/Microsoft.Resources/checkResourceName) answers whether a name
// is Allowed or Reserved by ARM's reserved-word rule (a reserved word as
// the whole name, MICROSOFT or WINDOWS anywhere in it, LOGIN or XBOX at its
// start, in any case), and a request naming no name or type is a 400
// naming the field. It was 404 InvalidResourceType, so the SDK's call
// (Azure's CheckResourceName example) failed.
func TestCheckResourceName(t *testing.T) {
	e := testserver.Start(t)
	f, err := armsubscriptions.NewClientFactory(e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	c := f.NewSubscriptionClient()
	for name, want := range map[string]armsubscriptions.ResourceNameStatus{
		"isxbox": armsubscriptions.ResourceNameStatusAllowed, "backup-vault-1": armsubscriptions.ResourceNameStatusAllowed,
		"xboxvault": armsubscriptions.ResourceNameStatusReserved, "Login-disk": armsubscriptions.ResourceNameStatusReserved,
		"my-microsoft-disk": armsubscriptions.ResourceNameStatusReserved, "azure": armsubscriptions.ResourceNameStatusReserved,
		"azure-disk": armsubscriptions.ResourceNameStatusAllowed, "Office365": armsubscriptions.ResourceNameStatusReserved,
	} {
		got, err := c.CheckResourceName(e.Ctx(), &armsubscriptions.SubscriptionClientCheckResourceNameOptions{ResourceNameDefinition: &armsubscriptions.ResourceName{
			Name: to.Ptr(name), Type: to.Ptr("Microsoft.Compute/disks")}})
		if err != nil {
			t.Fatalf("check %s: %v", name, err)
		}
		if got.Status == nil || *got.Status != want || got.Name == nil || *got.Name != name || got.Type == nil || *got.Type != "Microsoft.Compute/disks" {
			t.Errorf("check %s: %+v, want %s", name, got.CheckResourceNameResult, want)
		}
	}
	for what, body := range map[string]*armsubscriptions.ResourceName{
		"no body": nil, "no name": {Type: to.Ptr("Microsoft.Compute/disks")}, "no type": {Name: to.Ptr("disk1")},
	} {
		_, err := c.CheckResourceName(e.Ctx(), &armsubscriptions.SubscriptionClientCheckResourceNameOptions{ResourceNameDefinition: body})
		var re *azcore.ResponseError
		if !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest || re.ErrorCode != "InvalidRequestContent" {
			t.Errorf("%s: %v, want 400 InvalidRequestContent", what, err)
		}
	}
}

// TestProviderPermissions: armresources' ProviderPermissions (GET
// /subscriptions/{sub}/providers/{ns}/providerPermissions) answers the
// roles the provider's applications hold, none for Safehold's providers,
// which act through no application of the directory; a namespace
// Safehold does not serve is 404. It was 404 for every namespace.
func TestProviderPermissions(t *testing.T) {
	e := testserver.Start(t)
	c := testserver.Factory(e, armresources.NewClientFactory).NewProvidersClient()
	got, err := c.ProviderPermissions(e.Ctx(), "Microsoft.Compute", nil)
	if err != nil || got.Value == nil || len(got.Value) != 0 {
		t.Fatalf("Microsoft.Compute's provider permissions: %+v, %v", got.Value, err)
	}
	_, err = c.ProviderPermissions(e.Ctx(), "Microsoft.NoSuch", nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != http.StatusNotFound {
		t.Fatalf("an unknown namespace's provider permissions: %v, want 404", err)
	}
}

// TestCheckZonePeers: armsubscriptions' CheckZonePeers (POST
// /subscriptions/{sub}/providers/Microsoft.Resources/checkZonePeers)
// answers, for each logical zone of the subscription in a location, the
// logical zone of a peer subscription that is the same physical zone, as
// both subscriptions' location lists map them; a peer that does not exist
// or that the caller may not read is 400 naming it (no way to probe for
// subscriptions), and a location that is none is 400. It was 404
// InvalidResourceType.
func TestCheckZonePeers(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	f, err := armsubscriptions.NewClientFactory(e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	c := f.NewClient()
	sub2 := uuid.NewString()
	if err := e.Server.Store.Update(ctx, func(tx store.Tx) error {
		return resources.PutSubscription(ctx, tx, resources.NewSubscription(sub2, e.Server.Bootstrap.TenantID, "second"))
	}); err != nil {
		t.Fatal(err)
	}
	check := func(loc string, subs ...string) (armsubscriptions.CheckZonePeersResult, error) {
		var ids []*string
		for _, s := range subs {
			ids = append(ids, to.Ptr("subscriptions/"+s))
		}
		r, err := c.CheckZonePeers(ctx, e.Sub, armsubscriptions.CheckZonePeersRequest{Location: to.Ptr(loc), SubscriptionIDs: ids}, nil)
		return r.CheckZonePeersResult, err
	}
	badRequest := func(what string, err error) {
		t.Helper()
		var re *azcore.ResponseError
		if !errors.As(err, &re) || re.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %v, want 400", what, err)
		}
	}
	_, err = check("eastus", sub2)
	badRequest("a peer the admin may not read", err)
	_, err = check("eastus", uuid.NewString())
	badRequest("a peer that does not exist", err)
	_, err = check("atlantis", e.Sub)
	badRequest("no location", err)

	scope, name := "/subscriptions/"+sub2, uuid.NewString()
	x := &rbac.Assignment{ID: scope + "/providers/Microsoft.Authorization/roleAssignments/" + name, Name: name, AssignmentProperties: rbac.AssignmentProperties{
		Scope: scope, PrincipalID: e.Server.Bootstrap.AdminObjectID, PrincipalType: "ServicePrincipal",
		RoleDefinitionID: scope + "/providers/Microsoft.Authorization/roleDefinitions/" + rbac.Reader}}
	x.EffectiveAt = time.Now().Add(-time.Hour) // no propagation delay
	if err := e.Server.Authz.PutAssignment(ctx, x); err != nil {
		t.Fatal(err)
	}
	// Each subscription's physical zones in eastus, by logical zone, from
	// its location list.
	physical := func(sub string) map[string]string {
		out := map[string]string{}
		for page := range fixture.Pages(t, c.NewListLocationsPager(sub, nil)) {
			for _, l := range page.Value {
				if *l.Name == "eastus" {
					for _, z := range l.AvailabilityZoneMappings {
						out[*z.LogicalZone] = *z.PhysicalZone
					}
				}
			}
		}
		return out
	}
	own, peer := physical(e.Sub), physical(sub2)
	got, err := check("East US", sub2)
	if err != nil {
		t.Fatal(err)
	}
	if *got.SubscriptionID != e.Sub || *got.Location != "eastus" || len(got.AvailabilityZonePeers) != 3 {
		t.Fatalf("zone peers: %+v", got)
	}
	for _, z := range got.AvailabilityZonePeers {
		if len(z.Peers) != 1 || *z.Peers[0].SubscriptionID != sub2 || peer[*z.Peers[0].AvailabilityZone] != own[*z.AvailabilityZone] {
			t.Errorf("zone %s (%s): peers %+v; the peer's zones %v", *z.AvailabilityZone, own[*z.AvailabilityZone], z.Peers, peer)
		}
	}
}
