package clients_test

import (
	"testing"

	"github.com/safehold/safehold/internal/testserver"
)

// TestAzCLIResourceShowPicksTheTypesVersion: az resource show --ids with no
// --api-version reads the provider's resource types and sends the newest
// stable version listed for the id's type (nested types included); each
// must be one Safehold accepts for that type, now that versions are
// checked per type. An --api-version of another type of the namespace is
// refused as ARM refuses it (NoRegisteredProviderFound), and az prints it.
func TestAzCLIResourceShowPicksTheTypesVersion(t *testing.T) {
	e := testserver.Start(t)
	az := loggedIn(t, e)
	sub := "/subscriptions/" + e.Conn.SubscriptionID
	az.run("group", "create", "-n", "showg", "-l", "westus2", "-o", "none")
	az.run("disk", "create", "-g", "showg", "-n", "d1", "--size-gb", "1", "-o", "none")
	az.run("backup", "vault", "create", "-g", "showg", "-n", "rsv1", "-l", "westus2", "-o", "none")
	rg := sub + "/resourceGroups/showg"
	for _, p := range []struct {
		path string
		body map[string]any
	}{
		{rg + "/providers/Microsoft.DataProtection/backupVaults/bv1?api-version=2024-04-01", map[string]any{"location": "westus2", "identity": map[string]any{"type": "SystemAssigned"},
			"properties": map[string]any{"storageSettings": []any{map[string]any{"datastoreType": "VaultStore", "type": "LocallyRedundant"}}}}},
		{rg + "/providers/Microsoft.DataProtection/resourceGuards/g1?api-version=2024-04-01", map[string]any{"location": "westus2", "properties": map[string]any{}}},
	} {
		if resp, m := e.Do("PUT", p.path, p.body, testserver.AnyStatus()); resp.StatusCode >= 300 {
			t.Fatalf("PUT %s: %d %v", p.path, resp.StatusCode, m)
		}
	}
	for id, name := range map[string]string{
		rg + "/providers/Microsoft.Compute/disks/d1":                                          "d1",
		rg + "/providers/Microsoft.RecoveryServices/vaults/rsv1":                              "rsv1",
		rg + "/providers/Microsoft.RecoveryServices/vaults/rsv1/backupPolicies/DefaultPolicy": "DefaultPolicy",
		rg + "/providers/Microsoft.DataProtection/backupVaults/bv1":                           "bv1",
		rg + "/providers/Microsoft.DataProtection/resourceGuards/g1":                          "g1",
	} {
		if out := az.tsv("resource", "show", "--ids", id, "--query", "name"); out != name {
			t.Errorf("az resource show --ids %s: %q, want %q", id, out, name)
		}
	}
	az.fails("NoRegisteredProviderFound", "resource", "show", "--ids", rg+"/providers/Microsoft.Compute/disks/d1", "--api-version", "2015-06-15")
	if out := az.tsv("resource", "show", "--ids", rg+"/providers/Microsoft.Compute/disks/d1", "--api-version", "2017-03-30", "--query", "name"); out != "d1" {
		t.Errorf("az resource show --api-version 2017-03-30: %q", out)
	}
}
