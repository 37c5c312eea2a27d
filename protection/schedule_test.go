package protection_test

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/job"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/store"
)

// scheduled is a bundle whose engine runs its schedules through a job
// runner on the fake clock.
func scheduled(t *testing.T) *bundle {
	t.Helper()
	b := setup(t)
	b.engine.Close()
	b.runner = &job.Runner{Store: b.store, Clock: b.clk, NodeID: "n1", Poll: 5 * time.Millisecond}
	b.engine = b.newEngine()
	if err := b.runner.Start(b.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.runner.Stop)
	return b
}

func (b *bundle) schedule(t *testing.T, it *protection.Item) {
	t.Helper()
	if err := b.store.Update(b.ctx, func(tx store.Tx) error { return b.engine.Reschedule(b.ctx, tx, faceName, it) }); err != nil {
		t.Fatal(err)
	}
}

// runUntil sets the clock to at and waits until the item's schedule is
// planned after at (the run due by then is done) or gone.
func (b *bundle) runUntil(t *testing.T, it *protection.Item, at time.Time) time.Time {
	t.Helper()
	b.clk.Set(at)
	for i := 0; ; i++ {
		b.runner.Notify()
		task, err := b.store.GetTaskByKey(b.ctx, protection.TaskKey(it.ID))
		if errors.Is(err, store.ErrNotFound) || err == nil && task.RunAt.After(at) {
			return task.RunAt
		}
		if i > 20000 {
			t.Fatalf("run due by %v did not finish (task %+v, %v)", at, task, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (b *bundle) pointTimes(t *testing.T, it *protection.Item) []time.Time {
	t.Helper()
	var out []time.Time
	for _, p := range b.points(t, it) {
		out = append(out, p.Time.UTC())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

func (b *bundle) setState(it *protection.Item, st protection.ItemState) {
	b.face.mu.Lock()
	defer b.face.mu.Unlock()
	b.face.items[it.ID].State = st
	it.State = st
}

// TestScheduleBothVaultKinds fires both vault kinds' schedules through the
// engine's one scheduler: a Backup vault's repeating interval (points
// stamped with their occurrence, tag retention) and a Recovery Services
// weekly schedule (points stamped with the capture time, the vault tier,
// long-term retention); late runs, the missed-run rule, an on-demand backup
// in progress, suspension and a deleted item.
func TestScheduleBothVaultKinds(t *testing.T) {
	b := scheduled(t)
	day0 := time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)
	b.clk.Set(day0)
	every4h, err := protection.ParseRepeatingInterval("R/2024-01-02T08:00:00+00:00/PT4H", nil)
	if err != nil {
		t.Fatal(err)
	}
	bv := b.protect(t, "bv", 1, "", &protection.Policy{ID: "p1", Name: "p1", Schedule: every4h, AtOccurrence: true,
		Tags: &protection.Retention{Rules: []protection.TagRule{{Tag: "Default", Default: true, Priority: 99, Retain: protection.Duration{Days: 1}}}}})
	rs := b.protect(t, "rs", 2, "vault1", &protection.Policy{ID: "p2", Name: "p2",
		Schedule:    protection.WeeklySchedule{Times: []time.Duration{2 * time.Hour}, Location: time.UTC},
		LongTerm:    &protection.LongTermRetention{Daily: &protection.RetentionRule{Keep: protection.Duration{Days: 3}}},
		Operational: protection.Duration{Days: 1}})
	b.schedule(t, bv)
	b.schedule(t, rs)
	at := func(d, h, m int) time.Time {
		return day0.AddDate(0, 0, d).Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
	}

	// Late by ten minutes: the Backup vault's point carries its occurrence,
	// the Recovery Services point the time it was taken.
	if next := b.runUntil(t, rs, at(0, 2, 10)); !next.Equal(at(1, 2, 0)) {
		t.Fatalf("rs next run %v", next)
	}
	if got := b.pointTimes(t, rs); len(got) != 1 || !got[0].Equal(at(0, 2, 10)) {
		t.Fatalf("rs points %v", got)
	}
	if next := b.runUntil(t, bv, at(0, 8, 10)); !next.Equal(at(0, 12, 0)) {
		t.Fatalf("bv next run %v", next)
	}
	if got := b.pointTimes(t, bv); len(got) != 1 || !got[0].Equal(at(0, 8, 0)) {
		t.Fatalf("bv points %v", got)
	}
	p := b.points(t, rs)[0]
	if !p.HasTier(protection.TierVault) || !p.HasTier(protection.TierOperational) {
		t.Fatalf("rs point tiers %+v", p.Tiers)
	}

	// Downtime over three occurrences (12:00, 16:00, 20:00): one catch-up
	// backup at the actual time, then the cadence.
	if next := b.runUntil(t, bv, at(0, 21, 30)); !next.Equal(at(1, 0, 0)) {
		t.Fatalf("bv next run after downtime %v", next)
	}
	if got := b.pointTimes(t, bv); len(got) != 2 || !got[1].Equal(at(0, 21, 30)) {
		t.Fatalf("bv points after downtime %v", got)
	}

	// An on-demand backup in progress: the occurrence is skipped.
	od := &protection.Job{ID: "on-demand", VaultID: rs.VaultID, ItemID: rs.ID, Operation: protection.OpBackup,
		Status: protection.JobInProgress, UserTriggered: true, StartTime: at(1, 1, 0)}
	if err := b.store.Update(b.ctx, func(tx store.Tx) error { return protection.CreateJob(b.ctx, tx, od) }); err != nil {
		t.Fatal(err)
	}
	b.runUntil(t, rs, at(1, 2, 0))
	if n := len(b.points(t, rs)); n != 1 {
		t.Fatalf("rs backed up while an on-demand backup ran: %d points", n)
	}
	if _, err := protection.GetJob(b.ctx, b.store, "", protection.RunID(rs.ID, at(1, 2, 0))); err == nil {
		t.Fatal("the skipped occurrence has a job")
	}
	od.Finish(at(1, 3, 0), nil)
	if err := b.store.Update(b.ctx, func(tx store.Tx) error { return protection.PutJob(b.ctx, tx, od) }); err != nil {
		t.Fatal(err)
	}

	// Daily for four more days: points live three days in the vault tier
	// and one in the operational tier; each occurrence has one job.
	for d := 2; d <= 5; d++ {
		b.runUntil(t, rs, at(d, 2, 0))
		j, err := protection.GetJob(b.ctx, b.store, "", protection.RunID(rs.ID, at(d, 2, 0)))
		if err != nil {
			t.Fatalf("day %d: job of the occurrence: %v", d, err)
		}
		wantStatus(t, j, protection.JobCompleted)
	}
	got := b.pointTimes(t, rs)
	if len(got) != 3 || !got[0].Equal(at(3, 2, 0)) || !got[2].Equal(at(5, 2, 0)) {
		t.Fatalf("rs points after day 5: %v", got)
	}
	for _, p := range b.points(t, rs) { // in any order
		if op := p.HasTier(protection.TierOperational); op != p.Time.Equal(at(5, 2, 0)) {
			t.Fatalf("point of %v: operational tier %v", p.Time, op)
		}
	}

	// A deleted item's run ends its schedule.
	b.face.mu.Lock()
	delete(b.face.items, rs.ID)
	b.face.mu.Unlock()
	if next := b.runUntil(t, rs, at(6, 2, 0)); !next.IsZero() {
		t.Fatalf("deleted item planned at %v", next)
	}

	// Suspended: no backups and no planned run, but a run (here planned by
	// hand) still applies retention: the Backup vault's points (kept a day)
	// expire but the latest, and nothing is planned after it.
	// First bring the Backup vault item up to date (its own runs went on in
	// the background meanwhile), so it holds points of the last day.
	if next := b.runUntil(t, bv, at(6, 4, 0)); !next.Equal(at(6, 8, 0)) {
		t.Fatalf("bv next run on day 6: %v", next)
	}
	b.setState(bv, protection.ItemSuspended)
	b.schedule(t, bv)
	if task, err := b.store.GetTaskByKey(b.ctx, protection.TaskKey(bv.ID)); err == nil {
		t.Fatalf("suspended item still planned at %v", task.RunAt)
	}
	if err := b.store.Update(b.ctx, func(tx store.Tx) error {
		return b.engine.Schedule(b.ctx, tx, faceName, bv.ID, at(7, 5, 0))
	}); err != nil {
		t.Fatal(err)
	}
	before := b.pointTimes(t, bv)
	if next := b.runUntil(t, bv, at(7, 5, 0)); !next.IsZero() {
		t.Fatalf("suspended item planned at %v", next)
	}
	// All expired but the latest, which a suspended item keeps until
	// deleted (as Azure's suspended backups): no expiry, nothing planned.
	if got := b.pointTimes(t, bv); len(before) == 0 || len(got) != 1 || !got[0].Equal(before[len(before)-1]) {
		t.Fatalf("suspended item kept %v of %v, want the latest alone", got, before)
	}
}

// TestRetentionSweepOutlivesItsTaskLease: an item's retention sweep that
// waits for the item's lease past a renewal of its task's lease (behind a
// long backup, say) goes on once it has it, and plans the next sweep. Its
// task was completed as the sweep began, so the renewal found it gone and
// the runner stopped the sweep, with nothing left to run it again: the
// expired point stayed, for ever on an item that took no more backups.
func TestRetentionSweepOutlivesItsTaskLease(t *testing.T) {
	b := setup(t)
	b.engine.Close()
	b.runner = &job.Runner{Store: b.store, Clock: b.clk, NodeID: "n1", Poll: 5 * time.Millisecond, Lease: 300 * time.Millisecond}
	b.engine = b.newEngine()
	if err := b.runner.Start(b.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.runner.Stop)
	it := b.protect(t, "vm", 1, "", &protection.Policy{ID: "p", Name: "p",
		Tags: &protection.Retention{Rules: []protection.TagRule{{Tag: "Default", Default: true, Priority: 99, Retain: protection.Duration{Days: 1}}}}})
	t0 := b.clk.Now()
	wantStatus(t, b.backup(t, it, protection.BackupOptions{}), protection.JobCompleted)
	b.clk.Set(t0.Add(12 * time.Hour))
	b.write(t, b.face.disks[it.ID][0], 99)
	wantStatus(t, b.backup(t, it, protection.BackupOptions{}), protection.JobCompleted)
	key := "protection.retention:" + strings.ToLower(it.ID)
	sweep := func() (store.Task, bool) {
		task, err := b.store.GetTaskByKey(b.ctx, key)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		return task, err == nil
	}
	if task, ok := sweep(); !ok || !task.RunAt.Equal(t0.AddDate(0, 0, 1)) {
		t.Fatalf("the first point's sweep: %+v %v", task, ok)
	}

	// The first point expired, the sweep is claimed while the item's lease
	// is held here, and held until the sweep's task lease was renewed (the
	// clock moved on a second, so a renewal shows) or the sweep was stopped.
	err := b.engine.WithItem(b.ctx, it.ID, func(context.Context) error {
		b.clk.Set(t0.Add(25 * time.Hour))
		var claimed store.Task
		testsvc.WaitFor(t, "the sweep to be claimed", func() bool {
			b.runner.Notify()
			task, ok := sweep()
			claimed = task
			return !ok || task.LeaseOwner != ""
		})
		b.clk.Advance(time.Second)
		testsvc.WaitFor(t, "the sweep's task lease to be renewed, or the sweep to stop", func() bool {
			task, ok := sweep()
			return ok && task.LeaseUntil.After(claimed.LeaseUntil) || !b.runner.Busy()
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	testsvc.WaitFor(t, "the sweep to end", func() bool {
		task, ok := sweep()
		return !b.runner.Busy() && (!ok || task.LeaseOwner == "")
	})
	if got := b.pointTimes(t, it); len(got) != 1 || !got[0].Equal(t0.Add(12*time.Hour)) {
		t.Fatalf("points after the sweep: %v, want the second one's (%v) only", got, t0.Add(12*time.Hour))
	}
	if task, ok := sweep(); !ok || !task.RunAt.Equal(t0.Add(36*time.Hour)) {
		t.Fatalf("the next sweep: %+v %v, want one at the second point's expiry", task, ok)
	}
}

// TestScheduledBackupAfterTheDatabaseWasOutOfReach: PostgreSQL refuses,
// once, the write of a scheduled backup's job (57P01, what a backend
// answers while the database shuts down): the run is tried again 5 s
// later, as any task that met the database out of reach, and the backup
// is taken then, once. Before, the run waited the scheduler's RetryDelay
// (5 minutes), and a job it had recorded stayed InProgress that long.
func TestScheduledBackupAfterTheDatabaseWasOutOfReach(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	b := setupWith(t, t.TempDir(), func(ctx context.Context, clk clock.Clock) (store.Store, error) {
		return store.OpenPostgres(ctx, url, clk)
	})
	b.engine.Close()
	b.runner = &job.Runner{Store: b.store, Clock: b.clk, NodeID: "n1", Poll: 5 * time.Millisecond}
	b.engine = b.newEngine()
	if err := b.runner.Start(b.ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.runner.Stop)
	day0 := time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)
	b.clk.Set(day0)
	every4h, err := protection.ParseRepeatingInterval("R/2024-01-02T08:00:00+00:00/PT4H", nil)
	if err != nil {
		t.Fatal(err)
	}
	it := b.protect(t, "bv", 1, "", &protection.Policy{ID: "p1", Name: "p1", Schedule: every4h, AtOccurrence: true,
		Tags: &protection.Retention{Rules: []protection.TagRule{{Tag: "Default", Default: true, Priority: 99, Retain: protection.Duration{Days: 1}}}}})
	b.schedule(t, it)
	pg := b.store.(*store.Postgres).Pool()
	for _, q := range []string{
		`CREATE SEQUENCE refuse_job`,
		`CREATE FUNCTION refuse_job() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.kind = 'protection.job' AND nextval('refuse_job') = 1 THEN
				RAISE EXCEPTION 'terminating connection due to administrator command (the test''s)' USING ERRCODE = '57P01';
			END IF;
			RETURN NEW;
		END $$`,
		`CREATE TRIGGER refuse_job BEFORE INSERT ON docs FOR EACH ROW EXECUTE FUNCTION refuse_job()`,
	} {
		if _, err := pg.Exec(b.ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	occ := day0.Add(8 * time.Hour)
	b.clk.Set(occ)
	testsvc.WaitFor(t, "the run to meet the refused write", func() bool {
		b.runner.Notify()
		task, err := b.store.GetTaskByKey(b.ctx, protection.TaskKey(it.ID))
		return err == nil && task.Attempts == 1 && task.LeaseOwner == ""
	})
	if next := b.runUntil(t, it, occ.Add(10*time.Second)); !next.Equal(occ.Add(4 * time.Hour)) {
		t.Fatalf("next run %v", next)
	}
	if got := b.pointTimes(t, it); len(got) != 1 || !got[0].Equal(occ) {
		t.Fatalf("points %v, want one at %v", got, occ)
	}
	jobs, err := protection.ListJobs(b.ctx, b.store, it.VaultID, protection.JobFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs) != 1 || jobs[0].Status != protection.JobCompleted {
		t.Fatalf("jobs %+v", jobs)
	}
}
