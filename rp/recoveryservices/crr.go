package recoveryservices

import (
	"net/http"

	"github.com/safehold/safehold/arm"
)

// Cross Region Restore of a Recovery Services vault's backups, at the
// vault's paired region (/subscriptions/{s}/providers/
// Microsoft.RecoveryServices/locations/{region}/...: backupAadProperties,
// backupCrossRegionRestore, backupCrrJobs, backupCrrJob and their
// operations; what az backup ... --use-secondary-region calls). Safehold
// keeps no copy of a vault's backups in a secondary region, so none can be
// restored or listed there: each is 400 naming the flag to leave out, and
// an operation's result or status is one never started (404). They were
// 404 InvalidResourceType, as if Azure had no such type, which says
// nothing of what to do.

func (pr *Provider) registerCrossRegion(rt *arm.Router, sub string) {
	L := sub + "/providers/Microsoft.RecoveryServices/locations/{location}"
	rt.Handle("GET", L+"/backupAadProperties", crossRegionNotSupported, arm.Action(namespace+"/locations/backupAadProperties/read"))
	rt.Handle("POST", L+"/backupCrossRegionRestore", crossRegionNotSupported, arm.Action(namespace+"/locations/backupCrossRegionRestore/action"))
	rt.Handle("POST", L+"/backupCrrJobs", pr.crossRegionJobs(false), arm.Action(namespace+"/locations/backupCrrJobs/action"))
	rt.Handle("POST", L+"/backupCrrJob", pr.crossRegionJobs(true), arm.Action(namespace+"/locations/backupCrrJob/action"))
	rt.Handle("GET", L+"/backupCrrOperationResults/{operationId}", crossRegionOperationNotFound, arm.Action(namespace+"/locations/backupCrrOperationResults/read"))
	rt.Handle("GET", L+"/backupCrrOperationsStatus/{operationId}", crossRegionOperationNotFound, arm.Action(namespace+"/locations/backupCrrOperationsStatus/read"))
}

func crossRegionNotSupported(r *arm.Request) (*arm.Response, error) {
	return nil, arm.BadRequest("BMSUserErrorCrossRegionRestoreNotSupported",
		"Cross Region Restore is not supported: Safehold keeps no copy of a Recovery Services vault's backups in a secondary region ('%s'), so there are no secondary recovery points, jobs or restores. Restore and list in the vault's own region (az backup: leave out --use-secondary-region).",
		r.Param("location"))
}

// crossRegionJobs answers backupCrrJobs (one) and backupCrrJob (!one): a
// CrrJobRequest names the vault whose secondary-region jobs it reads
// (resourceId; jobName for one job). The vault is checked first, as
// Azure's passive stamp does: a well-formed Recovery Services vault id,
// the caller's read of its jobs (403 LinkedAuthorizationFailed), the
// vault's existence (404 naming it); then the answer its Cross Region
// Restore setting calls for (secondaryRefusal). Both were 400 ...NotSupported
// whatever the body named, a vault that did not exist or that the caller
// could not read included.
func (pr *Provider) crossRegionJobs(one bool) arm.Handler {
	return func(r *arm.Request) (*arm.Response, error) {
		var in struct {
			ResourceID string `json:"resourceId"`
			JobName    string `json:"jobName"`
		}
		if err := r.Decode(&in); err != nil {
			return nil, err
		}
		const example = "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.RecoveryServices/vaults/{vaultName}"
		if in.ResourceID == "" {
			return nil, arm.BadRequestAt("resourceId", "BMSUserErrorInvalidInput", "resourceId is required: the id of the Recovery Services vault whose Cross Region Restore jobs to read (%s).", example)
		}
		vid, err := arm.ParseID(in.ResourceID)
		if err != nil || !vid.IsType(vaultType) || len(vid.Names) != 1 || vid.ResourceGroup == "" || vid.Scope != "" {
			return nil, arm.BadRequestAt("resourceId", "BMSUserErrorInvalidInput", "resourceId '%s' is not the id of a Recovery Services vault (%s).", in.ResourceID, example)
		}
		if one && in.JobName == "" {
			return nil, arm.BadRequestAt("jobName", "BMSUserErrorInvalidInput", "jobName is required: the name of the Cross Region Restore job to read.")
		}
		if err := r.CheckLinked(arm.Link{Action: namespace + "/vaults/backupJobs/read", Scope: vid.String()}); err != nil {
			return nil, err
		}
		ctx := r.HTTP.Context()
		v, err := pr.loadVault(ctx, pr.p.Store, vid)
		if err != nil {
			return nil, err
		}
		_, cfg, err := loadConfig(ctx, pr.p.Store, vaultID(vid.SubscriptionID, vid.ResourceGroup, v.Name), "storage")
		if err != nil {
			return nil, err
		}
		return nil, secondaryRefusal(v.Name, cfg, r.APIVersion)
	}
}

func crossRegionOperationNotFound(r *arm.Request) (*arm.Response, error) {
	return nil, arm.Errorf(http.StatusNotFound, "OperationNotFound",
		"The operation '%s' was not found: no Cross Region Restore operation is ever started (Safehold keeps no copy of a vault's backups in a secondary region).", r.Param("operationId"))
}

// secondaryVersions are the api-versions of Azure's passive-stamp
// (Cross Region Restore) spec, RecoveryServicesBackupPassiveClient's: at
// them the vault's protected items, recovery points and usage summaries
// are those of the vault's copy in its paired region (BackupProtectedItemsCrr,
// RecoveryPointsCrr, BackupUsageSummariesCRR; az backup item, recoverypoint
// list and show --use-secondary-region). The storage configuration at
// these versions is the vault's own, and is answered.
var secondaryVersions = map[string]bool{"2018-12-20": true, "2021-11-15": true, "2023-01-15": true, "2024-11-15": true, "2026-07-15": true}

// primaryOnly is h, but for a request at a secondaryVersions api-version,
// which is 400 BMSUserErrorCrossRegionRestoreNotSupported (after the
// vault's 404 when it does not exist): Safehold keeps no secondary copy,
// so there is nothing of the vault's to list or read there. Such lists
// answered the primary region's items and points, as though they had been
// copied.
func (pr *Provider) primaryOnly(h arm.Handler) arm.Handler {
	return func(r *arm.Request) (*arm.Response, error) {
		if !secondaryVersions[r.APIVersion] {
			return h(r)
		}
		return pr.secondaryRefused(r)
	}
}

// secondaryRefused answers a request for the vault's data in its paired
// region: the vault's 404, else 400 naming its storage redundancy and
// Cross Region Restore setting.
func (pr *Provider) secondaryRefused(r *arm.Request) (*arm.Response, error) {
	_, cfg, err := pr.config(r, "storage")
	if err != nil {
		return nil, err
	}
	return nil, secondaryRefusal(r.Param("vaultName"), cfg, r.APIVersion)
}

// secondaryRefusal is the answer to a read of vault's data in its paired
// region, given its storage configuration: on a vault whose Cross Region
// Restore is disabled, Azure's 400 BMSUserErrorCrossRegionRestoreNotEnabledInThisVault
// (saying how to enable it); on one where it is enabled, 400
// BMSUserErrorCrossRegionRestoreNotSupported, since Safehold keeps no copy
// there. Both name the vault, its storage and its setting.
func secondaryRefusal(vault string, cfg configRecord, apiVersion string) error {
	if cfg.Properties["crossRegionRestoreFlag"] != true {
		return arm.BadRequest("BMSUserErrorCrossRegionRestoreNotEnabledInThisVault",
			"Cross Region Restore is not enabled in vault '%s' (its storage is %v, Cross Region Restore Disabled), so nothing of it is kept in a secondary region: there are no secondary-region items, recovery points, usages or jobs to read (api-version %s is the Cross Region Restore API's). Use the vault's own region (az backup: leave out --use-secondary-region); Cross Region Restore can be enabled on a GeoRedundant vault (az backup vault backup-properties set --cross-region-restore-flag True).",
			vault, cfg.Properties["storageType"], apiVersion)
	}
	return arm.BadRequest("BMSUserErrorCrossRegionRestoreNotSupported",
		"Vault '%s' has no data in a secondary region (its storage is %v, Cross Region Restore Enabled): Safehold keeps no copy of a Recovery Services vault's backups in its paired region, so there are no secondary-region items, recovery points, usages or jobs to list or read (api-version %s is the Cross Region Restore API's). Use the vault's own region (az backup: leave out --use-secondary-region).",
		vault, cfg.Properties["storageType"], apiVersion)
}
