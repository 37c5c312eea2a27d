package dataprotection_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/store"
)

// TestFailedBackupsSnapshotGoesAfterAKill9: a scheduled backup takes its
// snapshot and fails as its point is written (PostgreSQL refuses the
// row); the job ends Failed, and the server is killed with SIGKILL while
// it deletes the snapshot (PostgreSQL holds the delete). After the
// restart the snapshot goes, and the job stays Failed, naming nothing
// kept. Before, the snapshot stayed for ever: the job had ended, and
// what it left was known only to the process that was killed.
func TestFailedBackupsSnapshotGoesAfterAKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a server process")
	}
	url := testsvc.PostgresSchema(t)
	dir := t.TempDir()
	clk := clock.NewFake(time.Date(2021, 1, 1, 7, 0, 0, 0, time.UTC))
	e := testserver.Start(t, testserver.WithClock(clk), withDataDir(dir), testserver.WithStore(url))
	_, biID, _ := protectDisk(t, e, "PT4H", "P7D", "P30D")
	vaultID := strings.SplitN(biID, "/backupInstances/", 2)[0]
	due := time.Date(2021, 1, 1, 8, 0, 0, 0, time.UTC)
	jobID := protection.RunID(biID, due)

	st, err := store.OpenPostgres(context.Background(), url, clock.Real{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pg := st.Pool()
	exec := func(qs ...string) {
		t.Helper()
		for _, q := range qs {
			if _, err := pg.Exec(context.Background(), q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	exec(`CREATE FUNCTION refuse_points() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.kind = 'protection.rp' THEN
				RAISE EXCEPTION 'the test refuses recovery points';
			END IF;
			RETURN NEW;
		END $$`,
		`CREATE TRIGGER refuse_points BEFORE INSERT ON docs FOR EACH ROW EXECUTE FUNCTION refuse_points()`,
		`CREATE FUNCTION hold_snapshot_deletes() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF OLD.key LIKE '%/providers/microsoft.compute/snapshots/%' THEN
				PERFORM pg_sleep(600);
			END IF;
			RETURN OLD;
		END $$`,
		`CREATE TRIGGER hold_snapshot_deletes BEFORE DELETE ON docs FOR EACH ROW EXECUTE FUNCTION hold_snapshot_deletes()`)
	snapshots := func() int {
		t.Helper()
		snaps, err := e.Server.Compute.ListSnapshots(e.Ctx(), "/subscriptions/"+e.Sub+"/resourceGroups/snapshot-rg")
		if err != nil {
			t.Fatal(err)
		}
		return len(snaps)
	}

	e.Stop()
	cmd, sc := testsvc.Child(t, "TestKill9Child", []string{crashDirEnv + "=" + dir, crashAtEnv + "=" + due.Format(time.RFC3339), crashStoreEnv + "=" + url}, "-test.v")
	for sc.Scan() && !strings.Contains(sc.Text(), "SERVING") {
	}
	// The job ends Failed; the child then deletes the snapshot, which
	// PostgreSQL holds.
	testsvc.WaitWithin(t, 2*time.Minute, "the backup to end Failed", func() bool {
		j, err := protection.GetJob(context.Background(), st, vaultID, jobID)
		return err == nil && j.Status == protection.JobFailed
	})
	testsvc.WaitWithin(t, time.Minute, "the snapshot's delete to be held", func() bool {
		var n int
		err := pg.QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND datname = current_database() AND query LIKE 'DELETE FROM docs%'`).Scan(&n)
		return err == nil && n > 0
	})
	cmd.Process.Kill()
	cmd.Wait()
	// The held delete's backend goes first (its transaction locks the
	// table the triggers are dropped from).
	exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND datname = current_database() AND query LIKE 'DELETE FROM docs%'`,
		`DROP TRIGGER refuse_points ON docs`, `DROP TRIGGER hold_snapshot_deletes ON docs`)

	clk.Set(due)
	e.Restart()
	if n := snapshots(); n != 1 {
		t.Fatalf("%d snapshots after the kill, want the failed backup's 1", n)
	}
	testsvc.WaitWithin(t, time.Minute, "the failed backup's snapshot to go", func() bool {
		e.Server.Jobs.Notify()
		j, err := protection.GetJob(e.Ctx(), e.Server.Store, vaultID, jobID)
		return snapshots() == 0 && err == nil && len(j.Leftovers) == 0
	})
	j, err := protection.GetJob(e.Ctx(), e.Server.Store, vaultID, jobID)
	if err != nil {
		t.Fatal(err)
	}
	if j.Status != protection.JobFailed || len(j.Leftovers) != 0 || strings.Contains(j.Error.Message, "kept") {
		t.Fatalf("the job after the restart: %s, leftovers %v, error %+v", j.Status, j.Leftovers, j.Error)
	}
}
