package compute_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/safehold/safehold/internal/fixture"
)

// TestResourceGroupDeleteCleansUp: deleting a resource group deletes its
// VMs first (detaching disks), then disks (volume files) and snapshots
// (engine manifests).
func TestResourceGroupDeleteCleansUp(t *testing.T) {
	e, ctx := start(t)
	e.putDisk("d", armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionUpload), UploadSizeBytes: to.Ptr[int64](16 << 20)}}})
	e.revokeDisk("d")
	e.snapshot("s", "d", true)
	if _, err := fixture.Wait(e.snaps.BeginCreateOrUpdate(ctx, e.rg, "s-copy", armcompute.Snapshot{Location: to.Ptr("westus"), Properties: &armcompute.SnapshotProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: to.Ptr(e.snapID("s"))}}}, nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := fixture.Wait(e.vms.BeginCreateOrUpdate(ctx, e.rg, "vm", armcompute.VirtualMachine{Location: to.Ptr("westus"), Properties: &armcompute.VirtualMachineProperties{
		StorageProfile: &armcompute.StorageProfile{OSDisk: &armcompute.OSDisk{CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach),
			ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(e.diskID("d"))}}}}}, nil)); err != nil {
		t.Fatal(err)
	}
	rgs, _ := armresources.NewResourceGroupsClient(e.Sub, e.Cred, e.Opts)
	if _, err := fixture.Wait(rgs.BeginDelete(ctx, e.rg, nil)); err != nil {
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

// TestVMFromImageCreatesDisks: a VM defined the usual Azure way (image,
// FromImage OS disk, Empty data disk) gets empty managed disks made for
// it; PUTting the same body again keeps them.
func TestVMFromImageCreatesDisks(t *testing.T) {
	e, ctx := start(t)
	body := armcompute.VirtualMachine{Location: to.Ptr("westus"), Properties: &armcompute.VirtualMachineProperties{
		HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypesStandardD2SV3)},
		StorageProfile: &armcompute.StorageProfile{
			ImageReference: &armcompute.ImageReference{Publisher: to.Ptr("Canonical"), Offer: to.Ptr("ubuntu-24_04-lts"), SKU: to.Ptr("server"), Version: to.Ptr("latest")},
			OSDisk: &armcompute.OSDisk{CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesFromImage), Name: to.Ptr("vmi-os"),
				ManagedDisk: &armcompute.ManagedDiskParameters{StorageAccountType: to.Ptr(armcompute.StorageAccountTypesPremiumLRS)}},
			DataDisks: []*armcompute.DataDisk{{Lun: to.Ptr[int32](0), CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesEmpty), DiskSizeGB: to.Ptr[int32](4)}},
		},
		OSProfile: &armcompute.OSProfile{ComputerName: to.Ptr("vmi"), AdminUsername: to.Ptr("azureuser"), AdminPassword: to.Ptr("secret-Passw0rd")}}}
	for i := 0; i < 2; i++ {
		if _, err := fixture.Wait(e.vms.BeginCreateOrUpdate(ctx, e.rg, "vmi", body, nil)); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for page := range fixture.Pages(t, e.disks.NewListByResourceGroupPager(e.rg, nil)) {
		for _, d := range page.Value {
			n++
			if *d.Properties.DiskState != armcompute.DiskStateAttached {
				t.Fatalf("disk %s is %s", *d.Name, *d.Properties.DiskState)
			}
		}
	}
	if n != 2 {
		t.Fatalf("%d disks, want the OS disk and one data disk", n)
	}
	vm, err := e.vms.Get(ctx, e.rg, "vmi", nil)
	if err != nil || *vm.Properties.StorageProfile.OSDisk.Name != "vmi-os" || *vm.Properties.StorageProfile.DataDisks[0].DiskSizeGB != 4 {
		t.Fatalf("vm: %v", err)
	}
	if vm.Properties.OSProfile != nil && vm.Properties.OSProfile.AdminPassword != nil {
		t.Fatal("the admin password is echoed back")
	}
}
