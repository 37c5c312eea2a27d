package server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/logtext"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/server"
)

// BenchmarkARMGetWire is bench/arm-get.sh inside go test: authenticated
// resource-group GETs over TLS on loopback, the whole chain (TLS, the
// request-line repair, net/http's request parsing and response headers,
// the handler), against a bare net/http TLS server answering the same body
// with the same certificate (bench/baseline), each driven by the same
// client. The client (16 keep-alive connections) runs in a child process,
// so the figures are the servers' own CPU per request:
//
//	cpu-ns/req           Safehold
//	baseline-cpu-ns/req  the bare net/http server
//	cpu-x-baseline       their ratio (what bench/arm-get.sh's req/s ratio
//	                     is close to the inverse of when the server is the
//	                     bottleneck)
//	allocs/req, B/req    Safehold's heap allocations per request (the
//	                     background work's included), which the machine's
//	                     load does not change
//	baseline-allocs/req  the bare server's
//
// Both run b.N requests, one after the other, in the same benchmark run.
//
//	go test ./server -run '^$' -bench ARMGetWire -benchtime 20000x
func BenchmarkARMGetWire(b *testing.B) {
	e := testserver.Start(b, func(c *server.Config) { c.Logger = slog.New(logtext.New(io.Discard, nil)) }) // as `safehold serve`
	tok := e.Token(e.Cred)
	path := "/subscriptions/" + e.Sub + "/resourcegroups/bench?api-version=2021-04-01"
	e.Do("PUT", path, map[string]any{"location": "westus"})
	body, err := fetchBody(e, path)
	if err != nil {
		b.Fatal(err)
	}
	u, err := url.Parse(e.Conn.ARMEndpoint)
	if err != nil {
		b.Fatal(err)
	}
	tlsDir := filepath.Join(e.DataDir, "tls")
	baseAddr := startBaseline(b, filepath.Join(tlsDir, "server.pem"), filepath.Join(tlsDir, "server-key.pem"), body)

	type cost struct {
		cpu            time.Duration
		allocs, nbytes uint64
	}
	serve := func(addr string) cost {
		cmd := testsvc.DiesWithParent(exec.Command(os.Args[0], "-test.run", "^TestGetLoadClient$", "-test.count", "1"))
		cmd.Env = append(os.Environ(), "SAFEHOLD_GETLOAD="+strings.Join([]string{
			addr, u.Hostname(), path, tok, strconv.Itoa(b.N), "16", filepath.Join(tlsDir, "ca.pem")}, "\n"))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		c0 := processCPU()
		if err := cmd.Run(); err != nil {
			b.Fatalf("load client: %v\n%s", err, out.String())
		}
		c := cost{cpu: processCPU() - c0}
		runtime.ReadMemStats(&m1)
		c.allocs, c.nbytes = m1.Mallocs-m0.Mallocs, m1.TotalAlloc-m0.TotalAlloc
		return c
	}
	b.ResetTimer()
	sh := serve(u.Host)
	base := serve(baseAddr)
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(sh.cpu)/n, "cpu-ns/req")
	b.ReportMetric(float64(base.cpu)/n, "baseline-cpu-ns/req")
	b.ReportMetric(float64(sh.cpu)/float64(base.cpu), "cpu-x-baseline")
	b.ReportMetric(float64(sh.allocs)/n, "allocs/req")
	b.ReportMetric(float64(sh.nbytes)/n, "B/req")
	b.ReportMetric(float64(base.allocs)/n, "baseline-allocs/req")
}

// fetchBody returns the body Safehold answers GET path with.
func fetchBody(e *testserver.Env, path string) ([]byte, error) {
	hc, err := e.Conn.HTTPClient()
	if err != nil {
		return nil, err
	}
	req, _ := http.NewRequest("GET", e.Conn.ARMEndpoint+path, nil)
	req.Header.Set("Authorization", "Bearer "+e.Token(e.Cred))
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// startBaseline starts bench/baseline's server (a bare net/http TLS server
// answering body) in this process and returns its address.
func startBaseline(b *testing.B, certFile, keyFile string, body []byte) string {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
	if err != nil {
		b.Fatal(err)
	}
	n := strconv.Itoa(len(body))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Content-Length", n)
		w.Write(body)
	}), ReadHeaderTimeout: 30 * time.Second}
	// Its goroutines carry the label server=baseline in a CPU profile
	// (-test.cpuprofile; pprof -tagignore server=baseline shows Safehold's).
	go pprof.Do(context.Background(), pprof.Labels("server", "baseline"), func(context.Context) { srv.Serve(ln) })
	b.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// TestGetLoadClient is BenchmarkARMGetWire's client, run in a child process
// (SAFEHOLD_GETLOAD set): it sends N GETs over C keep-alive TLS
// connections, as wrk does (request line, Host, Authorization), and checks
// each answer is a 200 with its whole body.
func TestGetLoadClient(t *testing.T) {
	spec := os.Getenv("SAFEHOLD_GETLOAD")
	if spec == "" {
		t.Skip("BenchmarkARMGetWire's load client")
	}
	f := strings.Split(spec, "\n")
	addr, host, path, tok, caFile := f[0], f[1], f[2], f[3], f[6]
	n, _ := strconv.ParseInt(f[4], 10, 64)
	conns, _ := strconv.Atoi(f[5])
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	cfg := &tls.Config{RootCAs: roots, ServerName: host, NextProtos: []string{"http/1.1"}}
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nAuthorization: Bearer " + tok + "\r\n\r\n")
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := tls.Dial("tcp", addr, cfg)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			br := bufio.NewReaderSize(c, 16<<10)
			for next.Add(1) <= n {
				if _, err := c.Write(req); err != nil {
					errs <- err
					return
				}
				if err := readResponse(br); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// readResponse reads one HTTP/1.1 response with a Content-Length and
// requires a 200 with a body.
func readResponse(br *bufio.Reader) error {
	status, err := br.ReadSlice('\n')
	if err != nil {
		return err
	}
	if !bytes.HasPrefix(status, []byte("HTTP/1.1 200 ")) {
		return fmt.Errorf("status line %q", status)
	}
	clen := -1
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
			clen, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	if clen <= 0 {
		return fmt.Errorf("no Content-Length")
	}
	_, err = br.Discard(clen)
	return err
}
