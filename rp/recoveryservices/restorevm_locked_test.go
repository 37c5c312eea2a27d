package recoveryservices_test

import (
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armlocks"

	"github.com/safehold/safehold/fault"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/protection"
)

// TestRestoreFailingAfterItsVMKeepsWhatALockKeeps: a restore to a new VM
// (AlternateLocation) in a resource group under a CanNotDelete lock fails
// once its VM is made (a restore fault rule matching the VM's id). The
// lock keeps the VM, as it keeps a user's DELETE of it, and so its disks,
// attached to it: the job ends Failed naming the VM, the lock that keeps
// it, and each disk as attached to it (delete the VM first). Once the
// operator removes the lock, the VM and then its disks delete. Before,
// the restore's clean-up deleted the VM through the lock (Safehold's own
// delete did not ask the locks), then the lock kept the disks, unattached.
func TestRestoreFailingAfterItsVMKeepsWhatALockKeeps(t *testing.T) {
	e, bf, rp := backedUpVM1(t, 1, "stagerg", "newrg")
	ctx := e.Ctx()
	target := "/subscriptions/" + e.Sub + "/resourceGroups/newrg/providers/Microsoft.Compute/virtualMachines/vm1r"
	locks, err := armlocks.NewManagementLocksClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := locks.CreateOrUpdateAtResourceGroupLevel(ctx, "newrg", "nodelete", armlocks.ManagementLockObject{Properties: &armlocks.ManagementLockProperties{Level: to.Ptr(armlocks.LockLevelCanNotDelete)}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Server.Faults.Add(fault.Rule{Name: "aftervm", Operation: fault.OpRestore, Path: "*/virtualMachines/vm1r", Code: "UserErrorVmProvisioningFailed", Count: 1}, time.Now()); err != nil {
		t.Fatal(err)
	}
	rr := restoreDisks(e, rp, mkStorage(t, e, "stagerg", "staging1"))
	rr.RecoveryType = to.Ptr(armrecoveryservicesbackup.RecoveryTypeAlternateLocation)
	rr.TargetVirtualMachineID = to.Ptr(target)
	rr.TargetResourceGroupID = to.Ptr("/subscriptions/" + e.Sub + "/resourceGroups/newrg")
	poller, err := bf.NewRestoresClient().BeginTrigger(ctx, "v1", "vaultrg", "Azure", vm1Container, vm1Item, rp, armrecoveryservicesbackup.RestoreRequestResource{Properties: rr}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fixture.Wait(poller, nil); !testserver.HasError(err, 0, "UserErrorVmProvisioningFailed") {
		t.Fatalf("the restore: %v, want the rule's UserErrorVmProvisioningFailed", err)
	}
	page, err := bf.NewBackupJobsClient().NewListPager("v1", "vaultrg", &armrecoveryservicesbackup.BackupJobsClientListOptions{Filter: to.Ptr("operation eq 'Restore'")}).NextPage(ctx)
	if err != nil || len(page.Value) != 1 {
		t.Fatalf("restore jobs: %d (%v)", len(page.Value), err)
	}
	// The job's end has swept what it left (or named what it kept): what
	// it says is final.
	e.WaitFor("the restore's end to sweep what it made", func() bool {
		j, err := protection.GetJob(ctx, e.Server.Store, "", *page.Value[0].Name)
		return err == nil && len(j.Leftovers) == 0
	})
	page, err = bf.NewBackupJobsClient().NewListPager("v1", "vaultrg", &armrecoveryservicesbackup.BackupJobsClientListOptions{Filter: to.Ptr("operation eq 'Restore'")}).NextPage(ctx)
	if err != nil || len(page.Value) != 1 {
		t.Fatalf("restore jobs: %d (%v)", len(page.Value), err)
	}
	job := page.Value[0].Properties.(*armrecoveryservicesbackup.AzureIaaSVMJob)
	if *job.Status != "Failed" || len(job.ErrorDetails) == 0 {
		t.Fatalf("the restore job: %s %+v", *job.Status, job.ErrorDetails)
	}
	msg := *job.ErrorDetails[0].ErrorString
	cf := testserver.Factory(e, armcompute.NewClientFactory)
	vm, err := cf.NewVirtualMachinesClient().Get(ctx, "newrg", "vm1r", nil)
	if err != nil {
		t.Fatalf("the restore's VM under the CanNotDelete lock: %v (the job says: %s)", err, msg)
	}
	var disks []string
	for p := range fixture.Pages(t, cf.NewDisksClient().NewListByResourceGroupPager("newrg", nil)) {
		for _, d := range p.Value {
			if d.ManagedBy == nil || !strings.EqualFold(*d.ManagedBy, *vm.ID) {
				t.Errorf("disk %s is not attached to the kept VM: managed by %v", *d.Name, d.ManagedBy)
			}
			disks = append(disks, *d.Name)
		}
	}
	if len(disks) != 2 {
		t.Fatalf("disks in newrg: %v, want the VM's two", disks)
	}
	if !strings.Contains(msg, target+" (ScopeLocked") || !strings.Contains(msg, "lock 'nodelete', CanNotDelete") {
		t.Errorf("the job's error does not name the kept VM and its lock: %s", msg)
	}
	for _, d := range disks {
		if !strings.Contains(msg, "/disks/"+d+" (Disk "+d+" is attached to VM "+target+". Detach the disk or delete the VM first.)") {
			t.Errorf("the job's error does not name disk %s as attached to the VM: %s", d, msg)
		}
	}
	// The operator removes the lock, deletes the VM, then its disks.
	if _, err := locks.DeleteAtResourceGroupLevel(ctx, "newrg", "nodelete", nil); err != nil {
		t.Fatal(err)
	}
	dp, err := cf.NewVirtualMachinesClient().BeginDelete(ctx, "newrg", "vm1r", nil)
	if _, err := fixture.Wait(dp, err); err != nil {
		t.Fatalf("delete the kept VM once the lock is gone: %v", err)
	}
	for _, d := range disks {
		dp, err := cf.NewDisksClient().BeginDelete(ctx, "newrg", d, nil)
		if _, err := fixture.Wait(dp, err); err != nil {
			t.Fatalf("delete the kept disk %s once the VM is gone: %v", d, err)
		}
	}
}
