package resources_test

import (
	"strings"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/rbac"
)

// A group with nothing under it is gone when its DELETE answers (one
// transaction, the operation recorded done); a group with a role
// assignment in it still cascades, and the assignment goes with it.
func TestDeleteGroup(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("empty", "assigned")
	sub := "/subscriptions/" + e.Sub
	const v = "?api-version=2021-04-01"
	// result polls a Location until it answers other than 202.
	result := func(what, loc string) {
		t.Helper()
		if loc == "" {
			t.Fatalf("%s: no Location", what)
		}
		deadline := time.Now().Add(2 * time.Minute)
		for {
			resp, m := e.Do("GET", loc, nil, testserver.AnyStatus())
			if resp.StatusCode == 200 {
				return
			}
			if resp.StatusCode != 202 || time.Now().After(deadline) {
				t.Fatalf("%s: result %d %v", what, resp.StatusCode, m)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	deleteGroup := func(name string) {
		t.Helper()
		resp, m := e.Do("DELETE", sub+"/resourcegroups/"+name+v, nil)
		if resp.StatusCode != 202 {
			t.Fatalf("delete %s: %d %v", name, resp.StatusCode, m)
		}
		result("delete "+name, resp.Header.Get("Location"))
	}

	resp, m := e.Do("DELETE", sub+"/resourcegroups/empty"+v, nil)
	if resp.StatusCode != 202 {
		t.Fatalf("delete empty: %d %v", resp.StatusCode, m)
	}
	// Not polled: gone already.
	if resp, m := e.Do("GET", sub+"/resourcegroups/empty"+v, nil, testserver.AnyStatus()); resp.StatusCode != 404 || testserver.ErrorCode(m) != "ResourceGroupNotFound" {
		t.Fatalf("empty group right after its delete: %d %v", resp.StatusCode, m)
	}
	result("delete empty", resp.Header.Get("Location"))
	if resp, m := e.Do("DELETE", sub+"/resourcegroups/empty"+v, nil, testserver.AnyStatus()); resp.StatusCode != 404 || testserver.ErrorCode(m) != "ResourceGroupNotFound" {
		t.Fatalf("second delete: %d %v", resp.StatusCode, m)
	}

	pid, _ := fixture.Principal(t, e, "reader")
	name := fixture.Assign(t, e, sub+"/resourceGroups/assigned", rbac.Reader, pid)
	assignments := func() string {
		t.Helper()
		resp, m := e.Do("GET", sub+"/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("list role assignments: %d %v", resp.StatusCode, m)
		}
		var names []string
		for _, x := range m["value"].([]any) {
			names = append(names, x.(map[string]any)["name"].(string))
		}
		return strings.Join(names, " ")
	}
	if !strings.Contains(assignments(), name) {
		t.Fatalf("assignment %s not listed: %s", name, assignments())
	}
	deleteGroup("assigned")
	if resp, m := e.Do("GET", sub+"/resourcegroups/assigned"+v, nil, testserver.AnyStatus()); resp.StatusCode != 404 {
		t.Fatalf("deleted group: %d %v", resp.StatusCode, m)
	}
	if strings.Contains(assignments(), name) {
		t.Fatalf("the deleted group's role assignment %s is still listed", name)
	}

	// Recreated, the group is a new one: empty, deleted at once again.
	e.ResourceGroups("assigned")
	deleteGroup("assigned")
}
