package storage_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blockblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
	"github.com/safehold/safehold/internal/testserver"
)

// TestBlockIDLimits: a block id is base64 of 1 to 64 bytes, as Azure
// requires. A longer id (whose staged file name would exceed the file
// system's limit) or one that is not base64 is 400
// InvalidQueryParameterValue, never a 500, and leaves the blob as it was;
// an id of exactly 64 bytes stages and commits.
func TestBlockIDLimits(t *testing.T) {
	e := testserver.StartWithGroups(t, "stg")
	ctx := e.Ctx()
	client := containerClient(t, e, "stg", "ids1", "blocks")
	bbc := client.ServiceClient().NewContainerClient("blocks").NewBlockBlobClient("b.bin")
	if _, err := bbc.Upload(ctx, streaming([]byte("original")), nil); err != nil {
		t.Fatal(err)
	}
	for name, id := range map[string]string{
		"65 bytes":           base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{'a'}, 65)),
		"1024 bytes":         base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{'a'}, 1024)),
		"a 1024-char id":     strings.Repeat("QUFB", 256),
		"not base64":         "***",
		"base64 of nothing?": "=",
	} {
		_, err := bbc.StageBlock(ctx, id, streaming([]byte("block")), nil)
		wantCode(t, "stage a block whose id is "+name, err, 400, "InvalidQueryParameterValue")
	}
	if got := download(t, ctx, bbc.BlobClient(), nil); string(got) != "original" {
		t.Fatalf("the blob after refused blocks: %q", got)
	}
	id64 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{'z'}, 64))
	if _, err := bbc.StageBlock(ctx, id64, streaming([]byte("sixty-four")), nil); err != nil {
		t.Fatalf("stage a block whose id has 64 bytes: %v", err)
	}
	if _, err := bbc.CommitBlockList(ctx, []string{id64}, nil); err != nil {
		t.Fatalf("commit it: %v", err)
	}
	if got := download(t, ctx, bbc.BlobClient(), nil); string(got) != "sixty-four" {
		t.Fatalf("the committed blob: %q", got)
	}
	if bl, err := bbc.GetBlockList(ctx, blockblob.BlockListTypeAll, nil); err != nil || len(bl.CommittedBlocks) != 1 || *bl.CommittedBlocks[0].Name != id64 {
		t.Fatalf("block list: %v", err)
	}
}

// TestBlockWritesOnAPageBlob: Put Block and Put Block List on a name that
// holds a page blob are 409 InvalidBlobType, as in Azure Storage (and
// Azurite): the block was staged (201) and the commit replaced the page
// blob with a block blob. The page blob keeps its bytes.
func TestBlockWritesOnAPageBlob(t *testing.T) {
	e := testserver.StartWithGroups(t, "stg")
	ctx := e.Ctx()
	client := containerClient(t, e, "stg", "pgblk1", "pages")
	cc := client.ServiceClient().NewContainerClient("pages")
	pbc := cc.NewPageBlobClient("p.vhd")
	if _, err := pbc.Create(ctx, 1024, nil); err != nil {
		t.Fatal(err)
	}
	page := bytes.Repeat([]byte{7}, 512)
	if _, err := pbc.UploadPages(ctx, streaming(page), blob.HTTPRange{Offset: 0, Count: 512}, nil); err != nil {
		t.Fatal(err)
	}
	bbc := cc.NewBlockBlobClient("p.vhd")
	id := base64.StdEncoding.EncodeToString([]byte("block-1"))
	_, err := bbc.StageBlock(ctx, id, streaming([]byte("block")), nil)
	wantCode(t, "Put Block on a page blob", err, 409, "InvalidBlobType")
	_, err = bbc.CommitBlockList(ctx, []string{}, nil)
	wantCode(t, "Put Block List on a page blob", err, 409, "InvalidBlobType")
	props, err := pbc.GetProperties(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if props.BlobType == nil || *props.BlobType != blob.BlobTypePageBlob || props.ContentLength == nil || *props.ContentLength != 1024 {
		t.Fatalf("the page blob after refused block writes: type %v, length %v", props.BlobType, props.ContentLength)
	}
	if got := download(t, ctx, pbc.BlobClient(), nil); !bytes.Equal(got[:512], page) {
		t.Fatalf("the page blob's first page changed")
	}
}

// TestCopyFromURLIsRefused: requests that name a copy source
// (x-ms-copy-source: Put Blob From URL, Copy Blob, Put Block From URL,
// Put Page From URL; az storage blob copy start, the SDK's
// UploadBlobFromURL) are 400 UnsupportedHeader naming it and change
// nothing: taken as plain writes with an empty body, Put Blob From URL
// replaced the blob with an empty one and answered 201, and Put Block
// From URL staged an empty block.
func TestCopyFromURLIsRefused(t *testing.T) {
	e := testserver.StartWithGroups(t, "stg")
	ctx := e.Ctx()
	client := containerClient(t, e, "stg", "copy1", "box")
	cc := client.ServiceClient().NewContainerClient("box")
	src := bytes.Repeat([]byte("source"), 1000)
	if _, err := client.UploadBuffer(ctx, "box", "src", src, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := client.UploadBuffer(ctx, "box", "dst", []byte("precious"), nil); err != nil {
		t.Fatal(err)
	}
	srcURL, err := cc.NewBlobClient("src").GetSASURL(sas.BlobPermissions{Read: true}, time.Now().Add(time.Hour), nil)
	if err != nil {
		t.Fatal(err)
	}
	pbc := cc.NewPageBlobClient("pages")
	if _, err := pbc.Create(ctx, 1024, nil); err != nil {
		t.Fatal(err)
	}
	page := bytes.Repeat([]byte{7}, 512)
	if _, err := pbc.UploadPages(ctx, streaming(page), blob.HTTPRange{Offset: 0, Count: 512}, nil); err != nil {
		t.Fatal(err)
	}
	dst := cc.NewBlockBlobClient("dst")
	id := base64.StdEncoding.EncodeToString([]byte("block-1"))
	for name, call := range map[string]func() error{
		"Put Blob From URL":  func() error { _, err := dst.UploadBlobFromURL(ctx, srcURL, nil); return err },
		"Copy Blob":          func() error { _, err := dst.StartCopyFromURL(ctx, srcURL, nil); return err },
		"Copy Blob (sync)":   func() error { _, err := dst.CopyFromURL(ctx, srcURL, nil); return err },
		"Put Block From URL": func() error { _, err := dst.StageBlockFromURL(ctx, id, srcURL, nil); return err },
		"Put Page From URL":  func() error { _, err := pbc.UploadPagesFromURL(ctx, srcURL, 0, 512, 512, nil); return err },
	} {
		err := call()
		wantCode(t, name, err, 400, "UnsupportedHeader")
		if err != nil && !strings.Contains(err.Error(), "x-ms-copy-source") {
			t.Errorf("%s: %v, want the header named", name, err)
		}
	}
	if got := download(t, ctx, dst.BlobClient(), nil); string(got) != "precious" {
		t.Fatalf("the blob after refused copies: %q", got)
	}
	if bl, err := dst.GetBlockList(ctx, blockblob.BlockListTypeUncommitted, nil); err != nil || len(bl.UncommittedBlocks) != 0 {
		t.Fatalf("blocks staged by a refused Put Block From URL: %v %v", bl.UncommittedBlocks, err)
	}
	if got := download(t, ctx, pbc.BlobClient(), nil); !bytes.Equal(got[:512], page) || !bytes.Equal(got[512:], make([]byte, 512)) {
		t.Fatal("the page blob changed under a refused Put Page From URL")
	}
}

// TestBlobSnapshotsAreNotTheBlob: Safehold keeps no blob snapshots or
// versions, so a request for one (?snapshot=, ?versionid=) is 404
// BlobNotFound, and a delete with x-ms-delete-snapshots only (az storage
// blob delete --delete-snapshots only) deletes nothing: both acted on the
// blob itself, so deleting a snapshot (or only the snapshots) deleted the
// blob. With include, the blob goes.
func TestBlobSnapshotsAreNotTheBlob(t *testing.T) {
	e := testserver.StartWithGroups(t, "stg")
	ctx := e.Ctx()
	client := containerClient(t, e, "stg", "snaps1", "box")
	if _, err := client.UploadBuffer(ctx, "box", "b", []byte("precious"), nil); err != nil {
		t.Fatal(err)
	}
	bc := client.ServiceClient().NewContainerClient("box").NewBlobClient("b")
	sc, err := bc.WithSnapshot("2024-01-01T00:00:00.0000000Z")
	if err != nil {
		t.Fatal(err)
	}
	vc, err := bc.WithVersionID("2024-01-01T00:00:00.0000000Z")
	if err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func() error{
		"properties of a snapshot": func() error { _, err := sc.GetProperties(ctx, nil); return err },
		"download of a snapshot":   func() error { _, err := sc.DownloadStream(ctx, nil); return err },
		"delete of a snapshot":     func() error { _, err := sc.Delete(ctx, nil); return err },
		"delete of a version":      func() error { _, err := vc.Delete(ctx, nil); return err },
	} {
		wantCode(t, name, call(), 404, "")
	}
	if _, err := bc.Delete(ctx, &blob.DeleteOptions{DeleteSnapshots: to.Ptr(blob.DeleteSnapshotsOptionTypeOnly)}); err != nil {
		t.Fatalf("delete of the blob's snapshots only: %v", err)
	}
	if got := download(t, ctx, bc, nil); string(got) != "precious" {
		t.Fatalf("the blob after deletes of its snapshots: %q", got)
	}
	if _, err := bc.Delete(ctx, &blob.DeleteOptions{DeleteSnapshots: to.Ptr(blob.DeleteSnapshotsOptionTypeInclude)}); err != nil {
		t.Fatalf("delete of the blob with its snapshots: %v", err)
	}
	_, err = bc.GetProperties(ctx, nil)
	wantCode(t, "the blob deleted with its snapshots", err, 404, "")
}

// TestBlobPromisesNotKeptAreRefused: a write asking for what Safehold's
// blobs do not keep (an immutability policy or legal hold, a
// customer-provided key) is 400 UnsupportedHeader naming the header and
// writes nothing: the blob was written without it and answered success,
// so a "locked" blob could be deleted the next moment and a "customer-
// key" one read without the key.
func TestBlobPromisesNotKeptAreRefused(t *testing.T) {
	e := testserver.StartWithGroups(t, "stg")
	ctx := e.Ctx()
	client := containerClient(t, e, "stg", "promise1", "box")
	bbc := client.ServiceClient().NewContainerClient("box").NewBlockBlobClient("b")
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
	sum := sha256.Sum256(bytes.Repeat([]byte{1}, 32))
	for name, o := range map[string]*blockblob.UploadOptions{
		"x-ms-immutability-policy-until-date": {ImmutabilityPolicyExpiryTime: to.Ptr(time.Now().Add(24 * time.Hour)), ImmutabilityPolicyMode: to.Ptr(blob.ImmutabilityPolicySettingLocked)},
		"x-ms-legal-hold":                     {LegalHold: to.Ptr(true)},
		"x-ms-encryption-key":                 {CPKInfo: &blob.CPKInfo{EncryptionKey: to.Ptr(key), EncryptionKeySHA256: to.Ptr(base64.StdEncoding.EncodeToString(sum[:])), EncryptionAlgorithm: to.Ptr(blob.EncryptionAlgorithmTypeAES256)}},
	} {
		_, err := bbc.Upload(ctx, streaming([]byte("data")), o)
		wantCode(t, name, err, 400, "UnsupportedHeader")
		if err != nil && !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v, want the header named", name, err)
		}
	}
	if _, err := bbc.GetProperties(ctx, nil); err == nil {
		t.Fatal("a refused upload wrote the blob")
	}
}

// containerClient is a Shared Key client of a new storage account of group
// rg, with a new container.
func containerClient(t *testing.T, e *testserver.Env, rg, account, container string) *azblob.Client {
	t.Helper()
	endpoint, key, co := blobAccount(t, e, rg, account)
	client, err := azblob.NewClientFromConnectionString(fmt.Sprintf("DefaultEndpointsProtocol=https;AccountName=%s;AccountKey=%s;BlobEndpoint=%s", account, key, endpoint),
		&azblob.ClientOptions{ClientOptions: co})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateContainer(e.Ctx(), container, nil); err != nil {
		t.Fatal(err)
	}
	return client
}

// TestSASIsCheckedInRealTime: a SAS is dated by the client that signs it
// (its st and se are the client's clock), as a Shared Key request is, so
// the server checks it against real time, not the admin clock: after a
// 'clock advance' of a day a SAS made a minute ago for an hour was refused
// as expired (403 AuthenticationFailed), and after a 'clock set' back to
// 2017 one with a start time was refused as not yet valid, so a client's
// SAS could not be used at all while the clock simulated months of
// operation. A SAS past its real expiry is still refused.
func TestSASIsCheckedInRealTime(t *testing.T) {
	e := testserver.StartWithGroups(t, "stg")
	ctx := e.Ctx()
	endpoint, key, co := blobAccount(t, e, "stg", "clocked1")
	cred, err := azblob.NewSharedKeyCredential("clocked1", key)
	if err != nil {
		t.Fatal(err)
	}
	keyed, err := azblob.NewClientWithSharedKeyCredential(endpoint+"/", cred, &azblob.ClientOptions{ClientOptions: co})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keyed.CreateContainer(ctx, "box", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := keyed.UploadBuffer(ctx, "box", "b", []byte("kept"), nil); err != nil {
		t.Fatal(err)
	}
	sasClient := func(start, expiry time.Time) *blob.Client {
		t.Helper()
		qp, err := sas.BlobSignatureValues{Protocol: sas.ProtocolHTTPS, StartTime: start, ExpiryTime: expiry,
			Permissions: (&sas.BlobPermissions{Read: true}).String(), ContainerName: "box", BlobName: "b"}.SignWithSharedKey(cred)
		if err != nil {
			t.Fatal(err)
		}
		bc, err := blob.NewClientWithNoCredential(endpoint+"/box/b?"+qp.Encode(), &blob.ClientOptions{ClientOptions: co})
		if err != nil {
			t.Fatal(err)
		}
		return bc
	}
	clock := func(verb string, body map[string]string) {
		t.Helper()
		if resp, m := e.Do("POST", "/providers/Safehold.Admin/clock/"+verb+"?api-version=2024-01-01", body); resp.StatusCode != 200 {
			t.Fatalf("clock %s: %d %v", verb, resp.StatusCode, m)
		}
	}
	now := time.Now().UTC()
	good := sasClient(now.Add(-time.Minute), now.Add(time.Hour))
	expired := sasClient(now.Add(-2*time.Hour), now.Add(-time.Hour))
	for _, step := range []struct {
		what string
		move func()
	}{
		{"at real time", func() {}},
		{"a day after a clock advance", func() { clock("advance", map[string]string{"duration": "P1D"}) }},
		{"with the clock set back to 2017", func() { clock("set", map[string]string{"time": "2017-08-03T05:30:00Z"}) }},
	} {
		step.move()
		if got := download(t, ctx, good, nil); string(got) != "kept" {
			t.Fatalf("%s: the blob read with a SAS valid now: %q", step.what, got)
		}
		_, err := expired.GetProperties(ctx, nil)
		wantCode(t, step.what+": a SAS that expired an hour ago", err, 403, "AuthenticationFailed")
	}
}
