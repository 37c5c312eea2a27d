package compute_test

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// sharedDisk is the body of an empty disk of sku, sizeGB and maxShares.
func sharedDisk(sku armcompute.DiskStorageAccountTypes, sizeGB, maxShares int32) armcompute.Disk {
	d := fixture.EmptyDisk("westus", sizeGB)
	d.SKU = &armcompute.DiskSKU{Name: to.Ptr(sku)}
	d.Properties.MaxShares = to.Ptr(maxShares)
	return d
}

// putDataVM creates or updates VM name with OS disk osDisk and the data
// disks given (lun i for the i-th, caching None unless cache).
func (e *env) putDataVM(name, osDisk, cache string, data ...string) (armcompute.VirtualMachine, error) {
	var dds []*armcompute.DataDisk
	for i, d := range data {
		dd := &armcompute.DataDisk{Lun: to.Ptr(int32(i)), CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach),
			ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(e.diskID(d))}}
		if cache != "" {
			dd.Caching = to.Ptr(armcompute.CachingTypes(cache))
		}
		dds = append(dds, dd)
	}
	res, err := fixture.Wait(e.vms.BeginCreateOrUpdate(e.Ctx(), e.rg, name, armcompute.VirtualMachine{Location: to.Ptr("westus"), Properties: &armcompute.VirtualMachineProperties{
		HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypesStandardD2SV3)},
		StorageProfile: &armcompute.StorageProfile{
			OSDisk: &armcompute.OSDisk{CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach), OSType: to.Ptr(armcompute.OperatingSystemTypesLinux),
				ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(e.diskID(osDisk))}},
			DataDisks: dds}}}, nil))
	return res.VirtualMachine, err
}

func (e *env) vmID(name string) string {
	return "/subscriptions/" + e.Sub + "/resourceGroups/" + e.rg + "/providers/Microsoft.Compute/virtualMachines/" + name
}

// TestSharedDiskAttachesToMaxSharesVMs: a shared disk (Premium_LRS,
// maxShares 2) attaches to two VMs at once: managedBy names the first,
// managedByExtended and shareInfo both; a third attach is 409
// OperationNotAllowed naming the limit; the disk is Attached while one of
// its VMs is allocated and Reserved once all are deallocated; a detach
// frees a slot (managedBy passes to the VM left); maxShares changes only
// while the disk is detached from every VM; a shared disk takes no host
// caching and is no OS disk (400 naming the field). A shared disk
// attached to one VM was refused to a second (Safehold attached it to one
// VM at a time).
func TestSharedDiskAttachesToMaxSharesVMs(t *testing.T) {
	e, ctx := start(t)
	for _, n := range []string{"os1", "os2", "os3"} {
		e.emptyDisk(n, 1)
	}
	e.putDisk("sh", sharedDisk(armcompute.DiskStorageAccountTypesPremiumLRS, 256, 2))
	if _, err := e.putDataVM("vm1", "os1", "", "sh"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.putDataVM("vm2", "os2", "", "sh"); err != nil {
		t.Fatalf("attach the shared disk to a second VM: %v", err)
	}
	wantAttached := func(state armcompute.DiskState, vms ...string) {
		t.Helper()
		d, err := e.disks.Get(ctx, e.rg, "sh", nil)
		if err != nil {
			t.Fatal(err)
		}
		var ext, share []string
		for _, v := range d.ManagedByExtended {
			ext = append(ext, strings.ToLower(*v))
		}
		for _, si := range d.Properties.ShareInfo {
			share = append(share, strings.ToLower(*si.VMURI))
		}
		var want []string
		for _, v := range vms {
			want = append(want, strings.ToLower(e.vmID(v)))
		}
		if d.ManagedBy == nil || !strings.EqualFold(*d.ManagedBy, e.vmID(vms[0])) || strings.Join(ext, " ") != strings.Join(want, " ") || strings.Join(share, " ") != strings.Join(want, " ") {
			t.Fatalf("shared disk: managedBy %v, managedByExtended %v, shareInfo %v; want %v", to.Ptr(d.ManagedBy), ext, share, want)
		}
		if *d.Properties.DiskState != state {
			t.Fatalf("shared disk attached to %v: state %s, want %s", vms, *d.Properties.DiskState, state)
		}
	}
	wantAttached(armcompute.DiskStateAttached, "vm1", "vm2")

	// A third VM: the disk is at its maxShares.
	_, err := e.putDataVM("vm3", "os3", "", "sh")
	re := testserver.WantError(t, "a third attach of a maxShares 2 disk", err, 409, "OperationNotAllowed")
	if !strings.Contains(re.Error(), "maxShares 2") {
		t.Fatalf("the refusal does not name maxShares: %v", re)
	}
	if os3, err := e.disks.Get(ctx, e.rg, "os3", nil); err != nil || os3.ManagedBy != nil {
		t.Fatalf("the OS disk of the refused VM: %v %v", err, os3.ManagedBy)
	}

	// maxShares changes only while the disk is detached from every VM.
	_, err = fixture.Wait(e.disks.BeginUpdate(ctx, e.rg, "sh", armcompute.DiskUpdate{Properties: &armcompute.DiskUpdateProperties{MaxShares: to.Ptr[int32](3)}}, nil))
	testserver.WantError(t, "maxShares changed while attached", err, 409, "OperationNotAllowed")

	// Attached while one VM is allocated, Reserved when both are deallocated.
	if _, err := fixture.Wait(e.vms.BeginDeallocate(ctx, e.rg, "vm1", nil)); err != nil {
		t.Fatal(err)
	}
	wantAttached(armcompute.DiskStateAttached, "vm1", "vm2")
	if _, err := fixture.Wait(e.vms.BeginDeallocate(ctx, e.rg, "vm2", nil)); err != nil {
		t.Fatal(err)
	}
	wantAttached(armcompute.DiskStateReserved, "vm1", "vm2")
	if _, err := fixture.Wait(e.vms.BeginStart(ctx, e.rg, "vm2", nil)); err != nil {
		t.Fatal(err)
	}
	wantAttached(armcompute.DiskStateAttached, "vm1", "vm2")

	// A detach frees a slot; managedBy passes to the VM left.
	if _, err := e.putDataVM("vm1", "os1", ""); err != nil {
		t.Fatal(err)
	}
	wantAttached(armcompute.DiskStateAttached, "vm2")
	if _, err := e.putDataVM("vm3", "os3", "", "sh"); err != nil {
		t.Fatalf("attach to a third VM once one detached: %v", err)
	}
	wantAttached(armcompute.DiskStateAttached, "vm2", "vm3")
	_, err = fixture.Wait(e.disks.BeginDelete(ctx, e.rg, "sh", nil))
	testserver.WantError(t, "delete a disk attached to two VMs", err, 409, "OperationNotAllowed")

	// No host caching, and no OS disk.
	e.putDisk("shos", sharedDisk(armcompute.DiskStorageAccountTypesPremiumLRS, 256, 2))
	_, err = e.putDataVM("vm1", "os1", "ReadOnly", "shos")
	testserver.WantError(t, "a shared disk with host caching", err, 400, "InvalidParameter")
	_, err = e.putDataVM("vm4", "shos", "")
	testserver.WantError(t, "a shared disk as the OS disk", err, 400, "InvalidParameter")

	// Detached from both, maxShares may change; the VMs' delete detaches it.
	for _, v := range []string{"vm2", "vm3"} {
		if _, err := fixture.Wait(e.vms.BeginDelete(ctx, e.rg, v, nil)); err != nil {
			t.Fatal(err)
		}
	}
	d, err := e.disks.Get(ctx, e.rg, "sh", nil)
	if err != nil || d.ManagedBy != nil || len(d.ManagedByExtended) != 0 || *d.Properties.DiskState != armcompute.DiskStateUnattached {
		t.Fatalf("shared disk after its VMs' delete: %v %+v", err, d.Disk)
	}
	u, err := fixture.Wait(e.disks.BeginUpdate(ctx, e.rg, "sh", armcompute.DiskUpdate{Properties: &armcompute.DiskUpdateProperties{MaxShares: to.Ptr[int32](3)}}, nil))
	if err != nil || *u.Properties.MaxShares != 3 {
		t.Fatalf("maxShares of a detached disk: %v", err)
	}
}

// TestSharedDiskLimits: maxShares follows Azure's rules: a Standard HDD
// disk cannot be shared; a Premium SSD or Standard SSD disk takes up to 3
// up to 512 GiB, 5 up to 4 TiB, 10 above; Ultra and Premium SSD v2 up to
// 15; 0 is refused; a shared disk's sku cannot become Standard_LRS. A
// refused create makes no disk. Every maxShares was kept as sent.
func TestSharedDiskLimits(t *testing.T) {
	e, ctx := start(t)
	refused := []struct {
		name      string
		sku       armcompute.DiskStorageAccountTypes
		size, max int32
	}{
		{"hdd", armcompute.DiskStorageAccountTypesStandardLRS, 256, 2},
		{"p15", armcompute.DiskStorageAccountTypesPremiumLRS, 256, 4},
		{"p30", armcompute.DiskStorageAccountTypesPremiumLRS, 1024, 6},
		{"e60", armcompute.DiskStorageAccountTypesStandardSSDLRS, 8192, 11},
		{"v2", armcompute.DiskStorageAccountTypesPremiumV2LRS, 64, 16},
		{"zero", armcompute.DiskStorageAccountTypesPremiumLRS, 256, 0},
	}
	for _, c := range refused {
		_, err := fixture.Wait(e.disks.BeginCreateOrUpdate(ctx, e.rg, c.name, sharedDisk(c.sku, c.size, c.max), nil))
		re := testserver.WantError(t, "maxShares "+c.name, err, 400, "InvalidParameter")
		if !strings.Contains(re.Error(), "maxShares") {
			t.Fatalf("maxShares %s: the refusal does not name maxShares: %v", c.name, re)
		}
		if _, err := e.disks.Get(ctx, e.rg, c.name, nil); !testserver.HasError(err, 404, "") {
			t.Fatalf("a refused create made disk %s: %v", c.name, err)
		}
	}
	for _, c := range []struct {
		name      string
		sku       armcompute.DiskStorageAccountTypes
		size, max int32
	}{
		{"p10", armcompute.DiskStorageAccountTypesPremiumLRS, 128, 3},
		{"p50", armcompute.DiskStorageAccountTypesPremiumZRS, 4096, 5},
		{"e20", armcompute.DiskStorageAccountTypesStandardSSDLRS, 512, 3},
		{"e60", armcompute.DiskStorageAccountTypesStandardSSDZRS, 8192, 10},
		{"ultra", armcompute.DiskStorageAccountTypesUltraSSDLRS, 64, 15},
	} {
		d := e.putDisk(c.name, sharedDisk(c.sku, c.size, c.max))
		if *d.Properties.MaxShares != c.max {
			t.Fatalf("disk %s: maxShares %d, want %d", c.name, *d.Properties.MaxShares, c.max)
		}
	}
	_, err := fixture.Wait(e.disks.BeginUpdate(ctx, e.rg, "p10", armcompute.DiskUpdate{SKU: &armcompute.DiskSKU{Name: to.Ptr(armcompute.DiskStorageAccountTypesStandardLRS)}}, nil))
	testserver.WantError(t, "a shared disk's sku to Standard_LRS", err, 400, "InvalidParameter")
	if d, err := e.disks.Get(ctx, e.rg, "p10", nil); err != nil || *d.SKU.Name != armcompute.DiskStorageAccountTypesPremiumLRS {
		t.Fatalf("the disk after the refused sku change: %v", err)
	}
}
