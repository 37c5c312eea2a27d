package chunk_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

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
