package recoveryservices_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
)

// TestSDKRestoreValidationCoreQuota: with the region's vCPU quota lowered
// through the admin API, restore validation (synchronous and triggered)
// reports UserErrorCoreCountSubscriptionQuotaReached for the VM of the
// recovery point, and a restore to a new VM meets the same limit when it
// creates the VM; with the quota back, validation finds nothing.
func TestSDKRestoreValidationCoreQuota(t *testing.T) {
	e, bf, rp := backedUpVM1(t, 1, "stagerg", "newrg") // Standard_D2s_v3: 2 vCPUs
	ctx := e.Ctx()
	rpID := vm1PointID(e, rp)
	rr := restoreDisks(e, rp, mkStorage(t, e, "stagerg", "staging1"))
	validate := func() []*armrecoveryservicesbackup.ErrorDetail {
		t.Helper()
		return validateRestore(t, e, bf, rpID, rr)
	}
	quotaReached := func(vr []*armrecoveryservicesbackup.ErrorDetail) bool {
		return len(vr) == 1 && *vr[0].Code == "UserErrorCoreCountSubscriptionQuotaReached" && len(vr[0].Recommendations) == 1 &&
			strings.Contains(*vr[0].Message, "Current Limit: 2, Current Usage: 2, Additional Required: 2")
	}
	setCores := func(n int64) {
		t.Helper()
		resp, m := e.Do("POST", "/providers/Safehold.Admin/computeQuotas/"+e.Sub+"/westus?api-version=2024-01-01", map[string]any{"limits": map[string]int64{"cores": n}})
		must(t, "set quota", resp, m, http.StatusOK)
	}
	if vr := validate(); len(vr) != 0 {
		t.Fatalf("validation within the default quota: %+v", *vr[0].Code)
	}

	setCores(2) // vm1 uses them all
	if vr := validate(); !quotaReached(vr) {
		t.Fatalf("validation with the quota reached: %+v", vr)
	}
	result, status := triggerValidation(t, e, bf, rpID, rr)
	if !quotaReached(result) {
		t.Fatalf("triggered validation result: %+v", result)
	}
	if !quotaReached(status) {
		t.Fatalf("triggered validation status: %+v", status)
	}

	// A restore to a new VM creates the VM last, and meets the same limit.
	alr := *rr
	alr.RecoveryType = to.Ptr(armrecoveryservicesbackup.RecoveryTypeAlternateLocation)
	alr.TargetVirtualMachineID = to.Ptr("/subscriptions/" + e.Sub + "/resourceGroups/newrg/providers/Microsoft.Compute/virtualMachines/vm1r")
	alr.TargetResourceGroupID = to.Ptr("/subscriptions/" + e.Sub + "/resourceGroups/newrg")
	if err := restoreVM1(e, bf, rp, &alr); err == nil || !strings.Contains(err.Error(), "UserErrorCoreCountSubscriptionQuotaReached") || !strings.Contains(err.Error(), "Total Regional Cores quota") {
		t.Fatalf("a restore to a new VM beyond the quota: %v", err)
	}
	jobs, err := bf.NewBackupJobsClient().NewListPager("v1", "vaultrg", &armrecoveryservicesbackup.BackupJobsClientListOptions{Filter: to.Ptr("operation eq 'Restore'")}).NextPage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs.Value) != 1 || *jobs.Value[0].Properties.GetJob().Status != "Failed" {
		t.Fatalf("restore jobs: %+v", jobs.Value)
	}
	if resp, _ := e.Do("GET", *alr.TargetVirtualMachineID+"?api-version=2024-03-01", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the refused VM exists: %d", resp.StatusCode)
	}

	setCores(4)
	if vr := validate(); len(vr) != 0 {
		t.Fatalf("validation with room for the VM: %+v", *vr[0].Code)
	}
}
