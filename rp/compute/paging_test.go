package compute_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// A disk list honours $skipToken however the client spells the name (ARM
// query parameter names are case-insensitive), and its nextLink carries one
// token, the next one.
func TestDiskListSkipTokenCaseInsensitive(t *testing.T) {
	e, _ := start(t)
	for _, n := range []string{"pa", "pb", "pc"} {
		e.emptyDisk(n, 1)
	}
	list := "/subscriptions/" + e.Sub + "/resourceGroups/" + e.rg + "/providers/Microsoft.Compute/disks?api-version=2024-03-02&$top=1"
	names := func(m map[string]any) []string {
		var out []string
		for _, v := range m["value"].([]any) {
			out = append(out, v.(map[string]any)["name"].(string))
		}
		return out
	}
	resp, first := e.Do("GET", list, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list: %d %v", resp.StatusCode, first)
	}
	for _, name := range []string{"$skipToken", "$skiptoken", "$SKIPTOKEN"} {
		resp, m := e.Do("GET", list+"&"+name+"=1", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %v", name, resp.StatusCode, m)
		}
		got, want := names(m), names(first)
		if len(got) != 1 || got[0] == want[0] {
			t.Fatalf("%s=1 listed %v, want the disk after %v", name, got, want)
		}
		next, _ := m["nextLink"].(string)
		u, err := url.Parse(next)
		if err != nil {
			t.Fatalf("%s=1: nextLink %q: %v", name, next, err)
		}
		var toks []string
		for k, v := range u.Query() {
			if strings.EqualFold(k, "$skipToken") {
				toks = append(toks, v...)
			}
		}
		if len(toks) != 1 || toks[0] != "2" {
			t.Fatalf("%s=1: nextLink %q carries tokens %v, want just 2", name, next, toks)
		}
		resp, m = e.Do("GET", list+"&"+name+"=x", nil)
		if resp.StatusCode != http.StatusBadRequest || m["error"].(map[string]any)["code"] != "InvalidQueryParameterValue" {
			t.Fatalf("%s=x: %d %v, want 400 InvalidQueryParameterValue", name, resp.StatusCode, m)
		}
	}
}
