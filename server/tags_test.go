package server_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
)

// TestTagLimits: ARM's limits on tags hold for every resource a PUT or
// PATCH writes (a resource group, a disk, a vault): at most 50 tags, names
// of 1 to 512 characters without reserved characters, values of at most
// 256; a refused write stores nothing.
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
