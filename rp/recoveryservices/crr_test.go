package recoveryservices_test

import (
	"strings"
	"testing"

	"github.com/google/uuid"

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
		{"POST", "/backupCrrJobs" + v, map[string]any{"resourceId": vid}, 400, "BMSUserErrorCrossRegionRestoreNotEnabledInThisVault"},
		{"POST", "/backupCrrJob" + v, map[string]any{"resourceId": vid, "jobName": "j1"}, 400, "BMSUserErrorCrossRegionRestoreNotEnabledInThisVault"},
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
// recovery points and usages are 400 BMSUserErrorCrossRegionRestoreNotEnabledInThisVault
// naming the vault (its Cross Region Restore is disabled), the routes at locations/{region} refuse saying why, and
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
			if resp.StatusCode != 400 || testserver.Field(m, "error.code") != "BMSUserErrorCrossRegionRestoreNotEnabledInThisVault" || !strings.Contains(msg, "secondary region") {
				t.Errorf("%s %s: %d %v, want 400 BMSUserErrorCrossRegionRestoreNotEnabledInThisVault", c.method, c.path, resp.StatusCode, m)
			}
		}
		resp, m := e.Do("GET", vid+"/backupstorageconfig/vaultstorageconfig"+q, nil)
		if resp.StatusCode != 200 || testserver.Field(m, "properties.crossRegionRestoreFlag") != false {
			t.Errorf("storage config at %s: %d %v, want the vault's own", v, resp.StatusCode, m)
		}
	}
}

// TestSecondaryReadsFollowTheVaultsCrossRegionRestore: a read of a Recovery
// Services vault's data in its paired region (its protected items at the
// Cross Region Restore api-version, backupCrrJobs, backupCrrJob) is, as in
// Azure, 400 BMSUserErrorCrossRegionRestoreNotEnabledInThisVault on a
// vault whose Cross Region Restore is disabled, saying how to enable it,
// and 400 BMSUserErrorCrossRegionRestoreNotSupported once it is enabled
// (Safehold keeps no secondary copy). backupCrrJobs and backupCrrJob check
// the vault their body names first: a missing or malformed resourceId or
// jobName is 400 at that field, a vault that does not exist 404 naming it,
// a caller who may not read the vault's jobs 403 LinkedAuthorizationFailed.
// Before, every one was 400 ...NotSupported whatever the setting, and the
// job routes answered it for any body, a vault that did not exist or that
// the caller could not read included.
func TestSecondaryReadsFollowTheVaultsCrossRegionRestore(t *testing.T) {
	e := testserver.StartWithGroups(t, "vaultrg")
	vid := *fixture.RSVault(t, e, "vaultrg", "crrv", fixture.StandardVault()).ID
	L := "/subscriptions/" + e.Sub + "/providers/Microsoft.RecoveryServices/locations/eastus"
	const v = "?api-version=2021-11-15"
	reads := []struct {
		method, path string
		body         any
	}{
		{"GET", vid + "/backupProtectedItems" + v, nil},
		{"POST", L + "/backupCrrJobs" + v, map[string]any{"resourceId": vid}},
		{"POST", L + "/backupCrrJob" + v, map[string]any{"resourceId": vid, "jobName": "j1"}},
	}
	want := func(code, says string) {
		t.Helper()
		for _, c := range reads {
			resp, m := e.Do(c.method, c.path, c.body)
			msg, _ := testserver.Field(m, "error.message").(string)
			if resp.StatusCode != 400 || testserver.ErrorCode(m) != code || !strings.Contains(msg, "'crrv'") || !strings.Contains(msg, says) {
				t.Errorf("%s %s: %d %v, want 400 %s naming the vault and saying %q", c.method, c.path, resp.StatusCode, m, code, says)
			}
		}
	}
	want("BMSUserErrorCrossRegionRestoreNotEnabledInThisVault", "--cross-region-restore-flag True")
	resp, m := e.Do("PATCH", vid+"/backupstorageconfig/vaultstorageconfig?api-version=2023-04-01", `{"properties":{"storageType":"GeoRedundant","crossRegionRestoreFlag":true}}`)
	if resp.StatusCode != 204 {
		t.Fatalf("enable Cross Region Restore: %d %v", resp.StatusCode, m)
	}
	want("BMSUserErrorCrossRegionRestoreNotSupported", "Cross Region Restore Enabled")

	missing := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/nosuch"
	for _, c := range []struct {
		what, path string
		body       map[string]any
		status     int
		code       string
		says       string
	}{
		{"jobs without resourceId", "/backupCrrJobs", map[string]any{}, 400, "BMSUserErrorInvalidInput", "resourceId"},
		{"jobs of a disk", "/backupCrrJobs", map[string]any{"resourceId": "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.Compute/disks/d"}, 400, "BMSUserErrorInvalidInput", "resourceId"},
		{"job without jobName", "/backupCrrJob", map[string]any{"resourceId": vid}, 400, "BMSUserErrorInvalidInput", "jobName"},
		{"jobs of a missing vault", "/backupCrrJobs", map[string]any{"resourceId": missing}, 404, "ResourceNotFound", "nosuch"},
		{"job of a missing vault", "/backupCrrJob", map[string]any{"resourceId": missing, "jobName": "j1"}, 404, "ResourceNotFound", "nosuch"},
	} {
		resp, m := e.Do("POST", L+c.path+v, c.body)
		if msg, _ := testserver.Field(m, "error.message").(string); resp.StatusCode != c.status || testserver.ErrorCode(m) != c.code || !strings.Contains(msg, c.says) {
			t.Errorf("%s: %d %v, want %d %s saying %q", c.what, resp.StatusCode, m, c.status, c.code, c.says)
		}
	}

	// A caller who may call the Cross Region Restore API but not read the
	// vault's jobs.
	sub := "/subscriptions/" + e.Sub
	role := uuid.NewString()
	if resp, m := e.Do("PUT", sub+"/providers/Microsoft.Authorization/roleDefinitions/"+role+"?api-version=2022-04-01", map[string]any{"properties": map[string]any{
		"roleName": "secondary region only", "type": "CustomRole",
		"permissions":      []any{map[string]any{"actions": []string{"Microsoft.RecoveryServices/locations/*"}}},
		"assignableScopes": []string{sub}}}); resp.StatusCode != 201 {
		t.Fatalf("custom role: %d %v", resp.StatusCode, m)
	}
	pid, cred := fixture.Principal(t, e, "crr-only")
	fixture.Assign(t, e, sub, role, pid)
	for _, path := range []string{"/backupCrrJobs", "/backupCrrJob"} {
		resp, m := e.Do("POST", L+path+v, map[string]any{"resourceId": vid, "jobName": "j1"}, testserver.As(cred), testserver.AnyStatus())
		if msg, _ := testserver.Field(m, "error.message").(string); resp.StatusCode != 403 || testserver.ErrorCode(m) != "LinkedAuthorizationFailed" || !strings.Contains(msg, "backupJobs/read") {
			t.Errorf("%s by a caller who may not read the vault's jobs: %d %v, want 403 LinkedAuthorizationFailed", path, resp.StatusCode, m)
		}
		resp, m = e.Do("POST", L+path+v, map[string]any{"resourceId": missing, "jobName": "j1"}, testserver.As(cred), testserver.AnyStatus())
		if resp.StatusCode != 403 || testserver.ErrorCode(m) != "LinkedAuthorizationFailed" {
			t.Errorf("%s of a missing vault by a caller who may not read it: %d %v, want 403 (nothing said of the vault)", path, resp.StatusCode, m)
		}
	}
}
