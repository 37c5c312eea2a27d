package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/server"
)

const admin = "/providers/Safehold.Admin"

func adminURL(p string) string { return admin + p + "?api-version=2024-01-01" }

// call is raw with the admin's token.
func call(t *testing.T, e *testserver.Env, method, path string, body any) (*http.Response, map[string]any) {
	t.Helper()
	return raw(t, e, method, path, "", body)
}

func mustStatus(t *testing.T, want int, resp *http.Response, m map[string]any) {
	t.Helper()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: status %d, want %d: %v", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, want, m)
	}
}

// pollOp polls an Azure-AsyncOperation URL until it is terminal.
func pollOp(t *testing.T, e *testserver.Env, url string) map[string]any {
	t.Helper()
	for deadline := time.Now().Add(testsvc.WaitLimit); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		_, m := call(t, e, "GET", url, nil)
		if s, _ := m["status"].(string); s != "InProgress" && s != "" {
			return m
		}
	}
	t.Fatalf("operation %s did not finish within %v", url, testsvc.WaitLimit)
	return nil
}

const (
	roleDiskBackupReader        = "3e5e47e6-65f7-47ef-90b5-e5dd4d455f24"
	roleDiskSnapshotContributor = "7efff54f-a5b4-42b5-a1c5-5411624893ce"
	roleContributor             = "b24988ac-6180-42a0-ab88-20f7382dd24c"
)

func assignRole(t *testing.T, e *testserver.Env, scope, role, principal string) {
	t.Helper()
	resp, m := call(t, e, "PUT", scope+"/providers/Microsoft.Authorization/roleAssignments/"+uuid.NewString()+"?api-version=2022-04-01",
		map[string]any{"properties": map[string]string{"principalId": principal, "roleDefinitionId": "/subscriptions/" + e.Sub + "/providers/Microsoft.Authorization/roleDefinitions/" + role}})
	mustStatus(t, 201, resp, m)
}

type protected struct {
	vault, bi, disk string
}

// protectDisk creates a disk with some data, a Backup vault with the roles
// its identity needs, a policy and a backup instance, all over HTTPS.
func protectDisk(t *testing.T, e *testserver.Env, name, scheduleStart, period, keep string) protected {
	t.Helper()
	sub := "/subscriptions/" + e.Sub
	for _, rg := range []string{"vault-rg", "disk-rg", "snapshot-rg"} {
		resp, m := call(t, e, "PUT", sub+"/resourcegroups/"+rg+"?api-version=2021-04-01", `{"location":"westus"}`)
		if resp.StatusCode != 200 && resp.StatusCode != 201 {
			t.Fatalf("rg: %d %v", resp.StatusCode, m)
		}
	}
	p := protected{disk: sub + "/resourceGroups/disk-rg/providers/Microsoft.Compute/disks/" + name}
	ctx := e.Ctx()
	if _, err := e.Server.Compute.CreateDisk(ctx, compute.DiskSpec{ID: p.disk, Location: "westus", CreateOption: "Empty", SizeBytes: 8 << 20}); err != nil {
		t.Fatalf("create disk: %v", err)
	}
	v, err := e.Server.Compute.Volume(ctx, p.disk)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i*13) ^ byte(len(name))
	}
	if _, err := v.WriteAt(buf, 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := v.Flush(); err != nil {
		t.Fatal(err)
	}
	p.vault = sub + "/resourceGroups/vault-rg/providers/Microsoft.DataProtection/backupVaults/v-" + name
	const av = "?api-version=2024-04-01"
	resp, vault := call(t, e, "PUT", p.vault+av, `{"location":"westus","identity":{"type":"SystemAssigned"},"properties":{"storageSettings":[{"datastoreType":"VaultStore","type":"LocallyRedundant"}]}}`)
	ident, _ := vault["identity"].(map[string]any)
	principal, _ := ident["principalId"].(string)
	if principal == "" {
		t.Fatalf("vault: %d %v", resp.StatusCode, vault)
	}
	assignRole(t, e, p.disk, roleDiskBackupReader, principal)
	assignRole(t, e, sub+"/resourceGroups/snapshot-rg", roleDiskSnapshotContributor, principal)
	resp, m := call(t, e, "PUT", p.vault+"/backupPolicies/p1"+av, fixture.DiskPolicyFrom(scheduleStart, period, keep, ""))
	mustStatus(t, 200, resp, m)
	resp, bi := call(t, e, "PUT", p.vault+"/backupInstances/"+name+"-bi"+av, `{"properties":{"objectType":"BackupInstance","datasourceInfo":{"objectType":"Datasource","datasourceType":"Microsoft.Compute/disks","resourceID":"`+p.disk+`"},
		"policyInfo":{"policyId":"`+p.vault+`/backupPolicies/p1","policyParameters":{"dataStoreParametersList":[{"objectType":"AzureOperationalStoreParameters","dataStoreType":"OperationalStore","resourceGroupId":"`+sub+`/resourceGroups/snapshot-rg"}]}}}}`)
	mustStatus(t, 201, resp, bi)
	if st := pollOp(t, e, resp.Header.Get("Azure-AsyncOperation")); st["status"] != "Succeeded" {
		t.Fatalf("configure: %v", st)
	}
	p.bi = bi["id"].(string)
	return p
}

func pointTimes(t *testing.T, e *testserver.Env, bi string) []time.Time {
	t.Helper()
	var out []time.Time
	for url := bi + "/recoveryPoints?api-version=2024-04-01"; url != ""; {
		resp, m := call(t, e, "GET", url, nil)
		mustStatus(t, 200, resp, m)
		for _, x := range m["value"].([]any) {
			p := x.(map[string]any)["properties"].(map[string]any)
			tm, err := time.Parse(time.RFC3339Nano, p["recoveryPointTime"].(string))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, tm.UTC())
		}
		url, _ = m["nextLink"].(string)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Before(out[j]) })
	return out
}

func jobs(t *testing.T, e *testserver.Env, vault string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for url := vault + "/backupJobs?api-version=2024-04-01"; url != ""; {
		resp, m := call(t, e, "GET", url, nil)
		mustStatus(t, 200, resp, m)
		for _, x := range m["value"].([]any) {
			out = append(out, x.(map[string]any)["properties"].(map[string]any))
		}
		url, _ = m["nextLink"].(string)
	}
	return out
}

// setClock sets the server's clock to at through the admin API (200) and
// returns its answer.
func setClock(t *testing.T, e *testserver.Env, at time.Time) map[string]any {
	t.Helper()
	resp, m := call(t, e, "POST", adminURL("/clock/set"), map[string]string{"time": at.Format(time.RFC3339)})
	mustStatus(t, 200, resp, m)
	return m
}

// advanceClock advances the server's clock by d through the admin API
// (200) and returns its answer.
func advanceClock(t *testing.T, e *testserver.Env, d string) map[string]any {
	t.Helper()
	resp, m := call(t, e, "POST", adminURL("/clock/advance"), map[string]string{"duration": d})
	mustStatus(t, 200, resp, m)
	return m
}

func clockNow(t *testing.T, e *testserver.Env) time.Time {
	t.Helper()
	resp, m := call(t, e, "GET", adminURL("/clock"), nil)
	mustStatus(t, 200, resp, m)
	tm, err := time.Parse(time.RFC3339Nano, m["now"].(string))
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

// TestClockAdvanceRunsTheSkippedWindow advances a server with a PT4H
// policy (Default retention P2D) by 3 days through the admin API: the 18
// scheduled backups run at their own times, retention deletes what
// expired, and exactly the points the policy keeps remain, with their
// times inside the skipped window.
func TestClockAdvanceRunsTheSkippedWindow(t *testing.T) {
	e := testserver.Start(t)
	start := time.Date(2021, 1, 1, 7, 0, 0, 0, time.UTC)
	m := setClock(t, e, start)
	if m["frozen"] != true || !clockNow(t, e).Equal(start) {
		t.Fatalf("clock set: %v", m)
	}
	p := protectDisk(t, e, "d1", "2021-01-01T08:00:00+00:00", "PT4H", "P2D")

	wall := time.Now()
	m = advanceClock(t, e, "P3D")
	t.Logf("advance P3D took %v wall time, %v steps", time.Since(wall), m["runs"])
	end := start.Add(72 * time.Hour)
	if got := clockNow(t, e); !got.Equal(end) {
		t.Fatalf("clock after advance: %v, want %v", got, end)
	}

	var occurrences, want []time.Time
	for o := time.Date(2021, 1, 1, 8, 0, 0, 0, time.UTC); !o.After(end); o = o.Add(4 * time.Hour) {
		occurrences = append(occurrences, o)
		if o.Add(48 * time.Hour).After(end) {
			want = append(want, o)
		}
	}
	if len(occurrences) != 18 {
		t.Fatalf("test setup: %d occurrences", len(occurrences))
	}
	got := pointTimes(t, e, p.bi)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("recovery points after advancing 3 days:\n got %v\nwant %v", got, want)
	}
	backups := 0
	for _, j := range jobs(t, e, p.vault) {
		if j["operation"] == "Backup" {
			if j["status"] != "Completed" {
				t.Errorf("backup job %v: %v", j["activityID"], j["status"])
			}
			st, _ := time.Parse(time.RFC3339Nano, j["startTime"].(string))
			if st.Before(start) || st.After(end) {
				t.Errorf("backup job started at %v, outside the window", st)
			}
			backups++
		}
	}
	if backups != 18 {
		t.Fatalf("%d backup jobs ran in the window, want 18", backups)
	}

	// Advancing by a Go duration; resume lets it run from there.
	advanceClock(t, e, "90m")
	if got := clockNow(t, e); !got.Equal(end.Add(90 * time.Minute)) {
		t.Fatalf("after 90m: %v", got)
	}
	resp, m := call(t, e, "POST", adminURL("/clock/resume"), nil)
	mustStatus(t, 200, resp, m)
	if m["frozen"] != false {
		t.Fatalf("resume: %v", m)
	}
	if got := clockNow(t, e); got.Before(end.Add(90*time.Minute)) || got.After(end.Add(91*time.Minute)) {
		t.Fatalf("after resume the clock runs on from the offset: %v", got)
	}
	// A zero advance of the running clock is no move, not a negative one.
	for _, zero := range []string{"0s", "PT0S"} {
		advanceClock(t, e, zero)
	}
	// A negative one moves back, as a clock set to that time: frozen,
	// nothing run.
	before := clockNow(t, e)
	resp, m = call(t, e, "POST", adminURL("/clock/advance"), map[string]string{"duration": "-1h"})
	mustStatus(t, 200, resp, m)
	if got := clockNow(t, e); m["frozen"] != true || m["runs"] != float64(0) || got.After(before.Add(-59*time.Minute)) || got.Before(before.Add(-61*time.Minute)) {
		t.Fatalf("advance -1h from %v: %v, now %v", before, m, got)
	}
	for _, bad := range []string{"soon", "--1h", "-P", "P", ""} {
		resp, m = call(t, e, "POST", adminURL("/clock/advance"), map[string]string{"duration": bad})
		if resp.StatusCode != 400 || testserver.ErrorCode(m) != "InvalidDuration" {
			t.Errorf("advance %q: %d %v", bad, resp.StatusCode, m)
		}
	}
	resp, m = call(t, e, "POST", adminURL("/clock/set"), map[string]string{"time": "yesterday"})
	if resp.StatusCode != 400 || testserver.ErrorCode(m) != "InvalidTime" {
		t.Errorf("set yesterday: %d %v", resp.StatusCode, m)
	}
}

// newPrincipal creates a service principal and returns a token for it.
func newPrincipal(t *testing.T, e *testserver.Env, role string) (objectID, token string) {
	t.Helper()
	resp, sp := call(t, e, "POST", "/providers/Safehold.Identity/servicePrincipals?api-version=2024-01-01", map[string]string{"displayName": "p-" + uuid.NewString()[:6]})
	mustStatus(t, 201, resp, sp)
	objectID = sp["objectId"].(string)
	if role != "" {
		assignRole(t, e, "/subscriptions/"+e.Sub, role, objectID)
	}
	return objectID, spToken(t, e, sp["appId"].(string), sp["clientSecret"].(string))
}

func spToken(t *testing.T, e *testserver.Env, appID, secret string) string {
	t.Helper()
	hc, _ := e.Conn.HTTPClient()
	form := "grant_type=client_credentials&client_id=" + appID + "&client_secret=" + secret + "&scope=" + e.Conn.ARMEndpoint + "/.default"
	resp, err := hc.Post(e.Conn.ARMEndpoint+"/"+e.Conn.TenantID+"/oauth2/v2.0/token", "application/x-www-form-urlencoded", strings.NewReader(form))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tk struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tk)
	if tk.AccessToken == "" {
		t.Fatalf("token for %s: %s", appID, resp.Status)
	}
	return tk.AccessToken
}

// TestAdminNeedsOwner: the admin API answers 403 to a Contributor and to a
// principal without roles.
func TestAdminNeedsOwner(t *testing.T) {
	e := testserver.Start(t)
	_, contributor := newPrincipal(t, e, roleContributor)
	_, nobody := newPrincipal(t, e, "")
	for _, tok := range []string{contributor, nobody} {
		for _, c := range []struct{ method, path, body string }{
			{"GET", "/clock", ""}, {"POST", "/clock/advance", `{"duration":"1h"}`}, {"POST", "/reset", ""},
			{"POST", "/faultRules", `{"operation":"arm","code":"X"}`}, {"GET", "/faultRules", ""}, {"POST", "/verify", "{}"},
		} {
			var b []byte
			if c.body != "" {
				b = []byte(c.body)
			}
			resp, m := raw(t, e, c.method, adminURL(c.path), tok, b)
			if resp.StatusCode != 403 || testserver.ErrorCode(m) != "AuthorizationFailed" {
				t.Errorf("%s %s as non-owner: %d %v", c.method, c.path, resp.StatusCode, m)
			}
		}
	}
	if got := clockNow(t, e); time.Since(got).Abs() > time.Minute {
		t.Fatalf("the clock moved: %v", got)
	}
}

// TestClockStaysBeforeYear9000: clock set and advance refuse a time after
// server.ClockLatest (400, the clock unmoved): advanced to
// 10000-01-01T01:00:00Z (set refused year 10000, advance did not), the
// next vault PUT was a 500, its createdAt not writable as JSON.
func TestClockStaysBeforeYear9000(t *testing.T) {
	e := testserver.StartWithGroups(t, "rg")
	setClock(t, e, server.ClockLatest.Add(-time.Hour))
	for _, d := range []string{"2h", "PT2H", "P9999Y"} {
		resp, m := call(t, e, "POST", adminURL("/clock/advance"), map[string]string{"duration": d})
		if resp.StatusCode != 400 || testserver.ErrorCode(m) != "InvalidDuration" {
			t.Errorf("advance %q: %d %v", d, resp.StatusCode, m)
		}
	}
	for _, at := range []string{"9999-12-31T23:00:00Z", "9000-01-01T00:00:01Z"} {
		resp, m := call(t, e, "POST", adminURL("/clock/set"), map[string]string{"time": at})
		if resp.StatusCode != 400 || testserver.ErrorCode(m) != "InvalidTime" {
			t.Errorf("set %s: %d %v", at, resp.StatusCode, m)
		}
	}
	if got := clockNow(t, e); !got.Equal(server.ClockLatest.Add(-time.Hour)) {
		t.Fatalf("clock after refused moves: %v", got)
	}
	advanceClock(t, e, "1h")
	resp, m := e.Do("PUT", "/subscriptions/"+e.Sub+"/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/late?api-version=2023-04-01",
		[]byte(`{"location":"westus","sku":{"name":"Standard"},"properties":{}}`))
	mustStatus(t, 201, resp, m)
}
