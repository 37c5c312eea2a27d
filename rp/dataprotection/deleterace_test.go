package dataprotection_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/blob/blobtest"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/server"
	"github.com/safehold/safehold/store"
)

// heldBackup starts a server with a protected disk (protectDisk) in a
// vault whose soft delete is softDelete, and an ad hoc backup of it held
// inside its capture's first pack upload (holding the item's lease):
// bresp is the backup's 202. unhold lets it go on (again: nothing; at
// cleanup too).
func heldBackup(t *testing.T, softDelete string) (e *testserver.Env, biPath, biID string, bresp *http.Response, unhold func()) {
	t.Helper()
	var hold atomic.Bool
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	e = testserver.Start(t, func(c *server.Config) {
		c.Compute.WrapBlob = func(be blob.Backend) blob.Backend {
			f := blobtest.NewFaulty(be)
			f.SetFail(func(op blobtest.Op, key string, n int) error {
				if op == blobtest.OpPut && hold.Load() {
					select {
					case entered <- struct{}{}:
					default:
					}
					<-release
				}
				return nil
			})
			return f
		}
	})
	released := false
	unhold = func() {
		if !released {
			released = true
			hold.Store(false)
			close(release)
		}
	}
	t.Cleanup(unhold)
	biPath, biID, _ = protectDisk(t, e, "P1D", "P7D", "P30D")
	vaultPath := strings.SplitN(biPath, "/backupInstances/", 2)[0]
	patchVault(t, e, vaultPath+dpAPI, `{"properties":{"securitySettings":{"softDeleteSettings":{"state":"`+softDelete+`"}}}}`)
	hold.Store(true)
	bresp, m := e.Do("POST", biPath+"/backup"+dpAPI, adhocBody)
	if bresp.StatusCode != 202 {
		t.Fatalf("backup: %d %v", bresp.StatusCode, m)
	}
	<-entered // the backup holds the item and is writing its snapshot
	return e, biPath, biID, bresp, unhold
}

// adhocBody is the body of an ad hoc backup of protectDisk's instance.
const adhocBody = `{"objectType":"AzureBackupParams","backupRuleOptions":{"ruleName":"BackupHourly","triggerOption":{"retentionTagOverride":"Default"}}}`

// dpAPI is the api-version query of these tests.
const dpAPI = "?api-version=2024-04-01"

// TestDeleteInstanceWaitsForRunningBackup deletes a backup instance while
// a backup of it is taking its snapshot (held inside the capture's first
// pack upload). The delete holds the item's lease, as the backup does: it
// ends only after the backup has recorded its point, and deletes that
// point and its snapshot with the instance, so nothing of the instance is
// left behind.
func TestDeleteInstanceWaitsForRunningBackup(t *testing.T) {
	e, biPath, biID, bresp, unhold := heldBackup(t, "Off") // deleted for good, not soft deleted
	const v = dpAPI
	vaultPath := strings.SplitN(biPath, "/backupInstances/", 2)[0]
	dresp, m := e.Do("DELETE", biPath+v, nil)
	if dresp.StatusCode != 202 {
		t.Fatalf("delete: %d %v", dresp.StatusCode, m)
	}
	// Give a delete that does not wait for the backup the time to end
	// before the backup goes on (a delete that waits never ends here).
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, st := e.Do("GET", dresp.Header.Get("Azure-AsyncOperation"), nil); st["status"] != "InProgress" {
			break
		}
	}
	// The instance is Deleting while its delete waits: an ad hoc backup of
	// it is refused (409 UserErrorBackupInstanceDeleting) and starts no job.
	if resp, m := e.Do("POST", biPath+"/backup"+v, adhocBody); resp.StatusCode != 409 || testserver.Field(m, "error.code") != "UserErrorBackupInstanceDeleting" {
		t.Errorf("backup of a Deleting instance: %d %v", resp.StatusCode, m)
	}
	// So is a change of its protection: resumeProtection would plan again
	// the backups the delete ended.
	for _, action := range []string{"stopProtection", "suspendBackups", "sync", "resumeProtection"} {
		if resp, m := e.Do("POST", biPath+"/"+action+v, `{}`); resp.StatusCode != 409 || testserver.Field(m, "error.code") != "UserErrorBackupInstanceDeleting" {
			t.Errorf("%s of a Deleting instance: %d %v", action, resp.StatusCode, m)
		}
	}
	unhold()
	if st := e.Poll(bresp.Header.Get("Azure-AsyncOperation")); st["status"] != "Succeeded" {
		t.Fatalf("backup: %v", st)
	}
	dst := e.Poll(dresp.Header.Get("Azure-AsyncOperation"))
	if dst["status"] != "Succeeded" {
		t.Fatalf("delete: %v", dst)
	}
	_, jobs := e.Do("GET", vaultPath+"/backupJobs"+v, nil)
	var job map[string]any
	backups := 0
	for _, j := range jobs["value"].([]any) {
		if testserver.Field(j.(map[string]any), "properties.operation") == "Backup" {
			job = j.(map[string]any)
			backups++
		}
	}
	if backups != 1 || testserver.Field(job, "properties.status") != "Completed" {
		t.Fatalf("backup jobs: %d, the last %v", backups, job)
	}
	jobEnd, _ := time.Parse(time.RFC3339Nano, testserver.Field(job, "properties.endTime").(string))
	deleteEnd, _ := time.Parse(time.RFC3339Nano, dst["endTime"].(string))
	if deleteEnd.Before(jobEnd) {
		t.Errorf("the delete ended at %s, before the backup it raced (ended %s)", deleteEnd, jobEnd)
	}
	pts, err := protection.ListRecoveryPoints(e.Ctx(), e.Server.Store, biID)
	if err != nil || len(pts) != 0 {
		t.Errorf("recovery points of the deleted instance: %d %v", len(pts), err)
	}
	if tk, err := e.Server.Store.GetTaskByKey(e.Ctx(), protection.TaskKey(biID)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the deleted instance's backups are still planned: %s at %s (%v)", tk.Key, tk.RunAt, err)
	}
	_, snaps := e.Do("GET", "/subscriptions/"+e.Sub+"/resourceGroups/snapshot-rg/providers/Microsoft.Compute/snapshots?api-version=2024-03-02", nil)
	if l, _ := snaps["value"].([]any); len(l) != 0 {
		t.Errorf("snapshots left by the deleted instance: %v", l)
	}
}

// TestSoftDeletedWhileBackupRuns soft deletes a backup instance while a
// backup of it is taking its snapshot: the soft delete does not wait for
// the backup, so the capture finds the instance gone. The backup job ends
// Failed with UserErrorItemNotFound, names no recovery point and leaves no
// snapshot (it ended Completed naming a point that never existed).
func TestSoftDeletedWhileBackupRuns(t *testing.T) {
	e, biPath, _, _, unhold := heldBackup(t, "On")
	vaultPath := strings.SplitN(biPath, "/backupInstances/", 2)[0]
	dresp, m := e.Do("DELETE", biPath+dpAPI, nil)
	if dresp.StatusCode != 202 {
		t.Fatalf("delete: %d %v", dresp.StatusCode, m)
	}
	if st := e.Poll(dresp.Header.Get("Azure-AsyncOperation")); st["status"] != "Succeeded" {
		t.Fatalf("soft delete: %v", st)
	}
	unhold()
	var job map[string]any
	e.WaitFor("the backup job to end", func() bool {
		_, jobs := e.Do("GET", vaultPath+"/backupJobs"+dpAPI, nil)
		for _, j := range jobs["value"].([]any) {
			if testserver.Field(j.(map[string]any), "properties.operation") == "Backup" {
				job = j.(map[string]any)
			}
		}
		return job != nil && testserver.Field(job, "properties.status") != "InProgress"
	})
	if testserver.Field(job, "properties.status") != "Failed" || testserver.Field(job, "properties.extendedInfo.targetRecoverPoint") != nil {
		t.Errorf("backup job of the deleted instance: %v", job)
	}
	if ed := fmt.Sprint(testserver.Field(job, "properties.errorDetails")); !strings.Contains(ed, "UserErrorItemNotFound") {
		t.Errorf("backup job's errorDetails: %s", ed)
	}
	_, snaps := e.Do("GET", "/subscriptions/"+e.Sub+"/resourceGroups/snapshot-rg/providers/Microsoft.Compute/snapshots"+"?api-version=2024-03-02", nil)
	if l, _ := snaps["value"].([]any); len(l) != 0 {
		t.Errorf("snapshots left by the backup of the deleted instance: %v", l)
	}
}
