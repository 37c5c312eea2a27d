package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(testsvc.Main(m)) }

func TestPostgresConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return storetest.Postgres(t, testsvc.PostgresSchema(t)) })
}

// Replicas start at the same moment against an empty database: migrations
// run once, every store works.
func TestPostgresConcurrentBootstrap(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	var wg sync.WaitGroup
	stores := make([]*store.Postgres, 4)
	errs := make([]error, 4)
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = store.OpenPostgres(context.Background(), url, nil)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	ctx := context.Background()
	if err := stores[0].Update(ctx, func(tx store.Tx) error { return tx.Create(ctx, store.Doc{Kind: "k", Key: "a"}) }); err != nil {
		t.Fatal(err)
	}
	if _, err := stores[3].Get(ctx, "k", "A"); err != nil {
		t.Fatalf("another replica's write: %v", err)
	}
}

// Two processes' worth of stores on one database: a task one enqueues wakes
// the other through LISTEN/NOTIFY, and a claim fenced by one is seen by the other.
func TestPostgresWakeupsAcrossStores(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	a, b := storetest.Postgres(t, url), storetest.Postgres(t, url)
	wake := b.Wakeups()
	ctx := context.Background()
	// The listener signals once when it starts listening; drain it.
	select {
	case <-wake:
	case <-time.After(testsvc.WaitLimit):
		t.Fatal("listener did not start")
	}
	storetest.Enqueue(t, a, store.Task{Kind: "x"})
	select {
	case <-wake:
	case <-time.After(testsvc.WaitLimit):
		t.Fatal("no wake-up for another store's enqueue")
	}
	got, err := b.ClaimTasks(ctx, "b", time.Now().Add(time.Second), time.Minute, 10)
	if err != nil || len(got) != 1 {
		t.Fatalf("claim: %v %v", err, got)
	}
	// a claims it after b's lease lapses; b's commits are fenced off.
	got2, err := a.ClaimTasks(ctx, "a", time.Now().Add(2*time.Minute), time.Minute, 10)
	if err != nil || len(got2) != 1 {
		t.Fatalf("claim after lapse: %v %v", err, got2)
	}
	err = b.Update(store.WithLease(ctx, got[0].Lease()), func(tx store.Tx) error { return tx.CompleteTask(ctx, got[0].ID) })
	if !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("complete under the lost lease: %v", err)
	}
}

// A COMMIT that fails fails every Update of its group, and none of their
// writes is visible; the store goes on.
func TestPostgresFailedCommitFailsItsGroup(t *testing.T) {
	s := storetest.Postgres(t, testsvc.PostgresSchema(t))
	ctx := context.Background()
	// A deferred constraint, checked at COMMIT: a doc keyed "poison" fails it.
	if _, err := s.Pool().Exec(ctx, `CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'poison committed'; END $$;
		CREATE CONSTRAINT TRIGGER refuse_poison AFTER INSERT ON docs DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.key = 'poison') EXECUTE FUNCTION refuse_poison()`); err != nil {
		t.Fatal(err)
	}
	keys := []string{"a", "b", "poison", "c"}
	errs := make([]error, len(keys))
	storetest.Grouped(t, s, len(keys), func(i int) {
		errs[i] = s.Update(ctx, func(tx store.Tx) error {
			if _, err := tx.Enqueue(ctx, store.Task{Kind: "t", Key: keys[i]}); err != nil {
				return err
			}
			return tx.Put(ctx, store.Doc{Kind: "k", Key: keys[i]})
		})
	})
	for i, k := range keys {
		if errs[i] == nil || !strings.Contains(errs[i].Error(), "poison committed") {
			t.Fatalf("update %s of a group whose commit failed: %v", k, errs[i])
		}
		if _, err := s.Get(ctx, "k", k); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("write %s of a failed commit: %v", k, err)
		}
		if _, err := s.GetTaskByKey(ctx, k); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("task %s of a failed commit: %v", k, err)
		}
	}
	if err := s.Update(ctx, func(tx store.Tx) error {
		if _, err := tx.Get(ctx, "k", "a"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("a write of the failed commit, read in a transaction: %v", err)
		}
		return tx.Put(ctx, store.Doc{Kind: "k", Key: "after"})
	}); err != nil {
		t.Fatalf("an update after the failed commit: %v", err)
	}
}

// An Update waiting for the writer returns as soon as its ctx ends, and
// never runs.
func TestPostgresCanceledUpdateReturnsWhileWaiting(t *testing.T) {
	s := storetest.Postgres(t, testsvc.PostgresSchema(t))
	ctx := context.Background()
	release := storetest.Hold(t, s)
	cctx, cancel := context.WithCancel(ctx)
	waiting := make(chan error, 1)
	go func() {
		waiting <- s.Update(cctx, func(tx store.Tx) error { return tx.Put(ctx, store.Doc{Kind: "k", Key: "withdrawn"}) })
	}()
	testsvc.WaitFor(t, "the update to queue", func() bool { return s.QueuedUpdates() == 1 })
	cancel()
	select {
	case err := <-waiting:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("canceled waiting update: %v", err)
		}
	case <-time.After(testsvc.WaitLimit):
		t.Fatal("a canceled update still waits for the running one")
	}
	release()
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.Put(ctx, store.Doc{Kind: "k", Key: "after"}) }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "k", "withdrawn"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a withdrawn update ran: %v", err)
	}
}

// A fn that goes on after one of its statements failed (PostgreSQL then
// refuses every statement of the transaction) fails alone: its writes are
// undone, the others of its group commit.
func TestPostgresFnIgnoringAFailedStatementFailsAlone(t *testing.T) {
	s := storetest.Postgres(t, testsvc.PostgresSchema(t))
	ctx := context.Background()
	errs := make([]error, 3)
	storetest.Grouped(t, s, len(errs), func(i int) {
		errs[i] = s.Update(ctx, func(tx store.Tx) error {
			if err := tx.Put(ctx, store.Doc{Kind: "k", Key: fmt.Sprint(i)}); err != nil {
				return err
			}
			if i == 1 {
				tx.Put(ctx, store.Doc{Kind: "k", Key: "nul\x00"}) // text refuses NUL: the error is ignored
			}
			return nil
		})
	})
	for i, err := range errs {
		_, getErr := s.Get(ctx, "k", fmt.Sprint(i))
		if i == 1 {
			if err == nil || !errors.Is(getErr, store.ErrNotFound) {
				t.Fatalf("update going on after a failed statement: %v, its write: %v", err, getErr)
			}
		} else if err != nil || getErr != nil {
			t.Fatalf("update %d beside it: %v, its write: %v", i, err, getErr)
		}
	}
}

// A replica's Updates read what other replicas, or anyone else, wrote in
// between (its writer remembers documents only while nobody else wrote).
func TestPostgresUpdateReadsOtherWriters(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	a, b := storetest.Postgres(t, url), storetest.Postgres(t, url)
	ctx := context.Background()
	put := func(s store.Store, v string) {
		t.Helper()
		if err := s.Update(ctx, func(tx store.Tx) error { return tx.Put(ctx, store.Doc{Kind: "k", Key: "x", Value: []byte(v)}) }); err != nil {
			t.Fatal(err)
		}
	}
	readInA := func() string {
		t.Helper()
		if d, ok := storetest.TxGet(t, a, "k", "x"); ok {
			return string(d.Value)
		}
		return "none"
	}
	put(a, "from a")
	if v := readInA(); v != "from a" {
		t.Fatalf("a reads %q", v)
	}
	put(b, "from b")
	if v := readInA(); v != "from b" {
		t.Fatalf("after another replica's write a reads %q", v)
	}
	if _, err := a.Pool().Exec(ctx, `UPDATE docs SET value = 'by hand' WHERE kind = 'k'`); err != nil {
		t.Fatal(err)
	}
	if v := readInA(); v != "by hand" {
		t.Fatalf("after a change by hand a reads %q", v)
	}
	if _, err := b.Pool().Exec(ctx, `DELETE FROM docs`); err != nil {
		t.Fatal(err)
	}
	if v := readInA(); v != "none" {
		t.Fatalf("after a delete by hand a reads %q", v)
	}
}

// The writes the writer sends with a later round trip are what the caller
// wrote when it wrote them (a buffer it reuses after Put changes nothing),
// and a read after them, in the same Update or a later one, sees them as
// the database made them: versions, times, a Put over a document the
// writer did not know (its version is the database's).
func TestPostgresLaterWritesAreAsWritten(t *testing.T) {
	base := testsvc.PostgresSchema(t)
	s := storetest.Postgres(t, base)
	other := storetest.Postgres(t, base) // writes the writer of s does not know
	ctx := context.Background()
	for range 3 {
		if err := other.Update(ctx, func(tx store.Tx) error {
			return tx.Put(ctx, store.Doc{Kind: "k", Key: "known-elsewhere", Value: []byte("x")})
		}); err != nil {
			t.Fatal(err)
		}
	}
	buf := []byte("first")
	var inTx store.Doc
	if err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.Put(ctx, store.Doc{Kind: "k", Key: "Known-Elsewhere", Scope: "/S", Value: buf}); err != nil {
			return err
		}
		copy(buf, "XXXXX")
		if err := tx.Put(ctx, store.Doc{Kind: "k", Key: "new", Value: []byte("v")}); err != nil {
			return err
		}
		if _, err := tx.Get(ctx, "k", "known"); !errors.Is(err, store.ErrNotFound) { // known absent: its Put is foretold
			return fmt.Errorf("known before its Put: %v", err)
		}
		if err := tx.Put(ctx, store.Doc{Kind: "k", Key: "Known", Type: "T", Value: []byte("v")}); err != nil {
			return err
		}
		var err error
		inTx, err = tx.Get(ctx, "k", "known-elsewhere")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if string(inTx.Value) != "first" || inTx.Version != 4 || inTx.Scope != "/s" {
		t.Fatalf("read in the Update: %+v", inTx)
	}
	got, err := s.Get(ctx, "k", "known-elsewhere")
	if err != nil || string(got.Value) != "first" || got.Version != 4 || !got.Updated.Equal(inTx.Updated) || !got.Created.Equal(inTx.Created) {
		t.Fatalf("read after: %+v %v, in the Update %+v", got, err, inTx)
	}
	// The next Update reads them from what the writer remembers: as stored.
	if err := s.Update(ctx, func(tx store.Tx) error {
		for _, k := range []string{"known-elsewhere", "new", "known"} {
			d, err := tx.Get(ctx, "k", k)
			if err != nil {
				return err
			}
			db, err := other.Get(ctx, "k", k)
			if err != nil {
				return err
			}
			if d.Version != db.Version || d.Updated != db.Updated || d.Created != db.Created || string(d.Value) != string(db.Value) || d.Scope != db.Scope || d.Type != db.Type || d.Key != db.Key {
				return fmt.Errorf("%s remembered as %+v, stored as %+v", k, d, db)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// Once its memory has outlived a few groups, a writer keeps the complete
// key set of the kinds it reads: a Get of a document that does not exist
// (a new resource's name), the Create after it and an AnyUnder (a group's
// emptiness) cost no round trip; a sequential Update that creates a new
// document is two round trips (BEGIN, COMMIT), not three. The key sets
// follow the writer's own writes and deletes, and are forgotten when
// another replica, or anyone by hand, changed the documents.
func TestPostgresWriterKnowsWhatDoesNotExist(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	s, other := storetest.Postgres(t, url), storetest.Postgres(t, url)
	ctx := context.Background()
	update := func(fn func(tx store.Tx) error) {
		t.Helper()
		if err := s.Update(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		update(func(tx store.Tx) error {
			return tx.Put(ctx, store.Doc{Kind: "k", Key: fmt.Sprint("warm", i), Scope: "/w/", Value: []byte("v")})
		})
	}
	const n = 20
	before := store.RoundTrips(s)
	for i := range n {
		update(func(tx store.Tx) error {
			key := fmt.Sprint("New", i)
			if _, err := tx.Get(ctx, "k", key); !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("get of a new document: %v", err)
			}
			return tx.Create(ctx, store.Doc{Kind: "k", Key: key, Scope: fmt.Sprintf("/g/%d/", i), Value: []byte("v")})
		})
	}
	// 2 per Update, the key set's load, and a few of the pool's own (a
	// connection dialed); without the key set, 3 per Update.
	if trips := store.RoundTrips(s) - before; trips > 2*n+4 {
		t.Errorf("%d Updates creating a new document made %d round trips, want at most %d", n, trips, 2*n+4)
	}
	anyUnder := func(prefix string) bool {
		t.Helper()
		var found bool
		update(func(tx store.Tx) error {
			var err error
			found, err = store.AnyUnder(ctx, tx, prefix, "k", "other-kind")
			return err
		})
		return found
	}
	if !anyUnder("/G/3/") || anyUnder("/g/none/") || !anyUnder("") {
		t.Fatal("AnyUnder: wrong")
	}
	update(func(tx store.Tx) error { return tx.Delete(ctx, "k", "new3") })
	if anyUnder("/g/3/") {
		t.Fatal("AnyUnder after the document's delete: found")
	}
	update(func(tx store.Tx) error { // its own write, in the same fn
		if err := tx.Put(ctx, store.Doc{Kind: "k", Key: "new3", Scope: "/g/3/"}); err != nil {
			return err
		}
		if found, err := store.AnyUnder(ctx, tx, "/g/3/", "k"); err != nil || !found {
			return fmt.Errorf("AnyUnder of the fn's own write: %v %v", found, err)
		}
		_, err := tx.Get(ctx, "k", "new3")
		return err
	})
	// Another replica's create, and one by hand, are read.
	if err := other.Update(ctx, func(tx store.Tx) error {
		return tx.Create(ctx, store.Doc{Kind: "k", Key: "elsewhere", Scope: "/e/", Value: []byte("b")})
	}); err != nil {
		t.Fatal(err)
	}
	if d, found := storetest.TxGet(t, s, "k", "elsewhere"); !found || string(d.Value) != "b" {
		t.Fatalf("another replica's new document: %v %q", found, d.Value)
	}
	if !anyUnder("/e/") {
		t.Fatal("AnyUnder of another replica's new document: not found")
	}
	for i := range 3 { // steady again
		update(func(tx store.Tx) error { return tx.Put(ctx, store.Doc{Kind: "k", Key: fmt.Sprint("warm", i)}) })
	}
	storetest.TxGet(t, s, "k", "by-hand") // the key set, again
	if _, err := s.Pool().Exec(ctx, `INSERT INTO docs(kind, key, scope, value, created, updated) VALUES ('k', 'by-hand', '/h/', 'h', now(), now())`); err != nil {
		t.Fatal(err)
	}
	if d, found := storetest.TxGet(t, s, "k", "by-hand"); !found || string(d.Value) != "h" {
		t.Fatalf("a document made by hand: %v %q", found, d.Value)
	}
	if !anyUnder("/h/") {
		t.Fatal("AnyUnder of a document made by hand: not found")
	}
}
