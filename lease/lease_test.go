package lease_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/lease"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(testsvc.Main(m)) }

// One holder at a time; a new holder gets a higher epoch only after the
// old one's TTL; the old holder's Check and Renew fail from then on.
func TestTakeoverFencesTheOldHolder(t *testing.T) {
	storetest.Replicas(t, func(t *testing.T, a, b store.Store) {
		ctx := context.Background()
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		ra, ok, err := lease.Try(ctx, a, "leader", "A", "", now, 15*time.Second)
		if err != nil || !ok || ra.Epoch != 1 {
			t.Fatalf("A takes: %+v %v %v", ra, ok, err)
		}
		if rb, ok, err := lease.Try(ctx, b, "leader", "B", "", now.Add(10*time.Second), 15*time.Second); err != nil || ok || rb.Holder != "A" {
			t.Fatalf("B took a live lease: %+v %v %v", rb, ok, err)
		}
		// A renews (same epoch), B still cannot take it.
		if err := lease.Renew(ctx, a, "leader", "A", 1, now.Add(10*time.Second), 15*time.Second); err != nil {
			t.Fatal(err)
		}
		if _, ok, _ := lease.Try(ctx, b, "leader", "B", "", now.Add(20*time.Second), 15*time.Second); ok {
			t.Fatal("B took a renewed lease")
		}
		// A stops renewing: after its TTL B takes over under epoch 2.
		rb, ok, err := lease.Try(ctx, b, "leader", "B", "", now.Add(26*time.Second), 15*time.Second)
		if err != nil || !ok || rb.Epoch != 2 {
			t.Fatalf("B after A's TTL: %+v %v %v", rb, ok, err)
		}
		at := now.Add(27 * time.Second)
		if err := lease.Check(ctx, a, "leader", "A", 1, at); !errors.Is(err, lease.ErrLost) {
			t.Fatalf("A's check after takeover: %v", err)
		}
		if err := lease.Renew(ctx, a, "leader", "A", 1, at, 15*time.Second); !errors.Is(err, lease.ErrLost) {
			t.Fatalf("A's renewal after takeover: %v", err)
		}
		if err := lease.Check(ctx, b, "leader", "B", 2, at); err != nil {
			t.Fatalf("B's check: %v", err)
		}
		// A fenced commit: the check inside the transaction commits nothing.
		err = a.Update(ctx, func(tx store.Tx) error {
			if err := lease.Check(ctx, tx, "leader", "A", 1, at); err != nil {
				return err
			}
			return tx.Put(ctx, store.Doc{Kind: "x", Key: "stale", Value: []byte("{}")})
		})
		if !errors.Is(err, lease.ErrLost) {
			t.Fatalf("fenced update: %v", err)
		}
		if _, err := b.Get(ctx, "x", "stale"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("stale leader committed: %v", err)
		}
		// Release keeps the epoch growing.
		if err := lease.Release(ctx, b, "leader", "B", 2); err != nil {
			t.Fatal(err)
		}
		if r, ok, _ := lease.Try(ctx, a, "leader", "A", "", at, 15*time.Second); !ok || r.Epoch != 3 {
			t.Fatalf("A after B released: %+v %v", r, ok)
		}
	})
}

// Two replicas campaign: exactly one leads; when it stops (resigns), the
// other leads under a higher epoch, and the first one's epoch is fenced.
func TestLeaderElection(t *testing.T) {
	storetest.Replicas(t, func(t *testing.T, a, b store.Store) {
		ctx := context.Background()
		la := &lease.Leader{Store: a, Name: "leader", Holder: "A", TTL: 600 * time.Millisecond}
		la.Start(ctx)
		lb := &lease.Leader{Store: b, Name: "leader", Holder: "B", TTL: 600 * time.Millisecond}
		lb.Start(ctx)
		defer lb.Stop()
		ea, okA := la.Leading()
		if _, okB := lb.Leading(); !okA || okB {
			t.Fatalf("A started first: A leads %v, B leads %v", okA, okB)
		}
		ran, err := lb.Do(ctx, func(context.Context, int64) error { t.Fatal("B ran a singleton"); return nil })
		if ran || err != nil {
			t.Fatalf("Do on a follower: %v %v", ran, err)
		}
		changed := lb.Changed()
		la.Stop()
		select {
		case <-changed:
		case <-time.After(testsvc.WaitLimit):
			t.Fatal("B never took over after A resigned")
		}
		eb, okB := lb.Leading()
		if !okB || eb <= ea {
			t.Fatalf("B leads %v under epoch %d (A had %d)", okB, eb, ea)
		}
		if err := la.Check(ctx, a, ea); !errors.Is(err, lease.ErrLost) {
			t.Fatalf("A's epoch after B took over: %v", err)
		}
		var got int64
		if ran, err := lb.Do(ctx, func(_ context.Context, e int64) error { got = e; return nil }); !ran || err != nil || got != eb {
			t.Fatalf("B's singleton: ran %v, epoch %d, %v", ran, got, err)
		}
	})
}

// A collection waits for the writers inside the gate and keeps new ones
// out until it releases; a writer that died is waited for only until its
// TTL passes.
func TestGateOrdersCollectionAndWriters(t *testing.T) {
	storetest.Replicas(t, func(t *testing.T, a, b store.Store) {
		ctx := context.Background()
		ga := &lease.Gate{Store: a, Repo: "azblob://c/vaults/v1", Holder: "A", Poll: 10 * time.Millisecond}
		gb := &lease.Gate{Store: b, Repo: "azblob://c/vaults/v1", Holder: "B", Poll: 10 * time.Millisecond}
		w, err := ga.Write(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !w.Valid() {
			t.Fatal("fresh writer entry not valid")
		}
		collected := enter(t, gb.Collect)
		// The collection cannot start while A writes, and once it waits, a
		// new writer cannot enter.
		testsvc.WaitFor(t, "the collection waiting for the gate", func() bool {
			_, err := lease.Get(ctx, a, "gategc:azblob://c/vaults/v1")
			return err == nil
		})
		select {
		case <-collected:
			t.Fatal("collection started while a writer was inside")
		default:
		}
		entered := enter(t, ga.Write)
		if err := w.Release(ctx); err != nil {
			t.Fatal(err)
		}
		h := <-collected
		select {
		case <-entered:
			t.Fatal("a writer entered during the collection")
		default:
		}
		if err := h.Release(ctx); err != nil {
			t.Fatal(err)
		}
		w2 := <-entered
		// w2 dies without releasing: a collection proceeds once its TTL has
		// passed, on a clock that says so.
		fake := clock.NewFake(time.Now().Add(2 * time.Minute))
		gc := &lease.Gate{Store: b, Clock: fake, Repo: "azblob://c/vaults/v1", Holder: "B", Poll: 10 * time.Millisecond}
		cctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		h2, err := gc.Collect(cctx)
		if err != nil {
			t.Fatalf("collection after the writer's TTL: %v", err)
		}
		h2.Release(ctx)
		_ = w2
	})
}

// enter takes a gate entry (a Gate's Write or Collect) in a goroutine; the
// entry arrives on the channel once taken.
func enter(t *testing.T, take func(context.Context) (*lease.Held, error)) <-chan *lease.Held {
	ch := make(chan *lease.Held, 1)
	go func() {
		h, err := take(context.Background())
		if err != nil {
			t.Error(err)
		}
		ch <- h
	}()
	return ch
}

// Two collections of one process (same holder) exclude each other too.
func TestGateOneCollectionAtATime(t *testing.T) {
	storetest.Replicas(t, func(t *testing.T, a, _ store.Store) {
		ctx := context.Background()
		g := &lease.Gate{Store: a, Repo: "snapshots", Holder: "A", Poll: 10 * time.Millisecond}
		h, err := g.Collect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		second := make(chan *lease.Held, 1)
		go func() {
			h2, err := g.Collect(ctx)
			if err != nil {
				t.Error(err)
			}
			second <- h2
		}()
		testsvc.WaitFor(t, "the second collection polling the held lease", func() bool {
			r, err := lease.Get(ctx, a, "gategc:snapshots")
			return err == nil && r.Holder != "" && r.Holder != "A"
		})
		select {
		case <-second:
			t.Fatal("two collections at once")
		default:
		}
		if err := h.Release(ctx); err != nil {
			t.Fatal(err)
		}
		(<-second).Release(ctx)
	})
}

// Live lists the processes renewing their lease under a prefix: one that
// stopped (its Leader released the lease) drops out at once, one that died
// (stopped renewing) once its TTL passed; other prefixes are not listed.
func TestLiveListsTheHoldersAlive(t *testing.T) {
	storetest.Replicas(t, func(t *testing.T, a, b store.Store) {
		ctx := context.Background()
		clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		var leaders []*lease.Leader
		for i, node := range []string{"n1", "n2", "n3"} {
			l := &lease.Leader{Store: []store.Store{a, b, a}[i], Name: "member:" + node, Holder: node, TTL: 15 * time.Second, Clock: clk}
			l.Start(ctx)
			leaders = append(leaders, l)
		}
		defer leaders[0].Stop()
		if _, _, err := lease.Try(ctx, a, "other:n4", "n4", "", clk.Now(), time.Minute); err != nil {
			t.Fatal(err)
		}
		live := func() []string {
			t.Helper()
			rows, err := lease.Live(ctx, b, "member:", clk.Now())
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, r := range rows {
				out = append(out, r.Holder)
			}
			return out
		}
		if got := live(); len(got) != 3 {
			t.Fatalf("live %v, want n1 n2 n3", got)
		}
		leaders[1].Stop() // n2 stops
		if got := live(); len(got) != 2 || got[0] != "n1" || got[1] != "n3" {
			t.Fatalf("after n2 stopped: %v", got)
		}
		// n3 dies: its lease is no longer renewed, n1 renews its own.
		leaders[2].Stop()
		if _, _, err := lease.Try(ctx, a, "member:n3", "n3", "", clk.Now(), 15*time.Second); err != nil {
			t.Fatal(err)
		}
		clk.Advance(10 * time.Second)
		if _, _, err := lease.Try(ctx, a, "member:n1", "n1", "", clk.Now(), 15*time.Second); err != nil {
			t.Fatal(err)
		}
		if got := live(); len(got) != 2 {
			t.Fatalf("within n3's TTL: %v", got)
		}
		clk.Advance(10 * time.Second)
		if got := live(); len(got) != 1 || got[0] != "n1" {
			t.Fatalf("after n3's TTL: %v", got)
		}
	})
}

// TestFailedRequestBacksOffFurther: a request whose run keeps failing (an
// object store out for good) is retried later and later: the wait doubles
// from RetryFirst past ten minutes up to RetryMax, never shorter than the
// one before. It stopped growing at ten minutes, so a collection that
// could never succeed ran (and logged its failure) every ten minutes for
// ever.
func TestFailedRequestBacksOffFurther(t *testing.T) {
	storetest.Replicas(t, func(t *testing.T, a, _ store.Store) {
		ctx := context.Background()
		if err := lease.Want(ctx, a, "gc:test", time.Now()); err != nil {
			t.Fatal(err)
		}
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		var last time.Duration
		for i := 1; i <= 30; i++ {
			d, err := a.Get(ctx, lease.WantKind, "gc:test")
			if err != nil {
				t.Fatal(err)
			}
			due, err := lease.Failed(ctx, a, d, now, errors.New("the object store is out"))
			if err != nil {
				t.Fatal(err)
			}
			wait := due.Sub(now)
			if wait < last || wait > lease.RetryMax || (i == 1 && wait != lease.RetryFirst) {
				t.Fatalf("failure %d: retried after %v (the one before after %v); want RetryFirst (%v) doubling up to RetryMax (%v)", i, wait, last, lease.RetryFirst, lease.RetryMax)
			}
			last = wait
			d, _ = a.Get(ctx, lease.WantKind, "gc:test")
			if n, why := lease.Failures(d); n != i || why != "the object store is out" {
				t.Fatalf("failure %d: the request says %d failures (%q)", i, n, why)
			}
		}
		if last != lease.RetryMax || lease.RetryMax < 6*time.Hour {
			t.Fatalf("after 30 failures in a row retried every %v (RetryMax %v): want it backed off to hours", last, lease.RetryMax)
		}
	})
}
