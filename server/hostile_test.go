package server_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/rbac"
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

// TestRequestBodyWithByteOrderMark: a JSON body that starts with a UTF-8
// byte order mark (as a file an editor saved with one) is read as ARM
// reads it, without the mark, plain or gzip-compressed, for a PUT and for
// a POST action; it was 400 InvalidRequestContent ("invalid character
// 'ï'"). Only one leading mark is dropped: a second is the body's own
// content, still refused.
func TestRequestBodyWithByteOrderMark(t *testing.T) {
	e := testserver.StartWithGroups(t, "rg")
	const bom = "\xef\xbb\xbf"
	vault := "/subscriptions/" + e.Sub + "/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v1?api-version=2023-04-01"
	body := func(tag string) string {
		return `{"location":"westus","sku":{"name":"Standard"},"properties":{},"tags":{"v":"` + tag + `"}}`
	}
	if resp, m := e.Do("PUT", vault, []byte(bom+body("marked"))); resp.StatusCode != 201 || testserver.Field(m, "tags.v") != "marked" {
		t.Fatalf("PUT with a BOM: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.Do("PUT", vault, gzipped(t, bom+body("zipped")), testserver.Header("Content-Encoding", "gzip")); resp.StatusCode != 200 || testserver.Field(m, "tags.v") != "zipped" {
		t.Fatalf("PUT with a gzip body with a BOM: %d %v", resp.StatusCode, m)
	}
	check := "/subscriptions/" + e.Sub + "/resourceGroups/rg/providers/Microsoft.RecoveryServices/locations/westus/checkNameAvailability?api-version=2023-04-01"
	if resp, m := e.Do("POST", check, []byte(bom+`{"type":"Microsoft.RecoveryServices/vaults","name":"v1"}`)); resp.StatusCode != 200 || m["nameAvailable"] != false {
		t.Fatalf("POST checkNameAvailability with a BOM: %d %v", resp.StatusCode, m)
	}
	resp, m := e.Do("PUT", vault, []byte(bom+bom+body("twice")), testserver.AnyStatus())
	if resp.StatusCode != 400 || testserver.ErrorCode(m) != "InvalidRequestContent" {
		t.Fatalf("PUT with two BOMs: %d %v, want 400 InvalidRequestContent", resp.StatusCode, m)
	}
	if _, m := e.Do("GET", vault, nil); testserver.Field(m, "tags.v") != "zipped" {
		t.Fatalf("the vault after the PUTs: %v", m)
	}
}

// TestQueryWithABadEscape: a query string with a '%' that starts no
// percent-encoded byte is 400 InvalidRequestUri naming it, as a path with
// one is; it was read without the parameter that held it (net/url drops
// the pair), so a PUT went through ignoring part of its URL and an
// api-version so spelled was "missing". A '%' escaped as %25 is a '%'.
func TestQueryWithABadEscape(t *testing.T) {
	e := testserver.StartWithGroups(t, "rg")
	vault := "/subscriptions/" + e.Sub + "/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v1"
	body := `{"location":"westus","sku":{"name":"Standard"},"properties":{},"tags":{"v":"1"}}`
	if resp, m := e.Do("PUT", vault+"?api-version=2023-04-01", body); resp.StatusCode != 201 {
		t.Fatalf("create the vault: %d %v", resp.StatusCode, m)
	}
	for _, c := range []struct{ method, query, bad string }{
		{"GET", "api-version=2023-04-01&x=%ZZ", "%ZZ"},
		{"GET", "x=%2&api-version=2023-04-01", `"%2"`},
		{"GET", "api-version=2023-04-01&%zz=1", "%zz"},
		{"GET", "api-version=2023-04-01%", "%"},
		{"PUT", "api-version=2023-04-01&x=%G0", "%G0"},
	} {
		var b any
		if c.method == "PUT" {
			b = strings.Replace(body, `"1"`, `"2"`, 1)
		}
		resp, m := e.Do(c.method, vault+"?"+c.query, b)
		msg, _ := testserver.Field(m, "error.message").(string)
		if resp.StatusCode != 400 || testserver.ErrorCode(m) != "InvalidRequestUri" || !strings.Contains(msg, c.bad) {
			t.Errorf("%s ?%s: %d %v, want 400 InvalidRequestUri naming %q", c.method, c.query, resp.StatusCode, m, c.bad)
		}
	}
	if _, m := e.Do("GET", vault+"?api-version=2023-04-01", nil); testserver.Field(m, "tags.v") != "1" {
		t.Fatalf("a PUT refused for its query changed the vault: %v", m)
	}
	list := "/subscriptions/" + e.Sub + "/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults?api-version=2023-04-01&x=100%25"
	if resp, m := e.Do("GET", list, nil); resp.StatusCode != 200 {
		t.Fatalf("a query with an escaped '%%': %d %v", resp.StatusCode, m)
	}
}

// TestQuerySemicolonIsACharacter: a ';' in a query string is an ordinary
// character, as ARM reads it, not a separator that drops its pair
// (net/url's ParseQuery refuses it so): an api-version with one is that
// (invalid) version, not a missing one, and a parameter holding one
// leaves the rest of the query as it is.
func TestQuerySemicolonIsACharacter(t *testing.T) {
	e := testserver.StartWithGroups(t, "rg")
	vault := "/subscriptions/" + e.Sub + "/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v1"
	if resp, m := e.Do("PUT", vault+"?api-version=2023-04-01", `{"location":"westus","sku":{"name":"Standard"},"properties":{}}`); resp.StatusCode != 201 {
		t.Fatalf("create the vault: %d %v", resp.StatusCode, m)
	}
	resp, m := e.Do("GET", vault+"?api-version=2023-04-01;x", nil)
	msg, _ := testserver.Field(m, "error.message").(string)
	if resp.StatusCode != 400 || testserver.ErrorCode(m) != "InvalidApiVersionParameter" || !strings.Contains(msg, "'2023-04-01;x'") {
		t.Fatalf("GET ?api-version=2023-04-01;x: %d %v, want 400 InvalidApiVersionParameter naming it", resp.StatusCode, m)
	}
	if resp, m := e.Do("GET", vault+"?x=a;b&api-version=2023-04-01", nil); resp.StatusCode != 200 || testserver.Field(m, "name") != "v1" {
		t.Fatalf("GET ?x=a;b&api-version=...: %d %v", resp.StatusCode, m)
	}
}

// TestOperationPollsNeedTheStarterOrRead: an operation's status and result
// URLs (Azure-AsyncOperation, Location) answer the principal who started
// it and whoever may read its resource; any other principal (no role, or
// a role on another group) is 403 AuthorizationFailed and never sees the
// result: a beginGetAccess's result is a write SAS of the disk.
func TestOperationPollsNeedTheStarterOrRead(t *testing.T) {
	e := testserver.StartWithGroups(t, "rg", "rg2", "gone")
	sub := "/subscriptions/" + e.Sub
	outsider, outCred := fixture.Principal(t, e, "outsider")
	_ = outsider
	other, otherCred := fixture.Principal(t, e, "other-group-owner")
	fixture.Assign(t, e, sub+"/resourceGroups/rg2", rbac.Owner, other)
	reader, readerCred := fixture.Principal(t, e, "rg-reader")
	fixture.Assign(t, e, sub+"/resourceGroups/rg", rbac.Reader, reader)
	starter, starterCred := fixture.Principal(t, e, "rg-contributor")
	fixture.Assign(t, e, sub+"/resourceGroups/rg", rbac.Contributor, starter)
	fixture.Assign(t, e, sub+"/resourceGroups/gone", rbac.Contributor, starter)

	disk := sub + "/resourceGroups/rg/providers/Microsoft.Compute/disks/d1"
	if resp, m := e.Do("PUT", disk+"?api-version=2024-03-02", `{"location":"westus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}`); resp.StatusCode/100 != 2 {
		t.Fatalf("create disk: %d %v", resp.StatusCode, m)
	}
	grant, _ := e.Do("POST", disk+"/beginGetAccess?api-version=2024-03-02", `{"access":"Write","durationInSeconds":300}`, testserver.As(starterCred))
	del, _ := e.Do("DELETE", sub+"/resourceGroups/gone?api-version=2021-04-01", nil, testserver.As(starterCred))
	var urls []string
	for _, h := range []http.Header{grant.Header, del.Header} {
		for _, k := range []string{"Azure-AsyncOperation", "Location"} {
			if u := h.Get(k); u != "" {
				urls = append(urls, u)
			}
		}
	}
	if grant.StatusCode != 202 || len(urls) != 3 {
		t.Fatalf("beginGetAccess %d and group delete %d: polling URLs %v", grant.StatusCode, del.StatusCode, urls)
	}
	e.WaitFor("the operations to end", func() bool {
		for _, u := range urls {
			if resp, _ := e.Do("GET", u, nil, testserver.As(starterCred)); resp.StatusCode == 202 {
				return false
			}
		}
		return true
	})
	for _, u := range urls {
		for who, cred := range map[string]azcore.TokenCredential{"a principal with no role": outCred, "the owner of another group": otherCred} {
			resp, m := e.Do("GET", u, nil, testserver.As(cred))
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 403 || testserver.ErrorCode(m) != "AuthorizationFailed" || strings.Contains(string(b), "sig=") {
				t.Errorf("%s polls %s: %d %s", who, u, resp.StatusCode, b)
			}
		}
		for who, cred := range map[string]azcore.TokenCredential{"the starter": starterCred, "the admin": nil} {
			if resp, m := e.Do("GET", u, nil, testserver.As(cred)); resp.StatusCode/100 != 2 {
				t.Errorf("%s polls %s: %d %v", who, u, resp.StatusCode, m)
			}
		}
	}
	// A reader of the disk's group reads the disk, and so its operations.
	if resp, m := e.Do("GET", urls[0], nil, testserver.As(readerCred)); resp.StatusCode != 200 || m["status"] != "Succeeded" {
		t.Errorf("a reader of the disk polls its grant: %d %v", resp.StatusCode, m)
	}
}

// TestUpdateThroughOtherCasingKeepsTheID: ARM paths are case-insensitive,
// so a PUT through an upper-cased path updates the existing resource; the
// resource keeps the id it was created with (GET and list answer it, its
// name segment matching its name), not the casing of the updating path:
// vaults, policies of both kinds, disks, snapshots, storage accounts,
// galleries and image definitions, disk accesses, disk encryption sets and
// resource guards (galleries, image definitions, disk encryption sets and
// resource guards took the path's before).
func TestUpdateThroughOtherCasingKeepsTheID(t *testing.T) {
	e := testserver.StartWithGroups(t, "rg")
	P := "/subscriptions/" + e.Sub + "/resourceGroups/rg/providers/"
	policy, err := json.Marshal(fixture.DiskPolicyFrom(fixture.ScheduleStart(e), "PT4H", "P7D", ""))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ id, av, body string }{
		{P + "Microsoft.RecoveryServices/vaults/v1", "?api-version=2023-04-01", `{"location":"westus","sku":{"name":"Standard"},"properties":{}}`},
		{P + "Microsoft.DataProtection/backupVaults/bv1", "?api-version=2023-05-01", `{"location":"westus","identity":{"type":"SystemAssigned"},"properties":{"storageSettings":[{"datastoreType":"VaultStore","type":"LocallyRedundant"}]}}`},
		{P + "Microsoft.DataProtection/backupVaults/bv1/backupPolicies/pol1", "?api-version=2023-05-01", string(policy)},
		{P + "Microsoft.Compute/disks/d1", "?api-version=2024-03-02", `{"location":"westus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}`},
		{P + "Microsoft.Storage/storageAccounts/case1sa", "?api-version=2023-01-01", `{"location":"westus","kind":"StorageV2","sku":{"name":"Standard_LRS"}}`},
		{P + "Microsoft.Compute/snapshots/s1", "?api-version=2023-10-02", `{"location":"westus","properties":{"creationData":{"createOption":"Copy","sourceResourceId":"` + P + `Microsoft.Compute/disks/d1"}}}`},
		{P + "Microsoft.Compute/galleries/g1", "?api-version=2022-03-03", `{"location":"westus","properties":{}}`},
		{P + "Microsoft.Compute/galleries/g1/images/img1", "?api-version=2022-03-03", `{"location":"westus","properties":{"osType":"Linux","osState":"Generalized","identifier":{"publisher":"p","offer":"o","sku":"s"}}}`},
		{P + "Microsoft.Compute/diskAccesses/da1", "?api-version=2023-10-02", `{"location":"westus"}`},
		{P + "Microsoft.Compute/diskEncryptionSets/des1", "?api-version=2023-10-02", `{"location":"westus","identity":{"type":"SystemAssigned"},"properties":{"activeKey":{"keyUrl":"https://kv1.vault.azure.net/keys/k1/0123456789abcdef0123456789abcdef"}}}`},
		{P + "Microsoft.DataProtection/resourceGuards/guard1", "?api-version=2023-05-01", `{"location":"westus","properties":{}}`},
		{P + "Microsoft.RecoveryServices/vaults/v1/backupPolicies/rspol1", "?api-version=2023-04-01", `{"properties":{"backupManagementType":"AzureIaasVM","schedulePolicy":{"schedulePolicyType":"SimpleSchedulePolicy","scheduleRunFrequency":"Daily","scheduleRunTimes":["2024-01-01T10:00:00Z"]},"retentionPolicy":{"retentionPolicyType":"LongTermRetentionPolicy","dailySchedule":{"retentionTimes":["2024-01-01T10:00:00Z"],"retentionDuration":{"count":7,"durationType":"Days"}}}}}`},
	} {
		resp, first := e.Do("PUT", c.id+c.av, c.body)
		if resp.StatusCode == http.StatusAccepted { // an asynchronous create (snapshots, disk encryption sets)
			if st := e.Poll(resp.Header.Get("Azure-AsyncOperation")); st["status"] != "Succeeded" {
				t.Fatalf("PUT %s: %v", c.id, st)
			}
			resp, first = e.Do("GET", c.id+c.av, nil)
		}
		if resp.StatusCode/100 != 2 || first["id"] != c.id {
			t.Fatalf("create %s: %d %v", c.id, resp.StatusCode, first)
		}
		upper := strings.ToUpper(c.id)
		if strings.Contains(c.id, "storageAccounts") { // its names are lower case only
			i := strings.LastIndex(c.id, "/")
			upper = strings.ToUpper(c.id[:i]) + c.id[i:]
		}
		resp, m := e.Do("PUT", upper+c.av, c.body)
		if resp.StatusCode == http.StatusAccepted {
			if st := e.Poll(resp.Header.Get("Azure-AsyncOperation")); st["status"] != "Succeeded" {
				t.Fatalf("PUT %s: %v", c.id, st)
			}
			resp, m = e.Do("GET", c.id+c.av, nil)
		}
		if resp.StatusCode != 200 || m["id"] != c.id || m["name"] != first["name"] {
			t.Errorf("update through %s: %d id %v name %v, want %s (%v)", upper, resp.StatusCode, m["id"], m["name"], c.id, m["error"])
		}
		if _, m := e.Do("GET", c.id+c.av, nil); m["id"] != c.id {
			t.Errorf("GET %s after the update: id %v", c.id, m["id"])
		}
		_, l := e.Do("GET", c.id[:strings.LastIndex(c.id, "/")]+c.av, nil)
		found := 0
		for _, it := range l["value"].([]any) {
			if id, _ := it.(map[string]any)["id"].(string); strings.EqualFold(id, c.id) {
				if id != c.id {
					t.Errorf("list of %s after the update: id %s", c.id, id)
				}
				found++
			}
		}
		if found != 1 {
			t.Errorf("list of %s after the update: %v", c.id, l["value"])
		}
	}
}

// TestJobExportResultsNeedJobsRead: the result URL of a vault's job export
// (Recovery Services .../backupJobs/operationResults/{id}, Backup vaults
// .../backupJobs/operations/{id}) is an operation route any authenticated
// caller reaches, but it answers only a caller who may read the vault's
// jobs: a principal with no role is 403 AuthorizationFailed whether the
// vault exists or not (it told a vault that exists from one that does
// not by the 404's message), while the admin still reads its export.
func TestJobExportResultsNeedJobsRead(t *testing.T) {
	e := testserver.StartWithGroups(t, "rg")
	rg := "/subscriptions/" + e.Sub + "/resourceGroups/rg"
	fixture.RSVault(t, e, "rg", "rsv", fixture.StandardVault())
	fixture.BackupVault(t, e, "rg", "bv")
	_, outCred := fixture.Principal(t, e, "outsider")
	for _, c := range []struct{ vault, export, version string }{
		{rg + "/providers/Microsoft.RecoveryServices/vaults/", "/backupJobsExport", "?api-version=2023-04-01"},
		{rg + "/providers/Microsoft.DataProtection/backupVaults/", "/exportBackupJobs", "?api-version=2024-04-01"},
	} {
		name := map[bool]string{true: "rsv", false: "bv"}[strings.Contains(c.vault, "RecoveryServices")]
		resp, m := e.Do("POST", c.vault+name+c.export+c.version, nil)
		if resp.StatusCode != 202 {
			t.Fatalf("export the jobs of %s: %d %v", name, resp.StatusCode, m)
		}
		loc := resp.Header.Get("Location")
		e.WaitFor("the export", func() bool {
			resp, _ := e.Do("GET", loc, nil)
			return resp.StatusCode == 200
		})
		missing := strings.Replace(loc, "/"+name+"/", "/nosuchvault/", 1)
		for _, u := range []string{loc, missing} {
			resp, m := e.Do("GET", u, nil, testserver.As(outCred), testserver.AnyStatus())
			if resp.StatusCode != 403 || testserver.ErrorCode(m) != "AuthorizationFailed" {
				t.Errorf("a principal with no role reads %s: %d %v", u, resp.StatusCode, m)
			}
		}
	}
}

// TestSkipTokenPastTheEndIsTheLastPage: a $skipToken a client made up, as
// large as an int goes, selects an empty last page with no nextLink on
// every kind of list (read a page at a time or whole). Before, a list read
// a page at a time (resource groups, Backup vault policies) took start+size
// overflowed for "more items follow" and answered an empty page whose
// nextLink carried a negative $skipToken, which a pager then got 400 for.
func TestSkipTokenPastTheEndIsTheLastPage(t *testing.T) {
	e := testserver.StartWithGroups(t, "rg")
	sub := "/subscriptions/" + e.Sub
	vault := sub + "/resourceGroups/rg/providers/Microsoft.DataProtection/backupVaults/bv"
	if resp, m := e.Do("PUT", vault+"?api-version=2023-05-01", `{"location":"westus","identity":{"type":"SystemAssigned"},"properties":{"storageSettings":[{"datastoreType":"VaultStore","type":"LocallyRedundant"}]}}`); resp.StatusCode >= 300 {
		t.Fatalf("vault: %d %v", resp.StatusCode, m)
	}
	for _, list := range []string{
		sub + "/resourcegroups?api-version=2021-04-01",
		vault + "/backupPolicies?api-version=2023-05-01", // (none: read through the empty list's end)
		sub + "/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01",
	} {
		for _, tok := range []string{"9223372036854775807", "9223372036854775000", "4611686018427387904"} {
			resp, m := e.Do("GET", list+"&$skipToken="+tok, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("GET %s with $skipToken %s: %d %v", list, tok, resp.StatusCode, m)
			}
			if v, _ := m["value"].([]any); len(v) != 0 || m["nextLink"] != nil {
				t.Errorf("GET %s with $skipToken %s: %v, want an empty last page", list, tok, m)
			}
		}
		// The first page is still the list.
		if resp, m := e.Do("GET", list+"&$skipToken=0", nil); resp.StatusCode != 200 || len(m["value"].([]any)) == 0 && !strings.Contains(list, "backupPolicies") {
			t.Errorf("GET %s from the start: %d %v", list, resp.StatusCode, m)
		}
	}
}

// TestDotSegmentsInAnARMPathAreRefused: an ARM path with a literal '.' or
// '..' segment is 400 InvalidRequestUri in ARM's JSON, as one escaped
// (%2E%2E) is, whatever the method and whether or not a token comes with
// it (401 first without one). Before, Go's mux answered a 307 to the
// cleaned path with an HTML body, and a client following it (Go's does,
// with the body) wrote somewhere else than the path it was given: a PUT
// of rg1/../rg2 created the group rg2.
func TestDotSegmentsInAnARMPathAreRefused(t *testing.T) {
	e := testserver.StartWithGroups(t, "rg1")
	sub := "/subscriptions/" + e.Sub
	for _, c := range []struct{ method, path string }{
		{"PUT", sub + "/resourceGroups/rg1/../rg2?api-version=2021-04-01"},
		{"GET", sub + "/resourceGroups/rg1/./providers/Microsoft.Compute/disks?api-version=2024-03-02"},
		{"DELETE", sub + "/resourceGroups/rg1/..?api-version=2021-04-01"},
		{"GET", "/providers/Microsoft.Authorization/../Microsoft.Compute/operations?api-version=2024-03-02"},
		{"GET", "/SUBSCRIPTIONS/" + e.Sub + "/resourcegroups/./rg1?api-version=2021-04-01"},
	} {
		var body any
		if c.method == "PUT" {
			body = `{"location":"westus"}`
		}
		for _, auth := range []bool{true, false} {
			var opts []testserver.RequestOption
			want, code := 400, "InvalidRequestUri"
			if !auth {
				opts, want, code = append(opts, testserver.Bearer("")), 401, "AuthenticationFailed"
			}
			resp, m := e.Do(c.method, c.path, body, opts...) // (fails on a non-JSON answer)
			if resp.StatusCode != want || testserver.ErrorCode(m) != code || resp.Request.Response != nil {
				t.Errorf("%s %s (token %t): %d %v at %s, want %d %s, not redirected", c.method, c.path, auth, resp.StatusCode, m, resp.Request.URL, want, code)
			}
		}
	}
	if resp, _ := e.Do("GET", sub+"/resourceGroups/rg2?api-version=2021-04-01", nil); resp.StatusCode != 404 {
		t.Fatalf("rg2 after the refused PUT of rg1/../rg2: %d", resp.StatusCode)
	}
	if resp, _ := e.Do("GET", sub+"/resourceGroups/rg1?api-version=2021-04-01", nil); resp.StatusCode != 200 {
		t.Fatalf("rg1 after the refused DELETE of rg1/..: %d", resp.StatusCode)
	}
}
