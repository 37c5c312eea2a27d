package dataprotection_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/safehold/safehold/internal/testserver"
)

// TestSeedDiskBackupRawHTTP follows the seed document (Back up Azure Disks
// using the Data Protection REST API, api-version 2021-01-01) step by step
// in raw HTTP, with its URL spellings, body casing and both error examples.
func TestSeedDiskBackupRawHTTP(t *testing.T) {
	e := testserver.Start(t)
	sub := e.Sub
	e.ResourceGroups("TestBkpVaultRG", "RG-DiskBackup", "snapshot-rg")
	diskID := "/subscriptions/" + sub + "/resourceGroups/RG-DiskBackup/providers/Microsoft.Compute/disks/msdiskbackup"
	newDisk(t, e, diskID, 8<<20, 1)
	vaultPath := "/subscriptions/" + sub + "/resourceGroups/TestBkpVaultRG/providers/Microsoft.DataProtection/backupVaults/testBkpVault"
	const v = "?api-version=2021-01-01"

	// Prerequisites: the vault (with a system-assigned identity) and the disk policy.
	resp, vault := e.Do("PUT", vaultPath+v, `{"location":"westUS","tags":{"key1":"val1"},"identity":{"type":"systemAssigned"},
		"properties":{"storageSettings":[{"datastoreType":"VaultStore","type":"LocallyRedundant"}]}}`)
	if resp.StatusCode != 201 {
		t.Fatalf("create vault: %d %v", resp.StatusCode, vault)
	}
	principal, _ := testserver.Field(vault, "identity.principalId").(string)
	if testserver.Field(vault, "identity.type") != "SystemAssigned" || principal == "" || testserver.Field(vault, "type") != "Microsoft.DataProtection/backupVaults" {
		t.Fatalf("vault identity: %v", vault)
	}
	resp, pol := e.Do("PUT", vaultPath+"/backupPolicies/DiskBackup-Policy"+v, fmt.Sprintf(diskPolicyJSON, "PT4H", "P7D", "P30D"))
	if resp.StatusCode != 200 {
		t.Fatalf("create policy: %d %v", resp.StatusCode, pol)
	}

	biBody := `{
  "backupInstance": {
    "dataSourceInfo": {
      "datasourceType": "Microsoft.Compute/disks",
      "objectType": "Datasource",
      "resourceID": "` + diskID + `",
      "resourceLocation": "westUS",
      "resourceName": "msdiskbackup",
      "resourceType": "Microsoft.Compute/disks",
      "resourceUri": ""
    },
    "policyInfo": {
      "policyId": "` + vaultPath + `/backupPolicies/DiskBackup-Policy",
      "policyParameters": {
        "dataStoreParametersList": [
          {
            "dataStoreType": "OperationalStore",
            "objectType": "AzureOperationalStoreParameters",
            "resourceGroupId": "/subscriptions/` + sub + `/resourcegroups/snapshot-rg"
          }
        ]
      }
    },
    "objectType": "BackupInstance"
  }
}`
	// The seed's POST URL uses "Subscriptions" with a capital S.
	validateURL := "/Subscriptions/" + sub + "/resourceGroups/TestBkpVaultRG/providers/Microsoft.DataProtection/backupVaults/testBkpVault/validateForBackup" + v
	var lastCorrelation string
	validate := func() (string, string) {
		t.Helper()
		resp, m := e.Do("POST", validateURL, biBody)
		lastCorrelation = resp.Header.Get("x-ms-correlation-request-id")
		if resp.StatusCode != 202 || len(m) != 0 {
			t.Fatalf("validateForBackup: %d %v", resp.StatusCode, m)
		}
		az, loc := resp.Header.Get("Azure-AsyncOperation"), resp.Header.Get("Location")
		if !strings.Contains(az, "/providers/Microsoft.DataProtection/locations/westus/operationStatus/") || !strings.Contains(az, "api-version=2021-01-01") ||
			!strings.Contains(loc, "/providers/Microsoft.DataProtection/locations/westus/operationResults/") || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("validateForBackup headers: %v", resp.Header)
		}
		return az, loc
	}

	// Without the roles the tracked operation fails with the seed's error.
	az, _ := validate()
	st := e.Poll(az)
	if st["status"] != "Failed" || testserver.Field(st, "error.code") != "UserErrorMissingRequiredPermissions" ||
		testserver.Field(st, "error.message") != "Appropriate permissions to perform the operation is missing." {
		t.Fatalf("validate without permissions: %v", st)
	}
	ai, _ := testserver.Field(st, "error.additionalInfo").([]any)
	if len(ai) != 1 {
		t.Fatalf("additionalInfo: %v", st)
	}
	info := ai[0].(map[string]any)
	detail, _ := testserver.Field(info, "info.innerError.additionalInfo.DetailedNonLocalisedMessage").(string)
	if info["type"] != "UserFacingError" || testserver.Field(info, "info.code") != "UserErrorMissingRequiredPermissions" ||
		!strings.Contains(detail, "'Microsoft.Compute/disks/read' over scope '"+diskID+"'") || !strings.Contains(detail, principal) {
		t.Fatalf("missing-permission details: %v", info)
	}
	// As in the seed, the ActivityId is the correlation id of the request that started the validation.
	if lastCorrelation == "" || testserver.Field(info, "info.properties.ActivityId") != lastCorrelation {
		t.Fatalf("ActivityId %v, want the request's correlation id %q", testserver.Field(info, "info.properties.ActivityId"), lastCorrelation)
	}
	if st["id"] == nil || st["name"] == nil || st["startTime"] == nil || st["endTime"] == nil {
		t.Fatalf("status shape: %v", st)
	}

	// Disk Backup Reader alone is not enough: the snapshot RG is named next.
	diskRole := assign(t, e, diskID, roleDiskBackupReader, principal)
	az, _ = validate()
	st = e.Poll(az)
	detail, _ = testserver.Field(st["error"].(map[string]any)["additionalInfo"].([]any)[0].(map[string]any), "info.innerError.additionalInfo.DetailedNonLocalisedMessage").(string)
	if st["status"] != "Failed" || !strings.Contains(detail, "'Microsoft.Compute/snapshots/write' over scope '/subscriptions/"+sub+"/resourceGroups/snapshot-rg'") {
		t.Fatalf("validate with disk role only: %v", st)
	}

	// With both roles validation succeeds; the Location result is OperationJobExtendedInfo.
	assign(t, e, "/subscriptions/"+sub+"/resourceGroups/snapshot-rg", roleDiskSnapshotContributor, principal)
	az, loc := validate()
	st = e.Poll(az)
	if st["status"] != "Succeeded" || st["error"] != nil {
		t.Fatalf("validate with permissions: %v", st)
	}
	resp, res := e.Do("GET", loc, nil)
	if resp.StatusCode != 200 || res["objectType"] != "OperationJobExtendedInfo" {
		t.Fatalf("validate result: %d %v", resp.StatusCode, res)
	}

	// Configure backup: PUT the backup instance (the seed's body, with name and type).
	biName := "msdiskbackup-2dc6eb5b-d008-4d68-9e49-7132d99da0ed"
	biPath := vaultPath + "/backupInstances/" + biName
	putBody := `{"name":"` + biName + `","type":"Microsoft.DataProtection/backupvaults/backupInstances","properties":` +
		strings.TrimSuffix(strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(biBody), `{
  "backupInstance":`)), "}") + `}`
	// The seed's generic PUT URL omits "backupVaults/"; accept it as the real path.
	typoPath := "/subscriptions/" + sub + "/resourceGroups/TestBkpVaultRG/providers/Microsoft.DataProtection/testBkpVault/backupInstances/" + biName
	resp, bi := e.Do("PUT", typoPath+v, putBody)
	if resp.StatusCode != 201 {
		t.Fatalf("create backup instance: %d %v", resp.StatusCode, bi)
	}
	if testserver.Field(bi, "properties.provisioningState") != "Provisioning" || testserver.Field(bi, "properties.currentProtectionState") != "ConfiguringProtection" ||
		testserver.Field(bi, "properties.protectionStatus.status") != "ConfiguringProtection" || testserver.Field(bi, "properties.friendlyName") != "msdiskbackup" ||
		testserver.Field(bi, "type") != "Microsoft.DataProtection/backupVaults/backupInstances" || testserver.Field(bi, "name") != biName ||
		testserver.Field(bi, "properties.dataSourceInfo.resourceID") != diskID {
		t.Fatalf("backup instance 201 body: %v", bi)
	}
	if resp.Header.Get("Azure-AsyncOperation") == "" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("backup instance headers: %v", resp.Header)
	}
	st = e.Poll(resp.Header.Get("Azure-AsyncOperation"))
	if st["status"] != "Succeeded" {
		t.Fatalf("configure protection: %v", st)
	}
	_, bi = e.Do("GET", biPath+v, nil)
	if testserver.Field(bi, "properties.provisioningState") != "Succeeded" || testserver.Field(bi, "properties.currentProtectionState") != "ProtectionConfigured" ||
		testserver.Field(bi, "properties.protectionStatus.status") != "ProtectionConfigured" {
		t.Fatalf("configured instance: %v", bi)
	}

	// Validating again: the seed's 400 UserErrorDppDatasourceAlreadyProtected.
	resp, m := e.Do("POST", validateURL, biBody)
	if resp.StatusCode != 400 || testserver.Field(m, "error.code") != "UserErrorDppDatasourceAlreadyProtected" {
		t.Fatalf("already protected: %d %v", resp.StatusCode, m)
	}
	wantMsg := "Datasource is already protected under the Backup vault " + vaultPath + "."
	ai, _ = testserver.Field(m, "error.additionalInfo").([]any)
	if testserver.Field(m, "error.message") != wantMsg || len(ai) != 1 {
		t.Fatalf("already protected body: %v", m)
	}
	info = ai[0].(map[string]any)
	ra, _ := testserver.Field(info, "info.recommendedAction").([]any)
	if info["type"] != "UserFacingError" || testserver.Field(info, "info.code") != "UserErrorDppDatasourceAlreadyProtected" || testserver.Field(info, "info.message") != wantMsg ||
		len(ra) != 1 || ra[0] != "Delete the backup instance "+biName+" from the Backup vault "+vaultPath+" to re-protect the datasource in any other vault." ||
		testserver.Field(info, "info.isRetryable") != false || testserver.Field(info, "info.properties.ActivityId") != resp.Header.Get("x-ms-correlation-request-id") {
		t.Fatalf("already protected info: %v", info)
	}
	// ...also from another vault.
	other := "/subscriptions/" + sub + "/resourceGroups/TestBkpVaultRG/providers/Microsoft.DataProtection/backupVaults/otherVault"
	e.Do("PUT", other+v, `{"location":"westus","properties":{"storageSettings":[{"datastoreType":"VaultStore","type":"LocallyRedundant"}]}}`)
	e.Do("PUT", other+"/backupPolicies/p"+v, fmt.Sprintf(diskPolicyJSON, "PT4H", "P7D", "P30D"))
	resp, m = e.Do("POST", other+"/validateForBackup"+v, strings.ReplaceAll(biBody, vaultPath+"/backupPolicies/DiskBackup-Policy", other+"/backupPolicies/p"))
	if resp.StatusCode != 400 || testserver.Field(m, "error.code") != "UserErrorDppDatasourceAlreadyProtected" {
		t.Fatalf("already protected in another vault: %d %v", resp.StatusCode, m)
	}

	// Stop protection and delete data: 202, then Succeeded; the instance is gone.
	unassign(t, e, diskID, diskRole) // deleting needs no permission on the disk
	resp, m = e.Do("DELETE", biPath+v, nil)
	if resp.StatusCode != 202 || len(m) != 0 || resp.Header.Get("Azure-AsyncOperation") == "" || resp.Header.Get("Location") == "" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("delete backup instance: %d %v %v", resp.StatusCode, m, resp.Header)
	}
	st = e.Poll(resp.Header.Get("Azure-AsyncOperation"))
	if st["status"] != "Succeeded" {
		t.Fatalf("delete status: %v", st)
	}
	resp, _ = e.Do("GET", biPath+v, nil)
	if resp.StatusCode != 404 {
		t.Fatalf("deleted instance GET: %d", resp.StatusCode)
	}
}

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
