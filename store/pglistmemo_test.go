package store_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"

	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

// memoQueries are lists of kind "k" that the batch-read tests read: every
// shape pgListSQL makes (a scope, cased otherwise, a type, a limit, after a
// key, all at once).
var memoQueries = []store.ListQuery{
	{},
	{ScopePrefix: "/s/1/"},
	{ScopePrefix: "/S/"},
	{Type: "t"},
	{Limit: 2},
	{ScopePrefix: "/s/", Limit: 3},
	{After: "/s/k3"},
	{ScopePrefix: "/s/2/", Type: "T", Limit: 2},
	{ScopePrefix: "/x/"},
}

// checkBatchLists reads queries of kind "k" in one batch through each
// store and compares each list with the one the database reads then (List
// on the pool, which remembers nothing): documents, values, versions and
// times.
func checkBatchLists(t *testing.T, step string, queries []store.ListQuery, stores ...*store.Postgres) {
	t.Helper()
	ctx := context.Background()
	reads := make([]store.Read, len(queries))
	for i, q := range queries {
		reads[i] = store.Read{Kind: "k", List: true, Q: q}
	}
	for n, s := range stores {
		got := s.ReadBatch(ctx, reads)
		for i, q := range queries {
			want, err := s.List(ctx, "k", q)
			if err != nil || got[i].Err != nil {
				t.Fatalf("%s: replica %d, list %+v: %v; the database's: %v", step, n, q, got[i].Err, err)
			}
			if len(want) != len(got[i].Docs) || (len(want) > 0 && !reflect.DeepEqual(got[i].Docs, want)) {
				t.Fatalf("%s: replica %d, list %+v read in a batch:\n%+v\nthe database's:\n%+v", step, n, q, got[i].Docs, want)
			}
		}
	}
}

// A list read in a request's batch (the first page of an ARM list) is
// answered from memory while writer_gen has not moved since it was read,
// and carried forward by its replica's writer across that writer's own
// commits: single Updates and groups of them (one failing, which leaves
// nothing), over documents the writer knows (read first, as handlers do)
// and ones it does not. After each, every list is the database's. (Writes
// of other replicas, by hand and by scope: TestPostgresListsInUpdatesSeeEveryWrite.)
func TestPostgresBatchListsFollowTheirWriter(t *testing.T) {
	s := storetest.Postgres(t, testsvc.PostgresSchema(t))
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(21, 5))
	doc := func(r *rand.Rand) store.Doc {
		return store.Doc{Kind: "k", Key: fmt.Sprintf("/s/K%d", r.IntN(8)),
			Scope: []string{"/s/1/", "/s/2/", "/S/1/", "/x/"}[r.IntN(4)], Type: []string{"", "t", "T"}[r.IntN(3)],
			Value: []byte(fmt.Sprintf(`{"n":%d}`, r.IntN(1000)))}
	}
	// write writes a document as r picks it: a Put, a Create or a Delete,
	// maybe after reading it.
	write := func(tx store.Tx, r *rand.Rand) error {
		d := doc(r)
		if r.IntN(3) > 0 {
			if _, err := tx.Get(ctx, "k", d.Key); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		var err error
		switch r.IntN(3) {
		case 0:
			err = tx.Put(ctx, d)
		case 1:
			err = tx.Create(ctx, d)
		default:
			err = tx.Delete(ctx, "k", d.Key)
		}
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			err = nil
		}
		return err
	}
	for i := range 8 {
		if err := s.Update(ctx, func(tx store.Tx) error { return write(tx, rand.New(rand.NewPCG(uint64(i), 1))) }); err != nil {
			t.Fatal(err)
		}
	}
	checkBatchLists(t, "first state", memoQueries, s)
	hits := store.ListMemoHits(s)
	checkBatchLists(t, "again", memoQueries, s)
	if store.ListMemoHits(s) == hits {
		t.Fatal("lists read again with nothing written since were read from the database again")
	}
	carried := false
	for step := range 150 {
		var what string
		if rng.IntN(2) == 0 {
			n := 1 + rng.IntN(3)
			what = fmt.Sprintf("an Update of %d writes", n)
			if err := s.Update(ctx, func(tx store.Tx) error {
				for range n {
					if err := write(tx, rng); err != nil {
						return err
					}
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		} else {
			what = "Updates at once, one failing"
			var wg sync.WaitGroup
			for i := range 6 {
				r := rand.New(rand.NewPCG(rng.Uint64(), rng.Uint64()))
				wg.Add(1)
				go func() {
					defer wg.Done()
					s.Update(ctx, func(tx store.Tx) error {
						if err := write(tx, r); err != nil || i != 3 {
							return err
						}
						return errors.New("fails: nothing of it stays")
					})
				}()
			}
			wg.Wait()
		}
		hits := store.ListMemoHits(s)
		checkBatchLists(t, fmt.Sprintf("step %d (%s)", step, what), memoQueries, s)
		carried = carried || store.ListMemoHits(s) > hits
	}
	if !carried {
		t.Fatal("no list was answered from memory after a write of the replica's own writer")
	}
}

// A list its writer's commits grow past the documents a remembered list
// may hold (the first page of an unpaged list, a vault's jobs, grows with
// every job) is forgotten, not carried on without bound: it is read from
// the database again, and is the database's.
func TestPostgresBatchListGrownByItsWriterIsForgotten(t *testing.T) {
	s := storetest.Postgres(t, testsvc.PostgresSchema(t))
	ctx := context.Background()
	put := func(from, to int) {
		t.Helper()
		if err := s.Update(ctx, func(tx store.Tx) error {
			for i := from; i < to; i++ {
				// Read first, as handlers do: the writer knows what it writes over.
				key := fmt.Sprintf("/s/%04d", i)
				if _, err := tx.Get(ctx, "k", key); !errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("get %s: %v", key, err)
				}
				if err := tx.Put(ctx, store.Doc{Kind: "k", Key: key, Scope: "/s/", Value: []byte(`{}`)}); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	const most = 256 // the documents a remembered list holds at most (pgListCacheDocs)
	put(0, most)
	q := []store.ListQuery{{ScopePrefix: "/s/"}}
	checkBatchLists(t, "at the bound", q, s)
	hits := store.ListMemoHits(s)
	checkBatchLists(t, "at the bound, again", q, s)
	if store.ListMemoHits(s) == hits {
		t.Fatalf("a list of %d documents read again with nothing written since was read from the database again", most)
	}
	put(most, most+1)
	hits = store.ListMemoHits(s)
	checkBatchLists(t, "grown past the bound by the writer", q, s)
	if got := store.ListMemoHits(s) - hits; got != 0 {
		t.Fatalf("a list its writer grew to %d documents was answered from memory (%d times): a remembered list holds at most %d", most+1, got, most)
	}
}
