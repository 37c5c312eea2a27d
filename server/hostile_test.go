package server_test

import (
	"bytes"
	"compress/gzip"
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
)

func gzipped(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	if _, err := zw.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	return b.Bytes()
}

// TestRequestBodyEncodingAndMediaType: an ARM body sent with
// Content-Encoding gzip is decompressed (within the body limit: a gzip
// bomb is 413); a body that says gzip but is not is 400, another encoding
// or a Content-Type that is not JSON is 415 UnsupportedMediaType, as ARM
// answers; none of the refused requests changes the resource.
func TestRequestBodyEncodingAndMediaType(t *testing.T) {
	e := testserver.StartWithGroups(t, "rg")
	vault := "/subscriptions/" + e.Sub + "/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v1?api-version=2023-04-01"
	body := func(tag string) string {
		return `{"location":"westus","sku":{"name":"Standard"},"properties":{},"tags":{"v":"` + tag + `"}}`
	}
	resp, m := e.Do("PUT", vault, gzipped(t, body("zipped")), testserver.Header("Content-Encoding", "gzip"))
	if resp.StatusCode != 201 || testserver.Field(m, "tags.v") != "zipped" {
		t.Fatalf("PUT with a gzip body: %d %v", resp.StatusCode, m)
	}
	for _, c := range []struct {
		name     string
		body     any
		hdr      [2]string
		status   int
		code, in string
	}{
		{"gzip header, plain body", body("x"), [2]string{"Content-Encoding", "gzip"}, 400, "InvalidRequestContent", "gzip"},
		{"truncated gzip", gzipped(t, body("x"))[:20], [2]string{"Content-Encoding", "gzip"}, 400, "InvalidRequestContent", "gzip"},
		{"gzip bomb", gzipped(t, `{"location":"westus","tags":{"a":"`+strings.Repeat("x", 6<<20)+`"}}`), [2]string{"Content-Encoding", "gzip"}, 413, "RequestEntityTooLarge", "limit"},
		{"brotli", body("x"), [2]string{"Content-Encoding", "br"}, 415, "UnsupportedMediaType", "br"},
		{"text/plain", body("x"), [2]string{"Content-Type", "text/plain"}, 415, "UnsupportedMediaType", "application/json"},
		{"xml", body("x"), [2]string{"Content-Type", "application/xml; charset=utf-8"}, 415, "UnsupportedMediaType", "application/xml"},
		{"form", body("x"), [2]string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "UnsupportedMediaType", "form"},
	} {
		resp, m := e.Do("PUT", vault, c.body, testserver.Header(c.hdr[0], c.hdr[1]))
		msg, _ := testserver.Field(m, "error.message").(string)
		if resp.StatusCode != c.status || testserver.ErrorCode(m) != c.code || !strings.Contains(msg, c.in) {
			t.Errorf("%s: %d %v, want %d %s", c.name, resp.StatusCode, m, c.status, c.code)
		}
	}
	if _, m := e.Do("GET", vault, nil); testserver.Field(m, "tags.v") != "zipped" {
		t.Fatalf("a refused PUT changed the vault: %v", m)
	}
	for _, ct := range []string{"application/json; charset=utf-8", "text/json", "application/merge-patch+json"} {
		resp, m := e.Do("PUT", vault, body(ct), testserver.Header("Content-Type", ct))
		if resp.StatusCode != 200 || testserver.Field(m, "tags.v") != ct {
			t.Errorf("PUT as %s: %d %v", ct, resp.StatusCode, m)
		}
	}
	// No body: the media type and encoding do not matter.
	if resp, m := e.Do("GET", vault, nil, testserver.Header("Content-Type", "text/plain"), testserver.Header("Content-Encoding", "br")); resp.StatusCode != 200 {
		t.Fatalf("GET with a text/plain Content-Type: %d %v", resp.StatusCode, m)
	}
}
