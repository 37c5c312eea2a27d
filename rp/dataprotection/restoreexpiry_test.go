package dataprotection_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/fault"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestRestoreKeepsItsPointPastItsExpiry: a restore accepted while its
// recovery point was there keeps the point (and its snapshot) until it
// ends, though the point's retention expires meanwhile: the retention
// sweep that deletes the instance's other expired point leaves it, the
// restore completes, and the next sweep after the restore deletes it.
// (An expired point leaves the lists at once: its snapshot shows whether
// the sweep deleted it.)
// Before, the sweep deleted the point under the running restore, which
// ended Failed with UserErrorRecoveryPointNotFound (hostile31: a restore
// held by a fault rule while the clock ran past the point's expiry).
func TestRestoreKeepsItsPointPastItsExpiry(t *testing.T) {
	const v = "?api-version=2024-04-01"
	t0 := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	e := testserver.Start(t, testserver.WithClock(clk))
	dv := fixture.ProtectDisk(t, e) // P7D retention
	setClock := clk.Set
	dv.Backup(t, e)
	setClock(t0.Add(time.Hour))
	dv.Backup(t, e)
	vp := "/subscriptions/" + e.Sub + "/resourceGroups/" + dv.RG + "/providers/Microsoft.DataProtection/backupVaults/" + dv.Vault
	biPath := vp + "/backupInstances/" + dv.Instance
	points := func() map[string]time.Time {
		_, m := e.Do("GET", biPath+"/recoveryPoints"+v, nil)
		out := map[string]time.Time{}
		vs, _ := m["value"].([]any)
		for _, x := range vs {
			p, _ := x.(map[string]any)
			ts, _ := testserver.Field(p, "properties.recoveryPointTime").(string)
			name, _ := testserver.Field(p, "name").(string)
			at, _ := time.Parse(time.RFC3339Nano, ts)
			out[name] = at
		}
		return out
	}
	var older, newer string
	for name, at := range points() {
		switch {
		case at.Equal(t0):
			older = name
		case at.Equal(t0.Add(time.Hour)):
			newer = name
		}
	}
	if older == "" || newer == "" {
		t.Fatalf("points %v: want one at %s and one at %s", points(), t0, t0.Add(time.Hour))
	}
	// A point's snapshot, named in its operational store's metaData.
	snapshotOf := func(point string) string {
		_, m := e.Do("GET", biPath+"/recoveryPoints/"+point+v, nil)
		ds, _ := testserver.Field(m, "properties.recoveryPointDataStoresDetails").([]any)
		meta := ""
		if len(ds) == 1 {
			meta, _ = testserver.Field(ds[0].(map[string]any), "metaData").(string)
		}
		var disks []struct {
			SnapshotName string `json:"snapshotName"`
		}
		if err := json.Unmarshal([]byte(meta), &disks); err != nil || len(disks) != 1 || disks[0].SnapshotName == "" {
			t.Fatalf("point %s: metaData %q: %v", point, meta, err)
		}
		return disks[0].SnapshotName
	}
	snapshotExists := func(name string) bool {
		resp, _ := e.Do("GET", dv.SnapshotRG+"/providers/Microsoft.Compute/snapshots/"+name+"?api-version=2024-03-02", nil)
		return resp.StatusCode == 200
	}
	olderSnap, newerSnap := snapshotOf(older), snapshotOf(newer)
	if _, err := e.Server.Faults.Add(fault.Rule{Name: "hold", Operation: fault.OpRestore, Latency: "10m"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	target := dv.TargetRG + "/providers/Microsoft.Compute/disks/restored"
	resp, m := e.Do("POST", biPath+"/restore"+v, `{"objectType":"AzureBackupRecoveryPointBasedRestoreRequest","recoveryPointId":"`+newer+`",
		"sourceDataStoreType":"OperationalStore","restoreTargetInfo":{"objectType":"RestoreTargetInfo","recoveryOption":"FailIfExists","restoreLocation":"westus",
		"datasourceInfo":{"objectType":"Datasource","datasourceType":"Microsoft.Compute/disks","resourceID":"`+target+`","resourceLocation":"westus"}}}`)
	if resp.StatusCode != 202 {
		t.Fatalf("restore: %d %v", resp.StatusCode, m)
	}
	op := resp.Header.Get("Azure-AsyncOperation")
	e.WaitFaultRuleHit("the restore held", "hold")
	// Both points expire (P7D); the sweep deletes the older one, and its
	// snapshot, at once.
	setClock(t0.Add(7*24*time.Hour + 2*time.Hour))
	e.WaitFor("the older point's snapshot deleted by retention", func() bool { return !snapshotExists(olderSnap) })
	if !snapshotExists(newerSnap) {
		t.Fatalf("the retention sweep deleted the snapshot %s of recovery point %s while a restore from it ran", newerSnap, newer)
	}
	e.Server.Faults.Delete("hold")
	if st := e.Poll(op); st["status"] != "Succeeded" {
		t.Fatalf("the restore's operation: %v, want Succeeded", st)
	}
	if resp, _ := e.Do("GET", target+"?api-version=2024-03-02", nil); resp.StatusCode != 200 {
		t.Fatalf("the restored disk: %d", resp.StatusCode)
	}
	// Once the restore ended, the point goes at the next sweep.
	clk.Advance(5 * time.Minute)
	e.WaitFor("the restored point's snapshot deleted by retention", func() bool { return !snapshotExists(newerSnap) })
}
