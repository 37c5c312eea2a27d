package compute_test

import (
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// A snapshot keeps the sku it is created with (Standard_LRS when none is
// sent) and a PUT or PATCH changes it, as az snapshot create/update --sku
// send it; an unknown sku, or Premium_LRS for an incremental snapshot, is
// 400 InvalidParameter.
func TestSnapshotSKU(t *testing.T) {
	e, ctx := start(t)
	e.emptyDisk("d1", 1)
	create := func(name, source string, incremental bool, sku string) (armcompute.Snapshot, error) {
		in := armcompute.Snapshot{Location: to.Ptr("westus"), Properties: &armcompute.SnapshotProperties{
			CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: to.Ptr(source)},
			Incremental:  to.Ptr(incremental)}}
		if sku != "" {
			in.SKU = &armcompute.SnapshotSKU{Name: to.Ptr(armcompute.SnapshotStorageAccountTypes(sku))}
		}
		res, err := fixture.Wait(e.snaps.BeginCreateOrUpdate(ctx, e.rg, name, in, nil))
		return res.Snapshot, err
	}
	skuOf := func(s armcompute.Snapshot) string {
		if s.SKU == nil || s.SKU.Name == nil || s.SKU.Tier == nil {
			return "none"
		}
		return string(*s.SKU.Name) + "/" + *s.SKU.Tier
	}
	if s, err := create("plain", e.diskID("d1"), false, ""); err != nil || skuOf(s) != "Standard_LRS/Standard" {
		t.Fatalf("a snapshot created without a sku: %s %v", skuOf(s), err)
	}
	s, err := create("premium", e.diskID("d1"), false, "premium_lrs")
	if err != nil || skuOf(s) != "Premium_LRS/Premium" {
		t.Fatalf("a Premium_LRS snapshot: %s %v", skuOf(s), err)
	}
	if got, err := e.snaps.Get(ctx, e.rg, "premium", nil); err != nil || skuOf(got.Snapshot) != "Premium_LRS/Premium" {
		t.Fatalf("GET of the Premium_LRS snapshot: %s %v", skuOf(got.Snapshot), err)
	}
	if s, err := create("copy", e.snapID("premium"), false, "Standard_ZRS"); err != nil || skuOf(s) != "Standard_ZRS/Standard" {
		t.Fatalf("a Standard_ZRS copy of a snapshot: %s %v", skuOf(s), err)
	}
	for _, c := range []struct {
		name        string
		incremental bool
		sku         string
	}{{"bad", false, "Ultra_LRS"}, {"incpremium", true, "Premium_LRS"}} {
		_, err := create(c.name, e.diskID("d1"), c.incremental, c.sku)
		if st, code := testserver.ErrorOf(err); st != http.StatusBadRequest || code != "InvalidParameter" {
			t.Fatalf("sku %s (incremental %v): %v", c.sku, c.incremental, err)
		}
	}

	// PATCH (az snapshot update --sku) and a PUT of the existing snapshot.
	up, err := fixture.Wait(e.snaps.BeginUpdate(ctx, e.rg, "premium", armcompute.SnapshotUpdate{SKU: &armcompute.SnapshotSKU{Name: to.Ptr(armcompute.SnapshotStorageAccountTypesStandardZRS)}}, nil))
	if err != nil || skuOf(up.Snapshot) != "Standard_ZRS/Standard" {
		t.Fatalf("PATCH sku: %s %v", skuOf(up.Snapshot), err)
	}
	if s, err := create("premium", e.diskID("d1"), false, "Standard_LRS"); err != nil || skuOf(s) != "Standard_LRS/Standard" {
		t.Fatalf("PUT sku on the existing snapshot: %s %v", skuOf(s), err)
	}
	inc, err := create("inc", e.diskID("d1"), true, "Standard_ZRS")
	if err != nil || skuOf(inc) != "Standard_ZRS/Standard" {
		t.Fatalf("an incremental Standard_ZRS snapshot: %s %v", skuOf(inc), err)
	}
	_, err = e.snaps.BeginUpdate(ctx, e.rg, "inc", armcompute.SnapshotUpdate{SKU: &armcompute.SnapshotSKU{Name: to.Ptr(armcompute.SnapshotStorageAccountTypesPremiumLRS)}}, nil)
	if st, code := testserver.ErrorOf(err); st != http.StatusBadRequest || code != "InvalidParameter" {
		t.Fatalf("PATCH Premium_LRS on an incremental snapshot: %v", err)
	}
	// An incremental copy of an incremental snapshot: standard storage
	// only. A full copy of it (incremental false) may be Premium_LRS.
	if _, err := create("inccopy", e.snapID("inc"), true, "Premium_LRS"); err == nil {
		t.Fatal("a Premium_LRS incremental copy of an incremental snapshot was created")
	} else if st, code := testserver.ErrorOf(err); st != http.StatusBadRequest || code != "InvalidParameter" {
		t.Fatalf("a Premium_LRS incremental copy of an incremental snapshot: %v", err)
	}
	if s, err := create("fullcopy", e.snapID("inc"), false, "Premium_LRS"); err != nil || skuOf(s) != "Premium_LRS/Premium" || *s.Properties.Incremental {
		t.Fatalf("a Premium_LRS full copy of an incremental snapshot: %s %v", skuOf(s), err)
	}
}
