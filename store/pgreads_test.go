package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

// TestPostgresReadsShareRoundTrips: batches of reads made at the same moment
// by many requests share round trips (each distinct read made once for
// all), and each batch still sees every write committed before it was
// asked for: a request reads back its own write (through a second store on
// the same schema too, as another replica), its neighbours' documents, a
// list and a missing document as if it had gone alone. A batch the
// database would refuse (a key of invalid UTF-8) fails alone, and a
// request that gives up (its ctx canceled) leaves at once and fails
// nobody else's reads.
func TestPostgresReadsShareRoundTrips(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	s, other := storetest.Postgres(t, url), storetest.Postgres(t, url)
	ctx := context.Background()
	const workers, rounds = 48, 60
	if err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.Put(ctx, store.Doc{Kind: "gen", Key: "g", Value: []byte(`"1"`)}); err != nil {
			return err
		}
		for i := range 20 {
			if err := tx.Put(ctx, store.Doc{Kind: "k", Key: fmt.Sprintf("Fixed-%02d", i), Scope: "/s/", Value: []byte(strconv.Itoa(i))}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	list := store.Read{Kind: "k", List: true, Q: store.ListQuery{ScopePrefix: "/S/"}}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			writer := s
			if w%4 == 3 {
				writer = other
			}
			own := fmt.Sprintf("own-%d", w)
			for i := range rounds {
				if err := writer.Update(ctx, func(tx store.Tx) error {
					return tx.Put(ctx, store.Doc{Kind: "k", Key: own, Scope: "/own/", Value: []byte(strconv.Itoa(i))})
				}); err != nil {
					errs <- err
					return
				}
				fixed := fmt.Sprintf("fixed-%02d", (w+i)%20)
				reads := []store.Read{{Kind: "gen", Key: "g"}, {Kind: "k", Key: own}, {Kind: "k", Key: fixed}, {Kind: "k", Key: "absent"}, list}
				if w == 0 && i%5 == 0 {
					// Refused by the database: fails its own batch only.
					res := s.ReadBatch(ctx, append(reads, store.Read{Kind: "k", Key: "bad-\xff"}))
					if res[len(res)-1].Err == nil {
						errs <- fmt.Errorf("a key of invalid UTF-8 was read: %+v", res[len(res)-1])
						return
					}
				}
				rctx, cancel := ctx, context.CancelFunc(func() {})
				if i%10 == 9 {
					rctx, cancel = context.WithTimeout(ctx, time.Duration(i%3)*time.Microsecond)
				}
				res := s.ReadBatch(rctx, reads)
				canceled := rctx.Err() != nil
				cancel()
				if len(res) != len(reads) {
					errs <- fmt.Errorf("%d results for %d reads", len(res), len(reads))
					return
				}
				if canceled && res[0].Err != nil {
					if !errors.Is(res[0].Err, context.DeadlineExceeded) && !errors.Is(res[0].Err, context.Canceled) {
						errs <- fmt.Errorf("a canceled batch failed with %v", res[0].Err)
						return
					}
					continue
				}
				switch {
				case res[0].Err != nil || string(res[0].Doc.Value) != `"1"`:
					errs <- fmt.Errorf("generation: %q %v", res[0].Doc.Value, res[0].Err)
				case res[1].Err != nil || string(res[1].Doc.Value) != strconv.Itoa(i) || res[1].Doc.Key != own:
					errs <- fmt.Errorf("worker %d read back %s %q (%v) after writing %d", w, res[1].Doc.Key, res[1].Doc.Value, res[1].Err, i)
				case res[2].Err != nil || res[2].Doc.Key != fixed || string(res[2].Doc.Value) != strconv.Itoa((w+i)%20):
					errs <- fmt.Errorf("%s: %s %q %v", fixed, res[2].Doc.Key, res[2].Doc.Value, res[2].Err)
				case !errors.Is(res[3].Err, store.ErrNotFound):
					errs <- fmt.Errorf("a missing document: %+v", res[3])
				case res[4].Err != nil || len(res[4].Docs) != 20 || res[4].Docs[0].Key != "fixed-00" || res[4].Docs[19].Key != "fixed-19":
					errs <- fmt.Errorf("list: %d documents, %v", len(res[4].Docs), res[4].Err)
				default:
					continue
				}
				return
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := store.SharedReads(s); n == 0 {
		t.Errorf("no batch of %d at a time shared a round trip", workers)
	} else {
		t.Logf("%d of %d batches shared a round trip", n, workers*rounds)
	}
}

// TestPostgresReadsGoOnPastLongRoundTrips: batches of reads do not wait
// behind round trips that do not end (lists held up by a lock taken by
// hand, as a long list would hold them): once none of those in flight has
// ended for a while, a batch goes on a round trip of its own and is
// answered while they still wait.
func TestPostgresReadsGoOnPastLongRoundTrips(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	s, other := storetest.Postgres(t, url), storetest.Postgres(t, url)
	ctx := context.Background()
	if err := s.Update(ctx, func(tx store.Tx) error {
		return tx.Put(ctx, store.Doc{Kind: "k", Key: "a", Scope: "/s/", Value: []byte("v")})
	}); err != nil {
		t.Fatal(err)
	}
	// Every list reads writer_gen: they wait for this lock; gets do not.
	lock, err := other.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback(ctx)
	if _, err := lock.Exec(ctx, `LOCK TABLE writer_gen IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	var locker int32
	if err := lock.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&locker); err != nil {
		t.Fatal(err)
	}
	n := store.ReadPipes(s)
	lists := make(chan store.ReadResult, n)
	for range n {
		go func() {
			lists <- s.ReadBatch(ctx, []store.Read{{Kind: "k", List: true, Q: store.ListQuery{ScopePrefix: "/s/"}}})[0]
		}()
	}
	for deadline := time.Now().Add(time.Minute); ; {
		var waiting int
		if err := other.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))`, locker).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d lists wait for the lock", waiting, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	gctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res := s.ReadBatch(gctx, []store.Read{{Kind: "k", Key: "a"}, {Kind: "k", Key: "b"}})
	if res[0].Err != nil || string(res[0].Doc.Value) != "v" || !errors.Is(res[1].Err, store.ErrNotFound) {
		t.Fatalf("a get while %d lists wait: %+v (%v), %v", n, res[0].Doc, res[0].Err, res[1].Err)
	}
	select {
	case r := <-lists:
		t.Fatalf("a list was answered while the lock was held: %+v", r)
	default:
	}
	if err := lock.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	for range n {
		if r := <-lists; r.Err != nil || len(r.Docs) != 1 {
			t.Errorf("a list after the lock: %d documents, %v", len(r.Docs), r.Err)
		}
	}
}

// TestPostgresReadsGoOnPastLongRoundTripsAfterOthersLeft: a batch waiting
// behind round trips that do not end goes on a round trip of its own once
// they have gone on too long, also when the batch that waited before it
// (the first to wait, which watched for that) has given up meanwhile (its
// request canceled). It waited for them to end: the batches behind the
// first had nobody watching.
func TestPostgresReadsGoOnPastLongRoundTripsAfterOthersLeft(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	s := storetest.Postgres(t, url)
	ctx := context.Background()
	if err := s.Update(ctx, func(tx store.Tx) error {
		return tx.Put(ctx, store.Doc{Kind: "k", Key: "a", Value: []byte("v")})
	}); err != nil {
		t.Fatal(err)
	}
	// The batches' clock stands still until the round trips in flight
	// have gone on for a second: nothing goes past them before.
	var mu sync.Mutex
	now := time.Now()
	store.SetReadsClock(s, func() time.Time { mu.Lock(); defer mu.Unlock(); return now })
	release := store.HoldReadPipes(s)
	defer release()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); !ok(); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %s in a minute", what)
			}
		}
	}
	get := []store.Read{{Kind: "k", Key: "a"}}
	first, leave := context.WithCancel(ctx)
	firstDone := make(chan store.ReadResult, 1)
	go func() { firstDone <- s.ReadBatch(first, get)[0] }()
	waitFor("first batch waiting", func() bool { return store.ReadsWaiting(s) == 1 })
	secondDone := make(chan store.ReadResult, 1)
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	go func() { secondDone <- s.ReadBatch(sctx, get)[0] }()
	waitFor("second batch waiting", func() bool { return store.ReadsWaiting(s) == 2 })
	leave()
	if r := <-firstDone; !errors.Is(r.Err, context.Canceled) {
		t.Fatalf("the batch that gave up: %+v", r)
	}
	mu.Lock()
	now = now.Add(time.Second)
	mu.Unlock()
	r := <-secondDone
	if r.Err != nil || string(r.Doc.Value) != "v" {
		t.Fatalf("the batch behind it, while the round trips in flight went on for a second: %+v (%v)", r.Doc, r.Err)
	}
}

// TestSharedRoundTripKeepsEachBatchsOrder: a shared round trip makes each
// batch's reads in the batch's own order (a remembering batch reads its
// generation first, and a document read before it could be remembered
// under a newer generation), reading a read twice where two batches order
// it differently, and once where they agree.
func TestSharedRoundTripKeepsEachBatchsOrder(t *testing.T) {
	gen := store.Read{Kind: "gen", Key: "g"}
	x := store.Read{Kind: "principal", Key: "X"}
	y := store.Read{Kind: "principal", Key: "y"}
	lst := store.Read{Kind: "k", List: true, Q: store.ListQuery{ScopePrefix: "/s/"}}
	batches := [][]store.Read{
		{x, y},         // a batch that remembers nothing, x first
		{gen, x, lst},  // a remembering batch: x must come after gen
		{gen, y},       // y already after gen? only if placed after it
		{gen, x, lst},  // the same as the second: shares its reads
		{lst, gen},     // lst before gen: the earlier lst is not
		{x, x, gen, y}, // a read twice in a row is read once
	}
	uniq, pos := store.PlanShared(batches)
	for g, reads := range batches {
		for i, j := range pos[g] {
			if got, want := uniq[j], reads[i]; !sameRead(got, want) {
				t.Fatalf("batch %d read %d answered by %+v, want %+v", g, i, got, want)
			}
			if i > 0 && j < pos[g][i-1] {
				t.Fatalf("batch %d: read %d (%+v) made at %d, before its read %d at %d: %v", g, i, reads[i], j, i-1, pos[g][i-1], pos)
			}
		}
	}
	if !slices.Equal(pos[3], pos[1]) {
		t.Fatalf("batch 3 reads as batch 1 does, but was laid out apart: %v", pos)
	}
	if pos[5][0] != pos[5][1] {
		t.Fatalf("batch 5's x twice in a row was read twice: %v", pos[5])
	}
	if len(uniq) > 8 {
		t.Fatalf("%d reads for 5 distinct ones: %+v", len(uniq), uniq)
	}
}

func sameRead(a, b store.Read) bool {
	return strings.EqualFold(a.Kind, b.Kind) && strings.EqualFold(a.Key, b.Key) && a.List == b.List && a.Q == b.Q
}

// TestSharedRoundTripFailsOnlyTheBatchOfItsFailedRead: a read that fails
// a shared round trip for its own sake (a list held up past
// round_trip_timeout by a lock taken by hand, as a list of a vault's every
// job past the limit would be) fails the batches that asked for it, and
// no other: a batch answered before it keeps its answers, and one that
// asked for reads after it is read again (it failed every batch of the
// round trip with ErrUnavailable). The list comes first (nothing of the
// round trip answered) and in the middle (a get before it answered).
func TestSharedRoundTripFailsOnlyTheBatchOfItsFailedRead(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	limit := 3 * time.Second
	s, other := storetest.Postgres(t, testsvc.WithParam(url, "round_trip_timeout", limit.String())), storetest.Postgres(t, url)
	ctx := context.Background()
	if err := s.Update(ctx, func(tx store.Tx) error {
		return tx.Put(ctx, store.Doc{Kind: "k", Key: "a", Scope: "/s/", Value: []byte("v")})
	}); err != nil {
		t.Fatal(err)
	}
	// Every list reads writer_gen: they wait for this lock; gets do not.
	lock, err := other.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback(ctx)
	if _, err := lock.Exec(ctx, `LOCK TABLE writer_gen IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	// The batches' clock stands still: none goes past the held round
	// trips on its own; released, they go as one round trip.
	now := time.Now()
	store.SetReadsClock(s, func() time.Time { return now })
	list := []store.Read{{Kind: "k", List: true, Q: store.ListQuery{ScopePrefix: "/s/"}}}
	get := []store.Read{{Kind: "k", Key: "a"}}
	getTwo := []store.Read{{Kind: "k", Key: "a"}, {Kind: "k", Key: "absent"}}
	for _, tc := range []struct {
		name    string
		batches [][]store.Read
		failing int // the list's batch
	}{
		{"list first", [][]store.Read{list, get, getTwo}, 0},
		{"list between", [][]store.Read{get, list, getTwo}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			release := store.HoldReadPipes(s)
			defer release()
			shared := store.SharedReads(s)
			res := make([]chan []store.ReadResult, len(tc.batches))
			for i, b := range tc.batches {
				res[i] = make(chan []store.ReadResult, 1)
				go func() { res[i] <- s.ReadBatch(ctx, b) }()
				for deadline := time.Now().Add(time.Minute); store.ReadsWaiting(s) != i+1; time.Sleep(time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatalf("%d batches waiting, want %d", store.ReadsWaiting(s), i+1)
					}
				}
			}
			release()
			for i := range tc.batches {
				r := <-res[i]
				switch {
				case i == tc.failing:
					if !errors.Is(r[0].Err, store.ErrUnavailable) {
						t.Errorf("the list held past round_trip_timeout: %d documents, %v", len(r[0].Docs), r[0].Err)
					}
				case r[0].Err != nil || string(r[0].Doc.Value) != "v":
					t.Errorf("batch %d, read with the list that failed: %q, %v", i, r[0].Doc.Value, r[0].Err)
				case len(r) > 1 && !errors.Is(r[1].Err, store.ErrNotFound):
					t.Errorf("batch %d, a missing document: %+v", i, r[1])
				}
			}
			if n := store.SharedReads(s) - shared; n != int64(len(tc.batches)) {
				t.Errorf("%d batches shared the round trip, want %d", n, len(tc.batches))
			}
		})
	}
}

// TestSharedRoundTripOnAFrozenDatabaseFailsEveryBatch: a shared round trip
// that fails because the database stopped answering (every process of
// the cluster stopped) fails every batch within round_trip_timeout and a
// probe (a second at most), not each batch again on a round trip of its
// own, each waiting as long; and the batches are answered once it
// answers again.
func TestSharedRoundTripOnAFrozenDatabaseFailsEveryBatch(t *testing.T) {
	u, freeze := testsvc.FrozenPostgres(t)
	const limit = 4 * time.Second
	s := storetest.Postgres(t, testsvc.WithParam(u, "round_trip_timeout", limit.String()))
	ctx := context.Background()
	if err := s.Update(ctx, func(tx store.Tx) error {
		return tx.Put(ctx, store.Doc{Kind: "k", Key: "a", Scope: "/s/", Value: []byte("v")})
	}); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	store.SetReadsClock(s, func() time.Time { return now })
	batches := [][]store.Read{
		{{Kind: "k", Key: "a"}},
		{{Kind: "k", List: true, Q: store.ListQuery{ScopePrefix: "/s/"}}},
		{{Kind: "k", Key: "a"}, {Kind: "k", Key: "absent"}},
	}
	run := func() [][]store.ReadResult {
		release := store.HoldReadPipes(s)
		defer release()
		res := make([]chan []store.ReadResult, len(batches))
		for i, b := range batches {
			res[i] = make(chan []store.ReadResult, 1)
			go func() { res[i] <- s.ReadBatch(ctx, b) }()
			for deadline := time.Now().Add(time.Minute); store.ReadsWaiting(s) != i+1; time.Sleep(time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%d batches waiting, want %d", store.ReadsWaiting(s), i+1)
				}
			}
		}
		release()
		out := make([][]store.ReadResult, len(batches))
		for i := range res {
			select {
			case out[i] = <-res[i]:
			case <-time.After(2 * time.Minute): // far past round_trip_timeout: TCP waits for ever
				t.Fatalf("batch %d hung", i)
			}
		}
		return out
	}
	thaw := freeze()
	out := run()
	// Every batch failed with the shared round trip's error, the probe
	// finding the database gone: none went on a round trip of its own,
	// waiting round_trip_timeout again (told by the error each batch
	// got, not by timing them: the machine's load only delays them).
	for i, r := range out {
		if !errors.Is(r[0].Err, store.ErrUnavailable) || !strings.Contains(fmt.Sprint(r[0].Err), "round_trip_timeout") {
			t.Errorf("batch %d on a frozen database: %v, want ErrUnavailable after round_trip_timeout", i, r[0].Err)
		}
		if r[0].Err != out[0][0].Err {
			t.Errorf("batch %d on a frozen database failed on a round trip of its own (%v), not with the shared one (%v)", i, r[0].Err, out[0][0].Err)
		}
	}
	thaw()
	testsvc.WaitWithin(t, 30*time.Second, "the store to read again", func() bool {
		_, err := s.Get(ctx, "k", "a")
		return err == nil
	})
	out = run()
	if r := out[0][0]; r.Err != nil || string(r.Doc.Value) != "v" {
		t.Errorf("a get once the database answers: %q, %v", r.Doc.Value, r.Err)
	}
	if r := out[1][0]; r.Err != nil || len(r.Docs) != 1 {
		t.Errorf("a list once the database answers: %d documents, %v", len(r.Docs), r.Err)
	}
	if r := out[2][1]; !errors.Is(r.Err, store.ErrNotFound) {
		t.Errorf("a missing document once the database answers: %v", r.Err)
	}
}
