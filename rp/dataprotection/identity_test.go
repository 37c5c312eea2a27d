package dataprotection_test

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

func storage() []*armdataprotection.StorageSetting {
	return []*armdataprotection.StorageSetting{{DatastoreType: to.Ptr(armdataprotection.StorageSettingStoreTypesVaultStore), Type: to.Ptr(armdataprotection.StorageSettingTypesLocallyRedundant)}}
}

// TestSDKUserAssignedIdentity: a vault with only a user-assigned identity
// answers its principalId/clientId; permission checks use that identity
// (roles granted to it make validateForBackup and protection succeed);
// system+user vaults keep both; malformed ids are 400s naming the field.
func TestSDKUserAssignedIdentity(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	sub := e.Sub
	e.ResourceGroups("vault-rg", "disk-rg", "snapshot-rg", "id-rg")
	diskID := "/subscriptions/" + sub + "/resourceGroups/disk-rg/providers/Microsoft.Compute/disks/d1"
	newDisk(t, e, diskID, 8<<20, 3)
	uami := "/subscriptions/" + sub + "/resourceGroups/id-rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/backup-id"
	uami2 := "/subscriptions/" + sub + "/resourceGroups/id-rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/other-id"

	f := testserver.Factory(e, armdataprotection.NewClientFactory)
	vaults, pols, bis := f.NewBackupVaultsClient(), f.NewBackupPoliciesClient(), f.NewBackupInstancesClient()
	putVault := func(name, loc string, id *armdataprotection.DppIdentityDetails) (armdataprotection.BackupVaultResource, error) {
		vp, err := vaults.BeginCreateOrUpdate(ctx, "vault-rg", name, armdataprotection.BackupVaultResource{
			Location: to.Ptr(loc), Identity: id, Properties: &armdataprotection.BackupVault{StorageSettings: storage()}}, nil)
		if err != nil {
			return armdataprotection.BackupVaultResource{}, err
		}
		res, err := vp.PollUntilDone(ctx, fixture.Poll)
		return res.BackupVaultResource, err
	}

	// Location is answered normalised.
	v, err := putVault("uavault", "West US", &armdataprotection.DppIdentityDetails{Type: to.Ptr("UserAssigned"),
		UserAssignedIdentities: map[string]*armdataprotection.UserAssignedIdentity{uami: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if *v.Location != "westus" {
		t.Fatalf("location: %q", *v.Location)
	}
	ua := v.Identity.UserAssignedIdentities[uami]
	if *v.Identity.Type != "UserAssigned" || v.Identity.PrincipalID != nil || ua == nil || ua.PrincipalID == nil || ua.ClientID == nil || *ua.PrincipalID == "" {
		t.Fatalf("identity: %+v %+v", v.Identity, ua)
	}
	uaPrincipal := *ua.PrincipalID
	got, err := vaults.Get(ctx, "vault-rg", "uavault", nil)
	if err != nil || *got.Location != "westus" || *got.Identity.UserAssignedIdentities[uami].PrincipalID != uaPrincipal {
		t.Fatalf("get vault: %v %+v", err, got.Identity)
	}
	for page := range fixture.Pages(t, vaults.NewGetInResourceGroupPager("vault-rg", nil)) {
		for _, x := range page.Value {
			if *x.Location != "westus" {
				t.Fatalf("listed location: %q", *x.Location)
			}
		}
	}

	// The same user-assigned identity in another vault is the same principal;
	// system+user keeps both.
	v2, err := putVault("bothvault", "westUS", &armdataprotection.DppIdentityDetails{Type: to.Ptr("SystemAssigned, UserAssigned"),
		UserAssignedIdentities: map[string]*armdataprotection.UserAssignedIdentity{uami: {}, uami2: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if *v2.Location != "westus" || *v2.Identity.Type != "SystemAssigned,UserAssigned" || v2.Identity.PrincipalID == nil ||
		*v2.Identity.UserAssignedIdentities[uami].PrincipalID != uaPrincipal || *v2.Identity.UserAssignedIdentities[uami2].PrincipalID == uaPrincipal {
		t.Fatalf("system+user identity: %+v", v2.Identity)
	}
	// PATCH removes a user-assigned identity given as null.
	pp, err := vaults.BeginUpdate(ctx, "vault-rg", "bothvault", armdataprotection.PatchResourceRequestInput{Identity: &armdataprotection.DppIdentityDetails{
		Type: to.Ptr("SystemAssigned,UserAssigned"), UserAssignedIdentities: map[string]*armdataprotection.UserAssignedIdentity{uami2: nil}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if pv, err := pp.PollUntilDone(ctx, fixture.Poll); err != nil || len(pv.Identity.UserAssignedIdentities) != 1 || pv.Identity.UserAssignedIdentities[uami] == nil {
		t.Fatalf("patch identity: %v %+v", err, pv.Identity)
	}

	// Malformed identities are 400s naming the field.
	for _, c := range []struct {
		id    *armdataprotection.DppIdentityDetails
		field string
	}{
		{&armdataprotection.DppIdentityDetails{Type: to.Ptr("UserAssigned"), UserAssignedIdentities: map[string]*armdataprotection.UserAssignedIdentity{"/subscriptions/x/resourceGroups/y/providers/Microsoft.Compute/disks/z": {}}}, "identity.userAssignedIdentities"},
		{&armdataprotection.DppIdentityDetails{Type: to.Ptr("UserAssigned"), UserAssignedIdentities: map[string]*armdataprotection.UserAssignedIdentity{"not-an-id": {}}}, "identity.userAssignedIdentities"},
		{&armdataprotection.DppIdentityDetails{Type: to.Ptr("UserAssigned")}, "identity.userAssignedIdentities"},
		{&armdataprotection.DppIdentityDetails{Type: to.Ptr("SystemAssigned"), UserAssignedIdentities: map[string]*armdataprotection.UserAssignedIdentity{uami: {}}}, "identity.userAssignedIdentities"},
		{&armdataprotection.DppIdentityDetails{Type: to.Ptr("Magic")}, "identity.type"},
	} {
		if _, err := putVault("badvault", "westus", c.id); !testserver.HasError(err, 400, "") || !strings.Contains(err.Error(), c.field) {
			t.Fatalf("identity %+v: %v", c.id, err)
		}
	}

	// Permission checks of the user-assigned-only vault use its identity.
	pol, err := pols.CreateOrUpdate(ctx, "vault-rg", "uavault", "disk-policy", fixture.DiskPolicyFrom(fixture.ScheduleStart(e), "PT4H", "P7D", "P30D"), nil)
	if err != nil {
		t.Fatal(err)
	}
	bi := armdataprotection.BackupInstance{ObjectType: to.Ptr("BackupInstance"), DataSourceInfo: fixture.Datasource(diskID, "d1"),
		IdentityDetails: &armdataprotection.IdentityDetails{UseSystemAssignedIdentity: to.Ptr(false), UserAssignedIdentityArmURL: to.Ptr(uami)},
		PolicyInfo: &armdataprotection.PolicyInfo{PolicyID: pol.ID, PolicyParameters: &armdataprotection.PolicyParameters{
			DataStoreParametersList: []armdataprotection.DataStoreParametersClassification{&armdataprotection.AzureOperationalStoreParameters{
				ObjectType: to.Ptr("AzureOperationalStoreParameters"), DataStoreType: to.Ptr(armdataprotection.DataStoreTypesOperationalStore),
				ResourceGroupID: to.Ptr("/subscriptions/" + sub + "/resourceGroups/snapshot-rg")}}}}}
	validate := func(b armdataprotection.BackupInstance) error {
		p, err := bis.BeginValidateForBackup(ctx, "vault-rg", "uavault", armdataprotection.ValidateForBackupRequest{BackupInstance: &b}, nil)
		if err != nil {
			return err
		}
		_, err = p.PollUntilDone(ctx, fixture.Poll)
		return err
	}
	if err := validate(bi); !testserver.HasError(err, 0, "UserErrorMissingRequiredPermissions") || !strings.Contains(err.Error(), uaPrincipal) {
		t.Fatalf("validate without roles: %v", err)
	}
	assign(t, e, diskID, roleDiskBackupReader, uaPrincipal)
	assign(t, e, "/subscriptions/"+sub+"/resourceGroups/snapshot-rg", roleDiskSnapshotContributor, uaPrincipal)
	if err := validate(bi); err != nil {
		t.Fatalf("validate with the user-assigned identity's roles: %v", err)
	}
	// Without identityDetails the vault's first (only) user-assigned identity is used.
	noDetails := bi
	noDetails.IdentityDetails = nil
	if err := validate(noDetails); err != nil {
		t.Fatalf("validate without identityDetails: %v", err)
	}
	// The system identity, asked of a vault that has none, is a 400 naming
	// the field (it ran as the user-assigned identity instead).
	asSystem := bi
	asSystem.IdentityDetails = &armdataprotection.IdentityDetails{UseSystemAssignedIdentity: to.Ptr(true)}
	if _, err := bis.BeginValidateForBackup(ctx, "vault-rg", "uavault", armdataprotection.ValidateForBackupRequest{BackupInstance: &asSystem}, nil); !testserver.HasError(err, 400, "") || !strings.Contains(err.Error(), "identityDetails.useSystemAssignedIdentity") {
		t.Fatalf("validate as the system identity of a vault without one: %v", err)
	}
	// An identity the vault does not have is a 400 naming the field.
	other := bi
	other.IdentityDetails = &armdataprotection.IdentityDetails{UseSystemAssignedIdentity: to.Ptr(false), UserAssignedIdentityArmURL: to.Ptr(uami2)}
	if _, err := bis.BeginValidateForBackup(ctx, "vault-rg", "uavault", armdataprotection.ValidateForBackupRequest{BackupInstance: &other}, nil); !testserver.HasError(err, 400, "") || !strings.Contains(err.Error(), "identityDetails.userAssignedIdentityArmUrl") {
		t.Fatalf("validate with a foreign identity: %v", err)
	}
	cp, err := bis.BeginCreateOrUpdate(ctx, "vault-rg", "uavault", "d1-bi", armdataprotection.BackupInstanceResource{Properties: &bi}, nil)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := cp.PollUntilDone(ctx, fixture.Poll)
	if err != nil || *inst.Properties.CurrentProtectionState != armdataprotection.CurrentProtectionStateProtectionConfigured {
		t.Fatalf("protect with the user-assigned identity: %v %+v", err, inst.Properties)
	}

	// Backup and restore run as the user-assigned identity too.
	e.ResourceGroups("target-rg")
	bp, err := bis.BeginAdhocBackup(ctx, "vault-rg", "uavault", "d1-bi", armdataprotection.TriggerBackupRequest{BackupRuleOptions: &armdataprotection.AdHocBackupRuleOptions{
		RuleName: to.Ptr("BackupHourly"), TriggerOption: &armdataprotection.AdhocBackupTriggerOption{RetentionTagOverride: to.Ptr("Default")}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bp.PollUntilDone(ctx, fixture.Poll); err != nil {
		t.Fatalf("backup as the user-assigned identity: %v", err)
	}
	page, err := f.NewRecoveryPointsClient().NewListPager("vault-rg", "uavault", "d1-bi", nil).NextPage(ctx)
	if err != nil || len(page.Value) != 1 {
		t.Fatalf("points: %v %d", err, len(page.Value))
	}
	pt := page.Value[0].Properties.(*armdataprotection.AzureBackupDiscreteRecoveryPoint)
	targetID := "/subscriptions/" + sub + "/resourceGroups/target-rg/providers/Microsoft.Compute/disks/restored1"
	req := &armdataprotection.AzureBackupRecoveryPointBasedRestoreRequest{ObjectType: to.Ptr("AzureBackupRecoveryPointBasedRestoreRequest"),
		RecoveryPointID: pt.RecoveryPointID, SourceDataStoreType: to.Ptr(armdataprotection.SourceDataStoreTypeOperationalStore), SourceResourceID: to.Ptr(diskID),
		RestoreTargetInfo: &armdataprotection.RestoreTargetInfo{ObjectType: to.Ptr("RestoreTargetInfo"), RecoveryOption: to.Ptr(armdataprotection.RecoveryOptionFailIfExists),
			RestoreLocation: to.Ptr("westus"), DatasourceInfo: fixture.Datasource(targetID, "restored1")}}
	validateRestore := func() error {
		p, err := bis.BeginValidateForRestore(ctx, "vault-rg", "uavault", "d1-bi", armdataprotection.ValidateRestoreRequestObject{RestoreRequestObject: req}, nil)
		if err != nil {
			return err
		}
		_, err = p.PollUntilDone(ctx, fixture.Poll)
		return err
	}
	if err := validateRestore(); !testserver.HasError(err, 0, "UserErrorMissingRequiredPermissions") || !strings.Contains(err.Error(), uaPrincipal) {
		t.Fatalf("validate restore without the role: %v", err)
	}
	assign(t, e, "/subscriptions/"+sub+"/resourceGroups/target-rg", roleDiskRestoreOperator, uaPrincipal)
	if err := validateRestore(); err != nil {
		t.Fatalf("validate restore as the user-assigned identity: %v", err)
	}

	// The instance's identity taken off the vault for another one (with
	// the same roles): its backups do not run as that other identity.
	pv, err := fixture.Wait(vaults.BeginUpdate(ctx, "vault-rg", "uavault", armdataprotection.PatchResourceRequestInput{Identity: &armdataprotection.DppIdentityDetails{
		Type: to.Ptr("UserAssigned"), UserAssignedIdentities: map[string]*armdataprotection.UserAssignedIdentity{uami: nil, uami2: {}}}}, nil))
	if _, kept := pv.Identity.UserAssignedIdentities[uami]; err != nil || kept || pv.Identity.UserAssignedIdentities[uami2] == nil || pv.Identity.UserAssignedIdentities[uami2].PrincipalID == nil {
		t.Fatalf("swap the vault's identity: %v", err)
	}
	other2 := *pv.Identity.UserAssignedIdentities[uami2].PrincipalID
	assign(t, e, diskID, roleDiskBackupReader, other2)
	assign(t, e, "/subscriptions/"+sub+"/resourceGroups/snapshot-rg", roleDiskSnapshotContributor, other2)
	bp, err = bis.BeginAdhocBackup(ctx, "vault-rg", "uavault", "d1-bi", armdataprotection.TriggerBackupRequest{BackupRuleOptions: &armdataprotection.AdHocBackupRuleOptions{
		RuleName: to.Ptr("BackupHourly"), TriggerOption: &armdataprotection.AdhocBackupTriggerOption{RetentionTagOverride: to.Ptr("Default")}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bp.PollUntilDone(ctx, fixture.Poll); !testserver.HasError(err, 0, "UserErrorMissingRequiredPermissions") {
		t.Errorf("backup as an identity the vault no longer has: %v, want UserErrorMissingRequiredPermissions", err)
	}
	if page, err := f.NewRecoveryPointsClient().NewListPager("vault-rg", "uavault", "d1-bi", nil).NextPage(ctx); err != nil || len(page.Value) != 1 {
		t.Fatalf("points after the refused backup: %v %d, want 1", err, len(page.Value))
	}
}

// TestPatchIdentityWithoutTypeKeepsIt: a vault PATCH whose identity gives
// no type (the SDK's DppIdentityDetails{} sends {}) keeps the vault's
// system-assigned identity, its principal and the principal's roles, as
// ARM's PATCH merges; one giving user-assigned identities without a type
// is held to the type the vault has. Both dropped the identity (type
// None), deleting the principal with its role assignments, so the vault's
// backups lost every permission (found by hostile27).
func TestPatchIdentityWithoutTypeKeepsIt(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	e.ResourceGroups("vault-rg", "id-rg")
	v := fixture.BackupVault(t, e, "vault-rg", "keepid")
	principal := *v.Identity.PrincipalID
	scope := "/subscriptions/" + e.Sub + "/resourceGroups/id-rg"
	assign(t, e, scope, roleDiskSnapshotContributor, principal)
	vaults := testserver.Factory(e, armdataprotection.NewClientFactory).NewBackupVaultsClient()
	pv, err := fixture.Wait(vaults.BeginUpdate(ctx, "vault-rg", "keepid", armdataprotection.PatchResourceRequestInput{
		Identity: &armdataprotection.DppIdentityDetails{}, Tags: map[string]*string{"k": to.Ptr("v")}}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if pv.Identity == nil || pv.Identity.Type == nil || *pv.Identity.Type != "SystemAssigned" || pv.Identity.PrincipalID == nil || *pv.Identity.PrincipalID != principal {
		t.Fatalf("the vault after a PATCH of identity {}: %+v, want SystemAssigned with principal %s", pv.Identity, principal)
	}
	got, err := vaults.Get(ctx, "vault-rg", "keepid", nil)
	if err != nil || got.Identity == nil || got.Identity.PrincipalID == nil || *got.Identity.PrincipalID != principal {
		t.Fatalf("GET after the PATCH: %v %+v", err, got.Identity)
	}
	if resp, m := e.Do("GET", "/subscriptions/"+e.Sub+"/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01&$filter=principalId%20eq%20'"+principal+"'", nil); resp.StatusCode != 200 || len(m["value"].([]any)) != 1 {
		t.Fatalf("the identity's role assignments after the PATCH: %d %v, want the one", resp.StatusCode, m)
	}
	uami := "/subscriptions/" + e.Sub + "/resourceGroups/id-rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/backup-id"
	_, err = fixture.Wait(vaults.BeginUpdate(ctx, "vault-rg", "keepid", armdataprotection.PatchResourceRequestInput{Identity: &armdataprotection.DppIdentityDetails{
		UserAssignedIdentities: map[string]*armdataprotection.UserAssignedIdentity{uami: {}}}}, nil))
	if !testserver.HasError(err, 400, "") || !strings.Contains(err.Error(), "identity.userAssignedIdentities") {
		t.Fatalf("a PATCH of user-assigned identities without a type to a SystemAssigned vault: %v, want 400 naming identity.userAssignedIdentities", err)
	}
	if got, err := vaults.Get(ctx, "vault-rg", "keepid", nil); err != nil || got.Identity == nil || got.Identity.PrincipalID == nil || *got.Identity.PrincipalID != principal {
		t.Fatalf("GET after the refused PATCH: %v %+v", err, got.Identity)
	}
}
