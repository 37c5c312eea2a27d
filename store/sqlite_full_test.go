package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// TestSQLiteOpensOnAFullFileSystem: a SQLite store closed, then its file
// system filled to the last byte (a server stopped on a full disk, or one
// that filled while it was down), opens again in the space of the reserve
// the previous open left beside it: it reads everything, writes until the
// space is gone again (then ErrInsufficientStorage), and once space is
// freed writes and makes its reserve again. Without a reserve to give
// back, the open fails with ErrInsufficientStorage saying to free space
// and where, and the database opens whole once there is some. The open
// failed with "migrate: disk I/O error (4874)": SQLite could not grow its
// shared-memory index, and the server could not start to serve even reads.
func TestSQLiteOpensOnAFullFileSystem(t *testing.T) {
	ctx := context.Background()
	dir := testsvc.SmallDisk(t, 16) // room for a WAL grown to its checkpoint (4 MiB) and the reserve four times over
	path := filepath.Join(dir, "meta.db")
	value := bytes.Repeat([]byte("x"), 4<<10)
	put := func(s store.Store, key string) error {
		return s.Update(ctx, func(tx store.Tx) error { return tx.Put(ctx, store.Doc{Kind: "k", Key: key, Value: value}) })
	}
	s, err := store.OpenSQLite(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if err := put(s, fmt.Sprint("before", i)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	filler := filepath.Join(dir, "filler")
	testsvc.FillUp(t, filler, 0)

	s, err = store.OpenSQLite(ctx, path, nil)
	if err != nil {
		t.Fatalf("open on a full file system with the reserve beside the database: %v", err)
	}
	if d, err := s.Get(ctx, "k", "before19"); err != nil || !bytes.Equal(d.Value, value) {
		t.Fatalf("read after opening on a full file system: %v", err)
	}
	for i := 0; err == nil; i++ {
		if i == 10000 {
			t.Fatal("10,000 writes of 4 KiB on a full 16 MiB file system all succeeded")
		}
		err = put(s, fmt.Sprint("full", i))
	}
	if !errors.Is(err, store.ErrInsufficientStorage) {
		t.Fatalf("a write once the reserve's space is used: %v, want ErrInsufficientStorage", err)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	testsvc.WaitFor(t, "a write once space was freed, and the reserve made again", func() bool {
		if err := put(s, "after"); err != nil {
			t.Fatalf("a write once space was freed: %v", err)
		}
		fi, err := os.Stat(path + "-reserve")
		return err == nil && fi.Size() == 1<<20
	})
	s.Close()

	// No reserve to give back: a clear refusal, and the data intact.
	if err := os.Remove(path + "-reserve"); err != nil {
		t.Fatal(err)
	}
	testsvc.FillUp(t, filler, 0)
	_, err = store.OpenSQLite(ctx, path, nil)
	if !errors.Is(err, store.ErrInsufficientStorage) || !strings.Contains(err.Error(), "free") || !strings.Contains(err.Error(), dir) {
		t.Fatalf("open on a full file system without a reserve: %v, want ErrInsufficientStorage saying to free space in %s", err, dir)
	}
	t.Logf("without a reserve: %v", err)
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	s = storetest.SQLiteAt(t, path)
	for _, k := range []string{"before0", "before19", "full0", "after"} {
		if d, err := s.Get(ctx, "k", k); err != nil || !bytes.Equal(d.Value, value) {
			t.Errorf("%s after the refused open: %v", k, err)
		}
	}
}
