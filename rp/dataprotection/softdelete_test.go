package dataprotection_test

import (
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// softDeleteDisk starts a server with a disk protected by protectDisk
// (daily, points kept 7 days), PATCHes the vault's soft delete settings (a
// softDeleteSettings object) at api-version v and returns the server, the
// instance's path, the disk's id and the patched vault.
func softDeleteDisk(t *testing.T, v, settings string) (e *testserver.Env, biPath, diskID string, vault map[string]any) {
	t.Helper()
	e = testserver.Start(t)
	biPath, _, diskID = protectDisk(t, e, "P1D", "P7D", "P30D")
	vault = patchVault(t, e, v1Path(e)+v, `{"properties":{"securitySettings":{"softDeleteSettings":`+settings+`}}}`)
	return e, biPath, diskID, vault
}

// backupOnce backs the instance at biPath up (backupNow at api-version v),
// requires it to hold one recovery point and returns that point's snapshot.
func backupOnce(t *testing.T, e *testserver.Env, biPath, v string) string {
	t.Helper()
	backupNow(t, e, biPath, v)
	_, snaps := listPoints(t, e, biPath)
	if len(snaps) != 1 {
		t.Fatalf("points: %v", snaps)
	}
	return snaps[0]
}

// TestSDKSoftDelete: with the vault's soft delete On, deleting a backup
// instance keeps its points and snapshots as a deleted backup instance
// (DeletedBackupInstancesClient List/Get); the disk can be protected again
// meanwhile, which blocks undelete; undelete restores the instance stopped
// with its points and resumeProtection restarts it; the vault cannot be
// deleted while deleted instances remain; at the scheduled purge time
// (fake clock) the deleted instance, its points and snapshots are gone.
func TestSDKSoftDelete(t *testing.T) {
	start := time.Date(2021, 1, 1, 7, 0, 0, 0, time.UTC)
	clk := clock.NewFake(start)
	e := testserver.Start(t, testserver.WithClock(clk))
	ctx := e.Ctx()
	_, _, diskID := protectDisk(t, e, "P1D", "P30D", "P30D")

	f := testserver.Factory(e, armdataprotection.NewClientFactory)
	vaults, bis, dels := f.NewBackupVaultsClient(), f.NewBackupInstancesClient(), f.NewDeletedBackupInstancesClient()

	// Turn soft delete on ("Enabled" is read as On and echoed as sent, as in
	// Azure's PutBackupVault example; retention defaults to 14 days).
	v, err := fixture.Wait(vaults.BeginUpdate(ctx, "vault-rg", "v1", armdataprotection.PatchResourceRequestInput{Properties: &armdataprotection.PatchBackupVaultInput{
		SecuritySettings: &armdataprotection.SecuritySettings{SoftDeleteSettings: &armdataprotection.SoftDeleteSettings{State: to.Ptr(armdataprotection.SoftDeleteState("Enabled"))}}}}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if sd := v.Properties.SecuritySettings.SoftDeleteSettings; *sd.State != "Enabled" || *sd.RetentionDurationInDays != 14 || *v.Properties.SecureScore != armdataprotection.SecureScoreLevelAdequate {
		t.Fatalf("soft delete settings: %+v", sd)
	}

	backup := func(name string) string {
		t.Helper()
		p, err := bis.BeginAdhocBackup(ctx, "vault-rg", "v1", name, armdataprotection.TriggerBackupRequest{BackupRuleOptions: &armdataprotection.AdHocBackupRuleOptions{
			RuleName: to.Ptr("BackupHourly"), TriggerOption: &armdataprotection.AdhocBackupTriggerOption{RetentionTagOverride: to.Ptr("Default")}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.PollUntilDone(ctx, fixture.Poll); err != nil {
			t.Fatalf("backup %s: %v", name, err)
		}
		biPath := "/subscriptions/" + e.Sub + "/resourceGroups/vault-rg/providers/Microsoft.DataProtection/backupVaults/v1/backupInstances/" + name
		_, snaps := listPoints(t, e, biPath)
		if len(snaps) != 1 {
			t.Fatalf("points of %s: %v", name, snaps)
		}
		return snaps[0]
	}
	del := func(name string) {
		t.Helper()
		p, err := bis.BeginDelete(ctx, "vault-rg", "v1", name, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.PollUntilDone(ctx, fixture.Poll); err != nil {
			t.Fatalf("delete %s: %v", name, err)
		}
		if _, err := bis.Get(ctx, "vault-rg", "v1", name, nil); !testserver.HasError(err, 404, "") {
			t.Fatalf("get deleted instance %s: %v", name, err)
		}
	}
	snapExists := func(id string) bool {
		_, err := e.Server.Compute.Snapshot(ctx, id)
		return err == nil
	}

	snap1 := backup("d1-bi")
	del("d1-bi")
	if !snapExists(snap1) {
		t.Fatalf("snapshot %s of the soft-deleted instance is gone", snap1)
	}
	d, err := dels.Get(ctx, "vault-rg", "v1", "d1-bi", nil)
	if err != nil {
		t.Fatal(err)
	}
	p := d.Properties
	if *d.Type != "Microsoft.DataProtection/backupVaults/deletedBackupInstances" || !strings.HasSuffix(*d.ID, "/deletedBackupInstances/d1-bi") ||
		*p.ObjectType != "DeletedBackupInstance" || *p.CurrentProtectionState != armdataprotection.CurrentProtectionStateSoftDeleted ||
		*p.ProtectionStatus.Status != armdataprotection.StatusSoftDeleted || !strings.EqualFold(*p.DataSourceInfo.ResourceID, diskID) ||
		p.DeletionInfo == nil || *p.DeletionInfo.DeleteActivityID == "" {
		t.Fatalf("deleted instance: %+v %+v", d, p)
	}
	del1, _ := time.Parse(time.RFC3339Nano, *p.DeletionInfo.DeletionTime)
	purge1, _ := time.Parse(time.RFC3339Nano, *p.DeletionInfo.ScheduledPurgeTime)
	if !del1.Equal(start) || !purge1.Equal(start.Add(14*24*time.Hour)) || *p.DeletionInfo.BillingEndDate == "" {
		t.Fatalf("deletion info: %+v", p.DeletionInfo)
	}

	// The vault cannot go while a soft-deleted instance remains.
	if _, err := vaults.BeginDelete(ctx, "vault-rg", "v1", nil); !testserver.HasError(err, 400, "") || !strings.Contains(err.Error(), "soft-deleted") {
		t.Fatalf("delete vault with a soft-deleted instance: %v", err)
	}

	// The disk can be protected again; then undelete is refused.
	putInstance(t, e, "d1-bi2", diskID)
	snap2 := backup("d1-bi2")
	undelete := func(name string) error {
		p, err := dels.BeginUndelete(ctx, "vault-rg", "v1", name, nil)
		if err != nil {
			return err
		}
		_, err = p.PollUntilDone(ctx, fixture.Poll)
		return err
	}
	if err := undelete("d1-bi"); !testserver.HasError(err, 409, "") || !strings.Contains(err.Error(), "d1-bi2") {
		t.Fatalf("undelete while the disk is protected again: %v", err)
	}
	if err := undelete("nosuch"); !testserver.HasError(err, 404, "") {
		t.Fatalf("undelete unknown: %v", err)
	}

	// Soft-delete the second instance too (later: purged one hour later).
	clk.Set(start.Add(time.Hour))
	del("d1-bi2")
	n := testserver.Count(t, ctx, dels.NewListPager("vault-rg", "v1", nil))
	if n != 2 {
		t.Fatalf("deleted instances: %d", n)
	}

	// Undelete the first: stopped, with its point; resume works.
	if err := undelete("d1-bi"); err != nil {
		t.Fatalf("undelete: %v", err)
	}
	bi, err := bis.Get(ctx, "vault-rg", "v1", "d1-bi", nil)
	if err != nil || *bi.Properties.CurrentProtectionState != armdataprotection.CurrentProtectionStateProtectionStopped {
		t.Fatalf("undeleted instance: %v %+v", err, bi.Properties)
	}
	if _, err := dels.Get(ctx, "vault-rg", "v1", "d1-bi", nil); !testserver.HasError(err, 404, "") {
		t.Fatalf("deleted instance after undelete: %v", err)
	}
	_, snaps := listPoints(t, e, "/subscriptions/"+e.Sub+"/resourceGroups/vault-rg/providers/Microsoft.DataProtection/backupVaults/v1/backupInstances/d1-bi")
	if len(snaps) != 1 || snaps[0] != snap1 {
		t.Fatalf("points after undelete: %v (want %s)", snaps, snap1)
	}
	if _, err := fixture.Wait(bis.BeginResumeProtection(ctx, "vault-rg", "v1", "d1-bi", nil)); err != nil {
		t.Fatal(err)
	}
	if bi, err := bis.Get(ctx, "vault-rg", "v1", "d1-bi", nil); err != nil || *bi.Properties.CurrentProtectionState != armdataprotection.CurrentProtectionStateProtectionConfigured {
		t.Fatalf("resumed instance: %v %+v", err, bi.Properties)
	}

	// The purge: past the second instance's retention it is gone with its
	// point and snapshot.
	if !snapExists(snap2) {
		t.Fatal("snapshot of the second soft-deleted instance is gone early")
	}
	e.Restart() // the deleted instance and its purge survive restarts
	f = testserver.Factory(e, armdataprotection.NewClientFactory)
	vaults, dels = f.NewBackupVaultsClient(), f.NewDeletedBackupInstancesClient()
	ctx = e.Ctx()
	if _, err := dels.Get(ctx, "vault-rg", "v1", "d1-bi2", nil); err != nil {
		t.Fatalf("deleted instance after restart: %v", err)
	}
	clk.Set(start.Add(15 * 24 * time.Hour))
	e.WaitFor("the deleted instance's purge", func() bool {
		e.Server.Jobs.Notify()
		_, err := dels.Get(ctx, "vault-rg", "v1", "d1-bi2", nil)
		return testserver.HasError(err, 404, "")
	})
	if snapExists(snap2) {
		t.Fatalf("snapshot %s survived the purge", snap2)
	}
	if !snapExists(snap1) {
		t.Fatalf("the undeleted instance's snapshot %s was purged", snap1)
	}

	// AlwaysOn cannot be turned Off; the vault can then still be updated.
	up, err := vaults.BeginUpdate(ctx, "vault-rg", "v1", armdataprotection.PatchResourceRequestInput{Properties: &armdataprotection.PatchBackupVaultInput{
		SecuritySettings: &armdataprotection.SecuritySettings{SoftDeleteSettings: &armdataprotection.SoftDeleteSettings{State: to.Ptr(armdataprotection.SoftDeleteStateAlwaysOn), RetentionDurationInDays: to.Ptr[float64](30)}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := up.PollUntilDone(ctx, fixture.Poll); err != nil || *v.Properties.SecuritySettings.SoftDeleteSettings.State != armdataprotection.SoftDeleteStateAlwaysOn {
		t.Fatalf("always on: %v", err)
	}
	if _, err := vaults.BeginUpdate(ctx, "vault-rg", "v1", armdataprotection.PatchResourceRequestInput{Properties: &armdataprotection.PatchBackupVaultInput{
		SecuritySettings: &armdataprotection.SecuritySettings{SoftDeleteSettings: &armdataprotection.SoftDeleteSettings{State: to.Ptr(armdataprotection.SoftDeleteStateOff)}}}}, nil); !testserver.HasError(err, 400, "") || !strings.Contains(err.Error(), "softDeleteSettings.state") {
		t.Fatalf("always on → off: %v", err)
	}
	for _, days := range []float64{7, 365} {
		if _, err := vaults.BeginUpdate(ctx, "vault-rg", "v1", armdataprotection.PatchResourceRequestInput{Properties: &armdataprotection.PatchBackupVaultInput{
			SecuritySettings: &armdataprotection.SecuritySettings{SoftDeleteSettings: &armdataprotection.SoftDeleteSettings{State: to.Ptr(armdataprotection.SoftDeleteStateAlwaysOn), RetentionDurationInDays: to.Ptr(days)}}}}, nil); !testserver.HasError(err, 400, "") || !strings.Contains(err.Error(), "retentionDurationInDays") {
			t.Fatalf("retention %v days: %v", days, err)
		}
	}
	// A PUT leaving security settings out keeps AlwaysOn.
	vp, err := vaults.BeginCreateOrUpdate(ctx, "vault-rg", "v1", armdataprotection.BackupVaultResource{Location: to.Ptr("westus"),
		Identity: &armdataprotection.DppIdentityDetails{Type: to.Ptr("SystemAssigned")}, Properties: &armdataprotection.BackupVault{StorageSettings: storage()}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := vp.PollUntilDone(ctx, fixture.Poll); err != nil || v.Properties.SecuritySettings == nil || *v.Properties.SecuritySettings.SoftDeleteSettings.State != armdataprotection.SoftDeleteStateAlwaysOn ||
		*v.Properties.SecuritySettings.SoftDeleteSettings.RetentionDurationInDays != 30 {
		t.Fatalf("put without security settings: %v %+v", err, v.Properties)
	}
}

// TestSoftDeleteOffDeletesData: with soft delete Off (explicitly), delete
// keeps today's behaviour: no deleted instance, the snapshot is gone.
func TestSoftDeleteOffDeletesData(t *testing.T) {
	const v = "?api-version=2024-04-01"
	e, biPath, _, m := softDeleteDisk(t, v, `{"state":"Disabled"}`)
	// Azure echoes the state as spelled ("Disabled" is Off) and scores the vault.
	if testserver.Field(m, "properties.securitySettings.softDeleteSettings.state") != "Disabled" || testserver.Field(m, "properties.secureScore") != "None" {
		t.Fatalf("patch: %v", m)
	}
	snap := backupOnce(t, e, biPath, v)
	deleteInstance(t, e, biPath, v)
	if _, m := e.Do("GET", v1Path(e)+"/deletedBackupInstances"+v, nil); len(m["value"].([]any)) != 0 {
		t.Fatalf("deleted instances: %v", m)
	}
	if _, err := e.Server.Compute.Snapshot(e.Ctx(), snap); err == nil {
		t.Fatal("the snapshot survived a delete with soft delete off")
	}
	// Bad settings are 400s naming the field.
	for body, field := range map[string]string{
		`{"properties":{"securitySettings":{"softDeleteSettings":{"state":"Sometimes"}}}}`:                           "softDeleteSettings.state",
		`{"properties":{"securitySettings":{"softDeleteSettings":{"state":"On","retentionDurationInDays":200}}}}`:    "retentionDurationInDays",
		`{"properties":{"securitySettings":{"softDeleteSettings":{"state":"On","retentionDurationInDays":"many"}}}}`: "retentionDurationInDays",
		`{"properties":{"securitySettings":{"softDeleteSettings":"yes"}}}`:                                           "softDeleteSettings",
	} {
		if resp, m := e.Do("PATCH", v1Path(e)+v, body); resp.StatusCode != 400 || !strings.Contains(testserver.Field(m, "error.message").(string), field) {
			t.Fatalf("patch %s: %d %v", body, resp.StatusCode, m)
		}
	}
	// Deleting the vault works (no soft-deleted instances).
	if resp, m := e.Do("DELETE", v1Path(e)+v, nil); resp.StatusCode != 200 && resp.StatusCode != 204 {
		t.Fatalf("delete vault: %d %v", resp.StatusCode, m)
	}
}

// TestSoftDeletedPurgedWithVault: a vault with soft-deleted instances
// cannot be deleted while soft delete is On; turned Off, deleting the vault
// (or, in the other case, its resource group) purges them with their
// snapshots.
func TestSoftDeletedPurgedWithVault(t *testing.T) {
	for _, how := range []string{"vault", "resource group"} {
		t.Run(how, func(t *testing.T) {
			const v = "?api-version=2024-04-01"
			e, biPath, _, _ := softDeleteDisk(t, v, `{"state":"On","retentionDurationInDays":30}`)
			ctx, vaultPath := e.Ctx(), v1Path(e)
			snap := backupOnce(t, e, biPath, v)
			deleteInstance(t, e, biPath, v)
			if resp, m := e.Do("GET", vaultPath+"/deletedBackupInstances/d1-bi"+v, nil); resp.StatusCode != 200 || testserver.Field(m, "properties.deletionInfo.scheduledPurgeTime") == nil {
				t.Fatalf("deleted instance: %d %v", resp.StatusCode, m)
			}
			if _, err := e.Server.Compute.Snapshot(ctx, snap); err != nil {
				t.Fatalf("snapshot of the soft-deleted instance: %v", err)
			}
			if resp, m := e.Do("DELETE", vaultPath+v, nil); resp.StatusCode != 400 || !strings.Contains(testserver.Field(m, "error.message").(string), "d1-bi") {
				t.Fatalf("delete vault with a soft-deleted instance: %d %v", resp.StatusCode, m)
			}
			if how == "vault" {
				patchVault(t, e, vaultPath+v, `{"properties":{"securitySettings":{"softDeleteSettings":{"state":"Off"}}}}`)
				if resp, m := e.Do("DELETE", vaultPath+v, nil); resp.StatusCode != 200 && resp.StatusCode != 204 {
					t.Fatalf("delete vault: %d %v", resp.StatusCode, m)
				}
			} else {
				// As the vault's delete, the group's fails while soft delete
				// is on (deleting nothing), and purges with soft delete Off.
				if st, m := e.DeleteGroup("vault-rg"); st != 409 || testserver.ErrorCode(m) != "ResourceGroupDeletionBlocked" || !strings.Contains(testserver.Field(m, "error.message").(string), "UserErrorVaultHasSoftDeletedBackupInstances") {
					t.Fatalf("delete the group of a vault with a soft-deleted instance: %d %v", st, m)
				}
				if _, err := e.Server.Compute.Snapshot(ctx, snap); err != nil {
					t.Fatalf("snapshot of the soft-deleted instance after the refused group delete: %v", err)
				}
				patchVault(t, e, vaultPath+v, `{"properties":{"securitySettings":{"softDeleteSettings":{"state":"Off"}}}}`)
				if st, m := e.DeleteGroup("vault-rg"); st != 200 {
					t.Fatalf("delete the group with soft delete off: %d %v", st, m)
				}
			}
			if _, err := e.Server.Compute.Snapshot(ctx, snap); err == nil {
				t.Fatal("the soft-deleted instance's snapshot survived")
			}
		})
	}
}

// TestSoftDeleteSameNameReprotect: the seed's flow with soft delete On —
// delete, then protect the disk again under the same instance name: the new
// instance starts without the old points, the old ones stay with the
// deleted instance, undelete is refused while the name is taken, and a
// second delete of the name replaces (purges) the older deleted instance.
func TestSoftDeleteSameNameReprotect(t *testing.T) {
	const v = "?api-version=2021-01-01"
	e, biPath, diskID, m := softDeleteDisk(t, v, `{"state":"AlwaysOn"}`)
	if testserver.Field(m, "properties.securitySettings.softDeleteSettings.retentionDurationInDays") != float64(14) {
		t.Fatalf("patch: %v", m)
	}
	ctx, vaultPath := e.Ctx(), v1Path(e)
	backup := func() string { return backupOnce(t, e, biPath, v) }
	del := func() { deleteInstance(t, e, biPath, v) }
	snap1 := backup()
	del()
	putInstance(t, e, "d1-bi", diskID)
	if _, snaps := listPoints(t, e, biPath); len(snaps) != 0 {
		t.Fatalf("the re-protected instance inherited points: %v", snaps)
	}
	if resp, m := e.Do("POST", vaultPath+"/deletedBackupInstances/d1-bi/undelete"+v, nil); resp.StatusCode != 409 {
		t.Fatalf("undelete while the name is taken: %d %v", resp.StatusCode, m)
	}
	snap2 := backup()
	del()
	resp, m := e.Do("GET", vaultPath+"/deletedBackupInstances"+v, nil)
	if vals, _ := m["value"].([]any); resp.StatusCode != 200 || len(vals) != 1 {
		t.Fatalf("deleted instances: %d %v", resp.StatusCode, m)
	}
	if _, err := e.Server.Compute.Snapshot(ctx, snap1); err == nil {
		t.Fatal("the older deleted instance's snapshot survived its replacement")
	}
	if _, err := e.Server.Compute.Snapshot(ctx, snap2); err != nil {
		t.Fatalf("the newer deleted instance's snapshot: %v", err)
	}
	resp, _ = e.Do("POST", vaultPath+"/deletedBackupInstances/d1-bi/undelete"+v, nil)
	if resp.StatusCode != 202 {
		t.Fatalf("undelete: %d", resp.StatusCode)
	}
	if st := e.Poll(resp.Header.Get("Azure-AsyncOperation")); st["status"] != "Succeeded" {
		t.Fatalf("undelete: %v", st)
	}
	if _, snaps := listPoints(t, e, biPath); len(snaps) != 1 || snaps[0] != snap2 {
		t.Fatalf("points after undelete: %v", snaps)
	}
	if resp, m := e.Do("PUT", vaultPath+v, `{"location":"westus","properties":{"storageSettings":[{"datastoreType":"VaultStore","type":"LocallyRedundant"}],"securitySettings":{"softDeleteSettings":{"state":"On"}}}}`); resp.StatusCode != 400 ||
		!strings.Contains(testserver.Field(m, "error.message").(string), "softDeleteSettings.state") {
		t.Fatalf("always on → on: %d %v", resp.StatusCode, m)
	}
}

// TestSDKSoftDeleteOnByDefault: a vault created without security settings
// has soft delete On (Azure's default), so deleting a backup instance keeps
// it, with its recovery point and snapshot, as a deleted backup instance
// that undelete brings back stopped (its policyInfo answers policyVersion).
func TestSDKSoftDeleteOnByDefault(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	biPath, _, _ := protectDisk(t, e, "P1D", "P7D", "P30D")
	f, err := armdataprotection.NewClientFactory(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	bis, dels := f.NewBackupInstancesClient(), f.NewDeletedBackupInstancesClient()
	v, err := f.NewBackupVaultsClient().Get(ctx, "vault-rg", "v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if sd := v.Properties.SecuritySettings.SoftDeleteSettings; *sd.State != armdataprotection.SoftDeleteStateOn || *sd.RetentionDurationInDays != 14 {
		t.Fatalf("soft delete of a vault created without settings: %+v", sd)
	}
	if _, err := fixture.Wait(bis.BeginAdhocBackup(ctx, "vault-rg", "v1", "d1-bi", armdataprotection.TriggerBackupRequest{BackupRuleOptions: &armdataprotection.AdHocBackupRuleOptions{
		RuleName: to.Ptr("BackupHourly"), TriggerOption: &armdataprotection.AdhocBackupTriggerOption{RetentionTagOverride: to.Ptr("Default")}}}, nil)); err != nil {
		t.Fatal(err)
	}
	_, snaps := listPoints(t, e, biPath)
	if _, err := fixture.Wait(bis.BeginDelete(ctx, "vault-rg", "v1", "d1-bi", nil)); err != nil {
		t.Fatal(err)
	}
	d, err := dels.Get(ctx, "vault-rg", "v1", "d1-bi", nil)
	if err != nil || *d.Properties.CurrentProtectionState != armdataprotection.CurrentProtectionStateSoftDeleted || d.Properties.DeletionInfo == nil {
		t.Fatalf("deleted instance: %v %+v", err, d.Properties)
	}
	if len(snaps) != 1 {
		t.Fatalf("snapshots before delete: %v", snaps)
	}
	if _, err := e.Server.Compute.Snapshot(ctx, snaps[0]); err != nil {
		t.Fatalf("the deleted instance's snapshot: %v", err)
	}
	if _, err := fixture.Wait(dels.BeginUndelete(ctx, "vault-rg", "v1", "d1-bi", nil)); err != nil {
		t.Fatal(err)
	}
	bi, err := bis.Get(ctx, "vault-rg", "v1", "d1-bi", nil)
	if err != nil || *bi.Properties.CurrentProtectionState != armdataprotection.CurrentProtectionStateProtectionStopped {
		t.Fatalf("undeleted instance: %v", err)
	}
	// Azure answers policyInfo.policyVersion, "" for a disk policy.
	if pv := bi.Properties.PolicyInfo.PolicyVersion; pv == nil || *pv != "" {
		t.Fatalf("policyVersion: %v", pv)
	}
	if _, got := listPoints(t, e, biPath); len(got) != 1 || got[0] != snaps[0] {
		t.Fatalf("points after undelete: %v", got)
	}
}
