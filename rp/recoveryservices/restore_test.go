package recoveryservices_test

import (
	"bytes"
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/safehold/safehold/internal/testserver"
)

// TestRestoreKinds restores one point three ways (raw HTTP at the restore
// document's 2019-05-13): RestoreDisks of a chosen data disk, and
// OriginalLocation replacing the VM's disks; it also checks job
// cancellation rules, backupStatus and a second trigger while one runs.
func TestRestoreKinds(t *testing.T) {
	e := testserver.StartWithGroups(t, "vmrg", "vaultrg", "diskrg")
	ctx := context.Background()
	cs := e.Server.Compute
	mkStorage(t, e, "vaultrg", "staging")
	vm := mkVM(t, e, "vmrg", "web", 2, 1<<20)
	disks := []string{vm.OSDiskID, vm.DataDisks[0].DiskID, vm.DataDisks[1].DiskID}
	fill := func(b byte) {
		for i, d := range disks {
			v, err := cs.Volume(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.WriteAt(bytes.Repeat([]byte{b + byte(i)}, 8192), 4096); err != nil {
				t.Fatal(err)
			}
		}
	}
	fill(10)
	want := make([][]byte, 3)
	for i, d := range disks {
		want[i] = readDisk(t, cs, d)
	}

	const v = "?api-version=2019-05-13"
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/rv"
	resp, m := e.Do("PUT", R+"?api-version=2016-06-01", map[string]any{"location": "westus", "sku": map[string]any{"name": "RS0", "tier": "Standard"}})
	must(t, "vault", resp, m, 201)
	I := R + "/backupFabrics/Azure/protectionContainers/" + url.PathEscape("IaasVMContainer;iaasvmcontainerv2;vmrg;web") + "/protectedItems/" + url.PathEscape("VM;iaasvmcontainerv2;vmrg;web")
	if !strings.Contains(I, "%3B") {
		t.Fatalf("escaping: %s", I)
	}
	protect(t, e, I+v, vm.ID, R+"/backupPolicies/DefaultPolicy")

	resp, m = e.Do("POST", "/Subscriptions/"+e.Sub+"/providers/Microsoft.RecoveryServices/locations/westus/backupStatus?api-version=2024-04-01", map[string]any{"resourceType": "VM", "resourceId": vm.ID})
	must(t, "backupStatus", resp, m, 200)
	if str(m, "protectionStatus") != "Protected" || !strings.EqualFold(str(m, "vaultId"), R) || str(m, "protectedItemName") != "VM;iaasvmcontainerv2;vmrg;web" {
		t.Fatalf("backupStatus %v", m)
	}

	resp, m = e.Do("POST", I+"/backup"+v, map[string]any{"properties": map[string]any{"objectType": "IaasVMBackupRequest"}})
	must(t, "backup", resp, m, 202)
	st := pollStatus(t, e, resp)
	jobID := str(st, "properties.jobId")
	if job := waitJob(t, e, R, jobID, v); str(job, "properties.status") != "Completed" {
		t.Fatalf("job %v", job)
	}
	resp, m = e.Do("POST", R+"/backupJobs/"+jobID+"/cancel"+v, nil)
	if resp.StatusCode != 400 || !strings.Contains(str(m, "error.message"), "cannot be cancelled") {
		t.Fatalf("cancel of a finished job: %d %v", resp.StatusCode, m)
	}
	resp, m = e.Do("GET", I+"/recoveryPoints"+v, nil)
	must(t, "points", resp, m, 200)
	point := str(m["value"].([]any)[0].(map[string]any), "name")
	exp, err := time.Parse(time.RFC3339, str(m["value"].([]any)[0].(map[string]any), "properties.recoveryPointProperties.expiryTime"))
	if d := time.Until(exp); err != nil || d < 29*24*time.Hour || d > 31*24*time.Hour {
		t.Fatalf("on-demand point expiry %v (%v), want 30 days: %v", exp, err, m)
	}
	fill(50) // the VM moves on

	// RestoreDisks, data disk at lun 1 only.
	resp, m = e.Do("POST", I+"/recoveryPoints/"+point+"/restore"+v, map[string]any{"properties": map[string]any{
		"objectType": "IaasVMRestoreRequest", "recoveryPointId": point, "recoveryType": "RestoreDisks", "sourceResourceId": vm.ID,
		"storageAccountId":      "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.Storage/storageAccounts/staging",
		"targetResourceGroupId": "/subscriptions/" + e.Sub + "/resourceGroups/diskrg", "restoreDiskLunList": []int{1}, "region": "westus"}})
	must(t, "restore disks", resp, m, 202)
	if st := pollStatus(t, e, resp); str(st, "status") != "Succeeded" {
		t.Fatalf("restore disks %v", st)
	}
	resp, m = e.Do("GET", "/subscriptions/"+e.Sub+"/resourceGroups/diskrg/providers/Microsoft.Compute/disks?api-version=2023-04-02", nil)
	must(t, "disks", resp, m, 200)
	// The OS disk is always restored; data disks as listed.
	vals := m["value"].([]any)
	if len(vals) != 2 {
		t.Fatalf("restored disks %v", m)
	}
	for _, d := range vals {
		name, id := str(d.(map[string]any), "name"), str(d.(map[string]any), "id")
		i := 0
		switch {
		case strings.Contains(name, "datadisk-1"):
			i = 2
		case strings.Contains(name, "osdisk"):
		default:
			t.Fatalf("unexpected restored disk %s", name)
		}
		if !bytes.Equal(readDisk(t, cs, id), want[i]) {
			t.Fatalf("restored %s differs from the backup", name)
		}
	}
	resp, m = e.Do("POST", I+"/recoveryPoints/"+point+"/restore"+v, map[string]any{"properties": map[string]any{
		"objectType": "IaasVMRestoreRequest", "recoveryType": "RestoreDisks", "targetResourceGroupId": "/subscriptions/" + e.Sub + "/resourceGroups/diskrg", "restoreDiskLunList": []int{7}}})
	if resp.StatusCode != 400 || !strings.Contains(str(m, "error.message"), "restoreDiskLunList[0]") {
		t.Fatalf("bad lun: %d %v", resp.StatusCode, m)
	}
	resp, m = e.Do("POST", I+"/recoveryPoints/"+point+"/restore"+v, map[string]any{"properties": map[string]any{"objectType": "IaasVMRestoreRequest"}})
	if resp.StatusCode != 400 || !strings.Contains(str(m, "error.message"), "recoveryType") {
		t.Fatalf("no recoveryType: %d %v", resp.StatusCode, m)
	}

	// OriginalLocation: the VM gets new disks holding the backup.
	resp, m = e.Do("POST", I+"/recoveryPoints/"+point+"/restore"+v, map[string]any{"properties": map[string]any{
		"objectType": "IaasVMRestoreRequest", "recoveryType": "OriginalLocation", "sourceResourceId": vm.ID,
		"storageAccountId": "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.Storage/storageAccounts/staging", "originalStorageAccountOption": false}})
	must(t, "restore original", resp, m, 202)
	if st := pollStatus(t, e, resp); str(st, "status") != "Succeeded" {
		t.Fatalf("restore original %v", st)
	}
	now, err := cs.VM(ctx, vm.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{now.OSDiskID, now.DataDisks[0].DiskID, now.DataDisks[1].DiskID}
	for i, d := range got {
		if strings.EqualFold(d, disks[i]) {
			t.Fatalf("disk %d not replaced", i)
		}
		if !bytes.Equal(readDisk(t, cs, d), want[i]) {
			t.Fatalf("disk %d of the VM differs from the backup after OriginalLocation", i)
		}
	}
	resp, m = e.Do("GET", R+"/backupJobs"+v+"&$filter="+url.QueryEscape("operation eq 'Restore'"), nil)
	must(t, "jobs", resp, m, 200)
	if n := len(m["value"].([]any)); n != 2 {
		t.Fatalf("%d restore jobs", n)
	}
	for _, j := range m["value"].([]any) {
		if s := str(j.(map[string]any), "properties.status"); s != "Completed" {
			t.Fatalf("restore job %v", j)
		}
	}

	// Deleting the vault's resource group removes the vault with its
	// items, points (both tiers) and jobs.
	resp, m = e.Do("DELETE", "/subscriptions/"+e.Sub+"/resourcegroups/vaultrg?api-version=2021-04-01", nil)
	must(t, "delete vault rg", resp, m, 200, 202)
	e.WaitFor("vault gone", func() bool {
		resp, _ := e.Do("GET", R+v, nil)
		return resp.StatusCode == 404
	})
	if n := listSnapshots(t, e); n != 0 {
		t.Fatalf("%d instant snapshots left", n)
	}
	resp, m = e.Do("POST", "/Subscriptions/"+e.Sub+"/providers/Microsoft.RecoveryServices/locations/westus/backupStatus?api-version=2024-04-01", map[string]any{"resourceType": "VM", "resourceId": vm.ID})
	if str(m, "protectionStatus") != "NotProtected" {
		t.Fatalf("backupStatus after the vault went: %v", m)
	}
}

// TestRestartKeepsBackups restarts the server between a backup and the next
// one, then restores the first point from the vault tier (its instant
// snapshots deleted with their resource group).
func TestRestartKeepsBackups(t *testing.T) {
	e := testserver.StartWithGroups(t, "vmrg", "vaultrg", "out")
	ctx := context.Background()
	vm := mkVM(t, e, "vmrg", "db", 1, 1<<20)
	write := func(b byte) {
		v, err := e.Server.Compute.Volume(ctx, vm.DataDisks[0].DiskID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.WriteAt(bytes.Repeat([]byte{b}, 65536), 0); err != nil {
			t.Fatal(err)
		}
	}
	write(1)
	want := readDisk(t, e.Server.Compute, vm.DataDisks[0].DiskID)
	const v = "?api-version=2024-04-01"
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/rv"
	mkVault(t, e, R+v, "westus")
	I := R + "/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;vmrg;db/protectedItems/VM;iaasvmcontainerv2;vmrg;db"
	protect(t, e, I+v, vm.ID, R+"/backupPolicies/EnhancedPolicy")
	backup := func() {
		resp, m := e.Do("POST", I+"/backup"+v, map[string]any{"properties": map[string]any{"objectType": "IaasVMBackupRequest"}})
		must(t, "backup", resp, m, 202)
		if j := waitJob(t, e, R, str(pollStatus(t, e, resp), "properties.jobId"), v); str(j, "properties.status") != "Completed" {
			t.Fatalf("job %v", j)
		}
	}
	backup()
	resp, m := e.Do("GET", I+"/recoveryPoints"+v, nil)
	first := str(m["value"].([]any)[0].(map[string]any), "name")

	e.Restart()
	write(2)
	backup()
	resp, m = e.Do("GET", I+v, nil)
	if str(m, "properties.extendedInfo.recoveryPointCount") != "2" || str(m, "properties.policyName") != "EnhancedPolicy" {
		t.Fatalf("item after restart %v", m)
	}
	resp, m = e.Do("DELETE", "/subscriptions/"+e.Sub+"/resourcegroups/AzureBackupRG_westus_1?api-version=2021-04-01", nil)
	must(t, "delete snapshot rg", resp, m, 202, 200)
	e.WaitFor("snapshots gone", func() bool { return listSnapshots(t, e) == 0 })
	resp, m = e.Do("POST", I+"/recoveryPoints/"+first+"/restore"+v, map[string]any{"properties": map[string]any{
		"objectType": "IaasVMRestoreRequest", "recoveryType": "RestoreDisks", "targetResourceGroupId": "/subscriptions/" + e.Sub + "/resourceGroups/out"}})
	must(t, "restore", resp, m, 202)
	if st := pollStatus(t, e, resp); str(st, "status") != "Succeeded" {
		t.Fatalf("restore %v", st)
	}
	id := "/subscriptions/" + e.Sub + "/resourceGroups/out/providers/Microsoft.Compute/disks/"
	resp, m = e.Do("GET", "/subscriptions/"+e.Sub+"/resourceGroups/out/providers/Microsoft.Compute/disks?api-version=2023-04-02", nil)
	found := false
	for _, d := range m["value"].([]any) {
		if n := str(d.(map[string]any), "name"); strings.Contains(n, "datadisk-0") {
			found = true
			if !bytes.Equal(readDisk(t, e.Server.Compute, id+n), want) {
				t.Fatal("vault-tier restore after restart differs from the first backup")
			}
		}
	}
	if !found {
		t.Fatalf("no restored data disk: %v", m)
	}
}

// TestFailedBackupJob shows a backup whose VM is gone: the job fails with
// errorDetails and actionsInfo as strings, the item turns unhealthy.
func TestFailedBackupJob(t *testing.T) {
	const v = "?api-version=2017-07-01"
	e, R, I, vm := vaultAndVM(t, "gone", "?api-version=2016-06-01")
	protect(t, e, I+v, vm.ID, R+"/backupPolicies/DefaultPolicy")
	if err := e.Server.Compute.DeleteVM(context.Background(), vm.ID); err != nil {
		t.Fatal(err)
	}
	resp, m := e.Do("POST", I+"/backup"+v, map[string]any{"properties": map[string]any{"objectType": "IaasVMBackupRequest"}})
	must(t, "backup", resp, m, 202)
	job := waitJob(t, e, R, str(pollStatus(t, e, resp), "properties.jobId"), v)
	errs, _ := testserver.Field(job, "properties.errorDetails").([]any)
	acts, _ := testserver.Field(job, "properties.actionsInfo").([]any)
	if str(job, "properties.status") != "Failed" || len(errs) != 1 || str(errs[0].(map[string]any), "errorString") == "" ||
		len(acts) != 1 || acts[0] != "Retriable" || str(job, "properties.endTime") == "" {
		t.Fatalf("failed job %v", job)
	}
	// errorCode is the Backup error's number (an integer, as the SDK
	// decodes it), never the HTTP status; errorTitle is the error code.
	ed := errs[0].(map[string]any)
	if c, ok := ed["errorCode"].(float64); !ok || c == 400 || c < 100000 || str(ed, "errorTitle") != "UserErrorVmNotFound" {
		t.Fatalf("error details %v", ed)
	}
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	sj, err := bf.NewJobDetailsClient().Get(e.Ctx(), "rv", "vaultrg", str(job, "name"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ej := sj.Properties.(*armrecoveryservicesbackup.AzureIaaSVMJob).ErrorDetails; len(ej) != 1 || ej[0].ErrorCode == nil || *ej[0].ErrorCode == 400 {
		t.Fatalf("SDK error details %+v", ej)
	}
	resp, m = e.Do("GET", I+v, nil)
	if str(m, "properties.lastBackupStatus") != "Failed" || str(m, "properties.healthStatus") != "ActionRequired" || str(m, "properties.extendedInfo.recoveryPointCount") != "0" {
		t.Fatalf("item %v", m)
	}
	resp, m = e.Do("GET", R+"/backupJobs"+v+"&$filter="+url.QueryEscape("status eq 'Failed' and startTime eq '2000-01-01 12:00:00 AM' and endTime eq '2999-01-01 12:00:00 AM'"), nil)
	if n := len(m["value"].([]any)); n != 1 {
		t.Fatalf("failed jobs in window: %d", n)
	}
	resp, m = e.Do("GET", R+"/backupJobs"+v+"&$filter="+url.QueryEscape("startTime eq '2999-01-01 12:00:00 AM'"), nil)
	if n := len(m["value"].([]any)); n != 0 {
		t.Fatalf("jobs after 2999: %d", n)
	}
}
