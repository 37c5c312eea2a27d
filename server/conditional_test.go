package server_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/internal/testserver"
)

// TestConditionalWrites: If-None-Match: * creates only, If-Match: *
// updates only, and If-Match with an entity tag writes only the version it
// names (a Recovery Services vault's etag); a refused write is 412
// PreconditionFailed and changes nothing. A read's conditions are not
// checked.
func TestConditionalWrites(t *testing.T) {
	e := testserver.Start(t)
	sub := "/subscriptions/" + e.Conn.SubscriptionID
	const rgv = "?api-version=2021-04-01"
	g := sub + "/resourcegroups/cond"
	create := testserver.Header("If-None-Match", "*")
	update := testserver.Header("If-Match", "*")

	if resp, m := e.Do("PUT", g+rgv, map[string]any{"location": "westus"}, update); resp.StatusCode != 412 || testserver.ErrorCode(m) != "PreconditionFailed" {
		t.Fatalf("update-only PUT of a missing group: %d %v", resp.StatusCode, m)
	}
	if resp, _ := e.Do("GET", g+rgv, nil); resp.StatusCode != 404 {
		t.Fatalf("a refused PUT created the group: %d", resp.StatusCode)
	}
	if resp, m := e.Do("PUT", g+rgv, map[string]any{"location": "westus", "tags": map[string]string{"v": "1"}}, create); resp.StatusCode != 201 {
		t.Fatalf("create-only PUT of a new group: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.Do("PUT", g+rgv, map[string]any{"location": "westus", "tags": map[string]string{"v": "2"}}, create); resp.StatusCode != 412 || testserver.ErrorCode(m) != "PreconditionFailed" {
		t.Fatalf("create-only PUT of an existing group: %d %v", resp.StatusCode, m)
	}
	if _, m := e.Do("GET", g+rgv, nil); testserver.Field(m, "tags.v") != "1" {
		t.Fatalf("a refused PUT changed the group: %v", m)
	}
	for _, h := range []testserver.RequestOption{testserver.Header("If-Match", `"stale"`), testserver.Header("If-None-Match", "*")} {
		if resp, m := e.Do("GET", g+rgv, nil, h); resp.StatusCode != 200 || testserver.Field(m, "tags.v") != "1" {
			t.Fatalf("a GET with a condition the group does not meet: %d %v (a read's conditions are not checked)", resp.StatusCode, m)
		}
	}
	if resp, m := e.Do("PATCH", g+rgv, map[string]any{"tags": map[string]string{"v": "3"}}, update); resp.StatusCode != 200 || testserver.Field(m, "tags.v") != "3" {
		t.Fatalf("update-only PATCH of an existing group: %d %v", resp.StatusCode, m)
	}

	// A vault's etag.
	const vv = "?api-version=2023-04-01"
	v := g + "/providers/Microsoft.RecoveryServices/vaults/vault1"
	body := map[string]any{"location": "westus", "sku": map[string]string{"name": "Standard"}, "properties": map[string]any{"publicNetworkAccess": "Enabled"}}
	if resp, m := e.Do("PUT", v+vv, body, create); resp.StatusCode >= 300 {
		t.Fatalf("create-only PUT of a new vault: %d %v", resp.StatusCode, m)
	}
	e.WaitFor("the vault", func() bool {
		resp, m := e.Do("GET", v+vv, nil)
		return resp.StatusCode == 200 && testserver.Field(m, "properties.provisioningState") == "Succeeded"
	})
	_, m := e.Do("GET", v+vv, nil)
	etag, _ := m["etag"].(string)
	if etag == "" {
		t.Fatalf("vault without etag: %v", m)
	}
	body["tags"] = map[string]string{"k": "stale"}
	if resp, m := e.Do("PUT", v+vv, body, testserver.Header("If-Match", `W/"datetime'2017-12-15T12%3A36%3A51.68Z'"`)); resp.StatusCode != 412 || testserver.ErrorCode(m) != "PreconditionFailed" {
		t.Fatalf("PUT of a vault with a stale If-Match: %d %v", resp.StatusCode, m)
	}
	if _, m := e.Do("GET", v+vv, nil); m["tags"] != nil {
		t.Fatalf("a refused PUT changed the vault: %v", m)
	}
	body["tags"] = map[string]string{"k": "fresh"}
	if resp, m := e.Do("PUT", v+vv, body, testserver.Header("If-Match", etag)); resp.StatusCode >= 300 {
		t.Fatalf("PUT of a vault with its own etag: %d %v", resp.StatusCode, m)
	}
	e.WaitFor("the vault's tags", func() bool {
		_, m := e.Do("GET", v+vv, nil)
		return testserver.Field(m, "tags.k") == "fresh"
	})
	if resp, m := e.Do("DELETE", v+vv, nil, testserver.Header("If-Match", etag+"x")); resp.StatusCode != 412 {
		t.Fatalf("DELETE of a vault with a stale If-Match: %d %v", resp.StatusCode, m)
	}
	if resp, _ := e.Do("GET", v+vv, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("a refused DELETE deleted the vault: %d", resp.StatusCode)
	}
	if resp, m := e.Do("DELETE", sub+"/resourcegroups/nope"+rgv, nil, update); resp.StatusCode != 412 {
		t.Fatalf("update-only DELETE of a missing group: %d %v", resp.StatusCode, m)
	}
}

// TestConditionalWritesOfOneETag: a Recovery Services vault's etag changes
// with every write, at one instant of a frozen clock too (it is the
// write's time, as Azure's: two writes while the clock stood had one
// etag, so an If-Match of the version before the last write still wrote,
// hostile31), and of PUTs and PATCHes sent at once with If-Match of the
// vault's etag one writes and the others are 412 PreconditionFailed,
// whose check read the same etag before the first committed (9 of 20 at
// once wrote, hostile31).
func TestConditionalWritesOfOneETag(t *testing.T) {
	e := testserver.Start(t, testserver.WithClock(clock.NewFake(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))))
	e.ResourceGroups("cond")
	v := "/subscriptions/" + e.Conn.SubscriptionID + "/resourceGroups/cond/providers/Microsoft.RecoveryServices/vaults/vault1?api-version=2023-04-01"
	put := func(tag string, opts ...testserver.RequestOption) (*http.Response, map[string]any) {
		return e.Do("PUT", v, map[string]any{"location": "westus", "sku": map[string]string{"name": "Standard"}, "tags": map[string]string{"k": tag}}, opts...)
	}
	etag := func() string {
		_, m := e.Do("GET", v, nil)
		s, _ := m["etag"].(string)
		return s
	}
	if resp, m := put("a"); resp.StatusCode != 201 {
		t.Fatalf("PUT: %d %v", resp.StatusCode, m)
	}
	first := etag()
	if resp, m := put("b"); resp.StatusCode != 200 {
		t.Fatalf("PUT: %d %v", resp.StatusCode, m)
	}
	second := etag()
	if first == "" || second == first {
		t.Fatalf("two writes of the vault at one instant answer one etag %q: an If-Match of the first version cannot tell it from the second", first)
	}
	if resp, m := put("stale", testserver.Header("If-Match", first)); resp.StatusCode != 412 || testserver.ErrorCode(m) != "PreconditionFailed" {
		t.Fatalf("PUT with the etag of the version before the last write: %d %v, want 412 PreconditionFailed", resp.StatusCode, m)
	}
	for round, method := range []string{"PUT", "PATCH", "PUT"} {
		cur := etag()
		const n = 12
		codes := make([]int, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, _ := e.Do(method, v, map[string]any{"location": "westus", "sku": map[string]string{"name": "Standard"},
					"tags": map[string]string{"k": fmt.Sprint(round, "-", i)}}, testserver.Header("If-Match", cur))
				codes[i] = resp.StatusCode
			}()
		}
		wg.Wait()
		won, refused := 0, 0
		for _, c := range codes {
			switch {
			case c < 300:
				won++
			case c == 412:
				refused++
			}
		}
		if won != 1 || refused != n-1 {
			t.Fatalf("round %d: %d %ss at once with If-Match %s: %d wrote, %d were 412 (codes %v); want one write", round, n, method, cur, won, refused, codes)
		}
	}
}
