package compute_test

import (
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestVMDataDiskToBeDetached: a data disk an update marks toBeDetached
// (detachOption ForceDetach: what az vm disk detach --force-detach PUTs,
// the VM's own body with the flag on the disk; Azure's
// VirtualMachine_Update_ForceDetachDataDisk and
// _DetachDataDiskUsingToBeDetachedProperty examples PATCH it) is detached:
// the VM no longer lists it and the disk is Unattached. The flag was
// ignored, so the disk stayed attached while the update succeeded.
func TestVMDataDiskToBeDetached(t *testing.T) {
	e, ctx := start(t)
	e.putDisk("dt-os", e.emptyDisk("dt-os", 1))
	for _, n := range []string{"dt-a", "dt-b", "dt-c"} {
		e.putDisk(n, e.emptyDisk(n, 1))
	}
	attach := func(lun int32, disk string) *armcompute.DataDisk {
		return &armcompute.DataDisk{Lun: to.Ptr(lun), CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach),
			ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(e.diskID(disk))}}
	}
	vm, err := fixture.Wait(e.vms.BeginCreateOrUpdate(ctx, e.rg, "dtvm", armcompute.VirtualMachine{Location: to.Ptr("westus"), Properties: &armcompute.VirtualMachineProperties{
		HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypesStandardD2SV3)},
		StorageProfile: &armcompute.StorageProfile{
			OSDisk: &armcompute.OSDisk{CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach), OSType: to.Ptr(armcompute.OperatingSystemTypesLinux),
				ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(e.diskID("dt-os"))}},
			DataDisks: []*armcompute.DataDisk{attach(0, "dt-a"), attach(1, "dt-b"), attach(2, "dt-c")},
		}}}, nil))
	if err != nil {
		t.Fatal(err)
	}
	luns := func(v armcompute.VirtualMachine) []int32 {
		var out []int32
		for _, dd := range v.Properties.StorageProfile.DataDisks {
			out = append(out, *dd.Lun)
		}
		return out
	}
	unattached := func(name string) {
		t.Helper()
		d, err := e.disks.Get(ctx, e.rg, name, nil)
		if err != nil {
			t.Fatal(err)
		}
		if *d.Properties.DiskState != armcompute.DiskStateUnattached || d.ManagedBy != nil {
			t.Fatalf("disk %s after its detach: state %s, managedBy %v", name, *d.Properties.DiskState, d.ManagedBy)
		}
	}

	// An unknown detachOption is refused, naming the field; nothing changes.
	bad := vm.VirtualMachine
	bad.Properties.StorageProfile.DataDisks = []*armcompute.DataDisk{attach(0, "dt-a"), attach(1, "dt-b"), attach(2, "dt-c")}
	bad.Properties.StorageProfile.DataDisks[0].ToBeDetached = to.Ptr(true)
	bad.Properties.StorageProfile.DataDisks[0].DetachOption = to.Ptr(armcompute.DiskDetachOptionTypes("Gently"))
	_, err = fixture.Wait(e.vms.BeginCreateOrUpdate(ctx, e.rg, "dtvm", bad, nil))
	testserver.WantError(t, "a detachOption other than ForceDetach", err, 400, "InvalidParameter")

	// az vm disk detach --force-detach: the VM's GET body, the disk flagged.
	got, err := e.vms.Get(ctx, e.rg, "dtvm", nil)
	if err != nil {
		t.Fatal(err)
	}
	body := got.VirtualMachine
	for _, dd := range body.Properties.StorageProfile.DataDisks {
		if *dd.Name == "dt-a" {
			dd.ToBeDetached = to.Ptr(true)
			dd.DetachOption = to.Ptr(armcompute.DiskDetachOptionTypesForceDetach)
		}
	}
	put, err := fixture.Wait(e.vms.BeginCreateOrUpdate(ctx, e.rg, "dtvm", body, nil))
	if err != nil {
		t.Fatal(err)
	}
	if l := luns(put.VirtualMachine); len(l) != 2 || l[0] != 1 || l[1] != 2 {
		t.Fatalf("data disks after the PUT detaching lun 0: luns %v", l)
	}
	unattached("dt-a")

	// A PATCH flagging one disk of its list (toBeDetached false on the other).
	b := attach(1, "dt-b")
	b.ToBeDetached = to.Ptr(true)
	c := attach(2, "dt-c")
	c.ToBeDetached = to.Ptr(false)
	patched, err := fixture.Wait(e.vms.BeginUpdate(ctx, e.rg, "dtvm", armcompute.VirtualMachineUpdate{Properties: &armcompute.VirtualMachineProperties{
		StorageProfile: &armcompute.StorageProfile{DataDisks: []*armcompute.DataDisk{b, c}}}}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if l := luns(patched.VirtualMachine); len(l) != 1 || l[0] != 2 {
		t.Fatalf("data disks after the PATCH detaching lun 1: luns %v", l)
	}
	unattached("dt-b")
	got, err = e.vms.Get(ctx, e.rg, "dtvm", nil)
	if err != nil {
		t.Fatal(err)
	}
	if l := luns(got.VirtualMachine); len(l) != 1 || l[0] != 2 {
		t.Fatalf("the VM as read after the detaches: luns %v", l)
	}
	if d, err := e.disks.Get(ctx, e.rg, "dt-c", nil); err != nil || *d.Properties.DiskState != armcompute.DiskStateAttached {
		t.Fatalf("the disk left attached: %v %v", d.Properties.DiskState, err)
	}
}
