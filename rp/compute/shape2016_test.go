package compute_test

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// At 2016-04-30-preview, the first api-version with managed disks, a disk
// or snapshot names its storage type properties.accountType and the VM it
// is attached to properties.ownerId (2017-03-30 on: sku.name and
// managedBy): a client of that version creates, reads and lists them in
// that shape, and the same resources read at a later version have the sku
// the old request named.
func TestDisksAndSnapshotsAt20160430Preview(t *testing.T) {
	e, _ := start(t)
	const old = "?api-version=2016-04-30-preview"
	const later = "?api-version=2017-03-30"
	accountType := func(what string, m map[string]any) string {
		t.Helper()
		if _, ok := m["sku"]; ok {
			t.Fatalf("%s: sku at 2016-04-30-preview: %v", what, m)
		}
		if _, ok := m["managedBy"]; ok {
			t.Fatalf("%s: managedBy at 2016-04-30-preview: %v", what, m)
		}
		props, _ := m["properties"].(map[string]any)
		s, _ := props["accountType"].(string)
		return s
	}
	resp, m := e.Do("PUT", e.diskID("old1")+old, map[string]any{"location": "westus",
		"properties": map[string]any{"accountType": "Premium_LRS", "creationData": map[string]any{"createOption": "Empty"}, "diskSizeGB": 1}})
	if resp.StatusCode >= 300 {
		t.Fatalf("PUT disk at 2016-04-30-preview: %d %v", resp.StatusCode, m)
	}
	if got := accountType("PUT disk", m); got != "Premium_LRS" {
		t.Fatalf("PUT disk: accountType %q, want Premium_LRS: %v", got, m)
	}
	if _, m = e.Do("GET", e.diskID("old1")+old, nil); accountType("GET disk", m) != "Premium_LRS" {
		t.Fatalf("GET disk: %v", m)
	}
	_, m = e.Do("GET", e.diskID("old1")+later, nil)
	if sku, _ := m["sku"].(map[string]any); sku == nil || sku["name"] != "Premium_LRS" {
		t.Fatalf("GET disk at 2017-03-30: sku %v, want Premium_LRS", m["sku"])
	}
	if props, _ := m["properties"].(map[string]any); props["accountType"] != nil {
		t.Fatalf("GET disk at 2017-03-30 carries properties.accountType: %v", props)
	}
	_, m = e.Do("GET", "/subscriptions/"+e.Sub+"/resourceGroups/"+e.rg+"/providers/Microsoft.Compute/disks"+old, nil)
	if vs, _ := m["value"].([]any); len(vs) != 1 || accountType("list disks", vs[0].(map[string]any)) != "Premium_LRS" {
		t.Fatalf("list disks at 2016-04-30-preview: %v", m)
	}

	// A snapshot (a long-running copy) in the same shape.
	resp, m = e.Do("PUT", e.snapID("olds")+old, map[string]any{"location": "westus",
		"properties": map[string]any{"accountType": "Standard_LRS", "creationData": map[string]any{"createOption": "Copy", "sourceResourceId": e.diskID("old1")}}})
	if resp.StatusCode >= 300 {
		t.Fatalf("PUT snapshot at 2016-04-30-preview: %d %v", resp.StatusCode, m)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		_, m = e.Do("GET", e.snapID("olds")+old, nil)
		if props, _ := m["properties"].(map[string]any); props["provisioningState"] == "Succeeded" || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := accountType("GET snapshot", m); got != "Standard_LRS" {
		t.Fatalf("GET snapshot: accountType %q, want Standard_LRS: %v", got, m)
	}

	// Attached, the disk names its VM as ownerId.
	if err := e.putVMSized("oldvm", "old1", "Standard_D2s_v3"); err != nil {
		t.Fatal(err)
	}
	_, m = e.Do("GET", e.diskID("old1")+old, nil)
	accountType("GET attached disk", m)
	if props, _ := m["properties"].(map[string]any); !strings.HasSuffix(strings.ToLower(props["ownerId"].(string)), "/virtualmachines/oldvm") {
		t.Fatalf("attached disk: ownerId %v", props["ownerId"])
	}

	// A PATCH at that version names the new type as accountType too.
	resp, m = e.Do("PATCH", e.snapID("olds")+old, map[string]any{"properties": map[string]any{"accountType": "Premium_LRS"}})
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted {
		t.Fatalf("PATCH snapshot: %d %v", resp.StatusCode, m)
	}
	_, m = e.Do("GET", e.snapID("olds")+later, nil)
	if sku, _ := m["sku"].(map[string]any); sku == nil || sku["name"] != "Premium_LRS" {
		t.Fatalf("snapshot after a 2016-04-30-preview PATCH of accountType: sku %v", m["sku"])
	}
}
