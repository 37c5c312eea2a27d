package dataprotection_test

import (
	"fmt"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestVaultCustomerManagedKeyIsCheckedAndKept: a Backup vault's
// customer-managed key (securitySettings.encryptionSettings) is checked as
// Azure checks it, through the Go SDK at the first api-version of the key
// settings (2024-04-01) and the newest stable and preview ones: a key URI
// that is not a Key Vault key's identifier, none with state Enabled, and a
// UserAssigned kekIdentity without identityId are 400 naming the field, and
// no vault is made. Once on, the key stays (Azure: a vault cannot revert
// to platform-managed keys): state Disabled is refused, a PATCH of other
// security settings or of the key alone keeps the rest, and so does a PUT
// leaving encryptionSettings out; a PATCH moving the key to the system
// identity answers no user identity id. Before, every one of these was
// stored as sent, a PATCH of the soft delete settings dropped the key
// settings and a PUT without them removed the key.
func TestVaultCustomerManagedKeyIsCheckedAndKept(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	versions := sdkVersions()
	versions[0] = "2024-04-01"
	for i, v := range versions {
		rg := fmt.Sprintf("cmk-rg%d", i)
		e.ResourceGroups(rg)
		uami := "/subscriptions/" + e.Sub + "/resourceGroups/" + rg + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/cmk-id"
		const key = "https://cmk2xkv.vault.azure.net/keys/Key1/0767b348bb1a4c07baa6c4ec0055d2b3"
		vaults := versionFactory(t, e, v).NewBackupVaultsClient()
		identity := func(typ string, ids ...string) *armdataprotection.DppIdentityDetails {
			d := &armdataprotection.DppIdentityDetails{Type: to.Ptr(typ)}
			if len(ids) > 0 {
				d.UserAssignedIdentities = map[string]*armdataprotection.UserAssignedIdentity{}
				for _, id := range ids {
					d.UserAssignedIdentities[id] = &armdataprotection.UserAssignedIdentity{}
				}
			}
			return d
		}
		kek := func(typ armdataprotection.IdentityType, id string) *armdataprotection.CmkKekIdentity {
			k := &armdataprotection.CmkKekIdentity{IdentityType: to.Ptr(typ)}
			if id != "" {
				k.IdentityID = to.Ptr(id)
			}
			return k
		}
		cmk := func(uri string, k *armdataprotection.CmkKekIdentity) *armdataprotection.EncryptionSettings {
			es := &armdataprotection.EncryptionSettings{State: to.Ptr(armdataprotection.EncryptionStateEnabled), KekIdentity: k,
				InfrastructureEncryption: to.Ptr(armdataprotection.InfrastructureEncryptionStateEnabled)}
			if uri != "" {
				es.KeyVaultProperties = &armdataprotection.CmkKeyVaultProperties{KeyURI: to.Ptr(uri)}
			}
			return es
		}
		put := func(name string, id *armdataprotection.DppIdentityDetails, es *armdataprotection.EncryptionSettings) (armdataprotection.BackupVaultResource, error) {
			res, err := fixture.Wait(vaults.BeginCreateOrUpdate(ctx, rg, name, armdataprotection.BackupVaultResource{Location: to.Ptr("westus"), Identity: id,
				Properties: &armdataprotection.BackupVault{StorageSettings: storage(), SecuritySettings: &armdataprotection.SecuritySettings{EncryptionSettings: es}}}, nil))
			return res.BackupVaultResource, err
		}
		patch := func(name string, id *armdataprotection.DppIdentityDetails, ss *armdataprotection.SecuritySettings) error {
			_, err := fixture.Wait(vaults.BeginUpdate(ctx, rg, name, armdataprotection.PatchResourceRequestInput{Identity: id,
				Properties: &armdataprotection.PatchBackupVaultInput{SecuritySettings: ss}}, nil))
			return err
		}
		refused := func(what string, err error, code, field string) {
			t.Helper()
			if st, c := testserver.ErrorOf(err); st != 400 || (code != "" && c != code) || !refusedNaming(err, field) {
				t.Errorf("%s at %s: %v, want 400 %s naming %s", what, v, err, code, field)
			}
		}
		const enc = "properties.securitySettings.encryptionSettings"
		_, err := put("v1", identity("UserAssigned", uami), cmk(key, kek(armdataprotection.IdentityTypeUserAssigned, "")))
		refused("a user identity without its id", err, "", enc+".kekIdentity.identityId")
		for _, uri := range []string{"not a url", "http://cmk2xkv.vault.azure.net/keys/Key1", "https://cmk2xkv.vault.azure.net/secrets/Key1", "https:///keys/Key1", "https://cmk2xkv.vault.azure.net/keys/"} {
			_, err = put("v1", identity("UserAssigned", uami), cmk(uri, kek(armdataprotection.IdentityTypeUserAssigned, uami)))
			refused("key URI "+uri, err, "", enc+".keyVaultProperties.keyUri")
		}
		_, err = put("v1", identity("UserAssigned", uami), cmk("", kek(armdataprotection.IdentityTypeUserAssigned, uami)))
		refused("no key URI", err, "", enc+".keyVaultProperties.keyUri")
		if _, err := vaults.Get(ctx, rg, "v1", nil); !testserver.HasError(err, 404, "ResourceNotFound") {
			t.Fatalf("the vault after refused creates at %s: %v, want 404", v, err)
		}

		// Created, answered as sent.
		got, err := put("v1", identity("UserAssigned", uami), cmk(key, kek(armdataprotection.IdentityTypeUserAssigned, uami)))
		if err != nil {
			t.Fatalf("a vault with a customer-managed key at %s: %v", v, err)
		}
		want := func(what, uri string, typ armdataprotection.IdentityType, id string) {
			t.Helper()
			got, err := vaults.Get(ctx, rg, "v1", nil)
			if err != nil {
				t.Fatal(err)
			}
			es := got.Properties.SecuritySettings.EncryptionSettings
			if es == nil || es.State == nil || *es.State != armdataprotection.EncryptionStateEnabled || es.KeyVaultProperties == nil || *es.KeyVaultProperties.KeyURI != uri ||
				es.KekIdentity == nil || *es.KekIdentity.IdentityType != typ || (id != "" && (es.KekIdentity.IdentityID == nil || *es.KekIdentity.IdentityID != id)) ||
				es.InfrastructureEncryption == nil || *es.InfrastructureEncryption != armdataprotection.InfrastructureEncryptionStateEnabled {
				t.Fatalf("%s at %s: encryption settings %+v", what, v, es)
			}
		}
		if got.Properties.SecuritySettings == nil {
			t.Fatalf("created at %s: %+v", v, got.Properties)
		}
		want("created", key, armdataprotection.IdentityTypeUserAssigned, uami)

		// The key stays: not Disabled, nor dropped by a write of other
		// settings.
		err = patch("v1", nil, &armdataprotection.SecuritySettings{EncryptionSettings: &armdataprotection.EncryptionSettings{State: to.Ptr(armdataprotection.EncryptionStateDisabled)}})
		refused("disabling the key", err, "", enc+".state")
		if err := patch("v1", nil, &armdataprotection.SecuritySettings{SoftDeleteSettings: &armdataprotection.SoftDeleteSettings{
			State: to.Ptr(armdataprotection.SoftDeleteStateOn), RetentionDurationInDays: to.Ptr(30.0)}}); err != nil {
			t.Fatalf("PATCH of soft delete at %s: %v", v, err)
		}
		want("after a PATCH of soft delete", key, armdataprotection.IdentityTypeUserAssigned, uami)
		const key2 = "https://cmk2xkv.vault.azure.net/keys/Key2"
		if err := patch("v1", nil, &armdataprotection.SecuritySettings{EncryptionSettings: &armdataprotection.EncryptionSettings{
			KeyVaultProperties: &armdataprotection.CmkKeyVaultProperties{KeyURI: to.Ptr(key2)}}}); err != nil {
			t.Fatalf("PATCH of the key at %s: %v", v, err)
		}
		want("after a PATCH of the key", key2, armdataprotection.IdentityTypeUserAssigned, uami)
		if _, err := fixture.Wait(vaults.BeginCreateOrUpdate(ctx, rg, "v1", armdataprotection.BackupVaultResource{Location: to.Ptr("westus"), Identity: identity("UserAssigned", uami),
			Properties: &armdataprotection.BackupVault{StorageSettings: storage()}}, nil)); err != nil {
			t.Fatalf("PUT without encryption settings at %s: %v", v, err)
		}
		want("after a PUT without them", key2, armdataprotection.IdentityTypeUserAssigned, uami)
		// The key moved to the system identity has no user identity id.
		if err := patch("v1", identity("SystemAssigned,UserAssigned", uami), &armdataprotection.SecuritySettings{EncryptionSettings: &armdataprotection.EncryptionSettings{
			KekIdentity: kek(armdataprotection.IdentityTypeSystemAssigned, "")}}); err != nil {
			t.Fatalf("PATCH to the system identity at %s: %v", v, err)
		}
		want("after a PATCH to the system identity", key2, armdataprotection.IdentityTypeSystemAssigned, "")
	}
}

// TestCrossRegionRestoreStaysEnabled: a Backup vault's cross-region
// restore, once enabled, stays (Azure: it cannot be disabled), through the
// Go SDK at 2024-04-01 and the newest stable and preview api-versions: a
// PATCH or PUT to Disabled is 400 naming
// featureSettings.crossRegionRestoreSettings.state, and a PUT leaving it
// out keeps it. Before, both turned it off.
func TestCrossRegionRestoreStaysEnabled(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	versions := sdkVersions()
	versions[0] = "2024-04-01"
	const field = "properties.featureSettings.crossRegionRestoreSettings.state"
	for i, v := range versions {
		rg := fmt.Sprintf("crr-rg%d", i)
		e.ResourceGroups(rg)
		vaults := versionFactory(t, e, v).NewBackupVaultsClient()
		crr := func(s armdataprotection.CrossRegionRestoreState) *armdataprotection.FeatureSettings {
			return &armdataprotection.FeatureSettings{CrossRegionRestoreSettings: &armdataprotection.CrossRegionRestoreSettings{State: to.Ptr(s)}}
		}
		put := func(fs *armdataprotection.FeatureSettings) error {
			_, err := fixture.Wait(vaults.BeginCreateOrUpdate(ctx, rg, "grs", armdataprotection.BackupVaultResource{Location: to.Ptr("westus"),
				Properties: &armdataprotection.BackupVault{FeatureSettings: fs, StorageSettings: []*armdataprotection.StorageSetting{{
					DatastoreType: to.Ptr(armdataprotection.StorageSettingStoreTypesVaultStore), Type: to.Ptr(armdataprotection.StorageSettingTypesGeoRedundant)}}}}, nil))
			return err
		}
		patch := func(fs *armdataprotection.FeatureSettings) error {
			_, err := fixture.Wait(vaults.BeginUpdate(ctx, rg, "grs", armdataprotection.PatchResourceRequestInput{Properties: &armdataprotection.PatchBackupVaultInput{FeatureSettings: fs}}, nil))
			return err
		}
		state := func() armdataprotection.CrossRegionRestoreState {
			t.Helper()
			got, err := vaults.Get(ctx, rg, "grs", nil)
			if err != nil {
				t.Fatal(err)
			}
			return *got.Properties.FeatureSettings.CrossRegionRestoreSettings.State
		}
		if err := put(nil); err != nil {
			t.Fatal(err)
		}
		if err := patch(crr(armdataprotection.CrossRegionRestoreStateEnabled)); err != nil {
			t.Fatalf("PATCH enabling cross-region restore at %s: %v", v, err)
		}
		if err := patch(crr(armdataprotection.CrossRegionRestoreStateDisabled)); !refusedNaming(err, field) {
			t.Errorf("PATCH disabling cross-region restore at %s: %v, want 400 naming %s", v, err, field)
		}
		if err := put(crr(armdataprotection.CrossRegionRestoreStateDisabled)); !refusedNaming(err, field) {
			t.Errorf("PUT disabling cross-region restore at %s: %v, want 400 naming %s", v, err, field)
		}
		if err := put(nil); err != nil {
			t.Fatalf("PUT without feature settings at %s: %v", v, err)
		}
		if s := state(); s != armdataprotection.CrossRegionRestoreStateEnabled {
			t.Errorf("cross-region restore after a PUT leaving it out at %s: %s, want Enabled", v, s)
		}
	}
}
