package dataprotection_test

import (
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
)

// TestNoDeletedVaultsToRestore: the deleted Backup vaults of the
// api-versions since 2025-09-01 are none, since Safehold deletes a vault at
// once: the subscription's and a region's lists are empty (a region that is
// none 400), a deleted vault's GET and undelete 404, and a vault PUT with
// x-ms-deleted-vault-id (restore a deleted vault) 404 ResourceNotFound
// making nothing. The lists and reads were 404 InvalidResourceType, and the
// PUT made a new, empty vault in the deleted one's place, as if restored.
func TestNoDeletedVaultsToRestore(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("rg")
	const v = "?api-version=2025-09-01"
	sub := "/subscriptions/" + e.Sub
	vault := sub + "/resourceGroups/rg/providers/Microsoft.DataProtection/backupVaults/gone"
	body := `{"location":"westus","properties":{"storageSettings":[{"datastoreType":"VaultStore","type":"LocallyRedundant"}]}}`
	if resp, m := e.Do("PUT", vault+v, body); resp.StatusCode != 201 {
		t.Fatalf("vault: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.Do("DELETE", vault+v, nil); resp.StatusCode != 200 && resp.StatusCode != 202 && resp.StatusCode != 204 {
		t.Fatalf("delete the vault: %d %v", resp.StatusCode, m)
	}
	e.WaitFor("the vault deleted", func() bool {
		resp, _ := e.Do("GET", vault+v, nil, testserver.AnyStatus())
		return resp.StatusCode == 404
	})
	for _, list := range []string{sub + "/providers/Microsoft.DataProtection/deletedBackupVaults", sub + "/providers/Microsoft.DataProtection/locations/westus/deletedBackupVaults"} {
		resp, m := e.Do("GET", list+v, nil, testserver.AnyStatus())
		if vals, ok := m["value"].([]any); resp.StatusCode != 200 || !ok || len(vals) != 0 {
			t.Errorf("%s: %d %v, want 200 and no vault", list, resp.StatusCode, m)
		}
	}
	deleted := sub + "/providers/Microsoft.DataProtection/locations/westus/deletedBackupVaults/gone"
	for _, c := range []struct {
		what, method, path string
		status             int
		code               string
		opts               []testserver.RequestOption
	}{
		{"a region that is none", "GET", sub + "/providers/Microsoft.DataProtection/locations/mars/deletedBackupVaults", 400, "LocationNotAvailableForResourceType", nil},
		{"a deleted vault", "GET", deleted, 404, "ResourceNotFound", nil},
		{"its undelete", "POST", deleted + "/undelete", 404, "ResourceNotFound", nil},
		{"a PUT restoring it", "PUT", vault, 404, "ResourceNotFound", []testserver.RequestOption{testserver.Header("x-ms-deleted-vault-id", deleted)}},
	} {
		var b any
		if c.method == "PUT" {
			b = body
		}
		resp, m := e.Do(c.method, c.path+v, b, append(c.opts, testserver.AnyStatus())...)
		if resp.StatusCode != c.status || testserver.Field(m, "error.code") != c.code {
			t.Errorf("%s: %d %v, want %d %s", c.what, resp.StatusCode, m, c.status, c.code)
		}
		if msg, _ := testserver.Field(m, "error.message").(string); c.status == 404 && !strings.Contains(msg, "keeps no deleted vaults") {
			t.Errorf("%s: message %q", c.what, msg)
		}
	}
	if resp, m := e.Do("GET", vault+v, nil, testserver.AnyStatus()); resp.StatusCode != 404 {
		t.Fatalf("the PUT restoring a deleted vault made one: %d %v", resp.StatusCode, m)
	}
}
