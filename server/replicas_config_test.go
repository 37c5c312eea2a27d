package server_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/server"
)

// TestReplicaWithOtherObjectStorageRefusesToStart: replicas on PostgreSQL
// keep their backup data in one container (--blob). A replica started on
// the same store with another container, or without --blob, refuses to
// start and says which --blob the others use. One with the same --blob
// starts, and so does a Safehold of its own (its own store) started on a
// container an earlier one used (a test harness's fresh Safehold per run). Such a replica started and served: its backups recorded
// recovery points whose chunks only its own container held (the others'
// restores and verify found them missing), and as leader its collections
// took the others' packs for garbage.
func TestReplicaWithOtherObjectStorageRefusesToStart(t *testing.T) {
	a, shared := leaderOnPostgresAndAzurite(t, "shared")
	pg, other := a.StoreURL(), testsvc.AzuriteContainer(t, "other")

	start := func(store, blob string) error {
		cfg := server.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), RetryAfter: 1, Store: store, Blob: blob,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		s, err := server.New(context.Background(), cfg)
		if err == nil {
			s.Close()
		}
		return err
	}
	for _, c := range []struct {
		what, store, blob string
		want              []string
	}{
		{"a replica with another container", pg, other, []string{"is not the object storage the replicas sharing this store keep their backup data in", "azblob://shared"}},
		{"a replica without --blob", pg, "", []string{"keep their backup data in object storage", "azblob://shared"}},
	} {
		err := start(c.store, c.blob)
		if err == nil {
			t.Errorf("%s started; want it refused", c.what)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: refused with %q, want it to say %q", c.what, err, w)
			}
		}
		t.Logf("%s: %v", c.what, err)
	}
	// A Safehold of its own on the replicas' container starts and serves.
	o := testserver.Start(t, testserver.WithStore(testsvc.PostgresSchema(t)), func(c *server.Config) { c.Blob = shared })
	o.ResourceGroups("rg-own")
	// A replica with the others' --blob starts and serves.
	b := testserver.Start(t, testserver.WithStore(pg), func(c *server.Config) { c.Blob = shared })
	b.ResourceGroups("rg-config")
}
