package compute_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/volume"
)

const slots = 64

// writer writes records 1, 2, 3, ... (record i fills slot i%slots, a 64 KiB
// block, with i) to each volume in order, until stopped.
func writer(vols []*volume.Volume, stop *atomic.Bool, wg *sync.WaitGroup, written *atomic.Int64) {
	defer wg.Done()
	buf := make([]byte, volume.BlockSize)
	for i := int64(1); !stop.Load(); i++ {
		for j := 0; j < len(buf); j += 8 {
			binary.LittleEndian.PutUint64(buf[j:], uint64(i))
		}
		for _, v := range vols {
			if _, err := v.WriteAt(buf, (i%slots)*volume.BlockSize); err != nil {
				panic(err)
			}
		}
		written.Store(i)
	}
}

// readSlots restores a snapshot into memory and returns each slot's record.
func readSlots(t *testing.T, svc *compute.Service, snapID string) []int64 {
	t.Helper()
	sn, err := svc.Snapshot(context.Background(), snapID)
	if err != nil {
		t.Fatal(err)
	}
	rd, err := svc.Repository().OpenReader(context.Background(), sn.EngineID)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int64, slots)
	buf := make([]byte, volume.BlockSize)
	for s := 0; s < slots; s++ {
		if _, err := rd.ReadAt(buf, int64(s)*volume.BlockSize); err != nil {
			t.Fatal(err)
		}
		first := binary.LittleEndian.Uint64(buf)
		for j := 0; j < len(buf); j += 8 {
			if binary.LittleEndian.Uint64(buf[j:]) != first {
				t.Fatalf("snapshot %s slot %d is torn: a write leaked in halfway", snapID, s)
			}
		}
		out[s] = int64(first)
	}
	return out
}

// prefix checks that slots show exactly records 1..k for some k and returns k.
func prefix(t *testing.T, got []int64) int64 {
	t.Helper()
	var k int64
	for _, v := range got {
		k = max(k, v)
	}
	for s, v := range got {
		want := k - ((k-int64(s))%slots+slots)%slots // the last record <= k landing in slot s
		if want <= 0 {
			want = 0
		}
		if v != want {
			t.Fatalf("slot %d holds record %d, want %d for a snapshot after record %d: the snapshot is not one instant", s, v, want, k)
		}
	}
	return k
}

// TestWritesRacingSnapshots: a writer keeps writing while snapshots are
// taken; every snapshot is exactly the disk after some record, never with
// a later write leaking in.
func TestWritesRacingSnapshots(t *testing.T) {
	e, ctx := start(t)
	e.emptyDisk("race", 1)
	svc := e.Server.Compute
	v, err := svc.Volume(ctx, e.diskID("race"))
	if err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var written atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go writer([]*volume.Volume{v}, &stop, &wg, &written)
	var ks []int64
	for i := 0; i < 6; i++ {
		before := written.Load()
		sn, err := svc.SnapshotDisks(ctx, []compute.SnapshotSpec{{DiskID: e.diskID("race"), SnapshotID: e.snapID(fmt.Sprintf("race-%d", i)), Incremental: i%2 == 0}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		after := written.Load()
		k := prefix(t, readSlots(t, svc, sn[0].ID))
		if k < before || k > after+1 {
			t.Fatalf("snapshot %d is after record %d, outside the call's window [%d, %d]", i, k, before, after+1)
		}
		ks = append(ks, k)
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("snapshots after records %v", ks)
}

// TestVMDisksFrozenTogether: a VM with three disks; a writer writes each
// record to the three disks in turn; the VM's disks snapshotted together
// show one instant (the first disk at most one record ahead of the last).
func TestVMDisksFrozenTogether(t *testing.T) {
	e, ctx := start(t)
	for _, n := range []string{"os", "data1", "data2"} {
		e.emptyDisk(n, 1)
	}
	res, err := fixture.Wait(e.vms.BeginCreateOrUpdate(ctx, e.rg, "vm1", armcompute.VirtualMachine{Location: to.Ptr("westus"), Properties: &armcompute.VirtualMachineProperties{
		HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypesStandardD2SV3)},
		StorageProfile: &armcompute.StorageProfile{
			OSDisk: &armcompute.OSDisk{CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach), OSType: to.Ptr(armcompute.OperatingSystemTypesLinux),
				ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(e.diskID("os"))}},
			DataDisks: []*armcompute.DataDisk{
				{Lun: to.Ptr[int32](0), CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach), ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(e.diskID("data1"))}},
				{Lun: to.Ptr[int32](1), CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach), ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(e.diskID("data2"))}},
			}}}}, nil))
	if err != nil {
		t.Fatal(err)
	}
	vmID := *res.ID
	if len(res.Properties.StorageProfile.DataDisks) != 2 || *res.Properties.ProvisioningState != "Succeeded" || res.Properties.VMID == nil {
		t.Fatalf("vm: %+v", res.Properties)
	}
	for _, n := range []string{"os", "data1", "data2"} {
		d, err := e.disks.Get(ctx, e.rg, n, nil)
		if err != nil {
			t.Fatal(err)
		}
		if *d.Properties.DiskState != armcompute.DiskStateAttached || d.ManagedBy == nil || !strings.EqualFold(*d.ManagedBy, vmID) {
			t.Fatalf("disk %s: state %s managedBy %v", n, *d.Properties.DiskState, d.ManagedBy)
		}
	}
	iv, err := e.vms.InstanceView(ctx, e.rg, "vm1", nil)
	if err != nil || !hasStatus(iv.Statuses, "PowerState/running") || len(iv.Disks) != 3 {
		t.Fatalf("instance view: %v %+v", err, iv)
	}

	svc := e.Server.Compute
	vm, err := svc.VM(ctx, vmID)
	if err != nil || len(vm.DiskIDs()) != 3 || vm.PowerState != compute.PowerRunning {
		t.Fatalf("domain vm: %v %+v", err, vm)
	}
	var vols []*volume.Volume
	for _, id := range vm.DiskIDs() {
		v, err := svc.Volume(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		vols = append(vols, v)
	}
	var stop atomic.Bool
	var written atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go writer(vols, &stop, &wg, &written)
	for round := 0; round < 4; round++ {
		ids := map[string]string{}
		for i, id := range vm.DiskIDs() {
			ids[id] = e.snapID(fmt.Sprintf("vm1-%d-%d", round, i))
		}
		sns, err := svc.SnapshotVM(ctx, vmID, true, ids, map[string]string{"round": fmt.Sprint(round)}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var ks []int64
		for _, sn := range sns {
			ks = append(ks, prefix(t, readSlots(t, svc, sn.ID)))
		}
		// The writer writes record k to disk 0, then 1, then 2: at one
		// instant the disks hold k, k or k-1, k or k-1, never increasing.
		if !(ks[0] >= ks[1] && ks[1] >= ks[2] && ks[0]-ks[2] <= 1) {
			t.Fatalf("round %d: disks show records %v: not one instant", round, ks)
		}
		if !sns[0].TimeCreated.Equal(sns[2].TimeCreated) {
			t.Fatalf("snapshots of one freeze have different times")
		}
	}
	stop.Store(true)
	wg.Wait()

	// Power operations and instance view.
	for _, step := range []struct {
		do   func() error
		want string
		disk armcompute.DiskState
	}{
		{func() error { _, err := fixture.Wait(e.vms.BeginPowerOff(ctx, e.rg, "vm1", nil)); return err }, "PowerState/stopped", armcompute.DiskStateAttached},
		{func() error { _, err := fixture.Wait(e.vms.BeginDeallocate(ctx, e.rg, "vm1", nil)); return err }, "PowerState/deallocated", armcompute.DiskStateReserved},
		{func() error { _, err := fixture.Wait(e.vms.BeginStart(ctx, e.rg, "vm1", nil)); return err }, "PowerState/running", armcompute.DiskStateAttached},
		{func() error { _, err := fixture.Wait(e.vms.BeginRestart(ctx, e.rg, "vm1", nil)); return err }, "PowerState/running", armcompute.DiskStateAttached},
	} {
		if err := step.do(); err != nil {
			t.Fatal(err)
		}
		got, err := e.vms.Get(ctx, e.rg, "vm1", &armcompute.VirtualMachinesClientGetOptions{Expand: to.Ptr(armcompute.InstanceViewTypesInstanceView)})
		if err != nil || got.Properties.InstanceView == nil || !hasStatus(got.Properties.InstanceView.Statuses, step.want) {
			t.Fatalf("after power op want %s: %v", step.want, err)
		}
		d, _ := e.disks.Get(ctx, e.rg, "data1", nil)
		if *d.Properties.DiskState != step.disk {
			t.Fatalf("disk state %s, want %s", *d.Properties.DiskState, step.disk)
		}
	}

	// An attached disk cannot be deleted; a disk in another region cannot be attached.
	_, err = e.disks.BeginDelete(ctx, e.rg, "data1", nil)
	if st, code := testserver.ErrorOf(err); st != 409 || code != "OperationNotAllowed" {
		t.Fatalf("delete attached disk: %v", err)
	}
	e.putDisk("far", fixture.EmptyDisk("eastus", 1))
	_, err = e.vms.BeginCreateOrUpdate(ctx, e.rg, "vm2", armcompute.VirtualMachine{Location: to.Ptr("westus"), Properties: &armcompute.VirtualMachineProperties{
		StorageProfile: &armcompute.StorageProfile{OSDisk: &armcompute.OSDisk{CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach),
			ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(e.diskID("far"))}}}}}, nil)
	if st, code := testserver.ErrorOf(err); st != 400 || code != "InvalidParameter" {
		t.Fatalf("disk in another region: %v", err)
	}

	// Listing, then deleting the VM detaches its disks.
	n := testserver.Count(t, ctx, e.vms.NewListAllPager(nil))
	if n != 1 {
		t.Fatalf("listed %d VMs", n)
	}
	if _, err := fixture.Wait(e.vms.BeginDelete(ctx, e.rg, "vm1", nil)); err != nil {
		t.Fatal(err)
	}
	d, _ := e.disks.Get(ctx, e.rg, "data1", nil)
	if *d.Properties.DiskState != armcompute.DiskStateUnattached || d.ManagedBy != nil {
		t.Fatalf("after VM delete: %s %v", *d.Properties.DiskState, d.ManagedBy)
	}
}

func hasStatus(ss []*armcompute.InstanceViewStatus, code string) bool {
	for _, s := range ss {
		if s.Code != nil && *s.Code == code {
			return true
		}
	}
	return false
}
