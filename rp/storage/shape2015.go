package storage

import (
	"encoding/json"

	"github.com/safehold/safehold/arm"
)

// skuShapeSince is the first api-version whose storage accounts carry sku
// and kind. 2015-06-15 (and the previews before it) names the replication
// type properties.accountType, has no kind (its accounts are general
// purpose: Storage), and lists the keys as key1 and key2 rather than a keys
// array.
const skuShapeSince = "2016-01-01"

// withAccountType serves an account route in the shape of the request's
// api-version: before 2016-01-01 a PUT's properties.accountType is its sku
// (kind Storage), and the answer names the sku properties.accountType,
// without sku and kind.
func withAccountType(h arm.Handler) arm.Handler {
	return arm.ShapedBefore(skuShapeSince, func(r *arm.Request) error {
		if r.HTTP.Method == "PATCH" {
			_, err := arm.AccountTypeAsSKU(r) // an update's accountType changes the sku
			return err
		}
		if r.HTTP.Method != "PUT" {
			return nil
		}
		sku, err := arm.AccountTypeAsSKU(r) // (its kind: newKind)
		var body map[string]json.RawMessage
		if err == nil && !sku && json.Unmarshal(r.Body, &body) == nil { // (Decode answers a body that is no object)
			return arm.BadRequest("MissingRequiredProperty", "properties.accountType is required at api-version %s, e.g. {\"properties\":{\"accountType\":\"Standard_LRS\"}}.", r.APIVersion)
		}
		return err
	}, func(m map[string]any) {
		arm.SKUAsAccountType(m)
		delete(m, "kind")
	}, h)
}

// newKind is the kind of an account a PUT without kind creates: general
// purpose v2, or before 2016-01-01, which has no kind, general purpose
// (Storage) as Azure made them then. A PUT without kind of an account
// that exists keeps its kind (a 2015-06-15 client's update turned a
// StorageV2 account into Storage).
func newKind(apiVersion string) string {
	if apiVersion != "" && apiVersion < skuShapeSince {
		return "Storage"
	}
	return "StorageV2"
}

// keysAnswer is the answer of listKeys and regenerateKey: the keys array,
// or before 2016-01-01 key1 and key2.
func keysAnswer(r *arm.Request, keys []Key) *arm.Response {
	if r.APIVersion == "" || r.APIVersion >= skuShapeSince {
		return arm.OK(map[string]any{"keys": keys})
	}
	out := map[string]string{}
	for _, k := range keys {
		out[k.KeyName] = k.Value
	}
	return arm.OK(out)
}
