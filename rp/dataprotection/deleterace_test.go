package dataprotection_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/blob/blobtest"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/server"
)

// TestDeleteInstanceWaitsForRunningBackup deletes a backup instance while
// a backup of it is taking its snapshot (held inside the capture's first
// pack upload). The delete holds the item's lease, as the backup does: it
// ends only after the backup has recorded its point, and deletes that
// point and its snapshot with the instance, so nothing of the instance is
// left behind.
func TestDeleteInstanceWaitsForRunningBackup(t *testing.T) {
	var hold atomic.Bool
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	e := testserver.Start(t, func(c *server.Config) {
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
	unhold := func() {
		if !released {
			released = true
			hold.Store(false)
			close(release)
		}
	}
	defer unhold()
	biPath, biID, _ := protectDisk(t, e, "P1D", "P7D", "P30D")
	const v = "?api-version=2024-04-01"
	vaultPath := strings.SplitN(biPath, "/backupInstances/", 2)[0]
	patchVault(t, e, vaultPath+v, `{"properties":{"securitySettings":{"softDeleteSettings":{"state":"Off"}}}}`) // deleted for good, not soft deleted
	hold.Store(true)
	bresp, m := e.Do("POST", biPath+"/backup"+v, `{"objectType":"AzureBackupParams","backupRuleOptions":{"ruleName":"BackupHourly","triggerOption":{"retentionTagOverride":"Default"}}}`)
	if bresp.StatusCode != 202 {
		t.Fatalf("backup: %d %v", bresp.StatusCode, m)
	}
	<-entered // the backup holds the item and is writing its snapshot
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
	if resp, m := e.Do("POST", biPath+"/backup"+v, `{"objectType":"AzureBackupParams","backupRuleOptions":{"ruleName":"BackupHourly","triggerOption":{"retentionTagOverride":"Default"}}}`); resp.StatusCode != 409 || testserver.Field(m, "error.code") != "UserErrorBackupInstanceDeleting" {
		t.Errorf("backup of a Deleting instance: %d %v", resp.StatusCode, m)
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
	_, snaps := e.Do("GET", "/subscriptions/"+e.Sub+"/resourceGroups/snapshot-rg/providers/Microsoft.Compute/snapshots?api-version=2024-03-02", nil)
	if l, _ := snaps["value"].([]any); len(l) != 0 {
		t.Errorf("snapshots left by the deleted instance: %v", l)
	}
}
