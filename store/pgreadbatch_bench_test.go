package store_test

import (
	"context"
	"strings"
	"syscall"
	"testing"

	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

// BenchmarkPostgresReadBatch: a request's batch of checks of the mixed
// load's shape on PostgreSQL (bench/mixed.sh: the role assignments'
// generation, a group and a Backup vault, three documents of 30-1,100
// bytes, in one round trip), one at a time: the server's own CPU per batch
// (cpu-us/op, this process's user+system time), which the database's
// answer time does not count in.
func BenchmarkPostgresReadBatch(b *testing.B) {
	s := storetest.Postgres(b, testsvc.PostgresSchema(b))
	ctx := context.Background()
	sub := "/subscriptions/5ecb0a4a-6d3c-4fa7-9a0a-000000000001"
	group := sub + "/resourcegroups/rg-bench"
	vault := group + "/providers/microsoft.dataprotection/backupvaults/vault1"
	if err := s.Update(ctx, func(tx store.Tx) error {
		for _, d := range []store.Doc{
			{Kind: "rbac.generation", Key: "gen", Value: []byte(`{"generation":123456789}`)},
			{Kind: "resource", Key: group, Scope: sub + "/", Type: "microsoft.resources/resourcegroups", Value: []byte(strings.Repeat("g", 241))},
			{Kind: "resource", Key: vault, Scope: group + "/", Type: "microsoft.dataprotection/backupvaults", Value: []byte(strings.Repeat("v", 1133))},
		} {
			if err := tx.Put(ctx, d); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	reads := []store.Read{{Kind: "rbac.generation", Key: "gen"}, {Kind: "resource", Key: group}, {Kind: "resource", Key: vault}}
	var r0, r1 syscall.Rusage
	b.ReportAllocs()
	b.ResetTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
	for i := 0; i < b.N; i++ {
		for _, res := range s.ReadBatch(ctx, reads) {
			if res.Err != nil || len(res.Doc.Value) == 0 {
				b.Fatal(res.Err)
			}
		}
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
	us := func(r syscall.Rusage) float64 {
		return float64(r.Utime.Sec+r.Stime.Sec)*1e6 + float64(r.Utime.Usec+r.Stime.Usec)
	}
	b.ReportMetric((us(r1)-us(r0))/float64(b.N), "cpu-us/op")
}
