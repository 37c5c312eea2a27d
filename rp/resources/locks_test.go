package resources_test

import (
	"net/http"
	"testing"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
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
	if resp, m := e.Do("PUT", lock, `{"properties":{"level":"CanNotDelete"}}`); resp.StatusCode != 201 {
		t.Fatalf("lock the subscription: %d %v", resp.StatusCode, m)
	}
	if err := e.Server.Jobs.Start(e.Ctx()); err != nil {
		t.Fatal(err)
	}
	var st int
	e.WaitFor("the delete's end", func() bool {
		resp, m = e.Do("GET", loc, nil, testserver.AnyStatus())
		st = resp.StatusCode
		return st != http.StatusAccepted
	})
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
