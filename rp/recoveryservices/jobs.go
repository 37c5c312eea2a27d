package recoveryservices

import (
	"context"
	"errors"
	"hash/fnv"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/ops"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/store"
)

// internal job details never shown in the propertyBag.
var hiddenDetails = map[string]bool{detailCancel: true, detailCancelOps: true, detailExpiry: false, "restoreRequest": true, "restoredDisks": false}

// jobBody renders an AzureIaaSVMJob resource.
func (pr *Provider) jobBody(j *protection.Job) map[string]any {
	if j.Operation == protection.OpVerify {
		return pr.vaultJobBody(j)
	}
	now := pr.p.Now()
	container := ""
	if iid, err := arm.ParseID(j.ItemID); err == nil && len(iid.Names) >= 3 {
		if vm, ok := parseContainerName(iid.Names[2]); ok {
			container = vm.protectableName()
		}
	}
	actions := []string{}
	if j.Status == protection.JobInProgress && j.Operation == protection.OpBackup {
		actions = append(actions, "Cancellable")
	}
	if j.Status == protection.JobFailed && j.Operation == protection.OpBackup {
		actions = append(actions, "Retriable")
	}
	var errs []map[string]any
	if j.Error != nil {
		errs = append(errs, map[string]any{"errorCode": jobErrorCode(j.Error.Code), "errorString": j.Error.Message, "errorTitle": j.Error.Code,
			"recommendations": append([]string{}, j.Error.RecommendedAction...)})
	}
	tasks := make([]map[string]any, 0, len(j.Tasks))
	for _, t := range j.Tasks {
		tk := map[string]any{"taskId": t.Name, "status": t.Status, "startTime": wt(t.StartTime), "duration": protection.FormatElapsed(0)}
		if t.EndTime != nil {
			tk["endTime"] = wt(*t.EndTime)
			tk["duration"] = protection.FormatElapsed(t.EndTime.Sub(t.StartTime))
			tk["progressPercentage"] = 0
			if t.Status == protection.JobCompleted {
				tk["progressPercentage"] = 100
			}
		} else if t.Status == protection.JobInProgress {
			tk["duration"] = protection.FormatElapsed(now.Sub(t.StartTime))
			tk["progressPercentage"] = t.Progress
		}
		tasks = append(tasks, tk)
	}
	bag := map[string]string{"VM Name": j.ItemName}
	if j.PolicyName != "" {
		bag["Policy Name"] = j.PolicyName
	}
	for k, v := range j.Details {
		if !hiddenDetails[k] {
			bag[k] = v
		}
	}
	if j.Operation == protection.OpBackup && (j.BytesTransferred > 0 || j.Status == protection.JobCompleted) {
		// The data the backup moved to the vault (it was the disks' size):
		// "Backup Size" as Azure writes it, in whole MB, and the bytes.
		bag["Backup Size"] = backupSize(j.BytesTransferred)
		bag[bytesTransferredKey] = strconv.FormatInt(j.BytesTransferred, 10)
	}
	if j.RecoveryPointID != "" {
		bag["Recovery Point Id"] = j.RecoveryPointID
	}
	if j.RecoveryPointTime != nil {
		bag["Recovery Point Time"] = j.RecoveryPointTime.UTC().Format(time.RFC3339)
	}
	if j.Target != "" {
		bag["Target"] = j.Target
	}
	ext := map[string]any{"tasksList": tasks, "propertyBag": bag, "progressPercentage": j.Progress}
	if j.Error != nil {
		ext["dynamicErrorMessage"] = j.Error.Message
	} else if w := j.Details[protection.DetailWaiting]; w != "" {
		// What a running job waits for (also in the propertyBag's
		// "Waiting"): Azure's job says why it stands still here.
		ext["dynamicErrorMessage"] = w
	}
	props := map[string]any{
		"jobType": "AzureIaaSVMJob", "entityFriendlyName": j.ItemName, "backupManagementType": "AzureIaasVM",
		"operation": j.Operation, "status": j.Status, "startTime": wt(j.StartTime), "duration": protection.FormatElapsed(j.Duration(now)),
		"activityId": j.ID, "virtualMachineVersion": "Compute", "containerName": container, "isUserTriggered": j.UserTriggered,
		"actionsInfo": actions, "extendedInfo": ext,
	}
	if errs != nil {
		props["errorDetails"] = errs
	}
	if j.EndTime != nil {
		props["endTime"] = wt(*j.EndTime)
	}
	return map[string]any{"id": j.VaultID + "/backupJobs/" + j.ID, "name": j.ID, "type": jobType, "properties": props}
}

// bytesTransferredKey is the propertyBag entry of a backup job's bytes
// transferred to the vault, exact ("Backup Size" rounds them to MB).
const bytesTransferredKey = "Bytes Transferred"

// backupSize is a backup's "Backup Size" as Azure writes it ("2332 MB"):
// bytes in MB, rounded to the nearest, and at least 1 MB when any moved (0
// MB: nothing changed since the last backup).
func backupSize(b int64) string {
	mb := (b + 1<<19) >> 20
	if b > 0 && mb == 0 {
		mb = 1
	}
	return strconv.FormatInt(mb, 10) + " MB"
}

// The values of the job list's enum filters, as Azure's enums have them
// (JobStatus, JobOperationType, BackupManagementType), and Verify, the
// operation of Safehold's own verify jobs, which the list shows; a value
// Safehold's jobs never take (Invalid, Register, MAB, ...) matches no job.
// JobOperations holds every operation a job of either vault kind answers
// (safehold job list checks its --operation against it).
var (
	jobStatuses        = []string{"Invalid", "InProgress", "Completed", "Failed", "CompletedWithWarnings", "Cancelled", "Cancelling"}
	JobOperations      = []string{"Invalid", "Register", "UnRegister", "ConfigureBackup", "Backup", "Restore", "DisableBackup", "DeleteBackupData", "CrossRegionRestore", "Undelete", "UpdateCustomerManagedKey", protection.OpVerify, protection.OpMoveRecoveryPoint}
	jobManagementTypes = []string{"Invalid", "AzureIaasVM", "MAB", "DPM", "AzureBackupServer", "AzureSql", "AzureStorage", "AzureWorkload", "DefaultBackup"}
)

// checkFilterEnum answers a $filter value of name outside allowed (in any
// case) with 400 InvalidFilter naming the allowed values; "" is no filter.
func checkFilterEnum(name, value string, allowed []string) error {
	if value == "" || slices.ContainsFunc(allowed, func(s string) bool { return strings.EqualFold(s, value) }) {
		return nil
	}
	return arm.BadRequest("InvalidFilter", "The $filter %s '%s' is invalid: use one of %s.", name, value, strings.Join(allowed, ", "))
}

// filterTimeRange reads the times a $filter f (parseFilter's) gives its
// start and end (zero: not given): 400 InvalidFilter for one that is no
// time, or an end before the start.
func filterTimeRange(f map[string]string, start, end string) (from, to time.Time, err error) {
	for _, x := range []struct {
		name string
		t    *time.Time
	}{{start, &from}, {end, &to}} {
		if s := f[strings.ToLower(x.name)]; s != "" {
			if *x.t, err = parseWireTime(s); err != nil {
				return from, to, arm.BadRequest("InvalidFilter", "The $filter %s is invalid: %v.", x.name, err)
			}
		}
	}
	if !from.IsZero() && !to.IsZero() && to.Before(from) {
		return from, to, arm.BadRequest("InvalidFilter", "The $filter %s '%s' is before its %s '%s': the end must be after the start.", end, f[strings.ToLower(end)], start, f[strings.ToLower(start)])
	}
	return from, to, nil
}

func (pr *Provider) listJobs(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	vid, f, err := pr.vaultFilter(r, "status", "operation", "startTime", "endTime", "backupManagementType", "jobId", "entityFriendlyName")
	if err != nil {
		return nil, err
	}
	var jf protection.JobFilter
	if jf.From, jf.To, err = filterTimeRange(f, "startTime", "endTime"); err != nil {
		return nil, err
	}
	for _, c := range []struct {
		name    string
		allowed []string
	}{{"status", jobStatuses}, {"operation", JobOperations}, {"backupManagementType", jobManagementTypes}} {
		if err := checkFilterEnum(c.name, f[strings.ToLower(c.name)], c.allowed); err != nil {
			return nil, err
		}
	}
	if bmt := f["backupmanagementtype"]; bmt != "" && !strings.EqualFold(bmt, "AzureIaasVM") {
		return arm.OK(arm.Values([]any{})), nil
	}
	keep := func(j *protection.Job) bool {
		for _, c := range []struct{ filter, value string }{{"status", j.Status}, {"operation", j.Operation}, {"jobid", j.ID}, {"entityfriendlyname", j.ItemName}} {
			if s := f[c.filter]; s != "" && !strings.EqualFold(s, c.value) {
				return false
			}
		}
		return true
	}
	// The pages after the first read only their jobs (JobPage), in the
	// order the first page of the list with this filter read.
	name := "rs:" + strings.ToLower(vid.String()) + "?" + r.Query("$filter")
	return arm.PageKeyedFunc(r, 200, func(after string, skip, size int) ([]any, string, bool, error) {
		js, last, more, err := pr.Engine.JobPage(ctx, store.Prefetched(ctx, pr.p.Store), vid.String(), name, jf, keep, after, skip, size)
		bodies := make([]any, len(js))
		for i, j := range js {
			bodies[i] = pr.jobBody(j)
		}
		return bodies, last, more, err
	})
}

func (pr *Provider) loadJob(ctx context.Context, rd store.Reader, vid arm.ResourceID, name string) (*protection.Job, error) {
	j, err := getJob(ctx, rd, vid.String(), name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, arm.Errorf(http.StatusNotFound, "BMSUserErrorJobNotFound", "The job '%s' was not found in this vault: list the vault's backupJobs to see its jobs.", name)
	}
	return j, err
}

func (pr *Provider) getJob(r *arm.Request, vid arm.ResourceID) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	j, err := pr.loadJob(ctx, pr.p.Store, vid, r.Param("jobName"))
	if err != nil {
		return nil, err
	}
	return arm.OK(pr.jobBody(j)), nil
}

// cancelJob asks a running backup to stop: 202 with Location
// (backupJobs/{job}/operationResults/{op}) and Azure-AsyncOperation
// (backupOperations/{op}). The job goes Cancelling at once; the engine
// interrupts whatever its work waits on and ends it Cancelled (no recovery
// point is recorded when the capture had not committed one). The operation
// runs until the job has ended: its result answers 202 until then, then 204.
func (pr *Provider) cancelJob(r *arm.Request, vid arm.ResourceID) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	name := r.Param("jobName")
	op := &ops.Operation{Kind: opKindCancel, Caller: r.Caller(), ResultStatus: http.StatusNoContent}
	jobID := ""
	err := pr.p.Store.Update(ctx, func(tx store.Tx) error {
		j, err := pr.loadJob(ctx, tx, vid, name)
		if err != nil {
			return err
		}
		jobID = j.ID
		op.ResourceID = j.VaultID + "/backupJobs/" + j.ID
		op.Properties = jobStatus(j.ID)
		if j.Status == protection.JobCancelled {
			return pr.p.Ops.Completed(ctx, tx, op)
		}
		if j.Status != "Cancelling" && (j.Status != protection.JobInProgress || j.Operation != protection.OpBackup) {
			return arm.BadRequest("BMSUserErrorJobNotCancellable", "The job '%s' (%s, %s) cannot be cancelled: only backup jobs in progress can.", j.ID, j.Operation, j.Status)
		}
		if err := pr.p.Ops.Start(ctx, tx, op, cancelInput{VaultID: j.VaultID, JobID: j.ID}); err != nil {
			return err
		}
		j.Details[detailCancel] = "true"
		j.Details[detailCancelOps] = strings.TrimSpace(j.Details[detailCancelOps] + " " + op.ID)
		j.Status = "Cancelling"
		return protection.PutJob(ctx, tx, j)
	})
	if err != nil {
		return nil, err
	}
	pr.Engine.CancelRequested(jobID)
	pr.p.Ops.Notify()
	base := vid.String() + "/backupJobs/" + name
	return arm.Accepted().Async(r, vid.String()+"/backupOperations/"+op.ID, base+"/operationResults/"+op.ID), nil
}

type cancelInput struct {
	VaultID string `json:"vaultId"`
	JobID   string `json:"jobId"`
}

// runCancel is the cancel operation's work: done once the job has ended
// (the face's Ended ends the operation in the transaction that ends the
// job; this covers a job that ended before the operation ran).
func (pr *Provider) runCancel(ctx context.Context, op *ops.Operation, in cancelInput) error {
	j, err := getJob(ctx, pr.p.Store, in.VaultID, in.JobID)
	if errors.Is(err, store.ErrNotFound) || err == nil && j.Status != protection.JobInProgress && j.Status != "Cancelling" {
		return nil
	}
	if err != nil {
		return err
	}
	return ops.Retry(errors.New("the job is still being cancelled"), time.Minute)
}

// endCancels ends the cancel operations waiting on job j, which has ended,
// in the transaction that ends it.
func (pr *Provider) endCancels(ctx context.Context, tx store.Tx, j *protection.Job) error {
	for _, id := range strings.Fields(j.Details[detailCancelOps]) {
		op, err := pr.p.Ops.GetIn(ctx, tx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if !op.Done() {
			if err := pr.p.Ops.Finish(ctx, tx, op, nil); err != nil {
				return err
			}
		}
	}
	delete(j.Details, detailCancelOps)
	return nil
}

// jobErrorCodes number the Backup service error codes a job can fail
// with. AzureIaaSVMErrorInfo.errorCode is an integer in the API (the SDK
// decodes it as int32), so the string code itself goes in errorTitle and
// errorCode carries its number: never an HTTP status.
var jobErrorCodes = map[string]int32{
	"UserErrorVmNotFound":    100001,
	"UserErrorItemNotFound":  100002,
	"UserErrorBackupFailed":  100003,
	"UserErrorRestoreFailed": 100004,
	"InternalError":          100005,
	"BMSUserErrorVMNotFound": 100006,
}

// jobErrorCode is the number of a job's error code: from the table, else a
// stable number derived from the code (200000-999999).
func jobErrorCode(code string) int32 {
	if n, ok := jobErrorCodes[code]; ok {
		return n
	}
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(code)))
	return 200000 + int32(h.Sum32()%800000)
}

// sortJobs orders jobs newest first.
func sortJobs(js []*protection.Job) {
	sort.SliceStable(js, func(a, b int) bool { return js[a].StartTime.After(js[b].StartTime) })
}

// getJob reads a job with its Details map ready for writes.
func getJob(ctx context.Context, r store.Reader, vaultID, id string) (*protection.Job, error) {
	j, err := protection.GetJob(ctx, r, vaultID, id)
	if err == nil && j.Details == nil {
		j.Details = map[string]string{}
	}
	return j, err
}
