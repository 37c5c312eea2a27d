package chunk_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/chunk"
)

// Blocks read into a Tail are stored where they lie: compressible and raw
// ones, a short last one, a duplicate and a skipped (zero) block between
// them all read back, after a reopen too, and verify finds the pack sound.
// A Flush that needs a pack a Tail owns waits for the Tail to end; an
// encrypted store offers no tails; chunks not in the tail are refused.
func TestTailStoresInPlace(t *testing.T) {
	ctx := context.Background()
	be, s := openTailStore(t)
	const bs = 64 << 10
	w := s.NewWriter()
	defer w.Close()
	dup := randBytes(bs, 9)
	if _, _, err := w.Put(ctx, dup); err != nil {
		t.Fatal(err)
	}
	tl := w.Tail(bs, 8)
	if tl == nil || tl.Units() != 8 || !blob.Aligned(tl.Buf()) || len(tl.Buf()) != 8*bs {
		t.Fatalf("tail of 8 blocks in an empty pack: %v", tl)
	}
	buf := tl.Buf()
	blocks := map[int][]byte{0: textBytes(bs, 1), 1: randBytes(bs, 1), 3: randBytes(bs, 2), 4: dup,
		5: randBytes(bs, 3), 6: textBytes(bs, 2), 7: randBytes(20000, 4)} // 2: zeros, skipped
	var ids []chunk.ID
	var data, want [][]byte
	for k := range 8 {
		b, ok := blocks[k]
		if !ok {
			continue
		}
		p := buf[k*bs : k*bs+len(b)]
		copy(p, b)
		ids = append(ids, s.Sum(b))
		data = append(data, p)
		want = append(want, b)
	}
	stored := make([]int, len(ids))
	var scratch []byte
	// In two parts, as a capture stores a tail.
	if err := w.PutTail(ctx, tl, ids[:3], data[:3], stored[:3], &scratch); err != nil {
		t.Fatal(err)
	}
	if err := w.PutTail(ctx, tl, ids[3:], data[3:], stored[3:], &scratch); err != nil {
		t.Fatal(err)
	}
	tl.Release()
	for i := range ids {
		switch raw := i == 1 || i == 2 || i == 4 || i == 6; {
		case bytes.Equal(want[i], dup):
			if stored[i] != 0 {
				t.Fatalf("the duplicate added %d bytes", stored[i])
			}
		case raw && stored[i] != len(want[i]), !raw && (stored[i] == 0 || stored[i] >= len(want[i])/2):
			t.Fatalf("chunk %d stored as %d bytes of %d", i, stored[i], len(want[i]))
		}
	}
	check := func(s *chunk.Store) { t.Helper(); checkGets(t, s, ids, want) }
	check(s) // from the open pack

	// Another writer's Flush waits for the tail that owns its chunk's pack.
	w2 := s.NewWriter()
	defer w2.Close()
	other := randBytes(bs, 10)
	if _, _, err := w2.Put(ctx, other); err != nil {
		t.Fatal(err)
	}
	tl = w.Tail(bs, 1)
	last := randBytes(bs, 11)
	copy(tl.Buf(), last)
	flushed := flushWaitingForTail(t, w2)
	if err := w.PutTail(ctx, tl, []chunk.ID{s.Sum(last)}, [][]byte{tl.Buf()[:bs]}, make([]int, 1), &scratch); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-flushed:
		t.Fatalf("flush returned (%v) before the tail ended", err)
	case <-time.After(100 * time.Millisecond):
	}
	tl.Release()
	select {
	case err := <-flushed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("flush still waits after the tail ended")
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	ids, want = append(ids, s.Sum(other), s.Sum(last)), append(want, other, last)
	// Chunks that do not lie in the tail are refused.
	tl = w.Tail(bs, 2)
	stray := randBytes(bs, 12)
	if err := w.PutTail(ctx, tl, []chunk.ID{s.Sum(stray)}, [][]byte{stray}, make([]int, 1), &scratch); err == nil || s.Has(s.Sum(stray)) {
		t.Fatalf("a chunk outside the tail: err %v, stored %v", err, s.Has(s.Sum(stray)))
	}
	tl.Release()
	st, err := s.Verify(ctx, chunk.VerifyOptions{}, func(b chunk.BadChunk) { t.Errorf("verify: %+v", b) })
	if err != nil || st.Chunks != len(ids) {
		t.Fatalf("verify: %+v, %v", st, err)
	}
	s.Close()
	check(openSmall(t, be, t.TempDir()))

	enc := open(t, localBackend(t), t.TempDir(), bytes.Repeat([]byte{7}, 32))
	ew := enc.NewWriter()
	defer ew.Close()
	if tl := ew.Tail(bs, 4); tl != nil {
		t.Fatal("an encrypted store offered a tail")
	}
}

// A closed store offers no tail (a capture then fails on the closed store
// through PutRun), and a tail ended after its store closed is ended quietly.
func TestTailAfterClose(t *testing.T) {
	ctx := context.Background()
	s, err := chunk.Open(ctx, localBackend(t), t.TempDir(), chunk.Options{PackSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	w := s.NewWriter()
	defer w.Close()
	tl := w.Tail(64<<10, 2)
	data := tl.Buf()[:64<<10]
	copy(data, randBytes(64<<10, 1))
	s.Close()
	var scratch []byte
	if err := w.PutTail(ctx, tl, []chunk.ID{s.Sum(data)}, [][]byte{data}, make([]int, 1), &scratch); err == nil {
		t.Fatal("PutTail on a closed store: no error")
	}
	tl.Release()
	if w.Tail(64<<10, 1) != nil {
		t.Fatal("a closed store offered a tail")
	}
}

// Reads of chunks a tail has stored run while its owner stores more of it:
// they see the stored chunks only (run under -race, the owner's writes past
// the stored end and the readers never touch the same bytes).
func TestTailReadWhileFilling(t *testing.T) {
	ctx := context.Background()
	s, err := chunk.Open(ctx, localBackend(t), t.TempDir(), chunk.Options{PackSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const bs, n = 64 << 10, 32
	w := s.NewWriter()
	defer w.Close()
	tl := w.Tail(bs, n)
	if tl.Units() != n {
		t.Fatalf("tail of %d blocks, want %d", tl.Units(), n)
	}
	want := make([][]byte, n)
	ids := make([]chunk.ID, n)
	published := make(chan int, n)
	done := make(chan error)
	go func() {
		var err error
		for k := range published {
			for i := 0; i <= k && err == nil; i++ {
				var got []byte
				if got, err = s.Get(ctx, ids[i], nil); err == nil && !bytes.Equal(got, want[i]) {
					err = fmt.Errorf("chunk %d reads back wrong", i)
				}
			}
		}
		done <- err
	}()
	var scratch []byte
	for k := range n {
		if k%2 == 0 {
			want[k] = randBytes(bs, uint64(k))
		} else {
			want[k] = textBytes(bs, uint64(k))
		}
		p := tl.Buf()[k*bs : (k+1)*bs]
		copy(p, want[k])
		ids[k] = s.Sum(p)
		if err := w.PutTail(ctx, tl, ids[k:k+1], [][]byte{p}, make([]int, 1), &scratch); err != nil {
			t.Fatal(err)
		}
		published <- k
	}
	close(published)
	tl.Release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

// A Flush waiting for a pack a Tail owns, when the store closes before the
// Tail ends, gets an error once the Tail ends: the pack is never uploaded
// after Close, so waiting for it would wait forever.
func TestFlushOfATailsPackEndsAfterClose(t *testing.T) {
	ctx := context.Background()
	_, s := openTailStore(t)
	const bs = 64 << 10
	w, w2 := s.NewWriter(), s.NewWriter()
	defer w.Close()
	defer w2.Close()
	if _, _, err := w2.Put(ctx, randBytes(bs, 1)); err != nil {
		t.Fatal(err)
	}
	tl := w.Tail(bs, 1) // the pack w2's chunk is in
	flushed := flushWaitingForTail(t, w2)
	s.Close()
	tl.Release()
	select {
	case err := <-flushed:
		if err == nil {
			t.Fatal("flush of a pack never uploaded: no error")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("flush still waits for a pack its closed store will never upload")
	}
}

// A raw chunk that does not start on a blob.Align boundary, read right
// after a chunk that compresses, is stored whole or refused: padding its
// record up to the boundary must not clear its first bytes.
func TestTailUnalignedRawChunk(t *testing.T) {
	ctx := context.Background()
	_, s := openTailStore(t)
	defer s.Close()
	w := s.NewWriter()
	defer w.Close()
	tl := w.Tail(64<<10, 2)
	defer tl.Release()
	a, b := textBytes(4000, 1), randBytes(40000, 2)
	buf := tl.Buf()
	copy(buf, a)
	copy(buf[4000:], b)
	ids := []chunk.ID{s.Sum(a), s.Sum(b)}
	var scratch []byte
	err := w.PutTail(ctx, tl, ids, [][]byte{buf[:4000], buf[4000:44000]}, make([]int, 2), &scratch)
	if err != nil {
		if s.Has(ids[1]) {
			t.Fatalf("refused (%v), yet the chunk is in the index", err)
		}
		return
	}
	for i, want := range [][]byte{a, b} {
		if got, err := s.Get(ctx, ids[i], nil); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("chunk %d reads back wrong: %v", i, err)
		}
	}
}

// flushWaitingForTail starts w's Flush and checks that it waits (for a
// pack a Tail owns); its result arrives on the channel returned.
func flushWaitingForTail(t *testing.T, w *chunk.Writer) <-chan error {
	t.Helper()
	flushed := make(chan error, 1)
	go func() { flushed <- w.Flush(context.Background()) }()
	select {
	case err := <-flushed:
		t.Fatalf("flush returned (%v) while a tail owned its pack", err)
	case <-time.After(100 * time.Millisecond):
	}
	return flushed
}

// A block read twice into one tail (a disk's repeated block) is stored
// once, and its second copy takes no room in the pack: the chunks after it
// move down over it as over a block stored before.
func TestTailStoresARepeatedBlockOnce(t *testing.T) {
	ctx := context.Background()
	be, s := openTailStore(t)
	const bs = 64 << 10
	w := s.NewWriter()
	defer w.Close()
	tl := w.Tail(bs, 4)
	a, b := randBytes(bs, 1), textBytes(bs, 2)
	blocks := [][]byte{a, a, b, a}
	var ids []chunk.ID
	var data [][]byte
	for k, x := range blocks {
		copy(tl.Buf()[k*bs:], x)
		ids = append(ids, s.Sum(x))
		data = append(data, tl.Buf()[k*bs:(k+1)*bs])
	}
	stored := make([]int, len(ids))
	var scratch []byte
	if err := w.PutTail(ctx, tl, ids, data, stored, &scratch); err != nil {
		t.Fatal(err)
	}
	tl.Release()
	if stored[1] != 0 || stored[3] != 0 || stored[0] != bs || stored[2] == 0 {
		t.Fatalf("stored %v: want the first copy of a only", stored)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n, size := s.Size(); n != 2 || size >= int64(bs+stored[2]+bs/2) {
		t.Fatalf("%d chunks in %d bytes of packs: the repeated block took room (a %d, b %d bytes)", n, size, stored[0], stored[2])
	}
	s.Close()
	s2 := openSmall(t, be, t.TempDir())
	for i, x := range blocks {
		if got, err := s2.Get(ctx, ids[i], nil); err != nil || !bytes.Equal(got, x) {
			t.Fatalf("chunk %d reads back wrong: %v", i, err)
		}
	}
}

// openTailStore opens a store of 1 MiB packs on a local backend of its own.
func openTailStore(t *testing.T) (blob.Backend, *chunk.Store) {
	t.Helper()
	be := localBackend(t)
	s, err := chunk.Open(context.Background(), be, t.TempDir(), chunk.Options{PackSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return be, s
}
