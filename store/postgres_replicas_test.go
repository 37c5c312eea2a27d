package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

// Two replicas' writers increment one counter at once, in Updates of which
// some fail after writing (an error, a panic, a statement gone wrong that
// the fn ignores): the counter ends at the number of Updates that
// succeeded, every one of them left its own document and no failed one
// did, and each read the counter as the one before it left it (no write
// lost, none visible that was not acknowledged, whatever each writer
// remembers of the documents).
func TestPostgresReplicasCountTogether(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	replicas := []*store.Postgres{storetest.Postgres(t, url), storetest.Postgres(t, url)}
	ctx := context.Background()
	const workers, each = 16, 30
	var counted counterUpdates
	counted.run(t, replicas, workers, each, func(s *store.Postgres, w, i int, name string) (read int, err error) {
		mode := (w*each + i) % 6
		err = func() (err error) {
			defer func() {
				if v := recover(); v != nil {
					err = fmt.Errorf("panic: %v", v)
				}
			}()
			return s.Update(ctx, func(tx store.Tx) error {
				var err error
				if read, err = countOnce(ctx, tx, name); err != nil {
					return err
				}
				switch mode {
				case 1:
					return errors.New("fails")
				case 2:
					panic("fails")
				case 3:
					tx.Put(ctx, store.Doc{Kind: "own", Key: "nul\x00"}) // refused; ignored
				case 4: // a scope delete and a re-create in one fn
					if _, err := tx.DeleteScope(ctx, "own", "/"+name+"/"); err != nil {
						return err
					}
					return tx.Put(ctx, store.Doc{Kind: "own", Key: name, Scope: "/" + name + "/"})
				}
				return nil
			})
		}()
		if err != nil && (mode == 0 || mode == 4) {
			t.Errorf("%s: %v", name, err)
		}
		if err == nil && mode >= 1 && mode <= 3 {
			t.Errorf("%s: succeeded, want its failure", name)
		}
		return read, err
	})
	counted.check(t, replicas[0], replicas[1], workers, each)
}

// countOnce increments the counter c/counter in tx and writes the
// Update's own document (own/name), returning the counter as it read it.
func countOnce(ctx context.Context, tx store.Tx, name string) (read int, err error) {
	d, err := tx.Get(ctx, "c", "counter")
	if err == nil {
		fmt.Sscan(string(d.Value), &read)
	} else if !errors.Is(err, store.ErrNotFound) {
		return 0, err
	}
	if err := tx.Put(ctx, store.Doc{Kind: "c", Key: "counter", Value: []byte(fmt.Sprint(read + 1))}); err != nil {
		return 0, err
	}
	return read, tx.Put(ctx, store.Doc{Kind: "own", Key: name, Scope: "/" + name + "/"})
}

// counterUpdates are the counting Updates (countOnce) that succeeded and
// the counter each read.
type counterUpdates struct {
	mu   sync.Mutex
	ok   map[string]bool
	seen map[int]string // counter value read -> the update that read it
}

// run runs, for each of workers goroutines at once, each Updates through
// update (worker w on replica w modulo their number; named w{w}-{i}) and
// records them.
func (c *counterUpdates) run(t *testing.T, replicas []*store.Postgres, workers, each int, update func(s *store.Postgres, w, i int, name string) (read int, err error)) {
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				name := fmt.Sprintf("w%d-%d", w, i)
				read, err := update(replicas[w%len(replicas)], w, i, name)
				c.done(t, name, read, err)
			}
		}()
	}
	wg.Wait()
}

// done records the Update name's outcome; no two that succeeded read the
// same counter.
func (c *counterUpdates) done(t *testing.T, name string, read int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		return
	}
	if c.ok == nil {
		c.ok, c.seen = map[string]bool{}, map[int]string{}
	}
	c.ok[name] = true
	if prev, dup := c.seen[read]; dup {
		t.Errorf("%s and %s both read the counter at %d", prev, name, read)
	}
	c.seen[read] = name
}

// check asserts that the counter (read on a) is the number of Updates that
// succeeded and that exactly those left their own document (read on b),
// the Updates being named w{worker}-{i}.
func (c *counterUpdates) check(t *testing.T, a, b store.Store, workers, each int) {
	t.Helper()
	ctx := context.Background()
	d, err := a.Get(ctx, "c", "counter")
	if err != nil {
		t.Fatal(err)
	}
	if string(d.Value) != fmt.Sprint(len(c.ok)) {
		t.Fatalf("counter %s after %d successful updates", d.Value, len(c.ok))
	}
	for w := range workers {
		for i := range each {
			name := fmt.Sprintf("w%d-%d", w, i)
			if _, err := b.Get(ctx, "own", name); c.ok[name] != (err == nil) {
				t.Errorf("%s (succeeded: %v): its document: %v", name, c.ok[name], err)
			}
		}
	}
}

// After the database dropped every connection (a restart, a failover, an
// operator's pg_terminate_backend), the next Updates still commit: a group
// whose transaction could not begin on a pooled connection that turned out
// dead ran nothing of its fns, and begins again on another one.
func TestPostgresUpdateAfterConnectionsDied(t *testing.T) {
	// A database of its own: the connections it terminates are every one
	// to its database, and the other tests' (of every package go test ./...
	// runs meanwhile) are to the shared one.
	url := testsvc.PostgresDatabase(t)
	s := storetest.Postgres(t, url)
	ctx := context.Background()
	// Several pooled connections, all idle (and so handed out unchecked).
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Pool().Exec(ctx, `SELECT pg_sleep(0.05)`)
		}()
	}
	wg.Wait()
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.Put(ctx, store.Doc{Kind: "k", Key: "before"}) }); err != nil {
		t.Fatal(err)
	}
	admin := storetest.Postgres(t, url) // another process's connection
	var killed int
	if err := admin.Pool().QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed < 2 {
		t.Fatalf("%d connections terminated, want the store's several", killed)
	}
	for i := range 3 {
		if err := s.Update(ctx, func(tx store.Tx) error { return tx.Put(ctx, store.Doc{Kind: "k", Key: fmt.Sprint(i)}) }); err != nil {
			t.Fatalf("update %d after the connections died: %v", i, err)
		}
	}
}

// A change by hand (outside any writer: psql, a data migration of another
// version) that commits while a group runs is read by the Updates after
// that group, though the group's own writes bumped writer_gen too: what
// the writer remembers is stale once writer_gen moved by more than its own
// statements.
func TestPostgresChangeByHandDuringAGroupIsRead(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	s := storetest.Postgres(t, url)
	ctx := context.Background()
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.Put(ctx, store.Doc{Kind: "k", Key: "x", Value: []byte("v1")}) }); err != nil {
		t.Fatal(err)
	}
	if d, _ := storetest.TxGet(t, s, "k", "x"); string(d.Value) != "v1" {
		t.Fatalf("read %q", d.Value)
	}
	release := storetest.Hold(t, s) // a group runs (it writes when released)
	if _, err := s.Pool().Exec(ctx, `UPDATE docs SET value = 'by hand' WHERE kind = 'k' AND key = 'x'`); err != nil {
		t.Fatal(err)
	}
	release()
	if d, _ := storetest.TxGet(t, s, "k", "x"); string(d.Value) != "by hand" {
		t.Fatalf("after a change by hand during a group, an Update reads %q", d.Value)
	}
}

// A Create of a document the writer remembers as absent, made by hand
// meanwhile (after the group began: writer_gen moved too late for the
// writer to see it), is ErrConflict as any Create of an existing document
// (409), not an error of the database (500); the document made by hand
// stays as it was made.
func TestPostgresCreateOfADocumentMadeByHandDuringAGroup(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	s := storetest.Postgres(t, url)
	ctx := context.Background()
	if _, found := storetest.TxGet(t, s, "k", "x"); found { // (the writer remembers x absent)
		t.Fatal("x found")
	}
	err := s.Update(ctx, func(tx store.Tx) error {
		if _, err := s.Pool().Exec(ctx, `INSERT INTO docs(kind, key, value, created, updated) VALUES ('k', 'x', 'by hand', now(), now())`); err != nil {
			t.Fatal(err)
		}
		return tx.Create(ctx, store.Doc{Kind: "k", Key: "x", Value: []byte("created")})
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("create of a document made by hand meanwhile: %v, want ErrConflict", err)
	}
	if d, err := s.Get(ctx, "k", "x"); err != nil || string(d.Value) != "by hand" {
		t.Errorf("x: %q %v, want the document made by hand", d.Value, err)
	}
}

// Two replicas' writers increment one counter at once while some of the
// Updates also write a document locked by hand (the writer remembers it,
// so the write goes with a later round trip, which the database refuses
// after the statement timeout): every refused Update fails, and so does
// every Update of its group that read the counter it wrote; the counter
// ends at the number of Updates that succeeded, each read it as the one
// before it left it, and only those left their own document.
func TestPostgresReplicasCountTogetherThroughRefusedWrites(t *testing.T) {
	base := testsvc.PostgresSchema(t)
	url := testsvc.WithParam(base, "writer_statement_timeout", "200ms")
	replicas := []*store.Postgres{storetest.Postgres(t, url), storetest.Postgres(t, url)}
	ctx := context.Background()
	if err := replicas[0].Update(ctx, func(tx store.Tx) error {
		return tx.Put(ctx, store.Doc{Kind: "k", Key: "locked", Value: []byte("old")})
	}); err != nil {
		t.Fatal(err)
	}
	unlock := lockByHand(t, base, "k", "locked")
	defer unlock()
	const workers, each = 8, 12
	var counted counterUpdates
	counted.run(t, replicas, workers, each, func(s *store.Postgres, w, i int, name string) (read int, err error) {
		refused := (w+i)%5 == 0
		err = s.Update(ctx, func(tx store.Tx) error {
			if _, err := tx.Get(ctx, "k", "locked"); err != nil { // (remembered from here on)
				return err
			}
			var err error
			if read, err = countOnce(ctx, tx, name); err != nil {
				return err
			}
			if refused {
				return tx.Put(ctx, store.Doc{Kind: "k", Key: "locked", Value: []byte(name)})
			}
			return nil
		})
		if err != nil && !errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s: %v, want success or ErrUnavailable", name, err)
		}
		if err == nil && refused {
			t.Errorf("%s: succeeded, though the database refused its write", name)
		}
		return read, err
	})
	unlock()
	if len(counted.ok) == 0 {
		t.Fatal("no update succeeded")
	}
	counted.check(t, replicas[1], replicas[0], workers, each)
	if d, err := replicas[0].Get(ctx, "k", "locked"); err != nil || string(d.Value) != "old" {
		t.Errorf("locked: %q %v, want old", d.Value, err)
	}
}
