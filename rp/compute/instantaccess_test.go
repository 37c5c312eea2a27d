package compute_test

import (
	"fmt"
	"strings"
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

// TestInstantAccessDurationMustBeMinutes: a snapshot's
// creationData.instantAccessDurationMinutes that is not a whole number of
// minutes (a string, a fraction, an object) is 400
// naming the field, and nothing is created: it was kept as sent and
// answered back, so every Go SDK read of the snapshot (its get, and the
// list of its resource group or subscription, whose page holds it) failed
// to decode an int64 from it.
func TestInstantAccessDurationMustBeMinutes(t *testing.T) {
	e, _ := start(t)
	e.putDisk("ib-d", e.emptyDisk("ib-d", 1))
	const v = "?api-version=2025-01-02"
	for i, bad := range []string{`"soon"`, `1.5`, `{"minutes":5}`} {
		name := fmt.Sprintf("ib-s%d", i)
		resp, m := e.Do("PUT", e.snapID(name)+v, `{"location":"westus","properties":{"incremental":true,"creationData":{"createOption":"Copy","sourceResourceId":"`+e.diskID("ib-d")+`","instantAccessDurationMinutes":`+bad+`}}}`,
			testserver.AnyStatus())
		if resp.StatusCode != 400 || testserver.Field(m, "error.code") != "InvalidParameter" || !strings.Contains(fmt.Sprint(testserver.Field(m, "error.target")), "creationData.instantAccessDurationMinutes") {
			t.Fatalf("instantAccessDurationMinutes %s: %d %v, want 400 InvalidParameter at the field", bad, resp.StatusCode, m)
		}
		if resp, _ := e.Do("GET", e.snapID(name)+v, nil, testserver.AnyStatus()); resp.StatusCode != 404 {
			t.Fatalf("instantAccessDurationMinutes %s: refused, yet the snapshot reads %d", bad, resp.StatusCode)
		}
	}
}

// TestSettingsTypeErrorsNameJSONPaths: a disk's or snapshot's property of
// the wrong JSON type is 400 InvalidParameter whose target and message
// name it by its JSON path in the request (properties.creationData.x) and
// say what JSON value it takes, on a create and on a PATCH. They named the
// Go fields and types behind it (BlockProperties.CreationData..., "give a
// int64", "compute.Encryption"), which mean nothing to a caller.
func TestSettingsTypeErrorsNameJSONPaths(t *testing.T) {
	e, _ := start(t)
	e.putDisk("tj-d", e.emptyDisk("tj-d", 1))
	const v = "?api-version=2025-01-02"
	for _, c := range []struct {
		method, path, body, target, want string
	}{
		{"PUT", e.snapID("tj-s1"), `{"location":"westus","properties":{"creationData":{"createOption":"Copy","sourceResourceId":"` + e.diskID("tj-d") + `","instantAccessDurationMinutes":"soon"}}}`,
			"properties.creationData.instantAccessDurationMinutes", "must be an integer, not a string"},
		{"PUT", e.snapID("tj-s2"), `{"location":"westus","properties":{"creationData":{"createOption":"Copy","sourceResourceId":"` + e.diskID("tj-d") + `"},"encryption":7}}`,
			"properties.encryption", "must be an object, not a number"},
		{"PATCH", e.diskID("tj-d"), `{"properties":{"encryption":{"type":5}}}`,
			"properties.encryption.type", "must be a string, not a number"},
		{"PATCH", e.diskID("tj-d"), `{"properties":{"creationData":{"logicalSectorSize":"big"}}}`,
			"properties.creationData.logicalSectorSize", "must be an integer, not a string"},
	} {
		resp, m := e.Do(c.method, c.path+v, c.body, testserver.AnyStatus())
		msg := fmt.Sprint(testserver.Field(m, "error.message"))
		if resp.StatusCode != 400 || testserver.Field(m, "error.code") != "InvalidParameter" || testserver.Field(m, "error.target") != c.target ||
			!strings.Contains(msg, "'"+c.target+"'") || !strings.Contains(msg, c.want) {
			t.Errorf("%s %s: %d %v; want 400 InvalidParameter at %s saying it %s", c.method, c.body, resp.StatusCode, m, c.target, c.want)
		}
		for _, goName := range []string{"BlockProperties", "CreationData", "int64", "int32", "compute.", "Encryption"} {
			if strings.Contains(msg, goName) {
				t.Errorf("%s %s: the message names %q, a Go name: %s", c.method, c.body, goName, msg)
			}
		}
	}
}

// TestSnapshotAccessState: a snapshot answers snapshotAccessState as
// Azure's do (DiskRP 2024-03-02 on): Available once made, on its read and
// in its resource group's list, since a Safehold snapshot can be restored,
// copied and downloaded at once; a snapshot PUT sending one (read-only)
// changes nothing. It was missing, so a client waiting for a snapshot to
// become Available (as one must after an instant-access snapshot in
// Azure) waited for ever.
func TestSnapshotAccessState(t *testing.T) {
	e, _ := start(t)
	e.putDisk("as-d", e.emptyDisk("as-d", 1))
	const v = "?api-version=2025-01-02"
	resp, m := e.Do("PUT", e.snapID("as-s")+v, `{"location":"westus","properties":{"incremental":true,"snapshotAccessState":"Pending","creationData":{"createOption":"Copy","sourceResourceId":"`+e.diskID("as-d")+`"}}}`,
		testserver.AnyStatus())
	if resp.StatusCode != 200 && resp.StatusCode != 201 && resp.StatusCode != 202 {
		t.Fatalf("create: %d %v", resp.StatusCode, m)
	}
	if op := resp.Header.Get("Azure-AsyncOperation"); op != "" {
		if st := e.Poll(op); st["status"] != "Succeeded" {
			t.Fatalf("create: %v", st)
		}
	}
	_, got := e.Do("GET", e.snapID("as-s")+v, nil)
	if s := testserver.Field(got, "properties.snapshotAccessState"); s != "Available" {
		t.Errorf("snapshotAccessState as read: %v in %v", s, got["properties"])
	}
	list := strings.TrimSuffix(e.snapID("as-s"), "/as-s")
	_, l := e.Do("GET", list+v, nil)
	vals, _ := l["value"].([]any)
	if len(vals) != 1 || testserver.Field(vals[0].(map[string]any), "properties.snapshotAccessState") != "Available" {
		t.Errorf("snapshotAccessState as listed: %v", l)
	}
}
