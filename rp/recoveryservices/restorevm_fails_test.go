package recoveryservices_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"

	"github.com/safehold/safehold/fault"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
)

// TestRestoreFailingAfterItsVMDeletesTheVMThenItsDisks: a restore to a new
// VM (AlternateLocation, an OS and a data disk) fails once its VM is made
// (a restore fault rule matching the new VM's id); the job ends Failed
// with the rule's code, and the VM goes, then both disks: nothing the
// restore made is left, and the job's error names nothing kept. Before,
// the failed run deleted the disks first, which compute refused (attached
// to the VM), and the job's error said they were kept (attached) although
// the job's end deleted them after the VM.
func TestRestoreFailingAfterItsVMDeletesTheVMThenItsDisks(t *testing.T) {
	e, bf, rp := backedUpVM1(t, 1, "stagerg", "newrg")
	ctx := e.Ctx()
	target := "/subscriptions/" + e.Sub + "/resourceGroups/newrg/providers/Microsoft.Compute/virtualMachines/vm1r"
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
	if n := e.FaultRuleHits("aftervm"); n != -1 {
		t.Fatalf("the rule (count 1) is still there, %d hits: it did not match the VM", n)
	}
	page, err := bf.NewBackupJobsClient().NewListPager("v1", "vaultrg", &armrecoveryservicesbackup.BackupJobsClientListOptions{Filter: to.Ptr("operation eq 'Restore'")}).NextPage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Value) != 1 {
		t.Fatalf("%d restore jobs, want 1", len(page.Value))
	}
	job, _ := page.Value[0].Properties.(*armrecoveryservicesbackup.AzureIaaSVMJob)
	if job == nil || *job.Status != "Failed" || len(job.ErrorDetails) == 0 {
		t.Fatalf("the restore job: %+v, want Failed with an error", job)
	}
	if msg := *job.ErrorDetails[0].ErrorString; *job.ErrorDetails[0].ErrorTitle != "UserErrorVmProvisioningFailed" || strings.Contains(msg, "kept") {
		t.Errorf("the job's error: %s: %s, want the rule's, naming nothing kept", *job.ErrorDetails[0].ErrorTitle, msg)
	}
	testsvc.WaitWithin(t, time.Minute, "the VM and the disks the failed restore made to go", func() bool {
		e.Server.Jobs.Notify()
		resp, _ := e.Do("GET", target+"?api-version=2024-03-01", nil, testserver.AnyStatus())
		ds, err := e.Server.Compute.ListDisks(ctx, "/subscriptions/"+e.Sub+"/resourceGroups/newrg")
		return resp.StatusCode == http.StatusNotFound && err == nil && len(ds) == 0
	})
}
