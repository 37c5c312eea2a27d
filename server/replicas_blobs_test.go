package server_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
)

// TestAccountBlobsServedByAnyReplica: two replicas on one PostgreSQL
// store. A storage account's blob written through one replica (its bytes
// a file in that replica's data dir) is served through the other, which
// forwards the blob's requests to the replica holding it: a block blob
// reads whole, blocks staged through both commit (on the replica that
// made the container), a page blob created through one takes page
// writes, page ranges and reads through the other, and a delete through
// the other removes the blob's file where it is; a disk import on the
// leader of a blob the other holds is 409 saying so. Once the holder stops, its blobs
// answer 503 BlobOwnerUnavailable naming it (they answered 409 ServerBusy
// "The blob was replaced while it was opened; retry." for ever).
func TestAccountBlobsServedByAnyReplica(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	a := testserver.Start(t, testserver.WithStore(url))
	b := testserver.Start(t, testserver.WithStore(url))
	a.ResourceGroups("st")
	_, ca := fixture.StorageAccount(t, a, "st", "shared1")
	_, cb := fixture.StorageAccount(t, b, "st", "shared1")
	ctx := a.Ctx()
	if _, err := ca.CreateContainer(ctx, "box", nil); err != nil {
		t.Fatal(err)
	}
	read := func(c *azblob.Client, name string) ([]byte, error) {
		r, err := c.DownloadStream(ctx, "box", name, nil)
		if err != nil {
			return nil, err
		}
		defer r.Body.Close()
		return io.ReadAll(r.Body)
	}

	// A block blob put through a reads whole through b.
	data := make([]byte, 300<<10)
	rand.Read(data)
	if _, err := ca.UploadBuffer(ctx, "box", "block", data, nil); err != nil {
		t.Fatal(err)
	}
	if got, err := read(cb, "block"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("a block blob put through replica a, read through b: %d bytes, %v", len(got), err)
	}
	props, err := cb.ServiceClient().NewContainerClient("box").NewBlobClient("block").GetProperties(ctx, nil)
	if err != nil || *props.ContentLength != int64(len(data)) {
		t.Fatalf("its properties through b: %v", err)
	}

	// The blocks of a new blob staged through either replica (a balancer
	// spreading an upload's requests) commit through either.
	var ids []string
	var whole []byte
	for i, c := range []*azblob.Client{ca, cb, cb, ca} {
		id := base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("block-%d", i)))
		part := bytes.Repeat([]byte{byte('a' + i)}, 1000+i)
		if _, err := c.ServiceClient().NewContainerClient("box").NewBlockBlobClient("blocks").StageBlock(ctx, id, streaming.NopCloser(bytes.NewReader(part)), nil); err != nil {
			t.Fatalf("block %d staged through replica %d: %v", i, i%2, err)
		}
		ids, whole = append(ids, id), append(whole, part...)
	}
	if _, err := cb.ServiceClient().NewContainerClient("box").NewBlockBlobClient("blocks").CommitBlockList(ctx, ids, nil); err != nil {
		t.Fatalf("the blocks staged through both replicas committed through b: %v", err)
	}
	if got, err := read(ca, "blocks"); err != nil || !bytes.Equal(got, whole) {
		t.Fatalf("the blob of blocks staged through both replicas, read through a: %d bytes, %v", len(got), err)
	}

	// A page blob created through b: pages written and listed through a.
	blobs := func(e *testserver.Env) int {
		des, err := os.ReadDir(filepath.Join(e.DataDir, "storage-blobs"))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, de := range des {
			if !de.IsDir() {
				n++
			}
		}
		return n
	}
	inB := blobs(b)
	if _, err := cb.ServiceClient().NewContainerClient("box").NewPageBlobClient("page").Create(ctx, 1<<20, nil); err != nil {
		t.Fatal(err)
	}
	if blobs(b) != inB+1 {
		t.Fatalf("the page blob created through b is not a file of b's (%d files, %d before)", blobs(b), inB)
	}
	pa := ca.ServiceClient().NewContainerClient("box").NewPageBlobClient("page")
	pages := bytes.Repeat([]byte{0x5a}, 8192)
	if _, err := pa.UploadPages(ctx, streaming.NopCloser(bytes.NewReader(pages)), blob.HTTPRange{Offset: 4096, Count: int64(len(pages))}, nil); err != nil {
		t.Fatalf("pages written through a to b's page blob: %v", err)
	}
	var ranges []string
	for pg := pa.NewGetPageRangesPager(nil); pg.More(); {
		page, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatalf("page ranges through a: %v", err)
		}
		for _, r := range page.PageRange {
			ranges = append(ranges, fmt.Sprintf("%d-%d", *r.Start, *r.End))
		}
	}
	if len(ranges) != 1 || ranges[0] != "4096-12287" {
		t.Fatalf("page ranges through a: %v, want the pages at 4096-12287", ranges)
	}
	want := make([]byte, 1<<20)
	copy(want[4096:], pages)
	if got, err := read(ca, "page"); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("the page blob read through a: %d bytes, %v", len(got), err)
	}
	// Its delete through a removes its file on b.
	if _, err := ca.DeleteBlob(ctx, "box", "page", nil); err != nil {
		t.Fatal(err)
	}
	if blobs(b) != inB {
		t.Fatalf("the page blob deleted through a left its file on b (%d files, %d before it)", blobs(b), inB)
	}

	// A disk imported from a VHD blob another replica holds than the
	// leader, which makes new disks, is 409 OperationNotAllowed saying so
	// (not 409 ServerBusy to retry).
	leader, other := leaderOf(a, b)
	_, co := fixture.StorageAccount(t, other, "st", "shared1")
	vhd := make([]byte, 1<<20+512)
	copy(vhd[1<<20:], "conectix")
	vhd[1<<20+63] = 2 // a fixed VHD's footer
	vc := co.ServiceClient().NewContainerClient("box").NewPageBlobClient("img.vhd")
	if _, err := vc.Create(ctx, int64(len(vhd)), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := vc.UploadPages(ctx, streaming.NopCloser(bytes.NewReader(vhd)), blob.HTTPRange{Offset: 0, Count: int64(len(vhd))}, nil); err != nil {
		t.Fatal(err)
	}
	disk := "/subscriptions/" + a.Sub + "/resourceGroups/st/providers/Microsoft.Compute/disks/imported?api-version=2023-04-02"
	resp, m := leader.Do("PUT", disk, map[string]any{"location": "westus", "properties": map[string]any{"creationData": map[string]any{"createOption": "Import",
		"sourceUri": "https://shared1.blob.core.windows.net/box/img.vhd", "storageAccountId": "/subscriptions/" + a.Sub + "/resourceGroups/st/providers/Microsoft.Storage/storageAccounts/shared1"}}},
		testserver.AnyStatus())
	if resp.StatusCode != 409 || testserver.ErrorCode(m) != "OperationNotAllowed" || !strings.Contains(fmt.Sprint(m), other.Server.NodeID) {
		t.Fatalf("a disk imported on the leader from a blob of the other replica: %d %v", resp.StatusCode, m)
	}

	// The holder stopped: its blob answers 503 BlobOwnerUnavailable
	// through b, and is served again once a is back.
	a.Stop()
	_, err = read(cb, "block")
	if st, code := testserver.ErrorOf(err); st != 503 || code != "BlobOwnerUnavailable" {
		t.Fatalf("a blob of the stopped replica a read through b: %v, want 503 BlobOwnerUnavailable", err)
	}
	a.Restart()
	if got, err := read(cb, "block"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the blob read through b once a is back: %d bytes, %v", len(got), err)
	}
}

// TestDeletedBlobsFilesGoOnEveryReplica: a container's or a storage
// account's delete through one replica removes the files of its blobs and
// its staged blocks on the replica that holds them. The deleting replica
// removed files in its own directory only, so the bytes of every blob
// another replica had written (and the blocks staged there) stayed on
// that replica's disk for ever. Now it asks the others to sweep: each
// removes the files no stored blob holds, and keeps those of the blobs it
// still serves.
func TestDeletedBlobsFilesGoOnEveryReplica(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	a := testserver.Start(t, testserver.WithStore(url))
	b := testserver.Start(t, testserver.WithStore(url))
	a.ResourceGroups("st")
	accID, _ := fixture.StorageAccount(t, a, "st", "leaks1")
	_, cb := fixture.StorageAccount(t, b, "st", "leaks1")
	_, ca := fixture.StorageAccount(t, a, "st", "leaks1")
	ctx := b.Ctx()
	files := func(e *testserver.Env) (n int) {
		for _, dir := range []string{"storage-blobs", "storage-blobs/blocks"} {
			des, err := os.ReadDir(filepath.Join(e.DataDir, dir))
			if err != nil {
				t.Fatal(err)
			}
			for _, de := range des {
				if dir != "storage-blobs" || !de.IsDir() {
					n++
				}
			}
		}
		return n
	}
	fill := func(container string) {
		t.Helper()
		if _, err := cb.CreateContainer(ctx, container, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := cb.UploadBuffer(ctx, container, "block", bytes.Repeat([]byte{1}, 100<<10), nil); err != nil {
			t.Fatal(err)
		}
		if _, err := cb.ServiceClient().NewContainerClient(container).NewPageBlobClient("page").Create(ctx, 1<<20, nil); err != nil {
			t.Fatal(err)
		}
		id := base64.StdEncoding.EncodeToString([]byte("never-committed"))
		if _, err := cb.ServiceClient().NewContainerClient(container).NewBlockBlobClient("staged").StageBlock(ctx, id, streaming.NopCloser(bytes.NewReader(make([]byte, 1000))), nil); err != nil {
			t.Fatal(err)
		}
	}
	_, kb := fixture.StorageAccount(t, b, "st", "keeps1")
	if _, err := kb.CreateContainer(ctx, "kept", nil); err != nil {
		t.Fatal(err)
	}
	keptData := bytes.Repeat([]byte{7}, 10<<10)
	if _, err := kb.UploadBuffer(ctx, "kept", "still-here", keptData, nil); err != nil {
		t.Fatal(err)
	}
	inB := files(b)
	fill("box")
	if files(b) != inB+3 {
		t.Fatalf("the blobs and blocks of box are not b's files: %d files, %d before", files(b), inB)
	}
	if _, err := ca.DeleteContainer(ctx, "box", nil); err != nil {
		t.Fatal(err)
	}
	b.WaitFor("the files of the container deleted through a to go from b", func() bool { return files(b) == inB })

	fill("box2")
	resp, m := a.Do("DELETE", accID+"?api-version=2023-01-01", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("delete the account through a: %d %v", resp.StatusCode, m)
	}
	b.WaitFor("the files of the account deleted through a to go from b", func() bool { return files(b) == inB })
	r, err := kb.DownloadStream(ctx, "kept", "still-here", nil)
	if err != nil {
		t.Fatalf("a blob b still serves, after the sweeps: %v", err)
	}
	defer r.Body.Close()
	if got, err := io.ReadAll(r.Body); err != nil || !bytes.Equal(got, keptData) {
		t.Fatalf("a blob b still serves, after the sweeps: %d bytes, %v", len(got), err)
	}
}

// TestBlobRequestsAreAuthenticatedBeforeForwarding: a replica checks a
// blob request's signature before it forwards the request to the replica
// holding the blob: one signed with a wrong key through the other replica
// is 403 AuthenticationFailed there, whether the holder runs or not (were
// it forwarded first, the holder stopped would make it 503
// BlobOwnerUnavailable, and every unauthenticated request a round trip to
// the holder).
func TestBlobRequestsAreAuthenticatedBeforeForwarding(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	a := testserver.Start(t, testserver.WithStore(url))
	b := testserver.Start(t, testserver.WithStore(url))
	a.ResourceGroups("st")
	_, ca := fixture.StorageAccount(t, a, "st", "authfirst1")
	_, endpoint, _, co := fixture.StorageAccountKey(t, b, "st", "authfirst1")
	ctx := a.Ctx()
	if _, err := ca.CreateContainer(ctx, "box", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.UploadBuffer(ctx, "box", "held-by-a", []byte("a's bytes"), nil); err != nil {
		t.Fatal(err)
	}
	cred, err := azblob.NewSharedKeyCredential("authfirst1", base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 64)))
	if err != nil {
		t.Fatal(err)
	}
	wrong, err := azblob.NewClientWithSharedKeyCredential(endpoint, cred, &azblob.ClientOptions{ClientOptions: co})
	if err != nil {
		t.Fatal(err)
	}
	for _, holder := range []string{"running", "stopped"} {
		if holder == "stopped" {
			a.Stop()
		}
		_, err := wrong.DownloadStream(ctx, "box", "held-by-a", nil)
		if st, code := testserver.ErrorOf(err); st != 403 || code != "AuthenticationFailed" {
			t.Errorf("a download signed with a wrong key through b, the holder %s: %v, want 403 AuthenticationFailed", holder, err)
		}
	}
}
