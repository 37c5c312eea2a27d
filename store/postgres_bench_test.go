package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

// BenchmarkPostgresConcurrentUpdates: 32 writers at once, each Update a
// handler's shape (read the subscription, read its own document, write
// it), as the mixed load's writes are: Updates per second through the
// store alone (no HTTP), the measure of its write path.
func BenchmarkPostgresConcurrentUpdates(b *testing.B) {
	s := storetest.Postgres(b, testsvc.PostgresSchema(b))
	ctx := context.Background()
	if err := s.Update(ctx, func(tx store.Tx) error {
		return tx.Put(ctx, store.Doc{Kind: "subscription", Key: "s", Value: []byte(`{"state":"Enabled"}`)})
	}); err != nil {
		b.Fatal(err)
	}
	const writers = 32
	var next atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				key := fmt.Sprintf("/s/rg%d", i%500)
				err := s.Update(ctx, func(tx store.Tx) error {
					if _, err := tx.Get(ctx, "subscription", "s"); err != nil {
						return err
					}
					d, err := tx.Get(ctx, "resource", key)
					if err != nil && !errors.Is(err, store.ErrNotFound) {
						return err
					}
					return tx.Put(ctx, store.Doc{Kind: "resource", Key: key, Scope: "/s/", Value: append(d.Value[:0:0], '{', '}')})
				})
				if err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "updates/s")
}
