package store_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

// TestSQLiteBusyIsUnavailable: another process holds the database's write
// lock (an operator's sqlite3 shell in a write transaction, a backup tool)
// past the store's busy timeout: a write fails with ErrUnavailable (503
// with Retry-After; a job's run runs again), and commits nothing; once the
// lock is gone the same store writes again. Before, it failed with
// SQLite's plain 'database is locked', which ARM answered 500 and a job
// ended Failed with.
func TestSQLiteBusyIsUnavailable(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "meta.db")
	s := storetest.SQLiteAt(t, path)
	put := func(key string) error {
		return s.Update(ctx, func(tx store.Tx) error { return tx.Put(ctx, store.Doc{Kind: "k", Key: key, Value: []byte(`{}`)}) })
	}
	if err := put("before"); err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	c, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	err = put("held")
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("a write while another process holds the write lock: %v (after %v), want ErrUnavailable", err, time.Since(start))
	}
	if _, err := c.ExecContext(ctx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "k", "held"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the failed write: %v, want not found", err)
	}
	if err := put("after"); err != nil {
		t.Fatalf("a write once the lock is gone: %v", err)
	}
}
