package web_test

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
)

// TestDashboardInBrowser runs web/browser/dashboard.cjs in Debian's
// chromium (playwright-core from npm; .ci/browser.sh installs both): it
// signs in, triggers a backup of a disk in a Backup vault and watches its
// job's progress move, opens the item's recovery points, restores one to a
// new disk and finds the disk. It skips when chromium or playwright-core
// are missing, except under CI=true, where it fails. No step depends on the
// machine's speed: the browser releases the backup's hold once it has seen
// it in progress, and waits for what the page shows (minutes at most).
func TestDashboardInBrowser(t *testing.T) {
	const how = "source .ci/browser.sh to install it; .ci/run does"
	testsvc.NodeModules(t, "SAFEHOLD_PLAYWRIGHT_DIR", "", "playwright-core", how)
	chromium := envOr("SAFEHOLD_CHROMIUM", "/usr/bin/chromium")
	if _, err := os.Stat(chromium); err != nil {
		testsvc.Missing(t, chromium, how)
	}
	node := testsvc.Tool(t, "node", how)

	e := testserver.Start(t)
	dv := fixture.ProtectDisk(t, e)
	fixture.ProtectVM(t, e)
	dv.Backup(t, e)
	// Enough changed data that the next backup takes a while and its
	// progress is seen between 0 and 100.
	dv.WriteRandom(t, e, 16<<20, 512<<20)
	e.ResourceGroups("norole-rg") // the vault's identity has no role here: a restore into it fails
	// The backup the browser starts is held InProgress (a latency fault
	// rule on the item's backups) until the browser has seen it so in the
	// dashboard and deletes the rule, which releases it: the dashboard's
	// poll sees it below 100 however slow the machine or the browser is.
	resp, m := e.Do("POST", "/providers/Safehold.Admin/faultRules?api-version=2024-01-01",
		map[string]any{"name": "hold-browser-backup", "operation": "backup", "path": "*/backupInstances/" + dv.Instance, "latency": "10m"})
	if resp.StatusCode != 201 {
		t.Fatalf("fault rule: %d %v", resp.StatusCode, m)
	}

	shots := os.Getenv("SAFEHOLD_SCREENSHOT_DIR")
	if shots == "" {
		shots = t.TempDir()
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	r := testsvc.Run(t, 20*time.Minute, append(os.Environ(), "SAFEHOLD_HOLD_RULE=hold-browser-backup", "SAFEHOLD_URL="+e.Conn.ARMEndpoint, "SAFEHOLD_CLIENT_ID="+e.Conn.ClientID, "SAFEHOLD_CLIENT_SECRET="+e.Conn.ClientSecret,
		"SAFEHOLD_SCREENSHOT_DIR="+shots, "SAFEHOLD_ITEM="+dv.Instance, "SAFEHOLD_RESTORE_DISK=restored-ui", "SAFEHOLD_RESTORE_RG=target-rg",
		"SAFEHOLD_NOROLE_RG=norole-rg", "SAFEHOLD_CHROMIUM="+chromium), node, "browser/dashboard.cjs")
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
	}
	if err := json.Unmarshal([]byte(lastLine(r.Stdout)), &sum); err != nil || r.Code != 0 {
		t.Fatalf("browser run: exit status %d, %v\nstdout: %s\nstderr: %s", r.Code, err, r.Stdout, r.Stderr)
	}
	t.Logf("browser: %s (screenshots in %s)", strings.TrimSpace(r.Stdout), shots)
	if sum.BackupStatus != "Completed" || sum.RestoreStatus != "Completed" || !sum.DiskListed || sum.Points < 2 || len(sum.Errors) != 0 {
		t.Fatalf("browser summary: %+v", sum)
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
