package recoveryservices_test

import (
	"strings"
	"testing"
)

// TestRestoreStagingAndRegion: an identity-based restore's
// targetStorageAccountId is its staging account (the disks of a
// RestoreDisks without a target resource group go to its resource group),
// a missing one is refused by that field, and a region other than the
// vault's is refused up front.
func TestRestoreStagingAndRegion(t *testing.T) {
	const v = "?api-version=2024-04-01"
	e, R, I, vm := vaultAndVM(t, "web", "?api-version=2023-04-01")
	e.ResourceGroups("stagerg")
	staging := mkStorage(t, e, "stagerg", "idstaging")
	protect(t, e, I+v, vm.ID, R+"/backupPolicies/DefaultPolicy")
	resp, m := e.Do("POST", I+"/backup"+v, map[string]any{"properties": map[string]any{"objectType": "IaasVMBackupRequest"}})
	must(t, "backup", resp, m, 202)
	st := pollStatus(t, e, resp)
	if job := waitJob(t, e, R, str(st, "properties.jobId"), v); str(job, "properties.status") != "Completed" {
		t.Fatalf("backup job %v", job)
	}
	resp, m = e.Do("GET", I+"/recoveryPoints"+v, nil)
	must(t, "points", resp, m, 200)
	point := str(m["value"].([]any)[0].(map[string]any), "name")
	restore := func(props map[string]any) (int, map[string]any) {
		t.Helper()
		body := map[string]any{"objectType": "IaasVMRestoreRequest", "recoveryType": "RestoreDisks", "sourceResourceId": vm.ID}
		for k, x := range props {
			body[k] = x
		}
		resp, m := e.Do("POST", I+"/recoveryPoints/"+point+"/restore"+v, map[string]any{"properties": body})
		if resp.StatusCode == 202 {
			m = pollStatus(t, e, resp)
		}
		return resp.StatusCode, m
	}

	code, m := restore(map[string]any{"region": "southeastasia", "storageAccountId": staging})
	if code != 400 || str(m, "error.target") != "properties.region" || !strings.Contains(str(m, "error.message"), "westus") {
		t.Fatalf("restore to another region: %d %v", code, m)
	}
	code, m = restore(map[string]any{"identityBasedRestoreDetails": map[string]any{"targetStorageAccountId": strings.Replace(staging, "idstaging", "nosuch", 1)}})
	if code != 400 || !strings.Contains(str(m, "error.message"), "identityBasedRestoreDetails.targetStorageAccountId") {
		t.Fatalf("missing identity-based staging account: %d %v", code, m)
	}
	code, m = restore(map[string]any{"region": "West US", "identityInfo": map[string]any{"isSystemAssignedIdentity": true},
		"identityBasedRestoreDetails": map[string]any{"targetStorageAccountId": staging}})
	if code != 202 || str(m, "status") != "Succeeded" {
		t.Fatalf("identity-based restore: %d %v", code, m)
	}
	resp, m = e.Do("GET", "/subscriptions/"+e.Sub+"/resourceGroups/stagerg/providers/Microsoft.Compute/disks?api-version=2023-04-02", nil)
	must(t, "restored disks", resp, m, 200)
	if vals, _ := m["value"].([]any); len(vals) != 1 {
		t.Fatalf("the VM's one disk restored next to the staging account: %v", m)
	}
}
