package web_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestDashboardInBrowser runs web/browser/dashboard.cjs in Debian's
// chromium (playwright-core from npm; .ci/browser.sh installs both): it
// signs in, triggers a backup of a disk in a Backup vault and watches its
// job's progress move, opens the item's recovery points, restores one to a
// new disk and finds the disk. It skips when chromium or playwright-core
// are missing, except under CI=true, where it fails.
func TestDashboardInBrowser(t *testing.T) {
	pw := os.Getenv("SAFEHOLD_PLAYWRIGHT_DIR")
	chromium := envOr("SAFEHOLD_CHROMIUM", "/usr/bin/chromium")
	missing := ""
	if _, err := os.Stat(filepath.Join(pw, "node_modules", "playwright-core")); pw == "" || err != nil {
		missing = "playwright-core (SAFEHOLD_PLAYWRIGHT_DIR)"
	} else if _, err := os.Stat(chromium); err != nil {
		missing = chromium
	} else if _, err := exec.LookPath("node"); err != nil {
		missing = "node"
	}
	if missing != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s missing: .ci/run sources .ci/browser.sh to install it", missing)
		}
		t.Skipf("%s missing (source .ci/browser.sh to install it)", missing)
	}

	e := testserver.Start(t)
	dv := fixture.ProtectDisk(t, e)
	fixture.ProtectVM(t, e)
	dv.Backup(t, e)
	// Enough changed data that the next backup takes a while and its
	// progress is seen between 0 and 100.
	dv.WriteRandom(t, e, 16<<20, 512<<20)

	shots := os.Getenv("SAFEHOLD_SCREENSHOT_DIR")
	if shots == "" {
		shots = t.TempDir()
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "browser/dashboard.cjs")
	cmd.Env = append(os.Environ(), "SAFEHOLD_URL="+e.Conn.ARMEndpoint, "SAFEHOLD_CLIENT_ID="+e.Conn.ClientID, "SAFEHOLD_CLIENT_SECRET="+e.Conn.ClientSecret,
		"SAFEHOLD_SCREENSHOT_DIR="+shots, "SAFEHOLD_ITEM="+dv.Instance, "SAFEHOLD_RESTORE_DISK=restored-ui", "SAFEHOLD_RESTORE_RG=target-rg",
		"SAFEHOLD_PLAYWRIGHT_DIR="+pw, "SAFEHOLD_CHROMIUM="+chromium)
	out, err := cmd.Output()
	var stderr string
	if ee, ok := err.(*exec.ExitError); ok {
		stderr = string(ee.Stderr)
	}
	var sum struct {
		Progress []struct {
			P      *int
			Status string
		}
		BackupStatus, RestoreStatus, Storage, Flash, Error string
		Points                                             int
		DiskListed                                         bool
		Errors                                             []string
	}
	if jerr := json.Unmarshal([]byte(lastLine(string(out))), &sum); jerr != nil || err != nil {
		t.Fatalf("browser run: %v\nstdout: %s\nstderr: %s", err, out, stderr)
	}
	t.Logf("browser: %s (screenshots in %s)", strings.TrimSpace(string(out)), shots)
	if sum.BackupStatus != "Completed" || sum.RestoreStatus != "Completed" || !sum.DiskListed || sum.Points < 2 || len(sum.Errors) != 0 {
		t.Fatalf("browser summary: %+v", sum)
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
