package compute_test

import (
	"fmt"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
)

// TestSnapshotKeepsInstantAccessDuration: a snapshot's
// creationData.instantAccessDurationMinutes (DiskRP 2025-01-02, what
// armcompute v7 sends: Azure's Snapshot_Create_InstantAccessSnapshot
// example) is kept and answered as sent, on the create's result and on a
// read, as the other creationData settings are: it was dropped, so the
// example's result lacked it (found replaying armcompute v7.3.0's
// examples). Safehold's snapshots are readable at once, the duration
// changes nothing else.
func TestSnapshotKeepsInstantAccessDuration(t *testing.T) {
	e, _ := start(t)
	e.putDisk("ia-d", e.emptyDisk("ia-d", 1))
	const v = "?api-version=2025-01-02"
	resp, m := e.Do("PUT", e.snapID("ia-s")+v, `{"location":"westus","properties":{"incremental":true,"creationData":{"createOption":"Copy","sourceResourceId":"`+e.diskID("ia-d")+`","instantAccessDurationMinutes":120}}}`,
		testserver.AnyStatus())
	if resp.StatusCode != 200 && resp.StatusCode != 201 && resp.StatusCode != 202 {
		t.Fatalf("create: %d %v", resp.StatusCode, m)
	}
	if op := resp.Header.Get("Azure-AsyncOperation"); op != "" {
		if st := e.Poll(op); st["status"] != "Succeeded" {
			t.Fatalf("create: %v", st)
		}
	}
	_, got := e.Do("GET", e.snapID("ia-s")+v, nil)
	if d := fmt.Sprint(testserver.Field(got, "properties.creationData.instantAccessDurationMinutes")); d != "120" {
		t.Fatalf("instantAccessDurationMinutes as read: %s in %v", d, got["properties"])
	}
	if src := fmt.Sprint(testserver.Field(got, "properties.creationData.sourceResourceId")); src != e.diskID("ia-d") {
		t.Fatalf("the snapshot's source: %s", src)
	}
}
