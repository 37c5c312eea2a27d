-- One row per task that was ever claimed: its latest claim (owner, epoch).
-- Kept after the task completes, so a worker whose lease was taken over
-- cannot commit even once the new owner finished (fencing); rows of gone
-- tasks are dropped a day after their lease ended.
CREATE TABLE task_leases (
	task_id TEXT PRIMARY KEY,
	owner   TEXT NOT NULL,
	epoch   INTEGER NOT NULL,
	until   TEXT NOT NULL
);
CREATE INDEX task_leases_until ON task_leases(until);
