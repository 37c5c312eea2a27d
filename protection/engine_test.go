package protection_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/blob/blobtest"
	"github.com/safehold/safehold/blob/local"
	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/job"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/protection/computedisks"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/snapshot"
	"github.com/safehold/safehold/store"
)

// These tests drive protection.Engine directly: a real store, real
// compute disks and snapshot repositories, a fake clock, no HTTP. The face
// is the test's own: items held in memory, the way a vault kind would
// translate its resources.

const (
	testSub  = "00000000-0000-0000-0000-00000000abcd"
	faceName = "test"
	diskSize = 4 << 20
	// packPrefix is where the chunk store keeps its packs.
	packPrefix = "pack/"
)

type faceImpl struct {
	mu       sync.Mutex
	items    map[string]*protection.Item
	disks    map[string][]string // item id → disk ids
	recorded int
	ended    []string
	// goneOnCapture names an item deleted as its capture is planned (as if
	// its face deleted it while the backup ran).
	goneOnCapture string
}

func (f *faceImpl) Item(ctx context.Context, r store.Reader, id string) (*protection.Item, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	it, ok := f.items[id]
	if !ok {
		return nil, fmt.Errorf("item %s: %w", id, protection.ErrNotFound)
	}
	cp := *it
	return &cp, nil
}

func (f *faceImpl) Capture(ctx context.Context, it *protection.Item, pointID string) (*protection.Capture, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := &protection.Capture{Type: "CrashConsistent", Group: "/subscriptions/" + testSub + "/resourceGroups/snaps"}
	if f.goneOnCapture == it.ID {
		delete(f.items, it.ID)
	}
	for i, d := range f.disks[it.ID] {
		c.Disks = append(c.Disks, protection.SnapshotSpec{DiskID: d, Lun: i, OSDisk: i == 0,
			SnapshotID: arm.NewID(testSub, "snaps", "Microsoft.Compute", "snapshots", fmt.Sprintf("p%s-%d", pointID[:20], i)).String()})
	}
	return c, nil
}

func (f *faceImpl) Recorded(ctx context.Context, tx store.Tx, it *protection.Item, p *protection.RecoveryPoint, j *protection.Job) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.items[it.ID]; !ok {
		return protection.ErrNotFound
	}
	f.recorded++
	return nil
}

func (f *faceImpl) Ended(ctx context.Context, tx store.Tx, j *protection.Job) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ended = append(f.ended, j.ID+":"+j.Status)
	return nil
}

func (f *faceImpl) ScheduledJob(ctx context.Context, it *protection.Item, now time.Time) (*protection.Job, error) {
	return &protection.Job{VaultID: it.VaultID, ItemID: it.ID, ItemName: it.Name, Operation: protection.OpBackup,
		Status: protection.JobInProgress, StartTime: now}, nil
}

type bundle struct {
	ctx     context.Context
	dir     string
	clk     *clock.Fake
	store   store.Store
	compute *compute.Service
	face    *faceImpl
	engine  *protection.Engine
	faulty  *blobtest.Faulty // the vault tier's backend
	runner  *job.Runner      // nil: the engine runs no background tasks
	seq     int
}

func setup(t *testing.T) *bundle {
	t.Helper()
	return setupIn(t, t.TempDir())
}

// setupIn is setup with everything (store, disks, vault tiers) in dir.
func setupIn(t *testing.T, dir string) *bundle {
	t.Helper()
	return setupWith(t, dir, func(ctx context.Context, clk clock.Clock) (store.Store, error) {
		return store.OpenSQLite(ctx, filepath.Join(dir, "db"), clk)
	})
}

// setupWith is setupIn on the store open opens.
func setupWith(t *testing.T, dir string, open func(ctx context.Context, clk clock.Clock) (store.Store, error)) *bundle {
	t.Helper()
	ctx := context.Background()
	b := &bundle{ctx: ctx, dir: dir, clk: clock.NewFake(time.Date(2024, 1, 1, 22, 0, 0, 0, time.UTC)),
		face:   &faceImpl{items: map[string]*protection.Item{}, disks: map[string][]string{}},
		faulty: blobtest.NewFaulty(nil)}
	st, err := open(ctx, b.clk)
	if err != nil {
		t.Fatal(err)
	}
	b.store = st
	p := &resource.Platform{Store: st, Clock: b.clk, DataDir: dir}
	err = st.Update(ctx, func(tx store.Tx) error {
		for _, rg := range []string{"rg", "snaps", "restored"} {
			if err := resource.Put(ctx, tx, arm.ResourceID{SubscriptionID: testSub, ResourceGroup: rg},
				map[string]any{"id": "/subscriptions/" + testSub + "/resourceGroups/" + rg, "name": rg, "type": "Microsoft.Resources/resourceGroups", "location": "westus"}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if b.compute, err = compute.New(p, compute.Options{}); err != nil {
		t.Fatal(err)
	}
	b.engine = b.newEngine()
	t.Cleanup(func() { b.engine.Close(); b.compute.Close(); st.Close() })
	return b
}

// newEngine builds an engine over the bundle's store and disks (a second
// call stands for the process after a restart). Its vault tiers sit on a
// fault-injecting backend.
func (b *bundle) newEngine() *protection.Engine {
	e := protection.New(&protection.Engine{Store: b.store, Clock: b.clk, Disks: computedisks.New(b.compute), DataDir: b.dir,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Runner: b.runner})
	e.OpenVault = func(ctx context.Context, key string) (*snapshot.Repository, error) {
		be, err := local.Open(filepath.Join(b.dir, "vaults", key, "repo"))
		if err != nil {
			return nil, err
		}
		b.faulty.Inner = be
		return snapshot.Open(ctx, b.faulty, filepath.Join(b.dir, "vaults", key, "cache"), snapshot.Options{})
	}
	e.RegisterFace(faceName, b.face)
	if err := e.Start(b.ctx); err != nil {
		panic(err)
	}
	return e
}

// protect creates a VM-like item with n disks full of seeded data.
func (b *bundle) protect(t *testing.T, name string, n int, vaultKey string, pol *protection.Policy) *protection.Item {
	t.Helper()
	it := &protection.Item{ID: "/subscriptions/" + testSub + "/resourceGroups/rg/providers/Test.Backup/vaults/v/items/" + name,
		VaultID: "/subscriptions/" + testSub + "/resourceGroups/rg/providers/Test.Backup/vaults/v", Name: name, VaultKey: vaultKey,
		Policy: pol, State: protection.ItemProtected}
	var disks []string
	for i := 0; i < n; i++ {
		id := arm.NewID(testSub, "rg", "Microsoft.Compute", "disks", fmt.Sprintf("%s-d%d", name, i)).String()
		if _, err := b.compute.CreateDisk(b.ctx, compute.DiskSpec{ID: id, Location: "westus", CreateOption: "Empty", SizeBytes: diskSize}); err != nil {
			t.Fatal(err)
		}
		b.write(t, id, uint64(i+1))
		disks = append(disks, id)
	}
	b.face.mu.Lock()
	b.face.items[it.ID], b.face.disks[it.ID] = it, disks
	b.face.mu.Unlock()
	return it
}

// write puts seeded random data into 256 KiB at a seeded offset.
func (b *bundle) write(t *testing.T, diskID string, seed uint64) {
	t.Helper()
	v, err := b.compute.Volume(b.ctx, diskID)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 7))
	buf := make([]byte, 256<<10)
	for i := range buf {
		buf[i] = byte(rng.Uint32())
	}
	if _, err := v.WriteAt(buf, int64(rng.IntN(diskSize/len(buf)))*int64(len(buf))); err != nil {
		t.Fatal(err)
	}
}

func (b *bundle) read(t *testing.T, diskID string) []byte {
	t.Helper()
	v, err := b.compute.Volume(b.ctx, diskID)
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(io.NewSectionReader(v, 0, diskSize))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (b *bundle) backup(t *testing.T, it *protection.Item, o protection.BackupOptions) *protection.Job {
	t.Helper()
	b.seq++
	id := fmt.Sprintf("job-%d", b.seq)
	o.NewJob = &protection.Job{VaultID: it.VaultID, ItemID: it.ID, ItemName: it.Name, Operation: protection.OpBackup,
		Status: protection.JobInProgress, StartTime: b.clk.Now()}
	j, err := b.engine.Backup(b.ctx, faceName, id, o)
	if err != nil {
		t.Fatalf("backup: %v", err)
	}
	return j
}

func (b *bundle) points(t *testing.T, it *protection.Item) []*protection.RecoveryPoint {
	t.Helper()
	pts, err := protection.ListRecoveryPoints(b.ctx, b.store, it.ID)
	if err != nil {
		t.Fatal(err)
	}
	return pts
}

func (b *bundle) restoreJob(t *testing.T, it *protection.Item) string {
	t.Helper()
	b.seq++
	id := fmt.Sprintf("restore-%d", b.seq)
	j := &protection.Job{ID: id, VaultID: it.VaultID, ItemID: it.ID, Operation: protection.OpRestore, Status: protection.JobInProgress, StartTime: b.clk.Now()}
	if err := b.store.Update(b.ctx, func(tx store.Tx) error { return protection.CreateJob(b.ctx, tx, j) }); err != nil {
		t.Fatal(err)
	}
	return id
}

// restore restores every disk of point into resource group "restored".
func (b *bundle) restore(t *testing.T, it *protection.Item, pointID, suffix string) (*protection.Job, []string) {
	t.Helper()
	j, ids, err := b.restoreWith(it, b.restoreJob(t, it), pointID, suffix, nil)
	if err != nil {
		t.Fatalf("restore: %v", err)
	}
	return j, ids
}

func wantStatus(t *testing.T, j *protection.Job, status string) {
	t.Helper()
	if j.Status != status {
		t.Fatalf("job %s: status %s (error %+v), want %s", j.ID, j.Status, j.Error, status)
	}
}

// TestRetentionOver100DaysTagged is a Backup vault's retention: a daily
// backup for 100 simulated days under a tagged policy (every backup kept 7
// days, the first of each week 4 weeks, the first of each month 6 months);
// after each day the kept points are exactly those whose tag's retention
// has not passed, and the others' snapshots are gone.
func TestRetentionOver100DaysTagged(t *testing.T) {
	b := setup(t)
	tags := &protection.Retention{Rules: []protection.TagRule{
		{Tag: "Default", Default: true, Priority: 99, Retain: protection.Duration{Days: 7}},
		{Tag: "Weekly", Priority: 20, Criteria: []string{protection.FirstOfWeek}, Retain: protection.Duration{Weeks: 4}},
		{Tag: "Monthly", Priority: 15, Criteria: []string{protection.FirstOfMonth}, Retain: protection.Duration{Months: 6}},
	}}
	it := b.protect(t, "disk", 1, "", &protection.Policy{ID: "pol", Name: "pol", Tags: tags})
	type want struct {
		at     time.Time
		expiry time.Time
		tag    string
	}
	var all []want
	var weekSeen, monthSeen = map[string]bool{}, map[string]bool{}
	for day := 0; day < 100; day++ {
		now := b.clk.Now()
		b.write(t, b.face.disks[it.ID][0], uint64(100+day))
		j := b.backup(t, it, protection.BackupOptions{})
		wantStatus(t, j, protection.JobCompleted)
		y, w := now.ISOWeek()
		wk := fmt.Sprint(y, w)
		if now.Weekday() == time.Sunday { // weeks start on Sunday, as in Azure
			wk = fmt.Sprint(now.AddDate(0, 0, 1).ISOWeek())
		}
		mo := now.Format("2006-01")
		w1 := want{at: now, tag: "Default", expiry: now.AddDate(0, 0, 7)}
		if !weekSeen[wk] {
			w1.tag, w1.expiry = "Weekly", now.AddDate(0, 0, 28)
		}
		if !monthSeen[mo] {
			w1.tag, w1.expiry = "Monthly", now.AddDate(0, 6, 0)
		}
		weekSeen[wk], monthSeen[mo] = true, true
		all = append(all, w1)
		if _, err := b.engine.ApplyRetention(b.ctx, faceName, it.ID); err != nil {
			t.Fatal(err)
		}
		got := map[time.Time]*protection.RecoveryPoint{}
		for _, p := range b.points(t, it) {
			got[p.Time] = p
		}
		for _, w := range all {
			p, kept := got[w.at]
			if alive := w.expiry.After(now); alive != kept {
				t.Fatalf("day %d: point of %s (tag %s, expires %s) kept=%v", day, w.at.Format(time.DateOnly), w.tag, w.expiry.Format(time.DateOnly), kept)
			}
			if kept && (p.RetentionTag != w.tag || !p.Expiry.Equal(w.expiry)) {
				t.Fatalf("day %d: point of %s: tag %s expiry %s, want %s %s", day, w.at.Format(time.DateOnly), p.RetentionTag, p.Expiry, w.tag, w.expiry)
			}
		}
		b.clk.Advance(24 * time.Hour)
	}
	// Deleted points took their snapshots with them.
	snaps, err := b.compute.ListSnapshots(b.ctx, "/subscriptions/"+testSub)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(b.points(t, it)); len(snaps) != n {
		t.Fatalf("%d snapshots for %d points", len(snaps), n)
	}
}

// TestRetentionOver100DaysLongTerm is a Recovery Services vault's
// retention: daily backups for 100 days into the vault tier, kept 10 days
// (Sundays 5 weeks), with the operational tier dropped after 2 days; a
// point left only in the vault tier restores bit-exactly.
func TestRetentionOver100DaysLongTerm(t *testing.T) {
	b := setup(t)
	lt := &protection.LongTermRetention{Daily: &protection.RetentionRule{Keep: protection.Duration{Days: 10}},
		Weekly: &protection.RetentionRule{Keep: protection.Duration{Weeks: 5}, Weekdays: []time.Weekday{time.Sunday}}}
	it := b.protect(t, "vm", 2, "vault1", &protection.Policy{ID: "pol", Name: "pol", LongTerm: lt, Operational: protection.Duration{Days: 2}})
	var contents = map[time.Time][][]byte{}
	for day := 0; day < 100; day++ {
		now := b.clk.Now()
		for i, d := range b.face.disks[it.ID] {
			b.write(t, d, uint64(1000+10*day+i))
		}
		if day == 90 {
			for _, d := range b.face.disks[it.ID] {
				contents[now] = append(contents[now], b.read(t, d))
			}
		}
		j := b.backup(t, it, protection.BackupOptions{})
		wantStatus(t, j, protection.JobCompleted)
		for _, task := range j.Tasks {
			if task.Status != protection.JobCompleted {
				t.Fatalf("day %d: task %s %s", day, task.Name, task.Status)
			}
		}
		for _, p := range b.points(t, it) {
			age := now.Sub(p.Time)
			keep := 10 * 24 * time.Hour
			if p.Time.Weekday() == time.Sunday {
				keep = 35 * 24 * time.Hour
			}
			if age >= keep {
				t.Fatalf("day %d: point of %s (age %s) was not deleted", day, p.Time, age)
			}
			if !p.HasTier(protection.TierVault) {
				t.Fatalf("day %d: point of %s is not in the vault tier", day, p.Time)
			}
			if op := p.HasTier(protection.TierOperational); op != (age < 48*time.Hour) {
				t.Fatalf("day %d: point of %s (age %s): operational tier %v", day, p.Time, age, op)
			}
		}
		b.clk.Advance(24 * time.Hour)
	}
	// 10 daily points plus the Sundays of the last 5 weeks beyond them.
	pts := b.points(t, it)
	if len(pts) < 10 || len(pts) > 15 {
		t.Fatalf("%d points after 100 days", len(pts))
	}
	for at, want := range contents {
		var pid string
		for _, p := range pts {
			if p.Time.Equal(at) {
				pid = p.ID
			}
		}
		if pid == "" {
			t.Fatalf("point of %s is gone", at)
		}
		j, ids := b.restore(t, it, pid, "vault")
		wantStatus(t, j, protection.JobCompleted)
		for i, id := range ids {
			if !bytes.Equal(b.read(t, id), want[i]) {
				t.Fatalf("disk %d restored from the vault tier differs", i)
			}
		}
	}
}

// TestRestoreBitExact restores a point from the operational tier after the
// disks changed, and again after a resumed run (the disk it made is kept).
func TestRestoreBitExact(t *testing.T) {
	b := setup(t)
	it := b.protect(t, "vm", 2, "vault1", nil)
	var want [][]byte
	for _, d := range b.face.disks[it.ID] {
		want = append(want, b.read(t, d))
	}
	bj := b.backup(t, it, protection.BackupOptions{})
	wantStatus(t, bj, protection.JobCompleted)
	for i, d := range b.face.disks[it.ID] {
		b.write(t, d, uint64(50+i))
	}
	j, ids := b.restore(t, it, bj.RecoveryPointID, "op")
	wantStatus(t, j, protection.JobCompleted)
	// What the restore wrote: each disk's 256 KiB of data, not its size.
	if j.BytesTransferred != 2*256<<10 {
		t.Fatalf("restore moved %d bytes, want %d (the disks' data)", j.BytesTransferred, 2*256<<10)
	}
	for i, id := range ids {
		if !bytes.Equal(b.read(t, id), want[i]) {
			t.Fatalf("restored disk %d differs from the disk at backup time", i)
		}
	}
	// A restore into disks that exist, not made by this job, fails.
	j2, _ := b.restore(t, it, bj.RecoveryPointID, "op")
	wantStatus(t, j2, protection.JobFailed)
	if j2.Error.Code != protection.CodeRestoreFailed || !strings.Contains(j2.Error.Message, "already exists") {
		t.Fatalf("restore over existing disks: %+v", j2.Error)
	}
}

// TestBackupKilledMidTransferResumes kills a backup while it copies to the
// vault tier; the engine of the restarted process resumes the job once:
// the same point (its snapshots are not taken again) reaches the vault
// tier and the job completes.
func TestBackupKilledMidTransferResumes(t *testing.T) {
	b := setup(t)
	it := b.protect(t, "vm", 2, "vault1", nil)
	ctx, kill := context.WithCancel(b.ctx)
	b.faulty.SetFail(func(op blobtest.Op, key string, n int) error {
		if op == blobtest.OpPut && strings.HasPrefix(key, packPrefix) {
			kill() // the process dies during the transfer
			return fmt.Errorf("put %s: %w", key, context.Canceled)
		}
		return nil
	})
	jobID := "job-killed"
	_, err := b.engine.Backup(ctx, faceName, jobID, protection.BackupOptions{NewJob: &protection.Job{VaultID: it.VaultID, ItemID: it.ID,
		Operation: protection.OpBackup, Status: protection.JobInProgress, StartTime: b.clk.Now()}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("killed backup: %v", err)
	}
	j, _ := protection.GetJob(b.ctx, b.store, "", jobID)
	wantStatus(t, j, protection.JobInProgress)
	pts := b.points(t, it)
	if len(pts) != 1 || pts[0].HasTier(protection.TierVault) {
		t.Fatalf("after the kill: %d points, first %+v", len(pts), pts)
	}
	first := pts[0].Snapshots
	b.engine.Close()
	b.faulty.SetFail(nil)
	b.engine = b.newEngine() // the restart
	j, err = b.engine.Backup(b.ctx, faceName, jobID, protection.BackupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, j, protection.JobCompleted)
	pts = b.points(t, it)
	if len(pts) != 1 || !pts[0].HasTier(protection.TierVault) || pts[0].Snapshots[0].EngineID != first[0].EngineID {
		t.Fatalf("after the resume: %+v", pts)
	}
	if b.face.recorded != 1 {
		t.Fatalf("the point was recorded %d times", b.face.recorded)
	}
	if j.BytesTransferred == 0 {
		t.Fatal("the resumed job moved no bytes")
	}
	// Running the job again does nothing: it has ended.
	again, err := b.engine.Backup(b.ctx, faceName, jobID, protection.BackupOptions{})
	if err != nil || again.Status != protection.JobCompleted || len(b.points(t, it)) != 1 {
		t.Fatalf("repeated run: %v %+v", err, again)
	}
}

// TestDiskFullEndsFailedThenRecovers: out of space in the vault tier ends
// the backup Failed with UserErrorInsufficientStorage and a message saying
// what to do; once space is back the next backup completes.
func TestDiskFullEndsFailedThenRecovers(t *testing.T) {
	b := setup(t)
	it := b.protect(t, "vm", 1, "vault1", nil)
	wantStatus(t, b.backup(t, it, protection.BackupOptions{}), protection.JobCompleted)
	b.write(t, b.face.disks[it.ID][0], 999)
	b.clk.Advance(time.Hour)
	b.faulty.SetFail(func(op blobtest.Op, key string, n int) error {
		if op == blobtest.OpPut {
			return &os.PathError{Op: "write", Path: key, Err: syscall.ENOSPC}
		}
		return nil
	})
	j := b.backup(t, it, protection.BackupOptions{})
	wantStatus(t, j, protection.JobFailed)
	if j.Error.Code != protection.CodeInsufficientStorage || len(j.Error.RecommendedAction) == 0 || !strings.Contains(j.Error.RecommendedAction[0], "Free space") {
		t.Fatalf("disk full: %+v", j.Error)
	}
	b.faulty.SetFail(nil)
	b.clk.Advance(time.Hour)
	wantStatus(t, b.backup(t, it, protection.BackupOptions{}), protection.JobCompleted)
}

// TestJobWhoseEndCannotBeWrittenRunsAgain fills the file system of the
// store and the vault tier while a backup writes: the job cannot record
// its end, so the run asks for its task to run again (a job.Retry) rather
// than end the task with the job InProgress for ever; once space is back,
// running it again ends the job.
func TestJobWhoseEndCannotBeWrittenRunsAgain(t *testing.T) {
	dir := testsvc.SmallDisk(t, 48)
	b := setupIn(t, dir)
	b.engine.ItemLease = 2 * time.Second // the first run cannot release the item's: the second waits it out
	it := b.protect(t, "vm", 1, "vault1", nil)
	b.write(t, b.face.disks[it.ID][0], 7)
	filler := filepath.Join(dir, "filler")
	var filled atomic.Bool
	b.faulty.SetFail(func(op blobtest.Op, key string, n int) error {
		if op == blobtest.OpPut && !filled.Swap(true) {
			testsvc.FillUp(t, filler, 0)
		}
		return nil
	})
	o := protection.BackupOptions{NewJob: &protection.Job{VaultID: it.VaultID, ItemID: it.ID, ItemName: it.Name, Operation: protection.OpBackup,
		Status: protection.JobInProgress, StartTime: b.clk.Now()}}
	_, err := b.engine.Backup(b.ctx, faceName, "job-full", o)
	var re *job.RetryError
	if !errors.As(err, &re) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("backup whose end cannot be written: %v, want a job.Retry of the out of space", err)
	}
	if j, err := protection.GetJob(b.ctx, b.store, "", "job-full"); err != nil || j.Status != protection.JobInProgress {
		t.Fatalf("job: %v %+v", err, j)
	}
	b.faulty.SetFail(nil)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	j, err := b.engine.Backup(b.ctx, faceName, "job-full", protection.BackupOptions{})
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, j, protection.JobCompleted)
}

// TestCorruptPackRestoreEndsFailed flips a byte in every pack of the vault
// tier; a restore of a point held only there ends Failed with
// UserErrorRecoveryPointCorrupt.
func TestCorruptPackRestoreEndsFailed(t *testing.T) {
	b := setup(t)
	it := b.protect(t, "vm", 1, "vault1", &protection.Policy{ID: "p", LongTerm: &protection.LongTermRetention{Daily: &protection.RetentionRule{Keep: protection.Duration{Days: 30}}},
		Operational: protection.Duration{Days: 1}})
	j := b.backup(t, it, protection.BackupOptions{})
	wantStatus(t, j, protection.JobCompleted)
	b.clk.Advance(48 * time.Hour)
	if _, err := b.engine.ApplyRetention(b.ctx, faceName, it.ID); err != nil {
		t.Fatal(err)
	}
	pts := b.points(t, it)
	if len(pts) != 1 || pts[0].HasTier(protection.TierOperational) {
		t.Fatalf("points: %+v", pts)
	}
	b.engine.Close() // no cached data
	n := 0
	filepath.Walk(filepath.Join(b.dir, "vaults", "vault1", "repo"), func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() && strings.Contains(p, string(filepath.Separator)+strings.TrimSuffix(packPrefix, "/")+string(filepath.Separator)) {
			f, _ := os.OpenFile(p, os.O_RDWR, 0)
			buf := make([]byte, 1)
			f.ReadAt(buf, fi.Size()/2)
			buf[0] ^= 0xff
			f.WriteAt(buf, fi.Size()/2)
			f.Close()
			n++
		}
		return nil
	})
	if n == 0 {
		t.Fatal("no pack files found to damage")
	}
	b.engine = b.newEngine()
	j, _ = b.restore(t, it, pts[0].ID, "bad")
	wantStatus(t, j, protection.JobFailed)
	if j.Error.Code != protection.CodeRecoveryPointCorrupt {
		t.Fatalf("corrupt restore: %+v", j.Error)
	}
	// A point that does not exist fails with its own code.
	j, _ = b.restore(t, it, "0123456789abcdef0123456789abcdef", "none")
	wantStatus(t, j, protection.JobFailed)
	if j.Error.Code != "UserErrorRecoveryPointNotFound" {
		t.Fatalf("missing point: %+v", j.Error)
	}
}

// TestBackupOfDeletedItemEndsFailed: a backup whose item is deleted while
// it runs ends Failed with UserErrorItemNotFound and names no recovery
// point, by one rule wherever the deletion meets it: during the capture
// (the point is never recorded and its snapshots are deleted), or during
// the transfer to the vault (the point went with the item).
func TestBackupOfDeletedItemEndsFailed(t *testing.T) {
	b := setup(t)
	check := func(j *protection.Job, it *protection.Item) {
		t.Helper()
		wantStatus(t, j, protection.JobFailed)
		if j.Error == nil || j.Error.Code != protection.CodeItemNotFound || j.RecoveryPointID != "" || j.RecoveryPointTime != nil {
			t.Errorf("job %s: error %+v, recovery point %q %v", j.ID, j.Error, j.RecoveryPointID, j.RecoveryPointTime)
		}
		if pts := b.points(t, it); len(pts) != 0 {
			t.Errorf("points of the deleted item %s: %d", it.Name, len(pts))
		}
	}

	// Deleted during the capture.
	it := b.protect(t, "a", 2, "", nil)
	b.face.mu.Lock()
	b.face.goneOnCapture = it.ID
	b.face.mu.Unlock()
	check(b.backup(t, it, protection.BackupOptions{}), it)
	if ms, err := b.compute.Repository().List(b.ctx); err != nil || len(ms) != 0 {
		t.Errorf("snapshots of the capture of a deleted item: %d %v", len(ms), err)
	}

	// Deleted, with its points, during the transfer to the vault.
	it = b.protect(t, "b", 1, "vk", nil)
	var once sync.Once
	b.faulty.SetFail(func(op blobtest.Op, key string, n int) error {
		if op == blobtest.OpPut {
			once.Do(func() {
				b.face.mu.Lock()
				delete(b.face.items, it.ID)
				b.face.mu.Unlock()
				pts, err := protection.ListRecoveryPoints(b.ctx, b.store, it.ID)
				if err != nil || len(pts) != 1 {
					t.Errorf("points while transferring: %d %v", len(pts), err)
					return
				}
				if err := b.store.Update(b.ctx, func(tx store.Tx) error { return protection.DeleteRecoveryPoint(b.ctx, tx, it.ID, pts[0].ID) }); err != nil {
					t.Error(err)
				}
			})
		}
		return nil
	})
	check(b.backup(t, it, protection.BackupOptions{}), it)
}

// TestBackupMeetingTheDatabaseOutOfReachRunsAgainThenFails: PostgreSQL
// refuses every write of a recovery point with 57P01 (what a backend
// answers while the database shuts down). Each run of the backup asks for
// its task to run it again (a job.Retry, 1 s then 2 s), the job still
// InProgress, until Engine.TransientRetries runs have; the next ends it
// Failed, saying that the metadata database was out of reach and what to
// check, with no point. Once the database takes the writes again, a
// backup completes.
func TestBackupMeetingTheDatabaseOutOfReachRunsAgainThenFails(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	b := setupWith(t, t.TempDir(), func(ctx context.Context, clk clock.Clock) (store.Store, error) {
		return store.OpenPostgres(ctx, url, clk)
	})
	b.engine.TransientRetries = 2
	it := b.protect(t, "vm", 1, "", nil)
	pg := b.store.(*store.Postgres).Pool()
	for _, q := range []string{
		`CREATE FUNCTION refuse_points() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.kind = 'protection.rp' THEN
				RAISE EXCEPTION 'terminating connection due to administrator command (the test''s)' USING ERRCODE = '57P01';
			END IF;
			RETURN NEW;
		END $$`,
		`CREATE TRIGGER refuse_points BEFORE INSERT ON docs FOR EACH ROW EXECUTE FUNCTION refuse_points()`,
	} {
		if _, err := pg.Exec(b.ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	o := protection.BackupOptions{NewJob: &protection.Job{VaultID: it.VaultID, ItemID: it.ID, ItemName: it.Name, Operation: protection.OpBackup,
		Status: protection.JobInProgress, StartTime: b.clk.Now()}}
	for try, delay := range []time.Duration{time.Second, 2 * time.Second} {
		_, err := b.engine.Backup(b.ctx, faceName, "job-blip", o)
		var re *job.RetryError
		if !errors.As(err, &re) || !errors.Is(err, store.ErrUnavailable) || re.Delay != delay {
			t.Fatalf("run %d: %v, want a job.Retry in %s of the database out of reach", try+1, err, delay)
		}
		if j, err := protection.GetJob(b.ctx, b.store, "", "job-blip"); err != nil || j.Status != protection.JobInProgress || j.TransientRetries != try+1 {
			t.Fatalf("run %d: job %+v %v", try+1, j, err)
		}
	}
	j, err := b.engine.Backup(b.ctx, faceName, "job-blip", o)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, j, protection.JobFailed)
	if j.Error.Code != protection.CodeBackupFailed || !strings.Contains(j.Error.Message, "metadata database was out of reach") ||
		len(j.Error.RecommendedAction) == 0 || !strings.Contains(j.Error.RecommendedAction[0], "--store") {
		t.Fatalf("the job's error: %+v", j.Error)
	}
	if pts := b.points(t, it); len(pts) != 0 {
		t.Fatalf("%d points", len(pts))
	}
	// The snapshots its runs took for the point it could not record go
	// with the job's end (they stayed, owned by no point, for ever).
	if snaps, err := b.compute.ListSnapshots(b.ctx, "/subscriptions/"+testSub); err != nil || len(snaps) != 0 {
		t.Fatalf("snapshots after the backup failed: %d, %v, want none", len(snaps), err)
	}
	if _, err := pg.Exec(b.ctx, `DROP TRIGGER refuse_points ON docs`); err != nil {
		t.Fatal(err)
	}
	b.clk.Advance(time.Hour)
	wantStatus(t, b.backup(t, it, protection.BackupOptions{}), protection.JobCompleted)
	if pts := b.points(t, it); len(pts) != 1 {
		t.Fatalf("%d points, want 1", len(pts))
	}
}

// TestRestoreKeepsItsDisksForItsNextRun: PostgreSQL refuses, once, the
// write of a restore's second disk (57P01, the database going away), and
// then the delete of its first: the run leaves both to its next (a
// job.Retry), which keeps the first disk it made and makes the second, and
// the job ends Completed with both disks holding the point's bytes.
// Before, the run deleted the disks it had made as for a failure that ends
// the job, and when that delete met the database out of reach too the job
// ended Failed naming the disks kept.
func TestRestoreKeepsItsDisksForItsNextRun(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	b := setupWith(t, t.TempDir(), func(ctx context.Context, clk clock.Clock) (store.Store, error) {
		return store.OpenPostgres(ctx, url, clk)
	})
	it := b.protect(t, "vm", 2, "", nil)
	var want [][]byte
	for _, d := range b.face.disks[it.ID] {
		want = append(want, b.read(t, d))
	}
	bj := b.backup(t, it, protection.BackupOptions{})
	wantStatus(t, bj, protection.JobCompleted)
	target := func(i int) string {
		return strings.ToLower(arm.NewID(testSub, "restored", "Microsoft.Compute", "disks", fmt.Sprintf("vm-blip-%d", i)).String())
	}
	pg := b.store.(*store.Postgres).Pool()
	for _, q := range []string{
		`CREATE SEQUENCE refuse_ins`,
		`CREATE SEQUENCE refuse_del`,
		`CREATE FUNCTION refuse_ins() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.kind = 'resource' AND NEW.key = '` + target(1) + `' AND nextval('refuse_ins') = 1 THEN
				RAISE EXCEPTION 'terminating connection due to administrator command (the test''s)' USING ERRCODE = '57P01';
			END IF;
			RETURN NEW;
		END $$`,
		`CREATE FUNCTION refuse_del() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF OLD.kind = 'resource' AND OLD.key = '` + target(0) + `' AND nextval('refuse_del') = 1 THEN
				RAISE EXCEPTION 'terminating connection due to administrator command (the test''s)' USING ERRCODE = '57P01';
			END IF;
			RETURN OLD;
		END $$`,
		`CREATE TRIGGER refuse_ins BEFORE INSERT ON docs FOR EACH ROW EXECUTE FUNCTION refuse_ins()`,
		`CREATE TRIGGER refuse_del BEFORE DELETE ON docs FOR EACH ROW EXECUTE FUNCTION refuse_del()`,
	} {
		if _, err := pg.Exec(b.ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	jobID := b.restoreJob(t, it)
	j, _, err := b.restoreWith(it, jobID, bj.RecoveryPointID, "blip", nil)
	var re *job.RetryError
	if !errors.As(err, &re) || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("the restore's first run: %v (job %+v), want a job.Retry of the database out of reach", err, j)
	}
	j, ids, err := b.restoreWith(it, jobID, bj.RecoveryPointID, "blip", nil)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, j, protection.JobCompleted)
	for i, id := range ids {
		if !bytes.Equal(b.read(t, id), want[i]) {
			t.Fatalf("restored disk %d differs", i)
		}
	}
}

// TestRestoreOutOfRetriesDeletesItsDisks: PostgreSQL refuses every write
// of a restore's second disk (57P01): each run keeps the first disk it
// made for the next, and when the tries run out the job ends Failed and
// the first disk goes with it. It stayed, made by a failed restore.
func TestRestoreOutOfRetriesDeletesItsDisks(t *testing.T) {
	b, it, bj, jobID := restoreMeetingRefusals(t, 1)
	for {
		j, _, err := b.restoreWith(it, jobID, bj.RecoveryPointID, "blip", nil)
		var re *job.RetryError
		if errors.As(err, &re) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		wantStatus(t, j, protection.JobFailed)
		break
	}
	if ds, err := b.compute.ListDisks(b.ctx, "/subscriptions/"+testSub+"/resourceGroups/restored"); err != nil || len(ds) != 0 {
		t.Fatalf("disks after the restore failed: %d, %v, want none", len(ds), err)
	}
}

// TestCancelledRestoreMeetingTheDatabaseOutOfReachEndsCancelled: a
// restore whose cancellation was requested while it ran (in the store, as
// another replica's face records it) meets PostgreSQL refusing a write
// (57P01): it ends Cancelled, not Failed, and its disks go.
func TestCancelledRestoreMeetingTheDatabaseOutOfReachEndsCancelled(t *testing.T) {
	b, it, bj, jobID := restoreMeetingRefusals(t, 10)
	_, _, err := b.restoreWith(it, jobID, bj.RecoveryPointID, "blip", nil)
	var re *job.RetryError
	if !errors.As(err, &re) {
		t.Fatalf("the restore's first run: %v, want a job.Retry", err)
	}
	if err := b.store.Update(b.ctx, func(tx store.Tx) error {
		j, err := protection.GetJob(b.ctx, tx, "", jobID)
		if err != nil {
			return err
		}
		j.Status = "Cancelling"
		if j.Details == nil {
			j.Details = map[string]string{}
		}
		j.Details[protection.DetailCancelRequested] = "true"
		return protection.PutJob(b.ctx, tx, j)
	}); err != nil {
		t.Fatal(err)
	}
	j, _, err := b.restoreWith(it, jobID, bj.RecoveryPointID, "blip", nil)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, j, protection.JobCancelled)
	if ds, err := b.compute.ListDisks(b.ctx, "/subscriptions/"+testSub+"/resourceGroups/restored"); err != nil || len(ds) != 0 {
		t.Fatalf("disks after the restore was cancelled: %d, %v, want none", len(ds), err)
	}
}

// restoreMeetingRefusals is a bundle on PostgreSQL with a backed-up item
// of two disks, its engine allowed retries transient retries, the store
// refusing (57P01) every write of the second disk a restore "blip" makes,
// and a restore job of the item's point.
func restoreMeetingRefusals(t *testing.T, retries int) (*bundle, *protection.Item, *protection.Job, string) {
	url := testsvc.PostgresSchema(t)
	b := setupWith(t, t.TempDir(), func(ctx context.Context, clk clock.Clock) (store.Store, error) {
		return store.OpenPostgres(ctx, url, clk)
	})
	b.engine.TransientRetries = retries
	it := b.protect(t, "vm", 2, "", nil)
	bj := b.backup(t, it, protection.BackupOptions{})
	wantStatus(t, bj, protection.JobCompleted)
	second := strings.ToLower(arm.NewID(testSub, "restored", "Microsoft.Compute", "disks", "vm-blip-1").String())
	pg := b.store.(*store.Postgres).Pool()
	for _, q := range []string{
		`CREATE FUNCTION refuse_ins() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.kind = 'resource' AND NEW.key = '` + second + `' THEN
				RAISE EXCEPTION 'terminating connection due to administrator command (the test''s)' USING ERRCODE = '57P01';
			END IF;
			RETURN NEW;
		END $$`,
		`CREATE TRIGGER refuse_ins BEFORE INSERT ON docs FOR EACH ROW EXECUTE FUNCTION refuse_ins()`,
	} {
		if _, err := pg.Exec(b.ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	return b, it, bj, b.restoreJob(t, it)
}

// TestBackupWhoseEndWasNotRecordedDeletesItsSnapshotsLater: a backup
// takes its snapshot, then PostgreSQL refuses (57P01) the write of its
// point and every write of the job after it, so the run's end is not
// recorded (a job.Retry). The item's protection is stopped before the
// next run, which ends the job Failed without a point: the snapshot the
// first run took goes with it. It stayed, owned by nothing, for ever: the
// first run had counted it only in memory (found by the session's known
// list).
func TestBackupWhoseEndWasNotRecordedDeletesItsSnapshotsLater(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	b := setupWith(t, t.TempDir(), func(ctx context.Context, clk clock.Clock) (store.Store, error) {
		return store.OpenPostgres(ctx, url, clk)
	})
	it := b.protect(t, "vm", 2, "", nil)
	pg := b.store.(*store.Postgres).Pool()
	exec := func(qs ...string) {
		t.Helper()
		for _, q := range qs {
			if _, err := pg.Exec(b.ctx, q); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The outage begins with the point's write (a sequence: its nextval
	// outlives the refused transaction) and takes every job write after.
	exec(`CREATE SEQUENCE outage`,
		`CREATE FUNCTION refuse_after_point() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.kind = 'protection.rp' THEN
				PERFORM nextval('outage');
			END IF;
			IF NEW.kind = 'protection.rp' OR (NEW.kind = 'protection.job' AND (SELECT is_called FROM outage)) THEN
				RAISE EXCEPTION 'terminating connection due to administrator command (the test''s)' USING ERRCODE = '57P01';
			END IF;
			RETURN NEW;
		END $$`,
		`CREATE TRIGGER refuse_after_point BEFORE INSERT OR UPDATE ON docs FOR EACH ROW EXECUTE FUNCTION refuse_after_point()`)
	o := protection.BackupOptions{NewJob: &protection.Job{VaultID: it.VaultID, ItemID: it.ID, ItemName: it.Name, Operation: protection.OpBackup,
		Status: protection.JobInProgress, StartTime: b.clk.Now()}}
	_, err := b.engine.Backup(b.ctx, faceName, "job-cut", o)
	var re *job.RetryError
	if !errors.As(err, &re) || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("the first run: %v, want a job.Retry of the database out of reach", err)
	}
	if snaps, err := b.compute.ListSnapshots(b.ctx, "/subscriptions/"+testSub); err != nil || len(snaps) != 2 {
		t.Fatalf("snapshots after the first run: %d, %v, want its 2", len(snaps), err)
	}
	exec(`DROP TRIGGER refuse_after_point ON docs`)
	b.face.mu.Lock()
	b.face.items[it.ID].State = protection.ItemStopped
	b.face.mu.Unlock()
	j, err := b.engine.Backup(b.ctx, faceName, "job-cut", o)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, j, protection.JobFailed)
	if j.Error.Code != protection.CodeProtectionChanged || j.RecoveryPointID != "" || len(j.Leftovers) != 0 {
		t.Fatalf("the job: %+v, error %+v", j, j.Error)
	}
	if snaps, err := b.compute.ListSnapshots(b.ctx, "/subscriptions/"+testSub); err != nil || len(snaps) != 0 {
		t.Fatalf("snapshots after the backup failed: %d, %v, want none", len(snaps), err)
	}
}

// TestJobsStartedAtOneInstantListNewestMadeFirst: jobs started while the
// clock stands still (frozen by a clock set or advance, as after an
// operator set it back) share their start time; the list answers them
// newest made first, and pages through them (JobPage, by key) in that
// order. They were listed in the order of their random ids.
func TestJobsStartedAtOneInstantListNewestMadeFirst(t *testing.T) {
	b := setup(t)
	it := b.protect(t, "vm", 1, "", nil)
	at := b.clk.Now()
	var made []string
	for i := 0; i < 8; i++ {
		j := protection.NewJob(it.VaultID, it.ID, protection.OpBackup, true, at)
		if err := b.store.Update(b.ctx, func(tx store.Tx) error { return protection.CreateJob(b.ctx, tx, j) }); err != nil {
			t.Fatal(err)
		}
		made = append(made, j.ID)
	}
	js, err := protection.ListJobs(b.ctx, b.store, it.VaultID, protection.JobFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var paged []string
	after := ""
	for {
		page, last, more, err := b.engine.JobPage(b.ctx, b.store, it.VaultID, "test", protection.JobFilter{}, nil, after, 0, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range page {
			paged = append(paged, j.ID)
		}
		if !more {
			break
		}
		after = last
	}
	for i, j := range js {
		if want := made[len(made)-1-i]; j.ID != want || paged[i] != want {
			t.Fatalf("job %d listed: %s, paged: %s, want %s (the %d. made)", i, j.ID, paged[i], want, len(made)-i)
		}
	}
}

// TestRestoreWhoseEndWasNotRecordedDeletesItsDisksLater: a restore makes
// its first disk, then PostgreSQL refuses (57P01) the second disk and
// every job write after it, so the run's end is not recorded (a
// job.Retry). The point expires before the next run, which ends the job
// Failed (UserErrorRecoveryPointNotFound): the disk the first run made
// goes with it, while a disk of the second target's name that someone
// else made meanwhile stays. The first disk stayed: the run had counted
// it only in memory.
func TestRestoreWhoseEndWasNotRecordedDeletesItsDisksLater(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	b := setupWith(t, t.TempDir(), func(ctx context.Context, clk clock.Clock) (store.Store, error) {
		return store.OpenPostgres(ctx, url, clk)
	})
	it := b.protect(t, "vm", 2, "", nil)
	bj := b.backup(t, it, protection.BackupOptions{})
	wantStatus(t, bj, protection.JobCompleted)
	second := arm.NewID(testSub, "restored", "Microsoft.Compute", "disks", "vm-cut-1").String()
	pg := b.store.(*store.Postgres).Pool()
	for _, q := range []string{
		`CREATE SEQUENCE outage`,
		`CREATE FUNCTION refuse_after_disk() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.kind = 'resource' AND NEW.key = '` + strings.ToLower(second) + `' THEN
				PERFORM nextval('outage');
			END IF;
			IF (NEW.kind = 'resource' AND NEW.key = '` + strings.ToLower(second) + `') OR (NEW.kind = 'protection.job' AND (SELECT is_called FROM outage)) THEN
				RAISE EXCEPTION 'terminating connection due to administrator command (the test''s)' USING ERRCODE = '57P01';
			END IF;
			RETURN NEW;
		END $$`,
		`CREATE TRIGGER refuse_after_disk BEFORE INSERT OR UPDATE ON docs FOR EACH ROW EXECUTE FUNCTION refuse_after_disk()`,
	} {
		if _, err := pg.Exec(b.ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	jobID := b.restoreJob(t, it)
	_, _, err := b.restoreWith(it, jobID, bj.RecoveryPointID, "cut", nil)
	var re *job.RetryError
	if !errors.As(err, &re) || !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("the restore's first run: %v, want a job.Retry of the database out of reach", err)
	}
	if _, err := pg.Exec(b.ctx, `DROP TRIGGER refuse_after_disk ON docs`); err != nil {
		t.Fatal(err)
	}
	// The second target's name, taken meanwhile by someone else.
	if _, err := b.compute.CreateDisk(b.ctx, compute.DiskSpec{ID: second, Location: "westus", CreateOption: "Empty", SizeBytes: diskSize}); err != nil {
		t.Fatal(err)
	}
	if err := b.store.Update(b.ctx, func(tx store.Tx) error { return protection.DeleteRecoveryPoint(b.ctx, tx, it.ID, bj.RecoveryPointID) }); err != nil {
		t.Fatal(err)
	}
	j, _, err := b.restoreWith(it, jobID, bj.RecoveryPointID, "cut", nil)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, j, protection.JobFailed)
	if j.Error.Code != "UserErrorRecoveryPointNotFound" || len(j.Leftovers) != 0 {
		t.Fatalf("the job: %+v, error %+v", j, j.Error)
	}
	ds, err := b.compute.ListDisks(b.ctx, "/subscriptions/"+testSub+"/resourceGroups/restored")
	var ids []string
	for _, d := range ds {
		ids = append(ids, d.ID)
	}
	if err != nil || len(ids) != 1 || !strings.EqualFold(ids[0], second) {
		t.Fatalf("disks after the restore failed: %v (%v), want only the other's %s", ids, err, second)
	}
}
