package dataprotection_test

import (
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/blob/blobtest"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/server"
)

// diskFull is an operational-tier backend whose puts fail with ENOSPC
// while full is set (a file system that ran out of space).
func diskFull(t *testing.T, full *atomic.Bool) testserver.Option {
	return func(c *server.Config) {
		c.Compute.WrapBlob = func(be blob.Backend) blob.Backend {
			f := blobtest.NewFaulty(be)
			f.SetFail(func(op blobtest.Op, key string, n int) error {
				if op == blobtest.OpPut && full.Load() {
					return &os.PathError{Op: "write", Path: key, Err: syscall.ENOSPC}
				}
				return nil
			})
			return f
		}
	}
}

// adhoc takes an ad hoc backup and returns its final operation status and
// its job.
func adhoc(t *testing.T, e *testserver.Env, biPath string) (status, job map[string]any) {
	t.Helper()
	resp, m := e.Do("POST", biPath+"/backup?api-version=2024-04-01", `{"objectType":"AzureBackupParams","backupRuleOptions":{"ruleName":"BackupHourly","triggerOption":{"retentionTagOverride":"Default"}}}`)
	if resp.StatusCode != 202 {
		t.Fatalf("backup: %d %v", resp.StatusCode, m)
	}
	start := time.Now()
	status = e.Poll(resp.Header.Get("Azure-AsyncOperation"))
	if d := time.Since(start); d > time.Minute {
		t.Errorf("the backup took %s to end", d)
	}
	vaultPath := strings.SplitN(biPath, "/backupInstances/", 2)[0]
	_, jobs := e.Do("GET", vaultPath+"/backupJobs?api-version=2024-04-01", nil)
	for _, v := range jobs["value"].([]any) {
		j := v.(map[string]any)
		if testserver.Field(j, "properties.operationCategory") == "Backup" && (job == nil || testserver.Field(j, "properties.startTime").(string) > testserver.Field(job, "properties.startTime").(string)) {
			job = j
		}
	}
	return status, job
}

// TestAdhocBackupOutOfSpaceEndsFailed is issue 10's disk-full backup: the
// job ends Failed with UserErrorInsufficientStorage (not InternalServerError,
// not InProgress forever), the server stays up, and the next backup once
// space is back succeeds.
func TestAdhocBackupOutOfSpaceEndsFailed(t *testing.T) {
	var full atomic.Bool
	e := testserver.Start(t, diskFull(t, &full))
	biPath, _, diskID := protectDisk(t, e, "P1D", "P7D", "P30D")
	writeDisk(t, e, diskID, 42)
	full.Store(true)
	st, job := adhoc(t, e, biPath)
	if st["status"] != "Failed" || testserver.Field(st, "error.code") != "UserErrorInsufficientStorage" {
		t.Fatalf("operation: %v", st)
	}
	if testserver.Field(job, "properties.status") != "Failed" {
		t.Fatalf("job: %v", job)
	}
	ed, _ := testserver.Field(job, "properties.errorDetails").([]any)
	if len(ed) != 1 || testserver.Field(ed[0].(map[string]any), "code") != "UserErrorInsufficientStorage" ||
		!strings.Contains(testserver.Field(ed[0].(map[string]any), "message").(string), "not enough free space") {
		t.Fatalf("job errorDetails: %v", testserver.Field(job, "properties"))
	}
	full.Store(false)
	writeDisk(t, e, diskID, 43)
	st, job = adhoc(t, e, biPath)
	if st["status"] != "Succeeded" || testserver.Field(job, "properties.status") != "Completed" {
		t.Fatalf("backup after space came back: %v %v", st, job)
	}
}

// TestRestoreOfCorruptPointEndsFailed flips a byte in every pack of the
// operational tier: a restore of the point ends Failed with
// UserErrorRecoveryPointCorrupt, and its job too.
func TestRestoreOfCorruptPointEndsFailed(t *testing.T) {
	e := testserver.Start(t)
	biPath, _, _ := protectDisk(t, e, "P1D", "P7D", "P30D")
	st, job := adhoc(t, e, biPath)
	if st["status"] != "Succeeded" {
		t.Fatalf("backup: %v", st)
	}
	pointID, _ := testserver.Field(job, "properties.extendedInfo.targetRecoverPoint.recoveryPointID").(string)
	if pointID == "" {
		t.Fatalf("no recovery point in job %v", job)
	}
	n := 0
	filepath.Walk(filepath.Join(e.DataDir, "snapshots", "repo", "pack"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			b, _ := os.ReadFile(p)
			for i := 0; i < len(b)/2; i += 4096 {
				b[i] ^= 0x5a
			}
			os.WriteFile(p, b, 0o600)
			n++
		}
		return nil
	})
	if n == 0 {
		t.Fatal("no pack to damage")
	}
	_, vault := e.Do("GET", strings.SplitN(biPath, "/backupInstances/", 2)[0]+"?api-version=2024-04-01", nil)
	e.ResourceGroups("restore-rg")
	assign(t, e, "/subscriptions/"+e.Sub+"/resourceGroups/restore-rg", roleDiskRestoreOperator, testserver.Field(vault, "identity.principalId").(string))
	target := "/subscriptions/" + e.Sub + "/resourceGroups/restore-rg/providers/Microsoft.Compute/disks/restored"
	resp, m := e.Do("POST", biPath+"/restore?api-version=2024-04-01", `{"objectType":"AzureBackupRecoveryPointBasedRestoreRequest","recoveryPointId":"`+pointID+`",
		"sourceDataStoreType":"OperationalStore","restoreTargetInfo":{"objectType":"RestoreTargetInfo","recoveryOption":"FailIfExists","restoreLocation":"westus",
		"datasourceInfo":{"objectType":"Datasource","datasourceType":"Microsoft.Compute/disks","resourceID":"`+target+`","resourceLocation":"westus"}}}`)
	if resp.StatusCode != 202 {
		t.Fatalf("restore: %d %v", resp.StatusCode, m)
	}
	st = e.Poll(resp.Header.Get("Azure-AsyncOperation"))
	if st["status"] != "Failed" || testserver.Field(st, "error.code") != "UserErrorRecoveryPointCorrupt" {
		t.Fatalf("restore of a corrupt point: %v", st)
	}
}
