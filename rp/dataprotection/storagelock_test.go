package dataprotection_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestBackupVaultStorageRedundancyLockedOnceProtecting: a Backup vault's
// storage redundancy (storageSettings) can change while it protects
// nothing; once it protects a backup instance a PUT changing it is 400
// UserErrorInvalidOperationForCurrentState naming properties.storageSettings,
// the vault's redundancy and the instance, and the vault keeps its
// redundancy; a PUT of the vault as read (its redundancy unchanged) still
// succeeds. Recovery Services vaults lock theirs so (StorageModelModifyError);
// a Backup vault took any change, with its backups already stored.
func TestBackupVaultStorageRedundancyLockedOnceProtecting(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	vaults := testserver.Factory(e, armdataprotection.NewClientFactory).NewBackupVaultsClient()
	redundancy := func(v armdataprotection.BackupVaultResource) armdataprotection.StorageSettingTypes {
		return *v.Properties.StorageSettings[0].Type
	}
	put := func(name string, v armdataprotection.BackupVaultResource) (armdataprotection.BackupVaultResource, error) {
		r, err := fixture.Wait(vaults.BeginCreateOrUpdate(ctx, "vault-rg", name, v, nil))
		return r.BackupVaultResource, err
	}

	// Protecting nothing: the redundancy changes.
	_, _, _ = protectDisk(t, e, "PT4H", "P7D", "P30D") // vault-rg/v1, LocallyRedundant, one instance
	empty, err := put("empty", armdataprotection.BackupVaultResource{Location: to.Ptr("westus"), Properties: &armdataprotection.BackupVault{
		StorageSettings: []*armdataprotection.StorageSetting{{DatastoreType: to.Ptr(armdataprotection.StorageSettingStoreTypesVaultStore), Type: to.Ptr(armdataprotection.StorageSettingTypesLocallyRedundant)}}}})
	if err != nil {
		t.Fatal(err)
	}
	empty.Properties.StorageSettings[0].Type = to.Ptr(armdataprotection.StorageSettingTypesGeoRedundant)
	if got, err := put("empty", empty); err != nil || redundancy(got) != armdataprotection.StorageSettingTypesGeoRedundant {
		t.Fatalf("the redundancy of a vault protecting nothing, changed: %v %v", err, got.Properties)
	}

	// Protecting d1-bi: locked.
	got, err := vaults.Get(ctx, "vault-rg", "v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	v1 := got.BackupVaultResource
	v1.Properties.StorageSettings[0].Type = to.Ptr(armdataprotection.StorageSettingTypesGeoRedundant)
	_, err = put("v1", v1)
	re := testserver.WantError(t, "a redundancy change of a vault protecting an instance", err, http.StatusBadRequest, "UserErrorInvalidOperationForCurrentState")
	for _, want := range []string{"properties.storageSettings", "locked", "VaultStore LocallyRedundant", "d1-bi"} {
		if !strings.Contains(re.Error(), want) {
			t.Errorf("the refusal does not say %q: %v", want, re)
		}
	}
	if got, err := vaults.Get(ctx, "vault-rg", "v1", nil); err != nil || redundancy(got.BackupVaultResource) != armdataprotection.StorageSettingTypesLocallyRedundant {
		t.Fatalf("the vault after the refused change: %v %v", err, got.Properties)
	}
	// The vault as read, with a tag: its redundancy unchanged.
	v1.Properties.StorageSettings[0].Type = to.Ptr(armdataprotection.StorageSettingTypesLocallyRedundant)
	v1.Tags = map[string]*string{"k": to.Ptr("v")}
	if got, err := put("v1", v1); err != nil || *got.Tags["k"] != "v" {
		t.Fatalf("a PUT of the vault as read: %v", err)
	}
}
