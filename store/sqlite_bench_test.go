package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

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

// BenchmarkSQLiteListMirrored is a list of one type answered from memory
// (the ARM lists: the resource groups of a subscription): 500 documents of
// the type under the scope, 500 of it elsewhere.
func BenchmarkSQLiteListMirrored(b *testing.B) {
	ctx := context.Background()
	s := storetest.SQLite(b)
	value := []byte(`{"id":"/subscriptions/s1/resourceGroups/rg","name":"rg","type":"Microsoft.Resources/resourceGroups","location":"westus","properties":{"provisioningState":"Succeeded"}}`)
	if err := s.Update(ctx, func(tx store.Tx) error {
		for i := range 1000 {
			scope := fmt.Sprintf("/subscriptions/s%d/", i%2)
			if err := tx.Put(ctx, store.Doc{Kind: "resource", Key: fmt.Sprintf("%sresourcegroups/rg%d", scope, i), Scope: scope, Type: "t", Value: value}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	q := store.ListQuery{Type: "t", ScopePrefix: "/subscriptions/s1/"}
	for range 50 { // the first list starts loading the mirror
		if _, err := s.List(ctx, "resource", q); err != nil {
			b.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		docs, err := s.List(ctx, "resource", q)
		if err != nil || len(docs) != 500 {
			b.Fatalf("%d documents, %v", len(docs), err)
		}
	}
}

// BenchmarkSQLitePutMirrored is an Update that inserts a document into a
// type of 15,000 documents whose list mirror is loaded (the writer keeps
// the mirror sorted).
func BenchmarkSQLitePutMirrored(b *testing.B) {
	ctx := context.Background()
	s := storetest.SQLite(b)
	value := []byte(`{"properties":{"provisioningState":"Succeeded"}}`)
	if err := s.Update(ctx, func(tx store.Tx) error {
		for i := range 15000 {
			if err := tx.Put(ctx, store.Doc{Kind: "resource", Key: fmt.Sprintf("/s/d%06d", 2*i), Scope: "/s/", Type: "t", Value: value}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	q := store.ListQuery{Type: "t", ScopePrefix: "/s/", Limit: 1}
	for range 50 { // the first list starts loading the mirror
		if _, err := s.List(ctx, "resource", q); err != nil {
			b.Fatal(err)
		}
		time.Sleep(time.Millisecond)
	}
	b.ResetTimer()
	for i := range b.N {
		if err := s.Update(ctx, func(tx store.Tx) error {
			return tx.Put(ctx, store.Doc{Kind: "resource", Key: fmt.Sprintf("/s/d%06d", 2*(i%15000)+1), Scope: "/s/", Type: "t", Value: value})
		}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSQLiteUpdateReadModifyWrite is the ARM write's pattern: each
// Update reads a document (the resource it changes, its parent) and writes
// one, 16 callers per CPU. GET=1: a client GETs the document read after
// each write (the read cache has it); GET=0: nobody else reads it. It
// reports the process's CPU time per Update (cpu-µs/op), which the
// machine's other load disturbs less than ns/op.
func BenchmarkSQLiteUpdateReadModifyWrite(b *testing.B) {
	for _, get := range []bool{true, false} {
		b.Run(fmt.Sprintf("GET=%d", map[bool]int{false: 0, true: 1}[get]), func(b *testing.B) { benchReadModifyWrite(b, get) })
	}
}

func benchReadModifyWrite(b *testing.B, get bool) {
	ctx := context.Background()
	s := storetest.SQLite(b)
	value := []byte(`{"id":"/subscriptions/s1/resourceGroups/rg","name":"rg","type":"Microsoft.Resources/resourceGroups","location":"westus","properties":{"provisioningState":"Succeeded"}}`)
	const docs = 1000
	if err := s.Update(ctx, func(tx store.Tx) error {
		for i := range docs {
			if err := tx.Put(ctx, store.Doc{Kind: "resource", Key: fmt.Sprintf("/subscriptions/s1/resourcegroups/rg%d", i), Scope: "/subscriptions/s1/", Type: "t", Value: value}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.SetParallelism(16)
	cpu0 := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			read, write := fmt.Sprintf("/subscriptions/s1/resourcegroups/rg%d", i%docs), fmt.Sprintf("/subscriptions/s1/resourcegroups/rg%d/x/w%d", i%docs, i%4096)
			if err := s.Update(ctx, func(tx store.Tx) error {
				if _, err := tx.Get(ctx, "resource", read); err != nil {
					return err
				}
				return tx.Put(ctx, store.Doc{Kind: "resource", Key: write, Scope: read + "/", Type: "w", Value: value})
			}); err != nil {
				b.Error(err)
				return
			}
			if get {
				store.View(ctx, s, "resource", read)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

// processCPU is the user and system CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
