package recoveryservices_test

import (
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// A protected item's delete meets the delete fault rules: a rule with a
// code fails it (the operation Failed with the code, the DeleteBackupData
// job Failed, the item kept with its schedule); a rule with a latency holds it, so its
// backupOperations status and its job read InProgress and the item is
// still there (the status's endTime is the minimum time, as in Azure's
// ProtectedItem_Delete_OperationStatus example); deleting the rule releases it at once (the rule holds for
// ten minutes, the test's deadline is two) and the delete completes.
func TestDeleteHeldByFaultRule(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	v := fixture.ProtectVM(t, e)
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	items := bf.NewProtectedItemsClient()
	del := func() string {
		t.Helper()
		var raw *http.Response
		if _, err := items.Delete(runtime.WithCaptureResponse(ctx, &raw), v.Vault, v.RG, "Azure", v.Container, v.Item, nil); err != nil {
			t.Fatal(err)
		}
		if raw.StatusCode != http.StatusAccepted || raw.Header.Get("Azure-AsyncOperation") == "" {
			t.Fatalf("delete: %d %v", raw.StatusCode, raw.Header)
		}
		return raw.Header.Get("Azure-AsyncOperation")
	}
	deleteJob := func(status string) {
		t.Helper()
		pg := bf.NewBackupJobsClient().NewListPager(v.Vault, v.RG, &armrecoveryservicesbackup.BackupJobsClientListOptions{
			Filter: to.Ptr("operation eq 'DeleteBackupData' and status eq '" + status + "'")})
		page, err := pg.NextPage(ctx)
		if err != nil || len(page.Value) != 1 {
			t.Fatalf("%s DeleteBackupData jobs: %v %s", status, err, show(page.Value))
		}
	}

	// Failed by a rule: the item and its data stay.
	if resp, m := e.Do("POST", faultRules, map[string]any{"name": "fail", "operation": "delete", "path": "*/protectedItems/" + v.Item, "code": "UserErrorDeleteRefused", "count": 1}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("fault rule: %d %v", resp.StatusCode, m)
	}
	st := e.Poll(del())
	if testserver.Field(st, "status") != "Failed" || testserver.Field(st, "error.code") != "UserErrorDeleteRefused" {
		t.Fatalf("failed delete's status: %v", st)
	}
	deleteJob("Failed")
	if _, err := items.Get(ctx, v.Vault, v.RG, "Azure", v.Container, v.Item, nil); err != nil {
		t.Fatalf("item after the failed delete: %v", err)
	}
	// Its schedule stays too: a day later its scheduled backup has run.
	backsUpADayLater(t, e, v)

	// Held by a rule, then released by its deletion.
	if resp, m := e.Do("POST", faultRules, map[string]any{"name": "hold", "operation": "delete", "path": "*/protectedItems/" + v.Item, "latency": "10m"}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("fault rule: %d %v", resp.StatusCode, m)
	}
	op := del()
	e.WaitFor("the delete held by the rule", func() bool {
		_, m := e.Do("GET", faultRules, nil)
		for _, r := range m["value"].([]any) {
			if r.(map[string]any)["name"] == "hold" {
				return r.(map[string]any)["hits"].(float64) == 1
			}
		}
		return false
	})
	_, held := e.Do("GET", op, nil)
	// As Azure's statuses do, an operation still running has the minimum
	// time as its endTime.
	if testserver.Field(held, "status") != "InProgress" || testserver.Field(held, "endTime") != "0001-01-01T00:00:00Z" {
		t.Fatalf("held delete's status: %v", held)
	}
	deleteJob("InProgress")
	if _, err := items.Get(ctx, v.Vault, v.RG, "Azure", v.Container, v.Item, nil); err != nil {
		t.Fatalf("item while its delete is held: %v", err)
	}
	if resp, m := e.Do("DELETE", "/providers/Safehold.Admin/faultRules/hold?api-version=2024-01-01", nil); resp.StatusCode != 200 {
		t.Fatalf("delete the rule: %d %v", resp.StatusCode, m)
	}
	if st := e.Poll(op); testserver.Field(st, "status") != "Succeeded" {
		t.Fatalf("released delete's status: %v", st)
	}
	deleteJob("Completed")
	if _, err := items.Get(ctx, v.Vault, v.RG, "Azure", v.Container, v.Item, nil); err == nil {
		t.Fatal("the item is still there after its delete completed")
	}
}
