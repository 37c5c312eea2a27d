package ops_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/arm/armops"
	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/job"
	"github.com/safehold/safehold/ops"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

func waitDone(t *testing.T, m *ops.Manager, id string) *ops.Operation {
	t.Helper()
	deadline := time.Now().Add(testsvc.WaitLimit)
	for time.Now().Before(deadline) {
		op, err := m.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if op.Done() {
			return op
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("operation did not finish")
	return nil
}

// An operation accepted before a crash finishes after the restart: its
// record and task are durable, and the restarted node reclaims its lease.
func TestOperationSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	st := storetest.SQLiteAt(t, path)
	var runs atomic.Int32
	block := make(chan struct{})
	r1 := &job.Runner{Store: st, NodeID: "node1", Poll: 10 * time.Millisecond, Lease: time.Hour}
	m1 := ops.NewManager(st, clock.Real{}, r1, armops.Describe)
	m1.Register("work", func(ctx context.Context, op *ops.Operation) error {
		runs.Add(1)
		select { // the first process "crashes" mid-operation
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	})
	if err := r1.Start(ctx); err != nil {
		t.Fatal(err)
	}
	op := &ops.Operation{Kind: "work"}
	if err := st.Update(ctx, func(tx store.Tx) error { return m1.Start(ctx, tx, op, map[string]int{"n": 1}) }); err != nil {
		t.Fatal(err)
	}
	m1.Notify()
	for runs.Load() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	r1.Stop()
	st.Close()

	st2 := storetest.SQLiteAt(t, path)
	r2 := &job.Runner{Store: st2, NodeID: "node1", Poll: 10 * time.Millisecond, Lease: time.Hour}
	m2 := ops.NewManager(st2, clock.Real{}, r2, armops.Describe)
	m2.Register("work", func(ctx context.Context, op *ops.Operation) error {
		var in map[string]int
		if err := op.DecodeInput(&in); err != nil || in["n"] != 1 {
			return errors.New("input lost")
		}
		op.Result, op.ResultStatus = json.RawMessage(`{"ok":true}`), http.StatusOK
		op.Properties = json.RawMessage(`{"jobId":"j1"}`)
		return nil
	})
	if err := r2.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer r2.Stop()
	done := waitDone(t, m2, op.ID)
	if done.Status != ops.Succeeded || string(done.Result) != `{"ok":true}` || done.EndTime == nil {
		t.Fatalf("after restart: %+v", done)
	}
	body := armops.StatusBody(done, "/x")
	if body["status"] != "Succeeded" || body["properties"] == nil {
		t.Fatalf("status body %v", body)
	}
}

func TestOperationFailureCarriesARMError(t *testing.T) {
	ctx := context.Background()
	st := storetest.SQLite(t)
	r := &job.Runner{Store: st, Poll: 10 * time.Millisecond}
	m := ops.NewManager(st, clock.Real{}, r, armops.Describe)
	m.Register("fail", func(ctx context.Context, op *ops.Operation) error {
		return arm.BadRequest("UserErrorX", "the disk is gone")
	})
	m.Register("panic", func(ctx context.Context, op *ops.Operation) error { panic("boom") })
	r.Start(ctx)
	defer r.Stop()
	a, b := &ops.Operation{Kind: "fail"}, &ops.Operation{Kind: "panic"}
	st.Update(ctx, func(tx store.Tx) error {
		if err := m.Start(ctx, tx, a, nil); err != nil {
			return err
		}
		return m.Start(ctx, tx, b, nil)
	})
	m.Notify()
	code := func(op *ops.Operation) string {
		var e struct{ Code string }
		json.Unmarshal(op.Error, &e)
		return e.Code
	}
	fa := waitDone(t, m, a.ID)
	if fa.Status != ops.Failed || code(fa) != "UserErrorX" || fa.ErrorStatus != http.StatusBadRequest {
		t.Fatalf("%+v", fa)
	}
	fb := waitDone(t, m, b.ID)
	if fb.Status != ops.Failed || code(fb) != "InternalServerError" || fb.ErrorStatus != http.StatusInternalServerError {
		t.Fatalf("%+v", fb)
	}
}

// OnSuccess work commits with the operation's end: a first run whose
// OnSuccess fails leaves nothing of it and the operation in progress; the
// run after it commits the document and Succeeded together.
func TestOnSuccessCommitsWithTheEnd(t *testing.T) {
	ctx := context.Background()
	st := storetest.SQLite(t)
	r := &job.Runner{Store: st, NodeID: "n1", Poll: 10 * time.Millisecond}
	m := ops.NewManager(st, clock.Real{}, r, armops.Describe)
	var runs atomic.Int32
	m.RegisterLight("work", func(ctx context.Context, op *ops.Operation) error {
		n := runs.Add(1)
		op.OnSuccess(func(tx store.Tx) error {
			if n == 1 {
				if err := tx.Put(ctx, store.Doc{Kind: "k", Key: "first", Value: []byte(`{}`)}); err != nil {
					return err
				}
				return errors.New("not yet")
			}
			return tx.Put(ctx, store.Doc{Kind: "k", Key: "done", Value: []byte(`{}`)})
		})
		return nil
	})
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	op := &ops.Operation{Kind: "work"}
	if err := st.Update(ctx, func(tx store.Tx) error { return m.Start(ctx, tx, op, nil) }); err != nil {
		t.Fatal(err)
	}
	m.Notify()
	got := waitDone(t, m, op.ID)
	if got.Status != ops.Succeeded || runs.Load() != 2 {
		t.Fatalf("operation %s after %d runs; want Succeeded after 2", got.Status, runs.Load())
	}
	if _, err := st.Get(ctx, "k", "done"); err != nil {
		t.Errorf("the second run's OnSuccess document: %v", err)
	}
	if _, err := st.Get(ctx, "k", "first"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the failed OnSuccess's document: %v, want it rolled back", err)
	}
}

// Launch stores with's writes and the operation in one transaction and
// wakes the worker: a with that fails leaves no operation and nothing runs;
// one that succeeds leaves both, and the operation runs.
func TestLaunchStartsWithItsTransaction(t *testing.T) {
	ctx := context.Background()
	st := storetest.SQLite(t)
	r := &job.Runner{Store: st, Poll: time.Hour} // only Notify wakes it
	m := ops.NewManager(st, clock.Real{}, r, armops.Describe)
	var runs atomic.Int32
	m.Register("work", func(ctx context.Context, op *ops.Operation) error {
		runs.Add(1)
		return nil
	})
	r.Start(ctx)
	defer r.Stop()

	refused := errors.New("refused")
	bad := &ops.Operation{ID: "refused-op", Kind: "work"}
	if err := m.Launch(ctx, bad, nil, func(store.Tx) error { return refused }); !errors.Is(err, refused) {
		t.Fatalf("Launch with a failing with: %v", err)
	}
	if _, err := m.Get(ctx, bad.ID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("an operation was stored for a failed with: %v", err)
	}

	good := &ops.Operation{Kind: "work"}
	if err := m.Launch(ctx, good, map[string]string{"x": "y"}, func(tx store.Tx) error {
		return tx.Put(ctx, store.Doc{Kind: "k", Key: "good", Value: []byte(`{}`)})
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, "k", "good"); err != nil {
		t.Fatalf("with's write: %v", err)
	}
	if op := waitDone(t, m, good.ID); op.Status != ops.Succeeded || string(op.Input) != `{"x":"y"}` {
		t.Fatalf("launched operation: %+v", op)
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("the work ran %d times, want once (the failed launch must not run)", n)
	}
}

// Prune deletes the records of operations that ended more than Keep ago,
// in batches, and keeps running operations and recent ones.
func TestPruneDropsOldFinishedOperations(t *testing.T) {
	ctx := context.Background()
	st := storetest.SQLite(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	r := &job.Runner{Store: st, Poll: time.Hour} // never started: a started operation stays running
	m := ops.NewManager(st, clk, r, armops.Describe)
	m.Register("work", func(context.Context, *ops.Operation) error { return nil })
	const old = 1100 // more than two batches
	err := st.Update(ctx, func(tx store.Tx) error {
		for i := 0; i < old; i++ {
			if err := m.Completed(ctx, tx, &ops.Operation{Kind: "work"}); err != nil {
				return err
			}
		}
		return m.Start(ctx, tx, &ops.Operation{ID: "running", Kind: "work"}, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(ops.Keep + time.Hour)
	recent := &ops.Operation{ID: "recent", Kind: "work"}
	if err := st.Update(ctx, func(tx store.Tx) error { return m.Completed(ctx, tx, recent) }); err != nil {
		t.Fatal(err)
	}
	n, err := m.Prune(ctx, clk.Now().Add(-ops.Keep))
	if err != nil || n != old {
		t.Fatalf("Prune: %d, %v; want %d", n, err, old)
	}
	docs, err := st.List(ctx, "operation", store.ListQuery{})
	if err != nil || len(docs) != 2 {
		t.Fatalf("%d operation records left (%v), want the running and the recent one", len(docs), err)
	}
	for _, id := range []string{"running", "recent"} {
		if _, err := m.Lookup(ctx, id); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	if n, err := m.Prune(ctx, clk.Now().Add(-ops.Keep)); n != 0 || err != nil {
		t.Fatalf("second Prune: %d, %v", n, err)
	}
}

// StartUnlessRunning starts an operation for a key unless one recorded for
// it that acts on the same identity still runs: then it answers that one
// (with its location) and stores nothing, not even what its start would
// have written. Another identity, a fresh resource or an ended operation
// gets a new one.
func TestStartUnlessRunning(t *testing.T) {
	ctx := context.Background()
	st := storetest.SQLite(t)
	r := &job.Runner{Store: st, Poll: time.Hour} // never started: a started operation stays running
	m := ops.NewManager(st, clock.Real{}, r, armops.Describe)
	m.Register("work", func(context.Context, *ops.Operation) error { return nil })
	start := func(key, identity string, fresh bool) (*ops.Operation, *ops.Pending) {
		t.Helper()
		own := ops.NewID()
		op := &ops.Operation{ID: own, Kind: "work"}
		var run *ops.Pending
		err := st.Update(ctx, func(tx store.Tx) (err error) {
			run, err = m.StartUnlessRunning(ctx, tx, key, ops.Pending{Identity: identity, Location: "loc-" + identity}, fresh, op, nil, func() error {
				return tx.Put(ctx, store.Doc{Kind: "started", Key: op.ID, Value: []byte(`{}`)})
			})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		_, started := st.Get(ctx, "started", own)
		_, stored := m.Get(ctx, own)
		if (run == nil) != (started == nil) || (run == nil) != (stored == nil) {
			t.Fatalf("answered %+v, yet its start's write: %v, the operation: %v", run, started, stored)
		}
		return op, run
	}
	a, run := start("/R/x", "one", false)
	if run != nil {
		t.Fatalf("first start answered %+v", run)
	}
	if op, run := start("/r/X", "ONE", false); run == nil || run.OpID != a.ID || op.ID != a.ID || run.Location != "loc-one" {
		t.Fatalf("a second start for the key answered %+v, want %s's record", run, a.ID)
	}
	b, run := start("/r/x", "two", false)
	if run != nil {
		t.Fatalf("a start for another identity answered %+v", run)
	}
	if _, run := start("/r/x", "two", false); run == nil || run.OpID != b.ID {
		t.Fatalf("answered %+v, want %s's record (the latest started)", run, b.ID)
	}
	c, run := start("/r/x", "two", true)
	if run != nil {
		t.Fatalf("a fresh start answered %+v", run)
	}
	if err := st.Update(ctx, func(tx store.Tx) error { return m.Finish(ctx, tx, c, nil) }); err != nil {
		t.Fatal(err)
	}
	if _, run := start("/r/x", "two", false); run != nil {
		t.Fatalf("a start after the recorded operation ended answered %+v", run)
	}
}

// A record is kept ops.Keep of real time after its operation ended,
// whatever the server's clock does meanwhile: advanced a month (an
// operator testing retention), the status URL of an operation that ended a
// moment ago still answers its poller; set back a month, records still go
// a week after they ended. Pruning went by the server's clock, so the
// advance made every record just written look a month old and the next
// prune deleted it (OperationNotFound to the client polling it).
func TestPruneGoesByRealTime(t *testing.T) {
	ctx := context.Background()
	st := storetest.SQLite(t)
	real := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewControlAt(func() time.Time { return real })
	r := &job.Runner{Store: st, Poll: time.Hour}
	m := ops.NewManager(st, clk, r, armops.Describe)
	m.Register("work", func(context.Context, *ops.Operation) error { return nil })
	complete := func(id string) {
		t.Helper()
		if err := st.Update(ctx, func(tx store.Tx) error { return m.Completed(ctx, tx, &ops.Operation{ID: id, Kind: "work"}) }); err != nil {
			t.Fatal(err)
		}
	}
	prune := func() int {
		t.Helper()
		n, err := m.Prune(ctx, clock.RealNow(clk).Add(-ops.Keep))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	exists := func(id string) bool {
		_, err := m.Lookup(ctx, id)
		return err == nil
	}
	complete("before-advance")
	clk.Advance(30 * 24 * time.Hour)
	complete("after-advance")
	if n := prune(); n != 0 || !exists("before-advance") {
		t.Fatalf("the clock advanced a month, the operation that ended a moment ago in real time was pruned (%d pruned)", n)
	}
	clk.Set(real.Add(-60 * 24 * time.Hour)) // set back two months
	complete("set-back")
	real = real.Add(ops.Keep - time.Hour)
	if n := prune(); n != 0 {
		t.Fatalf("%d records pruned before they were ops.Keep old in real time", n)
	}
	real = real.Add(2 * time.Hour)
	if n := prune(); n != 3 || exists("set-back") || exists("before-advance") || exists("after-advance") {
		t.Fatalf("ops.Keep of real time after they ended: %d pruned, want the 3", n)
	}
}

// TestOperationRunsAgainAfterTheDatabaseWasOutOfReach: an operation whose
// Func meets the database out of reach (PostgreSQL refuses its write with
// 57P01, as a backend does while the database shuts down) runs again a
// second later and succeeds, its write made once; before, it ended Failed
// though what it started (a job it runs) went on, and its task with it.
func TestOperationRunsAgainAfterTheDatabaseWasOutOfReach(t *testing.T) {
	ctx := context.Background()
	st := storetest.Postgres(t, testsvc.PostgresSchema(t))
	for _, q := range []string{
		`CREATE SEQUENCE blip`,
		`CREATE FUNCTION blip() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.kind = 'test.thing' AND nextval('blip') = 1 THEN
				RAISE EXCEPTION 'terminating connection due to administrator command (the test''s)' USING ERRCODE = '57P01';
			END IF;
			RETURN NEW;
		END $$`,
		`CREATE TRIGGER blip BEFORE INSERT ON docs FOR EACH ROW EXECUTE FUNCTION blip()`,
	} {
		if _, err := st.Pool().Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	r := &job.Runner{Store: st, NodeID: "node1", Poll: 10 * time.Millisecond}
	m := ops.NewManager(st, clock.Real{}, r, armops.Describe)
	var runs atomic.Int32
	m.Register("work", func(ctx context.Context, op *ops.Operation) error {
		runs.Add(1)
		return st.Update(ctx, func(tx store.Tx) error {
			return tx.Create(ctx, store.Doc{Kind: "test.thing", Key: op.ID, Value: []byte(`{}`)})
		})
	})
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	op := &ops.Operation{Kind: "work"}
	if err := st.Update(ctx, func(tx store.Tx) error { return m.Start(ctx, tx, op, nil) }); err != nil {
		t.Fatal(err)
	}
	m.Notify()
	done := waitDone(t, m, op.ID)
	if done.Status != ops.Succeeded || done.TransientRetries != 1 || runs.Load() != 2 {
		t.Fatalf("operation %s (error %s), %d transient retries, %d runs; want Succeeded after 1 retry, 2 runs", done.Status, done.Error, done.TransientRetries, runs.Load())
	}
	if _, found := storetest.TxGet(t, st, "test.thing", op.ID); !found {
		t.Fatal("the operation's write is not there")
	}
}
