package dataprotection

import (
	"encoding/json"
	"strings"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// The operations of the API that serve datasources or tiers a disk backup
// does not have: point-in-time ranges (continuous backups of blobs),
// rehydration (the archive tier) and cross-region restore (the vault tier
// replicated to the paired region). Azure's disk backups are discrete
// snapshots in the operational store of the disk's own region, so each
// checks its request as Azure does (the instance, vault or job it names,
// the caller's access to it, the body's fields) and then answers what
// holds for a disk instance: a 400 saying what to use instead.
//
// Cross-region restore: Azure documents it as not supported for disk
// backups (their snapshots stay in the disk's region; only a GeoRedundant
// vault tier is replicated, which disks do not use). Safehold's Backup
// vaults protect disks alone, so their paired region holds nothing: every
// cross-region request, its secondary points and jobs lists included, is
// 400 UserErrorOperationNotSupported once its source checks pass (the
// vault or instance it names, the caller's access, Enabled cross-region
// restore, the paired region), as a Recovery Services vault's Cross
// Region Restore requests are 400 BMSUserErrorCrossRegionRestoreNotSupported.
// The lists answered empty before, as though replication were pending.

const (
	// codeNotSupported: the operation exists but does not apply to a
	// disk backup instance.
	codeNotSupported = "UserErrorOperationNotSupported"
	// codeCRRNotEnabled: a cross-region request naming a vault whose
	// featureSettings.crossRegionRestoreSettings.state is not Enabled.
	codeCRRNotEnabled = "UserErrorCrossRegionRestoreNotEnabled"
)

func (pr *Provider) registerUnsupported(rt *arm.Router, rg, B string) {
	rt.Handle("POST", B+"/findRestorableTimeRanges", pr.findRestorableTimeRanges)
	rt.Handle("POST", B+"/rehydrate", pr.rehydrate)
	L := rg + "/providers/Microsoft.DataProtection/locations/{location}"
	rt.Handle("POST", L+"/fetchSecondaryRecoveryPoints", pr.fetchSecondaryRecoveryPoints)
	rt.Handle("POST", L+"/fetchCrossRegionRestoreJobs", pr.fetchCrossRegionRestoreJobs)
	rt.Handle("POST", L+"/fetchCrossRegionRestoreJob", pr.fetchCrossRegionRestoreJob)
	rt.Handle("POST", L+"/crossRegionRestore", pr.crossRegionRestore(false))
	rt.Handle("POST", L+"/validateCrossRegionRestore", pr.crossRegionRestore(true))
}

var dataStoreTypes = []string{"OperationalStore", "VaultStore", "ArchiveStore"}

// findRestorableTimeRanges (AzureBackupFindRestorableTimeRangesRequest):
// the restorable time ranges of a continuous backup. A disk's recovery
// points are discrete: 400 naming the recovery point list.
func (pr *Provider) findRestorableTimeRanges(r *arm.Request) (*arm.Response, error) {
	_, bi, err := pr.instanceFor(r)
	if err != nil {
		return nil, err
	}
	var in struct {
		SourceDataStoreType string `json:"sourceDataStoreType"`
		StartTime           string `json:"startTime"`
		EndTime             string `json:"endTime"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if in.SourceDataStoreType == "" {
		return nil, fieldError("sourceDataStoreType", "is required; allowed values: '%s'", strings.Join(dataStoreTypes, "', '"))
	}
	if _, ok := canonical(in.SourceDataStoreType, dataStoreTypes); !ok {
		return nil, fieldError("sourceDataStoreType", "'%s' is not supported; allowed values: '%s'", in.SourceDataStoreType, strings.Join(dataStoreTypes, "', '"))
	}
	var times [2]time.Time
	for i, f := range []struct{ name, v string }{{"startTime", in.StartTime}, {"endTime", in.EndTime}} {
		if f.v == "" {
			continue
		}
		t, err := protection.ParseDateTime(f.v, time.UTC)
		if err != nil {
			return nil, fieldError(f.name, "'%s' is not an ISO 8601 date-time (example: 2021-08-30T10:00:00Z)", f.v)
		}
		times[i] = t
	}
	if !times[0].IsZero() && !times[1].IsZero() && times[1].Before(times[0]) {
		return nil, fieldError("endTime", "'%s' is before startTime '%s': the end must be after the start", in.EndTime, in.StartTime)
	}
	return nil, arm.BadRequest(codeNotSupported, "The backup instance '%s' backs up a managed disk (%s), whose recovery points are discrete snapshots: it has no continuous restorable time ranges. List its recovery points (GET %s/recoveryPoints) and restore one by its id.", bi.Name, typeDisk, bi.ID)
}

// rehydrate (AzureBackupRehydrationRequest): moves an archived point back
// to the vault tier. A disk's points are snapshots in the operational
// store, never archived: 400 once the point is found.
func (pr *Provider) rehydrate(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	_, bi, err := pr.instanceFor(r)
	if err != nil {
		return nil, err
	}
	var in struct {
		RecoveryPointID              string `json:"recoveryPointId"`
		RehydrationPriority          string `json:"rehydrationPriority"`
		RehydrationRetentionDuration string `json:"rehydrationRetentionDuration"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if in.RecoveryPointID == "" {
		return nil, fieldError("recoveryPointId", "is required: the id of one of the instance's recovery points")
	}
	if in.RehydrationRetentionDuration == "" {
		return nil, fieldError("rehydrationRetentionDuration", "is required: an ISO 8601 duration such as 'P10D'")
	}
	if _, err := protection.ParseDuration(in.RehydrationRetentionDuration); err != nil {
		return nil, fieldError("rehydrationRetentionDuration", "'%s' is not an ISO 8601 duration such as 'P10D'", in.RehydrationRetentionDuration)
	}
	if in.RehydrationPriority != "" {
		if _, ok := canonical(in.RehydrationPriority, []string{"High", "Standard"}); !ok {
			return nil, fieldError("rehydrationPriority", "'%s' is not supported; allowed values: 'High', 'Standard'", in.RehydrationPriority)
		}
	}
	p, err := protection.GetRecoveryPoint(ctx, pr.p.Store, bi.ID, lastSegment(in.RecoveryPointID))
	if err == nil && !pointVisible(bi, p, pr.p.Now(), pr.isLatestPoint(ctx, bi.ID, p)) {
		err = store.ErrNotFound
	}
	if isNotFound(err) {
		return nil, arm.BadRequestAt("recoveryPointId", "UserErrorRecoveryPointNotFound", "The recovery point '%s' of backup instance '%s' was not found; it may have expired. List the instance's recovery points for their ids.", in.RecoveryPointID, bi.Name)
	}
	if err != nil {
		return nil, err
	}
	return nil, arm.BadRequest(codeNotSupported, "The recovery point '%s' of backup instance '%s' is a managed disk snapshot in the operational store: disk backups have no archive tier, so there is nothing to rehydrate. Restore the point directly (POST %s/restore).", p.ID, bi.Name, bi.ID)
}

// crrSource checks the source of a cross-region request: the vault named
// by id (a Backup vault, or the vault of a backup instance when instance),
// in sourceRegion, which the caller may perform action on; the request's
// location must be the paired region of the source (where its vault tier
// is replicated), and the vault's cross-region restore must be Enabled.
// It returns the vault and the instance (when instance).
func (pr *Provider) crrSource(r *arm.Request, field, id, sourceRegion, action string, instance bool) (*vaultResource, *instanceResource, error) {
	ctx := r.HTTP.Context()
	loc := r.Param("location")
	if err := resource.CheckLocation(loc, namespace+"/locations"); err != nil {
		return nil, nil, err
	}
	if err := resource.CheckResourceGroup(ctx, pr.p.Store, r.Param("subscriptionId"), r.Param("resourceGroupName")); err != nil {
		return nil, nil, err
	}
	want, example := typeVault, "/subscriptions/{id}/resourceGroups/{group}/providers/Microsoft.DataProtection/backupVaults/{vault}"
	if instance {
		want, example = typeInstance, example+"/backupInstances/{instance}"
	}
	if id == "" {
		return nil, nil, fieldError(field, "is required: %s", example)
	}
	rid, err := arm.ParseID(id)
	if err != nil || !rid.IsType(want) {
		return nil, nil, fieldError(field, "'%s' is not the id of a %s (%s)", id, want, example)
	}
	if sourceRegion == "" {
		return nil, nil, fieldError(field[:strings.LastIndex(field, ".")+1]+"sourceRegion", "is required: the region of the source vault")
	}
	if err := r.CheckLinked(arm.Link{Action: action, Scope: rid.String()}); err != nil {
		return nil, nil, err
	}
	vid := rid
	if instance {
		vid = rid.Parent()
	}
	vault, err := pr.loadVault(ctx, pr.p.Store, vid)
	if err != nil {
		return nil, nil, err
	}
	var bi *instanceResource
	if instance {
		if bi, err = pr.loadInstance(ctx, pr.p.Store, rid); err != nil {
			return nil, nil, err
		}
	}
	src := resource.NormLocation(vault.Location)
	if resource.NormLocation(sourceRegion) != src {
		return nil, nil, fieldError(field[:strings.LastIndex(field, ".")+1]+"sourceRegion", "'%s' is not the region of the vault '%s' ('%s')", sourceRegion, vault.Name, src)
	}
	if !crrEnabled(vault) {
		return nil, nil, arm.BadRequest(codeCRRNotEnabled, "Cross-region restore is not enabled on the Backup vault '%s' (properties.featureSettings.crossRegionRestoreSettings.state is not 'Enabled'): enable it on a vault whose VaultStore is GeoRedundant, then send the request to its paired region.", vault.Name)
	}
	if paired := resource.LocationPlaces[src].Paired; resource.NormLocation(loc) != paired {
		return nil, nil, arm.BadRequest("UserErrorInvalidCrossRegionRestoreLocation", "The Backup vault '%s' is in '%s', whose data is replicated to its paired region '%s': send cross-region requests to locations/%s, not locations/%s.", vault.Name, src, paired, paired, loc)
	}
	return vault, bi, nil
}

// crrEnabled: the vault's featureSettings.crossRegionRestoreSettings.state
// is Enabled.
func crrEnabled(v *vaultResource) bool {
	return v.Properties != nil && settingState(v.Properties.FeatureSettings, "crossRegionRestoreSettings") == "enabled"
}

// fetchSecondaryRecoveryPoints (FetchSecondaryRPsRequestParameters): the
// points of an instance in the paired region. A disk's snapshots stay in
// the disk's region: 400.
func (pr *Provider) fetchSecondaryRecoveryPoints(r *arm.Request) (*arm.Response, error) {
	var in struct {
		SourceBackupInstanceID string `json:"sourceBackupInstanceId"`
		SourceRegion           string `json:"sourceRegion"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	_, bi, err := pr.crrSource(r, "sourceBackupInstanceId", in.SourceBackupInstanceID, in.SourceRegion, typeRP+"/read", true)
	if err != nil {
		return nil, err
	}
	return nil, arm.BadRequest(codeNotSupported, "The backup instance '%s' backs up a managed disk (%s): its recovery points are snapshots in the disk's region, which are not replicated to the paired region, so it has no recovery points there (Azure does not support cross-region restore of disk backups). List its recovery points in its own region (GET %s/recoveryPoints) and restore one there.", bi.Name, typeDisk, bi.ID)
}

// noCrossRegionJobs is the answer to a request for a vault's cross-region
// restore jobs: none can run, its disk backups are not in the paired region.
func noCrossRegionJobs(vault *vaultResource) error {
	return arm.BadRequest(codeNotSupported, "The Backup vault '%s' has no cross-region restore jobs: it backs up managed disks (%s), whose snapshots are not replicated to the paired region, so no cross-region restore can run (Azure does not support cross-region restore of disk backups). Its jobs are listed in its own region at %s/backupJobs.", vault.Name, typeDisk, vault.ID)
}

type crrJobsRequest struct {
	SourceBackupVaultID string `json:"sourceBackupVaultId"`
	SourceRegion        string `json:"sourceRegion"`
	JobID               string `json:"jobId"`
}

// fetchCrossRegionRestoreJobs (CrossRegionRestoreJobsRequest): the vault's
// cross-region restore jobs; none can run for disks: 400.
func (pr *Provider) fetchCrossRegionRestoreJobs(r *arm.Request) (*arm.Response, error) {
	var in crrJobsRequest
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	vault, _, err := pr.crrSource(r, "sourceBackupVaultId", in.SourceBackupVaultID, in.SourceRegion, typeJob+"/read", false)
	if err != nil {
		return nil, err
	}
	return nil, noCrossRegionJobs(vault)
}

// fetchCrossRegionRestoreJob (CrossRegionRestoreJobRequest): one of them;
// 400 as the list, for any job id.
func (pr *Provider) fetchCrossRegionRestoreJob(r *arm.Request) (*arm.Response, error) {
	var in crrJobsRequest
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if in.JobID == "" {
		return nil, fieldError("jobId", "is required: the id of a cross-region restore job")
	}
	vault, _, err := pr.crrSource(r, "sourceBackupVaultId", in.SourceBackupVaultID, in.SourceRegion, typeJob+"/read", false)
	if err != nil {
		return nil, err
	}
	return nil, noCrossRegionJobs(vault)
}

// crossRegionRestore and validateCrossRegionRestore
// (CrossRegionRestoreRequestObject, ValidateCrossRegionRestoreRequestObject):
// a restore from the paired region. A disk's points are not there: 400.
func (pr *Provider) crossRegionRestore(validate bool) arm.Handler {
	return func(r *arm.Request) (*arm.Response, error) {
		var in struct {
			RestoreRequestObject      json.RawMessage `json:"restoreRequestObject"`
			CrossRegionRestoreDetails *struct {
				SourceBackupInstanceID string `json:"sourceBackupInstanceId"`
				SourceRegion           string `json:"sourceRegion"`
			} `json:"crossRegionRestoreDetails"`
		}
		if err := r.Decode(&in); err != nil {
			return nil, err
		}
		if len(in.RestoreRequestObject) == 0 || string(in.RestoreRequestObject) == "null" {
			return nil, fieldError("restoreRequestObject", "is required: the restore request (an AzureBackupRecoveryPointBasedRestoreRequest)")
		}
		if in.CrossRegionRestoreDetails == nil {
			return nil, fieldError("crossRegionRestoreDetails", "is required: {\"sourceBackupInstanceId\": <the backup instance's id>, \"sourceRegion\": <its vault's region>}")
		}
		action := typeInstance + "/restore/action"
		if validate {
			action = typeInstance + "/validateRestore/action"
		}
		d := in.CrossRegionRestoreDetails
		_, bi, err := pr.crrSource(r, "crossRegionRestoreDetails.sourceBackupInstanceId", d.SourceBackupInstanceID, d.SourceRegion, action, true)
		if err != nil {
			return nil, err
		}
		return nil, arm.BadRequest(codeNotSupported, "The backup instance '%s' backs up a managed disk (%s): its recovery points are snapshots in the disk's region, which are not replicated to the paired region, so it cannot be restored across regions. Restore it in its own region (POST %s/restore), then copy the restored disk's snapshot to another region if needed.", bi.Name, typeDisk, bi.ID)
	}
}
