package protection_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/store"
)

// runningJobsEnv is a SQLite store holding n ended backup jobs of a vault,
// spread over ten items.
func runningJobsEnv(tb testing.TB, n int) (store.Store, string, func(i int) string) {
	tb.Helper()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	st, err := store.OpenSQLite(context.Background(), filepath.Join(tb.TempDir(), "s.db"), clock.NewFake(t0))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	vault := "/subscriptions/s/resourceGroups/rg/providers/Microsoft.DataProtection/backupVaults/v"
	item := func(i int) string { return fmt.Sprintf("%s/backupInstances/i%d", vault, i%10) }
	ctx := context.Background()
	for b := 0; b < n; b += 1000 {
		err := st.Update(ctx, func(tx store.Tx) error {
			for i := b; i < min(n, b+1000); i++ {
				end := t0.Add(time.Duration(i) * time.Hour)
				j := &protection.Job{ID: fmt.Sprintf("ended-%06d", i), VaultID: vault, ItemID: item(i), Operation: protection.OpBackup,
					Status: protection.JobCompleted, StartTime: end.Add(-time.Minute), EndTime: &end}
				if err := protection.CreateJob(ctx, tx, j); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
	}
	return st, vault, item
}

// TestRunningJobsFollowTheirStatus: RunningJobs answers what ListJobs
// answers for the jobs not ended, as jobs start, are cancelled and end,
// while it reads only those (see BenchmarkRunningJobs).
func TestRunningJobsFollowTheirStatus(t *testing.T) {
	st, vault, item := runningJobsEnv(t, 200)
	ctx := context.Background()
	t0 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	put := func(j *protection.Job) {
		t.Helper()
		if err := st.Update(ctx, func(tx store.Tx) error { return protection.PutJob(ctx, tx, j) }); err != nil {
			t.Fatal(err)
		}
	}
	ids := func(js []*protection.Job) []string {
		var out []string
		for _, j := range js {
			out = append(out, j.ID)
		}
		return out
	}
	check := func(when string, item string, status string, want ...string) {
		t.Helper()
		f := protection.JobFilter{ItemID: item, Operation: protection.OpBackup, Status: status}
		got, err := protection.RunningJobs(ctx, st, vault, f)
		if err != nil {
			t.Fatal(err)
		}
		all, err := protection.ListJobs(ctx, st, vault, f)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids(got), want) || !slices.Equal(ids(all), want) {
			t.Fatalf("%s: RunningJobs %v, ListJobs %v; want %v", when, ids(got), ids(all), want)
		}
	}
	check("no job running", item(1), protection.JobInProgress)

	a := &protection.Job{ID: "run-a", VaultID: vault, ItemID: item(1), Operation: protection.OpBackup, Status: protection.JobInProgress, StartTime: t0}
	b := &protection.Job{ID: "run-b", VaultID: vault, ItemID: item(1), Operation: protection.OpBackup, Status: protection.JobInProgress, StartTime: t0.Add(time.Minute), UserTriggered: true}
	r := &protection.Job{ID: "restore", VaultID: vault, ItemID: item(1), Operation: protection.OpRestore, Status: protection.JobInProgress, StartTime: t0}
	if err := st.Update(ctx, func(tx store.Tx) error { return protection.CreateJob(ctx, tx, a) }); err != nil {
		t.Fatal(err)
	}
	put(b)
	put(r)
	check("two backups running", item(1), protection.JobInProgress, "run-b", "run-a")
	check("another item's", item(2), protection.JobInProgress)

	b.Status = "Cancelling"
	put(b)
	check("one backup cancelling", item(1), protection.JobInProgress, "run-a")
	check("one backup cancelling", item(1), "Cancelling", "run-b")

	end := t0.Add(time.Hour)
	a.Status, a.EndTime = protection.JobCompleted, &end
	b.Status, b.EndTime = protection.JobCancelled, &end
	put(a)
	put(b)
	check("both ended", item(1), protection.JobInProgress)
	check("both ended", item(1), "Cancelling")
	if _, err := protection.RunningJobs(ctx, st, vault, protection.JobFilter{ItemID: item(1)}); err == nil {
		t.Fatal("RunningJobs without an operation answered")
	}
}

// BenchmarkRunningJobs: finding an item's running backup in a vault of
// 40,000 ended jobs (five months of ten disks backed up hourly), by
// RunningJobs and by ListJobs.
func BenchmarkRunningJobs(b *testing.B) {
	st, vault, item := runningJobsEnv(b, 40000)
	ctx := context.Background()
	f := protection.JobFilter{ItemID: item(1), Operation: protection.OpBackup, Status: protection.JobInProgress}
	for _, bc := range []struct {
		name string
		list func(context.Context, store.Reader, string, protection.JobFilter) ([]*protection.Job, error)
	}{{"RunningJobs", protection.RunningJobs}, {"ListJobs", protection.ListJobs}} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if js, err := bc.list(ctx, st, vault, f); err != nil || len(js) != 0 {
					b.Fatal(js, err)
				}
			}
		})
	}
}

// TestRunningJobsFoundAfterAnUpgrade: a job stored running by a version
// before RunningJobs (its store type the bare operation) is found running
// once the engine has started on the store, as a job stored now is; the
// ended jobs stay as they were.
func TestRunningJobsFoundAfterAnUpgrade(t *testing.T) {
	st, vault, item := runningJobsEnv(t, 50)
	ctx := context.Background()
	t0 := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	// As the earlier version stored a job: its type the operation alone.
	olds := []*protection.Job{
		{ID: "old-running", VaultID: vault, ItemID: item(3), Operation: protection.OpBackup, Status: protection.JobInProgress, StartTime: t0},
		{ID: "old-cancelling", VaultID: vault, ItemID: item(4), Operation: protection.OpBackup, Status: "Cancelling", StartTime: t0},
	}
	for _, j := range olds {
		d := store.Doc{Kind: "protection.job", Key: j.ID, Scope: strings.ToLower(j.VaultID) + "/", Type: j.Operation}
		if err := st.Update(ctx, func(tx store.Tx) error { return store.WriteJSON(ctx, tx.Put, d, j, "job") }); err != nil {
			t.Fatal(err)
		}
	}
	e := protection.New(&protection.Engine{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ item, status, id string }{{item(3), protection.JobInProgress, "old-running"}, {item(4), "Cancelling", "old-cancelling"}} {
		got, err := protection.RunningJobs(ctx, st, vault, protection.JobFilter{ItemID: c.item, Operation: protection.OpBackup, Status: c.status})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].ID != c.id {
			t.Fatalf("%s job of an earlier version: RunningJobs found %d, want %s", c.status, len(got), c.id)
		}
	}
	all, err := protection.ListJobs(ctx, st, vault, protection.JobFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 52 {
		t.Fatalf("after the start: %d jobs, want 52", len(all))
	}
}
