package dataprotection_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestPolicyDeletedWhileAnInstanceTakesIt PUTs a backup instance with a
// new policy while a DELETE of that policy runs: one of them wins, either
// the instance (the policy's DELETE is 400 UserErrorPolicyInUse) or the
// DELETE (the PUT is 404 UserErrorPolicyNotFound). The PUT read the policy
// before its transaction and wrote the instance without reading it again,
// so a DELETE landing between found no instance using the policy and
// removed it: the instance was left Provisioning for good, its
// configuration failing on the missing policy before it recorded anything
// (no job, no end), and the policy gone (found by hostile27 with curl).
func TestPolicyDeletedWhileAnInstanceTakesIt(t *testing.T) {
	e := testserver.Start(t)
	protectDisk(t, e, "PT4H", "P7D", "")
	vaultPath := v1Path(e)
	const v = "?api-version=2024-04-01"
	vault := patchVault(t, e, vaultPath+v, `{"properties":{"securitySettings":{"softDeleteSettings":{"state":"Off"}}}}`)
	principal, _ := testserver.Field(vault, "identity.principalId").(string)
	assign(t, e, "/subscriptions/"+e.Sub+"/resourceGroups/disk-rg", roleDiskBackupReader, principal)
	const rounds = 60
	for i := range rounds {
		diskID := fmt.Sprintf("/subscriptions/%s/resourceGroups/disk-rg/providers/Microsoft.Compute/disks/race%d", e.Sub, i)
		newDisk(t, e, diskID, 8<<20, byte(i))
		pol := fmt.Sprintf("%s/backupPolicies/race%d", vaultPath, i)
		if resp, m := e.Do("PUT", pol+v, fixture.DiskPolicyFrom(fixture.ScheduleStart(e), "PT4H", "P7D", "")); resp.StatusCode != 200 {
			t.Fatalf("policy: %d %v", resp.StatusCode, m)
		}
		bi := fmt.Sprintf("%s/backupInstances/race%d", vaultPath, i)
		body := `{"properties":{"objectType":"BackupInstance","datasourceInfo":{"objectType":"Datasource","datasourceType":"Microsoft.Compute/disks","resourceID":"` + diskID + `"},
		"policyInfo":{"policyId":"` + pol + `","policyParameters":{"dataStoreParametersList":[{"objectType":"AzureOperationalStoreParameters","dataStoreType":"OperationalStore","resourceGroupId":"/subscriptions/` + e.Sub + `/resourceGroups/snapshot-rg"}]}}}}`
		var wg sync.WaitGroup
		var del int
		wg.Go(func() {
			time.Sleep(time.Duration(i%16) * 250 * time.Microsecond)
			resp, _ := e.Do("DELETE", pol+v, nil, testserver.AnyStatus())
			del = resp.StatusCode
		})
		put, m := e.Do("PUT", bi+v, body, testserver.AnyStatus())
		wg.Wait()
		switch {
		case put.StatusCode == http.StatusCreated && del == http.StatusBadRequest:
			if st := e.Poll(put.Header.Get("Azure-AsyncOperation")); st["status"] != "Succeeded" {
				t.Fatalf("round %d: the configuration of the instance that won: %v", i, st)
			}
			deleteInstance(t, e, bi, v)
		case put.StatusCode == http.StatusNotFound && del == http.StatusOK:
		default:
			resp, got := e.Do("GET", bi+v, nil, testserver.AnyStatus())
			t.Fatalf("round %d: the instance's PUT %d %v and the policy's DELETE %d at once: want one to win; the instance is %d %v",
				i, put.StatusCode, m, del, resp.StatusCode, testserver.Field(got, "properties.provisioningState"))
		}
	}
}
