package recoveryservices_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestSeedRawHTTP follows the seed walkthrough ("Azure Backup: Back up Azure
// VMs using REST API") step by step at api-version
// 2016-12-01, with the seed's own URL spellings (/Subscriptions/,
// microsoft.recoveryservices, literal ';' in names).
func TestSeedRawHTTP(t *testing.T) {
	e := testserver.StartWithGroups(t, "testRG", "testVaultRG")
	vm := mkVM(t, e, "testRG", "testVM", 1, 4<<20)
	vol, err := e.Server.Compute.Volume(context.Background(), vm.OSDiskID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vol.WriteAt([]byte("hello seed"), 8192); err != nil {
		t.Fatal(err)
	}
	sub := e.Sub
	R := "/Subscriptions/" + sub + "/resourceGroups/testVaultRG/providers/Microsoft.RecoveryServices/vaults/testVault"
	const v = "?api-version=2016-12-01"

	resp, m := e.Do("PUT", R+"?api-version=2016-06-01", map[string]any{"location": "westus", "sku": map[string]any{"name": "Standard"}, "properties": map[string]any{}})
	must(t, "create vault", resp, m, 200, 201)
	fixture.QuietPolicies(t, e, R) // the item below is protected with DefaultPolicy (daily at 02:00 UTC)
	if str(m, "properties.provisioningState") != "Succeeded" || str(m, "type") != "Microsoft.RecoveryServices/vaults" {
		t.Fatalf("vault %v", m)
	}

	// Discover unprotected Azure VMs.
	resp, m = e.Do("POST", R+"/backupFabrics/Azure/refreshContainers"+v, nil)
	must(t, "refresh", resp, m, 202)
	loc := resp.Header.Get("Location")
	if !strings.Contains(loc, "/backupFabrics/Azure/operationResults/") || !strings.Contains(loc, "api-version=2016-12-01") || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("refresh headers: %v", resp.Header)
	}
	waitNoContent(t, e, "refresh", loc)

	// Select the VM.
	resp, m = e.Do("GET", R+"/backupProtectableItems"+v+"&$filter="+url.QueryEscape("backupManagementType eq 'AzureIaasVM'"), nil)
	must(t, "protectable items", resp, m, 200)
	var name, vmID string
	for _, it := range m["value"].([]any) {
		im := it.(map[string]any)
		if str(im, "properties.friendlyName") == "testVM" {
			name, vmID = str(im, "name"), str(im, "properties.virtualMachineId")
			if str(im, "type") != "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectableItems" ||
				str(im, "properties.protectableItemType") != "Microsoft.Compute/virtualMachines" || str(im, "properties.backupManagementType") != "AzureIaasVM" ||
				str(im, "properties.protectionState") != "NotProtected" || str(im, "properties.resourceGroup") != "testRG" ||
				str(im, "properties.virtualMachineVersion") != "Compute" || !strings.HasSuffix(str(im, "id"), "/protectableItems/vm;iaasvmcontainerv2;testRG;testVM") {
				t.Fatalf("protectable item %v", im)
			}
		}
	}
	if name != "iaasvmcontainerv2;testRG;testVM" || !strings.EqualFold(vmID, vm.ID) {
		t.Fatalf("protectable name %q id %q", name, vmID)
	}
	containerName, itemName := "iaasvmcontainer;"+name, "vm;"+name
	I := R + "/backupFabrics/Azure/protectionContainers/" + containerName + "/protectedItems/" + itemName
	policy := "/subscriptions/" + sub + "/resourceGroups/testVaultRG/providers/microsoft.recoveryservices/vaults/testVault/backupPolicies/DefaultPolicy"

	// Enable protection.
	resp, m = e.Do("PUT", I+v, map[string]any{"properties": map[string]any{"protectedItemType": "Microsoft.Compute/virtualMachines", "sourceResourceId": vmID, "policyId": policy}})
	must(t, "enable", resp, m, 202)
	st := pollStatus(t, e, resp)
	if str(st, "status") != "Succeeded" {
		t.Fatalf("enable status %v", st)
	}
	// As the seed shows, the status carries the protected item itself.
	checkItemStatus(t, st, "IRPending", "DefaultPolicy")
	resp, m = e.Do("GET", resp.Header.Get("Location"), nil)
	must(t, "enable result", resp, m, 200)
	for k, want := range map[string]string{
		"name": "VM;iaasvmcontainerv2;testRG;testVM", "type": "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems",
		"properties.friendlyName": "testVM", "properties.protectionStatus": "Healthy", "properties.protectionState": "IRPending",
		"properties.healthStatus": "Passed", "properties.lastBackupStatus": "", "properties.lastBackupTime": "2001-01-01T00:00:00Z",
		"properties.extendedInfo.recoveryPointCount": "0", "properties.extendedInfo.policyInconsistent": "false",
		"properties.protectedItemType": "Microsoft.Compute/virtualMachines", "properties.backupManagementType": "AzureIaasVM",
		"properties.workloadType": "VM", "properties.containerName": "iaasvmcontainerv2;testRG;testVM", "properties.policyName": "DefaultPolicy",
	} {
		if got := str(m, k); got != want {
			t.Errorf("item %s = %q, want %q", k, got, want)
		}
	}
	if !strings.EqualFold(str(m, "properties.sourceResourceId"), vmID) || !strings.EqualFold(str(m, "properties.virtualMachineId"), vmID) ||
		!strings.EqualFold(str(m, "properties.policyId"), policy) || str(m, "properties.protectedItemDataId") == "" {
		t.Fatalf("item %v", m)
	}

	// A protected VM leaves the list of protectable items.
	resp, m = e.Do("GET", R+"/backupProtectableItems"+v+"&$filter="+url.QueryEscape("backupManagementType eq 'AzureIaasVM'"), nil)
	must(t, "protectable items", resp, m, 200)
	if n := len(m["value"].([]any)); n != 0 {
		t.Fatalf("protected VM still protectable: %v", m)
	}

	// On-demand backup, with the seed's body verbatim: its expiry
	// (2018-12-01) has passed, so the point is kept for 30 days and the job
	// says why.
	backupStart := time.Now().UTC() // UTC: AddDate in a zone with DST moves by an hour across its change
	resp, m = e.Do("POST", I+"/backup"+v, []byte(`{
   "properties": {
    "objectType": "IaasVMBackupRequest",
    "recoveryPointExpiryTimeInUTC": "2018-12-01T02:16:20.3156909Z"
  }
}`))
	must(t, "backup", resp, m, 202)
	if resp.Header.Get("Location") == "" || resp.Header.Get("Azure-AsyncOperation") == "" {
		t.Fatalf("backup headers %v", resp.Header)
	}
	st = pollStatus(t, e, resp)
	jobID := str(st, "properties.jobId")
	if str(st, "status") != "Succeeded" || str(st, "properties.objectType") != "OperationStatusJobExtendedInfo" || jobID == "" || st["properties"].(map[string]any)["protectionState"] != nil {
		t.Fatalf("backup status %v", st)
	}
	job := waitJob(t, e, R, jobID, v)
	if str(job, "properties.status") != "Completed" || str(job, "properties.operation") != "Backup" || str(job, "properties.jobType") != "AzureIaaSVMJob" ||
		str(job, "properties.entityFriendlyName") != "testVM" || str(job, "properties.backupManagementType") != "AzureIaasVM" {
		t.Fatalf("backup job %v", job)
	}
	if w := str(job, "properties.extendedInfo.propertyBag.Warning"); !strings.Contains(w, "2018-12-01T02:16:20Z was in the past; kept for 30 days") {
		t.Fatalf("backup job warning %q: %v", w, job)
	}
	resp, m = e.Do("GET", I+v, nil)
	must(t, "get item", resp, m, 200)
	if str(m, "properties.protectionState") != "Protected" || str(m, "properties.lastBackupStatus") != "Completed" ||
		str(m, "properties.extendedInfo.recoveryPointCount") != "1" || str(m, "properties.lastBackupTime") == "2001-01-01T00:00:00Z" {
		t.Fatalf("item after backup %v", m)
	}
	resp, m = e.Do("GET", I+"/recoveryPoints"+v, nil)
	must(t, "recovery points", resp, m, 200)
	pts := m["value"].([]any)
	if len(pts) != 1 {
		t.Fatalf("points %v", m)
	}
	pt := pts[0].(map[string]any)
	tiers := testserver.Field(pt, "properties.recoveryPointTierDetails").([]any)
	if str(pt, "properties.objectType") != "IaasVMRecoveryPoint" || len(tiers) != 2 ||
		str(tiers[0].(map[string]any), "type") != "InstantRP" || str(tiers[0].(map[string]any), "status") != "Valid" ||
		str(tiers[1].(map[string]any), "type") != "HardenedRP" || str(tiers[1].(map[string]any), "status") != "Valid" ||
		str(pt, "properties.recoveryPointProperties.expiryTime") == "" {
		t.Fatalf("point %v", pt)
	}
	if exp, err := time.Parse(time.RFC3339, str(pt, "properties.recoveryPointProperties.expiryTime")); err != nil ||
		exp.Before(backupStart.AddDate(0, 0, 30).Add(-time.Minute)) || exp.After(time.Now().UTC().AddDate(0, 0, 30).Add(time.Minute)) {
		t.Fatalf("point expiry %v (%v), want 30 days after the backup", exp, err)
	}

	// Change the policy.
	prod := strings.Replace(policy, "DefaultPolicy", "ProdPolicy", 1)
	prodAt := fixture.QuietTime(e, time.Date(2018, 1, 24, 10, 0, 0, 0, time.UTC)).Format(time.RFC3339)
	resp, m = e.Do("PUT", prod+v, map[string]any{"properties": map[string]any{"backupManagementType": "AzureIaasVM",
		"schedulePolicy":  map[string]any{"schedulePolicyType": "SimpleSchedulePolicy", "scheduleRunFrequency": "Daily", "scheduleRunTimes": []string{prodAt}},
		"retentionPolicy": map[string]any{"retentionPolicyType": "LongTermRetentionPolicy", "dailySchedule": map[string]any{"retentionTimes": []string{prodAt}, "retentionDuration": map[string]any{"count": 45, "durationType": "Days"}}},
		"timeZone":        "UTC"}})
	must(t, "create ProdPolicy", resp, m, 200)
	resp, m = e.Do("PUT", I+v, map[string]any{"properties": map[string]any{"protectedItemType": "Microsoft.Compute/virtualMachines", "sourceResourceId": vmID, "policyId": prod}})
	must(t, "change policy", resp, m, 202)
	if st := pollStatus(t, e, resp); str(st, "status") != "Succeeded" {
		t.Fatalf("change policy %v", st)
	} else {
		checkItemStatus(t, st, "Protected", "ProdPolicy")
	}
	resp, m = e.Do("GET", resp.Header.Get("Location"), nil)
	if resp.StatusCode != 200 || str(m, "properties.policyName") != "ProdPolicy" || str(m, "properties.protectionState") != "Protected" {
		t.Fatalf("after policy change: %d %v", resp.StatusCode, m)
	}

	// Stop protection but retain existing data.
	resp, m = e.Do("PUT", I+v, map[string]any{"properties": map[string]any{"protectedItemType": "Microsoft.Compute/virtualMachines", "sourceResourceId": vmID, "policyId": ""}})
	must(t, "stop protection", resp, m, 202)
	st = pollStatus(t, e, resp)
	if str(st, "status") != "Succeeded" || str(st, "properties.jobId") == "" || str(st, "properties.objectType") != "OperationStatusJobExtendedInfo" || str(st, "properties.protectionState") != "" {
		t.Fatalf("stop %v", st)
	}
	if job := waitJob(t, e, R, str(st, "properties.jobId"), v); str(job, "properties.operation") != "DisableBackup" {
		t.Fatalf("stop job %v", job)
	}
	resp, m = e.Do("GET", I+v, nil)
	if str(m, "properties.protectionState") != "ProtectionStopped" || str(m, "properties.extendedInfo.recoveryPointCount") != "1" {
		t.Fatalf("after stop %v", m)
	}
	// The seed's short item name is an alias.
	resp, m = e.Do("GET", R+"/backupFabrics/Azure/protectionContainers/"+containerName+"/protectedItems/vm;testRG;testVM"+v, nil)
	must(t, "alias", resp, m, 200)

	// Jobs list with filters.
	resp, m = e.Do("GET", R+"/backupJobs"+v+"&$filter="+url.QueryEscape("operation eq 'Backup' and backupManagementType eq 'AzureIaasVM' and status eq 'Completed'"), nil)
	must(t, "jobs", resp, m, 200)
	if n := len(m["value"].([]any)); n != 1 {
		t.Fatalf("backup jobs %d: %v", n, m)
	}

	// Stop protection and delete data.
	snaps := listSnapshots(t, e)
	if snaps == 0 {
		t.Fatal("no instant-RP snapshot")
	}
	resp, m = e.Do("DELETE", I+v, nil)
	must(t, "delete", resp, m, 202)
	loc = resp.Header.Get("Location")
	if loc == "" || resp.Header.Get("Azure-AsyncOperation") == "" {
		t.Fatalf("delete headers %v", resp.Header)
	}
	waitNoContent(t, e, "delete", loc)
	resp, m = e.Do("GET", I+v, nil)
	must(t, "get deleted", resp, m, 404)
	if n := listSnapshots(t, e); n != 0 {
		t.Fatalf("%d snapshots left after delete", n)
	}
	resp, m = e.Do("GET", R+"/backupJobs"+v+"&$filter="+url.QueryEscape("operation eq 'DeleteBackupData'"), nil)
	if len(m["value"].([]any)) != 1 || str(m["value"].([]any)[0].(map[string]any), "properties.status") != "Completed" {
		t.Fatalf("delete job %v", m)
	}
	resp, m = e.Do("DELETE", R+"?api-version=2023-04-01", nil)
	must(t, "delete vault", resp, m, 200)
}

func pollStatus(t *testing.T, e *testserver.Env, resp *http.Response) map[string]any {
	t.Helper()
	as := resp.Header.Get("Azure-AsyncOperation")
	if as == "" || !strings.Contains(as, "api-version=") {
		t.Fatalf("no Azure-AsyncOperation: %v", resp.Header)
	}
	return e.Poll(as)
}

func waitJob(t *testing.T, e *testserver.Env, R, id, v string) map[string]any {
	t.Helper()
	var m map[string]any
	e.WaitFor("job "+id, func() bool {
		var r *http.Response
		r, m = e.Do("GET", R+"/backupJobs/"+id+v, nil)
		must(t, "job", r, m, 200)
		s := str(m, "properties.status")
		return s != "InProgress" && s != "Cancelling"
	})
	return m
}

func listSnapshots(t *testing.T, e *testserver.Env) int {
	resp, m := e.Do("GET", "/subscriptions/"+e.Sub+"/providers/Microsoft.Compute/snapshots?api-version=2023-04-02", nil)
	must(t, "snapshots", resp, m, 200)
	return len(m["value"].([]any))
}

// checkItemStatus checks the merged operation status of an enable or a
// policy change: the ARM status fields plus the protected item.
func checkItemStatus(t *testing.T, st map[string]any, state, policy string) {
	t.Helper()
	for k, want := range map[string]string{
		"status": "Succeeded", "name": "VM;iaasvmcontainerv2;testRG;testVM",
		"type":                    "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems",
		"properties.friendlyName": "testVM", "properties.protectionState": state, "properties.protectionStatus": "Healthy",
		"properties.healthStatus": "Passed", "properties.policyName": policy, "properties.objectType": "OperationStatusJobExtendedInfo",
		"properties.protectedItemType": "Microsoft.Compute/virtualMachines", "properties.containerName": "iaasvmcontainerv2;testRG;testVM",
	} {
		if got := str(st, k); got != want {
			t.Errorf("operation status %s = %q, want %q", k, got, want)
		}
	}
	if !strings.Contains(str(st, "id"), "/protectedItems/VM;iaasvmcontainerv2;testRG;testVM") || str(st, "startTime") == "" || str(st, "endTime") == "" ||
		str(st, "properties.jobId") == "" || !strings.HasSuffix(str(st, "properties.policyId"), "/backupPolicies/"+policy) ||
		testserver.Field(st, "properties.extendedInfo.recoveryPointCount") == nil || str(st, "properties.sourceResourceId") == "" {
		t.Fatalf("operation status %v", st)
	}
}
