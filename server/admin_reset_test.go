package server_test

import (
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/server"
	"github.com/safehold/safehold/store"
)

// files lists the regular files under dir (relative), skipping tmp dirs.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

func docKeys(docs []store.Doc) []string {
	keys := make([]string, len(docs))
	for i, d := range docs {
		keys[i] = d.Key
	}
	return keys
}

// TestResetKeepsCredentialsAndNothingElse fills a server (resource groups,
// disks, a vault with backups, a principal with a role), resets it through
// the admin API and checks that the admin's credentials still work, the
// deleted principal's token does not, and no resource, document, task or
// backup file is left; then the server works as new.
func TestResetKeepsCredentialsAndNothingElse(t *testing.T) {
	e := testserver.Start(t)
	start := time.Date(2022, 3, 1, 0, 0, 0, 0, time.UTC)
	setClock(t, e, start)
	p := protectDisk(t, e, "d1", "2022-03-01T01:00:00+00:00", "PT4H", "P7D")
	advanceClock(t, e, "12h")
	if n := len(pointTimes(t, e, p.bi)); n != 3 {
		t.Fatalf("%d points before reset", n)
	}
	spID, spToken := newPrincipal(t, e, roleContributor)
	if resp, m := raw(t, e, "GET", "/subscriptions/"+e.Sub+"/resourcegroups?api-version=2021-04-01", spToken, nil); resp.StatusCode != 200 {
		t.Fatalf("principal before reset: %d %v", resp.StatusCode, m)
	}
	for _, dir := range []string{"volumes", filepath.Join("snapshots", "repo", "pack"), filepath.Join("snapshots", "repo", "snapshot")} {
		if fs := files(t, filepath.Join(e.DataDir, dir)); len(fs) == 0 {
			t.Fatalf("no files in %s before reset", dir)
		}
	}
	// Tags on the subscription and a predefined tag name go too.
	resp, m := call(t, e, "PUT", "/subscriptions/"+e.Sub+"/providers/Microsoft.Resources/tags/default?api-version=2021-04-01",
		map[string]any{"properties": map[string]any{"tags": map[string]string{"env": "test"}}})
	mustStatus(t, 200, resp, m)
	resp, m = call(t, e, "PUT", "/subscriptions/"+e.Sub+"/tagNames/costcenter?api-version=2021-04-01", nil)
	mustStatus(t, 201, resp, m)
	connBefore, _ := os.ReadFile(filepath.Join(e.DataDir, "connection.json"))
	caBefore, _ := os.ReadFile(filepath.Join(e.DataDir, "tls", "ca.pem"))

	resp, m = call(t, e, "POST", adminURL("/reset"), nil)
	mustStatus(t, 200, resp, m)
	t.Logf("reset: %v", m)
	// The answer reports how long the reset took (its speed is not a test
	// assertion: a busy machine would make that flaky).
	if ds, _ := m["duration"].(string); ds == "" {
		t.Errorf("reset answered no duration: %v", m)
	} else if d, err := time.ParseDuration(ds); err != nil || d <= 0 {
		t.Errorf("reset duration %q: %v", ds, err)
	}

	// The admin's token from before and a new one both work; the CA and
	// connection.json are unchanged; the subscription is there.
	resp, m = call(t, e, "GET", "/subscriptions/"+e.Sub+"?api-version=2022-12-01", nil)
	mustStatus(t, 200, resp, m)
	if tags, ok := m["tags"].(map[string]any); ok && len(tags) > 0 {
		t.Errorf("the subscription's tags after reset: %v", tags)
	}
	resp, m = call(t, e, "GET", "/subscriptions/"+e.Sub+"/tagNames?api-version=2021-04-01", nil)
	mustStatus(t, 200, resp, m)
	if v, _ := m["value"].([]any); len(v) != 0 {
		t.Errorf("tag names after reset: %v", v)
	}
	connAfter, _ := os.ReadFile(filepath.Join(e.DataDir, "connection.json"))
	caAfter, _ := os.ReadFile(filepath.Join(e.DataDir, "tls", "ca.pem"))
	if string(connAfter) != string(connBefore) || string(caAfter) != string(caBefore) || len(caAfter) == 0 {
		t.Fatalf("connection.json or CA changed")
	}
	// The other principal is gone.
	if resp, _ := raw(t, e, "GET", "/subscriptions/"+e.Sub+"/resourcegroups?api-version=2021-04-01", spToken, nil); resp.StatusCode != 401 {
		t.Errorf("deleted principal's token: %d, want 401", resp.StatusCode)
	}
	resp, m = call(t, e, "GET", "/providers/Safehold.Identity/servicePrincipals?api-version=2024-01-01", nil)
	mustStatus(t, 200, resp, m)
	if v := m["value"].([]any); len(v) != 1 || v[0].(map[string]any)["appId"] != e.Conn.ClientID {
		t.Errorf("principals after reset: %v", v)
	}
	resp, m = call(t, e, "GET", "/subscriptions/"+e.Sub+"/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01", nil)
	mustStatus(t, 200, resp, m)
	if v := m["value"].([]any); len(v) != 1 || strings.Contains(strings.ToLower(v[0].(map[string]any)["properties"].(map[string]any)["principalId"].(string)), strings.ToLower(spID)) {
		t.Errorf("role assignments after reset: %v", v)
	}
	// No resource groups, resources, documents, tasks or backup files.
	resp, m = call(t, e, "GET", "/subscriptions/"+e.Sub+"/resourcegroups?api-version=2021-04-01", nil)
	mustStatus(t, 200, resp, m)
	if v := m["value"].([]any); len(v) != 0 {
		t.Errorf("resource groups after reset: %v", v)
	}
	resp, m = call(t, e, "GET", "/subscriptions/"+e.Sub+"/resources?api-version=2021-04-01", nil)
	mustStatus(t, 200, resp, m)
	if v := m["value"].([]any); len(v) != 0 {
		t.Errorf("resources after reset: %v", v)
	}
	kinds, err := e.Server.DocumentKinds(e.Ctx())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range kinds {
		docs, _ := e.Server.Store.List(e.Ctx(), k, store.ListQuery{})
		switch k {
		case "config", "subscription", "rbac.generation":
			// (the generation of role assignments, which the reset changed:
			// deleted, a replica could take it for the one it loaded at)
		case "replica", "compute.replica":
			// What a replica advertises to the others (PostgreSQL): kept, and
			// only this server's.
			if len(docs) != 1 || docs[0].Key != e.Server.NodeID {
				t.Errorf("documents of kind %s left: %v, want this replica's (%s) alone", k, docKeys(docs), e.Server.NodeID)
			}
		case "principal", "principal-appid", "roleassignment":
			if len(docs) != 1 {
				t.Errorf("%d documents of kind %s left", len(docs), k)
			}
		default:
			t.Errorf("%d documents of kind %s left", len(docs), k)
		}
	}
	if e.Server.Config.Store != "" {
		// On PostgreSQL a reset keeps what this replica advertises to the
		// others: without it they no longer accept a token obtained for
		// its endpoint, nor find its NBD listener.
		for _, k := range []string{"replica", "compute.replica"} {
			if _, err := e.Server.Store.Get(e.Ctx(), k, e.Server.NodeID); err != nil {
				t.Errorf("this replica's %s document after reset: %v", k, err)
			}
		}
	}
	if next, err := e.Server.Store.NextTaskTime(e.Ctx()); err != nil || !next.IsZero() {
		t.Errorf("a task is left (next at %v, %v)", next, err)
	}
	for _, dir := range []string{"volumes", "vaults", filepath.Join("snapshots", "repo", "pack"), filepath.Join("snapshots", "repo", "snapshot")} {
		if fs := files(t, filepath.Join(e.DataDir, dir)); len(fs) != 0 {
			t.Errorf("files left in %s: %v", dir, fs)
		}
	}

	// The server works as new, on the same clock.
	p = protectDisk(t, e, "d1", "2022-03-01T13:00:00+00:00", "PT4H", "P7D")
	advanceClock(t, e, "PT4H")
	if n := len(pointTimes(t, e, p.bi)); n != 1 {
		t.Fatalf("%d points after reset and a new schedule", n)
	}
}

// TestResetLogsItsRunningJobsDeleted: a reset that stops a running backup
// logs that the reset deletes it; it logged "job interrupted; it resumes
// when the server restarts", about a job the reset then deleted.
func TestResetLogsItsRunningJobsDeleted(t *testing.T) {
	logs := &syncBuf{}
	e := testserver.Start(t, func(c *server.Config) { c.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
	dv := fixture.ProtectDisk(t, e)
	resp, m := call(t, e, "POST", adminURL("/faultRules"), map[string]any{"name": "hold", "operation": "backup", "path": "*/backupInstances/" + dv.Instance, "latency": "10m"})
	mustStatus(t, 201, resp, m)
	if _, err := dv.StartBackup(t, e); err != nil { // (not waited for: it is held)
		t.Fatal(err)
	}
	e.WaitFaultRuleHit("the backup held", "hold")
	resp, m = call(t, e, "POST", adminURL("/reset"), nil)
	mustStatus(t, 200, resp, m)
	var lines []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "job interrupted") {
			lines = append(lines, l)
		}
	}
	if len(lines) != 1 || !strings.Contains(lines[0], "job interrupted by a reset, which deletes it") || !strings.Contains(lines[0], "operation=Backup") {
		t.Fatalf("the reset's running backup logged %q", lines)
	}
}
