package server_test

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
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
