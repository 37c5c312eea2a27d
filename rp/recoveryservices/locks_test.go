package recoveryservices_test

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armlocks"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestLocksRefuseWhatVMBackupAndRestoreCreate: a VM restore creates disks
// (and a VM) in its target resource group, or changes the original VM,
// and a VM backup creates snapshots in AzureBackupRG_{location}_1, on the
// user's behalf: a ReadOnly lock there refuses them as it refuses a
// client's PUT (409 ScopeLocked naming the lock), at the request (restore,
// its validation, backup now), and when work accepted before the lock runs
// (the operation and its job fail with ScopeLocked; no VM is made or
// changed). Restores into a ReadOnly group were allowed, and so were
// backups' snapshots.
func TestLocksRefuseWhatVMBackupAndRestoreCreate(t *testing.T) {
	e, bf, rp := backedUpVM1(t, 1, "restorerg")
	ctx := e.Ctx()
	locks, err := armlocks.NewManagementLocksClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	readOnly := armlocks.ManagementLockObject{Properties: &armlocks.ManagementLockProperties{Level: to.Ptr(armlocks.LockLevelReadOnly)}}
	lockGroup := func(rg string) {
		t.Helper()
		if _, err := locks.CreateOrUpdateAtResourceGroupLevel(ctx, rg, "keep", readOnly, nil); err != nil {
			t.Fatal(err)
		}
	}
	unlockGroup := func(rg string) {
		t.Helper()
		if _, err := locks.DeleteAtResourceGroupLevel(ctx, rg, "keep", nil); err != nil {
			t.Fatal(err)
		}
	}
	scopeLocked := func(what string, err error) {
		t.Helper()
		if !testserver.HasError(err, 0, "ScopeLocked") || !strings.Contains(err.Error(), "'keep'") {
			t.Errorf("%s: %v, want ScopeLocked naming the lock", what, err)
		}
	}
	failedJob := func(op string) {
		t.Helper()
		for page := range fixture.Pages(t, bf.NewBackupJobsClient().NewListPager("v1", "vaultrg", nil)) {
			for _, j := range page.Value {
				vj, ok := j.Properties.(*armrecoveryservicesbackup.AzureIaaSVMJob)
				if ok && *vj.Operation == op && *vj.Status == "Failed" {
					if len(vj.ErrorDetails) == 0 || *vj.ErrorDetails[0].ErrorTitle != "ScopeLocked" || !strings.Contains(*vj.ErrorDetails[0].ErrorString, "'keep'") {
						t.Errorf("the failed %s job's error: %+v", op, vj.ErrorDetails)
					}
					return
				}
			}
		}
		t.Errorf("no failed %s job", op)
	}
	restoreRG := "/subscriptions/" + e.Sub + "/resourceGroups/restorerg"
	restore := func(kind armrecoveryservicesbackup.RecoveryType) *armrecoveryservicesbackup.IaasVMRestoreRequest {
		rr := &armrecoveryservicesbackup.IaasVMRestoreRequest{ObjectType: to.Ptr("IaasVMRestoreRequest"), RecoveryPointID: to.Ptr(rp),
			RecoveryType: to.Ptr(kind), SourceResourceID: to.Ptr(vm1ID(e)), Region: to.Ptr("westus")}
		if kind != armrecoveryservicesbackup.RecoveryTypeOriginalLocation {
			rr.TargetResourceGroupID = to.Ptr(restoreRG)
		}
		if kind == armrecoveryservicesbackup.RecoveryTypeAlternateLocation {
			rr.TargetVirtualMachineID = to.Ptr(restoreRG + "/providers/Microsoft.Compute/virtualMachines/vm2")
		}
		return rr
	}
	begin := func(rr *armrecoveryservicesbackup.IaasVMRestoreRequest) error {
		_, err := bf.NewRestoresClient().BeginTrigger(ctx, "v1", "vaultrg", "Azure", vm1Container, vm1Item, rp, armrecoveryservicesbackup.RestoreRequestResource{Properties: rr}, nil)
		return err
	}
	restoredDisks := func() int {
		t.Helper()
		d, err := e.Server.Compute.ListDisks(ctx, restoreRG)
		if err != nil {
			t.Fatal(err)
		}
		return len(d)
	}

	// At the request: each recovery type, and the validation.
	lockGroup("restorerg")
	for _, kind := range []armrecoveryservicesbackup.RecoveryType{armrecoveryservicesbackup.RecoveryTypeRestoreDisks, armrecoveryservicesbackup.RecoveryTypeAlternateLocation} {
		scopeLocked(string(kind)+" into a ReadOnly group", begin(restore(kind)))
		res := validateRestore(t, e, bf, vm1PointID(e, rp), restore(kind))
		if len(res) != 1 || *res[0].Code != "ScopeLocked" || !strings.Contains(*res[0].Message, "restorerg") {
			t.Errorf("validation of %s into a ReadOnly group: %+v", kind, res)
		}
	}
	if n := restoredDisks(); n != 0 {
		t.Fatalf("disks in the ReadOnly group: %d", n)
	}
	vmLock := func(lock bool) {
		t.Helper()
		var err error
		if lock {
			_, err = locks.CreateOrUpdateAtResourceLevel(ctx, "vmrg", "Microsoft.Compute", "", "virtualMachines", "vm1", "keep", readOnly, nil)
		} else {
			_, err = locks.DeleteAtResourceLevel(ctx, "vmrg", "Microsoft.Compute", "", "virtualMachines", "vm1", "keep", nil)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	vmLock(true)
	scopeLocked("OriginalLocation onto a ReadOnly VM", begin(restore(armrecoveryservicesbackup.RecoveryTypeOriginalLocation)))

	// When the work runs: restores accepted before the lock.
	vmLock(false)
	unlockGroup("restorerg")
	e.Server.Jobs.Stop()
	alt, err := bf.NewRestoresClient().BeginTrigger(ctx, "v1", "vaultrg", "Azure", vm1Container, vm1Item, rp, armrecoveryservicesbackup.RestoreRequestResource{Properties: restore(armrecoveryservicesbackup.RecoveryTypeAlternateLocation)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	orig, err := bf.NewRestoresClient().BeginTrigger(ctx, "v1", "vaultrg", "Azure", vm1Container, vm1Item, rp, armrecoveryservicesbackup.RestoreRequestResource{Properties: restore(armrecoveryservicesbackup.RecoveryTypeOriginalLocation)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	before, err := e.Server.Compute.VM(ctx, vm1ID(e))
	if err != nil {
		t.Fatal(err)
	}
	lockGroup("restorerg")
	vmLock(true)
	if err := e.Server.Jobs.Start(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = fixture.Wait(alt, nil)
	scopeLocked("an AlternateLocation restore accepted before the lock", err)
	_, err = fixture.Wait(orig, nil)
	scopeLocked("an OriginalLocation restore accepted before the lock", err)
	failedJob("Restore")
	if n := restoredDisks(); n != 0 {
		t.Errorf("disks in the ReadOnly group: %d", n)
	}
	if ok, _ := e.Server.Compute.VM(ctx, restoreRG+"/providers/Microsoft.Compute/virtualMachines/vm2"); ok != nil {
		t.Errorf("the VM of a refused AlternateLocation restore exists")
	}
	if after, err := e.Server.Compute.VM(ctx, vm1ID(e)); err != nil || after.OSDiskID != before.OSDiskID {
		t.Errorf("the ReadOnly VM after an OriginalLocation restore: OS disk %v (was %s), %v", after, before.OSDiskID, err)
	}

	// Backups: their snapshots go to AzureBackupRG_westus_1.
	const instantRG = "AzureBackupRG_westus_1"
	lockGroup(instantRG)
	_, err = bf.NewBackupsClient().Trigger(ctx, "v1", "vaultrg", "Azure", vm1Container, vm1Item, armrecoveryservicesbackup.BackupRequestResource{
		Properties: &armrecoveryservicesbackup.IaasVMBackupRequest{}}, nil)
	scopeLocked("backup now into a ReadOnly instant-RP group", err)
	unlockGroup(instantRG)
	e.Server.Jobs.Stop()
	if _, err := bf.NewBackupsClient().Trigger(ctx, "v1", "vaultrg", "Azure", vm1Container, vm1Item, armrecoveryservicesbackup.BackupRequestResource{
		Properties: &armrecoveryservicesbackup.IaasVMBackupRequest{}}, nil); err != nil {
		t.Fatal(err)
	}
	lockGroup(instantRG)
	if err := e.Server.Jobs.Start(ctx); err != nil {
		t.Fatal(err)
	}
	e.WaitFor("the backup job to fail", func() bool {
		page, err := bf.NewBackupJobsClient().NewListPager("v1", "vaultrg", &armrecoveryservicesbackup.BackupJobsClientListOptions{Filter: to.Ptr("operation eq 'Backup'")}).NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range page.Value {
			if *j.Properties.GetJob().Status == "Failed" {
				return true
			}
		}
		return false
	})
	failedJob("Backup")
}

// The first backup of a region creates AzureBackupRG_{location}_1 for the
// VM's snapshots: a ReadOnly lock on the subscription made after the
// backup was accepted refuses creating the group, as it refuses a client's
// PUT of it, and the job fails with ScopeLocked: the group was created
// under the lock (only the snapshots in it were then refused).
func TestLockedSubscriptionRefusesTheInstantRPGroup(t *testing.T) {
	e, _ := vaultEnv(t, "v1", "vmrg")
	ctx := e.Ctx()
	mkVM(t, e, "vmrg", "vm1", 0, 1<<20)
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	protectVM1(t, e, bf)
	locks, err := armlocks.NewManagementLocksClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	e.Server.Jobs.Stop()
	if _, err := bf.NewBackupsClient().Trigger(ctx, "v1", "vaultrg", "Azure", vm1Container, vm1Item, armrecoveryservicesbackup.BackupRequestResource{
		Properties: &armrecoveryservicesbackup.IaasVMBackupRequest{}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := locks.CreateOrUpdateAtSubscriptionLevel(ctx, "keep", armlocks.ManagementLockObject{Properties: &armlocks.ManagementLockProperties{Level: to.Ptr(armlocks.LockLevelReadOnly)}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.Server.Jobs.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var job *armrecoveryservicesbackup.AzureIaaSVMJob
	e.WaitFor("the backup job to end", func() bool {
		page, err := bf.NewBackupJobsClient().NewListPager("v1", "vaultrg", &armrecoveryservicesbackup.BackupJobsClientListOptions{Filter: to.Ptr("operation eq 'Backup'")}).NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range page.Value {
			if vj, ok := j.Properties.(*armrecoveryservicesbackup.AzureIaaSVMJob); ok && *vj.Status != "InProgress" {
				job = vj
				return true
			}
		}
		return false
	})
	if *job.Status != "Failed" || len(job.ErrorDetails) == 0 || *job.ErrorDetails[0].ErrorTitle != "ScopeLocked" || !strings.Contains(*job.ErrorDetails[0].ErrorString, "AzureBackupRG_westus_1") {
		t.Errorf("the backup under a ReadOnly subscription: %s %+v", *job.Status, job.ErrorDetails)
	}
	if resp, m := e.Do("GET", "/subscriptions/"+e.Sub+"/resourceGroups/AzureBackupRG_westus_1?api-version=2021-04-01", nil, testserver.AnyStatus()); resp.StatusCode != 404 {
		t.Errorf("the instant-RP group under a ReadOnly subscription: %d %v", resp.StatusCode, m)
	}
	if _, err := locks.DeleteAtSubscriptionLevel(ctx, "keep", nil); err != nil {
		t.Fatal(err)
	}
}
