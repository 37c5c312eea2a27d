package dataprotection

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/ops"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// Protection states (currentProtectionState / protectionStatus.status).
const (
	stateConfiguring  = "ConfiguringProtection"
	stateConfigured   = "ProtectionConfigured"
	stateConfigFailed = "ConfiguringProtectionFailed"
	stateStopped      = "ProtectionStopped"
	stateSuspended    = "BackupSchedulesSuspended"
)

// datasourceKind indexes protected datasources: key = lower-case disk id,
// value = the backup instance id. Creating it is what makes "already
// protected in any vault" atomic.
const datasourceKind = "dataprotection.datasource"

// checkedInstance is a validated backup instance request.
type checkedInstance struct {
	DiskID     string
	DiskName   string
	Location   string
	SnapshotRG string
	Policy     *policyResource
	DP         *diskPolicy
}

// vaultAndInstance is vaultAndBody for the requests that send a backup
// instance (a PUT's properties, validateForBackup's backupInstance): the
// instance of the body (at field, as of reads it) is checked as well.
func vaultAndInstance[T any](pr *Provider, r *arm.Request, field string, of func(*T) *backupInstance) (*vaultResource, *T, *checkedInstance, error) {
	vault, in, err := vaultAndBody[T](pr, r)
	if err != nil {
		return nil, nil, nil, err
	}
	ci, err := pr.checkInstance(r, vault, of(in), field)
	return vault, in, ci, err
}

// checkResourceURI: a datasource's resourceUri, when given, is its
// resourceID (a disk's ARM id) in any case; one naming another resource
// was stored and answered as it came.
func checkResourceURI(field string, ds *datasource) error {
	if ds.ResourceURI != "" && !arm.EqualIDs(ds.ResourceURI, ds.ResourceID) {
		return fieldError(field+".resourceUri", "'%s' differs from resourceID '%s'; a disk's resourceUri is its resource id (or leave it out)", ds.ResourceURI, ds.ResourceID)
	}
	return nil
}

// checkDatasourceSet checks the datasource set of a disk backup instance
// bi (at field), whose datasource ds is checked: a disk is its own set (as
// an AKS cluster is; Azure's sets are the parents of proxy datasources,
// such as a PostgreSQL database's server), so a set, when given, names the
// disk and is answered as the disk (its id as the disk's, its name, type
// and location); one naming another resource was stored as sent.
func checkDatasourceSet(field string, bi *backupInstance, ds *datasource) error {
	set := bi.DataSourceSetInfo
	if set == nil {
		return nil
	}
	if set.ObjectType == "" || strings.EqualFold(set.ObjectType, "DatasourceSet") {
		set.ObjectType = "DatasourceSet"
	} else {
		return fieldError(field+".objectType", "'%s' is not supported; allowed values: 'DatasourceSet'", set.ObjectType)
	}
	if set.DatasourceType != "" && !strings.EqualFold(set.DatasourceType, typeDisk) {
		return fieldError(field+".datasourceType", "'%s' differs from the datasource's type '%s'; a disk is its own datasource set (or leave dataSourceSetInfo out)", set.DatasourceType, typeDisk)
	}
	id := set.ResourceID
	if id == "" {
		id = set.ResourceURI
	}
	if !arm.EqualIDs(id, ds.ResourceID) {
		return fieldError(field+".resourceID", "'%s' is not the disk '%s': a disk is its own datasource set, so give the disk's id (or leave dataSourceSetInfo out)", id, ds.ResourceID)
	}
	if err := checkResourceURI(field, set); err != nil {
		return err
	}
	if set.ResourceLocation != "" && resource.NormLocation(set.ResourceLocation) != resource.NormLocation(ds.ResourceLocation) {
		return fieldError(field+".resourceLocation", "'%s' differs from the disk's location '%s'", set.ResourceLocation, ds.ResourceLocation)
	}
	set.DatasourceType, set.ResourceID, set.ResourceName, set.ResourceType, set.ResourceLocation = typeDisk, ds.ResourceID, ds.ResourceName, typeDisk, ds.ResourceLocation
	return nil
}

// checkInstance checks a backup instance a request sends (as field): the
// caller's access to what it links, then its content against the vault.
func (pr *Provider) checkInstance(r *arm.Request, vault *vaultResource, bi *backupInstance, field string) (*checkedInstance, error) {
	ctx := r.HTTP.Context()
	if err := r.CheckLinked(instanceLinks(bi)...); err != nil {
		return nil, err
	}
	if bi == nil {
		return nil, fieldError(field, "is required: a BackupInstance with dataSourceInfo and policyInfo")
	}
	if bi.ObjectType == "" || strings.EqualFold(bi.ObjectType, "BackupInstance") {
		bi.ObjectType = "BackupInstance"
	} else {
		return nil, fieldError(field+".objectType", "'%s' is not supported; allowed values: 'BackupInstance'", bi.ObjectType)
	}
	ds := bi.DataSourceInfo
	if ds == nil {
		return nil, fieldError(field+".dataSourceInfo", "is required: {\"objectType\":\"Datasource\",\"datasourceType\":\"Microsoft.Compute/disks\",\"resourceID\":\"<disk id>\",...}")
	}
	switch {
	case ds.DatasourceType == "", strings.EqualFold(ds.DatasourceType, typeDisk), strings.EqualFold(ds.DatasourceType, "Microsoft.Compute/"):
		ds.DatasourceType = typeDisk
	default:
		return nil, fieldError(field+".dataSourceInfo.datasourceType", "'%s' is not supported by Backup vaults here; allowed values: 'Microsoft.Compute/disks'", ds.DatasourceType)
	}
	did, err := arm.ParseID(ds.ResourceID)
	if err != nil || !did.IsType(typeDisk) {
		return nil, fieldError(field+".dataSourceInfo.resourceID", "'%s' is not a managed disk id (/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/disks/{disk})", ds.ResourceID)
	}
	if err := checkResourceURI(field+".dataSourceInfo", ds); err != nil {
		return nil, err
	}
	disk, err := pr.Compute.Disk(ctx, did.String())
	if err != nil {
		if isNotFound(err) {
			return nil, arm.Errorf(http.StatusNotFound, "UserErrorDatasourceNotFound", "%s.dataSourceInfo.resourceID: the disk '%s' was not found; create it first or fix the id.", field, ds.ResourceID)
		}
		return nil, err
	}
	if resource.NormLocation(disk.Location) != resource.NormLocation(vault.Location) {
		return nil, fieldError(field+".dataSourceInfo.resourceLocation", "the disk is in '%s' but the Backup vault is in '%s'; a disk can only be protected by a vault in its own region", disk.Location, vault.Location)
	}
	ds.ObjectType = "Datasource"
	ds.ResourceID = disk.ID
	ds.ResourceName = disk.Name
	ds.ResourceType = typeDisk
	if ds.ResourceLocation == "" {
		ds.ResourceLocation = disk.Location
	}
	if bi.FriendlyName == "" {
		bi.FriendlyName = disk.Name
	}
	if err := checkDatasourceSet(field+".dataSourceSetInfo", bi, ds); err != nil {
		return nil, err
	}
	if len(bi.DatasourceAuthCredentials) > 0 && string(bi.DatasourceAuthCredentials) != "null" {
		return nil, fieldError(field+".datasourceAuthCredentials", "is not supported for %s: a disk is read with the Backup vault's managed identity (its Disk Backup Reader role on the disk), not with credentials from a secret store; leave datasourceAuthCredentials out", typeDisk)
	}
	if err := checkInstanceIdentity(vault, bi.IdentityDetails, field+".identityDetails"); err != nil {
		return nil, err
	}
	if bi.PolicyInfo == nil || bi.PolicyInfo.PolicyID == "" {
		return nil, fieldError(field+".policyInfo.policyId", "is required: the id of a backup policy of this vault")
	}
	pid, perr := arm.ParseID(bi.PolicyInfo.PolicyID)
	if perr != nil || !pid.IsType(typePolicy) || !arm.EqualIDs(pid.Parent().String(), vault.ID) {
		return nil, fieldError(field+".policyInfo.policyId", "'%s' is not a backup policy of the vault '%s' (expected %s/backupPolicies/{name})", bi.PolicyInfo.PolicyID, vault.Name, vault.ID)
	}
	pol, dp, err := pr.loadPolicy(ctx, pr.p.Store, pid.String())
	if err != nil {
		if isNotFound(err) {
			return nil, arm.Errorf(http.StatusNotFound, "UserErrorPolicyNotFound", "%s.policyInfo.policyId: the backup policy '%s' does not exist in vault '%s'; create it first.", field, pid.Name(), vault.Name)
		}
		return nil, err
	}
	bi.PolicyInfo.PolicyID = pol.ID
	pf := field + ".policyInfo.policyParameters.dataStoreParametersList"
	if bi.PolicyInfo.PolicyParameters == nil || len(bi.PolicyInfo.PolicyParameters.DataStoreParametersList) == 0 {
		return nil, fieldError(pf, "is required: [{\"objectType\":\"AzureOperationalStoreParameters\",\"dataStoreType\":\"OperationalStore\",\"resourceGroupId\":\"/subscriptions/{sub}/resourceGroups/{snapshot-rg}\"}]")
	}
	for i, raw := range bi.PolicyInfo.PolicyParameters.BackupDatasourceParametersList {
		var p struct {
			ObjectType string `json:"objectType"`
		}
		_ = json.Unmarshal(raw, &p)
		return nil, fieldError(field+".policyInfo.policyParameters.backupDatasourceParametersList["+itoa(i)+"]", "'%s' is not supported for %s: backup datasource parameters choose what to back up of an AKS cluster or a storage account's blobs, and a disk is backed up whole; leave backupDatasourceParametersList out", p.ObjectType, typeDisk)
	}
	var rgID string
	for i := range bi.PolicyInfo.PolicyParameters.DataStoreParametersList {
		p := &bi.PolicyInfo.PolicyParameters.DataStoreParametersList[i]
		f := pf + "[" + itoa(i) + "]"
		if p.ObjectType == "" || strings.EqualFold(p.ObjectType, "AzureOperationalStoreParameters") {
			p.ObjectType = "AzureOperationalStoreParameters"
		} else {
			return nil, fieldError(f+".objectType", "'%s' is not supported; allowed values: 'AzureOperationalStoreParameters'", p.ObjectType)
		}
		st, ok := canonical(p.DataStoreType, []string{"OperationalStore"})
		if !ok {
			return nil, fieldError(f+".dataStoreType", "'%s' is not supported for disks; allowed values: 'OperationalStore'", p.DataStoreType)
		}
		p.DataStoreType = st
		rid, err := arm.ParseID(p.ResourceGroupID)
		if err != nil || rid.ResourceGroup == "" || rid.Namespace != "" {
			return nil, fieldError(f+".resourceGroupId", "'%s' is not a resource group id (/subscriptions/{sub}/resourceGroups/{name})", p.ResourceGroupID)
		}
		if !strings.EqualFold(rid.SubscriptionID, did.SubscriptionID) {
			return nil, fieldError(f+".resourceGroupId", "the snapshot resource group '%s' must be in the disk's subscription '%s'", p.ResourceGroupID, did.SubscriptionID)
		}
		var g resource.ResourceGroup
		if err := resource.Get(ctx, pr.p.Store, arm.ResourceID{SubscriptionID: rid.SubscriptionID, ResourceGroup: rid.ResourceGroup}, &g); isNotFound(err) {
			return nil, fieldError(f+".resourceGroupId", "the snapshot resource group '%s' does not exist; create it first", p.ResourceGroupID)
		} else if err != nil {
			return nil, err
		}
		// Answered as the group's id, whatever the spelling sent.
		p.ResourceGroupID = g.ID
		rgID = g.ID
	}
	return &checkedInstance{DiskID: disk.ID, DiskName: disk.Name, Location: disk.Location, SnapshotRG: rgID, Policy: pol, DP: dp}, nil
}

// alreadyProtected is the seed's 400 UserErrorDppDatasourceAlreadyProtected.
func alreadyProtected(ctx context.Context, biID string) *arm.Error {
	bid, _ := arm.ParseID(biID)
	vault := bid.Parent().String()
	msg := "Datasource is already protected under the Backup vault " + vault + "."
	return &arm.Error{Status: http.StatusBadRequest, Code: "UserErrorDppDatasourceAlreadyProtected", Message: msg,
		AdditionalInfo: []arm.AdditionalInfo{{Type: "UserFacingError", Info: userFacingError{
			Code: "UserErrorDppDatasourceAlreadyProtected", Message: msg,
			RecommendedAction: []string{"Delete the backup instance " + bid.Name() + " from the Backup vault " + vault + " to re-protect the datasource in any other vault."},
			Properties:        map[string]string{"ActivityId": activityID(ctx)},
		}}}}
}

// protectedBy returns the backup instance protecting a disk ("" if none).
func protectedBy(ctx context.Context, r store.Reader, diskID string) (string, error) {
	d, err := r.Get(ctx, datasourceKind, strings.ToLower(diskID))
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return string(d.Value), nil
}

// checkUnprotected refuses (alreadyProtected) a disk that a backup
// instance protects.
func checkUnprotected(ctx context.Context, r store.Reader, diskID string) error {
	owner, err := protectedBy(ctx, r, diskID)
	if err != nil {
		return err
	}
	if owner != "" {
		return alreadyProtected(ctx, owner)
	}
	return nil
}

// claimDatasource records in tx that the backup instance instanceID
// protects diskID (a store conflict when another one does).
func claimDatasource(ctx context.Context, tx store.Tx, diskID, instanceID string) error {
	return tx.Create(ctx, store.Doc{Kind: datasourceKind, Key: strings.ToLower(diskID), Value: []byte(instanceID)})
}

// releaseDatasource drops the record that bi protects its disk, when it
// still does (the disk may be protected by another instance since).
func releaseDatasource(ctx context.Context, tx store.Tx, bi *instanceResource) error {
	diskID := bi.Properties.DataSourceInfo.ResourceID
	if owner, err := protectedBy(ctx, tx, diskID); err != nil || !arm.EqualIDs(owner, bi.ID) {
		return err
	}
	return store.DeleteKeys(ctx, tx, datasourceKind, strings.ToLower(diskID))
}

func (pr *Provider) validateForBackup(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	vault, in, ci, err := vaultAndInstance(pr, r, "backupInstance", func(in *validateForBackupRequest) *backupInstance { return in.BackupInstance })
	if err != nil {
		return nil, err
	}
	if err := checkUnprotected(ctx, pr.p.Store, ci.DiskID); err != nil {
		return nil, err
	}
	// Backups create snapshots in the snapshot resource group: a lock
	// there that forbids a client's PUT would fail them all.
	if err := resource.CheckWrite(ctx, pr.p.Store, ci.SnapshotRG); err != nil {
		return nil, err
	}
	op := &ops.Operation{Kind: opValidateForBackup, ResourceID: vault.ID, Caller: r.Caller(), Location: resource.NormLocation(vault.Location)}
	return pr.accepted(r, vault, op, nil, map[string]string{"vaultId": vault.ID, "diskId": ci.DiskID, "snapshotRG": ci.SnapshotRG, "identityDetails": string(in.BackupInstance.IdentityDetails)})
}

// checkModify checks a change of the backup instance old to the instance
// ci a request sends (as field), as its PUT and validateForModifyBackup
// do: the datasource and the snapshot resource group stay what they were
// configured with, and an instance being deleted takes no change.
func checkModify(old *instanceResource, ci *checkedInstance, field string) error {
	if !arm.EqualIDs(old.Properties.DataSourceInfo.ResourceID, ci.DiskID) {
		return fieldError(field+".dataSourceInfo.resourceID", "'%s' differs from the instance's datasource '%s'; a backup instance cannot change its datasource (create another instance)", ci.DiskID, old.Properties.DataSourceInfo.ResourceID)
	}
	if oldRG := snapshotRGOf(old); oldRG != "" && !arm.EqualIDs(oldRG, ci.SnapshotRG) {
		return fieldError(field+".policyInfo.policyParameters.dataStoreParametersList[0].resourceGroupId", "'%s' differs from the configured snapshot resource group '%s'; it cannot be changed after configuration", ci.SnapshotRG, oldRG)
	}
	return checkNotDeleting(old)
}

// validateForModifyBackup (Azure's BackupInstances_ValidateForModifyBackup,
// in the api-versions since 2023-08-01-preview and their newer SDKs)
// checks a change of an existing backup instance without making it: the body's backupInstance as the
// instance's PUT checks it (checkInstance, checkModify), then, as
// validateForBackup's operation, the vault identity's roles on the disk
// and the snapshot resource group. The instance must exist (404).
func (pr *Provider) validateForModifyBackup(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	vault, old, err := pr.instanceFor(r)
	if err != nil {
		return nil, err
	}
	var in validateForBackupRequest
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	ci, err := pr.checkInstance(r, vault, in.BackupInstance, "backupInstance")
	if err != nil {
		return nil, err
	}
	if err := checkModify(old, ci, "backupInstance"); err != nil {
		return nil, err
	}
	if err := resource.CheckWrite(ctx, pr.p.Store, ci.SnapshotRG); err != nil {
		return nil, err
	}
	op := &ops.Operation{Kind: opValidateForBackup, ResourceID: old.ID, Caller: r.Caller(), Location: resource.NormLocation(vault.Location)}
	return pr.accepted(r, vault, op, nil, map[string]string{"vaultId": vault.ID, "diskId": ci.DiskID, "snapshotRG": ci.SnapshotRG, "identityDetails": string(in.BackupInstance.IdentityDetails)})
}

func (pr *Provider) loadInstance(ctx context.Context, r store.Reader, id arm.ResourceID) (*instanceResource, error) {
	var bi instanceResource
	if err := resource.Get(ctx, r, id, &bi); err != nil {
		return nil, err
	}
	return &bi, nil
}

// existing is the resource id names (of type typ), as load reads it, or
// nil when there is none: background work that finds its resource gone
// (or an id that names none) has nothing left to do.
func existing[T any](ctx context.Context, r store.Reader, id, typ string, load func(context.Context, store.Reader, arm.ResourceID) (*T, error)) (*T, error) {
	v, err := resource.Lookup(ctx, r, id, typ, load)
	if isNotFound(err) {
		return nil, nil
	}
	return v, err
}

// checkNotDeleting refuses a change to (a PUT, stop, suspend, resume or
// sync), or a backup of, a backup instance whose delete has been accepted
// (provisioningState Deleting): 409 UserErrorBackupInstanceDeleting.
func checkNotDeleting(bi *instanceResource) error {
	if bi.Properties.ProvisioningState == "Deleting" {
		return arm.Conflict("UserErrorBackupInstanceDeleting", "The backup instance '%s' is being deleted; wait for the delete to finish.", bi.Name)
	}
	return nil
}

func (pr *Provider) putInstance(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	vault, in, ci, err := vaultAndInstance(pr, r, "properties", func(in *instanceResource) *backupInstance { return in.Properties })
	if err != nil {
		return nil, err
	}
	id := instanceIDOf(r)
	created := false
	var out instanceResource
	op := &ops.Operation{Kind: opConfigure, ResourceID: id.String(), Caller: r.Caller(), Location: resource.NormLocation(vault.Location)}
	err = pr.p.Store.Update(ctx, func(tx store.Tx) error {
		// The vault again, where the instance is written: its DELETE
		// checks in the transaction that removes it that it holds no
		// instance, so either this PUT finds it gone (404) or the DELETE
		// finds the instance and is refused; neither removes or strands
		// an instance accepted with 201.
		if cur, err := pr.loadVault(ctx, tx, id.Parent()); err != nil {
			return err
		} else if !sameVault(vault, cur) {
			return arm.Conflict("UserErrorVaultReplaced", "The Backup vault '%s' was deleted and created again while the backup instance was being configured: send the PUT again.", vault.Name)
		}
		// The policy again, where the instance is written: a DELETE of it
		// since vaultAndInstance read it found no instance using it and
		// removed it, and the instance would be left Provisioning for
		// good (its configuration fails on the policy before it records
		// anything).
		if _, _, err := pr.loadPolicy(ctx, tx, in.Properties.PolicyInfo.PolicyID); isNotFound(err) {
			pid, _ := arm.ParseID(in.Properties.PolicyInfo.PolicyID)
			return arm.Errorf(http.StatusNotFound, "UserErrorPolicyNotFound", "properties.policyInfo.policyId: the backup policy '%s' does not exist in vault '%s'; create it first.", pid.Name(), vault.Name)
		} else if err != nil {
			return err
		}
		old, err := pr.loadInstance(ctx, tx, id)
		if err != nil && !isNotFound(err) {
			return err
		}
		if old != nil {
			if err := checkModify(old, ci, "properties"); err != nil {
				return err
			}
			if err := pr.guarded(r, opGuardModifyInstance, in.Properties.ResourceGuardOperationRequests); err != nil {
				return err
			}
			out = *old
			out.Properties = in.Properties
			out.Tags = in.Tags
		} else {
			created = true
			if err := checkUnprotected(ctx, tx, ci.DiskID); err != nil {
				return err
			}
			if err := claimDatasource(ctx, tx, ci.DiskID, id.String()); err != nil {
				return err
			}
			out = instanceResource{ProxyResource: arm.ProxyResource{ID: id.String(), Name: id.Name(), Type: typeInstance}, Tags: in.Tags, Properties: in.Properties}
		}
		out.SystemData = arm.Touch(out.SystemData, r.Caller(), pr.p.Now())
		p := out.Properties
		p.ProvisioningState = "Provisioning"
		p.CurrentProtectionState = stateConfiguring
		p.ProtectionStatus = &protectionStatus{Status: stateConfiguring}
		p.ProtectionErrorDetails = nil
		if err := resource.Put(ctx, tx, id, &out); err != nil {
			return err
		}
		op.ResourceID = out.ID
		return pr.p.Ops.Start(ctx, tx, op, map[string]string{"instanceId": out.ID})
	})
	if err != nil {
		return nil, err
	}
	pr.p.Ops.Notify()
	st, res := asyncPaths(r.Param("subscriptionId"), vault.Location, op.ID)
	return arm.CreatedOrOK(created, &out).Async(r, st, res), nil
}

func snapshotRGOf(bi *instanceResource) string {
	if bi.Properties == nil || bi.Properties.PolicyInfo == nil || bi.Properties.PolicyInfo.PolicyParameters == nil {
		return ""
	}
	for _, p := range bi.Properties.PolicyInfo.PolicyParameters.DataStoreParametersList {
		if p.ResourceGroupID != "" {
			return p.ResourceGroupID
		}
	}
	return ""
}

func (pr *Provider) runConfigure(ctx context.Context, op *ops.Operation, in map[string]string) error {
	bid, _ := arm.ParseID(in["instanceId"])
	bi, err := pr.loadInstance(ctx, pr.p.Store, bid)
	if err != nil {
		return err
	}
	vault, err := pr.loadVault(ctx, pr.p.Store, bid.Parent())
	if err != nil {
		return err
	}
	_, dp, err := pr.loadPolicy(ctx, pr.p.Store, bi.Properties.PolicyInfo.PolicyID)
	if err != nil {
		return err
	}
	permErr := pr.checkPermissions(ctx, vault, bi.Properties.IdentityDetails, "Configure Protection", backupPermissions(bi.Properties.DataSourceInfo.ResourceID, snapshotRGOf(bi))...)
	var ae *arm.Error
	if permErr != nil && !arm.As(permErr, &ae) {
		return permErr
	}
	now := pr.p.Now()
	err = pr.p.Store.Update(ctx, func(tx store.Tx) error {
		cur, err := pr.loadInstance(ctx, tx, bid)
		if err != nil {
			return err
		}
		// A delete accepted since the PUT wins: the instance stays
		// Deleting, unscheduled, for its delete to remove (which leaves
		// an instance no longer Deleting alone, as one made again).
		if err := checkNotDeleting(cur); err != nil {
			return err
		}
		p := cur.Properties
		if permErr != nil {
			p.ProvisioningState = "Failed"
			p.CurrentProtectionState = stateConfigFailed
			ufe := userFacingFrom(ae)
			p.ProtectionStatus = &protectionStatus{Status: stateConfigFailed, ErrorDetails: ufe}
			p.ProtectionErrorDetails = ufe
		} else {
			p.ProvisioningState = "Succeeded"
			p.CurrentProtectionState = stateConfigured
			p.ProtectionStatus = &protectionStatus{Status: stateConfigured}
			p.ProtectionErrorDetails = nil
			if err := pr.Engine.Schedule(ctx, tx, faceName, cur.ID, dp.Interval.Next(now)); err != nil {
				return err
			}
		}
		if err := resource.Put(ctx, tx, bid, cur); err != nil {
			return err
		}
		j := pr.newJob(vault, cur, protection.OpConfigureBackup, true, now)
		j.ID = op.ID
		j.Finish(now, jobErrorOf(permErr))
		if err := protection.PutJob(ctx, tx, j); err != nil {
			return err
		}
		bi = cur
		return nil
	})
	if err != nil {
		return err
	}
	if permErr != nil {
		return permErr
	}
	op.Result, _ = json.Marshal(bi)
	op.ResultStatus = http.StatusOK
	return nil
}

func (pr *Provider) getInstance(r *arm.Request) (*arm.Response, error) {
	_, bi, err := pr.instanceFor(r)
	if err != nil {
		return nil, err
	}
	return arm.OK(bi), nil
}

func (pr *Provider) listInstances(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	bis, err := resource.List[instanceResource](ctx, pr.p.Store, typeInstance, vaultIDOf(r).String())
	if err != nil {
		return nil, err
	}
	return arm.PageKeyedOK(r, bis, 100, func(bi instanceResource) string { return strings.ToLower(bi.ID) }, func(bi instanceResource) any { return bi })
}

func (pr *Provider) listInstancesOfDatasource(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	// The SDK puts the datasource id into the path as given: with or
	// without its leading slash.
	owner, err := protectedBy(ctx, pr.p.Store, "/"+strings.Trim(r.Param("scope"), "/"))
	if err != nil {
		return nil, err
	}
	var out []instanceResource
	if owner != "" {
		bid, _ := arm.ParseID(owner)
		if bi, err := pr.loadInstance(ctx, pr.p.Store, bid); err == nil {
			out = append(out, *bi)
		}
	}
	return arm.PageOK(r, out, 100)
}

func (pr *Provider) deleteInstance(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	vault, err := pr.vaultFor(r)
	if err != nil {
		return nil, err
	}
	if err := pr.guarded(r, opGuardDeleteInstance, nil); err != nil {
		return nil, err
	}
	id := instanceIDOf(r)
	op := &ops.Operation{Kind: opDeleteInstance, ResourceID: id.String(), Caller: r.Caller(), Location: resource.NormLocation(vault.Location)}
	gone, again := false, false
	err = pr.p.Store.Update(ctx, func(tx store.Tx) error {
		bi, err := pr.loadInstance(ctx, tx, id)
		if isNotFound(err) {
			gone = true
			return nil
		}
		if err != nil {
			return err
		}
		// A DELETE of an instance being deleted answers the operation
		// deleting it, as ARM does, rather than queueing another; one not
		// Deleting is no running delete's (one still running for its id
		// removed an earlier instance of that name).
		fresh := bi.Properties.ProvisioningState != "Deleting"
		op.ResourceID = bi.ID
		p, err := pr.p.Ops.StartUnlessRunning(ctx, tx, bi.ID, ops.Pending{}, fresh, op, map[string]string{"instanceId": bi.ID}, func() error {
			bi.Properties.ProvisioningState = "Deleting"
			if err := resource.Put(ctx, tx, id, bi); err != nil {
				return err
			}
			return pr.Engine.Unschedule(ctx, tx, bi.ID)
		})
		again = p != nil
		return err
	})
	if err != nil {
		return nil, err
	}
	if gone {
		return arm.NoContent(), nil
	}
	if !again {
		pr.p.Ops.Notify()
	}
	return opAccepted(r, vault.Location, op), nil
}

func (pr *Provider) runDeleteInstance(ctx context.Context, op *ops.Operation, in map[string]string) error {
	op.ResultStatus = http.StatusNoContent
	op.EndPending(ctx, in["instanceId"])
	bid, err := arm.ParseID(in["instanceId"])
	if err != nil {
		return err
	}
	// The instance it was accepted for is Deleting until it is gone (a
	// PUT of it is refused meanwhile): one of that name that is not was
	// made again after another delete removed it, and is left alone.
	if bi, err := pr.loadInstance(ctx, pr.p.Store, bid); err == nil && bi.Properties.ProvisioningState != "Deleting" {
		return nil
	} else if err != nil && !isNotFound(err) {
		return err
	}
	vault, err := pr.loadVault(ctx, pr.p.Store, bid.Parent())
	if err != nil && !isNotFound(err) {
		return err
	}
	if vault != nil {
		if sd := vaultSoftDelete(vault); sd.enabled() {
			return pr.softDeleteInstance(ctx, vault, sd, bid.String(), op.ID)
		}
	}
	return pr.deleteInstanceNow(ctx, in["instanceId"], true)
}

// cascadeDeleteInstance removes a backup instance: its schedule, its
// recovery points with their snapshots, its datasource index and itself.
// It holds the item's lease from listing the points until the instance is
// gone, so a backup of the instance running meanwhile either records its
// point before the list (and the point is deleted with the others) or finds
// the instance gone (and records none). Safe to repeat.
func (pr *Provider) cascadeDeleteInstance(ctx context.Context, id string) error {
	return pr.deleteInstanceNow(ctx, id, false)
}

// deleteInstanceNow is cascadeDeleteInstance; with deleting (an instance
// DELETE's operation), only of the instance while it is Deleting. It reads
// the instance in the transaction that unschedules it, and again under the
// item's lease: one another delete removed meanwhile is left to it, and so
// is one made again since (its schedule too), which a DELETE's operation
// finds no longer Deleting.
func (pr *Provider) deleteInstanceNow(ctx context.Context, id string, deleting bool) error {
	var bi *instanceResource
	err := pr.p.Store.Update(ctx, func(tx store.Tx) error {
		var err error
		bi, err = existing(ctx, tx, id, typeInstance, pr.loadInstance)
		if bi == nil || err != nil || (deleting && bi.Properties.ProvisioningState != "Deleting") {
			bi = nil
			return err
		}
		return pr.Engine.Unschedule(ctx, tx, bi.ID)
	})
	if bi == nil || err != nil {
		return err
	}
	return pr.Engine.WithItem(ctx, bi.ID, func(ctx context.Context) error {
		cur, err := existing(ctx, pr.p.Store, id, typeInstance, pr.loadInstance)
		if cur == nil || err != nil || (deleting && cur.Properties.ProvisioningState != "Deleting") {
			return err
		}
		return pr.deleteInstanceData(ctx, mustID(id), cur)
	})
}

// deleteInstanceData deletes an instance's recovery points, its datasource
// index and the instance, for a caller holding the item's lease.
func (pr *Provider) deleteInstanceData(ctx context.Context, bid arm.ResourceID, bi *instanceResource) error {
	if err := pr.deletePointsOf(ctx, bi.ID); err != nil {
		return err
	}
	return pr.p.Store.Update(ctx, func(tx store.Tx) error {
		if err := releaseDatasource(ctx, tx, bi); err != nil {
			return err
		}
		err := resource.Delete(ctx, tx, bid)
		if isNotFound(err) {
			return nil
		}
		return err
	})
}

// deletePointsOf deletes the recovery points recorded under itemID (a
// backup instance or a deleted one) with their snapshots, one at a time.
func (pr *Provider) deletePointsOf(ctx context.Context, itemID string) error {
	pts, err := protection.ListRecoveryPoints(ctx, pr.p.Store, itemID)
	if err != nil {
		return err
	}
	for _, pt := range pts {
		if err := pr.Engine.DeletePoints(ctx, "", pt); err != nil {
			return err
		}
	}
	return nil
}

// instanceAction serves stopProtection, suspendBackups, resumeProtection,
// resumeBackups and sync: a state change done at once, reported through a
// completed operation (202 with polling headers, as Azure answers).
func (pr *Provider) instanceAction(action string) arm.Handler {
	return func(r *arm.Request) (*arm.Response, error) {
		ctx := r.HTTP.Context()
		vault, err := pr.vaultFor(r)
		if err != nil {
			return nil, err
		}
		if err := pr.guardAction(r, action); err != nil {
			return nil, err
		}
		id := instanceIDOf(r)
		if action == "sync" {
			var in struct {
				SyncType string `json:"syncType"`
			}
			if err := r.DecodeOptional(&in); err != nil {
				return nil, err
			}
			if in.SyncType != "" {
				if _, ok := canonical(in.SyncType, []string{"Default", "ForceResync"}); !ok {
					return nil, fieldError("syncType", "'%s' is not supported; allowed values: 'Default', 'ForceResync'", in.SyncType)
				}
			}
		}
		op := &ops.Operation{Kind: opInstanceAction, ResourceID: id.String(), Caller: r.Caller(), Location: resource.NormLocation(vault.Location)}
		started := false
		err = pr.p.Store.Update(ctx, func(tx store.Tx) error {
			bi, err := pr.loadInstance(ctx, tx, id)
			if err != nil {
				return err
			}
			if err := checkNotDeleting(bi); err != nil {
				return err // resumeProtection would plan the backups the delete ended
			}
			p := bi.Properties
			cur := p.CurrentProtectionState
			bad := func(allowed ...string) error {
				return arm.BadRequest("UserErrorInvalidOperationForCurrentState", "%s is not allowed while the backup instance '%s' is in state '%s'; allowed states: %s.", action, bi.Name, cur, quoteList(allowed))
			}
			_, dp, err := pr.loadPolicy(ctx, tx, p.PolicyInfo.PolicyID)
			if err != nil {
				return err
			}
			next := dp.Interval.Next(pr.p.Now())
			switch action {
			case "stopProtection":
				if cur != stateConfigured && cur != stateSuspended && cur != stateStopped {
					return bad(stateConfigured, stateSuspended)
				}
				p.CurrentProtectionState = stateStopped
				if err := pr.Engine.Unschedule(ctx, tx, bi.ID); err != nil {
					return err
				}
			case "suspendBackups":
				if cur != stateConfigured && cur != stateSuspended {
					return bad(stateConfigured)
				}
				p.CurrentProtectionState = stateSuspended // the schedule keeps applying retention
			case "resumeProtection", "resumeBackups":
				// Each resumes from its own state (or is a no-op when protected).
				from := map[string]string{"resumeProtection": stateStopped, "resumeBackups": stateSuspended}[action]
				if cur != from && cur != stateConfigured {
					return bad(from)
				}
				if err := pr.Engine.ScheduleBy(ctx, tx, faceName, bi.ID, next); err != nil {
					return err
				}
				p.CurrentProtectionState = stateConfigured
			case "sync":
				// Retry a configuration that failed (e.g. once the vault's
				// roles are granted): configure again, asynchronously.
				if cur == stateConfigFailed {
					p.ProvisioningState = "Provisioning"
					p.CurrentProtectionState = stateConfiguring
					p.ProtectionStatus = &protectionStatus{Status: stateConfiguring}
					if err := resource.Put(ctx, tx, id, bi); err != nil {
						return err
					}
					op.Kind, op.ResourceID = opConfigure, bi.ID
					started = true
					return pr.p.Ops.Start(ctx, tx, op, map[string]string{"instanceId": bi.ID})
				}
			}
			status := p.CurrentProtectionState
			if status == stateSuspended {
				status = stateConfigured // protectionStatus has no suspended value
			}
			p.ProtectionStatus = &protectionStatus{Status: status}
			if err := resource.Put(ctx, tx, id, bi); err != nil {
				return err
			}
			op.ResourceID = bi.ID
			return pr.p.Ops.Completed(ctx, tx, op)
		})
		if err != nil {
			return nil, err
		}
		if started {
			pr.p.Ops.Notify()
		}
		return opAccepted(r, vault.Location, op), nil
	}
}

// Soft delete: deleted backup instances
//
// A vault's properties.securitySettings.softDeleteSettings has a state
// (Off, On or AlwaysOn; "Enabled"/"Disabled" are read as On/Off) and a
// retentionDurationInDays (14 to 180; 14 when not given and soft delete is
// on). As in Azure, a new vault whose request leaves softDeleteSettings out
// gets soft delete On for 14 days, and a PUT or PATCH that leaves them out
// keeps the vault's current ones. With state Off (or a vault stored
// without settings) deleting a backup instance deletes its recovery points
// and snapshots with it.
//
// With On or AlwaysOn, DELETE of a backup instance still answers 202 and
// the instance is gone (GET answers 404, the disk can be protected again
// at once, in any vault), but its recovery points and snapshots are kept
// and a deleted backup instance of the same name appears under
// .../deletedBackupInstances: the instance's properties with objectType
// DeletedBackupInstance, currentProtectionState and protectionStatus.status
// SoftDeleted, and deletionInfo {deletionTime, billingEndDate (= the
// deletion time), scheduledPurgeTime (deletion + retention days),
// deleteActivityID}. Its points are kept as they are (no retention runs).
//
// POST .../deletedBackupInstances/{name}/undelete brings the instance back
// with its points in the ProtectionStopped state (resumeProtection then
// restarts its schedule). It is refused (409) while the disk is protected
// by another backup instance, or an instance of the same name exists, and
// (400) when the instance's policy was deleted meanwhile.
//
// At scheduledPurgeTime a durable task purges the deleted instance: its
// snapshots, points and record. Soft-deleting an instance whose name
// already has a deleted instance in the vault purges the older one first.
//
// A vault whose soft delete is On or AlwaysOn cannot be deleted while it
// has soft-deleted instances (400); with Off they are purged with the vault
// (and always with their resource group). AlwaysOn cannot be changed back
// (400 naming properties.securitySettings.softDeleteSettings.state).

const (
	typeDeleted      = "Microsoft.DataProtection/backupVaults/deletedBackupInstances"
	stateSoftDeleted = "SoftDeleted"
	purgeTaskKind    = "dataprotection.purgeDeletedInstance"
)

type deletedInstanceResource struct {
	arm.ProxyResource
	Tags       map[string]string `json:"tags,omitempty"` // the instance's, kept for undelete; not answered
	Properties *deletedInstance  `json:"properties"`
	SystemData *arm.SystemData   `json:"systemData,omitempty"`
}

type deletedInstance struct {
	backupInstance
	DeletionInfo *deletionInfo `json:"deletionInfo,omitempty"`
}

type deletionInfo struct {
	DeletionTime       string `json:"deletionTime"`
	BillingEndDate     string `json:"billingEndDate"`
	ScheduledPurgeTime string `json:"scheduledPurgeTime"`
	DeleteActivityID   string `json:"deleteActivityID"`
}

func (d *deletedInstanceResource) view() *deletedInstanceResource {
	cp := *d
	cp.Tags = nil
	return &cp
}

func deletedIDOf(vaultID arm.ResourceID, name string) arm.ResourceID {
	return vaultID.Child("deletedBackupInstances", name)
}

// cancelPurge completes the purge task of the deleted instance did, if it
// has one.
func cancelPurge(ctx context.Context, tx store.Tx, did arm.ResourceID) error {
	return store.CompleteTaskByKey(ctx, tx, purgeTaskKey(did.String()))
}

func purgeTaskKey(deletedID string) string { return "purge:" + strings.ToLower(deletedID) }

type purgePayload struct {
	ID       string `json:"id"`
	Activity string `json:"activity"`
}

func (pr *Provider) loadDeleted(ctx context.Context, r store.Reader, id arm.ResourceID) (*deletedInstanceResource, error) {
	var d deletedInstanceResource
	if err := resource.Get(ctx, r, id, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// moveRecoveryPoints re-keys an item's recovery points to another item id
// (their snapshots stay).
func moveRecoveryPoints(ctx context.Context, tx store.Tx, from, to string) error {
	pts, err := protection.ListRecoveryPoints(ctx, tx, from)
	if err != nil {
		return err
	}
	for _, pt := range pts {
		if err := protection.DeleteRecoveryPoint(ctx, tx, from, pt.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		pt.ItemID = to
		if err := protection.PutRecoveryPoint(ctx, tx, pt); err != nil {
			return err
		}
	}
	return nil
}

// softDeleteInstance turns a backup instance into a deleted backup
// instance (see the package's soft-delete rules). Safe to repeat.
func (pr *Provider) softDeleteInstance(ctx context.Context, vault *vaultResource, sd softDelete, biID, activity string) error {
	bid, err := arm.ParseID(biID)
	if err != nil {
		return err
	}
	did := deletedIDOf(bid.Parent(), bid.Name())
	if old, err := pr.loadDeleted(ctx, pr.p.Store, did); err == nil {
		if old.Properties.DeletionInfo != nil && old.Properties.DeletionInfo.DeleteActivityID == activity {
			return nil // done before a crash
		}
		if err := pr.purgeDeleted(ctx, old.ID); err != nil {
			return err
		}
	} else if !isNotFound(err) {
		return err
	}
	return pr.p.Store.Update(ctx, func(tx store.Tx) error {
		bi, err := pr.loadInstance(ctx, tx, bid)
		if isNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := pr.Engine.Unschedule(ctx, tx, bi.ID); err != nil {
			return err
		}
		if err := moveRecoveryPoints(ctx, tx, bi.ID, did.String()); err != nil {
			return err
		}
		if err := releaseDatasource(ctx, tx, bi); err != nil {
			return err
		}
		if err := resource.Delete(ctx, tx, bid); err != nil && !isNotFound(err) {
			return err
		}
		info, purge := sd.deletion(pr.p.Now().UTC(), activity)
		p := *bi.Properties
		p.ObjectType = "DeletedBackupInstance"
		p.ProvisioningState = "Succeeded"
		p.CurrentProtectionState = stateSoftDeleted
		p.ProtectionStatus = &protectionStatus{Status: stateSoftDeleted}
		p.ProtectionErrorDetails = nil
		d := &deletedInstanceResource{ProxyResource: arm.ProxyResource{ID: did.String(), Name: bi.Name, Type: typeDeleted}, Tags: bi.Tags, SystemData: bi.SystemData,
			Properties: &deletedInstance{backupInstance: p, DeletionInfo: info}}
		if err := resource.Put(ctx, tx, did, d); err != nil {
			return err
		}
		payload, _ := json.Marshal(purgePayload{ID: did.String(), Activity: activity})
		_, err = tx.Enqueue(ctx, store.Task{Kind: purgeTaskKind, Key: purgeTaskKey(did.String()), Payload: payload, RunAt: purge})
		return err
	})
}

// runPurge is the purge task: it purges the deleted instance it was
// planned for (not a later one of the same name).
func (pr *Provider) runPurge(ctx context.Context, t store.Task) error {
	var p purgePayload
	if err := json.Unmarshal(t.Payload, &p); err != nil {
		return nil // unreadable: nothing to do
	}
	d, err := existing(ctx, pr.p.Store, p.ID, typeDeleted, pr.loadDeleted)
	if d == nil || err != nil {
		return err
	}
	if d.Properties.DeletionInfo == nil || d.Properties.DeletionInfo.DeleteActivityID != p.Activity {
		return nil
	}
	return pr.purgeDeleted(ctx, d.ID)
}

// purgeDeleted removes a deleted backup instance for good: its snapshots,
// recovery points, purge task and record. It marks the record first so that
// an undelete cannot race it. Safe to repeat.
func (pr *Provider) purgeDeleted(ctx context.Context, id string) error {
	did, err := arm.ParseID(id)
	if err != nil {
		return err
	}
	err = pr.p.Store.Update(ctx, func(tx store.Tx) error {
		d, err := pr.loadDeleted(ctx, tx, did)
		if err != nil {
			return err
		}
		if d.Properties.ProvisioningState == "Deleting" {
			return nil
		}
		d.Properties.ProvisioningState = "Deleting"
		return resource.Put(ctx, tx, did, d)
	})
	if isNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := pr.deletePointsOf(ctx, did.String()); err != nil {
		return err
	}
	return pr.p.Store.Update(ctx, func(tx store.Tx) error {
		if err := cancelPurge(ctx, tx, did); err != nil {
			return err
		}
		if err := resource.Delete(ctx, tx, did); err != nil && !isNotFound(err) {
			return err
		}
		return nil
	})
}

func deletedNotFound(name string) *arm.Error {
	return arm.Errorf(http.StatusNotFound, "ResourceNotFound", "The deleted backup instance '%s' was not found: only instances deleted while the vault's soft delete is On or AlwaysOn are kept, until their scheduled purge time.", name)
}

func (pr *Provider) listDeletedInstances(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	ds, err := resource.List[deletedInstanceResource](ctx, pr.p.Store, typeDeleted, vaultIDOf(r).String())
	if err != nil {
		return nil, err
	}
	out := make([]*deletedInstanceResource, 0, len(ds))
	for i := range ds {
		out = append(out, ds[i].view())
	}
	return arm.PageOK(r, out, 100)
}

func (pr *Provider) getDeletedInstance(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	d, err := pr.loadDeleted(ctx, pr.p.Store, deletedIDOf(vaultIDOf(r), r.Param("backupInstanceName")))
	if isNotFound(err) {
		return nil, deletedNotFound(r.Param("backupInstanceName"))
	}
	if err != nil {
		return nil, err
	}
	return arm.OK(d.view()), nil
}

// undelete restores a deleted backup instance, stopped, with its points.
func (pr *Provider) undelete(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	vault, err := pr.vaultFor(r)
	if err != nil {
		return nil, err
	}
	name := r.Param("backupInstanceName")
	vid := vaultIDOf(r)
	did := deletedIDOf(vid, name)
	op := &ops.Operation{Kind: opInstanceAction, ResourceID: did.String(), Caller: r.Caller(), Location: resource.NormLocation(vault.Location)}
	err = pr.p.Store.Update(ctx, func(tx store.Tx) error {
		d, err := pr.loadDeleted(ctx, tx, did)
		if isNotFound(err) {
			return deletedNotFound(name)
		}
		if err != nil {
			return err
		}
		if d.Properties.ProvisioningState == "Deleting" {
			return arm.Conflict("UserErrorBackupInstanceBeingPurged", "The deleted backup instance '%s' is being purged (its retention ended); it cannot be undeleted.", d.Name)
		}
		bid := vid.Child("backupInstances", d.Name)
		if _, err := pr.loadInstance(ctx, tx, bid); err == nil {
			return arm.Conflict("UserErrorBackupInstanceAlreadyExists", "A backup instance named '%s' exists in vault '%s'; delete it (or let it be soft-deleted and purged) before undeleting this one.", d.Name, vault.Name)
		} else if !isNotFound(err) {
			return err
		}
		diskID := d.Properties.DataSourceInfo.ResourceID
		if owner, err := protectedBy(ctx, tx, diskID); err != nil {
			return err
		} else if owner != "" {
			return arm.Conflict("UserErrorDppDatasourceAlreadyProtected", "The datasource '%s' has been protected again by the backup instance '%s' since this instance was deleted; delete that backup instance before undeleting '%s'.", diskID, owner, d.Name)
		}
		if d.Properties.PolicyInfo != nil {
			if _, _, err := pr.loadPolicy(ctx, tx, d.Properties.PolicyInfo.PolicyID); isNotFound(err) {
				return arm.BadRequest("UserErrorPolicyNotFound", "The backup policy '%s' of the deleted backup instance '%s' no longer exists; create it again with the same name, then retry the undelete.", d.Properties.PolicyInfo.PolicyID, d.Name)
			} else if err != nil {
				return err
			}
		}
		if err := claimDatasource(ctx, tx, diskID, bid.String()); err != nil {
			return err
		}
		if err := moveRecoveryPoints(ctx, tx, did.String(), bid.String()); err != nil {
			return err
		}
		p := d.Properties.backupInstance
		p.ObjectType = "BackupInstance"
		p.ProvisioningState = "Succeeded"
		p.CurrentProtectionState = stateStopped
		p.ProtectionStatus = &protectionStatus{Status: stateStopped}
		p.ProtectionErrorDetails = nil
		bi := &instanceResource{ProxyResource: arm.ProxyResource{ID: bid.String(), Name: d.Name, Type: typeInstance}, Tags: d.Tags, Properties: &p,
			SystemData: arm.Touch(d.SystemData, r.Caller(), pr.p.Now())}
		if err := resource.Put(ctx, tx, bid, bi); err != nil {
			return err
		}
		if err := cancelPurge(ctx, tx, did); err != nil {
			return err
		}
		if err := resource.Delete(ctx, tx, did); err != nil {
			return err
		}
		op.ResourceID = bi.ID
		return pr.p.Ops.Completed(ctx, tx, op)
	})
	if err != nil {
		return nil, err
	}
	return opAccepted(r, vault.Location, op), nil
}

// purgeDeletedOf purges every deleted backup instance of a vault.
func (pr *Provider) purgeDeletedOf(ctx context.Context, vaultID string) error {
	ds, err := resource.List[deletedInstanceResource](ctx, pr.p.Store, typeDeleted, vaultID)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if err := pr.purgeDeleted(ctx, d.ID); err != nil {
			return err
		}
	}
	return nil
}
