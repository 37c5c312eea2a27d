package server_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/logtext"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/server"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// --log-requests logs bodies at debug with the client secret, tokens and
// SAS signatures redacted.
func TestLogRequestsRedacts(t *testing.T) {
	var buf syncBuf
	e := testserver.Start(t, func(c *server.Config) {
		c.LogRequests = true
		c.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	e.ResourceGroups("rg1")
	fixture.Disk(t, e, "rg1", "d1", 1, 0) // grants a write SAS and writes through it
	log := buf.String()
	for _, secret := range []string{e.Conn.ClientSecret} {
		if strings.Contains(log, secret) {
			t.Fatalf("log holds a secret")
		}
	}
	if !strings.Contains(log, "request body") || !strings.Contains(log, "client_secret=REDACTED") || !strings.Contains(log, `\"accessSAS\":\"REDACTED\"`) ||
		!strings.Contains(log, `access_token\":\"REDACTED`) {
		t.Fatalf("log lacks redacted bodies:\n%s", log)
	}
	if !strings.Contains(log, "sig=REDACTED") || regexp.MustCompile(`sig=[^R]`).MatchString(log) {
		t.Fatalf("SAS signature logged or not seen:\n%s", log)
	}
}

// The access log's line of a request: what slog.TextHandler writes for the
// record with the request's fields, through logtext's Line (the server's
// text format) as through slog (any other handler).
func TestAccessLine(t *testing.T) {
	for _, c := range []struct {
		name string
		h    func(io.Writer) slog.Handler
	}{
		{"logtext", func(w io.Writer) slog.Handler { return logtext.New(w, nil) }},
		{"slog", func(w io.Writer) slog.Handler { return slog.NewTextHandler(w, nil) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			var buf syncBuf
			e := testserver.Start(t, func(cfg *server.Config) { cfg.Logger = slog.New(c.h(&buf)) })
			path := "/subscriptions/" + e.Sub + "/resourcegroups/nope"
			resp, _ := e.Do("GET", path+"?api-version=2021-04-01", nil, testserver.Header("x-ms-client-request-id", "a b=c"))
			if resp.StatusCode != 404 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			reqID := resp.Header.Get("x-ms-request-id")
			var line string
			for _, l := range strings.SplitAfter(buf.String(), "\n") {
				if strings.Contains(l, " msg=request ") && strings.Contains(l, "request_id="+reqID) {
					line = l
				}
			}
			m := regexp.MustCompile(`^time=(\S+) .* duration=(\S+) .* remote=(\S+)\n$`).FindStringSubmatch(line)
			if m == nil {
				t.Fatalf("no access line of request %s in:\n%s", reqID, buf.String())
			}
			at, err := time.Parse("2006-01-02T15:04:05.000Z07:00", m[1])
			d, err2 := time.ParseDuration(m[2])
			if err != nil || err2 != nil || !strings.HasPrefix(m[3], "127.0.0.1:") {
				t.Fatalf("access line %q: %v, %v", line, err, err2)
			}
			r := slog.NewRecord(at, slog.LevelInfo, "request", 0)
			r.AddAttrs(slog.String("method", "GET"), slog.String("path", path), slog.String("query", "api-version=2021-04-01"),
				slog.Int("status", 404), slog.Int("bytes", int(resp.ContentLength)), slog.Duration("duration", d),
				slog.String("request_id", reqID), slog.String("client_request_id", "a b=c"), slog.String("remote", m[3]))
			var want bytes.Buffer
			slog.NewTextHandler(&want, nil).Handle(context.Background(), r)
			if line != want.String() {
				t.Fatalf("access line\n got %q\nwant %q", line, want.String())
			}
		})
	}
}
