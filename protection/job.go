package protection

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/safehold/safehold/store"
)

// Job operations (both vault kinds map them to their wire names).
const (
	OpBackup           = "Backup"
	OpRestore          = "Restore"
	OpConfigureBackup  = "ConfigureBackup"
	OpDeleteBackupData = "DeleteBackupData"
	OpStopProtection   = "StopProtection"
	OpValidate         = "Validate"
)

// Job states. Azure's wire values differ per vault kind (DP says
// "Completed", RS "Completed" too, but RS also has "CompletedWithWarnings");
// the wire layer maps them.
const (
	JobInProgress = "InProgress"
	JobCompleted  = "Completed"
	JobFailed     = "Failed"
	JobCancelled  = "Cancelled"
)

const jobKind = "protection.job"

// JobError is a failed job's error.
type JobError struct {
	Code              string   `json:"code"`
	Message           string   `json:"message"`
	RecommendedAction []string `json:"recommendedAction,omitempty"`
}

// JobTask is one step of a job (Azure's subTasks / tasksList).
type JobTask struct {
	Name      string     `json:"name"`
	Status    string     `json:"status"` // InProgress, Completed, Failed
	StartTime time.Time  `json:"startTime"`
	EndTime   *time.Time `json:"endTime,omitempty"`
	// Progress is the task's own progress (percent), as the job's phase
	// of it reported it; 100 once Completed.
	Progress float64 `json:"progress,omitempty"`
}

// Job is a durable backup job: what a vault's backupJobs list shows. Jobs
// are stored in the metadata store (kind "protection.job") keyed by ID and
// scoped by VaultID, so a vault's jobs list without a scan of every job.
type Job struct {
	ID                 string            `json:"id"`                       // GUID, unique across vaults
	VaultID            string            `json:"vaultId"`                  // ARM id of the vault
	ItemID             string            `json:"itemId"`                   // ARM id of the backup instance / protected item ("" for vault-level jobs)
	ItemName           string            `json:"itemName"`                 // friendly name of the item
	Datasource         string            `json:"datasource"`               // ARM id of what is protected (disk, VM)
	DatasourceType     string            `json:"datasourceType,omitempty"` // e.g. Microsoft.Compute/disks
	DatasourceLocation string            `json:"datasourceLocation,omitempty"`
	Operation          string            `json:"operation"` // OpBackup, OpRestore, ...
	Status             string            `json:"status"`    // JobInProgress, JobCompleted, ...
	UserTriggered      bool              `json:"userTriggered"`
	StartTime          time.Time         `json:"startTime"`
	EndTime            *time.Time        `json:"endTime,omitempty"`
	Progress           float64           `json:"progress"` // percent, 0-100
	BytesTransferred   int64             `json:"bytesTransferred"`
	PolicyID           string            `json:"policyId,omitempty"`
	PolicyName         string            `json:"policyName,omitempty"`
	RecoveryPointID    string            `json:"recoveryPointId,omitempty"` // the point a backup made or a restore used
	RecoveryPointTime  *time.Time        `json:"recoveryPointTime,omitempty"`
	Target             string            `json:"target,omitempty"` // restore destination (ARM id)
	Error              *JobError         `json:"error,omitempty"`
	Tasks              []JobTask         `json:"tasks,omitempty"`
	Details            map[string]string `json:"details,omitempty"` // free additional details (RetentionTag, ...)
	// Created is when the job was made, in real time (CreateJob): the
	// list's order among jobs of one start time (a clock standing still).
	Created time.Time `json:"created,omitzero"`
	// TransientRetries counts the runs of the job that met the metadata
	// database out of reach and left it to its task to run again (run.go).
	TransientRetries int `json:"transientRetries,omitempty"`
	// Leftovers are what earlier runs that met the metadata database out
	// of reach made and nothing owns yet (leftovers.go): deleted when the
	// job ends Failed or Cancelled.
	Leftovers []Leftover `json:"leftovers,omitempty"`
	// Runner is the claim running the job's latest run (recordRunner).
	Runner *JobRunner `json:"runner,omitempty"`
}

// NewJob is a new job of operation on the item itemID of vault vaultID
// ("" for a vault's own jobs): a fresh id, in progress since now. The vault
// kinds add what they show of the item.
func NewJob(vaultID, itemID, operation string, user bool, now time.Time) *Job {
	return &Job{ID: newID(), VaultID: vaultID, ItemID: itemID, Operation: operation, Status: JobInProgress, UserTriggered: user, StartTime: now}
}

// Duration is the job's elapsed time (until now while it runs).
func (j *Job) Duration(now time.Time) time.Duration {
	if j.EndTime != nil {
		return max(j.EndTime.Sub(j.StartTime), 0)
	}
	return max(now.Sub(j.StartTime), 0)
}

// Finish ends the job at now: Completed when err is nil, else Failed with
// err's code and message (a *JobError is kept as is). Open tasks take the
// job's final status. An end before the job's start (the clock set back
// while it ran) is its start: a job never lasts less than nothing.
func (j *Job) Finish(now time.Time, err error) {
	end := EndAfter(j.StartTime, now)
	j.EndTime = &end
	delete(j.Details, DetailWaiting) // it waits no more
	if err == nil {
		j.Status, j.Progress = JobCompleted, 100
	} else {
		j.Status = JobFailed
		var je *JobError
		if !errors.As(err, &je) {
			je = &JobError{Code: "InternalError", Message: err.Error()}
		}
		j.Error = je
	}
	for i := range j.Tasks {
		if j.Tasks[i].EndTime == nil {
			t := EndAfter(j.Tasks[i].StartTime, now)
			j.Tasks[i].EndTime = &t
			j.Tasks[i].Status = j.Status
		}
	}
}

// EndAfter is the end of something begun at start and ending at now on the
// server clock: now, or start when the clock was set back since it began
// (safehold clock set), which would end it before it started (a job's
// endTime before its startTime, a negative duration).
func EndAfter(start, now time.Time) time.Time {
	if now.Before(start) {
		return start
	}
	return now
}

func (e *JobError) Error() string { return e.Code + ": " + e.Message }

// jobDoc is a job's store document. Its type is the job's operation, with
// runningType appended while the job has not ended (InProgress or
// Cancelling), so that a vault's running jobs are listed through the
// (kind, type, scope) index without reading its ended ones (RunningJobs).
func jobDoc(j *Job) store.Doc {
	typ := j.Operation
	if j.Status == JobInProgress || j.Status == "Cancelling" {
		typ += runningType
	}
	return store.Doc{Kind: jobKind, Key: j.ID, Scope: strings.ToLower(j.VaultID) + "/", Type: typ}
}

const runningType = ":running"

// CreateJob stores a new job; store.ErrConflict if its ID exists (use a
// deterministic ID for work that may be retried, so it is never doubled).
func CreateJob(ctx context.Context, tx store.Tx, j *Job) error {
	if j.Created.IsZero() {
		j.Created = time.Now().UTC() // real time: the controllable clock may stand still
	}
	return store.WriteJSON(ctx, tx.Create, jobDoc(j), j, "job")
}

// PutJob stores a job (create or replace).
func PutJob(ctx context.Context, tx store.Tx, j *Job) error {
	return store.WriteJSON(ctx, tx.Put, jobDoc(j), j, "job")
}

// GetJob reads a job by id; store.ErrNotFound if absent or in another vault
// (vaultID "" matches any vault).
func GetJob(ctx context.Context, r store.Reader, vaultID, id string) (*Job, error) {
	j, err := store.GetJSON[Job](ctx, r, jobKind, id, "job")
	if err != nil {
		return nil, err
	}
	if vaultID != "" && !strings.EqualFold(j.VaultID, vaultID) {
		return nil, store.ErrNotFound
	}
	return j, nil
}

// JobFilter selects jobs; zero fields match everything.
type JobFilter struct {
	ItemID    string
	Operation string
	Status    string
	From, To  time.Time // StartTime within [From, To]
}

// matches reports whether j is one of the jobs f selects.
func (f JobFilter) matches(j *Job) bool {
	return (f.ItemID == "" || strings.EqualFold(j.ItemID, f.ItemID)) &&
		(f.Operation == "" || strings.EqualFold(j.Operation, f.Operation)) &&
		(f.Status == "" || strings.EqualFold(j.Status, f.Status)) &&
		(f.From.IsZero() || !j.StartTime.Before(f.From)) &&
		(f.To.IsZero() || !j.StartTime.After(f.To))
}

// JobKey orders jobs as ListJobs lists them (newest first, then by id) in
// ascending string order, for a list's key-set paging (arm.PageKeyedOK).
func JobKey(j *Job) string { return newestFirstKey(j.StartTime, jobTie(j)) }

// jobTie orders jobs of one start time (a clock that stood still while
// they were made): the newest made first (Created descending, as
// newestFirstKey orders times), then by id (jobs made before Created
// was recorded come last).
func jobTie(j *Job) string { return newestFirstKey(j.Created, j.ID) }

// PointKey orders recovery points as ListRecoveryPoints lists them, as
// JobKey does jobs.
func PointKey(p *RecoveryPoint) string { return newestFirstKey(p.Time, p.ID) }

// newestFirstKey is newestFirst's order (t descending, then id) as
// ascending strings: fixed-width hex of t's seconds and nanoseconds from
// the end, then id.
func newestFirstKey(t time.Time, id string) string {
	return fmt.Sprintf("%016x%08x%s", uint64(1<<62-t.Unix()), uint32(999_999_999-t.Nanosecond()), id)
}

// ListJobs lists a vault's jobs matching f, newest first.
func ListJobs(ctx context.Context, r store.Reader, vaultID string, f JobFilter) ([]*Job, error) {
	return listJobs(ctx, r, JobsRead(vaultID).Q, f)
}

// listJobs lists the jobs q reads that f selects, newest first.
func listJobs(ctx context.Context, r store.Reader, q store.ListQuery, f JobFilter) ([]*Job, error) {
	docs, err := r.List(ctx, jobKind, q)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	out, err := decodeDocs(docs, "job", f.matches)
	if err != nil {
		return nil, err
	}
	newestFirst(out, func(j *Job) (time.Time, string) { return j.StartTime, jobTie(j) })
	return out, nil
}

// RunningJobs lists the jobs of vaultID of operation f.Operation (which
// must be set) that have not ended and that f selects, newest first: it
// reads those alone, where ListJobs reads and decodes every job of the
// vault (40,000 of them, 0.5-1 s, in five months of ten disks backed up
// hourly), which a scheduled or on-demand backup did to find the item's
// running one.
func RunningJobs(ctx context.Context, r store.Reader, vaultID string, f JobFilter) ([]*Job, error) {
	if f.Operation == "" {
		return nil, fmt.Errorf("list running jobs: no operation")
	}
	return listJobs(ctx, r, store.ListQuery{ScopePrefix: strings.ToLower(vaultID) + "/", Type: f.Operation + runningType}, f)
}

// RunningJobsAnywhere lists the jobs of every vault that have not ended,
// of the operations that run as work (backups, restores, deletes of
// backup data, verifies, moves to the archive tier), newest first, reading
// those alone (the running type), as RunningJobs does for one vault.
func RunningJobsAnywhere(ctx context.Context, r store.Reader) ([]*Job, error) {
	var out []*Job
	for _, op := range []string{OpBackup, OpRestore, OpDeleteBackupData, OpVerify, OpMoveRecoveryPoint} {
		js, err := listJobs(ctx, r, store.ListQuery{Type: op + runningType}, JobFilter{})
		if err != nil {
			return nil, err
		}
		out = append(out, js...)
	}
	newestFirst(out, func(j *Job) (time.Time, string) { return j.StartTime, j.ID })
	return out, nil
}

// typeRunningJobs gives the jobs a version before RunningJobs stored
// running (their type the bare operation) the store type jobDoc gives
// them now, so that RunningJobs finds them from the start (a backup-now
// refused, a scheduled run joining it): before, they were found only once
// their task next wrote them, which a task waiting for the item's lease
// or a disk's owner does not. Ended jobs are recognised by their value
// without being decoded. It runs once per store (runningTypedKey): it
// reads every job (1.1 s at 40,000 at load 14), which a start need not.
func (e *Engine) typeRunningJobs(ctx context.Context) error {
	if _, err := e.Store.Get(ctx, "config", runningTypedKey); err == nil || !errors.Is(err, store.ErrNotFound) {
		return err
	}
	docs, err := e.Store.List(ctx, jobKind, store.ListQuery{})
	if err != nil {
		return fmt.Errorf("list jobs: %w", err)
	}
	// stale reports whether d is a job stored running by an earlier
	// version, and decodes it.
	stale := func(d *store.Doc) (*Job, bool) {
		if strings.HasSuffix(d.Type, runningType) || !bytes.Contains(d.Value, []byte(JobInProgress)) && !bytes.Contains(d.Value, []byte("Cancelling")) {
			return nil, false
		}
		j, err := store.DecodeJSON[Job](*d, "job")
		if err != nil {
			return nil, false // (listing its vault's jobs says so)
		}
		return j, jobDoc(j).Type != d.Type
	}
	var keys []string
	for i := range docs {
		if _, ok := stale(&docs[i]); ok {
			keys = append(keys, docs[i].Key)
		}
	}
	return e.Store.Update(ctx, func(tx store.Tx) error {
		if err := tx.Put(ctx, store.Doc{Kind: "config", Key: runningTypedKey, Value: []byte("true")}); err != nil {
			return err
		}
		for _, k := range keys {
			// Read again: another replica's task may have ended it since.
			d, err := tx.Get(ctx, jobKind, k)
			if errors.Is(err, store.ErrNotFound) {
				continue
			} else if err != nil {
				return err
			}
			if j, ok := stale(&d); ok {
				if err := PutJob(ctx, tx, j); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// runningTypedKey marks a store whose running jobs all have their store
// type (kind "config"; typeRunningJobs).
const runningTypedKey = "protection.jobs-running-typed"

// JobsRead is the read ListJobs makes of vaultID's jobs (resource.PrefetchList).
func JobsRead(vaultID string) store.Read {
	return store.Read{Kind: jobKind, List: true, Q: store.ListQuery{ScopePrefix: strings.ToLower(vaultID) + "/"}}
}

// DeleteJobs removes every job of a vault (when the vault goes).
func DeleteJobs(ctx context.Context, tx store.Tx, vaultID string) error {
	_, err := tx.DeleteScope(ctx, jobKind, strings.ToLower(vaultID)+"/")
	return err
}
