package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// safehold image import uploads a raw file as a platform image (through a
// temporary disk it removes); a disk created from the image reads the
// file's bytes back; safehold image delete removes it from the catalog.
func TestImageImportCLI(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("images", "disks")
	src := filepath.Join(t.TempDir(), "os.img")
	f, _ := os.Create(src)
	model := map[int64][]byte{}
	for i, off := range []int64{0, 300 << 20} {
		b := bytes.Repeat([]byte{byte(i + 3), 0xa5}, 1<<19)
		f.WriteAt(b, off)
		model[off] = b
	}
	f.Truncate(1 << 30)
	f.Close()
	out := mustRun(t, e, "image", "import", src, "--publisher", "Contoso", "--offer", "Linux", "--sku", "lts", "--version", "1.0.0", "--resource-group", "images", "-o", "json")
	if !strings.Contains(out, `"osType": "Linux"`) {
		t.Fatalf("import:\n%s", out)
	}
	dc, err := armcompute.NewDisksClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	for pg := range fixture.Pages(t, dc.NewListByResourceGroupPager("images", nil)) {
		if len(pg.Value) > 0 {
			t.Fatalf("the temporary disk is left: %s", *pg.Value[0].ID)
		}
	}
	ref := "/Subscriptions/" + e.Sub + "/Providers/Microsoft.Compute/Locations/westus/Publishers/Contoso/ArtifactTypes/VMImage/Offers/Linux/Skus/lts/Versions/1.0.0"
	p, err := dc.BeginCreateOrUpdate(e.Ctx(), "disks", "from-image", armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionFromImage), ImageReference: &armcompute.ImageDiskReference{ID: to.Ptr(ref)}}}}, nil)
	fixture.Done(t, p, err)
	back := filepath.Join(t.TempDir(), "back.img")
	mustRun(t, e, "disk", "download", "from-image", back)
	checkImage(t, back, 1<<30, model)

	mustRun(t, e, "image", "delete", "westus", "Contoso", "Linux", "lts", "1.0.0")
	_, err = fixture.Wait(dc.BeginCreateOrUpdate(e.Ctx(), "disks", "after-delete", armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionFromImage), ImageReference: &armcompute.ImageDiskReference{ID: to.Ptr(ref)}}}}, nil))
	testserver.WantError(t, "a disk from a deleted image", err, 404, "PlatformImageNotFound")
}
