package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

// BenchmarkSQLiteUpdateParallel is the writer's throughput under P
// concurrent callers per CPU, each writing one small document per Update
// and waiting until it is durable.
func BenchmarkSQLiteUpdateParallel(b *testing.B) {
	for _, par := range []int{4, 16, 64} {
		b.Run(fmt.Sprintf("P=%d", par), func(b *testing.B) {
			ctx := context.Background()
			s := storetest.SQLite(b)
			var n atomic.Int64
			b.SetParallelism(par)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					key := fmt.Sprintf("k%d", n.Add(1)%4096)
					if err := s.Update(ctx, func(tx store.Tx) error {
						return tx.Put(ctx, store.Doc{Kind: "k", Key: key, Scope: "/s", Type: "t", Value: []byte(`{"properties":{"provisioningState":"Succeeded"}}`)})
					}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
