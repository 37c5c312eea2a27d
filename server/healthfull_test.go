package server_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/server"
)

// TestHealthzSaysWhenTheDataDirIsFull: a server whose data directory is
// a small file system, filled up: /healthz answers 503, its dataDir part
// unhealthy with the error, and an ARM error (code and message) naming the
// data directory and saying to free space; once the space is freed it
// answers 200 again, without a restart. It answered 200 "ok" while nothing
// could be written there (its store and object storage still answered
// reads), so a balancer kept sending writes to a replica that failed them.
func TestHealthzSaysWhenTheDataDirIsFull(t *testing.T) {
	dir := testsvc.SmallDisk(t, 64)
	data := filepath.Join(dir, "data")
	e := testserver.Start(t, func(c *server.Config) { c.DataDir = data })
	hc, err := e.Conn.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	type part struct{ Status, Error string }
	type healthBody struct {
		Status               string
		Store, Blob, DataDir part
		Error                struct{ Code, Message string }
	}
	var h healthBody
	health := func() int {
		t.Helper()
		resp, err := hc.Get(e.Conn.ARMEndpoint + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		h = healthBody{}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("healthz: Content-Type %q", ct)
		}
		if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
			t.Fatalf("healthz: %d, not JSON: %v", resp.StatusCode, err)
		}
		return resp.StatusCode
	}
	if code := health(); code != http.StatusOK || h.Status != "ok" || h.DataDir.Status != "ok" || h.Error.Code != "" {
		t.Fatalf("healthz before the file system fills up: %d %+v", code, h)
	}

	filler := filepath.Join(dir, "filler")
	testsvc.FillUp(t, filler, 0)
	code := health()
	if code != http.StatusServiceUnavailable || h.Status != "unhealthy" || h.DataDir.Status != "unhealthy" || !strings.Contains(h.DataDir.Error, "no space left") {
		t.Fatalf("healthz with the data dir full: %d %+v", code, h)
	}
	if h.Store.Status != "ok" || h.Blob.Status != "ok" {
		t.Fatalf("healthz with the data dir full: the store and the object storage still answer: %+v", h)
	}
	if h.Error.Code != "ServiceUnavailable" || !strings.Contains(h.Error.Message, data) || !strings.Contains(h.Error.Message, "free space") {
		t.Fatalf("healthz with the data dir full: error %+v, want ServiceUnavailable naming %s and saying to free space", h.Error, data)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if code := health(); code != http.StatusOK || h.Status != "ok" || h.DataDir.Status != "ok" || h.Error.Code != "" {
		t.Fatalf("healthz once space is freed: %d %+v", code, h)
	}
}
