package recoveryservices_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/ops"
)

// A DELETE of a protected item whose delete is running answers that
// operation (the same polling URLs) instead of queueing another, which ran
// after the first had deleted the item and a client protected the VM
// again, and deleted the new item and its backup data. The race is driven
// with the server's clock: the second DELETE is accepted later than the
// time the first runs, the VM is protected again, then the clock reaches it.
func TestDeleteItemTwiceOneOperation(t *testing.T) {
	start := time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)
	e, clk, vm, _ := clockedVM(t, start, "app")
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/rv"
	I := R + "/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;vmrg;app/protectedItems/VM;iaasvmcontainerv2;vmrg;app"
	mkVault(t, e, R+rsAPI, "westus")
	dataID := func() string {
		t.Helper()
		resp, m := e.Do("GET", I+rsAPI, nil, testserver.AnyStatus())
		if resp.StatusCode == http.StatusNotFound {
			return ""
		}
		must(t, "get the item", resp, m, 200)
		return str(m, "properties.protectedItemDataId")
	}
	protect(t, e, I+rsAPI, vm.ID, R+"/backupPolicies/DefaultPolicy")
	first := dataID()
	e.Server.Jobs.Stop()
	e.MoveClock(clk, start.Add(time.Hour))
	r1, m := e.Do("DELETE", I+rsAPI, nil)
	must(t, "first delete", r1, m, 202)
	e.MoveClock(clk, start.Add(3*time.Hour))
	r2, m := e.Do("DELETE", I+rsAPI, nil)
	must(t, "second delete", r2, m, 202)
	e.SameOperation("two deletes", r1, r2)
	e.MoveClock(clk, start.Add(2*time.Hour))
	if err := e.Server.Jobs.Start(e.Ctx()); err != nil {
		t.Fatal(err)
	}
	waitNoContent(t, e, "the delete", r1.Header.Get("Location"))
	if id := dataID(); id != "" {
		t.Fatalf("the item after its delete: %s", id)
	}
	protect(t, e, I+rsAPI, vm.ID, R+"/backupPolicies/DefaultPolicy")
	again := dataID()
	if again == "" || again == first {
		t.Fatalf("protected again: protectedItemDataId %q, the first's %q", again, first)
	}
	e.MoveClock(clk, start.Add(4*time.Hour))
	waitNoContent(t, e, "the second delete", r2.Header.Get("Location"))
	e.Server.Jobs.WaitIdle(e.Ctx())
	if id := dataID(); id != again {
		t.Fatalf("the item protected again (%s), once every delete ran: %q", again, id)
	}
}

// A delete operation of a protected item runs only on the item it was
// accepted for: one whose input names another protectedItemDataId (the
// item was deleted and the VM protected again since) leaves the item, its
// schedule and its data alone and ends Succeeded. The operation is started
// as deleteItem stores it, with the data id of an item made before.
func TestDeleteItemOperationLeavesAnItemMadeAgain(t *testing.T) {
	e, R, I, _ := protectedApp(t)
	_, jobs := e.Do("GET", R+"/backupJobs"+rsAPI, nil)
	list, _ := jobs["value"].([]any)
	if len(list) == 0 {
		t.Fatalf("no job after the protection: %v", jobs)
	}
	jobID := str(list[0].(map[string]any), "name")
	_, item := e.Do("GET", I+rsAPI, nil)
	now := str(item, "properties.protectedItemDataId")
	itemID := str(item, "id")
	op := &ops.Operation{Kind: "recoveryservices.deleteItem", ResourceID: itemID}
	in := map[string]any{"itemId": itemID, "jobId": jobID, "dataId": now + "0"}
	if err := e.Server.Platform.Ops.Launch(e.Ctx(), op, in, nil); err != nil {
		t.Fatal(err)
	}
	if st := e.Poll(R + "/backupOperations/" + op.ID + rsAPI); str(st, "status") != "Succeeded" {
		t.Fatalf("the delete: %v", st)
	}
	resp, m := e.Do("GET", I+rsAPI, nil, testserver.AnyStatus())
	must(t, "the item after a delete accepted for another", resp, m, 200)
	if id := str(m, "properties.protectedItemDataId"); id != now {
		t.Fatalf("the item's protectedItemDataId: %q, want %q", id, now)
	}
}

// Items protected at one instant (the server's clock frozen) each get a
// protectedItemDataId of their own, an integer as Azure's: it was the
// clock's nanoseconds, so two VMs protected at once shared it, and so did
// a VM's item deleted and protected again at that instant, whose id a
// delete operation accepted for the old item then matched: the operation
// deleted the item protected again and its schedule. Here the VM protected
// again keeps its item through a delete operation of the old one's id.
func TestItemsProtectedAtOneInstantHaveTheirOwnDataID(t *testing.T) {
	start := time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)
	e, _, vm, _ := clockedVM(t, start, "app")
	vm2 := mkVM(t, e, "vmrg", "app2", 0, 1<<20)
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/rv"
	item := func(name string) string {
		return R + "/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;vmrg;" + name + "/protectedItems/VM;iaasvmcontainerv2;vmrg;" + name
	}
	I, I2 := item("app"), item("app2")
	mkVault(t, e, R+rsAPI, "westus")
	dataID := func(path string) string {
		t.Helper()
		resp, m := e.Do("GET", path+rsAPI, nil)
		must(t, "get the item", resp, m, 200)
		id := str(m, "properties.protectedItemDataId")
		if _, err := strconv.ParseInt(id, 10, 64); err != nil {
			t.Fatalf("protectedItemDataId %q is no integer: %v", id, err)
		}
		return id
	}
	protect(t, e, I+rsAPI, vm.ID, R+"/backupPolicies/DefaultPolicy")
	protect(t, e, I2+rsAPI, vm2.ID, R+"/backupPolicies/DefaultPolicy")
	first, other := dataID(I), dataID(I2)
	if first == other {
		t.Fatalf("two items protected at one instant share protectedItemDataId %s", first)
	}
	r, m := e.Do("DELETE", I+rsAPI, nil)
	must(t, "delete", r, m, 202)
	waitNoContent(t, e, "the delete", r.Header.Get("Location"))
	protect(t, e, I+rsAPI, vm.ID, R+"/backupPolicies/DefaultPolicy")
	again := dataID(I)
	if again == first || again == other {
		t.Fatalf("the VM protected again at the same instant: protectedItemDataId %s (the first item's %s, the other's %s)", again, first, other)
	}
	// The delete operation as deleteItem starts it, accepted for the first
	// item (its data id), with a job of the vault to show it.
	_, jobs := e.Do("GET", R+"/backupJobs"+rsAPI, nil)
	list, _ := jobs["value"].([]any)
	if len(list) == 0 {
		t.Fatalf("no job in the vault: %v", jobs)
	}
	_, item1 := e.Do("GET", I+rsAPI, nil)
	op := &ops.Operation{Kind: "recoveryservices.deleteItem", ResourceID: str(item1, "id")}
	in := map[string]any{"itemId": str(item1, "id"), "jobId": str(list[0].(map[string]any), "name"), "dataId": first}
	if err := e.Server.Platform.Ops.Launch(e.Ctx(), op, in, nil); err != nil {
		t.Fatal(err)
	}
	if st := e.Poll(R + "/backupOperations/" + op.ID + rsAPI); str(st, "status") != "Succeeded" {
		t.Fatalf("the delete accepted for the first item: %v", st)
	}
	if id := dataID(I); id != again {
		t.Fatalf("the item protected again after a delete of the first: %q, want %q", id, again)
	}
}

// A DELETE of a protected item answered with the delete already running
// neither checks nor spends the security PIN it carries (it confirms
// nothing new): the PIN then confirms another item's delete, and a retry
// of that DELETE, with the PIN it spent, is answered with its operation.
func TestDeleteItemTwiceKeepsThePIN(t *testing.T) {
	e, R, I, _ := protectedApp(t)
	second := mkVM(t, e, "vmrg", "second", 0, 1<<20)
	I2 := R + "/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;vmrg;second/protectedItems/VM;iaasvmcontainerv2;vmrg;second"
	protect(t, e, I2+rsAPI, second.ID, R+"/backupPolicies/DefaultPolicy")
	e.Server.Jobs.Stop()
	r1, m := e.Do("DELETE", I+rsAPI, nil)
	must(t, "first delete", r1, m, 202)
	resp, m := e.Do("POST", R+"/backupSecurityPIN"+rsAPI, nil)
	must(t, "security PIN", resp, m, 200)
	pin := str(m, "securityPIN")
	r2, m := e.Do("DELETE", I+rsAPI, nil, testserver.Header("x-ms-security-pin", pin))
	must(t, "second delete, with the PIN", r2, m, 202)
	e.SameOperation("two deletes", r1, r2)
	r3, m := e.Do("DELETE", I2+rsAPI, nil, testserver.Header("x-ms-security-pin", pin))
	must(t, "the other item's delete with the PIN", r3, m, 202)
	r4, m := e.Do("DELETE", I2+rsAPI, nil, testserver.Header("x-ms-security-pin", pin))
	must(t, "a retry of the other item's delete with the PIN it spent", r4, m, 202)
	e.SameOperation("the other item's deletes", r3, r4)
	r5, m := e.Do("DELETE", I+rsAPI, nil, testserver.Header("x-ms-security-pin", "000000"))
	must(t, "third delete, with a PIN the vault has not (its own is spent)", r5, m, 202)
	e.SameOperation("first and third deletes", r1, r5)
	if err := e.Server.Jobs.Start(e.Ctx()); err != nil {
		t.Fatal(err)
	}
	waitNoContent(t, e, "the first delete", r1.Header.Get("Location"))
	waitNoContent(t, e, "the other item's delete", r3.Header.Get("Location"))
}

// A delete operation of a protected item deletes only the item it was
// accepted for, checked where it deletes (under the item's lease and in
// the transaction that removes the item), not only when it begins: here
// the operation is held after it began (a delete fault rule's latency)
// while the purge of the soft-deleted item it was accepted for removes
// that item and the VM is protected again; released, it leaves the new
// item alone and ends Succeeded (it deleted the new item and its
// container). Soft delete is turned off before the DELETE, so that a
// DELETE of the soft-deleted item is a delete of its data.
func TestDeleteItemHeldLeavesAnItemMadeAgain(t *testing.T) {
	e, R, I := softDeletedVM1(t)
	const v = "?api-version=2024-04-01"
	resp, m := e.Do("PUT", R+"/backupconfig/vaultconfig"+v, map[string]any{"properties": map[string]any{"softDeleteFeatureState": "Disabled"}})
	must(t, "soft delete off", resp, m, 200)
	resp, m = e.Do("POST", faultRules, map[string]any{"name": "hold", "operation": "delete", "path": "*/protectedItems/" + vm1Item, "latency": "10m"})
	must(t, "fault rule", resp, m, 201)
	del, m := e.Do("DELETE", I+v, nil)
	must(t, "delete of the soft-deleted item", del, m, 202)
	e.WaitFaultRuleHit("the delete held by the rule", "hold")
	// The clock set past the purge (an advance would wait for the held
	// delete to end).
	c := e.Server.ClockControl
	e.Server.Jobs.ClockMoved(e.Ctx(), func() { c.Set(c.Now().Add(15 * 24 * time.Hour)) })
	e.Server.Jobs.Notify()
	e.WaitFor("the purge", func() bool {
		resp, _ := e.Do("GET", I+v, nil, testserver.AnyStatus())
		return resp.StatusCode == http.StatusNotFound
	})
	protect(t, e, I+v, vm1ID(e), R+"/backupPolicies/DefaultPolicy")
	_, it := e.Do("GET", I+v, nil)
	again := str(it, "properties.protectedItemDataId")
	resp, m = e.Do("DELETE", "/providers/Safehold.Admin/faultRules/hold?api-version=2024-01-01", nil)
	must(t, "delete the rule", resp, m, 200)
	if st := e.Poll(del.Header.Get("Azure-AsyncOperation")); str(st, "status") != "Succeeded" {
		t.Fatalf("the released delete: %v", st)
	}
	resp, it = e.Do("GET", I+v, nil, testserver.AnyStatus())
	if resp.StatusCode != http.StatusOK || str(it, "properties.protectedItemDataId") != again {
		t.Fatalf("the item protected again (%s) after the delete accepted for the purged one: %d %v", again, resp.StatusCode, it)
	}
	resp, m = e.Do("GET", R+"/backupFabrics/Azure/protectionContainers/"+vm1Container+v, nil)
	must(t, "the container of the item protected again", resp, m, 200)
}
