package recoveryservices

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/blob/local"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/fault"
	"github.com/safehold/safehold/ops"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/rp/resources"
	"github.com/safehold/safehold/snapshot"
	"github.com/safehold/safehold/store"
)

// Job detail keys (protection.Job.Details).
const (
	detailExpiry = "recoveryPointExpiryTimeInUTC"
	detailCancel = "cancelRequested"
	detailRule   = "ruleName"
	// detailWarning is shown in the job's propertyBag.
	detailWarning = "Warning"
)

// newJob builds an AzureIaaSVMJob record for an item.
func (pr *Provider) newJob(vid arm.ResourceID, it *itemRecord, operation string, now time.Time, user bool) *protection.Job {
	return &protection.Job{ID: uuid.NewString(), VaultID: vid.String(), ItemID: it.ID, ItemName: it.FriendlyName, Datasource: it.SourceID,
		DatasourceType: vmType, DatasourceLocation: it.Location, Operation: operation, Status: protection.JobInProgress, UserTriggered: user,
		StartTime: now, PolicyID: it.PolicyID, PolicyName: it.PolicyName, Details: map[string]string{}}
}

type backupTask struct {
	JobID string `json:"jobId"`
}

// triggerBackup is POST I/backup: 202 with both polling headers; the
// operation is done at once and names the backup job, which runs on.
func (pr *Provider) triggerBackup(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	_, vid, err := pr.vaultOf(r)
	if err != nil {
		return nil, err
	}
	iid, _, err := pr.itemIDOf(r, vid)
	if err != nil {
		return nil, err
	}
	var in struct {
		Properties struct {
			ObjectType                   string    `json:"objectType"`
			RecoveryPointExpiryTimeInUTC *wireTime `json:"recoveryPointExpiryTimeInUTC"`
		} `json:"properties"`
	}
	if err := r.DecodeOptional(&in); err != nil {
		return nil, err
	}
	if ot := in.Properties.ObjectType; ot != "" && !strings.EqualFold(ot, "IaasVMBackupRequest") {
		return nil, arm.BadRequest("BMSUserErrorInvalidInput", "properties.objectType '%s' is not supported for a VM: use 'IaasVMBackupRequest'.", ot)
	}
	now := pr.p.Now()
	expiry := now.AddDate(0, 0, 30)
	warning := ""
	if e := in.Properties.RecoveryPointExpiryTimeInUTC; e != nil && !e.IsZero() {
		if e.After(now) {
			expiry = e.Time
		} else {
			// The seed's own request carries an expiry that has passed
			// since; keep the point as if none was given, and say so.
			warning = fmt.Sprintf("Recovery point expiry %s was in the past; kept for 30 days", e.UTC().Format(time.RFC3339))
			pr.p.Logger.Warn("on-demand backup expiry in the past", "item", iid.String(), "expiry", e.UTC().Format(time.RFC3339), "keptUntil", expiry.UTC().Format(time.RFC3339))
		}
	}
	op := &ops.Operation{Kind: opKindBackup, ResourceID: iid.String(), Caller: r.Caller()}
	err = pr.p.Store.Update(ctx, func(tx store.Tx) error {
		it, err := pr.loadItem(ctx, tx, iid)
		if err != nil {
			return err
		}
		running, err := protection.ListJobs(ctx, tx, vid.String(), protection.JobFilter{ItemID: it.ID, Operation: protection.OpBackup, Status: protection.JobInProgress})
		if err != nil {
			return err
		}
		if len(running) > 0 {
			return arm.BadRequest("BMSUserErrorAnotherOperationInProgress", "A backup job (%s) of '%s' is already in progress: wait for it to finish, or cancel it.", running[0].ID, it.FriendlyName)
		}
		j := pr.newJob(vid, it, protection.OpBackup, now, true)
		j.Details[detailExpiry] = expiry.UTC().Format(time.RFC3339Nano)
		if warning != "" {
			j.Details[detailWarning] = warning
		}
		if err := pr.enqueueBackup(ctx, tx, j); err != nil {
			return err
		}
		op.Properties = mustJSON(map[string]any{"objectType": "OperationStatusJobExtendedInfo", "jobId": j.ID})
		op.ResultStatus = http.StatusNoContent
		return pr.p.Ops.Completed(ctx, tx, op)
	})
	if err != nil {
		return nil, err
	}
	pr.p.Jobs.Notify()
	return arm.Accepted().Async(r, iid.String()+"/operationsStatus/"+op.ID, iid.String()+"/operationResults/"+op.ID), nil
}

func (pr *Provider) enqueueBackup(ctx context.Context, tx store.Tx, j *protection.Job) error {
	j.Tasks = []protection.JobTask{{Name: "Take Snapshot", Status: "NotStarted", StartTime: j.StartTime}, {Name: "Transfer data to vault", Status: "NotStarted", StartTime: j.StartTime}}
	if err := protection.CreateJob(ctx, tx, j); err != nil {
		return err
	}
	_, err := tx.Enqueue(ctx, store.Task{Kind: taskBackup, Payload: mustJSON(backupTask{JobID: j.ID})})
	return err
}

// scheduledRun is the protection scheduler's callback for an item.
func (pr *Provider) scheduledRun(ctx context.Context, run protection.Run) (time.Time, error) {
	it, err := pr.loadItem(ctx, pr.p.Store, mustParse(run.ItemID))
	if err != nil {
		return time.Time{}, nil // the item is gone: no further runs
	}
	if !it.State.active() || it.PolicyID == "" {
		return time.Time{}, nil
	}
	var pol policyRecord
	if err := resource.Get(ctx, pr.p.Store, mustParse(it.PolicyID), &pol); err != nil {
		return time.Time{}, nil
	}
	ip := pol.iaas()
	if ip == nil || ip.validate() != nil {
		return time.Time{}, nil
	}
	vid := mustParse(it.VaultID)
	err = pr.p.Store.Update(ctx, func(tx store.Tx) error {
		if _, err := getJob(ctx, tx, "", run.ID); err == nil {
			return nil // this run's job exists already (a repeat after a crash)
		}
		running, err := protection.ListJobs(ctx, tx, vid.String(), protection.JobFilter{ItemID: it.ID, Operation: protection.OpBackup, Status: protection.JobInProgress})
		if err != nil {
			return err
		}
		if len(running) > 0 {
			return nil // the previous backup still runs: skip this occurrence
		}
		j := pr.newJob(vid, it, protection.OpBackup, run.Now, false)
		j.ID = run.ID
		return pr.enqueueBackup(ctx, tx, j)
	})
	if err != nil {
		return time.Time{}, err
	}
	pr.p.Jobs.Notify()
	return ip.nextRun(run.Now), nil
}

// reschedule plans an item's next scheduled backup per its policy (or
// removes it when backups are stopped).
func (pr *Provider) reschedule(ctx context.Context, tx store.Tx, it *itemRecord) error {
	if !it.State.active() || it.PolicyID == "" {
		return pr.sched.Unschedule(ctx, tx, it.ID)
	}
	var pol policyRecord
	if err := resource.Get(ctx, tx, mustParse(it.PolicyID), &pol); err != nil {
		return err
	}
	ip := pol.iaas()
	if ip == nil || ip.validate() != nil {
		return pr.sched.Unschedule(ctx, tx, it.ID)
	}
	next := ip.nextRun(pr.p.Now())
	if next.IsZero() {
		return pr.sched.Unschedule(ctx, tx, it.ID)
	}
	return pr.sched.Schedule(ctx, tx, it.ID, next, nil)
}

// reapplyPolicy reschedules every item of a changed policy.
func (pr *Provider) reapplyPolicy(ctx context.Context, tx store.Tx, policyID string, _ *iaasPolicy) error {
	pid := mustParse(policyID)
	items, err := resource.List[itemRecord](ctx, tx, itemType, pid.Parent().String())
	if err != nil {
		return err
	}
	for i := range items {
		if arm.EqualIDs(items[i].PolicyID, policyID) {
			if err := pr.reschedule(ctx, tx, &items[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// itemLock serializes backup, retention and delete work on one item.
func (pr *Provider) itemLock(id string) func() {
	pr.mu.Lock()
	if pr.locks == nil {
		pr.locks = map[string]*sync.Mutex{}
	}
	m := pr.locks[strings.ToLower(id)]
	if m == nil {
		m = &sync.Mutex{}
		pr.locks[strings.ToLower(id)] = m
	}
	pr.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// updateJob re-reads a job in a transaction and applies fn.
func (pr *Provider) updateJob(ctx context.Context, id string, fn func(j *protection.Job) error) (*protection.Job, error) {
	var out *protection.Job
	err := pr.p.Store.Update(ctx, func(tx store.Tx) error {
		j, err := getJob(ctx, tx, "", id)
		if err != nil {
			return err
		}
		if err := fn(j); err != nil {
			return err
		}
		out = j
		return protection.PutJob(ctx, tx, j)
	})
	return out, err
}

var errCancelled = errors.New("cancelled")

func setTask(j *protection.Job, name, status string, now time.Time) {
	for i := range j.Tasks {
		if j.Tasks[i].Name == name {
			if status == protection.JobInProgress {
				j.Tasks[i].StartTime = now
			}
			j.Tasks[i].Status = status
			if status == protection.JobCompleted || status == protection.JobFailed || status == protection.JobCancelled {
				t := now
				j.Tasks[i].EndTime = &t
			}
		}
	}
}

// runBackupTask takes one backup: snapshots of all disks at one instant
// (instant tier), then a copy into the vault's repository (vault tier).
// Re-running after a crash finds the snapshots or the point it made.
func (pr *Provider) runBackupTask(ctx context.Context, t store.Task) error {
	var bt backupTask
	if err := json.Unmarshal(t.Payload, &bt); err != nil {
		return err
	}
	j, err := getJob(ctx, pr.p.Store, "", bt.JobID)
	if err != nil {
		return nil // job gone with its vault
	}
	if j.Status != protection.JobInProgress && j.Status != "Cancelling" {
		return nil
	}
	unlock := pr.itemLock(j.ItemID)
	defer unlock()
	berr := pr.p.Inject(ctx, fault.OpBackup, j.ItemID)
	if berr == nil {
		berr = pr.backup(ctx, j)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	now := pr.p.Now()
	var je *protection.JobError
	if berr != nil && !errors.As(berr, &je) && !errors.Is(berr, errCancelled) {
		var ae *arm.Error
		if arm.As(berr, &ae) {
			berr = &protection.JobError{Code: ae.Code, Message: ae.Message}
		} else {
			berr = &protection.JobError{Code: "UserErrorBackupFailed", Message: berr.Error()}
		}
	}
	// Retention first, so that a finished job shows the item's final state.
	if err := pr.applyRetention(ctx, j.ItemID, true); err != nil {
		pr.p.Logger.Warn("apply retention", "item", j.ItemID, "err", err)
	}
	return pr.p.Store.Update(ctx, func(tx store.Tx) error {
		x, err := getJob(ctx, tx, "", j.ID)
		if err != nil {
			return err
		}
		if errors.Is(berr, errCancelled) {
			x.Finish(now, nil)
			x.Status = protection.JobCancelled
			for i := range x.Tasks {
				if x.Tasks[i].Status != protection.JobCompleted {
					x.Tasks[i].Status = protection.JobCancelled
				}
			}
		} else {
			x.Finish(now, berr)
		}
		if err := protection.PutJob(ctx, tx, x); err != nil {
			return err
		}
		it, err := pr.loadItem(ctx, tx, mustParse(j.ItemID))
		if err != nil {
			return nil
		}
		it.LastStatus = x.Status
		if x.Status == protection.JobCompleted {
			if it.State == stateIRPending {
				it.State = stateProtected
			}
		}
		if x.Status != protection.JobCancelled {
			bt := x.StartTime
			it.LastBackupTime = &bt
		}
		return resource.Put(ctx, tx, mustParse(it.ID), it)
	})
}

func (pr *Provider) backup(ctx context.Context, j *protection.Job) error {
	it, err := pr.loadItem(ctx, pr.p.Store, mustParse(j.ItemID))
	if err != nil {
		return &protection.JobError{Code: "UserErrorItemNotFound", Message: "The protected item was deleted before its backup ran."}
	}
	vault, err := pr.loadVault(ctx, pr.p.Store, mustParse(it.VaultID))
	if err != nil {
		return err
	}
	cancelled := func() error {
		cur, err := getJob(ctx, pr.p.Store, "", j.ID)
		if err == nil && cur.Details[detailCancel] != "" {
			return errCancelled
		}
		return nil
	}
	if err := cancelled(); err != nil {
		return err
	}
	pointID := protection.PointID(it.ID, j.ID)
	point, err := protection.GetRecoveryPoint(ctx, pr.p.Store, it.ID, pointID)
	if errors.Is(err, store.ErrNotFound) {
		point = nil
	} else if err != nil {
		return err
	}
	if point == nil {
		if point, err = pr.takeSnapshots(ctx, j, it, pointID); err != nil {
			return err
		}
	}
	if err := cancelled(); err != nil {
		// the point stays: it is complete in the instant tier
		return err
	}
	if !point.HasTier(protection.TierVault) {
		if _, err := pr.updateJob(ctx, j.ID, func(x *protection.Job) error {
			setTask(x, "Transfer data to vault", protection.JobInProgress, pr.p.Now())
			x.Progress = 50
			return nil
		}); err != nil {
			return err
		}
		repo, release, err := pr.vaultRepo(ctx, vault)
		if err != nil {
			return err
		}
		defer release()
		var moved int64
		for _, s := range point.Snapshots {
			st, err := pr.Compute.Repository().CopyTo(ctx, snapshot.ID(s.EngineID), repo)
			if err != nil {
				return fmt.Errorf("copy %s to the vault: %w", s.SnapshotID, err)
			}
			moved += st.BytesNew
		}
		err = pr.p.Store.Update(ctx, func(tx store.Tx) error {
			cur, err := protection.GetRecoveryPoint(ctx, tx, it.ID, pointID)
			if err != nil {
				return err
			}
			cur.Tiers = append(cur.Tiers, protection.TierVault)
			if err := protection.PutRecoveryPoint(ctx, tx, cur); err != nil {
				return err
			}
			x, err := getJob(ctx, tx, "", j.ID)
			if err != nil {
				return err
			}
			setTask(x, "Transfer data to vault", protection.JobCompleted, pr.p.Now())
			x.BytesTransferred += moved
			return protection.PutJob(ctx, tx, x)
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// takeSnapshots snapshots every disk of the VM at one instant and records
// the point in the instant tier.
func (pr *Provider) takeSnapshots(ctx context.Context, j *protection.Job, it *itemRecord, pointID string) (*protection.RecoveryPoint, error) {
	if _, err := pr.updateJob(ctx, j.ID, func(x *protection.Job) error {
		setTask(x, "Take Snapshot", protection.JobInProgress, pr.p.Now())
		return nil
	}); err != nil {
		return nil, err
	}
	vm, err := pr.lookupVM(ctx, it.SourceID)
	if err != nil {
		return nil, &protection.JobError{Code: "UserErrorVmNotFound", Message: fmt.Sprintf("The VM '%s' could not be read: %v", it.FriendlyName, err)}
	}
	rgName := "AzureBackupRG_" + normLocation(vm.Location) + "_1"
	if err := pr.ensureRG(ctx, vm.SubscriptionID, rgName, vm.Location); err != nil {
		return nil, err
	}
	disks := vm.disks()
	specs := make([]compute.SnapshotSpec, 0, len(disks))
	snaps := make([]protection.DiskSnapshot, 0, len(disks))
	for _, d := range disks {
		suffix := "os"
		if !d.OS {
			suffix = fmt.Sprintf("lun%d", d.Lun)
		}
		sid := arm.NewID(vm.SubscriptionID, rgName, "Microsoft.Compute", "snapshots", "AzureBackup_"+pointID[:20]+"_"+suffix).String()
		specs = append(specs, compute.SnapshotSpec{DiskID: d.ID, SnapshotID: sid, Incremental: true,
			Tags: map[string]string{"AzureBackupSource": it.SourceID, "AzureBackupRecoveryPoint": pointID}})
		snaps = append(snaps, protection.DiskSnapshot{DiskID: d.ID, SnapshotID: sid, Lun: d.Lun, OSDisk: d.OS})
	}
	// A crash may have left some of these snapshots: drop them and retake
	// all, so the point stays one instant.
	for _, s := range specs {
		if ok, _ := resource.Exists(ctx, pr.p.Store, s.SnapshotID); ok {
			if err := pr.Compute.DeleteSnapshot(ctx, s.SnapshotID); err != nil {
				return nil, err
			}
		}
	}
	taken, err := pr.Compute.SnapshotDisks(ctx, specs, func(done, total int64) {})
	if err != nil {
		return nil, err
	}
	var size int64
	for i, s := range taken {
		snaps[i].EngineID = string(s.EngineID)
		snaps[i].SizeBytes = s.SizeBytes
		size += s.SizeBytes
	}
	now := pr.p.Now()
	at := now // the one instant all disks were frozen at
	point := &protection.RecoveryPoint{ID: pointID, VaultID: it.VaultID, ItemID: it.ID, Time: at, Type: "CrashConsistent",
		Tiers: []string{protection.TierOperational}, Snapshots: snaps, JobID: j.ID, Created: now, PolicyID: it.PolicyID, PolicyName: it.PolicyName,
		Details: map[string]string{"vmName": vm.Name, "vmLocation": vm.Location, "vmSize": vm.Size, "osType": vm.OSType}}
	instant := at.AddDate(0, 0, 2)
	if e := j.Details[detailExpiry]; e != "" { // on demand
		t, _ := time.Parse(time.RFC3339Nano, e)
		point.Expiry = &t
		point.RetentionTag = "Default"
		if ip := pr.policyOf(ctx, it); ip != nil {
			instant = ip.instantExpiry(at)
		}
	} else if ip := pr.policyOf(ctx, it); ip != nil {
		e, rule := ip.expiry(at)
		point.Expiry = &e
		point.RetentionTag = rule
		instant = ip.instantExpiry(at)
	} else {
		e := at.AddDate(0, 0, 30)
		point.Expiry = &e
	}
	point.SetInstantExpiry(instant)
	err = pr.p.Store.Update(ctx, func(tx store.Tx) error {
		if err := protection.PutRecoveryPoint(ctx, tx, point); err != nil {
			return err
		}
		x, err := getJob(ctx, tx, "", j.ID)
		if err != nil {
			return err
		}
		setTask(x, "Take Snapshot", protection.JobCompleted, pr.p.Now())
		x.RecoveryPointID, x.RecoveryPointTime = pointID, &at
		x.Details["Backup Size"] = fmt.Sprintf("%d MB", size>>20)
		x.Details["VM Name"] = vm.Name
		if err := protection.PutJob(ctx, tx, x); err != nil {
			return err
		}
		cur, err := pr.loadItem(ctx, tx, mustParse(it.ID))
		if err != nil {
			return err
		}
		cur.LastPointTime = &at
		return resource.Put(ctx, tx, mustParse(cur.ID), cur)
	})
	if err != nil {
		return nil, err
	}
	return point, nil
}

func (pr *Provider) policyOf(ctx context.Context, it *itemRecord) *iaasPolicy {
	if it.PolicyID == "" {
		return nil
	}
	var pol policyRecord
	if err := resource.Get(ctx, pr.p.Store, mustParse(it.PolicyID), &pol); err != nil {
		return nil
	}
	ip := pol.iaas()
	if ip == nil || ip.validate() != nil {
		return nil
	}
	return ip
}

// ensureRG creates the instant-RP resource group on demand.
func (pr *Provider) ensureRG(ctx context.Context, sub, name, location string) error {
	id := "/subscriptions/" + sub + "/resourceGroups/" + name
	return pr.p.Store.Update(ctx, func(tx store.Tx) error {
		if ok, err := resource.Exists(ctx, tx, id); err != nil || ok {
			return err
		}
		g := resources.ResourceGroup{ID: id, Name: name, Type: "Microsoft.Resources/resourceGroups", Location: normLocation(location),
			Tags: map[string]string{"CreatedBy": "AzureBackup"}}
		g.Properties.ProvisioningState = "Succeeded"
		return resource.Put(ctx, tx, mustParse(id), &g)
	})
}

// vaultRepo opens the vault tier of a vault, shared by every operation
// that uses it at the same time (one writer per backend); release closes
// it when the last user is done, so nothing stays open between jobs.
func (pr *Provider) vaultRepo(ctx context.Context, v *vaultRecord) (*snapshot.Repository, func(), error) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	key := v.UniqueID
	release := func() {
		pr.mu.Lock()
		defer pr.mu.Unlock()
		pr.repoRefs[key]--
		if pr.repoRefs[key] <= 0 {
			if r := pr.repos[key]; r != nil {
				if err := r.Close(); err != nil {
					pr.p.Logger.Warn("close vault tier", "vault", v.ID, "err", err)
				}
			}
			delete(pr.repos, key)
			delete(pr.repoRefs, key)
		}
	}
	if r := pr.repos[key]; r != nil {
		pr.repoRefs[key]++
		return r, release, nil
	}
	dir := filepath.Join(pr.p.DataDir, "vaults", key)
	be, err := local.Open(filepath.Join(dir, "repo"))
	if err != nil {
		return nil, nil, fmt.Errorf("open vault store: %w", err)
	}
	repo, err := snapshot.Open(ctx, be, filepath.Join(dir, "cache"), snapshot.Options{})
	if err != nil {
		return nil, nil, err
	}
	pr.repos[key] = repo
	pr.repoRefs[key] = 1
	return repo, release, nil
}

// gcVault frees the vault-tier chunks no recovery point references any more.
func (pr *Provider) gcVault(ctx context.Context, vaultID string) {
	v, err := pr.loadVault(ctx, pr.p.Store, mustParse(vaultID))
	if err != nil {
		return
	}
	repo, release, err := pr.vaultRepo(ctx, v)
	if err != nil {
		return
	}
	defer release()
	if _, err := repo.GC(ctx, snapshot.GCOptions{Repack: 0.5}); err != nil {
		pr.p.Logger.Warn("vault tier GC", "vault", vaultID, "err", err)
	}
}

// applyRetention removes expired tiers and points of an item and plans the
// next check. Stopped items (ProtectionStopped) keep their points forever.
func (pr *Provider) applyRetention(ctx context.Context, itemID string, locked bool) error {
	if !locked {
		unlock := pr.itemLock(itemID)
		defer unlock()
	}
	it, err := pr.loadItem(ctx, pr.p.Store, mustParse(itemID))
	if err != nil {
		return nil
	}
	points, err := protection.ListRecoveryPoints(ctx, pr.p.Store, it.ID)
	if err != nil {
		return err
	}
	now := pr.p.Now()
	var next time.Time
	plan := func(t time.Time) {
		if !t.IsZero() && t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	dropped := false
	defer func() {
		if dropped {
			pr.gcVault(ctx, it.VaultID)
		}
	}()
	for _, p := range points {
		keepForever := it.State == stateStopped
		if !keepForever && p.Expired(now) {
			if err := pr.dropPoint(ctx, it, p, true, true); err != nil {
				return err
			}
			dropped = dropped || p.HasTier(protection.TierVault)
			continue
		}
		if iu := p.InstantExpiry(); p.HasTier(protection.TierOperational) && !iu.IsZero() && !iu.After(now) && p.HasTier(protection.TierVault) {
			if err := pr.dropPoint(ctx, it, p, true, false); err != nil {
				return err
			}
		} else if p.HasTier(protection.TierOperational) {
			plan(p.InstantExpiry())
		}
		if !keepForever && p.Expiry != nil {
			plan(*p.Expiry)
		}
	}
	return pr.p.Store.Update(ctx, func(tx store.Tx) error {
		key := "recoveryservices.retention:" + strings.ToLower(it.ID)
		if next.IsZero() {
			if t, err := tx.GetTaskByKey(ctx, key); err == nil {
				tx.CompleteTask(ctx, t.ID)
			}
			return nil
		}
		_, err := tx.Enqueue(ctx, store.Task{Kind: taskRetention, Key: key, RunAt: next, Payload: []byte(it.ID)})
		return err
	})
}

func (pr *Provider) runRetentionTask(ctx context.Context, t store.Task) error {
	id := string(t.Payload)
	err := pr.p.Store.Update(ctx, func(tx store.Tx) error {
		if err := tx.CompleteTask(ctx, t.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return pr.applyRetention(ctx, id, false)
}

// dropPoint deletes a point's instant snapshots (instant) and, with all,
// its vault copy and record.
func (pr *Provider) dropPoint(ctx context.Context, it *itemRecord, p *protection.RecoveryPoint, instant, all bool) error {
	if instant && p.HasTier(protection.TierOperational) {
		for _, s := range p.Snapshots {
			if err := pr.Compute.DeleteSnapshot(ctx, s.SnapshotID); err != nil && !isNotFound(err) {
				return fmt.Errorf("delete snapshot %s: %w", s.SnapshotID, err)
			}
		}
	}
	if all && p.HasTier(protection.TierVault) {
		if v, err := pr.loadVault(ctx, pr.p.Store, mustParse(it.VaultID)); err == nil {
			repo, release, err := pr.vaultRepo(ctx, v)
			if err != nil {
				return err
			}
			defer release()
			for _, s := range p.Snapshots {
				if err := repo.Delete(ctx, snapshot.ID(s.EngineID)); err != nil && !errors.Is(err, snapshot.ErrNotFound) {
					return fmt.Errorf("delete vault copy of %s: %w", s.SnapshotID, err)
				}
			}
		}
	}
	return pr.p.Store.Update(ctx, func(tx store.Tx) error {
		if all {
			err := protection.DeleteRecoveryPoint(ctx, tx, p.ItemID, p.ID)
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			return err
		}
		cur, err := protection.GetRecoveryPoint(ctx, tx, p.ItemID, p.ID)
		if err != nil {
			return nil
		}
		cur.DropTier(protection.TierOperational)
		*p = *cur
		return protection.PutRecoveryPoint(ctx, tx, cur)
	})
}

func isNotFound(err error) bool {
	if errors.Is(err, store.ErrNotFound) {
		return true
	}
	var ae *arm.Error
	return arm.As(err, &ae) && ae.Status == http.StatusNotFound
}
