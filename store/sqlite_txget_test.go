package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
)

// A transaction's Get answers from the read cache only what its group has
// not written: read-modify-write Updates of a few counters, committed in
// concurrent groups (several savepoints of one group write the same
// counter, some fail and roll back, one deletes a whole kind), while other
// goroutines keep the counters in the read cache, lose no increment.
func TestSQLiteTxGetSeesTheGroupsWrites(t *testing.T) {
	s := openTestSQLite(t)
	ctx := context.Background()
	const counters, workers, rounds = 3, 16, 30
	key := func(i int) string { return fmt.Sprintf("Counter-%d", i) } // mixed case: keys compare case-insensitively
	inc := func(tx Tx, k string) error {
		n := 0
		d, err := tx.Get(ctx, "counter", k)
		switch {
		case err == nil:
			if n, err = strconv.Atoi(string(d.Value)); err != nil {
				return err
			}
		case !errors.Is(err, ErrNotFound):
			return err
		}
		return tx.Put(ctx, Doc{Kind: "counter", Key: k, Value: []byte(strconv.Itoa(n + 1))})
	}
	errBoom := errors.New("boom")
	stop := make(chan struct{})
	var readers sync.WaitGroup
	for r := range 4 { // keep the counters cached
		readers.Add(1)
		go func() {
			defer readers.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				s.View(ctx, "counter", key((r+i)%counters))
			}
		}()
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range rounds {
				k := key((w + i) % counters)
				if err := s.Update(ctx, func(tx Tx) error { return inc(tx, k) }); err != nil {
					t.Error(err)
					return
				}
				// An Update that increments, then fails: rolled back.
				if err := s.Update(ctx, func(tx Tx) error {
					if err := inc(tx, k); err != nil {
						return err
					}
					return errBoom
				}); !errors.Is(err, errBoom) {
					t.Errorf("failing update: %v", err)
					return
				}
				// One that deletes a kind of scratch documents and then reads
				// one (gone within its group).
				if w == 0 && i%10 == 0 {
					if err := s.Update(ctx, func(tx Tx) error {
						return tx.Put(ctx, Doc{Kind: "scratch", Key: "x", Scope: "/s/", Value: []byte("1")})
					}); err != nil {
						t.Error(err)
						return
					}
					if _, err := s.View(ctx, "scratch", "x"); err != nil { // cached
						t.Error(err)
						return
					}
					if err := s.Update(ctx, func(tx Tx) error {
						if _, err := tx.DeleteScope(ctx, "scratch", "/s/"); err != nil {
							return err
						}
						if _, err := tx.Get(ctx, "scratch", "x"); !errors.Is(err, ErrNotFound) {
							return fmt.Errorf("a bulk-deleted document read in its transaction: %v", err)
						}
						return nil
					}); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	total := 0
	for i := range counters {
		d, err := s.Get(ctx, "counter", key(i))
		if err != nil {
			t.Fatal(err)
		}
		n, _ := strconv.Atoi(string(d.Value))
		total += n
	}
	if total != workers*rounds {
		t.Fatalf("the counters add up to %d, want %d: an Update read a stale value", total, workers*rounds)
	}
}
