package recoveryservices_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/store"
)

// With the vault's soft delete Enabled, deleting a VM's backup data keeps
// the item and its recovery points, soft-deleted: it takes no backup,
// restore or policy, a second delete and the vault's delete are refused,
// and an undelete (PUT with isRehydrate, as az backup protection undelete
// sends it) brings it back ProtectionStopped with its points. Fourteen
// days after a delete the item is purged with its points and snapshots;
// with soft delete Disabled, deleting a soft-deleted item purges it at once.
func TestSoftDeleteAndUndelete(t *testing.T) {
	e, _, rp := backedUpVM1(t, 0)
	const v = "?api-version=2024-04-01"
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/v1"
	I := R + "/backupFabrics/Azure/protectionContainers/" + vm1Container + "/protectedItems/" + vm1Item
	softDelete := func(state string) {
		t.Helper()
		resp, m := e.Do("PUT", R+"/backupconfig/vaultconfig"+v, map[string]any{"properties": map[string]any{"softDeleteFeatureState": state}})
		must(t, "soft delete "+state, resp, m, 200)
	}
	del := func(want string) {
		t.Helper()
		resp, m := e.Do("DELETE", I+v, nil)
		must(t, "delete backup data", resp, m, 202)
		if j := waitJob(t, e, R, str(pollStatus(t, e, resp), "properties.jobId"), v); str(j, "properties.operation") != "DeleteBackupData" || str(j, "properties.status") != want {
			t.Fatalf("delete job: %v", j)
		}
	}
	points := func() int {
		t.Helper()
		pts, err := protection.ListRecoveryPoints(e.Ctx(), e.Server.Store, I)
		if err != nil {
			t.Fatal(err)
		}
		return len(pts)
	}
	softDelete("Enabled")
	del("Completed")
	resp, it := e.Do("GET", I+v, nil)
	must(t, "the soft-deleted item", resp, it, 200)
	if testserver.Field(it, "properties.isScheduledForDeferredDelete") != true || str(it, "properties.protectionState") != "ProtectionStopped" ||
		str(it, "properties.deferredDeleteTimeInUTC") == "" || str(it, "properties.policyId") != "" || testserver.Field(it, "properties.softDeleteRetentionPeriodInDays") != 14.0 {
		t.Fatalf("soft-deleted item: %v", it)
	}
	if n := points(); n != 1 {
		t.Fatalf("the soft-deleted item keeps %d recovery points, want 1", n)
	}
	for _, c := range []struct {
		what, method, url string
		body              any
	}{
		{"backup", "POST", I + "/backup" + v, map[string]any{"properties": map[string]any{"objectType": "IaasVMBackupRequest"}}},
		{"restore", "POST", I + "/recoveryPoints/" + rp + "/restore" + v, map[string]any{"properties": map[string]any{"objectType": "IaasVMRestoreRequest",
			"recoveryType": "RestoreDisks", "sourceResourceId": vm1ID(e), "region": "westus"}}},
		{"resume", "PUT", I + v, map[string]any{"properties": map[string]any{"protectedItemType": "Microsoft.Compute/virtualMachines", "sourceResourceId": vm1ID(e), "policyId": R + "/backupPolicies/DefaultPolicy"}}},
		{"a second delete", "DELETE", I + v, nil},
		{"the vault's delete", "DELETE", R + v, nil},
	} {
		resp, m := e.Do(c.method, c.url, c.body)
		must(t, c.what+" of a soft-deleted item", resp, m, 400)
		if msg := str(m, "error.message"); !strings.Contains(msg, "soft-deleted") {
			t.Errorf("%s: %v", c.what, m)
		}
	}

	undelete := func(code int) map[string]any {
		t.Helper()
		resp, m := e.Do("PUT", I+v, map[string]any{"properties": map[string]any{"protectedItemType": "Microsoft.Compute/virtualMachines", "sourceResourceId": vm1ID(e),
			"policyId": "", "protectionState": "ProtectionStopped", "isRehydrate": true}})
		must(t, "undelete", resp, m, code)
		if code != 202 {
			return m
		}
		return waitJob(t, e, R, str(pollStatus(t, e, resp), "properties.jobId"), v)
	}
	if j := undelete(202); str(j, "properties.operation") != "Undelete" || str(j, "properties.status") != "Completed" {
		t.Fatalf("undelete job: %v", j)
	}
	resp, it = e.Do("GET", I+v, nil)
	must(t, "the undeleted item", resp, it, 200)
	if testserver.Field(it, "properties.isScheduledForDeferredDelete") != false || str(it, "properties.protectionState") != "ProtectionStopped" || points() != 1 {
		t.Fatalf("undeleted item (%d points): %v", points(), it)
	}
	if m := undelete(400); !strings.Contains(str(m, "error.message"), "not deleted") {
		t.Fatalf("undelete of an item not deleted: %v", m)
	}

	// Deleted again: purged 14 days later, points and snapshots with it.
	del("Completed")
	advanceClock(t, e, "P15D")
	e.WaitFor("the purge", func() bool {
		resp, _ := e.Do("GET", I+v, nil)
		return resp.StatusCode == 404
	})
	if n, s := points(), listSnapshots(t, e); n != 0 || s != 0 {
		t.Fatalf("after the purge: %d recovery points, %d snapshots", n, s)
	}

	// Soft-deleted, then soft delete off: the next delete purges it now.
	protect(t, e, I+v, vm1ID(e), R+"/backupPolicies/DefaultPolicy")
	del("Completed")
	softDelete("Disabled")
	del("Completed")
	if resp, m := e.Do("GET", I+v, nil); resp.StatusCode != 404 {
		t.Fatalf("a soft-deleted item deleted with soft delete off: %d %v", resp.StatusCode, m)
	}
	resp, m := e.Do("DELETE", R+v, nil)
	must(t, "the empty vault's delete", resp, m, 200)
}

// The vault's securitySettings.softDeleteSettings and its backupconfig's
// softDeleteFeatureState are one setting: a vault PATCH turns soft delete
// on for the backupconfig (and so for deletes), a backupconfig write shows
// in the vault, an unknown state is 400 and AlwaysON stays.
func TestSoftDeleteVaultSettings(t *testing.T) {
	e, _ := vaultEnv(t, "v1")
	const v = "?api-version=2024-04-01"
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/v1"
	patch := func(state string, code int) map[string]any {
		t.Helper()
		resp, m := e.Do("PATCH", R+v, map[string]any{"properties": map[string]any{"securitySettings": map[string]any{"softDeleteSettings": map[string]any{
			"softDeleteState": state, "softDeleteRetentionPeriodInDays": 20}}}})
		must(t, "vault PATCH soft delete "+state, resp, m, code)
		if code == 202 {
			pollStatus(t, e, resp)
		}
		return m
	}
	state := func() (vault, config string) {
		t.Helper()
		resp, vm := e.Do("GET", R+v, nil)
		must(t, "vault", resp, vm, 200)
		resp, cm := e.Do("GET", R+"/backupconfig/vaultconfig"+v, nil)
		must(t, "backupconfig", resp, cm, 200)
		return fmt.Sprint(str(vm, "properties.securitySettings.softDeleteSettings.softDeleteState"), "/", testserver.Field(vm, "properties.securitySettings.softDeleteSettings.softDeleteRetentionPeriodInDays")),
			fmt.Sprint(str(cm, "properties.softDeleteFeatureState"), "/", testserver.Field(cm, "properties.softDeleteRetentionPeriodInDays"))
	}
	if vs, cs := state(); vs != "Disabled/14" || cs != "Disabled/<nil>" {
		t.Fatalf("a new vault: vault %s, backupconfig %s", vs, cs)
	}
	patch("enabled", 202)
	if vs, cs := state(); vs != "Enabled/20" || cs != "Enabled/20" {
		t.Fatalf("after the vault PATCH: vault %s, backupconfig %s", vs, cs)
	}
	resp, m := e.Do("PUT", R+"/backupconfig/vaultconfig"+v, map[string]any{"properties": map[string]any{"softDeleteFeatureState": "Disabled"}})
	must(t, "backupconfig PUT", resp, m, 200)
	if vs, cs := state(); vs != "Disabled/20" || cs != "Disabled/20" {
		t.Fatalf("after the backupconfig PUT: vault %s, backupconfig %s", vs, cs)
	}
	if m := patch("Sometimes", 400); !strings.Contains(str(m, "error.message"), "softDeleteState") {
		t.Fatalf("an unknown state: %v", m)
	}
	// Settings of the wrong shape are 400, not ignored.
	for _, ss := range []any{"Enabled", map[string]any{"softDeleteSettings": "Enabled"}} {
		resp, m := e.Do("PATCH", R+v, map[string]any{"properties": map[string]any{"securitySettings": ss}})
		must(t, fmt.Sprintf("vault PATCH securitySettings %v", ss), resp, m, 400)
		if msg := str(m, "error.message"); !strings.Contains(msg, "must be an object") {
			t.Fatalf("securitySettings %v: %v", ss, m)
		}
	}
	patch("AlwaysON", 202)
	if m := patch("Disabled", 400); !strings.Contains(str(m, "error.message"), "AlwaysON") {
		t.Fatalf("disabling AlwaysON: %v", m)
	}
	if vs, cs := state(); vs != "AlwaysON/20" || cs != "AlwaysON/20" {
		t.Fatalf("after AlwaysON: vault %s, backupconfig %s", vs, cs)
	}
}

// An undelete at the end of the soft-delete retention, while the purge runs:
// either the undelete is refused and the item is purged, or it is
// answered done and the item keeps its recovery points; never an undelete
// answered done whose data the purge then deletes. The test holds the
// item's lease, so the purge, once started, waits for it while the
// undelete is asked; the clock is first advanced to the day before the
// purge, so that the item's earlier work (its retention sweeps) is done
// and the advance that starts the purge waits for nothing else. The
// lease's until is then put behind the wall clock, as a VM restored from
// a snapshot finds every lease when its wall clock steps forward: its
// holder, alive in this process, keeps it all the same (a purge here took
// it at once and removed the item, 404 to the undelete, in a CI run).
func TestUndeleteRacingThePurge(t *testing.T) {
	e, R, I := softDeletedVM1(t)
	const v = "?api-version=2024-04-01"
	ctx := e.Ctx()
	advanceClock(t, e, "P13D")

	held, release, unlocked := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		unlocked <- e.Server.Engine.WithItem(context.WithoutCancel(ctx), I, func(context.Context) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	if err := e.Server.Store.Update(ctx, func(tx store.Tx) error {
		d, err := tx.Get(ctx, "protection.lease", strings.ToLower(I))
		if err != nil {
			return err
		}
		var l map[string]any
		if err := json.Unmarshal(d.Value, &l); err != nil {
			return err
		}
		l["until"] = time.Now().Add(-time.Minute)
		d.Value, _ = json.Marshal(l)
		return tx.Put(ctx, d)
	}); err != nil {
		t.Fatal(err)
	}
	advanced := make(chan int, 1)
	go func() {
		resp, _ := e.Do("POST", "/providers/Safehold.Admin/clock/advance?api-version=2024-01-01", map[string]string{"duration": "P2D"})
		advanced <- resp.StatusCode
	}()
	e.WaitFor("the purge task to start", func() bool { // (or to end: it took the lease)
		task, err := e.Server.Store.GetTaskByKey(ctx, "purge:"+strings.ToLower(I))
		return err == nil && task.LeaseOwner != "" || errors.Is(err, store.ErrNotFound)
	})
	time.Sleep(300 * time.Millisecond) // the purge reads the item and waits for the lease
	resp, m := e.Do("PUT", I+v, map[string]any{"properties": map[string]any{"protectedItemType": "Microsoft.Compute/virtualMachines", "sourceResourceId": vm1ID(e),
		"policyId": "", "protectionState": "ProtectionStopped", "isRehydrate": true}})
	undeleted := resp.StatusCode == 202
	if undeleted {
		if j := waitJob(t, e, R, str(pollStatus(t, e, resp), "properties.jobId"), v); str(j, "properties.status") != "Completed" {
			t.Fatalf("undelete job: %v", j)
		}
	} else if resp.StatusCode/100 != 4 || !strings.Contains(str(m, "error.message"), "purge") {
		t.Fatalf("undelete during the purge: %d %v", resp.StatusCode, m)
	}
	close(release)
	if err := <-unlocked; err != nil {
		t.Fatal(err)
	}
	if code := <-advanced; code != 200 {
		t.Fatalf("clock advance: %d", code)
	}
	e.WaitFor("the purge task to end", func() bool {
		_, err := e.Server.Store.GetTaskByKey(ctx, "purge:"+strings.ToLower(I))
		return err != nil
	})
	resp, it := e.Do("GET", I+v, nil)
	pts, err := protection.ListRecoveryPoints(ctx, e.Server.Store, I)
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case undeleted && (resp.StatusCode != 200 || len(pts) != 1):
		t.Fatalf("an undelete answered done, then the item is %d %v with %d recovery points: the purge deleted it", resp.StatusCode, it, len(pts))
	case !undeleted && (resp.StatusCode != 404 || len(pts) != 0):
		t.Fatalf("the undelete was refused, and the item is %d %v with %d recovery points", resp.StatusCode, it, len(pts))
	}
}

// TestPurgeTakesTheContainersLock: a management lock a client put on a
// soft-deleted item's protection container goes with the container when
// the purge removes it (Safehold's own work, which no lock stops), as a
// resource's locks go with it whatever deletes it. (It stayed on a scope
// that no longer existed, where it could not be deleted, 404, and refused
// the vault's delete and its group's for ever.)
func TestPurgeTakesTheContainersLock(t *testing.T) {
	e, R, I := softDeletedVM1(t)
	const v = "?api-version=2024-04-01"
	C := R + "/backupFabrics/Azure/protectionContainers/" + vm1Container
	lock := C + "/providers/Microsoft.Authorization/locks/keep?api-version=2016-09-01"
	resp, m := e.Do("PUT", lock, map[string]any{"properties": map[string]any{"level": "CanNotDelete"}})
	must(t, "lock the soft-deleted item's container", resp, m, 201)
	advanceClock(t, e, "P15D")
	e.WaitFor("the purge", func() bool {
		resp, _ := e.Do("GET", I+v, nil)
		return resp.StatusCode == 404
	})
	resp, m = e.Do("GET", "/subscriptions/"+e.Sub+"/resourceGroups/vaultrg/providers/Microsoft.Authorization/locks?api-version=2016-09-01", nil)
	must(t, "the group's locks", resp, m, 200)
	if locks, _ := m["value"].([]any); len(locks) != 0 {
		t.Fatalf("locks left after the purge: %v", locks)
	}
	resp, m = e.Do("DELETE", R+v, nil)
	must(t, "the vault's delete after the purge", resp, m, 200)
}

// softDeletedVM1 is backedUpVM1 with its vault's soft delete Enabled and
// its backup data deleted (soft-deleted): the env, the vault's id and the
// item's.
func softDeletedVM1(t *testing.T) (*testserver.Env, string, string) {
	t.Helper()
	e, _, _ := backedUpVM1(t, 0)
	const v = "?api-version=2024-04-01"
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/v1"
	I := R + "/backupFabrics/Azure/protectionContainers/" + vm1Container + "/protectedItems/" + vm1Item
	resp, m := e.Do("PUT", R+"/backupconfig/vaultconfig"+v, map[string]any{"properties": map[string]any{"softDeleteFeatureState": "Enabled"}})
	must(t, "soft delete on", resp, m, 200)
	resp, m = e.Do("DELETE", I+v, nil)
	must(t, "delete backup data", resp, m, 202)
	if j := waitJob(t, e, R, str(pollStatus(t, e, resp), "properties.jobId"), v); str(j, "properties.status") != "Completed" {
		t.Fatalf("delete job: %v", j)
	}
	return e, R, I
}
