package chunk_test

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/safehold/safehold/chunk"
)

func randID(r *rand.Rand) chunk.ID {
	var id chunk.ID
	for i := 0; i < 32; i += 8 {
		binary.LittleEndian.PutUint64(id[i:], r.Uint64())
	}
	return id
}

// A live set answers exactly, whether it stayed in memory or spilled to
// files and was merged: every ID added (duplicates too) is in it, random
// others are not, and Close leaves no file behind.
func TestLiveSetExact(t *testing.T) {
	ctx := context.Background()
	be := localBackend(t)
	cache := t.TempDir()
	s, err := chunk.Open(ctx, be, cache, chunk.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tc := range []struct {
		name   string
		mem    int
		spills bool
	}{{"memory", 0, false}, {"spilled", 1000, true}, {"one-per-spill", 1, true}} {
		t.Run(tc.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(7, uint64(tc.mem)))
			n := 20_000
			if tc.mem == 1 {
				n = 300
			}
			ids := make([]chunk.ID, n)
			for i := range ids {
				ids[i] = randID(r)
			}
			l := s.NewLiveSet(tc.mem)
			for _, i := range r.Perm(n) { // every ID twice, in two orders
				if err := l.Add(ids[i]); err != nil {
					t.Fatal(err)
				}
			}
			for _, i := range r.Perm(n) {
				l.Add(ids[i])
			}
			if _, err := l.Has(ids[0]); err == nil {
				t.Fatal("lookup before Finish answered")
			}
			if err := l.Finish(); err != nil {
				t.Fatal(err)
			}
			if got := l.Spilled() > 0; got != tc.spills {
				t.Fatalf("spilled %d files", l.Spilled())
			}
			if l.Len() != int64(n) {
				t.Fatalf("len %d, want %d", l.Len(), n)
			}
			for _, id := range ids {
				if ok, err := l.Has(id); err != nil || !ok {
					t.Fatalf("added id %s: %v %v", id.Short(), ok, err)
				}
			}
			for i := 0; i < 5*n; i++ {
				if ok, err := l.Has(randID(r)); err != nil || ok {
					t.Fatalf("random id found: %v %v", ok, err)
				}
			}
			l.Close()
			if _, err := l.Has(ids[0]); err == nil {
				t.Fatal("lookup after Close answered")
			}
			left, _ := os.ReadDir(filepath.Join(cache, "gc"))
			if len(left) != 0 {
				t.Fatalf("files left after Close: %v", left)
			}
		})
	}
}
