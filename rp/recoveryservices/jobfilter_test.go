package recoveryservices_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/safehold/safehold/internal/testserver"
)

// TestJobListStatusFilter: the backupJobs list filters by every status of
// Azure's JobStatus enum (in any case), and answers an unknown status with
// 400 InvalidFilter naming the allowed values, as Azure does, instead of an
// empty list.
func TestJobListStatusFilter(t *testing.T) {
	e, R, _, _ := protectedApp(t)
	list := func(filter string) (int, map[string]any) {
		resp, m := e.Do("GET", R+"/backupJobs"+rsAPI+"&$filter="+url.QueryEscape(filter), nil)
		return resp.StatusCode, m
	}
	if code, m := list("status eq 'completed'"); code != 200 || len(m["value"].([]any)) != 1 || str(m["value"].([]any)[0].(map[string]any), "properties.operation") != "ConfigureBackup" {
		t.Fatalf("completed jobs: %d %v", code, m)
	}
	for _, st := range []string{"Invalid", "InProgress", "Failed", "CompletedWithWarnings", "Cancelled", "Cancelling"} {
		if code, m := list("operation eq 'Backup' and status eq '" + st + "'"); code != 200 || len(m["value"].([]any)) != 0 {
			t.Errorf("status %s: %d %v", st, code, m)
		}
	}
	code, m := list("status eq 'Bogus'")
	msg := str(m, "error.message")
	if code != 400 || str(m, "error.code") != "InvalidFilter" || !strings.Contains(msg, "'Bogus'") || !strings.Contains(msg, "CompletedWithWarnings") || !strings.Contains(msg, "Cancelling") {
		t.Fatalf("unknown status: %d %v", code, m)
	}
	sdkInvalidFilter(t, e, "status eq 'Done'")
}

// sdkInvalidFilter lists the jobs of vaultrg/rv through the SDK with
// filter, which must fail with 400 InvalidFilter.
func sdkInvalidFilter(t *testing.T, e *testserver.Env, filter string) {
	t.Helper()
	jobs, err := armrecoveryservicesbackup.NewBackupJobsClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = jobs.NewListPager("rv", "vaultrg", &armrecoveryservicesbackup.BackupJobsClientListOptions{Filter: to.Ptr(filter)}).NextPage(e.Ctx())
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 400 || re.ErrorCode != "InvalidFilter" {
		t.Fatalf("SDK list with %s: %v", filter, err)
	}
}

// TestJobListOperationAndTypeFilter: the backupJobs list takes every value
// of Azure's JobOperationType and BackupManagementType enums (in any case;
// those Safehold's jobs never take match none), and answers an unknown
// operation or backupManagementType with 400 InvalidFilter naming the
// allowed values instead of an empty list.
func TestJobListOperationAndTypeFilter(t *testing.T) {
	e, R, _, _ := protectedApp(t)
	list := func(filter string) (int, map[string]any) {
		resp, m := e.Do("GET", R+"/backupJobs"+rsAPI+"&$filter="+url.QueryEscape(filter), nil)
		return resp.StatusCode, m
	}
	for filter, want := range map[string]int{
		"operation eq 'configurebackup'":                                           1,
		"backupManagementType eq 'azureiaasvm'":                                    1,
		"backupManagementType eq 'AzureIaasVM' and operation eq 'ConfigureBackup'": 1,
	} {
		if code, m := list(filter); code != 200 || len(m["value"].([]any)) != want {
			t.Errorf("%s: %d %v", filter, code, m)
		}
	}
	for _, op := range []string{"Invalid", "Register", "UnRegister", "Backup", "Restore", "DisableBackup", "DeleteBackupData", "CrossRegionRestore", "Undelete", "UpdateCustomerManagedKey"} {
		if code, m := list("operation eq '" + op + "'"); code != 200 || len(m["value"].([]any)) != 0 {
			t.Errorf("operation %s: %d %v", op, code, m)
		}
	}
	for _, bmt := range []string{"Invalid", "MAB", "DPM", "AzureBackupServer", "AzureSql", "AzureStorage", "AzureWorkload", "DefaultBackup"} {
		if code, m := list("backupManagementType eq '" + bmt + "'"); code != 200 || len(m["value"].([]any)) != 0 {
			t.Errorf("backupManagementType %s: %d %v", bmt, code, m)
		}
	}
	for filter, names := range map[string][]string{
		"operation eq 'Bogus'":                        {"'Bogus'", "ConfigureBackup", "DeleteBackupData", "UpdateCustomerManagedKey"},
		"backupManagementType eq 'AzureVM'":           {"'AzureVM'", "AzureIaasVM", "DefaultBackup"},
		"status eq 'Completed' and operation eq 'Bk'": {"'Bk'", "Backup"},
	} {
		code, m := list(filter)
		checkInvalidFilter(t, filter, code, m, names...)
	}
	sdkInvalidFilter(t, e, "backupManagementType eq 'Azure'")
}

// checkInvalidFilter checks that the answer to filter is 400 InvalidFilter
// whose message names each of names.
func checkInvalidFilter(t *testing.T, filter string, code int, m map[string]any, names ...string) {
	t.Helper()
	msg := str(m, "error.message")
	if code != 400 || str(m, "error.code") != "InvalidFilter" {
		t.Errorf("%s: %d %v", filter, code, m)
		return
	}
	for _, n := range names {
		if !strings.Contains(msg, n) {
			t.Errorf("%s: the message does not name %s: %s", filter, n, msg)
		}
	}
}

// TestJobListTimeRangeFilter: a $filter whose endTime is before its
// startTime is answered 400 InvalidFilter saying the end must be after the
// start, as Azure does, instead of an empty list; a range in order lists.
func TestJobListTimeRangeFilter(t *testing.T) {
	e, R, _, _ := protectedApp(t)
	list := func(filter string) (int, map[string]any) {
		resp, m := e.Do("GET", R+"/backupJobs"+rsAPI+"&$filter="+url.QueryEscape(filter), nil)
		return resp.StatusCode, m
	}
	if code, m := list("startTime eq '2000-01-01 12:00:00 AM' and endTime eq '2999-01-01 12:00:00 AM'"); code != 200 || len(m["value"].([]any)) == 0 {
		t.Fatalf("a range in order: %d %v", code, m)
	}
	code, m := list("startTime eq '2999-01-01 12:00:00 AM' and endTime eq '2000-01-01 12:00:00 AM'")
	msg := str(m, "error.message")
	if code != 400 || str(m, "error.code") != "InvalidFilter" || !strings.Contains(msg, "endTime") || !strings.Contains(msg, "after the start") {
		t.Fatalf("end before start: %d %v", code, m)
	}
	sdkInvalidFilter(t, e, "startTime eq '2020-06-02 12:00:00 AM' and endTime eq '2020-06-01 12:00:00 AM'")
}

// TestRefreshContainersFilter: refreshContainers takes Azure's
// backupManagementType filter (in any case) and answers any other $filter
// (another field, an unknown type, a malformed clause) with 400
// InvalidFilter naming what is allowed, instead of ignoring it.
func TestRefreshContainersFilter(t *testing.T) {
	e := testserver.StartWithGroups(t, "vaultrg")
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/rv"
	mkVault(t, e, R+"?api-version=2023-04-01", "westus")
	refresh := func(filter string) (int, map[string]any) {
		q := "?api-version=2016-12-01"
		if filter != "" {
			q += "&$filter=" + url.QueryEscape(filter)
		}
		resp, m := e.Do("POST", R+"/backupFabrics/Azure/refreshContainers"+q, nil)
		return resp.StatusCode, m
	}
	for _, f := range []string{"", "backupManagementType eq 'AzureIaasVM'", "backupmanagementtype eq 'azureiaasvm'"} {
		if code, m := refresh(f); code != 202 {
			t.Fatalf("refresh with %q: %d %v", f, code, m)
		}
	}
	for filter, names := range map[string][]string{
		"backupManagementType eq 'AzureVM'":  {"'AzureVM'", "AzureIaasVM"},
		"status eq 'Completed'":              {"'status'", "backupManagementType"},
		"backupManagementType = AzureIaasVM": {"backupManagementType eq 'AzureIaasVM'"},
	} {
		code, m := refresh(filter)
		checkInvalidFilter(t, filter, code, m, names...)
	}
}
