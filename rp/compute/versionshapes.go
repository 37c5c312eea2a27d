package compute

import (
	"encoding/json"
	"strings"

	"github.com/safehold/safehold/arm"
)

// skuShapeSince is the first api-version whose disks and snapshots carry
// the storage type as sku.name and the VM a disk is attached to as
// managedBy. 2016-04-30-preview, the first with managed disks, has them as
// properties.accountType (Standard_LRS or Premium_LRS) and
// properties.ownerId, and no sku or managedBy; its snapshots share the
// disk's schema.
const skuShapeSince = "2017-03-30"

// withAccountType serves disks and snapshots in the shape of the request's
// api-version: before 2017-03-30 a request's properties.accountType is the
// sku it names, and the answer (a resource or a page of them) carries the
// sku's name as properties.accountType and managedBy as
// properties.ownerId, without sku and managedBy.
func withAccountType(h arm.Handler) arm.Handler {
	return arm.ShapedBefore(skuShapeSince, func(r *arm.Request) error {
		_, err := arm.AccountTypeAsSKU(r)
		return err
	}, toAccountType, h)
}

// versionShapes serves disks and snapshots in the shape of each
// api-version (withEncryptionSettings, withAccountType).
func versionShapes(h arm.Handler) arm.Handler {
	return withAccountType(withEncryptionSettings(h))
}

// toAccountType moves a disk's or snapshot's sku.name and managedBy to
// properties.accountType and properties.ownerId.
func toAccountType(m map[string]any) {
	props := arm.SKUAsAccountType(m)
	if owner, ok := m["managedBy"].(string); ok && owner != "" {
		props["ownerId"] = owner
	}
	delete(m, "managedBy")
	delete(m, "managedByExtended") // a shared disk's VMs: not in that schema
}

// encryptionCollectionSince is the first api-version whose disks and
// snapshots carry Azure Disk Encryption's keys as
// properties.encryptionSettingsCollection ({enabled, encryptionSettings:
// [{diskEncryptionKey, keyEncryptionKey}]}); before it they are one
// properties.encryptionSettings ({enabled, diskEncryptionKey,
// keyEncryptionKey}).
const encryptionCollectionSince = "2018-09-30"

// withEncryptionSettings serves disks and snapshots to api-versions before
// 2018-09-30 with properties.encryptionSettings, taken as and answered
// from the collection's first element.
func withEncryptionSettings(h arm.Handler) arm.Handler {
	return arm.ShapedBefore(encryptionCollectionSince, collectionFromSettings, settingsFromCollection, h)
}

// encryptionSettings is the pre-2018-09-30 properties.encryptionSettings.
type encryptionSettings struct {
	Enabled           *bool           `json:"enabled,omitempty"`
	DiskEncryptionKey json.RawMessage `json:"diskEncryptionKey,omitempty"`
	KeyEncryptionKey  json.RawMessage `json:"keyEncryptionKey,omitempty"`
}

// collectionFromSettings rewrites a request's properties.encryptionSettings
// as the encryptionSettingsCollection of one element (a collection sent as
// well wins).
func collectionFromSettings(r *arm.Request) error {
	if !r.HasBody() {
		return nil
	}
	var body map[string]json.RawMessage
	if json.Unmarshal(r.Body, &body) != nil {
		return nil // Decode answers the error
	}
	for bk, braw := range body {
		var props map[string]json.RawMessage
		if !strings.EqualFold(bk, "properties") || json.Unmarshal(braw, &props) != nil {
			continue
		}
		settingsKey := ""
		for k := range props {
			if strings.EqualFold(k, "encryptionSettingsCollection") {
				return nil
			}
			if strings.EqualFold(k, "encryptionSettings") {
				settingsKey = k
			}
		}
		if settingsKey == "" {
			return nil
		}
		var es encryptionSettings
		if err := json.Unmarshal(props[settingsKey], &es); err != nil {
			return arm.BadRequest("InvalidParameter", "properties.encryptionSettings must be an object: {enabled, diskEncryptionKey, keyEncryptionKey}.")
		}
		coll := map[string]any{"enabled": es.Enabled != nil && *es.Enabled}
		if es.DiskEncryptionKey != nil || es.KeyEncryptionKey != nil {
			coll["encryptionSettings"] = []encryptionSettings{{DiskEncryptionKey: es.DiskEncryptionKey, KeyEncryptionKey: es.KeyEncryptionKey}}
		}
		b, err := json.Marshal(coll)
		if err != nil {
			return err
		}
		delete(props, settingsKey)
		props["encryptionSettingsCollection"] = b
		if body[bk], err = json.Marshal(props); err != nil {
			return err
		}
		r.Body, err = json.Marshal(body)
		return err
	}
	return nil
}

// settingsFromCollection answers a resource's encryptionSettingsCollection
// as the encryptionSettings of its first element.
func settingsFromCollection(m map[string]any) {
	props, _ := m["properties"].(map[string]any)
	coll, ok := props["encryptionSettingsCollection"].(map[string]any)
	if !ok {
		return
	}
	es := map[string]any{"enabled": coll["enabled"]}
	if els, ok := coll["encryptionSettings"].([]any); ok && len(els) > 0 {
		if first, ok := els[0].(map[string]any); ok {
			for _, k := range []string{"diskEncryptionKey", "keyEncryptionKey"} {
				if v, ok := first[k]; ok {
					es[k] = v
				}
			}
		}
	}
	delete(props, "encryptionSettingsCollection")
	props["encryptionSettings"] = es
}
