package recoveryservices

import (
	"net/http"
	"strings"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// configRecord is a vault-level backup configuration resource
// (backupstorageconfig/vaultstorageconfig, backupconfig/vaultconfig).
type configRecord struct {
	arm.ProxyResource
	Properties map[string]any `json:"properties"`
}

// configKind is a vault-level configuration resource: where it lives
// under the vault and what it holds until it is written.
type configKind struct {
	collection, name, typ string
	defaults              func() map[string]any
}

var configKinds = map[string]configKind{
	"storage": {"backupstorageconfig", "vaultstorageconfig", "Microsoft.RecoveryServices/vaults/backupstorageconfig", func() map[string]any {
		return map[string]any{"storageModelType": "GeoRedundant", "storageType": "GeoRedundant", "storageTypeState": "Unlocked", "crossRegionRestoreFlag": false, "dedupState": "Disabled", "xcoolState": "Disabled"}
	}},
	"vault": {"backupconfig", "vaultconfig", "Microsoft.RecoveryServices/vaults/backupconfig", func() map[string]any {
		return map[string]any{"enhancedSecurityState": "Enabled", "softDeleteFeatureState": "Disabled", "isSoftDeleteFeatureStateEditable": true}
	}},
	"encryption": {"backupEncryptionConfigs", "backupResourceEncryptionConfig", "Microsoft.RecoveryServices/vaults/backupEncryptionConfigs", func() map[string]any {
		return map[string]any{"encryptionAtRestType": "MicrosoftManaged", "lastUpdateStatus": "NotEnabled", "infrastructureEncryptionState": "Disabled"}
	}},
}

// config reads the configuration of the kind (configKinds) of the
// request's vault: as written, else its defaults.
func (pr *Provider) config(r *arm.Request, kind string) (arm.ResourceID, configRecord, error) {
	_, vid, err := pr.vaultOf(r)
	if err != nil {
		return arm.ResourceID{}, configRecord{}, err
	}
	k := configKinds[kind]
	id := vid.Child(k.collection, k.name)
	c := configRecord{ProxyResource: arm.ProxyResource{ID: id.String(), Name: k.name, Type: k.typ}, Properties: k.defaults()}
	var cur configRecord
	if err := resource.Get(r.HTTP.Context(), pr.p.Store, id, &cur); err == nil {
		c = cur
	}
	return id, c, nil
}

// getConfig answers the configuration of the kind.
func (pr *Provider) getConfig(kind string) arm.Handler {
	return func(r *arm.Request) (*arm.Response, error) {
		_, c, err := pr.config(r, kind)
		if err != nil {
			return nil, err
		}
		return arm.OK(c), nil
	}
}

// decodeProperties reads the properties a configuration write sends.
func decodeProperties(r *arm.Request) (map[string]any, error) {
	var in struct {
		Properties map[string]any `json:"properties"`
	}
	err := r.Decode(&in)
	return in.Properties, err
}

func (pr *Provider) writeConfig(r *arm.Request, kind string) (configRecord, error) {
	id, c, err := pr.config(r, kind)
	if err != nil {
		return c, err
	}
	props, err := decodeProperties(r)
	if err != nil {
		return c, err
	}
	for k, v := range props {
		if s, ok := v.(string); ok && kind == "storage" && (strings.EqualFold(k, "storageModelType") || strings.EqualFold(k, "storageType")) {
			switch strings.ToLower(s) {
			case "georedundant", "locallyredundant", "zoneredundant", "readaccessgeozoneredundant":
			default:
				return c, arm.BadRequest("BMSUserErrorInvalidInput", "properties.%s '%s' is invalid: use GeoRedundant, LocallyRedundant or ZoneRedundant.", k, s)
			}
		}
		c.Properties[k] = v
	}
	err = pr.p.Store.Update(r.HTTP.Context(), func(tx store.Tx) error { return resource.Put(r.HTTP.Context(), tx, id, &c) })
	return c, err
}

func (pr *Provider) putStorageConfig(r *arm.Request) (*arm.Response, error) {
	c, err := pr.writeConfig(r, "storage")
	if err != nil {
		return nil, err
	}
	return arm.OK(c), nil
}

// patchStorageConfig answers 204, as the SDK expects.
func (pr *Provider) patchStorageConfig(r *arm.Request) (*arm.Response, error) {
	if _, err := pr.writeConfig(r, "storage"); err != nil {
		return nil, err
	}
	return arm.Status(http.StatusNoContent, nil), nil
}

func (pr *Provider) putVaultConfig(r *arm.Request) (*arm.Response, error) {
	c, err := pr.writeConfig(r, "vault")
	if err != nil {
		return nil, err
	}
	return arm.OK(c), nil
}
