package dataprotection_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/blob/blobtest"
	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/server"
	"github.com/safehold/safehold/store"
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

const (
	crashDirEnv = "SAFEHOLD_DP_CRASH_DIR"
	crashAtEnv  = "SAFEHOLD_DP_CRASH_AT"
	// crashStoreEnv is the parent's store (its PostgreSQL schema, "" for
	// the SQLite file in the data dir): the child serves the same one.
	crashStoreEnv = "SAFEHOLD_DP_CRASH_STORE"
)

func withDataDir(dir string) testserver.Option { return func(c *server.Config) { c.DataDir = dir } }

// TestKill9Child is TestScheduledBackupSurvivesKill9's child: it serves the
// data dir at the fake time it is given (so the due scheduled backup
// starts at once) until it is killed.
func TestKill9Child(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("runs only as TestScheduledBackupSurvivesKill9's child")
	}
	at, err := time.Parse(time.RFC3339, os.Getenv(crashAtEnv))
	if err != nil {
		t.Fatal(err)
	}
	testserver.Start(t, testserver.WithClock(clock.NewFake(at)), withDataDir(dir), testserver.WithStore(os.Getenv(crashStoreEnv)))
	os.Stdout.WriteString("SERVING\n")
	time.Sleep(time.Minute)
}

// TestScheduledBackupSurvivesKill9 kills the server with SIGKILL at random
// moments around a scheduled backup, restarts it, and checks that every
// occurrence ends up backed up exactly once: one recovery point, one
// completed job and one snapshot per occurrence, nothing orphaned.
func TestScheduledBackupSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns server processes")
	}
	dir := t.TempDir()
	clk := clock.NewFake(time.Date(2021, 1, 1, 7, 0, 0, 0, time.UTC))
	e := testserver.Start(t, testserver.WithClock(clk), withDataDir(dir))
	biPath, biID, diskID := protectDisk(t, e, "PT4H", "P7D", "P30D")
	vaultID := strings.SplitN(biID, "/backupInstances/", 2)[0]
	rng := rand.New(rand.NewPCG(7, 9))
	outcomes := map[string]int{}
	defer func() { t.Logf("where the kills landed: %v", outcomes) }()
	for i := 0; i < 12; i++ {
		due := time.Date(2021, 1, 1, 8, 0, 0, 0, time.UTC).Add(time.Duration(i) * 4 * time.Hour)
		// New data for this round's backup, so it has work to be killed in.
		vol, err := e.Server.Compute.Volume(e.Ctx(), diskID)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 6<<20)
		for j := range buf {
			buf[j] = byte(rng.Uint32())
		}
		if _, err := vol.WriteAt(buf, int64(i%2)<<20); err != nil {
			t.Fatal(err)
		}
		e.Stop()
		cmd, sc := testsvc.Child(t, "TestKill9Child", []string{crashDirEnv + "=" + dir, crashAtEnv + "=" + due.Format(time.RFC3339), crashStoreEnv + "=" + e.StoreURL()}, "-test.v")
		for sc.Scan() && !strings.Contains(sc.Text(), "SERVING") {
		}
		time.Sleep(time.Duration(rng.IntN(25)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		outcomes[crashOutcome(t, e, vaultID, protection.RunID(biID, due))]++

		clk.Set(due)
		e.Restart()
		runUntil(t, e, clk, biID, due)
		pts, snapIDs := listPoints(t, e, biPath)
		if len(pts) != i+1 || !pts[i].Time.Equal(due) {
			t.Fatalf("round %d: recovery points %+v", i, pts)
		}
		snaps, err := e.Server.Compute.ListSnapshots(e.Ctx(), "/subscriptions/"+e.Sub+"/resourceGroups/snapshot-rg")
		if err != nil || len(snaps) != len(snapIDs) {
			t.Fatalf("round %d: %d snapshots for %d points (%v)", i, len(snaps), len(snapIDs), err)
		}
		js, err := protection.ListJobs(e.Ctx(), e.Server.Store, vaultID, protection.JobFilter{Operation: protection.OpBackup})
		if err != nil || len(js) != i+1 {
			t.Fatalf("round %d: %d backup jobs (%v)", i, len(js), err)
		}
		for _, j := range js {
			if j.Status != protection.JobCompleted {
				t.Fatalf("round %d: job %s %s", i, j.ID, j.Status)
			}
		}
	}
}

// crashOutcome reads the killed server's store: had the run's backup job
// not started, was it in progress, or had it completed?
func crashOutcome(t *testing.T, e *testserver.Env, vaultID, jobID string) string {
	t.Helper()
	ctx := context.Background()
	var st store.Store
	var err error
	if e.StoreURL() == "" {
		st, err = store.OpenSQLite(ctx, filepath.Join(e.DataDir, "safehold.db"), clock.Real{})
	} else {
		st, err = store.OpenPostgres(ctx, e.StoreURL(), clock.Real{})
	}
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	j, err := protection.GetJob(ctx, st, vaultID, jobID)
	if err != nil {
		return "before the backup"
	}
	if j.Status == protection.JobInProgress {
		return "during the backup"
	}
	return "after the backup"
}
