package recoveryservices

import (
	"context"
	"maps"
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
// under the vault, what it holds until it is written and the properties a
// write may set (others, the read-only ones among them, are ignored, as
// Azure ignores them).
type configKind struct {
	collection, name, typ string
	defaults              func() map[string]any
	fields                map[string]configField
}

// configField is a property a configuration write may set: a string of
// one of values (matched case-insensitively, stored as spelled here), a
// bool, or a whole number between lo and hi.
type configField struct {
	values []string
	isBool bool
	lo, hi int
}

var (
	redundancies = configField{values: []string{"GeoRedundant", "LocallyRedundant", "ZoneRedundant", "ReadAccessGeoZoneRedundant"}}
	onOff        = configField{values: []string{"Enabled", "Disabled"}}
)

var configKinds = map[string]configKind{
	"storage": {"backupstorageconfig", "vaultstorageconfig", "Microsoft.RecoveryServices/vaults/backupstorageconfig", func() map[string]any {
		return map[string]any{"storageModelType": "GeoRedundant", "storageType": "GeoRedundant", "storageTypeState": "Unlocked", "crossRegionRestoreFlag": false, "dedupState": "Disabled", "xcoolState": "Disabled"}
	}, map[string]configField{"storageModelType": redundancies, "storageType": redundancies, "crossRegionRestoreFlag": {isBool: true}, "dedupState": onOff, "xcoolState": onOff}},
	"vault": {"backupconfig", "vaultconfig", "Microsoft.RecoveryServices/vaults/backupconfig", func() map[string]any {
		return map[string]any{"enhancedSecurityState": "Enabled", "softDeleteFeatureState": "Disabled", "isSoftDeleteFeatureStateEditable": true}
	}, map[string]configField{"enhancedSecurityState": onOff, "softDeleteFeatureState": {values: []string{"Enabled", "Disabled", "AlwaysON"}},
		"softDeleteRetentionPeriodInDays": {lo: 14, hi: 180}}},
	"encryption": {"backupEncryptionConfigs", "backupResourceEncryptionConfig", "Microsoft.RecoveryServices/vaults/backupEncryptionConfigs", func() map[string]any {
		return map[string]any{"encryptionAtRestType": "MicrosoftManaged", "lastUpdateStatus": "NotEnabled", "infrastructureEncryptionState": "Disabled"}
	}, nil},
}

// config reads the configuration of the kind (configKinds) of the
// request's vault (loadConfig).
func (pr *Provider) config(r *arm.Request, kind string) (arm.ResourceID, configRecord, error) {
	vid, err := pr.foundVaultID(r)
	if err != nil {
		return arm.ResourceID{}, configRecord{}, err
	}
	return loadConfig(r.HTTP.Context(), pr.p.Store, vid, kind)
}

// loadConfig reads the configuration of the kind of the vault vid: as
// written, else its defaults. The storage configuration's storageTypeState
// is Locked once the vault protects an item, as in Azure.
func loadConfig(ctx context.Context, rd store.Reader, vid arm.ResourceID, kind string) (arm.ResourceID, configRecord, error) {
	k := configKinds[kind]
	id := vid.Child(k.collection, k.name)
	c := configRecord{ProxyResource: arm.ProxyResource{ID: id.String(), Name: k.name, Type: k.typ}, Properties: k.defaults()}
	var cur configRecord
	if err := resource.Get(ctx, rd, id, &cur); err == nil {
		c = cur
	}
	if kind == "storage" {
		items, err := resource.List[itemRecord](ctx, rd, itemType, vid.String())
		if err != nil {
			return id, c, err
		}
		c.Properties["storageTypeState"] = "Unlocked"
		if len(items) > 0 {
			c.Properties["storageTypeState"] = "Locked"
		}
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

// value checks a value sent for the property k and returns it as stored.
func (f configField) value(k string, v any) (any, error) {
	switch {
	case f.isBool:
		if b, ok := v.(bool); ok {
			return b, nil
		}
		return nil, arm.BadRequest("BMSUserErrorInvalidInput", "properties.%s must be true or false, not %v.", k, v)
	case f.values != nil:
		if s, ok := v.(string); ok {
			for _, w := range f.values {
				if strings.EqualFold(s, w) {
					return w, nil
				}
			}
		}
		return nil, arm.BadRequest("BMSUserErrorInvalidInput", "properties.%s '%v' is invalid: use %s.", k, v, strings.Join(f.values, ", "))
	default:
		if n, ok := v.(float64); ok && n == float64(int(n)) && int(n) >= f.lo && int(n) <= f.hi {
			return int(n), nil
		}
		return nil, arm.BadRequest("BMSUserErrorInvalidInput", "properties.%s '%v' is invalid: give a whole number from %d to %d.", k, v, f.lo, f.hi)
	}
}

// writeConfig applies a configuration write of the kind to the request's
// vault. It reads, checks and stores in one transaction, so that neither a
// concurrent write nor an item protected meanwhile (which locks the
// redundancy) is missed.
func (pr *Provider) writeConfig(r *arm.Request, kind string) (configRecord, error) {
	ctx := r.HTTP.Context()
	vid, err := pr.foundVaultID(r)
	if err != nil {
		return configRecord{}, err
	}
	props, err := decodeProperties(r)
	if err != nil {
		return configRecord{}, err
	}
	if props == nil {
		return configRecord{}, arm.BadRequest("BMSUserErrorInvalidInput", "properties is required: give the settings to change, e.g. {\"properties\":{...}}.")
	}
	var c configRecord
	err = pr.p.Store.Update(ctx, func(tx store.Tx) error {
		id, cur, err := loadConfig(ctx, tx, vid, kind)
		if err != nil {
			return err
		}
		c = cur
		old := maps.Clone(c.Properties)
		fields := configKinds[kind].fields
		for k, v := range props {
			f, ok := fields[k]
			if !ok || v == nil {
				continue
			}
			if c.Properties[k], err = f.value(k, v); err != nil {
				return err
			}
		}
		switch kind {
		case "storage":
			err = checkStorageConfig(old, c.Properties, props)
		case "vault":
			if err = checkVaultConfig(old, c.Properties); err == nil {
				err = pr.guardVaultConfig(r, vid, old, c.Properties, props)
			}
		}
		if err != nil {
			return err
		}
		switch kind {
		case "vault":
			err = configToVault(ctx, tx, vid, c.Properties, softDeleteProps)
		case "storage":
			err = configToVault(ctx, tx, vid, c.Properties, redundancyProps)
		}
		if err != nil {
			return err
		}
		return resource.Put(ctx, tx, id, &c)
	})
	return c, err
}

// checkStorageConfig checks a storage configuration write (old the
// properties before it, cur after, sent what the request sent):
// storageModelType and storageType are one setting (either sets both);
// it cannot change once the vault protects an item; Cross Region Restore
// needs geo-redundant storage and cannot be turned off once on.
func checkStorageConfig(old, cur, sent map[string]any) error {
	m, t := sent["storageModelType"], sent["storageType"]
	switch {
	case m != nil && t != nil && cur["storageModelType"] != cur["storageType"]:
		return arm.BadRequest("BMSUserErrorInvalidInput", "properties.storageModelType '%v' and properties.storageType '%v' differ: give one of them.", m, t)
	case m != nil:
		cur["storageType"] = cur["storageModelType"]
	case t != nil:
		cur["storageModelType"] = cur["storageType"]
	}
	if cur["storageType"] != old["storageType"] && old["storageTypeState"] == "Locked" {
		return arm.BadRequest("StorageModelModifyError", "Storage Redundancy option is locked when the first item is protected in the vault, and cannot be modified thereafter (it is %v).", old["storageType"])
	}
	if old["crossRegionRestoreFlag"] == true && cur["crossRegionRestoreFlag"] != true {
		return arm.BadRequest("BMSUserErrorInvalidInput", "Cross Region Restore cannot be disabled once it is enabled.")
	}
	if cur["crossRegionRestoreFlag"] == true && cur["storageType"] != "GeoRedundant" {
		return arm.BadRequest("BMSUserErrorInvalidInput", "Cross Region Restore needs GeoRedundant storage, not %v.", cur["storageType"])
	}
	return nil
}

// checkVaultConfig checks a vault configuration write: soft delete set
// AlwaysON cannot be changed again (isSoftDeleteFeatureStateEditable turns
// false).
func checkVaultConfig(old, cur map[string]any) error {
	if old["softDeleteFeatureState"] == "AlwaysON" && cur["softDeleteFeatureState"] != "AlwaysON" {
		return arm.BadRequest("BMSUserErrorInvalidInput", "Soft delete is AlwaysON for this vault and cannot be changed to %v.", cur["softDeleteFeatureState"])
	}
	cur["isSoftDeleteFeatureStateEditable"] = cur["softDeleteFeatureState"] != "AlwaysON"
	return nil
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

// Soft delete is one setting shown in two places, as in Azure: the
// backupconfig's softDeleteFeatureState and softDeleteRetentionPeriodInDays
// (what soft delete obeys, softdelete.go) and the vault's
// securitySettings.softDeleteSettings (softDeleteState,
// softDeleteRetentionPeriodInDays). A write of either updates the other.

// softDeleteProps sets the vault properties' softDeleteSettings from the
// vault config cfg.
func softDeleteProps(props, cfg map[string]any) {
	ss, _ := props["securitySettings"].(map[string]any)
	if ss == nil {
		ss = map[string]any{}
		props["securitySettings"] = ss
	}
	sd, _ := ss["softDeleteSettings"].(map[string]any)
	if sd == nil {
		sd = map[string]any{}
		ss["softDeleteSettings"] = sd
	}
	sd["softDeleteState"] = cfg["softDeleteFeatureState"]
	sd["softDeleteRetentionPeriodInDays"] = 14
	if d, ok := cfg["softDeleteRetentionPeriodInDays"]; ok {
		sd["softDeleteRetentionPeriodInDays"] = d
	}
}

// configToVault shows the config cfg in the stored vault vid's properties
// with show (softDeleteProps, redundancyProps).
func configToVault(ctx context.Context, tx store.Tx, vid arm.ResourceID, cfg map[string]any, show func(props, cfg map[string]any)) error {
	var v vaultRecord
	if err := resource.Get(ctx, tx, vid, &v); err != nil {
		return err
	}
	if v.Properties == nil {
		v.Properties = map[string]any{}
	}
	show(v.Properties, cfg)
	return resource.Put(ctx, tx, vid, &v)
}

// softDeleteToConfig applies the softDeleteSettings a vault PUT or PATCH
// sends (in: the request's properties) to the vault config, with the
// checks of a backupconfig write, and shows the result in props (the
// vault's properties as they will be stored).
func (pr *Provider) softDeleteToConfig(ctx context.Context, tx store.Tx, r *arm.Request, vid arm.ResourceID, in, props map[string]any) error {
	ss, ok := in["securitySettings"].(map[string]any)
	if !ok && in["securitySettings"] != nil {
		return arm.BadRequestAt("properties.securitySettings", "BMSUserErrorInvalidInput", "properties.securitySettings must be an object, such as {\"softDeleteSettings\": {\"softDeleteState\": \"Enabled\"}}.")
	}
	sd, ok := ss["softDeleteSettings"].(map[string]any)
	if !ok && ss["softDeleteSettings"] != nil {
		return arm.BadRequestAt("properties.securitySettings.softDeleteSettings", "BMSUserErrorInvalidInput", "properties.securitySettings.softDeleteSettings must be an object, such as {\"softDeleteState\": \"Enabled\", \"softDeleteRetentionPeriodInDays\": 14}.")
	}
	id, c, err := loadConfig(ctx, tx, vid, "vault")
	if err != nil {
		return err
	}
	if sd != nil {
		old := maps.Clone(c.Properties)
		fields := configKinds["vault"].fields
		for from, to := range map[string]string{"softDeleteState": "softDeleteFeatureState", "softDeleteRetentionPeriodInDays": "softDeleteRetentionPeriodInDays"} {
			if v, ok := sd[from]; ok && v != nil && v != "" {
				if c.Properties[to], err = fields[to].value("securitySettings.softDeleteSettings."+from, v); err != nil {
					return err
				}
			}
		}
		if err := checkVaultConfig(old, c.Properties); err != nil {
			return err
		}
		if err := pr.guardVaultConfig(r, vid, old, c.Properties, ss); err != nil {
			return err
		}
		if err := resource.Put(ctx, tx, id, &c); err != nil {
			return err
		}
	}
	softDeleteProps(props, c.Properties)
	return nil
}

// Storage redundancy is one setting shown in two places, as soft delete
// is: the backupstorageconfig's storageType (storageModelType) and
// crossRegionRestoreFlag, and the vault's redundancySettings
// (standardTierStorageRedundancy, crossRegionRestore Enabled or
// Disabled). A write of either updates the other, with the storage
// configuration's checks (checkStorageConfig).

// redundancyProps sets the vault properties' redundancySettings from the
// storage config cfg.
func redundancyProps(props, cfg map[string]any) {
	crr := "Disabled"
	if cfg["crossRegionRestoreFlag"] == true {
		crr = "Enabled"
	}
	props["redundancySettings"] = map[string]any{"standardTierStorageRedundancy": cfg["storageType"], "crossRegionRestore": crr}
}

// redundancyToConfig applies the redundancySettings a vault PUT or PATCH
// sends (in: the request's properties, checked by checkVaultProperties) to
// the storage config, with the checks of a backupstorageconfig write, and
// shows the result in props (the vault's properties as they will be
// stored).
func redundancyToConfig(ctx context.Context, tx store.Tx, vid arm.ResourceID, in, props map[string]any) error {
	id, c, err := loadConfig(ctx, tx, vid, "storage")
	if err != nil {
		return err
	}
	if rs, _ := in["redundancySettings"].(map[string]any); rs != nil {
		old := maps.Clone(c.Properties)
		sent := map[string]any{}
		fields := configKinds["storage"].fields
		for k, v := range rs {
			switch {
			case v == nil:
			case strings.EqualFold(k, "standardTierStorageRedundancy"):
				if sent["storageType"], err = fields["storageType"].value("redundancySettings.standardTierStorageRedundancy", v); err != nil {
					return err
				}
				c.Properties["storageType"] = sent["storageType"]
			case strings.EqualFold(k, "crossRegionRestore"):
				s, _ := v.(string)
				c.Properties["crossRegionRestoreFlag"] = strings.EqualFold(s, "Enabled")
			}
		}
		if err := checkStorageConfig(old, c.Properties, sent); err != nil {
			return err
		}
		if err := resource.Put(ctx, tx, id, &c); err != nil {
			return err
		}
	}
	redundancyProps(props, c.Properties)
	return nil
}

// A customer-managed key is one setting shown in two places too: the
// vault's encryption (keyVaultProperties.keyUri, kekIdentity,
// infrastructureEncryption: what az backup vault encryption update
// PATCHes) and the backupEncryptionConfigs' backupResourceEncryptionConfig
// (encryptionAtRestType CustomerManaged, keyUri, useSystemAssignedIdentity,
// userAssignedIdentity, infrastructureEncryptionState: what az backup
// vault encryption show reads, and what its update reads to tell a first
// key, which needs an identity, from a key rotation, which does not). A
// write of either updates the other.

// encryptionProps sets the vault properties' encryption from the
// encryption config cfg when it holds a customer-managed key.
func encryptionProps(props, cfg map[string]any) {
	key, _ := cfg["keyUri"].(string)
	typ, _ := cfg["encryptionAtRestType"].(string)
	if !strings.EqualFold(typ, "CustomerManaged") || key == "" {
		return
	}
	sys, _ := cfg["useSystemAssignedIdentity"].(bool)
	kek := map[string]any{"useSystemAssignedIdentity": sys}
	if u, _ := cfg["userAssignedIdentity"].(string); u != "" {
		kek["userAssignedIdentity"] = u
	}
	enc := map[string]any{"keyVaultProperties": map[string]any{"keyUri": key}, "kekIdentity": kek}
	if s, _ := cfg["infrastructureEncryptionState"].(string); s != "" {
		enc["infrastructureEncryption"] = s
	}
	props["encryption"] = enc
}

// encryptionToConfig shows in the encryption config the customer-managed
// key of props (the vault's properties as they will be stored) when the
// vault write's properties in set its encryption.
func encryptionToConfig(ctx context.Context, tx store.Tx, vid arm.ResourceID, in, props map[string]any) error {
	if in["encryption"] == nil {
		return nil
	}
	enc, _ := props["encryption"].(map[string]any)
	kv, _ := enc["keyVaultProperties"].(map[string]any)
	key, _ := kv["keyUri"].(string)
	if key == "" {
		return nil
	}
	id, c, err := loadConfig(ctx, tx, vid, "encryption")
	if err != nil {
		return err
	}
	kek, _ := enc["kekIdentity"].(map[string]any)
	sys, _ := kek["useSystemAssignedIdentity"].(bool)
	c.Properties["encryptionAtRestType"] = "CustomerManaged"
	c.Properties["keyUri"] = key
	c.Properties["useSystemAssignedIdentity"] = sys
	if u, _ := kek["userAssignedIdentity"].(string); u != "" && !sys {
		c.Properties["userAssignedIdentity"] = u
	} else {
		delete(c.Properties, "userAssignedIdentity")
	}
	if s, _ := enc["infrastructureEncryption"].(string); s != "" {
		c.Properties["infrastructureEncryptionState"] = s
	}
	c.Properties["lastUpdateStatus"] = "Succeeded"
	return resource.Put(ctx, tx, id, &c)
}
