package resources_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/rbac"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// While a group's delete cascades (the group lists as Deleting), a new
// resource in it is refused with 409 ResourceGroupBeingDeleted, whichever
// provider makes it: the cascade chose what it deletes when it began, so
// a resource made meanwhile would lose its document with the group while
// its own deleter never ran. One that exists can still be read, but not
// changed by a client's PUT or PATCH either (as in Azure; the cascade's
// own writes, which go through the same path, still work: TestDeleteGroup
// and the providers' group deletes).
func TestCreateInDeletingGroupConflicts(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("going")
	rg := "/subscriptions/" + e.Sub + "/resourceGroups/going"
	const account = "/providers/Microsoft.Storage/storageAccounts/goingacct?api-version=2023-05-01"
	acctBody := map[string]any{"location": "westus", "kind": "StorageV2", "sku": map[string]any{"name": "Standard_LRS"}}
	if resp, m := e.Do("PUT", rg+account, acctBody); resp.StatusCode >= 300 {
		t.Fatalf("storage account before the delete: %d %v", resp.StatusCode, m)
	}
	diskID, _ := fixture.Disk(t, e, "going", "d0", 1)
	vault := rg + "/providers/Microsoft.DataProtection/backupVaults/bv0"
	fixture.BackupVault(t, e, "going", "bv0")
	const dpv = "?api-version=2023-05-01"
	if resp, m := e.Do("PUT", vault+"/backupPolicies/p0"+dpv, fixture.DiskPolicyFrom(fixture.ScheduleStart(e), "PT4H", "P7D", "")); resp.StatusCode != 200 {
		t.Fatalf("policy before the delete: %d %v", resp.StatusCode, m)
	}
	// The state a DELETE of a group with contents leaves it in until its
	// cascade ends (set here so that the cascade cannot end first).
	ctx := e.Ctx()
	gid, err := arm.ParseID(rg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Server.Store.Update(ctx, func(tx store.Tx) error {
		var g resource.ResourceGroup
		if err := resource.Get(ctx, tx, gid, &g); err != nil {
			return err
		}
		g.Properties.ProvisioningState = "Deleting"
		return resource.Put(ctx, tx, gid, &g)
	}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what, path string
		body       any
	}{
		{"storage account", "/providers/Microsoft.Storage/storageAccounts/newacct?api-version=2023-05-01", acctBody},
		{"Recovery Services vault", "/providers/Microsoft.RecoveryServices/vaults/v1?api-version=2023-04-01",
			map[string]any{"location": "westus", "sku": map[string]any{"name": "Standard"}, "properties": map[string]any{}}},
		{"Backup vault", "/providers/Microsoft.DataProtection/backupVaults/bv1?api-version=2023-05-01",
			map[string]any{"location": "westus", "identity": map[string]any{"type": "None"}, "properties": map[string]any{
				"storageSettings": []any{map[string]any{"datastoreType": "VaultStore", "type": "LocallyRedundant"}}}}},
	} {
		resp, m := e.Do("PUT", rg+c.path, c.body, testserver.AnyStatus())
		if resp.StatusCode != 409 || testserver.ErrorCode(m) != "ResourceGroupBeingDeleted" {
			t.Errorf("new %s in a group being deleted: %d %v, want 409 ResourceGroupBeingDeleted", c.what, resp.StatusCode, m)
		}
		if resp, _ := e.Do("GET", rg+c.path, nil, testserver.AnyStatus()); resp.StatusCode != 404 {
			t.Errorf("new %s in a group being deleted: GET answers %d, want 404", c.what, resp.StatusCode)
		}
	}
	// Updates of what exists, top-level resources and a child, are refused
	// alike and change nothing.
	tags := map[string]any{"tags": map[string]any{"k": "v"}}
	vaultBody := map[string]any{"location": "westus", "tags": map[string]any{"k": "v"}, "identity": map[string]any{"type": "SystemAssigned"}, "properties": map[string]any{
		"storageSettings": []any{map[string]any{"datastoreType": "VaultStore", "type": "LocallyRedundant"}}}}
	for _, c := range []struct {
		what, method, path string
		body               any
	}{
		{"storage account", "PATCH", rg + account, tags},
		{"disk", "PATCH", diskID + "?api-version=2024-03-02", tags},
		{"disk", "PUT", diskID + "?api-version=2024-03-02", map[string]any{"location": "westus", "tags": map[string]any{"k": "v"},
			"properties": map[string]any{"creationData": map[string]any{"createOption": "Empty"}, "diskSizeGB": 1}}},
		{"Backup vault", "PATCH", vault + dpv, tags},
		{"Backup vault", "PUT", vault + dpv, vaultBody},
		{"backup policy", "PUT", vault + "/backupPolicies/p0" + dpv, fixture.DiskPolicy("PT8H", "P7D", "")},
		{"new backup policy", "PUT", vault + "/backupPolicies/p1" + dpv, fixture.DiskPolicy("PT8H", "P7D", "")},
	} {
		resp, m := e.Do(c.method, c.path, c.body, testserver.AnyStatus())
		if resp.StatusCode != 409 || testserver.ErrorCode(m) != "ResourceGroupBeingDeleted" {
			t.Errorf("%s %s in a group being deleted: %d %v, want 409 ResourceGroupBeingDeleted", c.method, c.what, resp.StatusCode, m)
		}
	}
	for _, path := range []string{rg + account, diskID + "?api-version=2024-03-02", vault + dpv} {
		resp, m := e.Do("GET", path, nil)
		if resp.StatusCode != 200 || m["tags"] != nil && len(m["tags"].(map[string]any)) != 0 {
			t.Errorf("%s after refused updates: %d, tags %v (want 200, untouched)", path, resp.StatusCode, m["tags"])
		}
	}
	resp, m := e.Do("GET", vault+"/backupPolicies/p0"+dpv, nil)
	if got := fmt.Sprint(m["properties"]); resp.StatusCode != 200 || !strings.Contains(got, "/PT4H") || strings.Contains(got, "PT8H") {
		t.Errorf("policy after a refused update: %d, schedule %v (want PT4H)", resp.StatusCode, got)
	}
}

// TestGroupDeleteLeavesAGroupMadeAgain: a group delete's operation that
// runs after another delete removed the group and a client made a group
// of the same name again does not delete the new group (nor anything in
// it): it ends Failed, saying the group is no longer being deleted.
// (It deleted the new group.)
func TestGroupDeleteLeavesAGroupMadeAgain(t *testing.T) {
	e := testserver.Start(t)
	sub := "/subscriptions/" + e.Sub
	loc, pid := deletedTwice(t, e, "again-rg")
	group := sub + "/resourcegroups/again-rg?api-version=2021-04-01"
	if resp, m := e.Do("PUT", group, map[string]any{"location": "westus", "tags": map[string]string{"made": "again"}}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("make the group again: %d %v", resp.StatusCode, m)
	}
	fixture.Assign(t, e, sub+"/resourceGroups/again-rg", rbac.Reader, pid)
	if st, m := runToTheEnd(t, e, loc); st != http.StatusConflict || testserver.ErrorCode(m) != "ResourceGroupNotDeleting" {
		t.Fatalf("the first delete's result: %d %v", st, m)
	}
	resp, g := e.Do("GET", group, nil, testserver.AnyStatus())
	if resp.StatusCode != http.StatusOK || testserver.Field(g, "tags.made") != "again" || testserver.Field(g, "properties.provisioningState") != "Succeeded" {
		t.Fatalf("the group made again, after the first delete's operation: %d %v", resp.StatusCode, g)
	}
}

// Two deletes of a group run at once (a client repeated its DELETE while
// the first was queued): both find it Deleting and cascade. The first
// removes it, a client makes it again with a disk of the same name, then
// the second goes on: it must leave the group made again and the disk in
// it (its cascade deleted that disk, which it had listed as the old one,
// and its end deleted the group with everything in it). The cascades are
// held in a deleter of a type of the test's own, which runs before disks.
func TestGroupDeletesAtOnceLeaveAGroupMadeAgain(t *testing.T) {
	e := testserver.Start(t)
	const typ = "Test.Hold/things"
	held := make(chan chan struct{}, 2)
	e.Server.Platform.OnDelete(typ, 0, func(ctx context.Context, id string) error {
		release := make(chan struct{})
		held <- release
		select {
		case <-release:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	e.ResourceGroups("held-rg")
	diskID, _ := fixture.Disk(t, e, "held-rg", "d1", 1)
	thing, _ := arm.ParseID("/subscriptions/" + e.Sub + "/resourceGroups/held-rg/providers/" + typ + "/t1")
	if err := e.Server.Store.Update(e.Ctx(), func(tx store.Tx) error {
		return resource.Put(e.Ctx(), tx, thing, map[string]string{"id": thing.String(), "type": typ})
	}); err != nil {
		t.Fatal(err)
	}
	group := "/subscriptions/" + e.Sub + "/resourcegroups/held-rg?api-version=2021-04-01"
	var locs []string
	for range 2 {
		resp, m := e.Do("DELETE", group, nil)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("delete: %d %v", resp.StatusCode, m)
		}
		locs = append(locs, resp.Header.Get("Location"))
	}
	wait := func() chan struct{} {
		select {
		case r := <-held:
			return r
		case <-time.After(30 * time.Second):
			t.Fatal("no delete reached the held deleter")
			return nil
		}
	}
	first, second := wait(), wait() // both cascades are under way
	close(first)
	e.WaitFor("the first delete to remove the group", func() bool {
		resp, _ := e.Do("GET", group, nil, testserver.AnyStatus())
		return resp.StatusCode == http.StatusNotFound
	})
	if resp, m := e.Do("PUT", group, map[string]any{"location": "westus", "tags": map[string]string{"made": "again"}}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("make the group again: %d %v", resp.StatusCode, m)
	}
	fixture.Disk(t, e, "held-rg", "d1", 1)
	close(second)
	for _, loc := range locs {
		e.WaitFor("the deletes to end", func() bool {
			resp, _ := e.Do("GET", loc, nil, testserver.AnyStatus())
			return resp.StatusCode != http.StatusAccepted
		})
	}
	resp, g := e.Do("GET", group, nil, testserver.AnyStatus())
	if resp.StatusCode != http.StatusOK || testserver.Field(g, "tags.made") != "again" {
		t.Fatalf("the group made again, once both deletes ended: %d %v", resp.StatusCode, g)
	}
	if resp, d := e.Do("GET", diskID+"?api-version=2023-04-02", nil, testserver.AnyStatus()); resp.StatusCode != http.StatusOK {
		t.Fatalf("the disk made again in it: %d %v", resp.StatusCode, d)
	}
}
