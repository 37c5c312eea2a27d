package recoveryservices_test

import (
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestSDKPolicyUpdateAppliesToItems: updating an IaaS policy that protects
// a VM answers 202 and applies the policy to the item as a ConfigureBackup
// job, which the policy operation's status lists; the operation's result is
// the policy with its protected item counted. A policy protecting nothing
// is written at once (200 with the policy).
func TestSDKPolicyUpdateAppliesToItems(t *testing.T) {
	e, bf, _ := backedUpVM1(t, 0) // protected with DefaultPolicy
	ctx := e.Ctx()
	pc := bf.NewProtectionPoliciesClient()

	var raw *http.Response
	got, err := pc.CreateOrUpdate(runtime.WithCaptureResponse(ctx, &raw), "v1", "vaultrg", "Unused", sdkDailyPolicy(23, 30, 23, 30), nil)
	if err != nil || raw.StatusCode != http.StatusOK || got.Name == nil || *got.Name != "Unused" {
		t.Fatalf("a policy protecting nothing: %v %d %+v", err, raw.StatusCode, got)
	}

	if _, err := pc.CreateOrUpdate(runtime.WithCaptureResponse(ctx, &raw), "v1", "vaultrg", "DefaultPolicy", sdkDailyPolicy(23, 30, 23, 30), nil); err != nil {
		t.Fatal(err)
	}
	fixture.Accepted(t, "a policy protecting a VM", raw)
	opID := testserver.OpID(t, raw.Header.Get("Location"))
	if testserver.OpID(t, raw.Header.Get("Azure-AsyncOperation")) != opID {
		t.Fatalf("two operations: %v", raw.Header)
	}
	st, err := bf.NewProtectionPolicyOperationStatusesClient().Get(ctx, "v1", "vaultrg", "DefaultPolicy", opID, nil)
	if err != nil {
		t.Fatal(err)
	}
	ext, ok := st.Properties.(*armrecoveryservicesbackup.OperationStatusJobsExtendedInfo)
	if *st.Status != armrecoveryservicesbackup.OperationStatusValuesSucceeded || !ok || len(ext.JobIDs) != 1 || ext.FailedJobsError == nil || len(ext.FailedJobsError) != 0 {
		t.Fatalf("policy operation status %+v %#v", st.OperationStatus, st.Properties)
	}
	j, err := bf.NewJobDetailsClient().Get(ctx, "v1", "vaultrg", *ext.JobIDs[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	job := j.Properties.GetJob()
	if *job.Operation != "ConfigureBackup" || *job.Status != "Completed" || *job.EntityFriendlyName != "vm1" {
		t.Fatalf("the item's job: %s %s %s", *job.Operation, *job.Status, *job.EntityFriendlyName)
	}
	res, err := bf.NewProtectionPolicyOperationResultsClient().Get(ctx, "v1", "vaultrg", "DefaultPolicy", opID, nil)
	if err != nil {
		t.Fatal(err)
	}
	pol, ok := res.Properties.(*armrecoveryservicesbackup.AzureIaaSVMProtectionPolicy)
	if !ok || pol.ProtectedItemsCount == nil || *pol.ProtectedItemsCount != 1 {
		t.Fatalf("policy operation result %#v", res.Properties)
	}
	sp := pol.SchedulePolicy.(*armrecoveryservicesbackup.SimpleSchedulePolicy)
	if h, m, _ := sp.ScheduleRunTimes[0].Clock(); h != 23 || m != 30 {
		t.Fatalf("the result is not the updated policy: %v", sp.ScheduleRunTimes[0])
	}
}
