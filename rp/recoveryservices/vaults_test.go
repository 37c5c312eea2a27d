package recoveryservices_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservices"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/rbac"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// TestCheckNameAvailabilityAndLocation: the vaults client's
// CheckNameAvailability (2023-04-01) answers per resource group, and a
// vault's location is normalized as Azure does while matching any case.
func TestCheckNameAvailabilityAndLocation(t *testing.T) {
	e := testserver.StartWithGroups(t, "rg1", "rg2")
	ctx := e.Ctx()
	vf := testserver.Factory(e, armrecoveryservices.NewClientFactory)
	v, err := fixture.Wait(vf.NewVaultsClient().BeginCreateOrUpdate(ctx, "rg1", "Vault-A", armrecoveryservices.Vault{
		Location: to.Ptr("West US"), SKU: &armrecoveryservices.SKU{Name: to.Ptr(armrecoveryservices.SKUNameStandard)},
		Properties: &armrecoveryservices.VaultProperties{}}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if *v.Location != "westus" || *v.Name != "Vault-A" {
		t.Fatalf("vault location %q name %q, want westus and Vault-A", *v.Location, *v.Name)
	}
	// Updating with another spelling of the same region is not a move.
	if v, err = fixture.Wait(vf.NewVaultsClient().BeginCreateOrUpdate(ctx, "rg1", "Vault-A", armrecoveryservices.Vault{
		Location: to.Ptr("WESTUS"), SKU: &armrecoveryservices.SKU{Name: to.Ptr(armrecoveryservices.SKUNameStandard)}, Properties: &armrecoveryservices.VaultProperties{}}, nil)); err != nil || *v.Location != "westus" {
		t.Fatalf("update: %v %v", err, v.Location)
	}
	for page := range fixture.Pages(t, vf.NewVaultsClient().NewListBySubscriptionIDPager(nil)) {
		for _, x := range page.Value {
			if *x.Location != "westus" {
				t.Fatalf("listed location %q", *x.Location)
			}
		}
	}

	c := vf.NewClient()
	check := func(rg, name string) armrecoveryservices.ClientCheckNameAvailabilityResponse {
		t.Helper()
		res, err := c.CheckNameAvailability(ctx, rg, "West US", armrecoveryservices.CheckNameAvailabilityParameters{Name: to.Ptr(name), Type: to.Ptr("Microsoft.RecoveryServices/Vaults")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if r := check("rg1", "vault-a"); r.NameAvailable == nil || *r.NameAvailable || r.Reason == nil || *r.Reason != "AlreadyExists" || r.Message == nil || *r.Message == "" {
		t.Fatalf("taken name: %+v", r)
	}
	if r := check("rg2", "Vault-A"); r.NameAvailable == nil || !*r.NameAvailable {
		t.Fatalf("name in another resource group: %+v", r)
	}
	if r := check("rg1", "free-name"); r.NameAvailable == nil || !*r.NameAvailable {
		t.Fatalf("free name: %+v", r)
	}
	if r := check("rg1", "-bad"); r.NameAvailable == nil || *r.NameAvailable || *r.Reason != "Invalid" {
		t.Fatalf("invalid name: %+v", r)
	}
	// Azure's vault names start with a letter (one starting with a digit
	// was created, while the message said a letter).
	if r := check("rg1", "1vault"); r.NameAvailable == nil || *r.NameAvailable || *r.Reason != "Invalid" {
		t.Fatalf("name starting with a digit: %+v", r)
	}
	resp, m := e.Do("PUT", "/subscriptions/"+e.Sub+"/resourceGroups/rg1/providers/Microsoft.RecoveryServices/vaults/1vault?api-version=2023-04-01",
		[]byte(`{"location":"westus","sku":{"name":"Standard"},"properties":{}}`))
	must(t, "PUT vault 1vault", resp, m, 400)
	if code, _ := testserver.Field(m, "error.code").(string); code != "InvalidResourceName" {
		t.Fatalf("PUT vault 1vault: %v", m)
	}
	// The raw request of the review, exactly.
	resp, m = e.Do("POST", "/subscriptions/"+e.Sub+"/resourceGroups/rg1/providers/Microsoft.RecoveryServices/locations/westus/checkNameAvailability?api-version=2023-04-01",
		[]byte(`{"type":"Microsoft.RecoveryServices/Vaults","name":"x"}`))
	must(t, "raw checkNameAvailability", resp, m, 200)
	if m["nameAvailable"] != false || m["reason"] != "Invalid" { // one character is too short
		t.Fatalf("raw check %v", m)
	}
}

// TestVaultRegionOnly: discovery lists only the VMs of the vault's region
// and protecting a VM of another region is refused; the SDK's
// ProtectedItemOperationStatusesClient decodes the enable status (which
// carries the item).
func TestVaultRegionOnly(t *testing.T) {
	e := testserver.StartWithGroups(t, "vmrg", "vaultrg")
	ctx := e.Ctx()
	west := mkVMIn(t, e, "vmrg", "westvm", "West US", 0, 1<<20)
	east := mkVMIn(t, e, "vmrg", "eastvm", "eastus", 0, 1<<20)
	const v = "?api-version=2016-12-01"
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/rv"
	mkVault(t, e, R+"?api-version=2016-06-01", "WestUS")
	var resp *http.Response
	var m map[string]any

	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	var hr *http.Response
	if _, err := bf.NewProtectionContainersClient().Refresh(runtime.WithCaptureResponse(ctx, &hr), "rv", "vaultrg", "Azure", nil); err != nil {
		t.Fatal(err)
	}
	loc := hr.Header.Get("Location")
	e.WaitFor("refresh", func() bool {
		resp, m = e.Do("GET", loc, nil)
		return resp.StatusCode == 204
	})
	resp, m = e.Do("GET", R+"/backupProtectableItems"+v+"&$filter="+url.QueryEscape("backupManagementType eq 'AzureIaasVM'"), nil)
	must(t, "protectable", resp, m, 200)
	var names []string
	for _, x := range m["value"].([]any) {
		names = append(names, str(x.(map[string]any), "properties.friendlyName"))
	}
	if len(names) != 1 || names[0] != "westvm" {
		t.Fatalf("protectable items %v, want only westvm (the vault's region)", names)
	}

	policy := R + "/backupPolicies/DefaultPolicy"
	item := func(vm string) string {
		return R + "/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;vmrg;" + vm + "/protectedItems/VM;iaasvmcontainerv2;vmrg;" + vm
	}
	resp, m = e.Do("PUT", item("eastvm")+v, map[string]any{"properties": map[string]any{"protectedItemType": "Microsoft.Compute/virtualMachines", "sourceResourceId": east.ID, "policyId": policy}})
	must(t, "protect eastvm", resp, m, 400)
	if msg := str(m, "error.message"); str(m, "error.code") != "BMSUserErrorCrossRegionVMNotSupported" || !strings.Contains(msg, "eastus") || !strings.Contains(msg, "westus") {
		t.Fatalf("cross-region error %v", m)
	}
	resp, m = e.Do("GET", item("eastvm")+v, nil)
	must(t, "eastvm not protected", resp, m, 404)

	// The VM of the vault's region is protected through the SDK; the status
	// decodes with its job id.
	pi := bf.NewProtectedItemsClient()
	if _, err := pi.CreateOrUpdate(runtime.WithCaptureResponse(ctx, &hr), "rv", "vaultrg", "Azure", "IaasVMContainer;iaasvmcontainerv2;vmrg;westvm", "VM;iaasvmcontainerv2;vmrg;westvm",
		armrecoveryservicesbackup.ProtectedItemResource{Properties: &armrecoveryservicesbackup.AzureIaaSComputeVMProtectedItem{SourceResourceID: to.Ptr(west.ID), PolicyID: to.Ptr(policy)}}, nil); err != nil {
		t.Fatal(err)
	}
	st, err := bf.NewProtectedItemOperationStatusesClient().Get(ctx, "rv", "vaultrg", "Azure", "IaasVMContainer;iaasvmcontainerv2;vmrg;westvm", "VM;iaasvmcontainerv2;vmrg;westvm",
		testserver.OpID(t, hr.Header.Get("Azure-AsyncOperation")), nil)
	if err != nil {
		t.Fatal(err)
	}
	ji, ok := st.Properties.(*armrecoveryservicesbackup.OperationStatusJobExtendedInfo)
	if st.Status == nil || *st.Status != armrecoveryservicesbackup.OperationStatusValuesSucceeded || !ok || ji.JobID == nil || *ji.JobID == "" || st.EndTime == nil {
		t.Fatalf("enable status %+v", st)
	}
	if _, err := bf.NewJobDetailsClient().Get(ctx, "rv", "vaultrg", *ji.JobID, nil); err != nil {
		t.Fatalf("job %s of the status: %v", *ji.JobID, err)
	}
	resp, m = e.Do("GET", hr.Header.Get("Azure-AsyncOperation"), nil)
	if str(m, "properties.protectionState") != "IRPending" || str(m, "properties.friendlyName") != "westvm" || !strings.HasSuffix(str(m, "id"), "/protectedItems/VM;iaasvmcontainerv2;vmrg;westvm") {
		t.Fatalf("raw enable status %v", m)
	}
}

// TestSDKVaultIdentities: a Recovery Services vault's identity through the
// Go SDK, as Azure stores and echoes it: user-assigned identities keep their
// principal across writes, a PATCH merges user-assigned identities (null
// removes one) and keeps the system-assigned principal, SystemAssigned
// drops the user-assigned ones, None drops everything; malformed
// identities are 400s naming the field. A PATCH of an identity without a
// type keeps the vault's.
func TestSDKVaultIdentities(t *testing.T) {
	e := testserver.StartWithGroups(t, "vaultrg")
	ctx := e.Ctx()
	uami := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id1"
	uami2 := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/id2"
	vc := testserver.Factory(e, armrecoveryservices.NewClientFactory).NewVaultsClient()
	ua := func(ids ...string) map[string]*armrecoveryservices.UserIdentity {
		m := map[string]*armrecoveryservices.UserIdentity{}
		for _, id := range ids {
			m[id] = &armrecoveryservices.UserIdentity{}
		}
		return m
	}
	patch := func(id *armrecoveryservices.IdentityData) (*armrecoveryservices.Vault, error) {
		pl, err := vc.BeginUpdate(ctx, "vaultrg", "v1", armrecoveryservices.PatchVault{Identity: id}, nil)
		if err != nil {
			return nil, err
		}
		r, err := pl.PollUntilDone(ctx, fixture.Poll)
		return &r.Vault, err
	}

	body := fixture.StandardVault()
	body.Identity = &armrecoveryservices.IdentityData{Type: to.Ptr(armrecoveryservices.ResourceIdentityTypeUserAssigned), UserAssignedIdentities: ua(uami)}
	v := fixture.RSVault(t, e, "vaultrg", "v1", body)
	if v.Identity == nil || *v.Identity.Type != armrecoveryservices.ResourceIdentityTypeUserAssigned || v.Identity.PrincipalID != nil ||
		v.Identity.UserAssignedIdentities[uami] == nil || v.Identity.UserAssignedIdentities[uami].PrincipalID == nil || v.Identity.UserAssignedIdentities[uami].ClientID == nil {
		t.Fatalf("user-assigned vault identity %+v", v.Identity)
	}
	principal := *v.Identity.UserAssignedIdentities[uami].PrincipalID

	// The same identity keeps its principal on another PUT and on a GET.
	v = fixture.RSVault(t, e, "vaultrg", "v1", body)
	if got, err := vc.Get(ctx, "vaultrg", "v1", nil); err != nil || *got.Identity.UserAssignedIdentities[uami].PrincipalID != principal ||
		*v.Identity.UserAssignedIdentities[uami].PrincipalID != principal {
		t.Fatalf("identity principal changed: %v %+v", err, got.Identity)
	}

	// PATCH both kinds with a second identity: the first is kept (merge),
	// a system principal is made.
	pv, err := patch(&armrecoveryservices.IdentityData{Type: to.Ptr(armrecoveryservices.ResourceIdentityTypeSystemAssignedUserAssigned), UserAssignedIdentities: ua(uami2)})
	if err != nil || *pv.Identity.Type != armrecoveryservices.ResourceIdentityTypeSystemAssignedUserAssigned || pv.Identity.PrincipalID == nil ||
		len(pv.Identity.UserAssignedIdentities) != 2 || *pv.Identity.UserAssignedIdentities[uami].PrincipalID != principal {
		t.Fatalf("PATCH both kinds: %v %+v", err, pv)
	}
	system := *pv.Identity.PrincipalID

	// null removes one user-assigned identity; the system principal stays.
	pv, err = patch(&armrecoveryservices.IdentityData{Type: to.Ptr(armrecoveryservices.ResourceIdentityTypeSystemAssignedUserAssigned),
		UserAssignedIdentities: map[string]*armrecoveryservices.UserIdentity{uami2: nil}})
	if err != nil || len(pv.Identity.UserAssignedIdentities) != 1 || pv.Identity.UserAssignedIdentities[uami] == nil || *pv.Identity.PrincipalID != system {
		t.Fatalf("PATCH removing %s: %v %+v", uami2, err, pv.Identity)
	}

	// SystemAssigned drops the user-assigned identities, keeps the principal.
	pv, err = patch(&armrecoveryservices.IdentityData{Type: to.Ptr(armrecoveryservices.ResourceIdentityTypeSystemAssigned)})
	if err != nil || *pv.Identity.Type != armrecoveryservices.ResourceIdentityTypeSystemAssigned || len(pv.Identity.UserAssignedIdentities) != 0 || *pv.Identity.PrincipalID != system {
		t.Fatalf("PATCH SystemAssigned: %v %+v", err, pv.Identity)
	}

	// An identity without a type (IdentityData{} sends {}) keeps the type
	// the vault has, with its principal, as ARM's PATCH merges: it was
	// None, which deleted the principal and its role assignments (found by
	// hostile27).
	pv, err = patch(&armrecoveryservices.IdentityData{})
	if err != nil || pv.Identity == nil || *pv.Identity.Type != armrecoveryservices.ResourceIdentityTypeSystemAssigned || pv.Identity.PrincipalID == nil || *pv.Identity.PrincipalID != system {
		t.Fatalf("PATCH identity {}: %v %+v, want SystemAssigned with principal %s", err, pv, system)
	}
	if got, err := vc.Get(ctx, "vaultrg", "v1", nil); err != nil || got.Identity == nil || got.Identity.PrincipalID == nil || *got.Identity.PrincipalID != system {
		t.Fatalf("GET after PATCH identity {}: %v %+v", err, got.Identity)
	}

	// None: no identity.
	if pv, err = patch(&armrecoveryservices.IdentityData{Type: to.Ptr(armrecoveryservices.ResourceIdentityTypeNone)}); err != nil || pv.Identity != nil {
		t.Fatalf("PATCH None: %v %+v", err, pv)
	}
	if got, err := vc.Get(ctx, "vaultrg", "v1", nil); err != nil || got.Identity != nil {
		t.Fatalf("GET after None: %v %+v", err, got.Identity)
	}

	// Malformed identities are 400s naming the field, on PUT and PATCH.
	var re *azcore.ResponseError
	for _, c := range []struct {
		id    *armrecoveryservices.IdentityData
		field string
	}{
		{&armrecoveryservices.IdentityData{Type: to.Ptr(armrecoveryservices.ResourceIdentityTypeUserAssigned)}, "identity.userAssignedIdentities"},
		{&armrecoveryservices.IdentityData{Type: to.Ptr(armrecoveryservices.ResourceIdentityTypeUserAssigned),
			UserAssignedIdentities: ua("/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.Compute/disks/d1")}, "identity.userAssignedIdentities"},
		{&armrecoveryservices.IdentityData{Type: to.Ptr(armrecoveryservices.ResourceIdentityTypeSystemAssigned), UserAssignedIdentities: ua(uami)}, "identity.userAssignedIdentities"},
		{&armrecoveryservices.IdentityData{Type: to.Ptr(armrecoveryservices.ResourceIdentityType("Magic"))}, "identity.type"},
	} {
		bad := fixture.StandardVault()
		bad.Identity = c.id
		pl, err := vc.BeginCreateOrUpdate(ctx, "vaultrg", "bad", bad, nil)
		if err == nil {
			_, err = pl.PollUntilDone(ctx, fixture.Poll)
		}
		if !errors.As(err, &re) || re.StatusCode != 400 || !strings.Contains(err.Error(), c.field) {
			t.Fatalf("PUT identity %+v: %v", c.id, err)
		}
		if _, err := patch(c.id); !errors.As(err, &re) || re.StatusCode != 400 || !strings.Contains(err.Error(), c.field) {
			t.Fatalf("PATCH identity %+v: %v", c.id, err)
		}
	}
}

// TestVaultConfigs drives the vault's backup storage configuration and
// backup configuration (what `az backup vault backup-properties set`
// writes) through the SDK and raw HTTP: known settings are checked and
// kept, storageModelType and storageType stay one setting, the redundancy
// locks once an item is protected, and bad values are 400 with a code,
// never stored.
func TestVaultConfigs(t *testing.T) {
	e, _ := vaultEnv(t, "rv")
	ctx := e.Ctx()
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	sc := bf.NewBackupResourceStorageConfigsNonCRRClient()
	vc := bf.NewBackupResourceVaultConfigsClient()
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/rv"
	S, V := R+"/backupstorageconfig/vaultstorageconfig?api-version=2023-04-01", R+"/backupconfig/vaultconfig?api-version=2023-04-01"

	// The CLI's write: storageModelType only; storageType follows it.
	if _, err := sc.Patch(ctx, "rv", "vaultrg", armrecoveryservicesbackup.BackupResourceConfigResource{Properties: &armrecoveryservicesbackup.BackupResourceConfig{
		StorageModelType: to.Ptr(armrecoveryservicesbackup.StorageTypeLocallyRedundant), CrossRegionRestoreFlag: to.Ptr(false)}}, nil); err != nil {
		t.Fatal(err)
	}
	got, err := sc.Get(ctx, "rv", "vaultrg", nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := got.Properties; *p.StorageModelType != "LocallyRedundant" || *p.StorageType != "LocallyRedundant" || *p.StorageTypeState != "Unlocked" {
		t.Fatalf("storage config after setting LocallyRedundant: model %s, type %s, state %s", *p.StorageModelType, *p.StorageType, *p.StorageTypeState)
	}
	// storageType alone (a lower-case value) sets both, spelled as Azure does.
	resp, m := e.Do("PATCH", S, `{"properties":{"storageType":"georedundant"}}`)
	must(t, "storageType", resp, m, 204)
	_, m = e.Do("GET", S, nil)
	if str(m, "properties.storageModelType") != "GeoRedundant" || str(m, "properties.storageType") != "GeoRedundant" {
		t.Fatalf("storage config after storageType georedundant: %v", m)
	}

	bad := []struct{ url, body, code string }{
		{S, `{"properties":{"storageModelType":"Banana"}}`, "BMSUserErrorInvalidInput"},
		{S, `{"properties":{"crossRegionRestoreFlag":"yes"}}`, "BMSUserErrorInvalidInput"},
		{S, `{"properties":{"storageModelType":"GeoRedundant","storageType":"LocallyRedundant"}}`, "BMSUserErrorInvalidInput"},
		{S, `{"properties":{"dedupState":7}}`, "BMSUserErrorInvalidInput"},
		{S, `{}`, "BMSUserErrorInvalidInput"},
		{S, `{"properties":`, "InvalidRequestContent"},
		{V, `{"properties":{"softDeleteFeatureState":"Banana"}}`, "BMSUserErrorInvalidInput"},
		{V, `{"properties":{"enhancedSecurityState":true}}`, "BMSUserErrorInvalidInput"},
		{V, `{"properties":{"softDeleteRetentionPeriodInDays":3}}`, "BMSUserErrorInvalidInput"},
		{V, `{"properties":{"softDeleteRetentionPeriodInDays":14.5}}`, "BMSUserErrorInvalidInput"},
	}
	for _, b := range bad {
		for _, method := range []string{"PUT", "PATCH"} {
			resp, m := e.Do(method, b.url, b.body)
			if resp.StatusCode != http.StatusBadRequest || testserver.ErrorCode(m) != b.code || str(m, "error.message") == "" {
				t.Errorf("%s %s: %d %v, want 400 %s with a message", method, b.body, resp.StatusCode, m, b.code)
			}
		}
	}
	// Nothing of the refused writes was kept; properties the API does not
	// define, and read-only ones, are ignored.
	resp, m = e.Do("PATCH", V, `{"properties":{"foo":1,"isSoftDeleteFeatureStateEditable":false,"softDeleteFeatureState":"enabled"}}`)
	must(t, "vault config", resp, m, 200)
	vcfg, err := vc.Get(ctx, "rv", "vaultrg", nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := vcfg.Properties; *p.SoftDeleteFeatureState != "Enabled" || *p.EnhancedSecurityState != "Enabled" || !*p.IsSoftDeleteFeatureStateEditable {
		t.Fatalf("vault config: soft delete %s, enhanced security %s, editable %v", *p.SoftDeleteFeatureState, *p.EnhancedSecurityState, *p.IsSoftDeleteFeatureStateEditable)
	}
	if _, m = e.Do("GET", V, nil); testserver.Field(m, "properties.foo") != nil {
		t.Fatalf("an undefined property was stored: %v", m)
	}
	_, m = e.Do("GET", S, nil)
	if str(m, "properties.crossRegionRestoreFlag") != "false" || str(m, "properties.dedupState") != "Disabled" || str(m, "properties.storageType") != "GeoRedundant" {
		t.Fatalf("a refused write changed the storage config: %v", m)
	}

	// Cross Region Restore needs geo-redundant storage and stays on.
	resp, m = e.Do("PATCH", S, `{"properties":{"storageModelType":"LocallyRedundant","crossRegionRestoreFlag":true}}`)
	if resp.StatusCode != 400 || testserver.ErrorCode(m) != "BMSUserErrorInvalidInput" {
		t.Fatalf("CRR on LRS: %d %v", resp.StatusCode, m)
	}
	resp, m = e.Do("PATCH", S, `{"properties":{"crossRegionRestoreFlag":true}}`)
	must(t, "CRR on", resp, m, 204)
	resp, m = e.Do("PATCH", S, `{"properties":{"crossRegionRestoreFlag":false}}`)
	if resp.StatusCode != 400 || testserver.ErrorCode(m) != "BMSUserErrorInvalidInput" {
		t.Fatalf("CRR off again: %d %v", resp.StatusCode, m)
	}

	// Soft delete AlwaysON cannot be changed again.
	if _, err := vc.Update(ctx, "rv", "vaultrg", armrecoveryservicesbackup.BackupResourceVaultConfigResource{Properties: &armrecoveryservicesbackup.BackupResourceVaultConfig{
		SoftDeleteFeatureState: to.Ptr(armrecoveryservicesbackup.SoftDeleteFeatureStateAlwaysON)}}, nil); err != nil {
		t.Fatal(err)
	}
	_, err = vc.Update(ctx, "rv", "vaultrg", armrecoveryservicesbackup.BackupResourceVaultConfigResource{Properties: &armrecoveryservicesbackup.BackupResourceVaultConfig{
		SoftDeleteFeatureState: to.Ptr(armrecoveryservicesbackup.SoftDeleteFeatureStateDisabled)}}, nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 400 {
		t.Fatalf("soft delete AlwaysON then Disabled: %v", err)
	}
	if _, m = e.Do("GET", V, nil); str(m, "properties.softDeleteFeatureState") != "AlwaysON" || str(m, "properties.isSoftDeleteFeatureStateEditable") != "false" {
		t.Fatalf("vault config after AlwaysON: %v", m)
	}

	// Once an item is protected the redundancy is locked; writing the
	// same value again is fine.
	vm := mkVM(t, e, "vaultrg", "vm1", 0, 1<<20)
	protect(t, e, R+"/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;vaultrg;vm1/protectedItems/VM;iaasvmcontainerv2;vaultrg;vm1?api-version=2023-04-01", vm.ID, R+"/backupPolicies/DefaultPolicy")
	_, m = e.Do("GET", S, nil)
	if str(m, "properties.storageTypeState") != "Locked" {
		t.Fatalf("storage config with a protected item: %v", m)
	}
	resp, m = e.Do("PATCH", S, `{"properties":{"storageModelType":"LocallyRedundant"}}`)
	if resp.StatusCode != 400 || testserver.ErrorCode(m) != "StorageModelModifyError" {
		t.Fatalf("change of a locked redundancy: %d %v", resp.StatusCode, m)
	}
	resp, m = e.Do("PATCH", S, `{"properties":{"storageModelType":"GeoRedundant","crossRegionRestoreFlag":true}}`)
	must(t, "same redundancy", resp, m, 204)
}

// TestSDKVaultNameAvailability: a name is taken exactly when a vault of
// that name exists in the resource group.
func TestSDKVaultNameAvailability(t *testing.T) {
	e, vf := vaultEnv(t, "taken-vault")
	c := vf.NewClient()
	check := func(name string) armrecoveryservices.CheckNameAvailabilityResult {
		t.Helper()
		res, err := c.CheckNameAvailability(e.Ctx(), "vaultrg", "westus", armrecoveryservices.CheckNameAvailabilityParameters{
			Name: to.Ptr(name), Type: to.Ptr("Microsoft.RecoveryServices/Vaults")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res.CheckNameAvailabilityResult
	}
	if r := check("taken-vault"); r.NameAvailable == nil || *r.NameAvailable || r.Reason == nil || *r.Reason != "AlreadyExists" || r.Message == nil {
		t.Fatalf("existing vault: %+v", r)
	}
	if r := check("TAKEN-VAULT"); r.NameAvailable == nil || *r.NameAvailable {
		t.Fatalf("names are case-insensitive: %+v", r)
	}
	if r := check("free-vault"); r.NameAvailable == nil || !*r.NameAvailable {
		t.Fatalf("free name: %+v", r)
	}
	if r := check("-bad"); r.NameAvailable == nil || *r.NameAvailable || r.Reason == nil || *r.Reason != "Invalid" {
		t.Fatalf("invalid name: %+v", r)
	}
}

// TestSDKVaultExtendedInfo: a vault has an integrity key from the start;
// PUT replaces the extended info (a key generated when none is given),
// PATCH changes only what it names; it goes with the vault.
func TestSDKVaultExtendedInfo(t *testing.T) {
	e, vf := vaultEnv(t, "v1")
	c := vf.NewVaultExtendedInfoClient()
	ctx := e.Ctx()
	first, err := c.Get(ctx, "vaultrg", "v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	p := first.Properties
	if p == nil || p.IntegrityKey == nil || len(*p.IntegrityKey) != 24 || p.Algorithm == nil || *p.Algorithm != "None" || first.Etag == nil {
		t.Fatalf("initial extended info: %+v", first.VaultExtendedInfoResource)
	}
	again, err := c.Get(ctx, "vaultrg", "v1", nil)
	if err != nil || *again.Properties.IntegrityKey != *p.IntegrityKey {
		t.Fatalf("the key changed between reads: %v %v", err, again.Properties)
	}
	put, err := c.CreateOrUpdate(ctx, "vaultrg", "v1", armrecoveryservices.VaultExtendedInfoResource{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if k := put.Properties.IntegrityKey; k == nil || *k == "" || *k == *p.IntegrityKey {
		t.Fatalf("PUT without a key must make a new one: %+v", put.Properties)
	}
	if _, err := c.CreateOrUpdate(ctx, "vaultrg", "v1", armrecoveryservices.VaultExtendedInfoResource{Properties: &armrecoveryservices.VaultExtendedInfo{
		IntegrityKey: to.Ptr("a2V5a2V5a2V5a2V5a2V5aw=="), Algorithm: to.Ptr("None")}}, nil); err != nil {
		t.Fatal(err)
	}
	up, err := c.Update(ctx, "vaultrg", "v1", armrecoveryservices.VaultExtendedInfoResource{Properties: &armrecoveryservices.VaultExtendedInfo{
		EncryptionKeyThumbprint: to.Ptr("ABCDEF")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *up.Properties.IntegrityKey != "a2V5a2V5a2V5a2V5a2V5aw==" || up.Properties.EncryptionKeyThumbprint == nil || *up.Properties.EncryptionKeyThumbprint != "ABCDEF" {
		t.Fatalf("PATCH: %+v", up.Properties)
	}
	if _, err := c.CreateOrUpdate(ctx, "vaultrg", "v1", armrecoveryservices.VaultExtendedInfoResource{Properties: &armrecoveryservices.VaultExtendedInfo{
		Algorithm: to.Ptr("ROT13")}}, nil); err == nil {
		t.Fatal("an unknown algorithm was accepted")
	}
	if _, err := c.Get(ctx, "vaultrg", "nosuchvault", nil); err == nil {
		t.Fatal("extended info of a missing vault")
	}
}

// TestSDKVaultUsagesAndCapabilities: a vault's usages count its real
// protected items and the bytes its recovery points cover; the location's
// capabilities name the private DNS zones of its region.
func TestSDKVaultUsagesAndCapabilities(t *testing.T) {
	e, R, item, vm := vaultAndVM(t, "usagevm", "?api-version=2023-04-01")
	vf := testserver.Factory(e, armrecoveryservices.NewClientFactory)
	usages := func() map[string]int64 {
		t.Helper()
		out := map[string]int64{}
		pg := vf.NewUsagesClient().NewListByVaultsPager("vaultrg", "rv", nil)
		for pg.More() {
			page, err := pg.NextPage(e.Ctx())
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range page.Value {
				out[*u.Name.Value] = *u.CurrentValue
			}
		}
		return out
	}
	u := usages()
	if u["ProtectedItemCount"] != 0 || u["GRSStorageUsage"] != 0 || len(u) < 10 {
		t.Fatalf("empty vault: %v", u)
	}
	protect(t, e, item+"?api-version=2024-04-01", vm.ID, R+"/backupPolicies/DefaultPolicy")
	resp, m := e.Do("POST", item+"/backup?api-version=2024-04-01", map[string]any{"properties": map[string]any{"objectType": "IaasVMBackupRequest"}})
	must(t, "backup", resp, m, 202)
	st := pollStatus(t, e, resp)
	if job := waitJob(t, e, R, str(st, "properties.jobId"), "?api-version=2024-04-01"); str(job, "properties.status") != "Completed" {
		t.Fatalf("backup job %v", job)
	}
	u = usages()
	if u["ProtectedItemCount"] != 1 || u["IaaSVMProtectedItemCount"] != 1 || u["GRSStorageUsage"] != 1<<20 || u["LRSStorageUsage"] != 0 || u["MABContainersCount"] != 0 {
		t.Fatalf("one protected 1 MiB VM with one point: %v", u)
	}

	// A backup held by a fault rule is a job in progress; one failed by a
	// rule is a failed job of the day and puts the item in warning.
	itemName := item[strings.LastIndex(item, "/")+1:]
	const rules = "/providers/Safehold.Admin/faultRules"
	const av = "?api-version=2024-01-01"
	resp, m = e.Do("POST", rules+av, map[string]any{"name": "hold", "operation": "backup", "path": "*/protectedItems/" + itemName, "latency": "10m"})
	must(t, "hold rule", resp, m, 201)
	resp, m = e.Do("POST", item+"/backup?api-version=2024-04-01", map[string]any{"properties": map[string]any{"objectType": "IaasVMBackupRequest"}})
	must(t, "held backup", resp, m, 202)
	held := str(pollStatus(t, e, resp), "properties.jobId")
	e.WaitFor("the held backup counted in progress", func() bool { return usages()["InProgressJobsCount"] == 1 })
	resp, m = e.Do("DELETE", rules+"/hold"+av, nil)
	must(t, "release the hold", resp, m, 200, 204)
	waitJob(t, e, R, held, "?api-version=2024-04-01")
	resp, m = e.Do("POST", rules+av, map[string]any{"name": "fail", "operation": "backup", "path": "*/protectedItems/" + itemName, "code": "UserErrorTest", "message": "failed by the test"})
	must(t, "fail rule", resp, m, 201)
	resp, m = e.Do("POST", item+"/backup?api-version=2024-04-01", map[string]any{"properties": map[string]any{"objectType": "IaasVMBackupRequest"}})
	must(t, "failing backup", resp, m, 202)
	if job := waitJob(t, e, R, str(pollStatus(t, e, resp), "properties.jobId"), "?api-version=2024-04-01"); str(job, "properties.status") != "Failed" {
		t.Fatalf("backup failed by the rule: %v", job)
	}
	u = usages()
	if u["InProgressJobsCount"] != 0 || u["FailedJobsCount"] != 1 || u["ProtectedItemWarningCount"] != 1 || u["IaaSVMProtectedItemWarningCount"] != 1 || u["ProtectedItemCount"] != 1 {
		t.Fatalf("after a failed backup: %v", u)
	}

	caps, err := vf.NewClient().Capabilities(e.Ctx(), "westus", armrecoveryservices.ResourceCapabilities{Type: to.Ptr("Microsoft.RecoveryServices/Vaults"),
		Properties: &armrecoveryservices.CapabilitiesProperties{DNSZones: []*armrecoveryservices.DNSZone{{SubResource: to.Ptr(armrecoveryservices.VaultSubResourceTypeAzureBackup)}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	z := caps.Properties.DNSZones
	if len(z) != 1 || len(z[0].RequiredZoneNames) != 3 || *z[0].RequiredZoneNames[0] != "privatelink.wus.backup.windowsazure.com" {
		t.Fatalf("capabilities: %+v", z)
	}
	if _, err := vf.NewClient().Capabilities(e.Ctx(), "westus", armrecoveryservices.ResourceCapabilities{Type: to.Ptr("Microsoft.Compute/disks")}, nil); err == nil {
		t.Fatal("capabilities of another resource type")
	}
}

// The vault-level families az backup reads around the flow, and the
// namespace's operations catalog.
func TestRecoveryServicesContractFamilies(t *testing.T) {
	e := testserver.StartWithGroups(t, "rsc")
	ids := []testserver.RequestOption{testserver.RequestIDs(), testserver.AnyStatus()}
	rg := "/subscriptions/" + e.Sub + "/resourceGroups/rsc"
	R := rg + "/providers/Microsoft.RecoveryServices/vaults/v1"
	const v = "?api-version=2022-09-01-preview"
	if resp, m := e.Do("PUT", R+"?api-version=2023-04-01", []byte(`{"location":"westus","sku":{"name":"Standard"},"properties":{}}`), ids...); resp.StatusCode != 200 && resp.StatusCode != 201 {
		t.Fatalf("vault: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.Do("GET", R+"/backupResourceGuardProxies"+v, nil, ids...); resp.StatusCode != 200 || len(m["value"].([]any)) != 0 {
		t.Fatalf("guard proxies: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.Do("GET", R+"/backupResourceGuardProxies/p"+v, nil, ids...); resp.StatusCode != 404 {
		t.Fatalf("guard proxy: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.Do("GET", rg+"/providers/Microsoft.RecoveryServices/vaults/nope/backupResourceGuardProxies"+v, nil, ids...); resp.StatusCode != 404 {
		t.Fatalf("guard proxies of a missing vault: %d %v", resp.StatusCode, m)
	}
	E := R + "/backupEncryptionConfigs/backupResourceEncryptionConfig"
	resp, m := e.Do("GET", E+v, nil, ids...)
	if p, _ := m["properties"].(map[string]any); resp.StatusCode != 200 || p["encryptionAtRestType"] != "MicrosoftManaged" || m["type"] != "Microsoft.RecoveryServices/vaults/backupEncryptionConfigs" {
		t.Fatalf("encryption config: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.Do("PUT", E+v, []byte(`{"properties":{"encryptionAtRestType":"CustomerManaged"}}`), ids...); resp.StatusCode != 400 {
		t.Fatalf("CMK without key: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.Do("PUT", E+v, []byte(`{"properties":{"encryptionAtRestType":"CustomerManaged","keyUri":"https://kv.vault.azure.net/keys/k/1","infrastructureEncryptionState":"Disabled"}}`), ids...); resp.StatusCode != 200 {
		t.Fatalf("CMK: %d %v", resp.StatusCode, m)
	}
	resp, m = e.Do("GET", E+v, nil, ids...)
	if p, _ := m["properties"].(map[string]any); p["encryptionAtRestType"] != "CustomerManaged" || p["lastUpdateStatus"] != "Succeeded" || p["keyUri"] == nil {
		t.Fatalf("encryption config after PUT: %v", m)
	}
	resp, m = e.Do("GET", "/providers/Microsoft.RecoveryServices/operations?api-version=2024-04-01", nil, ids...)
	ops, _ := m["value"].([]any)
	names := map[string]bool{}
	for _, o := range ops {
		names[strings.ToLower(o.(map[string]any)["name"].(string))] = true // actions are case-insensitive
	}
	for _, want := range []string{"Microsoft.RecoveryServices/vaults/read", "Microsoft.RecoveryServices/vaults/write", "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems/backup/action"} {
		if !names[strings.ToLower(want)] {
			t.Errorf("operations catalog lacks %s (has %d: %v)", want, len(names), strings.Join(keys(names), " "))
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestPrivateLinkResources: a vault's private link resources are Azure's
// catalog, listed and read through the SDK: the AzureBackup and
// AzureSiteRecovery groups with their members and DNS zones, the service's
// zone named for the vault's region by its geo code (wus for West US, ecy
// for East US 2 EUAP). A caller without read access to the vault is 403;
// an unknown group, or a vault that does not exist, is 404.
func TestPrivateLinkResources(t *testing.T) {
	e, vf := vaultEnv(t, "v1", "otherrg")
	v := fixture.StandardVault()
	v.Location = to.Ptr("East US 2 EUAP")
	fixture.RSVault(t, e, "vaultrg", "v2", v)
	plr := vf.NewPrivateLinkResourcesClient()
	ctx := e.Ctx()
	zones := func(r *armrecoveryservices.PrivateLinkResource) string {
		var z []string
		for _, s := range r.Properties.RequiredZoneNames {
			z = append(z, *s)
		}
		return strings.Join(z, ",")
	}
	for vault, code := range map[string]string{"v1": "wus", "v2": "ecy"} {
		page, err := plr.NewListPager("vaultrg", vault, nil).NextPage(ctx)
		if err != nil || len(page.Value) != 2 {
			t.Fatalf("list of %s: %v %v", vault, err, page.Value)
		}
		got := map[string]*armrecoveryservices.PrivateLinkResource{}
		for _, r := range page.Value {
			got[*r.Properties.GroupID] = r
		}
		b, s := got["AzureBackup"], got["AzureSiteRecovery"]
		if b == nil || s == nil || *b.Name != "backupResource" || *s.Name != "siteRecoveryResource" || len(b.Properties.RequiredMembers) != 8 || len(s.Properties.RequiredMembers) != 6 {
			t.Fatalf("groups of %s: %+v", vault, got)
		}
		if want := "privatelink." + code + ".backup.windowsazure.com,privatelink.queue.core.windows.net,privatelink.blob.core.windows.net"; zones(b) != want {
			t.Fatalf("backup zones of %s: %s, want %s", vault, zones(b), want)
		}
		if !strings.HasPrefix(zones(s), "privatelink."+code+".siterecovery.windowsazure.com,") {
			t.Fatalf("site recovery zones of %s: %s", vault, zones(s))
		}
		r, err := plr.Get(ctx, "vaultrg", vault, "backupResource", nil)
		if err != nil || zones(&r.PrivateLinkResource) != zones(b) || !strings.HasSuffix(*r.ID, "/vaults/"+vault+"/privateLinkResources/backupResource") {
			t.Fatalf("get backupResource of %s: %v %+v", vault, err, r)
		}
	}
	outsider := newPrincipal(t, e, "outsider", rbac.BackupReader, "/subscriptions/"+e.Sub+"/resourceGroups/otherrg")
	resp, m := e.Do("GET", "/subscriptions/"+e.Sub+"/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/v1/privateLinkResources"+rsAPI, nil, testserver.As(outsider.cred))
	must(t, "a reader of another resource group lists the groups", resp, m, 403)
	if _, err := plr.Get(ctx, "vaultrg", "v1", "nosuch", nil); !testserver.HasError(err, 404, "") {
		t.Fatalf("an unknown group: %v", err)
	}
	if _, err := plr.NewListPager("vaultrg", "nosuch", nil).NextPage(ctx); !testserver.HasError(err, 404, "") {
		t.Fatalf("the groups of an unknown vault: %v", err)
	}
}

// A vault an earlier release created with a name today's rules refuse (one
// starting with a digit) stays readable and updatable: the naming rules
// apply when a vault is created.
func TestVaultNamedBeforeTheRulesStaysUpdatable(t *testing.T) {
	e := testserver.StartWithGroups(t, "rg1")
	base := "/subscriptions/" + e.Sub + "/resourceGroups/rg1/providers/Microsoft.RecoveryServices/vaults/"
	body := []byte(`{"location":"westus","sku":{"name":"Standard"},"properties":{}}`)
	resp, m := e.Do("PUT", base+"avault?api-version=2023-04-01", body)
	must(t, "PUT vault avault", resp, m, 200, 201)
	// Store it again under the name 1vault, as a release that allowed
	// such names did.
	ctx := e.Ctx()
	oldID, err := arm.ParseID(base + "avault")
	if err != nil {
		t.Fatal(err)
	}
	newID, err := arm.ParseID(base + "1vault")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Server.Store.Update(ctx, func(tx store.Tx) error {
		var v map[string]any
		if err := resource.Get(ctx, tx, oldID, &v); err != nil {
			return err
		}
		v["id"], v["name"] = newID.String(), "1vault"
		return resource.Create(ctx, tx, newID, v)
	}); err != nil {
		t.Fatal(err)
	}
	resp, m = e.Do("GET", base+"1vault?api-version=2023-04-01", nil)
	must(t, "GET vault 1vault", resp, m, 200)
	resp, m = e.Do("PUT", base+"1vault?api-version=2023-04-01", []byte(`{"location":"westus","sku":{"name":"Standard"},"tags":{"kept":"yes"},"properties":{}}`))
	must(t, "PUT (update) vault 1vault", resp, m, 200)
	if tags, _ := m["tags"].(map[string]any); tags["kept"] != "yes" {
		t.Fatalf("updated vault: %v", m)
	}
	// A new vault with such a name is still refused.
	resp, m = e.Do("PUT", base+"2vault?api-version=2023-04-01", body)
	must(t, "PUT vault 2vault", resp, m, 400)
}
