package server_test

import (
	"testing"
	"time"

	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/server"
	"github.com/safehold/safehold/store"
)

// TestJobHistoryPruned: as Azure keeps six months of job history, an
// ended job leaves both vault kinds' job lists (and answers 404) once it
// ended 180 days ago on the server clock, while younger jobs and
// a job still running stay; the pruning plans itself again (across a
// restart too), so a job recorded later goes when its own six months are
// over.
func TestJobHistoryPruned(t *testing.T) {
	h := newPruneEnv(t)
	e, dp, rs, start := h.e, h.dp, h.rs, h.start
	dpOld, rsOld := h.verify(dp), h.verify(rs)
	// A job still running (a backup whose process died and has not resumed)
	// is kept whatever its age.
	running := &protection.Job{ID: "8f1c1d3e-0000-4000-8000-000000000001", VaultID: rs, ItemName: "vm", Operation: protection.OpBackup,
		Status: protection.JobInProgress, StartTime: start}
	if err := e.Server.Store.Update(e.Ctx(), func(tx store.Tx) error { return protection.CreateJob(e.Ctx(), tx, running) }); err != nil {
		t.Fatal(err)
	}

	advanceClock(t, e, "P100D")
	rsNew := h.verify(rs)
	e.Restart()                   // the pruning's plan survives, neither lost nor moved
	advanceClock(t, e, "PT1919H") // 179 days and 23 hours after start
	if !h.listed(dp, dpOld) || !h.listed(rs, rsOld) {
		t.Fatalf("jobs were pruned before they were 180 days old")
	}
	advanceClock(t, e, "PT1H")
	if h.listed(dp, dpOld) || h.listed(rs, rsOld) {
		t.Fatalf("jobs that ended 180 days ago are still listed")
	}
	if !h.listed(rs, rsNew) || !h.listed(rs, running.ID) {
		t.Fatalf("a job of 80 days or a running one was pruned")
	}
	advanceClock(t, e, "P100D") // 180 days after rsNew ended
	if h.listed(rs, rsNew) || !h.listed(rs, running.ID) {
		t.Fatalf("after 280 days: the job of day 100 is listed %v, the running job %v", h.listed(rs, rsNew), h.listed(rs, running.ID))
	}
}

// TestJobRetentionConfigured: the server's JobRetention (serve
// --job-retention) replaces the six months.
func TestJobRetentionConfigured(t *testing.T) {
	h := newPruneEnv(t, func(c *server.Config) { c.JobRetention = 30 * 24 * time.Hour })
	id := h.verify(h.rs)
	h.prunedAt30Days(id)
}

// TestJobRetentionChangedAtRestart: a restart with another retention
// (serve --job-retention) prunes by it at once and plans by it, instead of
// keeping the plan the old retention made (180 days out).
func TestJobRetentionChangedAtRestart(t *testing.T) {
	h := newPruneEnv(t)
	old := h.verify(h.rs)
	advanceClock(t, h.e, "P31D")
	young := h.verify(h.rs)
	h.e.RestartWith(func(c *server.Config) { c.JobRetention = 30 * 24 * time.Hour })
	if h.listed(h.rs, old) || !h.listed(h.rs, young) {
		t.Fatalf("after a restart with 30 days: the job of 31 days is listed %v, the new one %v", h.listed(h.rs, old), h.listed(h.rs, young))
	}
	h.e.Restart() // the same retention again: the plan is kept
	h.prunedAt30Days(young)
}

// prunedAt30Days: the Recovery Services job id is listed until it is 30
// days old (an hour before) and pruned once it is.
func (h *pruneEnv) prunedAt30Days(id string) {
	h.t.Helper()
	advanceClock(h.t, h.e, "PT719H")
	if !h.listed(h.rs, id) {
		h.t.Fatal("a job was pruned before it was 30 days old")
	}
	advanceClock(h.t, h.e, "PT1H")
	if h.listed(h.rs, id) {
		h.t.Fatal("a job that ended 30 days ago is still listed")
	}
}

// pruneEnv is a server with its clock frozen at start and a Backup vault dp and
// a Recovery Services vault rs without scheduled verifies.
type pruneEnv struct {
	t      *testing.T
	e      *testserver.Env
	dp, rs string
	start  time.Time
}

const pruneAV = "?api-version=2024-04-01"

func newPruneEnv(t *testing.T, opts ...testserver.Option) *pruneEnv {
	e := testserver.Start(t, opts...)
	// A start after the server's (the start ran the first pruning at the
	// real time and planned the next one 180 days later).
	h := &pruneEnv{t: t, e: e, start: time.Now().UTC().Truncate(time.Hour).Add(time.Hour)}
	setClock(t, e, h.start)
	sub := "/subscriptions/" + e.Sub
	e.ResourceGroups("vrg")
	h.dp = sub + "/resourceGroups/vrg/providers/Microsoft.DataProtection/backupVaults/dv"
	h.rs = sub + "/resourceGroups/vrg/providers/Microsoft.RecoveryServices/vaults/rv"
	off := map[string]string{"safehold-verify-every": "off"} // only the jobs the test starts
	resp, m := call(t, e, "PUT", h.dp+pruneAV, map[string]any{"location": "westus", "tags": off,
		"properties": map[string]any{"storageSettings": []any{map[string]string{"datastoreType": "VaultStore", "type": "LocallyRedundant"}}}})
	mustStatus(t, 201, resp, m)
	resp, m = call(t, e, "PUT", h.rs+pruneAV, map[string]any{"location": "westus", "tags": off, "sku": map[string]string{"name": "Standard"}, "properties": map[string]any{}})
	mustStatus(t, 201, resp, m)
	return h
}

// verify runs a verify of vault and returns its (ended) job's id.
func (h *pruneEnv) verify(vault string) string {
	h.t.Helper()
	st, id := startVerify(h.t, h.e, vault, pruneAV, "", map[string]any{})
	if str(st, "status") != "Succeeded" || id == "" {
		h.t.Fatalf("verify %s: %v", vault, st)
	}
	return id
}

// listed says whether job id is in vault's job list; a GET of it must
// agree (200 when listed, 404 when not).
func (h *pruneEnv) listed(vault, id string) bool {
	h.t.Helper()
	resp, m := call(h.t, h.e, "GET", vault+"/backupJobs"+pruneAV, nil)
	mustStatus(h.t, 200, resp, m)
	in := false
	for _, j := range m["value"].([]any) {
		in = in || j.(map[string]any)["name"] == id
	}
	resp, _ = call(h.t, h.e, "GET", vault+"/backupJobs/"+id+pruneAV, nil)
	if in != (resp.StatusCode == 200) || (!in && resp.StatusCode != 404) {
		h.t.Fatalf("job %s: listed %v, GET %d", id, in, resp.StatusCode)
	}
	return in
}
