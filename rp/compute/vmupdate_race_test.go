package compute_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/safehold/safehold/internal/fixture"
)

// startVM1 starts a server with a VM vm1 (OS disk os).
func startVM1(t *testing.T) (*env, context.Context) {
	e, ctx := start(t)
	e.emptyDisk("os", 1)
	if err := e.putVMSized("vm1", "os", "Standard_D2s_v3"); err != nil {
		t.Fatal(err)
	}
	return e, ctx
}

// Concurrent updates of one VM (attachDetachDataDisks, a PATCH of its tags)
// each start from the VM as they read it: none may undo another's change.
// Every attach that succeeded leaves its disk attached, and the tags a
// PATCH set stay, whatever ran meanwhile.
func TestConcurrentVMUpdatesKeepEachOther(t *testing.T) {
	e, ctx := startVM1(t)
	const n = 6
	for i := range n {
		e.emptyDisk(fmt.Sprintf("d%d", i), 1)
	}
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = fixture.Wait(e.vms.BeginAttachDetachDataDisks(ctx, e.rg, "vm1", armcompute.AttachDetachDataDisksRequest{
				DataDisksToAttach: []*armcompute.DataDisksToAttach{{DiskID: to.Ptr(e.diskID(fmt.Sprintf("d%d", i)))}}}, nil))
		}()
	}
	var tagErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, tagErr = fixture.Wait(e.vms.BeginUpdate(ctx, e.rg, "vm1", armcompute.VirtualMachineUpdate{Tags: map[string]*string{"k": to.Ptr("v")}}, nil))
	}()
	wg.Wait()
	if tagErr != nil {
		t.Fatalf("tags PATCH: %v", tagErr)
	}
	vm, err := e.vms.Get(ctx, e.rg, "vm1", nil)
	if err != nil {
		t.Fatal(err)
	}
	attached := map[string]bool{}
	for _, dd := range vm.Properties.StorageProfile.DataDisks {
		attached[strings.ToLower(*dd.ManagedDisk.ID)] = true
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("attach of d%d: %v", i, err)
		}
		if !attached[strings.ToLower(e.diskID(fmt.Sprintf("d%d", i)))] {
			t.Errorf("d%d: its attach succeeded, but the VM does not have it (data disks: %v)", i, attached)
		}
		d, err := e.disks.Get(ctx, e.rg, fmt.Sprintf("d%d", i), nil)
		if err != nil {
			t.Fatal(err)
		}
		if d.ManagedBy == nil || !strings.EqualFold(*d.ManagedBy, *vm.ID) {
			t.Errorf("d%d: its attach succeeded, but the disk is managed by %v", i, d.ManagedBy)
		}
	}
	if vm.Tags["k"] == nil || *vm.Tags["k"] != "v" {
		t.Errorf("the tags PATCH succeeded, but the VM's tags are %v", vm.Tags)
	}
}

// A VM PATCH whose data disks create a disk (createOption Empty, served
// over the VM's body as a PUT) and a PATCH of the VM's tags, run
// together: neither undoes the other. Each round both succeed, so the VM
// must have the round's new disk and the round's tags.
func TestConcurrentVMPatchCreatingDiskKeepsTags(t *testing.T) {
	e, ctx := startVM1(t)
	for round := range 6 {
		name := fmt.Sprintf("new%d", round)
		var wg sync.WaitGroup
		var diskErr, tagErr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, diskErr = fixture.Wait(e.vms.BeginUpdate(ctx, e.rg, "vm1", armcompute.VirtualMachineUpdate{Properties: &armcompute.VirtualMachineProperties{
				StorageProfile: &armcompute.StorageProfile{DataDisks: []*armcompute.DataDisk{{Lun: to.Ptr[int32](0), Name: to.Ptr(name),
					CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesEmpty), DiskSizeGB: to.Ptr[int32](1)}}}}}, nil))
		}()
		go func() {
			defer wg.Done()
			_, tagErr = fixture.Wait(e.vms.BeginUpdate(ctx, e.rg, "vm1", armcompute.VirtualMachineUpdate{Tags: map[string]*string{"round": to.Ptr(name)}}, nil))
		}()
		wg.Wait()
		if diskErr != nil || tagErr != nil {
			t.Fatalf("round %d: disk PATCH: %v; tags PATCH: %v", round, diskErr, tagErr)
		}
		vm, err := e.vms.Get(ctx, e.rg, "vm1", nil)
		if err != nil {
			t.Fatal(err)
		}
		if vm.Tags["round"] == nil || *vm.Tags["round"] != name {
			t.Errorf("round %d: the tags PATCH succeeded, but the VM's tag round is %v", round, to.Ptr(vm.Tags["round"]))
		}
		dd := vm.Properties.StorageProfile.DataDisks
		if len(dd) != 1 || dd[0].ManagedDisk == nil || !strings.HasSuffix(strings.ToLower(*dd[0].ManagedDisk.ID), "/"+name) {
			t.Errorf("round %d: the disk PATCH succeeded, but the VM's data disks are %v", round, dd)
		}
	}
}
