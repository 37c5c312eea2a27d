package dataprotection_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/google/uuid"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/store"
)

// reAzurePointName: a disk point's name as Azure gives it, a version-4
// GUID's 32 hex digits (13ccde7abc2a4a2380179ca5ada99038).
var reAzurePointName = regexp.MustCompile(`^[0-9a-f]{12}4[0-9a-f]{3}[89ab][0-9a-f]{15}$`)

// TestDiskRecoveryPointsAsAzureNamesThem: a disk's recovery point is named
// as Azure names one (a version-4 GUID without its dashes, also its
// recoveryPointId and friendlyName); a list answers each data store's
// metaData null, and one point's GET describes its snapshot in the
// operational store's metaData as Azure does (a JSON array: diskName,
// sizeBytes, ..., snapshotRGName, snapshotName), naming the snapshot
// that exists. A point stored before (an id without the GUID's version
// bits, as every point had) keeps its name: it is listed, read, validated
// and restored by it, refused by rehydrate as a point that exists, and
// goes with its instance. Before, names had no version bits, metaData was
// the snapshot's id in lists and GETs, and friendlyName the snapshot's
// name.
func TestDiskRecoveryPointsAsAzureNamesThem(t *testing.T) {
	e, dv, f, point := backedUpDisk(t)
	ctx := e.Ctx()
	rps := f.NewRecoveryPointsClient()
	if !reAzurePointName.MatchString(point) {
		t.Fatalf("point name %q: want a version-4 GUID's 32 hex digits, as Azure names a disk's points", point)
	}
	if _, err := uuid.Parse(point); err != nil {
		t.Fatalf("point name %q is no GUID: %v", point, err)
	}
	got, err := rps.Get(ctx, dv.RG, dv.Vault, dv.Instance, point, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := got.Properties.(*armdataprotection.AzureBackupDiscreteRecoveryPoint)
	if *p.RecoveryPointID != point || *p.FriendlyName != point || len(p.RecoveryPointDataStoresDetails) != 1 {
		t.Fatalf("point %s: recoveryPointId %q, friendlyName %q, %d data stores", point, *p.RecoveryPointID, *p.FriendlyName, len(p.RecoveryPointDataStoresDetails))
	}
	d := p.RecoveryPointDataStoresDetails[0]
	if *d.Type != "OperationalStore" || d.MetaData == nil {
		t.Fatalf("point %s: data store %+v, want OperationalStore with metaData", point, d)
	}
	var snaps []map[string]any
	if err := json.Unmarshal([]byte(*d.MetaData), &snaps); err != nil || len(snaps) != 1 {
		t.Fatalf("metaData %q: want a JSON array of one snapshot (%v)", *d.MetaData, err)
	}
	s := snaps[0]
	for _, k := range []string{"diskName", "sizeBytes", "diskSnapshotConsistency", "subscriptionId", "location", "resourceGroupName", "skuName", "osType", "managedBy", "snapshotSubscriptionId", "snapshotRGName", "snapshotName"} {
		if _, ok := s[k]; !ok {
			t.Errorf("metaData %q has no %s", *d.MetaData, k)
		}
	}
	if s["diskName"] != "data1" || s["location"] != "westus" || s["sizeBytes"] != float64(1<<30) || s["snapshotRGName"] != "snapshot-rg" || s["snapshotSubscriptionId"] != e.Sub {
		t.Errorf("metaData %q: want disk data1 (1 GiB) in westus, its snapshot in snapshot-rg", *d.MetaData)
	}
	snapID := dv.SnapshotRG + "/providers/Microsoft.Compute/snapshots/" + s["snapshotName"].(string)
	if resp, m := e.Do("GET", snapID+"?api-version=2024-03-02", nil); resp.StatusCode != 200 {
		t.Errorf("the snapshot metaData names, %s: %d %v", snapID, resp.StatusCode, m)
	}
	// Lists: metaData null, as Azure answers for disks (raw, at the oldest
	// and the newest api-versions, and through the SDK).
	for _, v := range []string{"2021-01-01", "2025-07-01"} {
		resp, m := e.Do("GET", dv.TargetRG[:strings.Index(dv.TargetRG, "/resourceGroups/")]+"/resourceGroups/"+dv.RG+"/providers/Microsoft.DataProtection/backupVaults/"+dv.Vault+"/backupInstances/"+dv.Instance+"/recoveryPoints?api-version="+v, nil)
		vals, _ := m["value"].([]any)
		if resp.StatusCode != 200 || len(vals) != 1 {
			t.Fatalf("list at %s: %d %v", v, resp.StatusCode, m)
		}
		ds := testserver.Field(vals[0].(map[string]any), "properties.recoveryPointDataStoresDetails").([]any)[0].(map[string]any)
		if meta, ok := ds["metaData"]; !ok || meta != nil {
			t.Errorf("list at %s: metaData %v (present %v), want null", v, meta, ok)
		}
	}

	// A point stored before point names took a GUID's shape: a second
	// backup's point moved to the id it would have had then.
	job := dv.Backup(t, e)
	biID := "/subscriptions/" + e.Sub + "/resourceGroups/" + dv.RG + "/providers/Microsoft.DataProtection/backupVaults/" + dv.Vault + "/backupInstances/" + dv.Instance
	legacy := protection.PointID(biID, job)
	if reAzurePointName.MatchString(legacy) {
		t.Skipf("the old-style id %s happens to have a GUID's version bits", legacy)
	}
	if err := e.Server.Store.Update(ctx, func(tx store.Tx) error {
		pts, err := protection.ListRecoveryPoints(ctx, tx, biID)
		if err != nil {
			return err
		}
		for _, p := range pts {
			if p.ID != point {
				if err := protection.DeleteRecoveryPoint(ctx, tx, biID, p.ID); err != nil {
					return err
				}
				p.ID = legacy
				return protection.PutRecoveryPoint(ctx, tx, p)
			}
		}
		t.Fatalf("no second point in %d", len(pts))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for page := range fixture.Pages(t, rps.NewListPager(dv.RG, dv.Vault, dv.Instance, nil)) {
		for _, p := range page.Value {
			names[*p.Name] = true
		}
	}
	if len(names) != 2 || !names[legacy] || !names[point] {
		t.Fatalf("points %v, want %s and %s", names, point, legacy)
	}
	old, err := rps.Get(ctx, dv.RG, dv.Vault, dv.Instance, legacy, nil)
	if err != nil || *old.Name != legacy || *old.Properties.(*armdataprotection.AzureBackupDiscreteRecoveryPoint).RecoveryPointID != legacy {
		t.Fatalf("the old point by its name: %v %+v", err, old)
	}
	bis := f.NewBackupInstancesClient()
	restore := func(name string) *armdataprotection.AzureBackupRecoveryPointBasedRestoreRequest {
		return &armdataprotection.AzureBackupRecoveryPointBasedRestoreRequest{ObjectType: to.Ptr("AzureBackupRecoveryPointBasedRestoreRequest"),
			RecoveryPointID: to.Ptr(legacy), SourceDataStoreType: to.Ptr(armdataprotection.SourceDataStoreTypeOperationalStore), SourceResourceID: to.Ptr(dv.DiskID),
			RestoreTargetInfo: &armdataprotection.RestoreTargetInfo{ObjectType: to.Ptr("RestoreTargetInfo"), RecoveryOption: to.Ptr(armdataprotection.RecoveryOptionFailIfExists),
				RestoreLocation: to.Ptr("westus"), DatasourceInfo: fixture.Datasource(dv.TargetRG+"/providers/Microsoft.Compute/disks/"+name, name)}}
	}
	if _, err := fixture.Wait(bis.BeginValidateForRestore(ctx, dv.RG, dv.Vault, dv.Instance, armdataprotection.ValidateRestoreRequestObject{RestoreRequestObject: restore("old1")}, nil)); err != nil {
		t.Fatalf("validate a restore of the old point: %v", err)
	}
	if _, err := fixture.Wait(bis.BeginTriggerRestore(ctx, dv.RG, dv.Vault, dv.Instance, restore("old1"), nil)); err != nil {
		t.Fatalf("restore the old point: %v", err)
	}
	if resp, m := e.Do("GET", dv.TargetRG+"/providers/Microsoft.Compute/disks/old1?api-version=2024-03-02", nil); resp.StatusCode != 200 {
		t.Fatalf("the disk restored from the old point: %d %v", resp.StatusCode, m)
	}
	_, err = bis.BeginTriggerRehydrate(ctx, dv.RG, dv.Vault, dv.Instance, armdataprotection.AzureBackupRehydrationRequest{RecoveryPointID: to.Ptr(legacy),
		RehydrationRetentionDuration: to.Ptr("P10D"), RehydrationPriority: to.Ptr(armdataprotection.RehydrationPriorityStandard)}, nil)
	if re := testserver.WantError(t, "rehydrate the old point", err, 400, "UserErrorOperationNotSupported"); !strings.Contains(re.Error(), legacy) {
		t.Errorf("the refusal does not name the point: %v", re)
	}

	// Deleted (soft delete is on by default), the instance keeps both
	// points under their names, and has them again once undeleted.
	if _, err := fixture.Wait(bis.BeginDelete(ctx, dv.RG, dv.Vault, dv.Instance, nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := rps.Get(ctx, dv.RG, dv.Vault, dv.Instance, legacy, nil); !testserver.HasError(err, 404, "") {
		t.Fatalf("the old point of a deleted instance: %v", err)
	}
	if _, err := fixture.Wait(f.NewDeletedBackupInstancesClient().BeginUndelete(ctx, dv.RG, dv.Vault, dv.Instance, nil)); err != nil {
		t.Fatalf("undelete: %v", err)
	}
	for _, name := range []string{point, legacy} {
		if _, err := rps.Get(ctx, dv.RG, dv.Vault, dv.Instance, name, nil); err != nil {
			t.Errorf("point %s after the undelete: %v", name, err)
		}
	}
}
