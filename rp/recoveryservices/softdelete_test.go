package recoveryservices_test

import (
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/protection"
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
