package recoveryservices_test

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armlocks"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestFailedVMRestoreLeavesNoDisks: a VM restore that made its disks and
// then failed at the VM step (an OriginalLocation restore onto a VM a
// ReadOnly lock covered after the restore was accepted) deletes the disks
// it made: the job fails with the VM step's error and the VM's resource
// group holds only the disks it held before. Where a lock forbids deleting
// them (CanNotDelete on the group) they stay, and the job's error names
// each. The disks were left behind, unattached and unnamed anywhere.
func TestFailedVMRestoreLeavesNoDisks(t *testing.T) {
	e, bf, rp := backedUpVM1(t, 1)
	ctx := e.Ctx()
	locks, err := armlocks.NewManagementLocksClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	disks := testserver.Factory(e, armcompute.NewClientFactory).NewDisksClient()
	diskNames := func() []string {
		t.Helper()
		var out []string
		for page := range fixture.Pages(t, disks.NewListByResourceGroupPager("vmrg", nil)) {
			for _, d := range page.Value {
				out = append(out, *d.Name)
			}
		}
		return out
	}
	before := diskNames()
	lock := func(name string, level armlocks.LockLevel, vm bool) {
		t.Helper()
		l := armlocks.ManagementLockObject{Properties: &armlocks.ManagementLockProperties{Level: to.Ptr(level)}}
		var err error
		if vm {
			_, err = locks.CreateOrUpdateAtResourceLevel(ctx, "vmrg", "Microsoft.Compute", "", "virtualMachines", "vm1", name, l, nil)
		} else {
			_, err = locks.CreateOrUpdateAtResourceGroupLevel(ctx, "vmrg", name, l, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// restore accepts an OriginalLocation restore, then locks (as the
	// restore's work runs after) and waits for it to fail.
	restore := func(lockAfter func()) (*armrecoveryservicesbackup.AzureIaaSVMJob, error) {
		t.Helper()
		e.Server.Jobs.Stop()
		rr := &armrecoveryservicesbackup.IaasVMRestoreRequest{ObjectType: to.Ptr("IaasVMRestoreRequest"), RecoveryPointID: to.Ptr(rp),
			RecoveryType: to.Ptr(armrecoveryservicesbackup.RecoveryTypeOriginalLocation), SourceResourceID: to.Ptr(vm1ID(e)), Region: to.Ptr("westus")}
		poller, err := bf.NewRestoresClient().BeginTrigger(ctx, "v1", "vaultrg", "Azure", vm1Container, vm1Item, rp, armrecoveryservicesbackup.RestoreRequestResource{Properties: rr}, nil)
		if err != nil {
			t.Fatal(err)
		}
		lockAfter()
		if err := e.Server.Jobs.Start(ctx); err != nil {
			t.Fatal(err)
		}
		_, werr := fixture.Wait(poller, nil)
		var failed *armrecoveryservicesbackup.AzureIaaSVMJob
		for page := range fixture.Pages(t, bf.NewBackupJobsClient().NewListPager("v1", "vaultrg", &armrecoveryservicesbackup.BackupJobsClientListOptions{Filter: to.Ptr("operation eq 'Restore'")})) {
			for _, j := range page.Value {
				if vj, ok := j.Properties.(*armrecoveryservicesbackup.AzureIaaSVMJob); ok && *vj.Status == "Failed" && (failed == nil || vj.StartTime.After(*failed.StartTime)) {
					failed = vj
				}
			}
		}
		if failed == nil || len(failed.ErrorDetails) == 0 {
			t.Fatalf("no failed restore job with an error: %+v", failed)
		}
		return failed, werr
	}

	// The VM step refused: the disks the restore made are gone.
	j, err := restore(func() { lock("keep", armlocks.LockLevelReadOnly, true) })
	if !testserver.HasError(err, 0, "ScopeLocked") || *j.ErrorDetails[0].ErrorTitle != "ScopeLocked" {
		t.Errorf("the restore onto the ReadOnly VM: %v, job error %s", err, *j.ErrorDetails[0].ErrorTitle)
	}
	if after := diskNames(); len(after) != len(before) {
		t.Errorf("disks in vmrg after the failed restore: %v, before it: %v", after, before)
	}

	// A CanNotDelete lock on the group keeps them: the job names each.
	if _, err := locks.DeleteAtResourceLevel(ctx, "vmrg", "Microsoft.Compute", "", "virtualMachines", "vm1", "keep", nil); err != nil {
		t.Fatal(err)
	}
	j, err = restore(func() {
		lock("keep", armlocks.LockLevelReadOnly, true)
		lock("nodelete", armlocks.LockLevelCanNotDelete, false)
	})
	if !testserver.HasError(err, 0, "ScopeLocked") {
		t.Errorf("the restore onto the ReadOnly VM in a CanNotDelete group: %v", err)
	}
	after := diskNames()
	if len(after) != len(before)+2 {
		t.Fatalf("disks in vmrg after a failed restore under CanNotDelete: %v, before it: %v", after, before)
	}
	msg := *j.ErrorDetails[0].ErrorString
	for _, name := range after {
		if !strings.Contains(strings.Join(before, ","), name) && !strings.Contains(msg, name) {
			t.Errorf("the job's error does not name the kept disk %s: %s", name, msg)
		}
	}
	if !strings.Contains(msg, "nodelete") {
		t.Errorf("the job's error does not say which lock kept them: %s", msg)
	}
}
