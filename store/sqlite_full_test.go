package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

// TestSQLiteOutOfSpace fills the file system of a SQLite store: a write
// (an Update, a claim) fails with ErrInsufficientStorage, which matches
// ENOSPC, and commits nothing; reads keep working; once space is freed the
// same store writes again and everything written before reads back, after
// a reopen too.
func TestSQLiteOutOfSpace(t *testing.T) {
	ctx := context.Background()
	dir := testsvc.SmallDisk(t, 8)
	path := filepath.Join(dir, "meta.db")
	s := storetest.SQLiteAt(t, path)
	value := bytes.Repeat([]byte("x"), 4<<10)
	put := func(key string) error {
		return s.Update(ctx, func(tx store.Tx) error { return tx.Put(ctx, store.Doc{Kind: "k", Key: key, Value: value}) })
	}
	for i := range 20 {
		if err := put(fmt.Sprint("before", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Update(ctx, func(tx store.Tx) error {
		_, err := tx.Enqueue(ctx, store.Task{Kind: "work", RunAt: time.Unix(0, 0)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	filler := filepath.Join(dir, "filler")
	testsvc.FillUp(t, filler, 0)

	full := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, store.ErrInsufficientStorage) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("%s on a full file system: %v, want ErrInsufficientStorage", what, err)
		}
	}
	var err error
	for i := 0; err == nil && i < 1000; i++ { // the WAL may have room for a few
		err = put(fmt.Sprint("full", i))
	}
	full("put", err)
	_, err = s.ClaimTasks(ctx, "node/x", time.Now(), time.Minute, 1)
	full("claim", err)
	if d, err := s.Get(ctx, "k", "before7"); err != nil || !bytes.Equal(d.Value, value) {
		t.Fatalf("read when full: %v", err)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := put("after"); err != nil {
		t.Fatalf("put once freed: %v", err)
	}
	if ts, err := s.ClaimTasks(ctx, "node/x", time.Now(), time.Minute, 1); err != nil || len(ts) != 1 {
		t.Fatalf("claim once freed: %v %v", ts, err)
	}
	s.Close()
	s = storetest.SQLiteAt(t, path)
	for _, k := range []string{"before0", "before19", "after"} {
		if d, err := s.Get(ctx, "k", k); err != nil || !bytes.Equal(d.Value, value) {
			t.Errorf("%s after reopening: %v", k, err)
		}
	}
}
