package recoveryservices_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"

	"github.com/safehold/safehold/internal/testserver"
)

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
