package recoveryservices_test

import (
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservices"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/safehold/safehold/internal/testserver"
)

// sdkVault creates a Recovery Services vault through the SDK.
func sdkVault(t *testing.T, e *testserver.Env, rg, name string) *armrecoveryservices.ClientFactory {
	t.Helper()
	vf, err := armrecoveryservices.NewClientFactory(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	vp, err := vf.NewVaultsClient().BeginCreateOrUpdate(e.Ctx(), rg, name, armrecoveryservices.Vault{
		Location: to.Ptr("westus"), SKU: &armrecoveryservices.SKU{Name: to.Ptr(armrecoveryservices.SKUNameStandard)},
		Properties: &armrecoveryservices.VaultProperties{PublicNetworkAccess: to.Ptr(armrecoveryservices.PublicNetworkAccessEnabled)},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vp.PollUntilDone(e.Ctx(), pollOpts); err != nil {
		t.Fatal(err)
	}
	return vf
}

// TestSDKAsyncStatusCodes: the answers the SDK polls, with the status codes
// the spec allows (issue 12): a vault PATCH is an operation (202 with both
// polling headers) whose result is the vault (200, never 204); a policy
// DELETE is an operation (200 with polling headers); a protected item's
// operation result is the item (200 with body).
func TestSDKAsyncStatusCodes(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	mkRG(t, e, "vaultrg")
	mkRG(t, e, "vmrg")
	vf := sdkVault(t, e, "vaultrg", "v1")

	// Vault PATCH.
	var raw *http.Response
	up, err := vf.NewVaultsClient().BeginUpdate(runtime.WithCaptureResponse(ctx, &raw), "vaultrg", "v1", armrecoveryservices.PatchVault{Tags: map[string]*string{"env": to.Ptr("ci")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if raw.StatusCode != http.StatusAccepted || raw.Header.Get("Azure-AsyncOperation") == "" || raw.Header.Get("Location") == "" {
		t.Fatalf("vault PATCH answered %d %v, want 202 with Azure-AsyncOperation and Location", raw.StatusCode, raw.Header)
	}
	loc := raw.Header.Get("Location")
	v, err := up.PollUntilDone(ctx, pollOpts)
	if err != nil {
		t.Fatal(err)
	}
	if v.Tags["env"] == nil || *v.Tags["env"] != "ci" {
		t.Fatalf("patched vault tags %v", v.Tags)
	}
	res, err := vf.NewOperationsClient().GetOperationResult(runtime.WithCaptureResponse(ctx, &raw), "vaultrg", "v1", opIDOf(t, loc), nil)
	if err != nil {
		t.Fatal(err)
	}
	if raw.StatusCode != http.StatusOK || res.Name == nil || *res.Name != "v1" || res.Tags["env"] == nil {
		t.Fatalf("vault operation result %d %+v", raw.StatusCode, res.Vault)
	}

	// Policy DELETE.
	bf, err := armrecoveryservicesbackup.NewClientFactory(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	pc := bf.NewProtectionPoliciesClient()
	if _, err := pc.CreateOrUpdate(ctx, "v1", "vaultrg", "Daily", sdkDailyPolicy(23, 30, 23, 30), nil); err != nil {
		t.Fatal(err)
	}
	dp, err := pc.BeginDelete(runtime.WithCaptureResponse(ctx, &raw), "v1", "vaultrg", "Daily", nil)
	if err != nil {
		t.Fatal(err)
	}
	if raw.Header.Get("Azure-AsyncOperation") == "" || raw.Header.Get("Location") == "" {
		t.Fatalf("policy DELETE answered %d %v, want polling headers", raw.StatusCode, raw.Header)
	}
	st, err := bf.NewProtectionPolicyOperationStatusesClient().Get(ctx, "v1", "vaultrg", "Daily", opIDOf(t, raw.Header.Get("Azure-AsyncOperation")), nil)
	if err != nil || st.Status == nil || *st.Status != armrecoveryservicesbackup.OperationStatusValuesSucceeded {
		t.Fatalf("policy delete status %v %+v", err, st)
	}
	if _, err := dp.PollUntilDone(ctx, pollOpts); err != nil {
		t.Fatal(err)
	}
	if _, err := pc.Get(ctx, "v1", "vaultrg", "Daily", nil); err == nil {
		t.Fatal("policy still there after its delete operation")
	}

	// A backup's operation result is the protected item.
	mkVM(t, e, "vmrg", "vm1", 0, 1<<20)
	const container, item = "IaasVMContainer;iaasvmcontainerv2;vmrg;vm1", "VM;iaasvmcontainerv2;vmrg;vm1"
	policyID := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/v1/backupPolicies/DefaultPolicy"
	vmID := "/subscriptions/" + e.Sub + "/resourceGroups/vmrg/providers/Microsoft.Compute/virtualMachines/vm1"
	if _, err := bf.NewProtectedItemsClient().CreateOrUpdate(ctx, "v1", "vaultrg", "Azure", container, item, armrecoveryservicesbackup.ProtectedItemResource{
		Properties: &armrecoveryservicesbackup.AzureIaaSComputeVMProtectedItem{SourceResourceID: to.Ptr(vmID), PolicyID: to.Ptr(policyID)}}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := bf.NewBackupsClient().Trigger(runtime.WithCaptureResponse(ctx, &raw), "v1", "vaultrg", "Azure", container, item, armrecoveryservicesbackup.BackupRequestResource{
		Properties: &armrecoveryservicesbackup.IaasVMBackupRequest{}}, nil); err != nil {
		t.Fatal(err)
	}
	got, err := bf.NewProtectedItemOperationResultsClient().Get(runtime.WithCaptureResponse(ctx, &raw), "v1", "vaultrg", "Azure", container, item, opIDOf(t, raw.Header.Get("Location")), nil)
	if err != nil {
		t.Fatal(err)
	}
	if raw.StatusCode != http.StatusOK || got.ID == nil || got.Properties == nil {
		t.Fatalf("backup operation result %d %+v, want 200 with the protected item", raw.StatusCode, got.ProtectedItemResource)
	}
	if p, ok := got.Properties.(*armrecoveryservicesbackup.AzureIaaSComputeVMProtectedItem); !ok || p.FriendlyName == nil || *p.FriendlyName != "vm1" {
		t.Fatalf("backup operation result properties %#v", got.Properties)
	}
}
