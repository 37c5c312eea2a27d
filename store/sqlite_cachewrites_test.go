package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
)

// The read cache holds what a commit wrote as the database holds it:
// concurrent groups of puts (creating and replacing), creates, deletes and
// scope deletes of a few keys, some Updates failing after writing, while
// readers keep the keys cached; afterwards every key reads through the
// cache exactly as from the database (value, version, times, scope, type),
// or is absent from both.
func TestSQLiteCacheHoldsWhatWasCommitted(t *testing.T) {
	s := openTestSQLite(t)
	ctx := context.Background()
	const keys, workers, rounds, phases = 6, 16, 20, 10
	key := func(i int) string { return fmt.Sprintf("Doc-%d", i) } // mixed case
	scope := func(i int) string { return fmt.Sprintf("/s/%d/", i%2) }
	uncached := func(k string) (Doc, error) {
		d, err := scanDoc(s.rq.QueryRowContext(ctx, getDocSQL, "thing", cacheKey("thing", k).key).Scan)
		if errors.Is(err, sql.ErrNoRows) {
			return Doc{}, ErrNotFound
		}
		return d, err
	}
	errFail := errors.New("fail after writing")
	check := func() (cached int) {
		t.Helper()
		for i := range keys {
			_, inCache := s.cache[cacheKey("thing", key(i))]
			want, werr := uncached(key(i))
			got, gerr := s.Get(ctx, "thing", key(i))
			if !errors.Is(gerr, werr) && !(gerr == nil && werr == nil) {
				t.Fatalf("%s: cached read %v, database %v", key(i), gerr, werr)
			}
			if werr == nil && !reflect.DeepEqual(got, want) {
				t.Fatalf("%s: cached read %+v, database %+v", key(i), got, want)
			}
			if inCache {
				cached++
			}
		}
		return cached
	}
	cached := 0
	for phase := range phases {
		var wg sync.WaitGroup
		stop := make(chan struct{})
		readers := make(chan struct{})
		go func() { // a reader keeps the keys in the cache
			defer close(readers)
			for {
				select {
				case <-stop:
					return
				default:
				}
				for i := range keys {
					s.Get(ctx, "thing", key(i))
				}
			}
		}()
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(w), uint64(phase)))
				for n := range rounds {
					i := r.IntN(keys)
					v := []byte(fmt.Sprintf(`{"w":%d,"n":%d}`, w, n))
					err := s.Update(ctx, func(tx Tx) error {
						var err error
						switch k := r.IntN(20); {
						case k < 10:
							err = tx.Put(ctx, Doc{Kind: "thing", Key: key(i), Scope: scope(i), Type: fmt.Sprint("T", n%2), Value: v})
						case k < 13:
							if err = tx.Create(ctx, Doc{Kind: "thing", Key: key(i), Scope: scope(i), Value: v}); errors.Is(err, ErrConflict) {
								err = nil
							}
						case k < 16:
							if err = tx.Delete(ctx, "thing", key(i)); errors.Is(err, ErrNotFound) {
								err = nil
							}
						case k < 17: // put, then delete its scope: gone
							if err = tx.Put(ctx, Doc{Kind: "thing", Key: key(i), Scope: scope(i), Value: v}); err == nil {
								_, err = tx.DeleteScope(ctx, "thing", scope(i))
							}
						case k < 18: // put, then delete: gone
							if err = tx.Put(ctx, Doc{Kind: "thing", Key: key(i), Scope: scope(i), Value: v}); err == nil {
								err = tx.Delete(ctx, "thing", key(i))
							}
						default: // put, then fail: nothing
							if err = tx.Put(ctx, Doc{Kind: "thing", Key: key(i), Value: v}); err == nil {
								err = errFail
							}
						}
						return err
					})
					if err != nil && !errors.Is(err, errFail) {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		close(stop)
		<-readers
		cached += check()
	}
	if cached == 0 {
		t.Fatal("no key was in the cache at any check: nothing compared the cache with the database")
	}
	t.Logf("%d of %d checks read a cached document", cached, phases*keys)
}
