package compute_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestDiskLargerThanTheFileSystemHolds: a disk of Azure's largest size
// (32767 GiB), created, uploaded or grown to it, is made where the data directory's
// file system holds such a file; where it does not (ext4 holds files of up
// to 16 TiB, EFBIG) the create or the resize is 400 InvalidParameter naming
// properties.diskSizeGB and what to do, no disk is left, and a grown disk
// keeps its size. Both were 500 InternalServerError ("file too large").
func TestDiskLargerThanTheFileSystemHolds(t *testing.T) {
	e, ctx := start(t)
	disk := func(gb int32) armcompute.Disk {
		return armcompute.Disk{Location: to.Ptr("westus"), SKU: &armcompute.DiskSKU{Name: to.Ptr(armcompute.DiskStorageAccountTypesPremiumLRS)},
			Properties: &armcompute.DiskProperties{CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionEmpty)}, DiskSizeGB: to.Ptr(gb)}}
	}
	refused := func(what string, err error, field ...string) bool {
		t.Helper()
		if err == nil {
			return false
		}
		f := append(field, "diskSizeGB")[0]
		re := testserver.WantError(t, what, err, http.StatusBadRequest, "InvalidParameter")
		if !strings.Contains(re.Error(), f) || !strings.Contains(re.Error(), "file system") {
			t.Fatalf("%s: the refusal does not say what to do: %v", what, re)
		}
		return true
	}
	res, err := fixture.Wait(e.disks.BeginCreateOrUpdate(ctx, e.rg, "huge", disk(32767), nil))
	if refused("a 32767 GiB disk", err) {
		if _, err := e.disks.Get(ctx, e.rg, "huge", nil); !testserver.HasError(err, http.StatusNotFound, "") {
			t.Fatalf("the refused disk: %v, want 404", err)
		}
	} else if *res.Properties.DiskSizeGB != 32767 {
		t.Fatalf("the 32767 GiB disk has %d GiB", *res.Properties.DiskSizeGB)
	}

	// An upload of that size.
	up := disk(0)
	up.Properties.DiskSizeGB = nil
	up.Properties.CreationData = &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionUpload), UploadSizeBytes: to.Ptr[int64](32767<<30 + 512)}
	if _, err := fixture.Wait(e.disks.BeginCreateOrUpdate(ctx, e.rg, "hugeupload", up, nil)); refused("a 32767 GiB upload", err, "uploadSizeBytes") {
		if _, err := e.disks.Get(ctx, e.rg, "hugeupload", nil); !testserver.HasError(err, http.StatusNotFound, "") {
			t.Fatalf("the refused upload disk: %v, want 404", err)
		}
	} else if err != nil {
		t.Fatal(err)
	}

	e.putDisk("grown", disk(16000))
	_, err = fixture.Wait(e.disks.BeginUpdate(ctx, e.rg, "grown", armcompute.DiskUpdate{Properties: &armcompute.DiskUpdateProperties{DiskSizeGB: to.Ptr[int32](32767)}}, nil))
	want := int32(32767)
	if refused("growing a disk to 32767 GiB", err) {
		want = 16000
	}
	if d, err := e.disks.Get(ctx, e.rg, "grown", nil); err != nil || *d.Properties.DiskSizeGB != want {
		t.Fatalf("the grown disk: %v, want %d GiB", err, want)
	}
}
