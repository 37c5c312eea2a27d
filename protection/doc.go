// Package protection is the backup core both vault kinds share (Backup
// vaults in rp/dataprotection, Recovery Services vaults in
// rp/recoveryservices). It knows nothing about ARM wire shapes: the wire
// layers translate their models into these types and back.
//
// # What it holds
//
//   - Jobs (job.go): durable backup jobs (Backup, Restore, ConfigureBackup,
//     DeleteBackupData, ...) with status InProgress/Completed/Failed/Cancelled,
//     start/end, progress, bytes transferred, error and task list, stored in
//     the metadata store (kind "protection.job", scoped by vault id) with
//     CreateJob/PutJob/GetJob/ListJobs(JobFilter).
//
//   - Recovery points (recoverypoint.go): per item, with per-disk snapshot
//     ids (ARM snapshot id and engine id), tiers, retention tag and expiry
//     (kind "protection.rp", scoped by item id). BackupPointID derives a
//     stable id (a version-4 GUID's 32 hex digits, as Azure names points)
//     so retried work rewrites the same point.
//
//   - Schedule math (duration.go): ISO 8601 durations (P7D, P12W, P1Y,
//     PT4H, P1DT12H) with calendar arithmetic (months clamp to the month's
//     last day, days keep the wall-clock time across DST), repeating
//     intervals R[n]/<start>/<period> (Data Protection policies), weekly
//     schedules at times of day (Recovery Services IaaS policies), time zone
//     names as Azure uses them (LoadTimeZone), and FormatElapsed for job
//     durations (PT6M5.74S).
//
//   - Retention (retention.go): tagging (Default plus FirstOfDay,
//     FirstOfWeek, FirstOfMonth, FirstOfYear, AllBackup criteria with Azure's
//     taggingPriority: lowest wins) and expiry (backup time + the tag's
//     duration); ExpiredPoints picks what to delete, and the engine's sweep
//     (ApplyRetention, one keyed task per item) deletes it.
//
//   - The scheduler (scheduler.go): one keyed durable task per protected
//     item ("schedule:"+itemID). A run's task is completed and the next run
//     enqueued in one store transaction, so runs are never lost or doubled
//     and survive restarts. Run.ID is stable per item and due time: use it
//     as the id of the run's job so a run repeated after a crash finds its
//     own work.
//
//   - Verify (verifyjob.go, verifyschedule.go): Verify jobs, one per vault,
//     that re-read the operational tier and the vaults' tiers, mark the
//     recovery points whose data is damaged (restores of them fail at
//     once) and end Failed with UserErrorRecoveryPointCorrupt naming them;
//     started by the faces' verify actions, the admin API and a per-vault
//     schedule (weekly by default; vault tags override).
//
// # Missed-run rule (one rule for both vault kinds)
//
// After downtime, an overdue item runs once, immediately, for the whole
// missed window (its recovery point carries the actual time of the
// backup); the occurrences missed in between are not replayed one by one,
// and the next run is the schedule's first occurrence after that catch-up
// run. Retention runs at the same time, so points that expired during the
// downtime are deleted at the catch-up run. "Downtime" means at least one
// further occurrence passed since the run was due (IsMissed); a run that is
// merely late within its period stands for its occurrence (a Backup
// vault's policy stamps such a point with the occurrence's time:
// Policy.AtOccurrence).
//
// # Using it from a vault kind
//
// The engine fires both vault kinds' schedules by one rule
// (Engine.runScheduled, over Policy.Schedule); a face only plans and
// removes runs:
//
//	// on protect, in the transaction that stores the item:
//	engine.Schedule(ctx, tx, faceName, itemID, policySchedule.Next(now))
//	// or, from the item's state and policy: engine.Reschedule(ctx, tx, faceName, item)
//	// on stop protection: engine.Unschedule(ctx, tx, itemID)
package protection
