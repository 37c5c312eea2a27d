package clients_test

import (
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
)

// TestAzCLIVaultEncryptionKey: az backup vault encryption update PATCHes
// the vault's encryption (the key and the identity reaching it) and az
// backup vault encryption show reads the backupEncryptionConfigs, which
// show the same key, as in Azure; a key rotation (update with the key
// alone) then needs no identity, az telling it from a first key by the
// config's CustomerManaged. A key set through the config shows in the
// vault's encryption too.
func TestAzCLIVaultEncryptionKey(t *testing.T) {
	e := testserver.Start(t)
	az := loggedIn(t, e)
	az.run("group", "create", "-n", "encrg", "-l", "westus", "-o", "none")
	az.run("backup", "vault", "create", "-g", "encrg", "-n", "encv", "-l", "westus", "-o", "none")
	az.run("backup", "vault", "identity", "assign", "-g", "encrg", "-n", "encv", "--system-assigned", "-o", "none")
	if got := az.tsv("backup", "vault", "encryption", "show", "-g", "encrg", "-n", "encv", "--query", "properties.encryptionAtRestType"); got != "MicrosoftManaged" {
		t.Fatalf("a new vault's encryption: %q, want MicrosoftManaged", got)
	}
	k1 := "https://kv1.vault.azure.net/keys/k1/0123456789abcdef0123456789abcdef"
	az.run("backup", "vault", "encryption", "update", "-g", "encrg", "-n", "encv", "--encryption-key-id", k1, "--mi-system-assigned", "-o", "none")
	show := func(want, key string, sys bool) {
		t.Helper()
		p, _ := az.json("backup", "vault", "encryption", "show", "-g", "encrg", "-n", "encv")["properties"].(map[string]any)
		if p["encryptionAtRestType"] != want || p["keyUri"] != key || p["useSystemAssignedIdentity"] != sys || p["lastUpdateStatus"] != "Succeeded" {
			t.Fatalf("az backup vault encryption show: %v, want %s with key %s (system-assigned identity %v)", p, want, key, sys)
		}
	}
	show("CustomerManaged", k1, true)
	// The rotation: the key alone.
	k2 := "https://kv1.vault.azure.net/keys/k2"
	az.run("backup", "vault", "encryption", "update", "-g", "encrg", "-n", "encv", "--encryption-key-id", k2, "-o", "none")
	show("CustomerManaged", k2, true)
	if got := az.tsv("backup", "vault", "show", "-g", "encrg", "-n", "encv", "--query", "properties.encryption.keyVaultProperties.keyUri"); got != k2 {
		t.Fatalf("the vault's key: %q, want %s", got, k2)
	}

	// A key set through the config (the SDKs' BackupResourceEncryptionConfigs
	// Update) is the vault's.
	az.run("backup", "vault", "create", "-g", "encrg", "-n", "encv2", "-l", "westus", "-o", "none")
	az.run("backup", "vault", "identity", "assign", "-g", "encrg", "-n", "encv2", "--system-assigned", "-o", "none")
	k3 := "https://kv2.vault.azure.net/keys/k3"
	az.run("rest", "--method", "put", "--url", "/subscriptions/"+e.Conn.SubscriptionID+"/resourceGroups/encrg/providers/Microsoft.RecoveryServices/vaults/encv2/backupEncryptionConfigs/backupResourceEncryptionConfig?api-version=2023-04-01",
		"--body", `{"properties":{"encryptionAtRestType":"CustomerManaged","keyUri":"`+k3+`","useSystemAssignedIdentity":true,"infrastructureEncryptionState":"Disabled"}}`, "-o", "none")
	v := az.json("backup", "vault", "show", "-g", "encrg", "-n", "encv2")
	if str(v, "properties.encryption.keyVaultProperties.keyUri") != k3 || testserver.Field(v, "properties.encryption.kekIdentity.useSystemAssignedIdentity") != true {
		t.Fatalf("the vault's encryption after the config's PUT: %v", testserver.Field(v, "properties.encryption"))
	}

	// Going back to platform-managed keys is refused, as in Azure: the key
	// stays.
	r := az.exec("rest", "--method", "put", "--url", "/subscriptions/"+e.Conn.SubscriptionID+"/resourceGroups/encrg/providers/Microsoft.RecoveryServices/vaults/encv2/backupEncryptionConfigs/backupResourceEncryptionConfig?api-version=2023-04-01",
		"--body", `{"properties":{"encryptionAtRestType":"MicrosoftManaged"}}`, "-o", "none")
	if r.Code == 0 || !strings.Contains(r.Stderr, "Bad Request") || !strings.Contains(r.Stderr, "can't be reverted to platform-managed keys") {
		t.Fatalf("az rest PUT MicrosoftManaged on a CMK vault: exit status %d, want 400 saying it can't be reverted\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if got := az.tsv("backup", "vault", "encryption", "show", "-g", "encrg", "-n", "encv2", "--query", "[properties.encryptionAtRestType, properties.keyUri]"); got != "CustomerManaged\n"+k3 {
		t.Fatalf("az backup vault encryption show after the refused revert: %q, want CustomerManaged and %s", got, k3)
	}
}
