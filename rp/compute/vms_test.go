package compute_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// Restart needs a running VM: a deallocated or stopped one answers 409.
func TestVMRestartNeedsRunning(t *testing.T) {
	e, ctx := start(t)
	e.emptyDisk("os", 1)
	if _, err := fixture.Wait(e.vms.BeginCreateOrUpdate(ctx, e.rg, "vm1", armcompute.VirtualMachine{Location: to.Ptr("westus"), Properties: &armcompute.VirtualMachineProperties{
		HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypesStandardD2SV3)},
		StorageProfile: &armcompute.StorageProfile{OSDisk: &armcompute.OSDisk{CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach),
			OSType: to.Ptr(armcompute.OperatingSystemTypesLinux), ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(e.diskID("os"))}}}}}, nil)); err != nil {
		t.Fatal(err)
	}
	// Created without a networkProfile, it answers an empty one (no
	// Microsoft.Network here): az vm show -d walks its interfaces.
	for _, get := range []func() (*armcompute.VirtualMachine, error){
		func() (*armcompute.VirtualMachine, error) {
			r, err := e.vms.Get(ctx, e.rg, "vm1", nil)
			return &r.VirtualMachine, err
		},
		func() (*armcompute.VirtualMachine, error) {
			p, err := e.vms.NewListPager(e.rg, nil).NextPage(ctx)
			if err != nil || len(p.Value) != 1 {
				return nil, fmt.Errorf("list: %v %v", p.Value, err)
			}
			return p.Value[0], nil
		},
	} {
		vm, err := get()
		if err != nil || vm.Properties.NetworkProfile == nil || vm.Properties.NetworkProfile.NetworkInterfaces == nil || len(vm.Properties.NetworkProfile.NetworkInterfaces) != 0 {
			t.Fatalf("networkProfile of a VM created without one: %+v %v", vm, err)
		}
	}
	if _, err := fixture.Wait(e.vms.BeginRestart(ctx, e.rg, "vm1", nil)); err != nil {
		t.Fatalf("restart of a running VM: %v", err)
	}
	for _, stop := range []func() error{
		func() error { _, err := fixture.Wait(e.vms.BeginDeallocate(ctx, e.rg, "vm1", nil)); return err },
		func() error { _, err := fixture.Wait(e.vms.BeginPowerOff(ctx, e.rg, "vm1", nil)); return err },
	} {
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		_, err := e.vms.BeginRestart(ctx, e.rg, "vm1", nil)
		if st, code := testserver.ErrorOf(err); st != http.StatusConflict || code != "OperationNotAllowed" || !strings.Contains(err.Error(), "start it first") {
			t.Fatalf("restart of a stopped VM: %v", err)
		}
		if _, err := fixture.Wait(e.vms.BeginStart(ctx, e.rg, "vm1", nil)); err != nil {
			t.Fatal(err)
		}
	}
}

// Unknown actions say so; a VM reports how its disks were created.
func TestUnknownActionAndVMCreateOption(t *testing.T) {
	e, ctx := start(t)
	e.emptyDisk("d1", 1)
	resp, body := e.Do("POST", e.diskID("d1")+"/frobnicate?api-version=2024-03-02", map[string]any{})
	msg, _ := testserver.Field(body, "error.message").(string)
	if st := resp.StatusCode; st != http.StatusNotFound || !strings.Contains(msg, "'frobnicate' is not supported") || !strings.Contains(msg, "beginGetAccess") {
		t.Fatalf("unknown disk action: %d %v", st, body)
	}
	if resp, _ := e.Do("GET", e.diskID("d1")+"/frobnicate?api-version=2024-03-02", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET of an unknown disk child: %d", resp.StatusCode)
	}
	if _, err := fixture.Wait(e.vms.BeginCreateOrUpdate(ctx, e.rg, "vmi", armcompute.VirtualMachine{Location: to.Ptr("westus"), Properties: &armcompute.VirtualMachineProperties{
		HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypesStandardD2SV3)},
		StorageProfile: &armcompute.StorageProfile{
			ImageReference: &armcompute.ImageReference{Publisher: to.Ptr("Canonical"), Offer: to.Ptr("ubuntu-24_04-lts"), SKU: to.Ptr("server"), Version: to.Ptr("latest")},
			OSDisk:         &armcompute.OSDisk{CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesFromImage)},
			DataDisks: []*armcompute.DataDisk{
				{Lun: to.Ptr[int32](0), CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesEmpty), DiskSizeGB: to.Ptr[int32](1)},
				{Lun: to.Ptr[int32](1), CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach), ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(e.diskID("d1"))}},
			}}}}, nil)); err != nil {
		t.Fatal(err)
	}
	vm, err := e.vms.Get(ctx, e.rg, "vmi", nil)
	if err != nil {
		t.Fatal(err)
	}
	sp := vm.Properties.StorageProfile
	if *sp.OSDisk.CreateOption != armcompute.DiskCreateOptionTypesFromImage || *sp.DataDisks[0].CreateOption != armcompute.DiskCreateOptionTypesEmpty ||
		*sp.DataDisks[1].CreateOption != armcompute.DiskCreateOptionTypesAttach {
		t.Fatalf("createOptions: os %s, data %s %s", *sp.OSDisk.CreateOption, *sp.DataDisks[0].CreateOption, *sp.DataDisks[1].CreateOption)
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
	// The VM's own GET body PUT back (with the exactVersion it resolved
	// to) is an update; another image is refused, and the VM keeps its own.
	if _, err := fixture.Wait(e.vms.BeginCreateOrUpdate(ctx, e.rg, "vmi", vm.VirtualMachine, nil)); err != nil {
		t.Fatalf("PUT of the VM's own body: %v", err)
	}
	body.Properties.StorageProfile.ImageReference.SKU = to.Ptr("minimal")
	_, err = fixture.Wait(e.vms.BeginCreateOrUpdate(ctx, e.rg, "vmi", body, nil))
	if st, code := testserver.ErrorOf(err); st != http.StatusConflict || code != "PropertyChangeNotAllowed" || !strings.Contains(err.Error(), "imageReference") {
		t.Fatalf("another image for the VM: %d %s (%v), want 409 PropertyChangeNotAllowed", st, code, err)
	}
	if vm, err = e.vms.Get(ctx, e.rg, "vmi", nil); err != nil || *vm.Properties.StorageProfile.ImageReference.SKU != "server" {
		t.Fatalf("the VM's image after the refused change: %v", err)
	}
}

// usages reads a region's compute usages through the SDK: name -> {current, limit}.
func (e *env) usages(location string) map[string][2]int64 {
	e.t.Helper()
	c, err := armcompute.NewUsageClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string][2]int64{}
	pg := c.NewListPager(location, nil)
	for pg.More() {
		page, err := pg.NextPage(e.Ctx())
		if err != nil {
			e.t.Fatal(err)
		}
		for _, u := range page.Value {
			if u.Unit == nil || *u.Unit != "Count" || u.Name == nil || u.Name.Value == nil || u.Name.LocalizedValue == nil || *u.Name.LocalizedValue == "" {
				e.t.Fatalf("usage without Azure's shape: %+v", u)
			}
			out[*u.Name.Value] = [2]int64{int64(*u.CurrentValue), *u.Limit}
		}
	}
	return out
}

func (e *env) setQuota(location string, limits map[string]int64) {
	e.t.Helper()
	resp, m := e.Do("POST", "/providers/Safehold.Admin/computeQuotas/"+e.Sub+"/"+location+"?api-version=2024-01-01", map[string]any{"limits": limits})
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("set quota: %d %v", resp.StatusCode, m)
	}
}

func (e *env) putVMSized(name, osDisk, size string) error {
	_, err := fixture.Wait(e.vms.BeginCreateOrUpdate(e.Ctx(), e.rg, name, armcompute.VirtualMachine{Location: to.Ptr("westus"), Properties: &armcompute.VirtualMachineProperties{
		HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypes(size))},
		StorageProfile: &armcompute.StorageProfile{OSDisk: &armcompute.OSDisk{CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach),
			OSType: to.Ptr(armcompute.OperatingSystemTypesLinux), ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(e.diskID(osDisk))}}}}}, nil))
	return err
}

// Compute quotas as Azure has them: usages per region report what the
// allocated VMs use against the limits; an operator lowers a limit through
// the admin API, and creating, resizing or starting a VM beyond it fails
// with 409 OperationNotAllowed; a deallocated VM frees its vCPUs.
func TestComputeQuota(t *testing.T) {
	e, ctx := start(t)
	u := e.usages("westus")
	if u["cores"] != [2]int64{0, 10000} || u["virtualMachines"] != [2]int64{0, 25000} || u["standardDSv3Family"] != [2]int64{0, 10000} {
		t.Fatalf("defaults: %v", u)
	}
	for _, d := range []string{"os1", "os2", "os3"} {
		e.emptyDisk(d, 1)
	}
	if err := e.putVMSized("vm1", "os1", "Standard_D2s_v3"); err != nil {
		t.Fatal(err)
	}
	u = e.usages("westus")
	if u["cores"][0] != 2 || u["standardDSv3Family"][0] != 2 || u["virtualMachines"][0] != 1 || u["standardBSFamily"][0] != 0 {
		t.Fatalf("after one Standard_D2s_v3: %v", u)
	}
	if e.usages("eastus")["cores"][0] != 0 {
		t.Fatal("a westus VM counted in eastus")
	}

	// The family limit: another DSv3 VM does not fit, a B-series one does.
	e.setQuota("westus", map[string]int64{"standardDSv3Family": 3})
	err := e.putVMSized("vm2", "os2", "Standard_D2s_v3")
	if st, code := testserver.ErrorOf(err); st != http.StatusConflict || code != "OperationNotAllowed" || !strings.Contains(err.Error(), "standardDSv3Family Cores quota") || !strings.Contains(err.Error(), "Current Limit: 3, Current Usage: 2, Additional Required: 2") {
		t.Fatalf("a VM beyond the family limit: %v", err)
	}
	if _, err := e.vms.Get(ctx, e.rg, "vm2", nil); err == nil {
		t.Fatal("the refused VM exists")
	}
	if err := e.putVMSized("vm2", "os2", "Standard_B2s"); err != nil {
		t.Fatalf("a B-series VM within the limits: %v", err)
	}
	// The regional limit: 4 vCPUs are used.
	e.setQuota("westus", map[string]int64{"cores": 4})
	if err := e.putVMSized("vm3", "os3", "Standard_B1s"); err == nil || !strings.Contains(err.Error(), "Total Regional Cores quota") {
		t.Fatalf("a VM beyond the regional limit: %v", err)
	}
	// Resizing an allocated VM needs the difference.
	_, err = e.vms.BeginUpdate(ctx, e.rg, "vm2", armcompute.VirtualMachineUpdate{Properties: &armcompute.VirtualMachineProperties{
		HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypes("Standard_B4ms"))}}}, nil)
	if st, code := testserver.ErrorOf(err); st != http.StatusConflict || code != "OperationNotAllowed" {
		t.Fatalf("a resize beyond the regional limit: %v", err)
	}
	// A deallocated VM frees its vCPUs (not its VM count); starting it
	// again needs them back.
	if _, err := fixture.Wait(e.vms.BeginDeallocate(ctx, e.rg, "vm1", nil)); err != nil {
		t.Fatal(err)
	}
	if u = e.usages("westus"); u["cores"] != [2]int64{2, 4} || u["virtualMachines"][0] != 2 {
		t.Fatalf("after deallocating vm1: %v", u)
	}
	if err := e.putVMSized("vm3", "os3", "Standard_B2s"); err != nil {
		t.Fatalf("a VM in the freed vCPUs: %v", err)
	}
	if _, err := fixture.Wait(e.vms.BeginStart(ctx, e.rg, "vm1", nil)); err == nil || !strings.Contains(err.Error(), "OperationNotAllowed") {
		t.Fatalf("starting a deallocated VM beyond the limit: %v", err)
	}
	// Back to the defaults: it starts.
	e.setQuota("westus", map[string]int64{"cores": -1, "standardDSv3Family": -1})
	if _, err := fixture.Wait(e.vms.BeginStart(ctx, e.rg, "vm1", nil)); err != nil {
		t.Fatal(err)
	}
	if u = e.usages("westus"); u["cores"] != [2]int64{6, 10000} || u["standardBSFamily"][0] != 4 {
		t.Fatalf("at the end: %v", u)
	}
	// A size that is not one is refused, as is a quota that is not one.
	e.emptyDisk("os4", 1)
	if st, code := testserver.ErrorOf(e.putVMSized("vm4", "os4", "Huge")); st != http.StatusBadRequest || code != "InvalidParameter" {
		t.Fatalf("a VM of size 'Huge': %d %s", st, code)
	}
	resp, _ := e.Do("POST", "/providers/Safehold.Admin/computeQuotas/"+e.Sub+"/westus?api-version=2024-01-01", map[string]any{"limits": map[string]int64{"disks": 3}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("an unknown quota: %d", resp.StatusCode)
	}
}

// TestResourceGroupDeleteCleansUp: deleting a resource group deletes its
// VMs first (detaching disks), then disks (volume files) and snapshots
// (engine manifests).
func TestResourceGroupDeleteCleansUp(t *testing.T) {
	e, ctx := start(t)
	e.putDisk("d", armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionUpload), UploadSizeBytes: to.Ptr[int64](20<<20 + 512)}}})
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

// A disk reports when it was last attached or detached
// (LastOwnershipUpdateTime) with the VM that manages it.
func TestDiskOwnershipTime(t *testing.T) {
	e, ctx := start(t)
	e.emptyDisk("os1", 1)
	if d, err := e.disks.Get(ctx, e.rg, "os1", nil); err != nil || d.Properties.LastOwnershipUpdateTime != nil {
		t.Fatalf("a disk never attached: %v %v", err, d.Properties.LastOwnershipUpdateTime)
	}
	if err := e.putVMSized("vm1", "os1", "Standard_D2s_v3"); err != nil {
		t.Fatal(err)
	}
	d, err := e.disks.Get(ctx, e.rg, "os1", nil)
	if err != nil || d.ManagedBy == nil || d.Properties.LastOwnershipUpdateTime == nil {
		t.Fatalf("attached disk: %v managedBy %v time %v", err, d.ManagedBy, d.Properties.LastOwnershipUpdateTime)
	}
	attached := *d.Properties.LastOwnershipUpdateTime
	time.Sleep(10 * time.Millisecond)
	if _, err := fixture.Wait(e.vms.BeginDelete(ctx, e.rg, "vm1", nil)); err != nil {
		t.Fatal(err)
	}
	d, err = e.disks.Get(ctx, e.rg, "os1", nil)
	if err != nil || d.ManagedBy != nil || d.Properties.LastOwnershipUpdateTime == nil || !d.Properties.LastOwnershipUpdateTime.After(attached) {
		t.Fatalf("detached disk: %v managedBy %v time %v (attached at %v)", err, d.ManagedBy, d.Properties.LastOwnershipUpdateTime, attached)
	}
}

// A VM's delete takes the disks whose deleteOption is Delete with it, so
// the caller must be allowed to delete each: a contributor of the VM's
// group (rg2) whose data disk lies in rg1 gets 403 LinkedAuthorizationFailed
// naming the disk's delete, and the VM and both disks stay; the admin's
// delete takes the VM and the disk marked Delete, and keeps the OS disk
// marked Detach.
func TestVMDeleteNeedsDeleteOnItsDisks(t *testing.T) {
	e, ctx := start(t)
	os2 := "/subscriptions/" + e.Sub + "/resourceGroups/rg2/providers/Microsoft.Compute/disks/os2"
	if _, err := fixture.Wait(e.disks.BeginCreateOrUpdate(ctx, "rg2", "os2", e.emptyDisk("unused", 1), nil)); err != nil {
		t.Fatal(err)
	}
	e.putDisk("data1", e.emptyDisk("data1", 1))
	if _, err := fixture.Wait(e.vms.BeginCreateOrUpdate(ctx, "rg2", "vmd", armcompute.VirtualMachine{Location: to.Ptr("westus"), Properties: &armcompute.VirtualMachineProperties{
		HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypesStandardD2SV3)},
		StorageProfile: &armcompute.StorageProfile{
			OSDisk: &armcompute.OSDisk{CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach), OSType: to.Ptr(armcompute.OperatingSystemTypesLinux),
				DeleteOption: to.Ptr(armcompute.DiskDeleteOptionTypesDetach), ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(os2)}},
			DataDisks: []*armcompute.DataDisk{{Lun: to.Ptr[int32](0), CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach),
				DeleteOption: to.Ptr(armcompute.DiskDeleteOptionTypesDelete), ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(e.diskID("data1"))}}},
		}}}, nil)); err != nil {
		t.Fatal(err)
	}
	f := e.rg2Contributor(t, func(f *armcompute.ClientFactory) error {
		_, err := f.NewVirtualMachinesClient().Get(ctx, "rg2", "vmd", nil)
		return err
	})
	_, err := fixture.Wait(f.NewVirtualMachinesClient().BeginDelete(ctx, "rg2", "vmd", nil))
	if re := testserver.WantError(t, "delete of a VM whose Delete disk the caller may not delete", err, 403, "LinkedAuthorizationFailed"); !strings.Contains(re.Error(), "disks/delete") {
		t.Fatalf("the refusal does not name the disk's delete: %v", re)
	}
	if _, err := e.vms.Get(ctx, "rg2", "vmd", nil); err != nil {
		t.Fatalf("the refused delete removed the VM: %v", err)
	}
	// A management lock on a Delete disk refuses the VM's delete too.
	lock := e.diskID("data1") + "/providers/Microsoft.Authorization/locks/keep?api-version=2016-09-01"
	if resp, m := e.Do("PUT", lock, `{"properties":{"level":"CanNotDelete"}}`); resp.StatusCode != 201 {
		t.Fatalf("lock the data disk: %d %v", resp.StatusCode, m)
	}
	_, err = fixture.Wait(e.vms.BeginDelete(ctx, "rg2", "vmd", nil))
	if re := testserver.WantError(t, "delete of a VM whose Delete disk is locked", err, 409, "ScopeLocked"); !strings.Contains(re.Error(), "keep") {
		t.Fatalf("the refusal does not name the lock: %v", re)
	}
	if _, err := e.vms.Get(ctx, "rg2", "vmd", nil); err != nil {
		t.Fatalf("the refused delete removed the VM: %v", err)
	}
	e.Do("DELETE", lock, nil)
	if _, err := fixture.Wait(e.vms.BeginDelete(ctx, "rg2", "vmd", nil)); err != nil {
		t.Fatal(err)
	}
	e.WaitFor("the Delete disk gone", func() bool {
		_, err := e.disks.Get(ctx, e.rg, "data1", nil)
		return err != nil
	})
	if _, err := e.disks.Get(ctx, "rg2", "os2", nil); err != nil {
		t.Fatalf("the Detach OS disk went with the VM: %v", err)
	}
}
