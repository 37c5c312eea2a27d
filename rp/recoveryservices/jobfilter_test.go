package recoveryservices_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
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
	// The SDK sees the same 400.
	jobs, err := armrecoveryservicesbackup.NewBackupJobsClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = jobs.NewListPager("rv", "vaultrg", &armrecoveryservicesbackup.BackupJobsClientListOptions{Filter: to.Ptr("status eq 'Done'")}).NextPage(e.Ctx())
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 400 || re.ErrorCode != "InvalidFilter" {
		t.Fatalf("SDK list with an unknown status: %v", err)
	}
}
