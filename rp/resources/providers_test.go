package resources_test

import (
	"slices"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armsubscriptions"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestProvidersAsTheSDKReadsThem drives armresources' ProvidersClient,
// ProviderResourceTypesClient and OperationsClient: the tenant's providers
// (ListAtTenantScope, GetAtTenantScope: no registration state), a
// provider's resource types, Microsoft.Resources' operations, and an
// unregister, which is 400 OperationNotSupported saying why (Safehold's
// providers stay registered). Each was 404 (NotFound 'No HTTP resource',
// or InvalidResourceType naming 'resourceTypes', 'operations' or
// 'unregister' as a type). Microsoft.Resources lists no 'deployments'
// nor 'links' type, which Safehold does not serve.
func TestProvidersAsTheSDKReadsThem(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	pc := testserver.Factory(e, armresources.NewClientFactory).NewProvidersClient()
	var tenant []string
	for page := range fixture.Pages(t, pc.NewListAtTenantScopePager(nil)) {
		for _, p := range page.Value {
			tenant = append(tenant, *p.Namespace)
			if p.RegistrationState != nil || *p.ID != "/providers/"+*p.Namespace {
				t.Errorf("the tenant's %s: id %s, registration state %v", *p.Namespace, *p.ID, p.RegistrationState)
			}
		}
	}
	if !slices.Contains(tenant, "Microsoft.DataProtection") || !slices.Contains(tenant, "Microsoft.RecoveryServices") {
		t.Fatalf("the tenant's providers: %v", tenant)
	}
	p, err := pc.GetAtTenantScope(ctx, "microsoft.recoveryservices", nil)
	if err != nil || *p.Namespace != "Microsoft.RecoveryServices" || len(p.ResourceTypes) == 0 {
		t.Fatalf("GetAtTenantScope: %v %+v", err, p)
	}
	if _, err := pc.GetAtTenantScope(ctx, "Microsoft.Nope", nil); !testserver.HasError(err, 404, "InvalidResourceNamespace") {
		t.Fatalf("GetAtTenantScope of no namespace: %v", err)
	}
	types, err := testserver.Factory(e, armresources.NewClientFactory).NewProviderResourceTypesClient().List(ctx, "Microsoft.DataProtection", nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, rt := range types.Value {
		names = append(names, *rt.ResourceType)
	}
	if !slices.Contains(names, "backupVaults") || !slices.Contains(names, "backupVaults/backupInstances") {
		t.Fatalf("Microsoft.DataProtection's resource types: %v", names)
	}
	res, err := pc.Get(ctx, "Microsoft.Resources", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, rt := range res.ResourceTypes {
		if *rt.ResourceType == "deployments" || *rt.ResourceType == "links" {
			t.Errorf("Microsoft.Resources lists %s, which is not served", *rt.ResourceType)
		}
	}
	var ops []string
	for page := range fixture.Pages(t, testserver.Factory(e, armresources.NewClientFactory).NewOperationsClient().NewListPager(nil)) {
		for _, o := range page.Value {
			ops = append(ops, *o.Name)
		}
	}
	if !slices.Contains(ops, "Microsoft.Resources/subscriptions/resourceGroups/write") {
		t.Fatalf("Microsoft.Resources operations: %v", ops)
	}
	if _, err := pc.Unregister(ctx, "Microsoft.DataProtection", nil); !testserver.HasError(err, 400, "OperationNotSupported") {
		t.Fatalf("unregister: %v", err)
	}
	if p, err := pc.Get(ctx, "Microsoft.DataProtection", nil); err != nil || *p.RegistrationState != "Registered" {
		t.Fatalf("after the refused unregister: %v %+v", err, p)
	}
}

// TestProviderResourceTypesAsARMListsThem: a provider's resource types
// list their regions by display name ("East US"), as ARM does (az provider
// show; Azure's GetNamedProviderAtTenant example), each the display name
// of a region of the subscription's location list, and say which types
// are tracked (capabilities "SupportsTags, SupportsLocation": disks,
// snapshots, virtual machines, Backup and Recovery Services vaults) and
// which are not ("None": a vault's policies, the operations catalog). The
// regions were their names ("eastus") and every type's capabilities None.
func TestProviderResourceTypesAsARMListsThem(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	display := map[string]bool{}
	sf, err := armsubscriptions.NewClientFactory(e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	for page := range fixture.Pages(t, sf.NewClient().NewListLocationsPager(e.Sub, nil)) {
		for _, l := range page.Value {
			display[*l.DisplayName] = true
		}
	}
	pc := testserver.Factory(e, armresources.NewClientFactory).NewProvidersClient()
	caps := map[string]string{}
	for _, ns := range []string{"Microsoft.Compute", "Microsoft.DataProtection", "Microsoft.RecoveryServices"} {
		p, err := pc.Get(ctx, ns, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, rt := range p.ResourceTypes {
			caps[ns+"/"+*rt.ResourceType] = *rt.Capabilities
			for _, l := range rt.Locations {
				if !display[*l] {
					t.Errorf("%s/%s: location %q is no region's display name", ns, *rt.ResourceType, *l)
				}
			}
			if *rt.ResourceType == "disks" && !slices.ContainsFunc(rt.Locations, func(l *string) bool { return *l == "East US" }) {
				t.Errorf("Microsoft.Compute/disks is not in East US: %v", rt.Locations)
			}
		}
	}
	for typ, want := range map[string]string{
		"Microsoft.Compute/disks": "SupportsTags, SupportsLocation", "Microsoft.Compute/snapshots": "SupportsTags, SupportsLocation",
		"Microsoft.Compute/virtualMachines": "SupportsTags, SupportsLocation", "Microsoft.DataProtection/backupVaults": "SupportsTags, SupportsLocation",
		"Microsoft.RecoveryServices/vaults": "SupportsTags, SupportsLocation", "Microsoft.DataProtection/backupVaults/backupPolicies": "None",
		"Microsoft.RecoveryServices/vaults/backupPolicies": "None", "Microsoft.DataProtection/operations": "None",
	} {
		if caps[typ] != want {
			t.Errorf("%s: capabilities %q, want %q", typ, caps[typ], want)
		}
	}
}
