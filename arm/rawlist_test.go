package arm

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A page of pre-encoded items is written byte for byte as encoding/json
// writes the same page of decoded items (nextLink escaping included).
func TestRawListWritesAsEncoded(t *testing.T) {
	items := []map[string]any{
		{"id": "/subscriptions/s/resourceGroups/a", "tags": map[string]any{"x": "<&>"}},
		{"id": "/subscriptions/s/resourceGroups/b", "n": 1.5},
	}
	for _, next := range []string{"", `https://h/x?$skipToken=2&api-version=1 "q" <b>`} {
		decoded := &List{NextLink: next}
		raw := &List{NextLink: next}
		for _, it := range items {
			decoded.Value = append(decoded.Value, it)
			b, err := json.Marshal(it)
			if err != nil {
				t.Fatal(err)
			}
			raw.Value = append(raw.Value, json.RawMessage(b))
		}
		want, got := httptest.NewRecorder(), httptest.NewRecorder()
		writeJSON(want, 200, decoded)
		writeJSON(got, 200, raw)
		// encoding/json escapes HTML in json.Marshal but not in the
		// router's encoder: compare what a client decodes, and the bytes
		// of the envelope.
		var a, b any
		if err := json.Unmarshal(want.Body.Bytes(), &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(got.Body.Bytes(), &b); err != nil {
			t.Fatalf("raw list is not JSON: %v: %s", err, got.Body.Bytes())
		}
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if !bytes.Equal(ja, jb) || got.Header().Get("Content-Length") != "" && got.Header().Get("Content-Length") != itoa(got.Body.Len()) {
			t.Fatalf("raw list differs:\n%s\n%s", want.Body.Bytes(), got.Body.Bytes())
		}
		if !bytes.HasSuffix(got.Body.Bytes(), []byte("}\n")) {
			t.Fatalf("raw list does not end like an encoded one: %q", got.Body.Bytes())
		}
	}
	// An empty RawMessage is not valid JSON on its own: that list goes
	// through encoding/json.
	if (&List{Value: []any{json.RawMessage(nil)}}).raw() {
		t.Fatal("an empty RawMessage must not take the raw path")
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// TestAutoContentLength: writeBody leaves a small body's Content-Length to
// net/http, which must still send it (not chunked), for GET and for HEAD
// (no body, the GET's length), and sets it itself for a body net/http would
// chunk and for an empty one.
func TestAutoContentLength(t *testing.T) {
	for _, size := range []int{0, 1, autoContentLength - 1, autoContentLength, 64 << 10} {
		body := json.RawMessage(`"` + strings.Repeat("x", max(size-2, 0)) + `"`)[:size]
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, body) }))
		for _, method := range []string{"GET", "HEAD"} {
			req, _ := http.NewRequest(method, srv.URL, nil)
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.ContentLength != int64(size) || len(resp.TransferEncoding) != 0 {
				t.Errorf("%s of %d bytes: Content-Length %d, Transfer-Encoding %v", method, size, resp.ContentLength, resp.TransferEncoding)
			}
			if want := map[string]int{"GET": size, "HEAD": 0}[method]; len(got) != want {
				t.Errorf("%s of %d bytes: %d bytes of body", method, size, len(got))
			}
			if ct := resp.Header.Get("Content-Type"); ct != contentTypeJSON {
				t.Errorf("%s of %d bytes: Content-Type %q", method, size, ct)
			}
		}
		srv.Close()
	}
}
