package dataprotection_test

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestDiskRestoresOnlyAsADisk: a disk's recovery point restores as a new
// disk (restoreTargetInfo RestoreTargetInfo) only, as Azure's disk backup
// has it (its restore target type is AlternateLocation alone): a restore
// or its validation asking for files (RestoreFilesTargetInfo, the
// TriggerRestoreAsFiles example's shape), items (ItemLevelRestoreTargetInfo),
// a point in time (AzureBackupRecoveryTimeBasedRestoreRequest) or a
// rehydration (AzureBackupRestoreWithRehydrationRequest) is 400
// UserErrorOperationNotSupported saying what the disk takes, through the
// Go SDK at the oldest and newest api-versions, and starts no job. Before,
// they were 400 InvalidRequestContent saying only the value allowed.
func TestDiskRestoresOnlyAsADisk(t *testing.T) {
	e, dv, f0, point := backedUpDisk(t)
	ctx := e.Ctx()
	jobs := func() int {
		n := 0
		for page := range fixture.Pages(t, f0.NewJobsClient().NewListPager(dv.RG, dv.Vault, nil)) {
			n += len(page.Value)
		}
		return n
	}
	before := jobs()
	target := armdataprotection.RecoveryOptionFailIfExists
	files := &armdataprotection.RestoreFilesTargetInfo{ObjectType: to.Ptr("RestoreFilesTargetInfo"), RecoveryOption: &target, RestoreLocation: to.Ptr("westus"),
		TargetDetails: &armdataprotection.TargetDetails{FilePrefix: to.Ptr("restoredblob"), RestoreTargetLocationType: to.Ptr(armdataprotection.RestoreTargetLocationTypeAzureBlobs),
			URL: to.Ptr("https://teststorage.blob.core.windows.net/restoretest")}}
	items := &armdataprotection.ItemLevelRestoreTargetInfo{ObjectType: to.Ptr("ItemLevelRestoreTargetInfo"), RecoveryOption: &target, RestoreLocation: to.Ptr("westus"),
		DatasourceInfo: fixture.Datasource(dv.DiskID, "data1"), RestoreCriteria: []armdataprotection.ItemLevelRestoreCriteriaClassification{&armdataprotection.RangeBasedItemLevelRestoreCriteria{
			ObjectType: to.Ptr("RangeBasedItemLevelRestoreCriteria"), MinMatchingValue: to.Ptr("a"), MaxMatchingValue: to.Ptr("z")}}}
	disk := &armdataprotection.RestoreTargetInfo{ObjectType: to.Ptr("RestoreTargetInfo"), RecoveryOption: &target, RestoreLocation: to.Ptr("westus"),
		DatasourceInfo: fixture.Datasource(strings.Replace(dv.DiskID, "/disk-rg/", "/target-rg/", 1)+"-restored", "data1-restored")}
	op := armdataprotection.SourceDataStoreTypeOperationalStore
	for _, v := range sdkVersions() {
		bis := versionFactory(t, e, v).NewBackupInstancesClient()
		for _, c := range []struct {
			name, want string
			req        armdataprotection.AzureBackupRestoreRequestClassification
		}{
			{"as files", "RestoreFilesTargetInfo", &armdataprotection.AzureBackupRecoveryPointBasedRestoreRequest{ObjectType: to.Ptr("AzureBackupRecoveryPointBasedRestoreRequest"),
				RecoveryPointID: to.Ptr(point), SourceDataStoreType: &op, RestoreTargetInfo: files}},
			{"items", "ItemLevelRestoreTargetInfo", &armdataprotection.AzureBackupRecoveryPointBasedRestoreRequest{ObjectType: to.Ptr("AzureBackupRecoveryPointBasedRestoreRequest"),
				RecoveryPointID: to.Ptr(point), SourceDataStoreType: &op, RestoreTargetInfo: items}},
			{"a point in time", "AzureBackupRecoveryTimeBasedRestoreRequest", &armdataprotection.AzureBackupRecoveryTimeBasedRestoreRequest{ObjectType: to.Ptr("AzureBackupRecoveryTimeBasedRestoreRequest"),
				RecoveryPointTime: to.Ptr("2021-01-01T10:00:00Z"), SourceDataStoreType: &op, RestoreTargetInfo: disk}},
			{"a rehydration", "AzureBackupRestoreWithRehydrationRequest", &armdataprotection.AzureBackupRestoreWithRehydrationRequest{ObjectType: to.Ptr("AzureBackupRestoreWithRehydrationRequest"),
				RecoveryPointID: to.Ptr(point), SourceDataStoreType: &op, RestoreTargetInfo: disk, RehydrationPriority: to.Ptr(armdataprotection.RehydrationPriorityStandard),
				RehydrationRetentionDuration: to.Ptr("P10D")}},
		} {
			check := func(what string, err error) {
				t.Helper()
				if !testserver.HasError(err, 400, "UserErrorOperationNotSupported") || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "RestoreTargetInfo") {
					t.Errorf("%s %s at %s: %v, want 400 UserErrorOperationNotSupported naming %s and what a disk takes", what, c.name, v, err, c.want)
				}
			}
			_, err := bis.BeginTriggerRestore(ctx, dv.RG, dv.Vault, dv.Instance, c.req, nil)
			check("restore", err)
			_, err = bis.BeginValidateForRestore(ctx, dv.RG, dv.Vault, dv.Instance, armdataprotection.ValidateRestoreRequestObject{RestoreRequestObject: c.req}, nil)
			check("validation of a restore", err)
		}
	}
	if n := jobs(); n != before {
		t.Fatalf("%d jobs after the refused restores, %d before", n, before)
	}
}
