package recoveryservices

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/fault"
	"github.com/safehold/safehold/ops"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/rp/vaultface"
	"github.com/safehold/safehold/store"
)

// Job detail keys (protection.Job.Details).
const (
	detailExpiry = "recoveryPointExpiryTimeInUTC"
	detailCancel = "cancelRequested"
	// detailCancelOps lists the cancel operations waiting for the job to end.
	detailCancelOps = "cancelOperations"
	detailRule      = "ruleName"
	// detailWarning is shown in the job's propertyBag.
	detailWarning = "Warning"
)

// newJob builds an AzureIaaSVMJob record for an item.
func (pr *Provider) newJob(vid arm.ResourceID, it *itemRecord, operation string, now time.Time, user bool) *protection.Job {
	j := protection.NewJob(vid.String(), it.ID, operation, user, now)
	j.ItemName, j.Datasource, j.DatasourceType, j.DatasourceLocation = it.FriendlyName, it.SourceID, vmType, it.Location
	j.PolicyID, j.PolicyName, j.Details = it.PolicyID, it.PolicyName, map[string]string{}
	return j
}

// triggerBackup is POST I/backup: 202 with both polling headers; the
// operation is done at once and names the backup job, which runs on.
func (pr *Provider) triggerBackup(r *arm.Request, at itemPath) (*arm.Response, error) {
	ctx := r.HTTP.Context()
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
		if err := checkExpiry(e.Time, now); err != nil {
			return nil, err
		}
		if e.After(now) {
			expiry = e.Time
		} else {
			// The seed's own request (the documented body, replayed
			// verbatim by users and their tests) carries an expiry that
			// has passed since: keep the point as if none was given, and
			// say so in the job.
			warning = fmt.Sprintf("Recovery point expiry %s was in the past; kept for 30 days", e.UTC().Format(time.RFC3339))
			pr.p.Logger.Warn("on-demand backup expiry in the past", "item", at.id.String(), "expiry", e.UTC().Format(time.RFC3339), "keptUntil", expiry.UTC().Format(time.RFC3339))
		}
	}
	op := &ops.Operation{Kind: opKindBackup, ResourceID: at.id.String(), Caller: r.Caller()}
	err := pr.p.Store.Update(ctx, func(tx store.Tx) error {
		it, err := pr.loadItem(ctx, tx, at.id)
		if err != nil {
			return err
		}
		if err := softDeleted(it, "backing it up"); err != nil {
			return err
		}
		// The backup creates the VM's snapshots in the instant-RP group:
		// a lock there (or above) that forbids a client's PUT refuses it.
		if err := resource.CheckWrite(ctx, tx, instantRPGroup(mustParse(it.SourceID).SubscriptionID, it.Location)); err != nil {
			return err
		}
		running, err := protection.RunningJobs(ctx, tx, at.vid.String(), protection.JobFilter{ItemID: it.ID, Operation: protection.OpBackup, Status: protection.JobInProgress})
		if err != nil {
			return err
		}
		if len(running) > 0 {
			return arm.BadRequest("BMSUserErrorAnotherOperationInProgress", "A backup job (%s) of '%s' is already in progress: wait for it to finish, or cancel it.", running[0].ID, it.FriendlyName)
		}
		j := pr.newJob(at.vid, it, protection.OpBackup, now, true)
		j.Details[detailExpiry] = expiry.UTC().Format(time.RFC3339Nano)
		if warning != "" {
			j.Details[detailWarning] = warning
		}
		ue := expiry.UTC()
		if err := pr.enqueueBackup(ctx, tx, j, &ue); err != nil {
			return err
		}
		namesJob(op, j.ID)
		return pr.p.Ops.Completed(ctx, tx, op)
	})
	if err != nil {
		return nil, err
	}
	pr.p.Jobs.Notify()
	return itemAccepted(r, at.id.String(), op), nil
}

// maxOnDemandRetention is the longest an on-demand backup's point is
// kept: 99 years, Azure Backup's longest retention (a policy's yearly
// points).
const maxOnDemandRetention = 99

// checkExpiry refuses an on-demand backup's expiry (az backup protection
// backup-now --retain-until) more than 99 years ahead, before any job
// starts: 400 BMSUserErrorInvalidInput naming the field, the time given
// and the latest allowed (9999-12-31 was accepted). An expiry already past
// is not refused: Azure's own documented request (the seed's, of 2018)
// sends one, and its point is kept 30 days with a warning in the job.
func checkExpiry(e, now time.Time) error {
	const field = "properties.recoveryPointExpiryTimeInUTC"
	// From the later of the server's clock and real time: az computes its
	// default (now + 30 days) in real time, which a server clock moved
	// back must not refuse.
	if real := time.Now(); real.After(now) {
		now = real
	}
	if latest := now.AddDate(maxOnDemandRetention, 0, 0); e.After(latest) {
		return arm.BadRequestAt(field, "BMSUserErrorInvalidInput",
			"%s %s is more than %d years ahead: an on-demand recovery point is kept at most until %s. Give an earlier time, or leave it out to keep the point 30 days.",
			field, e.UTC().Format(time.RFC3339), maxOnDemandRetention, latest.UTC().Format(time.RFC3339))
	}
	return nil
}

// enqueueBackup creates a backup job with its tasks and hands it to the
// engine (expiry: an on-demand backup's; nil: the policy's).
func (pr *Provider) enqueueBackup(ctx context.Context, tx store.Tx, j *protection.Job, expiry *time.Time) error {
	j.Tasks = backupTasks(j.StartTime)
	return pr.Engine.EnqueueBackup(ctx, tx, faceName, j, protection.BackupOptions{Expiry: expiry})
}

// ScheduledJob implements protection.Face.
func (f face) ScheduledJob(ctx context.Context, item *protection.Item, now time.Time) (*protection.Job, error) {
	it, err := f.pr.loadItem(ctx, f.pr.p.Store, mustParse(item.ID))
	if err != nil {
		return nil, err
	}
	j := f.pr.newJob(mustParse(it.VaultID), it, protection.OpBackup, now, false)
	j.Tasks = backupTasks(now)
	return j, nil
}

// backupTasks are a backup job's tasks before it starts.
func backupTasks(start time.Time) []protection.JobTask {
	return []protection.JobTask{{Name: protection.TaskSnapshot, Status: protection.TaskNotStarted, StartTime: start},
		{Name: protection.TaskTransfer, Status: protection.TaskNotStarted, StartTime: start}}
}

// reschedule plans an item's next scheduled backup per its policy (or
// removes it when backups are stopped).
func (pr *Provider) reschedule(ctx context.Context, tx store.Tx, it *itemRecord) error {
	pi, err := pr.scheduleItem(ctx, tx, it)
	if err != nil {
		return err
	}
	return pr.Engine.Reschedule(ctx, tx, faceName, pi)
}

// scheduleItem is what the engine plans an item's runs by: its state and
// its policy.
func (pr *Provider) scheduleItem(ctx context.Context, tx store.Tx, it *itemRecord) (*protection.Item, error) {
	pi := &protection.Item{ID: it.ID, VaultID: it.VaultID, Name: it.FriendlyName, Datasource: it.SourceID, State: protection.ItemStopped}
	if it.State.active() && it.PolicyID != "" {
		var pol policyRecord
		if err := resource.Get(ctx, tx, mustParse(it.PolicyID), &pol); err != nil {
			return nil, err
		}
		if ip := pol.iaas(); ip != nil && ip.validate() == nil {
			pi.State, pi.Policy = protection.ItemProtected, ip.policy(it.PolicyID, it.PolicyName)
		}
	}
	return pi, nil
}

// applyPolicy applies a changed policy to the items it protects through
// the engine (a ConfigureBackup job each, which plans the item's runs by
// the new policy) and returns the jobs; none when it protects nothing.
func (pr *Provider) applyPolicy(ctx context.Context, tx store.Tx, policyID string) ([]*protection.Job, error) {
	pid := mustParse(policyID)
	items, err := resource.List[itemRecord](ctx, tx, itemType, pid.Parent().String())
	if err != nil {
		return nil, err
	}
	var pis []*protection.Item
	recs := map[string]*itemRecord{}
	for i := range items {
		if !arm.EqualIDs(items[i].PolicyID, policyID) {
			continue
		}
		pi, err := pr.scheduleItem(ctx, tx, &items[i])
		if err != nil {
			return nil, err
		}
		pis = append(pis, pi)
		recs[pi.ID] = &items[i]
	}
	now := pr.p.Now()
	return pr.Engine.ApplyPolicy(ctx, tx, faceName, pis, func(pi *protection.Item) *protection.Job {
		it := recs[pi.ID]
		return pr.newJob(mustParse(it.VaultID), it, protection.OpConfigureBackup, now, true)
	})
}

// faceName is the name the engine knows Recovery Services vaults by.
const faceName = "recoveryservices"

// face is the Recovery Services vaults' face on the protection engine: a
// protected item is a VM whose disks are captured at one instant into
// snapshots in AzureBackupRG_{location}_1 (the instant tier), then copied
// to the vault's repository. Its VaultDocs make it a protection.VaultFace.
type face struct {
	pr *Provider
	resource.VaultDocs[vaultRecord, *protection.Vault]
}

// Item implements protection.Face.
func (f face) Item(ctx context.Context, r store.Reader, id string) (*protection.Item, error) {
	rid, err := arm.ParseID(id)
	if err != nil {
		return nil, fmt.Errorf("protected item %s: %w", id, protection.ErrNotFound)
	}
	it, err := f.pr.loadItem(ctx, r, rid)
	if err != nil {
		return nil, fmt.Errorf("protected item %s: %w", id, protection.ErrNotFound)
	}
	v, err := f.pr.loadVault(ctx, r, mustParse(it.VaultID))
	if err != nil {
		return nil, err
	}
	out := &protection.Item{ID: it.ID, VaultID: it.VaultID, Name: it.FriendlyName, Datasource: it.SourceID, VaultKey: v.UniqueID,
		State: protection.ItemProtected}
	switch it.State {
	case stateStopped:
		out.State = protection.ItemStopped
	case stateBackupsSuspended:
		out.State = protection.ItemSuspended
	case stateIRPending:
		out.State = protection.ItemConfiguring
	}
	if ip := f.pr.policyOf(ctx, it); ip != nil {
		out.Policy = ip.policy(it.PolicyID, it.PolicyName)
	}
	return out, nil
}

// codeSharedDisk is Azure's code for the backup of a VM with a shared
// disk (maxShares > 1) that its disk selection takes.
const codeSharedDisk = "UserErrorSharedDiskBackupNotSupported"

// excludedDisksInfo is the point's detail listing the data disks its
// item's disk selection left out, "lun:name" comma-separated.
const excludedDisksInfo = "excludedDisks"

// Capture implements protection.Face: every disk of the VM as it is now
// that the item's disk selection takes (the OS disk always).
func (f face) Capture(ctx context.Context, item *protection.Item, pointID string) (*protection.Capture, error) {
	it, err := f.pr.loadItem(ctx, f.pr.p.Store, mustParse(item.ID))
	if err != nil {
		return nil, err
	}
	if err := f.pr.p.Inject(ctx, fault.OpBackup, it.ID); err != nil {
		return nil, jobErr(err)
	}
	vm, err := f.pr.lookupVM(ctx, it.SourceID)
	if err != nil {
		return nil, &protection.JobError{Code: "UserErrorVmNotFound", Message: fmt.Sprintf("The VM '%s' could not be read: %v", it.FriendlyName, err)}
	}
	group := instantRPGroup(vm.SubscriptionID, vm.Location)
	rgName := mustParse(group).ResourceGroup
	if err := f.pr.ensureRG(ctx, vm.SubscriptionID, rgName, vm.Location); err != nil {
		return nil, err
	}
	c := &protection.Capture{Type: "CrashConsistent", Group: group,
		Info: map[string]string{"vmName": vm.Name, "vmLocation": vm.Location, "vmSize": vm.Size, "osType": vm.OSType}}
	// Private access: a disk of the VM reachable only through a private
	// endpoint (networkAccessPolicy AllowPrivate), as Azure's
	// isPrivateAccessEnabledOnAnyDisk reports.
	for _, id := range vm.vm.DiskIDs() {
		if d, err := f.pr.Compute.DiskResource(ctx, id); err == nil && strings.EqualFold(d.Properties.NetworkAccessPolicy, "AllowPrivate") {
			c.Info["privateAccess"] = "true"
			break
		}
	}
	// The point's zones, as Azure answers them: the VM's, else its OS disk's.
	if res, err := f.pr.Compute.VMResource(ctx, it.SourceID); err == nil && len(res.Zones) > 0 {
		c.Info["vmZones"] = strings.Join(res.Zones, ",")
	} else if d, err := f.pr.Compute.DiskResource(ctx, vm.vm.OSDiskID); err == nil && len(d.Zones) > 0 {
		c.Info["vmZones"] = strings.Join(d.Zones, ",")
	}
	var excluded []string
	for _, d := range vm.disks() {
		if !d.OS && !it.Disks.takes(d.Lun) {
			// Selective disk backup: the point lists it as excluded.
			excluded = append(excluded, fmt.Sprintf("%d:%s", d.Lun, mustParse(d.ID).Name()))
			continue
		}
		if sd, err := f.pr.Compute.DiskResource(ctx, d.ID); err == nil && sd.Properties.MaxShares > 1 {
			// Azure VM backup does not back up shared disks: the job
			// fails unless the disk selection leaves the disk out.
			return nil, &protection.JobError{Code: codeSharedDisk,
				Message:           fmt.Sprintf("The VM '%s' has the shared disk '%s' (maxShares %d) at LUN %d, and Azure VM backup does not back up shared disks.", vm.Name, sd.Name, sd.Properties.MaxShares, d.Lun),
				RecommendedAction: []string{fmt.Sprintf("Exclude the shared disk from the VM's backup (selective disk backup: diskExclusionProperties with LUN %d, or az backup protection update-for-vm --disk-list-setting exclude --diskslist %d), or detach it; back it up with Azure Disk Backup (a Backup vault) instead.", d.Lun, d.Lun)}}
		}
		suffix := "os"
		if !d.OS {
			suffix = fmt.Sprintf("lun%d", d.Lun)
		}
		sid := arm.NewID(vm.SubscriptionID, rgName, "Microsoft.Compute", "snapshots", "AzureBackup_"+pointID[:20]+"_"+suffix).String()
		c.Disks = append(c.Disks, protection.SnapshotSpec{DiskID: d.ID, SnapshotID: sid, Lun: d.Lun, OSDisk: d.OS,
			Tags: map[string]string{"AzureBackupSource": it.SourceID, "AzureBackupRecoveryPoint": pointID}})
	}
	if len(excluded) > 0 {
		c.Info[excludedDisksInfo] = strings.Join(excluded, ",")
	}
	return c, nil
}

// Recorded implements protection.Face: the job shows the backup's size and
// the item its latest point.
func (f face) Recorded(ctx context.Context, tx store.Tx, item *protection.Item, p *protection.RecoveryPoint, j *protection.Job) error {
	cur, err := f.pr.loadItem(ctx, tx, mustParse(item.ID))
	if err != nil {
		return protection.ErrNotFound
	}
	if j.Details == nil {
		j.Details = map[string]string{}
	}
	// "Backup Size" is the transfer's (jobBody): the disks' size it held
	// before is no longer shown.
	delete(j.Details, "Backup Size")
	j.Details["VM Name"] = p.Details["vmName"]
	at := p.Time
	cur.LastPointTime = &at
	return resource.Put(ctx, tx, mustParse(cur.ID), cur)
}

// Ended implements protection.Face: the item shows its last backup.
func (f face) Ended(ctx context.Context, tx store.Tx, x *protection.Job) error {
	if x.Operation != protection.OpBackup {
		return nil
	}
	if err := f.pr.endCancels(ctx, tx, x); err != nil {
		return err
	}
	it, err := f.pr.loadItem(ctx, tx, mustParse(x.ItemID))
	if err != nil {
		return nil
	}
	it.LastStatus = x.Status
	if x.Status == protection.JobCompleted && it.State == stateIRPending {
		it.State = stateProtected
	}
	if x.Status != protection.JobCancelled {
		bt := x.StartTime
		it.LastBackupTime = &bt
	}
	return resource.Put(ctx, tx, mustParse(it.ID), it)
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

// instantRPGroup is the id of the resource group that holds the instant
// tier's snapshots of a VM of subscription sub in location:
// AzureBackupRG_{location}_1, as Azure names it.
func instantRPGroup(sub, location string) string {
	return "/subscriptions/" + sub + "/resourceGroups/AzureBackupRG_" + resource.NormLocation(location) + "_1"
}

// ensureRG creates the instant-RP resource group on demand.
func (pr *Provider) ensureRG(ctx context.Context, sub, name, location string) error {
	return pr.p.Store.Update(ctx, func(tx store.Tx) error {
		return resource.EnsureResourceGroup(ctx, tx, sub, name, resource.NormLocation(location), map[string]string{"CreatedBy": "AzureBackup"})
	})
}

// jobErr is an ARM error as the job error it ends a job with (its code and
// message); other errors as they are.
func jobErr(err error) error {
	var ae *arm.Error
	if arm.As(err, &ae) {
		return &protection.JobError{Code: ae.Code, Message: ae.Message}
	}
	return err
}

var isNotFound = vaultface.IsNotFound
