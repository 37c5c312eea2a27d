package store_test

import (
	"context"
	"fmt"
	"sync/atomic"
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
