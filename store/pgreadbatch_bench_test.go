package store_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

// pgBackendsCPU is the CPU time (user and system, in clock ticks of
// 10 ms) of the database's backends so far, when they run on this host
// (their /proc entries; 0 otherwise): the database's side of a benchmark.
func pgBackendsCPU(b *testing.B, s *store.Postgres) int64 {
	rows, err := s.Pool().Query(context.Background(), `SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend'`)
	if err != nil {
		b.Fatal(err)
	}
	pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	for _, pid := range pids {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		f := strings.Fields(string(st[bytes.LastIndexByte(st, ')')+2:]))
		u, _ := strconv.ParseInt(f[11], 10, 64)
		k, _ := strconv.ParseInt(f[12], 10, 64)
		n += u + k
	}
	return n
}

// BenchmarkPostgresReadBatch: a request's batch of checks of the mixed
// load's shape on PostgreSQL (bench/mixed.sh: the role assignments'
// generation, a group and a Backup vault, three documents of 30-1,100
// bytes, in one round trip), one at a time: the server's own CPU per batch
// (cpu-us/op, this process's user+system time), which the database's
// answer time does not count in, and the database's (pg-cpu-us/op, its
// backends' when it runs on this host; in ticks of 10 ms: run 20,000 or
// more).
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
	benchReadBatch(b, s, reads, func(r store.ReadResult) bool { return len(r.Doc.Value) > 0 })
}

// BenchmarkPostgresReadBatchLists: a list request's batch in bench/mixed
// on PostgreSQL, the lists answered from memory (nothing written since
// they were read): the role assignments' generation, a subscription's 65
// resource groups and a vault's 65 backup policies (values of 241 and
// 1,379 bytes, as the mix's), in one round trip.
func BenchmarkPostgresReadBatchLists(b *testing.B) {
	s := storetest.Postgres(b, testsvc.PostgresSchema(b))
	ctx := context.Background()
	sub := "/subscriptions/5ecb0a4a-6d3c-4fa7-9a0a-000000000001"
	vault := sub + "/resourcegroups/rg-bench/providers/microsoft.dataprotection/backupvaults/vault1"
	if err := s.Update(ctx, func(tx store.Tx) error {
		if err := tx.Put(ctx, store.Doc{Kind: "rbac.generation", Key: "gen", Value: []byte(`{"generation":123456789}`)}); err != nil {
			return err
		}
		for i := range 65 {
			if err := tx.Put(ctx, store.Doc{Kind: "resource", Key: fmt.Sprintf("%s/resourcegroups/mix-%d", sub, i), Scope: sub + "/",
				Type: "microsoft.resources/resourcegroups", Value: []byte(strings.Repeat("g", 241))}); err != nil {
				return err
			}
			if err := tx.Put(ctx, store.Doc{Kind: "resource", Key: fmt.Sprintf("%s/backuppolicies/p-%d", vault, i), Scope: vault + "/",
				Type: "microsoft.dataprotection/backupvaults/backuppolicies", Value: []byte(strings.Repeat("p", 1379))}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	reads := []store.Read{{Kind: "rbac.generation", Key: "gen"},
		{Kind: "resource", List: true, Q: store.ListQuery{ScopePrefix: sub + "/", Type: "microsoft.resources/resourcegroups"}},
		{Kind: "resource", List: true, Q: store.ListQuery{ScopePrefix: vault + "/", Type: "microsoft.dataprotection/backupvaults/backuppolicies"}}}
	s.ReadBatch(ctx, reads)
	benchReadBatch(b, s, reads, func(r store.ReadResult) bool { return len(r.Docs) == 65 || len(r.Doc.Value) > 0 })
}

// benchReadBatch reads reads in batches b.N times, each result as ok
// says, and reports the CPU per batch of this process and of the database.
func benchReadBatch(b *testing.B, s *store.Postgres, reads []store.Read, ok func(store.ReadResult) bool) {
	ctx := context.Background()
	var r0, r1 syscall.Rusage
	b.ReportAllocs()
	b.ResetTimer()
	pg0 := pgBackendsCPU(b, s)
	syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
	for i := 0; i < b.N; i++ {
		for _, res := range s.ReadBatch(ctx, reads) {
			if res.Err != nil || !ok(res) {
				b.Fatal(res.Err, len(res.Docs))
			}
		}
	}
	syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
	pg1 := pgBackendsCPU(b, s)
	us := func(r syscall.Rusage) float64 {
		return float64(r.Utime.Sec+r.Stime.Sec)*1e6 + float64(r.Utime.Usec+r.Stime.Usec)
	}
	b.ReportMetric((us(r1)-us(r0))/float64(b.N), "cpu-us/op")
	b.ReportMetric(float64(pg1-pg0)*1e4/float64(b.N), "pg-cpu-us/op")
}

// BenchmarkPostgresReadBatchParallel: the batches of many requests at a
// time, as the mix makes them (64 at a time: the role assignments'
// generation, a group, a Backup vault and its 65 policies' list, read
// from memory), for the server's and the database's CPU per batch
// (cpu-us/op, pg-cpu-us/op) when they share round trips (see
// store.ReadBatch).
func BenchmarkPostgresReadBatchParallel(b *testing.B) {
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
		for i := range 65 {
			if err := tx.Put(ctx, store.Doc{Kind: "resource", Key: fmt.Sprintf("%s/backuppolicies/p-%d", vault, i), Scope: vault + "/",
				Type: "microsoft.dataprotection/backupvaults/backuppolicies", Value: []byte(strings.Repeat("p", 1379))}); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	reads := []store.Read{{Kind: "rbac.generation", Key: "gen"}, {Kind: "resource", Key: group}, {Kind: "resource", Key: vault},
		{Kind: "resource", List: true, Q: store.ListQuery{ScopePrefix: vault + "/", Type: "microsoft.dataprotection/backupvaults/backuppolicies"}}}
	s.ReadBatch(ctx, reads)
	var r0, r1 syscall.Rusage
	b.ReportAllocs()
	b.SetParallelism(32) // (x GOMAXPROCS goroutines)
	b.ResetTimer()
	pg0 := pgBackendsCPU(b, s)
	syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			for _, res := range s.ReadBatch(ctx, reads) {
				if res.Err != nil || len(res.Docs) != 65 && len(res.Doc.Value) == 0 {
					b.Error(res.Err, len(res.Docs))
					return
				}
			}
		}
	})
	syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
	pg1 := pgBackendsCPU(b, s)
	us := func(r syscall.Rusage) float64 {
		return float64(r.Utime.Sec+r.Stime.Sec)*1e6 + float64(r.Utime.Usec+r.Stime.Usec)
	}
	b.ReportMetric((us(r1)-us(r0))/float64(b.N), "cpu-us/op")
	b.ReportMetric(float64(pg1-pg0)*1e4/float64(b.N), "pg-cpu-us/op")
}
