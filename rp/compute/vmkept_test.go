package compute_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// A VM keeps what its PUT gave beyond disks and profiles (identity, plan,
// security and diagnostics profiles, priority, license, userData, ...),
// answers it on GET and list and after a restart, merges a PATCH into it,
// and refuses values of the wrong type. Before, all of it was dropped:
// a client reading its VM back saw none of it.
func TestVMKeepsWhatItWasGiven(t *testing.T) {
	e, ctx := start(t)
	e.emptyDisk("os", 1)
	vm := armcompute.VirtualMachine{
		Location: to.Ptr("westus"),
		Identity: &armcompute.VirtualMachineIdentity{Type: to.Ptr(armcompute.ResourceIdentityTypeSystemAssigned)},
		Plan:     &armcompute.Plan{Name: to.Ptr("sku1"), Publisher: to.Ptr("pub1"), Product: to.Ptr("offer1")},
		Properties: &armcompute.VirtualMachineProperties{
			HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypesStandardD2SV3)},
			StorageProfile: &armcompute.StorageProfile{OSDisk: &armcompute.OSDisk{CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach),
				OSType: to.Ptr(armcompute.OperatingSystemTypesLinux), ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(e.diskID("os"))}}},
			SecurityProfile: &armcompute.SecurityProfile{SecurityType: to.Ptr(armcompute.SecurityTypesTrustedLaunch),
				UefiSettings: &armcompute.UefiSettings{SecureBootEnabled: to.Ptr(true), VTpmEnabled: to.Ptr(true)}},
			DiagnosticsProfile: &armcompute.DiagnosticsProfile{BootDiagnostics: &armcompute.BootDiagnostics{Enabled: to.Ptr(true)}},
			Priority:           to.Ptr(armcompute.VirtualMachinePriorityTypesSpot),
			EvictionPolicy:     to.Ptr(armcompute.VirtualMachineEvictionPolicyTypesDeallocate),
			BillingProfile:     &armcompute.BillingProfile{MaxPrice: to.Ptr(-1.0)},
			LicenseType:        to.Ptr("Windows_Server"),
			UserData:           to.Ptr("RXhhbXBsZSBVc2VyRGF0YQ=="),
		},
	}
	put, err := fixture.Wait(e.vms.BeginCreateOrUpdate(ctx, e.rg, "vm1", vm, nil))
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string, v armcompute.VirtualMachine, userData bool) {
		t.Helper()
		p := v.Properties
		switch {
		case v.Identity == nil || *v.Identity.Type != armcompute.ResourceIdentityTypeSystemAssigned || v.Identity.PrincipalID == nil || *v.Identity.PrincipalID == "" || v.Identity.TenantID == nil:
			t.Fatalf("%s: identity %+v", what, v.Identity)
		case v.Plan == nil || *v.Plan.Name != "sku1" || *v.Plan.Publisher != "pub1" || *v.Plan.Product != "offer1":
			t.Fatalf("%s: plan %+v", what, v.Plan)
		case p.SecurityProfile == nil || *p.SecurityProfile.SecurityType != armcompute.SecurityTypesTrustedLaunch || !*p.SecurityProfile.UefiSettings.VTpmEnabled:
			t.Fatalf("%s: securityProfile %+v", what, p.SecurityProfile)
		case p.DiagnosticsProfile == nil || !*p.DiagnosticsProfile.BootDiagnostics.Enabled:
			t.Fatalf("%s: diagnosticsProfile %+v", what, p.DiagnosticsProfile)
		case p.Priority == nil || *p.Priority != armcompute.VirtualMachinePriorityTypesSpot || *p.EvictionPolicy != armcompute.VirtualMachineEvictionPolicyTypesDeallocate:
			t.Fatalf("%s: priority %v eviction %v", what, p.Priority, p.EvictionPolicy)
		case p.BillingProfile == nil || *p.BillingProfile.MaxPrice != -1 || p.LicenseType == nil || *p.LicenseType != "Windows_Server":
			t.Fatalf("%s: billing %+v license %v", what, p.BillingProfile, p.LicenseType)
		case userData != (p.UserData != nil && *p.UserData == "RXhhbXBsZSBVc2VyRGF0YQ=="):
			t.Fatalf("%s: userData %v (want it: %v)", what, p.UserData, userData)
		}
	}
	check("PUT", put.VirtualMachine, true)
	principal := *put.Identity.PrincipalID
	get, err := e.vms.Get(ctx, e.rg, "vm1", nil)
	if err != nil {
		t.Fatal(err)
	}
	check("GET", get.VirtualMachine, false) // userData only with $expand=userData, as Azure
	e.restart()
	get, err = e.vms.Get(ctx, e.rg, "vm1", &armcompute.VirtualMachinesClientGetOptions{Expand: to.Ptr(armcompute.InstanceViewTypesUserData)})
	if err != nil {
		t.Fatal(err)
	}
	check("GET $expand=userData after a restart", get.VirtualMachine, true)
	if *get.Identity.PrincipalID != principal {
		t.Fatalf("the system identity changed: %s, was %s", *get.Identity.PrincipalID, principal)
	}
	page, err := e.vms.NewListPager(e.rg, nil).NextPage(ctx)
	if err != nil || len(page.Value) != 1 {
		t.Fatalf("list: %v %v", page.Value, err)
	}
	check("list", *page.Value[0], false)

	// A PATCH replaces what it gives and keeps the rest; null removes.
	upd, err := fixture.Wait(e.vms.BeginUpdate(ctx, e.rg, "vm1", armcompute.VirtualMachineUpdate{Properties: &armcompute.VirtualMachineProperties{
		DiagnosticsProfile: &armcompute.DiagnosticsProfile{BootDiagnostics: &armcompute.BootDiagnostics{Enabled: to.Ptr(false)}}}}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if d := upd.Properties.DiagnosticsProfile; d == nil || *d.BootDiagnostics.Enabled || upd.Properties.SecurityProfile == nil || upd.Identity == nil || *upd.Identity.PrincipalID != principal {
		t.Fatalf("PATCH of diagnosticsProfile: %+v %+v %+v", upd.Properties.DiagnosticsProfile, upd.Properties.SecurityProfile, upd.Identity)
	}
	resp, body := e.Do("PATCH", "/subscriptions/"+e.Sub+"/resourceGroups/"+e.rg+"/providers/Microsoft.Compute/virtualMachines/vm1?api-version=2024-03-01",
		map[string]any{"properties": map[string]any{"licenseType": nil}})
	if resp.StatusCode != http.StatusOK || testserver.Field(body, "properties.licenseType") != nil || testserver.Field(body, "properties.priority") != "Spot" {
		t.Fatalf("PATCH licenseType null: %d %v", resp.StatusCode, body)
	}

	// Values of the wrong type or outside their enum are 400 naming the field;
	// the VM is as it was.
	// A wrong type says what the value must be and what it was, in JSON's
	// words as a disk's properties do (failure.TypeMismatch).
	for _, c := range []struct {
		bad  map[string]any
		want string
	}{
		{map[string]any{"priority": 5}, "must be a string, not a number"},
		{map[string]any{"priority": "Cheap"}, "Use one of"},
		{map[string]any{"evictionPolicy": "Sometimes"}, "Use one of"},
		{map[string]any{"securityProfile": "TrustedLaunch"}, "must be an object, not a string"},
		{map[string]any{"userData": map[string]any{}}, "must be a string, not an object"},
		{map[string]any{"licenseType": true}, "must be a string, not a bool"},
		{map[string]any{"platformFaultDomain": 1.5}, "must be an integer, not a number"},
		{map[string]any{"platformFaultDomain": "one"}, "must be an integer, not a string"},
		{map[string]any{"billingProfile": []any{1}}, "must be an object, not an array"},
	} {
		resp, body := e.Do("PATCH", "/subscriptions/"+e.Sub+"/resourceGroups/"+e.rg+"/providers/Microsoft.Compute/virtualMachines/vm1?api-version=2024-03-01",
			map[string]any{"properties": c.bad})
		msg, _ := testserver.Field(body, "error.message").(string)
		if code, _ := testserver.Field(body, "error.code").(string); resp.StatusCode != http.StatusBadRequest || code != "InvalidParameter" || !strings.Contains(msg, c.want) {
			t.Fatalf("PATCH %v: %d %v, want 400 InvalidParameter saying %q", c.bad, resp.StatusCode, body, c.want)
		}
		for k := range c.bad {
			if !strings.Contains(msg, k) || testserver.Field(body, "error.target") != "properties."+k {
				t.Fatalf("PATCH %v: the error does not name %s: %v", c.bad, k, body)
			}
		}
	}
	get, err = e.vms.Get(ctx, e.rg, "vm1", nil)
	if err != nil || *get.Properties.Priority != armcompute.VirtualMachinePriorityTypesSpot || get.Properties.SecurityProfile == nil {
		t.Fatalf("after refused PATCHes: %+v %v", get.Properties, err)
	}

	// A PATCH adds a user-assigned identity beside the system one.
	uami := "/subscriptions/" + e.Sub + "/resourceGroups/" + e.rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1"
	upd, err = fixture.Wait(e.vms.BeginUpdate(ctx, e.rg, "vm1", armcompute.VirtualMachineUpdate{Identity: &armcompute.VirtualMachineIdentity{
		Type: to.Ptr(armcompute.ResourceIdentityTypeSystemAssignedUserAssigned), UserAssignedIdentities: map[string]*armcompute.UserAssignedIdentitiesValue{uami: {}}}}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if id := upd.Identity; id == nil || *id.PrincipalID != principal || len(id.UserAssignedIdentities) != 1 {
		t.Fatalf("PATCH adding a user-assigned identity: %+v", id)
	} else {
		for k, v := range id.UserAssignedIdentities {
			if !strings.EqualFold(k, uami) || v.PrincipalID == nil || v.ClientID == nil {
				t.Fatalf("user-assigned identity %s: %+v", k, v)
			}
		}
	}

	// An identity without a type (the SDK's VirtualMachineIdentity{}
	// sends {}) keeps both: it dropped them, deleting the system
	// principal with its role assignments (found by hostile27).
	upd, err = fixture.Wait(e.vms.BeginUpdate(ctx, e.rg, "vm1", armcompute.VirtualMachineUpdate{Identity: &armcompute.VirtualMachineIdentity{}}, nil))
	if err != nil || upd.Identity == nil || upd.Identity.PrincipalID == nil || *upd.Identity.PrincipalID != principal || len(upd.Identity.UserAssignedIdentities) != 1 {
		t.Fatalf("PATCH identity {}: %+v %v, want both identities kept", upd.Identity, err)
	}

	// Identity None drops both.
	upd, err = fixture.Wait(e.vms.BeginUpdate(ctx, e.rg, "vm1", armcompute.VirtualMachineUpdate{Identity: &armcompute.VirtualMachineIdentity{Type: to.Ptr(armcompute.ResourceIdentityTypeNone)}}, nil))
	if err != nil || upd.Identity != nil {
		t.Fatalf("identity None: %+v %v", upd.Identity, err)
	}
	if _, err := fixture.Wait(e.vms.BeginDelete(ctx, e.rg, "vm1", nil)); err != nil {
		t.Fatal(err)
	}
}

// TestVMKeptPropertySentInAnotherCase: a VM property Safehold keeps as
// given (securityProfile, licenseType, ...) whose name a client sends cased
// otherwise (ARM's property names match in any case) is kept, in Azure's
// spelling, which the Go SDK reads; one sent twice in two spellings is 400.
// Before, it was dropped: the VM answered no securityProfile at all.
func TestVMKeptPropertySentInAnotherCase(t *testing.T) {
	e, ctx := start(t)
	e.emptyDisk("os", 1)
	R := "/subscriptions/" + e.Sub + "/resourceGroups/" + e.rg + "/providers/Microsoft.Compute/virtualMachines/vm1?api-version=2024-03-01"
	body := func(extra string) string {
		return `{"location":"westus","properties":{"hardwareProfile":{"vmSize":"Standard_B2s"},` + extra + `,
			"storageProfile":{"osDisk":{"createOption":"Attach","osType":"Linux","managedDisk":{"id":"` + e.diskID("os") + `"}}}}}`
	}
	resp, m := e.Do("PUT", R, body(`"SecurityProfile":{"securityType":"TrustedLaunch"},"LICENSETYPE":"Windows_Server"`))
	if resp.StatusCode != 200 && resp.StatusCode != 201 {
		t.Fatalf("PUT: %d %v", resp.StatusCode, m)
	}
	if az := resp.Header.Get("Azure-AsyncOperation"); az != "" {
		if st := e.Poll(az); st["status"] != "Succeeded" {
			t.Fatalf("PUT: %v", st)
		}
	}
	vm, err := e.vms.Get(ctx, e.rg, "vm1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := vm.Properties; p.SecurityProfile == nil || p.SecurityProfile.SecurityType == nil || *p.SecurityProfile.SecurityType != armcompute.SecurityTypesTrustedLaunch ||
		p.LicenseType == nil || *p.LicenseType != "Windows_Server" {
		t.Fatalf("the SDK reads securityProfile %+v, licenseType %v", p.SecurityProfile, p.LicenseType)
	}
	resp, m = e.Do("PUT", R, body(`"licenseType":"None","LicenseType":"Windows_Server"`))
	if resp.StatusCode != 400 || testserver.ErrorCode(m) != "InvalidParameter" || testserver.Field(m, "error.target") != "properties.licenseType" {
		t.Fatalf("PUT naming a property twice: %d %v, want 400 InvalidParameter at properties.licenseType", resp.StatusCode, m)
	}
}
