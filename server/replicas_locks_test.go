package server_test

import (
	"net/http"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
)

// TestReplicasEnforceEachOthersLocks: two replicas on one PostgreSQL
// store. A management lock made through one refuses what it forbids
// through the other at once (a replica remembers the locks it read, none
// here at first, only while the generation that every lock's change
// writes stands), and its delete through the other lifts it there too.
func TestReplicasEnforceEachOthersLocks(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	a := testserver.Start(t, testserver.WithStore(url))
	b := testserver.Start(t, testserver.WithStore(url))
	if a.Sub != b.Sub {
		t.Fatalf("the replicas serve subscriptions %s and %s", a.Sub, b.Sub)
	}
	a.ResourceGroups("locked-rg")
	sub := "/subscriptions/" + a.Sub
	group := sub + "/resourceGroups/locked-rg"
	const v = "?api-version=2016-09-01"
	rgv := "?api-version=2021-04-01"
	tags := map[string]any{"location": "westus", "tags": map[string]string{"k": "v"}}

	// Each replica has read the subscription's locks (none), twice.
	for _, e := range []*testserver.Env{a, b, a, b} {
		if resp, m := e.Do("PUT", group+rgv, tags); resp.StatusCode != http.StatusOK {
			t.Fatalf("a write before any lock: %d %v", resp.StatusCode, m)
		}
	}

	// CanNotDelete through replica a: replica b refuses the group's delete.
	lockA := group + "/providers/Microsoft.Authorization/locks/keep"
	if resp, m := a.Do("PUT", lockA+v, map[string]any{"properties": map[string]any{"level": "CanNotDelete"}}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("lock through a: %d %v", resp.StatusCode, m)
	}
	if resp, m := b.Do("DELETE", group+rgv, nil, testserver.AnyStatus()); resp.StatusCode != http.StatusConflict || testserver.ErrorCode(m) != "ScopeLocked" {
		t.Fatalf("the group's delete through b under a's lock: %d %v", resp.StatusCode, m)
	}
	// ReadOnly through replica b: replica a refuses a write in the group.
	lockB := sub + "/providers/Microsoft.Authorization/locks/frozen"
	if resp, m := b.Do("PUT", lockB+v, map[string]any{"properties": map[string]any{"level": "ReadOnly"}}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("lock through b: %d %v", resp.StatusCode, m)
	}
	if resp, m := a.Do("PUT", group+rgv, tags, testserver.AnyStatus()); resp.StatusCode != http.StatusConflict || testserver.ErrorCode(m) != "ScopeLocked" {
		t.Fatalf("a write through a under b's lock: %d %v", resp.StatusCode, m)
	}
	// Each deleted through the other replica: both lift.
	if resp, m := a.Do("DELETE", lockB+v, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("delete b's lock through a: %d %v", resp.StatusCode, m)
	}
	if resp, m := b.Do("PUT", group+rgv, tags); resp.StatusCode != http.StatusOK {
		t.Fatalf("a write through b once the ReadOnly lock went: %d %v", resp.StatusCode, m)
	}
	if resp, m := b.Do("DELETE", lockA+v, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("delete a's lock through b: %d %v", resp.StatusCode, m)
	}
	if st, m := a.DeleteGroup("locked-rg"); st != http.StatusOK {
		t.Fatalf("the group's delete through a once the locks went: %d %v", st, m)
	}
}
