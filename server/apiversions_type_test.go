package server_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/rbac"
)

// TestAPIVersionPerResourceType: as ARM checks it, an api-version is one
// of the versions the resource type of the path was published at, not
// merely one of its namespace's: a version the namespace has but the type
// never had is 400 NoRegisteredProviderFound naming the location, the
// version, the type, the type's versions and its locations (disks at
// 2015-06-15, a Compute version of VMs only, were answered 200). Per
// namespace: the Compute disk and VM versions, Data Protection's first
// version (no resource guard) and its deleted vaults (2025-09-01 on), the
// Recovery Services vault and backup specs' own versions for their
// location calls, and the Authorization lock and role versions. A version no type of the namespace has keeps its
// answer (InvalidApiVersionParameter, or Compute's tolerance of any
// well-formed version), a refused PUT stores nothing, and the Go SDK
// decodes the refusal.
func TestAPIVersionPerResourceType(t *testing.T) {
	e := testserver.Start(t)
	sub := "/subscriptions/" + e.Sub
	rg := sub + "/resourceGroups/typever"
	if resp, m := raw(t, e, "PUT", rg+"?api-version=2021-04-01", "", map[string]any{"location": "eastus"}); resp.StatusCode >= 300 {
		t.Fatalf("PUT group: %d %v", resp.StatusCode, m)
	}
	refused := func(method, path, version, typ, loc string, body any) {
		t.Helper()
		resp, m := raw(t, e, method, path+"?api-version="+version, "", body)
		msg, _ := testserver.Field(m, "error.message").(string)
		_, vs, _ := arm.TypeVersions(typNS(path), typ)
		oldest := vs[len(vs)-1]
		if resp.StatusCode != 400 || testserver.ErrorCode(m) != "NoRegisteredProviderFound" ||
			!strings.HasPrefix(msg, "No registered resource provider found for location '"+loc+"' and API version '"+version+"' for type '"+typ+"'. The supported api-versions are '"+oldest+", ") ||
			!strings.Contains(msg, ", "+vs[0]+"'. The supported locations are 'eastus, ") {
			t.Errorf("%s %s at %s: %d %v, want 400 NoRegisteredProviderFound for type %s at %s", method, path, version, resp.StatusCode, m, typ, loc)
		}
	}
	ok := func(method, path, version string, body any) {
		t.Helper()
		if resp, m := raw(t, e, method, path+"?api-version="+version, "", body); resp.StatusCode >= 300 {
			t.Errorf("%s %s at %s: %d %v", method, path, version, resp.StatusCode, m)
		}
	}

	// Microsoft.Compute: disks came with DiskRP (2016-04-30-preview,
	// 2017-03-30); 2015-06-15 and 2024-11-01 are ComputeRP's (VMs), which
	// never had 2022-07-02 (DiskRP's).
	disks := sub + "/providers/Microsoft.Compute/disks"
	refused("GET", disks, "2015-06-15", "disks", "*", nil)
	refused("GET", disks, "2024-11-01", "disks", "*", nil)
	refused("GET", rg+"/providers/Microsoft.Compute/disks/d1", "2024-11-01", "disks", "*", nil)
	ok("GET", disks, "2017-03-30", nil)
	ok("GET", disks, "2024-03-02", nil)
	ok("GET", disks, "2019-01-01", nil) // no Compute type's: tolerated as before
	vms := sub + "/providers/Microsoft.Compute/virtualMachines"
	ok("GET", vms, "2015-06-15", nil)
	refused("GET", vms, "2022-07-02", "virtualMachines", "*", nil)
	refused("GET", sub+"/providers/Microsoft.Compute/diskEncryptionSets", "2019-03-01", "diskEncryptionSets", "*", nil)
	ok("GET", sub+"/providers/Microsoft.Compute/diskEncryptionSets", "2019-07-01", nil)
	// A refused PUT names the body's location and stores nothing.
	disk := rg + "/providers/Microsoft.Compute/disks/d1"
	refused("PUT", disk, "2024-11-01", "disks", "eastus", map[string]any{"location": "East US", "properties": map[string]any{"creationData": map[string]any{"createOption": "Empty"}, "diskSizeGB": 1}})
	if resp, m := raw(t, e, "GET", disk+"?api-version=2024-03-02", "", nil); resp.StatusCode != 404 {
		t.Errorf("the disk after its refused PUT: %d %v", resp.StatusCode, m)
	}

	// Microsoft.DataProtection: 2021-01-01 has Backup vaults, no resource
	// guards; 2023-06-02 is no Data Protection version at all.
	ok("GET", sub+"/providers/Microsoft.DataProtection/backupVaults", "2021-01-01", nil)
	refused("GET", sub+"/providers/Microsoft.DataProtection/resourceGuards", "2021-01-01", "resourceGuards", "*", nil)
	ok("GET", sub+"/providers/Microsoft.DataProtection/resourceGuards", "2021-07-01", nil)
	// Deleted Backup vaults arrived in 2025-09-01.
	refused("GET", sub+"/providers/Microsoft.DataProtection/locations/westus2/deletedBackupVaults", "2025-07-01", "locations/deletedBackupVaults", "westus2", nil)
	ok("GET", sub+"/providers/Microsoft.DataProtection/locations/westus2/deletedBackupVaults", "2025-09-01", nil)
	if resp, m := raw(t, e, "GET", sub+"/providers/Microsoft.DataProtection/resourceGuards?api-version=2023-06-02", "", nil); resp.StatusCode != 400 || testserver.ErrorCode(m) != "InvalidApiVersionParameter" {
		t.Errorf("resource guards at a version of no type: %d %v", resp.StatusCode, m)
	}

	// Microsoft.RecoveryServices: 2022-09-10 is the vault spec's alone, so
	// the backup spec's location calls refuse it; 2017-07-01 is the
	// backup spec's alone.
	ok("GET", sub+"/providers/Microsoft.RecoveryServices/vaults", "2022-09-10", nil)
	ok("GET", sub+"/providers/Microsoft.RecoveryServices/vaults", "2017-07-01", nil)
	status := sub + "/providers/Microsoft.RecoveryServices/locations/westus2/backupStatus"
	refused("POST", status, "2022-09-10", "locations/backupStatus", "westus2", map[string]any{"resourceType": "VM", "resourceId": rg + "/providers/Microsoft.Compute/virtualMachines/vm1"})
	refused("POST", rg+"/providers/Microsoft.RecoveryServices/locations/westus2/checkNameAvailability", "2017-07-01", "locations/checkNameAvailability", "westus2", map[string]any{"type": "Microsoft.RecoveryServices/Vaults", "name": "v1"})

	// A request on an existing resource names its location, as ARM
	// does (it named '*'), on any method; a resource that does not exist
	// is at no location, nor is one the caller may not read.
	d2 := rg + "/providers/Microsoft.Compute/disks/d2"
	if resp, m := raw(t, e, "PUT", d2+"?api-version=2024-03-02", "", map[string]any{"location": "westus2", "properties": map[string]any{"creationData": map[string]any{"createOption": "Empty"}, "diskSizeGB": 1}}); resp.StatusCode >= 300 {
		t.Fatalf("PUT disk: %d %v", resp.StatusCode, m)
	}
	e.WaitFor("disk d2", func() bool {
		resp, m := raw(t, e, "GET", d2+"?api-version=2024-03-02", "", nil)
		return resp.StatusCode == 200 && testserver.Field(m, "properties.provisioningState") == "Succeeded"
	})
	refused("GET", d2, "2024-11-01", "disks", "westus2", nil)
	refused("DELETE", d2, "2024-11-01", "disks", "westus2", nil)
	refused("POST", d2+"/beginGetAccess", "2024-11-01", "disks", "westus2", map[string]any{"access": "Read", "durationInSeconds": 60})
	pid, cred := fixture.Principal(t, e, "stranger")
	if resp, m := raw(t, e, "PUT", sub+"/resourceGroups/elsewhere?api-version=2021-04-01", "", map[string]any{"location": "eastus"}); resp.StatusCode >= 300 {
		t.Fatalf("PUT group: %d %v", resp.StatusCode, m)
	}
	fixture.Assign(t, e, sub+"/resourceGroups/elsewhere", rbac.Reader, pid) // reads no d2, nor the vault
	resp, m := e.Do("GET", d2+"?api-version=2024-11-01", nil, testserver.As(cred), testserver.AnyStatus())
	if msg, _ := testserver.Field(m, "error.message").(string); resp.StatusCode != 400 || !strings.HasPrefix(msg, "No registered resource provider found for location '*'") {
		t.Errorf("GET %s by a caller who may not read it: %d %v, want NoRegisteredProviderFound at location '*'", d2, resp.StatusCode, m)
	}

	// Microsoft.Authorization: locks have their own versions, roles theirs.
	ok("GET", sub+"/providers/Microsoft.Authorization/locks", "2016-09-01", nil)
	refused("GET", sub+"/providers/Microsoft.Authorization/locks", "2022-04-01", "locks", "*", nil)
	ok("GET", sub+"/providers/Microsoft.Authorization/roleAssignments", "2022-04-01", nil)
	refused("GET", sub+"/providers/Microsoft.Authorization/roleAssignments", "2016-09-01", "roleAssignments", "*", nil)

	// The Go SDK decodes the refusal: a VM client pinned to a disk version.
	opts := *e.Opts
	opts.APIVersion = "2024-03-02"
	vmc, err := armcompute.NewVirtualMachinesClient(e.Sub, e.Cred, &opts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = vmc.Get(e.Ctx(), "typever", "vm1", nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 400 || re.ErrorCode != "NoRegisteredProviderFound" {
		t.Errorf("VM Get at a disk version: %v", err)
	}
	// At its own version the same client answers as before (no VM).
	vmc, err = armcompute.NewVirtualMachinesClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = vmc.Get(e.Ctx(), "typever", "vm1", nil)
	if !errors.As(err, &re) || re.StatusCode != 404 {
		t.Errorf("VM Get at the SDK's version: %v", err)
	}
}

// typNS is the namespace a path names after its last providers/.
func typNS(path string) string {
	segs := strings.Split(path, "/")
	i := slices.IndexFunc(segs, func(s string) bool { return strings.EqualFold(s, "providers") })
	for j := len(segs) - 2; j > i; j-- {
		if strings.EqualFold(segs[j], "providers") {
			i = j
		}
	}
	return segs[i+1]
}
