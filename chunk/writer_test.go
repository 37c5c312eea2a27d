package chunk_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/blob/local"
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

// inPlaceBackend is the local backend, noting the buffers GetInto reads
// into.
type inPlaceBackend struct {
	*local.Backend
	mu    sync.Mutex
	reads []*byte // first byte of each GetInto's buffer
}

func (b *inPlaceBackend) GetInto(ctx context.Context, key string, off, length int64, scratch []byte) ([]byte, error) {
	b.mu.Lock()
	b.reads = append(b.reads, unsafe.SliceData(scratch))
	b.mu.Unlock()
	return b.Backend.GetInto(ctx, key, off, length, scratch)
}

// A run of large raw records starts on a page boundary of its pack even
// after a compressed record, so GetRun reads it straight into the caller's
// buffer (one direct read, no scratch copy) and hashes it there; damage to
// such a record fails the read, damage to the padding before it does not
// matter, and a mixed run still reads back right.
func TestRawRunsReadInPlace(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	lb, err := local.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	be := &inPlaceBackend{Backend: lb}
	s, err := chunk.Open(ctx, be, t.TempDir(), chunk.Options{PackSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const bs = 64 << 10
	text := func(seed uint64) []byte {
		return bytes.Repeat([]byte(fmt.Sprintf("block %d of text, ", seed)), bs/16)[:bs]
	}
	// A short text record first, so the raw run after it needs padding.
	data := [][]byte{text(1)[:5000], randBytes(bs, 1), randBytes(bs, 2), randBytes(bs, 3), randBytes(bs, 4), text(2), randBytes(bs, 5)}
	w := s.NewWriter()
	defer w.Close()
	ids := make([]chunk.ID, len(data))
	for i, d := range data {
		ids[i] = s.Sum(d)
	}
	var enc []byte
	if err := w.PutRun(ctx, ids, data, make([]int, len(ids)), &enc); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	dst := blob.AlignedBuf(len(data) * bs)
	read := func(ids []chunk.ID) ([][]byte, error) {
		be.mu.Lock()
		be.reads = nil
		be.mu.Unlock()
		return s.GetRun(ctx, ids, dst, bs)
	}
	// A dst with room (capacity) but too short is refused, not a panic:
	// the in-place read would index past its length.
	if _, err := s.GetRun(ctx, ids[:5], dst[:bs], bs); err == nil {
		t.Fatal("GetRun into a dst shorter than its chunks: no error")
	}
	// The four raw chunks: one read, into dst itself.
	out, err := read(ids[1:5])
	if err != nil {
		t.Fatal(err)
	}
	for k, o := range out {
		if !bytes.Equal(o, data[1+k]) || &o[0] != &dst[k*bs] {
			t.Fatalf("raw chunk %d reads back wrong or elsewhere", k)
		}
	}
	if len(be.reads) != 1 || be.reads[0] != &dst[0] {
		t.Fatalf("raw run: %d reads, first into dst: %v; want one, into dst", len(be.reads), len(be.reads) > 0 && be.reads[0] == &dst[0])
	}
	// The whole mixed run reads back right (through the scratch buffer).
	if out, err = read(ids); err != nil {
		t.Fatal(err)
	}
	for k, o := range out {
		if !bytes.Equal(o, data[k]) {
			t.Fatalf("mixed run: chunk %d reads back wrong", k)
		}
	}
	var pack string
	lb.List(ctx, "pack/", func(in blob.Info) error { pack = in.Key; return nil })
	var path string // the local backend shards its keys into directories
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && d.Name() == filepath.Base(pack) {
			path = p
		}
		return nil
	})
	flip := func(off int64) {
		f, err := os.OpenFile(path, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		b := make([]byte, 1)
		f.ReadAt(b, off)
		b[0] ^= 0xff
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	// The first raw record starts at the page after the text record (whose
	// compressed form is far shorter than a page); the bytes between are
	// padding.
	flip(blob.Align - 1)
	if _, err := read(ids[1:5]); err != nil {
		t.Fatalf("padding flipped: %v", err)
	}
	flip(blob.Align + 100)
	if _, err := read(ids[1:5]); !errors.Is(err, chunk.ErrCorrupt) || !strings.Contains(err.Error(), ids[1].Short()) {
		t.Fatalf("raw record flipped: GetRun = %v", err)
	}
}

// readsBackend is the local backend, noting each GetInto: the pack, the
// range and the buffer it reads into.
type readsBackend struct {
	*local.Backend
	mu    sync.Mutex
	reads []rangeRead
}

type rangeRead struct {
	key         string
	off, length int64
	into        *byte
}

func (b *readsBackend) GetInto(ctx context.Context, key string, off, length int64, scratch []byte) ([]byte, error) {
	b.mu.Lock()
	b.reads = append(b.reads, rangeRead{key, off, length, unsafe.SliceData(scratch)})
	b.mu.Unlock()
	return b.Backend.GetInto(ctx, key, off, length, scratch)
}

// A run whose block an incremental replaced is read with one range read of
// the run's pack, through the stale copy between its neighbours, and one of
// the replacement's pack, where it took three (the part before, the
// replacement, the part after: on the bench host's disk a read request
// costs ~0.22 ms before its first byte): raw runs straight into the
// caller's buffer, the stale copy's slot then filled with the replacement;
// compressed runs through the scratch buffer. A chunk another group
// fetched first is never overwritten by a later in-place read spanning its
// slot.
func TestGetRunReadsThroughReplacedBlocks(t *testing.T) {
	ctx := context.Background()
	lb, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	be := &readsBackend{Backend: lb}
	s, err := chunk.Open(ctx, be, t.TempDir(), chunk.Options{PackSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const bs, n = 64 << 10, 8
	text := func(seed int) []byte {
		return bytes.Repeat([]byte(fmt.Sprintf("block %d of some text, ", seed)), bs/16)[:bs]
	}
	put := func(data ...[]byte) []chunk.ID { // in a pack of their own
		w := s.NewWriter()
		defer w.Close()
		ids := make([]chunk.ID, len(data))
		for i, d := range data {
			ids[i] = s.Sum(d)
		}
		var enc []byte
		if err := w.PutRun(ctx, ids, data, make([]int, len(ids)), &enc); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	var raw, txt [][]byte
	for i := range n {
		raw = append(raw, randBytes(bs, uint64(100+i)))
		txt = append(txt, text(i))
	}
	rawIDs, txtIDs := put(raw...), put(txt...)
	// The incremental: block 3 of the raw run and block 5 of the text run.
	raw3, txt5 := randBytes(bs, 999), text(999)
	newIDs := put(raw3, txt5)
	raw[3], rawIDs[3] = raw3, newIDs[0]
	txt[5], txtIDs[5] = txt5, newIDs[1]

	dst := blob.HugeBuf(n * bs)
	read := func(ids []chunk.ID) ([][]byte, []rangeRead) {
		t.Helper()
		be.mu.Lock()
		be.reads = nil
		be.mu.Unlock()
		out, err := s.GetRun(ctx, ids, dst, bs)
		if err != nil {
			t.Fatal(err)
		}
		be.mu.Lock()
		defer be.mu.Unlock()
		return out, append([]rangeRead(nil), be.reads...)
	}
	out, reads := read(rawIDs)
	for k := range out {
		if !bytes.Equal(out[k], raw[k]) || !bytes.Equal(dst[k*bs:(k+1)*bs], raw[k]) {
			t.Fatalf("raw run: block %d reads back wrong", k)
		}
	}
	if len(reads) != 2 || reads[0].length != n*bs || reads[0].into != &dst[0] {
		t.Fatalf("raw run with a replaced block: reads %+v; want two, the first the whole run (%d bytes) into dst", reads, n*bs)
	}
	out, reads = read(txtIDs)
	for k := range out {
		if !bytes.Equal(out[k], txt[k]) {
			t.Fatalf("text run: block %d reads back wrong", k)
		}
	}
	if len(reads) != 2 || reads[0].key == reads[1].key {
		t.Fatalf("text run with a replaced block: reads %+v; want two, one per pack", reads)
	}

	// Pack A holds a0 and a1 next to each other, pack B b0, m and b2. Read
	// as [a0 b0 a1 b2]: pack A's group (a0, a1) comes first; pack B's (b0,
	// b2, reading through m) lays out in place, but its read would put m
	// over a1, fetched already: it goes through the scratch buffer.
	a := [][]byte{randBytes(bs, 1), randBytes(bs, 2)}
	b := [][]byte{randBytes(bs, 3), randBytes(bs, 4), randBytes(bs, 5)}
	aIDs, bIDs := put(a...), put(b...)
	out, reads = read([]chunk.ID{aIDs[0], bIDs[0], aIDs[1], bIDs[2]})
	for k, want := range [][]byte{a[0], b[0], a[1], b[2]} {
		if !bytes.Equal(out[k], want) || !bytes.Equal(dst[k*bs:(k+1)*bs], want) {
			t.Fatalf("interleaved packs: block %d reads back wrong", k)
		}
	}
	if len(reads) != 2 {
		t.Fatalf("interleaved packs: %d reads, want 2 (one per pack)", len(reads))
	}
}

// GetRun lets other goroutines run between the chunks it decodes: a
// restore worker whose write returned then issues its next read while the
// others decode, where it waited for a whole run's decoding (the Go
// scheduler gives a goroutine leaving a system call a processor only when
// one is idle, and preempts a running one after 10 ms). With one
// processor, a goroutine that yields in a loop counts how often it ran
// while GetRun decoded 64 blocks from memory (no system call to run it in):
// every chunk or so, where it ran only when the decoding was preempted.
func TestGetRunYieldsBetweenChunks(t *testing.T) {
	ctx := context.Background()
	s, err := chunk.Open(ctx, mem.New(nil), t.TempDir(), chunk.Options{PackSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const bs, n = 64 << 10, 64
	data := make([][]byte, n)
	ids := make([]chunk.ID, n)
	for i := range data {
		data[i] = textBytes(bs, uint64(i))
		ids[i] = s.Sum(data[i])
	}
	w := s.NewWriter()
	defer w.Close()
	var enc []byte
	if err := w.PutRun(ctx, ids, data, make([]int, n), &enc); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	dst := make([]byte, n*bs)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	var during, ran atomic.Int64
	var stop atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		for !stop.Load() {
			if during.Load() == 1 {
				ran.Add(1)
			}
			runtime.Gosched()
		}
	}()
	during.Store(1)
	out, err := s.GetRun(ctx, ids, dst, bs)
	during.Store(0)
	stop.Store(true)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	for i := range out {
		if !bytes.Equal(out[i], data[i]) {
			t.Fatalf("chunk %d reads back wrong", i)
		}
	}
	if r := ran.Load(); r < n/2 {
		t.Fatalf("another goroutine ran %d times while GetRun decoded %d chunks; want at least %d", r, n, n/2)
	}
}
