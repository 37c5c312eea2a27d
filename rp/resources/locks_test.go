package resources_test

import (
	"net/http"
	"testing"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/rbac"
)

// TestGroupDeleteMeetsALockMadeMeanwhile: a resource group's delete whose
// request passed the lock check (no lock then) checks again when its
// operation runs: a lock made meanwhile (at the subscription: the group,
// Deleting, takes no new lock itself) fails it with 409 ScopeLocked before
// anything is deleted, and the group is back to Succeeded.
func TestGroupDeleteMeetsALockMadeMeanwhile(t *testing.T) {
	e := testserver.Start(t)
	sub := "/subscriptions/" + e.Sub
	e.ResourceGroups("racing-rg")
	disk, _ := fixture.Disk(t, e, "racing-rg", "d1", 1)
	e.Server.Jobs.Stop() // the delete's operation waits
	resp, m := e.Do("DELETE", sub+"/resourcegroups/racing-rg?api-version=2021-04-01", nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delete: %d %v", resp.StatusCode, m)
	}
	loc := resp.Header.Get("Location")
	lock := sub + "/providers/Microsoft.Authorization/locks/freeze?api-version=2016-09-01"
	if resp, m := e.Do("PUT", "/subscriptions/"+e.Sub+"/resourcegroups/racing-rg/providers/Microsoft.Authorization/locks/late?api-version=2016-09-01",
		`{"properties":{"level":"CanNotDelete"}}`, testserver.AnyStatus()); resp.StatusCode != 409 || testserver.ErrorCode(m) != "ResourceGroupBeingDeleted" {
		t.Fatalf("a lock on a group being deleted: %d %v", resp.StatusCode, m)
	}
	st, m := lockThenRun(t, e, lock, loc)
	if st != http.StatusConflict || testserver.ErrorCode(m) != "ScopeLocked" {
		t.Fatalf("the delete's result under a lock made meanwhile: %d %v", st, m)
	}
	resp, g := e.Do("GET", sub+"/resourcegroups/racing-rg?api-version=2021-04-01", nil)
	if resp.StatusCode != 200 || testserver.Field(g, "properties.provisioningState") != "Succeeded" {
		t.Fatalf("the group after its refused delete: %d %v", resp.StatusCode, g)
	}
	if resp, m := e.Do("GET", disk+"?api-version=2024-03-02", nil); resp.StatusCode != 200 {
		t.Fatalf("the disk after the refused delete: %d %v", resp.StatusCode, m)
	}
	e.Do("DELETE", lock, nil)
	if st, m := e.DeleteGroup("racing-rg"); st != 200 {
		t.Fatalf("delete after the lock went: %d %v", st, m)
	}
}

// TestGroupDeleteUnderALockAfterTheGroupWent: a group delete's operation
// that runs after another delete removed the group succeeds (the group is
// gone, as asked), whatever lock was made meanwhile. (It met the lock made
// at the subscription, failed, and its undo failed on the missing group:
// the operation ran again every second, answering 202, for as long as the
// lock stayed.)
func TestGroupDeleteUnderALockAfterTheGroupWent(t *testing.T) {
	e := testserver.Start(t)
	sub := "/subscriptions/" + e.Sub
	loc, _ := deletedTwice(t, e, "gone-rg")
	lock := sub + "/providers/Microsoft.Authorization/locks/freeze?api-version=2016-09-01"
	defer e.Do("DELETE", lock, nil)
	st, m := lockThenRun(t, e, lock, loc)
	if st != http.StatusOK {
		t.Fatalf("the first delete's result: %d %v", st, m)
	}
}

// deletedTwice makes the group name with a role assignment in it (of
// the principal it answers), stops the job runner and deletes the group
// twice: the first delete's operation (whose Location it answers) waits;
// the second, once the assignment went, removes the empty group at once.
func deletedTwice(t *testing.T, e *testserver.Env, name string) (loc, principal string) {
	t.Helper()
	sub := "/subscriptions/" + e.Sub
	e.ResourceGroups(name)
	pid, _ := fixture.Principal(t, e, "holder")
	ra := fixture.Assign(t, e, sub+"/resourceGroups/"+name, rbac.Reader, pid)
	e.Server.Jobs.Stop() // the first delete's operation waits
	group := sub + "/resourcegroups/" + name + "?api-version=2021-04-01"
	resp, m := e.Do("DELETE", group, nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("first delete (a role assignment in the group: an operation): %d %v", resp.StatusCode, m)
	}
	loc = resp.Header.Get("Location")
	if resp, m := e.Do("DELETE", sub+"/resourceGroups/"+name+"/providers/Microsoft.Authorization/roleAssignments/"+ra+"?api-version=2022-04-01", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("delete the role assignment: %d %v", resp.StatusCode, m)
	}
	// The group is empty now: a second delete removes it at once.
	if resp, m := e.Do("DELETE", group, nil); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("second delete: %d %v", resp.StatusCode, m)
	}
	if resp, _ := e.Do("GET", group, nil, testserver.AnyStatus()); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the group after the second delete: %d", resp.StatusCode)
	}
	return loc, pid
}

// lockThenRun puts the CanNotDelete lock at the URL lock, then
// runToTheEnd.
func lockThenRun(t *testing.T, e *testserver.Env, lock, loc string) (int, map[string]any) {
	t.Helper()
	if resp, m := e.Do("PUT", lock, `{"properties":{"level":"CanNotDelete"}}`); resp.StatusCode != 201 {
		t.Fatalf("lock: %d %v", resp.StatusCode, m)
	}
	return runToTheEnd(t, e, loc)
}

// runToTheEnd starts the stopped job runner and answers the result of the
// operation whose Location is loc once it ended.
func runToTheEnd(t *testing.T, e *testserver.Env, loc string) (int, map[string]any) {
	t.Helper()
	if err := e.Server.Jobs.Start(e.Ctx()); err != nil {
		t.Fatal(err)
	}
	var st int
	var m map[string]any
	e.WaitFor("the operation's end", func() bool {
		var resp *http.Response
		resp, m = e.Do("GET", loc, nil, testserver.AnyStatus())
		st = resp.StatusCode
		return st != http.StatusAccepted
	})
	return st, m
}
