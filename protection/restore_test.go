package protection_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/protection"
)

// TestFailedRestoreKeepsADiskMadeAgain: a restore whose last step failed
// deletes the disks it made, but only those: a disk it made that the user
// deleted meanwhile and created again under the same name (another
// uniqueId) is the user's and stays. Before, the restore deleted whatever
// disk had the name.
func TestFailedRestoreKeepsADiskMadeAgain(t *testing.T) {
	b := setup(t)
	it := b.protect(t, "vm", 2, "", nil)
	bj := b.backup(t, it, protection.BackupOptions{})
	wantStatus(t, bj, protection.JobCompleted)
	jobID := b.restoreJob(t, it)
	var ids []string
	var again *compute.Disk
	stepFailed := errors.New("the VM step failed")
	j, err := b.engine.Restore(b.ctx, jobID, protection.RestoreRequest{ItemID: it.ID, PointID: bj.RecoveryPointID, Task: protection.TaskRestore,
		Targets: func(p *protection.RecoveryPoint) ([]protection.RestoreTarget, error) {
			var out []protection.RestoreTarget
			for i, s := range p.Snapshots {
				id := arm.NewID(testSub, "restored", "Microsoft.Compute", "disks", fmt.Sprintf("again-%d", i)).String()
				ids = append(ids, id)
				out = append(out, protection.RestoreTarget{Source: s, Target: protection.DiskTarget{ID: id, Location: "westus"}})
			}
			return out, nil
		},
		Then: func(ctx context.Context, p *protection.RecoveryPoint, disks []protection.RestoredDisk) (map[string]string, error) {
			// Meanwhile the user deleted the first disk and made one of
			// that name again.
			if err := b.compute.DeleteDisk(ctx, disks[0].Disk.ID); err != nil {
				return nil, err
			}
			var err error
			if again, err = b.compute.CreateDisk(ctx, compute.DiskSpec{ID: disks[0].Disk.ID, Location: "westus", CreateOption: "Empty", SizeBytes: diskSize}); err != nil {
				return nil, err
			}
			return nil, stepFailed
		}})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, j, protection.JobFailed)
	if len(ids) != 2 || again == nil {
		t.Fatalf("restored %v, made again %v", ids, again)
	}
	d, err := b.compute.Disk(b.ctx, ids[0])
	if err != nil || d.UniqueID != again.UniqueID {
		t.Fatalf("the disk made again under the restored disk's name after the failed restore: %+v, %v", d, err)
	}
	if _, err := b.compute.Disk(b.ctx, ids[1]); err == nil {
		t.Fatalf("the failed restore's other disk %s is still there", ids[1])
	}
}
