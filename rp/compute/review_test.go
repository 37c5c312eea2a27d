package compute_test

import (
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
)

// Validation failures of a disk create are synchronous 400s (the initial
// PUT fails), never an accepted operation that fails later.
func TestDiskCopyValidationIsSynchronous(t *testing.T) {
	e := start(t)
	ctx := e.Ctx()
	e.emptyDisk("src", 2)
	for name, d := range map[string]armcompute.Disk{
		"smaller": {Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{DiskSizeGB: to.Ptr[int32](1),
			CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: to.Ptr(e.diskID("src"))}}},
		"otherregion": {Location: to.Ptr("eastus"), Properties: &armcompute.DiskProperties{
			CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: to.Ptr(e.diskID("src"))}}},
		"nosource": {Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{
			CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy)}}},
	} {
		_, err := e.disks.BeginCreateOrUpdate(ctx, e.rg, "c-"+name, d, nil)
		if st, _ := armCode(err); st != http.StatusBadRequest {
			t.Fatalf("%s: initial PUT answered %v, want a synchronous 400", name, err)
		}
		if _, err := e.disks.Get(ctx, e.rg, "c-"+name, nil); err == nil {
			t.Fatalf("%s: the refused disk exists", name)
		}
	}
	// Missing source: 404 at once.
	_, err := e.disks.BeginCreateOrUpdate(ctx, e.rg, "c-missing", armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: to.Ptr(e.diskID("nope"))}}}, nil)
	if st, _ := armCode(err); st != http.StatusNotFound {
		t.Fatalf("copy of a missing disk: %v, want 404", err)
	}
	// A larger copy is still fine.
	d := e.putDisk("bigger", armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{DiskSizeGB: to.Ptr[int32](3),
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: to.Ptr(e.diskID("src"))}}})
	if *d.Properties.DiskSizeGB != 3 {
		t.Fatalf("copy size %d GB, want 3", *d.Properties.DiskSizeGB)
	}
}
