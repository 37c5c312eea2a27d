package web_test

import (
	"encoding/json"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // New York's zone wherever the test runs

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
)

const (
	roleOwner  = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
	roleReader = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
)

// TestDashboardDamagedPointsAndRoles reads the dashboard in chromium
// (web/browser/roles.cjs) as an Owner and as a Reader of the subscription,
// with a disk in a Backup vault whose first recovery point and a VM in a
// Recovery Services vault whose point a verify --read-data found damaged
// (a byte of their packs flipped; the vaults' verify actions), and an
// intact second point of the disk. Both principals see the damaged points
// as Damaged (with why) in the points table and in red on the timeline,
// and no restore offered for them; the intact point offers one (to the
// Owner). The Owner's action buttons are enabled and a backup starts; the
// Reader's are disabled naming the action they lack, and the server
// refuses the Reader anyway (403 AuthorizationFailed), which the page
// shows in red where an action's outcome shows. The header names the
// signed-in client, and a token the server refuses (as one past its hour)
// returns to the sign-in form saying so. Before, the points table
// showed no state and offered the damaged point's restore (which then
// failed UserErrorRecoveryPointCorrupt), a Reader was offered every
// action, and the page fell back to the sign-in form without a word.
func TestDashboardDamagedPointsAndRoles(t *testing.T) {
	chromium, node := browser(t)

	e := testserver.Start(t)
	sub := "/subscriptions/" + e.Sub
	const dpAV, rsAV = "?api-version=2024-04-01", "?api-version=2023-04-01"
	vm := fixture.ProtectVM(t, e)
	rsVault := sub + "/resourceGroups/" + vm.RG + "/providers/Microsoft.RecoveryServices/vaults/" + vm.Vault
	waitJob(t, e, rsVault+"/backupJobs/"+vm.Backup(t, e), rsAV)
	vmPacks := packFiles(e.DataDir)
	dv := fixture.ProtectDisk(t, e)
	dv.WriteRandom(t, e, 100<<20, 8<<20)
	dv.Backup(t, e)
	dpVault := sub + "/resourceGroups/" + dv.RG + "/providers/Microsoft.DataProtection/backupVaults/" + dv.Vault
	// One byte of the VM's data and one of the disk's own (a pack the VM's
	// backup did not write), then each vault's verify reading every chunk.
	_, vmPack := fixture.MostData(t, vmPacks, nil)
	_, diskPack := fixture.MostData(t, packFiles(e.DataDir), func(k string) bool { _, old := vmPacks[k]; return !old })
	fixture.FlipByte(t, vmPack)
	fixture.FlipByte(t, diskPack)
	for _, v := range []string{dpVault, rsVault} {
		resp, m := e.Do("POST", v+"/verify"+dpAV, map[string]any{"readData": true})
		if resp.StatusCode != 202 {
			t.Fatalf("verify %s: %d %v", v, resp.StatusCode, m)
		}
		// The operation fails with its job (a Backup vault's) or ends
		// with the job started (a Recovery Services vault's): the job fails.
		st := e.Poll(resp.Header.Get("Azure-AsyncOperation"))
		if job, _ := testserver.Field(st, "properties.jobId").(string); st["status"] != "Failed" && (job == "" || waitJob(t, e, v+"/backupJobs/"+job, dpAV) != "Failed") {
			t.Fatalf("verify %s of damaged data: %v", v, st)
		}
	}
	// The next backups store the damaged data again: their points are
	// intact. A staging account for the VM point's restore.
	dv.Backup(t, e)
	waitJob(t, e, rsVault+"/backupJobs/"+vm.Backup(t, e), rsAV)
	e.ResourceGroups("restore-rg")
	if resp, m := e.Do("PUT", sub+"/resourceGroups/restore-rg/providers/Microsoft.Storage/storageAccounts/staging1?api-version=2023-01-01",
		map[string]any{"location": "westus", "sku": map[string]any{"name": "Standard_LRS"}, "kind": "StorageV2"}); resp.StatusCode != 200 && resp.StatusCode != 201 {
		t.Fatalf("staging account: %d %v", resp.StatusCode, m)
	}
	var dpPoints struct {
		Value []struct {
			Name       string
			Properties struct {
				RecoveryPointState string
				RecoveryPointTime  time.Time
			}
		}
	}
	getJSON(t, e, dpVault+"/backupInstances/"+dv.Instance+"/recoveryPoints"+dpAV, &dpPoints)
	var rsPoints struct{ Value []struct{ Name string } }
	getJSON(t, e, rsVault+"/backupFabrics/Azure/protectionContainers/"+url.PathEscape(vm.Container)+"/protectedItems/"+url.PathEscape(vm.Item)+"/recoveryPoints"+rsAV, &rsPoints)
	state, at := map[string]string{}, map[string]time.Time{}
	for _, p := range dpPoints.Value {
		state[p.Name], at[p.Name] = p.Properties.RecoveryPointState, p.Properties.RecoveryPointTime
	}
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	if len(dpPoints.Value) != 2 || len(rsPoints.Value) != 2 {
		t.Fatalf("points: %+v %+v", dpPoints, rsPoints)
	}

	owner, reader, noRole := dashboardPrincipal(t, e, roleOwner), dashboardPrincipal(t, e, roleReader), dashboardPrincipal(t, e, "")
	shots := screenshotDir(t)
	r := testsvc.Run(t, 10*time.Minute, append(os.Environ(), "SAFEHOLD_URL="+e.Conn.ARMEndpoint, "SAFEHOLD_SCREENSHOT_DIR="+shots, "SAFEHOLD_CHROMIUM="+chromium,
		"SAFEHOLD_DP_ITEM="+dv.Instance, "SAFEHOLD_RS_ITEM=app1",
		"SAFEHOLD_OWNER_ID="+owner[0], "SAFEHOLD_OWNER_SECRET="+owner[1], "SAFEHOLD_READER_ID="+reader[0], "SAFEHOLD_READER_SECRET="+reader[1],
		"SAFEHOLD_NOROLE_ID="+noRole[0], "SAFEHOLD_NOROLE_SECRET="+noRole[1]), node, "browser/roles.cjs")
	type pointRow struct{ Name, State, Text, Restore string }
	type panel struct {
		Rows        []pointRow
		DamagedDots int
		Note        string
	}
	type view struct {
		Buttons map[string]struct {
			Disabled bool
			Denied   string
		}
		DeniedNote bool
		Who        string
		Status     string
		DP, RS     panel
		ItemsRow   string
		Flash      string
		FlashClass string
		// The Owner's restore of the VM's intact point: what the page said
		// and the job's status as its row shows.
		RestoreFlash, RestoreStatus string
		// Stop protection's question, and the page once it was dismissed.
		Dialogs      []string
		AfterDismiss struct{ Flash, Stop string }
		// The Jobs view opened from the failed jobs' card, and how many
		// jobs it shows once set back to all statuses.
		FailedJobs struct {
			Heading string
			Rows    []struct{ Status, Op, Text string }
		}
		AllJobs int
		Direct  struct {
			Status int
			Body   string
		}
	}
	var sum struct {
		Owner, Reader view
		Ended         string
		NoRole        struct{ Items, Status string }
		Error         string
		Errors        []string
	}
	if err := json.Unmarshal([]byte(lastLine(r.Stdout)), &sum); err != nil || r.Code != 0 {
		t.Fatalf("browser run: exit status %d, %v\nstdout: %s\nstderr: %s", r.Code, err, r.Stdout, r.Stderr)
	}
	t.Logf("browser: %s (screenshots in %s)", strings.TrimSpace(r.Stdout), shots)
	if len(sum.Errors) != 0 {
		t.Errorf("the page logged errors: %v", sum.Errors)
	}
	for who, v := range map[string]view{"Owner": sum.Owner, "Reader": sum.Reader} {
		// The disk's points: the damaged one (Partial in the API) shows
		// Damaged, red on the timeline, no restore; the intact one offers
		// a restore (disabled for the Reader).
		if len(v.DP.Rows) < 2 || v.DP.DamagedDots != 1 || v.DP.Note == "" || !strings.Contains(v.ItemsRow, "1 damaged") {
			t.Errorf("%s: the disk's points panel %+v, items row %q; want 2 points (3 for the Reader, after the Owner's backup), 1 damaged (a red dot, a note, the item's row saying so)", who, v.DP, v.ItemsRow)
		}
		for _, p := range v.DP.Rows {
			damaged := state[p.Name] == "Partial"
			wantRestore := "enabled"
			if who == "Reader" {
				wantRestore = "disabled"
			}
			if damaged {
				wantRestore = "none"
			}
			if (p.State == "Damaged") != damaged || (damaged && !strings.Contains(p.Text, "Damaged")) || p.Restore != wantRestore {
				t.Errorf("%s: the disk's point %s (recoveryPointState %s) shows %+v; want Damaged %v, restore %s", who, p.Name, state[p.Name], p, damaged, wantRestore)
			}
		}
		// The VM's points: the older damaged (its tiers Invalid), why
		// shown, no restore; the newer offers its disks' restore.
		wantRestore := map[string]string{"Owner": "enabled", "Reader": "disabled"}[who]
		if r := v.RS.Rows; len(r) != 2 || r[1].State != "Damaged" || !strings.Contains(r[1].Text, "Damaged: ") || r[1].Restore != "none" ||
			r[0].State != "Completed" || r[0].Restore != wantRestore || v.RS.DamagedDots != 1 {
			t.Errorf("%s: the VM's points panel %+v; want the older point Damaged, with why, and no restore; the newer one's restore %s", who, v.RS, wantRestore)
		}
	}
	// The Owner may act; the Reader's buttons are disabled naming the
	// action they lack.
	for id, b := range sum.Owner.Buttons {
		if b.Disabled || b.Denied != "" {
			t.Errorf("Owner: the button %s is disabled (%q)", id, b.Denied)
		}
	}
	if len(sum.Owner.Buttons) != 6 || sum.Owner.DeniedNote || !strings.Contains(sum.Owner.Flash, "started") {
		t.Errorf("Owner: buttons %v, note of disabled actions %v, backup's outcome %q (want 6 buttons, no note, started)", sum.Owner.Buttons, sum.Owner.DeniedNote, sum.Owner.Flash)
	}
	if len(sum.Reader.Buttons) != 6 || !sum.Reader.DeniedNote {
		t.Errorf("Reader: buttons %v, note of disabled actions %v (want 6, a note)", sum.Reader.Buttons, sum.Reader.DeniedNote)
	}
	for id, b := range sum.Reader.Buttons {
		if strings.HasPrefix(id, "points-") {
			if b.Disabled {
				t.Errorf("Reader: the button %s (reading) is disabled", id)
			}
			continue
		}
		if !b.Disabled || !strings.HasSuffix(b.Denied, map[bool]string{true: "/backup/action", false: "/write"}[strings.HasPrefix(id, "backup-")]) && !strings.HasSuffix(b.Denied, "Protection/action") {
			t.Errorf("Reader: the button %s: disabled %v, names %q", id, b.Disabled, b.Denied)
		}
	}
	// Times are in the browser's zone (New York here, the server's UTC),
	// which the status line names.
	if !strings.Contains(sum.Owner.Status, "times in America/New_York") {
		t.Errorf("the status line %q does not name the browser's zone", sum.Owner.Status)
	}
	for _, p := range sum.Owner.DP.Rows {
		shown := strings.ReplaceAll(strings.SplitN(p.Text, "\t", 2)[0], "\u202f", " ")
		if want := at[p.Name].In(ny).Format("1/2/2006, 3:04:05 PM"); shown != want {
			t.Errorf("the point %s of %s shows its time as %q, want %q (New York)", p.Name, at[p.Name].Format(time.RFC3339), shown, want)
		}
	}
	// Stop protection asks first (it stopped at one click); dismissed,
	// nothing happens.
	if len(sum.Owner.Dialogs) != 1 || !strings.Contains(sum.Owner.Dialogs[0], "Stop protection of "+dv.Instance) ||
		strings.Contains(sum.Owner.AfterDismiss.Flash, "Stop") || sum.Owner.AfterDismiss.Stop != "Stop protection" {
		t.Errorf("Stop protection asked %q; dismissed, the page shows %+v (want one question, no action)", sum.Owner.Dialogs, sum.Owner.AfterDismiss)
	}
	// The Owner restores the VM's intact point's disks from its row.
	if !strings.Contains(sum.Owner.RestoreFlash, "started") || sum.Owner.RestoreStatus != "Completed" {
		t.Errorf("the Owner's restore of the VM's disks: %q, its job %q", sum.Owner.RestoreFlash, sum.Owner.RestoreStatus)
	}
	var restored struct{ Value []struct{ Name string } }
	getJSON(t, e, sub+"/resourceGroups/restore-rg/providers/Microsoft.Compute/disks?api-version=2024-03-02", &restored)
	if len(restored.Value) != 2 {
		t.Errorf("the disks the dashboard's restore made in restore-rg: %+v, want the VM's 2", restored.Value)
	}
	// The failed jobs' card opens the failed jobs: the two verifies, with
	// their error; all statuses shows the backups too.
	if f := sum.Owner.FailedJobs; len(f.Rows) != 2 || !strings.HasPrefix(f.Heading, "Failed jobs of the last 7 days (2 of ") || sum.Owner.AllJobs < 5 {
		t.Errorf("the failed jobs' view: %+v, then %d jobs of all statuses (want the 2 failed verifies, then 5 or more)", f, sum.Owner.AllJobs)
	} else {
		for _, r := range f.Rows {
			if r.Status != "Failed" || r.Op != "Verify" || !strings.Contains(r.Text, "damaged") {
				t.Errorf("a row of the failed jobs' view: %+v", r)
			}
		}
	}
	// The header names who is signed in.
	if !strings.Contains(sum.Owner.Who, owner[0]) || !strings.Contains(sum.Reader.Who, reader[0]) {
		t.Errorf("the header named %q and %q, want the Owner's and the Reader's client ids", sum.Owner.Who, sum.Reader.Who)
	}
	// A token the server refuses ends the session with a word why (it
	// dropped the operator on the sign-in form silently).
	if !strings.Contains(sum.Ended, "sign in again") {
		t.Errorf("after a refused token the sign-in form says %q, want why and to sign in again", sum.Ended)
	}
	// With no role, no vault: the items view says so, and what to do.
	if !strings.Contains(sum.NoRole.Items, "No vaults this principal can read") {
		t.Errorf("with no role, the items view says %q (status %q)", sum.NoRole.Items, sum.NoRole.Status)
	}
	// The server refuses the Reader anyway, and the page says so in red.
	if d := sum.Reader.Direct; d.Status != 403 || !strings.Contains(d.Body, "AuthorizationFailed") {
		t.Errorf("Reader's backup request: %d %s (want 403 AuthorizationFailed)", d.Status, d.Body)
	}
	if !strings.Contains(sum.Reader.Flash, "failed: AuthorizationFailed") || sum.Reader.FlashClass != "bad" {
		t.Errorf("Reader's backup pressed anyway shows %q (class %q); want the refusal, in red", sum.Reader.Flash, sum.Reader.FlashClass)
	}
}

// dashboardPrincipal makes a service principal with role on the
// subscription (none: "") and answers its client id and secret.
func dashboardPrincipal(t *testing.T, e *testserver.Env, role string) [2]string {
	t.Helper()
	resp, m := e.Do("POST", "/providers/Safehold.Identity/servicePrincipals?api-version=2024-01-01", map[string]string{"displayName": "dashboard-" + role})
	if resp.StatusCode != 201 {
		t.Fatalf("service principal: %d %v", resp.StatusCode, m)
	}
	if role != "" {
		fixture.Assign(t, e, "/subscriptions/"+e.Sub, role, m["objectId"].(string))
	}
	return [2]string{m["appId"].(string), m["clientSecret"].(string)}
}

// packFiles maps the pack names of the operational repository to their files.
func packFiles(dataDir string) map[string]string {
	out := map[string]string{}
	filepath.WalkDir(filepath.Join(dataDir, "snapshots", "repo", "pack"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.Contains(d.Name(), ".") {
			out[d.Name()] = p
		}
		return nil
	})
	return out
}

func getJSON(t *testing.T, e *testserver.Env, path string, v any) {
	t.Helper()
	resp, m := e.Do("GET", path, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", path, resp.StatusCode, m)
	}
	b, _ := json.Marshal(m)
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// waitJob waits for the job (its resource id) to end and answers its status.
func waitJob(t *testing.T, e *testserver.Env, job, av string) string {
	t.Helper()
	var s string
	e.WaitFor("job "+job, func() bool {
		resp, m := e.Do("GET", job+av, nil)
		s, _ = testserver.Field(m, "properties.status").(string)
		return resp.StatusCode == 200 && s != "InProgress" && s != ""
	})
	return s
}
