package chunk_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/blob/mem"
	"github.com/safehold/safehold/chunk"
)

// Goroutines of one writer put chunks while its references are spilled and
// merged, and collections sweep meanwhile with an empty mark: no sweep frees
// a chunk the writer holds, so every chunk reads back afterwards.
func TestSweepsDuringWriterSpills(t *testing.T) {
	ctx := context.Background()
	s, err := chunk.Open(ctx, mem.New(nil), t.TempDir(), chunk.Options{PackSize: 32 << 10, WriterMemory: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w := s.NewWriter()
	defer w.Close()
	const goroutines, each = 4, 150
	ids := make([][]chunk.ID, goroutines)
	putErrs := make([]error, goroutines)
	var puts sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		puts.Add(1)
		go func() {
			defer puts.Done()
			for i := 0; i < each; i++ {
				id, _, err := w.Put(ctx, randBytes(700, uint64(g*each+i)))
				if err != nil {
					putErrs[g] = err
					return
				}
				ids[g] = append(ids[g], id)
				if i%25 == 24 {
					if err := w.Flush(ctx); err != nil {
						putErrs[g] = err
						return
					}
				}
			}
		}()
	}
	stop := make(chan struct{})
	sweepErr := make(chan error, 1)
	sweeps := 0
	go func() {
		defer close(sweepErr)
		for {
			select {
			case <-stop:
				return
			default:
			}
			gc := s.BeginGC()
			st, err := gc.Sweep(ctx, func(chunk.ID) bool { return false }, chunk.SweepOptions{})
			sweeps++
			if err != nil || st.ChunksFreed != 0 {
				sweepErr <- fmt.Errorf("sweep %d freed %d chunks the writer holds: %v", sweeps, st.ChunksFreed, err)
				return
			}
		}
	}()
	puts.Wait()
	close(stop)
	if err := <-sweepErr; err != nil {
		t.Fatal(err)
	}
	for _, err := range putErrs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := w.Stats(); st.Spills == 0 || st.MemIDs >= 2*8 {
		t.Fatalf("writer refs not spilled: %+v", st)
	}
	for g := range ids {
		for _, id := range ids[g] {
			if _, err := s.Get(ctx, id, nil); err != nil {
				t.Fatalf("chunk %s: %v (after %d sweeps)", id.Short(), err, sweeps)
			}
		}
	}
	// The writer's references were all that kept them: once it is closed
	// a sweep frees them all.
	w.Close()
	gc := s.BeginGC()
	st, err := gc.Sweep(ctx, func(chunk.ID) bool { return false }, chunk.SweepOptions{})
	if err != nil || st.ChunksFreed != goroutines*each {
		t.Fatalf("sweep after close: freed %d of %d, %v", st.ChunksFreed, goroutines*each, err)
	}
}

// countingBackend counts range reads.
type countingBackend struct {
	blob.Backend
	gets atomic.Int64
}

func (b *countingBackend) Get(ctx context.Context, key string, off, length int64) ([]byte, error) {
	b.gets.Add(1)
	return b.Backend.Get(ctx, key, off, length)
}

// Runs put concurrently (two capture workers storing their batches) each
// land next to each other in a pack, so reading a run back takes one range
// read per pack it spans, not one per chunk; stored reports what each
// chunk added and every chunk reads back.
func TestPutRunsStayContiguous(t *testing.T) {
	ctx := context.Background()
	be := &countingBackend{Backend: mem.New(nil)}
	s, err := chunk.Open(ctx, be, t.TempDir(), chunk.Options{PackSize: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	w := s.NewWriter()
	defer w.Close()
	const goroutines, runs, each = 2, 12, 16
	type putRun struct {
		ids  []chunk.ID
		data [][]byte
	}
	got := make([][]putRun, goroutines)
	errs := make([]error, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var scratch []byte
			for r := range runs {
				var pr putRun
				for i := range each {
					seed := uint64((g*runs+r)*each + i)
					d := randBytes(4<<10, seed)
					if i%2 == 0 {
						d = textBytes(4<<10, seed)
					}
					if i == each-1 {
						d = pr.data[0] // a repeat within the run: stored once
					}
					pr.ids = append(pr.ids, s.Sum(d))
					pr.data = append(pr.data, d)
				}
				stored := make([]int, each)
				if err := w.PutRun(ctx, pr.ids, pr.data, stored, &scratch); err != nil {
					errs[g] = err
					return
				}
				for i, n := range stored {
					if (n == 0) != (i == each-1) {
						errs[g] = fmt.Errorf("run %d chunk %d: stored %d bytes", r, i, n)
						return
					}
				}
				got[g] = append(got[g], pr)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for g := range goroutines {
		for r, pr := range got[g] {
			before := be.gets.Load()
			ids := pr.ids[:each-1] // the repeat is read where its first copy is
			out, err := s.GetMany(ctx, ids, make([][]byte, len(ids)))
			if err != nil {
				t.Fatal(err)
			}
			for i := range out {
				if !bytes.Equal(out[i], pr.data[i]) {
					t.Fatalf("worker %d run %d chunk %d reads back wrong", g, r, i)
				}
			}
			// 15 chunks of at most 4 KiB in 256 KiB packs: a run spans at
			// most two packs.
			if n := be.gets.Load() - before; n > 2 {
				t.Errorf("worker %d run %d: %d range reads for %d chunks, want at most 2", g, r, n, len(ids))
			}
		}
	}
}
