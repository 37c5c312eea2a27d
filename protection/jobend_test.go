package protection_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safehold/safehold/blob/blobtest"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/job"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/store"
)

// TestJobEndsWhenItsTaskWentWithItsFence: a backup runs under a task's
// lease; while it copies to the vault the task is removed (as stopping
// the item's protection removes its schedule's task during its scheduled
// backup) and, a day of the clock later, another replica's claim collects
// the removed task's fence, so the backup's last writes fail with
// store.ErrLeaseLost. The job ends all the same, once: Failed with
// UserErrorProtectionChangedWhileRunning, its point (recorded before)
// still listed. Before, the end's ErrLeaseLost, which wraps ErrNotFound,
// was taken for a job gone with its vault: Backup answered the job still
// InProgress with no error, and with no task left it stayed so for ever.
func TestJobEndsWhenItsTaskWentWithItsFence(t *testing.T) {
	b := setup(t)
	it := b.protect(t, "vm", 1, "vk", nil)
	var task, other store.Task
	if err := b.store.Update(b.ctx, func(tx store.Tx) (err error) {
		if task, err = tx.Enqueue(b.ctx, store.Task{Kind: "test.run", RunAt: b.clk.Now()}); err != nil {
			return err
		}
		other, err = tx.Enqueue(b.ctx, store.Task{Kind: "test.other", RunAt: b.clk.Now().Add(48 * time.Hour)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	claimed, err := b.store.ClaimTasks(b.ctx, "n1/boot1", b.clk.Now(), time.Minute, 1)
	if err != nil || len(claimed) != 1 || claimed[0].ID != task.ID {
		t.Fatalf("claim: %v %+v", err, claimed)
	}
	var once sync.Once
	b.faulty.SetFail(func(op blobtest.Op, key string, n int) error {
		if op != blobtest.OpPut {
			return nil
		}
		once.Do(func() {
			if err := b.store.Update(b.ctx, func(tx store.Tx) error { return tx.CompleteTask(b.ctx, task.ID) }); err != nil {
				t.Error(err)
			}
			b.clk.Advance(48 * time.Hour)
			ts, err := b.store.ClaimTasks(b.ctx, "n2/boot1", b.clk.Now(), time.Minute, 1)
			if err != nil || len(ts) != 1 || ts[0].ID != other.ID {
				t.Errorf("the other replica's claim: %v %+v", err, ts)
			}
			if err := b.store.Update(store.WithLease(b.ctx, claimed[0].Lease()), func(store.Tx) error { return nil }); !errors.Is(err, store.ErrLeaseLost) {
				t.Errorf("a write under the removed task's lease after the other claim: %v, want its fence gone", err)
			}
		})
		return nil
	})
	o := protection.BackupOptions{NewJob: &protection.Job{VaultID: it.VaultID, ItemID: it.ID, ItemName: it.Name, Operation: protection.OpBackup,
		Status: protection.JobInProgress, StartTime: b.clk.Now()}}
	j, err := b.engine.Backup(store.WithLease(b.ctx, claimed[0].Lease()), faceName, "job-1", o)
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	stored, err := protection.GetJob(b.ctx, b.store, "", "job-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range []*protection.Job{j, stored} {
		wantStatus(t, x, protection.JobFailed)
		if x.Error == nil || x.Error.Code != protection.CodeProtectionChanged {
			t.Fatalf("job error %+v, want %s", x.Error, protection.CodeProtectionChanged)
		}
	}
	if pts := b.points(t, it); len(pts) != 1 || pts[0].ID != stored.RecoveryPointID {
		t.Fatalf("points %d, want the one the job names (%s)", len(pts), stored.RecoveryPointID)
	}
	b.face.mu.Lock()
	defer b.face.mu.Unlock()
	if len(b.face.ended) != 1 || b.face.ended[0] != "job-1:"+protection.JobFailed {
		t.Fatalf("the face saw the job end %v, want once, Failed", b.face.ended)
	}
}

// TestScheduledBackupOfADeadRunEndsWhenItsItemStops: a scheduled backup's
// run dies with its job InProgress (its claim left to lapse, as a replica
// killed during it leaves it), and the item's protection is stopped (or
// suspended) before the claim lapses, which removes the run's task, or
// keeps it (a Backup vault's suspended instance still expires its points):
// the job ends once the claim's lease has ended,
// Failed with UserErrorProtectionChangedWhileRunning, with no point. It
// stayed InProgress for ever: a crashed scheduled backup is resumed only
// by the item's next run, and a stopped item has none (a suspended one's
// took no backups, so it did not either).
func TestScheduledBackupOfADeadRunEndsWhenItsItemStops(t *testing.T) {
	for _, c := range []struct {
		state protection.ItemState
		keep  bool // the face keeps the item's run (a Backup vault's suspended instance still expires its points)
	}{{protection.ItemStopped, false}, {protection.ItemSuspended, false}, {protection.ItemSuspended, true}} {
		state := c.state
		t.Run(string(state)+map[bool]string{true: "/runKept"}[c.keep], func(t *testing.T) {
			b := setup(t)
			b.engine.Close()
			b.runner = &job.Runner{Store: b.store, Clock: b.clk, NodeID: "n1", Poll: 5 * time.Millisecond}
			b.engine = b.newEngine()
			day0 := time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)
			b.clk.Set(day0)
			every4h, err := protection.ParseRepeatingInterval("R/2024-01-02T08:00:00+00:00/PT4H", nil)
			if err != nil {
				t.Fatal(err)
			}
			it := b.protect(t, "vm", 1, "", &protection.Policy{ID: "p1", Name: "p1", Schedule: every4h, AtOccurrence: true,
				Tags: &protection.Retention{Rules: []protection.TagRule{{Tag: "Default", Default: true, Priority: 99, Retain: protection.Duration{Days: 1}}}}})
			b.schedule(t, it)
			due := day0.Add(8 * time.Hour)
			b.clk.Set(due)
			// The dead replica's run: it claimed the item's run and made its job.
			ts, err := b.store.ClaimTasks(b.ctx, "dead/boot1", due, time.Minute, 10)
			if err != nil || len(ts) != 1 || ts[0].Key != protection.TaskKey(it.ID) {
				t.Fatalf("the dead replica's claim: %v %+v", err, ts)
			}
			jobID := protection.RunID(it.ID, due)
			if err := b.store.Update(b.ctx, func(tx store.Tx) error {
				return protection.CreateJob(b.ctx, tx, &protection.Job{ID: jobID, VaultID: it.VaultID, ItemID: it.ID, ItemName: it.Name,
					Operation: protection.OpBackup, Status: protection.JobInProgress, StartTime: due})
			}); err != nil {
				t.Fatal(err)
			}
			// The item's protection changes through another replica: its
			// face replans (here removes) the item's runs.
			b.face.mu.Lock()
			b.face.items[it.ID].State = state
			stopped := *b.face.items[it.ID]
			b.face.mu.Unlock()
			if !c.keep {
				if err := b.store.Update(b.ctx, func(tx store.Tx) error { return b.engine.Reschedule(b.ctx, tx, faceName, &stopped) }); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.runner.Start(b.ctx); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(b.runner.Stop)
			b.clk.Advance(2 * time.Minute) // past the dead claim's lease
			var j *protection.Job
			testsvc.WaitFor(t, "the dead run's job to end", func() bool {
				b.runner.Notify()
				j, err = protection.GetJob(b.ctx, b.store, "", jobID)
				return err == nil && j.Status != protection.JobInProgress
			})
			wantStatus(t, j, protection.JobFailed)
			if j.Error == nil || j.Error.Code != protection.CodeProtectionChanged {
				t.Fatalf("job error %+v, want %s", j.Error, protection.CodeProtectionChanged)
			}
			if pts := b.points(t, it); len(pts) != 0 {
				t.Fatalf("%d points, want none", len(pts))
			}
		})
	}
}

// TestDeadScheduledBackupWithItsPointCompletesAfterItsItemStops: a
// scheduled backup that recorded its point, then died while it copied to
// the vault tier, is resumed after its item's protection was stopped or
// suspended (by the task that ends a dead run's backup, or the item's
// next run): the point was taken while the item was protected, so the job
// completes with it, its copy to the vault tier finished, as a live backup
// changed under after its point was recorded does (README). It ended
// Failed UserErrorProtectionChangedWhileRunning, saying the backup kept no
// recovery point, with that point still listed and left out of the vault
// tier.
func TestDeadScheduledBackupWithItsPointCompletesAfterItsItemStops(t *testing.T) {
	for _, state := range []protection.ItemState{protection.ItemStopped, protection.ItemSuspended} {
		t.Run(string(state), func(t *testing.T) {
			b := setup(t)
			it := b.protect(t, "vm", 1, "vault1", nil)
			ctx, kill := context.WithCancel(b.ctx)
			b.faulty.SetFail(func(op blobtest.Op, key string, n int) error {
				if op == blobtest.OpPut && strings.HasPrefix(key, packPrefix) {
					kill() // the replica dies during the transfer
					return fmt.Errorf("put %s: %w", key, context.Canceled)
				}
				return nil
			})
			jobID := protection.RunID(it.ID, b.clk.Now())
			_, err := b.engine.Backup(ctx, faceName, jobID, protection.BackupOptions{NewJob: &protection.Job{VaultID: it.VaultID, ItemID: it.ID,
				ItemName: it.Name, Operation: protection.OpBackup, Status: protection.JobInProgress, StartTime: b.clk.Now()}})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("killed backup: %v", err)
			}
			pts := b.points(t, it)
			if len(pts) != 1 || pts[0].HasTier(protection.TierVault) {
				t.Fatalf("after the kill: %d points, want one not in the vault tier yet", len(pts))
			}
			b.engine.Close()
			b.faulty.SetFail(nil)
			b.face.mu.Lock()
			b.face.items[it.ID].State = state
			b.face.mu.Unlock()
			b.engine = b.newEngine()
			j, err := b.engine.Backup(b.ctx, faceName, jobID, protection.BackupOptions{})
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, j, protection.JobCompleted)
			pts = b.points(t, it)
			if len(pts) != 1 || pts[0].ID != j.RecoveryPointID || !pts[0].HasTier(protection.TierVault) {
				t.Fatalf("after the resume: %d points (job's %s), want its one, in the vault tier", len(pts), j.RecoveryPointID)
			}
		})
	}
}
