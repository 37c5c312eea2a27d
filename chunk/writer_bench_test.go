package chunk_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/safehold/safehold/blob/local"
	"github.com/safehold/safehold/chunk"
)

// BenchmarkWriterRefs measures the memory a Writer's references take: one
// writer puts `refs` distinct chunks (tiny ones, so the run measures the
// bookkeeping, not compression) into a local directory, and the benchmark
// reports the live heap with the writer open minus the live heap once it
// is closed (writer-MiB), per reference (writer-B/ref), and the runs it
// keeps. mem=unbounded (WriterMemory 1 Gi IDs: a writer that never
// spills) is how every writer kept them before refset.go.
//
//	go test -run '^$' -bench WriterRefs -benchtime 1x ./chunk/
func BenchmarkWriterRefs(b *testing.B) {
	for _, mode := range []struct {
		name string
		mem  int
	}{{"default", 0}, {"unbounded", 1 << 30}} {
		for _, n := range []int{1 << 20, 4 << 20} {
			b.Run(fmt.Sprintf("mem=%s/refs=%dMi", mode.name, n>>20), func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					writerRefs(b, n, mode.mem)
				}
			})
		}
	}
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

func writerRefs(b *testing.B, n, mem int) {
	ctx := context.Background()
	dir := b.TempDir()
	be, err := local.Open(filepath.Join(dir, "objects"))
	if err != nil {
		b.Fatal(err)
	}
	s, err := chunk.Open(ctx, be, filepath.Join(dir, "cache"), chunk.Options{WriterMemory: mem})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	w := s.NewWriter()
	var data [16]byte
	for i := 0; i < n; i++ {
		binary.LittleEndian.PutUint64(data[:], uint64(i))
		if _, _, err := w.Put(ctx, data[:]); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	open := liveHeap()
	st := w.Stats()
	w.Close()
	closed := liveHeap()
	writer := float64(open) - float64(closed)
	b.ReportMetric(writer/(1<<20), "writer-MiB")
	b.ReportMetric(writer/float64(n), "writer-B/ref")
	b.ReportMetric(float64(st.Runs), "runs")
	b.ReportMetric(float64(open)/(1<<20), "heap-MiB")
}
