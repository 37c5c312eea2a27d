package compute_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/safehold/safehold/internal/fixture"
)

// Concurrent updates of one VM (attachDetachDataDisks, a PATCH of its tags)
// each start from the VM as they read it: none may undo another's change.
// Every attach that succeeded leaves its disk attached, and the tags a
// PATCH set stay, whatever ran meanwhile.
func TestConcurrentVMUpdatesKeepEachOther(t *testing.T) {
	e, ctx := start(t)
	e.emptyDisk("os", 1)
	if err := e.putVMSized("vm1", "os", "Standard_D2s_v3"); err != nil {
		t.Fatal(err)
	}
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
