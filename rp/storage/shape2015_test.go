package storage_test

import (
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
)

// At 2015-06-15 a storage account names its replication type
// properties.accountType and has no sku or kind (2016-01-01 on: sku.name
// and kind), and listKeys and regenerateKey answer key1 and key2 rather
// than a keys array: a client of that version creates an account, reads,
// lists it and uses its keys in that shape, and a later version reads the
// same account with the sku the old request named, general purpose
// (Storage) as Azure made accounts then; an account made later keeps its
// kind through a 2015-06-15 PUT.
func TestStorageAccountsAt20150615(t *testing.T) {
	e, ids, rg := startAccounts(t)
	A := rg + "/providers/Microsoft.Storage/storageAccounts/old2015"
	const old = "?api-version=2015-06-15"
	const later = "?api-version=2016-01-01"
	oldShape := func(what string, m map[string]any) {
		t.Helper()
		if hasKey(m, "sku") || hasKey(m, "kind") || testserver.Field(m, "properties.accountType") != "Standard_GRS" {
			t.Fatalf("%s at 2015-06-15: %v", what, m)
		}
	}
	if resp, m := e.Do("PUT", A+old, []byte(`{"location":"westus"}`), ids...); resp.StatusCode != 400 || testserver.ErrorCode(m) != "MissingRequiredProperty" ||
		!strings.Contains(testserver.Field(m, "error.message").(string), "properties.accountType") {
		t.Fatalf("no accountType: %d %v", resp.StatusCode, m)
	}
	resp, m := e.Do("PUT", A+old, []byte(`{"location":"westus","properties":{"accountType":"Standard_GRS"}}`), ids...)
	if resp.StatusCode != 200 {
		t.Fatalf("create: %d %v", resp.StatusCode, m)
	}
	oldShape("PUT", m)
	_, m = e.Do("GET", A+old, nil, ids...)
	oldShape("GET", m)
	_, m = e.Do("GET", rg+"/providers/Microsoft.Storage/storageAccounts"+old, nil, ids...)
	if vs, _ := m["value"].([]any); len(vs) != 1 {
		t.Fatalf("list: %v", m)
	} else {
		oldShape("list", vs[0].(map[string]any))
	}
	_, m = e.Do("GET", A+later, nil, ids...)
	if testserver.Field(m, "sku.name") != "Standard_GRS" || m["kind"] != "Storage" || testserver.Field(m, "properties.accountType") != nil {
		t.Fatalf("at 2016-01-01: %v", m)
	}

	// The keys: key1 and key2 at 2015-06-15, the same values as the keys
	// array of later versions.
	_, k := e.Do("POST", A+"/listKeys"+later, nil, ids...)
	keys, _ := k["keys"].([]any)
	if len(keys) != 2 {
		t.Fatalf("listKeys at 2016-01-01: %v", k)
	}
	key1, key2 := keys[0].(map[string]any)["value"], keys[1].(map[string]any)["value"]
	resp, k = e.Do("POST", A+"/listKeys"+old, nil, ids...)
	if resp.StatusCode != 200 || hasKey(k, "keys") || k["key1"] != key1 || k["key2"] != key2 {
		t.Fatalf("listKeys at 2015-06-15: %d %v", resp.StatusCode, k)
	}
	resp, k = e.Do("POST", A+"/regenerateKey"+old, []byte(`{"keyName":"key2"}`), ids...)
	if resp.StatusCode != 200 || k["key1"] != key1 || k["key2"] == key2 || k["key2"] == nil {
		t.Fatalf("regenerateKey at 2015-06-15: %d %v", resp.StatusCode, k)
	}

	// A 2015-06-15 PUT of an account made later (general purpose v2)
	// updates it and keeps its kind: the old version has no kind to say.
	V2 := rg + "/providers/Microsoft.Storage/storageAccounts/v2acct"
	if resp, m := e.Do("PUT", V2+"?api-version=2023-01-01", []byte(`{"location":"westus","kind":"StorageV2","sku":{"name":"Standard_LRS"}}`), ids...); resp.StatusCode != 200 {
		t.Fatalf("create a v2 account: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.Do("PUT", V2+old, []byte(`{"location":"westus","properties":{"accountType":"Standard_GRS"}}`), ids...); resp.StatusCode != 200 {
		t.Fatalf("PUT of the v2 account at 2015-06-15: %d %v", resp.StatusCode, m)
	}
	if _, m := e.Do("GET", V2+later, nil, ids...); m["kind"] != "StorageV2" || testserver.Field(m, "sku.name") != "Standard_GRS" {
		t.Fatalf("the v2 account after a 2015-06-15 PUT: %v", m)
	}
}
