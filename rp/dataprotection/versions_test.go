package dataprotection_test

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestSDKAtTheOldestAndNewestVersions runs a Backup vault's whole disk
// workflow through the unmodified armdataprotection/v3 clients sending the
// oldest published api-version (2021-01-01) and the newest stable and
// preview ones (the client option that sets the api-version, as a caller
// pinning one does): a vault with every settings group of the newest
// versions (soft delete, immutability, cross-region and cross-subscription
// restore, alerts), a policy, validation, a backup instance naming the
// vault identity it runs as (identityDetails) and its snapshot resource
// group (dataStoreParametersList), an ad-hoc backup and its job, the
// recovery points, a restore validated then run, suspend and resume, a
// resource guard linked and unlinked (made at 2021-07-01 for 2021-01-01,
// which has no resource guards and refuses the type),
// validateForModifyBackup (no client in v3: over HTTP), the instance's
// delete into soft delete and its undelete. Every route answers at each
// version (but resource guards at 2021-01-01), and what was sent is
// answered back as sent.
func TestSDKAtTheOldestAndNewestVersions(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	stable, preview := "", ""
	for _, v := range arm.APIVersionsDataProtection {
		if arm.IsPreviewVersion(v) {
			preview = max(preview, v)
		} else {
			stable = max(stable, v)
		}
	}
	for i, v := range []string{"2021-01-01", stable, preview} {
		o := *e.Opts
		o.APIVersion = v
		f, err := armdataprotection.NewClientFactory(e.Sub, e.Cred, &o)
		if err != nil {
			t.Fatal(err)
		}
		rg, diskRG, snapRG, targetRG := fmt.Sprintf("vault-rg%d", i), fmt.Sprintf("disk-rg%d", i), fmt.Sprintf("snap-rg%d", i), fmt.Sprintf("target-rg%d", i)
		e.ResourceGroups(rg, diskRG, snapRG, targetRG)
		snapRGID, targetRGID := "/subscriptions/"+e.Sub+"/resourceGroups/"+snapRG, "/subscriptions/"+e.Sub+"/resourceGroups/"+targetRG
		diskID, _ := fixture.Disk(t, e, diskRG, "data", 1, 0, 4<<20)
		fail := func(what string, err error) {
			t.Helper()
			if err != nil {
				t.Fatalf("%s at %s: %v", what, v, err)
			}
		}

		vaults, pols, bis, jobs, rps := f.NewBackupVaultsClient(), f.NewBackupPoliciesClient(), f.NewBackupInstancesClient(), f.NewJobsClient(), f.NewRecoveryPointsClient()
		vault, err := fixture.Wait(vaults.BeginCreateOrUpdate(ctx, rg, "vault", armdataprotection.BackupVaultResource{
			Location: to.Ptr("westus"), Tags: map[string]*string{"version": to.Ptr(v)}, Identity: &armdataprotection.DppIdentityDetails{Type: to.Ptr("SystemAssigned")},
			Properties: &armdataprotection.BackupVault{
				StorageSettings: []*armdataprotection.StorageSetting{{DatastoreType: to.Ptr(armdataprotection.StorageSettingStoreTypesVaultStore), Type: to.Ptr(armdataprotection.StorageSettingTypesGeoRedundant)}},
				SecuritySettings: &armdataprotection.SecuritySettings{
					SoftDeleteSettings:   &armdataprotection.SoftDeleteSettings{State: to.Ptr(armdataprotection.SoftDeleteStateOn), RetentionDurationInDays: to.Ptr(30.0)},
					ImmutabilitySettings: &armdataprotection.ImmutabilitySettings{State: to.Ptr(armdataprotection.ImmutabilityStateUnlocked)}},
				FeatureSettings: &armdataprotection.FeatureSettings{
					CrossRegionRestoreSettings:       &armdataprotection.CrossRegionRestoreSettings{State: to.Ptr(armdataprotection.CrossRegionRestoreStateEnabled)},
					CrossSubscriptionRestoreSettings: &armdataprotection.CrossSubscriptionRestoreSettings{State: to.Ptr(armdataprotection.CrossSubscriptionRestoreStateDisabled)}},
				MonitoringSettings: &armdataprotection.MonitoringSettings{AzureMonitorAlertSettings: &armdataprotection.AzureMonitorAlertSettings{
					AlertsForAllJobFailures: to.Ptr(armdataprotection.AlertsStateDisabled)}}}}, nil))
		fail("create the vault", err)
		p := vault.Properties
		if got := fmt.Sprintf("%s %s %v %s %s %s %s %s", *vault.Tags["version"], *p.StorageSettings[0].Type, *p.SecuritySettings.SoftDeleteSettings.RetentionDurationInDays,
			*p.SecuritySettings.ImmutabilitySettings.State, *p.FeatureSettings.CrossRegionRestoreSettings.State, *p.FeatureSettings.CrossSubscriptionRestoreSettings.State,
			*p.MonitoringSettings.AzureMonitorAlertSettings.AlertsForAllJobFailures, *p.SecuritySettings.SoftDeleteSettings.State); got != v+" GeoRedundant 30 Unlocked Enabled Disabled Disabled On" {
			t.Fatalf("the vault at %s answers %s", v, got)
		}
		principal := *vault.Identity.PrincipalID
		fixture.Assign(t, e, diskID, fixture.RoleDiskBackupReader, principal)
		fixture.Assign(t, e, snapRGID, fixture.RoleDiskSnapshotContributor, principal)
		fixture.Assign(t, e, targetRGID, fixture.RoleDiskRestoreOperator, principal)

		pol, err := pols.CreateOrUpdate(ctx, rg, "vault", "policy", fixture.DiskPolicyFrom(fixture.ScheduleStart(e), "PT4H", "P7D", "P30D"), nil)
		fail("create the policy", err)
		if bp, ok := pol.Properties.(*armdataprotection.BackupPolicy); !ok || len(bp.PolicyRules) != 3 {
			t.Fatalf("the policy at %s: %#v", v, pol.Properties)
		}
		bi := armdataprotection.BackupInstance{ObjectType: to.Ptr("BackupInstance"), FriendlyName: to.Ptr("data"), DataSourceInfo: fixture.Datasource(diskID, "data"),
			IdentityDetails: &armdataprotection.IdentityDetails{UseSystemAssignedIdentity: to.Ptr(true)},
			PolicyInfo: &armdataprotection.PolicyInfo{PolicyID: pol.ID, PolicyParameters: &armdataprotection.PolicyParameters{
				DataStoreParametersList: []armdataprotection.DataStoreParametersClassification{&armdataprotection.AzureOperationalStoreParameters{
					ObjectType: to.Ptr("AzureOperationalStoreParameters"), DataStoreType: to.Ptr(armdataprotection.DataStoreTypesOperationalStore), ResourceGroupID: to.Ptr(snapRGID)}}}}}
		_, err = fixture.Wait(bis.BeginValidateForBackup(ctx, rg, "vault", armdataprotection.ValidateForBackupRequest{BackupInstance: &bi}, nil))
		fail("validate for backup", err)
		inst, err := fixture.Wait(bis.BeginCreateOrUpdate(ctx, rg, "vault", "data-bi", armdataprotection.BackupInstanceResource{Properties: &bi}, nil))
		fail("protect the disk", err)
		ip := inst.Properties
		params, ok := ip.PolicyInfo.PolicyParameters.DataStoreParametersList[0].(*armdataprotection.AzureOperationalStoreParameters)
		if *ip.CurrentProtectionState != armdataprotection.CurrentProtectionStateProtectionConfigured || ip.IdentityDetails == nil || !*ip.IdentityDetails.UseSystemAssignedIdentity ||
			!ok || !strings.EqualFold(*params.ResourceGroupID, snapRGID) || *ip.DataSourceInfo.ResourceID != diskID {
			t.Fatalf("the instance at %s: %+v", v, ip)
		}

		br, err := fixture.Wait(bis.BeginAdhocBackup(ctx, rg, "vault", "data-bi", armdataprotection.TriggerBackupRequest{BackupRuleOptions: &armdataprotection.AdHocBackupRuleOptions{
			RuleName: to.Ptr("BackupHourly"), TriggerOption: &armdataprotection.AdhocBackupTriggerOption{RetentionTagOverride: to.Ptr("Default")}}}, nil))
		fail("back up", err)
		job, err := jobs.Get(ctx, rg, "vault", path.Base(*br.JobID), nil)
		fail("the backup job", err)
		if *job.Properties.Status != "Completed" || *job.Properties.Operation != "Backup" {
			t.Fatalf("the backup job at %s: %+v", v, job.Properties)
		}
		var point string
		for page := range fixture.Pages(t, rps.NewListPager(rg, "vault", "data-bi", nil)) {
			for _, rp := range page.Value {
				point = *rp.Name
			}
		}
		if _, err := rps.Get(ctx, rg, "vault", "data-bi", point, nil); err != nil {
			t.Fatalf("the recovery point %q at %s: %v", point, v, err)
		}
		targetID := targetRGID + "/providers/Microsoft.Compute/disks/restored"
		req := &armdataprotection.AzureBackupRecoveryPointBasedRestoreRequest{ObjectType: to.Ptr("AzureBackupRecoveryPointBasedRestoreRequest"),
			RecoveryPointID: to.Ptr(point), SourceDataStoreType: to.Ptr(armdataprotection.SourceDataStoreTypeOperationalStore), SourceResourceID: to.Ptr(diskID),
			IdentityDetails: &armdataprotection.IdentityDetails{UseSystemAssignedIdentity: to.Ptr(true)},
			RestoreTargetInfo: &armdataprotection.RestoreTargetInfo{ObjectType: to.Ptr("RestoreTargetInfo"), RecoveryOption: to.Ptr(armdataprotection.RecoveryOptionFailIfExists),
				RestoreLocation: to.Ptr("westus"), DatasourceInfo: fixture.Datasource(targetID, "restored")}}
		_, err = fixture.Wait(bis.BeginValidateForRestore(ctx, rg, "vault", "data-bi", armdataprotection.ValidateRestoreRequestObject{RestoreRequestObject: req}, nil))
		fail("validate the restore", err)
		rr, err := fixture.Wait(bis.BeginTriggerRestore(ctx, rg, "vault", "data-bi", req, nil))
		fail("restore", err)
		if rj, err := jobs.Get(ctx, rg, "vault", path.Base(*rr.JobID), nil); err != nil || *rj.Properties.Status != "Completed" || *rj.Properties.ExtendedInfo.RecoveryDestination != targetID {
			t.Fatalf("the restore job at %s: %v %+v", v, err, rj.Properties)
		}

		for _, step := range []func() error{
			func() error { return waitErr(bis.BeginSuspendBackups(ctx, rg, "vault", "data-bi", nil)) },
			func() error { return waitErr(bis.BeginResumeBackups(ctx, rg, "vault", "data-bi", nil)) },
			func() error {
				return waitErr(bis.BeginSyncBackupInstance(ctx, rg, "vault", "data-bi", armdataprotection.SyncBackupInstanceRequest{}, nil))
			},
		} {
			fail("suspend, resume and sync", step())
		}
		B := "/subscriptions/" + e.Sub + "/resourceGroups/" + rg + "/providers/Microsoft.DataProtection/backupVaults/vault/backupInstances/data-bi"
		resp, m := e.Do("POST", B+"/validateForModifyBackup?api-version="+v, map[string]any{"backupInstance": bi})
		if resp.StatusCode != 202 {
			t.Fatalf("validateForModifyBackup at %s: %d %v", v, resp.StatusCode, m)
		}
		if st := e.Poll(resp.Header.Get("Azure-AsyncOperation")); st["status"] != "Succeeded" {
			t.Fatalf("validateForModifyBackup at %s: %v", v, st)
		}

		// 2021-01-01 has no resource guards: ARM refuses the type there
		// (NoRegisteredProviderFound), so the guard is made at the
		// first stable version that has them and linked at v.
		guards := f.NewResourceGuardsClient()
		if _, gvs, _ := arm.TypeVersions("Microsoft.DataProtection", "resourceGuards"); !slices.Contains(gvs, v) {
			_, err := guards.Put(ctx, rg, "guard", armdataprotection.ResourceGuardResource{Location: to.Ptr("westus")}, nil)
			var re *azcore.ResponseError
			if !errors.As(err, &re) || re.StatusCode != 400 || re.ErrorCode != "NoRegisteredProviderFound" {
				t.Fatalf("a guard at %s, which has none: %v", v, err)
			}
			o := *e.Opts
			o.APIVersion = "2021-07-01"
			gf, err := armdataprotection.NewClientFactory(e.Sub, e.Cred, &o)
			if err != nil {
				t.Fatal(err)
			}
			guards = gf.NewResourceGuardsClient()
		}
		guard, err := guards.Put(ctx, rg, "guard", armdataprotection.ResourceGuardResource{Location: to.Ptr("westus")}, nil)
		fail("create a guard", err)
		proxies := f.NewDppResourceGuardProxyClient()
		px, err := proxies.CreateOrUpdate(ctx, rg, "vault", "VaultProxy", armdataprotection.ResourceGuardProxyBaseResource{
			Properties: &armdataprotection.ResourceGuardProxyBase{ResourceGuardResourceID: guard.ID}}, nil)
		fail("link the guard", err)
		if got, err := vaults.Get(ctx, rg, "vault", nil); err != nil || !*got.Properties.IsVaultProtectedByResourceGuard {
			t.Fatalf("the linked vault at %s: %v %+v", v, err, got.Properties)
		}
		_, err = proxies.UnlockDelete(ctx, rg, "vault", "VaultProxy", armdataprotection.UnlockDeleteRequest{ResourceToBeDeleted: px.ID,
			ResourceGuardOperationRequests: []*string{to.Ptr(*guard.ID + "/deleteResourceGuardProxyRequests/default")}}, nil)
		fail("unlock the proxy's delete", err)
		_, err = proxies.Delete(ctx, rg, "vault", "VaultProxy", nil)
		fail("unlink the guard", err)

		_, err = fixture.Wait(bis.BeginDelete(ctx, rg, "vault", "data-bi", nil))
		fail("delete the instance", err)
		deleted := f.NewDeletedBackupInstancesClient()
		if d, err := deleted.Get(ctx, rg, "vault", "data-bi", nil); err != nil || d.Properties.DeletionInfo == nil {
			t.Fatalf("the soft-deleted instance at %s: %v %+v", v, err, d)
		}
		_, err = fixture.Wait(deleted.BeginUndelete(ctx, rg, "vault", "data-bi", nil))
		fail("undelete the instance", err)
		if got, err := bis.Get(ctx, rg, "vault", "data-bi", nil); err != nil || *got.Properties.DataSourceInfo.ResourceID != diskID {
			t.Fatalf("the undeleted instance at %s: %v", v, err)
		}
	}
}
