package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

// fillStore writes documents through s until the file system is full
// for it too (the WAL cannot grow): ErrInsufficientStorage.
func fillStore(t *testing.T, s store.Store) {
	t.Helper()
	ctx := context.Background()
	v := make([]byte, 64<<10)
	for i := 0; i < 10000; i++ {
		err := s.Update(ctx, func(tx store.Tx) error {
			return tx.Put(ctx, store.Doc{Kind: "fill", Key: fmt.Sprint(i), Value: v})
		})
		if errors.Is(err, store.ErrInsufficientStorage) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("the store never filled the file system")
}

// freeingWrite is a store.Freeing write (the end of a disk's access).
func freeingWrite(s store.Store, key string) error {
	ctx := store.Freeing(context.Background())
	return s.Update(ctx, func(tx store.Tx) error {
		return tx.Put(ctx, store.Doc{Kind: "revoke", Key: key, Value: make([]byte, 16<<10)})
	})
}

// TestReserveHasOneHolder: the reserve beside a SQLite database is held by
// one open store at a time. A second open of the database (another
// process, or another open in this one) rewrote the file the first held,
// and a Freeing write through it on a full file system removed it: the
// first's own Freeing write then gave back a reserve that was gone and
// failed 507. Now the second holds none and leaves the file alone, and
// the first's Freeing write gets its space.
func TestReserveHasOneHolder(t *testing.T) {
	dir := testsvc.SmallDisk(t, 16)
	path := filepath.Join(dir, "meta.db")
	a := storetest.SQLiteAt(t, path)
	b := storetest.SQLiteAt(t, path)
	testsvc.FillUp(t, filepath.Join(dir, "filler"), 0)
	fillStore(t, a)
	freeingWrite(b, "through the second open") // fails: it holds no reserve
	fillStore(t, a)                            // what it gave back, if it gave back any, is taken again
	if err := freeingWrite(a, "through the first"); err != nil {
		t.Fatalf("a Freeing write through the store holding the reserve, on a full file system, after one through another open of its database: %v", err)
	}
}

// TestReserveOutlivesARestart: the reserve file stays when its store
// closes, and the next open on a file system with no room for another
// holds it again: a server restarted on a data directory all but full can
// still end a disk's upload access once its writes have filled it.
func TestReserveOutlivesARestart(t *testing.T) {
	dir := testsvc.SmallDisk(t, 16)
	path := filepath.Join(dir, "meta.db")
	a := storetest.SQLiteAt(t, path)
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path + "-reserve"); err != nil || fi.Size() != 1<<20 {
		t.Fatalf("the reserve after Close: %v", err)
	}
	testsvc.FillUp(t, filepath.Join(dir, "filler"), 256<<10) // room to open the database, not for a reserve
	b := storetest.SQLiteAt(t, path)
	fillStore(t, b)
	if err := freeingWrite(b, "after the restart"); err != nil {
		t.Fatalf("a Freeing write on a full file system after a restart: %v", err)
	}
}
