package storage_test

import (
	"testing"

	"github.com/safehold/safehold/internal/testserver"
)

// startAccounts starts a server with the resource group stg: it returns
// it, the options of raw requests (request ids, any status) and the
// group's id.
func startAccounts(t *testing.T) (*testserver.Env, []testserver.RequestOption, string) {
	e := testserver.StartWithGroups(t, "stg")
	return e, []testserver.RequestOption{testserver.RequestIDs(), testserver.AnyStatus()}, "/subscriptions/" + e.Sub + "/resourceGroups/stg"
}

// A minimal Microsoft.Storage: accounts with keys, as backup APIs name them.
func TestStorageAccounts(t *testing.T) {
	e, ids, rg := startAccounts(t)
	A := rg + "/providers/Microsoft.Storage/storageAccounts/staging1"
	const v = "?api-version=2023-01-01"
	if resp, m := e.Do("PUT", rg+"/providers/Microsoft.Storage/storageAccounts/Bad_Name"+v, []byte(`{"location":"westus","sku":{"name":"Standard_LRS"}}`), ids...); resp.StatusCode != 400 || testserver.ErrorCode(m) != "AccountNameInvalid" {
		t.Fatalf("bad name: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.Do("PUT", A+v, []byte(`{"location":"westus"}`), ids...); resp.StatusCode != 400 {
		t.Fatalf("no sku: %d %v", resp.StatusCode, m)
	}
	resp, m := e.Do("PUT", A+v, []byte(`{"location":"West US","kind":"StorageV2","sku":{"name":"standard_lrs"}}`), ids...)
	if resp.StatusCode != 200 {
		t.Fatalf("create: %d %v", resp.StatusCode, m)
	}
	p, _ := m["properties"].(map[string]any)
	sku, _ := m["sku"].(map[string]any)
	if m["type"] != "Microsoft.Storage/storageAccounts" || m["location"] != "westus" || sku["name"] != "Standard_LRS" || p["provisioningState"] != "Succeeded" || hasKey(m, "keys") {
		t.Fatalf("account: %v", m)
	}
	// PUT sets every settable property; PATCH only those that may change
	// after creation (isHnsEnabled and encryption stay), and keeps the tags.
	resp, m = e.Do("PUT", A+v, []byte(`{"location":"westus","sku":{"name":"Standard_LRS"},"tags":{"env":"test"},"properties":{"isHnsEnabled":true,"accessTier":"Cool","unknownSetting":1}}`), ids...)
	if resp.StatusCode != 200 || testserver.Field(m, "properties.isHnsEnabled") != true || testserver.Field(m, "properties.accessTier") != "Cool" || testserver.Field(m, "properties.unknownSetting") != nil || hasKey(m, "keys") {
		t.Fatalf("put properties: %d %v", resp.StatusCode, m)
	}
	resp, m = e.Do("PATCH", A+v, []byte(`{"properties":{"isHnsEnabled":false,"accessTier":"Hot","minimumTlsVersion":"TLS1_0","encryption":{"keySource":"Microsoft.Keyvault"}}}`), ids...)
	if resp.StatusCode != 200 || testserver.Field(m, "properties.isHnsEnabled") != true || testserver.Field(m, "properties.accessTier") != "Hot" || testserver.Field(m, "properties.minimumTlsVersion") != "TLS1_0" ||
		testserver.Field(m, "properties.encryption.keySource") != "Microsoft.Storage" || testserver.Field(m, "tags.env") != "test" || hasKey(m, "keys") {
		t.Fatalf("patch: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.Do("PATCH", rg+"/providers/Microsoft.Storage/storageAccounts/absent1"+v, []byte(`{"tags":{}}`), ids...); resp.StatusCode != 404 {
		t.Fatalf("patch of an absent account: %d %v", resp.StatusCode, m)
	}
	// The generic-resource GET the az CLI uses to find a staging account.
	if resp, m := e.Do("GET", A+"?api-version=2016-01-01", nil, ids...); resp.StatusCode != 200 || m["id"] == nil || hasKey(m, "keys") {
		t.Fatalf("get: %d %v", resp.StatusCode, m)
	}
	resp, k1 := e.Do("POST", A+"/listKeys"+v, nil, ids...)
	keys, _ := k1["keys"].([]any)
	if resp.StatusCode != 200 || len(keys) != 2 {
		t.Fatalf("listKeys: %d %v", resp.StatusCode, k1)
	}
	first := keys[0].(map[string]any)["value"]
	resp, k2 := e.Do("POST", A+"/regenerateKey"+v, []byte(`{"keyName":"key1"}`), ids...)
	if resp.StatusCode != 200 || k2["keys"].([]any)[0].(map[string]any)["value"] == first || k2["keys"].([]any)[1].(map[string]any)["value"] != keys[1].(map[string]any)["value"] {
		t.Fatalf("regenerateKey: %d %v", resp.StatusCode, k2)
	}
	if resp, m := e.Do("POST", "/subscriptions/"+e.Sub+"/providers/Microsoft.Storage/checkNameAvailability"+v, []byte(`{"name":"staging1","type":"Microsoft.Storage/storageAccounts"}`), ids...); resp.StatusCode != 200 || m["nameAvailable"] != false {
		t.Fatalf("checkName: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.Do("GET", rg+"/providers/Microsoft.Storage/storageAccounts"+v, nil, ids...); resp.StatusCode != 200 || len(m["value"].([]any)) != 1 {
		t.Fatalf("list: %d %v", resp.StatusCode, m)
	}
	if resp, _ := e.Do("DELETE", A+v, nil, ids...); resp.StatusCode != 200 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if resp, m := e.Do("GET", A+v, nil, ids...); resp.StatusCode != 404 {
		t.Fatalf("after delete: %d %v", resp.StatusCode, m)
	}
}

func hasKey(m map[string]any, k string) bool { _, ok := m[k]; return ok }
