package dataprotection_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/safehold/safehold/internal/testserver"
)

// TestSeedShapesAndOperationScopes drives backup and restore at
// api-version 2021-01-01 with the seed documents' casing
// ("dataSourceInfo", "objectType":"restoreTargetInfo",
// ValidateRestoreRequestObject) and reads one operation through every
// status and result scope the SDK has.
func TestSeedShapesAndOperationScopes(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	biPath, _, diskID := protectDisk(t, e, "PT4H", "P7D", "P30D")
	e.ResourceGroups("target-rg")
	vaultPath := strings.SplitN(biPath, "/backupInstances/", 2)[0]
	const v = "?api-version=2021-01-01"
	atBackup := readDisk(t, e, diskID)

	// Ad-hoc backup: status carries properties.jobId, Location the OperationJobExtendedInfo.
	resp, m := e.Do("POST", biPath+"/backup"+v, `{"backupRuleOptions":{"ruleName":"BackupHourly","triggerOption":{"retentionTagOverride":"Daily"}}}`)
	if resp.StatusCode != 202 {
		t.Fatalf("backup: %d %v", resp.StatusCode, m)
	}
	az, loc := resp.Header.Get("Azure-AsyncOperation"), resp.Header.Get("Location")
	st := e.Poll(az)
	jobID, _ := testserver.Field(st, "properties.jobId").(string)
	if st["status"] != "Succeeded" || testserver.Field(st, "properties.objectType") != "OperationJobExtendedInfo" || jobID == "" {
		t.Fatalf("backup status: %v", st)
	}
	resp, res := e.Do("GET", loc, nil)
	if resp.StatusCode != 200 || res["objectType"] != "OperationJobExtendedInfo" || res["jobId"] != jobID {
		t.Fatalf("backup result: %d %v", resp.StatusCode, res)
	}
	writeDisk(t, e, diskID, 42)

	// Every operation scope answers for the same operation.
	op := testserver.OpID(t, az)
	f := testserver.Factory(e, armdataprotection.NewClientFactory)
	if s, err := f.NewOperationStatusClient().Get(ctx, "westus", op, nil); err != nil || *s.Status != "Succeeded" {
		t.Fatalf("location operationStatus: %v", err)
	}
	if r, err := f.NewOperationResultClient().Get(ctx, op, "westus", nil); err != nil || r.JobID == nil || *r.JobID != jobID {
		t.Fatalf("location operationResults: %v %+v", err, r)
	}
	if s, err := f.NewOperationStatusBackupVaultContextClient().Get(ctx, "vault-rg", "v1", op, nil); err != nil || *s.Status != "Succeeded" {
		t.Fatalf("vault operationStatus: %v", err)
	}
	if s, err := f.NewOperationStatusResourceGroupContextClient().Get(ctx, "vault-rg", op, nil); err != nil || *s.Status != "Succeeded" {
		t.Fatalf("resource group operationStatus: %v", err)
	}
	if _, err := f.NewBackupVaultOperationResultsClient().Get(ctx, "vault-rg", "v1", op, nil); err != nil {
		t.Fatalf("vault operationResults: %v", err)
	}
	if _, err := f.NewBackupInstancesClient().GetBackupInstanceOperationResult(ctx, "vault-rg", "v1", "d1-bi", op, nil); err != nil {
		t.Fatalf("instance operationResults: %v", err)
	}

	// The job.
	resp, job := e.Do("GET", vaultPath+"/backupJobs/"+jobID+v, nil)
	if resp.StatusCode != 200 || testserver.Field(job, "properties.operation") != "Backup" || testserver.Field(job, "properties.status") != "Completed" ||
		testserver.Field(job, "properties.extendedInfo.additionalDetails.RetentionTag") != "Daily" || testserver.Field(job, "name") != jobID {
		t.Fatalf("job: %d %v", resp.StatusCode, job)
	}

	// Restore with the seed's casing.
	_, vault := e.Do("GET", vaultPath+v, nil)
	assign(t, e, "/subscriptions/"+e.Sub+"/resourceGroups/target-rg", roleDiskRestoreOperator, testserver.Field(vault, "identity.principalId").(string))
	_, pts := e.Do("GET", biPath+"/recoveryPoints"+v, nil)
	rpID := testserver.Field(pts["value"].([]any)[0].(map[string]any), "name").(string)
	target := "/subscriptions/" + e.Sub + "/resourceGroups/target-rg/providers/Microsoft.Compute/disks/restored"
	restoreBody := `{"objectType":"AzureBackupRecoveryPointBasedRestoreRequest","recoveryPointId":"` + rpID + `","sourceDataStoreType":"OperationalStore",
	  "restoreTargetInfo":{"objectType":"restoreTargetInfo","recoveryOption":"FailIfExists","restoreLocation":"westus",
	    "dataSourceInfo":{"objectType":"Datasource","datasourceType":"Microsoft.Compute/disks","resourceID":"` + target + `","resourceName":"restored",
	      "resourceType":"Microsoft.Compute/disks","resourceLocation":"westus","resourceUri":""}}}`
	resp, m = e.Do("POST", biPath+"/validateRestore"+v, `{"objectType":"ValidateRestoreRequestObject","restoreRequestObject":`+restoreBody+`}`)
	if resp.StatusCode != 202 {
		t.Fatalf("validateRestore: %d %v", resp.StatusCode, m)
	}
	if st := e.Poll(resp.Header.Get("Azure-AsyncOperation")); st["status"] != "Succeeded" {
		t.Fatalf("validateRestore status: %v", st)
	}
	resp, m = e.Do("POST", biPath+"/restore"+v, restoreBody)
	if resp.StatusCode != 202 {
		t.Fatalf("restore: %d %v", resp.StatusCode, m)
	}
	st = e.Poll(resp.Header.Get("Azure-AsyncOperation"))
	if st["status"] != "Succeeded" {
		t.Fatalf("restore status: %v", st)
	}
	rjob, _ := testserver.Field(st, "properties.jobId").(string)
	_, job = e.Do("GET", vaultPath+"/backupJobs/"+rjob+v, nil)
	if testserver.Field(job, "properties.operation") != "Restore" || testserver.Field(job, "properties.status") != "Completed" ||
		testserver.Field(job, "properties.extendedInfo.recoveryDestination") != target {
		t.Fatalf("restore job: %v", job)
	}
	if !bytes.Equal(readDisk(t, e, target), atBackup) {
		t.Fatal("restored disk differs from the source at backup time")
	}

	// Without its roles the vault's next backup fails: the operation with the
	// seed's error, the job with errorDetails.
	if n := revokeAll(t, e, testserver.Field(vault, "identity.principalId").(string)); n != 3 {
		t.Fatalf("revoked %d assignments, want 3", n)
	}
	resp, _ = e.Do("POST", biPath+"/backup"+v, `{"backupRuleOptions":{"ruleName":"BackupHourly","triggerOption":{"retentionTagOverride":"Default"}}}`)
	st = e.Poll(resp.Header.Get("Azure-AsyncOperation"))
	if st["status"] != "Failed" || testserver.Field(st, "error.code") != "UserErrorMissingRequiredPermissions" {
		t.Fatalf("backup without roles: %v", st)
	}
	_, jl := e.Do("GET", vaultPath+"/backupJobs"+v, nil)
	failed := 0
	for _, x := range jl["value"].([]any) {
		j := x.(map[string]any)
		if testserver.Field(j, "properties.status") == "Failed" {
			failed++
			ed, _ := testserver.Field(j, "properties.errorDetails").([]any)
			if len(ed) != 1 || testserver.Field(ed[0].(map[string]any), "code") != "UserErrorMissingRequiredPermissions" || testserver.Field(j, "properties.endTime") == nil {
				t.Fatalf("failed job: %v", j)
			}
		}
	}
	if failed != 1 {
		t.Fatalf("%d failed jobs, want 1: %v", failed, jl)
	}

	// Instances protecting a datasource, deleted instances, the operation catalogue.
	resp, m = e.Do("GET", diskID+"/providers/Microsoft.DataProtection/backupInstances"+v, nil)
	if resp.StatusCode != 200 || len(m["value"].([]any)) != 1 {
		t.Fatalf("extension routing: %d %v", resp.StatusCode, m)
	}
	if resp, m = e.Do("GET", vaultPath+"/deletedBackupInstances"+v, nil); resp.StatusCode != 200 || len(m["value"].([]any)) != 0 {
		t.Fatalf("deleted instances: %d %v", resp.StatusCode, m)
	}
	if resp, m = e.Do("GET", "/providers/Microsoft.DataProtection/operations"+v, nil); resp.StatusCode != 200 || len(m["value"].([]any)) == 0 {
		t.Fatalf("operations: %d %v", resp.StatusCode, m)
	}
	// Azure's published entries first, as published; then the actions the
	// routes check that it does not name (role definitions are built from it).
	names := map[string]bool{}
	for _, o := range m["value"].([]any) {
		names[testserver.Field(o.(map[string]any), "name").(string)] = true
	}
	if first := m["value"].([]any)[0].(map[string]any); testserver.Field(first, "name") != "Microsoft.DataProtection/locations/getBackupStatus/action" || testserver.Field(first, "display.provider") != "Microsoft.DataProtection" {
		t.Fatalf("first catalog entry %v", first)
	}
	for _, a := range []string{"Microsoft.DataProtection/backupVaults/write", "Microsoft.DataProtection/backupVaults/exportBackupJobs/action", "Microsoft.DataProtection/backupVaults/deletedBackupInstances/undelete/action"} {
		if !names[a] {
			t.Fatalf("operations catalog lacks %s: %v", a, names)
		}
	}
}
