package chunk_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/blob/local"
	"github.com/safehold/safehold/chunk"
)

// piecesStore opens a store of 1 MiB packs filled in 128 KiB pieces on
// local backend be.
func piecesStore(t *testing.T, be blob.Backend, cache string) *chunk.Store {
	t.Helper()
	s, err := chunk.Open(context.Background(), be, cache, chunk.Options{PackSize: 1 << 20, PieceSize: 128 << 10})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Chunks put one at a time and in runs (compressible, raw, one larger
// than a piece buffer) into packs written in pieces read back while their
// packs fill (from the buffer, from pieces being written, from the
// unnamed file, across a piece's end), after the flush, and after a
// reopen; verify finds every pack sound, and no temporary file is left
// open or in the temporary directory.
func TestPacksWrittenInPieces(t *testing.T) {
	ctx := context.Background()
	be := localBackend(t)
	root := be.(*local.Backend).Root()
	cache := t.TempDir()
	s := piecesStore(t, be, cache)
	w := s.NewWriter()
	rng := rand.New(rand.NewPCG(3, 4))
	var ids []chunk.ID
	var want [][]byte
	streamed := int64(0)
	for i := range 400 {
		var data []byte
		switch {
		case i == 150:
			data = randBytes(300<<10, uint64(i)) // larger than a piece buffer
		case i%4 == 0:
			data = randBytes(1+rng.IntN(40<<10), uint64(i))
		default:
			data = textBytes(1+rng.IntN(64<<10), uint64(i))
		}
		if i%2 == 0 {
			id, _, err := w.Put(ctx, data)
			if err != nil {
				t.Fatal(err)
			}
			ids, want = append(ids, id), append(want, data)
		} else {
			run := [][]byte{data, textBytes(8<<10, uint64(i)+1e6)}
			rids := []chunk.ID{s.Sum(run[0]), s.Sum(run[1])}
			var scratch []byte
			if err := w.PutRun(ctx, rids, run, make([]int, 2), &scratch); err != nil {
				t.Fatal(err)
			}
			ids, want = append(ids, rids...), append(want, run...)
		}
		k := rng.IntN(len(ids))
		if got, err := s.Get(ctx, ids[k], nil); err != nil || !bytes.Equal(got, want[k]) {
			t.Fatalf("chunk %d of %d while its pack fills: %v, or wrong bytes", k, len(ids), err)
		}
		streamed = max(streamed, unnamedBytes(t, root))
	}
	if streamed < 128<<10 {
		t.Fatalf("open packs' files held at most %d bytes: not written in pieces", streamed)
	}
	for k := range ids {
		if got, err := s.Get(ctx, ids[k], nil); err != nil || !bytes.Equal(got, want[k]) {
			t.Fatalf("chunk %d before the flush: %v, or wrong bytes", k, err)
		}
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := unnamedBytes(t, root); n != 0 {
		t.Fatalf("a temporary file of %d bytes is still open after Close", n)
	}
	s = piecesStore(t, be, cache)
	defer s.Close()
	got, err := s.GetMany(ctx, ids, make([][]byte, len(ids)))
	if err != nil {
		t.Fatal(err)
	}
	for k := range ids {
		if !bytes.Equal(got[k], want[k]) {
			t.Fatalf("chunk %d after a reopen: wrong bytes", k)
		}
	}
	st, err := s.Verify(ctx, chunk.VerifyOptions{}, func(b chunk.BadChunk) { t.Errorf("verify: %+v", b) })
	if err != nil {
		t.Fatal(err)
	}
	if st.Packs < 3 {
		t.Fatalf("verify read %d packs, want several", st.Packs)
	}
	if ents, err := os.ReadDir(filepath.Join(root, "tmp~")); err != nil || len(ents) != 0 {
		t.Fatalf("temporary directory: %d entries (%v), want none", len(ents), err)
	}
}

// A pack whose piece cannot be written (the temporary directory is gone:
// no file to write it to) fails: the writer's Flush says which pack and
// why, its chunks leave the index, nothing is put, and the store goes on
// storing once the directory is back. A store closed with packs half
// written in pieces leaves no temporary file open.
func TestPieceWriteFails(t *testing.T) {
	ctx := context.Background()
	be := localBackend(t)
	root := be.(*local.Backend).Root()
	s := piecesStore(t, be, t.TempDir())
	defer s.Close()
	tmp := filepath.Join(root, "tmp~")
	if err := os.RemoveAll(tmp); err != nil {
		t.Fatal(err)
	}
	w := s.NewWriter()
	defer w.Close()
	var ids []chunk.ID
	for i := range 8 { // 512 KiB: pieces, no pack full
		id, _, err := w.Put(ctx, randBytes(64<<10, uint64(i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	err := w.Flush(ctx)
	if err == nil || !strings.Contains(err.Error(), "put pack") || !strings.Contains(err.Error(), "tmp~") {
		t.Fatalf("flush of a pack whose pieces could not be written: %v, want an error naming the pack and the directory", err)
	}
	for _, id := range ids {
		if s.Has(id) {
			t.Fatalf("chunk %s of the failed pack is still indexed", id.Short())
		}
	}
	var listed []string
	be.List(ctx, "pack/", func(in blob.Info) error { listed = append(listed, in.Key); return nil })
	if len(listed) != 0 {
		t.Fatalf("packs put: %q, want none", listed)
	}
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	w2 := s.NewWriter()
	defer w2.Close()
	for i := range 8 {
		if _, _, err := w2.Put(ctx, randBytes(64<<10, uint64(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := w2.Flush(ctx); err != nil {
		t.Fatalf("flush once the directory is back: %v", err)
	}
	for i, id := range ids {
		if got, err := s.Get(ctx, id, nil); err != nil || !bytes.Equal(got, randBytes(64<<10, uint64(i))) {
			t.Fatalf("chunk %d stored again: %v", i, err)
		}
	}

	// Close with a pack half written in pieces.
	w3 := s.NewWriter()
	defer w3.Close()
	for i := range 8 {
		if _, _, err := w3.Put(ctx, randBytes(64<<10, uint64(i)+100)); err != nil {
			t.Fatal(err)
		}
	}
	if unnamedBytes(t, root) == 0 {
		t.Fatal("no pack is being written in pieces")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := unnamedBytes(t, root); n != 0 {
		t.Fatalf("a temporary file of %d bytes is still open after Close", n)
	}
}
