package dataprotection_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/google/uuid"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

const (
	roleContributor       = "b24988ac-6180-42a0-ab88-20f7382dd24c"
	roleReader            = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
	roleBackupContributor = "5e467623-bb1f-42f4-a55d-6e525e11384b"
)

// TestResourceGuardCRUD: a guard is a tracked resource that lists the
// critical operations it protects, less its exclusions, and the default
// request object of each.
func TestResourceGuardCRUD(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	e.ResourceGroups("guard-rg")
	gc := testserver.Factory(e, armdataprotection.NewClientFactory).NewResourceGuardsClient()
	g, err := gc.Put(ctx, "guard-rg", "g1", armdataprotection.ResourceGuardResource{Location: to.Ptr("West US"), Tags: map[string]*string{"k": to.Ptr("v")},
		Properties: &armdataprotection.ResourceGuard{VaultCriticalOperationExclusionList: []*string{to.Ptr("Microsoft.RecoveryServices/vaults/backupSecurityPIN/action")}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := g.Properties
	if *g.Location != "westus" || *p.ProvisioningState != armdataprotection.ProvisioningStateSucceeded || !*p.AllowAutoApprovals || len(p.VaultCriticalOperationExclusionList) != 1 {
		t.Fatalf("guard %+v", g)
	}
	ops := map[string]string{}
	for _, o := range p.ResourceGuardOperations {
		ops[*o.VaultCriticalOperation] = *o.RequestResourceType
	}
	if ops["Microsoft.RecoveryServices/vaults/backupResourceGuardProxies/delete"] != "Microsoft.DataProtection/resourceGuards/deleteResourceGuardProxyRequests" ||
		ops["Microsoft.DataProtection/backupVaults/backupInstances/delete"] == "" || ops["Microsoft.RecoveryServices/vaults/backupSecurityPIN/action"] != "" {
		t.Fatalf("operations %v", ops)
	}
	if _, err := gc.Put(ctx, "guard-rg", "g2", armdataprotection.ResourceGuardResource{Location: to.Ptr("westus"),
		Properties: &armdataprotection.ResourceGuard{VaultCriticalOperationExclusionList: []*string{to.Ptr("Microsoft.Compute/disks/delete")}}}, nil); err == nil {
		t.Fatal("an unknown excluded operation was accepted")
	} else {
		testserver.WantError(t, "unknown exclusion", err, 400, "InvalidRequestContent")
	}
	pg, err := gc.Patch(ctx, "guard-rg", "g1", armdataprotection.PatchResourceGuardInput{Tags: map[string]*string{"n": to.Ptr("w")}}, nil)
	if err != nil || len(pg.Tags) != 1 || *pg.Tags["n"] != "w" || len(pg.Properties.ResourceGuardOperations) != len(p.ResourceGuardOperations) {
		t.Fatalf("patch: %v %+v", err, pg)
	}
	n := testserver.Count(t, ctx, gc.NewGetResourcesInSubscriptionPager(nil))
	if n != 1 {
		t.Fatalf("%d guards in the subscription", n)
	}
	def, err := gc.GetDefaultBackupSecurityPINRequestsObject(ctx, "guard-rg", "g1", "default", nil)
	if err != nil || *def.Type != "Microsoft.DataProtection/resourceGuards/getBackupSecurityPINRequests" || !strings.HasSuffix(*def.ID, "/g1/getBackupSecurityPINRequests/default") {
		t.Fatalf("default request: %v %+v", err, def)
	}
	for page := range fixture.Pages(t, gc.NewGetDeleteProtectedItemRequestsObjectsPager("guard-rg", "g1", nil)) {
		if len(page.Value) != 1 || *page.Value[0].Name != "default" {
			t.Fatalf("requests %+v", page.Value)
		}
	}
	if _, err := gc.GetDefaultDisableSoftDeleteRequestsObject(ctx, "guard-rg", "g1", "other", nil); err == nil {
		t.Fatal("a request other than default was found")
	}
	if _, err := gc.Delete(ctx, "guard-rg", "g1", nil); err != nil {
		t.Fatal(err)
	}
	_, err = gc.Get(ctx, "guard-rg", "g1", nil)
	testserver.WantError(t, "get a deleted guard", err, 404, "ResourceNotFound")
}

// TestResourceGuardProtectsBackupVault: a backup admin with Backup
// Contributor on the vault's group links the vault to a guard it may only
// read; from then on deleting or stopping the backup instance needs the
// guard's permission (403 naming the guard), and so does unlinking, which
// also needs an unlockDelete used before it expires.
func TestResourceGuardProtectsBackupVault(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	dv := fixture.ProtectDisk(t, e)
	guardID := fixture.Guard(t, e, "security-rg", "guard")
	admin := testserver.Factory(e, armdataprotection.NewClientFactory)

	objectID, cred := fixture.Principal(t, e, "backup-admin")
	fixture.Assign(t, e, "/subscriptions/"+e.Sub+"/resourceGroups/"+dv.RG, roleBackupContributor, objectID)
	// The disk and its snapshots' group: what configuring protection links.
	fixture.Assign(t, e, "/subscriptions/"+e.Sub+"/resourceGroups/disk-rg", roleContributor, objectID)
	fixture.Assign(t, e, dv.SnapshotRG, roleContributor, objectID)
	f, err := armdataprotection.NewClientFactory(e.Sub, cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	proxies, bis, vaults := f.NewDppResourceGuardProxyClient(), f.NewBackupInstancesClient(), f.NewBackupVaultsClient()
	link := armdataprotection.ResourceGuardProxyBaseResource{Properties: &armdataprotection.ResourceGuardProxyBase{ResourceGuardResourceID: to.Ptr(guardID)}}

	// Linking names the guard: the caller must be able to read it.
	_, err = proxies.CreateOrUpdate(ctx, dv.RG, dv.Vault, "VaultProxy", link, nil)
	testserver.WantError(t, "link without reading the guard", err, 403, "LinkedAuthorizationFailed")
	fixture.Assign(t, e, guardID, roleReader, objectID)
	px := fixture.Allowed(e, "link allowed", func() (armdataprotection.DppResourceGuardProxyClientCreateOrUpdateResponse, error) {
		return proxies.CreateOrUpdate(ctx, dv.RG, dv.Vault, "VaultProxy", link, nil)
	})
	details := map[string]string{}
	for _, d := range px.Properties.ResourceGuardOperationDetails {
		details[*d.VaultCriticalOperation] = *d.DefaultResourceRequest
	}
	if *px.Properties.ResourceGuardResourceID != guardID || details["Microsoft.DataProtection/backupVaults/backupInstances/delete"] != guardID+"/deleteBackupInstanceRequests/default" ||
		details["Microsoft.RecoveryServices/vaults/backupconfig/write"] != "" {
		t.Fatalf("proxy %+v", px)
	}
	if _, err := proxies.CreateOrUpdate(ctx, dv.RG, dv.Vault, "Another", link, nil); err == nil {
		t.Fatal("a second proxy was accepted")
	} else {
		testserver.WantError(t, "second proxy", err, 409, "UserErrorResourceGuardProxyExists")
	}
	v, err := vaults.Get(ctx, dv.RG, dv.Vault, nil)
	if err != nil || !*v.Properties.IsVaultProtectedByResourceGuard {
		t.Fatalf("vault: %v %+v", err, v.Properties)
	}

	// Critical operations need the guard's permission.
	_, err = bis.BeginDelete(ctx, dv.RG, dv.Vault, dv.Instance, nil)
	re := testserver.WantError(t, "delete the instance", err, 403, "UserErrorCriticalOperationUnauthorized")
	if !strings.Contains(re.Error(), guardID) {
		t.Fatalf("the refusal does not name the guard: %v", re)
	}
	bi, err := bis.Get(ctx, dv.RG, dv.Vault, dv.Instance, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = bis.BeginCreateOrUpdate(ctx, dv.RG, dv.Vault, dv.Instance, armdataprotection.BackupInstanceResource{Properties: bi.Properties}, nil)
	testserver.WantError(t, "change the instance's protection", err, 403, "UserErrorCriticalOperationUnauthorized")
	_, err = bis.BeginStopProtection(ctx, dv.RG, dv.Vault, dv.Instance, &armdataprotection.BackupInstancesClientBeginStopProtectionOptions{
		Parameters: &armdataprotection.StopProtectionRequest{ResourceGuardOperationRequests: []*string{to.Ptr(guardID + "/dppDisableStopProtectionRequests/default")}}})
	testserver.WantError(t, "stop protection", err, 403, "UserErrorCriticalOperationUnauthorized")
	_, err = bis.BeginSuspendBackups(ctx, dv.RG, dv.Vault, dv.Instance, &armdataprotection.BackupInstancesClientBeginSuspendBackupsOptions{
		Parameters: &armdataprotection.SuspendBackupRequest{ResourceGuardOperationRequests: []*string{to.Ptr("/subscriptions/" + e.Sub + "/resourceGroups/x/providers/Microsoft.DataProtection/resourceGuards/other/dppDisableSuspendBackupsRequests/default")}}})
	testserver.WantError(t, "a request of another guard", err, 400, "UserErrorResourceGuardOperationRequestInvalid")
	_, err = proxies.Delete(ctx, dv.RG, dv.Vault, "VaultProxy", nil)
	testserver.WantError(t, "unlink without unlock", err, 403, "UserErrorResourceGuardProxyLocked")
	unlock := armdataprotection.UnlockDeleteRequest{ResourceToBeDeleted: px.ID,
		ResourceGuardOperationRequests: []*string{to.Ptr(guardID + "/deleteResourceGuardProxyRequests/default")}}
	_, err = proxies.UnlockDelete(ctx, dv.RG, dv.Vault, "VaultProxy", unlock, nil)
	testserver.WantError(t, "unlock without the guard's permission", err, 403, "UserErrorCriticalOperationUnauthorized")
	// The guard's owner may not delete it while it protects a vault.
	_, err = admin.NewResourceGuardsClient().Delete(ctx, "security-rg", "guard", nil)
	testserver.WantError(t, "delete a linked guard", err, 409, "UserErrorResourceGuardInUse")

	// The guard's owner grants the backup admin access (JIT in Azure).
	fixture.Assign(t, e, guardID, roleContributor, objectID)
	ul := fixture.Allowed(e, "unlock allowed", func() (armdataprotection.DppResourceGuardProxyClientUnlockDeleteResponse, error) {
		return proxies.UnlockDelete(ctx, dv.RG, dv.Vault, "VaultProxy", unlock, nil)
	})
	if ul.UnlockDeleteExpiryTime == nil {
		t.Fatal("no unlockDeleteExpiryTime")
	}
	// An unlock expires: used after its window it unlocks nothing.
	resp, m := e.Do("POST", "/providers/Safehold.Admin/clock/advance?api-version=2024-01-01", map[string]string{"duration": "PT11M"})
	if resp.StatusCode != 200 {
		t.Fatalf("clock advance: %d %v", resp.StatusCode, m)
	}
	_, err = proxies.Delete(ctx, dv.RG, dv.Vault, "VaultProxy", nil)
	testserver.WantError(t, "unlink after the unlock expired", err, 403, "UserErrorResourceGuardProxyLocked")
	if _, err = proxies.UnlockDelete(ctx, dv.RG, dv.Vault, "VaultProxy", unlock, nil); err != nil {
		t.Fatal(err)
	}
	if _, err = bis.BeginSuspendBackups(ctx, dv.RG, dv.Vault, dv.Instance, nil); err != nil {
		t.Fatalf("suspend with the guard's permission: %v", err)
	}
	if _, err = proxies.Delete(ctx, dv.RG, dv.Vault, "VaultProxy", nil); err != nil {
		t.Fatal(err)
	}
	v, err = vaults.Get(ctx, dv.RG, dv.Vault, nil)
	if err != nil || *v.Properties.IsVaultProtectedByResourceGuard {
		t.Fatalf("vault after unlinking: %v %+v", err, v.Properties)
	}
	n := testserver.Count(t, ctx, proxies.NewListPager(dv.RG, dv.Vault, nil))
	if n != 0 {
		t.Fatalf("%d proxies after unlinking", n)
	}
}

// TestDeletedVaultReleasesItsGuard: deleting a Backup vault linked to a
// guard takes its proxy with it: the guard may then be deleted, and a new
// vault of the same name starts unlinked.
func TestDeletedVaultReleasesItsGuard(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	e.ResourceGroups("vault-rg", "security-rg")
	f := testserver.Factory(e, armdataprotection.NewClientFactory)
	guard, err := f.NewResourceGuardsClient().Put(ctx, "security-rg", "guard", armdataprotection.ResourceGuardResource{Location: to.Ptr("westus")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	fixture.BackupVault(t, e, "vault-rg", "v1")
	link := armdataprotection.ResourceGuardProxyBaseResource{Properties: &armdataprotection.ResourceGuardProxyBase{ResourceGuardResourceID: guard.ID}}
	if _, err := f.NewDppResourceGuardProxyClient().CreateOrUpdate(ctx, "vault-rg", "v1", "VaultProxy", link, nil); err != nil {
		t.Fatal(err)
	}
	vaults := f.NewBackupVaultsClient()
	dp, err := vaults.BeginDelete(ctx, "vault-rg", "v1", nil)
	fixture.Done(t, dp, err)
	if _, err := f.NewResourceGuardsClient().Delete(ctx, "security-rg", "guard", nil); err != nil {
		t.Fatalf("delete the guard of a deleted vault: %v", err)
	}
	v := fixture.BackupVault(t, e, "vault-rg", "v1")
	if *v.Properties.IsVaultProtectedByResourceGuard {
		t.Fatal("a new vault of a deleted vault's name starts linked to its guard")
	}
	n := testserver.Count(t, ctx, f.NewDppResourceGuardProxyClient().NewListPager("vault-rg", "v1", nil))
	if n != 0 {
		t.Fatalf("the new vault lists %d proxies", n)
	}
}

// TestGuardedCascadingDeletes: deleting the resource group of a Backup
// vault linked to a guard, or the vault itself once only soft-deleted
// instances are left (soft delete turned Off), deletes the vault's backup
// data: a Contributor on the group without the guard's permission is
// refused (403 naming the vault and the guard) and nothing is deleted;
// with the guard's permission the group's delete proceeds.
func TestGuardedCascadingDeletes(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	dv := fixture.ProtectDisk(t, e)
	admin := testserver.Factory(e, armdataprotection.NewClientFactory)
	guardID := fixture.Guard(t, e, "security-rg", "guard")
	link := armdataprotection.ResourceGuardProxyBaseResource{Properties: &armdataprotection.ResourceGuardProxyBase{ResourceGuardResourceID: to.Ptr(guardID)}}
	if _, err := admin.NewDppResourceGuardProxyClient().CreateOrUpdate(ctx, dv.RG, dv.Vault, "VaultProxy", link, nil); err != nil {
		t.Fatal(err)
	}

	objectID, cred := fixture.Principal(t, e, "rg-contributor")
	fixture.Assign(t, e, "/subscriptions/"+e.Sub+"/resourceGroups/"+dv.RG, roleContributor, objectID)
	rgs, err := armresources.NewResourceGroupsClient(e.Sub, cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	f, err := armdataprotection.NewClientFactory(e.Sub, cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	refused := func(what string, del func() error) {
		t.Helper()
		var err error
		e.WaitFor(what+" authorized on the group", func() bool {
			err = del()
			return !testserver.HasError(err, 0, "AuthorizationFailed")
		})
		re := testserver.WantError(t, what, err, 403, "UserErrorCriticalOperationUnauthorized")
		if !strings.Contains(re.Error(), guardID) || !strings.Contains(re.Error(), "'"+dv.Vault+"'") {
			t.Fatalf("%s: the refusal does not name the vault and the guard: %v", what, re)
		}
		if _, err := admin.NewBackupVaultsClient().Get(ctx, dv.RG, dv.Vault, nil); err != nil {
			t.Fatalf("after the refused %s: %v", what, err)
		}
	}
	deleteGroup := func() error {
		_, err := rgs.BeginDelete(ctx, dv.RG, nil)
		return err
	}
	refused("resource group delete", deleteGroup)
	if _, err := admin.NewBackupInstancesClient().Get(ctx, dv.RG, dv.Vault, dv.Instance, nil); err != nil {
		t.Fatalf("the instance after the refused group delete: %v", err)
	}

	// Only a soft-deleted instance left, soft delete turned Off (both by the
	// admin, who holds the guard's permission): deleting the vault purges it.
	if _, err := fixture.Wait(admin.NewBackupInstancesClient().BeginDelete(ctx, dv.RG, dv.Vault, dv.Instance, nil)); err != nil {
		t.Fatal(err)
	}
	vaultPath := "/subscriptions/" + e.Sub + "/resourceGroups/" + dv.RG + "/providers/Microsoft.DataProtection/backupVaults/" + dv.Vault
	patchVault(t, e, vaultPath+"?api-version=2024-04-01", `{"properties":{"securitySettings":{"softDeleteSettings":{"state":"Off"}}}}`)
	refused("vault delete", func() error {
		_, err := f.NewBackupVaultsClient().BeginDelete(ctx, dv.RG, dv.Vault, nil)
		return err
	})
	refused("resource group delete of soft-deleted data", deleteGroup)
	if _, err := admin.NewDeletedBackupInstancesClient().Get(ctx, dv.RG, dv.Vault, dv.Instance, nil); err != nil {
		t.Fatalf("the soft-deleted instance after the refused deletes: %v", err)
	}

	// With the guard's permission the group's delete proceeds.
	fixture.Assign(t, e, guardID, roleContributor, objectID)
	fixture.Done(t, fixture.Allowed(e, "group delete allowed", func() (*runtime.Poller[armresources.ResourceGroupsClientDeleteResponse], error) {
		return rgs.BeginDelete(ctx, dv.RG, nil)
	}), nil)
	_, err = admin.NewBackupVaultsClient().Get(ctx, dv.RG, dv.Vault, nil)
	testserver.WantError(t, "the vault after its group's delete", err, 404, "ResourceGroupNotFound")
}

// TestResourceGuardPutStatusByVersion: the spec of ResourceGuards_Put lists
// 200 alone before 2024-04-01 (armdataprotection v1 at 2022-04-01 refuses
// any other code, a 201 included) and 200 or 201 from then on; creating a
// guard answers 200 at the older versions, 201 at the newer, and replacing
// one answers 200 at all.
func TestResourceGuardPutStatusByVersion(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("guard-rg")
	base := "/subscriptions/" + e.Sub + "/resourceGroups/guard-rg/providers/Microsoft.DataProtection/resourceGuards/"
	for i, c := range []struct {
		version         string
		create, replace int
	}{
		{"2022-04-01", 200, 200}, {"2021-07-01", 200, 200}, {"2023-12-01", 200, 200}, {"2024-02-01-preview", 200, 200},
		{"2024-04-01", 201, 200}, {"2025-07-01", 201, 200},
	} {
		p := base + "g" + strings.ReplaceAll(c.version, "-", "") + "?api-version=" + c.version
		for j, want := range []int{c.create, c.replace} {
			resp, m := e.Do("PUT", p, `{"location":"westus"}`)
			if resp.StatusCode != want || m["id"] == nil {
				t.Errorf("case %d PUT %d at %s: %d (error %q), want %d with the guard", i, j, c.version, resp.StatusCode, testserver.ErrorCode(m), want)
			}
		}
	}
}

// TestResourceGuardGuardsEachOperation: every critical operation of a
// Backup vault a guard protects (a change of the instance's protection or
// of the policy it uses, suspending its backups, stopping its protection,
// weakening the vault's security settings: soft delete turned off or its
// retention shortened, immutability turned off; deleting the instance,
// unlocking the guard proxy's delete) is refused to a backup admin (Backup
// Contributor on the vault) without the guard's permission for that
// operation, changing nothing (403 naming the guard and the action), and
// allowed once the guard's owner grants a role holding that one action on
// the guard: each refusal comes while the admin holds the actions of the
// operations before it, so one operation's permission allows no other. An
// operation the guard excludes needs no permission. A policy change and
// the weakening of the settings other than soft delete's state were not
// guarded (both succeeded without the permission).
func TestResourceGuardGuardsEachOperation(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	dv := fixture.ProtectDisk(t, e)
	guardID := fixture.Guard(t, e, "security-rg", "guard")
	owner := testserver.Factory(e, armdataprotection.NewClientFactory)
	vaultPath := "/subscriptions/" + e.Sub + "/resourceGroups/" + dv.RG + "/providers/Microsoft.DataProtection/backupVaults/" + dv.Vault
	patchVault(t, e, vaultPath+"?api-version=2024-04-01", `{"properties":{"securitySettings":{"softDeleteSettings":{"state":"On","retentionDurationInDays":30},"immutabilitySettings":{"state":"Unlocked"}}}}`)
	link := armdataprotection.ResourceGuardProxyBaseResource{Properties: &armdataprotection.ResourceGuardProxyBase{ResourceGuardResourceID: to.Ptr(guardID)}}
	px, err := owner.NewDppResourceGuardProxyClient().CreateOrUpdate(ctx, dv.RG, dv.Vault, "VaultProxy", link, nil)
	if err != nil {
		t.Fatal(err)
	}

	objectID, cred := fixture.Principal(t, e, "backup-admin")
	fixture.Assign(t, e, "/subscriptions/"+e.Sub+"/resourceGroups/"+dv.RG, roleBackupContributor, objectID)
	fixture.Assign(t, e, "/subscriptions/"+e.Sub+"/resourceGroups/disk-rg", roleContributor, objectID)
	fixture.Assign(t, e, dv.SnapshotRG, roleContributor, objectID)
	fixture.Assign(t, e, guardID, roleReader, objectID)
	f, err := armdataprotection.NewClientFactory(e.Sub, cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	bis, vaults, pols := f.NewBackupInstancesClient(), f.NewBackupVaultsClient(), f.NewBackupPoliciesClient()
	rd, err := armauthorization.NewRoleDefinitionsClient(e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	// grant gives the admin a custom role holding action alone on the guard.
	grant := func(action string) {
		t.Helper()
		role := uuid.NewString()
		if _, err := rd.CreateOrUpdate(ctx, "/subscriptions/"+e.Sub, role, armauthorization.RoleDefinition{Properties: &armauthorization.RoleDefinitionProperties{
			RoleName: to.Ptr("guard " + action), AssignableScopes: []*string{to.Ptr("/subscriptions/" + e.Sub)},
			Permissions: []*armauthorization.Permission{{Actions: []*string{to.Ptr(action)}}}}}, nil); err != nil {
			t.Fatal(err)
		}
		fixture.Assign(t, e, guardID, role, objectID)
	}
	// state is the instance's protection state, its policy's retention,
	// and the vault's soft delete and immutability.
	state := func() string {
		t.Helper()
		v, err := owner.NewBackupVaultsClient().Get(ctx, dv.RG, dv.Vault, nil)
		if err != nil {
			t.Fatal(err)
		}
		sec := v.Properties.SecuritySettings
		vs := fmt.Sprintf("%s %v %s", *sec.SoftDeleteSettings.State, *sec.SoftDeleteSettings.RetentionDurationInDays, *sec.ImmutabilitySettings.State)
		pol, err := owner.NewBackupPoliciesClient().Get(ctx, dv.RG, dv.Vault, dv.Policy, nil)
		if err != nil {
			t.Fatal(err)
		}
		keep := ""
		for _, r := range pol.Properties.(*armdataprotection.BackupPolicy).PolicyRules {
			if rr, ok := r.(*armdataprotection.AzureRetentionRule); ok && *rr.Name == "Default" {
				keep = *rr.Lifecycles[0].DeleteAfter.(*armdataprotection.AbsoluteDeleteOption).Duration
			}
		}
		bi, err := owner.NewBackupInstancesClient().Get(ctx, dv.RG, dv.Vault, dv.Instance, nil)
		if err != nil {
			return "gone " + keep + " " + vs
		}
		return string(*bi.Properties.CurrentProtectionState) + " " + keep + " " + vs
	}
	request := func(kind string) []*string { return []*string{to.Ptr(guardID + "/" + kind + "/default")} }
	bi, err := bis.Get(ctx, dv.RG, dv.Vault, dv.Instance, nil)
	if err != nil {
		t.Fatal(err)
	}
	policy, err := pols.Get(ctx, dv.RG, dv.Vault, dv.Policy, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pols.CreateOrUpdate(ctx, dv.RG, dv.Vault, dv.Policy, policy.BaseBackupPolicyResource, nil); err != nil {
		t.Fatalf("a PUT of the policy as it is: %v", err)
	}
	shorter := fixture.DiskPolicyFrom(fixture.ScheduleStart(e), "PT4H", "P1D", "P1D")
	patch := func(kind string, sec *armdataprotection.SecuritySettings) func() error {
		return func() error {
			return waitErr(vaults.BeginUpdate(ctx, dv.RG, dv.Vault, armdataprotection.PatchResourceRequestInput{Properties: &armdataprotection.PatchBackupVaultInput{
				ResourceGuardOperationRequests: request(kind), SecuritySettings: sec}}, nil))
		}
	}
	unlock := armdataprotection.UnlockDeleteRequest{ResourceToBeDeleted: px.ID, ResourceGuardOperationRequests: request("deleteResourceGuardProxyRequests")}
	steps := []struct {
		what, request, vaultOp string
		do                     []func() error // each refused without the permission, then allowed with it, in order
		after                  string         // state() once done
	}{
		{"change the instance's protection and its policy", "dppModifyPolicy", "Microsoft.DataProtection/backupVaults/backupInstances/write", []func() error{func() error {
			p := *bi.Properties
			p.ResourceGuardOperationRequests = request("dppModifyPolicy")
			return waitErr(bis.BeginCreateOrUpdate(ctx, dv.RG, dv.Vault, dv.Instance, armdataprotection.BackupInstanceResource{Properties: &p}, nil))
		}, func() error {
			_, err := pols.CreateOrUpdate(ctx, dv.RG, dv.Vault, dv.Policy, shorter, nil)
			return err
		}}, "ProtectionConfigured P1D On 30 Unlocked"},
		{"suspend backups", "dppDisableSuspendBackupsRequests", "Microsoft.DataProtection/backupVaults/backupInstances/suspendBackups/action", []func() error{func() error {
			return waitErr(bis.BeginSuspendBackups(ctx, dv.RG, dv.Vault, dv.Instance, &armdataprotection.BackupInstancesClientBeginSuspendBackupsOptions{
				Parameters: &armdataprotection.SuspendBackupRequest{ResourceGuardOperationRequests: request("dppDisableSuspendBackupsRequests")}}))
		}}, "BackupSchedulesSuspended P1D On 30 Unlocked"},
		{"stop protection", "dppDisableStopProtectionRequests", "Microsoft.DataProtection/backupVaults/backupInstances/stopProtection/action", []func() error{func() error {
			return waitErr(bis.BeginStopProtection(ctx, dv.RG, dv.Vault, dv.Instance, &armdataprotection.BackupInstancesClientBeginStopProtectionOptions{
				Parameters: &armdataprotection.StopProtectionRequest{ResourceGuardOperationRequests: request("dppDisableStopProtectionRequests")}}))
		}}, "ProtectionStopped P1D On 30 Unlocked"},
		{"weaken the vault's security settings", "dppDisableSoftDeleteRequests", "Microsoft.DataProtection/backupVaults/write", []func() error{
			patch("dppDisableSoftDeleteRequests", &armdataprotection.SecuritySettings{SoftDeleteSettings: &armdataprotection.SoftDeleteSettings{
				State: to.Ptr(armdataprotection.SoftDeleteStateOn), RetentionDurationInDays: to.Ptr(14.0)}}),
			patch("dppDisableSoftDeleteRequests", &armdataprotection.SecuritySettings{ImmutabilitySettings: &armdataprotection.ImmutabilitySettings{
				State: to.Ptr(armdataprotection.ImmutabilityStateDisabled)}}),
			patch("dppDisableSoftDeleteRequests", &armdataprotection.SecuritySettings{SoftDeleteSettings: &armdataprotection.SoftDeleteSettings{
				State: to.Ptr(armdataprotection.SoftDeleteStateOff), RetentionDurationInDays: to.Ptr(14.0)}}),
		}, "ProtectionStopped P1D Off 14 Disabled"},
		{"delete the instance", "deleteBackupInstanceRequests", "Microsoft.DataProtection/backupVaults/backupInstances/delete", []func() error{func() error {
			return waitErr(bis.BeginDelete(ctx, dv.RG, dv.Vault, dv.Instance, nil))
		}}, "gone P1D Off 14 Disabled"},
		{"unlock the proxy's delete", "deleteResourceGuardProxyRequests", "Microsoft.DataProtection/backupVaults/backupResourceGuardProxies/delete", []func() error{func() error {
			_, err := f.NewDppResourceGuardProxyClient().UnlockDelete(ctx, dv.RG, dv.Vault, "VaultProxy", unlock, nil)
			return err
		}}, "gone P1D Off 14 Disabled"},
	}
	for i, s := range steps {
		action := "Microsoft.DataProtection/resourceGuards/" + s.request + "/action"
		before := state()
		for j, do := range s.do {
			re := testserver.WantError(t, fmt.Sprintf("%s (%d) without the guard's permission", s.what, j), do(), 403, "UserErrorCriticalOperationUnauthorized")
			if !strings.Contains(re.Error(), guardID) || !strings.Contains(re.Error(), action) || !strings.Contains(re.Error(), s.vaultOp) {
				t.Fatalf("%s (%d): the refusal does not name the guard, the operation and the action: %v", s.what, j, re)
			}
			if now := state(); now != before {
				t.Fatalf("%s (%d) refused: the state went from %s to %s", s.what, j, before, now)
			}
		}
		if i == 1 {
			// The guard's owner excludes suspending backups: it needs
			// no permission from then on.
			if _, err := owner.NewResourceGuardsClient().Put(ctx, "security-rg", "guard", armdataprotection.ResourceGuardResource{Location: to.Ptr("westus"),
				Properties: &armdataprotection.ResourceGuard{VaultCriticalOperationExclusionList: []*string{to.Ptr(s.vaultOp)}}}, nil); err != nil {
				t.Fatal(err)
			}
			if err := s.do[0](); err != nil {
				t.Fatalf("%s, excluded by the guard: %v", s.what, err)
			}
		} else {
			grant(action)
			for j, do := range s.do {
				fixture.Allowed(e, fmt.Sprintf("%s (%d) with the guard's permission", s.what, j), func() (struct{}, error) { return struct{}{}, do() })
			}
		}
		if now := state(); now != s.after {
			t.Fatalf("after %s: %s, want %s", s.what, now, s.after)
		}
	}
	if _, err := f.NewDppResourceGuardProxyClient().Delete(ctx, dv.RG, dv.Vault, "VaultProxy", nil); err != nil {
		t.Fatalf("delete the unlocked proxy: %v", err)
	}
}
