package compute_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
)

// TestResourceGroupDeleteCleansUp: deleting a resource group deletes its
// VMs first (detaching disks), then disks (volume files) and snapshots
// (engine manifests).
func TestResourceGroupDeleteCleansUp(t *testing.T) {
	e := start(t)
	ctx := e.Ctx()
	e.putDisk("d", armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionUpload), UploadSizeBytes: to.Ptr[int64](16 << 20)}}})
	e.revokeDisk("d")
	e.snapshot("s", "d", true)
	p, err := e.vms.BeginCreateOrUpdate(ctx, e.rg, "vm", armcompute.VirtualMachine{Location: to.Ptr("westus"), Properties: &armcompute.VirtualMachineProperties{
		StorageProfile: &armcompute.StorageProfile{OSDisk: &armcompute.OSDisk{CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach),
			ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(e.diskID("d"))}}}}}, nil)
	if err := wait(ctx, p, err); err != nil {
		t.Fatal(err)
	}
	rgs, _ := armresources.NewResourceGroupsClient(e.Sub, e.Cred, e.Opts)
	dp, err := rgs.BeginDelete(ctx, e.rg, nil)
	if err := wait(ctx, dp, err); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(filepath.Join(e.DataDir, "volumes"))
	for _, en := range ents {
		if strings.HasSuffix(en.Name(), ".raw") {
			t.Fatalf("volume file left after the resource group delete: %s", en.Name())
		}
	}
	ms, err := e.Server.Compute.Repository().List(ctx)
	if err != nil || len(ms) != 0 {
		t.Fatalf("snapshots left in the engine: %d %v", len(ms), err)
	}
}
