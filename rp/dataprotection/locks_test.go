package dataprotection_test

import (
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armlocks"
	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestLockedVaultKeepsPruning: management locks refuse clients' requests,
// never Safehold's own work. With CanNotDelete locks on the vault and on
// the snapshot resource group, scheduled backups still run and expired
// recovery points are still pruned with their snapshots (as Azure Backup's
// own service operations are not clients of the lock), while a client's
// delete of the vault or of a snapshot is refused (409 ScopeLocked); a
// ReadOnly lock refuses a client's backup-now but not the schedule's runs.
func TestLockedVaultKeepsPruning(t *testing.T) {
	clk := clock.NewFake(time.Date(2021, 1, 1, 7, 0, 0, 0, time.UTC))
	e := testserver.Start(t, testserver.WithClock(clk))
	biPath, biID, _ := protectDisk(t, e, "PT4H", "P1D", "")
	snapRG := "/subscriptions/" + e.Sub + "/resourceGroups/snapshot-rg"
	for _, scope := range []string{v1Path(e), snapRG} {
		if resp, m := e.Do("PUT", scope+"/providers/Microsoft.Authorization/locks/keep?api-version=2016-09-01",
			`{"properties":{"level":"CanNotDelete","notes":"keep the backups"}}`); resp.StatusCode != 201 {
			t.Fatalf("lock %s: %d %v", scope, resp.StatusCode, m)
		}
	}
	day1 := time.Date(2021, 1, 1, 8, 0, 0, 0, time.UTC)
	end := day1.Add(28 * time.Hour) // runs 08:00 ... next day 12:00; those before 12:00 of day one have expired
	for at := day1; !at.After(end); at = at.Add(4 * time.Hour) {
		runUntil(t, e, clk, biID, at)
	}
	waitPruned(t, e, biID, 6)
	if got, _ := listPoints(t, e, biPath); len(got) != 6 || !got[0].Time.Equal(day1.Add(8*time.Hour)) {
		t.Fatalf("under locks: %d points listed %+v; want the 6 unexpired", len(got), got)
	}
	s, err := e.Server.Compute.ListSnapshots(e.Ctx(), snapRG)
	if err != nil || len(s) == 0 {
		t.Fatal(err)
	}
	// ReadOnly on the vault refuses a client's backup-now, not the
	// schedule's backups.
	if resp, m := e.Do("PUT", v1Path(e)+"/providers/Microsoft.Authorization/locks/keep?api-version=2020-05-01", `{"properties":{"level":"ReadOnly"}}`); resp.StatusCode != 200 {
		t.Fatalf("lock update to ReadOnly: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.Do("POST", biPath+"/backup?api-version=2024-04-01", `{"backupRuleOptions":{"ruleName":"BackupHourly","triggerOption":{"retentionTagOverride":"Default"}}}`, testserver.AnyStatus()); resp.StatusCode != 409 || testserver.ErrorCode(m) != "ScopeLocked" {
		t.Fatalf("backup-now under ReadOnly: %d %v", resp.StatusCode, m)
	}
	runUntil(t, e, clk, biID, end.Add(4*time.Hour))
	if got, _ := listPoints(t, e, biPath); len(got) != 6 || !got[5].Time.Equal(end.Add(4*time.Hour)) {
		t.Fatalf("the scheduled backup under ReadOnly: %+v", got)
	}
	for what, path := range map[string]string{"the vault": v1Path(e) + "?api-version=2024-04-01", "a snapshot": s[0].ID + "?api-version=2023-10-02"} {
		if resp, m := e.Do("DELETE", path, nil, testserver.AnyStatus()); resp.StatusCode != 409 || testserver.ErrorCode(m) != "ScopeLocked" {
			t.Fatalf("delete %s under a lock: %d %v", what, resp.StatusCode, m)
		}
	}
}

// A lock on an operational-tier snapshot goes with the snapshot when
// retention deletes it (as a resource's locks go with the resource in
// Azure): it was left on a scope that no longer exists, where it could not
// be deleted (404 on the scope) and refused its group's delete for ever.
func TestPrunedSnapshotTakesItsLock(t *testing.T) {
	clk := clock.NewFake(time.Date(2021, 1, 1, 7, 0, 0, 0, time.UTC))
	e := testserver.Start(t, testserver.WithClock(clk))
	_, biID, _ := protectDisk(t, e, "PT4H", "P1D", "")
	snapRG := "/subscriptions/" + e.Sub + "/resourceGroups/snapshot-rg"
	day1 := time.Date(2021, 1, 1, 8, 0, 0, 0, time.UTC)
	runUntil(t, e, clk, biID, day1)
	s, err := e.Server.Compute.ListSnapshots(e.Ctx(), snapRG)
	if err != nil || len(s) != 1 {
		t.Fatalf("snapshots after the first backup: %d %v", len(s), err)
	}
	lock := s[0].ID + "/providers/Microsoft.Authorization/locks/pinned?api-version=2016-09-01"
	if resp, m := e.Do("PUT", lock, `{"properties":{"level":"CanNotDelete"}}`); resp.StatusCode != 201 {
		t.Fatalf("lock the snapshot: %d %v", resp.StatusCode, m)
	}
	end := day1.Add(28 * time.Hour)
	for at := day1.Add(4 * time.Hour); !at.After(end); at = at.Add(4 * time.Hour) {
		runUntil(t, e, clk, biID, at)
	}
	waitPruned(t, e, biID, 6)
	if resp, m := e.Do("GET", s[0].ID+"?api-version=2023-10-02", nil, testserver.AnyStatus()); resp.StatusCode != 404 {
		t.Fatalf("the locked snapshot after its point expired: %d %v (retention deletes it, locks or not)", resp.StatusCode, m)
	}
	resp, m := e.Do("GET", snapRG+"/providers/Microsoft.Authorization/locks?api-version=2016-09-01", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("list the group's locks: %d %v", resp.StatusCode, m)
	}
	if vals, _ := m["value"].([]any); len(vals) != 0 {
		t.Fatalf("the pruned snapshot's lock outlived it: %v", vals)
	}
}

// TestLocksRefuseWhatBackupAndRestoreCreate: a restore creates a disk in
// its target resource group and a backup a snapshot in the snapshot
// resource group, on the user's behalf: a ReadOnly lock there refuses them
// as it refuses a client's PUT (409 ScopeLocked naming the lock), at the
// request (restore, its validation, backup now, validate for backup), and
// when the work accepted before the lock runs (the operation and its job
// fail with ScopeLocked, nothing is created). CanNotDelete refuses no
// create. Restores into a ReadOnly group were allowed, and so were
// backups' snapshots.
func TestLocksRefuseWhatBackupAndRestoreCreate(t *testing.T) {
	e, dv, f, point := backedUpDisk(t)
	ctx := e.Ctx()
	bis, jobs := f.NewBackupInstancesClient(), f.NewJobsClient()
	locks, err := armlocks.NewManagementLocksClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	lock := func(rg string, level armlocks.LockLevel) {
		t.Helper()
		if _, err := locks.CreateOrUpdateAtResourceGroupLevel(ctx, rg, "keep", armlocks.ManagementLockObject{Properties: &armlocks.ManagementLockProperties{Level: to.Ptr(level)}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	unlock := func(rg string) {
		t.Helper()
		if _, err := locks.DeleteAtResourceGroupLevel(ctx, rg, "keep", nil); err != nil {
			t.Fatal(err)
		}
	}
	diskPath := func(name string) string { return dv.TargetRG + "/providers/Microsoft.Compute/disks/" + name }
	request := func(name string) *armdataprotection.AzureBackupRecoveryPointBasedRestoreRequest {
		return &armdataprotection.AzureBackupRecoveryPointBasedRestoreRequest{ObjectType: to.Ptr("AzureBackupRecoveryPointBasedRestoreRequest"),
			RecoveryPointID: to.Ptr(point), SourceDataStoreType: to.Ptr(armdataprotection.SourceDataStoreTypeOperationalStore), SourceResourceID: to.Ptr(dv.DiskID),
			RestoreTargetInfo: &armdataprotection.RestoreTargetInfo{ObjectType: to.Ptr("RestoreTargetInfo"), RecoveryOption: to.Ptr(armdataprotection.RecoveryOptionFailIfExists),
				RestoreLocation: to.Ptr("westus"), DatasourceInfo: fixture.Datasource(diskPath(name), name)}}
	}
	backupNow := func() (*runtime.Poller[armdataprotection.BackupInstancesClientAdhocBackupResponse], error) {
		return bis.BeginAdhocBackup(ctx, dv.RG, dv.Vault, dv.Instance, armdataprotection.TriggerBackupRequest{BackupRuleOptions: &armdataprotection.AdHocBackupRuleOptions{
			RuleName: to.Ptr("BackupHourly"), TriggerOption: &armdataprotection.AdhocBackupTriggerOption{RetentionTagOverride: to.Ptr("Default")}}}, nil)
	}
	scopeLocked := func(what string, err error, scope string) {
		t.Helper()
		if !testserver.HasError(err, 0, "ScopeLocked") || !strings.Contains(err.Error(), scope) || !strings.Contains(err.Error(), "'keep'") {
			t.Errorf("%s: %v, want ScopeLocked naming %s and the lock", what, err, scope)
		}
	}
	noDisk := func(name string) {
		t.Helper()
		if resp, _ := e.Do("GET", diskPath(name)+"?api-version=2024-03-02", nil, testserver.AnyStatus()); resp.StatusCode != 404 {
			t.Errorf("the disk %s of a refused restore: GET %d, want 404", name, resp.StatusCode)
		}
	}
	// acceptThenLock has work accepted (accept) while the job runner is
	// held, then locks rg ReadOnly and lets the work run.
	acceptThenLock := func(rg string, accept func() error) {
		t.Helper()
		unlock(rg)
		e.Server.Jobs.Stop()
		if err := accept(); err != nil {
			t.Fatal(err)
		}
		lock(rg, armlocks.LockLevelReadOnly)
		if err := e.Server.Jobs.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	failedJob := func(op string) {
		t.Helper()
		for page := range fixture.Pages(t, jobs.NewListPager(dv.RG, dv.Vault, nil)) {
			for _, j := range page.Value {
				if p := j.Properties; *p.Operation == op && *p.Status == "Failed" {
					if len(p.ErrorDetails) == 0 || *p.ErrorDetails[0].Code != "ScopeLocked" || !strings.Contains(*p.ErrorDetails[0].Message, "locked") {
						t.Errorf("the failed %s job's error: %+v", op, p.ErrorDetails)
					}
					return
				}
			}
		}
		t.Errorf("no failed %s job", op)
	}

	// At the request: the restore and its validation.
	lock("target-rg", armlocks.LockLevelReadOnly)
	_, err = bis.BeginValidateForRestore(ctx, dv.RG, dv.Vault, dv.Instance, armdataprotection.ValidateRestoreRequestObject{RestoreRequestObject: request("r1")}, nil)
	scopeLocked("validate a restore into a ReadOnly group", err, dv.TargetRG)
	_, err = bis.BeginTriggerRestore(ctx, dv.RG, dv.Vault, dv.Instance, request("r1"), nil)
	scopeLocked("restore into a ReadOnly group", err, dv.TargetRG)
	noDisk("r1")

	// When the work runs: a restore accepted before the lock.
	var rp *runtime.Poller[armdataprotection.BackupInstancesClientTriggerRestoreResponse]
	acceptThenLock("target-rg", func() (err error) {
		rp, err = bis.BeginTriggerRestore(ctx, dv.RG, dv.Vault, dv.Instance, request("r2"), nil)
		return err
	})
	_, err = fixture.Wait(rp, nil)
	scopeLocked("a restore accepted before the lock", err, dv.TargetRG)
	failedJob("Restore")
	noDisk("r2")

	// CanNotDelete refuses no create.
	lock("target-rg", armlocks.LockLevelCanNotDelete)
	if _, err := fixture.Wait(bis.BeginTriggerRestore(ctx, dv.RG, dv.Vault, dv.Instance, request("r3"), nil)); err != nil {
		t.Fatalf("restore into a CanNotDelete group: %v", err)
	}

	// Backups: their snapshots go to the snapshot resource group.
	snaps := func() int {
		t.Helper()
		s, err := e.Server.Compute.ListSnapshots(ctx, dv.SnapshotRG)
		if err != nil {
			t.Fatal(err)
		}
		return len(s)
	}
	before := snaps()
	lock("snapshot-rg", armlocks.LockLevelReadOnly)
	_, err = backupNow()
	scopeLocked("backup now into a ReadOnly snapshot group", err, dv.SnapshotRG)
	bi, err := bis.Get(ctx, dv.RG, dv.Vault, dv.Instance, nil)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := fixture.Disk(t, e, "disk-rg", "data2", 1)
	bi.Properties.DataSourceInfo = fixture.Datasource(other, "data2")
	_, err = bis.BeginValidateForBackup(ctx, dv.RG, dv.Vault, armdataprotection.ValidateForBackupRequest{BackupInstance: bi.Properties}, nil)
	scopeLocked("validate for backup into a ReadOnly snapshot group", err, dv.SnapshotRG)
	var bp *runtime.Poller[armdataprotection.BackupInstancesClientAdhocBackupResponse]
	acceptThenLock("snapshot-rg", func() (err error) {
		bp, err = backupNow()
		return err
	})
	_, err = fixture.Wait(bp, nil)
	scopeLocked("a backup accepted before the lock", err, dv.SnapshotRG)
	failedJob("Backup")
	if n := snaps(); n != before {
		t.Errorf("snapshots in the ReadOnly group: %d, had %d", n, before)
	}
	unlock("snapshot-rg")
	dv.Backup(t, e)
	if n := snaps(); n != before+1 {
		t.Errorf("snapshots after a backup once unlocked: %d, had %d before", n, before)
	}
}
