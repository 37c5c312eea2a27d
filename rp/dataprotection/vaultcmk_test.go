package dataprotection_test

import (
	"testing"

	"github.com/safehold/safehold/internal/testserver"
)

// TestVaultEncryptionSettingsOutsideTheirValuesAreRefused: a Backup
// vault's customer-managed key settings
// (securitySettings.encryptionSettings) take Azure's values only: a state,
// infrastructure encryption or key identity type outside them, or a key
// URI or identity id that is not a string, is 400 naming the field, by
// PUT and by PATCH, and the vault keeps what it had; values in them are
// answered back as sent. Any value was stored as sent.
func TestVaultEncryptionSettingsOutsideTheirValuesAreRefused(t *testing.T) {
	e := testserver.StartWithGroups(t, "vault-rg")
	V := "/subscriptions/" + e.Sub + "/resourceGroups/vault-rg/providers/Microsoft.DataProtection/backupVaults/v1?api-version=2025-07-01"
	body := func(enc string) string {
		return `{"location":"westus","identity":{"type":"SystemAssigned"},"properties":{"storageSettings":[{"datastoreType":"VaultStore","type":"LocallyRedundant"}],"securitySettings":{"encryptionSettings":` + enc + `}}}`
	}
	good := `{"state":"Enabled","infrastructureEncryption":"Disabled","keyVaultProperties":{"keyUri":"https://kv1.vault.azure.net/keys/k1/0123"},"kekIdentity":{"identityType":"SystemAssigned"}}`
	resp, m := e.Do("PUT", V, body(good))
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %v", resp.StatusCode, m)
	}
	enc := "properties.securitySettings.encryptionSettings"
	if testserver.Field(m, enc+".state") != "Enabled" || testserver.Field(m, enc+".kekIdentity.identityType") != "SystemAssigned" ||
		testserver.Field(m, enc+".keyVaultProperties.keyUri") != "https://kv1.vault.azure.net/keys/k1/0123" {
		t.Fatalf("the vault's encryption settings: %v", testserver.Field(m, enc))
	}
	for _, c := range []struct{ enc, field string }{
		{`{"state":"Maybe"}`, enc + ".state"},
		{`{"state":"Enabled","infrastructureEncryption":"Double"}`, enc + ".infrastructureEncryption"},
		{`{"state":"Enabled","kekIdentity":{"identityType":"Everyone"}}`, enc + ".kekIdentity.identityType"},
		{`{"state":"Enabled","kekIdentity":{"identityType":"UserAssigned","identityId":5}}`, enc + ".kekIdentity.identityId"},
		{`{"state":"Enabled","keyVaultProperties":{"keyUri":["https://kv1.vault.azure.net/keys/k1"]}}`, enc + ".keyVaultProperties.keyUri"},
		{`{"state":"Enabled","keyVaultProperties":"https://kv1.vault.azure.net/keys/k1"}`, enc + ".keyVaultProperties"},
	} {
		resp, m := e.Do("PUT", V, body(c.enc))
		if resp.StatusCode != 400 || testserver.Field(m, "error.target") != c.field {
			t.Errorf("PUT %s: %d %v, want 400 at %s", c.enc, resp.StatusCode, m, c.field)
		}
		resp, m = e.Do("PATCH", V, `{"properties":{"securitySettings":{"encryptionSettings":`+c.enc+`}}}`)
		if resp.StatusCode != 400 || testserver.Field(m, "error.target") != c.field {
			t.Errorf("PATCH %s: %d %v, want 400 at %s", c.enc, resp.StatusCode, m, c.field)
		}
	}
	if _, m := e.Do("GET", V, nil); testserver.Field(m, enc+".state") != "Enabled" || testserver.Field(m, enc+".infrastructureEncryption") != "Disabled" {
		t.Fatalf("the vault after refused writes: %v", testserver.Field(m, enc))
	}
}
