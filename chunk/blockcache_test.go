package chunk

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"

	"github.com/safehold/safehold/blob/mem"
)

// TestIndexBlockCache: lookups read each index block from its run file
// once while the cache holds the whole index, the cache stays within its
// bound (the smallest here evicts all along), holds no block of a run
// merged away, and every chunk is found where it is through the flushes
// and merges of many small runs.
func TestIndexBlockCache(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit int
	}{
		{"whole index", blockCacheMax},
		{"two blocks", 2 * runBlock * recSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := blockCacheMax
			blockCacheMax = tc.limit
			t.Cleanup(func() { blockCacheMax = old })
			ctx := context.Background()
			s, err := Open(ctx, mem.New(nil), t.TempDir(), Options{PackSize: 16 << 10, IndexMemory: 64})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			rnd := rand.New(rand.NewPCG(7, 29))
			var ids []ID
			var data [][]byte
			check := func() {
				t.Helper()
				for i, id := range ids {
					got, err := s.Get(ctx, id, nil)
					if err != nil || !bytes.Equal(got, data[i]) {
						t.Fatalf("chunk %d of %d: err %v, equal %v", i, len(ids), err, bytes.Equal(got, data[i]))
					}
				}
				s.mu.Lock()
				defer s.mu.Unlock()
				d := &s.disk
				sum := 0
				for k, v := range d.blocks {
					sum += len(v)
					found := false
					for _, r := range d.runs {
						found = found || r == k.r
					}
					if !found {
						t.Fatalf("a block of %s, a run no longer in the index, is cached", k.r.name)
					}
				}
				if sum != d.blockBytes || sum > tc.limit {
					t.Fatalf("cache holds %d bytes, counts %d, limit %d", sum, d.blockBytes, tc.limit)
				}
			}
			for round := 0; round < 12; round++ {
				w := s.NewWriter()
				for range 150 {
					p := make([]byte, 500+rnd.IntN(3000))
					for i := range p {
						p[i] = byte(rnd.Uint32())
					}
					id, _, err := w.Put(ctx, p)
					if err != nil {
						t.Fatal(err)
					}
					ids, data = append(ids, id), append(data, p)
				}
				if err := w.Flush(ctx); err != nil {
					t.Fatal(err)
				}
				w.Close()
				check()
			}
			s.flushWG.Wait() // (a flush may still be merging runs)
			s.mu.Lock()
			runs := len(s.disk.runs)
			s.mu.Unlock()
			if runs == 0 {
				t.Fatal("no index runs: the test exercises nothing")
			}
			check() // fills the cache with the final runs' blocks
			s.mu.Lock()
			before := s.disk.blockReads
			s.mu.Unlock()
			check()
			s.mu.Lock()
			reads := s.disk.blockReads - before
			s.mu.Unlock()
			if tc.limit == old && reads != 0 {
				t.Fatalf("looking up %d chunks again read %d index blocks from the run files, want none", len(ids), reads)
			}
			if tc.limit < old && reads == 0 {
				t.Fatalf("with a cache of two blocks, %d lookups read no block", len(ids))
			}
		})
	}
}
