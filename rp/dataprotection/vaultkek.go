package dataprotection

import (
	"encoding/json"
	"strings"

	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/rp/vaultface"
)

// A Backup vault's customer-managed key (securitySettings.
// encryptionSettings), as Azure holds it ("Encrypt backup data in a Backup
// vault by using customer-managed keys"): the key is a Key Vault key's
// identifier, reached with a managed identity (kekIdentity: the vault's
// system-assigned one, or a user-assigned one named by its id); once on,
// the vault cannot revert to platform-managed keys. A write that leaves
// the settings out keeps them; a PATCH merges into them (a key rotation
// sends the key alone).

// ekField names the key settings in errors.
const ekField = "properties.securitySettings.encryptionSettings"

// encryptionSettings is the part of securitySettings.encryptionSettings
// the checks read (stored as checked, in Azure's spelling).
type encryptionSettings struct {
	State                    string `json:"state"`
	InfrastructureEncryption string `json:"infrastructureEncryption"`
	KeyVaultProperties       *struct {
		KeyURI string `json:"keyUri"`
	} `json:"keyVaultProperties"`
	KekIdentity *struct {
		IdentityType string `json:"identityType"`
		IdentityID   string `json:"identityId"`
	} `json:"kekIdentity"`
}

// encryptionRaw is the encryptionSettings object of security settings sec
// (nil when they have none).
func encryptionRaw(sec json.RawMessage) json.RawMessage {
	_, es := getCI(parseRaw(sec), "encryptionSettings")
	if es == nil || string(es) == "null" {
		return nil
	}
	return es
}

// encryptionOf reads the encryptionSettings of security settings sec.
func encryptionOf(sec json.RawMessage) *encryptionSettings {
	raw := encryptionRaw(sec)
	if raw == nil {
		return nil
	}
	var es encryptionSettings
	if json.Unmarshal(raw, &es) != nil {
		return nil
	}
	return &es
}

// keepEncryption returns the security settings to store (out, the
// request's as checked so far) with the vault's key settings (old's) kept
// when the request (raw) leaves them out, or merged under the request's
// when merge (a PATCH); sent says whether the request gave any.
func keepEncryption(raw, old, out json.RawMessage, merge bool) (json.RawMessage, bool, error) {
	sent, kept := encryptionRaw(raw), encryptionRaw(old)
	if sent == nil && kept == nil {
		return out, false, nil
	}
	es := sent
	switch {
	case sent == nil:
		es = kept
	case merge && kept != nil:
		var o, p map[string]any
		_ = json.Unmarshal(kept, &o)
		if err := json.Unmarshal(sent, &p); err != nil {
			return nil, false, fieldError(ekField, "must be an object")
		}
		b, err := json.Marshal(vaultface.MergePatch(o, p))
		if err != nil {
			return nil, false, err
		}
		es = b
	}
	m := parseRaw(out)
	if m == nil {
		m = map[string]json.RawMessage{}
	}
	if k, _ := getCI(m, "encryptionSettings"); k != "" {
		delete(m, k)
	}
	m["encryptionSettings"] = es
	b, err := json.Marshal(m)
	return b, sent != nil, err
}

// checkEncryption checks the key settings a write would store (in sec)
// against the vault's (in old), and returns sec with a
// system-assigned kekIdentity's identityId (a user-assigned identity's
// field, left by a PATCH that moved the key to the system identity)
// dropped.
func checkEncryption(old, sec json.RawMessage) (json.RawMessage, error) {
	es := encryptionOf(sec)
	if es == nil {
		return sec, nil
	}
	was := encryptionOf(old)
	if was != nil && strings.EqualFold(was.State, "Enabled") && strings.EqualFold(es.State, "Disabled") {
		return nil, fieldError(ekField+".state", "cannot change from 'Enabled' to 'Disabled': a Backup vault encrypted with a customer-managed key cannot revert to platform-managed keys (you may change its key or the identity that reaches it)")
	}
	enabled := strings.EqualFold(es.State, "Enabled")
	uri := ""
	if es.KeyVaultProperties != nil {
		uri = es.KeyVaultProperties.KeyURI
	}
	if uri == "" && enabled {
		return nil, fieldError(ekField+".keyVaultProperties.keyUri", "is required with state 'Enabled': the key's identifier, https://{key vault}.vault.azure.net/keys/{key}[/{version}]")
	}
	if uri != "" && !vaultface.IsKeyURI(uri) {
		return nil, fieldError(ekField+".keyVaultProperties.keyUri", "'%s' is not a Key Vault key's identifier: give https://{key vault}.vault.azure.net/keys/{key}[/{version}] (without a version, the key's newest version is used)", uri)
	}
	k := es.KekIdentity
	if k == nil || k.IdentityType == "" {
		if enabled {
			return nil, fieldError(ekField+".kekIdentity.identityType", "is required with state 'Enabled': 'SystemAssigned' (the vault's system-assigned identity) or 'UserAssigned' (with identityId, one of the vault's user-assigned identities)")
		}
		return sec, nil
	}
	if strings.EqualFold(k.IdentityType, "SystemAssigned") {
		if k.IdentityID == "" {
			return sec, nil
		}
		return dropKekIdentityID(sec)
	}
	f := ekField + ".kekIdentity.identityId"
	if k.IdentityID == "" {
		return nil, fieldError(f, "is required with identityType 'UserAssigned': the id of one of the vault's user-assigned identities")
	}
	return sec, resource.CheckUserAssignedID(f, k.IdentityID)
}

// dropKekIdentityID is sec without encryptionSettings.kekIdentity.identityId.
func dropKekIdentityID(sec json.RawMessage) (json.RawMessage, error) {
	var m map[string]any
	if err := json.Unmarshal(sec, &m); err != nil {
		return nil, err
	}
	if es, ok := m["encryptionSettings"].(map[string]any); ok {
		if k, ok := es["kekIdentity"].(map[string]any); ok {
			delete(k, "identityId")
		}
	}
	return json.Marshal(m)
}
