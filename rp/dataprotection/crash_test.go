package dataprotection_test

import (
	"bufio"
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/server"
	"github.com/safehold/safehold/store"
)

const (
	crashDirEnv = "SAFEHOLD_DP_CRASH_DIR"
	crashAtEnv  = "SAFEHOLD_DP_CRASH_AT"
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
	testserver.Start(t, testserver.WithClock(clock.NewFake(at)), withDataDir(dir))
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
		cmd := exec.Command(os.Args[0], "-test.run=^TestKill9Child$", "-test.v")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashAtEnv+"="+due.Format(time.RFC3339))
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		for sc.Scan() && !strings.Contains(sc.Text(), "SERVING") {
		}
		time.Sleep(time.Duration(rng.IntN(25)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		outcomes[crashOutcome(t, dir, vaultID, protection.RunID(biID, due))]++

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
func crashOutcome(t *testing.T, dir, vaultID, jobID string) string {
	t.Helper()
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "safehold.db"), clock.Real{})
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
