package dataprotection_test

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestTimeRangesAndRehydrationOfADisk: findRestorableTimeRanges and
// rehydrate exist (they answered 404 InvalidResourceType) and answer a disk
// instance as what they are for does not apply to it: its points are
// discrete snapshots in the operational store, with no continuous ranges
// and no archive tier (400 UserErrorOperationNotSupported naming what to
// use instead), after checking the instance, the body and the point as
// Azure does.
func TestTimeRangesAndRehydrationOfADisk(t *testing.T) {
	e, dv, f, point := backedUpDisk(t)
	ctx := e.Ctx()
	ranges := f.NewRestorableTimeRangesClient()
	find := armdataprotection.AzureBackupFindRestorableTimeRangesRequest{SourceDataStoreType: to.Ptr(armdataprotection.RestoreSourceDataStoreTypeOperationalStore),
		StartTime: to.Ptr("2020-10-17T23:28:17.6829685Z"), EndTime: to.Ptr("2031-02-24T00:35:17Z")}
	_, err := ranges.Find(ctx, dv.RG, dv.Vault, dv.Instance, find, nil)
	re := testserver.WantError(t, "time ranges of a disk", err, 400, "UserErrorOperationNotSupported")
	if !strings.Contains(re.Error(), "/recoveryPoints") {
		t.Fatalf("the refusal does not name the recovery point list: %v", re)
	}
	_, err = ranges.Find(ctx, dv.RG, dv.Vault, "nosuch", find, nil)
	testserver.WantError(t, "time ranges of a missing instance", err, 404, "ResourceNotFound")

	B := "/subscriptions/" + e.Sub + "/resourceGroups/" + dv.RG + "/providers/Microsoft.DataProtection/backupVaults/" + dv.Vault + "/backupInstances/" + dv.Instance
	for _, c := range []struct{ path, body, target string }{
		{"/findRestorableTimeRanges", `{}`, "sourceDataStoreType"},
		{"/findRestorableTimeRanges", `{"sourceDataStoreType":"Tape"}`, "sourceDataStoreType"},
		{"/findRestorableTimeRanges", `{"sourceDataStoreType":"OperationalStore","startTime":"yesterday"}`, "startTime"},
		{"/findRestorableTimeRanges", `{"sourceDataStoreType":"OperationalStore","startTime":"2021-02-24T00:00:00Z","endTime":"2021-02-23T00:00:00Z"}`, "endTime"},
		{"/rehydrate", `{"rehydrationRetentionDuration":"P10D"}`, "recoveryPointId"},
		{"/rehydrate", `{"recoveryPointId":"` + point + `"}`, "rehydrationRetentionDuration"},
		{"/rehydrate", `{"recoveryPointId":"` + point + `","rehydrationRetentionDuration":"ten days"}`, "rehydrationRetentionDuration"},
		{"/rehydrate", `{"recoveryPointId":"` + point + `","rehydrationRetentionDuration":"P10D","rehydrationPriority":"Urgent"}`, "rehydrationPriority"},
		{"/rehydrate", `{"recoveryPointId":"0123456789abcdef0123456789abcdef","rehydrationRetentionDuration":"P10D"}`, "recoveryPointId"},
	} {
		resp, m := e.Do("POST", B+c.path+"?api-version=2025-07-01", c.body)
		if resp.StatusCode != 400 || testserver.Field(m, "error.target") != c.target {
			t.Errorf("POST %s %s: %d %v, want 400 at %s", c.path, c.body, resp.StatusCode, m, c.target)
		}
	}

	_, err = f.NewBackupInstancesClient().BeginTriggerRehydrate(ctx, dv.RG, dv.Vault, dv.Instance, armdataprotection.AzureBackupRehydrationRequest{
		RecoveryPointID: to.Ptr(point), RehydrationRetentionDuration: to.Ptr("P10D"), RehydrationPriority: to.Ptr(armdataprotection.RehydrationPriorityHigh)}, nil)
	re = testserver.WantError(t, "rehydrate a disk point", err, 400, "UserErrorOperationNotSupported")
	if !strings.Contains(re.Error(), "archive tier") || !strings.Contains(re.Error(), point) {
		t.Fatalf("the refusal does not say the point is not archived: %v", re)
	}
}

// TestCrossRegionRestoreOfADisk: the cross-region operations (at the
// paired region's location, in a resource group of the caller's) exist
// (they answered 404 InvalidResourceType). They need the caller's access
// to the source they name (403 LinkedAuthorizationFailed) and the source
// vault's cross-region restore Enabled (400
// UserErrorCrossRegionRestoreNotEnabled), and are sent to the vault
// region's pair; then a disk instance has no point in the paired region
// (its snapshots are not replicated, and Azure does not support
// cross-region restore of disks): its secondary points, the vault's
// cross-region jobs and one of them, a cross-region restore and its
// validation are each 400 UserErrorOperationNotSupported saying why and
// where to list or restore instead, as Recovery Services vaults answer
// their Cross Region Restore requests (the lists answered empty, the job
// 404, as though replication were pending).
func TestCrossRegionRestoreOfADisk(t *testing.T) {
	e, dv, f, point := backedUpDisk(t)
	ctx := e.Ctx()
	e.ResourceGroups("crr-rg")
	vaultID := "/subscriptions/" + e.Sub + "/resourceGroups/" + dv.RG + "/providers/Microsoft.DataProtection/backupVaults/" + dv.Vault
	biID := vaultID + "/backupInstances/" + dv.Instance
	const paired = "eastus" // westus's pair
	secondary := func(f *armdataprotection.ClientFactory, loc, region string) (int, error) {
		n := 0
		pg := f.NewFetchSecondaryRecoveryPointsClient().NewListPager("crr-rg", loc, armdataprotection.FetchSecondaryRPsRequestParameters{
			SourceBackupInstanceID: to.Ptr(biID), SourceRegion: to.Ptr(region)}, nil)
		for pg.More() {
			page, err := pg.NextPage(ctx)
			if err != nil {
				return n, err
			}
			n += len(page.Value)
		}
		return n, nil
	}
	jobs := func(f *armdataprotection.ClientFactory) (int, error) {
		n := 0
		pg := f.NewFetchCrossRegionRestoreJobsClient().NewListPager("crr-rg", paired, armdataprotection.CrossRegionRestoreJobsRequest{
			SourceBackupVaultID: to.Ptr(vaultID), SourceRegion: to.Ptr("West US")}, nil)
		for pg.More() {
			page, err := pg.NextPage(ctx)
			if err != nil {
				return n, err
			}
			n += len(page.Value)
		}
		return n, nil
	}
	restore := armdataprotection.CrossRegionRestoreRequestObject{
		RestoreRequestObject: &armdataprotection.AzureBackupRecoveryPointBasedRestoreRequest{ObjectType: to.Ptr("AzureBackupRecoveryPointBasedRestoreRequest"),
			RecoveryPointID: to.Ptr(point), SourceDataStoreType: to.Ptr(armdataprotection.SourceDataStoreTypeOperationalStore),
			RestoreTargetInfo: &armdataprotection.RestoreTargetInfo{ObjectType: to.Ptr("RestoreTargetInfo"), RecoveryOption: to.Ptr(armdataprotection.RecoveryOptionFailIfExists),
				RestoreLocation: to.Ptr(paired), DatasourceInfo: fixture.Datasource("/subscriptions/"+e.Sub+"/resourceGroups/crr-rg/providers/Microsoft.Compute/disks/crr-disk", "crr-disk")}},
		CrossRegionRestoreDetails: &armdataprotection.CrossRegionRestoreDetails{SourceBackupInstanceID: to.Ptr(biID), SourceRegion: to.Ptr("westus")}}
	validate := armdataprotection.ValidateCrossRegionRestoreRequestObject{RestoreRequestObject: restore.RestoreRequestObject, CrossRegionRestoreDetails: restore.CrossRegionRestoreDetails}
	bis := f.NewBackupInstancesClient()
	everyOperation := func(f *armdataprotection.ClientFactory, status int, code string) {
		t.Helper()
		_, err := secondary(f, paired, "westus")
		testserver.WantError(t, "secondary points", err, status, code)
		_, err = jobs(f)
		testserver.WantError(t, "cross-region jobs", err, status, code)
		_, err = f.NewFetchCrossRegionRestoreJobClient().Get(ctx, "crr-rg", paired, armdataprotection.CrossRegionRestoreJobRequest{
			JobID: to.Ptr("8989416e-7573-4836-8cf1-0e90954f1002"), SourceBackupVaultID: to.Ptr(vaultID), SourceRegion: to.Ptr("westus")}, nil)
		testserver.WantError(t, "a cross-region job", err, status, code)
		_, err = f.NewBackupInstancesClient().BeginTriggerCrossRegionRestore(ctx, "crr-rg", paired, restore, nil)
		testserver.WantError(t, "cross-region restore", err, status, code)
		_, err = f.NewBackupInstancesClient().BeginValidateCrossRegionRestore(ctx, "crr-rg", paired, validate, nil)
		testserver.WantError(t, "cross-region restore validation", err, status, code)
	}

	// A caller with a role on the target group alone may not read the
	// source vault's points or jobs, nor restore them.
	objectID, cred := fixture.Principal(t, e, "crr-operator")
	fixture.Assign(t, e, "/subscriptions/"+e.Sub+"/resourceGroups/crr-rg", roleContributor, objectID)
	other, err := armdataprotection.NewClientFactory(e.Sub, cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	e.WaitFor("the operator's role on crr-rg", func() bool {
		_, err := secondary(other, paired, "westus")
		return testserver.HasError(err, 403, "LinkedAuthorizationFailed")
	})
	everyOperation(other, 403, "LinkedAuthorizationFailed")

	// The vault's cross-region restore is Disabled (Azure's default).
	everyOperation(f, 400, "UserErrorCrossRegionRestoreNotEnabled")

	// Enabled, the paired region still holds none of a disk's backups:
	// every request is 400 naming the instance or vault and saying where
	// to list and restore instead (the secondary points and jobs lists
	// answered empty, a job 404, as though replication were pending).
	patchVault(t, e, vaultID+"?api-version=2024-04-01", `{"properties":{"featureSettings":{"crossRegionRestoreSettings":{"state":"Enabled"}}}}`)
	notSupported := func(what string, err error, names, instead string) {
		t.Helper()
		re := testserver.WantError(t, what, err, 400, "UserErrorOperationNotSupported")
		if !strings.Contains(re.Error(), names) || !strings.Contains(re.Error(), instead) || !strings.Contains(re.Error(), "not replicated to the paired region") {
			t.Errorf("%s: %v, want the refusal to name %s, say why and point at %s", what, re, names, instead)
		}
	}
	_, err = secondary(f, paired, "westus")
	notSupported("secondary points of a disk", err, dv.Instance, "/recoveryPoints")
	_, err = jobs(f)
	notSupported("cross-region restore jobs", err, dv.Vault, "/backupJobs")
	_, err = f.NewFetchCrossRegionRestoreJobClient().Get(ctx, "crr-rg", paired, armdataprotection.CrossRegionRestoreJobRequest{
		JobID: to.Ptr("8989416e-7573-4836-8cf1-0e90954f1002"), SourceBackupVaultID: to.Ptr(vaultID), SourceRegion: to.Ptr("westus")}, nil)
	notSupported("a cross-region job", err, dv.Vault, "/backupJobs")
	_, err = bis.BeginTriggerCrossRegionRestore(ctx, "crr-rg", paired, restore, nil)
	notSupported("cross-region restore of a disk", err, dv.Instance, "/restore")
	_, err = bis.BeginValidateCrossRegionRestore(ctx, "crr-rg", paired, validate, nil)
	notSupported("cross-region restore validation of a disk", err, dv.Instance, "/restore")

	// Sent to another region than the pair, or naming another source region.
	_, err = secondary(f, "westeurope", "westus")
	testserver.WantError(t, "secondary points outside the pair", err, 400, "UserErrorInvalidCrossRegionRestoreLocation")
	_, err = secondary(f, paired, "eastus2")
	testserver.WantError(t, "another source region", err, 400, "InvalidRequestContent")
	_, err = secondary(f, "nowhere", "westus")
	testserver.WantError(t, "an unknown region", err, 400, "LocationNotAvailableForResourceType")

	L := "/subscriptions/" + e.Sub + "/resourceGroups/crr-rg/providers/Microsoft.DataProtection/locations/" + paired
	for _, c := range []struct{ path, body, target string }{
		{"/fetchSecondaryRecoveryPoints", `{"sourceRegion":"westus"}`, "sourceBackupInstanceId"},
		{"/fetchSecondaryRecoveryPoints", `{"sourceBackupInstanceId":"` + vaultID + `","sourceRegion":"westus"}`, "sourceBackupInstanceId"},
		{"/fetchSecondaryRecoveryPoints", `{"sourceBackupInstanceId":"` + biID + `"}`, "sourceRegion"},
		{"/fetchCrossRegionRestoreJobs", `{"sourceBackupVaultId":"` + biID + `","sourceRegion":"westus"}`, "sourceBackupVaultId"},
		{"/fetchCrossRegionRestoreJob", `{"sourceBackupVaultId":"` + vaultID + `","sourceRegion":"westus"}`, "jobId"},
		{"/crossRegionRestore", `{"crossRegionRestoreDetails":{"sourceBackupInstanceId":"` + biID + `","sourceRegion":"westus"}}`, "restoreRequestObject"},
		{"/validateCrossRegionRestore", `{"restoreRequestObject":{}}`, "crossRegionRestoreDetails"},
		{"/crossRegionRestore", `{"restoreRequestObject":{},"crossRegionRestoreDetails":{"sourceRegion":"westus"}}`, "crossRegionRestoreDetails.sourceBackupInstanceId"},
	} {
		resp, m := e.Do("POST", L+c.path+"?api-version=2025-07-01", c.body)
		if resp.StatusCode != 400 || testserver.Field(m, "error.target") != c.target {
			t.Errorf("POST %s %s: %d %v, want 400 at %s", c.path, c.body, resp.StatusCode, m, c.target)
		}
	}
	resp, m := e.Do("POST", L+"/fetchSecondaryRecoveryPoints?api-version=2025-07-01", `{"sourceBackupInstanceId":"`+vaultID+`/backupInstances/nosuch","sourceRegion":"westus"}`)
	if resp.StatusCode != 404 {
		t.Fatalf("secondary points of a missing instance: %d %v", resp.StatusCode, m)
	}
}
