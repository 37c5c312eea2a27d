package server_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/testserver"
)

var paramRE = regexp.MustCompile(`\{\*?([^}]+)\}`)

// TestNoRouteAnswers5xxToBadInput sends every registered route bad and odd
// input — no body, malformed JSON, wrong JSON types, unknown names with
// ';', '%' and unicode, odd api-versions and query values — and requires a
// JSON answer below 500 for each: bad input gets an ARM error, never a
// panic or an internal error.
func TestNoRouteAnswers5xxToBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("sweeps every route")
	}
	e := testserver.Start(t)
	tok := testserver.Bearer(e.Token(nil))
	// A real resource group, so requests get past the first existence checks.
	e.Do("PUT", "/subscriptions/"+e.Sub+"/resourcegroups/rg?api-version=2021-04-01", `{"location":"westus"}`, tok)

	bodies := []string{"", "{", "[]", "null", "{}", `{"properties":7}`, `{"properties":{"objectType":"Nope"},"location":5}`,
		`{"location":"westus","properties":{"datasourceInfo":null,"policyInfo":{"policyId":""},"protectedItemType":"Microsoft.Compute/virtualMachines","policyId":"x"},"identity":{"type":"Bogus"}}`,
		`{"objectType":"AzureBackupRecoveryPointBasedRestoreRequest","restoreTargetInfo":{"objectType":"restoreTargetInfo"},"recoveryPointId":"x"}`,
		`{"properties":{"objectType":"IaasVMRestoreRequest","recoveryPointId":"x","recoveryType":"RestoreDisks"}}`,
		`{"properties":{"creationData":{"createOption":"Weird"},"diskSizeGB":-1},"location":"westus"}`}
	names := []string{"rg", "x", "a;b;c;d", "IaasVMContainer;iaasvmcontainerv2;rg;vm", "VM;iaasvmcontainerv2;rg;vm", "ünï", "%25", "00000000-0000-0000-0000-000000000000"}
	versions := []string{"", "2016-12-01", "2021-01-01", "2024-04-01", "bogus"}
	routes := e.Server.Router.Routes()
	if len(routes) < 20 {
		t.Fatalf("only %d routes", len(routes))
	}
	n := 0
	for _, rt := range routes {
		for ni, name := range names {
			path := paramRE.ReplaceAllStringFunc(rt.Pattern, func(p string) string {
				k := strings.ToLower(paramRE.FindStringSubmatch(p)[1])
				switch {
				case strings.HasPrefix(p, "{*"):
					return "subscriptions/" + e.Sub + "/resourceGroups/rg"
				case strings.Contains(k, "subscription"):
					return e.Sub
				case strings.Contains(k, "resourcegroup"):
					return "rg"
				case strings.Contains(k, "location"):
					return "westus"
				case strings.Contains(k, "fabric"):
					return "Azure"
				}
				return strings.ReplaceAll(pathEscape(name), "/", "%2F")
			})
			path = strings.Replace(path, "//", "/", -1)
			for bi, body := range bodies {
				if rt.Method == "GET" || rt.Method == "HEAD" || rt.Method == "DELETE" {
					if bi > 0 {
						break
					}
				}
				v := versions[(ni+bi)%len(versions)]
				q := "?api-version=" + v + "&$filter=" + queryEscape("status eq 'x' and startTime eq 'notatime'") + "&$skipToken=zz&$top=-1"
				if v == "" {
					q = "?$filter=bad"
				}
				var b any
				if body != "" {
					b = body
				}
				e.Do(rt.Method, path+q, b, tok) // fails on a 5xx or a non-JSON answer
				n++
			}
		}
	}
	t.Logf("%d routes, %d requests", len(routes), n)
}

// TestUnknownLocationRefused: as ARM does for a resource group, a new
// resource in a region that does not exist is 400
// LocationNotAvailableForResourceType, whichever provider serves it;
// regions in any spelling ARM accepts ("West US") are fine.
func TestUnknownLocationRefused(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("rg")
	base := "/subscriptions/" + e.Sub + "/resourceGroups/rg/providers/"
	disk := base + "Microsoft.Compute/disks/d1?api-version=2024-03-02"
	diskBody := func(loc string) string {
		return `{"location":"` + loc + `","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}`
	}
	resp, m := e.Do("PUT", disk, diskBody("West US"))
	if resp.StatusCode != 200 && resp.StatusCode != 201 && resp.StatusCode != 202 {
		t.Fatalf("disk in West US: %d %v", resp.StatusCode, m)
	}
	diskID := "/subscriptions/" + e.Sub + "/resourceGroups/rg/providers/Microsoft.Compute/disks/d1"
	for _, c := range []struct{ url, body string }{
		{base + "Microsoft.Compute/disks/d2?api-version=2024-03-02", diskBody("nowhere")},
		{base + "Microsoft.Compute/snapshots/s1?api-version=2024-03-02", `{"location":"nowhere","properties":{"creationData":{"createOption":"Copy","sourceResourceId":"` + diskID + `"}}}`},
		{base + "Microsoft.Compute/virtualMachines/vm1?api-version=2024-11-01", `{"location":"nowhere","properties":{"hardwareProfile":{"vmSize":"Standard_D2s_v3"},"storageProfile":{"osDisk":{"osType":"Linux","createOption":"Attach","managedDisk":{"id":"` + diskID + `"}}}}}`},
		{base + "Microsoft.RecoveryServices/vaults/rv?api-version=2023-04-01", `{"location":"nowhere","sku":{"name":"Standard"}}`},
		{base + "Microsoft.DataProtection/backupVaults/bv?api-version=2023-05-01", `{"location":"nowhere","identity":{"type":"SystemAssigned"},"properties":{"storageSettings":[{"datastoreType":"VaultStore","type":"LocallyRedundant"}]}}`},
		{base + "Microsoft.Storage/storageAccounts/sa1nowhere?api-version=2023-01-01", `{"location":"nowhere","kind":"StorageV2","sku":{"name":"Standard_LRS"}}`},
	} {
		resp, m := e.Do("PUT", c.url, c.body)
		if resp.StatusCode != 400 || testserver.ErrorCode(m) != "LocationNotAvailableForResourceType" {
			t.Errorf("PUT %s in location nowhere: %d %v", c.url, resp.StatusCode, m)
		}
		if resp, _ := e.Do("GET", c.url, nil); resp.StatusCode != 404 {
			t.Errorf("GET %s after the refused PUT: %d", c.url, resp.StatusCode)
		}
	}
	// A region's compute usages and quotas: of known regions only.
	quota := "/providers/Safehold.Admin/computeQuotas/" + e.Sub + "/nowhere?api-version=2024-01-01"
	for _, c := range []struct{ method, url, body string }{
		{"GET", "/subscriptions/" + e.Sub + "/providers/Microsoft.Compute/locations/nowhere/usages?api-version=2024-03-01", ""},
		{"GET", quota, ""},
		{"POST", quota, `{"limits":{"cores":4}}`},
	} {
		var body any
		if c.body != "" {
			body = c.body
		}
		resp, m := e.Do(c.method, c.url, body)
		if resp.StatusCode != 400 || testserver.ErrorCode(m) != "LocationNotAvailableForResourceType" {
			t.Errorf("%s %s: %d %v", c.method, c.url, resp.StatusCode, m)
		}
	}
	if resp, m := e.Do("GET", "/subscriptions/"+e.Sub+"/providers/Microsoft.Compute/locations/West%20US/usages?api-version=2024-03-01", nil); resp.StatusCode != 200 {
		t.Errorf("usages of West US: %d %v", resp.StatusCode, m)
	}
}

// TestTagLimits: ARM's limits on tags hold for every resource a PUT or
// PATCH writes (a resource group, a disk, a vault): at most 50 tags, names
// of 1 to 512 characters without reserved characters, values of at most
// 256, no two names that differ only in case (tag names are
// case-insensitive: both were stored); a refused write stores nothing.
func TestTagLimits(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("rg")
	rg := "/subscriptions/" + e.Sub + "/resourcegroups/rg?api-version=2021-04-01"
	disk := "/subscriptions/" + e.Sub + "/resourceGroups/rg/providers/Microsoft.Compute/disks/d1?api-version=2024-03-02"
	vault := "/subscriptions/" + e.Sub + "/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/rv?api-version=2023-04-01"
	body := func(base map[string]any, tags map[string]string) string {
		m := map[string]any{"tags": tags}
		for k, v := range base {
			m[k] = v
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	diskBase := map[string]any{"location": "westus", "properties": map[string]any{"creationData": map[string]any{"createOption": "Empty"}, "diskSizeGB": 1}}
	many := map[string]string{}
	for i := 0; i < 51; i++ {
		many[fmt.Sprintf("t%d", i)] = "v"
	}
	fifty := map[string]string{strings.Repeat("k", 512): strings.Repeat("v", 256)}
	for i := 0; i < 49; i++ {
		fifty[fmt.Sprintf("t%d", i)] = "v"
	}
	ok := []struct{ method, url, body string }{
		{"PUT", disk, body(diskBase, fifty)},
		{"PUT", vault, body(map[string]any{"location": "westus", "sku": map[string]any{"name": "Standard"}}, nil)},
		{"PATCH", rg, body(nil, map[string]string{"team": "a"})},
	}
	for _, c := range ok {
		resp, m := e.Do(c.method, c.url, c.body)
		if resp.StatusCode >= 300 {
			t.Fatalf("%s %s: %d %v", c.method, c.url, resp.StatusCode, m)
		}
	}
	for _, bad := range []struct {
		tags map[string]string
		code string
	}{
		{many, "InvalidTagCount"},
		{map[string]string{strings.Repeat("k", 513): "v"}, "InvalidTagNameLength"},
		{map[string]string{"": "v"}, "InvalidTagNameLength"},
		{map[string]string{"a<b": "v"}, "InvalidTagNameCharacters"},
		{map[string]string{"a/b": "v"}, "InvalidTagNameCharacters"},
		{map[string]string{"team": strings.Repeat("v", 257)}, "InvalidTagValueLength"},
		{map[string]string{"env": "a", "Env": "b"}, "DuplicateTagName"},
	} {
		for _, c := range []struct{ method, url, body string }{
			{"PUT", disk, body(diskBase, bad.tags)},
			{"PATCH", disk, body(nil, bad.tags)},
			{"PATCH", vault, body(nil, bad.tags)},
			{"PUT", rg, body(map[string]any{"location": "westus"}, bad.tags)},
		} {
			resp, m := e.Do(c.method, c.url, c.body)
			if resp.StatusCode != 400 || testserver.ErrorCode(m) != bad.code {
				t.Errorf("%s %s with %s: %d %v", c.method, c.url, bad.code, resp.StatusCode, m)
			}
		}
	}
	if _, m := e.Do("GET", disk, nil); len(testserver.Field(m, "tags").(map[string]any)) != 50 {
		t.Fatalf("a refused write changed the disk's tags: %v", testserver.Field(m, "tags"))
	}
}

// TestHugeChunkSizeIsBadRequest: a chunked body whose first chunk claims
// 2^63-1 bytes is a 4xx from a server that keeps serving. The request-line
// repair (fixConn) counted that size plus its CRLF in an int64, which
// overflowed: Read panicked, and the connection closed without an answer.
func TestHugeChunkSizeIsBadRequest(t *testing.T) {
	e := testserver.Start(t)
	tok := e.Token(nil)
	c, u := dialARM(t, e)
	path := "/subscriptions/" + e.Sub + "/resourcegroups/rg?api-version=2021-04-01"
	fmt.Fprintf(c, "PUT %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n7fffffffffffffff\r\n{\"location\":\"westus\"}", path, u.Host, tok)
	c.CloseWrite() // the rest of the chunk never comes
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Fatalf("status %d, want 4xx", resp.StatusCode)
	}
	if r, _ := e.Do("GET", "/subscriptions/"+e.Sub+"/resourcegroups?api-version=2021-04-01", nil); r.StatusCode != 200 {
		t.Fatalf("the server after it: %d", r.StatusCode)
	}
}
