package dataprotection_test

import (
	"testing"
	"time"

	"github.com/safehold/safehold/clock"
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
