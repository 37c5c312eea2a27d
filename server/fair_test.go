package server_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/server"
)

// answer is a request's access line: its connection (remote address),
// when it started and ended.
type answer struct {
	remote     string
	start, end time.Time
}

// answerOrder is a slog handler that keeps the access lines in the order
// the requests ended.
type answerOrder struct {
	mu      sync.Mutex
	answers []answer
}

func (h *answerOrder) Enabled(context.Context, slog.Level) bool { return true }
func (h *answerOrder) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *answerOrder) WithGroup(string) slog.Handler            { return h }
func (h *answerOrder) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "request" {
		return nil
	}
	a := answer{end: r.Time}
	r.Attrs(func(at slog.Attr) bool {
		switch at.Key {
		case "remote":
			a.remote = at.Value.String()
		case "duration":
			a.start = r.Time.Add(-at.Value.Duration())
		}
		return true
	})
	h.mu.Lock()
	h.answers = append(h.answers, a)
	h.mu.Unlock()
	return nil
}

func (h *answerOrder) take() []answer {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.answers
	h.answers = nil
	return r
}

// A keep-alive connection whose next request is already waiting does not
// keep the processor while other connections' requests wait: a connection
// served back to back for server.TurnBudget yields, so connections take
// turns. Without that, Go's scheduler lets the goroutine of a connection
// whose client answers fast serve it back to back (the hand-offs between
// net/http's per-request goroutines keep the time slice), and under load
// the other connections waited tens of milliseconds (bench/arm-get.sh's
// p99, bench/mixed-measured.md, session 11). Sixteen connections send 32
// pipelined GETs each at once, on one processor: far more than a budget's
// worth each (a GET takes tens of microseconds, hundreds with the race
// detector).
func TestKeepAliveConnectionsTakeTurns(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	rec := &answerOrder{}
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
	const conns, pipelined = 16, 64
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
	// A run of more than half a connection's answers whose last but one
	// ended twice the budget or more after the first started: the
	// connection was served back to back past its budget although other
	// connections' requests waited (only the last run is exempt: nothing
	// else waits then). Without turns, every connection's 64 answers are
	// one such run (2.5-12 ms here). Both conditions, because the server's
	// runs are wall time: on a busy host the OS pauses the process within
	// a run (it looks long here but holds few answers, as the server
	// yields after the pause) or between two requests (the server takes
	// the pause for a wait and starts a new run).
	var long []string
	late := 0
	for i := 0; i < len(order); {
		j := i + 1
		for j < len(order) && order[j].remote == order[i].remote {
			j++
		}
		if j < len(order) && j-i > pipelined/2 {
			if d := order[j-2].end.Sub(order[i].start); d >= 2*server.TurnBudget {
				long = append(long, fmt.Sprintf("%d answers to %s in %v", j-i, order[i].remote, d))
				late += j - i
			}
		}
		i = j
	}
	if late >= len(order)/8 {
		t.Fatalf("%d of %d answers in runs of one connection of more than %d answers and twice the %v budget while others waited: %v", late, len(order), pipelined/2, server.TurnBudget, long)
	}
}
