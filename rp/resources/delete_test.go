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

// A group list pages by $top and nextLink, for a caller who may read every
// group and for one who may read some (the pages count only those).
func TestListGroupsPages(t *testing.T) {
	e := testserver.Start(t)
	names := []string{"g0", "g1", "g2", "g3", "g4"}
	e.ResourceGroups(names...)
	pid, cred := fixture.Principal(t, e, "scoped")
	for _, g := range []string{"g1", "g3", "g4"} {
		fixture.Assign(t, e, "/subscriptions/"+e.Sub+"/resourceGroups/"+g, rbac.Reader, pid)
	}
	list := func(top string, opts ...testserver.RequestOption) (pages []string) {
		t.Helper()
		next := "/subscriptions/" + e.Sub + "/resourcegroups?api-version=2021-04-01&$top=" + top
		for next != "" {
			resp, m := e.Do("GET", next, nil, opts...)
			if resp.StatusCode != 200 {
				t.Fatalf("list %s: %d %v", next, resp.StatusCode, m)
			}
			var page []string
			for _, g := range m["value"].([]any) {
				page = append(page, g.(map[string]any)["name"].(string))
			}
			pages = append(pages, strings.Join(page, ","))
			next, _ = m["nextLink"].(string)
		}
		return pages
	}
	all := strings.Join(names, ",")
	for _, c := range []struct {
		top  string
		as   []testserver.RequestOption
		want string
	}{
		{"2", nil, "g0,g1 g2,g3 g4"},
		{"5", nil, all},
		{"9", nil, all},
		{"1", []testserver.RequestOption{testserver.As(cred)}, "g1 g3 g4"},
		{"2", []testserver.RequestOption{testserver.As(cred)}, "g1,g3 g4"},
	} {
		if got := strings.Join(list(c.top, c.as...), " "); got != c.want {
			t.Errorf("$top=%s (scoped: %v): pages %q, want %q", c.top, c.as != nil, got, c.want)
		}
	}
	if resp, m := e.Do("GET", "/subscriptions/"+e.Sub+"/resourcegroups?api-version=2021-04-01&$skipToken=x", nil, testserver.AnyStatus()); resp.StatusCode != 400 {
		t.Errorf("bad $skipToken: %d %v", resp.StatusCode, m)
	}
}
