package storage_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/pageblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

const (
	roleContributor = "b24988ac-6180-42a0-ab88-20f7382dd24c"
	roleReader      = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
)

// fixedVHD is data followed by a fixed VHD's footer.
func fixedVHD(data []byte) []byte {
	footer := make([]byte, 512)
	copy(footer, "conectix")
	footer[63] = 2 // disk type: fixed
	return append(append([]byte{}, data...), footer...)
}

// Blobs go up through azblob with the account's key (block blobs in
// blocks, a page blob by pages), come back ranged, list, and a VHD blob
// named by Azure's URL imports into a managed disk with the same bytes,
// for a caller allowed to read the account only.
func TestBlobsAndImport(t *testing.T) {
	e := testserver.StartWithGroups(t, "stg", "disks")
	ctx := e.Ctx()
	A := "/subscriptions/" + e.Sub + "/resourceGroups/stg/providers/Microsoft.Storage/storageAccounts/images1"
	endpoint, key, co := blobAccount(t, e, "stg", "images1")
	if !strings.HasSuffix(endpoint, "/storage/blob/images1") {
		t.Fatalf("blob endpoint %q", endpoint)
	}
	endpoint += "/"
	cred, err := azblob.NewSharedKeyCredential("images1", key)
	if err != nil {
		t.Fatal(err)
	}
	hc, err := e.Conn.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	cc, err := container.NewClientWithSharedKeyCredential(endpoint+"osimages", cred, &container.ClientOptions{ClientOptions: co})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cc.Create(ctx, nil); err != nil {
		t.Fatalf("create container: %v", err)
	}
	if _, err := cc.Create(ctx, nil); storageCode(err) != "ContainerAlreadyExists" {
		t.Fatalf("second create: %v", err)
	}

	// A block blob in 1 MiB blocks (Put Block, Put Block List), read back by range.
	doc := make([]byte, 3<<20+123)
	rand.Read(doc)
	bb := cc.NewBlockBlobClient("notes/doc.bin")
	if _, err := bb.UploadBuffer(ctx, doc, &blockblob.UploadBufferOptions{BlockSize: 1 << 20, Concurrency: 2}); err != nil {
		t.Fatalf("upload block blob: %v", err)
	}
	dl, err := bb.DownloadStream(ctx, &blob.DownloadStreamOptions{Range: blob.HTTPRange{Offset: 1<<20 - 10, Count: 1000}})
	if err != nil {
		t.Fatalf("ranged download: %v", err)
	}
	got, _ := io.ReadAll(dl.Body)
	dl.Body.Close()
	if !bytes.Equal(got, doc[1<<20-10:1<<20+990]) {
		t.Fatal("ranged download differs")
	}

	// A 4 MiB disk as a fixed VHD page blob: data in two places, the footer at the end.
	const size = 4 << 20
	data := make([]byte, size)
	rand.Read(data[:64<<10])
	rand.Read(data[3<<20 : 3<<20+8192])
	vhd := fixedVHD(data)
	pb := cc.NewPageBlobClient("disk.vhd")
	uploadPages(t, ctx, pb, vhd, [][2]int{{0, 64 << 10}, {3 << 20, 3<<20 + 8192}, {size, size + 512}})
	pager := cc.NewListBlobsFlatPager(nil)
	var names []string
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatalf("list blobs: %v", err)
		}
		for _, b := range page.Segment.BlobItems {
			names = append(names, *b.Name+"="+string(*b.Properties.BlobType))
		}
	}
	if strings.Join(names, ",") != "disk.vhd=PageBlob,notes/doc.bin=BlockBlob" {
		t.Fatalf("blobs: %v", names)
	}

	// A bad SAS: Azure's 403 AuthenticationFailed, as XML.
	sasURL, err := cc.NewBlobClient("disk.vhd").GetSASURL(sas.BlobPermissions{Read: true}, time.Now().Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	good, err := blob.NewClientWithNoCredential(sasURL, &blob.ClientOptions{ClientOptions: co})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := good.GetProperties(ctx, nil); err != nil {
		t.Fatalf("properties with a good SAS: %v", err)
	}
	bad := strings.Replace(sasURL, "sig=", "sig=AAAA", 1)
	req, _ := http.NewRequest("GET", bad, nil)
	res, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 403 || res.Header.Get("x-ms-error-code") != "AuthenticationFailed" || !bytes.Contains(body, []byte("<Error><Code>AuthenticationFailed</Code><Message>")) {
		t.Fatalf("bad SAS: %d %s", res.StatusCode, body)
	}
	if _, err := good.Delete(ctx, nil); storageCode(err) != "AuthorizationPermissionMismatch" {
		t.Fatalf("delete with a read SAS: %v", err)
	}

	// Import, by Azure's URL of the blob, as a caller who may create disks
	// but not read the account: 403; allowed to read it: the VHD's data.
	objectID, pcred := fixture.Principal(t, e, "importer")
	fixture.Assign(t, e, "/subscriptions/"+e.Sub+"/resourceGroups/disks", roleContributor, objectID)
	disks, err := armcompute.NewDisksClient(e.Sub, pcred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	spec := armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{CreationData: &armcompute.CreationData{
		CreateOption: to.Ptr(armcompute.DiskCreateOptionImport), SourceURI: to.Ptr("https://images1.blob.core.windows.net/osimages/disk.vhd"), StorageAccountID: to.Ptr(A)}}}
	_, err = disks.BeginCreateOrUpdate(ctx, "disks", "imported", spec, nil)
	testserver.WantError(t, "import without reading the account", err, 403, "LinkedAuthorizationFailed")
	fixture.Assign(t, e, A, roleReader, objectID)
	missing := spec
	missing.Properties = &armcompute.DiskProperties{CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionImport),
		SourceURI: to.Ptr("https://images1.blob.core.windows.net/osimages/absent.vhd")}}
	_, err = disks.BeginCreateOrUpdate(ctx, "disks", "absent", missing, nil)
	testserver.WantError(t, "import of a missing blob", err, 404, "DiskBlobNotFound")
	pl, err := disks.BeginCreateOrUpdate(ctx, "disks", "imported", spec, nil)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	d, err := pl.PollUntilDone(ctx, fixture.Poll)
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if *d.Properties.DiskSizeBytes != size || *d.Properties.CreationData.SourceURI != *spec.Properties.CreationData.SourceURI || *d.Properties.CreationData.StorageAccountID != A {
		t.Fatalf("imported disk %+v", d.Properties)
	}
	if back := readDisk(t, ctx, e, co, "disks", "imported"); !bytes.Equal(back, data) {
		t.Fatal("the imported disk's bytes differ from the VHD's data")
	}
	// A blob that is no VHD does not import.
	notVHD := missing
	notVHD.Properties.CreationData.SourceURI = to.Ptr(endpoint + "osimages/notes/doc.bin")
	_, err = disks.BeginCreateOrUpdate(ctx, "disks", "notvhd", notVHD, nil)
	testserver.WantError(t, "import of a block blob that is no VHD", err, 400, "InvalidParameter")

	// A snapshot imports the same blob, by Safehold's own URL of it.
	snaps, err := armcompute.NewSnapshotsClient(e.Sub, pcred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	spl, err := snaps.BeginCreateOrUpdate(ctx, "disks", "imported-snap", armcompute.Snapshot{Location: to.Ptr("westus"), Properties: &armcompute.SnapshotProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionImport), SourceURI: to.Ptr(endpoint + "osimages/disk.vhd")}}}, nil)
	if err != nil {
		t.Fatalf("import snapshot: %v", err)
	}
	sn, err := spl.PollUntilDone(ctx, fixture.Poll)
	if err != nil || *sn.Properties.DiskSizeBytes != size || *sn.Properties.CreationData.CreateOption != armcompute.DiskCreateOptionImport {
		t.Fatalf("imported snapshot: %v %+v", err, sn.Properties)
	}
	fromSnap := armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{CreationData: &armcompute.CreationData{
		CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: sn.ID}}}
	createDisk(t, ctx, disks, "from-snap", fromSnap)
	if back := readDisk(t, ctx, e, co, "disks", "from-snap"); !bytes.Equal(back, data) {
		t.Fatal("a disk of the imported snapshot differs from the VHD's data")
	}
}

// uploadPages creates a page blob of vhd's size and writes the ranges rs of vhd.
func uploadPages(t *testing.T, ctx context.Context, pb *pageblob.Client, vhd []byte, rs [][2]int) {
	t.Helper()
	if _, err := pb.Create(ctx, int64(len(vhd)), nil); err != nil {
		t.Fatalf("create page blob: %v", err)
	}
	for _, r := range rs {
		if _, err := pb.UploadPages(ctx, streaming(vhd[r[0]:r[1]]), blob.HTTPRange{Offset: int64(r[0]), Count: int64(r[1] - r[0])}, nil); err != nil {
			t.Fatalf("put pages %v: %v", r, err)
		}
	}
}

// createDisk creates disk name in resource group disks and waits for it.
func createDisk(t *testing.T, ctx context.Context, disks *armcompute.DisksClient, name string, d armcompute.Disk) {
	t.Helper()
	pl, err := disks.BeginCreateOrUpdate(ctx, "disks", name, d, nil)
	if err == nil {
		_, err = pl.PollUntilDone(ctx, fixture.Poll)
	}
	if err != nil {
		t.Fatalf("create disk %s: %v", name, err)
	}
}

func readDisk(t *testing.T, ctx context.Context, e *testserver.Env, co azcore.ClientOptions, rg, name string) []byte {
	disks, err := armcompute.NewDisksClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	pl, err := disks.BeginGrantAccess(ctx, rg, name, armcompute.GrantAccessData{Access: to.Ptr(armcompute.AccessLevelRead), DurationInSeconds: to.Ptr[int32](600)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	g, err := pl.PollUntilDone(ctx, fixture.Poll)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := pageblob.NewClientWithNoCredential(*g.AccessSAS, &pageblob.ClientOptions{ClientOptions: co})
	if err != nil {
		t.Fatal(err)
	}
	dl, err := pc.DownloadStream(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Body.Close()
	b, err := io.ReadAll(dl.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type rsc struct{ *bytes.Reader }

func (rsc) Close() error { return nil }

func streaming(b []byte) rsc { return rsc{bytes.NewReader(b)} }

func storageCode(err error) string {
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}
