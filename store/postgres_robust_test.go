package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

// After the database restarted, every read and write succeeds, though the
// pool still holds the connections the restart dropped (used just before
// it, so handed out unchecked): a read that fails on such a connection
// before any of its result was used runs again on another, and the writer
// begins its transaction on another.
func TestPostgresReadsAndWritesAfterARestart(t *testing.T) {
	u, restart := testsvc.OwnPostgres(t)
	s := storetest.Postgres(t, u)
	ctx := context.Background()
	for i := range 8 {
		if err := s.Update(ctx, func(tx store.Tx) error {
			_, err := tx.Enqueue(ctx, store.Task{Kind: "t", Key: fmt.Sprint(i)})
			if err != nil {
				return err
			}
			return tx.Put(ctx, store.Doc{Kind: "k", Key: fmt.Sprint(i), Value: []byte("v")})
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Every pooled connection in use across the restart, returned to the
	// pool right after it: as under load, none is checked before its next use.
	held := make([]*pgxpool.Conn, s.Pool().Config().MaxConns)
	for i := range held {
		c, err := s.Pool().Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Exec(ctx, `SELECT 1`); err != nil {
			t.Fatal(err)
		}
		held[i] = c
	}
	restart()
	for _, c := range held {
		c.Release()
	}
	var mu sync.Mutex
	var failed []string
	fail := func(what string, err error) {
		if err != nil {
			mu.Lock()
			failed = append(failed, fmt.Sprintf("%s: %v", what, err))
			mu.Unlock()
		}
	}
	var wg sync.WaitGroup
	for i := range 2 * len(held) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprint(i % 8)
			switch i % 6 {
			case 0:
				_, err := s.Get(ctx, "k", key)
				fail("get", err)
			case 1:
				docs, err := s.List(ctx, "k", store.ListQuery{})
				if err == nil && len(docs) != 8 {
					err = fmt.Errorf("%d documents, want 8", len(docs))
				}
				fail("list", err)
			case 2:
				_, err := s.GetTaskByKey(ctx, key)
				fail("get task", err)
			case 3:
				_, err := s.NextTaskTime(ctx)
				fail("next task time", err)
			case 4:
				_, err := s.LeasedTasks(ctx, time.Now(), nil)
				fail("leased tasks", err)
			default:
				fail("update", s.Update(ctx, func(tx store.Tx) error {
					return tx.Put(ctx, store.Doc{Kind: "w", Key: fmt.Sprint(i), Value: []byte("after")})
				}))
			}
		}()
	}
	wg.Wait()
	if len(failed) > 0 {
		t.Fatalf("%d requests failed after the restart: %s", len(failed), strings.Join(failed, "; "))
	}
	if _, err := s.ClaimTasks(ctx, "n/b", time.Now().Add(time.Hour), time.Minute, 1); err != nil {
		t.Fatalf("claim after the restart: %v", err)
	}
}

// commitProxy stands between the store and PostgreSQL and, armed, breaks
// a connection: deliver, the one on which PostgreSQL next answers a COMMIT,
// as it answers (the transaction committed, its answer is lost); lose, the
// one on which the store next sends anything, before it reaches PostgreSQL
// (armed just before the writer sends its COMMIT: the transaction never
// commits).
//
// deliverCut is deliver after which the proxy cuts the database off (every
// connection, open or new, closes at its next byte) until cut is cleared:
// the store cannot ask what became of the transaction.
type commitProxy struct {
	l       net.Listener
	target  string
	armed   atomic.Int32 // proxyOff, proxyDeliver, proxyLose, proxyDeliverCut
	cut     atomic.Bool
	tripped chan struct{}
}

const (
	proxyOff int32 = iota
	proxyDeliver
	proxyLose
	proxyDeliverCut
)

func newCommitProxy(t *testing.T, dbURL string) (*commitProxy, string) {
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &commitProxy{l: l, target: u.Host, tripped: make(chan struct{}, 16)}
	t.Cleanup(func() { l.Close() })
	go p.serve()
	u.Host = l.Addr().String()
	return p, u.String()
}

func (p *commitProxy) serve() {
	for {
		client, err := p.l.Accept()
		if err != nil {
			return
		}
		if p.cut.Load() {
			client.Close()
			continue
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		go p.pipe(client, server)
	}
}

func (p *commitProxy) pipe(client, server net.Conn) {
	defer client.Close()
	defer server.Close()
	go func() {
		defer client.Close()
		buf := make([]byte, 64<<10)
		for {
			n, err := server.Read(buf)
			if n > 0 {
				// A COMMIT's command tag: PostgreSQL committed.
				if bytes.Contains(buf[:n], []byte("COMMIT\x00")) && p.armed.CompareAndSwap(proxyDeliverCut, proxyOff) {
					p.cut.Store(true)
					p.tripped <- struct{}{}
					return
				}
				if bytes.Contains(buf[:n], []byte("COMMIT\x00")) && p.armed.CompareAndSwap(proxyDeliver, proxyOff) {
					p.tripped <- struct{}{} // the store never hears it
					return
				}
				if p.cut.Load() {
					return
				}
				if _, err := client.Write(buf[:n]); err != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := client.Read(buf)
		if n > 0 {
			if p.armed.CompareAndSwap(proxyLose, proxyOff) {
				p.tripped <- struct{}{}
				return // never sent: both connections close
			}
			if p.cut.Load() {
				return
			}
			if _, err := server.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// armAtCommit arms the proxy when s's writer is about to send the COMMIT of
// its next group but skip.
func armAtCommit(s *store.Postgres, p *commitProxy, mode int32, skip int) {
	var n atomic.Int32
	store.SetWriterHook(s, func(stage string) {
		if stage == "commit" && int(n.Add(1)) == skip+1 {
			p.armed.Store(mode)
		}
	})
}

// A connection dropped during a group's COMMIT: the writer asks the
// database (txid_status) what became of the transaction and answers each
// Update of the group as it ended. Dropped after PostgreSQL committed (its
// answer lost), every Update succeeded and is there; dropped before the
// COMMIT reached PostgreSQL, every Update fails with ErrUnavailable and
// nothing of them is there. The writer goes on either way.
func TestPostgresCommitConnectionLost(t *testing.T) {
	for _, c := range []struct {
		name      string
		mode      int32
		committed bool
	}{{"answer lost", proxyDeliver, true}, {"commit lost", proxyLose, false}} {
		t.Run(c.name, func(t *testing.T) {
			base := testsvc.PostgresSchema(t)
			proxy, u := newCommitProxy(t, base)
			s := storetest.Postgres(t, u)
			ctx := context.Background()
			armAtCommit(s, proxy, c.mode, 1) // not the held group's COMMIT, the next
			keys := []string{"a", "b", "c"}
			errs := make([]error, len(keys))
			storetest.Grouped(t, s, len(keys), func(i int) {
				errs[i] = s.Update(ctx, func(tx store.Tx) error {
					if _, err := tx.Enqueue(ctx, store.Task{Kind: "t", Key: keys[i]}); err != nil {
						return err
					}
					return tx.Put(ctx, store.Doc{Kind: "k", Key: keys[i], Value: []byte("v")})
				})
			})
			select {
			case <-proxy.tripped:
			default:
				t.Fatal("the proxy never dropped the connection")
			}
			check := storetest.Postgres(t, base)
			for i, k := range keys {
				_, derr := check.Get(ctx, "k", k)
				_, terr := check.GetTaskByKey(ctx, k)
				if c.committed && (errs[i] != nil || derr != nil || terr != nil) {
					t.Errorf("update %s, committed: %v (document: %v, task: %v)", k, errs[i], derr, terr)
				}
				if !c.committed && (!errors.Is(errs[i], store.ErrUnavailable) || !errors.Is(derr, store.ErrNotFound) || !errors.Is(terr, store.ErrNotFound)) {
					t.Errorf("update %s, never committed: %v, want ErrUnavailable (document: %v, task: %v)", k, errs[i], derr, terr)
				}
			}
			// The writer goes on, and reads what committed.
			if err := s.Update(ctx, func(tx store.Tx) error {
				d, err := tx.Get(ctx, "k", "a")
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
				return tx.Put(ctx, store.Doc{Kind: "k", Key: "a", Value: append(d.Value, '2')})
			}); err != nil {
				t.Fatal(err)
			}
			want := "2"
			if c.committed {
				want = "v2"
			}
			if d, err := check.Get(ctx, "k", "a"); err != nil || string(d.Value) != want {
				t.Fatalf("after: %q %v, want %q", d.Value, err, want)
			}
		})
	}
}

// A COMMIT whose answer is lost while the database stays out of reach (the
// writer cannot ask txid_status what became of it) fails its Updates with
// ErrOutcomeUnknown, not ErrUnavailable (which says nothing was written):
// here PostgreSQL did commit them, and once it is reachable again they are
// there. The writer goes on.
func TestPostgresCommitOutcomeUnknown(t *testing.T) {
	defer store.SetOutcomeWait(500 * time.Millisecond)()
	base := testsvc.PostgresSchema(t)
	proxy, u := newCommitProxy(t, base)
	s := storetest.Postgres(t, u)
	ctx := context.Background()
	armAtCommit(s, proxy, proxyDeliverCut, 1) // not the held group's COMMIT, the next
	keys := []string{"a", "b"}
	errs := make([]error, len(keys))
	storetest.Grouped(t, s, len(keys), func(i int) {
		errs[i] = s.Update(ctx, func(tx store.Tx) error {
			return tx.Put(ctx, store.Doc{Kind: "k", Key: keys[i], Value: []byte("v")})
		})
	})
	select {
	case <-proxy.tripped:
	default:
		t.Fatal("the proxy never dropped the connection")
	}
	proxy.cut.Store(false)
	check := storetest.Postgres(t, base)
	for i, k := range keys {
		if !errors.Is(errs[i], store.ErrOutcomeUnknown) || errors.Is(errs[i], store.ErrUnavailable) {
			t.Errorf("update %s, its COMMIT unanswered and the database out of reach: %v, want ErrOutcomeUnknown", k, errs[i])
		}
		var o interface{ OutcomeUnknown() bool }
		if !errors.As(errs[i], &o) || !o.OutcomeUnknown() {
			t.Errorf("update %s: %v does not say its outcome is unknown", k, errs[i])
		}
		if _, err := check.Get(ctx, "k", k); err != nil {
			t.Errorf("update %s, committed by PostgreSQL: %v", k, err)
		}
	}
	testsvc.WaitWithin(t, 30*time.Second, "the store to write again", func() bool {
		return s.Update(ctx, func(tx store.Tx) error { return tx.Put(ctx, store.Doc{Kind: "k", Key: "after", Value: []byte("v")}) }) == nil
	})
	if d, err := s.Get(ctx, "k", "a"); err != nil || string(d.Value) != "v" {
		t.Fatalf("after: %q %v", d.Value, err)
	}
}

// A statement stuck on a row that someone else locked fails its Update
// with ErrUnavailable after the writer's statement timeout, and the other
// Updates of its group commit.
func TestPostgresStuckStatementTimesOut(t *testing.T) {
	base := testsvc.PostgresSchema(t)
	s := storetest.Postgres(t, testsvc.WithParam(base, "writer_statement_timeout", "300ms"))
	ctx := context.Background()
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.Put(ctx, store.Doc{Kind: "k", Key: "locked"}) }); err != nil {
		t.Fatal(err)
	}
	unlock := lockByHand(t, base, "k", "locked")
	keys := []string{"a", "locked", "b"}
	errs := make([]error, len(keys))
	storetest.Grouped(t, s, len(keys), func(i int) {
		errs[i] = s.Update(ctx, func(tx store.Tx) error {
			return tx.Put(ctx, store.Doc{Kind: "k", Key: keys[i], Value: []byte("new")})
		})
	})
	if !errors.Is(errs[1], store.ErrUnavailable) {
		t.Fatalf("update of the locked row: %v, want ErrUnavailable", errs[1])
	}
	for _, i := range []int{0, 2} {
		if errs[i] != nil {
			t.Fatalf("update %s in the group of a stuck one: %v", keys[i], errs[i])
		}
	}
	unlock()
	if d, err := s.Get(ctx, "k", "locked"); err != nil || len(d.Value) != 0 {
		t.Fatalf("the timed-out write: %q %v", d.Value, err)
	}
}

// lockByHand locks the document kind/key of the schema at url in a
// transaction of another connection, as an operator's psql would, until
// unlock (or the test's end).
func lockByHand(t *testing.T, url, kind, key string) (unlock func()) {
	t.Helper()
	ctx := context.Background()
	c, err := storetest.Postgres(t, url).Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Release)
	if _, err := c.Exec(ctx, `BEGIN`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, `SELECT * FROM docs WHERE kind = $1 AND key = $2 FOR UPDATE`, kind, key); err != nil {
		t.Fatal(err)
	}
	return func() { c.Exec(ctx, `ROLLBACK`) }
}

// A replica whose writer holds the writers' lock and never finishes (a
// process stopped mid-transaction) holds every other replica's writes for
// the statement timeout, not for ever: they fail with ErrUnavailable, and
// succeed once the lock is free.
func TestPostgresWritersLockHeldTimesOut(t *testing.T) {
	base := testsvc.PostgresSchema(t)
	a := storetest.Postgres(t, base)
	b := storetest.Postgres(t, testsvc.WithParam(base, "writer_statement_timeout", "300ms"))
	ctx := context.Background()
	release := storetest.Hold(t, a)
	done := make(chan error, 1)
	go func() {
		done <- b.Update(ctx, func(tx store.Tx) error { return tx.Put(ctx, store.Doc{Kind: "k", Key: "b"}) })
	}()
	select {
	case err := <-done:
		if !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("update behind a held lock: %v, want ErrUnavailable", err)
		}
	case <-time.After(30 * time.Second):
		release()
		t.Fatal("an update behind a held writers' lock hung")
	}
	release()
	if err := b.Update(ctx, func(tx store.Tx) error { return tx.Put(ctx, store.Doc{Kind: "k", Key: "b"}) }); err != nil {
		t.Fatal(err)
	}
}

// A panic of the writer's own code (outside every fn) before its COMMIT
// answers each Update of the group with an error, never nil, and commits
// nothing; one after the COMMIT succeeded answers nil (it committed). The
// writer goes on.
func TestPostgresWriterPanicAnswersEveryUpdate(t *testing.T) {
	for _, stage := range []string{"commit", "committed"} {
		t.Run(stage, func(t *testing.T) {
			s := storetest.Postgres(t, testsvc.PostgresSchema(t))
			ctx := context.Background()
			var n atomic.Int32
			store.SetWriterHook(s, func(at string) {
				if at == stage && n.Add(1) == 2 { // the group after the held one
					panic("boom at " + at)
				}
			})
			keys := []string{"a", "b", "c"}
			errs := make([]error, len(keys))
			storetest.Grouped(t, s, len(keys), func(i int) {
				errs[i] = s.Update(ctx, func(tx store.Tx) error { return tx.Put(ctx, store.Doc{Kind: "k", Key: keys[i]}) })
			})
			for i, k := range keys {
				_, gerr := s.Get(ctx, "k", k)
				if stage == "commit" {
					if errs[i] == nil || !strings.Contains(errs[i].Error(), "boom") || !errors.Is(errs[i], store.ErrUnavailable) {
						t.Errorf("update %s when the writer panicked before COMMIT: %v", k, errs[i])
					}
					if !errors.Is(gerr, store.ErrNotFound) {
						t.Errorf("document %s: %v, want none", k, gerr)
					}
				} else if errs[i] != nil || gerr != nil {
					t.Errorf("update %s, committed before the panic: %v (document: %v)", k, errs[i], gerr)
				}
			}
			if err := s.Update(ctx, func(tx store.Tx) error { return tx.Put(ctx, store.Doc{Kind: "k", Key: "after"}) }); err != nil {
				t.Fatalf("after the panic: %v", err)
			}
		})
	}
}

// Lists inside Updates (which the writer may answer from what it
// remembers) always equal the database's: after writes of earlier Updates,
// of this one, of another replica, by hand, deletes by scope, documents
// moved out of a list's scope or type, and with paging. A random sequence,
// each in-transaction List checked against one outside any transaction.
func TestPostgresListsInUpdatesSeeEveryWrite(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	s, other := storetest.Postgres(t, url), storetest.Postgres(t, url)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(12, 34))
	scopes := []string{"/s/a/", "/s/a/x/", "/s/b/", "/s/B/y/"}
	types := []string{"t1", "T2"}
	doc := func() store.Doc {
		return store.Doc{Kind: "k", Key: fmt.Sprintf("K%d", rng.IntN(12)), Scope: scopes[rng.IntN(len(scopes))], Type: types[rng.IntN(len(types))], Value: []byte(fmt.Sprint(rng.IntN(1000)))}
	}
	query := func() store.ListQuery {
		q := store.ListQuery{ScopePrefix: []string{"", "/s/", "/S/A/", "/s/b/"}[rng.IntN(4)]}
		if rng.IntN(2) == 0 {
			q.Type = types[rng.IntN(len(types))]
		}
		if rng.IntN(3) == 0 {
			q.After = fmt.Sprintf("k%d", rng.IntN(12))
		}
		if rng.IntN(3) == 0 {
			q.Limit = 1 + rng.IntN(3)
		}
		return q
	}
	keys := func(docs []store.Doc) string {
		var b strings.Builder
		for _, d := range docs {
			fmt.Fprintf(&b, "%s@%s:%s=%s ", d.Key, d.Scope, d.Type, d.Value)
		}
		return b.String()
	}
	for step := range 400 {
		var what string
		var err error
		switch r := rng.IntN(10); {
		case r < 4: // this writer: a write, maybe after a list of its own
			d, q, q2 := doc(), query(), query()
			del, fail := rng.IntN(4) == 0, rng.IntN(5) == 0
			what = fmt.Sprintf("write %s (delete %v)", d.Key, del)
			var after []store.Doc // q2's list after the write, in the transaction
			err = s.Update(ctx, func(tx store.Tx) error {
				if _, err := tx.List(ctx, "k", q); err != nil {
					return err
				}
				if del {
					if err := tx.Delete(ctx, "k", d.Key); err != nil && !errors.Is(err, store.ErrNotFound) {
						return err
					}
				} else if err := tx.Put(ctx, d); err != nil {
					return err
				}
				var err error
				if after, err = tx.List(ctx, "k", q2); err != nil {
					return err
				}
				if fail {
					return errors.New("fails: rolled back")
				}
				return nil
			})
			if fail && err != nil && err.Error() == "fails: rolled back" {
				err = nil
			} else if err == nil {
				// Nothing else wrote since: the database has what the fn saw.
				if out, lerr := s.List(ctx, "k", q2); lerr != nil || keys(out) != keys(after) {
					t.Fatalf("step %d, %s: List(%+v) after the write in its Update: %s; committed: %s (%v)", step, what, q2, keys(after), keys(out), lerr)
				}
			}
		case r < 5:
			what = "delete by scope"
			err = s.Update(ctx, func(tx store.Tx) error {
				_, err := tx.DeleteScope(ctx, "k", scopes[rng.IntN(len(scopes))])
				return err
			})
		case r < 6:
			d := doc()
			what = "another replica writes " + d.Key
			err = other.Update(ctx, func(tx store.Tx) error { return tx.Put(ctx, d) })
		case r < 7:
			what = "by hand"
			_, err = other.Pool().Exec(ctx, `UPDATE docs SET scope = $1 WHERE kind = 'k' AND key = $2`, scopes[rng.IntN(len(scopes))], fmt.Sprintf("k%d", rng.IntN(12)))
		default:
			what = "nothing"
		}
		if err != nil {
			t.Fatalf("step %d (%s): %v", step, what, err)
		}
		q := query()
		var in []store.Doc
		if err := s.Update(ctx, func(tx store.Tx) error {
			in, err = tx.List(ctx, "k", q)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		out, err := s.List(ctx, "k", q)
		if err != nil {
			t.Fatal(err)
		}
		if keys(in) != keys(out) {
			t.Fatalf("step %d, after %s: List(%+v) in an Update: %s; in the database: %s", step, what, q, keys(in), keys(out))
		}
		// And read in a request's batch (remembered by writer_gen),
		// through either replica.
		checkBatchLists(t, fmt.Sprintf("step %d, after %s", step, what), append(memoQueries, q), s, other)
	}
}

// A replica stopped while its writer held the writers' lock (its
// transaction idle) is cut off by the database after twice the statement
// timeout and a second: the other replicas write again, and the stopped
// one's Updates fail with ErrUnavailable, nothing of them written.
func TestPostgresStoppedWriterLosesTheLock(t *testing.T) {
	url := testsvc.WithParam(testsvc.PostgresSchema(t), "writer_statement_timeout", "200ms")
	a, b := storetest.Postgres(t, url), storetest.Postgres(t, url)
	ctx := context.Background()
	ctxHeld, cancel := context.WithCancel(ctx)
	defer cancel()
	running, resume := make(chan struct{}), make(chan struct{})
	held := make(chan error, 1)
	go func() {
		held <- a.Update(ctxHeld, func(tx store.Tx) error {
			if err := tx.Put(ctx, store.Doc{Kind: "k", Key: "stopped"}); err != nil {
				return err
			}
			close(running)
			<-resume // the process is stopped here, in its transaction
			return tx.Put(ctx, store.Doc{Kind: "k", Key: "stopped2"})
		})
	}()
	<-running
	deadline := time.Now().Add(20 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if err = b.Update(ctx, func(tx store.Tx) error { return tx.Put(ctx, store.Doc{Kind: "k", Key: "b"}) }); err == nil {
			break
		}
		if !errors.Is(err, store.ErrUnavailable) {
			t.Fatalf("update behind a stopped writer: %v", err)
		}
	}
	if err != nil {
		close(resume)
		t.Fatalf("no update went through while a stopped writer held the lock: %v", err)
	}
	close(resume)
	if err := <-held; !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("the stopped writer's update: %v, want ErrUnavailable", err)
	}
	for _, k := range []string{"stopped", "stopped2"} {
		if _, err := b.Get(ctx, "k", k); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("document %s of the cut off transaction: %v", k, err)
		}
	}
	if err := a.Update(ctx, func(tx store.Tx) error { return tx.Put(ctx, store.Doc{Kind: "k", Key: "a"}) }); err != nil {
		t.Fatalf("the stopped replica's writer after it resumed: %v", err)
	}
}

// A database that stops answering (every process of the server stopped, as
// on a hung host: its kernel still acknowledges, so no connection resets
// and TCP waits for ever) fails the reads, writes and claims waiting on it
// with ErrUnavailable within round_trip_timeout; the write that failed
// committed nothing, and once the database answers again the store serves
// again.
func TestPostgresFrozenDatabaseFailsThenServes(t *testing.T) {
	u, freeze := testsvc.FrozenPostgres(t)
	const limit = 2 * time.Second
	s := storetest.Postgres(t, testsvc.WithParam(testsvc.WithParam(u, "writer_statement_timeout", "300ms"), "round_trip_timeout", limit.String()))
	ctx := context.Background()
	put := func(key string) error {
		return s.Update(ctx, func(tx store.Tx) error { return tx.Put(ctx, store.Doc{Kind: "k", Key: key, Value: []byte("v")}) })
	}
	if err := put("before"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "k", "before"); err != nil {
		t.Fatal(err)
	}
	ops := map[string]func() error{
		"update": func() error { return put("during") },
		"get":    func() error { _, err := s.Get(ctx, "k", "before"); return err },
		"list":   func() error { _, err := s.List(ctx, "k", store.ListQuery{}); return err },
		"claim":  func() error { _, err := s.ClaimTasks(ctx, "o", time.Now(), time.Minute, 1); return err },
		"task":   func() error { _, err := s.GetTask(ctx, "t"); return err },
	}
	thaw := freeze()
	type result struct {
		op  string
		err error
	}
	results := make(chan result, 2*len(ops))
	for round := range 2 { // the second round meets connections being dialed, not pooled ones
		for op, run := range ops {
			go func() { results <- result{fmt.Sprint(op, " ", round), run()} }()
		}
	}
	// What ended each wait is told by its error (round_trip_timeout, or
	// the connect timeout it sets), not by timing it: the machine's load
	// only delays them. A hang is told by a deadline far past it (TCP
	// waits for ever on a frozen server).
	for range 2 * len(ops) {
		select {
		case r := <-results:
			msg := fmt.Sprint(r.err)
			if !errors.Is(r.err, store.ErrUnavailable) || !strings.Contains(msg, "round_trip_timeout") && !(strings.Contains(msg, "failed to connect") && strings.Contains(msg, "timeout")) {
				t.Errorf("%s on a frozen database: %v, want ErrUnavailable after round_trip_timeout", r.op, r.err)
			}
		case <-time.After(2 * time.Minute):
			thaw()
			t.Fatal("a request on a frozen database hung")
		}
	}
	thaw()
	testsvc.WaitWithin(t, 30*time.Second, "the store to serve again", func() bool { return put("after") == nil })
	if _, err := s.Get(ctx, "k", "after"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "k", "during"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the write that failed on the frozen database: %v, want ErrNotFound", err)
	}
}

// A database that stops answering fails a lone read within about
// round_trip_timeout however many connections idle in the pool (each of
// which the pool would ping in turn before handing it out, each ping
// waiting round_trip_timeout).
func TestPostgresFrozenDatabaseFailsAReadOnAFullPool(t *testing.T) {
	u, freeze := testsvc.FrozenPostgres(t)
	const limit = 2 * time.Second
	s := storetest.Postgres(t, testsvc.WithParam(testsvc.WithParam(u, "writer_statement_timeout", "300ms"), "round_trip_timeout", limit.String()))
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 12 { // the pool holds a dozen connections
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Pool().Exec(ctx, `SELECT pg_sleep(0.2)`)
		}()
	}
	wg.Wait()
	if n := s.Pool().Stat().IdleConns(); n < 8 {
		t.Fatalf("the pool holds %d idle connections, want a dozen", n)
	}
	time.Sleep(1500 * time.Millisecond) // idle long enough to be pinged when acquired
	thaw := freeze()
	defer thaw()
	// The read pings one idle connection, not each in turn (each ping
	// waiting round_trip_timeout): told by its round trips, not by timing
	// it (the machine's load only delays it).
	idle := s.Pool().Stat().IdleConns()
	trips := store.RoundTrips(s)
	_, err := s.Get(ctx, "k", "x")
	trips = store.RoundTrips(s) - trips
	if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "round_trip_timeout") || trips >= int64(idle) {
		t.Errorf("a read on a frozen database: %v after %d round trips (%d idle connections; round_trip_timeout %v)", err, trips, idle, limit)
	}
	thaw()
	testsvc.WaitWithin(t, 30*time.Second, "the store to serve again", func() bool {
		_, err := s.Get(ctx, "k", "x")
		return errors.Is(err, store.ErrNotFound)
	})
}

// A write the writer sends with a later round trip (its outcome known from
// what it remembers) that the database refuses all the same (a row locked
// by hand past the statement timeout) fails its own Update, and the
// Updates of its group that read what it wrote (they ran on it); the
// others commit, whether the refusal came with a later statement of the
// group or with its COMMIT. Nothing of the failed ones is written.
func TestPostgresRefusedLaterWriteFailsWhatReadIt(t *testing.T) {
	for _, atCommit := range []bool{false, true} {
		t.Run(fmt.Sprint("atCommit=", atCommit), func(t *testing.T) { testRefusedLaterWrite(t, atCommit) })
	}
}

func testRefusedLaterWrite(t *testing.T, atCommit bool) {
	base := testsvc.PostgresSchema(t)
	s := storetest.Postgres(t, testsvc.WithParam(base, "writer_statement_timeout", "300ms"))
	ctx := context.Background()
	if err := s.Update(ctx, func(tx store.Tx) error {
		for _, k := range []string{"locked", "free", "copy"} {
			if err := tx.Put(ctx, store.Doc{Kind: "k", Key: k, Value: []byte("old")}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	unlock := lockByHand(t, base, "k", "locked")
	fns := []func(tx store.Tx) error{
		func(tx store.Tx) error { return tx.Put(ctx, store.Doc{Kind: "k", Key: "locked", Value: []byte("new")}) },
		func(tx store.Tx) error { // reads what the first wrote
			d, err := tx.Get(ctx, "k", "locked")
			if err != nil {
				return err
			}
			return tx.Put(ctx, store.Doc{Kind: "k", Key: "copy", Value: d.Value})
		},
		func(tx store.Tx) error { return tx.Put(ctx, store.Doc{Kind: "k", Key: "free", Value: []byte("new")}) },
	}
	want := []bool{false, false, true}
	if !atCommit { // a write the writer knows nothing of goes at once, with those before it
		fns = append(fns, func(tx store.Tx) error { return tx.Put(ctx, store.Doc{Kind: "k", Key: "fresh", Value: []byte("new")}) })
		want = append(want, true)
	}
	errs := make([]error, len(fns))
	storetest.Grouped(t, s, len(fns), func(i int) { errs[i] = s.Update(ctx, fns[i]) })
	for i, want := range want {
		if ok := errs[i] == nil; ok != want || !ok && !errors.Is(errs[i], store.ErrUnavailable) {
			t.Errorf("update %d: %v (want success %v, else ErrUnavailable)", i, errs[i], want)
		}
	}
	unlock()
	stored := map[string]string{"locked": "old", "free": "new", "copy": "old"}
	if !atCommit {
		stored["fresh"] = "new"
	}
	for k, want := range stored {
		if d, err := s.Get(ctx, "k", k); err != nil || string(d.Value) != want {
			t.Errorf("%s: %q %v, want %q", k, d.Value, err, want)
		}
	}
	// The writer goes on, and what it remembers is what the database holds.
	if err := s.Update(ctx, func(tx store.Tx) error {
		d, err := tx.Get(ctx, "k", "locked")
		if err != nil || string(d.Value) != "old" || d.Version != 1 {
			return fmt.Errorf("locked in the next Update: %q version %d %v", d.Value, d.Version, err)
		}
		return tx.Put(ctx, store.Doc{Kind: "k", Key: "locked", Value: []byte("newer")})
	}); err != nil {
		t.Fatal(err)
	}
}

// An Update that failed on what a write of its group wrote, which the
// database then refused (a Delete after that write's Delete: the document
// looked gone), fails with ErrUnavailable, as those that succeeded on it
// do: not with the answer the refused write made up (ErrNotFound for a
// document that is still there).
func TestPostgresRefusedLaterWriteFailsWhatFailedOnIt(t *testing.T) {
	for _, atCommit := range []bool{false, true} {
		t.Run(fmt.Sprint("atCommit=", atCommit), func(t *testing.T) {
			base := testsvc.PostgresSchema(t)
			s := storetest.Postgres(t, testsvc.WithParam(base, "writer_statement_timeout", "300ms"))
			ctx := context.Background()
			if err := s.Update(ctx, func(tx store.Tx) error {
				return tx.Put(ctx, store.Doc{Kind: "k", Key: "locked", Value: []byte("old")})
			}); err != nil {
				t.Fatal(err)
			}
			if err := s.Update(ctx, func(tx store.Tx) error { // (the writer remembers it)
				_, err := tx.Get(ctx, "k", "locked")
				return err
			}); err != nil {
				t.Fatal(err)
			}
			unlock := lockByHand(t, base, "k", "locked")
			del := func(tx store.Tx) error { return tx.Delete(ctx, "k", "locked") }
			fns := []func(tx store.Tx) error{del, del,
				func(tx store.Tx) error { return tx.Put(ctx, store.Doc{Kind: "k", Key: "free", Value: []byte("new")}) }}
			if !atCommit { // a read the writer cannot answer sends the refused write
				fns = append(fns, func(tx store.Tx) error {
					if _, err := tx.Get(ctx, "k", "unknown"); !errors.Is(err, store.ErrNotFound) {
						return fmt.Errorf("get unknown: %v", err)
					}
					return nil
				})
			}
			errs := make([]error, len(fns))
			storetest.Grouped(t, s, len(fns), func(i int) { errs[i] = s.Update(ctx, fns[i]) })
			unlock()
			for i, err := range errs {
				if want := i >= 2; (err == nil) != want || err != nil && !errors.Is(err, store.ErrUnavailable) {
					t.Errorf("update %d: %v (want success %v, else ErrUnavailable)", i, err, want)
				}
			}
			if d, err := s.Get(ctx, "k", "locked"); err != nil || string(d.Value) != "old" {
				t.Errorf("locked: %q %v, want old", d.Value, err)
			}
		})
	}
}

// A task claim whose COMMIT answer is lost (PostgreSQL committed the
// lease; the connection dropped before the claimer heard it) leaves the
// task leased to a runner that does not run it. Its next claim (a
// runner's: WithReclaimOwn, its running tasks excepted) takes the task
// back at once, under a new fencing epoch, while other owners still find
// it leased. Before, the task waited for its lease's end on the clock,
// which a clock advance holds still: another replica's advance waited for
// that lease for ever (found by the chaos26 fault campaign, a PostgreSQL
// stop -m immediate under three replicas).
func TestPostgresClaimAnswerLost(t *testing.T) {
	base := testsvc.PostgresSchema(t)
	proxy, u := newCommitProxy(t, base)
	s := storetest.Postgres(t, u)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Millisecond)
	var task store.Task
	if err := s.Update(ctx, func(tx store.Tx) (err error) {
		task, err = tx.Enqueue(ctx, store.Task{Kind: "t", Key: "lost-claim", RunAt: now.Add(-time.Second)})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	claims := store.WithReclaimOwn(store.WithClaimExcept(ctx, nil))
	proxy.armed.Store(proxyDeliver)
	first, err := s.ClaimTasks(claims, "node/boot", now, time.Minute, 10)
	select {
	case <-proxy.tripped:
	default:
		t.Fatalf("the proxy never dropped the connection (claim: %v %+v)", err, first)
	}
	t.Logf("the claim whose answer was lost: %v %+v", err, first)
	check := storetest.Postgres(t, base)
	if tk, err := check.GetTask(ctx, task.ID); err != nil || tk.LeaseOwner != "node/boot" {
		t.Fatalf("PostgreSQL committed the lost claim: %+v %v, want leased to node/boot", tk, err)
	}
	if other, err := s.ClaimTasks(ctx, "other/boot", now, time.Minute, 10); err != nil || len(other) != 0 {
		t.Fatalf("another owner claimed the leased task: %+v %v", other, err)
	}
	again, err := s.ClaimTasks(claims, "node/boot", now, time.Minute, 10)
	if err != nil || len(again) != 1 || again[0].ID != task.ID {
		t.Fatalf("the runner's next claim: %+v %v, want the task it holds without running it", again, err)
	}
	if again[0].LeaseOwner != "node/boot" || again[0].LeaseEpoch < 2 {
		t.Fatalf("claimed again: owner %q epoch %d, want node/boot under a new epoch", again[0].LeaseOwner, again[0].LeaseEpoch)
	}
	// Running it now (ClaimExcept), the runner does not claim it a third time.
	running := store.WithReclaimOwn(store.WithClaimExcept(ctx, []string{task.ID}))
	if third, err := s.ClaimTasks(running, "node/boot", now, time.Minute, 10); err != nil || len(third) != 0 {
		t.Fatalf("a task the runner runs was claimed again: %+v %v", third, err)
	}
}
