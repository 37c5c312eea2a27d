package compute_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/testserver"
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

// Before 2018-09-30 a disk's Azure Disk Encryption keys are one
// properties.encryptionSettings ({enabled, diskEncryptionKey,
// keyEncryptionKey}); from 2018-09-30 an encryptionSettingsCollection of
// elements. A disk created with the former reads back in either shape, by
// the version asking, with the same keys.
func TestDiskEncryptionSettingsBefore20180930(t *testing.T) {
	e, _ := start(t)
	const old = "?api-version=2018-06-01"
	const later = "?api-version=2018-09-30"
	vault := "/subscriptions/" + e.Sub + "/resourceGroups/rg1/providers/Microsoft.KeyVault/vaults/myVMVault"
	es := map[string]any{"enabled": true,
		"diskEncryptionKey": map[string]any{"sourceVault": map[string]any{"id": vault}, "secretUrl": "https://myvmvault.vault.azure.net/secrets/s1/0123"},
		"keyEncryptionKey":  map[string]any{"sourceVault": map[string]any{"id": vault}, "keyUrl": "https://myvmvault.vault.azure.net/keys/k1/4567"}}
	resp, m := e.Do("PUT", e.diskID("ade1")+old, map[string]any{"location": "westus", "sku": map[string]any{"name": "Standard_LRS"},
		"properties": map[string]any{"creationData": map[string]any{"createOption": "Empty"}, "diskSizeGB": 1, "encryptionSettings": es}})
	if resp.StatusCode >= 300 {
		t.Fatalf("PUT at 2018-06-01: %d %v", resp.StatusCode, m)
	}
	for _, got := range []map[string]any{m, func() map[string]any { _, m := e.Do("GET", e.diskID("ade1")+old, nil); return m }()} {
		props := got["properties"].(map[string]any)
		if props["encryptionSettingsCollection"] != nil {
			t.Fatalf("encryptionSettingsCollection at 2018-06-01: %v", props)
		}
		g, _ := props["encryptionSettings"].(map[string]any)
		if g["enabled"] != true || testserver.Field(g, "diskEncryptionKey.secretUrl") != "https://myvmvault.vault.azure.net/secrets/s1/0123" ||
			testserver.Field(g, "keyEncryptionKey.keyUrl") != "https://myvmvault.vault.azure.net/keys/k1/4567" {
			t.Fatalf("encryptionSettings at 2018-06-01: %v", props["encryptionSettings"])
		}
	}
	_, m = e.Do("GET", e.diskID("ade1")+later, nil)
	props := m["properties"].(map[string]any)
	coll, _ := props["encryptionSettingsCollection"].(map[string]any)
	els, _ := coll["encryptionSettings"].([]any)
	if props["encryptionSettings"] != nil || coll["enabled"] != true || len(els) != 1 ||
		testserver.Field(els[0].(map[string]any), "diskEncryptionKey.secretUrl") != "https://myvmvault.vault.azure.net/secrets/s1/0123" {
		t.Fatalf("at 2018-09-30: %v", props)
	}
}
