package arm

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
)

func TestParseID(t *testing.T) {
	cases := []struct {
		in, typ, name, str string
	}{
		{"/subscriptions/s1/resourceGroups/RG/providers/Microsoft.Compute/disks/D1", "Microsoft.Compute/disks", "D1", "/subscriptions/s1/resourceGroups/RG/providers/Microsoft.Compute/disks/D1"},
		{"/Subscriptions/s1/resourcegroups/rg/providers/Microsoft.DataProtection/backupVaults/v/backupInstances/bi", "Microsoft.DataProtection/backupVaults/backupInstances", "bi", "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.DataProtection/backupVaults/v/backupInstances/bi"},
		{"/subscriptions/s1/resourceGroups/rg", "Microsoft.Resources/resourceGroups", "rg", "/subscriptions/s1/resourceGroups/rg"},
		{"/subscriptions/s1", "Microsoft.Resources/subscriptions", "s1", "/subscriptions/s1"},
		{"/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/disks/d/providers/Microsoft.Authorization/roleAssignments/x", "Microsoft.Authorization/roleAssignments", "x", "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/disks/d/providers/Microsoft.Authorization/roleAssignments/x"},
	}
	for _, c := range cases {
		id, err := ParseID(c.in)
		if err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		if id.Type() != c.typ || id.Name() != c.name || id.String() != c.str {
			t.Fatalf("%s: type %q name %q str %q", c.in, id.Type(), id.Name(), id.String())
		}
	}
	for _, bad := range []string{"", "subscriptions/x", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks", "//x", "/foo"} {
		if _, err := ParseID(bad); err == nil {
			t.Fatalf("%q parsed", bad)
		}
	}
}

func FuzzParseID(f *testing.F) {
	f.Add("/subscriptions/s1/resourceGroups/RG/providers/Microsoft.Compute/disks/D1")
	f.Add("/subscriptions/s/resourceGroups/rg/providers/A.B/t/n/providers/C.D/u/m")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil {
			return
		}
		_ = id.Type()
		_ = id.Parent()
		if again, err := ParseID(id.String()); err == nil && !strings.EqualFold(again.String(), id.String()) {
			t.Fatalf("round trip %q -> %q -> %q", s, id.String(), again.String())
		}
	})
}

func TestRouterCaseEscapingAndErrors(t *testing.T) {
	rt := NewRouter()
	rt.RegisterNamespace(Namespace{Name: "Microsoft.RecoveryServices", Versions: []string{"2016-12-01"}})
	got := map[string]string{}
	rt.Handle("GET", "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.RecoveryServices/vaults/{vault}/backupFabrics/{fabric}/protectionContainers/{container}", func(r *Request) (*Response, error) {
		for _, p := range r.Params {
			got[p.Name] = p.Value
		}
		return OK(map[string]string{"ok": "yes"}), nil
	})
	rt.Handle("POST", "/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.RecoveryServices/vaults/{vault}/refresh", func(r *Request) (*Response, error) {
		var v struct{ A int }
		if err := r.Decode(&v); err != nil {
			return nil, err
		}
		return Accepted().Async(r, "/status/1", "/result/1"), nil
	})
	do := func(method, path, body string) (*httptest.ResponseRecorder, map[string]any) {
		req := httptest.NewRequest(method, path, strings.NewReader(body))
		rec := httptest.NewRecorder()
		rt.ServeHTTP(rec, req)
		var m map[string]any
		json.Unmarshal(rec.Body.Bytes(), &m)
		return rec, m
	}
	rec, _ := do("GET", "/SUBSCRIPTIONS/s/resourcegroups/RG/providers/microsoft.recoveryservices/VAULTS/v1/backupFabrics/Azure/protectionContainers/IaasVMContainer%3Biaasvmcontainerv2%3Brg%3Bvm?api-version=2016-12-01", "")
	if rec.Code != 200 || got["container"] != "IaasVMContainer;iaasvmcontainerv2;rg;vm" || got["rg"] != "RG" {
		t.Fatalf("%d %v", rec.Code, got)
	}
	code := func(m map[string]any) string { return m["error"].(map[string]any)["code"].(string) }
	if rec, m := do("GET", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v/backupFabrics/Azure/protectionContainers/c", ""); rec.Code != 400 || code(m) != "MissingApiVersionParameter" {
		t.Fatalf("missing version: %d %v", rec.Code, m)
	}
	if rec, m := do("GET", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v/backupFabrics/Azure/protectionContainers/c?api-version=2099-01-01", ""); rec.Code != 400 || code(m) != "InvalidApiVersionParameter" {
		t.Fatalf("bad version: %d %v", rec.Code, m)
	}
	if rec, m := do("POST", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v/refresh?api-version=2016-12-01", "{bad"); rec.Code != 400 || code(m) != "InvalidRequestContent" {
		t.Fatalf("bad json: %d %v", rec.Code, m)
	}
	rec, _ = do("POST", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v/refresh?api-version=2016-12-01", `{"a":1}`)
	if rec.Code != 202 || !strings.HasSuffix(rec.Header().Get("Location"), "/result/1?api-version=2016-12-01") || rec.Header().Get("Retry-After") != "1" || !strings.HasPrefix(rec.Header().Get("Azure-AsyncOperation"), "http") {
		t.Fatalf("async: %d %v", rec.Code, rec.Header())
	}
	if rec, m := do("GET", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Nope/x/y?api-version=2016-12-01", ""); rec.Code != 400 || code(m) != "InvalidResourceNamespace" {
		t.Fatalf("namespace: %d %v", rec.Code, m)
	}
	if rec, m := do("GET", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.RecoveryServices/nothing/y?api-version=2016-12-01", ""); rec.Code != 404 || code(m) != "InvalidResourceType" {
		t.Fatalf("type: %d %v", rec.Code, m)
	}
	if rec, m := do("DELETE", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v/refresh?api-version=2016-12-01", ""); rec.Code != http.StatusMethodNotAllowed || code(m) != "MethodNotAllowed" {
		t.Fatalf("method: %d %v", rec.Code, m)
	}
	if rec, m := do("GET", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/%01/backupFabrics/Azure/protectionContainers/c?api-version=2016-12-01", ""); rec.Code != 400 || code(m) != "InvalidRequestUri" {
		t.Fatalf("control char: %d %v", rec.Code, m)
	}
}

func TestActionFor(t *testing.T) {
	r := &route{namespace: "Microsoft.Compute"}
	seg := func(p string) []string { return strings.Split(strings.Trim(p, "/"), "/") }
	cases := []struct{ method, path, action, scope string }{
		{"PUT", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/d", "Microsoft.Compute/disks/write", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/d"},
		{"POST", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/d/beginGetAccess", "Microsoft.Compute/disks/beginGetAccess/action", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/d"},
		{"GET", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks", "Microsoft.Compute/disks/read", "/subscriptions/s/resourceGroups/rg"},
		{"GET", "/subscriptions/s/providers/Microsoft.Compute/disks", "Microsoft.Compute/disks/read", "/subscriptions/s"},
		{"PUT", "/subscriptions/s/resourceGroups/rg", "Microsoft.Resources/subscriptions/resourceGroups/write", "/subscriptions/s/resourceGroups/rg"},
		{"GET", "/subscriptions/s/resourceGroups", "Microsoft.Resources/subscriptions/resourceGroups/read", "/subscriptions/s"},
		{"GET", "/subscriptions/s", "Microsoft.Resources/subscriptions/read", "/subscriptions/s"},
		{"GET", "/subscriptions", "Microsoft.Resources/subscriptions/read", "/"},
		{"GET", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/d/extra/x/more", "Microsoft.Compute/disks/extra/more/read", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/d/extra/x"},
		{"POST", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/d/extra/x/backup", "Microsoft.Compute/disks/extra/backup/action", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/d/extra/x"},
		{"POST", "/subscriptions/s/providers/Microsoft.Compute/checkName", "Microsoft.Compute//checkName/action", "/subscriptions/s"},
		{"GET", "/subscriptions/s/providers/Microsoft.Compute", "Microsoft.Compute//read", "/subscriptions/s/providers/Microsoft.Compute"},
		{"OPTIONS", "/subscriptions/s/resourceGroups/rg/providers/microsoft.compute/Disks/d", "microsoft.compute/Disks/", "/subscriptions/s/resourceGroups/rg/providers/microsoft.compute/Disks/d"},
		{"GET", "/subscriptions/s/resourceGroups/rg/providers/microsoft.compute/Disks/d", "microsoft.compute/Disks/read", "/subscriptions/s/resourceGroups/rg/providers/microsoft.compute/Disks/d"},
		{"GET", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/d", "Microsoft.Compute/disks/read", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/d"},
	}
	for _, c := range cases {
		if strings.Contains(c.path, "Microsoft.Resources") || !strings.Contains(c.path, "providers") {
			r.namespace = "Microsoft.Resources"
		} else {
			r.namespace = "Microsoft.Compute"
		}
		// With the path (the scope is a prefix of it) and without (the
		// segments joined), twice (the second may reuse the last action).
		u := &url.URL{Path: c.path}
		for _, path := range []string{cleanPath(u, seg(c.path)), "", c.path} {
			a, s := r.actionFor(c.method, seg(c.path), path)
			if a != c.action || s != c.scope {
				t.Errorf("%s %s (path %q): got %s @ %s, want %s @ %s", c.method, c.path, path, a, s, c.action, c.scope)
			}
		}
		if cleanPath(u, seg(c.path)) != c.path {
			t.Errorf("%s is clean", c.path)
		}
	}
	for _, u := range []*url.URL{{Path: "/"}, {Path: "/a/"}, {Path: "//a"}, {Path: "/a/b", RawPath: "/a%2Fb"}} {
		segs, _ := DecodedSegments(u)
		if p := cleanPath(u, segs); p != "" {
			t.Errorf("%+v: clean path %q", u, p)
		}
	}
}

func TestAnyVersionStillRejectsImplausible(t *testing.T) {
	ns := &Namespace{Name: "X", AnyVersion: true}
	for v, want := range map[string]bool{"2024-03-02": true, "2025-09-01": true, "2018-01-01-preview": true, "1999-01-01": false, "2099-01-01": false, "2024-13-01": false, "abc": false} {
		if got := ns.accepts(v); got != want {
			t.Errorf("%s: %v", v, got)
		}
	}
}

type envelope[P any] struct {
	Location   string `json:"location"`
	Properties *P     `json:"properties"`
}

type tiers struct {
	Source string `json:"sourceTierType"`
}

type Named struct {
	Size int `json:"size"`
}

// A decode error names the field as the client spelt it in JSON: the Go
// structs a body type embeds (whose fields JSON sees as the outer
// struct's) are no part of the path.
func TestDecodePathSkipsEmbeddedStructs(t *testing.T) {
	var v struct {
		envelope[struct {
			tiers
			Sizes []struct {
				*Named
			} `json:"sizes"`
			Tagged Named `json:"Named"`
		}]
		Zones []string `json:"zones"`
	}
	for body, want := range map[string]string{
		`{"location": 5}`:                            "the value of 'location' must be a string",
		`{"zones": 5}`:                               "the value of 'zones' must be an array",
		`{"properties": {"sourceTierType": 5}}`:      "the value of 'properties.sourceTierType' must be a string",
		`{"properties": {"sizes": [{"size": "x"}]}}`: "the value of 'properties.sizes.size' must be an integer",
		`{"properties": {"Named": {"size": "x"}}}`:   "the value of 'properties.Named.size' must be an integer",
		`{"properties": 5}`:                          "the value of 'properties' must be an object",
	} {
		err := (&Request{Body: []byte(body)}).Decode(&v)
		var ae *Error
		if !errors.As(err, &ae) || ae.Status != 400 || !strings.Contains(ae.Message, want) {
			t.Errorf("%s: %v, want a 400 saying %q", body, err, want)
		}
	}
}

// A body of the wrong JSON kind is a 400 that names JSON kinds, never the
// Go type it would have filled.
func TestDecodeNamesJSONKinds(t *testing.T) {
	var v struct {
		Location string `json:"location"`
		Tags     map[string]string
		Zones    []string `json:"zones"`
	}
	for body, want := range map[string]string{
		`"a string"`:          "the request body must be an object, not a string",
		`[1,2]`:               "the request body must be an object, not an array",
		`{"location": 5}`:     "the value of 'location' must be a string, not a number",
		`{"zones": {"a": 1}}`: "the value of 'zones' must be an array, not an object",
		`{"tags": "x"}`:       "the value of 'Tags' must be an object, not a string",
	} {
		r := &Request{Body: []byte(body)}
		err := r.Decode(&v)
		var ae *Error
		if !errors.As(err, &ae) || ae.Status != 400 || ae.Code != "InvalidRequestContent" || !strings.Contains(ae.Message, want) {
			t.Errorf("%s: %v, want a 400 InvalidRequestContent saying %q", body, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "struct") || err != nil && strings.Contains(err.Error(), "arm.") {
			t.Errorf("%s: the message names a Go type: %v", body, err)
		}
	}
}

// The router's segments of a path are strings.Split's of the path without
// its outer slashes (empty ones kept, none for an empty path), each
// unescaped when the path has escapes, however many: the first ones in the
// Request's own array, the rest past it.
func TestDecodedSegments(t *testing.T) {
	long := strings.Repeat("/a", 13) + "/providers/Microsoft.Compute/disks/d"
	for _, u := range []*url.URL{{Path: ""}, {Path: "/"}, {Path: "//"}, {Path: "/a"}, {Path: "a/b/"}, {Path: "/a//b"}, {Path: long},
		{Path: "/subscriptions/s/resourceGroups/rg"}, {Path: "/a/b/c", RawPath: "/a%2Fb/c"}, {Path: long + "/x;y", RawPath: long + "/x%3By"}} {
		var want []string
		if p := strings.Trim(u.EscapedPath(), "/"); p != "" {
			want = strings.Split(p, "/")
			for i, s := range want {
				want[i], _ = url.PathUnescape(s)
			}
		}
		got, err := DecodedSegments(u)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%+v: %q, %v; want %q", u, got, err, want)
		}
		var r Request
		if got, err := appendDecodedSegments(r.segs[:0], u); err != nil || !slices.Equal(got, want) {
			t.Errorf("%+v in a Request: %q, %v; want %q", u, got, err, want)
		}
	}
}
