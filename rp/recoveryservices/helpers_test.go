package recoveryservices_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservices"

	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// must checks a status code.
func must(t *testing.T, what string, resp *http.Response, m map[string]any, codes ...int) {
	t.Helper()
	for _, c := range codes {
		if resp.StatusCode == c {
			return
		}
	}
	t.Fatalf("%s: status %d, want %v: %v", what, resp.StatusCode, codes, m)
}

func str(m map[string]any, path string) string {
	v := testserver.Field(m, path)
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

// mkVault creates a Recovery Services vault (Standard) with a PUT to url.
func mkVault(t *testing.T, e *testserver.Env, url, location string) {
	t.Helper()
	resp, m := e.Do("PUT", url, map[string]any{"location": location, "sku": map[string]any{"name": "Standard"}})
	must(t, "vault", resp, m, 201)
}

// vaultAndVM creates resource groups vmrg and vaultrg, a VM vmrg/name with
// a 1 MiB OS disk and the vault rv (a PUT at vaultVersion, "?api-version=…");
// it returns the vault's path, the path of the VM's protected item and the VM.
func vaultAndVM(t *testing.T, e *testserver.Env, name, vaultVersion string) (string, string, *compute.VM) {
	t.Helper()
	e.ResourceGroups("vmrg", "vaultrg")
	vm := mkVM(t, e, "vmrg", name, 0, 1<<20)
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/rv"
	mkVault(t, e, R+vaultVersion, "westus")
	return R, R + "/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;vmrg;" + name + "/protectedItems/VM;iaasvmcontainerv2;vmrg;" + name, vm
}

// protect protects a VM with a policy (PUT of the protected item at url).
func protect(t *testing.T, e *testserver.Env, url, vmID, policyID string) {
	t.Helper()
	resp, m := e.Do("PUT", url, map[string]any{"properties": map[string]any{"protectedItemType": "Microsoft.Compute/virtualMachines", "sourceResourceId": vmID, "policyId": policyID}})
	must(t, "protect", resp, m, 202)
}

// mkVM creates a VM with an OS disk and nData data disks of size bytes each.
func mkVM(t *testing.T, e *testserver.Env, rg, name string, nData int, size int64) *compute.VM {
	t.Helper()
	return mkVMIn(t, e, rg, name, "westus", nData, size)
}

// mkVMIn creates a VM in location with an OS disk and nData data disks of
// size bytes each, through the compute service.
func mkVMIn(t *testing.T, e *testserver.Env, rg, name, location string, nData int, size int64) *compute.VM {
	t.Helper()
	ctx := context.Background()
	cs := e.Server.Compute
	base := "/subscriptions/" + e.Sub + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/disks/"
	os, err := cs.CreateDisk(ctx, compute.DiskSpec{ID: base + name + "-os", Location: location, CreateOption: "Empty", SizeBytes: size, OSType: "Linux"})
	if err != nil {
		t.Fatal(err)
	}
	spec := compute.VMSpec{ID: "/subscriptions/" + e.Sub + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/virtualMachines/" + name,
		Location: location, OSDiskID: os.ID, OSType: "Linux", VMSize: "Standard_D2s_v3", HardwareProfile: map[string]any{"vmSize": "Standard_D2s_v3"}}
	for i := 0; i < nData; i++ {
		d, err := cs.CreateDisk(ctx, compute.DiskSpec{ID: fmt.Sprintf("%s%s-data%d", base, name, i), Location: location, CreateOption: "Empty", SizeBytes: size})
		if err != nil {
			t.Fatal(err)
		}
		spec.DataDisks = append(spec.DataDisks, compute.VMDataDisk{Lun: int32(i), DiskID: d.ID, Name: d.Name})
	}
	vm, err := cs.CreateVM(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	return vm
}

// waitNoContent polls an operation's Location (loc) until it stops
// answering 202; its answer must then be 204.
func waitNoContent(t *testing.T, e *testserver.Env, what, loc string) {
	t.Helper()
	waitFor(t, what, func() bool {
		resp, m := e.Do("GET", loc, nil)
		if resp.StatusCode == 202 {
			return false
		}
		must(t, what+" result", resp, m, 204)
		return true
	})
}

// waitFor polls fn until it reports done (or fails after a generous bound).
func waitFor(t *testing.T, what string, fn func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !fn() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var waitLimit = 2 * time.Minute

// vaultEnv starts a server with the resource groups vaultrg and more, and a
// standard Recovery Services vault named vault in vaultrg; it returns the
// server and a client factory of the vaults SDK.
func vaultEnv(t *testing.T, vault string, more ...string) (*testserver.Env, *armrecoveryservices.ClientFactory) {
	t.Helper()
	e := testserver.Start(t)
	e.ResourceGroups(append([]string{"vaultrg"}, more...)...)
	fixture.RSVault(t, e, "vaultrg", vault, fixture.StandardVault())
	return e, testserver.Factory(e, armrecoveryservices.NewClientFactory)
}

// armVM creates 1 GiB disks and a VM with them through armcompute.
func armVM(t *testing.T, e *testserver.Env, rg, name string, nData int) *compute.VM {
	t.Helper()
	ctx := e.Ctx()
	cf := testserver.Factory(e, armcompute.NewClientFactory)
	disk := func(n string) string {
		d, err := fixture.Wait(cf.NewDisksClient().BeginCreateOrUpdate(ctx, rg, n, fixture.EmptyDisk("westus", 1), nil))
		if err != nil {
			t.Fatal(err)
		}
		return *d.ID
	}
	sp := &armcompute.StorageProfile{OSDisk: &armcompute.OSDisk{CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach), OSType: to.Ptr(armcompute.OperatingSystemTypesLinux),
		ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(disk(name + "-os"))}}}
	for i := 0; i < nData; i++ {
		sp.DataDisks = append(sp.DataDisks, &armcompute.DataDisk{Lun: to.Ptr(int32(i)), CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach),
			ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(disk(fmt.Sprintf("%s-data%d", name, i)))}})
	}
	res, err := fixture.Wait(cf.NewVirtualMachinesClient().BeginCreateOrUpdate(ctx, rg, name, armcompute.VirtualMachine{Location: to.Ptr("westus"), Properties: &armcompute.VirtualMachineProperties{
		HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypesStandardD2SV3)}, StorageProfile: sp}}, nil))
	if err != nil {
		t.Fatal(err)
	}
	vm, err := e.Server.Compute.VM(ctx, *res.ID)
	if err != nil {
		t.Fatal(err)
	}
	return vm
}

// readSAS reads the first n bytes of a disk through a read SAS (the
// page-blob data plane), then revokes access.
func readSAS(t *testing.T, e *testserver.Env, diskID string, n int64) []byte {
	t.Helper()
	pc, revoke := fixture.DiskAccessByID(t, e, diskID, armcompute.AccessLevelRead)
	defer revoke()
	return fixture.ReadPages(t, pc, 0, n)
}
