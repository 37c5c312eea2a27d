package web_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/store"
)

// TestDashboardInBrowser runs web/browser/dashboard.cjs in Debian's
// chromium (playwright-core from npm; .ci/browser.sh installs both): it
// signs in, triggers a backup of a disk in a Backup vault and watches its
// job's progress move, opens the item's recovery points, restores one to a
// new disk and finds the disk. It skips when chromium or playwright-core
// are missing, except under CI=true, where it fails. No step depends on the
// machine's speed: the browser releases the backup's hold once it has seen
// it in progress, and waits for what the page shows (minutes at most).
//
// First it checks the jobs' window with more jobs than a page: seeded jobs
// (150 in the Backup vault and 250 in the Recovery Services vault 2-6 days
// old, and 1,100 more in the Backup vault 8-25 days old) show in the
// default 7 days, none in 24 hours, and in 30 days the Backup vault's
// newest 1,000 with a note saying the list was cut; switching windows reads
// no recovery points (no job ended, bar a scheduled one).
func TestDashboardInBrowser(t *testing.T) {
	chromium, node := browser(t)

	e := testserver.Start(t)
	dv := fixture.ProtectDisk(t, e)
	dv.Backup(t, e)
	vm := fixture.ProtectVM(t, e)
	dpVault := "/subscriptions/" + e.Sub + "/resourceGroups/" + dv.RG + "/providers/Microsoft.DataProtection/backupVaults/" + dv.Vault
	rsVault := "/subscriptions/" + e.Sub + "/resourceGroups/" + vm.RG + "/providers/Microsoft.RecoveryServices/vaults/" + vm.Vault
	seedJobs(t, e, dpVault, 150, 2*24*time.Hour, 6*24*time.Hour)
	seedJobs(t, e, dpVault, 1100, 8*24*time.Hour, 25*24*time.Hour)
	seedJobs(t, e, rsVault, 250, 2*24*time.Hour, 6*24*time.Hour)
	// Enough changed data that the next backup takes a while and its
	// progress is seen between 0 and 100.
	dv.WriteRandom(t, e, 16<<20, 512<<20)
	e.ResourceGroups("norole-rg") // the vault's identity has no role here: a restore into it fails
	// A backup of each vault started 30 hours ago and still running (held
	// by a fault rule until the browser deletes it, 10 minutes at most: the
	// browser checks them first thing): shown in the 24 hours window until
	// they end.
	oldDP := holdOldJob(t, e, dpVault, "hold-old-dp", "*/backupInstances/"+dv.Instance, func() {
		if _, err := dv.StartBackup(t, e); err != nil {
			t.Fatal(err)
		}
	})
	oldRS := holdOldJob(t, e, rsVault, "hold-old-rs", "*/protectedItems/"+vm.Item, func() { vm.Backup(t, e) })
	// The backup the browser starts is held InProgress (a latency fault
	// rule on the item's backups) until the browser has seen it so in the
	// dashboard and deletes the rule, which releases it: the dashboard's
	// poll sees it below 100 however slow the machine or the browser is.
	resp, m := e.Do("POST", "/providers/Safehold.Admin/faultRules?api-version=2024-01-01",
		map[string]any{"name": "hold-browser-backup", "operation": "backup", "path": "*/backupInstances/" + dv.Instance, "latency": "10m"})
	if resp.StatusCode != 201 {
		t.Fatalf("fault rule: %d %v", resp.StatusCode, m)
	}

	shots := screenshotDir(t)
	r := testsvc.Run(t, 20*time.Minute, append(os.Environ(), "SAFEHOLD_HOLD_RULE=hold-browser-backup", "SAFEHOLD_URL="+e.Conn.ARMEndpoint, "SAFEHOLD_CLIENT_ID="+e.Conn.ClientID, "SAFEHOLD_CLIENT_SECRET="+e.Conn.ClientSecret,
		"SAFEHOLD_SCREENSHOT_DIR="+shots, "SAFEHOLD_ITEM="+dv.Instance, "SAFEHOLD_RESTORE_DISK=restored-ui", "SAFEHOLD_RESTORE_RG=target-rg",
		"SAFEHOLD_NOROLE_RG=norole-rg", "SAFEHOLD_SEEDED_ITEM="+seededItem, "SAFEHOLD_DP_VAULT="+dv.Vault, "SAFEHOLD_RS_VAULT="+vm.Vault, "SAFEHOLD_OLD_JOBS="+oldDP+","+oldRS, "SAFEHOLD_OLD_RULES=hold-old-dp,hold-old-rs", "SAFEHOLD_CHROMIUM="+chromium), node, "browser/dashboard.cjs")
	var sum struct {
		Progress []struct {
			P      *int
			Status string
		}
		BackupStatus, RestoreStatus, Storage, Flash, Error, FailedJobPanel, RestoreJobPanel string
		Points                                                                              int
		DiskListed                                                                          bool
		Errors, FailedLoads                                                                 []string
		Hold                                                                                struct{ Hits, Status int }
		Windows                                                                             map[string]struct {
			Heading, Cut           string
			DP, RS, SeedDP, SeedRS int
		}
		// The old running jobs' rows in the 24 hours window while they ran
		// (and the status line then), and once released.
		OldRunning, OldEnded map[string]string
		RunningStatus        string
		PointReads           int
		// The Jobs view's rows and paging note of each window as first
		// drawn (before "Show all").
		Paging map[string]struct {
			Rows int
			Note string
		}
		SwitchLoads int
		RSJobLists  []string
	}
	if err := json.Unmarshal([]byte(lastLine(r.Stdout)), &sum); err != nil || r.Code != 0 {
		t.Fatalf("browser run: exit status %d, %v\nstdout: %s\nstderr: %s", r.Code, err, r.Stdout, r.Stderr)
	}
	t.Logf("browser: %s (screenshots in %s)", strings.TrimSpace(r.Stdout), shots)
	if sum.BackupStatus != "Completed" || sum.RestoreStatus != "Completed" || !sum.DiskListed || sum.Points < 2 || len(sum.Errors) != 0 {
		t.Fatalf("browser summary: %+v", sum)
	}
	checkWindows(t, sum.Windows, sum.PointReads, sum.SwitchLoads, sum.RSJobLists, dv.Vault)
	// A window of more than 200 jobs draws the newest 200 and says how
	// many there are (it drew every row, 1,400 in 30 days, every second
	// while a job ran); "Show all" draws the rest (the counts above).
	for w, want := range map[string]int{"7": sum.Windows["7"].DP + sum.Windows["7"].RS, "30": sum.Windows["30"].DP + sum.Windows["30"].RS} {
		if p := sum.Paging[w]; p.Rows != 200 || !strings.Contains(p.Note, fmt.Sprintf("newest 200 of %d jobs", want)) {
			t.Errorf("the Jobs view of %s days first drew %d rows, noting %q; want 200 and a note of the %d jobs", w, p.Rows, p.Note, want)
		}
	}
	if p := sum.Paging["1"]; p.Note != "" || p.Rows == 0 || p.Rows >= 200 {
		t.Errorf("the Jobs view of 24 hours drew %d rows noting %q; want all of its few jobs, no note", p.Rows, p.Note)
	}
	for _, j := range []string{oldDP, oldRS} {
		if sum.OldRunning[j] != "InProgress" || sum.OldEnded[j] != "Completed" {
			t.Errorf("the job %s started 30 hours ago, in the 24 hours window: %q while held, %q once released (want InProgress, then Completed)", j, sum.OldRunning[j], sum.OldEnded[j])
		}
	}
	if !strings.Contains(sum.RunningStatus, "refreshing every second") {
		t.Errorf("with jobs running older than the 24 hours window, the status line said %q (want refreshing every second)", sum.RunningStatus)
	}
	// Every list the dashboard read, it could read (one it could not shows
	// empty, and the status line says so).
	if len(sum.FailedLoads) != 0 {
		t.Errorf("the dashboard could not read some lists:\n%s", strings.Join(sum.FailedLoads, "\n"))
	}
	// The failed restore's panel names the error and the role to grant, where.
	for _, want := range []string{"UserErrorMissingRequiredPermissions", "Recommended action", "Disk Restore Operator", "/resourceGroups/norole-rg"} {
		if !strings.Contains(sum.FailedJobPanel, want) {
			t.Errorf("the failed restore's job panel lacks %q:\n%s", want, sum.FailedJobPanel)
		}
	}
	// The progress moved: seen in progress below 100, then 100 at the end.
	var mid, done bool
	for _, p := range sum.Progress {
		if p.Status == "InProgress" && p.P != nil && *p.P < 100 {
			mid = true
		}
		if p.Status == "Completed" && p.P != nil && *p.P == 100 {
			done = true
		}
	}
	if !mid || !done {
		t.Fatalf("progress did not move through the dashboard: %+v", sum.Progress)
	}
	// The hold applied to the browser's backup, once, and the browser's
	// delete released it.
	if sum.Hold.Hits != 1 || sum.Hold.Status != 200 {
		t.Fatalf("the fault rule holding the backup: %d hits when released, delete answered %d (want 1, 200)", sum.Hold.Hits, sum.Hold.Status)
	}
	if resp, m := e.Do("GET", "/providers/Safehold.Admin/faultRules?api-version=2024-01-01", nil); resp.StatusCode != 200 || strings.Contains(fmt.Sprint(m["value"]), "hold-browser-backup") {
		t.Fatalf("the fault rule holding the backup is still there: %d %v", resp.StatusCode, m)
	}
	// The restored disk exists, as the SDK sees it.
	dc, err := armcompute.NewDisksClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dc.Get(e.Ctx(), "target-rg", "restored-ui", nil); err != nil {
		t.Fatalf("restored disk: %v", err)
	}
}

// seededItem names the items of the jobs seedJobs makes (no item has it).
const seededItem = "seeded-history"

// seedJobs stores n completed backup jobs of vault, started between from
// and to ago (evenly), copied from the vault's own first job but for their
// item's name, as months of a schedule's history would be.
func seedJobs(t *testing.T, e *testserver.Env, vault string, n int, from, to time.Duration) {
	t.Helper()
	js, err := protection.ListJobs(e.Ctx(), e.Server.Store, vault, protection.JobFilter{})
	if err != nil || len(js) == 0 {
		t.Fatalf("jobs of %s: %d, %v", vault, len(js), err)
	}
	now := time.Now()
	err = e.Server.Store.Update(e.Ctx(), func(tx store.Tx) error {
		for i := range n {
			start := now.Add(-from - (to-from)*time.Duration(i)/time.Duration(n))
			j := protection.NewJob(vault, js[0].ItemID, protection.OpBackup, false, start)
			j.ItemName, j.Datasource, j.DatasourceType, j.DatasourceLocation = seededItem, js[0].Datasource, js[0].DatasourceType, js[0].DatasourceLocation
			j.Finish(start.Add(time.Minute), nil)
			if err := protection.CreateJob(e.Ctx(), tx, j); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// holdOldJob adds a fault rule (name, on path) holding a backup, starts
// the backup with start, and once its job is stored moves the job's start
// 30 hours back: a job running since before a 24 hours window. It answers
// the job's name.
func holdOldJob(t *testing.T, e *testserver.Env, vault, name, path string, start func()) string {
	t.Helper()
	resp, m := e.Do("POST", "/providers/Safehold.Admin/faultRules?api-version=2024-01-01",
		map[string]any{"name": name, "operation": "backup", "path": path, "latency": "10m"})
	if resp.StatusCode != 201 {
		t.Fatalf("fault rule %s: %d %v", name, resp.StatusCode, m)
	}
	start()
	var job *protection.Job
	e.WaitFor("the held backup's job in "+vault, func() bool {
		js, err := protection.ListJobs(e.Ctx(), e.Server.Store, vault, protection.JobFilter{Operation: protection.OpBackup, Status: protection.JobInProgress})
		if err != nil || len(js) == 0 {
			return false
		}
		job = js[0]
		return true
	})
	err := e.Server.Store.Update(e.Ctx(), func(tx store.Tx) error {
		j, err := protection.GetJob(e.Ctx(), tx, vault, job.ID)
		if err != nil {
			return err
		}
		j.StartTime = time.Now().Add(-30 * time.Hour)
		return protection.PutJob(e.Ctx(), tx, j)
	})
	if err != nil {
		t.Fatal(err)
	}
	return job.ID
}

// checkWindows checks what the Jobs view showed in each window (see
// TestDashboardInBrowser), that it read no recovery points while switching,
// and that it read the Recovery Services vault's jobs through $filter.
func checkWindows(t *testing.T, ws map[string]struct {
	Heading, Cut           string
	DP, RS, SeedDP, SeedRS int
}, pointReads, loads int, rsLists []string, dpVault string) {
	t.Helper()
	w7, w1, w30 := ws["7"], ws["1"], ws["30"]
	if w7.SeedDP != 150 || w7.SeedRS != 250 || w7.Cut != "" || !strings.Contains(w7.Heading, "7 days") {
		t.Errorf("7 days: %+v; want the 150 and 250 seeded jobs of the last 2-6 days, no cut", w7)
	}
	if w1.SeedDP != 0 || w1.SeedRS != 0 || w1.Cut != "" || !strings.Contains(w1.Heading, "24 hours") {
		t.Errorf("24 hours: %+v; want no seeded job, no cut", w1)
	}
	if w30.DP != 1000 || w30.SeedRS != 250 || !strings.Contains(w30.Cut, "newest 1000") || !strings.Contains(w30.Cut, dpVault) || !strings.Contains(w30.Heading, "30 days") {
		t.Errorf("30 days: %+v; want the Backup vault's newest 1000 jobs with a note naming it, the 250 seeded Recovery Services jobs", w30)
	}
	// Each of the 3+ loads read both items' points before; now none does,
	// but for one read of each (2) should a scheduled backup (the VM's
	// policy runs at 02:00 UTC) end meanwhile.
	if loads < 3 || pointReads > 2 {
		t.Errorf("switching the window made %d loads (want 3 or more), which read recovery points %d times (want none, 2 at most should a scheduled backup end)", loads, pointReads)
	}
	if len(rsLists) == 0 {
		t.Errorf("the Recovery Services vault's jobs were not read")
	}
	running := false
	for _, u := range rsLists {
		if q, err := url.QueryUnescape(u); err == nil {
			u = q
		}
		running = running || strings.Contains(u, "filter=status eq 'InProgress'")
		if !strings.Contains(u, "filter=startTime") && !strings.Contains(u, "filter=status") {
			t.Errorf("the Recovery Services vault's jobs were read without a startTime or status $filter: %s", u)
		}
	}
	if !running {
		t.Errorf("the Recovery Services vault's running jobs were not read by $filter status eq 'InProgress': %v", rsLists)
	}
}

// browser answers the chromium and node the dashboard's browser tests
// run (web/browser/*.cjs through playwright-core), skipping the test when
// one is missing (failing it under CI=true).
func browser(t *testing.T) (chromium, node string) {
	t.Helper()
	const how = "source .ci/browser.sh to install it; .ci/run does"
	testsvc.NodeModules(t, "SAFEHOLD_PLAYWRIGHT_DIR", "", "playwright-core", how)
	chromium = envOr("SAFEHOLD_CHROMIUM", "/usr/bin/chromium")
	if _, err := os.Stat(chromium); err != nil {
		testsvc.Missing(t, chromium, how)
	}
	return chromium, testsvc.Tool(t, "node", how)
}

// screenshotDir is where a browser test's screenshots go:
// SAFEHOLD_SCREENSHOT_DIR, or the test's temporary directory.
func screenshotDir(t *testing.T) string {
	t.Helper()
	shots := os.Getenv("SAFEHOLD_SCREENSHOT_DIR")
	if shots == "" {
		shots = t.TempDir()
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	return shots
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// TestDashboardFollowsTheServerClock moves the server's clock 3 days
// ahead of the browser's (clock set, which freezes it there) between two
// backups and reads the dashboard (web/browser/clock.cjs): its views
// follow the server's clock, not the browser's. The 24 hours window holds
// the backup taken after the move and not the one 3 days older; the
// jobs chart's bars count every job of that window; the item's next
// backup is within the policy's 4 hours after the server's time; the
// timeline places both recovery points between its ends; the status line
// names the server's time. With the browser's clock, the old backup was in
// the window, the new one in no bar, the next backup 3 days in the
// server's past and the new point far right of the timeline.
func TestDashboardFollowsTheServerClock(t *testing.T) {
	chromium, node := browser(t)

	e := testserver.Start(t)
	dv := fixture.ProtectDisk(t, e)
	before := dv.Backup(t, e)
	moved := time.Now().UTC().Add(3 * 24 * time.Hour).Truncate(time.Second)
	if resp, m := e.Do("POST", "/providers/Safehold.Admin/clock/set?api-version=2024-01-01", map[string]any{"time": moved.Format(time.RFC3339)}); resp.StatusCode != 200 {
		t.Fatalf("clock set: %d %v", resp.StatusCode, m)
	}
	after := dv.Backup(t, e)

	shots := screenshotDir(t)
	r := testsvc.Run(t, 10*time.Minute, append(os.Environ(), "SAFEHOLD_URL="+e.Conn.ARMEndpoint, "SAFEHOLD_CLIENT_ID="+e.Conn.ClientID, "SAFEHOLD_CLIENT_SECRET="+e.Conn.ClientSecret,
		"SAFEHOLD_SCREENSHOT_DIR="+shots, "SAFEHOLD_ITEM="+dv.Instance, "SAFEHOLD_JOB="+after, "SAFEHOLD_CHROMIUM="+chromium), node, "browser/clock.cjs")
	var sum struct {
		Placed       int
		Status, Next string
		Jobs         []string
		Dots         []float64
		Edges        map[string]int
		// SnapshotOrder: the page's view on three made-up snapshots;
		// SnapshotTimes: the Disks & VMs tab's rows' creation times.
		SnapshotOrder string
		SnapshotTimes []time.Time
		WindowCharts  map[string]struct {
			Jobs, Placed int
			From, Now    time.Time
		}
		LabelOverlap float64
		Panel        map[string]string
		Error        string
		Errors       []string
		Skews        [][2]any
		JobBodies    map[string][2]any
	}
	if err := json.Unmarshal([]byte(lastLine(r.Stdout)), &sum); err != nil || r.Code != 0 {
		t.Fatalf("browser run: exit status %d, %v\nstdout: %s\nstderr: %s", r.Code, err, r.Stdout, r.Stderr)
	}
	t.Logf("browser: %s (screenshots in %s)", strings.TrimSpace(r.Stdout), shots)
	if len(sum.Errors) != 0 {
		t.Errorf("the page logged errors: %v", sum.Errors)
	}
	if !slices.Contains(sum.Jobs, after) || slices.Contains(sum.Jobs, before) {
		t.Errorf("the 24 hours window shows the jobs %v: want the backup after the move (%s), not the one 3 days before it (%s)", sum.Jobs, after, before)
	}
	if sum.Placed != len(sum.Jobs) {
		t.Errorf("the jobs chart's bars count %d jobs of the 24 hours window's %d", sum.Placed, len(sum.Jobs))
	}
	if next, err := time.Parse(time.RFC3339, sum.Next); err != nil || !next.After(moved) || next.After(moved.Add(4*time.Hour)) {
		t.Errorf("the item's next backup is %q (%v); want within the PT4H policy's 4 hours after the server's time %s", sum.Next, err, moved.Format(time.RFC3339))
	}
	if len(sum.Dots) < 2 {
		t.Errorf("the timeline shows %d recovery points, want 2", len(sum.Dots))
	}
	for _, d := range sum.Dots {
		if d < 0 || d > 100 {
			t.Errorf("a recovery point sits at %.2f%% of the timeline (off its ends): %v", d, sum.Dots)
		}
	}
	// The charts' y labels fit their axes (they were cut at the canvas's
	// left edge: "768000 MiB" in 60 px, "1500" jobs in 40).
	if len(sum.Edges) != 7 {
		t.Errorf("the charts checked: %v, want 7", sum.Edges)
	}
	for chart, n := range sum.Edges {
		if n != 0 {
			t.Errorf("the chart %s has a y label cut at its left edge (%d pixels painted in its first two columns)", chart, n)
		}
	}
	// The job's panel reads its duration, and the bytes it moved even when
	// none (it showed PT0S and nothing).
	if d, n := sum.Panel["Duration"], sum.Panel["Bytes transferred"]; !regexp.MustCompile(`^(\d+ (d|h|min) )*\d+ s$|^(\d+ (d|h|min) ?)+$`).MatchString(d) || !regexp.MustCompile(`^\d+(\.\d)? (B|KiB|MiB)$`).MatchString(n) {
		t.Errorf("the job panel's duration %q and bytes transferred %q (want like \"3 s\" and \"0 B\"): %v", d, n, sum.Panel)
	}
	// Snapshots are listed newest first (they came in name order).
	if sum.SnapshotOrder != "b,c,a" {
		t.Errorf("the Disks & VMs view orders snapshots made at 1, 3 and 2 o'clock (a, b, c) as %q, want newest first: b,c,a", sum.SnapshotOrder)
	}
	if len(sum.SnapshotTimes) < 2 || !slices.IsSortedFunc(sum.SnapshotTimes, func(a, b time.Time) int { return b.Compare(a) }) {
		t.Errorf("the Disks & VMs tab lists the snapshots created at %v, want at least two, newest first", sum.SnapshotTimes)
	}
	// The jobs chart of each window counts every job of the window and
	// starts no bar before it (twelve bars left out a day's jobs 13 to 24
	// hours old and a month's 13 to 30 days old, and a week's chart began
	// 11 days back).
	if len(sum.WindowCharts) != 4 {
		t.Errorf("the windows' charts checked: %v, want 4", sum.WindowCharts)
	}
	for days, c := range sum.WindowCharts {
		n, _ := strconv.Atoi(days)
		step := map[int]time.Duration{1: time.Hour, 7: 24 * time.Hour, 30: 24 * time.Hour, 180: 7 * 24 * time.Hour}[n]
		if c.Placed != c.Jobs || c.Jobs == 0 {
			t.Errorf("the jobs chart of %s days places %d of its %d jobs", days, c.Placed, c.Jobs)
		}
		if start := c.Now.Add(-time.Duration(n) * 24 * time.Hour); c.From.Before(start.Add(-step)) {
			t.Errorf("the jobs chart of %s days starts at %s, before the window (%s) by more than a bar (%s)", days, c.From.Format(time.RFC3339), start.Format(time.RFC3339), step)
		}
	}
	if sum.LabelOverlap > 0 {
		t.Errorf("the timeline's end labels overlap the points' table by %.1f px", sum.LabelOverlap)
	}
	// 3 days ahead less the minutes the test took: "3 d", rounded to the
	// hour (it said "2 d 23 h").
	if !strings.Contains(sum.Status, "server time") || !strings.Contains(sum.Status, ", 3 d ahead of this browser") {
		t.Errorf("the status line %q does not name the server's time, 3 d ahead of the browser's", sum.Status)
	}
	// The bytes a Recovery Services backup moved (propertyBag "Bytes
	// Transferred"; none shown for a job without them) and what a running
	// job of either kind waits for.
	wantBodies := map[string][2]any{"rs": {1048576.0, "Waiting for replica r2"}, "dp": {4096.0, "Waiting for replica r3"}, "old": {nil, ""}}
	if fmt.Sprint(sum.JobBodies) != fmt.Sprint(wantBodies) {
		t.Errorf("the page read the job bodies as %v, want %v", sum.JobBodies, wantBodies)
	}
	// A week's advance read seconds later was "6 d 23 h ahead": the
	// distances are rounded to the unit they end with.
	want := []string{"7 d ahead of this browser", "7 d ahead of this browser", "7 d 1 h ahead of this browser", "4 d behind this browser",
		"1 d ahead of this browser", "2 h ahead of this browser", "1 h ahead of this browser", "2 min behind this browser"}
	if len(sum.Skews) != len(want) {
		t.Fatalf("the page named %d clock distances, want %d: %v", len(sum.Skews), len(want), sum.Skews)
	}
	for i, w := range want {
		if got := fmt.Sprint(sum.Skews[i][1]); got != w {
			t.Errorf("a server clock %v ms off is named %q, want %q", sum.Skews[i][0], got, w)
		}
	}
}
