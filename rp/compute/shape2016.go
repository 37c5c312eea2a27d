package compute

import (
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
		_, err := arm.AccountTypeAsSKU(r, nil)
		return err
	}, toAccountType, h)
}

// toAccountType moves a disk's or snapshot's sku.name and managedBy to
// properties.accountType and properties.ownerId.
func toAccountType(m map[string]any) {
	props := arm.SKUAsAccountType(m)
	if owner, ok := m["managedBy"].(string); ok && owner != "" {
		props["ownerId"] = owner
	}
	delete(m, "managedBy")
}
