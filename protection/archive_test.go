package protection_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/job"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/store"
)

// monthlyPolicy keeps a backup taken on the 1st of a month for a year (rule
// Monthly) and others 10 days; tiering is the policy's archive rule.
func monthlyPolicy(tiering *protection.Tiering) *protection.Policy {
	return &protection.Policy{ID: "pol", Name: "pol", Operational: protection.Duration{Days: 2}, Tiering: tiering,
		LongTerm: &protection.LongTermRetention{Daily: &protection.RetentionRule{Keep: protection.Duration{Days: 10}},
			Monthly: &protection.RetentionRule{Keep: protection.Duration{Months: 12}, DaysOfMonth: []int{1}}}}
}

func (b *bundle) point(t *testing.T, it *protection.Item, id string) *protection.RecoveryPoint {
	t.Helper()
	p, err := protection.GetRecoveryPoint(b.ctx, b.store, it.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (b *bundle) move(t *testing.T, it *protection.Item, pointID string) *protection.Job {
	t.Helper()
	b.seq++
	j := &protection.Job{ID: fmt.Sprintf("move-%d", b.seq), VaultID: it.VaultID, ItemID: it.ID, Operation: protection.OpMoveRecoveryPoint,
		Status: protection.JobInProgress, StartTime: b.clk.Now()}
	if err := b.store.Update(b.ctx, func(tx store.Tx) error { return protection.CreateJob(b.ctx, tx, j) }); err != nil {
		t.Fatal(err)
	}
	out, err := b.engine.MoveToArchive(b.ctx, j.ID, it.ID, pointID)
	if err != nil {
		t.Fatalf("move: %v", err)
	}
	return out
}

// restoreWith runs restore job jobID (with rehydration r, nil: none) of
// the point's disks into resource group "restored" (names ending in
// suffix); a job waiting for its rehydration returns the wait.
func (b *bundle) restoreWith(it *protection.Item, jobID, pointID, suffix string, r *protection.Rehydration) (*protection.Job, []string, error) {
	var ids []string
	j, err := b.engine.Restore(b.ctx, jobID, protection.RestoreRequest{ItemID: it.ID, PointID: pointID, VaultKey: it.VaultKey, Task: protection.TaskRestoreVault,
		Rehydration: r,
		Targets: func(p *protection.RecoveryPoint) ([]protection.RestoreTarget, error) {
			var out []protection.RestoreTarget
			for i, s := range p.Snapshots {
				id := arm.NewID(testSub, "restored", "Microsoft.Compute", "disks", fmt.Sprintf("%s-%s-%d", it.Name, suffix, i)).String()
				ids = append(ids, id)
				out = append(out, protection.RestoreTarget{Source: s, Target: protection.DiskTarget{ID: id, Location: "westus", Tags: map[string]string{"job": jobID}}})
			}
			return out, nil
		}})
	return j, ids, err
}

// TestArchiveMoveRehydrateRestore: a monthly point may move to the archive
// tier only after 3 months in the vault tier (the move job fails before,
// saying why); once archived a restore without rehydration fails, one with
// High priority waits an hour on the engine's clock rehydrating, then
// restores the disks bit-exact; the point returns to the archive when its
// rehydration retention ends.
func TestArchiveMoveRehydrateRestore(t *testing.T) {
	b := setup(t)
	it := b.protect(t, "vm", 2, "vault1", monthlyPolicy(nil))
	var want [][]byte
	for _, d := range b.face.disks[it.ID] {
		want = append(want, b.read(t, d))
	}
	bj := b.backup(t, it, protection.BackupOptions{})
	wantStatus(t, bj, protection.JobCompleted)
	p := b.point(t, it, bj.RecoveryPointID)
	if p.RetentionTag != protection.RuleMonthly {
		t.Fatalf("point tag %q, want Monthly", p.RetentionTag)
	}
	if r := p.ArchiveReadiness(b.clk.Now()); r.Ready || !strings.Contains(r.Info, "3 months") {
		t.Fatalf("a new point's readiness: %+v", r)
	}
	mj := b.move(t, it, p.ID)
	wantStatus(t, mj, protection.JobFailed)
	if mj.Error.Code != protection.CodeNotEligibleForMove || !strings.Contains(mj.Error.Message, "3 months") {
		t.Fatalf("early move: %+v", mj.Error)
	}
	// A daily point is never eligible.
	b.clk.Advance(24 * time.Hour)
	dj := b.backup(t, it, protection.BackupOptions{})
	b.clk.Advance(3*31*24*time.Hour - 24*time.Hour)
	if r := b.point(t, it, dj.RecoveryPointID).ArchiveReadiness(b.clk.Now()); r.Ready || !strings.Contains(r.Info, "monthly and yearly") {
		t.Fatalf("a daily point's readiness: %+v", r)
	}

	if r := b.point(t, it, p.ID).ArchiveReadiness(b.clk.Now()); !r.Ready {
		t.Fatalf("readiness after 3 months: %+v", r)
	}
	mj = b.move(t, it, p.ID)
	wantStatus(t, mj, protection.JobCompleted)
	p = b.point(t, it, p.ID)
	if p.ArchiveStatus(b.clk.Now()) != protection.ArchiveValid {
		t.Fatalf("archive status %q after the move", p.ArchiveStatus(b.clk.Now()))
	}
	if r := p.ArchiveReadiness(b.clk.Now()); r.Ready || !strings.Contains(r.Info, "already been moved") {
		t.Fatalf("an archived point's readiness: %+v", r)
	}
	if again := b.move(t, it, p.ID); again.Status != protection.JobFailed || again.Error.Code != protection.CodeNotEligibleForMove {
		t.Fatalf("second move: %s %+v", again.Status, again.Error)
	}

	// Without rehydration: refused, nothing written.
	j, ids, err := b.restoreWith(it, b.restoreJob(t, it), p.ID, fmt.Sprint(b.seq), nil)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, j, protection.JobFailed)
	if j.Error.Code != protection.CodeRehydrationRequired || ids != nil {
		t.Fatalf("restore of an archived point: %+v, disks %v", j.Error, ids)
	}

	r, err := protection.ParseRehydration("high", "P10D", "properties.recoveryPointRehydrationInfo")
	if err != nil {
		t.Fatal(err)
	}
	jobID := b.restoreJob(t, it)
	_, _, err = b.restoreWith(it, jobID, p.ID, jobID, &r)
	var re *job.RetryError
	// Due at the rehydration's end on the clock (At), not an hour from
	// when the runner reschedules the task: a clock moved meanwhile left
	// the restore waiting an hour past the end (TestArchiveTierThroughSDK
	// hung so, 4 runs in 13 at load).
	if !errors.As(err, &re) || !errors.Is(err, protection.ErrRehydrating) || re.Delay != time.Hour || !re.At.Equal(b.clk.Now().Add(time.Hour)) {
		t.Fatalf("restore while rehydrating: %v (%+v), want a retry at %v", err, re, b.clk.Now().Add(time.Hour))
	}
	ready := re.At
	if st := b.point(t, it, p.ID).ArchiveStatus(b.clk.Now()); st != protection.ArchiveRehydrating {
		t.Fatalf("status %q while rehydrating", st)
	}
	waiting, err := protection.GetJob(b.ctx, b.store, "", jobID)
	if err != nil {
		t.Fatal(err)
	}
	if waiting.Status != protection.JobInProgress || len(waiting.Tasks) == 0 || waiting.Tasks[0].Name != protection.TaskRehydrate || waiting.Tasks[0].Status != protection.JobInProgress {
		t.Fatalf("job while rehydrating: %s %+v", waiting.Status, waiting.Tasks)
	}
	b.clk.Advance(30 * time.Minute)
	if _, _, err = b.restoreWith(it, jobID, p.ID, jobID, &r); !errors.As(err, &re) || re.Delay != 30*time.Minute || !re.At.Equal(ready) {
		t.Fatalf("restore half way through the rehydration: %v", err)
	}
	b.clk.Advance(30 * time.Minute)
	j, ids, err = b.restoreWith(it, jobID, p.ID, jobID, &r)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, j, protection.JobCompleted)
	if j.Tasks[0].Name != protection.TaskRehydrate || j.Tasks[0].Status != protection.JobCompleted {
		t.Fatalf("tasks %+v", j.Tasks)
	}
	for i, id := range ids {
		if !bytes.Equal(b.read(t, id), want[i]) {
			t.Fatalf("disk %d restored from the archive tier differs", i)
		}
	}
	if st := b.point(t, it, p.ID).ArchiveStatus(b.clk.Now()); st != protection.ArchiveRehydrated {
		t.Fatalf("status %q after the rehydration", st)
	}
	// Ten days later it is offline again; the sweep clears the record.
	b.clk.Advance(10 * 24 * time.Hour)
	if _, err := b.engine.ApplyRetention(b.ctx, faceName, it.ID); err != nil {
		t.Fatal(err)
	}
	p = b.point(t, it, p.ID)
	if p.ArchiveStatus(b.clk.Now()) != protection.ArchiveValid || p.Archive.Until != nil {
		t.Fatalf("after the rehydration retention: %q %+v", p.ArchiveStatus(b.clk.Now()), p.Archive)
	}
	j, _, err = b.restoreWith(it, b.restoreJob(t, it), p.ID, fmt.Sprint(b.seq), nil)
	if err != nil || j.Status != protection.JobFailed || j.Error.Code != protection.CodeRehydrationRequired {
		t.Fatalf("restore after the point returned to the archive: %v %+v", err, j)
	}
}

// TestTieringPolicyMovesPoints: a policy tiering after 4 months moves its
// monthly point when that time comes, by the retention sweep, which plans
// itself for it; the point is recommended for a move before (its full copy
// costs less in the archive than its increment in the vault tier).
func TestTieringPolicyMovesPoints(t *testing.T) {
	b := setup(t)
	it := b.protect(t, "vm", 1, "vault1", monthlyPolicy(&protection.Tiering{Mode: protection.TierAfter, After: protection.Duration{Months: 4}}))
	bj := b.backup(t, it, protection.BackupOptions{})
	wantStatus(t, bj, protection.JobCompleted)
	p := b.point(t, it, bj.RecoveryPointID)
	b.clk.Advance(10 * 24 * time.Hour)
	next, err := b.engine.ApplyRetention(b.ctx, faceName, it.ID)
	if err != nil {
		t.Fatal(err)
	}
	if due := p.Time.AddDate(0, 4, 0); !next.Equal(due) {
		t.Fatalf("next sweep %s, want the tiering time %s", next, due)
	}
	sizes, err := b.engine.PointSizes(b.ctx, it.VaultKey, []*protection.RecoveryPoint{p})
	if err != nil {
		t.Fatal(err)
	}
	if sizes[0].Full < 256<<10 || sizes[0].Incremental != sizes[0].Full {
		t.Fatalf("sizes of a first point: %+v", sizes[0])
	}
	b.clk.Set(p.Time.AddDate(0, 3, 1))
	rec, err := b.engine.RecommendedForMove(b.ctx, it.VaultKey, it.ID, nil)
	if err != nil || len(rec) != 1 || rec[0].ID != p.ID {
		t.Fatalf("recommended: %v %v", rec, err)
	}
	if rec, _ := b.engine.RecommendedForMove(b.ctx, it.VaultKey, it.ID, []string{strings.ToUpper(p.ID)}); len(rec) != 0 {
		t.Fatalf("an excluded point is recommended: %v", rec)
	}
	if _, err := b.engine.ApplyRetention(b.ctx, faceName, it.ID); err != nil {
		t.Fatal(err)
	}
	if b.point(t, it, p.ID).Archive != nil {
		t.Fatal("the policy moved the point before its 4 months")
	}
	b.clk.Set(p.Time.AddDate(0, 4, 0))
	if _, err := b.engine.ApplyRetention(b.ctx, faceName, it.ID); err != nil {
		t.Fatal(err)
	}
	if st := b.point(t, it, p.ID).ArchiveStatus(b.clk.Now()); st != protection.ArchiveValid {
		t.Fatalf("status %q at the tiering time", st)
	}
}
