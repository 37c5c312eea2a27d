package protection_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/job"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/store"
)

// TestStalledRunnerMessageFollowsTheLease: what MarkStalledRunners says of
// a running job follows its runner (its replica's presence given as
// running or not) and its task's lease: it says the job waits for the
// lease while the replica is not running and the lease stands as it was;
// it drops that once the runner renews the lease (the replica's presence
// still lapsed), without saying it again at the next look (only once the
// runner misses a renewal), once the replica runs again, and once the
// claim no longer holds the task. The message stayed until the job ended
// once written, whatever the runner did after.
func TestStalledRunnerMessageFollowsTheLease(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	st, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "s.db"), clk)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const ttl = time.Minute
	e := &protection.Engine{Store: st, Clock: clk, Runner: &job.Runner{Store: st, Clock: clk, Lease: ttl}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := st.Update(ctx, func(tx store.Tx) error {
		_, err := tx.Enqueue(ctx, store.Task{Kind: "protection.backup", Key: "k1", RunAt: t0})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	claimed, err := st.ClaimTasks(ctx, "n1/boot1", clk.Now(), ttl, 1)
	if err != nil || len(claimed) != 1 {
		t.Fatalf("claim: %v %v", claimed, err)
	}
	task := claimed[0]
	vault := "/subscriptions/s/resourceGroups/rg/providers/Microsoft.DataProtection/backupVaults/v"
	j := &protection.Job{ID: "j1", VaultID: vault, ItemID: vault + "/backupInstances/i", Operation: protection.OpBackup, Status: protection.JobInProgress,
		StartTime: t0, Runner: &protection.JobRunner{Node: "n1", Owner: "n1/boot1", Task: task.ID}}
	if err := st.Update(ctx, func(tx store.Tx) error { return protection.CreateJob(ctx, tx, j) }); err != nil {
		t.Fatal(err)
	}
	running := false
	alive := func(ctx context.Context, node string) (string, bool, error) {
		if node != "n1" {
			t.Errorf("alive asked of %q", node)
		}
		return "https://n1", running, nil
	}
	look := func(step string, wantWaiting bool) {
		t.Helper()
		if err := e.MarkStalledRunners(ctx, alive); err != nil {
			t.Fatal(err)
		}
		x, err := protection.GetJob(ctx, st, "", "j1")
		if err != nil {
			t.Fatal(err)
		}
		w := x.Details[protection.DetailWaiting]
		if got := strings.HasPrefix(w, "Waiting for the lease of replica n1 (https://n1)"); got != wantWaiting {
			t.Fatalf("%s: the job waits %q, want a wait for the runner's lease: %v", step, w, wantWaiting)
		}
	}
	look("the runner not running", true)
	look("looked at again", true)
	clk.Advance(ttl / 3)
	if err := st.ExtendLease(ctx, task.Lease(), clk.Now().Add(ttl)); err != nil {
		t.Fatal(err)
	}
	look("the runner renewed the lease, its presence still lapsed", false)
	look("looked at again before a renewal is missed", false)
	clk.Advance(ttl/2 + time.Second)
	look("the runner missed a renewal", true)
	running = true
	look("the runner running again", false)
	running = false
	look("the runner stopped again", true)
	clk.Advance(ttl)
	if again, err := st.ClaimTasks(ctx, "n2/boot1", clk.Now(), ttl, 1); err != nil || len(again) != 1 {
		t.Fatalf("the claim of another replica: %v %v", again, err)
	}
	look("another replica claimed the task", false)
}
