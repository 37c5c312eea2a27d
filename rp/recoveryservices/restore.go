package recoveryservices

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/fault"
	"github.com/safehold/safehold/ops"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/rp/vaultface"
	"github.com/safehold/safehold/store"
)

// restoreRequest is IaasVMRestoreRequest (the fields Safehold acts on).
type restoreRequest struct {
	ObjectType             string `json:"objectType"`
	RecoveryPointID        string `json:"recoveryPointId,omitempty"`
	RecoveryType           string `json:"recoveryType"`
	SourceResourceID       string `json:"sourceResourceId,omitempty"`
	StorageAccountID       string `json:"storageAccountId,omitempty"`
	Region                 string `json:"region,omitempty"`
	TargetResourceGroupID  string `json:"targetResourceGroupId,omitempty"`
	TargetVirtualMachineID string `json:"targetVirtualMachineId,omitempty"`
	VirtualNetworkID       string `json:"virtualNetworkId,omitempty"`
	SubnetID               string `json:"subnetId,omitempty"`
	// RestoreDiskLunList names the data disks a RestoreDisks restores
	// beside the OS disk: absent (nil), every disk; an empty list, the OS
	// disk only (az backup restore restore-disks --restore-only-osdisk
	// sends []).
	RestoreDiskLunList *[]int32 `json:"restoreDiskLunList,omitempty"`
	// Zones is the availability zone a RestoreDisks creates the disks in.
	Zones []string `json:"zones,omitempty"`
	// DiskEncryptionSetID encrypts the restored managed disks with a
	// customer-managed key (az backup restore restore-disks
	// --disk-encryption-set-id).
	DiskEncryptionSetID string `json:"diskEncryptionSetId,omitempty"`
	// EncryptionType is the set's (checkRestore fills it in).
	EncryptionType string `json:"safeholdEncryptionType,omitempty"`
	// TargetDiskNetworkAccessSettings is the restored disks' network
	// access (az backup restore restore-disks --disk-access-option,
	// --target-disk-access-id).
	TargetDiskNetworkAccessSettings *diskNetworkAccess `json:"targetDiskNetworkAccessSettings,omitempty"`
	// RecoveryPointRehydrationInfo rehydrates an archived point first
	// (archive.go).
	RecoveryPointRehydrationInfo *struct {
		RehydrationPriority          string `json:"rehydrationPriority,omitempty"`
		RehydrationRetentionDuration string `json:"rehydrationRetentionDuration,omitempty"`
	} `json:"recoveryPointRehydrationInfo,omitempty"`
	// IdentityInfo is the vault's managed identity the restore acts as (az
	// backup restore restore-disks --mi-system-assigned,
	// --mi-user-assigned): it must be allowed what it does with the
	// network (checkRestoreNetwork).
	IdentityInfo *struct {
		IsSystemAssignedIdentity  bool   `json:"isSystemAssignedIdentity,omitempty"`
		ManagedIdentityResourceID string `json:"managedIdentityResourceId,omitempty"`
	} `json:"identityInfo,omitempty"`
	// IdentityBasedRestoreDetails names the staging account of a restore
	// that reaches it with the vault's managed identity.
	IdentityBasedRestoreDetails *struct {
		ObjectType             string `json:"objectType,omitempty"`
		TargetStorageAccountID string `json:"targetStorageAccountId,omitempty"`
	} `json:"identityBasedRestoreDetails,omitempty"`
}

// diskNetworkAccess is TargetDiskNetworkAccessSettings.
type diskNetworkAccess struct {
	// Option is SameAsOnSourceDisks (each disk as its source disk is),
	// EnablePrivateAccessForAllDisks (through DiskAccessID) or
	// EnablePublicAccessForAllDisks.
	Option       string `json:"targetDiskNetworkAccessOption,omitempty"`
	DiskAccessID string `json:"targetDiskAccessId,omitempty"`
}

// Target disk network access options.
const (
	accessSameAsSource = "SameAsOnSourceDisks"
	accessPrivate      = "EnablePrivateAccessForAllDisks"
	accessPublic       = "EnablePublicAccessForAllDisks"
)

// targetDiskAccess is the disk access the restored disks are to use (""
// unless private access is asked for).
func (req restoreRequest) targetDiskAccess() string {
	if a := req.TargetDiskNetworkAccessSettings; a != nil && strings.EqualFold(a.Option, accessPrivate) {
		return a.DiskAccessID
	}
	return ""
}

// withNetworkAccess sets t's network access as req asks for the disk
// restored from s.
func (pr *Provider) withNetworkAccess(ctx context.Context, req restoreRequest, s protection.DiskSnapshot, t *protection.DiskTarget) {
	a := req.TargetDiskNetworkAccessSettings
	switch {
	case a == nil:
	case a.Option == accessPrivate:
		t.NetworkAccessPolicy, t.PublicNetworkAccess, t.DiskAccessID = "AllowPrivate", "Disabled", a.DiskAccessID
	case a.Option == accessPublic:
		t.NetworkAccessPolicy, t.PublicNetworkAccess = "AllowAll", "Enabled"
	case a.Option == accessSameAsSource:
		// As the source disk is now (a source disk gone: Azure's defaults).
		d, err := pr.Compute.DiskResource(ctx, s.DiskID)
		if err != nil {
			return
		}
		t.NetworkAccessPolicy, t.PublicNetworkAccess = d.Properties.NetworkAccessPolicy, d.Properties.PublicNetworkAccess
		var id string
		if json.Unmarshal(d.Properties.Settings["diskAccessId"], &id) == nil && id != "" {
			if ok, err := resource.Exists(ctx, pr.p.Store, id); err == nil && ok {
				t.DiskAccessID = id
			}
		}
	}
}

type restoreInput struct {
	JobID   string         `json:"jobId"`
	ItemID  string         `json:"itemId"`
	PointID string         `json:"pointId"`
	Req     restoreRequest `json:"request"`
	// Unmanaged: the disks end as VHDs in the staging account (staging.go).
	Unmanaged bool `json:"unmanaged,omitempty"`
}

func restoreErr(field, format string, args ...any) *arm.Error {
	return arm.BadRequestAt(field, "BMSUserErrorInvalidRestoreInput", "Invalid restore request: '%s' %s", field, fmt.Sprintf(format, args...))
}

// restore is POST I/recoveryPoints/{rp}/restore: 202 with both polling
// headers; the operation runs the restore job and succeeds (naming the
// job) when the disks, or the VM, exist.
func (pr *Provider) restore(r *arm.Request, at itemPath) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	var peek struct {
		Properties restoreRequest `json:"properties"`
	}
	if r.DecodeOptional(&peek) == nil { // a bad body is answered below
		if err := r.CheckLinked(restoreLinks(peek.Properties)...); err != nil {
			return nil, err
		}
	}
	it, err := pr.loadItem(ctx, pr.p.Store, at.id)
	if err != nil {
		return nil, err
	}
	// An OriginalLocation restore changes the item's VM, which the body
	// need not name: a caller who may not write it is refused as ARM
	// refuses a link (it was 403 AuthorizationFailed, from checkRestore).
	if strings.EqualFold(peek.Properties.RecoveryType, "OriginalLocation") {
		if err := r.CheckLinked(originalLinks(it)...); err != nil {
			return nil, err
		}
	}
	p, err := pr.pointOf(ctx, it, r.Param("recoveryPointId"))
	if err != nil {
		return nil, err
	}
	var in struct {
		Properties restoreRequest `json:"properties"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	unmanaged := in.Properties.unmanaged()
	req, err := pr.checkRestore(ctx, r.Caller(), it, p, in.Properties)
	if err != nil {
		return nil, err
	}
	j := pr.newJob(at.vid, it, protection.OpRestore, pr.p.Now(), true)
	j.RecoveryPointID, j.RecoveryPointTime = p.ID, &p.Time
	j.Target = firstOf(req.TargetVirtualMachineID, req.TargetResourceGroupID, it.SourceID)
	j.Details["Recovery Type"] = req.RecoveryType
	j.Tasks = []protection.JobTask{{Name: "Transfer data from vault", Status: "NotStarted", StartTime: j.StartTime}}
	op := &ops.Operation{Kind: opKindRestore, ResourceID: it.ID, Caller: r.Caller()}
	return pr.startJobOp(r, it, j, op, restoreInput{JobID: j.ID, ItemID: it.ID, PointID: p.ID, Req: req, Unmanaged: unmanaged})
}

// runRestoreOp runs a restore job to its end.
func (pr *Provider) runRestoreOp(ctx context.Context, op *ops.Operation) error {
	var in restoreInput
	if err := decodeJobInput(op, &in, &in.JobID); err != nil {
		return err
	}
	if err := pr.checkCompute(); err != nil {
		return err
	}
	it, err := pr.loadItem(ctx, pr.p.Store, mustParse(in.ItemID))
	if err != nil {
		return err
	}
	v, err := pr.loadVault(ctx, pr.p.Store, mustParse(it.VaultID))
	if err != nil {
		return err
	}
	req := in.Req
	var rehydration *protection.Rehydration
	if i := req.RecoveryPointRehydrationInfo; i != nil {
		rh, err := protection.ParseRehydration(i.RehydrationPriority, i.RehydrationRetentionDuration, "properties.recoveryPointRehydrationInfo")
		if err != nil {
			return err
		}
		rehydration = &rh
	}
	j, err := pr.Engine.Restore(ctx, in.JobID, protection.RestoreRequest{ItemID: it.ID, PointID: in.PointID, VaultKey: v.UniqueID,
		Task: protection.TaskRestoreVault, Rehydration: rehydration,
		Access: func(ctx context.Context) error { return jobErr(pr.p.Inject(ctx, fault.OpRestore, it.ID)) },
		Targets: func(p *protection.RecoveryPoint) ([]protection.RestoreTarget, error) {
			return pr.restoreTargets(ctx, &in, it, p)
		},
		Then: func(ctx context.Context, p *protection.RecoveryPoint, disks []protection.RestoredDisk) (map[string]string, error) {
			ids := make([]string, len(disks))
			for i, d := range disks {
				ids[i] = d.Disk.ID
			}
			details, err := map[string]string{}, error(nil)
			if req.RecoveryType != "RestoreDisks" {
				if err := pr.restoreVM(ctx, &in, it, p, disks); err != nil {
					return nil, err
				}
			} else if details, err = pr.stageRestore(ctx, &in, it, p, disks); err != nil {
				return nil, err
			}
			if len(ids) > 0 {
				details["Restored Disks"] = strings.Join(ids, ",")
			}
			return details, nil
		}})
	return jobOutcome(j, err)
}

// jobOutcome is how an operation that ran job j ends: err, or the job's
// failure as a 400 with its code.
func jobOutcome(j *protection.Job, err error) error {
	if err != nil {
		return err
	}
	if je := j.Error; j.Status == protection.JobFailed && je != nil {
		return arm.BadRequest(je.Code, "%s", je.Message)
	}
	return nil
}

// startJobOp stores job j and starts op (with input) in one transaction
// and answers 202 with the item's polling headers.
func (pr *Provider) startJobOp(r *arm.Request, it *itemRecord, j *protection.Job, op *ops.Operation, input any) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	if err := pr.p.Ops.Launch(ctx, op, input, func(tx store.Tx) error { return protection.CreateJob(ctx, tx, j) }); err != nil {
		return nil, err
	}
	return itemAccepted(r, it.ID, op), nil
}

// restoreTargets names the disks a restore creates from the point.
func (pr *Provider) restoreTargets(ctx context.Context, in *restoreInput, it *itemRecord, p *protection.RecoveryPoint) ([]protection.RestoreTarget, error) {
	req := in.Req
	location := firstOf(req.Region, p.Details["vmLocation"], it.Location)
	var targetRG arm.ResourceID
	switch req.RecoveryType {
	case "OriginalLocation":
		src := mustParse(it.SourceID)
		targetRG, _ = arm.ParseID(src.ResourceGroupID())
		if vm, err := pr.lookupVM(ctx, it.SourceID); err == nil {
			location = vm.Location
		}
	default:
		var err error
		if targetRG, err = arm.ParseID(req.TargetResourceGroupID); err != nil {
			return nil, err
		}
	}
	short := strings.ReplaceAll(in.JobID, "-", "")[:8]
	vmName := firstOf(p.Details["vmName"], it.FriendlyName)
	tags := map[string]string{"RestoredBy": "AzureBackup", "RestoreJobId": in.JobID}
	var out []protection.RestoreTarget
	for _, s := range p.Snapshots {
		if req.RecoveryType == "RestoreDisks" && req.RestoreDiskLunList != nil && !s.OSDisk {
			keep := false
			for _, l := range *req.RestoreDiskLunList {
				if int(l) == s.Lun {
					keep = true
				}
			}
			if !keep {
				continue
			}
		}
		part := "osdisk"
		if !s.OSDisk {
			part = fmt.Sprintf("datadisk-%d", s.Lun)
		}
		name := vmName + "-" + part + "-" + short
		if len(name) > 80 {
			name = name[len(name)-80:]
		}
		did := arm.NewID(targetRG.SubscriptionID, targetRG.ResourceGroup, "Microsoft.Compute", "disks", name).String()
		t := protection.DiskTarget{ID: did, Location: location, Tags: tags, EncryptionType: req.EncryptionType, DiskEncryptionSetID: req.DiskEncryptionSetID}
		pr.withNetworkAccess(ctx, req, s, &t)
		if req.RecoveryType == "RestoreDisks" {
			t.Zones = req.Zones
		}
		out = append(out, protection.RestoreTarget{Source: s, Target: t})
	}
	return out, nil
}

// restoreVM creates the VM of an AlternateLocation or OriginalLocation
// restore over the restored disks.
func (pr *Provider) restoreVM(ctx context.Context, in *restoreInput, it *itemRecord, p *protection.RecoveryPoint, disks []protection.RestoredDisk) error {
	req := in.Req
	location := firstOf(req.Region, p.Details["vmLocation"], it.Location)
	spec := compute.VMSpec{Location: location, VMSize: p.Details["vmSize"], OSType: p.Details["osType"], Tags: map[string]string{}}
	for _, r := range disks {
		if r.Source.OSDisk {
			spec.OSDiskID = r.Disk.ID
		} else {
			spec.DataDisks = append(spec.DataDisks, compute.VMDataDisk{Lun: int32(r.Source.Lun), DiskID: r.Disk.ID, Name: mustParse(r.Disk.ID).Name()})
		}
	}
	if req.RecoveryType == "AlternateLocation" {
		spec.ID = req.TargetVirtualMachineID
		// Its tags name the job, as its disks' do: a restore that does not
		// complete deletes the VM it made (IntendVM), not one of its name
		// someone else made.
		spec.Tags = map[string]string{"RestoredBy": "AzureBackup", "RestoreJobId": in.JobID}
		if spec.VMSize != "" {
			spec.HardwareProfile = map[string]any{"vmSize": spec.VMSize}
		}
		if req.SubnetID != "" {
			// Its network interface, made with it (and deleted with it:
			// the clean-up of a failed restore deletes it too).
			spec.NewNICs = []compute.NewNIC{{ID: nicOf(spec.ID), SubnetID: req.SubnetID}}
		}
		for _, r := range disks {
			if r.Source.SKU == "UltraSSD_LRS" {
				// The restored Ultra disks keep their sku: the new VM
				// enables them, as the source VM did to attach them.
				spec.Kept = map[string]json.RawMessage{"additionalCapabilities": json.RawMessage(`{"ultraSSDEnabled":true}`)}
			}
		}
	} else {
		cur, err := pr.Compute.VMResource(ctx, it.SourceID)
		if err != nil {
			return err
		}
		spec.ID, spec.Location, spec.Tags = cur.ID, cur.Location, cur.Tags
		spec.HardwareProfile, spec.OSProfile, spec.NetworkProfile = cur.Properties.HardwareProfile, cur.Properties.OSProfile, cur.Properties.NetworkProfile
		if od := cur.Properties.StorageProfile.OSDisk; od != nil && spec.OSType == "" {
			spec.OSType = od.OSType
		}
	}
	if req.RecoveryType == "AlternateLocation" {
		if cur, err := pr.Compute.VMResource(ctx, spec.ID); err == nil {
			if cur.Tags["RestoreJobId"] == in.JobID {
				return nil // made by an earlier run of this job
			}
			return &protection.JobError{Code: protection.CodeRestoreFailed, Message: "Creating virtual machine " + spec.ID + " failed: the virtual machine already exists; restore to a new virtual machine name."}
		} else if !isNotFound(err) {
			return err
		}
		// The VM must fit the compute quota (CreateVM enforces it too): the
		// job fails with the code restore validation reports.
		if short, err := pr.Compute.VMQuotaShortfall(ctx, mustParse(spec.ID).SubscriptionID, spec.Location, firstOf(spec.VMSize, "Standard_D2s_v3")); err == nil && short != nil {
			return &protection.JobError{Code: codeQuotaReached, Message: "Core Count subscription quota has been reached. " + short.Error(),
				RecommendedAction: []string{quotaRecommendation}}
		}
		// Recorded in the job before it is made: a crash right after
		// leaves the job knowing it.
		if err := pr.Engine.IntendVM(ctx, in.JobID, spec.ID); err != nil {
			return err
		}
	}
	if _, err := pr.Compute.CreateVM(ctx, spec); err != nil {
		// The network's refusal (its subnet full, or gone since the
		// trigger) ends the job with its code, saying what to fix.
		var ae *arm.Error
		if errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 {
			return &protection.JobError{Code: ae.Code, Message: "Creating virtual machine " + spec.ID + " failed: " + ae.Message}
		}
		return fmt.Errorf("create VM %s: %w", spec.ID, err)
	}
	if req.RecoveryType == "AlternateLocation" {
		// A restore fault rule matching the new VM's id fails (or holds)
		// the restore once its VM is made: the job then deletes the VM,
		// and its disks after it.
		return jobErr(pr.p.Inject(ctx, fault.OpRestore, spec.ID))
	}
	return nil
}

// Azure's code and recommendation for a restore whose VM would exceed the
// subscription's vCPU quota.
const (
	codeQuotaReached    = "UserErrorCoreCountSubscriptionQuotaReached"
	quotaRecommendation = "Contact Azure support to increase the limits."
)

// storageAccountType is the type of a restore's staging storage account.
const storageAccountType = "Microsoft.Storage/storageAccounts"

// checkRestore validates a restore request against the item and its point,
// as restore and restore validation (backupValidateOperation) both do: the
// recovery type and its targets, the staging storage account, the caller's
// access to what the restore writes and reads, and the point's data. It
// returns the request completed with its defaults (the recovery type's
// spelling, the target resource group of the classic form).
func (pr *Provider) checkRestore(ctx context.Context, caller arm.Caller, it *itemRecord, p *protection.RecoveryPoint, req restoreRequest) (restoreRequest, error) {
	if err := softDeleted(it, "restoring from it"); err != nil {
		return req, err
	}
	if ot := req.ObjectType; ot != "" && !strings.EqualFold(ot, "IaasVMRestoreRequest") && !strings.EqualFold(ot, "IaasVMRestoreWithRehydrationRequest") {
		return req, restoreErr("properties.objectType", "'%s' is not a VM restore: use 'IaasVMRestoreRequest'.", ot)
	}
	if _, err := rehydrationOf(req, p, pr.p.Now()); err != nil {
		return req, err
	}
	switch strings.ToLower(req.RecoveryType) {
	case "restoredisks":
		req.RecoveryType = "RestoreDisks"
	case "alternatelocation":
		req.RecoveryType = "AlternateLocation"
	case "originallocation":
		req.RecoveryType = "OriginalLocation"
	case "":
		return req, restoreErr("properties.recoveryType", "is required: use RestoreDisks, AlternateLocation or OriginalLocation.")
	default:
		return req, restoreErr("properties.recoveryType", "'%s' is not supported: use RestoreDisks, AlternateLocation or OriginalLocation.", req.RecoveryType)
	}
	if req.RecoveryPointID != "" && !strings.EqualFold(req.RecoveryPointID, p.ID) {
		return req, restoreErr("properties.recoveryPointId", "'%s' differs from the recovery point '%s' in the path.", req.RecoveryPointID, p.ID)
	}
	if req.SourceResourceID != "" && !arm.EqualIDs(req.SourceResourceID, it.SourceID) {
		return req, restoreErr("properties.sourceResourceId", "'%s' is not the protected VM '%s'.", req.SourceResourceID, it.SourceID)
	}
	checkRG := func(field, id string) error {
		rid, err := arm.ParseID(id)
		if err != nil || rid.ResourceGroup == "" || rid.Namespace != "" {
			return restoreErr(field, "'%s' is not a resource group id (/subscriptions/{id}/resourceGroups/{name}).", id)
		}
		return resource.CheckResourceGroup(ctx, pr.p.Store, rid.SubscriptionID, rid.ResourceGroup)
	}
	if req.DiskEncryptionSetID != "" {
		// Read access was checked with the request's links (restoreLinks).
		sid, err := arm.ParseID(req.DiskEncryptionSetID)
		var set struct {
			Properties struct {
				EncryptionType string `json:"encryptionType"`
			} `json:"properties"`
		}
		if err == nil && sid.IsType("Microsoft.Compute/diskEncryptionSets") {
			err = resource.Get(ctx, pr.p.Store, sid, &set)
			if err != nil && !arm.IsNotFound(err) {
				return req, err
			}
		} else {
			err = errors.New("not a disk encryption set id")
		}
		if err != nil {
			return req, restoreErr("properties.diskEncryptionSetId", "'%s' is no disk encryption set: name an existing one (/subscriptions/{id}/resourceGroups/{rg}/providers/Microsoft.Compute/diskEncryptionSets/{name}).", req.DiskEncryptionSetID)
		}
		req.DiskEncryptionSetID = sid.String()
		req.EncryptionType = "EncryptionAtRestWithCustomerKey"
		if strings.EqualFold(set.Properties.EncryptionType, "EncryptionAtRestWithPlatformAndCustomerKeys") {
			req.EncryptionType = "EncryptionAtRestWithPlatformAndCustomerKeys"
		}
	}
	if a := req.TargetDiskNetworkAccessSettings; a != nil {
		const field = "properties.targetDiskNetworkAccessSettings."
		switch {
		case strings.EqualFold(a.Option, accessSameAsSource):
			a.Option = accessSameAsSource
		case strings.EqualFold(a.Option, accessPublic):
			a.Option = accessPublic
		case strings.EqualFold(a.Option, accessPrivate):
			a.Option = accessPrivate
			// Read access was checked with the request's links (restoreLinks).
			aid, err := arm.ParseID(a.DiskAccessID)
			ok := err == nil && aid.IsType("Microsoft.Compute/diskAccesses")
			if ok {
				if ok, err = resource.Exists(ctx, pr.p.Store, aid.String()); err != nil {
					return req, err
				}
			}
			if !ok {
				return req, restoreErr(field+"targetDiskAccessId", "'%s' is no disk access: %s needs an existing one (/subscriptions/{id}/resourceGroups/{rg}/providers/Microsoft.Compute/diskAccesses/{name}).", a.DiskAccessID, accessPrivate)
			}
			a.DiskAccessID = aid.String()
		default:
			return req, restoreErr(field+"targetDiskNetworkAccessOption", "'%s' is not supported: use %s, %s (with targetDiskAccessId) or %s.", a.Option, accessSameAsSource, accessPrivate, accessPublic)
		}
		if a.Option != accessPrivate {
			a.DiskAccessID = ""
		}
	}
	if req.Region != "" && it.Location != "" && resource.NormLocation(req.Region) != resource.NormLocation(it.Location) {
		return req, restoreErr("properties.region", "'%s' is not the region of the vault and its VM ('%s'): a restore creates its resources in the vault's region.", req.Region, it.Location)
	}
	// The staging account: storageAccountId, or the one an identity-based
	// restore names.
	staging, stagingField := req.staging()
	if staging != "" {
		sa, err := arm.ParseID(staging)
		if err != nil || !sa.IsType(storageAccountType) {
			return req, restoreErr(stagingField, "'%s' is not a storage account id (/subscriptions/{id}/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts/{name}).", staging)
		}
		if ok, err := resource.Exists(ctx, pr.p.Store, sa.String()); err != nil {
			return req, err
		} else if !ok {
			return req, arm.BadRequest("UserErrorStorageAccountNotFound", "The staging storage account '%s' was not found: create it (Microsoft.Storage/storageAccounts) or name an existing one in %s.", sa.Name(), stagingField)
		}
		if req.unmanaged() {
			// The unmanaged form: the disks are restored where the
			// account is, and as VHDs into it (staging.go).
			req.TargetResourceGroupID = sa.ResourceGroupID()
		}
	}
	// A point of a selective disk backup restores its disks only, as in
	// Azure ("Create new VM" and "Replace existing" are not supported for
	// it): the VM would lack the disks it left out.
	if ex := p.Details[excludedDisksInfo]; ex != "" && req.RecoveryType != "RestoreDisks" {
		return req, restoreErr("properties.recoveryType", "'%s' is not supported for this recovery point: its backup excluded data disks (lun:name %s) by the item's disk exclusion settings. Use RestoreDisks and attach the restored disks.", req.RecoveryType, ex)
	}
	switch req.RecoveryType {
	case "RestoreDisks":
		if req.TargetResourceGroupID == "" {
			return req, restoreErr("properties.targetResourceGroupId", "is required for RestoreDisks without a staging storage account (properties.storageAccountId): the managed disks are created there.")
		}
		if err := checkRG("properties.targetResourceGroupId", req.TargetResourceGroupID); err != nil {
			return req, err
		}
		var luns []int32
		if req.RestoreDiskLunList != nil {
			luns = *req.RestoreDiskLunList
		}
		for i, lun := range luns {
			found := false
			for _, s := range p.Snapshots {
				if int32(s.Lun) == lun && !s.OSDisk {
					found = true
				}
			}
			if !found {
				return req, restoreErr(fmt.Sprintf("properties.restoreDiskLunList[%d]", i), "names lun %d, which is not a data disk of this recovery point.", lun)
			}
		}
		if len(req.Zones) > 1 {
			return req, restoreErr("properties.zones", "names %d zones: the disks are restored into one availability zone ('1', '2' or '3').", len(req.Zones))
		}
		for i, z := range req.Zones {
			if z != "1" && z != "2" && z != "3" {
				return req, restoreErr(fmt.Sprintf("properties.zones[%d]", i), "'%s' is not an availability zone: use '1', '2' or '3'.", z)
			}
		}
		if loc := firstOf(req.Region, p.Details["vmLocation"], it.Location); len(req.Zones) > 0 && loc != "" && resource.Zones(loc) == nil {
			return req, restoreErr("properties.zones", "names zone '%s', and the disks are restored in region '%s', which has no availability zones: leave out zones.", req.Zones[0], resource.NormLocation(loc))
		}
	case "AlternateLocation":
		tid, err := arm.ParseID(req.TargetVirtualMachineID)
		if req.TargetVirtualMachineID == "" || err != nil || !tid.IsType(vmType) {
			return req, restoreErr("properties.targetVirtualMachineId", "must be the id of the new virtual machine to create.")
		}
		if req.TargetResourceGroupID == "" {
			req.TargetResourceGroupID = tid.ResourceGroupID()
		}
		if err := checkRG("properties.targetResourceGroupId", req.TargetResourceGroupID); err != nil {
			return req, err
		}
		if err := resource.CheckResourceGroup(ctx, pr.p.Store, tid.SubscriptionID, tid.ResourceGroup); err != nil {
			return req, err
		}
		if ok, err := resource.Exists(ctx, pr.p.Store, tid.String()); err != nil {
			return req, err
		} else if ok {
			return req, restoreErr("properties.targetVirtualMachineId", "'%s' already exists: name a new VM, or restore to the original location.", tid.Name())
		}
		for _, f := range []struct{ field, id, typ string }{{"properties.virtualNetworkId", req.VirtualNetworkID, "Microsoft.Network/virtualNetworks"}, {"properties.subnetId", req.SubnetID, "Microsoft.Network/virtualNetworks/subnets"}} {
			if rid, err := arm.ParseID(f.id); f.id != "" && (err != nil || !rid.IsType(f.typ) || rid.ResourceGroup == "") {
				return req, restoreErr(f.field, "'%s' is not a %s id (/subscriptions/{id}/resourceGroups/{rg}/providers/%s/...).", f.id, f.typ, f.typ)
			}
		}
	case "OriginalLocation":
		if _, err := pr.lookupVM(ctx, it.SourceID); err != nil {
			return req, restoreErr("properties.sourceResourceId", "the original VM '%s' no longer exists: restore to an alternate location instead.", it.FriendlyName)
		}
	}
	// The caller needs write access where the restore creates resources
	// (and the staging account's blobs), and no management lock may
	// forbid a client's PUT there (409 ScopeLocked): the restore's disks
	// and VM are created, and an original VM changed, on the caller's
	// behalf (compute refuses them again when the job runs, for a lock
	// made after this).
	var writes [][2]string
	switch req.RecoveryType {
	case "RestoreDisks":
		writes = append(writes, [2]string{"Microsoft.Compute/disks/write", req.TargetResourceGroupID})
	case "AlternateLocation":
		writes = append(writes, [2]string{"Microsoft.Compute/disks/write", req.TargetResourceGroupID}, [2]string{"Microsoft.Compute/virtualMachines/write", req.TargetVirtualMachineID})
	case "OriginalLocation":
		writes = append(writes, [2]string{"Microsoft.Compute/disks/write", mustParse(it.SourceID).ResourceGroupID()}, [2]string{"Microsoft.Compute/virtualMachines/write", it.SourceID})
	}
	if req.RecoveryType != "OriginalLocation" { // the VM's own place, wherever it is
		if err := pr.checkCrossSubscription(ctx, it, writes); err != nil {
			return req, err
		}
	}
	if pr.p.Authorize != nil {
		checks := [][2]string{}
		if staging != "" {
			checks = append(checks, [2]string{stagingAction, staging})
		}
		checks = append(checks, writes...)
		if req.RecoveryType == "AlternateLocation" {
			checks = append(checks, networkChecks(req)...)
		}
		for _, c := range checks {
			if err := pr.p.Authorize(ctx, caller.ObjectID, c[0], c[1]); err != nil {
				return req, err
			}
		}
	}
	// A restore with a managed identity (identityInfo) reaches its staging
	// account as that identity, as in Azure: the identity is the vault's,
	// and it may write the account's containers.
	if staging != "" {
		if err := pr.checkVaultIdentity(ctx, it, req, stagingIdentityAction, staging, "Storage Account Contributor or Contributor"); err != nil {
			return req, err
		}
	}
	for _, w := range writes {
		if err := resource.CheckWrite(ctx, pr.p.Store, w[1]); err != nil {
			return req, err
		}
	}
	if req.RecoveryType == "AlternateLocation" {
		if err := pr.checkRestoreNetwork(ctx, it, req, firstOf(req.Region, p.Details["vmLocation"], it.Location)); err != nil {
			return req, err
		}
	}
	if !p.HasTier(protection.TierOperational) && !p.HasTier(protection.TierVault) {
		return req, arm.BadRequest("BMSUserErrorRecoveryPointNotRestorable", "The recovery point '%s' has no data in any tier yet: wait for its backup job to finish.", p.ID)
	}
	return req, nil
}

// checkRestoreNetwork checks the network a restore to a new VM in location
// names: the subnet (required with a virtual network, and of it) exists in
// a virtual network of location, the vault's managed identity the restore
// acts as (identityInfo) may join it, as the caller must, and the network
// interface the restore creates for the VM (nicOf) does not exist yet.
func (pr *Provider) checkRestoreNetwork(ctx context.Context, it *itemRecord, req restoreRequest, location string) error {
	if req.SubnetID == "" {
		if req.VirtualNetworkID != "" {
			return restoreErr("properties.subnetId", "is required with properties.virtualNetworkId: the new VM's network interface is created in that subnet of the virtual network.")
		}
		return nil
	}
	sid := mustParse(req.SubnetID)
	if req.VirtualNetworkID != "" && !arm.EqualIDs(sid.Parent().String(), req.VirtualNetworkID) {
		return restoreErr("properties.subnetId", "'%s' is not a subnet of the virtual network '%s' (properties.virtualNetworkId): name one of its subnets.", req.SubnetID, req.VirtualNetworkID)
	}
	loc, err := pr.Compute.SubnetLocation(ctx, req.SubnetID)
	if isNotFound(err) {
		return restoreErr("properties.subnetId", "the subnet '%s' of the virtual network '%s' (resource group '%s') was not found: create it (az network vnet subnet create) or name an existing one.", sid.Name(), sid.Parent().Name(), sid.ResourceGroup)
	} else if err != nil {
		return err
	}
	if resource.NormLocation(loc) != resource.NormLocation(location) {
		return restoreErr("properties.virtualNetworkId", "the virtual network '%s' is in region '%s', and the new VM is created in '%s': name a virtual network of that region.", sid.Parent().Name(), loc, resource.NormLocation(location))
	}
	if err := pr.checkVaultIdentity(ctx, it, req, joinSubnet, req.SubnetID, "Network Contributor"); err != nil {
		return err
	}
	nic := nicOf(req.TargetVirtualMachineID)
	if ok, err := resource.Exists(ctx, pr.p.Store, nic); err != nil {
		return err
	} else if ok {
		return restoreErr("properties.targetVirtualMachineId", "the new VM's network interface '%s' already exists: delete it, or name another VM.", mustParse(nic).Name())
	}
	return nil
}

const joinSubnet = "Microsoft.Network/virtualNetworks/subnets/join/action"

// stagingIdentityAction is what the managed identity of an identity-based
// restore needs on the staging account: Azure's documented actions for it
// (backup-azure-arm-restore-vms, "Restore VMs with managed identities")
// are the blob containers' read, write and delete, and the spec's
// identityInfo is "required to access customer storage account".
const stagingIdentityAction = "Microsoft.Storage/storageAccounts/blobServices/containers/write"

// checkVaultIdentity checks that the vault's managed identity a restore
// acts as (identityInfo: the system-assigned one, or the user-assigned one
// it names) exists and may perform action at scope: 400 naming
// properties.identityInfo when the vault has no such identity, 403
// AuthorizationFailed naming the identity (and roles, the built-in roles
// that would grant it) when it may not.
func (pr *Provider) checkVaultIdentity(ctx context.Context, it *itemRecord, req restoreRequest, action, scope, roles string) error {
	ii := req.IdentityInfo
	if ii == nil || pr.p.Authorize == nil || (!ii.IsSystemAssignedIdentity && ii.ManagedIdentityResourceID == "") {
		return nil
	}
	v, err := pr.loadVault(ctx, pr.p.Store, mustParse(it.VaultID))
	if err != nil {
		return err
	}
	principal, which := "", "system-assigned identity"
	if id := v.Identity; id != nil {
		if ii.IsSystemAssignedIdentity {
			principal = id.PrincipalID
		} else {
			which = "user-assigned identity '" + ii.ManagedIdentityResourceID + "'"
			for k, u := range id.UserAssignedIdentities {
				if u != nil && arm.EqualIDs(k, ii.ManagedIdentityResourceID) {
					principal = u.PrincipalID
				}
			}
		}
	} else if !ii.IsSystemAssignedIdentity {
		which = "user-assigned identity '" + ii.ManagedIdentityResourceID + "'"
	}
	if principal == "" {
		return restoreErr("properties.identityInfo", "names the vault's %s, which the vault '%s' does not have: assign it to the vault (az backup vault identity assign), or restore without a managed identity.", which, v.Name)
	}
	if err := pr.p.Authorize(ctx, principal, action, scope); err != nil {
		return arm.Errorf(http.StatusForbidden, "AuthorizationFailed", "The vault '%s' restores with its %s (object id '%s'), which does not have authorization to perform action '%s' over scope '%s': grant it a role holding that action there (%s), or restore without a managed identity.", v.Name, which, principal, action, scope, roles)
	}
	return nil
}

// nicOf is the network interface a restore creates for the new VM vmID:
// {vm}-nic in the VM's resource group.
func nicOf(vmID string) string {
	vm := mustParse(vmID)
	return arm.NewID(vm.SubscriptionID, vm.ResourceGroup, "Microsoft.Network", "networkInterfaces", vm.Name()+"-nic").String()
}

// checkCrossSubscription refuses a restore whose writes (action and
// scope) create disks or a VM in another subscription than the vault's
// while the vault's cross-subscription restore is Disabled or
// PermanentlyDisabled (vaultface.CheckCrossSubscriptionRestore).
func (pr *Provider) checkCrossSubscription(ctx context.Context, it *itemRecord, writes [][2]string) error {
	vid := mustParse(it.VaultID)
	var v *vaultRecord
	for _, w := range writes {
		tid, err := arm.ParseID(w[1])
		if err != nil || strings.EqualFold(tid.SubscriptionID, vid.SubscriptionID) {
			continue
		}
		if v == nil {
			if v, err = pr.loadVault(ctx, pr.p.Store, vid); err != nil {
				return err
			}
		}
		field := "properties.targetResourceGroupId"
		if tid.IsType(vmType) {
			field = "properties.targetVirtualMachineId"
		}
		if err := vaultface.CheckCrossSubscriptionRestore(v.Properties, []string{"restoreSettings", "crossSubscriptionRestoreSettings", "crossSubscriptionRestoreState"},
			vid.SubscriptionID, tid.SubscriptionID, field); err != nil {
			return err
		}
	}
	return nil
}

// Recovery points, the protected item's children that restore starts from:
// list, get (file recovery, ilr.go, acts on them too), and pointOf, which
// restore and its validation read.

// pointBody renders an IaasVMRecoveryPoint resource. Tier details are
// strings (the 2024 SDK fails on the old integer form), see pointTiers.
func (pr *Provider) pointBody(ctx context.Context, it *itemRecord, p *protection.RecoveryPoint, ilr map[string]bool) map[string]any {
	now := pr.p.Now()
	var included []map[string]any
	for _, s := range p.Snapshots {
		name := s.DiskID
		if rid, err := arm.ParseID(s.DiskID); err == nil {
			name = rid.Name()
		}
		included = append(included, map[string]any{"lun": s.Lun, "name": name})
	}
	excluded := []map[string]any{}
	if ex := p.Details[excludedDisksInfo]; ex != "" {
		for _, d := range strings.Split(ex, ",") {
			lun, name, _ := strings.Cut(d, ":")
			n, _ := strconv.Atoi(lun)
			excluded = append(excluded, map[string]any{"lun": n, "name": name})
		}
	}
	tiers, info := pointTiers(p, now, pr.Engine.InstantGone(ctx, p)), ""
	if d := protection.DamageOf(p); d != "" {
		// A tier a verify found damaged restores nothing: it is Invalid
		// (the instant snapshot's or the vault's; the archive holds the
		// vault's data), and the additional info says why. The other
		// tier of a two-tier point restores it.
		of := map[string]string{"InstantRP": protection.TierOperational, "HardenedRP": protection.TierVault, "ArchivedRP": protection.TierVault}
		for _, t := range tiers {
			if tier, ok := of[t["type"].(string)]; t["status"] == "Valid" && (!ok || protection.DamagedTier(p, tier)) {
				t["status"] = "Invalid"
			}
		}
		info = "Damaged: " + d
	}
	props := map[string]any{
		"objectType":                      "IaasVMRecoveryPoint",
		"recoveryPointType":               "CrashConsistent",
		"recoveryPointTime":               wt(p.Time),
		"recoveryPointAdditionalInfo":     info,
		"sourceVMStorageType":             "NormalStorage",
		"isSourceVMEncrypted":             false,
		"isInstantIlrSessionActive":       ilr[strings.ToLower(p.ID)],
		"isManagedVirtualMachine":         true,
		"isPrivateAccessEnabledOnAnyDisk": p.Details["privateAccess"] == "true",
		"originalStorageAccountOption":    false,
		"virtualMachineSize":              p.Details["vmSize"],
		"osType":                          p.Details["osType"],
		"recoveryPointTierDetails":        tiers,
		"recoveryPointDiskConfiguration": map[string]any{"numberOfDisksIncludedInBackup": len(p.Snapshots), "numberOfDisksAttachedToVm": len(p.Snapshots) + len(excluded),
			"includedDiskList": included, "excludedDiskList": excluded},
	}
	props["recoveryPointMoveReadinessInfo"] = moveReadiness(p, now)
	if z := p.Details["vmZones"]; z != "" {
		props["zones"] = strings.Split(z, ",")
	}
	rpp := map[string]any{"isSoftDeleted": false}
	if p.Expiry != nil && it.State != stateStopped {
		rpp["expiryTime"] = p.Expiry.UTC().Format(time.RFC3339)
	}
	if p.RetentionTag != "" {
		rpp["ruleName"] = p.RetentionTag + "Rule"
	}
	props["recoveryPointProperties"] = rpp
	return map[string]any{"id": it.ID + "/recoveryPoints/" + p.ID, "name": p.ID, "type": rpType, "properties": props}
}

func (pr *Provider) listPoints(r *arm.Request, at itemAt) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	f, err := parseFilter(r.Query("$filter"), "startDate", "endDate", "restorePointQueryType", "extendedInfo")
	if err != nil {
		return nil, err
	}
	from, to, err := filterTimeRange(f, "startDate", "endDate")
	if err != nil {
		return nil, err
	}
	points, err := protection.ListRecoveryPoints(ctx, pr.p.Store, at.item.ID)
	if err != nil {
		return nil, err
	}
	return pr.pointsPage(r, at.item, points, func(p *protection.RecoveryPoint) bool {
		return (from.IsZero() || !p.Time.Before(from)) && (to.IsZero() || !p.Time.After(to))
	})
}

// pointsPage answers a page of an item's recovery points, those keep
// accepts (nil: all), each with its file recovery state: the list of
// points and the points recommended for a move.
func (pr *Provider) pointsPage(r *arm.Request, it *itemRecord, points []*protection.RecoveryPoint, keep func(*protection.RecoveryPoint) bool) (*arm.Response, error) {
	ilr, err := pr.ilrActive(r.HTTP.Context(), it.ID)
	if err != nil {
		return nil, err
	}
	out := make([]*protection.RecoveryPoint, 0, len(points))
	for _, p := range points {
		if keep == nil || keep(p) {
			out = append(out, p)
		}
	}
	return arm.PageKeyedOK(r, out, 200, protection.PointKey, func(p *protection.RecoveryPoint) any { return pr.pointBody(r.HTTP.Context(), it, p, ilr) })
}

func (pr *Provider) getPoint(r *arm.Request, at pointAt) (*arm.Response, error) {
	ilr, err := pr.ilrActive(r.HTTP.Context(), at.item.ID)
	if err != nil {
		return nil, err
	}
	return arm.OK(pr.pointBody(r.HTTP.Context(), at.item, at.point, ilr)), nil
}

// pointAt is the recovery point a request's path names, with its item and
// vault.
type pointAt struct {
	itemAt
	point *protection.RecoveryPoint
}

// pointOfRequest reads the item and the recovery point a request's URL
// names (404 when either is absent; the point also when expired).
func (pr *Provider) pointOfRequest(r *arm.Request) (pointAt, error) {
	at, err := pr.itemOf(r)
	if err != nil {
		return pointAt{}, err
	}
	p, err := pr.pointOf(r.HTTP.Context(), at.item, r.Param("recoveryPointId"))
	return pointAt{at, p}, err
}

// pointOf reads a recovery point of an item (404 if absent or expired).
func (pr *Provider) pointOf(ctx context.Context, it *itemRecord, name string) (*protection.RecoveryPoint, error) {
	p, err := protection.GetRecoveryPoint(ctx, pr.p.Store, it.ID, strings.ToLower(name))
	if isNotFound(err) {
		return nil, arm.Errorf(http.StatusNotFound, "BMSUserErrorRecoveryPointNotFound", "The recovery point '%s' of '%s' was not found (it may have expired): list the item's recoveryPoints.", name, it.FriendlyName)
	}
	return p, err
}
