package server_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

const dpv = "?api-version=2024-04-01"

// opError polls an operation and returns its status and error code.
func opError(t *testing.T, e *testserver.Env, resp interface{ Get(string) string }) (string, string, string) {
	t.Helper()
	st := pollOp(t, e, resp.Get("Azure-AsyncOperation"))
	er, _ := st["error"].(map[string]any)
	code, _ := er["code"].(string)
	msg, _ := er["message"].(string)
	return st["status"].(string), code, msg
}

func lastJob(t *testing.T, e *testserver.Env, vault, operation string) map[string]any {
	t.Helper()
	var last map[string]any
	for _, j := range jobs(t, e, vault) {
		if j["operation"] == operation && (last == nil || j["startTime"].(string) >= last["startTime"].(string)) {
			last = j
		}
	}
	if last == nil {
		t.Fatalf("no %s job", operation)
	}
	return last
}

// TestFaultBackupRestoreValidate: backup, restore and validate rules make
// those operations fail through their real paths (the job ends Failed with
// the rule's code, the long-running operation ends Failed with it), for
// the next N matches; and restoring a point a verify found damaged fails
// at once with UserErrorRecoveryPointCorrupt naming the damaged pack.
func TestFaultBackupRestoreValidate(t *testing.T) {
	e := testserver.Start(t)
	dv := fixture.ProtectDisk(t, e)
	vault := "/subscriptions/" + e.Sub + "/resourceGroups/" + dv.RG + "/providers/Microsoft.DataProtection/backupVaults/" + dv.Vault
	bi := vault + "/backupInstances/" + dv.Instance
	adhoc := func() (string, string, string) {
		resp, m := call(t, e, "POST", bi+"/backup"+dpv, `{"backupRuleOptions":{"ruleName":"BackupHourly","triggerOption":{"retentionTagOverride":"Default"}}}`)
		mustStatus(t, 202, resp, m)
		return opError(t, e, resp.Header)
	}
	addRule(t, e, map[string]any{"operation": "backup", "path": "*/backupInstances/" + dv.Instance, "code": "UserErrorInsufficientStorage", "message": "The vault is out of space.", "count": 1})
	if st, code, msg := adhoc(); st != "Failed" || code != "UserErrorInsufficientStorage" || !strings.Contains(msg, "out of space") {
		t.Fatalf("backup with a fault rule: %s %s %s", st, code, msg)
	}
	if j := lastJob(t, e, vault, "Backup"); j["status"] != "Failed" {
		t.Fatalf("backup job: %v", j)
	}
	if st, code, _ := adhoc(); st != "Succeeded" {
		t.Fatalf("backup after the rule was used up: %s %s", st, code)
	}
	if j := lastJob(t, e, vault, "Backup"); j["status"] != "Completed" {
		t.Fatalf("second backup job: %v", j)
	}

	_, pts := call(t, e, "GET", bi+"/recoveryPoints"+dpv, nil)
	rpID := pts["value"].([]any)[0].(map[string]any)["name"].(string)
	restoreBody := `{"objectType":"AzureBackupRecoveryPointBasedRestoreRequest","recoveryPointId":"` + rpID + `","sourceDataStoreType":"OperationalStore",
	  "restoreTargetInfo":{"objectType":"restoreTargetInfo","recoveryOption":"FailIfExists","restoreLocation":"westus",
	    "dataSourceInfo":{"objectType":"Datasource","datasourceType":"Microsoft.Compute/disks","resourceID":"` + dv.TargetRG + `/providers/Microsoft.Compute/disks/restored","resourceName":"restored",
	      "resourceType":"Microsoft.Compute/disks","resourceLocation":"westus","resourceUri":""}}}`
	restore := func() (string, string, string) {
		resp, m := call(t, e, "POST", bi+"/restore"+dpv, restoreBody)
		mustStatus(t, 202, resp, m)
		return opError(t, e, resp.Header)
	}
	validateRestore := func() (string, string, string) {
		resp, m := call(t, e, "POST", bi+"/validateRestore"+dpv, `{"objectType":"ValidateRestoreRequestObject","restoreRequestObject":`+restoreBody+`}`)
		mustStatus(t, 202, resp, m)
		return opError(t, e, resp.Header)
	}
	addRule(t, e, map[string]any{"operation": "validate", "code": "UserErrorMissingPermissions", "count": 1})
	if st, code, _ := validateRestore(); st != "Failed" || code != "UserErrorMissingPermissions" {
		t.Fatalf("validateRestore with a fault rule: %s %s", st, code)
	}
	if st, code, _ := validateRestore(); st != "Succeeded" {
		t.Fatalf("validateRestore after: %s %s", st, code)
	}
	addRule(t, e, map[string]any{"operation": "restore", "code": "UserErrorDiskWriteFailed", "count": 1})
	if st, code, _ := restore(); st != "Failed" || code != "UserErrorDiskWriteFailed" {
		t.Fatalf("restore with a fault rule: %s %s", st, code)
	}
	if j := lastJob(t, e, vault, "Restore"); j["status"] != "Failed" {
		t.Fatalf("restore job: %v", j)
	}

	// Damage the point's data, verify, restore: fails at once naming the pack.
	// The pack with the most data, the point's own (FlipByte damages its
	// first record).
	_, packFile := fixture.MostData(t, packFiles(filepath.Join(e.DataDir, "snapshots", "repo")), nil)
	fixture.FlipByte(t, packFile)
	resp, m := call(t, e, "POST", adminURL("/verify"), map[string]any{"readData": true})
	mustStatus(t, 202, resp, m)
	if st := pollOp(t, e, resp.Header.Get("Azure-AsyncOperation")); st["status"] != "Succeeded" || st["result"].(map[string]any)["ok"] != false {
		t.Fatalf("verify: %v", st)
	}
	st, code, msg := restore()
	if st != "Failed" || code != "UserErrorRecoveryPointCorrupt" || !strings.Contains(msg, filepath.Base(packFile)) {
		t.Fatalf("restore of a damaged point: %s %s %s", st, code, msg)
	}
	if ok, _ := e.Server.Compute.Disk(e.Ctx(), dv.TargetRG+"/providers/Microsoft.Compute/disks/restored"); ok != nil {
		t.Fatalf("a disk was written for a damaged point")
	}
}
