package authorization_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armlocks"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/rbac"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// lockNames are the names of the locks a pager lists, sorted.
func lockNames[R any](t *testing.T, ctx context.Context, pg *runtime.Pager[R], value func(R) []*armlocks.ManagementLockObject) string {
	t.Helper()
	var out []string
	for pg.More() {
		p, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range value(p) {
			out = append(out, *l.Name)
		}
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

// TestLocksWithSDK drives management locks through armlocks (v1.2.0): who
// may write them, their validation, their lists at each scope, and what
// they refuse (409 ScopeLocked) until they are deleted.
func TestLocksWithSDK(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	sub := "/subscriptions/" + e.Sub
	e.ResourceGroups("locked-rg", "other-rg")
	fixture.Disk(t, e, "locked-rg", "d1", 1)
	fixture.Disk(t, e, "other-rg", "d2", 1)
	fixture.BackupVault(t, e, "locked-rg", "v1")
	dp := testserver.Factory(e, armdataprotection.NewClientFactory)
	pol, err := dp.NewBackupPoliciesClient().CreateOrUpdate(ctx, "locked-rg", "v1", "p1", fixture.DiskPolicy("PT4H", "P7D", ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	locks, err := armlocks.NewManagementLocksClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	disks, _ := armcompute.NewDisksClient(e.Sub, e.Cred, e.Opts)
	lock := func(level armlocks.LockLevel, notes string) armlocks.ManagementLockObject {
		return armlocks.ManagementLockObject{Properties: &armlocks.ManagementLockProperties{Level: to.Ptr(level), Notes: to.Ptr(notes)}}
	}

	// The provider lists the resource type.
	if resp, m := e.Do("GET", sub+"/providers/Microsoft.Authorization?api-version=2021-04-01", nil); resp.StatusCode != 200 || !strings.Contains(strings.ToLower(jsonText(m)), `"resourcetype":"locks"`) {
		t.Fatalf("provider: %d %v", resp.StatusCode, m)
	}

	// The operations catalog names the lock actions.
	opsClient, _ := armlocks.NewAuthorizationOperationsClient(e.Cred, e.Opts)
	var actions []string
	for pg := opsClient.NewListPager(nil); pg.More(); {
		p, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range p.Value {
			actions = append(actions, *o.Name)
		}
	}
	for _, a := range []string{"Microsoft.Authorization/locks/read", "Microsoft.Authorization/locks/write", "Microsoft.Authorization/locks/delete"} {
		if !slices.Contains(actions, a) {
			t.Fatalf("operations catalog %v lacks %s", actions, a)
		}
	}

	// A Contributor may not write locks (Microsoft.Authorization/*/Write is
	// among its NotActions); a User Access Administrator may.
	contribID, contribCred := fixture.Principal(t, e, "contributor")
	fixture.Assign(t, e, sub, rbac.Contributor, contribID)
	asContrib, _ := armlocks.NewManagementLocksClient(e.Sub, contribCred, e.Opts)
	_, err = asContrib.CreateOrUpdateAtResourceGroupLevel(ctx, "locked-rg", "keep", lock(armlocks.LockLevelCanNotDelete, ""), nil)
	testserver.WantError(t, "contributor's lock", err, 403, "AuthorizationFailed")
	uaaID, uaaCred := fixture.Principal(t, e, "uaa")
	fixture.Assign(t, e, sub, rbac.UserAccessAdministrator, uaaID)
	asUAA, _ := armlocks.NewManagementLocksClient(e.Sub, uaaCred, e.Opts)
	if _, err := asUAA.CreateOrUpdateAtResourceGroupLevel(ctx, "locked-rg", "uaa-lock", lock(armlocks.LockLevelCanNotDelete, ""), nil); err != nil {
		t.Fatalf("user access administrator's lock: %v", err)
	}
	if _, err := asUAA.DeleteAtResourceGroupLevel(ctx, "locked-rg", "uaa-lock", nil); err != nil {
		t.Fatal(err)
	}

	// Bad input is 400.
	for name, x := range map[string]struct {
		name string
		body armlocks.ManagementLockObject
		code string
	}{
		"level":  {"l1", lock("Sometimes", ""), "InvalidLockLevel"},
		"notes":  {"l1", lock(armlocks.LockLevelReadOnly, strings.Repeat("n", 513)), "LockNotesTooLong"},
		"name":   {"bad.", lock(armlocks.LockLevelReadOnly, ""), "InvalidLockName"},
		"colon":  {"a:b", lock(armlocks.LockLevelReadOnly, ""), "InvalidLockName"},
		"long":   {strings.Repeat("x", 261), lock(armlocks.LockLevelReadOnly, ""), "InvalidLockName"},
		"nolevl": {"l1", armlocks.ManagementLockObject{Properties: &armlocks.ManagementLockProperties{}}, "LockLevelRequired"},
	} {
		_, err := locks.CreateOrUpdateAtResourceGroupLevel(ctx, "locked-rg", x.name, x.body, nil)
		testserver.WantError(t, name, err, 400, x.code)
	}
	_, err = locks.CreateOrUpdateAtResourceGroupLevel(ctx, "no-such-rg", "l1", lock(armlocks.LockLevelReadOnly, ""), nil)
	testserver.WantError(t, "lock of a missing group", err, 404, "ResourceGroupNotFound")

	// CanNotDelete on the group: nothing in it can be deleted, nor the group.
	created, err := locks.CreateOrUpdateAtResourceGroupLevel(ctx, "locked-rg", "keep", armlocks.ManagementLockObject{Properties: &armlocks.ManagementLockProperties{
		Level: to.Ptr(armlocks.LockLevelCanNotDelete), Notes: to.Ptr("production backups"), Owners: []*armlocks.ManagementLockOwner{{ApplicationID: to.Ptr("app-1")}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	keepID := sub + "/resourceGroups/locked-rg/providers/Microsoft.Authorization/locks/keep"
	if !strings.EqualFold(*created.ID, keepID) || *created.Type != "Microsoft.Authorization/locks" || *created.Properties.Notes != "production backups" ||
		len(created.Properties.Owners) != 1 || *created.Properties.Owners[0].ApplicationID != "app-1" {
		t.Fatalf("created lock: %+v", created)
	}
	if got, err := locks.GetAtResourceGroupLevel(ctx, "locked-rg", "keep", nil); err != nil || *got.Properties.Level != armlocks.LockLevelCanNotDelete {
		t.Fatalf("get lock: %v %+v", err, got)
	}
	_, err = asContrib.DeleteAtResourceGroupLevel(ctx, "locked-rg", "keep", nil)
	testserver.WantError(t, "contributor's lock delete", err, 403, "AuthorizationFailed")
	if got, err := asContrib.GetAtResourceGroupLevel(ctx, "locked-rg", "keep", nil); err != nil || *got.Name != "keep" {
		t.Fatalf("contributor's lock read: %v", err)
	}
	_, err = locks.GetAtResourceGroupLevel(ctx, "locked-rg", "nope", nil)
	testserver.WantError(t, "missing lock", err, 404, "LockNotFound")

	_, err = disks.BeginDelete(ctx, "locked-rg", "d1", nil)
	if re := testserver.WantError(t, "delete a disk of a locked group", err, 409, "ScopeLocked"); !strings.Contains(re.Error(), "keep") {
		t.Fatalf("the refusal does not name the lock: %v", re)
	}
	_, err = dp.NewBackupPoliciesClient().Delete(ctx, "locked-rg", "v1", "p1", nil)
	testserver.WantError(t, "delete a vault's policy in a locked group", err, 409, "ScopeLocked")
	_, err = dp.NewBackupVaultsClient().BeginDelete(ctx, "locked-rg", "v1", nil)
	testserver.WantError(t, "delete a vault in a locked group", err, 409, "ScopeLocked")
	if resp, m := e.Do("DELETE", sub+"/resourcegroups/locked-rg?api-version=2021-04-01", nil, testserver.AnyStatus()); resp.StatusCode != 409 || testserver.ErrorCode(m) != "ScopeLocked" {
		t.Fatalf("delete the locked group: %d %v", resp.StatusCode, m)
	}
	// ... but written, and read.
	up, err := disks.BeginUpdate(ctx, "locked-rg", "d1", armcompute.DiskUpdate{Tags: map[string]*string{"env": to.Ptr("prod")}}, nil)
	if got := fixture.Done(t, up, err); got.Tags["env"] == nil {
		t.Fatalf("tagged disk: %+v", got)
	}
	if _, err := disks.Get(ctx, "locked-rg", "d1", nil); err != nil {
		t.Fatal(err)
	}

	// ReadOnly on a resource (no parent resource path: the SDK sends
	// "Microsoft.Compute//disks") and on a nested one (a vault's policy).
	if _, err := locks.CreateOrUpdateAtResourceLevel(ctx, "other-rg", "Microsoft.Compute", "", "disks", "d2", "frozen", lock(armlocks.LockLevelReadOnly, ""), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := locks.CreateOrUpdateByScope(ctx, *pol.ID, "pol-ro", lock(armlocks.LockLevelReadOnly, ""), nil); err != nil {
		t.Fatal(err)
	}
	_, err = disks.BeginUpdate(ctx, "other-rg", "d2", armcompute.DiskUpdate{Tags: map[string]*string{"a": to.Ptr("b")}}, nil)
	testserver.WantError(t, "update a ReadOnly disk", err, 409, "ScopeLocked")
	_, err = disks.BeginGrantAccess(ctx, "other-rg", "d2", armcompute.GrantAccessData{Access: to.Ptr(armcompute.AccessLevelRead), DurationInSeconds: to.Ptr[int32](600)}, nil)
	testserver.WantError(t, "grant access to a ReadOnly disk", err, 409, "ScopeLocked")
	_, err = dp.NewBackupPoliciesClient().CreateOrUpdate(ctx, "locked-rg", "v1", "p1", fixture.DiskPolicy("PT4H", "P14D", ""), nil)
	testserver.WantError(t, "update a ReadOnly policy", err, 409, "ScopeLocked")
	if resp, m := e.Do("DELETE", sub+"/resourcegroups/other-rg?api-version=2021-04-01", nil, testserver.AnyStatus()); resp.StatusCode != 409 || testserver.ErrorCode(m) != "ScopeLocked" {
		t.Fatalf("delete a group holding a locked disk: %d %v", resp.StatusCode, m)
	}
	if _, err := disks.Get(ctx, "other-rg", "d2", nil); err != nil {
		t.Fatal(err)
	}
	// ReadOnly refuses a storage account's listKeys (a POST), as in Azure;
	// its data plane (Shared Key) is not ARM's and stays open.
	acct, blobs := fixture.StorageAccount(t, e, "other-rg", "lockstore1")
	if _, err := locks.CreateOrUpdateByScope(ctx, acct, "ro-acct", lock(armlocks.LockLevelReadOnly, ""), nil); err != nil {
		t.Fatal(err)
	}
	if resp, m := e.Do("POST", acct+"/listKeys?api-version=2023-05-01", nil, testserver.AnyStatus()); resp.StatusCode != 409 || testserver.ErrorCode(m) != "ScopeLocked" {
		t.Fatalf("listKeys under ReadOnly: %d %v", resp.StatusCode, m)
	}
	if _, err := blobs.CreateContainer(ctx, "box1", nil); err != nil {
		t.Fatalf("the data plane under a ReadOnly lock: %v", err)
	}
	if _, err := locks.DeleteByScope(ctx, acct, "ro-acct", nil); err != nil {
		t.Fatal(err)
	}

	// Lists: at a scope, those above and below it; atScope(), those that
	// apply to it.
	atScope := to.Ptr("atScope()")
	for _, c := range []struct {
		what, got, want string
	}{
		{"subscription's locks", lockNames(t, ctx, locks.NewListAtSubscriptionLevelPager(nil),
			func(r armlocks.ManagementLocksClientListAtSubscriptionLevelResponse) []*armlocks.ManagementLockObject {
				return r.Value
			}), "frozen,keep,pol-ro"},
		{"subscription's own locks", lockNames(t, ctx, locks.NewListAtSubscriptionLevelPager(&armlocks.ManagementLocksClientListAtSubscriptionLevelOptions{Filter: atScope}),
			func(r armlocks.ManagementLocksClientListAtSubscriptionLevelResponse) []*armlocks.ManagementLockObject {
				return r.Value
			}), ""},
		{"other-rg's locks", lockNames(t, ctx, locks.NewListAtResourceGroupLevelPager("other-rg", nil),
			func(r armlocks.ManagementLocksClientListAtResourceGroupLevelResponse) []*armlocks.ManagementLockObject {
				return r.Value
			}), "frozen"},
		{"other-rg's own locks", lockNames(t, ctx, locks.NewListAtResourceGroupLevelPager("other-rg", &armlocks.ManagementLocksClientListAtResourceGroupLevelOptions{Filter: atScope}),
			func(r armlocks.ManagementLocksClientListAtResourceGroupLevelResponse) []*armlocks.ManagementLockObject {
				return r.Value
			}), ""},
		{"the policy's locks", lockNames(t, ctx, locks.NewListAtResourceLevelPager("locked-rg", "Microsoft.DataProtection", "backupVaults/v1", "backupPolicies", "p1", nil),
			func(r armlocks.ManagementLocksClientListAtResourceLevelResponse) []*armlocks.ManagementLockObject {
				return r.Value
			}), "keep,pol-ro"},
		{"the vault's locks", lockNames(t, ctx, locks.NewListByScopePager(sub+"/resourceGroups/locked-rg/providers/Microsoft.DataProtection/backupVaults/v1", nil),
			func(r armlocks.ManagementLocksClientListByScopeResponse) []*armlocks.ManagementLockObject {
				return r.Value
			}), "keep,pol-ro"},
		{"the vault's own locks", lockNames(t, ctx, locks.NewListByScopePager(sub+"/resourceGroups/locked-rg/providers/Microsoft.DataProtection/backupVaults/v1", &armlocks.ManagementLocksClientListByScopeOptions{Filter: atScope}),
			func(r armlocks.ManagementLocksClientListByScopeResponse) []*armlocks.ManagementLockObject {
				return r.Value
			}), "keep"},
	} {
		if c.got != c.want {
			t.Fatalf("%s: %q, want %q", c.what, c.got, c.want)
		}
	}
	bl := locks.NewListByScopePager(*pol.ID, &armlocks.ManagementLocksClientListByScopeOptions{Filter: to.Ptr("name eq 'x'")})
	_, err = bl.NextPage(ctx)
	testserver.WantError(t, "unknown filter", err, 400, "InvalidFilterInQueryString")

	// Deleting the locks lifts them.
	if _, err := locks.DeleteAtResourceLevel(ctx, "other-rg", "Microsoft.Compute", "", "disks", "d2", "frozen", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := locks.DeleteByScope(ctx, *pol.ID, "pol-ro", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := locks.DeleteAtResourceGroupLevel(ctx, "locked-rg", "keep", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := locks.DeleteAtResourceGroupLevel(ctx, "locked-rg", "keep", nil); err != nil {
		t.Fatalf("deleting a deleted lock: %v", err)
	}
	dpol, err := disks.BeginDelete(ctx, "locked-rg", "d1", nil)
	fixture.Done(t, dpol, err)
	if st, m := e.DeleteGroup("other-rg"); st != 200 {
		t.Fatalf("delete other-rg after its lock went: %d %v", st, m)
	}

	// The admin reset clears locks.
	if _, err := locks.CreateOrUpdateAtSubscriptionLevel(ctx, "sub-lock", lock(armlocks.LockLevelReadOnly, ""), nil); err != nil {
		t.Fatal(err)
	}
	// Azure's example names the scope without its leading "/".
	if got, err := locks.GetByScope(ctx, "subscriptions/"+e.Sub, "sub-lock", nil); err != nil || *got.Properties.Level != armlocks.LockLevelReadOnly {
		t.Fatalf("get by scope subscriptions/{id}: %v %+v", err, got)
	}
	if resp, m := e.Do("PUT", sub+"/resourcegroups/new-rg?api-version=2021-04-01", map[string]any{"location": "westus"}, testserver.AnyStatus()); resp.StatusCode != 409 || testserver.ErrorCode(m) != "ScopeLocked" {
		t.Fatalf("create a group in a ReadOnly subscription: %d %v", resp.StatusCode, m)
	}
	if _, err := e.Server.Reset(ctx); err != nil {
		t.Fatal(err)
	}
	if got := lockNames(t, ctx, locks.NewListAtSubscriptionLevelPager(nil),
		func(r armlocks.ManagementLocksClientListAtSubscriptionLevelResponse) []*armlocks.ManagementLockObject {
			return r.Value
		}); got != "" {
		t.Fatalf("locks after a reset: %v", got)
	}
	e.ResourceGroups("new-rg")
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestLockUpdateThroughOtherCasingKeepsItsID: a lock PUT again through a
// path cased otherwise (its name and scope in other case) updates the lock
// and keeps the id and name it was created with, as the other resources'
// updates do.
func TestLockUpdateThroughOtherCasingKeepsItsID(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("Cased-RG")
	lower := "/subscriptions/" + e.Sub + "/resourceGroups/Cased-RG/providers/Microsoft.Authorization/locks/Keep-It"
	upper := strings.ToUpper("/subscriptions/" + e.Sub + "/resourceGroups/Cased-RG/providers/Microsoft.Authorization/locks/Keep-It")
	const v = "?api-version=2016-09-01"
	resp, m := e.Do("PUT", lower+v, map[string]any{"properties": map[string]any{"level": "CanNotDelete"}})
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %v", resp.StatusCode, m)
	}
	resp, m = e.Do("PUT", upper+v, map[string]any{"properties": map[string]any{"level": "ReadOnly", "notes": "again"}})
	if resp.StatusCode != 200 {
		t.Fatalf("update through the upper-case path: %d %v", resp.StatusCode, m)
	}
	for _, p := range []string{lower, upper} {
		resp, m = e.Do("GET", p+v, nil)
		if resp.StatusCode != 200 || m["id"] != lower || m["name"] != "Keep-It" || testserver.Field(m, "properties.level") != "ReadOnly" {
			t.Fatalf("GET %s after the update: %d %v", p, resp.StatusCode, m)
		}
	}
	e.Do("DELETE", lower+v, nil)
}

// TestOrphanedLockIsDeletable: a lock whose scope is gone (as an earlier
// release left a pruned snapshot's or a purged container's) refuses its
// group's delete; it can be deleted (200), after which the group goes.
// A DELETE of a lock there is not, at a scope that does not exist, is
// still 404.
func TestOrphanedLockIsDeletable(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("orphan-rg")
	gone := "/subscriptions/" + e.Sub + "/resourceGroups/orphan-rg/providers/Microsoft.Compute/snapshots/pruned"
	l := &resource.Lock{ID: gone + "/providers/Microsoft.Authorization/locks/left", Name: "left", Type: "Microsoft.Authorization/locks",
		Properties: resource.LockProperties{Level: resource.LockCanNotDelete}}
	if _, err := resource.PutLock(e.Ctx(), e.Server.Store, l, func(store.Reader) error { return nil }); err != nil {
		t.Fatal(err)
	}
	const v = "?api-version=2016-09-01"
	group := "/subscriptions/" + e.Sub + "/resourcegroups/orphan-rg?api-version=2021-04-01"
	if resp, m := e.Do("DELETE", group, nil, testserver.AnyStatus()); resp.StatusCode != 409 || testserver.ErrorCode(m) != "ScopeLocked" {
		t.Fatalf("the group's delete under the orphaned lock: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.Do("DELETE", gone+"/providers/Microsoft.Authorization/locks/other"+v, nil, testserver.AnyStatus()); resp.StatusCode != 404 {
		t.Fatalf("delete of no lock at a scope that does not exist: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.Do("DELETE", l.ID+v, nil); resp.StatusCode != 200 {
		t.Fatalf("delete the orphaned lock: %d %v", resp.StatusCode, m)
	}
	if st, m := e.DeleteGroup("orphan-rg"); st != 200 {
		t.Fatalf("the group's delete once the lock went: %d %v", st, m)
	}
}
