package protection

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/safehold/safehold/store"
)

// Scheduled backups and retention sweeps of both vault kinds are fired
// here, by one rule (runScheduled) over the engine's Policy.Schedule: each
// face's items have one keyed durable task each (Scheduler, task kind
// "schedule/"+face), which the faces plan with Schedule and remove with
// Unschedule.

// Schedule plans (or replaces) the next scheduled run of an item of face at
// due, inside tx. Call Notify after the commit when due is now.
func (e *Engine) Schedule(ctx context.Context, tx store.Tx, face, itemID string, due time.Time) error {
	s, err := e.scheduler(face)
	if err != nil {
		return err
	}
	if err := e.runOrphaned(ctx, tx, itemID); err != nil {
		return err
	}
	return s.Schedule(ctx, tx, itemID, due, nil)
}

// ScheduleBy plans the item's next run at due unless a run is already
// planned before it (an expiry to apply), inside tx.
func (e *Engine) ScheduleBy(ctx context.Context, tx store.Tx, face, itemID string, due time.Time) error {
	s, err := e.scheduler(face)
	if err != nil {
		return err
	}
	if err := e.runOrphaned(ctx, tx, itemID); err != nil { // a claimed run is replaced
		return err
	}
	return s.ScheduleBy(ctx, tx, itemID, due)
}

// Scheduled reports whether the item has a run planned, inside tx.
func (e *Engine) Scheduled(ctx context.Context, tx store.Tx, itemID string) (bool, error) {
	_, err := tx.GetTaskByKey(ctx, TaskKey(itemID))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Unschedule removes the item's planned run, inside tx (no error if none).
func (e *Engine) Unschedule(ctx context.Context, tx store.Tx, itemID string) error {
	if err := e.runOrphaned(ctx, tx, itemID); err != nil {
		return err
	}
	return unschedule(ctx, tx, itemID)
}

// taskOrphans ends the scheduled backups an item's removed run left
// (orphansPayload).
const taskOrphans = "protection.orphans"

type orphansPayload struct {
	Face   string `json:"face"`
	ItemID string `json:"itemId"`
}

// runOrphaned is called in tx before the item's planned run is removed or
// replaced: when that run is claimed, the scheduled backup it works on
// has no task of its own, and would have none left to run it again if
// its handler died (a replica killed during it, before or after the
// change). A task due when the claim's lease ends runs that backup's job
// to its end then (endOrphans): after the live handler's end (it waits
// for the item's lease), or in its stead.
func (e *Engine) runOrphaned(ctx context.Context, tx store.Tx, itemID string) error {
	t, err := tx.GetTaskByKey(ctx, TaskKey(itemID))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	face, ok := strings.CutPrefix(t.Kind, "schedule/")
	if t.LeaseOwner == "" || !ok {
		return nil
	}
	if _, err := e.face(face); err != nil {
		return nil
	}
	_, err = tx.Enqueue(ctx, store.Task{Kind: taskOrphans, Key: "orphans:" + itemID, RunAt: t.LeaseUntil,
		Payload: mustJSON(orphansPayload{Face: face, ItemID: itemID})})
	return err
}

func (e *Engine) runOrphansTask(ctx context.Context, _ store.Task, p orphansPayload) error {
	return e.endOrphans(ctx, p.Face, p.ItemID)
}

// endOrphans runs the item's scheduled backup jobs that have not ended to
// their end (Backup: a job another run ends meanwhile is left as that run
// ended it; one of an item that no longer takes backups ends Failed with
// CodeProtectionChanged, one of a deleted item with CodeItemNotFound).
func (e *Engine) endOrphans(ctx context.Context, face, itemID string) error {
	running, err := RunningJobs(ctx, e.Store, "", JobFilter{ItemID: itemID, Operation: OpBackup})
	if err != nil {
		return err
	}
	for _, j := range running {
		if j.UserTriggered {
			continue // its own task runs it
		}
		if _, err := e.Backup(ctx, face, j.ID, BackupOptions{}); err != nil && !(errors.Is(err, store.ErrNotFound) && !errors.Is(err, store.ErrLeaseLost)) {
			return err
		}
	}
	return nil
}

// Reschedule plans an item's next scheduled backup by its policy from now,
// or removes its schedule when it takes no backups (no policy or schedule,
// suspended, stopped) or the schedule has no further run; the policy's
// retention applies to the item's points taken (reexpire).
func (e *Engine) Reschedule(ctx context.Context, tx store.Tx, face string, it *Item) error {
	if err := reexpire(ctx, tx, face, it, e.Now()); err != nil {
		return err
	}
	if !it.takesBackups() || it.Policy == nil || it.Policy.Schedule == nil {
		return e.Unschedule(ctx, tx, it.ID)
	}
	next := it.Policy.Schedule.Next(e.Now())
	if next.IsZero() {
		return e.Unschedule(ctx, tx, it.ID)
	}
	return e.Schedule(ctx, tx, face, it.ID, next.UTC())
}

func (e *Engine) scheduler(face string) (*Scheduler, error) {
	if _, err := e.face(face); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.scheds[face]
	if s == nil {
		return nil, errors.New("protection engine: no job runner for schedules")
	}
	return s, nil
}

// takesBackups: scheduled backups run for protected items and for items
// whose protection is being configured.
func (it *Item) takesBackups() bool { return it.State == ItemProtected || it.State == ItemConfiguring }

// runScheduled is one scheduled run of an item of face: the one rule for
// both vault kinds.
//
//   - An item that takes backups is backed up for the latest occurrence of
//     its policy's schedule between the run's due time and now, if any (a
//     run woken for an expiry has none). The job's id is derived from the
//     item and the occurrence, so no occurrence is ever backed up twice.
//   - An occurrence is skipped while an on-demand backup of the item is in
//     progress (it runs as its own durable task). A scheduled backup left
//     in progress by a crash is resumed as this occurrence's backup.
//   - The point's time: the occurrence when the policy says so
//     (Policy.AtOccurrence, Backup vaults), else the capture's. After
//     downtime (a further occurrence passed since the run was due) the
//     missed-run rule applies: one catch-up backup stamped with the actual
//     time, then the normal cadence.
//   - Retention is applied (by the backup, or here when none ran; suspended
//     items too: their points still expire); stopped items keep every
//     point and have no runs.
//   - The next run is the schedule's next occurrence (none while suspended)
//     or the earliest expiry, whichever is first.
func (e *Engine) runScheduled(ctx context.Context, face string, run Run) (time.Time, error) {
	f, err := e.face(face)
	if err != nil {
		return time.Time{}, err
	}
	it, err := f.Item(ctx, e.Store, run.ItemID)
	var je *JobError
	if errors.Is(err, ErrNotFound) || errors.Is(err, store.ErrNotFound) || errors.As(err, &je) {
		return time.Time{}, nil // gone, or its policy is: no further runs
	}
	if err != nil {
		return time.Time{}, err
	}
	if !it.takesBackups() {
		// A scheduled backup a crash cut short is resumed by the item's
		// next run, which it takes no more: it ends now.
		if err := e.endOrphans(ctx, face, it.ID); err != nil {
			return time.Time{}, err
		}
	}
	if it.Policy == nil || it.Policy.Schedule == nil || !it.takesBackups() && it.State != ItemSuspended {
		return time.Time{}, nil
	}
	sched, now := it.Policy.Schedule, run.Now
	ran := false
	if it.takesBackups() {
		if occ := lastOccurrence(sched, run.Due, now); !occ.IsZero() {
			if ran, err = e.scheduledBackup(ctx, face, f, it, run, occ); err != nil {
				return time.Time{}, err
			}
		}
	}
	// A backup applied retention before its job ended (and planned the
	// next sweep): nothing here may need the item's lease once the job is
	// seen ended.
	var earliest time.Time
	if ran {
		earliest, err = plannedRetention(ctx, e.Store, it.ID)
	} else {
		earliest, err = e.ApplyRetention(ctx, face, it.ID)
	}
	if err != nil {
		return time.Time{}, err
	}
	var next time.Time
	if it.takesBackups() {
		next = sched.Next(now)
	}
	if !earliest.IsZero() && (next.IsZero() || earliest.Before(next)) {
		next = earliest
	}
	return next.UTC(), nil
}

// scheduledBackup backs up an item for the schedule occurrence occ; false
// when the occurrence is skipped.
func (e *Engine) scheduledBackup(ctx context.Context, face string, f Face, it *Item, run Run, occ time.Time) (bool, error) {
	var o BackupOptions
	if it.Policy.AtOccurrence {
		o.At = occ
	}
	if IsMissed(it.Policy.Schedule, run.Due, run.Now) {
		o.At = run.Now
	}
	id := RunID(it.ID, occ)
	j, err := f.ScheduledJob(ctx, it, run.Now) // read before the write transaction
	if err != nil {
		return false, err
	}
	j.ID = id
	skip := false
	err = e.Store.Update(ctx, func(tx store.Tx) error {
		if _, err := GetJob(ctx, tx, "", id); err == nil {
			return nil // a repeat after a crash: resume (or find) its job
		}
		running, err := RunningJobs(ctx, tx, it.VaultID, JobFilter{ItemID: it.ID, Operation: OpBackup, Status: JobInProgress})
		if err != nil {
			return err
		}
		for _, j := range running {
			if j.UserTriggered {
				skip = true // an on-demand backup still runs
				return nil
			}
		}
		if len(running) > 0 {
			id = running[0].ID // a scheduled backup cut short by a crash
			return nil
		}
		return CreateJob(ctx, tx, j)
	})
	if err != nil || skip {
		return false, err
	}
	_, err = e.Backup(ctx, face, id, o)
	return err == nil, err
}

// plannedRetention is when the item's next retention sweep is planned
// (zero: none).
func plannedRetention(ctx context.Context, r store.Reader, itemID string) (time.Time, error) {
	t, err := r.GetTaskByKey(ctx, retentionKey(itemID))
	if errors.Is(err, store.ErrNotFound) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, err
	}
	return t.RunAt, nil
}

// lastOccurrence is the latest occurrence of s in [from, to] (zero: none),
// found directly when s can tell its previous occurrence: a clock advanced
// a hundred years past an hourly run (one catch-up run, the missed-run
// rule) walked 876,000 occurrences to find it.
func lastOccurrence(s Schedule, from, to time.Time) time.Time {
	if p, ok := s.(interface{ Prev(time.Time) time.Time }); ok {
		if occ := p.Prev(to); !occ.Before(from) {
			return occ
		}
		return time.Time{}
	}
	return walkLastOccurrence(s, from, to)
}

// walkLastOccurrence is lastOccurrence by walking every occurrence from
// from.
func walkLastOccurrence(s Schedule, from, to time.Time) time.Time {
	var occ time.Time
	for t := s.Next(from.Add(-time.Nanosecond)); !t.IsZero() && !t.After(to); t = s.Next(t) {
		occ = t
	}
	return occ
}
