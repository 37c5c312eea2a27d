package dataprotection_test

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// A restore that runs as another vault identity than the backups (its
// identityDetails name a user-assigned identity) needs that identity's own
// permissions: Disk Restore Operator on the target resource group and read
// access to the point's snapshot (Disk Snapshot Contributor on the snapshot
// resource group, which only the backups' identity was given). Without the
// latter the validation and the restore fail with
// UserErrorMissingRequiredPermissions naming the identity and the action,
// and no disk is made; once it is granted both succeed.
func TestRestoreChecksTheIdentityItRunsAs(t *testing.T) {
	e, dv, f, point := backedUpDisk(t)
	ctx := e.Ctx()
	bis := f.NewBackupInstancesClient()
	request := func(name string, id *armdataprotection.IdentityDetails) *armdataprotection.AzureBackupRecoveryPointBasedRestoreRequest {
		return &armdataprotection.AzureBackupRecoveryPointBasedRestoreRequest{ObjectType: to.Ptr("AzureBackupRecoveryPointBasedRestoreRequest"),
			RecoveryPointID: to.Ptr(point), SourceDataStoreType: to.Ptr(armdataprotection.SourceDataStoreTypeOperationalStore), SourceResourceID: to.Ptr(dv.DiskID),
			IdentityDetails: id,
			RestoreTargetInfo: &armdataprotection.RestoreTargetInfo{ObjectType: to.Ptr("RestoreTargetInfo"), RecoveryOption: to.Ptr(armdataprotection.RecoveryOptionFailIfExists),
				RestoreLocation: to.Ptr("westus"), DatasourceInfo: fixture.Datasource(dv.TargetRG+"/providers/Microsoft.Compute/disks/"+name, name)}}
	}
	// A user-assigned identity asked of a vault that has none is a 400
	// naming the field, not a restore as the system identity.
	if _, err := bis.BeginTriggerRestore(ctx, dv.RG, dv.Vault, dv.Instance, request("r0", &armdataprotection.IdentityDetails{UseSystemAssignedIdentity: to.Ptr(false)}), nil); !testserver.HasError(err, 400, "") || !strings.Contains(err.Error(), "identityDetails.useSystemAssignedIdentity") {
		t.Fatalf("restore as a user-assigned identity of a vault without one: %v", err)
	}
	uami := "/subscriptions/" + e.Sub + "/resourceGroups/vault-rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/restore-id"
	v, err := fixture.Wait(f.NewBackupVaultsClient().BeginUpdate(ctx, dv.RG, dv.Vault, armdataprotection.PatchResourceRequestInput{Identity: &armdataprotection.DppIdentityDetails{
		Type: to.Ptr("SystemAssigned,UserAssigned"), UserAssignedIdentities: map[string]*armdataprotection.UserAssignedIdentity{uami: {}}}}, nil))
	if err != nil {
		t.Fatal(err)
	}
	ua := v.Identity.UserAssignedIdentities[uami]
	if ua == nil || ua.PrincipalID == nil {
		t.Fatalf("vault identity: %+v", v.Identity)
	}
	fixture.Assign(t, e, dv.TargetRG, fixture.RoleDiskRestoreOperator, *ua.PrincipalID)
	restore := func(req *armdataprotection.AzureBackupRecoveryPointBasedRestoreRequest) (validate, run error) {
		_, validate = fixture.Wait(bis.BeginValidateForRestore(ctx, dv.RG, dv.Vault, dv.Instance, armdataprotection.ValidateRestoreRequestObject{RestoreRequestObject: req}, nil))
		_, run = fixture.Wait(bis.BeginTriggerRestore(ctx, dv.RG, dv.Vault, dv.Instance, req, nil))
		return validate, run
	}
	asUser := &armdataprotection.IdentityDetails{UseSystemAssignedIdentity: to.Ptr(false), UserAssignedIdentityArmURL: to.Ptr(uami)}

	verr, rerr := restore(request("r1", asUser))
	if !testserver.HasError(verr, 0, "UserErrorMissingRequiredPermissions") || !strings.Contains(verr.Error(), "Microsoft.Compute/snapshots/read") || !strings.Contains(verr.Error(), *ua.PrincipalID) {
		t.Errorf("validate as the user-assigned identity without access to the snapshot: %v, want UserErrorMissingRequiredPermissions naming snapshots/read and %s", verr, *ua.PrincipalID)
	}
	if !testserver.HasError(rerr, 0, "UserErrorMissingRequiredPermissions") {
		t.Errorf("restore as the user-assigned identity without access to the snapshot: %v, want UserErrorMissingRequiredPermissions", rerr)
	}
	if resp, _ := e.Do("GET", dv.TargetRG+"/providers/Microsoft.Compute/disks/r1?api-version=2024-03-02", nil, testserver.AnyStatus()); resp.StatusCode != 404 {
		t.Errorf("the refused restore's disk: GET %d, want 404", resp.StatusCode)
	}
	// The system identity, which takes the backups, restores.
	if verr, rerr := restore(request("r2", &armdataprotection.IdentityDetails{UseSystemAssignedIdentity: to.Ptr(true)})); verr != nil || rerr != nil {
		t.Fatalf("as the system identity: validate %v, restore %v", verr, rerr)
	}
	fixture.Assign(t, e, dv.SnapshotRG, fixture.RoleDiskSnapshotContributor, *ua.PrincipalID)
	if verr, rerr := restore(request("r3", asUser)); verr != nil || rerr != nil {
		t.Fatalf("as the user-assigned identity with its roles: validate %v, restore %v", verr, rerr)
	}
	if resp, m := e.Do("GET", dv.TargetRG+"/providers/Microsoft.Compute/disks/r3?api-version=2024-03-02", nil); resp.StatusCode != 200 {
		t.Fatalf("restored disk: %d %v", resp.StatusCode, m)
	}
}
