package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// countingSQLite counts the document reads that reach the store.
type countingSQLite struct {
	*SQLite
	reads atomic.Int64
}

func (c *countingSQLite) View(ctx context.Context, kind, key string) (Doc, error) {
	c.reads.Add(1)
	return c.SQLite.View(ctx, kind, key)
}

// KnownKeys answers from memory the keys it read as existing until a
// commit writes a document of the kind (a write to another kind leaves it
// be), and sees each such commit at once: a key deleted is reported gone
// by the first check after the delete's Update returned, however many
// checks run meanwhile. A store that cannot tell (no KindVersion) is read
// on every check.
func TestKnownKeysSeeEveryCommit(t *testing.T) {
	s := openTestSQLite(t)
	ctx := context.Background()
	put := func(kind, key string) {
		t.Helper()
		if err := s.Update(ctx, func(tx Tx) error { return tx.Put(ctx, Doc{Kind: kind, Key: key, Value: []byte(`{}`)}) }); err != nil {
			t.Fatal(err)
		}
	}
	del := func(kind, key string) {
		t.Helper()
		if err := s.Update(ctx, func(tx Tx) error { return tx.Delete(ctx, kind, key) }); err != nil {
			t.Fatal(err)
		}
	}
	c := &countingSQLite{SQLite: s}
	k := NewKnownKeys(c, "principal")
	check := func(key string, want bool, reads int64) {
		t.Helper()
		before := c.reads.Load()
		ok, err := k.Exists(ctx, key)
		if err != nil || ok != want {
			t.Fatalf("Exists(%s) = %v, %v; want %v", key, ok, err, want)
		}
		if n := c.reads.Load() - before; n != reads {
			t.Fatalf("Exists(%s) read the store %d times, want %d", key, n, reads)
		}
	}
	put("principal", "p1")
	put("principal", "p2")
	check("p1", true, 1)
	check("p1", true, 0)
	check("p2", true, 1)
	check("p1", true, 0) // both known
	check("nobody", false, 1)
	check("nobody", false, 1) // only what exists is remembered
	put("other", "x")
	check("p1", true, 0) // another kind's write
	del("principal", "p2")
	check("p1", true, 1) // any write of the kind: read again
	check("p2", false, 1)
	put("principal", "p2")
	check("p2", true, 1)
	if err := s.Update(ctx, func(tx Tx) error { _, err := tx.DeleteScope(ctx, "principal", ""); return err }); err != nil {
		t.Fatal(err)
	}
	check("p1", false, 1)
	check("p2", false, 1)

	// Checks running all along: none after a delete's Update returned
	// reports the key (the store's Version moves after the COMMIT as well
	// as before it).
	// A check made between the delete's first invalidate and its COMMIT
	// reads the key as it was, but does not outlive the commit.
	put("principal", "p1")
	check("p1", true, 1)
	var during bool
	hook := func() { during, _ = k.Exists(ctx, "p1") } // in the writer: no t.Fatal there
	s.beforeCommit.Store(&hook)
	del("principal", "p1")
	s.beforeCommit.Store(nil)
	if !during {
		t.Fatal("p1 was not read as it was before the delete's COMMIT")
	}
	check("p1", false, 1)

	// epoch is odd from a put's start to its delete's return: a check
	// that ran wholly within an even epoch ran after a delete returned
	// and before the next put began.
	var epoch atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				e := epoch.Load()
				ok, err := k.Exists(ctx, "p3")
				if err != nil || (ok && e%2 == 0 && epoch.Load() == e) {
					errs <- fmt.Sprintf("p3 reported after its delete returned (%v)", err)
					return
				}
			}
		}()
	}
	for range 40 {
		epoch.Add(1)
		put("principal", "p3")
		del("principal", "p3")
		epoch.Add(1)
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}

	// No KindVersion: every check reads.
	put("principal", "p4")
	k = NewKnownKeys(readerOnly{c}, "principal")
	check("p4", true, 1)
	check("p4", true, 1)
}

// readerOnly is the store as one that cannot tell (PostgreSQL's).
type readerOnly struct{ *countingSQLite }

func (r readerOnly) KindVersion(string) *Version { return nil }
