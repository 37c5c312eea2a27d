package dataprotection_test

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestLockedImmutabilityStays: a Backup vault's immutability Locked is
// irreversible, as in Azure (and as a Recovery Services vault's is): a PUT
// or PATCH setting it Unlocked or Disabled is 400
// UserErrorImmutabilityStateLocked, one leaving immutabilitySettings out
// (a PUT without securitySettings, a PATCH of the soft delete settings
// only) keeps it, and a state Azure does not have is 400. Before, each
// such write unlocked the vault: a PATCH to Unlocked, and any write of the
// security settings that did not repeat it, dropped it.
func TestLockedImmutabilityStays(t *testing.T) {
	e := testserver.StartWithGroups(t, "vault-rg")
	ctx := e.Ctx()
	vaults := testserver.Factory(e, armdataprotection.NewClientFactory).NewBackupVaultsClient()
	storage := []*armdataprotection.StorageSetting{{DatastoreType: to.Ptr(armdataprotection.StorageSettingStoreTypesVaultStore), Type: to.Ptr(armdataprotection.StorageSettingTypesLocallyRedundant)}}
	vault := func(sec *armdataprotection.SecuritySettings) armdataprotection.BackupVaultResource {
		return armdataprotection.BackupVaultResource{Location: to.Ptr("westus"), Identity: &armdataprotection.DppIdentityDetails{Type: to.Ptr("SystemAssigned")},
			Properties: &armdataprotection.BackupVault{StorageSettings: storage, SecuritySettings: sec}}
	}
	locked := func(what string) {
		t.Helper()
		v, err := vaults.Get(ctx, "vault-rg", "v1", nil)
		if err != nil {
			t.Fatal(err)
		}
		if s := v.Properties.SecuritySettings; s == nil || s.ImmutabilitySettings == nil || *s.ImmutabilitySettings.State != armdataprotection.ImmutabilityStateLocked {
			t.Fatalf("%s: the vault's security settings are %+v, want immutability Locked", what, s)
		}
	}
	if _, err := fixture.Wait(vaults.BeginCreateOrUpdate(ctx, "vault-rg", "v1", vault(&armdataprotection.SecuritySettings{
		ImmutabilitySettings: &armdataprotection.ImmutabilitySettings{State: to.Ptr(armdataprotection.ImmutabilityStateLocked)}}), nil)); err != nil {
		t.Fatal(err)
	}
	locked("created Locked")
	for _, state := range []armdataprotection.ImmutabilityState{armdataprotection.ImmutabilityStateUnlocked, armdataprotection.ImmutabilityStateDisabled} {
		_, err := fixture.Wait(vaults.BeginUpdate(ctx, "vault-rg", "v1", armdataprotection.PatchResourceRequestInput{Properties: &armdataprotection.PatchBackupVaultInput{
			SecuritySettings: &armdataprotection.SecuritySettings{ImmutabilitySettings: &armdataprotection.ImmutabilitySettings{State: to.Ptr(state)}}}}, nil))
		if st, code := testserver.ErrorOf(err); st != 400 || code != "UserErrorImmutabilityStateLocked" {
			t.Fatalf("PATCH immutability %s: %v", state, err)
		}
		_, err = fixture.Wait(vaults.BeginCreateOrUpdate(ctx, "vault-rg", "v1", vault(&armdataprotection.SecuritySettings{
			ImmutabilitySettings: &armdataprotection.ImmutabilitySettings{State: to.Ptr(state)}}), nil))
		if st, code := testserver.ErrorOf(err); st != 400 || code != "UserErrorImmutabilityStateLocked" {
			t.Fatalf("PUT immutability %s: %v", state, err)
		}
		locked("after a refused " + string(state))
	}
	// Writes that leave immutabilitySettings out keep them.
	if _, err := fixture.Wait(vaults.BeginUpdate(ctx, "vault-rg", "v1", armdataprotection.PatchResourceRequestInput{Properties: &armdataprotection.PatchBackupVaultInput{
		SecuritySettings: &armdataprotection.SecuritySettings{SoftDeleteSettings: &armdataprotection.SoftDeleteSettings{State: to.Ptr(armdataprotection.SoftDeleteStateOn), RetentionDurationInDays: to.Ptr(30.0)}}}}, nil)); err != nil {
		t.Fatal(err)
	}
	locked("after a PATCH of the soft delete settings")
	if _, err := fixture.Wait(vaults.BeginCreateOrUpdate(ctx, "vault-rg", "v1", vault(nil), nil)); err != nil {
		t.Fatal(err)
	}
	locked("after a PUT without security settings")
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vault-rg/providers/Microsoft.DataProtection/backupVaults/v2?api-version=2024-04-01"
	resp, m := e.Do("PUT", R, `{"location":"westus","identity":{"type":"SystemAssigned"},"properties":{"storageSettings":[{"datastoreType":"VaultStore","type":"LocallyRedundant"}],"securitySettings":{"immutabilitySettings":{"state":"Bogus"}}}}`)
	if resp.StatusCode != 400 || testserver.ErrorCode(m) != "InvalidRequestContent" || testserver.Field(m, "error.target") != "properties.securitySettings.immutabilitySettings.state" {
		t.Fatalf("PUT immutability Bogus: %d %v", resp.StatusCode, m)
	}
}

// TestVaultSettingsOutsideTheirValuesAreRefused: a Backup vault's feature
// and monitoring settings take Azure's values only (cross-region restore
// Disabled/Enabled, cross-subscription restore
// Disabled/PermanentlyDisabled/Enabled, job-failure alerts
// Enabled/Disabled): another value is 400 naming the field, on PUT and
// PATCH, and the vault keeps what it had.
func TestVaultSettingsOutsideTheirValuesAreRefused(t *testing.T) {
	e := testserver.StartWithGroups(t, "vault-rg")
	ctx := e.Ctx()
	vaults := testserver.Factory(e, armdataprotection.NewClientFactory).NewBackupVaultsClient()
	storage := []*armdataprotection.StorageSetting{{DatastoreType: to.Ptr(armdataprotection.StorageSettingStoreTypesVaultStore), Type: to.Ptr(armdataprotection.StorageSettingTypesLocallyRedundant)}}
	vault := func(fs *armdataprotection.FeatureSettings, ms *armdataprotection.MonitoringSettings) armdataprotection.BackupVaultResource {
		return armdataprotection.BackupVaultResource{Location: to.Ptr("westus"),
			Properties: &armdataprotection.BackupVault{StorageSettings: storage, FeatureSettings: fs, MonitoringSettings: ms}}
	}
	if _, err := fixture.Wait(vaults.BeginCreateOrUpdate(ctx, "vault-rg", "v1", vault(
		&armdataprotection.FeatureSettings{CrossSubscriptionRestoreSettings: &armdataprotection.CrossSubscriptionRestoreSettings{State: to.Ptr(armdataprotection.CrossSubscriptionRestoreStateDisabled)}},
		&armdataprotection.MonitoringSettings{AzureMonitorAlertSettings: &armdataprotection.AzureMonitorAlertSettings{AlertsForAllJobFailures: to.Ptr(armdataprotection.AlertsStateDisabled)}}), nil)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		field string
		fs    *armdataprotection.FeatureSettings
		ms    *armdataprotection.MonitoringSettings
	}{
		{"properties.featureSettings.crossRegionRestoreSettings.state", &armdataprotection.FeatureSettings{CrossRegionRestoreSettings: &armdataprotection.CrossRegionRestoreSettings{State: to.Ptr(armdataprotection.CrossRegionRestoreState("Maybe"))}}, nil},
		{"properties.featureSettings.crossSubscriptionRestoreSettings.state", &armdataprotection.FeatureSettings{CrossSubscriptionRestoreSettings: &armdataprotection.CrossSubscriptionRestoreSettings{State: to.Ptr(armdataprotection.CrossSubscriptionRestoreState("Sometimes"))}}, nil},
		{"properties.monitoringSettings.azureMonitorAlertSettings.alertsForAllJobFailures", nil, &armdataprotection.MonitoringSettings{AzureMonitorAlertSettings: &armdataprotection.AzureMonitorAlertSettings{AlertsForAllJobFailures: to.Ptr(armdataprotection.AlertsState("Maybe"))}}},
	} {
		_, err := fixture.Wait(vaults.BeginCreateOrUpdate(ctx, "vault-rg", "v1", vault(c.fs, c.ms), nil))
		if st, _ := testserver.ErrorOf(err); st != 400 || !strings.Contains(err.Error(), c.field) {
			t.Errorf("PUT with %s out of its values: %v, want 400 naming it", c.field, err)
		}
		_, err = fixture.Wait(vaults.BeginUpdate(ctx, "vault-rg", "v1", armdataprotection.PatchResourceRequestInput{Properties: &armdataprotection.PatchBackupVaultInput{
			FeatureSettings: c.fs, MonitoringSettings: c.ms}}, nil))
		if st, _ := testserver.ErrorOf(err); st != 400 || !strings.Contains(err.Error(), c.field) {
			t.Errorf("PATCH with %s out of its values: %v, want 400 naming it", c.field, err)
		}
	}
	v, err := vaults.Get(ctx, "vault-rg", "v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := v.Properties; p.FeatureSettings == nil || p.FeatureSettings.CrossSubscriptionRestoreSettings == nil || *p.FeatureSettings.CrossSubscriptionRestoreSettings.State != armdataprotection.CrossSubscriptionRestoreStateDisabled ||
		p.MonitoringSettings == nil || *p.MonitoringSettings.AzureMonitorAlertSettings.AlertsForAllJobFailures != armdataprotection.AlertsStateDisabled {
		t.Fatalf("the vault after refused writes: feature %+v monitoring %+v", p.FeatureSettings, p.MonitoringSettings)
	}
}

// TestVaultFeatureSettingsPatchAndPermanentlyDisabledRestore: a Backup
// vault PATCH of one feature or monitoring setting keeps the others (ARM's
// PATCH is a merge patch, as the Go SDK's BeginUpdate sends only what is
// set), and cross-subscription restore PermanentlyDisabled is final, as
// Azure says (it "cannot be re-enabled"): a PUT or PATCH enabling it again
// is 400 naming the field, and a write that leaves it out keeps it. Before,
// a PATCH of crossSubscriptionRestoreSettings turned an Enabled
// cross-region restore back to Disabled, and a PATCH to Enabled re-enabled
// a permanently disabled one.
func TestVaultFeatureSettingsPatchAndPermanentlyDisabledRestore(t *testing.T) {
	e := testserver.StartWithGroups(t, "vault-rg")
	ctx := e.Ctx()
	vaults := testserver.Factory(e, armdataprotection.NewClientFactory).NewBackupVaultsClient()
	storage := []*armdataprotection.StorageSetting{{DatastoreType: to.Ptr(armdataprotection.StorageSettingStoreTypesVaultStore), Type: to.Ptr(armdataprotection.StorageSettingTypesGeoRedundant)}}
	patch := func(fs *armdataprotection.FeatureSettings, ms *armdataprotection.MonitoringSettings) error {
		_, err := fixture.Wait(vaults.BeginUpdate(ctx, "vault-rg", "v1", armdataprotection.PatchResourceRequestInput{Properties: &armdataprotection.PatchBackupVaultInput{
			FeatureSettings: fs, MonitoringSettings: ms}}, nil))
		return err
	}
	put := func(fs *armdataprotection.FeatureSettings) error {
		_, err := fixture.Wait(vaults.BeginCreateOrUpdate(ctx, "vault-rg", "v1", armdataprotection.BackupVaultResource{Location: to.Ptr("westus"),
			Properties: &armdataprotection.BackupVault{StorageSettings: storage, FeatureSettings: fs}}, nil))
		return err
	}
	want := func(what string, crr armdataprotection.CrossRegionRestoreState, csr armdataprotection.CrossSubscriptionRestoreState, alerts armdataprotection.AlertsState) {
		t.Helper()
		v, err := vaults.Get(ctx, "vault-rg", "v1", nil)
		if err != nil {
			t.Fatal(err)
		}
		p := v.Properties
		if p.FeatureSettings == nil || p.FeatureSettings.CrossRegionRestoreSettings == nil || p.FeatureSettings.CrossSubscriptionRestoreSettings == nil ||
			p.MonitoringSettings == nil || p.MonitoringSettings.AzureMonitorAlertSettings == nil {
			t.Fatalf("%s: feature settings %+v, monitoring settings %+v", what, p.FeatureSettings, p.MonitoringSettings)
		}
		got := [3]string{string(*p.FeatureSettings.CrossRegionRestoreSettings.State), string(*p.FeatureSettings.CrossSubscriptionRestoreSettings.State),
			string(*p.MonitoringSettings.AzureMonitorAlertSettings.AlertsForAllJobFailures)}
		if got != [3]string{string(crr), string(csr), string(alerts)} {
			t.Fatalf("%s: cross-region restore, cross-subscription restore, job failure alerts are %v; want %s %s %s", what, got, crr, csr, alerts)
		}
	}
	crr := func(s armdataprotection.CrossRegionRestoreState) *armdataprotection.FeatureSettings {
		return &armdataprotection.FeatureSettings{CrossRegionRestoreSettings: &armdataprotection.CrossRegionRestoreSettings{State: to.Ptr(s)}}
	}
	csr := func(s armdataprotection.CrossSubscriptionRestoreState) *armdataprotection.FeatureSettings {
		return &armdataprotection.FeatureSettings{CrossSubscriptionRestoreSettings: &armdataprotection.CrossSubscriptionRestoreSettings{State: to.Ptr(s)}}
	}
	if err := put(&armdataprotection.FeatureSettings{
		CrossRegionRestoreSettings:       &armdataprotection.CrossRegionRestoreSettings{State: to.Ptr(armdataprotection.CrossRegionRestoreStateEnabled)},
		CrossSubscriptionRestoreSettings: &armdataprotection.CrossSubscriptionRestoreSettings{State: to.Ptr(armdataprotection.CrossSubscriptionRestoreStateEnabled)}}); err != nil {
		t.Fatal(err)
	}
	want("created", armdataprotection.CrossRegionRestoreStateEnabled, armdataprotection.CrossSubscriptionRestoreStateEnabled, armdataprotection.AlertsStateEnabled)
	if err := patch(csr(armdataprotection.CrossSubscriptionRestoreStateDisabled), nil); err != nil {
		t.Fatal(err)
	}
	want("after a PATCH of cross-subscription restore", armdataprotection.CrossRegionRestoreStateEnabled, armdataprotection.CrossSubscriptionRestoreStateDisabled, armdataprotection.AlertsStateEnabled)
	if err := patch(nil, &armdataprotection.MonitoringSettings{AzureMonitorAlertSettings: &armdataprotection.AzureMonitorAlertSettings{AlertsForAllJobFailures: to.Ptr(armdataprotection.AlertsStateDisabled)}}); err != nil {
		t.Fatal(err)
	}
	want("after a PATCH of the alerts", armdataprotection.CrossRegionRestoreStateEnabled, armdataprotection.CrossSubscriptionRestoreStateDisabled, armdataprotection.AlertsStateDisabled)
	if err := patch(csr(armdataprotection.CrossSubscriptionRestoreStatePermanentlyDisabled), nil); err != nil {
		t.Fatal(err)
	}
	want("permanently disabled", armdataprotection.CrossRegionRestoreStateEnabled, armdataprotection.CrossSubscriptionRestoreStatePermanentlyDisabled, armdataprotection.AlertsStateDisabled)
	const field = "properties.featureSettings.crossSubscriptionRestoreSettings.state"
	for _, s := range []armdataprotection.CrossSubscriptionRestoreState{armdataprotection.CrossSubscriptionRestoreStateEnabled, armdataprotection.CrossSubscriptionRestoreStateDisabled} {
		if err := patch(csr(s), nil); !refusedNaming(err, field) {
			t.Fatalf("PATCH of a permanently disabled cross-subscription restore to %s: %v, want 400 naming %s", s, err, field)
		}
		if err := put(csr(s)); !refusedNaming(err, field) {
			t.Fatalf("PUT of a permanently disabled cross-subscription restore to %s: %v, want 400 naming %s", s, err, field)
		}
	}
	want("after refused writes", armdataprotection.CrossRegionRestoreStateEnabled, armdataprotection.CrossSubscriptionRestoreStatePermanentlyDisabled, armdataprotection.AlertsStateDisabled)
	// A PUT leaving the setting out keeps it (the others are the PUT's).
	if err := put(crr(armdataprotection.CrossRegionRestoreStateEnabled)); err != nil {
		t.Fatal(err)
	}
	want("after a PUT without it", armdataprotection.CrossRegionRestoreStateEnabled, armdataprotection.CrossSubscriptionRestoreStatePermanentlyDisabled, armdataprotection.AlertsStateEnabled)
}

// refusedNaming says whether err is a 400 whose message names field.
func refusedNaming(err error, field string) bool {
	st, _ := testserver.ErrorOf(err)
	return st == 400 && strings.Contains(err.Error(), field)
}

// TestVaultSettingsSentInAnotherCaseAreReadBack: a Backup vault's settings
// whose property names a client sends cased otherwise than Azure spells
// them (az rest with a hand-written body: ARM's property names match in
// any case) are stored in Azure's spelling, so the Go SDK, which reads
// only that spelling, reads them back. Before, they were kept as sent:
// the SDK saw no immutability, cross-region restore or alert settings,
// though the vault held them (its immutability Locked).
func TestVaultSettingsSentInAnotherCaseAreReadBack(t *testing.T) {
	e := testserver.StartWithGroups(t, "vault-rg")
	ctx := e.Ctx()
	vaults := testserver.Factory(e, armdataprotection.NewClientFactory).NewBackupVaultsClient()
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vault-rg/providers/Microsoft.DataProtection/backupVaults/v1?api-version=2025-07-01"
	resp, m := e.Do("PUT", R, `{"location":"westus","properties":{"storageSettings":[{"datastoreType":"VaultStore","type":"GeoRedundant"}],
		"FeatureSettings":{"CrossRegionRestoreSettings":{"State":"Enabled"},"crossSubscriptionRestoreSETTINGS":{"state":"Disabled"}},
		"monitoringSettings":{"AzureMonitorAlertSettings":{"AlertsForAllJobFailures":"Disabled"}},
		"SecuritySettings":{"SoftDeleteSettings":{"State":"On","RetentionDurationInDays":30},"ImmutabilitySettings":{"State":"Locked"}}}}`)
	if resp.StatusCode != 200 && resp.StatusCode != 201 {
		t.Fatalf("PUT: %d %v", resp.StatusCode, m)
	}
	v, err := vaults.Get(ctx, "vault-rg", "v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	p := v.Properties
	if p.FeatureSettings == nil || p.FeatureSettings.CrossRegionRestoreSettings == nil || *p.FeatureSettings.CrossRegionRestoreSettings.State != armdataprotection.CrossRegionRestoreStateEnabled ||
		p.FeatureSettings.CrossSubscriptionRestoreSettings == nil || *p.FeatureSettings.CrossSubscriptionRestoreSettings.State != armdataprotection.CrossSubscriptionRestoreStateDisabled {
		t.Errorf("the SDK reads feature settings %+v", p.FeatureSettings)
	}
	if p.MonitoringSettings == nil || p.MonitoringSettings.AzureMonitorAlertSettings == nil || *p.MonitoringSettings.AzureMonitorAlertSettings.AlertsForAllJobFailures != armdataprotection.AlertsStateDisabled {
		t.Errorf("the SDK reads monitoring settings %+v", p.MonitoringSettings)
	}
	if s := p.SecuritySettings; s == nil || s.ImmutabilitySettings == nil || *s.ImmutabilitySettings.State != armdataprotection.ImmutabilityStateLocked ||
		s.SoftDeleteSettings == nil || *s.SoftDeleteSettings.RetentionDurationInDays != 30 {
		t.Errorf("the SDK reads security settings %+v", s)
	}
	resp, m = e.Do("PATCH", R, `{"properties":{"featureSettings":{"crossRegionRestoreSettings":{"state":"Enabled"},"CrossRegionRestoreSettings":{"state":"Disabled"}}}}`)
	if resp.StatusCode != 400 || testserver.Field(m, "error.target") != "properties.featureSettings.crossRegionRestoreSettings" {
		t.Fatalf("PATCH naming a setting twice: %d %v, want 400 at properties.featureSettings.crossRegionRestoreSettings", resp.StatusCode, m)
	}
}
