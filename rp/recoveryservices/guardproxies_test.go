package recoveryservices_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/rbac"
)

// TestResourceGuardProtectsRSVault: a backup admin with Backup Contributor
// on the vault's group links the vault to a guard it may only read
// (multi-user authorization); deleting the protected item's data,
// modifying the policy and asking for a security PIN then need the guard's
// permission (403 naming the guard), as does unlinking, after an
// unlockDelete. A vault without a guard lists no proxy (what the az CLI
// reads before `policy set`).
func TestResourceGuardProtectsRSVault(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	v := fixture.ProtectVM(t, e)
	guardID := fixture.Guard(t, e, "security-rg", "guard")

	objectID, cred := fixture.Principal(t, e, "backup-admin")
	fixture.Assign(t, e, "/subscriptions/"+e.Sub+"/resourceGroups/"+v.RG, rbac.BackupContributor, objectID)
	f, err := armrecoveryservicesbackup.NewClientFactory(e.Sub, cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	proxy, proxies, items, pols, pins := f.NewResourceGuardProxyClient(), f.NewResourceGuardProxiesClient(), f.NewProtectedItemsClient(), f.NewProtectionPoliciesClient(), f.NewSecurityPINsClient()
	count := func() int { return testserver.Count(t, ctx, proxies.NewGetPager(v.Vault, v.RG, nil)) }
	if n := count(); n != 0 {
		t.Fatalf("%d proxies before linking", n)
	}
	link := armrecoveryservicesbackup.ResourceGuardProxyBaseResource{Properties: &armrecoveryservicesbackup.ResourceGuardProxyBase{ResourceGuardResourceID: to.Ptr(guardID)}}
	_, err = proxy.Put(ctx, v.Vault, v.RG, "VaultProxy", link, nil)
	testserver.WantError(t, "link without reading the guard", err, 403, "LinkedAuthorizationFailed")
	fixture.Assign(t, e, guardID, rbac.Reader, objectID)
	px := fixture.Allowed(e, "link allowed", func() (armrecoveryservicesbackup.ResourceGuardProxyClientPutResponse, error) {
		return proxy.Put(ctx, v.Vault, v.RG, "VaultProxy", link, nil)
	})
	ops := map[string]string{}
	for _, d := range px.Properties.ResourceGuardOperationDetails {
		ops[*d.VaultCriticalOperation] = *d.DefaultResourceRequest
	}
	if *px.Type != "Microsoft.RecoveryServices/vaults/backupResourceGuardProxies" || ops["Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems/delete"] != guardID+"/deleteProtectedItemRequests/default" {
		t.Fatalf("proxy %+v", px)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d proxies after linking", n)
	}
	mua := func() string {
		_, m := e.Do("GET", "/subscriptions/"+e.Sub+"/resourceGroups/"+v.RG+"/providers/Microsoft.RecoveryServices/vaults/"+v.Vault+"?api-version=2024-04-01", nil)
		s, _ := testserver.Field(m, "properties.securitySettings.multiUserAuthorization").(string)
		return s
	}
	if got := mua(); got != "Enabled" {
		t.Fatalf("vault multiUserAuthorization %q while linked", got)
	}

	_, err = items.Delete(ctx, v.Vault, v.RG, "Azure", v.Container, v.Item, nil)
	if re := testserver.WantError(t, "delete backup data", err, 403, "UserErrorCriticalOperationUnauthorized"); !strings.Contains(re.Error(), guardID) {
		t.Fatalf("the refusal does not name the guard: %v", re)
	}
	pol, err := pols.Get(ctx, v.Vault, v.RG, "DefaultPolicy", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = pols.CreateOrUpdate(ctx, v.Vault, v.RG, "DefaultPolicy", pol.ProtectionPolicyResource, nil)
	testserver.WantError(t, "modify the policy", err, 403, "UserErrorCriticalOperationUnauthorized")
	_, err = pins.Get(ctx, v.Vault, v.RG, nil)
	testserver.WantError(t, "security PIN", err, 403, "UserErrorCriticalOperationUnauthorized")
	_, err = proxy.Delete(ctx, v.Vault, v.RG, "VaultProxy", nil)
	testserver.WantError(t, "unlink without unlock", err, 403, "UserErrorResourceGuardProxyLocked")
	unlock := armrecoveryservicesbackup.UnlockDeleteRequest{ResourceToBeDeleted: px.ID}
	_, err = proxy.UnlockDelete(ctx, v.Vault, v.RG, "VaultProxy", unlock, nil)
	testserver.WantError(t, "unlock without the guard's permission", err, 403, "UserErrorCriticalOperationUnauthorized")

	// The guard's owner grants the backup admin access to the guard.
	fixture.Assign(t, e, guardID, rbac.Contributor, objectID)
	e.WaitFor("security PIN allowed", func() bool {
		_, err = pins.Get(ctx, v.Vault, v.RG, nil)
		return err == nil
	})
	if _, err = proxy.UnlockDelete(ctx, v.Vault, v.RG, "VaultProxy", unlock, nil); err != nil {
		t.Fatal(err)
	}
	if _, err = proxy.Delete(ctx, v.Vault, v.RG, "VaultProxy", nil); err != nil {
		t.Fatal(err)
	}
	if n := count(); n != 0 {
		t.Fatalf("%d proxies after unlinking", n)
	}
	if got := mua(); got != "Disabled" {
		t.Fatalf("vault multiUserAuthorization %q after unlinking", got)
	}
}

// TestResourceGuardProtectsRSVaultGroup: deleting the resource group of a
// Recovery Services vault linked to a guard deletes its protected items'
// backup data: a Contributor on the group without the guard's permission
// is refused (403 naming the vault and the guard) and nothing is deleted;
// with the guard's permission the delete proceeds (and fails: the vault
// still protects an item).
func TestResourceGuardProtectsRSVaultGroup(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	v := fixture.ProtectVM(t, e)
	guardID := fixture.Guard(t, e, "security-rg", "guard")
	admin := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	link := armrecoveryservicesbackup.ResourceGuardProxyBaseResource{Properties: &armrecoveryservicesbackup.ResourceGuardProxyBase{ResourceGuardResourceID: to.Ptr(guardID)}}
	if _, err := admin.NewResourceGuardProxyClient().Put(ctx, v.Vault, v.RG, "VaultProxy", link, nil); err != nil {
		t.Fatal(err)
	}

	objectID, cred := fixture.Principal(t, e, "rg-contributor")
	fixture.Assign(t, e, "/subscriptions/"+e.Sub+"/resourceGroups/"+v.RG, rbac.Contributor, objectID)
	rgs, err := armresources.NewResourceGroupsClient(e.Sub, cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	e.WaitFor("group delete authorized on the group", func() bool {
		_, err = rgs.BeginDelete(ctx, v.RG, nil)
		return !testserver.HasError(err, 0, "AuthorizationFailed")
	})
	re := testserver.WantError(t, "delete the vault's group", err, 403, "UserErrorCriticalOperationUnauthorized")
	if !strings.Contains(re.Error(), guardID) || !strings.Contains(re.Error(), "'"+v.Vault+"'") {
		t.Fatalf("the refusal does not name the vault and the guard: %v", re)
	}
	if _, err := admin.NewProtectedItemsClient().Get(ctx, v.Vault, v.RG, "Azure", v.Container, v.Item, nil); err != nil {
		t.Fatalf("the protected item after the refused group delete: %v", err)
	}

	// With the guard's permission the delete gets past the guard, and
	// meets Azure's rule that a vault still protecting items is not
	// deleted: the group's delete fails and the item stays.
	fixture.Assign(t, e, guardID, rbac.Contributor, objectID)
	_, err = fixture.Wait(fixture.Allowed(e, "group delete allowed", func() (*runtime.Poller[armresources.ResourceGroupsClientDeleteResponse], error) {
		return rgs.BeginDelete(ctx, v.RG, nil)
	}), nil)
	if !testserver.HasError(err, 409, "ResourceGroupDeletionBlocked") || !strings.Contains(err.Error(), "ServiceResourceNotEmpty") {
		t.Fatalf("the group delete past the guard: %v", err)
	}
	if _, err := admin.NewProtectedItemsClient().Get(ctx, v.Vault, v.RG, "Azure", v.Container, v.Item, nil); err != nil {
		t.Fatalf("the protected item after its group's failed delete: %v", err)
	}
}

// TestResourceGuardProtectsRSVaultSecurity: with a guard linked, weakening
// a Recovery Services vault's security settings needs the guard's
// permission as turning soft delete off does (Azure's "disable soft delete
// or security features"): shortening the soft-delete retention (by the
// backup config or the vault's softDeleteSettings) and turning
// immutability off from Unlocked are refused to a backup admin without it
// (403 naming the guard), changing nothing, and allowed with it;
// lengthening the retention needs nothing. Both weakenings succeeded
// without the permission.
func TestResourceGuardProtectsRSVaultSecurity(t *testing.T) {
	e := testserver.StartWithGroups(t, "rs-rg")
	fixture.RSVault(t, e, "rs-rg", "rsvault1", fixture.StandardVault())
	guardID := fixture.Guard(t, e, "security-rg", "guard")
	R := "/subscriptions/" + e.Sub + "/resourceGroups/rs-rg/providers/Microsoft.RecoveryServices/vaults/rsvault1"
	const v = "?api-version=2025-02-01"
	write := func(what, method, path string, body any, opts ...testserver.RequestOption) (int, map[string]any) {
		t.Helper()
		resp, m := e.Do(method, path+v, body, opts...)
		if resp.StatusCode == 202 {
			st := e.Poll(resp.Header.Get("Azure-AsyncOperation"), opts...)
			if st["status"] != "Succeeded" {
				return 400, st
			}
			return 200, st
		}
		return resp.StatusCode, m
	}
	if st, m := write("setup", "PATCH", R, `{"properties":{"securitySettings":{"softDeleteSettings":{"softDeleteState":"Enabled","softDeleteRetentionPeriodInDays":30},"immutabilitySettings":{"state":"Unlocked"}}}}`); st != 200 {
		t.Fatalf("setup: %d %v", st, m)
	}
	if st, m := write("link", "PUT", R+"/backupResourceGuardProxies/VaultProxy", map[string]any{"properties": map[string]any{"resourceGuardResourceId": guardID}}); st != 200 {
		t.Fatalf("link: %d %v", st, m)
	}
	objectID, cred := fixture.Principal(t, e, "backup-admin")
	fixture.Assign(t, e, "/subscriptions/"+e.Sub+"/resourceGroups/rs-rg", rbac.BackupContributor, objectID)
	fixture.Assign(t, e, guardID, rbac.Reader, objectID)
	state := func() string {
		_, m := e.Do("GET", R+v, nil)
		return fmt.Sprint(testserver.Field(m, "properties.securitySettings.softDeleteSettings.softDeleteRetentionPeriodInDays"), " ",
			testserver.Field(m, "properties.securitySettings.immutabilitySettings.state"))
	}
	if got := state(); got != "30 Unlocked" {
		t.Fatalf("the vault: %s", got)
	}
	weakenings := []struct {
		what, method, path, body string
	}{
		{"shorten the retention by the backup config", "PUT", R + "/backupconfig/vaultconfig", `{"properties":{"softDeleteFeatureState":"Enabled","softDeleteRetentionPeriodInDays":14}}`},
		{"shorten the retention by the vault", "PATCH", R, `{"properties":{"securitySettings":{"softDeleteSettings":{"softDeleteState":"Enabled","softDeleteRetentionPeriodInDays":20}}}}`},
		{"turn immutability off", "PATCH", R, `{"properties":{"securitySettings":{"immutabilitySettings":{"state":"Disabled"}}}}`},
	}
	as := testserver.As(cred)
	e.WaitFor("the admin's role", func() bool {
		st, _ := write("lengthen", "PATCH", R, `{"properties":{"securitySettings":{"softDeleteSettings":{"softDeleteState":"Enabled","softDeleteRetentionPeriodInDays":40}}}}`, as)
		return st == 200
	})
	for _, w := range weakenings {
		st, m := write(w.what, w.method, w.path, w.body, as)
		if st != 403 || testserver.ErrorCode(m) != "UserErrorCriticalOperationUnauthorized" || !strings.Contains(fmt.Sprint(m), guardID) {
			t.Errorf("%s without the guard's permission: %d %v, want 403 naming the guard", w.what, st, m)
		}
	}
	if got := state(); got != "40 Unlocked" {
		t.Fatalf("the vault after the refused writes: %s", got)
	}
	fixture.Assign(t, e, guardID, rbac.Contributor, objectID)
	for _, w := range weakenings {
		e.WaitFor(w.what+" with the guard's permission", func() bool {
			st, _ := write(w.what, w.method, w.path, w.body, as)
			return st == 200
		})
	}
	if got := state(); got != "20 Disabled" {
		t.Fatalf("the vault after the allowed writes: %s", got)
	}
}
