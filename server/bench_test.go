package server_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/safehold/safehold/internal/logtext"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/server"
)

// BenchmarkARMGet measures authenticated ARM GETs (a resource group) over
// TLS on loopback from 64 concurrent keep-alive connections. The server
// formats its access log as in production (slog text), written to
// io.Discard. It reports requests/s and latency percentiles.
//
//	go test ./server -run '^$' -bench ARMGet -benchtime 20000x
func BenchmarkARMGet(b *testing.B) {
	e := testserver.Start(b, func(c *server.Config) { c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil)) })
	hc, _ := e.Conn.HTTPClient()
	base := hc.Transport.(*http.Transport).TLSClientConfig
	tok, err := e.Cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{e.Conn.ARMEndpoint + "/.default"}})
	if err != nil {
		b.Fatal(err)
	}
	url := e.Conn.ARMEndpoint + "/subscriptions/" + e.Sub + "/resourcegroups/bench?api-version=2021-04-01"
	put, _ := http.NewRequest("PUT", url, stringsReader(`{"location":"westus"}`))
	put.Header.Set("Authorization", "Bearer "+tok.Token)
	put.Header.Set("Content-Type", "application/json")
	if resp, err := hc.Do(put); err != nil || resp.StatusCode != 201 {
		b.Fatalf("create: %v", err)
	}
	const conns = 64
	clients := make([]*http.Client, conns)
	for i := range clients {
		clients[i] = &http.Client{Transport: &http.Transport{TLSClientConfig: base.Clone(), MaxIdleConnsPerHost: 1, DisableCompression: true, TLSHandshakeTimeout: 10 * time.Second}}
	}
	var next atomic.Int64
	lat := make([][]time.Duration, conns)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				req, _ := http.NewRequest("GET", url, nil)
				req.Header.Set("Authorization", "Bearer "+tok.Token)
				t0 := time.Now()
				resp, err := clients[i].Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
			}
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	if len(all) == 0 {
		return
	}
	pct := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "req/s")
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	for _, c := range clients {
		c.CloseIdleConnections()
	}
	_ = tls.VersionTLS12
}

// BenchmarkARMGetHandler is the server's own share of an authenticated ARM
// GET (a resource group): the request goes straight into the server's
// handler (middleware, access log, authentication, router, authorization,
// the provider and its JSON), without the TLS connection and net/http's
// request parsing, which a bare net/http server pays as well. Its allocs/op
// (and its CPU time, more than its ns/op on a busy machine) are the figures
// to cut for bench/arm-get.sh's ratio.
//
//	go test ./server -run '^$' -bench ARMGetHandler -benchmem
func BenchmarkARMGetHandler(b *testing.B) {
	e := testserver.Start(b, func(c *server.Config) { c.Logger = slog.New(logtext.New(io.Discard, nil)) }) // as `safehold serve`
	tok := e.Token(e.Cred)
	e.Do("PUT", "/subscriptions/"+e.Sub+"/resourcegroups/bench?api-version=2021-04-01", map[string]any{"location": "westus"})
	benchHandler(b, e, tok, "/subscriptions/"+e.Sub+"/resourcegroups/bench?api-version=2021-04-01")
}

// BenchmarkPolicyListHandler is BenchmarkARMGetHandler for a Backup vault's
// policy list (one policy), a read of bench/mixed.sh's mix that passes the
// vault's existence check.
//
//	go test ./server -run '^$' -bench PolicyListHandler -benchmem
func BenchmarkPolicyListHandler(b *testing.B) {
	e := testserver.Start(b, func(c *server.Config) { c.Logger = slog.New(logtext.New(io.Discard, nil)) })
	tok := e.Token(e.Cred)
	vault := "/subscriptions/" + e.Sub + "/resourceGroups/bench/providers/Microsoft.DataProtection/backupVaults/vb"
	e.Do("PUT", "/subscriptions/"+e.Sub+"/resourcegroups/bench?api-version=2021-04-01", map[string]any{"location": "westus"})
	for _, put := range []struct {
		path string
		body string
	}{
		{vault + "?api-version=2021-01-01", `{"location":"westus","identity":{"type":"SystemAssigned"},"properties":{"storageSettings":[{"datastoreType":"VaultStore","type":"LocallyRedundant"}]}}`},
		{vault + "/backupPolicies/p?api-version=2021-01-01", `{"properties":{"objectType":"BackupPolicy","datasourceTypes":["Microsoft.Compute/disks"],"policyRules":[{"name":"Default","objectType":"AzureRetentionRule","isDefault":true,"lifecycles":[{"deleteAfter":{"objectType":"AbsoluteDeleteOption","duration":"P7D"},"sourceDataStore":{"dataStoreType":"OperationalStore","objectType":"DataStoreInfoBase"}}]},{"name":"BackupHourly","objectType":"AzureBackupRule","backupParameters":{"objectType":"AzureBackupParams","backupType":"Incremental"},"dataStore":{"dataStoreType":"OperationalStore","objectType":"DataStoreInfoBase"},"trigger":{"objectType":"ScheduleBasedTriggerContext","schedule":{"repeatingTimeIntervals":["R/2021-01-01T00:00:00+00:00/PT4H"]},"taggingCriteria":[{"isDefault":true,"tagInfo":{"tagName":"Default"},"taggingPriority":99}]}}]}}`},
	} {
		if resp, body := e.Do("PUT", put.path, json.RawMessage(put.body)); resp.StatusCode >= 300 {
			b.Fatalf("PUT %s: %d %v", put.path, resp.StatusCode, body)
		}
	}
	benchHandler(b, e, tok, vault+"/backupPolicies?api-version=2021-01-01")
}

// benchHandler serves GET path with token tok b.N times through the
// server's handler and reports its CPU time per request.
func benchHandler(b *testing.B, e *testserver.Env, tok, path string) {
	req, err := http.NewRequest("GET", e.Conn.ARMEndpoint+path, nil)
	if err != nil {
		b.Fatal(err)
	}
	req = req.WithContext(server.ServedByConn(req.Context())) // as the server's connections serve it
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("User-Agent", "bench")
	req.RemoteAddr = "127.0.0.1:40000"
	req.TLS = &tls.ConnectionState{HandshakeComplete: true, Version: tls.VersionTLS13}
	w := &discardWriter{}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for range b.N {
		w.h, w.sent, w.status, w.n = make(http.Header), nil, 0, 0
		e.Server.Handler.ServeHTTP(w, req)
		if w.status != 200 || w.n == 0 {
			b.Fatalf("status %d, %d bytes", w.status, w.n)
		}
	}
	// The process's CPU time (the garbage collector's included) depends
	// less on the machine's other load than ns/op does.
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU is the process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// discardWriter is a ResponseWriter that keeps the status and counts the
// body. Its header map is a new one per request, copied at WriteHeader, as
// net/http's (a map of more than 8 keys grows into a table, and so does its
// copy: costs of the handler's headers that a reused map would hide).
type discardWriter struct {
	h, sent http.Header
	status  int
	n       int
}

func (w *discardWriter) Header() http.Header { return w.h }
func (w *discardWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status, w.sent = code, w.h.Clone()
	}
}
func (w *discardWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.n += len(b)
	return len(b), nil
}
