package chunk_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/blob/mem"
	"github.com/safehold/safehold/chunk"
)

// TestHealedChunkStaysHealedWhenTheIndexIsRebuilt: a verify finds a
// chunk's copy damaged, the next backup stores the chunk again (a second
// pack), then the index is rebuilt from the packs (its cache deleted, with
// or without the damage marks, or a new replica on the bucket). The
// rebuilt index must point to the good copy, whichever pack is older (the
// damaged one may be the newer: clock skew; or both of one second) and
// whether the two copies meet in the memory table, in one run or in two
// runs: every chunk reads back, verify finds nothing, and a GC (everything
// live) keeps the good copy and frees the damaged one, so that an index
// rebuilt once more still reads everything. Before, the rebuilt index kept
// whichever copy the listing gave first (~half the time the damaged one),
// reads failed "checksum mismatch", and the GC deleted the good copy as
// garbage.
func TestHealedChunkStaysHealedWhenTheIndexIsRebuilt(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	for _, order := range []struct {
		name                string
		damagedAt, healedAt time.Time
	}{
		{"damaged pack older", t0, t0.Add(time.Hour)},
		{"damaged pack newer", t0.Add(time.Hour), t0},
		{"both of one second", t0, t0},
	} {
		for _, lost := range []string{"index", "index and marks", "new replica, marks"} {
			// The healing backup stores new chunks too (more): with a
			// small memory table, the packs' entries go to one run, or
			// to a run each, merged or not (then lookups find one copy
			// or the other, and GC checks the one they find).
			for _, tables := range []struct {
				name      string
				mem, more int
			}{{"memory table", 0, 4}, {"one run", 4, 4}, {"two runs merged", 1, 4}, {"two runs", 1, 20}} {
				for _, then := range []string{"read", "gc"} {
					name := order.name + "/" + lost + " lost/" + tables.name + "/" + then
					t.Run(name, func(t *testing.T) {
						now := order.damagedAt
						clock := func() time.Time { return now }
						be := mem.New(clock)
						cache := t.TempDir()
						reopen := func(cache string) *chunk.Store {
							t.Helper()
							s, err := chunk.Open(ctx, be, cache, chunk.Options{PackSize: 256 << 10, IndexMemory: tables.mem, Now: clock})
							if err != nil {
								t.Fatal(err)
							}
							t.Cleanup(func() { s.Close() })
							return s
						}
						s := reopen(cache)
						datas := randChunks(6, 4096)
						w := s.NewWriter()
						ids := putFlushed(t, w, datas...)
						w.Close()
						packs := packList(t, be)
						if len(packs) != 1 || !be.Corrupt(packs[0], 10) { // the first chunk's record
							t.Fatalf("packs %v", packs)
						}
						var bad []chunk.BadChunk
						if _, err := s.Verify(ctx, chunk.VerifyOptions{}, func(b chunk.BadChunk) { bad = append(bad, b) }); err != nil || len(bad) != 1 || bad[0].ID != ids[0] {
							t.Fatalf("verify of the damaged pack: %v, %v", bad, err)
						}
						now = order.healedAt // the next backup
						w = s.NewWriter()
						datas = append(datas, randChunks(6+tables.more, 4096)[6:]...)
						ids = putFlushed(t, w, datas...)
						w.Close()
						if packs = packList(t, be); len(packs) != 2 {
							t.Fatalf("after the healing backup: packs %v", packs)
						}
						checkGets(t, s, ids, datas)
						s.Close()

						rebuild := func() *chunk.Store {
							t.Helper()
							if err := os.RemoveAll(filepath.Join(cache, "index")); err != nil {
								t.Fatal(err)
							}
							if lost != "index" {
								os.Remove(filepath.Join(cache, "damaged"))
								be.List(ctx, "damaged/", func(in blob.Info) error { return be.Delete(ctx, in.Key) })
							}
							if lost == "new replica, marks" {
								cache = t.TempDir()
							}
							return reopen(cache)
						}
						s = rebuild()
						if then == "gc" {
							live := make(map[chunk.ID]bool)
							for _, id := range ids {
								live[id] = true
							}
							now = t0.Add(2 * time.Hour) // both packs past the grace
							st, err := s.BeginGC().Sweep(ctx, func(id chunk.ID) bool { return live[id] }, chunk.SweepOptions{})
							if err != nil || st.ChunksFreed != 1 {
								t.Fatalf("sweep: %+v, %v", st, err)
							}
							s.Close()
							s = rebuild()
						}
						checkGets(t, s, ids, datas)
						bad = nil
						if _, err := s.Verify(ctx, chunk.VerifyOptions{}, func(b chunk.BadChunk) { bad = append(bad, b) }); err != nil || len(bad) != 0 {
							t.Fatalf("verify after the rebuild: %v, %v", bad, err)
						}
					})
				}
			}
		}
	}
}

func packList(t *testing.T, be blob.Backend) []string {
	t.Helper()
	var keys []string
	if err := be.List(context.Background(), "pack/", func(in blob.Info) error {
		keys = append(keys, in.Key)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return keys
}
