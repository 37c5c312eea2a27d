package protection

import (
	"context"
	"errors"
	"strings"

	"github.com/safehold/safehold/job"
	"github.com/safehold/safehold/snapshot"
	"github.com/safehold/safehold/store"
)

// RestoreRequest is what one restore job does.
type RestoreRequest struct {
	ItemID, PointID string
	// VaultKey is the vault tier to read from when the operational tier
	// has no snapshot ("" : the operational tier only).
	VaultKey string
	// Task is the job task that shows the restore (TaskRestore,
	// TaskRestoreVault).
	Task string
	// Access checks the vault identity's permissions on the targets
	// (nil: nothing to check); its error fails the job.
	Access func(ctx context.Context) error
	// Targets picks the point's disks to restore and where (a disk not
	// named is not restored).
	Targets func(p *RecoveryPoint) ([]RestoreTarget, error)
	// Then completes the restore once the disks exist (e.g. creates the
	// VM) and returns details to show on the job.
	Then func(ctx context.Context, p *RecoveryPoint, disks []RestoredDisk) (map[string]string, error)
	// Rehydration brings an archived point online first (nil: a point in
	// the archive tier is refused).
	Rehydration *Rehydration
}

// RestoreTarget is one disk of a point and the disk to create from it.
type RestoreTarget struct {
	Source DiskSnapshot
	Target DiskTarget
}

// RestoredDisk is a disk a restore created.
type RestoredDisk struct {
	Source DiskSnapshot
	Disk   Disk
}

// Restore runs restore job jobID to its end: it creates the target disks
// from the point's operational tier, or from the vault tier when the
// snapshots are gone. A disk this job created before a crash (it carries
// the job id in its tags) is kept, so a resumed restore continues.
func (e *Engine) Restore(ctx context.Context, jobID string, req RestoreRequest) (*Job, error) {
	return e.run(ctx, nil, jobID, CodeRestoreFailed, func(ctx context.Context, j *Job) error {
		// A point a verify found damaged fails at once, before the
		// identity's roles are checked: no grant would restore it (one
		// whose snapshot was deleted with its resource group lost the
		// role assignments there too).
		if p, err := GetRecoveryPoint(ctx, e.Store, req.ItemID, req.PointID); err == nil {
			if err := CheckNotDamaged(p); err != nil {
				return err
			}
		}
		if req.Access != nil {
			if err := req.Access(ctx); err != nil {
				return err
			}
		}
		p, err := GetRecoveryPoint(ctx, e.Store, req.ItemID, req.PointID)
		if errors.Is(err, store.ErrNotFound) {
			return &JobError{Code: "UserErrorRecoveryPointNotFound", Message: "The recovery point " + req.PointID + " no longer exists (it expired or was deleted)."}
		}
		if err != nil {
			return err
		}
		if err := CheckNotDamaged(p); err != nil { // found by a verify: fail at once, write nothing
			return err
		}
		if err := e.rehydrateFor(ctx, j, p, req.Rehydration); err != nil { // an archived point (archive.go)
			return err
		}
		if err := e.updateJob(ctx, j.ID, func(x *Job) {
			if !hasTask(x, req.Task) {
				x.Tasks = append(x.Tasks, JobTask{Name: req.Task, Status: TaskNotStarted})
			}
			SetTask(x, req.Task, JobInProgress, e.Now())
		}); err != nil {
			return err
		}
		targets, err := req.Targets(p)
		if err != nil {
			return err
		}
		// The disks are recorded before they are made, until the job
		// completes: a restore that ends otherwise deletes them (those
		// that carry its id: a disk of the name that was there first stays).
		intents := make([]Leftover, len(targets))
		for i, t := range targets {
			intents[i] = Leftover{Kind: leftoverDisk, ID: t.Target.ID}
		}
		if err := e.intend(ctx, j.ID, intents...); err != nil {
			return err
		}
		var out []RestoredDisk
		var bytes int64
		for _, t := range targets {
			d, err := e.restoreDisk(ctx, j.ID, p, t, req.VaultKey)
			if err != nil {
				return e.discardRestored(ctx, j.ID, out, err)
			}
			out = append(out, RestoredDisk{Source: t.Source, Disk: d})
			bytes += d.BytesRestored
		}
		var details map[string]string
		if req.Then != nil {
			if details, err = req.Then(ctx, p, out); err != nil {
				return e.discardRestored(ctx, j.ID, out, err)
			}
		}
		return e.updateJob(ctx, j.ID, func(x *Job) {
			x.BytesTransferred = bytes
			for k, v := range details {
				if x.Details == nil {
					x.Details = map[string]string{}
				}
				x.Details[k] = v
			}
		})
	})
}

// discardRestored deletes the disks a restore made before it failed with
// err (a later disk, or Then: the VM step), so that a failed restore leaves
// nothing behind, and returns err; the VM it made over them (a Recovery
// Services restore's, recorded in the job: IntendVM) goes first. One the user deleted and made again
// under its name meanwhile (another uniqueId) is the user's and stays. A disk it cannot delete (a management
// lock forbids it) stays, and the job's error names it. A restore that does
// not end here keeps them: one interrupted by a shutdown, or whose task
// runs it again (a job.Retry; the metadata database out of reach, run.go),
// continues with the disks it made (restoreDisk).
func (e *Engine) discardRestored(ctx context.Context, jobID string, disks []RestoredDisk, err error) error {
	var re *job.RetryError
	if len(disks) == 0 || errors.As(err, &re) || transient(err) || (ctx.Err() != nil && !userCancelled(ctx)) {
		return err
	}
	cancelled := errors.Is(err, ErrCancelled) || userCancelled(ctx)
	ctx = context.WithoutCancel(ctx) // a cancelled restore's disks go too
	// The VM the restore made over them (IntendVM) goes first: its disks
	// cannot go while attached to it. Without the job's record (the
	// database out of reach), the job's end deletes both, in that order.
	j, gerr := GetJob(ctx, e.Store, "", jobID)
	if gerr != nil {
		return err
	}
	var kept []string
	for _, l := range j.Leftovers {
		if l.Kind != leftoverVM {
			continue
		}
		if derr := e.deleteLeftover(ctx, jobID, l); derr != nil && !errors.Is(derr, ErrNotFound) {
			kept = append(kept, l.ID+" ("+message(derr)+")")
		}
	}
	for _, d := range disks {
		if derr := e.Disks.DeleteDisk(ctx, d.Disk.ID, d.Disk.UniqueID); derr != nil && !errors.Is(derr, ErrNotFound) {
			kept = append(kept, d.Disk.ID+" ("+message(derr)+")")
		}
	}
	if len(kept) == 0 || cancelled {
		if len(kept) > 0 {
			e.Logger.Warn("a cancelled restore's disks were kept", "disks", kept)
		}
		return err
	}
	je := *JobErrorOf(err, CodeRestoreFailed)
	je.Message += " The resources this restore made were kept, as they could not be deleted: " + strings.Join(kept, "; ") + "."
	return &je
}

func (e *Engine) restoreDisk(ctx context.Context, jobID string, p *RecoveryPoint, t RestoreTarget, vaultKey string) (Disk, error) {
	if d, err := e.Disks.Disk(ctx, t.Target.ID); err == nil {
		for _, v := range d.Tags {
			if v == jobID {
				// Created by this job before a crash: what it wrote then is
				// not known, at most the disk's size.
				d.BytesRestored = d.SizeBytes
				return d, nil
			}
		}
		return Disk{}, &JobError{Code: CodeRestoreFailed, Message: "Creating disk " + t.Target.ID + " failed: the disk already exists; restore to a new disk name."}
	}
	if t.Target.SKU == "" { // the source disk's, as the point recorded it
		t.Target.SKU, t.Target.Tier = t.Source.SKU, t.Source.Tier
	}
	var d Disk
	err := ErrNotFound
	if p.HasTier(TierOperational) && !DamagedTier(p, TierOperational) {
		d, err = e.Disks.RestoreDisk(ctx, t.Source.SnapshotID, t.Target)
	}
	// From the vault tier when the snapshot is gone (expired, or deleted
	// with its resource group) or a verify found its data damaged.
	if errors.Is(err, ErrNotFound) && vaultKey != "" && p.HasTier(TierVault) {
		if DamagedTier(p, TierVault) {
			return Disk{}, damaged(p)
		}
		repo, release, rerr := e.vault(ctx, vaultKey)
		if rerr != nil {
			return Disk{}, rerr
		}
		d, err = e.Disks.RestoreDiskFrom(ctx, repo, snapshot.ID(t.Source.EngineID), t.Target)
		release()
	}
	if errors.Is(err, ErrRejected) || errors.Is(err, ErrExists) || errors.Is(err, ErrNotFound) {
		return Disk{}, &JobError{Code: CodeRestoreFailed, Message: "Creating disk " + t.Target.ID + " failed: " + message(err)}
	}
	return d, err
}

// InstantGone reports whether p holds the operational tier while one of
// its disk snapshots is gone (deleted with az snapshot delete, or with its
// AzureBackupRG_ resource group): its restores read the vault tier, and
// Recovery Services shows its InstantRP tier Deleted. A snapshot that
// cannot be read for another reason is not taken for gone.
func (e *Engine) InstantGone(ctx context.Context, p *RecoveryPoint) bool {
	if !p.HasTier(TierOperational) {
		return false
	}
	for _, s := range p.Snapshots {
		if s.SnapshotID == "" {
			continue
		}
		if _, err := e.Disks.Snapshot(ctx, s.SnapshotID); errors.Is(err, ErrNotFound) {
			return true
		}
	}
	return false
}
