package dataprotection_test

import (
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/snapshot"
	"github.com/safehold/safehold/store"
)

// runUntil moves the fake clock to at and waits until the instance's
// schedule task is planned after at (the run at at is done).
func runUntil(t *testing.T, e *testserver.Env, clk *clock.Fake, biID string, at time.Time) {
	t.Helper()
	clk.Set(at)
	for i := 0; ; i++ {
		e.Server.Jobs.Notify()
		task, err := e.Server.Store.GetTaskByKey(e.Ctx(), protection.TaskKey(biID))
		if err == nil && task.RunAt.After(at) {
			return
		}
		if i > 20000 {
			t.Fatalf("run at %v did not finish (task %+v, %v)", at, task, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

type pointView struct {
	Time time.Time
	Tag  string
}

func listPoints(t *testing.T, e *testserver.Env, biPath string) ([]pointView, []string) {
	t.Helper()
	var out []pointView
	var snaps []string
	url := biPath + "/recoveryPoints?api-version=2024-04-01"
	for url != "" {
		resp, m := e.Do("GET", url, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("list points: %d %v", resp.StatusCode, m)
		}
		for _, x := range m["value"].([]any) {
			p := x.(map[string]any)["properties"].(map[string]any)
			tm, _ := time.Parse(time.RFC3339Nano, p["recoveryPointTime"].(string))
			out = append(out, pointView{tm.UTC(), p["retentionTagName"].(string)})
			snaps = append(snaps, strings.ToLower(pointSnapshot(t, e, x.(map[string]any)["id"].(string))))
		}
		url, _ = m["nextLink"].(string)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	sort.Strings(snaps)
	return out, snaps
}

// pointSnapshot is the id of the snapshot a disk point's GET describes in
// its operational store's metaData (a list answers metaData null).
func pointSnapshot(t *testing.T, e *testserver.Env, pointID string) string {
	t.Helper()
	resp, m := e.Do("GET", pointID+"?api-version=2025-07-01", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("point %s: %d %v", pointID, resp.StatusCode, m)
	}
	d := m["properties"].(map[string]any)["recoveryPointDataStoresDetails"].([]any)[0].(map[string]any)
	meta, _ := d["metaData"].(string)
	var snaps []struct{ SnapshotSubscriptionID, SnapshotRGName, SnapshotName string }
	if err := json.Unmarshal([]byte(meta), &snaps); err != nil || len(snaps) != 1 {
		t.Fatalf("point %s: metaData %q: %v", pointID, meta, err)
	}
	s := snaps[0]
	return "/subscriptions/" + s.SnapshotSubscriptionID + "/resourceGroups/" + s.SnapshotRGName + "/providers/Microsoft.Compute/snapshots/" + s.SnapshotName
}

// TestRetentionOver40Days runs a PT4H policy with Default P7D and Daily
// P30D for 40 simulated days (with a restart half-way) and checks that
// exactly the recovery points Azure would keep remain, each with its
// snapshot, and that after GC the chunk store holds nothing else.
func TestRetentionOver40Days(t *testing.T) {
	start := time.Date(2021, 1, 1, 7, 0, 0, 0, time.UTC)
	clk := clock.NewFake(start)
	e := testserver.Start(t, testserver.WithClock(clk))
	biPath, biID, diskID := protectDisk(t, e, "PT4H", "P7D", "P30D")

	first := time.Date(2021, 1, 1, 8, 0, 0, 0, time.UTC)
	end := first.Add(40 * 24 * time.Hour)
	var runs []time.Time
	for o := first; !o.After(end); o = o.Add(4 * time.Hour) {
		runs = append(runs, o)
	}
	// The clock moves in 50-minute steps, out of phase with the schedule:
	// each run is claimed up to 50 minutes late and still stands for its
	// occurrence.
	buf := make([]byte, 64<<10)
	k := 0
	for at := start.Add(50 * time.Minute); ; at = at.Add(50 * time.Minute) {
		if at.After(end) {
			at = end
		}
		// Change the disk between steps so every snapshot has its own data.
		vol, err := e.Server.Compute.Volume(e.Ctx(), diskID)
		if err != nil {
			t.Fatal(err)
		}
		for i := range buf {
			buf[i] = byte(k) ^ byte(i>>8) ^ byte(i)
		}
		if _, err := vol.WriteAt(buf, int64(k%100)*int64(len(buf))); err != nil {
			t.Fatal(err)
		}
		k++
		runUntil(t, e, clk, biID, at)
		if k == 600 {
			e.Restart() // scheduled work survives restarts
		}
		if at.Equal(end) {
			break
		}
	}

	// What Azure keeps: first backup of each UTC day is tagged Daily (kept
	// 30 days), the others Default (kept 7 days); a point whose expiry is
	// at or before now is gone.
	var want []pointView
	seenDay := map[string]bool{}
	for _, r := range runs {
		day := r.Format("2006-01-02")
		tag, keep := "Default", 7*24*time.Hour
		if !seenDay[day] {
			seenDay[day], tag, keep = true, "Daily", 30*24*time.Hour
		}
		if r.Add(keep).After(end) {
			want = append(want, pointView{r, tag})
		}
	}
	got, snapIDs := listPoints(t, e, biPath)
	if len(got) != len(want) {
		t.Fatalf("kept %d recovery points, want %d", len(got), len(want))
	}
	for i := range want {
		if !got[i].Time.Equal(want[i].Time) || got[i].Tag != want[i].Tag {
			t.Fatalf("point %d = %v %s, want %v %s", i, got[i].Time, got[i].Tag, want[i].Time, want[i].Tag)
		}
	}
	t.Logf("%d scheduled runs, %d recovery points kept (%d Daily)", len(runs), len(got), countTag(got, "Daily"))

	// Exactly those points' snapshots exist in the snapshot resource group.
	ctx := e.Ctx()
	snaps, err := e.Server.Compute.ListSnapshots(ctx, "/subscriptions/"+e.Sub+"/resourceGroups/snapshot-rg")
	if err != nil {
		t.Fatal(err)
	}
	var have []string
	for _, s := range snaps {
		have = append(have, strings.ToLower(s.ID))
	}
	sort.Strings(have)
	if strings.Join(have, ",") != strings.Join(snapIDs, ",") {
		t.Fatalf("snapshots in the snapshot RG (%d) differ from the recovery points' (%d)", len(have), len(snapIDs))
	}

	// Jobs: one Backup job per run, all completed.
	js, err := protection.ListJobs(ctx, e.Server.Store, strings.SplitN(biID, "/backupInstances/", 2)[0], protection.JobFilter{Operation: protection.OpBackup})
	if err != nil {
		t.Fatal(err)
	}
	if len(js) != len(runs) {
		t.Fatalf("%d backup jobs for %d runs", len(js), len(runs))
	}
	for _, j := range js {
		if j.Status != protection.JobCompleted {
			t.Fatalf("job %s: %s %+v", j.ID, j.Status, j.Error)
		}
	}

	// After GC only the kept snapshots' data is left.
	repo := e.Server.Compute.Repository()
	gc, err := repo.GC(ctx, snapshot.GCOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ms, err := repo.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != len(want) {
		t.Fatalf("engine has %d snapshots, want %d", len(ms), len(want))
	}
	chunks, _ := repo.Size()
	if chunks != gc.LiveChunks {
		t.Fatalf("chunk store holds %d chunks after GC, %d are live", chunks, gc.LiveChunks)
	}
	if gc2, err := repo.GC(ctx, snapshot.GCOptions{}); err != nil || gc2.LiveChunks != gc.LiveChunks {
		t.Fatalf("second GC: %+v %v", gc2, err)
	}
	t.Logf("GC: %d snapshots, %d live chunks, stats %+v", gc.Snapshots, gc.LiveChunks, gc.SweepStats)
}

func countTag(ps []pointView, tag string) int {
	n := 0
	for _, p := range ps {
		if p.Tag == tag {
			n++
		}
	}
	return n
}

// TestMissedRunsAfterDowntime checks the missed-run rule: after downtime
// an item is backed up once, at once, then resumes its cadence.
func TestMissedRunsAfterDowntime(t *testing.T) {
	clk := clock.NewFake(time.Date(2021, 1, 1, 7, 0, 0, 0, time.UTC))
	e := testserver.Start(t, testserver.WithClock(clk))
	biPath, biID, _ := protectDisk(t, e, "PT4H", "P7D", "P30D")
	runUntil(t, e, clk, biID, time.Date(2021, 1, 1, 8, 0, 0, 0, time.UTC))

	e.Stop()
	down := time.Date(2021, 1, 2, 5, 30, 0, 0, time.UTC) // five runs missed (12:00 ... 04:00)
	clk.Set(down)
	e.Restart()
	for i := 0; ; i++ {
		e.Server.Jobs.Notify()
		task, err := e.Server.Store.GetTaskByKey(e.Ctx(), protection.TaskKey(biID))
		if err == nil && task.RunAt.After(down) {
			if want := time.Date(2021, 1, 2, 8, 0, 0, 0, time.UTC); !task.RunAt.Equal(want) {
				t.Fatalf("next run after catch-up = %v, want %v", task.RunAt, want)
			}
			break
		}
		if i > 20000 {
			t.Fatal("catch-up run did not happen")
		}
		time.Sleep(2 * time.Millisecond)
	}
	got, _ := listPoints(t, e, biPath)
	if len(got) != 2 || !got[1].Time.Equal(down) || got[1].Tag != "Daily" {
		t.Fatalf("points after downtime: %+v", got)
	}
	runUntil(t, e, clk, biID, time.Date(2021, 1, 2, 8, 0, 0, 0, time.UTC))
	if got, _ = listPoints(t, e, biPath); len(got) != 3 {
		t.Fatalf("points after the next regular run: %+v", got)
	}
}

// TestSuspendStopResume checks the schedule states: suspended backups keep
// applying retention; stopped protection keeps every point; resuming
// brings backups back at the next occurrence.
func TestSuspendStopResume(t *testing.T) {
	clk := clock.NewFake(time.Date(2021, 1, 1, 7, 0, 0, 0, time.UTC))
	e := testserver.Start(t, testserver.WithClock(clk))
	biPath, biID, _ := protectDisk(t, e, "PT4H", "P1D", "P2D")
	const v = "?api-version=2024-04-01"
	day1 := time.Date(2021, 1, 1, 8, 0, 0, 0, time.UTC)
	for i := 0; i < 7; i++ { // 08:00 ... next day 08:00
		runUntil(t, e, clk, biID, day1.Add(time.Duration(i)*4*time.Hour))
	}
	if got, _ := listPoints(t, e, biPath); len(got) != 7 { // Daily 08:00, Default 12-20, Daily 00:00, Default 04-08
		t.Fatalf("points after a day: %d %+v", len(got), got)
	}
	action := func(name string) {
		t.Helper()
		resp, m := e.Do("POST", biPath+"/"+name+v, nil)
		if resp.StatusCode != 202 {
			t.Fatalf("%s: %d %v", name, resp.StatusCode, m)
		}
		if st := e.Poll(resp.Header.Get("Azure-AsyncOperation")); st["status"] != "Succeeded" {
			t.Fatalf("%s: %v", name, st)
		}
	}
	snapCount := func() int { return snapshotCount(t, e) }
	action("suspendBackups")
	// Suspended: no backups, but the Default points of day one expire and
	// their snapshots are deleted.
	clk.Set(day1.Add(40 * time.Hour))
	waitPruned(t, e, biID, 4)
	got, snaps := listPoints(t, e, biPath)
	if len(got) != 4 || snapCount() != 4 || got[0].Tag != "Daily" || got[1].Tag != "Daily" || !got[3].Time.Equal(day1.Add(24*time.Hour)) {
		t.Fatalf("suspended points: %+v (%d snapshots)", got, snapCount())
	}
	// Stopped: nothing expires any more.
	action("stopProtection")
	clk.Set(day1.Add(10 * 24 * time.Hour))
	e.Server.Jobs.Notify()
	if got2, snaps2 := listPoints(t, e, biPath); len(got2) != 4 || snapCount() != 4 || strings.Join(snaps2, ",") != strings.Join(snaps, ",") {
		t.Fatalf("stopped points: %+v", got2)
	}
	if n, err := e.Server.Store.GetTaskByKey(e.Ctx(), protection.TaskKey(biID)); err == nil {
		t.Fatalf("stopped instance still scheduled at %v", n.RunAt)
	}
	// Resumed: the next occurrence backs up and old points expire again.
	action("resumeProtection")
	next := day1.Add(10*24*time.Hour + 4*time.Hour)
	runUntil(t, e, clk, biID, next)
	got, _ = listPoints(t, e, biPath)
	if len(got) != 1 || !got[0].Time.Equal(next) {
		t.Fatalf("points after resume: %+v", got)
	}
}

// TestSuspendedKeepsItsLatestPoint: suspending backups keeps the points
// as the policy says, except the latest, which stays past its expiry while
// the instance is suspended (as Azure's suspendBackups: "except latest
// Recovery point, which will be retained forever"), listed and readable:
// every point of a suspended instance expired, the last one and its
// snapshot with them, which left it with no backup at all. Resumed, the
// schedule runs again and the kept point expires as it would have.
func TestSuspendedKeepsItsLatestPoint(t *testing.T) {
	clk := clock.NewFake(time.Date(2021, 1, 1, 7, 0, 0, 0, time.UTC))
	e := testserver.Start(t, testserver.WithClock(clk))
	_, biID, _ := protectDisk(t, e, "PT4H", "P1D", "")
	day1 := time.Date(2021, 1, 1, 8, 0, 0, 0, time.UTC)
	for i := 0; i < 3; i++ { // 08:00, 12:00, 16:00
		runUntil(t, e, clk, biID, day1.Add(time.Duration(i)*4*time.Hour))
	}
	ctx := e.Ctx()
	f := testserver.Factory(e, armdataprotection.NewClientFactory)
	bis := f.NewBackupInstancesClient()
	sp, err := bis.BeginSuspendBackups(ctx, "vault-rg", "v1", "d1-bi", nil)
	fixture.Done(t, sp, err)
	latest := day1.Add(8 * time.Hour)
	points := func() []*armdataprotection.AzureBackupRecoveryPointResource {
		var out []*armdataprotection.AzureBackupRecoveryPointResource
		for p := range fixture.Pages(t, f.NewRecoveryPointsClient().NewListPager("vault-rg", "v1", "d1-bi", nil)) {
			out = append(out, p.Value...)
		}
		return out
	}
	clk.Set(day1.Add(10 * 24 * time.Hour)) // every point's P1D is long past
	waitPruned(t, e, biID, 1)
	pts := points()
	if len(pts) != 1 {
		t.Fatalf("a suspended instance lists %d points, want its latest", len(pts))
	}
	rp := pts[0].Properties.(*armdataprotection.AzureBackupDiscreteRecoveryPoint)
	if !rp.RecoveryPointTime.Equal(latest) {
		t.Fatalf("kept point at %v, want the latest (%v)", rp.RecoveryPointTime, latest)
	}
	if _, err := f.NewRecoveryPointsClient().Get(ctx, "vault-rg", "v1", "d1-bi", *pts[0].Name, nil); err != nil {
		t.Fatalf("the kept point: %v", err)
	}
	// With nothing left to expire, the suspended instance's schedule has
	// no further run: resume once its last one has ended (a resume racing
	// that run is not this test's subject).
	e.WaitFor("the suspended schedule's last run", func() bool {
		e.Server.Jobs.Notify()
		_, err := e.Server.Store.GetTaskByKey(ctx, protection.TaskKey(biID))
		return errors.Is(err, store.ErrNotFound)
	})
	rbp, err := bis.BeginResumeBackups(ctx, "vault-rg", "v1", "d1-bi", nil)
	fixture.Done(t, rbp, err)
	next := day1.Add(10*24*time.Hour + 4*time.Hour)
	runUntil(t, e, clk, biID, next)
	if pts := points(); len(pts) != 1 || !pts[0].Properties.(*armdataprotection.AzureBackupDiscreteRecoveryPoint).RecoveryPointTime.Equal(next) {
		t.Fatalf("resumed: %d points, want the new backup alone (the kept one expired)", len(pts))
	}
}

// snapshotCount is the number of snapshots in snapshot-rg.
func snapshotCount(t *testing.T, e *testserver.Env) int {
	t.Helper()
	snaps, err := e.Server.Compute.ListSnapshots(e.Ctx(), "/subscriptions/"+e.Sub+"/resourceGroups/snapshot-rg")
	if err != nil {
		t.Fatal(err)
	}
	return len(snaps)
}

// waitPruned waits (two minutes at most) until the instance biID has n
// recovery points in the store, expired or not, and snapshot-rg n
// snapshots: retention has pruned the rest.
func waitPruned(t *testing.T, e *testserver.Env, biID string, n int) {
	t.Helper()
	stored := func() int {
		pts, err := protection.ListRecoveryPoints(e.Ctx(), e.Server.Store, biID)
		if err != nil {
			t.Fatal(err)
		}
		return len(pts)
	}
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline) && (snapshotCount(t, e) != n || stored() != n); {
		e.Server.Jobs.Notify()
		time.Sleep(2 * time.Millisecond)
	}
	if got, st := snapshotCount(t, e), stored(); got != n || st != n {
		t.Fatalf("%d snapshots and %d stored recovery points, want %d", got, st, n)
	}
}

// A disk the fixtures protect on a server on real time has its first
// scheduled backup two hours away (fixture.ScheduleStart): a test on real
// time sees no scheduled backup among its steps, whatever the hour it runs
// at (from 08:00 UTC, a PT4H schedule ran at midnight).
func TestProtectDiskOnRealTimePlansNoBackupSoon(t *testing.T) {
	e := testserver.Start(t)
	dv := fixture.ProtectDisk(t, e)
	biID := "/subscriptions/" + e.Sub + "/resourceGroups/" + dv.RG + "/providers/Microsoft.DataProtection/backupVaults/" + dv.Vault + "/backupInstances/" + dv.Instance
	task, err := e.Server.Store.GetTaskByKey(e.Ctx(), protection.TaskKey(biID))
	if err != nil {
		t.Fatalf("the instance's schedule: %v", err)
	}
	if d := time.Until(task.RunAt); d < 100*time.Minute || d > 2*time.Hour {
		t.Fatalf("the first scheduled backup is due at %v, %v from now: want about two hours", task.RunAt, d.Round(time.Second))
	}
}

// TestPointTimesAreUTC: a recovery point of a policy whose schedule has a
// time zone answers its times in UTC ('Z'), as Azure does and as its
// expiryTime and the jobs' times already were: recoveryPointTime and the
// data store's creationTime carried the zone's offset
// (2020-12-31T23:00:00-08:00).
func TestPointTimesAreUTC(t *testing.T) {
	clk := clock.NewFake(time.Date(2021, 1, 1, 7, 0, 0, 0, time.UTC))
	e := testserver.Start(t, testserver.WithClock(clk))
	biPath, biID, _ := protectDisk(t, e, "PT4H", "P7D", "")
	pol := fixture.DiskPolicy("PT4H", "P7D", "")
	pol.Properties.(*armdataprotection.BackupPolicy).PolicyRules[0].(*armdataprotection.AzureBackupRule).Trigger.(*armdataprotection.ScheduleBasedTriggerContext).Schedule.TimeZone = to.Ptr("Pacific Standard Time")
	if resp, m := e.Do("PUT", v1Path(e)+"/backupPolicies/p1?api-version=2024-04-01", pol); resp.StatusCode != 200 {
		t.Fatalf("policy in Pacific time: %d %v", resp.StatusCode, m)
	}
	runUntil(t, e, clk, biID, time.Date(2021, 1, 1, 8, 0, 0, 0, time.UTC))
	resp, m := e.Do("GET", biPath+"/recoveryPoints?api-version=2025-07-01", nil)
	vals, _ := m["value"].([]any)
	if resp.StatusCode != 200 || len(vals) != 1 {
		t.Fatalf("points: %d %v", resp.StatusCode, m)
	}
	p := vals[0].(map[string]any)
	field := func(m any, path string) string { s, _ := testserver.Field(m.(map[string]any), path).(string); return s }
	times := []string{field(p, "properties.recoveryPointTime"), field(p, "properties.expiryTime")}
	for _, d := range testserver.Field(p, "properties.recoveryPointDataStoresDetails").([]any) {
		times = append(times, field(d, "creationTime"), field(d, "expiryTime"))
	}
	for _, s := range times {
		if at, err := time.Parse(time.RFC3339Nano, s); err != nil || !strings.HasSuffix(s, "Z") || !at.Equal(time.Date(2021, 1, 1, 8, 0, 0, 0, time.UTC)) && !at.Equal(time.Date(2021, 1, 8, 8, 0, 0, 0, time.UTC)) {
			t.Errorf("point time %q: want UTC ('Z') at the run or its expiry (%v)", s, err)
		}
	}
}
