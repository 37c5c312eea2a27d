package server_test

import (
	"bytes"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/safehold/safehold/internal/fixture"
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
