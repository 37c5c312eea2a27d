package protection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/safehold/safehold/failure"
	"github.com/safehold/safehold/job"
	"github.com/safehold/safehold/snapshot"
	"github.com/safehold/safehold/store"
)

// Codes of the one rule that ends jobs.
const (
	CodeInsufficientStorage  = "UserErrorInsufficientStorage"
	CodeRecoveryPointCorrupt = "UserErrorRecoveryPointCorrupt"
	CodeBackupFailed         = "UserErrorBackupFailed"
	CodeRestoreFailed        = "UserErrorRestoreFailed"
	CodeOperationFailed      = "UserErrorOperationFailed"
	// CodeServiceTransient: the service's own storage failed for now (the
	// object storage answered 5xx or not at all through every retry); the
	// operation may succeed if retried. Not a user error.
	CodeServiceTransient = "ServiceTransientError"
)

// UserError is implemented by errors that know how users should see them
// (a face's permission check, for example).
type UserError interface {
	JobError() *JobError
}

// JobErrorOf turns any error into the user-facing error a job ends with:
// its own *JobError, a UserError's, out of space, damaged data, the object
// storage out of reach (what to check), or else
// fallback (e.g. CodeBackupFailed) with the error's text. It never answers
// an internal error code.
func JobErrorOf(err error, fallback string) *JobError {
	var je *JobError
	if errors.As(err, &je) {
		return je
	}
	var ue UserError
	if errors.As(err, &ue) {
		if je := ue.JobError(); je != nil {
			return je
		}
	}
	var fe *failure.Error
	if errors.As(err, &fe) && !snapshot.IsDamaged(err) {
		return &JobError{Code: fe.Code, Message: fe.Message}
	}
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return &JobError{Code: CodeInsufficientStorage,
			Message:           "There is not enough free space where Safehold stores backup data (" + err.Error() + ").",
			RecommendedAction: []string{"Free space on the file system that holds Safehold's data directory (or move the data directory to a larger one), then retry the operation."}}
	case snapshot.IsDamaged(err):
		return &JobError{Code: CodeRecoveryPointCorrupt,
			Message:           "The recovery point's data is damaged and cannot be read (" + err.Error() + ").",
			RecommendedAction: []string{"Restore from another recovery point; the damaged one cannot be restored."}}
	}
	if fallback == "" {
		fallback = CodeOperationFailed
	}
	if transient(err) {
		return &JobError{Code: fallback, Message: "Safehold's metadata database was out of reach while the job ran (" + err.Error() + ").",
			RecommendedAction: []string{"Check that the database Safehold was started with (--store) is up, reachable and not held up by another client's locks, then retry the operation."}}
	}
	var ou interface{ ObjectStoreUnreachable() bool }
	if errors.As(err, &ou) && ou.ObjectStoreUnreachable() {
		// The service's fault, for now: no UserError code.
		return &JobError{Code: CodeServiceTransient, Message: "Safehold's object storage, where it keeps backup data, failed or did not answer for half a minute of tries (" + err.Error() + ").",
			RecommendedAction: []string{"Check that the object storage Safehold was started with (--blob) is up and reachable from the server, then retry the operation."}}
	}
	return &JobError{Code: fallback, Message: message(err),
		RecommendedAction: []string{"Retry the operation; if it fails again, look for the job id in Safehold's log."}}
}

// endJobRetry is how long after a job whose end could not be recorded its
// task runs it again.
const endJobRetry = 30 * time.Second

// DefaultTransientRetries bounds the runs of one job that may end meeting
// the metadata database out of reach (store.ErrUnavailable,
// store.ErrOutcomeUnknown) while it answered the write that counts them:
// the one after fails the job, saying so. A blip costs one or two; a
// write that times out every time (a row held locked by another client)
// does not keep the job running for ever (about five minutes of tries).
const DefaultTransientRetries = 10

func (e *Engine) transientRetries() int {
	if e.TransientRetries > 0 {
		return e.TransientRetries
	}
	return DefaultTransientRetries
}

// unavailableRetry is how long after work that met the metadata database
// out of reach before a job's run began (reading the job, creating a
// scheduled one) its task runs again, as job.Runner does for any task.
const unavailableRetry = 5 * time.Second

// retryTransient is err, as a job.Retry in unavailableRetry when it is the
// metadata database out of reach: its task must run the work again (an
// operation that runs a job would otherwise end Failed, and its task with
// it, leaving the job InProgress).
func retryTransient(err error) error {
	var re *job.RetryError
	if transient(err) && !errors.As(err, &re) {
		return job.Backoff(err, unavailableRetry)
	}
	return err
}

// transient reports whether err is the metadata database out of reach
// (nothing of the write was committed, or whether it was is unknown: a
// run that resumes from what is recorded does no harm either way).
func transient(err error) bool {
	return errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrOutcomeUnknown)
}

// transientDelay is how long after its try'th transient failure a job's
// task runs it again: 1 s, doubling to a minute.
func transientDelay(try int) time.Duration {
	d := time.Second
	for i := 1; i < try && d < time.Minute; i++ {
		d *= 2
	}
	return min(d, time.Minute)
}

// finish ends j by the one rule: Completed when err is nil, Cancelled for
// ErrCancelled, else Failed with JobErrorOf(err, fallback).
func (e *Engine) finish(j *Job, err error, fallback string) {
	now := e.Now()
	switch {
	case err == nil:
		j.Finish(now, nil)
	case errors.Is(err, ErrCancelled):
		// The tasks that had not ended end Cancelled with the job; its
		// progress stays where the work stopped.
		progress := j.Progress
		for i := range j.Tasks {
			if j.Tasks[i].EndTime == nil {
				end := EndAfter(j.Tasks[i].StartTime, now)
				j.Tasks[i].Status, j.Tasks[i].EndTime = JobCancelled, &end
			}
		}
		j.Finish(now, nil)
		j.Status, j.Progress = JobCancelled, progress
	default:
		j.Finish(now, JobErrorOf(err, fallback))
	}
}

// run does a job's work and ends it by the one rule. A job already ended
// is returned as is (a repeated task never does the work twice). When ctx
// is cancelled (shutdown) the job stays InProgress and ctx's error is
// returned, for the durable task to resume it after the restart.
func (e *Engine) run(ctx context.Context, f Face, jobID, fallback string, work func(ctx context.Context, j *Job) error) (*Job, error) {
	j, err := GetJob(ctx, e.Store, "", jobID)
	if err != nil {
		return nil, retryTransient(err)
	}
	if j.Status != JobInProgress && j.Status != "Cancelling" {
		if len(j.Leftovers) > 0 {
			// Ended, and what it left was not deleted yet (a crash after
			// the end, the database out of reach then): its task is here
			// for that.
			if err := e.sweepLeftovers(ctx, jobID, j.Leftovers); err != nil {
				return nil, err
			}
			if x, err := GetJob(context.WithoutCancel(ctx), e.Store, "", jobID); err == nil {
				j = x // its error names what it could not delete
			}
		}
		return j, nil
	}
	log := e.Logger.With("job", j.ID, "item", j.ItemID, "operation", j.Operation)
	log.Info("job started")
	e.recordRunner(ctx, j)
	jctx, stop := e.watchCancel(ctx, jobID)
	werr := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("job panicked: %v", p)
			}
		}()
		return work(jctx, j)
	}()
	if werr != nil && userCancelled(jctx) {
		// Whatever the work was doing when the cancellation reached it.
		werr = ErrCancelled
	}
	stop()
	if ctx.Err() != nil {
		if errors.Is(context.Cause(ctx), job.ErrReset) {
			log.Info("job interrupted by a reset, which deletes it", "err", werr)
		} else {
			log.Info("job interrupted; it resumes when the server restarts", "err", werr)
		}
		return nil, ctx.Err()
	}
	var re *job.RetryError
	if errors.As(werr, &re) {
		return nil, werr // not ended: its task runs it again (on the disk's owner)
	}
	var out *Job
	// A run that met the metadata database out of reach (a restart, a
	// connection cut, a statement timeout) is run again by its task, as
	// many as Engine.TransientRetries times, rather than ended Failed: what it
	// did is recorded or not, never half, and the run that follows resumes
	// from what was (a recorded point is not taken again). The try is
	// counted in the job, in the transaction that would have ended it.
	// Not once the task is gone (the unfenced end below): no run is left.
	retryable, retried := transient(werr), 0
	var clean []Leftover // what the job made that goes with its end here
	end := func(tx store.Tx) error {
		x, err := GetJob(ctx, tx, "", jobID)
		if err != nil {
			return err
		}
		out, retried, clean = x, 0, nil
		if x.Status != JobInProgress && x.Status != "Cancelling" {
			return nil // ended by another run of it: ended once, by that one
		}
		if retryable && x.Status == JobInProgress && x.Details[DetailCancelRequested] == "" && x.TransientRetries < e.transientRetries() {
			x.TransientRetries++
			retried = x.TransientRetries
			return PutJob(ctx, tx, x) // what this run made is recorded: the next runs' to own or delete
		}
		ferr := werr
		if transient(ferr) && x.Details[DetailCancelRequested] != "" {
			// Cancelled while it ran, and the work met the database out
			// of reach before it saw the request: the job ends as asked.
			ferr = ErrCancelled
		}
		e.finish(x, ferr, fallback)
		clean = endLeftovers(x) // recorded in x until deleted
		if f != nil {
			if err := f.Ended(ctx, tx, x); err != nil {
				return err
			}
		}
		return PutJob(ctx, tx, x)
	}
	err = e.Store.Update(ctx, end)
	if errors.Is(err, store.ErrLeaseLost) {
		// ErrLeaseLost wraps ErrNotFound, but the job is there: this
		// claim's fence is gone. A task that still exists was claimed
		// again, and that run ends the job, not this one. One that is gone
		// (completed or replaced while it ran, its fence collected since:
		// another replica's claim a day of the clock later) has no run
		// left: the job ends here, unfenced, unless another run ended it.
		l, _ := store.LeaseFrom(ctx)
		if _, gerr := e.Store.GetTask(ctx, l.TaskID); l.TaskID == "" || !errors.Is(gerr, store.ErrNotFound) {
			log.Warn("job not ended here: its task was claimed again", "err", err, "workErr", werr)
			return nil, err
		}
		log.Warn("job's task and its lease went while it ran; ending it", "workErr", werr)
		retryable = false
		if errors.Is(werr, store.ErrLeaseLost) {
			werr = &JobError{Code: CodeProtectionChanged, Message: "The task that ran this job was removed while it ran (the item's protection or policy changed), so what it did since could not be recorded.",
				RecommendedAction: []string{"Take an on-demand backup once the item is protected as wanted, if a recovery point is needed now."}}
		}
		err = e.Store.Update(store.WithLease(ctx, store.Lease{}), end)
	}
	if errors.Is(err, store.ErrNotFound) {
		// The job went with its vault: the answer still says how its work
		// ended (an operation waiting on it ends so; it answered the job
		// InProgress, and a restore that failed so succeeded).
		gone := *j
		e.finish(&gone, werr, fallback)
		log.Info("job's vault deleted while it ran", "status", gone.Status, "err", werr)
		return &gone, nil
	}
	if err != nil {
		// The job is still InProgress (the store could not record its end:
		// out of space, unavailable): its task must run it again later,
		// not end as though the job had ended (it never would then).
		log.Error("end job; its task runs it again", "err", err, "workErr", werr)
		return nil, job.Backoff(fmt.Errorf("end job %s: %w", jobID, err), endJobRetry)
	}
	if len(clean) > 0 {
		if err := e.sweepLeftovers(ctx, jobID, clean); err != nil {
			return nil, err // ended; its task runs again to delete them
		}
		if x, err := GetJob(context.WithoutCancel(ctx), e.Store, "", jobID); err == nil {
			out = x // its error names what it could not delete
		}
	}
	if retried > 0 {
		delay := transientDelay(retried)
		log.Warn("job met the metadata database out of reach; its task runs it again", "err", werr, "try", retried, "of", e.transientRetries(), "delay", delay)
		return nil, job.Backoff(fmt.Errorf("job %s: %w", jobID, werr), delay)
	}
	attrs := []any{"status", out.Status, "bytes", out.BytesTransferred, "duration", out.Duration(e.Now()).String()}
	if out.Error != nil {
		log.Info("job failed", append(attrs, "code", out.Error.Code, "err", werr)...)
	} else {
		log.Info("job ended", attrs...)
	}
	return out, nil
}

// updateJob re-reads a job in a transaction and applies fn.
func (e *Engine) updateJob(ctx context.Context, id string, fn func(j *Job)) error {
	return e.Store.Update(ctx, func(tx store.Tx) error {
		j, err := GetJob(ctx, tx, "", id)
		if err != nil {
			return err
		}
		fn(j)
		return PutJob(ctx, tx, j)
	})
}

// cancelled is ErrCancelled when the job's cancellation was requested.
func (e *Engine) cancelled(ctx context.Context, id string) error {
	if j, err := GetJob(ctx, e.Store, "", id); err == nil && j.Details[DetailCancelRequested] != "" {
		return ErrCancelled
	}
	return nil
}

// SetTask sets the status of j's task name at now.
func SetTask(j *Job, name, status string, now time.Time) {
	for i := range j.Tasks {
		if j.Tasks[i].Name == name {
			if status == JobInProgress {
				j.Tasks[i].StartTime = now
			}
			j.Tasks[i].Status = status
			if status == JobCompleted {
				j.Tasks[i].Progress = 100
			}
			if status == JobCompleted || status == JobFailed || status == JobCancelled {
				t := EndAfter(j.Tasks[i].StartTime, now)
				j.Tasks[i].EndTime = &t
			}
		}
	}
}

// setTaskProgress sets the progress (percent) of j's task name, never
// moving it back.
func setTaskProgress(j *Job, name string, pct float64) {
	for i := range j.Tasks {
		if j.Tasks[i].Name == name {
			j.Tasks[i].Progress = max(j.Tasks[i].Progress, pct)
		}
	}
}

func newID() string { return uuid.NewString() }

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// taskOf is the job handler of a task whose payload is a P (mustJSON):
// fn gets the payload decoded; what names the task in a decoding error.
func taskOf[P any](what string, fn func(ctx context.Context, t store.Task, p P) error) job.Handler {
	return func(ctx context.Context, t store.Task) error {
		var p P
		if err := json.Unmarshal(t.Payload, &p); err != nil {
			return fmt.Errorf("decode %s task: %w", what, err)
		}
		return fn(ctx, t, p)
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// JobRunner is the claim of the task running a job's latest run: the
// replica (node) whose runner holds it, the claim's owner ("node/boot")
// and the task. The leader tells from it a job whose runner stopped
// answering while it held the task (MarkStalledRunners).
type JobRunner struct {
	Node  string `json:"node"`
	Owner string `json:"owner"`
	Task  string `json:"task"`
	// Lease is the end of the task's lease (server clock) when the leader
	// last said the job waits for it (its replica not running), or
	// dropped that saying while the replica was still not running but had
	// renewed the lease (MarkStalledRunners); zero otherwise.
	Lease time.Time `json:"lease,omitzero"`
}

// sameClaim reports whether r and o are the same claim of the same task.
func (r *JobRunner) sameClaim(o *JobRunner) bool {
	return r != nil && o != nil && r.Node == o.Node && r.Owner == o.Owner && r.Task == o.Task
}

// recordRunner records the claim running this run of j (its task's lease
// in ctx), when it is not the one recorded, and drops a waiting message
// about the stopped runner before it: the job is taken on (by another
// replica, or by the same one again once its earlier run gave the task
// back).
func (e *Engine) recordRunner(ctx context.Context, j *Job) {
	l, ok := store.LeaseFrom(ctx)
	if !ok {
		return
	}
	r := &JobRunner{Node: store.OwnerNode(l.Owner), Owner: l.Owner, Task: l.TaskID}
	if r.sameClaim(j.Runner) && !strings.HasPrefix(j.Details[DetailWaiting], runnerStoppedPrefix) {
		return
	}
	e.updateJob(ctx, j.ID, func(x *Job) { // best effort: only what a job waits for goes by it
		x.Runner = r
		if strings.HasPrefix(x.Details[DetailWaiting], runnerStoppedPrefix) {
			delete(x.Details, DetailWaiting)
		}
	})
	j.Runner = r
}

// runnerStoppedPrefix begins the waiting message of a job whose runner
// stopped answering.
const runnerStoppedPrefix = "Waiting for the lease of replica "

// runnerStopped says what a job whose runner (node, at url) stopped
// answering waits for: its task's lease, held by that runner until until
// (the server clock's time).
func runnerStopped(node, url string, until time.Time) string {
	where := node
	if url != "" {
		where += " (" + url + ")"
	}
	return fmt.Sprintf("%s%s, which ran this job and stopped answering: another replica takes the job on from its last step once that lease lapses, at %s (server clock; --lease-ttl after its last renewal) or --lease-ttl of real time after its presence lapsed, whichever comes first, or the replica does when it runs again.",
		runnerStoppedPrefix, where, until.UTC().Format(time.RFC3339))
}

// MarkStalledRunners makes each running job whose task is still held by
// the run of a replica that is not running (alive reports a node's
// endpoint and whether it runs: its presence) say so (DetailWaiting):
// it stood at its last figure without a word until the task's lease
// lapsed and another replica took it on. The leader calls it every few
// seconds. A run that takes the job on drops the message (recordRunner);
// so does this once the replica that held the task runs again (its
// presence renewed: it stopped answering for a while, a stalled host or
// the database out of reach, and goes on with the job), has renewed the
// task's lease, or no longer holds the task: the message stayed until the
// job ended, saying the job waited for a replica that was running it.
// A runner that renews the task's lease while its presence stays lapsed
// is said to wait again only once it misses a renewal.
func (e *Engine) MarkStalledRunners(ctx context.Context, alive func(ctx context.Context, node string) (url string, running bool, err error)) error {
	js, err := RunningJobsAnywhere(ctx, e.Store)
	if err != nil {
		return err
	}
	ttl := 60 * time.Second
	if e.Runner != nil && e.Runner.Lease > 0 {
		ttl = e.Runner.Lease
	}
	for _, j := range js {
		if j.Runner == nil {
			continue
		}
		marked := strings.HasPrefix(j.Details[DetailWaiting], runnerStoppedPrefix)
		t, err := e.Store.GetTask(ctx, j.Runner.Task)
		if errors.Is(err, store.ErrNotFound) {
			t, err = store.Task{}, nil // ended: the job ends too
		}
		if err != nil {
			continue
		}
		held := t.LeaseOwner == j.Runner.Owner
		if !held && !marked {
			continue // ended, released (waiting for something else), or another's
		}
		var url string
		var running bool
		if held {
			if url, running, err = alive(ctx, j.Runner.Node); err != nil {
				continue
			}
		}
		seen := j.Runner.Lease
		var stalled bool
		switch {
		case !held || running:
		case marked: // still, unless the runner renewed the lease since
			stalled = t.LeaseUntil.Equal(seen)
		case seen.IsZero():
			stalled = true
		default: // renewed since it was said: again once a renewal is missed
			stalled = t.LeaseUntil.Equal(seen) && e.Clock.Now().After(seen.Add(-ttl/2))
		}
		if stalled == marked {
			continue
		}
		runner := *j.Runner
		err = e.Store.Update(ctx, func(tx store.Tx) error {
			x, err := GetJob(ctx, tx, "", j.ID)
			if err != nil || !x.Runner.sameClaim(&runner) || (x.Status != JobInProgress && x.Status != "Cancelling") {
				return err // taken on or ended meanwhile
			}
			if stalled {
				if x.Details == nil {
					x.Details = map[string]string{}
				}
				x.Details[DetailWaiting] = runnerStopped(runner.Node, url, t.LeaseUntil)
				x.Runner.Lease = t.LeaseUntil
				return PutJob(ctx, tx, x)
			}
			if !strings.HasPrefix(x.Details[DetailWaiting], runnerStoppedPrefix) {
				return nil
			}
			delete(x.Details, DetailWaiting)
			x.Runner.Lease = time.Time{}
			if held && !running {
				x.Runner.Lease = t.LeaseUntil
			}
			return PutJob(ctx, tx, x)
		})
		if err != nil {
			return err
		}
		if stalled {
			e.Logger.Warn("job waits for the lease of a replica that stopped answering", "job", j.ID, "replica", j.Runner.Node, "leaseUntil", t.LeaseUntil)
		} else {
			e.Logger.Info("job no longer waits for the lease of a replica that stopped answering", "job", j.ID, "replica", j.Runner.Node, "running", running, "holdsTask", held)
		}
	}
	return nil
}
