package protection_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/safehold/safehold/blob/blobtest"
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
