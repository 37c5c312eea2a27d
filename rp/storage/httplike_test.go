package storage_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/safehold/safehold/internal/testserver"
)

// TestBlobThatLooksLikeAnHTTPErrorComesBackIntact: a page blob holding,
// where the server's second write of its download begins, what net/http
// writes itself to a head it refuses (its plain-text "400 Bad Request")
// downloads as it was uploaded: the server rewrites net/http's own
// answers into ARM's shape (f82a5a7) and took any write that began with
// those bytes for one, so the download came back with a CloudError in
// the blob's place. net/http writes the response's first 4 KiB (its head
// and the start of the body) and then the rest of a large body at once:
// the head's length is measured from a first download.
func TestBlobThatLooksLikeAnHTTPErrorComesBackIntact(t *testing.T) {
	e := testserver.StartWithGroups(t, "stg")
	ctx := e.Ctx()
	endpoint, key, co := blobAccount(t, e, "stg", "httplike1")
	cred, err := azblob.NewSharedKeyCredential("httplike1", key)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := container.NewClientWithSharedKeyCredential(endpoint+"/logs", cred, &container.ClientOptions{ClientOptions: co})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cc.Create(ctx, nil); err != nil {
		t.Fatalf("create container: %v", err)
	}
	pb := cc.NewPageBlobClient("capture.bin")
	doc := bytes.Repeat([]byte("x"), 1<<20)
	uploadPages(t, ctx, pb, doc, [][2]int{{0, len(doc)}})
	download := func() ([]byte, *http.Response) {
		var raw *http.Response
		dl, err := pb.DownloadStream(runtime.WithCaptureResponse(ctx, &raw), nil)
		if err != nil {
			t.Fatalf("download: %v", err)
		}
		got, err := io.ReadAll(dl.Body)
		dl.Body.Close()
		if err != nil {
			t.Fatalf("download: %v", err)
		}
		return got, raw
	}
	_, raw := download()
	head := len("HTTP/1.1 200 OK\r\n\r\n")
	for k, vs := range raw.Header {
		for _, v := range vs {
			head += len(k) + len(": \r\n") + len(v)
		}
	}
	if head >= 4096-512 {
		t.Fatalf("a download's head is %d bytes", head)
	}
	const answer = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n400 Bad Request"
	copy(doc[4096-head:], answer)
	uploadPages(t, ctx, pb, doc, [][2]int{{0, len(doc)}})
	got, _ := download()
	if !bytes.Equal(got, doc) {
		i := 0
		for i < len(got) && i < len(doc) && got[i] == doc[i] {
			i++
		}
		t.Fatalf("download: %d bytes, want %d; they differ from byte %d (its head %d bytes): %.160q", len(got), len(doc), i, head, got[i:min(len(got), i+160)])
	}
}
