package dataprotection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/fault"
	"github.com/safehold/safehold/ops"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/rp/vaultface"
	"github.com/safehold/safehold/store"
)

func newGUID() string { return uuid.NewString() }

// permCheck is one action the vault's identity needs on a scope.
type permCheck struct {
	Action, Scope, Role string
}

// backupPermissions are what validateForBackup and protection check:
// Disk Backup Reader on the disk, Disk Snapshot Contributor on the
// snapshot resource group.
func backupPermissions(diskID, snapshotRG string) []permCheck {
	return []permCheck{
		{"Microsoft.Compute/disks/read", diskID, "Disk Backup Reader"},
		{"Microsoft.Compute/snapshots/write", snapshotRG, "Disk Snapshot Contributor"},
	}
}

// restorePermissions: Disk Restore Operator on the target resource group,
// and read access to the recovery point's snapshot (Disk Snapshot
// Contributor on its resource group, which backups need too), which the
// identity the restore runs as reads the disk from: a restore may run as
// another identity than the backups (its identityDetails), which holds
// neither until it is given them. snapshot "" (an operation recorded
// before the check) checks the target only.
func restorePermissions(in map[string]string) []permCheck {
	checks := []permCheck{{"Microsoft.Compute/disks/write", in["targetRG"], "Disk Restore Operator"}}
	if in["snapshot"] != "" {
		checks = append(checks, permCheck{"Microsoft.Compute/snapshots/read", in["snapshot"], "Disk Snapshot Contributor"})
	}
	return checks
}

// checkPermissions checks the vault identity for each action and returns
// the seed's UserErrorMissingRequiredPermissions (naming the action and
// scope) for the first one missing.
//
// details is the backup instance's (or restore request's) identityDetails,
// which picks among the vault's identities (vaultPrincipal).
func (pr *Provider) checkPermissions(ctx context.Context, vault *vaultResource, details json.RawMessage, what string, checks ...permCheck) error {
	if pr.p.Authorize == nil {
		return nil
	}
	principal, appID := vaultPrincipal(vault, details), ""
	if principal == "" {
		c := checks[0]
		if vault.Identity != nil && (vault.Identity.PrincipalID != "" || len(vault.Identity.UserAssignedIdentities) > 0) {
			return missingPermissions(ctx, what, "", "", c, "The managed identity the operation asks for (identityDetails "+string(details)+") is not one of the Backup vault's: add it to the vault's identity (or change the identityDetails), assign it the '"+c.Role+"' role on '"+c.Scope+"' and retry the operation.")
		}
		return missingPermissions(ctx, what, "", "", c, "The Backup vault has no managed identity: set identity.type to 'SystemAssigned' (or give it a user-assigned identity) on the vault, assign it the '"+c.Role+"' role on '"+c.Scope+"' and retry the operation.")
	}
	if p, err := pr.p.Dir.Get(ctx, principal); err == nil {
		appID = p.AppID
	}
	for _, c := range checks {
		err := pr.p.Authorize(ctx, principal, c.Action, c.Scope)
		if err == nil {
			continue
		}
		var ae *arm.Error
		if !arm.As(err, &ae) {
			return err
		}
		return missingPermissions(ctx, what, appID, principal, c, fmt.Sprintf("Assign the '%s' role to the Backup vault's managed identity (object id %s) on '%s' and retry the operation; see https://aka.ms/UserErrorMissingRequiredPermissions.", c.Role, principal, c.Scope))
	}
	return nil
}

func missingPermissions(ctx context.Context, what, appID, objectID string, c permCheck, action string) *arm.Error {
	detail := fmt.Sprintf("%s failed. Exception Message: The client '%s' with object id '%s' does not have authorization to perform action '%s' over scope '%s' or the scope is invalid. If access was recently granted, please refresh your credentials.", what, appID, objectID, c.Action, c.Scope)
	msg := "Appropriate permissions to perform the operation is missing."
	return &arm.Error{Status: http.StatusBadRequest, Code: "UserErrorMissingRequiredPermissions", Message: msg,
		AdditionalInfo: []arm.AdditionalInfo{{Type: "UserFacingError", Info: userFacingError{
			Code: "UserErrorMissingRequiredPermissions", Message: msg,
			RecommendedAction: []string{"Grant appropriate permissions to perform this operation as mentioned at https://aka.ms/UserErrorMissingRequiredPermissions and retry the operation.", action},
			InnerError:        &innerError{Code: "UserErrorMissingRequiredPermissions", AdditionalInfo: map[string]string{"DetailedNonLocalisedMessage": detail}},
			Properties:        map[string]string{"ActivityId": activityID(ctx)},
		}}}}
}

// userFacingFrom extracts the UserFacingError of an arm.Error.
func userFacingFrom(ae *arm.Error) *userFacingError {
	for _, ai := range ae.AdditionalInfo {
		if u, ok := ai.Info.(userFacingError); ok {
			return &u
		}
	}
	return &userFacingError{Code: ae.Code, Message: ae.Message}
}

func jobErrorOf(err error) error {
	if err == nil {
		return nil
	}
	var ae *arm.Error
	if arm.As(err, &ae) {
		je := &protection.JobError{Code: ae.Code, Message: ae.Message}
		if u := userFacingFrom(ae); u != nil {
			je.RecommendedAction = u.RecommendedAction
		}
		return je
	}
	var je *protection.JobError
	if errors.As(err, &je) {
		return je
	}
	return err
}

func (pr *Provider) newJob(vault *vaultResource, bi *instanceResource, operation string, user bool, now time.Time) *protection.Job {
	p := bi.Properties
	j := protection.NewJob(vault.ID, bi.ID, operation, user, now)
	j.ItemName, j.Datasource, j.DatasourceType, j.DatasourceLocation = p.FriendlyName, p.DataSourceInfo.ResourceID, typeDisk, p.DataSourceInfo.ResourceLocation
	if p.PolicyInfo != nil {
		j.PolicyID = p.PolicyInfo.PolicyID
		pid, _ := arm.ParseID(p.PolicyInfo.PolicyID)
		j.PolicyName = pid.Name()
	}
	return j
}

// snapshotName names the snapshot of a recovery point (at most 80 characters).
func snapshotName(diskName, pointID string) string {
	if len(diskName) > 40 {
		diskName = diskName[:40]
	}
	return "AzureBackup_" + diskName + "_" + pointID[:24]
}

// faceName is the name the engine knows Backup vaults by.
const faceName = "dataprotection"

// face is the Backup vaults' face on the protection engine: a backup
// instance is a protected item of one disk, with operational-tier snapshots
// in the instance's snapshot resource group.
// face is the Backup vaults' protection.Face; its VaultDocs make it a
// protection.VaultFace.
type face struct {
	pr *Provider
	resource.VaultDocs[vaultResource, *protection.Vault]
}

func engineState(s string) protection.ItemState {
	switch s {
	case stateConfigured:
		return protection.ItemProtected
	case stateSuspended:
		return protection.ItemSuspended
	case stateStopped:
		return protection.ItemStopped
	}
	return protection.ItemConfiguring
}

// Item implements protection.Face.
func (f face) Item(ctx context.Context, r store.Reader, id string) (*protection.Item, error) {
	bid, err := arm.ParseID(id)
	if err != nil {
		return nil, fmt.Errorf("backup instance %s: %w", id, protection.ErrNotFound)
	}
	bi, err := f.pr.loadInstance(ctx, r, bid)
	if isNotFound(err) {
		return nil, fmt.Errorf("backup instance %s: %w", id, protection.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	p := bi.Properties
	it := &protection.Item{ID: bi.ID, VaultID: bid.Parent().String(), Name: p.FriendlyName, Datasource: p.DataSourceInfo.ResourceID,
		State: engineState(p.CurrentProtectionState)}
	pol, dp, err := f.pr.loadPolicy(ctx, r, p.PolicyInfo.PolicyID)
	if err != nil {
		return nil, jobErrorOf(err)
	}
	it.Policy = dp.policy(pol)
	return it, nil
}

// load reads an item's backup instance and its vault.
func (f face) load(ctx context.Context, itemID string) (*vaultResource, *instanceResource, error) {
	bid, _ := arm.ParseID(itemID)
	bi, err := f.pr.loadInstance(ctx, f.pr.p.Store, bid)
	if err != nil {
		return nil, nil, err
	}
	vault, err := f.pr.loadVault(ctx, f.pr.p.Store, bid.Parent())
	if err != nil {
		return nil, nil, err
	}
	return vault, bi, nil
}

// Capture implements protection.Face: the instance's disk, after the
// vault identity's permission check.
func (f face) Capture(ctx context.Context, it *protection.Item, pointID string) (*protection.Capture, error) {
	vault, bi, err := f.load(ctx, it.ID)
	if err != nil {
		return nil, err
	}
	if err := f.pr.p.Inject(ctx, fault.OpBackup, bi.ID); err != nil {
		return nil, jobErrorOf(err)
	}
	diskID, snapRG := bi.Properties.DataSourceInfo.ResourceID, snapshotRGOf(bi)
	if err := f.pr.checkPermissions(ctx, vault, bi.Properties.IdentityDetails, "Backup", backupPermissions(diskID, snapRG)...); err != nil {
		return nil, jobErrorOf(err)
	}
	rg, _ := arm.ParseID(snapRG)
	snapID := arm.NewID(rg.SubscriptionID, rg.ResourceGroup, "Microsoft.Compute", "snapshots", snapshotName(bi.Properties.DataSourceInfo.ResourceName, pointID)).String()
	return &protection.Capture{Type: "Incremental", Group: snapRG, Disks: []protection.SnapshotSpec{{DiskID: diskID, SnapshotID: snapID,
		Tags: map[string]string{"CreatedBy": "AzureBackup", "BackupInstance": bi.Name, "RecoveryPointId": pointID}}}}, nil
}

// Recorded implements protection.Face: the job shows the point's tag.
func (f face) Recorded(ctx context.Context, tx store.Tx, it *protection.Item, p *protection.RecoveryPoint, j *protection.Job) error {
	bid, _ := arm.ParseID(it.ID)
	if _, err := f.pr.loadInstance(ctx, tx, bid); err != nil {
		if isNotFound(err) {
			return protection.ErrNotFound
		}
		return err
	}
	if j.Details == nil {
		j.Details = map[string]string{}
	}
	j.Details[protection.DetailRetentionTag] = p.RetentionTag
	return nil
}

// Ended implements protection.Face.
func (f face) Ended(ctx context.Context, tx store.Tx, j *protection.Job) error { return nil }

// ScheduledJob implements protection.Face.
func (f face) ScheduledJob(ctx context.Context, it *protection.Item, now time.Time) (*protection.Job, error) {
	vault, bi, err := f.load(ctx, it.ID)
	if err != nil {
		return nil, err
	}
	return f.pr.newJob(vault, bi, protection.OpBackup, false, now), nil
}

// --- ad-hoc backup ---

func (pr *Provider) adhocBackup(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	vault, in, err := vaultAndBody[triggerBackupRequest](pr, r)
	if err != nil {
		return nil, err
	}
	id := instanceIDOf(r)
	bi, err := pr.loadInstance(ctx, pr.p.Store, id)
	if err != nil {
		return nil, err
	}
	if err := checkNotDeleting(bi); err != nil {
		return nil, err
	}
	_, dp, err := pr.loadPolicy(ctx, pr.p.Store, bi.Properties.PolicyInfo.PolicyID)
	if err != nil {
		return nil, err
	}
	if in.BackupRuleOptions == nil {
		return nil, fieldError("backupRuleOptions", "is required: {\"ruleName\":\"%s\",\"triggerOption\":{\"retentionTagOverride\":\"Default\"}}", dp.RuleName)
	}
	if !strings.EqualFold(in.BackupRuleOptions.RuleName, dp.RuleName) {
		return nil, fieldError("backupRuleOptions.ruleName", "'%s' is not the backup rule of the instance's policy; allowed values: '%s'", in.BackupRuleOptions.RuleName, dp.RuleName)
	}
	tag := "Default"
	if in.BackupRuleOptions.TriggerOption != nil && in.BackupRuleOptions.TriggerOption.RetentionTagOverride != "" {
		tag = in.BackupRuleOptions.TriggerOption.RetentionTagOverride
	}
	rule, ok := dp.Retention.Rule(tag)
	unknownTag := ""
	if !ok {
		// Azure accepts a tag the policy lacks (its own example asks for
		// 'yearly' from a policy with Default and Weekly): the point is kept
		// by the policy's default rule, and the job says so.
		for _, t := range dp.Retention.Rules {
			if t.Default {
				rule, ok = t, true
			}
		}
		if !ok {
			return nil, fieldError("backupRuleOptions.triggerOption.retentionTagOverride", "'%s' is not a retention tag of the policy, which has no default rule", tag)
		}
		unknownTag = tag
	}
	if st := bi.Properties.CurrentProtectionState; st != stateConfigured && st != stateSuspended {
		return nil, arm.BadRequest("UserErrorInvalidOperationForCurrentState", "An ad-hoc backup is not allowed while the backup instance '%s' is in state '%s'; allowed states: '%s', '%s'.", bi.Name, st, stateConfigured, stateSuspended)
	}
	// The backup creates a snapshot in the snapshot resource group: a
	// lock there that forbids a client's PUT refuses it.
	if err := resource.CheckWrite(ctx, pr.p.Store, snapshotRGOf(bi)); err != nil {
		return nil, err
	}
	now := pr.p.Now()
	j := pr.newJob(vault, bi, protection.OpBackup, true, now)
	if j.Details == nil {
		j.Details = map[string]string{}
	}
	j.Details["PolicyRuleName"] = dp.RuleName
	if unknownTag != "" {
		j.Details["RetentionTagOverride"] = fmt.Sprintf("'%s' is not a retention tag of the policy; kept by its '%s' rule", unknownTag, rule.Tag)
	}
	op := &ops.Operation{Kind: opBackup, ResourceID: bi.ID, Caller: r.Caller(), Location: resource.NormLocation(vault.Location)}
	// Not Deleting again where the backup is accepted: a DELETE accepted
	// since the check above refuses it (the backup would otherwise run
	// for an instance whose delete was accepted first).
	return pr.accepted(r, vault, op, j, map[string]string{"instanceId": bi.ID, "jobId": j.ID, "tag": rule.Tag}, func(tx store.Tx) error {
		cur, err := pr.loadInstance(ctx, tx, id)
		if err != nil {
			return err
		}
		return checkNotDeleting(cur)
	})
}

// accepted records op (and the job j it runs, if any) with its input in one
// transaction, after checks (in it: an error records nothing), and answers
// 202 with the location-scoped polling URLs.
func (pr *Provider) accepted(r *arm.Request, vault *vaultResource, op *ops.Operation, j *protection.Job, input any, checks ...func(tx store.Tx) error) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	var with func(tx store.Tx) error
	if j != nil || len(checks) > 0 {
		with = func(tx store.Tx) error {
			for _, check := range checks {
				if err := check(tx); err != nil {
					return err
				}
			}
			if j == nil {
				return nil
			}
			return protection.CreateJob(ctx, tx, j)
		}
	}
	if err := pr.p.Ops.Launch(ctx, op, input, with); err != nil {
		return nil, err
	}
	return opAccepted(r, vault.Location, op), nil
}

func jobResult(op *ops.Operation, jobID string) {
	op.Properties, _ = json.Marshal(operationJobExtendedInfo{ObjectType: "OperationJobExtendedInfo", JobID: jobID})
	op.Result, op.ResultStatus = op.Properties, http.StatusOK
}

// jobEnded ends an operation that ran job j: with the run's error err, the
// job's failure, or the job's id as its result.
func jobEnded(op *ops.Operation, j *protection.Job, err error) error {
	if err != nil {
		return err
	}
	if j.Status == protection.JobFailed && j.Error != nil {
		return arm.BadRequest(j.Error.Code, "%s (job %s)", j.Error.Message, j.ID)
	}
	jobResult(op, j.ID)
	return nil
}

func (pr *Provider) runAdhocBackup(ctx context.Context, op *ops.Operation, in map[string]string) error {
	j, err := pr.Engine.Backup(ctx, faceName, in["jobId"], protection.BackupOptions{Tag: in["tag"]})
	return jobEnded(op, j, err)
}

// --- restore ---

type checkedRestore struct {
	Point    *protection.RecoveryPoint
	TargetID string
	TargetRG string
	Location string
	// IdentityDetails picks the vault identity the restore runs as: the
	// request's, else the backup instance's.
	IdentityDetails string
	Snapshot        string // the point's snapshot resource id, which the restore reads
}

// input is what a restore's and a restore validation's operations check
// the vault identity's permissions against (restorePermissions).
func (cr *checkedRestore) input(in map[string]string) map[string]string {
	in["targetRG"], in["identityDetails"], in["snapshot"] = cr.TargetRG, cr.IdentityDetails, cr.Snapshot
	return in
}

// diskRestoreKinds and diskRestoreTargets are the restore request and
// target kinds of other datasources (Azure's AzureBackupRestoreRequest and
// RestoreTargetInfoBase), each with why a disk has none: a disk's recovery
// point restores as a new disk only (Azure's disk backup has the
// AlternateLocation restore target alone), answered 400
// UserErrorOperationNotSupported as the other operations a disk does not
// have are (crr.go).
var (
	diskRestoreKinds = map[string]string{
		"azurebackuprecoverytimebasedrestorerequest": "its recovery points are discrete snapshots, so there is no continuous time to restore to",
		"azurebackuprestorewithrehydrationrequest":   "its recovery points are snapshots in the operational store, which has no archive tier to rehydrate from",
	}
	diskRestoreTargets = map[string]string{
		"restorefilestargetinfo":     "a disk is restored as a disk, not as files in a storage account (restore as files is for databases)",
		"itemlevelrestoretargetinfo": "a disk is restored whole, not item by item (item-level restore is for blobs and AKS clusters)",
	}
)

func (pr *Provider) checkRestore(ctx context.Context, vault *vaultResource, bi *instanceResource, req *restoreRequest, field string) (*checkedRestore, error) {
	f := func(s string) string {
		if field == "" {
			return s
		}
		return field + "." + s
	}
	if req == nil {
		return nil, fieldError(field, "is required: an AzureBackupRecoveryPointBasedRestoreRequest")
	}
	if !strings.EqualFold(req.ObjectType, "AzureBackupRecoveryPointBasedRestoreRequest") {
		if why, ok := diskRestoreKinds[strings.ToLower(req.ObjectType)]; ok {
			return nil, arm.BadRequestAt(f("objectType"), codeNotSupported, "%s: a restore request of objectType '%s' is not supported for the backup instance '%s', which backs up a managed disk (%s): %s. Restore one of its recovery points as a new disk: objectType 'AzureBackupRecoveryPointBasedRestoreRequest' with recoveryPointId and restoreTargetInfo {\"objectType\":\"RestoreTargetInfo\",\"recoveryOption\":\"FailIfExists\",\"datasourceInfo\":{...the new disk...}}.", f("objectType"), req.ObjectType, bi.Name, typeDisk, why)
		}
		return nil, fieldError(f("objectType"), "'%s' is not supported for disks; allowed values: 'AzureBackupRecoveryPointBasedRestoreRequest'", req.ObjectType)
	}
	if req.RecoveryPointID == "" {
		return nil, fieldError(f("recoveryPointId"), "is required: the name of one of the instance's recovery points")
	}
	pt, err := protection.GetRecoveryPoint(ctx, pr.p.Store, bi.ID, req.RecoveryPointID)
	if err == nil && !pointVisible(bi, pt, pr.p.Now(), pr.isLatestPoint(ctx, bi.ID, pt)) {
		err = store.ErrNotFound
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, arm.Errorf(http.StatusBadRequest, "UserErrorRecoveryPointNotFound", "%s: the recovery point '%s' does not exist for backup instance '%s'; list .../recoveryPoints for valid ids.", f("recoveryPointId"), req.RecoveryPointID, bi.Name)
	}
	if err != nil {
		return nil, err
	}
	if req.SourceDataStoreType != "" {
		if _, ok := canonical(req.SourceDataStoreType, []string{"OperationalStore"}); !ok {
			return nil, fieldError(f("sourceDataStoreType"), "'%s' is not supported for disks; allowed values: 'OperationalStore'", req.SourceDataStoreType)
		}
	}
	t := req.RestoreTargetInfo
	if t == nil {
		return nil, fieldError(f("restoreTargetInfo"), "is required: {\"objectType\":\"RestoreTargetInfo\",\"recoveryOption\":\"FailIfExists\",\"datasourceInfo\":{...the new disk...}}")
	}
	if !strings.EqualFold(t.ObjectType, "RestoreTargetInfo") {
		if why, ok := diskRestoreTargets[strings.ToLower(t.ObjectType)]; ok {
			return nil, arm.BadRequestAt(f("restoreTargetInfo.objectType"), codeNotSupported, "%s: a restore target of objectType '%s' is not supported for the backup instance '%s', which backs up a managed disk (%s): %s. A disk's recovery point restores as a new disk: restoreTargetInfo {\"objectType\":\"RestoreTargetInfo\",\"recoveryOption\":\"FailIfExists\",\"datasourceInfo\":{...the new disk...}}.", f("restoreTargetInfo.objectType"), t.ObjectType, bi.Name, typeDisk, why)
		}
		return nil, fieldError(f("restoreTargetInfo.objectType"), "'%s' is not supported for disks; allowed values: 'RestoreTargetInfo'", t.ObjectType)
	}
	if !strings.EqualFold(t.RecoveryOption, "FailIfExists") {
		return nil, fieldError(f("restoreTargetInfo.recoveryOption"), "'%s' is not supported; allowed values: 'FailIfExists'", t.RecoveryOption)
	}
	if t.DatasourceInfo == nil {
		return nil, fieldError(f("restoreTargetInfo.datasourceInfo"), "is required: the Datasource of the new disk (resourceID /subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/disks/{name})")
	}
	tid, err := arm.ParseID(t.DatasourceInfo.ResourceID)
	if err != nil || !tid.IsType(typeDisk) {
		return nil, fieldError(f("restoreTargetInfo.datasourceInfo.resourceID"), "'%s' is not a managed disk id (/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/disks/{name})", t.DatasourceInfo.ResourceID)
	}
	if err := checkResourceURI(f("restoreTargetInfo.datasourceInfo"), t.DatasourceInfo); err != nil {
		return nil, err
	}
	vid, _ := arm.ParseID(vault.ID)
	var features map[string]any
	if vault.Properties != nil && len(vault.Properties.FeatureSettings) > 0 {
		_ = json.Unmarshal(vault.Properties.FeatureSettings, &features) // stored as validated
	}
	if err := vaultface.CheckCrossSubscriptionRestore(map[string]any{"featureSettings": features}, []string{"featureSettings", "crossSubscriptionRestoreSettings", "state"},
		vid.SubscriptionID, tid.SubscriptionID, f("restoreTargetInfo.datasourceInfo.resourceID")); err != nil {
		return nil, err
	}
	if err := resource.CheckResourceGroup(ctx, pr.p.Store, tid.SubscriptionID, tid.ResourceGroup); err != nil {
		return nil, fieldError(f("restoreTargetInfo.datasourceInfo.resourceID"), "the target resource group '%s' does not exist; create it first", tid.ResourceGroupID())
	}
	if ok, err := resource.Exists(ctx, pr.p.Store, tid.String()); err != nil {
		return nil, err
	} else if ok {
		return nil, arm.Conflict("UserErrorDiskAlreadyExists", "%s: the disk '%s' already exists and recoveryOption is 'FailIfExists'; choose a new disk name.", f("restoreTargetInfo.datasourceInfo.resourceID"), tid.String())
	}
	// A lock that forbids a client's PUT of the disk refuses the restore
	// that would create it (and its job, if the lock comes later).
	if err := resource.CheckWrite(ctx, pr.p.Store, tid.String()); err != nil {
		return nil, err
	}
	// The target disk's own region, when given, is the vault's too: a
	// resourceLocation naming another region was ignored beside a
	// restoreLocation of the vault's, and the disk made in the vault's
	// region.
	if dl := t.DatasourceInfo.ResourceLocation; dl != "" && resource.NormLocation(dl) != resource.NormLocation(vault.Location) {
		return nil, fieldError(f("restoreTargetInfo.datasourceInfo.resourceLocation"), "'%s' differs from the vault's region '%s'; disks restore into the vault's region, so give '%s' or leave it out", dl, vault.Location, vault.Location)
	}
	loc := t.RestoreLocation
	if loc == "" {
		loc = t.DatasourceInfo.ResourceLocation
	}
	if loc == "" {
		loc = vault.Location
	}
	if resource.NormLocation(loc) != resource.NormLocation(vault.Location) {
		return nil, fieldError(f("restoreTargetInfo.restoreLocation"), "'%s' differs from the vault's region '%s'; disks restore into the vault's region", loc, vault.Location)
	}
	details := req.IdentityDetails
	if len(details) == 0 || string(details) == "null" {
		details = bi.Properties.IdentityDetails
	} else if err := checkInstanceIdentity(vault, details, f("identityDetails")); err != nil {
		return nil, err
	}
	cr := &checkedRestore{Point: pt, TargetID: tid.String(), TargetRG: tid.ResourceGroupID(), Location: loc, IdentityDetails: string(details)}
	if len(pt.Snapshots) > 0 {
		cr.Snapshot = pt.Snapshots[0].SnapshotID
	}
	return cr, nil
}

func (pr *Provider) restore(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	vault, in, err := vaultAndBody[restoreRequest](pr, r)
	if err != nil {
		return nil, err
	}
	if err := r.CheckLinked(restoreLinks(in)...); err != nil {
		return nil, err
	}
	bi, err := pr.loadInstance(ctx, pr.p.Store, instanceIDOf(r))
	if err != nil {
		return nil, err
	}
	cr, err := pr.checkRestore(ctx, vault, bi, in, "")
	if err != nil {
		return nil, err
	}
	j := pr.newJob(vault, bi, protection.OpRestore, true, pr.p.Now())
	j.RecoveryPointID, j.RecoveryPointTime, j.Target = cr.Point.ID, &cr.Point.Time, cr.TargetID
	op := &ops.Operation{Kind: opRestore, ResourceID: bi.ID, Caller: r.Caller(), Location: resource.NormLocation(vault.Location)}
	return pr.accepted(r, vault, op, j, cr.input(map[string]string{"instanceId": bi.ID, "jobId": j.ID, "pointId": cr.Point.ID,
		"target": cr.TargetID, "location": cr.Location}))
}

func (pr *Provider) runRestore(ctx context.Context, op *ops.Operation, in map[string]string) error {
	jobID := in["jobId"]
	j, err := pr.Engine.Restore(ctx, jobID, protection.RestoreRequest{ItemID: in["instanceId"], PointID: in["pointId"], Task: protection.TaskRestore,
		Access: func(ctx context.Context) error {
			bid, _ := arm.ParseID(in["instanceId"])
			vault, err := pr.loadVault(ctx, pr.p.Store, bid.Parent())
			if err == nil {
				err = pr.checkPermissions(ctx, vault, json.RawMessage(in["identityDetails"]), "Restore", restorePermissions(in)...)
			}
			if err == nil {
				err = pr.p.Inject(ctx, fault.OpRestore, in["instanceId"])
			}
			return jobErrorOf(err)
		},
		Targets: func(p *protection.RecoveryPoint) ([]protection.RestoreTarget, error) {
			return []protection.RestoreTarget{{Source: p.Snapshots[0], Target: protection.DiskTarget{ID: in["target"], Location: in["location"],
				Tags: map[string]string{"RestoredByJob": jobID}}}}, nil
		}})
	return jobEnded(op, j, err)
}

func (pr *Provider) validateRestore(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	vault, in, err := vaultAndBody[validateRestoreRequest](pr, r)
	if err != nil {
		return nil, err
	}
	req, field := in.RestoreRequestObject, "restoreRequestObject"
	if req == nil {
		if in.restoreRequest.RestoreTargetInfo == nil {
			return nil, fieldError("restoreRequestObject", "is required: {\"restoreRequestObject\": <the restore request>}")
		}
		req, field = &in.restoreRequest, ""
		req.ObjectType = "AzureBackupRecoveryPointBasedRestoreRequest"
	} else if req.RecoveryPointID == "" {
		req.RecoveryPointID = in.restoreRequest.RecoveryPointID
	}
	if err := r.CheckLinked(restoreLinks(req)...); err != nil {
		return nil, err
	}
	bi, err := pr.loadInstance(ctx, pr.p.Store, instanceIDOf(r))
	if err != nil {
		return nil, err
	}
	cr, err := pr.checkRestore(ctx, vault, bi, req, field)
	if err != nil {
		return nil, err
	}
	op := &ops.Operation{Kind: opValidateRestore, ResourceID: bi.ID, Caller: r.Caller(), Location: resource.NormLocation(vault.Location)}
	return pr.accepted(r, vault, op, nil, cr.input(map[string]string{"vaultId": vault.ID, "instanceId": bi.ID}))
}

// runValidate is the work of a validate operation: the vault identity's
// permission checks (what names the check in its error), then the fault rules
// for validation on the resource its input names under target.
func (pr *Provider) runValidate(what, target string, checks func(in map[string]string) []permCheck) mapOp {
	return func(ctx context.Context, op *ops.Operation, in map[string]string) error {
		vid, _ := arm.ParseID(in["vaultId"])
		vault, err := pr.loadVault(ctx, pr.p.Store, vid)
		if err != nil {
			return err
		}
		if err := pr.checkPermissions(ctx, vault, json.RawMessage(in["identityDetails"]), what, checks(in)...); err != nil {
			return err
		}
		if err := pr.p.Inject(ctx, fault.OpValidate, in[target]); err != nil {
			return err
		}
		jobResult(op, "")
		return nil
	}
}

// pointVisible: an expired point is gone for users at once (the next
// scheduled run deletes it), except under stopped protection, which keeps
// every point, and suspended backups, which keep the latest (latest says
// whether p is the instance's newest point; it is asked only then).
func pointVisible(bi *instanceResource, p *protection.RecoveryPoint, now time.Time, latest func() bool) bool {
	switch st := bi.Properties.CurrentProtectionState; {
	case st == stateStopped || !p.Expired(now):
		return true
	case st == stateSuspended:
		return latest()
	}
	return false
}

// isLatestPoint reports whether p is the newest recovery point of the
// instance biID (pointVisible's latest for a point read alone).
func (pr *Provider) isLatestPoint(ctx context.Context, biID string, p *protection.RecoveryPoint) func() bool {
	return func() bool {
		pts, err := protection.ListRecoveryPoints(ctx, pr.p.Store, biID)
		return err == nil && len(pts) > 0 && pts[0].ID == p.ID
	}
}

// activityID is the correlation id of the request behind ctx, which Azure
// reports as the ActivityId of its user-facing errors (a new id if none).
func activityID(ctx context.Context) string {
	if id := arm.CorrelationID(ctx); id != "" {
		return id
	}
	return newGUID()
}
