package compute_test

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/safehold/safehold/internal/fixture"
)

// TestClearPagesRefusesAChunkedBody: Put Page with x-ms-page-write clear
// takes no body; one sent chunked (no Content-Length) is 400
// InvalidHeaderValue as one with a Content-Length is, and the pages are
// not cleared.
func TestClearPagesRefusesAChunkedBody(t *testing.T) {
	e, _ := start(t)
	e.emptyDisk("d1", 1)
	w := e.grantDisk("d1", armcompute.AccessLevelWrite)
	data := bytes.Repeat([]byte{0x5c}, 4096)
	if err := e.writeSAS(w, 0, data); err != nil {
		t.Fatal(err)
	}
	hc, err := e.Conn.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	for name, cl := range map[string]int64{"chunked": -1, "with Content-Length": 512} {
		req, _ := http.NewRequest("PUT", w+"&comp=page", io.MultiReader(bytes.NewReader(make([]byte, 512))))
		req.ContentLength = cl
		req.Header.Set("x-ms-range", "bytes=0-4095")
		req.Header.Set("x-ms-page-write", "clear")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 || resp.Header.Get("x-ms-error-code") != "InvalidHeaderValue" {
			t.Errorf("clear pages with a body (%s): %d %s", name, resp.StatusCode, resp.Header.Get("x-ms-error-code"))
		}
	}
	if got := fixture.ReadPages(t, e.pageClient(w), 0, 4096); !bytes.Equal(got, data) {
		t.Fatal("a refused clear cleared the pages")
	}
}
