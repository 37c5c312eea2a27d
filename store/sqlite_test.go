package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

func TestSQLiteConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		return storetest.SQLite(t)
	})
}

func TestSQLiteReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "meta.db")
	s := storetest.SQLiteAt(t, path)
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.Put(ctx, store.Doc{Kind: "k", Key: "a", Value: []byte("v")}) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = storetest.SQLiteAt(t, path)
	d, err := s.Get(ctx, "k", "a")
	if err != nil || string(d.Value) != "v" {
		t.Fatalf("%v %+v", err, d)
	}
}

// Updates that commit together (group commit) stay atomic one by one: a
// failing or panicking fn loses only its own writes, every other Update of
// the same group is durable (seen after reopening), and the panic reaches
// its own caller.
func TestSQLiteGroupCommitIsolation(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "meta.db")
	s := storetest.SQLiteAt(t, path)
	const workers, each = 32, 40
	errBoom := errors.New("boom")
	var panics atomic.Int64
	inParallel(workers, each, func(w, i int) bool {
		key := fmt.Sprintf("%d-%d", w, i)
		err := func() (err error) {
			defer func() {
				if p := recover(); p != nil {
					if p != "panic "+key {
						t.Errorf("recovered %v, want this caller's panic", p)
					}
					panics.Add(1)
					err = errBoom
				}
			}()
			return s.Update(ctx, func(tx store.Tx) error {
				if err := tx.Put(ctx, store.Doc{Kind: "k", Key: key, Value: []byte(key)}); err != nil {
					return err
				}
				if err := tx.Put(ctx, store.Doc{Kind: "pair", Key: key, Value: []byte(key)}); err != nil {
					return err
				}
				switch i % 5 {
				case 1:
					return errBoom
				case 2:
					panic("panic " + key)
				}
				return nil
			})
		}()
		if want := i%5 == 1 || i%5 == 2; (err != nil) != want {
			t.Errorf("update %s: err %v, want failure %v", key, err, want)
		}
		return true
	})
	if panics.Load() != workers*each/5 {
		t.Fatalf("%d panics reached their callers, want %d", panics.Load(), workers*each/5)
	}
	s.Close()
	s = storetest.SQLiteAt(t, path)
	for _, kind := range []string{"k", "pair"} {
		docs, err := s.List(ctx, kind, store.ListQuery{})
		if err != nil {
			t.Fatal(err)
		}
		if len(docs) != workers*each*3/5 {
			t.Fatalf("%s: %d documents after reopen, want %d", kind, len(docs), workers*each*3/5)
		}
		for _, d := range docs {
			var w, i int
			fmt.Sscanf(d.Key, "%d-%d", &w, &i)
			if i%5 == 1 || i%5 == 2 {
				t.Fatalf("%s %s of a failed update was committed", kind, d.Key)
			}
		}
	}
}

// Scope prefixes are matched as prefixes, including the characters LIKE
// would treat as wildcards.
func TestSQLiteScopePrefixLiteral(t *testing.T) {
	ctx := context.Background()
	s := storetest.SQLite(t)
	for _, sc := range []string{"/a_b/", "/axb/", "/a%/", "/a_b/c/", "/A_B0/"} {
		if err := s.Update(ctx, func(tx store.Tx) error {
			return tx.Put(ctx, store.Doc{Kind: "k", Key: sc + "x", Scope: sc, Value: []byte("v")})
		}); err != nil {
			t.Fatal(err)
		}
	}
	docs, err := s.List(ctx, "k", store.ListQuery{ScopePrefix: "/A_b/"})
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 {
		t.Fatalf("prefix /a_b/ matched %d documents, want 2 (/a_b/ and /a_b/c/)", len(docs))
	}
	var n int
	if err := s.Update(ctx, func(tx store.Tx) error { n, err = tx.DeleteScope(ctx, "k", "/a%/"); return err }); err != nil || n != 1 {
		t.Fatalf("DeleteScope /a%%/ removed %d (%v), want 1", n, err)
	}
}

// Read-modify-write Updates that share commit groups never lose an
// increment: a read inside an Update sees what earlier Updates of its group
// wrote (committed with it, or rolled back). Half the Updates fail after
// writing, so their writes roll back; some bulk-delete in the same group.
func TestSQLiteGroupReadsSeeGroupWrites(t *testing.T) {
	ctx := context.Background()
	s := storetest.SQLite(t)
	put := func(tx store.Tx, key string, n int) error {
		return tx.Put(ctx, store.Doc{Kind: "counter", Key: key, Scope: "/c", Value: []byte(fmt.Sprint(n))})
	}
	read := func(tx store.Reader, key string) (int, error) {
		d, err := tx.Get(ctx, "counter", key)
		if errors.Is(err, store.ErrNotFound) {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		var n int
		_, err = fmt.Sscan(string(d.Value), &n)
		return n, err
	}
	if err := s.Update(ctx, func(tx store.Tx) error { return put(tx, "a", 0) }); err != nil {
		t.Fatal(err)
	}
	errBoom := errors.New("boom")
	const workers, each = 16, 25
	inParallel(workers, each, func(w, i int) bool {
		if _, err := read(s, "a"); err != nil { // fills the read cache
			t.Error(err)
			return false
		}
		err := s.Update(ctx, func(tx store.Tx) error {
			n, err := read(tx, "a")
			if err != nil {
				return err
			}
			if err := put(tx, "a", n+1); err != nil {
				return err
			}
			if (w+i)%2 == 1 { // written, then rolled back
				if err := put(tx, "a", n+1000); err != nil {
					return err
				}
				return errBoom
			}
			if i%5 == 0 { // a bulk delete of the kind: later reads in the group go to SQLite
				if err := put(tx, "gone", 1); err != nil {
					return err
				}
				if _, err := tx.DeleteScope(ctx, "counter", "/d"); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil && !errors.Is(err, errBoom) {
			t.Error(err)
			return false
		}
		return true
	})
	want := 0
	for w := range workers {
		for i := range each {
			if (w+i)%2 == 0 {
				want++
			}
		}
	}
	if n, err := read(s, "a"); err != nil || n != want {
		t.Fatalf("counter = %d (%v), want %d: an Update read a stale value", n, err, want)
	}
}

// inParallel runs fn(w, i) for i from 0 to each-1 on each of workers
// goroutines (w from 0 to workers-1) and waits for them all; a worker
// stops early when fn returns false.
func inParallel(workers, each int, fn func(w, i int) bool) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if !fn(w, i) {
					return
				}
			}
		}()
	}
	wg.Wait()
}
