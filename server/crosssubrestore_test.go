package server_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservices"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/google/uuid"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/rbac"
	"github.com/safehold/safehold/rp/resources"
	"github.com/safehold/safehold/rp/vaultface"
	"github.com/safehold/safehold/store"
)

// TestCrossSubscriptionRestoreFollowsTheVaultSetting: a vault whose Cross
// Subscription Restore is Disabled restores into its own subscription
// only, as in Azure (a Backup vault's featureSettings.
// crossSubscriptionRestoreSettings.state, a Recovery Services vault's
// restoreSettings.crossSubscriptionRestoreSettings.crossSubscriptionRestoreState):
// restore validation and the restore are 400 naming the target, and the
// same restore runs once the setting is Enabled. Both vaults stored the
// setting and restored into another subscription whatever it said.
func TestCrossSubscriptionRestoreFollowsTheVaultSetting(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	sub2 := uuid.NewString()
	secondSubscription(t, e, sub2)
	target := "/subscriptions/" + sub2 + "/resourceGroups/target2"
	if resp, m := e.Do("PUT", target+"?api-version=2021-04-01", map[string]any{"location": "westus"}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("resource group in the second subscription: %d %v", resp.StatusCode, m)
	}

	// A Backup vault.
	dv := fixture.ProtectDisk(t, e)
	dv.Backup(t, e)
	dp := testserver.Factory(e, armdataprotection.NewClientFactory)
	vault, err := dp.NewBackupVaultsClient().Get(ctx, dv.RG, dv.Vault, nil)
	if err != nil {
		t.Fatal(err)
	}
	fixture.Assign(t, e, target, fixture.RoleDiskRestoreOperator, *vault.Identity.PrincipalID)
	page, err := dp.NewRecoveryPointsClient().NewListPager(dv.RG, dv.Vault, dv.Instance, nil).NextPage(ctx)
	if err != nil || len(page.Value) != 1 {
		t.Fatalf("points: %v %d", err, len(page.Value))
	}
	req := &armdataprotection.AzureBackupRecoveryPointBasedRestoreRequest{ObjectType: to.Ptr("AzureBackupRecoveryPointBasedRestoreRequest"),
		RecoveryPointID: page.Value[0].Name, SourceDataStoreType: to.Ptr(armdataprotection.SourceDataStoreTypeOperationalStore),
		RestoreTargetInfo: &armdataprotection.RestoreTargetInfo{ObjectType: to.Ptr("RestoreTargetInfo"), RecoveryOption: to.Ptr(armdataprotection.RecoveryOptionFailIfExists),
			RestoreLocation: to.Ptr("westus"), DatasourceInfo: fixture.Datasource(target+"/providers/Microsoft.Compute/disks/restored1", "restored1")}}
	setDP := func(state armdataprotection.CrossSubscriptionRestoreState) {
		t.Helper()
		p, err := dp.NewBackupVaultsClient().BeginUpdate(ctx, dv.RG, dv.Vault, armdataprotection.PatchResourceRequestInput{Properties: &armdataprotection.PatchBackupVaultInput{
			FeatureSettings: &armdataprotection.FeatureSettings{CrossSubscriptionRestoreSettings: &armdataprotection.CrossSubscriptionRestoreSettings{State: to.Ptr(state)}}}}, nil)
		fixture.Done(t, p, err)
	}
	bis := dp.NewBackupInstancesClient()
	setDP(armdataprotection.CrossSubscriptionRestoreStateDisabled)
	vp, err := bis.BeginValidateForRestore(ctx, dv.RG, dv.Vault, dv.Instance, armdataprotection.ValidateRestoreRequestObject{RestoreRequestObject: req}, nil)
	_, err = fixture.Wait(vp, err)
	testserver.WantError(t, "Backup vault: restore validation into another subscription, Disabled", err, http.StatusBadRequest, vaultface.CodeCrossSubscriptionRestoreDisabled)
	rp, err := bis.BeginTriggerRestore(ctx, dv.RG, dv.Vault, dv.Instance, req, nil)
	_, err = fixture.Wait(rp, err)
	testserver.WantError(t, "Backup vault: restore into another subscription, Disabled", err, http.StatusBadRequest, vaultface.CodeCrossSubscriptionRestoreDisabled)
	setDP(armdataprotection.CrossSubscriptionRestoreStateEnabled)
	rp, err = bis.BeginTriggerRestore(ctx, dv.RG, dv.Vault, dv.Instance, req, nil)
	fixture.Done(t, rp, err)
	e.WaitFor("the restored disk in the second subscription", func() bool {
		resp, _ := e.Do("GET", target+"/providers/Microsoft.Compute/disks/restored1?api-version=2023-04-02", nil, testserver.AnyStatus())
		return resp.StatusCode == http.StatusOK
	})

	// A Recovery Services vault.
	v := fixture.ProtectVM(t, e)
	v.Backup(t, e)
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	var point string
	e.WaitFor("the VM's recovery point", func() bool {
		pg, err := bf.NewRecoveryPointsClient().NewListPager(v.Vault, v.RG, "Azure", v.Container, v.Item, nil).NextPage(ctx)
		if err == nil && len(pg.Value) == 1 {
			point = *pg.Value[0].Name
		}
		return point != ""
	})
	e.ResourceGroups("stage-rg")
	staging, _ := fixture.StorageAccount(t, e, "stage-rg", "staging1")
	rr := armrecoveryservicesbackup.RestoreRequestResource{Properties: &armrecoveryservicesbackup.IaasVMRestoreRequest{ObjectType: to.Ptr("IaasVMRestoreRequest"),
		RecoveryPointID: to.Ptr(point), RecoveryType: to.Ptr(armrecoveryservicesbackup.RecoveryTypeRestoreDisks), SourceResourceID: to.Ptr(v.VMID),
		StorageAccountID: to.Ptr(staging), TargetResourceGroupID: to.Ptr(target), Region: to.Ptr("westus"),
		CreateNewCloudService: to.Ptr(false), OriginalStorageAccountOption: to.Ptr(false)}}
	rs := testserver.Factory(e, armrecoveryservices.NewClientFactory).NewVaultsClient()
	setRS := func(state armrecoveryservices.CrossSubscriptionRestoreState) {
		t.Helper()
		p, err := rs.BeginUpdate(ctx, v.RG, v.Vault, armrecoveryservices.PatchVault{Properties: &armrecoveryservices.VaultProperties{
			RestoreSettings: &armrecoveryservices.RestoreSettings{CrossSubscriptionRestoreSettings: &armrecoveryservices.CrossSubscriptionRestoreSettings{
				CrossSubscriptionRestoreState: to.Ptr(state)}}}}, nil)
		fixture.Done(t, p, err)
	}
	restore := func() error {
		p, err := bf.NewRestoresClient().BeginTrigger(ctx, v.Vault, v.RG, "Azure", v.Container, v.Item, point, rr, nil)
		_, err = fixture.Wait(p, err)
		return err
	}
	setRS(armrecoveryservices.CrossSubscriptionRestoreStateDisabled)
	testserver.WantError(t, "Recovery Services vault: restore into another subscription, Disabled", restore(), http.StatusBadRequest, vaultface.CodeCrossSubscriptionRestoreDisabled)
	setRS(armrecoveryservices.CrossSubscriptionRestoreStateEnabled)
	if err := restore(); err != nil {
		t.Fatalf("Recovery Services vault: restore into another subscription, Enabled: %v", err)
	}
}

// secondSubscription adds subscription id to the server's tenant with the
// admin as its Owner: Safehold's API creates no subscription but its
// default one.
func secondSubscription(t *testing.T, e *testserver.Env, id string) {
	t.Helper()
	ctx := e.Ctx()
	if err := e.Server.Store.Update(ctx, func(tx store.Tx) error {
		return resources.PutSubscription(ctx, tx, resources.NewSubscription(id, e.Server.Bootstrap.TenantID, "second"))
	}); err != nil {
		t.Fatal(err)
	}
	scope, name := "/subscriptions/"+id, uuid.NewString()
	x := &rbac.Assignment{ID: scope + "/providers/Microsoft.Authorization/roleAssignments/" + name, Name: name, AssignmentProperties: rbac.AssignmentProperties{
		Scope: scope, PrincipalID: e.Server.Bootstrap.AdminObjectID, PrincipalType: "ServicePrincipal",
		RoleDefinitionID: scope + "/providers/Microsoft.Authorization/roleDefinitions/" + rbac.Owner}}
	x.EffectiveAt = time.Now().Add(-time.Hour) // no propagation delay
	if err := e.Server.Authz.PutAssignment(ctx, x); err != nil {
		t.Fatal(err)
	}
}
