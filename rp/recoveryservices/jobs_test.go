package recoveryservices_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"path"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/safehold/safehold/internal/fixture"
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
	if !testserver.HasError(err, 400, "InvalidFilter") {
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

// A backup held by a fault rule's latency is InProgress with its tasks as
// Azure shows them; cancelling it through the SDK interrupts the held wait
// (the rule holds for ten minutes, the test's deadline is two), ends the
// job Cancelled with no recovery point and no snapshot, the cancel's
// operation result answers 204 and its status Succeeded, and the item
// backs up normally afterwards.
func TestCancelHeldBackup(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	v := fixture.ProtectVM(t, e)
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)

	resp, m := e.Do("POST", faultRules, map[string]any{"name": "hold", "operation": "backup", "path": "*/protectedItems/" + v.Item, "latency": "10m"})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("fault rule: %d %v", resp.StatusCode, m)
	}
	if _, err := bf.NewBackupsClient().Trigger(ctx, v.Vault, v.RG, "Azure", v.Container, v.Item, armrecoveryservicesbackup.BackupRequestResource{
		Properties: &armrecoveryservicesbackup.IaasVMBackupRequest{}}, nil); err != nil {
		t.Fatal(err)
	}
	e.WaitFaultRuleHit("the backup held by the fault rule", "hold")

	jobs := bf.NewBackupJobsClient()
	pg := jobs.NewListPager(v.Vault, v.RG, &armrecoveryservicesbackup.BackupJobsClientListOptions{Filter: to.Ptr("operation eq 'Backup' and status eq 'InProgress'")})
	page, err := pg.NextPage(ctx)
	if err != nil || len(page.Value) != 1 {
		t.Fatalf("in-progress backup jobs: %v %v", err, page.Value)
	}
	jobID := *page.Value[0].Name
	job, err := bf.NewJobDetailsClient().Get(ctx, v.Vault, v.RG, jobID, nil)
	if err != nil {
		t.Fatal(err)
	}
	vm := job.Properties.(*armrecoveryservicesbackup.AzureIaaSVMJob)
	if *vm.Status != "InProgress" || *vm.Operation != "Backup" || len(vm.ActionsInfo) != 1 || *vm.ActionsInfo[0] != armrecoveryservicesbackup.JobSupportedActionCancellable {
		t.Fatalf("held job: %s %s %v", *vm.Status, *vm.Operation, vm.ActionsInfo)
	}
	tasks := vm.ExtendedInfo.TasksList
	if len(tasks) != 2 || *tasks[0].TaskID != "Take Snapshot" || *tasks[0].Status != "InProgress" ||
		*tasks[1].TaskID != "Transfer data to vault" || *tasks[1].Status != "NotStarted" {
		t.Fatalf("held job's tasks: %s", show(tasks))
	}

	var raw *http.Response
	if _, err := bf.NewJobCancellationsClient().Trigger(runtime.WithCaptureResponse(ctx, &raw), v.Vault, v.RG, jobID, nil); err != nil {
		t.Fatal(err)
	}
	loc, err := url.Parse(raw.Header.Get("Location"))
	if err != nil || path.Base(path.Dir(loc.Path)) != "operationResults" {
		t.Fatalf("cancel's Location: %q", raw.Header.Get("Location"))
	}
	opID := path.Base(loc.Path)
	results := bf.NewJobOperationResultsClient()
	e.WaitFor("the cancel's operation result", func() bool {
		var r *http.Response
		if _, err := results.Get(runtime.WithCaptureResponse(ctx, &r), v.Vault, v.RG, jobID, opID, nil); err != nil {
			t.Fatal(err)
		}
		return r.StatusCode == http.StatusNoContent
	})
	st, err := bf.NewBackupOperationStatusesClient().Get(ctx, v.Vault, v.RG, opID, nil)
	if err != nil || *st.Status != armrecoveryservicesbackup.OperationStatusValuesSucceeded {
		t.Fatalf("cancel's operation status: %v %s", err, show(st))
	}
	job, err = bf.NewJobDetailsClient().Get(ctx, v.Vault, v.RG, jobID, nil)
	if err != nil {
		t.Fatal(err)
	}
	vm = job.Properties.(*armrecoveryservicesbackup.AzureIaaSVMJob)
	if *vm.Status != "Cancelled" || vm.EndTime == nil || len(vm.ActionsInfo) != 0 {
		t.Fatalf("cancelled job: %s", show(vm))
	}
	for _, tk := range vm.ExtendedInfo.TasksList {
		if *tk.Status != "Cancelled" {
			t.Fatalf("task of the cancelled job: %s", show(vm))
		}
	}
	if n := testserver.Count(t, ctx, bf.NewRecoveryPointsClient().NewListPager(v.Vault, v.RG, "Azure", v.Container, v.Item, nil)); n != 0 {
		t.Fatalf("%d recovery points after the cancelled backup", n)
	}
	resp, m = e.Do("GET", "/subscriptions/"+e.Sub+"/providers/Microsoft.Compute/snapshots?api-version=2023-04-02", nil)
	if resp.StatusCode != 200 || len(m["value"].([]any)) != 0 {
		t.Fatalf("snapshots after the cancelled backup: %d %v", resp.StatusCode, m)
	}
	// Cancelling it again is accepted and done at once.
	if _, err := bf.NewJobCancellationsClient().Trigger(ctx, v.Vault, v.RG, jobID, nil); err != nil {
		t.Fatalf("cancel of a cancelled job: %v", err)
	}

	// The item is as before: without the rule its next backup completes.
	if resp, m := e.Do("DELETE", "/providers/Safehold.Admin/faultRules/hold?api-version=2024-01-01", nil); resp.StatusCode != 200 {
		t.Fatalf("delete the rule: %d %v", resp.StatusCode, m)
	}
	it, err := bf.NewProtectedItemsClient().Get(ctx, v.Vault, v.RG, "Azure", v.Container, v.Item, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := it.Properties.(*armrecoveryservicesbackup.AzureIaaSComputeVMProtectedItem); p.LastBackupStatus == nil || *p.LastBackupStatus != "Cancelled" {
		t.Fatalf("item after the cancel: %s", show(p))
	}
	if _, err := bf.NewBackupsClient().Trigger(ctx, v.Vault, v.RG, "Azure", v.Container, v.Item, armrecoveryservicesbackup.BackupRequestResource{
		Properties: &armrecoveryservicesbackup.IaasVMBackupRequest{}}, nil); err != nil {
		t.Fatalf("backup after the cancel: %v", err)
	}
	e.WaitFor("a recovery point after the cancel", func() bool {
		return testserver.Count(t, ctx, bf.NewRecoveryPointsClient().NewListPager(v.Vault, v.RG, "Azure", v.Container, v.Item, nil)) == 1
	})
}

// show is v as JSON, for failure messages.
func show(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
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

// TestJobListPagesWhileJobsStart: the Go SDK's job pager reads every job
// once while jobs start between its pages (a key-set $skipToken, the last
// job of the page, arm.PageKeyedOK). The token was an offset, so each job
// that started before the second page pushed a job of the first page onto
// it again: the pager answered those jobs twice.
func TestJobListPagesWhileJobsStart(t *testing.T) {
	e, R, I, vm := protectedApp(t)
	configure := func() {
		t.Helper()
		protect(t, e, I+rsAPI, vm.ID, R+"/backupPolicies/DefaultPolicy") // a ConfigureBackup job each
	}
	const page = 200 // the list's page
	for range page {
		configure()
	}
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	pager := bf.NewBackupJobsClient().NewListPager("rv", "vaultrg", nil)
	seen := map[string]int{}
	first, err := pager.NextPage(e.Ctx())
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Value) != page || !pager.More() {
		t.Fatalf("first page: %d jobs, more %v; want %d and more", len(first.Value), pager.More(), page)
	}
	for _, j := range first.Value {
		seen[*j.Name]++
	}
	for range 3 { // jobs that start while the client pages
		configure()
	}
	for pager.More() {
		p, err := pager.NextPage(e.Ctx())
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range p.Value {
			seen[*j.Name]++
		}
	}
	for name, n := range seen {
		if n != 1 {
			t.Errorf("job %s listed %d times", name, n)
		}
	}
	if len(seen) != page+1 {
		t.Errorf("the pager read %d jobs, want the %d that stood when it began", len(seen), page+1)
	}
	// A token that is not one the list gave is 400, not a page.
	if resp, m := e.Do("GET", R+"/backupJobs"+rsAPI+"&$skipToken=k%21%21", nil); resp.StatusCode != 400 || testserver.ErrorCode(m) != "InvalidQueryParameterValue" {
		t.Errorf("a made-up key token: %d %v", resp.StatusCode, m)
	}
}
