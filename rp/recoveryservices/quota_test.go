package recoveryservices_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestSDKRestoreValidationCoreQuota: with the region's vCPU quota lowered
// through the admin API, restore validation (synchronous and triggered)
// reports UserErrorCoreCountSubscriptionQuotaReached for the VM of the
// recovery point, and a restore to a new VM meets the same limit when it
// creates the VM; with the quota back, validation finds nothing.
func TestSDKRestoreValidationCoreQuota(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	e.ResourceGroups("vaultrg", "vmrg", "stagerg", "newrg")
	fixture.RSVault(t, e, "vaultrg", "v1", fixture.StandardVault())
	mkVM(t, e, "vmrg", "vm1", 1, 1<<20) // Standard_D2s_v3: 2 vCPUs
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	const container, item = "IaasVMContainer;iaasvmcontainerv2;vmrg;vm1", "VM;iaasvmcontainerv2;vmrg;vm1"
	rp := protectAndBackUp(t, e, bf, container, item)
	vmID := "/subscriptions/" + e.Sub + "/resourceGroups/vmrg/providers/Microsoft.Compute/virtualMachines/vm1"
	saID := mkStorage(t, e, "stagerg", "staging1")
	rpID := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/v1/backupFabrics/Azure/protectionContainers/" + container + "/protectedItems/" + item + "/recoveryPoints/" + rp
	restoreDisks := &armrecoveryservicesbackup.IaasVMRestoreRequest{ObjectType: to.Ptr("IaasVMRestoreRequest"), RecoveryPointID: to.Ptr(rp),
		RecoveryType: to.Ptr(armrecoveryservicesbackup.RecoveryTypeRestoreDisks), SourceResourceID: to.Ptr(vmID), StorageAccountID: to.Ptr(saID), Region: to.Ptr("westus")}
	validate := func() []*armrecoveryservicesbackup.ErrorDetail {
		t.Helper()
		res, err := bf.NewOperationClient().Validate(ctx, "v1", "vaultrg", armrecoveryservicesbackup.ValidateOperationRequestResource{ID: to.Ptr(rpID),
			Properties: &armrecoveryservicesbackup.ValidateIaasVMRestoreOperationRequest{ObjectType: to.Ptr("ValidateIaasVMRestoreOperationRequest"), RestoreRequest: restoreDisks}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res.ValidateOperationResponse.ValidationResults
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
	var rawResp *http.Response
	vp, err := bf.NewValidateOperationClient().BeginTrigger(runtime.WithCaptureResponse(ctx, &rawResp), "v1", "vaultrg", armrecoveryservicesbackup.ValidateOperationRequestResource{ID: to.Ptr(rpID),
		Properties: &armrecoveryservicesbackup.ValidateIaasVMRestoreOperationRequest{ObjectType: to.Ptr("ValidateIaasVMRestoreOperationRequest"), RestoreRequest: restoreDisks}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	opID := opIDOf(t, rawResp.Header.Get("Location"))
	if _, err := vp.PollUntilDone(ctx, pollOpts); err != nil {
		t.Fatal(err)
	}
	vres, err := bf.NewValidateOperationResultsClient().Get(ctx, "v1", "vaultrg", opID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !quotaReached(vres.ValidateOperationResponse.ValidationResults) {
		t.Fatalf("triggered validation result: %+v", vres.ValidateOperationResponse.ValidationResults)
	}
	st, err := bf.NewValidateOperationStatusesClient().Get(ctx, "v1", "vaultrg", opID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ext, ok := st.Properties.(*armrecoveryservicesbackup.OperationStatusValidateOperationExtendedInfo); !ok || !quotaReached(ext.ValidateOperationResponse.ValidationResults) {
		t.Fatalf("triggered validation status %#v", st.Properties)
	}

	// A restore to a new VM creates the VM last, and meets the same limit.
	alr := *restoreDisks
	alr.RecoveryType = to.Ptr(armrecoveryservicesbackup.RecoveryTypeAlternateLocation)
	alr.TargetVirtualMachineID = to.Ptr("/subscriptions/" + e.Sub + "/resourceGroups/newrg/providers/Microsoft.Compute/virtualMachines/vm1r")
	alr.TargetResourceGroupID = to.Ptr("/subscriptions/" + e.Sub + "/resourceGroups/newrg")
	p, err := bf.NewRestoresClient().BeginTrigger(ctx, "v1", "vaultrg", "Azure", container, item, rp, armrecoveryservicesbackup.RestoreRequestResource{Properties: &alr}, nil)
	if err == nil {
		_, err = p.PollUntilDone(ctx, pollOpts)
	}
	if err == nil || !strings.Contains(err.Error(), "UserErrorCoreCountSubscriptionQuotaReached") || !strings.Contains(err.Error(), "Total Regional Cores quota") {
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
