package recoveryservices_test

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservices"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestVaultPutKeepsOmittedTags: as Azure's Recovery Services vaults do, a
// PUT of an existing vault that does not send tags keeps the vault's tags
// (Azure's PUT examples update a vault and document tags the request does
// not send; az resource tag moved to PATCH to change them, azure-cli#11588);
// tags sent replace them, an empty map clears them, and a new vault has
// only the tags its PUT sends.
func TestVaultPutKeepsOmittedTags(t *testing.T) {
	e := testserver.StartWithGroups(t, "vaultrg")
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/tv" + rsAPI
	put := func(what string, body map[string]any, code int) map[string]any {
		t.Helper()
		body["location"], body["sku"] = "westus", map[string]any{"name": "Standard"}
		resp, m := e.Do("PUT", R, body)
		must(t, what, resp, m, code)
		_, g := e.Do("GET", R, nil)
		if str(m, "tags") != str(g, "tags") {
			t.Fatalf("%s: the PUT answered tags %v, a GET %v", what, m["tags"], g["tags"])
		}
		return g
	}
	tags := func(g map[string]any) int {
		m, _ := g["tags"].(map[string]any)
		return len(m)
	}
	if g := put("create", map[string]any{"tags": map[string]string{"env": "ci"}}, 201); str(g, "tags.env") != "ci" {
		t.Fatalf("created vault: %v", g)
	}
	if g := put("update without tags", map[string]any{"properties": map[string]any{"publicNetworkAccess": "Enabled"}}, 200); str(g, "tags.env") != "ci" {
		t.Fatalf("a PUT without tags dropped them: %v", g)
	}
	if g := put("update with null tags", map[string]any{"tags": nil}, 200); str(g, "tags.env") != "ci" {
		t.Fatalf("a PUT with null tags dropped them: %v", g)
	}
	if g := put("update with tags", map[string]any{"tags": map[string]string{"team": "backup"}}, 200); str(g, "tags.team") != "backup" || str(g, "tags.env") != "" {
		t.Fatalf("a PUT with tags did not replace them: %v", g)
	}
	if g := put("update with no tags", map[string]any{"tags": map[string]string{}}, 200); tags(g) != 0 {
		t.Fatalf("a PUT with {} did not clear the tags: %v", g)
	}
	resp, m := e.Do("DELETE", R, nil)
	must(t, "delete", resp, m, 200, 204)
	if g := put("create again", map[string]any{}, 201); tags(g) != 0 {
		t.Fatalf("a new vault has tags it was not given: %v", g)
	}
}

// TestVaultPropertiesOfTheWrongShapeAreRefused: a vault PUT or PATCH whose
// properties give one of Azure's vault properties a value of the wrong
// JSON type, or outside its enum, is 400 BMSUserErrorInvalidInput naming
// it, and the vault is unchanged (read-only properties sent back, a GET's
// body PUT again, are taken when of their type). Before, each was
// stored and answered as sent: after redundancySettings "x" the Go SDK
// could no longer read the vault (Get failed to unmarshal the string into
// the settings object).
func TestVaultPropertiesOfTheWrongShapeAreRefused(t *testing.T) {
	e := testserver.StartWithGroups(t, "vaultrg")
	ctx := e.Ctx()
	vaults, err := armrecoveryservices.NewVaultsClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vaults.BeginCreateOrUpdate(ctx, "vaultrg", "v1", armrecoveryservices.Vault{Location: to.Ptr("westus"), SKU: &armrecoveryservices.SKU{Name: to.Ptr(armrecoveryservices.SKUNameStandard)},
		Properties: &armrecoveryservices.VaultProperties{PublicNetworkAccess: to.Ptr(armrecoveryservices.PublicNetworkAccessDisabled)}}, nil); err != nil {
		t.Fatal(err)
	}
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/v1" + rsAPI
	for _, c := range []struct{ props, target string }{
		{`{"redundancySettings":"x"}`, "properties.redundancySettings"},
		{`{"publicNetworkAccess":5}`, "properties.publicNetworkAccess"},
		{`{"publicNetworkAccess":"Bogus"}`, "properties.publicNetworkAccess"},
		{`{"redundancySettings":{"standardTierStorageRedundancy":"Bogus"}}`, "properties.redundancySettings.standardTierStorageRedundancy"},
		{`{"redundancySettings":{"crossRegionRestore":true}}`, "properties.redundancySettings.crossRegionRestore"},
		{`{"securitySettings":{"immutabilitySettings":{"state":"Bogus"}}}`, "properties.securitySettings.immutabilitySettings.state"},
		{`{"securitySettings":{"immutabilitySettings":"Locked"}}`, "properties.securitySettings.immutabilitySettings"},
		{`{"monitoringSettings":7}`, "properties.monitoringSettings"},
		{`{"monitoringSettings":{"azureMonitorAlertSettings":{"alertsForAllJobFailures":"Maybe"}}}`, "properties.monitoringSettings.azureMonitorAlertSettings.alertsForAllJobFailures"},
		{`{"restoreSettings":{"crossSubscriptionRestoreSettings":{"crossSubscriptionRestoreState":"Bogus"}}}`, "properties.restoreSettings.crossSubscriptionRestoreSettings.crossSubscriptionRestoreState"},
		{`{"encryption":"x"}`, "properties.encryption"},
		{`{"encryption":{"kekIdentity":{"useSystemAssignedIdentity":"yes"}}}`, "properties.encryption.kekIdentity.useSystemAssignedIdentity"},
		{`{"resourceGuardOperationRequests":[1]}`, "properties.resourceGuardOperationRequests[0]"},
		{`{"privateEndpointConnections":"x"}`, "properties.privateEndpointConnections"},
		{`{"privateEndpointConnections":["x"]}`, "properties.privateEndpointConnections[0]"},
		{`{"upgradeDetails":true}`, "properties.upgradeDetails"},
	} {
		for _, method := range []string{"PUT", "PATCH"} {
			resp, m := e.Do(method, R, `{"location":"westus","sku":{"name":"Standard"},"properties":`+c.props+`}`)
			if resp.StatusCode != 400 || testserver.ErrorCode(m) != "BMSUserErrorInvalidInput" || str(m, "error.target") != c.target {
				t.Errorf("%s %s: %d %v, want 400 BMSUserErrorInvalidInput at %s", method, c.props, resp.StatusCode, m, c.target)
			}
		}
	}
	got, err := vaults.Get(ctx, "vaultrg", "v1", nil)
	if err != nil {
		t.Fatalf("the SDK reads the vault: %v", err)
	}
	if p := got.Properties; *p.PublicNetworkAccess != armrecoveryservices.PublicNetworkAccessDisabled || *p.RedundancySettings.StandardTierStorageRedundancy != armrecoveryservices.StandardTierStorageRedundancyGeoRedundant {
		t.Fatalf("a refused write changed the vault: %+v", p)
	}
	// Read-only ones sent back (a GET's body PUT again) are taken when of
	// their type; the vault's state and guard are its own.
	resp, m := e.Do("PUT", R, `{"location":"westus","sku":{"name":"Standard"},"properties":{"provisioningState":"Failed","privateEndpointConnections":[],"securitySettings":{"multiUserAuthorization":"Enabled"},"publicNetworkAccess":"enabled"}}`)
	if resp.StatusCode != 200 || str(m, "properties.provisioningState") != "Succeeded" ||
		str(m, "properties.securitySettings.multiUserAuthorization") != "Disabled" || str(m, "properties.publicNetworkAccess") != "enabled" {
		t.Fatalf("PUT with read-only properties: %d %v", resp.StatusCode, m)
	}
	if _, err := vaults.Get(ctx, "vaultrg", "v1", nil); err != nil {
		t.Fatalf("the SDK reads the vault: %v", err)
	}
}

// TestVaultRedundancyIsTheStorageConfig: a vault's redundancySettings and
// its backup storage configuration are one setting, as the vault's soft
// delete settings and its backup configuration are: a vault created with
// LocallyRedundant storage has it in its storage configuration, a storage
// configuration write (az backup vault backup-properties set) shows in the
// vault, and a vault write is held to the storage configuration's rules
// (Cross Region Restore needs GeoRedundant and stays on). Before, the two
// were kept apart: the vault said LocallyRedundant while its storage
// configuration said GeoRedundant, and a storage configuration write did
// not show in the vault (whose usages count its bytes by the vault's).
func TestVaultRedundancyIsTheStorageConfig(t *testing.T) {
	e := testserver.StartWithGroups(t, "vaultrg")
	ctx := e.Ctx()
	vaults, err := armrecoveryservices.NewVaultsClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	sc := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory).NewBackupResourceStorageConfigsNonCRRClient()
	poller, err := vaults.BeginCreateOrUpdate(ctx, "vaultrg", "v1", armrecoveryservices.Vault{Location: to.Ptr("westus"), SKU: &armrecoveryservices.SKU{Name: to.Ptr(armrecoveryservices.SKUNameStandard)},
		Properties: &armrecoveryservices.VaultProperties{RedundancySettings: &armrecoveryservices.VaultPropertiesRedundancySettings{
			StandardTierStorageRedundancy: to.Ptr(armrecoveryservices.StandardTierStorageRedundancyLocallyRedundant)}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := poller.PollUntilDone(ctx, nil); err != nil {
		t.Fatal(err)
	}
	cfg, err := sc.Get(ctx, "v1", "vaultrg", nil)
	if err != nil || *cfg.Properties.StorageType != armrecoveryservicesbackup.StorageTypeLocallyRedundant || *cfg.Properties.StorageModelType != armrecoveryservicesbackup.StorageTypeLocallyRedundant {
		t.Fatalf("storage config of a vault created LocallyRedundant: %v %+v", err, cfg.Properties)
	}
	// The CLI's write shows in the vault.
	if _, err := sc.Patch(ctx, "v1", "vaultrg", armrecoveryservicesbackup.BackupResourceConfigResource{Properties: &armrecoveryservicesbackup.BackupResourceConfig{
		StorageModelType: to.Ptr(armrecoveryservicesbackup.StorageTypeGeoRedundant), CrossRegionRestoreFlag: to.Ptr(true)}}, nil); err != nil {
		t.Fatal(err)
	}
	v, err := vaults.Get(ctx, "vaultrg", "v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if rs := v.Properties.RedundancySettings; *rs.StandardTierStorageRedundancy != armrecoveryservices.StandardTierStorageRedundancyGeoRedundant || *rs.CrossRegionRestore != armrecoveryservices.CrossRegionRestoreEnabled {
		t.Fatalf("vault after the storage config write: %s, cross region restore %s", *rs.StandardTierStorageRedundancy, *rs.CrossRegionRestore)
	}
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/v1" + rsAPI
	// A vault write is held to the storage configuration's rules, and a
	// refused one changes neither.
	for _, c := range []struct{ method, body, code string }{
		{"PATCH", `{"properties":{"redundancySettings":{"crossRegionRestore":"Disabled"}}}`, "BMSUserErrorInvalidInput"},
		{"PUT", `{"location":"westus","sku":{"name":"Standard"},"properties":{"redundancySettings":{"standardTierStorageRedundancy":"LocallyRedundant","crossRegionRestore":"Enabled"}}}`, "BMSUserErrorInvalidInput"},
	} {
		resp, m := e.Do(c.method, R, c.body)
		if resp.StatusCode != 400 || testserver.ErrorCode(m) != c.code {
			t.Errorf("%s %s: %d %v, want 400 %s", c.method, c.body, resp.StatusCode, m, c.code)
		}
	}
	cfg, err = sc.Get(ctx, "v1", "vaultrg", nil)
	if err != nil || *cfg.Properties.StorageType != armrecoveryservicesbackup.StorageTypeGeoRedundant || !*cfg.Properties.CrossRegionRestoreFlag {
		t.Fatalf("storage config after refused vault writes: %v %+v", err, cfg.Properties)
	}
	// A vault PUT without redundancySettings (a new vault's own, or an
	// update's) shows the storage configuration's.
	resp, m := e.Do("PUT", R, `{"location":"westus","sku":{"name":"Standard"},"properties":{}}`)
	if resp.StatusCode != 200 || str(m, "properties.redundancySettings.standardTierStorageRedundancy") != "GeoRedundant" || str(m, "properties.redundancySettings.crossRegionRestore") != "Enabled" {
		t.Fatalf("vault PUT without redundancySettings: %d %v", resp.StatusCode, m)
	}
}

// TestCrossSubscriptionRestorePermanentlyDisabledStays: a vault's
// cross-subscription restore set PermanentlyDisabled cannot be enabled or
// disabled again, as Azure says ("once permanently disabled on a vault
// cannot be re-enabled"): a PATCH (the Go SDK's BeginUpdate) or PUT
// changing it is 400 BMSUserErrorInvalidInput naming the field, a write
// leaving it out keeps it, and a PATCH with a restoreSettings key cased
// otherwise merges into the vault's. Before, a PATCH to Enabled re-enabled
// it.
func TestCrossSubscriptionRestorePermanentlyDisabledStays(t *testing.T) {
	e := testserver.StartWithGroups(t, "vaultrg")
	ctx := e.Ctx()
	vaults, err := armrecoveryservices.NewVaultsClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	csr := func(s armrecoveryservices.CrossSubscriptionRestoreState) *armrecoveryservices.VaultProperties {
		return &armrecoveryservices.VaultProperties{RestoreSettings: &armrecoveryservices.RestoreSettings{
			CrossSubscriptionRestoreSettings: &armrecoveryservices.CrossSubscriptionRestoreSettings{CrossSubscriptionRestoreState: to.Ptr(s)}}}
	}
	vault := func(p *armrecoveryservices.VaultProperties) armrecoveryservices.Vault {
		return armrecoveryservices.Vault{Location: to.Ptr("westus"), SKU: &armrecoveryservices.SKU{Name: to.Ptr(armrecoveryservices.SKUNameStandard)}, Properties: p}
	}
	put := func(p *armrecoveryservices.VaultProperties) error {
		_, err := fixture.Wait(vaults.BeginCreateOrUpdate(ctx, "vaultrg", "v1", vault(p), nil))
		return err
	}
	patch := func(p *armrecoveryservices.VaultProperties) error {
		_, err := fixture.Wait(vaults.BeginUpdate(ctx, "vaultrg", "v1", armrecoveryservices.PatchVault{Properties: p}, nil))
		return err
	}
	want := func(what string) {
		t.Helper()
		v, err := vaults.Get(ctx, "vaultrg", "v1", nil)
		if err != nil {
			t.Fatal(err)
		}
		if rs := v.Properties.RestoreSettings; rs == nil || rs.CrossSubscriptionRestoreSettings == nil ||
			*rs.CrossSubscriptionRestoreSettings.CrossSubscriptionRestoreState != armrecoveryservices.CrossSubscriptionRestoreStatePermanentlyDisabled {
			t.Fatalf("%s: restore settings %+v, want cross-subscription restore PermanentlyDisabled", what, rs)
		}
	}
	if err := put(csr(armrecoveryservices.CrossSubscriptionRestoreStateEnabled)); err != nil {
		t.Fatal(err)
	}
	if err := patch(csr(armrecoveryservices.CrossSubscriptionRestoreStatePermanentlyDisabled)); err != nil {
		t.Fatal(err)
	}
	want("permanently disabled")
	const field = "properties.restoreSettings.crossSubscriptionRestoreSettings.crossSubscriptionRestoreState"
	for _, s := range []armrecoveryservices.CrossSubscriptionRestoreState{armrecoveryservices.CrossSubscriptionRestoreStateEnabled, armrecoveryservices.CrossSubscriptionRestoreStateDisabled} {
		for method, write := range map[string]func(*armrecoveryservices.VaultProperties) error{"PATCH": patch, "PUT": put} {
			err := write(csr(s))
			if st, code := testserver.ErrorOf(err); st != 400 || code != "BMSUserErrorInvalidInput" || !strings.Contains(err.Error(), field) {
				t.Fatalf("%s of a permanently disabled cross-subscription restore to %s: %v, want 400 BMSUserErrorInvalidInput naming %s", method, s, err, field)
			}
		}
	}
	want("after refused writes")
	if err := put(&armrecoveryservices.VaultProperties{RestoreSettings: &armrecoveryservices.RestoreSettings{}}); err != nil {
		t.Fatal(err)
	}
	want("after a PUT of restoreSettings without it")
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/v1" + rsAPI
	resp, m := e.Do("PATCH", R, `{"properties":{"RestoreSettings":{"CrossSubscriptionRestoreSettings":{"crossSubscriptionRestoreState":"Enabled"}}}}`)
	if resp.StatusCode != 400 || str(m, "error.target") != field {
		t.Fatalf("PATCH with keys cased otherwise: %d %v, want 400 at %s", resp.StatusCode, m, field)
	}
	want("after a PATCH cased otherwise")
}

// TestVaultPropertiesSentInAnotherCaseAreReadBack: a Recovery Services
// vault's properties whose names a client sends cased otherwise than Azure
// spells them (ARM's property names match in any case) take effect and are
// stored in Azure's spelling, which the Go SDK reads. Before, they were
// kept as sent beside the defaults: "PublicNetworkAccess": "Disabled" left
// the vault's publicNetworkAccess Enabled, and immutability Unlocked and
// the alert settings were not seen.
func TestVaultPropertiesSentInAnotherCaseAreReadBack(t *testing.T) {
	e := testserver.StartWithGroups(t, "vaultrg")
	ctx := e.Ctx()
	vaults, err := armrecoveryservices.NewVaultsClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/v1" + rsAPI
	resp, m := e.Do("PUT", R, `{"location":"westus","sku":{"name":"Standard"},"properties":{"PublicNetworkAccess":"Disabled",
		"SecuritySettings":{"ImmutabilitySettings":{"State":"Unlocked"},"SoftDeleteSettings":{"SoftDeleteState":"Enabled","softDeleteRetentionPeriodInDAYS":20}},
		"MonitoringSettings":{"AzureMonitorAlertSettings":{"AlertsForAllJobFailures":"Disabled"}},
		"RestoreSettings":{"CrossSubscriptionRestoreSettings":{"CrossSubscriptionRestoreState":"Disabled"}}}}`)
	must(t, "PUT", resp, m, 201)
	v, err := vaults.Get(ctx, "vaultrg", "v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	p := v.Properties
	if *p.PublicNetworkAccess != armrecoveryservices.PublicNetworkAccessDisabled {
		t.Errorf("publicNetworkAccess %s, want Disabled", *p.PublicNetworkAccess)
	}
	if s := p.SecuritySettings; s == nil || s.ImmutabilitySettings == nil || *s.ImmutabilitySettings.State != armrecoveryservices.ImmutabilityStateUnlocked ||
		s.SoftDeleteSettings == nil || *s.SoftDeleteSettings.SoftDeleteState != armrecoveryservices.SoftDeleteStateEnabled || *s.SoftDeleteSettings.SoftDeleteRetentionPeriodInDays != 20 {
		t.Errorf("security settings %+v", s)
	}
	if ms := p.MonitoringSettings; ms == nil || ms.AzureMonitorAlertSettings == nil || *ms.AzureMonitorAlertSettings.AlertsForAllJobFailures != armrecoveryservices.AlertsStateDisabled {
		t.Errorf("monitoring settings %+v", ms)
	}
	if rs := p.RestoreSettings; rs == nil || rs.CrossSubscriptionRestoreSettings == nil || *rs.CrossSubscriptionRestoreSettings.CrossSubscriptionRestoreState != armrecoveryservices.CrossSubscriptionRestoreStateDisabled {
		t.Errorf("restore settings %+v", rs)
	}
	_, raw := e.Do("GET", R, nil)
	for _, k := range []string{"PublicNetworkAccess", "SecuritySettings", "MonitoringSettings", "RestoreSettings"} {
		if _, ok := raw["properties"].(map[string]any)[k]; ok {
			t.Errorf("the vault answers %s as sent: %v", k, raw["properties"])
		}
	}
	resp, m = e.Do("PATCH", R, `{"properties":{"publicNetworkAccess":"Enabled","PUBLICNetworkAccess":"Disabled"}}`)
	if resp.StatusCode != 400 || str(m, "error.target") != "properties.publicNetworkAccess" {
		t.Fatalf("PATCH naming a property twice: %d %v, want 400 at properties.publicNetworkAccess", resp.StatusCode, m)
	}
}
