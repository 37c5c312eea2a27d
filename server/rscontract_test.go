package server_test

import (
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
)

// The vault-level families az backup reads around the flow, and the
// namespace's operations catalog.
func TestRecoveryServicesContractFamilies(t *testing.T) {
	e := testserver.StartWithGroups(t, "rsc")
	rg := "/subscriptions/" + e.Sub + "/resourceGroups/rsc"
	R := rg + "/providers/Microsoft.RecoveryServices/vaults/v1"
	const v = "?api-version=2022-09-01-preview"
	if resp, m := raw(t, e, "PUT", R+"?api-version=2023-04-01", "", []byte(`{"location":"westus","sku":{"name":"Standard"},"properties":{}}`)); resp.StatusCode != 200 && resp.StatusCode != 201 {
		t.Fatalf("vault: %d %v", resp.StatusCode, m)
	}
	if resp, m := raw(t, e, "GET", R+"/backupResourceGuardProxies"+v, "", nil); resp.StatusCode != 200 || len(m["value"].([]any)) != 0 {
		t.Fatalf("guard proxies: %d %v", resp.StatusCode, m)
	}
	if resp, m := raw(t, e, "GET", R+"/backupResourceGuardProxies/p"+v, "", nil); resp.StatusCode != 404 {
		t.Fatalf("guard proxy: %d %v", resp.StatusCode, m)
	}
	if resp, m := raw(t, e, "GET", rg+"/providers/Microsoft.RecoveryServices/vaults/nope/backupResourceGuardProxies"+v, "", nil); resp.StatusCode != 404 {
		t.Fatalf("guard proxies of a missing vault: %d %v", resp.StatusCode, m)
	}
	E := R + "/backupEncryptionConfigs/backupResourceEncryptionConfig"
	resp, m := raw(t, e, "GET", E+v, "", nil)
	if p, _ := m["properties"].(map[string]any); resp.StatusCode != 200 || p["encryptionAtRestType"] != "MicrosoftManaged" || m["type"] != "Microsoft.RecoveryServices/vaults/backupEncryptionConfigs" {
		t.Fatalf("encryption config: %d %v", resp.StatusCode, m)
	}
	if resp, m := raw(t, e, "PUT", E+v, "", []byte(`{"properties":{"encryptionAtRestType":"CustomerManaged"}}`)); resp.StatusCode != 400 {
		t.Fatalf("CMK without key: %d %v", resp.StatusCode, m)
	}
	if resp, m := raw(t, e, "PUT", E+v, "", []byte(`{"properties":{"encryptionAtRestType":"CustomerManaged","keyUri":"https://kv.vault.azure.net/keys/k/1","infrastructureEncryptionState":"Disabled"}}`)); resp.StatusCode != 200 {
		t.Fatalf("CMK: %d %v", resp.StatusCode, m)
	}
	resp, m = raw(t, e, "GET", E+v, "", nil)
	if p, _ := m["properties"].(map[string]any); p["encryptionAtRestType"] != "CustomerManaged" || p["lastUpdateStatus"] != "Succeeded" || p["keyUri"] == nil {
		t.Fatalf("encryption config after PUT: %v", m)
	}
	resp, m = raw(t, e, "GET", "/providers/Microsoft.RecoveryServices/operations?api-version=2024-04-01", "", nil)
	ops, _ := m["value"].([]any)
	names := map[string]bool{}
	for _, o := range ops {
		names[strings.ToLower(o.(map[string]any)["name"].(string))] = true // actions are case-insensitive
	}
	for _, want := range []string{"Microsoft.RecoveryServices/vaults/read", "Microsoft.RecoveryServices/vaults/write", "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems/backup/action"} {
		if !names[strings.ToLower(want)] {
			t.Errorf("operations catalog lacks %s (has %d: %v)", want, len(names), strings.Join(keys(names), " "))
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
