package server_test

import (
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/server"
)

// TestSecretsAtRestAreNotReadable: a data dir created beforehand with 0755
// becomes 0700, and the database with its WAL and shared memory, the TLS
// private keys and connection.json are 0600; modes loosened between starts
// are tightened again at start, with a warning naming the file.
func TestSecretsAtRestAreNotReadable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755) // whatever the umask
	logs := &syncBuf{}
	e := testserver.Start(t, func(c *server.Config) {
		c.DataDir = dir
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	if _, m := raw(t, e, "GET", "/subscriptions?api-version=2022-12-01", "", nil); m == nil {
		t.Fatal("no answer")
	}
	// The TLS private keys and connection.json on either store; the
	// database with its WAL and shared memory with SQLite (PostgreSQL
	// keeps none in the data dir).
	secrets := []string{"connection.json", "tls/ca-key.pem", "tls/server-key.pem"}
	loosened := []string{"tls/server-key.pem", "connection.json"}
	if e.Server.Config.Store == "" {
		secrets = append(secrets, "safehold.db", "safehold.db-wal", "safehold.db-shm")
		loosened = append(loosened, "safehold.db")
	}
	check := func(when string) {
		t.Helper()
		if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
			t.Fatalf("%s: data dir mode %v %v, want 0700", when, fi.Mode().Perm(), err)
		}
		for _, name := range secrets {
			fi, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				t.Fatalf("%s: %s: %v", when, name, err)
			}
			if fi.Mode().Perm()&0o077 != 0 {
				t.Fatalf("%s: %s has mode %v: other users can read it", when, name, fi.Mode().Perm())
			}
		}
	}
	check("first start")
	if !strings.Contains(logs.String(), "tightened") || !strings.Contains(logs.String(), dir) {
		t.Fatalf("no warning about the 0755 data dir:\n%s", logs.String())
	}
	e.Stop()
	for _, name := range loosened {
		os.Chmod(filepath.Join(dir, name), 0o644)
	}
	os.Chmod(dir, 0o755)
	before := len(logs.String())
	e.Restart()
	check("after loosening and restarting")
	warned := logs.String()[before:]
	for _, name := range loosened {
		if !strings.Contains(warned, filepath.Base(name)) {
			t.Fatalf("no warning about %s:\n%s", name, warned)
		}
	}
}
