package server_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/internal/testserver"
)

func addRule(t *testing.T, e *testserver.Env, rule map[string]any) map[string]any {
	t.Helper()
	resp, m := call(t, e, "POST", adminURL("/faultRules"), rule)
	mustStatus(t, 201, resp, m)
	return m
}

func listRules(t *testing.T, e *testserver.Env) []any {
	t.Helper()
	resp, m := call(t, e, "GET", adminURL("/faultRules"), nil)
	mustStatus(t, 200, resp, m)
	return m["value"].([]any)
}

// TestFaultARM: an arm rule answers matching requests with its status and
// code (the next N, or a percentage), leaves others alone, can add latency,
// and never blocks the admin API.
func TestFaultARM(t *testing.T) {
	e := testserver.Start(t)
	rgs := "/subscriptions/" + e.Sub + "/resourcegroups/"
	addRule(t, e, map[string]any{"name": "rg-put", "operation": "arm", "method": "PUT", "path": "*/resourcegroups/flaky-*", "status": 429, "code": "TooManyRequests", "message": "slow down", "count": 2})
	for i := 0; i < 2; i++ {
		resp, m := call(t, e, "PUT", rgs+"flaky-1?api-version=2021-04-01", `{"location":"westus"}`)
		// With Retry-After, as ARM's throttling answers: without it the
		// SDKs back off exponentially instead of the second asked for.
		if resp.StatusCode != 429 || testserver.ErrorCode(m) != "TooManyRequests" || !strings.Contains(m["error"].(map[string]any)["message"].(string), "slow down") || resp.Header.Get("Retry-After") != "1" {
			t.Fatalf("injected PUT %d: %d %v", i, resp.StatusCode, m)
		}
	}
	// Other methods and paths are untouched; after 2 matches the rule is used up.
	resp, m := call(t, e, "GET", rgs+"flaky-1?api-version=2021-04-01", nil)
	mustStatus(t, 404, resp, m)
	resp, m = call(t, e, "PUT", rgs+"steady?api-version=2021-04-01", `{"location":"westus"}`)
	mustStatus(t, 201, resp, m)
	resp, m = call(t, e, "PUT", rgs+"flaky-1?api-version=2021-04-01", `{"location":"westus"}`)
	mustStatus(t, 201, resp, m)
	if rules := listRules(t, e); len(rules) != 0 {
		t.Fatalf("rule not used up: %v", rules)
	}

	// A percentage applies to about that share of matches.
	addRule(t, e, map[string]any{"name": "half", "operation": "arm", "method": "GET", "path": "*/resourcegroups/steady", "code": "ServiceUnavailable", "status": 503, "percent": 50})
	failed := 0
	for i := 0; i < 100; i++ {
		resp, _ := call(t, e, "GET", rgs+"steady?api-version=2021-04-01", nil)
		switch resp.StatusCode {
		case 503:
			failed++
		case 200:
		default:
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	if failed < 20 || failed > 80 {
		t.Fatalf("a 50%% rule failed %d of 100 requests", failed)
	}
	rules := listRules(t, e)
	if len(rules) != 1 || rules[0].(map[string]any)["hits"].(float64) != float64(failed) {
		t.Fatalf("rules: %v (failed %d)", rules, failed)
	}
	// The admin API is never affected, even by a rule matching everything.
	addRule(t, e, map[string]any{"name": "all", "operation": "arm", "code": "Broken"})
	resp, m = call(t, e, "GET", "/subscriptions/"+e.Sub+"?api-version=2022-12-01", nil)
	if resp.StatusCode != 500 || testserver.ErrorCode(m) != "Broken" {
		t.Fatalf("catch-all rule: %d %v", resp.StatusCode, m)
	}
	resp, m = call(t, e, "DELETE", adminURL("/faultRules"), nil)
	mustStatus(t, 200, resp, m)
	if m["removed"].(float64) != 2 {
		t.Fatalf("clear: %v", m)
	}
	resp, m = call(t, e, "GET", "/subscriptions/"+e.Sub+"?api-version=2022-12-01", nil)
	mustStatus(t, 200, resp, m)

	// Latency only: the request succeeds, later.
	addRule(t, e, map[string]any{"name": "slow", "operation": "arm", "path": "*/resourcegroups/steady", "latency": "300ms", "count": 1})
	t0 := time.Now()
	resp, m = call(t, e, "GET", rgs+"steady?api-version=2021-04-01", nil)
	mustStatus(t, 200, resp, m)
	if d := time.Since(t0); d < 300*time.Millisecond {
		t.Fatalf("latency rule: answered after %v", d)
	}

	// Bad rules are 400 with a message.
	for _, bad := range []map[string]any{
		{"operation": "teleport", "code": "X"}, {"operation": "arm"}, {"operation": "backup", "method": "GET", "code": "X"},
		{"operation": "arm", "code": "X", "status": 200}, {"operation": "arm", "latency": "soon"}, {"operation": "arm", "code": "X", "percent": 140},
	} {
		resp, m := call(t, e, "POST", adminURL("/faultRules"), bad)
		if resp.StatusCode != 400 || testserver.ErrorCode(m) != "InvalidFaultRule" {
			t.Errorf("rule %v: %d %v", bad, resp.StatusCode, m)
		}
	}
	// A method no request has is refused naming those it may be (it was
	// kept, and never matched).
	for _, op := range []string{"arm", "disk"} {
		resp, m := call(t, e, "POST", adminURL("/faultRules"), map[string]any{"operation": op, "method": "FOO", "code": "X"})
		if msg, _ := testserver.Field(m, "error.message").(string); resp.StatusCode != 400 || testserver.ErrorCode(m) != "InvalidFaultRule" ||
			!strings.Contains(msg, `"FOO"`) || !strings.Contains(msg, "GET, HEAD, PUT, PATCH, POST, DELETE") {
			t.Errorf("%s rule with method FOO: %d %v, want 400 InvalidFaultRule naming the methods", op, resp.StatusCode, m)
		}
	}
	if rules := listRules(t, e); len(rules) != 0 {
		t.Errorf("refused rules were kept: %v", rules)
	}
	resp, m = call(t, e, "DELETE", adminURL("/faultRules/nope"), nil)
	if resp.StatusCode != 404 || testserver.ErrorCode(m) != "FaultRuleNotFound" {
		t.Errorf("delete unknown rule: %d %v", resp.StatusCode, m)
	}
}

// TestFaultDisk: a disk rule makes the SAS data plane answer as Azure
// Storage does for that error.
func TestFaultDisk(t *testing.T) {
	e := testserver.Start(t)
	disk := "/subscriptions/" + e.Sub + "/resourceGroups/rg/providers/Microsoft.Compute/disks/d1"
	resp, m := call(t, e, "PUT", "/subscriptions/"+e.Sub+"/resourcegroups/rg?api-version=2021-04-01", `{"location":"westus"}`)
	mustStatus(t, 201, resp, m)
	if _, err := e.Server.Compute.CreateDisk(e.Ctx(), compute.DiskSpec{ID: disk, Location: "westus", CreateOption: "Empty", SizeBytes: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	resp, m = call(t, e, "POST", disk+"/beginGetAccess?api-version=2024-03-02", `{"access":"Read","durationInSeconds":3600}`)
	mustStatus(t, 202, resp, m)
	if st := pollOp(t, e, resp.Header.Get("Azure-AsyncOperation")); st["status"] != "Succeeded" {
		t.Fatalf("grant: %v", st)
	}
	_, res := call(t, e, "GET", resp.Header.Get("Location"), nil)
	sas, _ := res["accessSAS"].(string)
	if sas == "" {
		t.Fatalf("no SAS: %v", res)
	}
	hc, _ := e.Conn.HTTPClient()
	get := func() (*http.Response, string) {
		req, _ := http.NewRequest("GET", sas, nil)
		req.Header.Set("x-ms-range", "bytes=0-511")
		r, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		b, _ := io.ReadAll(r.Body)
		return r, string(b)
	}
	if r, _ := get(); r.StatusCode != 206 && r.StatusCode != 200 {
		t.Fatalf("read before the rule: %d", r.StatusCode)
	}
	addRule(t, e, map[string]any{"operation": "disk", "method": "GET", "status": 503, "code": "ServerBusy", "count": 1})
	r, body := get()
	if r.StatusCode != 503 || r.Header.Get("x-ms-error-code") != "ServerBusy" || !strings.Contains(body, "<Code>ServerBusy</Code>") {
		t.Fatalf("injected read: %d %v %s", r.StatusCode, r.Header, body)
	}
	if r, _ := get(); r.StatusCode != 206 && r.StatusCode != 200 {
		t.Fatalf("read after the rule was used up: %d", r.StatusCode)
	}
}
