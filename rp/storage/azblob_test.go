package storage_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sort"
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
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/service"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// blobAccount creates a storage account in resource group rg and returns
// its blob endpoint (primaryEndpoints.blob, without the trailing slash),
// its first key and the client options that trust Safehold's CA.
func blobAccount(t *testing.T, e *testserver.Env, rg, name string) (endpoint, key string, co azcore.ClientOptions) {
	t.Helper()
	_, endpoint, key, co = fixture.StorageAccountKey(t, e, rg, name)
	return endpoint, key, co
}

func wantCode(t *testing.T, what string, err error, status int, code string) {
	t.Helper()
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != status || (code != "" && re.ErrorCode != code) {
		t.Fatalf("%s: want %d %s, got %v", what, status, code, err)
	}
}

func md5of(s string) []byte {
	sum := md5.Sum([]byte(s))
	return sum[:]
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func flatNames(t *testing.T, ctx context.Context, cc *container.Client, o *container.ListBlobsFlatOptions) (names []string, pages int) {
	t.Helper()
	pg := cc.NewListBlobsFlatPager(o)
	for pg.More() {
		p, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatalf("list blobs: %v", err)
		}
		pages++
		for _, b := range p.Segment.BlobItems {
			names = append(names, *b.Name)
		}
	}
	return names, pages
}

func download(t *testing.T, ctx context.Context, bc *blob.Client, o *blob.DownloadStreamOptions) []byte {
	t.Helper()
	dl, err := bc.DownloadStream(ctx, o)
	if err != nil {
		t.Fatalf("download %s: %v", bc.URL(), err)
	}
	defer dl.Body.Close()
	b, err := io.ReadAll(dl.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func lowerKeys(m map[string]*string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[strings.ToLower(k)] = *v
	}
	return out
}

// The azblob SDK with a connection string (BlobEndpoint = the account's
// primaryEndpoints.blob): containers with metadata, a single Put Blob and a
// staged upload (Put Block, Put Block List), ranged and parallel downloads,
// listing by prefix, by page and by hierarchy, properties and metadata,
// conditional requests, deletes, and a wrong key.
func TestAzblobConnectionString(t *testing.T) {
	e := testserver.StartWithGroups(t, "stg")
	ctx := e.Ctx()
	endpoint, key, co := blobAccount(t, e, "stg", "conn1")
	cs := fmt.Sprintf("DefaultEndpointsProtocol=https;AccountName=conn1;AccountKey=%s;BlobEndpoint=%s", key, endpoint)
	client, err := azblob.NewClientFromConnectionString(cs, &azblob.ClientOptions{ClientOptions: co})
	if err != nil {
		t.Fatal(err)
	}
	if info, err := client.ServiceClient().GetAccountInfo(ctx, nil); err != nil || *info.SKUName != "Standard_LRS" || *info.AccountKind != "StorageV2" {
		t.Fatalf("account information: %v %+v", err, info)
	}
	if _, err := client.CreateContainer(ctx, "docs", &azblob.CreateContainerOptions{Metadata: map[string]*string{"owner": to.Ptr("ops")}}); err != nil {
		t.Fatalf("create container: %v", err)
	}
	_, err = client.CreateContainer(ctx, "docs", nil)
	wantCode(t, "create an existing container", err, 409, "ContainerAlreadyExists")
	if _, err := client.CreateContainer(ctx, "other", nil); err != nil {
		t.Fatal(err)
	}
	cc := client.ServiceClient().NewContainerClient("docs")
	cp, err := cc.GetProperties(ctx, nil)
	if err != nil || lowerKeys(cp.Metadata)["owner"] != "ops" || cp.ETag == nil || cp.LastModified == nil {
		t.Fatalf("container properties: %v %+v", err, cp)
	}
	if _, err := cc.SetMetadata(ctx, &container.SetMetadataOptions{Metadata: map[string]*string{"owner": to.Ptr("dev")}}); err != nil {
		t.Fatalf("set container metadata: %v", err)
	}
	var containers []string
	cpg := client.NewListContainersPager(&azblob.ListContainersOptions{Include: azblob.ListContainersInclude{Metadata: true}, MaxResults: to.Ptr[int32](1)})
	for cpg.More() {
		p, err := cpg.NextPage(ctx)
		if err != nil {
			t.Fatalf("list containers: %v", err)
		}
		for _, c := range p.ContainerItems {
			containers = append(containers, *c.Name+"="+lowerKeys(c.Metadata)["owner"])
		}
	}
	if strings.Join(containers, ",") != "docs=dev,other=" {
		t.Fatalf("containers: %v", containers)
	}

	// One Put Blob with headers and metadata.
	note := []byte("hello, safehold\n")
	up, err := client.UploadBuffer(ctx, "docs", "a/note.txt", note, &azblob.UploadBufferOptions{
		HTTPHeaders: &blob.HTTPHeaders{BlobContentType: to.Ptr("text/plain"), BlobCacheControl: to.Ptr("no-cache")},
		Metadata:    map[string]*string{"kind": to.Ptr("note")}})
	if err != nil || up.ETag == nil || up.LastModified == nil {
		t.Fatalf("upload: %v %+v", err, up)
	}
	bc := cc.NewBlobClient("a/note.txt")
	pr, err := bc.GetProperties(ctx, nil)
	if err != nil || *pr.ContentLength != int64(len(note)) || *pr.ContentType != "text/plain" || *pr.CacheControl != "no-cache" ||
		lowerKeys(pr.Metadata)["kind"] != "note" || *pr.ETag != *up.ETag || *pr.BlobType != blob.BlobTypeBlockBlob {
		t.Fatalf("properties: %v %+v", err, pr)
	}

	// A staged upload of 9 MiB in 4 MiB blocks, downloaded in parallel 1 MiB ranges.
	big := make([]byte, 9<<20+77)
	rand.Read(big)
	if _, err := client.UploadStream(ctx, "docs", "b/big.bin", bytes.NewReader(big), &azblob.UploadStreamOptions{BlockSize: 4 << 20, Concurrency: 2}); err != nil {
		t.Fatalf("staged upload: %v", err)
	}
	bl, err := cc.NewBlockBlobClient("b/big.bin").GetBlockList(ctx, blockblob.BlockListTypeAll, nil)
	if err != nil || len(bl.CommittedBlocks) != 3 || len(bl.UncommittedBlocks) != 0 || *bl.BlobContentLength != int64(len(big)) {
		t.Fatalf("block list: %v %+v", err, bl)
	}
	back := make([]byte, len(big))
	n, err := client.DownloadBuffer(ctx, "docs", "b/big.bin", back, &azblob.DownloadBufferOptions{BlockSize: 1 << 20, Concurrency: 3})
	if err != nil || n != int64(len(big)) || !bytes.Equal(back, big) {
		t.Fatalf("parallel download: %v %d", err, n)
	}
	if got := download(t, ctx, cc.NewBlobClient("b/big.bin"), &blob.DownloadStreamOptions{Range: blob.HTTPRange{Offset: 4<<20 - 5, Count: 10}}); !bytes.Equal(got, big[4<<20-5:4<<20+5]) {
		t.Fatal("ranged download across a block boundary differs")
	}
	// Transactional MD5s: a range's own, a block checked against the one sent.
	rdl, err := cc.NewBlobClient("b/big.bin").DownloadStream(ctx, &blob.DownloadStreamOptions{Range: blob.HTTPRange{Offset: 1 << 20, Count: 1000}, RangeGetContentMD5: to.Ptr(true)})
	if err != nil {
		t.Fatalf("ranged download with its MD5: %v", err)
	}
	rgot, _ := io.ReadAll(rdl.Body)
	rdl.Body.Close()
	if want := md5.Sum(big[1<<20 : 1<<20+1000]); !bytes.Equal(rgot, big[1<<20:1<<20+1000]) || !bytes.Equal(rdl.ContentMD5, want[:]) {
		t.Fatalf("ranged download with its MD5: MD5 %x", rdl.ContentMD5)
	}
	_, err = cc.NewBlobClient("b/big.bin").DownloadStream(ctx, &blob.DownloadStreamOptions{Range: blob.HTTPRange{Offset: 0, Count: 5 << 20}, RangeGetContentMD5: to.Ptr(true)})
	wantCode(t, "the MD5 of a range over 4 MiB", err, 400, "InvalidHeaderValue")
	if _, err := cc.NewBlockBlobClient("b/checked.bin").StageBlock(ctx, "Y2hlY2tlZA==", streaming([]byte("checked")),
		&blockblob.StageBlockOptions{TransactionalValidation: blob.TransferValidationTypeMD5(md5of("checked"))}); err != nil {
		t.Fatalf("stage a block with its MD5: %v", err)
	}
	_, err = cc.NewBlockBlobClient("b/checked.bin").StageBlock(ctx, "Y2hlY2tlZA==", streaming([]byte("checked")),
		&blockblob.StageBlockOptions{TransactionalValidation: blob.TransferValidationTypeMD5(md5of("other"))})
	wantCode(t, "stage a block with a wrong MD5", err, 400, "Md5Mismatch")
	_, err = cc.NewBlockBlobClient("b/checked.bin").Upload(ctx, streaming([]byte("checked")), &blockblob.UploadOptions{TransactionalValidation: blob.TransferValidationTypeMD5(md5of("other"))})
	wantCode(t, "put a blob with a wrong MD5", err, 400, "Md5Mismatch")
	// A blob put whole discards the blocks staged under its name.
	if _, err := cc.NewBlockBlobClient("b/checked.bin").Upload(ctx, streaming([]byte("whole")), nil); err != nil {
		t.Fatal(err)
	}
	if bl, err := cc.NewBlockBlobClient("b/checked.bin").GetBlockList(ctx, blockblob.BlockListTypeAll, nil); err != nil || len(bl.UncommittedBlocks) != 0 {
		t.Fatalf("block list after Put Blob: %v %+v", err, bl)
	}
	if _, err := cc.NewBlobClient("b/checked.bin").Delete(ctx, nil); err != nil {
		t.Fatal(err)
	}

	// Staged blocks not yet committed show in the block list.
	bbc := cc.NewBlockBlobClient("b/staged.bin")
	if _, err := bbc.StageBlock(ctx, "YmxvY2sx", streaming([]byte("one")), nil); err != nil {
		t.Fatalf("stage block: %v", err)
	}
	if bl, err := bbc.GetBlockList(ctx, blockblob.BlockListTypeUncommitted, nil); err != nil || len(bl.UncommittedBlocks) != 1 || *bl.UncommittedBlocks[0].Name != "YmxvY2sx" || *bl.UncommittedBlocks[0].Size != 3 {
		t.Fatalf("uncommitted block list: %v %+v", err, bl)
	}
	if _, err := bbc.CommitBlockList(ctx, []string{"YmxvY2sx"}, nil); err != nil {
		t.Fatalf("commit: %v", err)
	}

	// Blocks of the same ids staged for two blobs whose long names differ at
	// the end stay apart (as Python's uploads number their blocks alike).
	long := "c/" + strings.Repeat("a-long-directory-name/", 6)
	for _, name := range []string{long + "part1", long + "part2"} {
		if _, err := cc.NewBlockBlobClient(name).StageBlock(ctx, "MDAwMDA=", streaming([]byte(name)), nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{long + "part1", long + "part2"} {
		if _, err := cc.NewBlockBlobClient(name).CommitBlockList(ctx, []string{"MDAwMDA="}, nil); err != nil {
			t.Fatalf("commit %s: %v", name, err)
		}
		if got := download(t, ctx, cc.NewBlobClient(name), nil); string(got) != name {
			t.Fatalf("%s holds %q", name, got)
		}
		if _, err := cc.NewBlobClient(name).Delete(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}

	// Listing: by prefix, in pages of two, and by hierarchy.
	for _, name := range []string{"a/b/deep.txt", "a/two.txt", "c.txt"} {
		if _, err := client.UploadBuffer(ctx, "docs", name, []byte(name), nil); err != nil {
			t.Fatal(err)
		}
	}
	names, _ := flatNames(t, ctx, cc, &container.ListBlobsFlatOptions{Prefix: to.Ptr("a/")})
	if strings.Join(names, ",") != "a/b/deep.txt,a/note.txt,a/two.txt" {
		t.Fatalf("prefix a/: %v", names)
	}
	names, pages := flatNames(t, ctx, cc, &container.ListBlobsFlatOptions{MaxResults: to.Ptr[int32](2), Include: container.ListBlobsInclude{Metadata: true}})
	if strings.Join(names, ",") != "a/b/deep.txt,a/note.txt,a/two.txt,b/big.bin,b/staged.bin,c.txt" || pages != 3 {
		t.Fatalf("paged listing: %d pages %v", pages, names)
	}
	var tree []string
	hp := cc.NewListBlobsHierarchyPager("/", &container.ListBlobsHierarchyOptions{Prefix: to.Ptr("a/")})
	for hp.More() {
		p, err := hp.NextPage(ctx)
		if err != nil {
			t.Fatalf("hierarchy listing: %v", err)
		}
		for _, pfx := range p.Segment.BlobPrefixes {
			tree = append(tree, "dir:"+*pfx.Name)
		}
		for _, b := range p.Segment.BlobItems {
			tree = append(tree, *b.Name)
		}
	}
	sort.Strings(tree)
	if strings.Join(tree, ",") != "a/note.txt,a/two.txt,dir:a/b/" {
		t.Fatalf("hierarchy a/: %v", tree)
	}

	// Metadata and headers change the ETag; conditions hold to it.
	md, err := bc.SetMetadata(ctx, map[string]*string{"kind": to.Ptr("memo"), "rev": to.Ptr("2")}, nil)
	if err != nil || *md.ETag == *up.ETag {
		t.Fatalf("set metadata: %v", err)
	}
	if _, err := bc.SetHTTPHeaders(ctx, blob.HTTPHeaders{BlobContentType: to.Ptr("text/markdown"), BlobContentDisposition: to.Ptr("inline")}, nil); err != nil {
		t.Fatalf("set headers: %v", err)
	}
	pr, err = bc.GetProperties(ctx, nil)
	if err != nil || *pr.ContentType != "text/markdown" || *pr.ContentDisposition != "inline" || pr.CacheControl != nil || lowerKeys(pr.Metadata)["rev"] != "2" {
		t.Fatalf("properties after changes: %v %+v", err, pr)
	}
	cur, stale := *pr.ETag, *up.ETag
	_, err = client.UploadBuffer(ctx, "docs", "a/note.txt", note, &azblob.UploadBufferOptions{AccessConditions: &blob.AccessConditions{
		ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: to.Ptr(azcore.ETagAny)}}})
	wantCode(t, "upload over an existing blob with If-None-Match: *", err, 409, "BlobAlreadyExists")
	_, err = bc.DownloadStream(ctx, &blob.DownloadStreamOptions{AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: &stale}}})
	wantCode(t, "download with a stale If-Match", err, 412, "ConditionNotMet")
	_, err = bc.GetProperties(ctx, &blob.GetPropertiesOptions{AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: &cur}}})
	wantCode(t, "properties with If-None-Match of the current ETag", err, 304, "")
	_, err = bc.GetProperties(ctx, &blob.GetPropertiesOptions{AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfModifiedSince: to.Ptr(time.Now().Add(time.Hour))}}})
	wantCode(t, "properties with If-Modified-Since in the future", err, 304, "")
	_, err = bc.Delete(ctx, &blob.DeleteOptions{AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: &stale}}})
	wantCode(t, "delete with a stale If-Match", err, 412, "ConditionNotMet")
	_, err = bc.Delete(ctx, &blob.DeleteOptions{AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfNoneMatch: to.Ptr(azcore.ETagAny)}}})
	wantCode(t, "delete with If-None-Match: *", err, 412, "ConditionNotMet")
	_, err = bc.SetMetadata(ctx, nil, &blob.SetMetadataOptions{AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfUnmodifiedSince: to.Ptr(time.Now().Add(-time.Hour))}}})
	wantCode(t, "set metadata with If-Unmodified-Since in the past", err, 412, "ConditionNotMet")
	if _, err := bc.Delete(ctx, &blob.DeleteOptions{AccessConditions: &blob.AccessConditions{ModifiedAccessConditions: &blob.ModifiedAccessConditions{IfMatch: &cur}}}); err != nil {
		t.Fatalf("delete with the current If-Match: %v", err)
	}
	_, err = bc.GetProperties(ctx, nil)
	wantCode(t, "properties of a deleted blob", err, 404, "BlobNotFound")
	_, err = client.DeleteBlob(ctx, "docs", "a/note.txt", nil)
	wantCode(t, "delete a deleted blob", err, 404, "BlobNotFound")
	_, err = client.UploadBuffer(ctx, "docs", "cool.txt", []byte("x"), &azblob.UploadBufferOptions{AccessTier: to.Ptr(blob.AccessTierCool)})
	wantCode(t, "an upload to the Cool tier (not kept)", err, 400, "InvalidHeaderValue")
	if _, err := client.UploadBuffer(ctx, "docs", "hot.txt", []byte("x"), &azblob.UploadBufferOptions{AccessTier: to.Ptr(blob.AccessTierHot)}); err != nil {
		t.Fatalf("an upload to the Hot tier: %v", err)
	}
	_, err = cc.NewBlobClient("c.txt").CreateSnapshot(ctx, nil)
	wantCode(t, "a snapshot (not served)", err, 400, "UnsupportedHttpVerb")
	_, err = client.DownloadStream(ctx, "nothere", "x", nil)
	wantCode(t, "download from a missing container", err, 404, "ContainerNotFound")

	// A wrong key: 403 AuthenticationFailed, nothing changes.
	other := make([]byte, 64)
	rand.Read(other)
	wrong, err := azblob.NewClientFromConnectionString(strings.Replace(cs, key, b64(other), 1), &azblob.ClientOptions{ClientOptions: co})
	if err != nil {
		t.Fatal(err)
	}
	_, err = wrong.DeleteContainer(ctx, "docs", nil)
	wantCode(t, "delete with a wrong key", err, 403, "AuthenticationFailed")
	_, err = wrong.NewListContainersPager(nil).NextPage(ctx)
	wantCode(t, "list with a wrong key", err, 403, "AuthenticationFailed")

	if _, err := client.DeleteContainer(ctx, "docs", nil); err != nil {
		t.Fatalf("delete container: %v", err)
	}
	_, err = cc.GetProperties(ctx, nil)
	wantCode(t, "properties of a deleted container", err, 404, "ContainerNotFound")
}

// The azblob SDK with SAS URLs: an account SAS does everything it grants,
// a container SAS reads and lists; an expired, tampered or too narrow SAS
// is Azure's 403. A VHD uploaded as a page blob through a SAS imports into
// a disk.
func TestAzblobSAS(t *testing.T) {
	e := testserver.StartWithGroups(t, "stg", "disks")
	ctx := e.Ctx()
	endpoint, key, co := blobAccount(t, e, "stg", "sas1")
	cred, err := azblob.NewSharedKeyCredential("sas1", key)
	if err != nil {
		t.Fatal(err)
	}
	keyed, err := service.NewClientWithSharedKeyCredential(endpoint+"/", cred, &service.ClientOptions{ClientOptions: co})
	if err != nil {
		t.Fatal(err)
	}
	accountSAS, err := keyed.GetSASURL(sas.AccountResourceTypes{Service: true, Container: true, Object: true},
		sas.AccountPermissions{Read: true, Write: true, Create: true, Delete: true, List: true}, time.Now().Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	client, err := azblob.NewClientWithNoCredential(accountSAS, &azblob.ClientOptions{ClientOptions: co})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateContainer(ctx, "vhds", nil); err != nil {
		t.Fatalf("create container with an account SAS: %v", err)
	}
	doc := make([]byte, 5<<20+3)
	rand.Read(doc)
	if _, err := client.UploadStream(ctx, "vhds", "doc.bin", bytes.NewReader(doc), &azblob.UploadStreamOptions{BlockSize: 4 << 20}); err != nil {
		t.Fatalf("staged upload with an account SAS: %v", err)
	}
	back := make([]byte, len(doc))
	if _, err := client.DownloadBuffer(ctx, "vhds", "doc.bin", back, &azblob.DownloadBufferOptions{BlockSize: 2 << 20, Concurrency: 2}); err != nil || !bytes.Equal(back, doc) {
		t.Fatalf("download with an account SAS: %v", err)
	}

	// A 2 MiB disk as a fixed VHD page blob, uploaded by pages through the SAS.
	const size = 2 << 20
	data := make([]byte, size)
	rand.Read(data[:8192])
	rand.Read(data[1<<20 : 1<<20+4096])
	vhd := fixedVHD(data)
	pb := client.ServiceClient().NewContainerClient("vhds").NewPageBlobClient("disk.vhd")
	uploadPages(t, ctx, pb, vhd, [][2]int{{0, 8192}, {1 << 20, 1<<20 + 4096}, {size, size + 512}})
	disks, err := armcompute.NewDisksClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	createDisk(t, ctx, disks, "fromvhd", armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionImport), SourceURI: to.Ptr("https://sas1.blob.core.windows.net/vhds/disk.vhd")}}})
	if got := readDisk(t, ctx, e, co, "disks", "fromvhd"); !bytes.Equal(got, data) {
		t.Fatal("the imported disk differs from the VHD's data")
	}

	// A blob SAS from the blob client (which, on an IP endpoint, takes the
	// path's first segment for the account: the server reads it the same
	// way, for this blob only).
	bsas, err := keyed.NewContainerClient("vhds").NewBlobClient("doc.bin").GetSASURL(sas.BlobPermissions{Read: true}, time.Now().Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	bro, err := blob.NewClientWithNoCredential(bsas, &blob.ClientOptions{ClientOptions: co})
	if err != nil {
		t.Fatal(err)
	}
	if got := download(t, ctx, bro, nil); !bytes.Equal(got, doc) {
		t.Fatal("download with a blob SAS differs")
	}
	other, err := blob.NewClientWithNoCredential(strings.Replace(bsas, "/doc.bin?", "/disk.vhd?", 1), &blob.ClientOptions{ClientOptions: co})
	if err != nil {
		t.Fatal(err)
	}
	_, err = other.GetProperties(ctx, nil)
	wantCode(t, "another blob with a blob SAS", err, 403, "AuthenticationFailed")

	// A container SAS that reads and lists (signed by sas.BlobSignatureValues).
	containerSAS := func(cred *azblob.SharedKeyCredential, perms sas.ContainerPermissions, start, expiry time.Time) string {
		qp, err := sas.BlobSignatureValues{Protocol: sas.ProtocolHTTPS, StartTime: start, ExpiryTime: expiry, Permissions: perms.String(), ContainerName: "vhds"}.SignWithSharedKey(cred)
		if err != nil {
			t.Fatal(err)
		}
		return endpoint + "/vhds?" + qp.Encode()
	}
	readSAS := containerSAS(cred, sas.ContainerPermissions{Read: true, List: true}, time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
	ro, err := container.NewClientWithNoCredential(readSAS, &container.ClientOptions{ClientOptions: co})
	if err != nil {
		t.Fatal(err)
	}
	if names, _ := flatNames(t, ctx, ro, nil); strings.Join(names, ",") != "disk.vhd,doc.bin" {
		t.Fatalf("list with a container SAS: %v", names)
	}
	if got := download(t, ctx, ro.NewBlobClient("doc.bin"), &blob.DownloadStreamOptions{Range: blob.HTTPRange{Offset: 100, Count: 50}}); !bytes.Equal(got, doc[100:150]) {
		t.Fatal("ranged download with a container SAS differs")
	}
	_, err = ro.NewBlockBlobClient("new.txt").Upload(ctx, streaming([]byte("x")), nil)
	wantCode(t, "upload with a read/list SAS", err, 403, "AuthorizationPermissionMismatch")
	_, err = ro.NewBlobClient("doc.bin").Delete(ctx, nil)
	wantCode(t, "delete with a read/list SAS", err, 403, "AuthorizationPermissionMismatch")

	// A container SAS deletes blobs, never the container; one bound to other
	// addresses or to a stored access policy (Safehold keeps none) does nothing.
	rwdl, err := container.NewClientWithNoCredential(containerSAS(cred, sas.ContainerPermissions{Read: true, Write: true, Delete: true, List: true},
		time.Now().Add(-time.Minute), time.Now().Add(time.Hour)), &container.ClientOptions{ClientOptions: co})
	if err != nil {
		t.Fatal(err)
	}
	_, err = rwdl.Delete(ctx, nil)
	wantCode(t, "delete the container with a container SAS", err, 403, "AuthorizationResourceTypeMismatch")
	_, err = rwdl.SetMetadata(ctx, nil)
	wantCode(t, "set container metadata with a container SAS", err, 403, "AuthorizationResourceTypeMismatch")
	if _, err := rwdl.NewBlockBlobClient("tmp.txt").Upload(ctx, streaming([]byte("tmp")), nil); err != nil {
		t.Fatalf("upload with a container SAS: %v", err)
	}
	if _, err := rwdl.NewBlobClient("tmp.txt").Delete(ctx, nil); err != nil {
		t.Fatalf("delete a blob with a container SAS: %v", err)
	}
	// Create without write: new blobs only.
	createOnly, err := container.NewClientWithNoCredential(containerSAS(cred, sas.ContainerPermissions{Create: true},
		time.Now().Add(-time.Minute), time.Now().Add(time.Hour)), &container.ClientOptions{ClientOptions: co})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := createOnly.NewBlockBlobClient("created.txt").Upload(ctx, streaming([]byte("new")), nil); err != nil {
		t.Fatalf("create a blob with a create SAS: %v", err)
	}
	if _, err := createOnly.NewBlockBlobClient("staged.bin").StageBlock(ctx, "YjE=", streaming([]byte("b1")), nil); err != nil {
		t.Fatalf("stage a block with a create SAS: %v", err)
	}
	if _, err := createOnly.NewBlockBlobClient("staged.bin").CommitBlockList(ctx, []string{"YjE="}, nil); err != nil {
		t.Fatalf("commit a new blob with a create SAS: %v", err)
	}
	_, err = createOnly.NewBlockBlobClient("created.txt").Upload(ctx, streaming([]byte("over")), nil)
	wantCode(t, "overwrite with a create SAS", err, 403, "AuthorizationPermissionMismatch")
	_, err = createOnly.NewBlobClient("created.txt").SetMetadata(ctx, map[string]*string{"a": to.Ptr("b")}, nil)
	wantCode(t, "set metadata with a create SAS", err, 403, "AuthorizationPermissionMismatch")
	if got := download(t, ctx, ro.NewBlobClient("created.txt"), nil); string(got) != "new" {
		t.Fatalf("created.txt holds %q", got)
	}
	for _, name := range []string{"created.txt", "staged.bin"} {
		if _, err := rwdl.NewBlobClient(name).Delete(ctx, nil); err != nil {
			t.Fatal(err)
		}
	}

	for _, c := range []struct {
		what string
		v    sas.BlobSignatureValues
		code string
	}{
		{"another IP range", sas.BlobSignatureValues{IPRange: sas.IPRange{Start: net.ParseIP("192.0.2.1"), End: net.ParseIP("192.0.2.9")}}, "AuthorizationSourceIPMismatch"},
		{"a stored access policy", sas.BlobSignatureValues{Identifier: "policy1"}, "AuthenticationFailed"},
		{"this address", sas.BlobSignatureValues{IPRange: sas.IPRange{Start: net.ParseIP("127.0.0.1")}}, ""},
	} {
		c.v.ContainerName, c.v.Protocol, c.v.ExpiryTime, c.v.Permissions = "vhds", sas.ProtocolHTTPS, time.Now().Add(time.Hour), "rl"
		qp, err := c.v.SignWithSharedKey(cred)
		if err != nil {
			t.Fatal(err)
		}
		bc, _ := container.NewClientWithNoCredential(endpoint+"/vhds?"+qp.Encode(), &container.ClientOptions{ClientOptions: co})
		_, err = bc.NewListBlobsFlatPager(nil).NextPage(ctx)
		if c.code == "" && err != nil {
			t.Fatalf("list with a SAS of %s: %v", c.what, err)
		} else if c.code != "" {
			wantCode(t, "list with a SAS of "+c.what, err, 403, c.code)
		}
	}
	local, _ := container.NewClientWithNoCredential(containerSAS(cred, sas.ContainerPermissions{List: true}, time.Now().Add(-time.Minute), time.Now().Add(time.Hour))+"&sip=127.0.0.1", &container.ClientOptions{ClientOptions: co})
	_, err = local.NewListBlobsFlatPager(nil).NextPage(ctx)
	wantCode(t, "a sip added after signing", err, 403, "AuthenticationFailed")

	// Tampered: the permissions widened after signing.
	u, _ := url.Parse(readSAS)
	q := u.Query()
	q.Set("sp", "rwdl")
	u.RawQuery = q.Encode()
	tampered, err := container.NewClientWithNoCredential(u.String(), &container.ClientOptions{ClientOptions: co})
	if err != nil {
		t.Fatal(err)
	}
	_, err = tampered.NewBlobClient("doc.bin").Delete(ctx, nil)
	wantCode(t, "delete with a tampered SAS", err, 403, "AuthenticationFailed")

	// Expired.
	expiredSAS := containerSAS(cred, sas.ContainerPermissions{Read: true, List: true}, time.Now().Add(-time.Hour), time.Now().Add(-time.Minute))
	expired, err := container.NewClientWithNoCredential(expiredSAS, &container.ClientOptions{ClientOptions: co})
	if err != nil {
		t.Fatal(err)
	}
	_, err = expired.NewListBlobsFlatPager(nil).NextPage(ctx)
	wantCode(t, "list with an expired SAS", err, 403, "AuthenticationFailed")
	_, err = expired.NewBlobClient("doc.bin").GetProperties(ctx, nil)
	wantCode(t, "properties with an expired SAS", err, 403, "AuthenticationFailed")

	// A SAS signed with another key.
	otherKey := make([]byte, 64)
	rand.Read(otherKey)
	ocred, _ := azblob.NewSharedKeyCredential("sas1", b64(otherKey))
	forged := containerSAS(ocred, sas.ContainerPermissions{Read: true}, time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
	fc, _ := blob.NewClientWithNoCredential(strings.Replace(forged, "/vhds?", "/vhds/doc.bin?", 1), &blob.ClientOptions{ClientOptions: co})
	_, err = fc.GetProperties(ctx, nil)
	wantCode(t, "properties with a SAS of another key", err, 403, "AuthenticationFailed")
}
