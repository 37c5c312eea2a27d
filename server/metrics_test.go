package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/server"
)

// After a backup, /metrics counts the job, its bytes, the ARM requests by
// route and the repository's sizes; /healthz reports the version and the
// store's and blob backend's health; the usage endpoint gives the figures.
func TestMetricsAfterBackup(t *testing.T) {
	e := testserver.Start(t)
	before := e.Metrics()
	if before[`safehold_job_bytes_total{direction="backup"}`] != 0 {
		t.Fatalf("fresh server counts backup bytes: %v", before[`safehold_job_bytes_total{direction="backup"}`])
	}
	dv := fixture.ProtectDisk(t, e)
	dv.Backup(t, e)

	m := e.Metrics()
	if n := m[`safehold_jobs_total{operation="Backup",result="Completed"}`]; n != 1 {
		t.Errorf("backup jobs completed: %v", n)
	}
	if n := m[`safehold_job_duration_seconds_count{operation="Backup",result="Completed"}`]; n != 1 {
		t.Errorf("backup job durations observed: %v", n)
	}
	// 4 MiB of data written to the disk; the job moved at least that.
	if n := m[`safehold_job_bytes_total{direction="backup"}`]; n < 4<<20 {
		t.Errorf("bytes backed up: %v", n)
	}
	if n := m[`safehold_jobs_total{operation="ConfigureBackup",result="Completed"}`]; n < 1 {
		t.Errorf("configure-backup jobs: %v", n)
	}
	route := `/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.DataProtection/backupVaults/{vaultName}/backupInstances/{backupInstanceName}`
	found := false
	for k, v := range m {
		if strings.HasPrefix(k, "safehold_http_requests_total{") && strings.Contains(strings.ToLower(k), strings.ToLower(`route="`+route+`"`)) && strings.Contains(k, `method="PUT"`) && v >= 1 {
			found = true
		}
	}
	if !found {
		t.Errorf("no request counter for PUT %s", route)
	}
	if m[`safehold_repository_logical_bytes`] < 4<<20 || m[`safehold_repository_stored_bytes`] <= 0 || m[`safehold_repository_snapshots`] != 1 {
		t.Errorf("repository gauges: logical %v stored %v snapshots %v", m[`safehold_repository_logical_bytes`], m[`safehold_repository_stored_bytes`], m[`safehold_repository_snapshots`])
	}
	if m[`safehold_store_operation_duration_seconds_count{operation="update"}`] < 1 || m[`safehold_blob_operation_duration_seconds_count{operation="put"}`] < 1 {
		t.Errorf("store/blob latency histograms empty")
	}

	hc, _ := e.Conn.HTTPClient()
	resp, err := hc.Get(e.Conn.ARMEndpoint + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Status  string
		Version struct{ Module, Version string }
		Store   struct{ Status string }
		Blob    struct{ Status string }
	}
	json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if resp.StatusCode != 200 || h.Status != "ok" || h.Store.Status != "ok" || h.Blob.Status != "ok" || h.Version.Module != "github.com/safehold/safehold" || h.Version.Version == "" {
		t.Fatalf("healthz: %d %+v", resp.StatusCode, h)
	}

	r, u := raw(t, e, "GET", "/subscriptions/"+e.Sub+"/providers/Safehold.Storage/usage/default?api-version=2024-01-01", "", nil)
	p, _ := u["properties"].(map[string]any)
	if r.StatusCode != 200 || p["snapshots"] != 1.0 || p["logicalBytes"].(float64) < 4<<20 || p["dedupRatio"].(float64) <= 0 {
		t.Fatalf("usage: %d %v", r.StatusCode, u)
	}
	if r, u := raw(t, e, "GET", "/subscriptions/"+e.Sub+"/providers/Safehold.Storage/usage/other?api-version=2024-01-01", "", nil); r.StatusCode != http.StatusNotFound {
		t.Fatalf("other usage: %d %v", r.StatusCode, u)
	}
}

// Every request is counted once, by route, method and status, in the
// counter and the latency histogram alike (ObserveRequest keeps each
// label set's series after its first request).
func TestRequestMetricsCountEachRequest(t *testing.T) {
	e := testserver.Start(t)
	path := "/subscriptions/" + e.Sub + "/resourcegroups/counted?api-version=2021-04-01"
	e.Do("PUT", path, map[string]any{"location": "westus"})
	route := `method="GET",route="/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}"`
	count := func(m map[string]float64) (ok, missing, latency float64) {
		return m[`safehold_http_requests_total{`+route+`,status="200"}`], m[`safehold_http_requests_total{`+route+`,status="404"}`],
			m[`safehold_http_request_duration_seconds_count{`+route+`}`]
	}
	ok0, missing0, lat0 := count(e.Metrics())
	for range 5 {
		e.Do("GET", path, nil)
	}
	for range 3 {
		e.Do("GET", "/subscriptions/"+e.Sub+"/resourcegroups/absent?api-version=2021-04-01", nil)
	}
	ok1, missing1, lat1 := count(e.Metrics())
	if ok1-ok0 != 5 || missing1-missing0 != 3 || lat1-lat0 != 8 {
		t.Fatalf("after 5 GETs answered 200 and 3 answered 404: 200s counted %v, 404s %v, latencies %v", ok1-ok0, missing1-missing0, lat1-lat0)
	}
}

// A method HTTP does not define is counted as method="OTHER": each
// method a client made up (no token needed) added a series to the
// request counter and 17 to the latency histogram, for ever.
func TestRequestMetricsBoundTheMethods(t *testing.T) {
	e := testserver.Start(t)
	hc, _ := e.Conn.HTTPClient()
	for _, m := range []string{"MADEUP1", "MADEUP2", "get"} {
		req, err := http.NewRequest(m, e.Conn.ARMEndpoint+"/subscriptions/"+e.Sub+"/resourcegroups?api-version=2021-04-01", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	other := 0.0
	for k, v := range e.Metrics() {
		if strings.Contains(k, "MADEUP") || strings.Contains(k, `method="get"`) {
			t.Fatalf("a made-up method has its own series: %s", k)
		}
		if strings.HasPrefix(k, "safehold_http_requests_total{") && strings.Contains(k, `method="OTHER"`) {
			other += v
		}
	}
	if other != 3 {
		t.Fatalf("requests counted as OTHER: %v, want 3", other)
	}
}

// TestIdleServerClaimsSeldom: an idle server claims tasks no more than
// every few seconds (its runner waits for a wake-up or the next due
// task); it claimed every 200 ms, five claims a second (counted in
// safehold_store_operation_duration_seconds_count{operation="claim_tasks"};
// found by the session's known list).
func TestIdleServerClaimsSeldom(t *testing.T) {
	e := testserver.Start(t)
	if err := e.Server.Jobs.WaitIdle(e.Ctx()); err != nil {
		t.Fatal(err)
	}
	const claims = `safehold_store_operation_duration_seconds_count{operation="claim_tasks"}`
	before := e.Metrics()[claims]
	time.Sleep(3 * time.Second) // the window the claims are counted in
	if n := e.Metrics()[claims] - before; n > 2 {
		t.Fatalf("an idle server claimed tasks %v times in 3 s, want at most 2", n)
	}
}

// metricsHelp is the HELP line of each metric family /metrics of e shows.
func metricsHelp(t *testing.T, e *testserver.Env) map[string]string {
	t.Helper()
	hc, _ := e.Conn.HTTPClient()
	resp, err := hc.Get(e.Conn.ARMEndpoint + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "# HELP "); ok {
			name, help, _ := strings.Cut(rest, " ")
			out[name] = help
		}
	}
	return out
}

// TestMetricsAcrossReplicas: two replicas on one PostgreSQL store and one
// object store. A backup's bytes are counted once, by the replica that
// ended its job: the replicas' safehold_job_bytes_total add up to the
// job's dataTransferredInBytes (per-replica counters, which Prometheus
// sums), and the HELP says so. The repository gauges are the shared
// repository's figures, the same on every replica, and their HELP says to
// take one replica's (max), not the sum: nothing said either, and a sum
// over the replicas counted the repository once per replica.
func TestMetricsAcrossReplicas(t *testing.T) {
	a, blobURL := leaderOnPostgresAndAzurite(t, "metrics")
	b := testserver.Start(t, testserver.WithStore(a.StoreURL()), func(c *server.Config) { c.Blob = blobURL })
	dv := fixture.ProtectDisk(t, a)
	job := dv.Backup(t, a)
	_, m := a.Do("GET", "/subscriptions/"+a.Sub+"/resourceGroups/"+dv.RG+"/providers/Microsoft.DataProtection/backupVaults/"+dv.Vault+"/backupJobs/"+job+"?api-version=2024-04-01", nil)
	moved, _ := testserver.Field(m, "properties.extendedInfo.dataTransferredInBytes").(float64)
	if moved < 4<<20 {
		t.Fatalf("the backup job moved %v bytes: %v", moved, m)
	}
	const bytes = `safehold_job_bytes_total{direction="backup"}`
	if sum := a.Metrics()[bytes] + b.Metrics()[bytes]; sum != moved {
		t.Errorf("the replicas' %s add up to %v, the job moved %v", bytes, sum, moved)
	}
	a.WaitFor("both replicas to report the shared repository's figures", func() bool {
		ma, mb := a.Metrics(), b.Metrics()
		return ma["safehold_repository_stored_bytes"] > 0 && ma["safehold_repository_stored_bytes"] == mb["safehold_repository_stored_bytes"] &&
			ma["safehold_repository_snapshots"] == mb["safehold_repository_snapshots"]
	})
	help := metricsHelp(t, b)
	for _, name := range []string{"safehold_job_bytes_total", "safehold_jobs_total", "safehold_http_requests_total"} {
		if !strings.Contains(help[name], "this replica") || !strings.Contains(help[name], "sum") {
			t.Errorf("the HELP of %s does not say it counts this replica's and the replicas' figures add up: %q", name, help[name])
		}
	}
	for _, name := range []string{"safehold_repository_logical_bytes", "safehold_repository_stored_bytes", "safehold_repository_snapshots"} {
		if !strings.Contains(help[name], "every replica") || !strings.Contains(help[name], "max") {
			t.Errorf("the HELP of %s does not say every replica reports the same figure, not to sum: %q", name, help[name])
		}
	}
}
