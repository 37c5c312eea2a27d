package recoveryservices_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservices"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// mkStorage creates a storage account (a restore's staging account).
func mkStorage(t *testing.T, e *testserver.Env, rg, name string) string {
	t.Helper()
	id := "/subscriptions/" + e.Sub + "/resourceGroups/" + rg + "/providers/Microsoft.Storage/storageAccounts/" + name
	resp, m := e.Do("PUT", id+"?api-version=2023-01-01", map[string]any{"location": "westus", "kind": "StorageV2", "sku": map[string]any{"name": "Standard_LRS"}})
	must(t, "storage account "+name, resp, m, 200, 201)
	return id
}

// TestSDKAsyncStatusCodes: the answers the SDK polls, with the status codes
// the spec allows (issue 12): a vault PATCH is an operation (202 with both
// polling headers) whose result is the vault (200, never 204); a policy
// DELETE is an operation (200 with polling headers); a protected item's
// operation result is the item (200 with body).
func TestSDKAsyncStatusCodes(t *testing.T) {
	e, vf := vaultEnv(t, "v1", "vmrg")
	ctx := e.Ctx()

	// Vault PATCH.
	raw := fixture.PatchTags(t, ctx, "vault PATCH", map[string]string{"env": "ci"},
		func(ctx context.Context, tags map[string]*string) (*runtime.Poller[armrecoveryservices.VaultsClientUpdateResponse], error) {
			return vf.NewVaultsClient().BeginUpdate(ctx, "vaultrg", "v1", armrecoveryservices.PatchVault{Tags: tags}, nil)
		}, func(v armrecoveryservices.VaultsClientUpdateResponse) map[string]*string { return v.Tags })
	loc := raw.Header.Get("Location")
	res, err := vf.NewOperationsClient().GetOperationResult(runtime.WithCaptureResponse(ctx, &raw), "vaultrg", "v1", testserver.OpID(t, loc), nil)
	if err != nil {
		t.Fatal(err)
	}
	if raw.StatusCode != http.StatusOK || res.Name == nil || *res.Name != "v1" || res.Tags["env"] == nil {
		t.Fatalf("vault operation result %d %+v", raw.StatusCode, res.Vault)
	}

	// Policy DELETE.
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
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
	st, err := bf.NewProtectionPolicyOperationStatusesClient().Get(ctx, "v1", "vaultrg", "Daily", testserver.OpID(t, raw.Header.Get("Azure-AsyncOperation")), nil)
	if err != nil || st.Status == nil || *st.Status != armrecoveryservicesbackup.OperationStatusValuesSucceeded {
		t.Fatalf("policy delete status %v %+v", err, st)
	}
	if _, err := dp.PollUntilDone(ctx, fixture.Poll); err != nil {
		t.Fatal(err)
	}
	if _, err := pc.Get(ctx, "v1", "vaultrg", "Daily", nil); err == nil {
		t.Fatal("policy still there after its delete operation")
	}

	// A backup's operation result is the protected item.
	mkVM(t, e, "vmrg", "vm1", 0, 1<<20)
	protectVM1(t, e, bf)
	if _, err := bf.NewBackupsClient().Trigger(runtime.WithCaptureResponse(ctx, &raw), "v1", "vaultrg", "Azure", vm1Container, vm1Item, armrecoveryservicesbackup.BackupRequestResource{
		Properties: &armrecoveryservicesbackup.IaasVMBackupRequest{}}, nil); err != nil {
		t.Fatal(err)
	}
	got, err := bf.NewProtectedItemOperationResultsClient().Get(runtime.WithCaptureResponse(ctx, &raw), "v1", "vaultrg", "Azure", vm1Container, vm1Item, testserver.OpID(t, raw.Header.Get("Location")), nil)
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

// TestValidateRoutesAnswerValidationsOnly: the validation's status and
// result routes answer validations only: a restore of the same vault is
// OperationNotFound there (its result was a 204 on the result route, which
// the SDK refuses at every api-version), and the validation's own id still
// answers its result.
func TestValidateRoutesAnswerValidationsOnly(t *testing.T) {
	e, bf, rp := backedUpVM1(t, 1, "stagerg")
	ctx := e.Ctx()
	mkStorage(t, e, "stagerg", "staging1")
	saID := "/subscriptions/" + e.Sub + "/resourceGroups/stagerg/providers/Microsoft.Storage/storageAccounts/staging1"
	var raw *http.Response
	p, err := bf.NewRestoresClient().BeginTrigger(runtime.WithCaptureResponse(ctx, &raw), "v1", "vaultrg", "Azure", vm1Container, vm1Item, rp,
		armrecoveryservicesbackup.RestoreRequestResource{Properties: restoreDisks(e, rp, saID)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	restoreOp := testserver.OpID(t, raw.Header.Get("Azure-AsyncOperation"))
	if _, err := p.PollUntilDone(ctx, fixture.Poll); err != nil {
		t.Fatal(err)
	}
	notFound := func(what string, err error) {
		t.Helper()
		var re *azcore.ResponseError
		if !errors.As(err, &re) || re.StatusCode != http.StatusNotFound || re.ErrorCode != "OperationNotFound" {
			t.Fatalf("%s of the restore's operation: want 404 OperationNotFound, got %v", what, err)
		}
	}
	_, err = bf.NewValidateOperationResultsClient().Get(ctx, "v1", "vaultrg", restoreOp, nil)
	notFound("validation result", err)
	_, err = bf.NewValidateOperationStatusesClient().Get(ctx, "v1", "vaultrg", restoreOp, nil)
	notFound("validation status", err)
	if result, _ := triggerValidation(t, e, bf, vm1PointID(e, rp), restoreDisks(e, rp, saID)); len(result) != 0 {
		t.Fatalf("validation of a valid restore: %+v", result)
	}
}

// TestSDKRestoreValidationAndStagingAccount: restore validation (the
// synchronous backupValidateOperation and the backupTriggerValidateOperation
// operation) reports what restore refuses, with restore's own codes, and an
// empty list for a restore restore accepts; RestoreDisks in the classic form
// (storageAccountId as the staging account, no target resource group)
// restores next to the staging account, which must exist; a zone of a
// region without zones is refused.
func TestSDKRestoreValidationAndStagingAccount(t *testing.T) {
	e, bf, rp := backedUpVM1(t, 1, "stagerg")
	ctx := e.Ctx()
	saID := "/subscriptions/" + e.Sub + "/resourceGroups/stagerg/providers/Microsoft.Storage/storageAccounts/staging1"
	rpID := vm1PointID(e, rp)
	validate := func(rr *armrecoveryservicesbackup.IaasVMRestoreRequest) []*armrecoveryservicesbackup.ErrorDetail {
		t.Helper()
		return validateRestore(t, e, bf, rpID, rr)
	}

	// The staging account does not exist yet: validation and restore refuse
	// it with the same code.
	if vr := validate(restoreDisks(e, rp, saID)); len(vr) != 1 || vr[0].Code == nil || *vr[0].Code != "UserErrorStorageAccountNotFound" {
		t.Fatalf("validation without the staging account: %+v", vr)
	}
	if err := restoreVM1(e, bf, rp, restoreDisks(e, rp, saID)); err == nil || !strings.Contains(err.Error(), "UserErrorStorageAccountNotFound") {
		t.Fatalf("restore without the staging account: %v", err)
	}
	mkStorage(t, e, "stagerg", "staging1")

	// A lun the point does not have: refused by both, with restore's code.
	if vr := validate(restoreDisks(e, rp, saID, 7)); len(vr) != 1 || *vr[0].Code != "BMSUserErrorInvalidRestoreInput" || !strings.Contains(*vr[0].Message, "restoreDiskLunList") {
		t.Fatalf("validation of a bad lun: %+v", vr)
	}
	if err := restoreVM1(e, bf, rp, restoreDisks(e, rp, saID, 7)); err == nil || !strings.Contains(err.Error(), "restoreDiskLunList") {
		t.Fatalf("restore of a bad lun: %v", err)
	}

	// Zone 1 of westus, which has no availability zones: refused by both
	// (the disks were made in zone 1 of westus).
	zonal := restoreDisks(e, rp, saID)
	zonal.Zones = to.SliceOfPtrs("1")
	if vr := validate(zonal); len(vr) != 1 || *vr[0].Code != "BMSUserErrorInvalidRestoreInput" || !strings.Contains(*vr[0].Message, "no availability zones") {
		t.Fatalf("validation of a zone of westus: %+v", vr)
	}
	if err := restoreVM1(e, bf, rp, zonal); err == nil || !strings.Contains(err.Error(), "properties.zones") {
		t.Fatalf("restore into a zone of westus: %v", err)
	}

	// Valid: an empty list, synchronously and through the operation.
	if vr := validate(restoreDisks(e, rp, saID)); len(vr) != 0 {
		t.Fatalf("validation of a valid restore: %+v", *vr[0].Message)
	}
	result, status := triggerValidation(t, e, bf, rpID, restoreDisks(e, rp, saID, 7))
	if len(result) != 1 || *result[0].Code != "BMSUserErrorInvalidRestoreInput" {
		t.Fatalf("triggered validation result: %+v", result)
	}
	if len(status) != 1 {
		t.Fatalf("triggered validation status: %+v", status)
	}

	// The classic form restores next to the staging account.
	if err := restoreVM1(e, bf, rp, restoreDisks(e, rp, saID)); err != nil {
		t.Fatal(err)
	}
	e.WaitFor("restore job", func() bool {
		page, err := bf.NewBackupJobsClient().NewListPager("v1", "vaultrg", &armrecoveryservicesbackup.BackupJobsClientListOptions{Filter: to.Ptr("operation eq 'Restore'")}).NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(page.Value) == 1 && *page.Value[0].Properties.GetJob().Status == "Completed"
	})
	resp, m := e.Do("GET", "/subscriptions/"+e.Sub+"/resourceGroups/stagerg/providers/Microsoft.Compute/disks?api-version=2024-03-02", nil)
	must(t, "restored disks", resp, m, 200)
	if n := len(m["value"].([]any)); n != 2 {
		t.Fatalf("restored disks in stagerg: %d, want 2 (OS and data)", n)
	}
}

// TestSDKWireFieldsFromState: fields Azure returns, filled from Safehold's
// state: a V1 schedule's scheduleWeeklyFrequency, a recovery point's
// move readiness (no archive tier) and zones (the zonal VM's), a vault's
// user-assigned identities.
func TestSDKWireFieldsFromState(t *testing.T) {
	e := testserver.StartWithGroups(t, "vaultrg", "vmrg")
	ctx := e.Ctx()
	uami := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1"
	body := fixture.StandardVault()
	body.Location = to.Ptr("eastus2") // a region with zones: the VM is zonal
	body.Identity = &armrecoveryservices.IdentityData{Type: to.Ptr(armrecoveryservices.ResourceIdentityTypeUserAssigned),
		UserAssignedIdentities: map[string]*armrecoveryservices.UserIdentity{uami: {}}}
	v := fixture.RSVault(t, e, "vaultrg", "v1", body)
	if v.SKU == nil || *v.SKU.Name != armrecoveryservices.SKUNameStandard || v.Identity == nil || v.Identity.UserAssignedIdentities[uami] == nil {
		t.Fatalf("vault sku %+v identity %+v", v.SKU, v.Identity)
	}

	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	got, err := bf.NewProtectionPoliciesClient().CreateOrUpdate(ctx, "v1", "vaultrg", "Daily", sdkDailyPolicy(23, 30, 23, 30), nil)
	if err != nil {
		t.Fatal(err)
	}
	sp, ok := got.Properties.(*armrecoveryservicesbackup.AzureIaaSVMProtectionPolicy).SchedulePolicy.(*armrecoveryservicesbackup.SimpleSchedulePolicy)
	if !ok || sp.ScheduleWeeklyFrequency == nil || *sp.ScheduleWeeklyFrequency != 0 {
		t.Fatalf("schedule policy %+v", sp)
	}

	// A VM whose disks are in zone 2.
	cs := e.Server.Compute
	base := "/subscriptions/" + e.Sub + "/resourceGroups/vmrg/providers/Microsoft.Compute/disks/"
	osd, err := cs.CreateDisk(ctx, compute.DiskSpec{ID: base + "vm1-os", Location: "eastus2", CreateOption: "Empty", SizeBytes: 1 << 20, OSType: "Linux", Zones: []string{"2"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CreateVM(ctx, compute.VMSpec{ID: vm1ID(e),
		Location: "eastus2", OSDiskID: osd.ID, OSType: "Linux", VMSize: "Standard_D2s_v3"}); err != nil {
		t.Fatal(err)
	}
	ip := vm1Point(t, e, bf)
	if mr := ip.RecoveryPointMoveReadinessInfo["ArchivedRP"]; mr == nil || mr.IsReadyForMove == nil || *mr.IsReadyForMove {
		t.Fatalf("move readiness %+v", ip.RecoveryPointMoveReadinessInfo)
	}
	if len(ip.Zones) != 1 || *ip.Zones[0] != "2" {
		t.Fatalf("recovery point zones %v, want [2]", ip.Zones)
	}
}

// TestBackupEnginesNone: a vault lists no backup engines (no MABS or DPM
// server is ever registered to a Safehold vault) through the SDK's
// BackupEnginesClient, and through the request armrecoveryservicesbackup
// v1.0.0 sends (api-version 2022-02-01), where both answered 404
// InvalidResourceType; a named engine is a 404 naming it, and a missing
// vault is a 404 before either.
func TestBackupEnginesNone(t *testing.T) {
	e, _ := vaultEnv(t, "v1")
	ctx := e.Ctx()
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	n := testserver.Count(t, ctx, bf.NewBackupEnginesClient().NewListPager("v1", "vaultrg", nil))
	if n != 0 {
		t.Fatalf("%d backup engines listed", n)
	}
	var re *azcore.ResponseError
	if _, err := bf.NewBackupEnginesClient().Get(ctx, "v1", "vaultrg", "mabs1", nil); !errors.As(err, &re) || re.StatusCode != 404 || re.ErrorCode != "BMSUserErrorObjectNotFound" {
		t.Fatalf("get a backup engine: %v", err)
	}
	vault := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/"
	resp, m := e.Do("GET", vault+"v1/backupEngines?api-version=2022-02-01", nil)
	if v, ok := m["value"].([]any); resp.StatusCode != 200 || !ok || len(v) != 0 {
		t.Fatalf("backup engines at 2022-02-01: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.Do("GET", vault+"nope/backupEngines?api-version=2022-02-01", nil); resp.StatusCode != 404 || testserver.ErrorCode(m) == "InvalidResourceType" {
		t.Fatalf("backup engines of a missing vault: %d %v", resp.StatusCode, m)
	}
}
