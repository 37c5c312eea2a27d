package arm

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
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
