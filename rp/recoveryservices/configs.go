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

func (pr *Provider) config(r *arm.Request, kind string) (arm.ResourceID, configRecord, error) {
	_, vid, err := pr.vaultOf(r)
	if err != nil {
		return arm.ResourceID{}, configRecord{}, err
	}
	var id arm.ResourceID
	var def configRecord
	if kind == "storage" {
		id = vid.Child("backupstorageconfig", "vaultstorageconfig")
		def = configRecord{ProxyResource: arm.ProxyResource{ID: id.String(), Name: "vaultstorageconfig", Type: "Microsoft.RecoveryServices/vaults/backupstorageconfig"},
			Properties: map[string]any{"storageModelType": "GeoRedundant", "storageType": "GeoRedundant", "storageTypeState": "Unlocked", "crossRegionRestoreFlag": false, "dedupState": "Disabled", "xcoolState": "Disabled"}}
	} else {
		id = vid.Child("backupconfig", "vaultconfig")
		def = configRecord{ProxyResource: arm.ProxyResource{ID: id.String(), Name: "vaultconfig", Type: "Microsoft.RecoveryServices/vaults/backupconfig"},
			Properties: map[string]any{"enhancedSecurityState": "Enabled", "softDeleteFeatureState": "Disabled", "isSoftDeleteFeatureStateEditable": true}}
	}
	var cur configRecord
	if err := resource.Get(r.HTTP.Context(), pr.p.Store, id, &cur); err == nil {
		def = cur
	}
	return id, def, nil
}

func (pr *Provider) getStorageConfig(r *arm.Request) (*arm.Response, error) {
	_, c, err := pr.config(r, "storage")
	if err != nil {
		return nil, err
	}
	return arm.OK(c), nil
}

func (pr *Provider) writeConfig(r *arm.Request, kind string) (configRecord, error) {
	id, c, err := pr.config(r, kind)
	if err != nil {
		return c, err
	}
	var in struct {
		Properties map[string]any `json:"properties"`
	}
	if err := r.Decode(&in); err != nil {
		return c, err
	}
	for k, v := range in.Properties {
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

func (pr *Provider) getVaultConfig(r *arm.Request) (*arm.Response, error) {
	_, c, err := pr.config(r, "vault")
	if err != nil {
		return nil, err
	}
	return arm.OK(c), nil
}

func (pr *Provider) putVaultConfig(r *arm.Request) (*arm.Response, error) {
	c, err := pr.writeConfig(r, "vault")
	if err != nil {
		return nil, err
	}
	return arm.OK(c), nil
}
