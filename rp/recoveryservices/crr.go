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
	rt.Handle("POST", L+"/backupCrrJobs", crossRegionNotSupported, arm.Action(namespace+"/locations/backupCrrJobs/action"))
	rt.Handle("POST", L+"/backupCrrJob", crossRegionNotSupported, arm.Action(namespace+"/locations/backupCrrJob/action"))
	rt.Handle("GET", L+"/backupCrrOperationResults/{operationId}", crossRegionOperationNotFound, arm.Action(namespace+"/locations/backupCrrOperationResults/read"))
	rt.Handle("GET", L+"/backupCrrOperationsStatus/{operationId}", crossRegionOperationNotFound, arm.Action(namespace+"/locations/backupCrrOperationsStatus/read"))
}

func crossRegionNotSupported(r *arm.Request) (*arm.Response, error) {
	return nil, arm.BadRequest("BMSUserErrorCrossRegionRestoreNotSupported",
		"Cross Region Restore is not supported: Safehold keeps no copy of a Recovery Services vault's backups in a secondary region ('%s'), so there are no secondary recovery points, jobs or restores. Restore and list in the vault's own region (az backup: leave out --use-secondary-region).",
		r.Param("location"))
}

func crossRegionOperationNotFound(r *arm.Request) (*arm.Response, error) {
	return nil, arm.Errorf(http.StatusNotFound, "OperationNotFound",
		"The operation '%s' was not found: no Cross Region Restore operation is ever started (Safehold keeps no copy of a vault's backups in a secondary region).", r.Param("operationId"))
}
