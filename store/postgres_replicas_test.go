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
	var mu sync.Mutex
	ok := map[string]bool{}
	seen := map[int]string{} // counter value read -> the update that read it
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := replicas[w%len(replicas)]
			for i := range each {
				name := fmt.Sprintf("w%d-%d", w, i)
				mode := (w*each + i) % 6
				var read int
				err := func() (err error) {
					defer func() {
						if v := recover(); v != nil {
							err = fmt.Errorf("panic: %v", v)
						}
					}()
					return s.Update(ctx, func(tx store.Tx) error {
						n := 0
						d, err := tx.Get(ctx, "c", "counter")
						if err == nil {
							fmt.Sscan(string(d.Value), &n)
						} else if !errors.Is(err, store.ErrNotFound) {
							return err
						}
						read = n
						if err := tx.Put(ctx, store.Doc{Kind: "c", Key: "counter", Value: []byte(fmt.Sprint(n + 1))}); err != nil {
							return err
						}
						if err := tx.Put(ctx, store.Doc{Kind: "own", Key: name, Scope: "/" + name + "/"}); err != nil {
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
				mu.Lock()
				if err == nil {
					ok[name] = true
					if prev, dup := seen[read]; dup {
						t.Errorf("%s and %s both read the counter at %d", prev, name, read)
					}
					seen[read] = name
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	d, err := replicas[0].Get(ctx, "c", "counter")
	if err != nil {
		t.Fatal(err)
	}
	if string(d.Value) != fmt.Sprint(len(ok)) {
		t.Fatalf("counter %s after %d successful updates", d.Value, len(ok))
	}
	for w := range workers {
		for i := range each {
			name := fmt.Sprintf("w%d-%d", w, i)
			_, err := replicas[1].Get(ctx, "own", name)
			if ok[name] != (err == nil) {
				t.Errorf("%s (succeeded: %v): its document: %v", name, ok[name], err)
			}
		}
	}
}

// After the database dropped every connection (a restart, a failover, an
// operator's pg_terminate_backend), the next Updates still commit: a group
// whose transaction could not begin on a pooled connection that turned out
// dead ran nothing of its fns, and begins again on another one.
func TestPostgresUpdateAfterConnectionsDied(t *testing.T) {
	url := testsvc.PostgresSchema(t)
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
