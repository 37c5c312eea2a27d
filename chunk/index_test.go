package chunk_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/blob/local"
	"github.com/safehold/safehold/blob/mem"
	"github.com/safehold/safehold/chunk"
)

// localBackend is a local-directory backend in a fresh temporary directory.
func localBackend(t *testing.T) blob.Backend {
	t.Helper()
	be, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return be
}

// openSmall opens a store whose memory table holds only a few entries, so
// the on-disk runs, their merges and their reloads are exercised.
func openSmall(t *testing.T, be blob.Backend, cache string) *chunk.Store {
	t.Helper()
	s, err := chunk.Open(context.Background(), be, cache, chunk.Options{PackSize: 8 << 10, IndexMemory: 16})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func runFiles(t *testing.T, cache string) []string {
	t.Helper()
	m, _ := filepath.Glob(filepath.Join(cache, "index", "run-*.idx"))
	return m
}

func TestIndexRunsSurviveReopenGCAndDamage(t *testing.T) {
	ctx := context.Background()
	be := mem.New(nil)
	cache := t.TempDir()
	var err error
	s := openSmall(t, be, cache)
	w := s.NewWriter()
	const n = 600
	ids := make([]chunk.ID, n)
	data := make([][]byte, n)
	for i := range ids {
		data[i] = randBytes(3000+i%7, uint64(1000+i))
		if ids[i], _, err = w.Put(ctx, data[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	w.Close()
	check := func(s *chunk.Store, live func(i int) bool) {
		t.Helper()
		for i, id := range ids {
			got, err := s.Get(ctx, id, nil)
			if live(i) != (err == nil) || (err == nil && !bytes.Equal(got, data[i])) {
				t.Fatalf("chunk %d: live=%v, get err=%v", i, live(i), err)
			}
			if s.Has(id) != live(i) {
				t.Fatalf("chunk %d: Has=%v, live=%v", i, !live(i), live(i))
			}
		}
	}
	all := func(int) bool { return true }
	check(s, all)
	if n, _ := s.Size(); n != len(ids) {
		t.Fatalf("size %d chunks, want %d", n, len(ids))
	}
	s.Close()
	if len(runFiles(t, cache)) == 0 {
		t.Fatal("no index runs written")
	}
	// Reopen from the runs, from nothing, and with a damaged run.
	s2 := openSmall(t, be, cache)
	check(s2, all)
	w2 := s2.NewWriter()
	if _, n, _ := w2.Put(ctx, data[7]); n != 0 {
		t.Fatal("reopened store did not deduplicate")
	}
	w2.Close()
	check(openSmall(t, be, t.TempDir()), all)
	s2.Close()
	for _, f := range runFiles(t, cache) {
		if err := os.Truncate(f, 100); err != nil {
			t.Fatal(err)
		}
	}
	s3 := openSmall(t, be, cache)
	check(s3, all)

	// GC through the disk index: free every third chunk exactly.
	live := func(i int) bool { return i%3 != 0 }
	liveIDs := map[chunk.ID]bool{}
	for i, id := range ids {
		if live(i) {
			liveIDs[id] = true
		}
	}
	gc := s3.BeginGC()
	st, err := gc.Sweep(ctx, func(id chunk.ID) bool { return liveIDs[id] }, chunk.SweepOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.ChunksFreed != n/3 {
		t.Fatalf("freed %d chunks, want %d (%+v)", st.ChunksFreed, n/3, st)
	}
	check(s3, live)
	if c, _ := s3.Size(); c != len(liveIDs) {
		t.Fatalf("size %d chunks after GC, want %d", c, len(liveIDs))
	}
	s3.Close()
	check(openSmall(t, be, cache), live)
	check(openSmall(t, be, t.TempDir()), live)
}

// replicasWith opens two stores on one local backend (replicas a and b)
// and stores datas through a; their ids, in order.
func replicasWith(t *testing.T, datas [][]byte) (be blob.Backend, a, b *chunk.Store, ids []chunk.ID) {
	t.Helper()
	be = localBackend(t)
	a = openSmall(t, be, t.TempDir())
	b = openSmall(t, be, t.TempDir())
	wa := a.NewWriter()
	defer wa.Close()
	return be, a, b, putFlushed(t, wa, datas...)
}

// Two stores on one backend, each with its own cache directory, stand for
// two replicas: each deduplicates against the other's chunks after a
// Refresh, and a pack the other collected stops being found.
func TestReplicasShareChunks(t *testing.T) {
	ctx := context.Background()
	be, a, b, ids := replicasWith(t, randChunks(200, 2000))
	if b.Has(ids[0]) {
		t.Fatal("b sees a's chunk before refreshing")
	}
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	wb := b.NewWriter()
	for i := 0; i < 200; i++ {
		if _, n, err := wb.Put(ctx, randBytes(2000, uint64(i))); err != nil || n != 0 {
			t.Fatalf("b stored a's chunk %d again: n=%d err=%v", i, n, err)
		}
	}
	wb.Close()
	// a collects everything; b notices at its next refresh.
	gc := a.BeginGC()
	if _, err := gc.Sweep(ctx, func(chunk.ID) bool { return false }, chunk.SweepOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if b.Has(id) {
			t.Fatalf("b still indexes collected chunk %s", id.Short())
		}
	}
	var packs int
	be.List(ctx, "pack/", func(in blob.Info) error {
		if strings.HasPrefix(in.Key, "pack/") {
			packs++
		}
		return nil
	})
	if packs != 0 {
		t.Fatalf("%d packs left", packs)
	}
}

// Replica A repacks a pack replica B's index still names: B's read of a
// moved chunk lists the packs again and finds the new copy, one at a time
// and in a run (it failed with "object does not exist").
func TestReadAfterAnotherReplicaRepacked(t *testing.T) {
	ctx := context.Background()
	datas := randChunks(6, 2000)
	_, a, b, ids := replicasWith(t, datas)
	if err := b.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	live := map[chunk.ID]bool{ids[0]: true, ids[2]: true, ids[4]: true}
	st, err := a.BeginGC().Sweep(ctx, func(id chunk.ID) bool { return live[id] }, chunk.SweepOptions{})
	if err != nil || st.PacksRepacked == 0 {
		t.Fatalf("sweep repacked nothing: %+v, %v", st, err)
	}
	if got, err := b.Get(ctx, ids[0], nil); err != nil || !bytes.Equal(got, datas[0]) {
		t.Fatalf("b reads a repacked chunk: %v", err)
	}
	got, err := b.GetMany(ctx, []chunk.ID{ids[2], ids[4]}, make([][]byte, 2))
	if err != nil || !bytes.Equal(got[0], datas[2]) || !bytes.Equal(got[1], datas[4]) {
		t.Fatalf("b reads repacked chunks in a run: %v", err)
	}
}
