package server_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/server"
)

// remoteOrder is a slog handler that keeps the remote address of every
// access line, in the order the requests ended.
type remoteOrder struct {
	mu      sync.Mutex
	remotes []string
}

func (h *remoteOrder) Enabled(context.Context, slog.Level) bool { return true }
func (h *remoteOrder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *remoteOrder) WithGroup(string) slog.Handler            { return h }
func (h *remoteOrder) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "request" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "remote" {
			h.mu.Lock()
			h.remotes = append(h.remotes, a.Value.String())
			h.mu.Unlock()
			return false
		}
		return true
	})
	return nil
}

func (h *remoteOrder) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.remotes
	h.remotes = nil
	return r
}

// A keep-alive connection whose next request is already waiting does not
// keep the processor while other connections' requests wait: each
// connection yields after every answer, so connections take turns.
// Without that, Go's scheduler lets the goroutine of a connection whose
// client answers fast serve it back to back (the hand-offs between
// net/http's per-request goroutines keep the time slice), and under load
// the other connections waited tens of milliseconds (bench/arm-get.sh's
// p99, bench/mixed-measured.md, session 11). Sixteen connections send 16
// pipelined GETs each at once, on one processor.
func TestKeepAliveConnectionsTakeTurns(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	rec := &remoteOrder{}
	e := testserver.Start(t, func(c *server.Config) { c.Logger = slog.New(rec) })
	path := "/subscriptions/" + e.Sub + "/resourcegroups/turns?api-version=2021-04-01"
	e.Do("PUT", path, map[string]any{"location": "westus"})
	u, err := url.Parse(e.Conn.ARMEndpoint)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(filepath.Join(e.DataDir, "tls", "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	cfg := &tls.Config{RootCAs: roots, ServerName: u.Hostname(), NextProtos: []string{"http/1.1"}}
	req := "GET " + path + " HTTP/1.1\r\nHost: " + u.Host + "\r\nAuthorization: Bearer " + e.Token(e.Cred) + "\r\n\r\n"
	const conns, pipelined = 16, 16
	cs := make([]*tls.Conn, conns)
	brs := make([]*bufio.Reader, conns)
	for i := range cs {
		c, err := tls.Dial("tcp", u.Host, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		cs[i], brs[i] = c, bufio.NewReader(c)
		// One request first: the handshake is done and the server's
		// goroutine waits for the connection's next request.
		if _, err := c.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		if err := readResponse(brs[i]); err != nil {
			t.Fatal(err)
		}
	}
	rec.take()
	// All requests at once: this goroutine holds the only processor until
	// it waits for the answers below (the server learns of some
	// connections' requests meanwhile, of the others at its next poll).
	batch := []byte(strings.Repeat(req, pipelined))
	for _, c := range cs {
		if _, err := c.Write(batch); err != nil {
			t.Fatal(err)
		}
	}
	for i := range cs {
		for range pipelined {
			if err := readResponse(brs[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	order := rec.take()
	if len(order) != conns*pipelined {
		t.Fatalf("%d access lines for %d requests", len(order), conns*pipelined)
	}
	// Answers on the same connection back to back: with turns, only while
	// one connection is the only one the server knows has a request
	// waiting (the runtime learns of newly readable connections in waves);
	// without, 15 of every connection's 16 (fewer with the race
	// detector, whose slower requests meet the runtime's 10 ms preemption).
	repeats := 0
	for i := 1; i < len(order); i++ {
		if order[i] == order[i-1] {
			repeats++
		}
	}
	if repeats >= len(order)/8 {
		t.Fatalf("%d of %d answers went to the connection answered just before: %v", repeats, len(order), order)
	}
}
