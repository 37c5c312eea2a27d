package local

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/safehold/safehold/blob"
)

// BenchmarkPutPacks puts 8 MiB packs as a chunk store's uploads do, four
// at a time, into a fresh directory: each synced by its own Put (the
// directory fsynced after each link) or grouped (PutUnsynced, then one
// SyncPuts for them all, as a writer's flush does). b.N is the number of
// rounds of 32 packs; the time is the device's (the CPU does little), and
// ms/put is how long a put holds its slot (and a store's pack buffer).
//
//	go test -run '^$' -bench BenchmarkPutPacks -benchtime 5x ./blob/local/
func BenchmarkPutPacks(b *testing.B) {
	const packs, slots = 32, 4
	data := blob.AlignedBuf(8 << 20)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, grouped := range []bool{false, true} {
		b.Run(map[bool]string{false: "synced", true: "grouped"}[grouped], func(b *testing.B) {
			ctx := context.Background()
			b.SetBytes(packs * int64(len(data)))
			var held atomic.Int64 // ns the puts held their slots
			for n := 0; n < b.N; n++ {
				b.StopTimer()
				be, err := Open(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				sem := make(chan struct{}, slots)
				var wg sync.WaitGroup
				for k := range packs {
					sem <- struct{}{}
					wg.Go(func() {
						defer func() { <-sem }()
						start := time.Now()
						defer func() { held.Add(int64(time.Since(start))) }()
						key := fmt.Sprintf("pack/%02x%030x", n%3, k)
						put := be.Put
						if grouped {
							put = be.PutUnsynced
						}
						if err := put(ctx, key, data); err != nil {
							b.Error(err)
						}
					})
				}
				wg.Wait()
				if err := be.SyncPuts(ctx); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(held.Load())/1e6/float64(b.N*packs), "ms/put")
		})
	}
}
