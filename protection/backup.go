package protection

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/safehold/safehold/fault"
	"github.com/safehold/safehold/job"
	"github.com/safehold/safehold/lease"
	"github.com/safehold/safehold/snapshot"
	"github.com/safehold/safehold/store"
)

// Task names of jobs (Azure's subTasks / tasksList).
const (
	TaskSnapshot     = "Take Snapshot"
	TaskTransfer     = "Transfer data to vault"
	TaskRestore      = "Trigger Restore"
	TaskRestoreVault = "Transfer data from vault"
	TaskNotStarted   = "NotStarted"
)

const (
	taskBackup    = "protection.backup"
	taskRetention = "protection.retention"
)

// ownerRecheck is how soon a backup whose disk's owner let its lease lapse
// looks again (the owner renews its leases every five seconds).
const ownerRecheck = 2 * time.Second

// BackupOptions shape one backup.
type BackupOptions struct {
	// At is the point's time (the schedule occurrence it stands for);
	// zero: the time of the capture.
	At time.Time `json:"at,omitzero"`
	// Tag overrides the policy's retention tag; Expiry its expiry.
	Tag    string     `json:"tag,omitempty"`
	Expiry *time.Time `json:"expiry,omitempty"`
	// NewJob is created when the job does not exist yet (its ID is the
	// job id; a scheduled run's job id is derived from the occurrence).
	NewJob *Job `json:"-"`
}

type backupPayload struct {
	Face  string         `json:"face"`
	JobID string         `json:"jobId"`
	Opts  BackupOptions  `json:"opts"`
	Extra map[string]any `json:"extra,omitempty"`
}

// EnqueueBackup creates job j (a backup of an item of face) and the
// durable task that runs it, in tx. Call Notify after the commit.
func (e *Engine) EnqueueBackup(ctx context.Context, tx store.Tx, face string, j *Job, o BackupOptions) error {
	if err := CreateJob(ctx, tx, j); err != nil {
		return err
	}
	_, err := tx.Enqueue(ctx, store.Task{Kind: taskBackup, Payload: mustJSON(backupPayload{Face: face, JobID: j.ID, Opts: o})})
	return err
}

// Notify wakes the job runner after work was enqueued.
func (e *Engine) Notify() {
	if e.Runner != nil {
		e.Runner.Notify()
	}
}

func (e *Engine) runBackupTask(ctx context.Context, _ store.Task, p backupPayload) error {
	_, err := e.Backup(ctx, p.Face, p.JobID, p.Opts)
	if errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrLeaseLost) {
		return nil // the job went with its vault
	}
	return err
}

// Backup runs backup job jobID of an item of face to its end: snapshots of
// the item's disks at one instant (the operational tier), a recovery point
// tagged and timed by the policy, a copy into the vault's repository (the
// vault tier) when the vault has one, then retention. A job already ended
// is returned as is, so a repeated call never backs up twice; a job cut
// short by a crash resumes from what it recorded.
func (e *Engine) Backup(ctx context.Context, face, jobID string, o BackupOptions) (*Job, error) {
	f, err := e.face(face)
	if err != nil {
		return nil, err
	}
	if o.NewJob != nil {
		j := *o.NewJob
		j.ID = jobID
		err := e.Store.Update(ctx, func(tx store.Tx) error {
			if _, err := GetJob(ctx, tx, "", jobID); err == nil {
				return nil
			}
			return CreateJob(ctx, tx, &j)
		})
		if err != nil {
			return nil, retryTransient(err)
		}
	}
	return e.run(ctx, f, jobID, CodeBackupFailed, func(ctx context.Context, j *Job) error {
		ctx, unlock, err := e.lockItem(ctx, j.ItemID)
		if err != nil {
			return err
		}
		defer unlock()
		if x, err := GetJob(ctx, e.Store, "", j.ID); err != nil {
			return err
		} else if x.Status != JobInProgress && x.Status != "Cancelling" {
			return nil // another run of it ended it while this one waited for the item
		}
		berr := e.backup(ctx, f, j, o)
		var re *job.RetryError
		if ctx.Err() == nil && !errors.As(berr, &re) {
			// Retention first, so that a finished job shows the item's final state.
			if _, err := e.applyRetention(ctx, face, f, j.ItemID); err != nil {
				e.Logger.Warn("apply retention", "item", j.ItemID, "err", err)
			}
		}
		return berr
	})
}

func (e *Engine) backup(ctx context.Context, f Face, j *Job, o BackupOptions) error {
	it, err := f.Item(ctx, e.Store, j.ItemID)
	if errors.Is(err, ErrNotFound) || errors.Is(err, store.ErrNotFound) {
		return &JobError{Code: CodeItemNotFound, Message: "The protected item was deleted before its backup ran."}
	}
	if err != nil {
		return err
	}
	if err := e.cancelled(ctx, j.ID); err != nil {
		return err
	}
	// A job run again after an upgrade may have recorded its point under
	// the id points had before BackupPointID: it keeps that point.
	pointID := BackupPointID(it.ID, j.ID)
	var point *RecoveryPoint
	for _, id := range []string{pointID, PointID(it.ID, j.ID)} {
		p, err := GetRecoveryPoint(ctx, e.Store, it.ID, id)
		if err == nil {
			point, pointID = p, id
			break
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	if point == nil {
		if !j.UserTriggered && !it.takesBackups() {
			// Stopped or suspended after its run planned this backup (or
			// while a crash cut it short before its point was recorded):
			// it takes no scheduled backup now. One whose point was
			// recorded before the change completes with it.
			return protectionChanged(it, changedState(it))
		}
		orphan := false
		if point, orphan, err = e.capture(ctx, f, j, it, pointID, o); err != nil {
			return err
		}
		if orphan {
			return e.itemDeleted(ctx, j.ID)
		}
	}
	if err := e.cancelled(ctx, j.ID); err != nil {
		return err // the point stays: it is complete in the operational tier
	}
	if it.VaultKey == "" || point.HasTier(TierVault) {
		return nil
	}
	if err := e.copyToVault(ctx, j, it, point); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			if _, ierr := f.Item(ctx, e.Store, it.ID); errors.Is(ierr, ErrNotFound) || errors.Is(ierr, store.ErrNotFound) {
				return e.itemDeleted(ctx, j.ID) // the point went with the item
			}
		}
		return err
	}
	return nil
}

// CodeProtectionChanged ends a backup whose item's protection changed
// while it ran (stopped; for a scheduled backup also suspended, or moved to
// another policy) before its point was recorded: it keeps no point.
const CodeProtectionChanged = "UserErrorProtectionChangedWhileRunning"

func protectionChanged(it *Item, what string) *JobError {
	return &JobError{Code: CodeProtectionChanged,
		Message:           "The protection of '" + it.Name + "' changed while its backup ran (" + what + "); the backup kept no recovery point.",
		RecommendedAction: []string{"Take an on-demand backup once the item is protected as wanted, if a recovery point is needed now."}}
}

// changedState says how an item's state keeps it from taking backups.
func changedState(cur *Item) string {
	switch cur.State {
	case ItemStopped:
		return "its protection was stopped"
	case ItemSuspended:
		return "its backups were suspended"
	case ItemSoftDeleted:
		return "it was deleted"
	}
	return "it is " + string(cur.State)
}

// changedSince is how the item's protection, read in tx, changed since
// the backup j read it as it (""; when it is gone, Recorded says so):
// an item no longer protected (stopped, deleted; a scheduled backup's
// suspended too), or a scheduled backup's item now under another policy.
func (e *Engine) changedSince(ctx context.Context, tx store.Tx, f Face, j *Job, it *Item) (string, error) {
	cur, err := f.Item(ctx, tx, it.ID)
	var je *JobError
	switch {
	case errors.Is(err, ErrNotFound) || errors.Is(err, store.ErrNotFound):
		return "", nil
	case errors.As(err, &je):
		return "its policy can no longer be read: " + je.Message, nil
	case err != nil:
		return "", err
	}
	switch {
	case cur.State == ItemStopped && it.State != ItemStopped, cur.State == ItemSoftDeleted && it.State != ItemSoftDeleted:
		return changedState(cur), nil
	case j.UserTriggered:
		return "", nil
	case !cur.takesBackups():
		return changedState(cur), nil
	}
	if was, now := policyIDOf(it), policyIDOf(cur); !strings.EqualFold(was, now) {
		return "its policy changed from '" + policyNameOf(it) + "' to '" + policyNameOf(cur) + "'", nil
	}
	return "", nil
}

func policyIDOf(it *Item) string {
	if it.Policy == nil {
		return ""
	}
	return it.Policy.ID
}

func policyNameOf(it *Item) string {
	if it.Policy == nil {
		return "none"
	}
	if it.Policy.Name != "" {
		return it.Policy.Name
	}
	return it.Policy.ID
}

// CodeItemNotFound ends a backup whose protected item was deleted before
// or while it ran.
const CodeItemNotFound = "UserErrorItemNotFound"

// itemDeleted is the end of a backup whose item was deleted while it ran
// (its point was never recorded, or went with the item): the job ends
// Failed with CodeItemNotFound and names no recovery point.
func (e *Engine) itemDeleted(ctx context.Context, jobID string) error {
	if err := e.updateJob(context.WithoutCancel(ctx), jobID, func(x *Job) { x.RecoveryPointID, x.RecoveryPointTime = "", nil }); err != nil {
		return err
	}
	return &JobError{Code: CodeItemNotFound, Message: "The protected item was deleted while its backup ran; the backup kept no recovery point.",
		RecommendedAction: []string{"Protect the datasource again to back it up."}}
}

// capture snapshots the item's disks at one instant and records the point
// in the operational tier. orphan: the item went while it worked (the
// snapshots are deleted again and the job ends without a point).
func (e *Engine) capture(ctx context.Context, f Face, j *Job, it *Item, pointID string, o BackupOptions) (*RecoveryPoint, bool, error) {
	if err := e.updateJob(ctx, j.ID, func(x *Job) {
		if !hasTask(x, TaskSnapshot) {
			x.Tasks = append([]JobTask{{Name: TaskSnapshot, Status: TaskNotStarted}}, x.Tasks...)
		}
		SetTask(x, TaskSnapshot, JobInProgress, e.Now())
	}); err != nil {
		return nil, false, err
	}
	c, err := f.Capture(ctx, it, pointID)
	if err != nil {
		return nil, false, err
	}
	// Recorded before they are made, until the point records them.
	intents := make([]Leftover, len(c.Disks))
	for i, d := range c.Disks {
		intents[i] = Leftover{Kind: leftoverSnapshot, ID: d.SnapshotID}
	}
	if err := e.intend(ctx, j.ID, intents...); err != nil {
		return nil, false, err
	}
	points, err := ListRecoveryPoints(ctx, e.Store, it.ID)
	if err != nil {
		return nil, false, err
	}
	now := e.Now()
	at := o.At
	if at.IsZero() || at.After(now) {
		at = now
	}
	earlier := make([]time.Time, 0, len(points))
	for _, p := range points {
		earlier = append(earlier, p.Time)
	}
	keep, ok := it.Policy.Keep(at, earlier, o.Tag, o.Expiry)
	if !ok {
		return nil, false, &JobError{Code: "UserErrorInvalidRetentionTag", Message: "The retention tag '" + o.Tag + "' is not in the policy."}
	}
	taken, err := e.takeSnapshots(ctx, j, c.Disks, it.VaultKey != "")
	if err != nil {
		if userCancelled(ctx) {
			e.dropSnapshots(ctx, c.Disks)
		}
		return nil, false, err
	}
	end := e.Now()
	snaps := make([]DiskSnapshot, len(taken))
	var changed int64
	for i, s := range taken {
		d := c.Disks[i]
		snaps[i] = DiskSnapshot{DiskID: d.DiskID, SnapshotID: s.ID, EngineID: string(s.EngineID), SizeBytes: s.SizeBytes, Lun: d.Lun, OSDisk: d.OSDisk,
			SKU: s.SKU, Tier: s.Tier}
		changed += s.BytesChanged
	}
	p := &RecoveryPoint{ID: pointID, VaultID: it.VaultID, ItemID: it.ID, Time: at, Type: c.Type, Tiers: []string{TierOperational},
		Snapshots: snaps, RetentionTag: keep.Tag, Expiry: keep.Expiry, JobID: j.ID, Created: end, Details: c.Info}
	if it.Policy != nil {
		p.PolicyID, p.PolicyName = it.Policy.ID, it.Policy.Name
	}
	if !keep.Operational.IsZero() {
		p.SetInstantExpiry(keep.Operational)
	}
	// The point is recorded unless the job was cancelled meanwhile (decided
	// in the transaction that would record it): a cancelled capture leaves
	// neither a point nor its snapshots.
	// Nor is it recorded when the item's protection changed meanwhile so
	// that it would not take this backup now (changed says how).
	orphan, cancelled, change := false, userCancelled(ctx), ""
	wctx := context.WithoutCancel(ctx)
	err = e.Store.Update(wctx, func(tx store.Tx) error {
		x, err := GetJob(wctx, tx, "", j.ID)
		if err != nil {
			return err
		}
		if cancelled || x.Details[DetailCancelRequested] != "" {
			cancelled = true
			return nil
		}
		if change, err = e.changedSince(wctx, tx, f, j, it); err != nil || change != "" {
			return err
		}
		SetTask(x, TaskSnapshot, JobCompleted, end)
		delete(x.Details, DetailWaiting)
		x.RecoveryPointID, x.RecoveryPointTime = pointID, &at
		if it.VaultKey == "" {
			x.BytesTransferred = changed
		}
		if err := f.Recorded(wctx, tx, it, p, x); err != nil {
			if errors.Is(err, ErrNotFound) || errors.Is(err, store.ErrNotFound) {
				orphan = true // deleted while we worked: the job names no point
				return nil
			}
			return err
		}
		if err := PutRecoveryPoint(wctx, tx, p); err != nil {
			return err
		}
		// The point holds its snapshots; one an earlier run took for a disk
		// the item no longer has stays the job's to delete.
		x.Leftovers = dropLeftovers(x.Leftovers, func(l Leftover) bool {
			return l.Kind == leftoverSnapshot && slices.ContainsFunc(snaps, func(s DiskSnapshot) bool { return strings.EqualFold(s.SnapshotID, l.ID) })
		})
		return PutJob(wctx, tx, x)
	})
	if err == nil && cancelled {
		e.dropSnapshots(ctx, c.Disks)
		return nil, false, ErrCancelled
	}
	if err == nil && change != "" {
		e.dropSnapshots(ctx, c.Disks)
		return nil, false, protectionChanged(it, change)
	}
	if err != nil {
		return nil, false, err
	}
	if orphan {
		for _, s := range snaps {
			if err := e.Disks.DeleteSnapshot(ctx, s.SnapshotID); err != nil && !errors.Is(err, ErrNotFound) {
				return nil, true, err
			}
		}
	}
	return p, orphan, nil
}

// takeSnapshots takes the snapshots of one capture. Snapshots a crash left
// are reused when all of them exist; otherwise they are dropped and all are
// taken again, so the point stays one instant.
func (e *Engine) takeSnapshots(ctx context.Context, j *Job, specs []SnapshotSpec, vaulted bool) ([]Snapshot, error) {
	found := make([]Snapshot, 0, len(specs))
	for _, s := range specs {
		sn, err := e.Disks.Snapshot(ctx, s.SnapshotID)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		found = append(found, sn)
	}
	if len(found) == len(specs) {
		return found, nil
	}
	for _, s := range found {
		if err := e.Disks.DeleteSnapshot(ctx, s.ID); err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
	}
	// The capture is the job's whole progress, or its first half when a
	// vault transfer follows (the bytes transferred are then the
	// transfer's). Its bytes transferred are the bytes found changed so
	// far, what the job shows at its end (the disks' changed bytes), not
	// the scan's position over the whole disk.
	ph := phase{task: TaskSnapshot, to: 100, bytes: true}
	if vaulted {
		ph.to, ph.bytes = transferFrom, false
	}
	write := e.progressWriter(ctx, j.ID, ph)
	taken, err := e.Disks.SnapshotDisks(ctx, specs, func(done, total, changed int64) { write(done, total, changed) })
	var ee *lease.ElsewhereError
	if errors.As(err, &ee) {
		if ee.Alive {
			// Another replica owns the disks' live data: the task runs
			// again there at once (pinned to it for a few of its lease
			// terms; if it dies meanwhile, a replica here finds it gone).
			// The job says so until it runs there: a stopped owner keeps
			// it waiting for those terms.
			e.waiting(ctx, j.ID, handedToOwner(ee, time.Now().Add(3*e.itemLease())))
			return nil, job.RunOn(err, store.OwnerNode(ee.Holder), 3*e.itemLease())
		}
		// Since when the owner could have renewed its lease: its end,
		// or, when this replica could not reach the database after that
		// (nor, then, could the owner), when it found it back: a
		// database out of reach for longer than three terms left every
		// lease lapsed for longer than that when it came back, and the
		// first backup run then failed for good, the owner running and
		// about to renew its lease (hostile29).
		since := ee.Until
		if e.Leader != nil {
			if back := e.Leader.OutageEnd(); back.After(since) {
				since = back
			}
		}
		if ee.Holder != "" && time.Since(since) < 3*e.itemLease() {
			// The owner's lease lapsed only just: the owner may be
			// running still and about to renew it (it could not while
			// the database was out of reach, or while it was paused).
			// Wait for it as for an owner that just died, three terms,
			// the job saying so meanwhile.
			e.waiting(ctx, j.ID, waitingForOwner(ee, since.Add(3*e.itemLease())))
			return nil, job.Backoff(err, ownerRecheck)
		}
		return nil, &JobError{Code: "UserErrorDiskOwnerUnavailable", Message: ee.Error(),
			RecommendedAction: []string{"Start the Safehold replica that holds the disk's data again, or restore the disk from a recovery point."}}
	}
	if errors.Is(err, ErrExists) {
		// The disk's state refuses a snapshot (awaiting or in an upload,
		// written through a Write grant: SAS or NBD): retrying as it is
		// fails the same way (hostile29: the job said to retry and look
		// in the log).
		return nil, &JobError{Code: "UserErrorDiskSnapshotFailed", Message: "Taking the snapshot of disk " + specs[0].DiskID + " failed: " + message(err),
			RecommendedAction: []string{"End the disk's access (endGetAccess: az disk revoke-access) once its writes are done, then back it up again."}}
	}
	if errors.Is(err, ErrRejected) || errors.Is(err, ErrNotFound) {
		return nil, &JobError{Code: "UserErrorDiskSnapshotFailed", Message: "Taking the snapshot of disk " + specs[0].DiskID + " failed: " + message(err)}
	}
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", specs[0].DiskID, err)
	}
	return taken, nil
}

// dropSnapshots deletes the snapshots a cancelled capture took (those of
// specs that exist), whatever state ctx is in.
func (e *Engine) dropSnapshots(ctx context.Context, specs []SnapshotSpec) {
	ctx = context.WithoutCancel(ctx)
	for _, s := range specs {
		if err := e.Disks.DeleteSnapshot(ctx, s.SnapshotID); err != nil && !errors.Is(err, ErrNotFound) {
			e.Logger.Warn("delete the snapshot of a cancelled backup", "snapshot", s.SnapshotID, "err", err)
		}
	}
}

// copyToVault copies a point's snapshots into the vault's repository.
func (e *Engine) copyToVault(ctx context.Context, j *Job, it *Item, point *RecoveryPoint) error {
	if err := e.updateJob(ctx, j.ID, func(x *Job) {
		if !hasTask(x, TaskTransfer) {
			x.Tasks = append(x.Tasks, JobTask{Name: TaskTransfer, Status: TaskNotStarted})
		}
		SetTask(x, TaskTransfer, JobInProgress, e.Now())
		x.Progress = max(x.Progress, transferFrom)
	}); err != nil {
		return err
	}
	repo, release, err := e.vault(ctx, it.VaultKey)
	if err != nil {
		return err
	}
	defer release()
	var held *lease.Held
	if g := e.gate(it.VaultKey); g != nil {
		if held, err = g.Write(ctx); err != nil {
			return err
		}
		defer held.Release(ctx)
		// The vault's index must not predate a collection another replica
		// ran: it could deduplicate against a chunk that one deleted.
		if err := repo.Collected(ctx, held.Collections); err != nil {
			return err
		}
	}
	// The copies are recorded before they are made, until the point
	// records its vault tier: a job that ends without it deletes them.
	intents := make([]Leftover, len(point.Snapshots))
	for i, s := range point.Snapshots {
		intents[i] = Leftover{Kind: leftoverVaultCopy, ID: s.EngineID, Vault: it.VaultKey}
	}
	if err := e.intend(ctx, j.ID, intents...); err != nil {
		return err
	}
	// The transfer's progress by bytes: how far into the point's disks
	// the copy got (the job's second half), and the bytes it moved.
	var moved, before, total int64
	for _, s := range point.Snapshots {
		total += s.SizeBytes
	}
	write := e.progressWriter(ctx, j.ID, phase{task: TaskTransfer, from: transferFrom, to: 100, bytes: true})
	for i, s := range point.Snapshots {
		if i > 0 && e.Faults != nil {
			// A transfer fault rule (the admin API's) holds or fails the
			// transfer between two disks.
			if err := e.Faults.Apply(ctx, fault.OpTransfer, "", it.ID); err != nil {
				return transferFault(err)
			}
		}
		st, err := e.Disks.Repository().CopyToProgress(ctx, snapshot.ID(s.EngineID), repo, func(done, _ int64, st snapshot.Stats) {
			write(before+done, total, moved+st.BytesNew)
		})
		if err != nil {
			return fmt.Errorf("copy %s to the vault: %w", s.SnapshotID, err)
		}
		moved += st.BytesNew
		before += s.SizeBytes
	}
	if held != nil && !held.Valid() {
		return fmt.Errorf("transfer outlived its entry in the vault's GC gate: %w", lease.ErrLost)
	}
	return e.Store.Update(ctx, func(tx store.Tx) error {
		cur, err := GetRecoveryPoint(ctx, tx, it.ID, point.ID)
		if err != nil {
			return err
		}
		if !cur.HasTier(TierVault) {
			cur.Tiers = append(cur.Tiers, TierVault)
		}
		if err := PutRecoveryPoint(ctx, tx, cur); err != nil {
			return err
		}
		x, err := GetJob(ctx, tx, "", j.ID)
		if err != nil {
			return err
		}
		SetTask(x, TaskTransfer, JobCompleted, e.Now())
		// The bytes this transfer moved to the vault; a run resumed after a
		// crash finds what the first one moved there already (deduplicated,
		// not moved again), so it keeps the larger figure.
		x.BytesTransferred = max(x.BytesTransferred, moved)
		x.Leftovers = dropLeftovers(x.Leftovers, func(l Leftover) bool { return l.Kind == leftoverVaultCopy }) // the point holds them
		return PutJob(ctx, tx, x)
	})
}

// transferFrom is where a backup's progress stands when its vault
// transfer starts: the capture before it is the first half.
const transferFrom = 50

// phase is a part of a job's work: its task, the span of the job's
// progress it covers (percent), and whether it reports the job's bytes
// transferred.
type phase struct {
	task     string
	from, to float64
	bytes    bool
}

// progressWriter records a running job's progress in the store at every
// tenth of a phase's work (not on every callback): the job's progress
// within the phase's span, never moving back (a run resumed after a crash
// starts its phase again), the task's own progress, and (ph.bytes) the
// bytes transferred.
func (e *Engine) progressWriter(ctx context.Context, jobID string, ph phase) func(done, total, bytes int64) {
	tenth := tenths(-1)
	return func(done, total, bytes int64) {
		if !tenth.next(done, total) {
			return
		}
		frac := float64(done) / float64(total)
		e.updateJob(ctx, jobID, func(x *Job) { // best effort: the final state follows
			delete(x.Details, DetailWaiting) // it moves: it waits no more
			x.Progress = max(x.Progress, math.Floor(ph.from+(ph.to-ph.from)*frac))
			setTaskProgress(x, ph.task, math.Floor(frac*100))
			if ph.bytes {
				x.BytesTransferred = max(x.BytesTransferred, bytes) // a resumed run starts again
			}
		})
	}
}

// waitingForOwner says what a backup waits for while the replica holding
// its disk's data (ee) is not running, and until when (real time).
func waitingForOwner(ee *lease.ElsewhereError, until time.Time) string {
	where, what := ownerNames(ee)
	return fmt.Sprintf("Waiting for %s, which holds the data of %s and is not running (its ownership lease expired at %s): the backup goes on once that replica runs again, or fails at %s.",
		where, what, ee.Until.UTC().Format(time.RFC3339), until.UTC().Format(time.RFC3339))
}

// handedToOwner says what a backup waits for once handed to the replica
// holding its disk's data (ee, alive as its lease says), pinned there
// until pin (real time).
func handedToOwner(ee *lease.ElsewhereError, pin time.Time) string {
	where, what := ownerNames(ee)
	return fmt.Sprintf("Waiting for %s, which holds the data of %s, to run the backup; should that replica have stopped (its ownership lease runs until %s), another takes the backup on at %s.",
		where, what, ee.Until.UTC().Format(time.RFC3339), pin.UTC().Format(time.RFC3339))
}

// ownerNames names the replica holding a disk's data and the disk, for
// messages.
func ownerNames(ee *lease.ElsewhereError) (where, what string) {
	what = "its disk"
	if ee.What != "" {
		what = strings.ToLower(ee.What[:1]) + ee.What[1:]
	}
	where = "replica " + ee.Holder
	if ee.URL != "" {
		where += " (" + ee.URL + ")"
	}
	return where, what
}

// waiting records what job jobID waits for (DetailWaiting), when that
// changed; best effort (the job's end says what happened).
func (e *Engine) waiting(ctx context.Context, jobID, msg string) {
	if j, err := GetJob(ctx, e.Store, "", jobID); err != nil || j.Details[DetailWaiting] == msg {
		return
	}
	e.updateJob(ctx, jobID, func(x *Job) {
		if x.Details == nil {
			x.Details = map[string]string{}
		}
		x.Details[DetailWaiting] = msg
	})
}

// transferFault is the end of a transfer a fault rule failed: the job
// fails with the rule's code.
func transferFault(err error) error {
	var fe *fault.Error
	if errors.As(err, &fe) {
		return &JobError{Code: fe.Code, Message: fe.Message}
	}
	return err
}

// everyTenth returns a progress callback that calls record (with the work
// done and its percentage) once per tenth of the work, not on every call,
// and not at the end (the final state follows).
func everyTenth(record func(done int64, pct float64)) func(done, total int64) {
	tenth := tenths(-1)
	return func(done, total int64) {
		if tenth.next(done, total) {
			record(done, float64(done*100/total))
		}
	}
}

// tenths is the last tenth of the work a progress callback passed on (-1:
// none yet).
type tenths int

// next reports whether done of total starts a new tenth, short of the end,
// and takes it.
func (t *tenths) next(done, total int64) bool {
	if total <= 0 {
		return false
	}
	step := tenths(done * 10 / total)
	if step == *t || step >= 10 {
		return false
	}
	*t = step
	return true
}

func hasTask(j *Job, name string) bool {
	for _, t := range j.Tasks {
		if t.Name == name {
			return true
		}
	}
	return false
}
