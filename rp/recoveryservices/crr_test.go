package recoveryservices_test

import (
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestCrossRegionRestoreIsRefusedSayingWhy: the Cross Region Restore
// routes of Recovery Services (at locations/{paired region}, what az
// backup ... --use-secondary-region calls: the AAD properties it fetches
// first, the restore, the job list and a job) are 400
// BMSUserErrorCrossRegionRestoreNotSupported saying Safehold keeps no
// secondary copy and to restore in the vault's region, and their
// operations' results and statuses 404 OperationNotFound. Each was 404
// InvalidResourceType ("The resource type 'locations/backupCrrJobs' could
// not be found"), as if Azure had no such type.
func TestCrossRegionRestoreIsRefusedSayingWhy(t *testing.T) {
	e := testserver.StartWithGroups(t, "vaultrg")
	vid := *fixture.RSVault(t, e, "vaultrg", "crrv", fixture.StandardVault()).ID
	L := "/subscriptions/" + e.Sub + "/providers/Microsoft.RecoveryServices/locations/eastus"
	const v = "?api-version=2021-11-15"
	for _, c := range []struct {
		method, path string
		body         any
		status       int
		code         string
	}{
		{"GET", "/backupAadProperties" + v + "&$filter=audience%20eq%20'x'", nil, 400, "BMSUserErrorCrossRegionRestoreNotSupported"},
		{"POST", "/backupCrossRegionRestore" + v, map[string]any{"crossRegionRestoreAccessDetails": map[string]any{}, "restoreRequest": map[string]any{"objectType": "IaasVMRestoreRequest"}}, 400, "BMSUserErrorCrossRegionRestoreNotSupported"},
		{"POST", "/backupCrrJobs" + v, map[string]any{"resourceId": vid}, 400, "BMSUserErrorCrossRegionRestoreNotSupported"},
		{"POST", "/backupCrrJob" + v, map[string]any{"resourceId": vid, "jobName": "j1"}, 400, "BMSUserErrorCrossRegionRestoreNotSupported"},
		{"GET", "/backupCrrOperationResults/00000000-0000-0000-0000-000000000001" + v, nil, 404, "OperationNotFound"},
		{"GET", "/backupCrrOperationsStatus/00000000-0000-0000-0000-000000000001" + v, nil, 404, "OperationNotFound"},
	} {
		resp, m := e.Do(c.method, L+c.path, c.body)
		msg, _ := testserver.Field(m, "error.message").(string)
		code, _ := testserver.Field(m, "error.code").(string)
		if resp.StatusCode != c.status || code != c.code || !strings.Contains(msg, "secondary region") {
			t.Errorf("%s %s: %d %v, want %d %s saying why", c.method, c.path, resp.StatusCode, m, c.status, c.code)
		}
		if c.status == 400 && !strings.Contains(msg, "leave out --use-secondary-region") {
			t.Errorf("%s %s: %q does not say what to do", c.method, c.path, msg)
		}
	}
}

// TestNewerCrossRegionRestoreVersions: the Cross Region Restore spec's
// later api-versions, 2024-11-15 (stable/2024-11-15/bms.json) and
// 2026-07-15 (RecoveryServicesBackupCrr), are served as 2018-12-20,
// 2021-11-15 and 2023-01-15 are: the vault's secondary-region items,
// recovery points and usages are 400 BMSUserErrorCrossRegionRestoreNotSupported
// naming the vault, the routes at locations/{region} refuse saying why, and
// the storage configuration is the vault's own. Both versions were refused
// as unknown api-versions (400 InvalidApiVersionParameter), which said
// nothing of Cross Region Restore.
func TestNewerCrossRegionRestoreVersions(t *testing.T) {
	e := testserver.StartWithGroups(t, "vaultrg")
	vid := *fixture.RSVault(t, e, "vaultrg", "crrv", fixture.StandardVault()).ID
	L := "/subscriptions/" + e.Sub + "/providers/Microsoft.RecoveryServices/locations/eastus"
	I := vid + "/backupFabrics/Azure/protectionContainers/iaasvmcontainer;iaasvmcontainerv2;vmrg;vm1/protectedItems/vm;iaasvmcontainerv2;vmrg;vm1"
	for _, v := range []string{"2024-11-15", "2026-07-15"} {
		q := "?api-version=" + v
		for _, c := range []struct {
			method, path string
			body         any
		}{
			{"GET", vid + "/backupProtectedItems" + q, nil},
			{"GET", I + "/recoveryPoints" + q, nil},
			{"GET", I + "/recoveryPoints/1234" + q, nil},
			{"GET", vid + "/backupUsageSummaries" + q, nil},
			{"POST", L + "/backupCrrJobs" + q, map[string]any{"resourceId": vid}},
			{"POST", L + "/backupCrrJob" + q, map[string]any{"resourceId": vid, "jobName": "j1"}},
		} {
			resp, m := e.Do(c.method, c.path, c.body)
			msg, _ := testserver.Field(m, "error.message").(string)
			if resp.StatusCode != 400 || testserver.Field(m, "error.code") != "BMSUserErrorCrossRegionRestoreNotSupported" || !strings.Contains(msg, "secondary region") {
				t.Errorf("%s %s: %d %v, want 400 BMSUserErrorCrossRegionRestoreNotSupported", c.method, c.path, resp.StatusCode, m)
			}
		}
		resp, m := e.Do("GET", vid+"/backupstorageconfig/vaultstorageconfig"+q, nil)
		if resp.StatusCode != 200 || testserver.Field(m, "properties.crossRegionRestoreFlag") != false {
			t.Errorf("storage config at %s: %d %v, want the vault's own", v, resp.StatusCode, m)
		}
	}
}
