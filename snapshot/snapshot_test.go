package snapshot_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/blob/blobtest"
	"github.com/safehold/safehold/blob/local"
	"github.com/safehold/safehold/blob/mem"
	"github.com/safehold/safehold/chunk"
	"github.com/safehold/safehold/snapshot"
)

const bs = snapshot.BlockSize

type extent struct {
	off  int64
	n    int64
	kind byte // 'r' random, 't' text, 'z' written zeros
	seed uint64
}

func fill(p []byte, kind byte, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 11))
	switch kind {
	case 'r':
		for i := range p {
			p[i] = byte(r.Uint32())
		}
	case 't':
		words := []string{"INFO ", "volume ", "attach ", "ok ", "12345 ", "\n", "snapshot ", "error "}
		for i := 0; i < len(p); {
			i += copy(p[i:], words[r.IntN(len(words))])
		}
	case 'z':
		clear(p)
	}
}

// writeDisk creates a sparse disk image with the given extents.
func writeDisk(t testing.TB, path string, size int64, exts ...extent) []byte {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	want := make([]byte, size)
	for _, e := range exts {
		p := make([]byte, e.n)
		fill(p, e.kind, e.seed)
		if _, err := f.WriteAt(p, e.off); err != nil {
			t.Fatal(err)
		}
		copy(want[e.off:], p)
	}
	return want
}

func openRepo(t testing.TB, be blob.Backend, opts snapshot.Options) *snapshot.Repository {
	t.Helper()
	return openRepoIn(t, be, t.TempDir(), opts)
}

// openRepoIn is openRepo with the local cache in dir (to open it again).
func openRepoIn(t testing.TB, be blob.Backend, dir string, opts snapshot.Options) *snapshot.Repository {
	t.Helper()
	if opts.PackSize == 0 {
		opts.PackSize = 1 << 20
	}
	r, err := snapshot.Open(context.Background(), be, dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// capturedDisk writes a disk image of size random bytes (seed 1) in a
// temporary directory and captures it once into a repository in memory; it
// returns the repository, the image's path, its bytes and the manifest.
func capturedDisk(t testing.TB, size int64) (*snapshot.Repository, string, []byte, *snapshot.Manifest) {
	t.Helper()
	_, r, path, want, m := capturedInMemory(t, t.TempDir(), size, extent{0, size, 'r', 1})
	return r, path, want, m
}

// capturedInMemory is capturedDisk for an image of the given size and
// extents with the repository's cache in cache, also returning the
// backend (to damage it).
func capturedInMemory(t testing.TB, cache string, size int64, exts ...extent) (*mem.Backend, *snapshot.Repository, string, []byte, *snapshot.Manifest) {
	t.Helper()
	be := mem.New(nil)
	r := openRepoIn(t, be, cache, snapshot.Options{})
	path := filepath.Join(t.TempDir(), "disk.img")
	want := writeDisk(t, path, size, exts...)
	m, _ := captureFile(t, r, path, snapshot.CaptureOptions{})
	return be, r, path, want, m
}

func captureFile(t testing.TB, r *snapshot.Repository, path string, opts snapshot.CaptureOptions) (*snapshot.Manifest, snapshot.Stats) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	src, err := snapshot.FileSource(f)
	if err != nil {
		t.Fatal(err)
	}
	m, st, err := r.Capture(context.Background(), src, opts)
	if err != nil {
		t.Fatal(err)
	}
	return m, st
}

func allocated(t testing.TB, path string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

// checkRestore restores id and compares it with want, and checks that the
// restored file allocates no more than the non-zero blocks need.
func checkRestore(t testing.TB, r *snapshot.Repository, id snapshot.ID, want []byte) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "restored.img")
	if _, err := r.Restore(context.Background(), id, out, snapshot.RestoreOptions{}); err != nil {
		t.Fatalf("restore %s: %v", id, err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("restore %s: content differs (len %d vs %d)", id, len(got), len(want))
	}
	var nonZero int64
	for off := 0; off < len(want); off += bs {
		b := want[off:min(off+bs, len(want))]
		if !bytes.Equal(b, make([]byte, len(b))) {
			nonZero += bs
		}
	}
	if a := allocated(t, out); a > nonZero+64<<10 {
		t.Fatalf("restore %s: file allocates %d bytes, non-zero blocks need %d: holes not kept", id, a, nonZero)
	}
	// Random access through the reader agrees too.
	rd, err := r.OpenReader(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	if rd.Size() != int64(len(want)) {
		t.Fatalf("reader size %d, want %d", rd.Size(), len(want))
	}
	for _, c := range [][2]int64{{0, 100}, {bs - 10, 20}, {int64(len(want)) - 5, 5}, {int64(len(want)) / 3, 3*bs + 7}} {
		off, n := c[0], min(c[1], int64(len(want))-max(c[0], 0))
		if off < 0 || n <= 0 {
			continue
		}
		p := make([]byte, n)
		if _, err := rd.ReadAt(p, off); err != nil {
			t.Fatalf("reader at %d: %v", off, err)
		}
		if !bytes.Equal(p, want[off:off+n]) {
			t.Fatalf("reader at %d: content differs", off)
		}
	}
}

func TestRoundTripShapes(t *testing.T) {
	const mib = 1 << 20
	shapes := []struct {
		name string
		size int64
		exts []extent
	}{
		{"empty", 0, nil},
		{"all-zero-sparse", 3 * mib, nil},
		{"all-zero-written", 2 * mib, []extent{{0, 2 * mib, 'z', 0}}},
		{"all-random", 3 * mib, []extent{{0, 3 * mib, 'r', 1}}},
		{"odd-size", 5*bs + 12345, []extent{{0, 5*bs + 12345, 'r', 2}}},
		{"tiny", 7, []extent{{0, 7, 'r', 3}}},
		{"holes-both-ends", 6 * mib, []extent{{mib + 100, 2 * mib, 'r', 4}, {3*mib + 300, mib, 't', 5}}},
		{"text", 2*mib + 999, []extent{{0, 2*mib + 999, 't', 6}}},
		{"mixed-beyond-a-segment", 70 * mib, []extent{{0, mib, 'r', 7}, {65 * mib, 2 * mib, 't', 8}, {70*mib - bs/2, bs / 2, 'r', 9}}},
	}
	r := openRepo(t, mustLocal(t), snapshot.Options{})
	for _, s := range shapes {
		t.Run(s.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "disk.img")
			want := writeDisk(t, path, s.size, s.exts...)
			m, st := captureFile(t, r, path, snapshot.CaptureOptions{})
			if m.Size != s.size || st.Size != s.size {
				t.Fatalf("size %d, want %d", m.Size, s.size)
			}
			checkRestore(t, r, m.ID, want)
			// A hash-compare rescan of the same disk stores nothing.
			_, st2 := captureFile(t, r, path, snapshot.CaptureOptions{Parent: m.ID})
			if st2.BytesNew != 0 || st2.BytesChanged != 0 {
				t.Fatalf("unchanged rescan: %+v", st2)
			}
		})
	}
	rep, err := r.Verify(context.Background(), snapshot.VerifyOptions{})
	if err != nil || !rep.OK {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

func mustLocal(t testing.TB) blob.Backend {
	b, err := local.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mutate(t testing.TB, path string, want []byte, blocks []int64, seed uint64) []snapshot.Range {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rs []snapshot.Range
	for i, b := range blocks {
		p := make([]byte, bs)
		fill(p, 'r', seed+uint64(i))
		if _, err := f.WriteAt(p, b*bs); err != nil {
			t.Fatal(err)
		}
		copy(want[b*bs:], p)
		rs = append(rs, snapshot.Range{Off: b * bs, Len: bs})
	}
	return rs
}

func TestIncrementalStoresOnlyChangedBlocks(t *testing.T) {
	ctx := context.Background()
	r := openRepo(t, mustLocal(t), snapshot.Options{})
	path := filepath.Join(t.TempDir(), "disk.img")
	size := int64(100 * bs)
	want := writeDisk(t, path, size, extent{0, 40 * bs, 'r', 1}, extent{60 * bs, 40 * bs, 't', 2})
	full, _ := captureFile(t, r, path, snapshot.CaptureOptions{})
	_, before := r.Size()
	changed := mutate(t, path, want, []int64{3, 17, 50, 99}, 100) // 50 was a hole

	var reports []snapshot.Progress
	var mu sync.Mutex
	inc, st := captureFile(t, r, path, snapshot.CaptureOptions{Parent: full.ID, Changed: changed,
		Progress: func(p snapshot.Progress) { mu.Lock(); reports = append(reports, p); mu.Unlock() }})
	if st.BytesScanned != 4*bs || st.BytesChanged != 4*bs || st.BytesNew != 4*bs {
		t.Fatalf("incremental with change list: %+v", st)
	}
	_, after := r.Size()
	if growth := after - before; growth > 4*bs*12/10+8<<10 {
		t.Fatalf("repository grew %d bytes for %d changed", growth, 4*bs)
	}
	if len(reports) == 0 || reports[len(reports)-1].Done != 4*bs || reports[len(reports)-1].Total != 4*bs {
		t.Fatalf("progress reports: %+v", reports)
	}
	checkRestore(t, r, inc.ID, want)
	checkRestore(t, r, full.ID, writeDisk(t, filepath.Join(t.TempDir(), "orig.img"), size, extent{0, 40 * bs, 'r', 1}, extent{60 * bs, 40 * bs, 't', 2}))

	// Without a change list: a full hash-compare scan finds the same blocks
	// and stores nothing new (they are deduplicated).
	scan, st2 := captureFile(t, r, path, snapshot.CaptureOptions{Parent: full.ID})
	if st2.BytesChanged != 4*bs || st2.BytesNew != 0 || st2.BytesDeduped != 4*bs {
		t.Fatalf("incremental by scan: %+v", st2)
	}
	if fmt.Sprint(scan.Segments) != fmt.Sprint(inc.Segments) {
		t.Fatal("scan and change list built different indexes")
	}
	// An empty change list records the parent's state without reading.
	noop, st3 := captureFile(t, r, path, snapshot.CaptureOptions{Parent: inc.ID, Changed: []snapshot.Range{}})
	if st3.BytesScanned != 0 || fmt.Sprint(noop.Segments) != fmt.Sprint(inc.Segments) {
		t.Fatalf("empty change list: %+v", st3)
	}
	ms, err := r.List(ctx)
	if err != nil || len(ms) != 4 {
		t.Fatalf("list: %d %v", len(ms), err)
	}
}

type trackedSource struct {
	*snapshot.File
	ranges []snapshot.Range
}

func (s trackedSource) ChangedBlocks() ([]snapshot.Range, bool) { return s.ranges, true }

func TestChangeTrackerAndResize(t *testing.T) {
	ctx := context.Background()
	r, path, want, full := capturedDisk(t, 20*bs+100)
	changed := mutate(t, path, want, []int64{2}, 7)
	f, _ := os.Open(path)
	defer f.Close()
	fs, _ := snapshot.FileSource(f)
	inc, st, err := r.Capture(ctx, trackedSource{fs, changed}, snapshot.CaptureOptions{Parent: full.ID})
	if err != nil || st.BytesScanned != bs {
		t.Fatalf("tracked capture: %+v %v", st, err)
	}
	checkRestore(t, r, inc.ID, want)

	// Grow the disk: the new tail is captured even though no range names it.
	g, _ := os.OpenFile(path, os.O_RDWR, 0)
	g.WriteAt(bytes.Repeat([]byte{9}, 3*bs), 20*bs+100)
	g.Close()
	want = append(want, bytes.Repeat([]byte{9}, 3*bs)...)
	grown, _ := captureFile(t, r, path, snapshot.CaptureOptions{Parent: inc.ID, Changed: []snapshot.Range{}})
	checkRestore(t, r, grown.ID, want)
	// Shrink to an unaligned size.
	os.Truncate(path, 7*bs+3)
	want = want[:7*bs+3]
	shrunk, _ := captureFile(t, r, path, snapshot.CaptureOptions{Parent: grown.ID, Changed: []snapshot.Range{}})
	checkRestore(t, r, shrunk.ID, want)
}

// Run twice: with the mark in memory, and with a mark that spills to the
// cache directory every 7 IDs and a sweep that acts on every pack it plans
// (the bounded paths a large repository takes).
func TestDeleteMiddleOfChainAndGC(t *testing.T) {
	t.Run("memory", func(t *testing.T) { deleteMiddleOfChainAndGC(t, snapshot.GCOptions{}) })
	t.Run("spilled", func(t *testing.T) { deleteMiddleOfChainAndGC(t, snapshot.GCOptions{LiveMemory: 7, SweepBatch: 1}) })
}

func deleteMiddleOfChainAndGC(t *testing.T, gco snapshot.GCOptions) {
	ctx := context.Background()
	r := openRepo(t, mustLocal(t), snapshot.Options{PackSize: 256 << 10})
	path := filepath.Join(t.TempDir(), "disk.img")
	size := int64(64 * bs)
	want := writeDisk(t, path, size, extent{0, 64 * bs, 'r', 1})
	var ms []*snapshot.Manifest
	var wants [][]byte
	parent := snapshot.ID("")
	for i := 0; i < 4; i++ {
		var changed []snapshot.Range
		if i > 0 {
			changed = mutate(t, path, want, []int64{int64(i), int64(10 + i), int64(30 + 2*i)}, uint64(100*i))
		}
		m, _ := captureFile(t, r, path, snapshot.CaptureOptions{Parent: parent, Changed: changed})
		ms = append(ms, m)
		wants = append(wants, append([]byte(nil), want...))
		parent = m.ID
	}
	// Delete the middle of the chain, and the first.
	for _, i := range []int{1, 2, 0} {
		if err := r.Delete(ctx, ms[i].ID); err != nil {
			t.Fatal(err)
		}
		st, err := r.GC(ctx, gco)
		if err != nil {
			t.Fatal(err)
		}
		if st.ChunksFreed == 0 {
			t.Fatalf("gc after deleting %d freed nothing: %+v", i, st)
		}
		if (gco.LiveMemory > 0) != (st.LiveSpills > 1) {
			t.Fatalf("live set spilled %d times with LiveMemory %d", st.LiveSpills, gco.LiveMemory)
		}
		for j := range ms {
			if _, err := r.Get(ctx, ms[j].ID); err == nil {
				checkRestore(t, r, ms[j].ID, wants[j])
			}
		}
		assertExactlyLive(t, r)
	}
	if err := r.Delete(ctx, ms[1].ID); !errors.Is(err, snapshot.ErrNotFound) {
		t.Fatalf("delete twice = %v", err)
	}
	// Deleting the last snapshot leaves an empty repository.
	r.Delete(ctx, ms[3].ID)
	if _, err := r.GC(ctx, gco); err != nil {
		t.Fatal(err)
	}
	if n, b := r.Size(); n != 0 || b != 0 {
		t.Fatalf("empty repository holds %d chunks, %d bytes", n, b)
	}
}

// verifyAndCollect checks that r verifies (every chunk of every snapshot
// present and intact), runs a collection, and checks that exactly the live
// chunks remain; what names the moment in a failure.
func verifyAndCollect(t *testing.T, r *snapshot.Repository, what string) {
	t.Helper()
	ctx := context.Background()
	rep, err := r.Verify(ctx, snapshot.VerifyOptions{})
	if err != nil || !rep.OK {
		t.Fatalf("%s: verify %+v %v", what, rep, err)
	}
	if _, err := r.GC(ctx, snapshot.GCOptions{}); err != nil {
		t.Fatalf("%s: GC: %v", what, err)
	}
	assertExactlyLive(t, r)
}

// assertExactlyLive checks that the store holds exactly the chunks the
// snapshots reference: nothing referenced is missing, nothing else is kept.
func assertExactlyLive(t *testing.T, r *snapshot.Repository) {
	t.Helper()
	ctx := context.Background()
	ms, err := r.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	live := map[chunk.ID]bool{}
	for _, m := range ms {
		for _, sid := range m.Segments {
			if sid.IsZero() {
				continue
			}
			live[sid] = true
			b, err := r.Chunks().Get(ctx, sid, nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i+32 <= len(b); i += 32 {
				var id chunk.ID
				copy(id[:], b[i:])
				if !id.IsZero() {
					live[id] = true
				}
			}
		}
	}
	for id := range live {
		if !r.Chunks().Has(id) {
			t.Fatalf("live chunk %s missing", id.Short())
		}
	}
	if n, _ := r.Size(); n != len(live) {
		t.Fatalf("store holds %d chunks, %d are referenced", n, len(live))
	}
}

func TestCorruptionDetected(t *testing.T) {
	ctx := context.Background()
	be := mem.New(nil)
	r := openRepo(t, be, snapshot.Options{})
	path := filepath.Join(t.TempDir(), "disk.img")
	want := writeDisk(t, path, 32*bs, extent{0, 32 * bs, 'r', 1})
	a, _ := captureFile(t, r, path, snapshot.CaptureOptions{})
	b, _ := captureFile(t, r, path, snapshot.CaptureOptions{Parent: a.ID, Changed: mutate(t, path, want, []int64{31}, 5)})
	var packs []string
	be.List(ctx, "pack/", func(in blob.Info) error { packs = append(packs, in.Key); return nil })
	if len(packs) == 0 {
		t.Fatal("no packs")
	}
	// Flip one byte inside the first record of the first full pack.
	if !be.Corrupt(packs[0], 10) {
		t.Fatal("corrupt failed")
	}
	rep, err := r.Verify(ctx, snapshot.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.OK || len(rep.Bad) != 1 || rep.Bad[0].Pack != packs[0] {
		t.Fatalf("verify report: %+v", rep)
	}
	if len(rep.BadSnapshots) == 0 {
		t.Fatalf("verify names no affected snapshot: %+v", rep)
	}
	for _, id := range rep.BadSnapshots {
		out := filepath.Join(t.TempDir(), "x.img")
		if _, err := r.Restore(ctx, id, out, snapshot.RestoreOptions{}); !errors.Is(err, chunk.ErrCorrupt) {
			t.Fatalf("restore of damaged snapshot %s = %v", id, err)
		}
	}
	_ = b
}

func TestCorruptionAffectsEverySnapshotSharingTheChunk(t *testing.T) {
	ctx := context.Background()
	be := mem.New(nil)
	r := openRepo(t, be, snapshot.Options{})
	path := filepath.Join(t.TempDir(), "disk.img")
	writeDisk(t, path, 4*bs, extent{0, bs, 'r', 1})
	a, _ := captureFile(t, r, path, snapshot.CaptureOptions{})
	b, _ := captureFile(t, r, path, snapshot.CaptureOptions{})
	var key string
	be.List(ctx, "pack/", func(in blob.Info) error { key = in.Key; return nil })
	be.Corrupt(key, 5) // the data block is the pack's first record
	rep, _ := r.Verify(ctx, snapshot.VerifyOptions{})
	wantBad := []snapshot.ID{a.ID, b.ID}
	slices.Sort(wantBad) // IDs sort by time, then at random within a millisecond
	if fmt.Sprint(rep.BadSnapshots) != fmt.Sprint(wantBad) {
		t.Fatalf("bad snapshots %v, want both", rep.BadSnapshots)
	}
}

func TestEncryptedAndCopyTo(t *testing.T) {
	ctx := context.Background()
	key := bytes.Repeat([]byte{42}, 32)
	src := openRepo(t, mem.New(nil), snapshot.Options{Key: key})
	path := filepath.Join(t.TempDir(), "disk.img")
	want := writeDisk(t, path, 40*bs, extent{0, 20 * bs, 't', 1}, extent{30 * bs, 5 * bs, 'r', 2})
	m, _ := captureFile(t, src, path, snapshot.CaptureOptions{})
	checkRestore(t, src, m.ID, want)

	plainVault := openRepo(t, mem.New(nil), snapshot.Options{})
	st, err := src.CopyTo(ctx, m.ID, plainVault) // different IDs: re-encoded
	if err != nil {
		t.Fatal(err)
	}
	checkRestore(t, plainVault, m.ID, want)

	sameVault := openRepo(t, mem.New(nil), snapshot.Options{Key: key})
	if _, err := src.CopyTo(ctx, m.ID, sameVault); err != nil {
		t.Fatal(err)
	}
	checkRestore(t, sameVault, m.ID, want)
	// A second snapshot sharing most blocks transfers only the new ones.
	m2, _ := captureFile(t, src, path, snapshot.CaptureOptions{Parent: m.ID, Changed: mutate(t, path, want, []int64{1}, 9)})
	st, err = src.CopyTo(ctx, m2.ID, sameVault)
	if err != nil {
		t.Fatal(err)
	}
	if st.BytesNew != bs {
		t.Fatalf("copy of incremental moved %d new bytes, want %d", st.BytesNew, bs)
	}
	checkRestore(t, sameVault, m2.ID, want)
	if rep, err := sameVault.Verify(ctx, snapshot.VerifyOptions{}); err != nil || !rep.OK {
		t.Fatalf("vault verify: %+v %v", rep, err)
	}
}

func TestConcurrentCapturesWithGC(t *testing.T) {
	ctx := context.Background()
	r := openRepo(t, mustLocal(t), snapshot.Options{PackSize: 128 << 10})
	dir := t.TempDir()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	stop := make(chan struct{})
	results := make([][]struct {
		id   snapshot.ID
		want []byte
	}, 3)
	for d := 0; d < 3; d++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path := filepath.Join(dir, fmt.Sprintf("disk%d.img", d))
			want := writeDisk(t, path, 48*bs, extent{0, 48 * bs, 'r', uint64(d % 2)}) // disks 0 and 2 share content
			parent := snapshot.ID("")
			for i := 0; i < 5; i++ {
				var changed []snapshot.Range
				if i > 0 {
					changed = mutate(t, path, want, []int64{int64(i), int64(20 + i*d)}, uint64(1000*d+i))
				}
				f, _ := os.Open(path)
				fs, _ := snapshot.FileSource(f)
				m, _, err := r.Capture(ctx, fs, snapshot.CaptureOptions{Parent: parent, Changed: changed})
				f.Close()
				if err != nil {
					errs <- err
					return
				}
				if parent != "" && i%2 == 0 {
					if err := r.Delete(ctx, parent); err != nil { // deleting the parent right away
						errs <- err
						return
					}
					results[d] = results[d][:len(results[d])-1]
				}
				results[d] = append(results[d], struct {
					id   snapshot.ID
					want []byte
				}{m.ID, append([]byte(nil), want...)})
				parent = m.ID
			}
		}()
	}
	go func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := r.GC(ctx, snapshot.GCOptions{}); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if _, err := r.GC(ctx, snapshot.GCOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, rs := range results {
		for _, x := range rs {
			checkRestore(t, r, x.id, x.want)
		}
	}
	assertExactlyLive(t, r)
}

// TestFaultInjection crashes the backend after every possible number of
// puts during an incremental and checks that whatever was recorded is
// complete and restores correctly.
func TestFaultInjection(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "disk.img")
	want := writeDisk(t, path, 40*bs, extent{0, 30 * bs, 'r', 1}, extent{30 * bs, 10 * bs, 't', 2})
	base := mem.New(nil)
	r0 := openRepo(t, base, snapshot.Options{PackSize: 128 << 10})
	full, _ := captureFile(t, r0, path, snapshot.CaptureOptions{})
	r0.Close()
	baseWant := append([]byte(nil), want...)
	changed := mutate(t, path, want, []int64{1, 5, 9, 13, 17, 21, 33, 39}, 77)
	for n := 0; n < 12; n++ {
		// Copy the base repository so every round starts from the same state.
		inner := mem.New(nil)
		base.List(ctx, "", func(in blob.Info) error {
			b, _ := base.Get(ctx, in.Key, 0, -1)
			return inner.Put(ctx, in.Key, b)
		})
		f := blobtest.NewFaulty(inner)
		f.CrashAfter(n)
		r, err := snapshot.Open(ctx, f, t.TempDir(), snapshot.Options{PackSize: 128 << 10})
		if err != nil {
			t.Fatal(err)
		}
		src, _ := os.Open(path)
		fs, _ := snapshot.FileSource(src)
		_, _, cerr := r.Capture(ctx, fs, snapshot.CaptureOptions{Parent: full.ID, Changed: changed})
		src.Close()
		r.Close()
		// "Restart": reopen on the surviving objects.
		r2 := openRepo(t, inner, snapshot.Options{})
		ms, err := r2.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if cerr == nil && len(ms) != 2 || cerr != nil && len(ms) != 1 {
			t.Fatalf("crash after %d puts: capture err %v, %d snapshots", n, cerr, len(ms))
		}
		for _, m := range ms {
			if m.ID == full.ID {
				checkRestore(t, r2, m.ID, baseWant)
			} else {
				checkRestore(t, r2, m.ID, want)
			}
		}
		// GC reclaims the orphans of the failed capture.
		verifyAndCollect(t, r2, fmt.Sprintf("crash after %d puts", n))
		if cerr == nil {
			break
		}
	}
}

func TestCanceledCaptureRecordsNothing(t *testing.T) {
	r := openRepo(t, mem.New(nil), snapshot.Options{})
	path := filepath.Join(t.TempDir(), "disk.img")
	writeDisk(t, path, 200*bs, extent{0, 200 * bs, 'r', 1})
	ctx, cancel := context.WithCancel(context.Background())
	f, _ := os.Open(path)
	defer f.Close()
	fs, _ := snapshot.FileSource(f)
	_, _, err := r.Capture(ctx, fs, snapshot.CaptureOptions{Progress: func(snapshot.Progress) { cancel() }, Workers: 1})
	cancel()
	_ = err // may finish before the first report; either way:
	ms, _ := r.List(context.Background())
	if err != nil && len(ms) != 0 {
		t.Fatalf("canceled capture recorded %d snapshots", len(ms))
	}
	if err == nil && len(ms) != 1 {
		t.Fatalf("finished capture recorded %d snapshots", len(ms))
	}
}

func TestDeleteDuringRestoreAndRead(t *testing.T) {
	ctx := context.Background()
	r, _, want, m := capturedDisk(t, 30*bs)
	rd, err := r.OpenReader(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := r.GC(ctx, snapshot.GCOptions{}); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, len(want))
	if _, err := rd.ReadAt(p, 0); err != nil || !bytes.Equal(p, want) {
		t.Fatalf("reader of a deleted snapshot: %v", err)
	}
	rd.Close()
	if _, err := r.GC(ctx, snapshot.GCOptions{}); err != nil {
		t.Fatal(err)
	}
	if n, _ := r.Size(); n != 0 {
		t.Fatalf("%d chunks left after the reader closed", n)
	}
	if _, err := r.OpenReader(ctx, m.ID); !errors.Is(err, snapshot.ErrNotFound) {
		t.Fatalf("open reader of a deleted snapshot = %v", err)
	}
}

func TestDedupAcrossDisks(t *testing.T) {
	r := openRepo(t, mem.New(nil), snapshot.Options{})
	dir := t.TempDir()
	a := filepath.Join(dir, "a.img")
	b := filepath.Join(dir, "b.img")
	writeDisk(t, a, 40*bs, extent{0, 40 * bs, 'r', 1})
	want := writeDisk(t, b, 50*bs, extent{0, 40 * bs, 'r', 1}, extent{45 * bs, bs, 'r', 2})
	_, sa := captureFile(t, r, a, snapshot.CaptureOptions{})
	mb, sb := captureFile(t, r, b, snapshot.CaptureOptions{})
	if sa.BytesNew != 40*bs || sb.BytesNew != bs || sb.BytesDeduped != 40*bs {
		t.Fatalf("second disk: %+v (first %+v)", sb, sa)
	}
	checkRestore(t, r, mb.ID, want)
}

// fakeClock is a settable clock shared by the repository and the backend.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func TestGCGraceWindowKeepsYoungOrphans(t *testing.T) {
	ctx := context.Background()
	clk := &fakeClock{now: time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC)}
	inner := mem.New(clk.Now)
	f := blobtest.NewFaulty(inner)
	path := filepath.Join(t.TempDir(), "disk.img")
	writeDisk(t, path, 40*bs, extent{0, 40 * bs, 'r', 1})
	// A capture in "another process" dies after writing its packs but
	// before its manifest.
	f.SetFail(func(op blobtest.Op, key string, n int) error {
		if op == blobtest.OpPut && strings.HasPrefix(key, "snapshot/") {
			return blobtest.ErrInjected
		}
		return nil
	})
	other, err := snapshot.Open(ctx, f, t.TempDir(), snapshot.Options{Now: clk.Now, PackSize: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	src, _ := os.Open(path)
	defer src.Close()
	fs, _ := snapshot.FileSource(src)
	if _, _, err := other.Capture(ctx, fs, snapshot.CaptureOptions{}); !errors.Is(err, blobtest.ErrInjected) {
		t.Fatalf("capture = %v", err)
	}
	other.Close()

	r := openRepo(t, inner, snapshot.Options{Now: clk.Now})
	_, before := r.Size()
	clk.Add(30 * time.Minute)
	st, err := r.GC(ctx, snapshot.GCOptions{Grace: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, after := r.Size(); after != before || st.ChunksFreed != 0 {
		t.Fatalf("GC inside the grace window freed %d chunks (%d -> %d bytes)", st.ChunksFreed, before, after)
	}
	// It says when the orphans are old enough: its caller runs it again
	// then, as no delete may come to.
	if st.YoungDueIn != 30*time.Minute {
		t.Fatalf("GC inside the grace window: YoungDueIn %v, want 30m (%+v)", st.YoungDueIn, st)
	}
	clk.Add(time.Hour)
	if st, err = r.GC(ctx, snapshot.GCOptions{Grace: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if n, b := r.Size(); n != 0 || b != 0 || st.ChunksFreed == 0 || st.YoungDueIn != 0 {
		t.Fatalf("GC after the grace window left %d chunks, %d bytes (%+v)", n, b, st)
	}
}

func TestVerifySampleAndMissingChunk(t *testing.T) {
	ctx := context.Background()
	be := mem.New(nil)
	r := openRepo(t, be, snapshot.Options{PackSize: 128 << 10})
	path := filepath.Join(t.TempDir(), "disk.img")
	writeDisk(t, path, 64*bs, extent{0, 64 * bs, 'r', 1})
	m, _ := captureFile(t, r, path, snapshot.CaptureOptions{})
	full, err := r.Verify(ctx, snapshot.VerifyOptions{})
	if err != nil || !full.OK {
		t.Fatalf("verify: %+v %v", full, err)
	}
	part, err := r.Verify(ctx, snapshot.VerifyOptions{Sample: 0.2})
	if err != nil || !part.OK || part.Packs >= full.Packs || part.Snapshots != 1 {
		t.Fatalf("sampled verify read %d of %d packs: %+v %v", part.Packs, full.Packs, part, err)
	}
	// Lose a pack behind the repository's back: a reopened repository's
	// verify names the missing chunks and the snapshot, even when sampling.
	var victim string
	be.List(ctx, "pack/", func(in blob.Info) error { victim = in.Key; return nil })
	be.Delete(ctx, victim)
	r2 := openRepo(t, be, snapshot.Options{})
	rep, err := r2.Verify(ctx, snapshot.VerifyOptions{Sample: 0.01})
	if err != nil || rep.OK || len(rep.BadSnapshots) != 1 || rep.BadSnapshots[0] != m.ID {
		t.Fatalf("verify after losing %s: %+v %v", victim, rep, err)
	}
	for _, b := range rep.Bad {
		if !errors.Is(b.Err, chunk.ErrNotFound) {
			t.Fatalf("bad chunk %s: %v, want not found", b.ID.Short(), b.Err)
		}
	}
}

// TestGCKeepsASnapshotItCouldNotRead: a collection whose read of a listed
// snapshot's manifest answers "not found" (an object store's 404 for an
// object it has: a proxy, a misrouted request) frees nothing and fails, to
// be run again: the snapshot is there, and its chunks are read back whole
// afterwards. It took the manifest for one deleted meanwhile and freed
// every chunk the snapshot alone referenced.
func TestGCKeepsASnapshotItCouldNotRead(t *testing.T) {
	ctx := context.Background()
	clk := &fakeClock{now: time.Date(2026, 11, 22, 4, 0, 0, 0, time.UTC)}
	f := blobtest.NewFaulty(mem.New(clk.Now))
	path := filepath.Join(t.TempDir(), "disk.img")
	want := writeDisk(t, path, 40*bs, extent{0, 40 * bs, 'r', 1})
	r := openRepo(t, f, snapshot.Options{Now: clk.Now, PackSize: 256 << 10})
	m, _ := captureFile(t, r, path, snapshot.CaptureOptions{})
	clk.Add(2 * time.Hour) // past the grace: nothing young
	f.SetFail(func(op blobtest.Op, key string, n int) error {
		if op == blobtest.OpGet && strings.HasPrefix(key, "snapshot/") {
			return fmt.Errorf("get %s: status 404: %w", key, blob.ErrNotExist)
		}
		return nil
	})
	st, err := r.GC(ctx, snapshot.GCOptions{Grace: time.Hour})
	if st.ChunksFreed != 0 || err == nil {
		t.Fatalf("a collection that could not read a listed snapshot's manifest: freed %d chunks, error %v; want none freed and an error", st.ChunksFreed, err)
	}
	f.SetFail(nil)
	if _, err := r.GC(ctx, snapshot.GCOptions{Grace: time.Hour}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "restored.img")
	if _, err := r.Restore(ctx, m.ID, out, snapshot.RestoreOptions{}); err != nil {
		t.Fatalf("restore after the collections: %v", err)
	}
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("restored image differs from the disk (%v)", err)
	}
}

// TestCopyToProgress: a copy to another repository reports how far into
// the disk it got after each segment, moving forward to the disk's size,
// with the bytes it moved so far (the vault transfer's progress; a backup's
// job stood still at one figure through it).
func TestCopyToProgress(t *testing.T) {
	ctx := context.Background()
	src := openRepo(t, mem.New(nil), snapshot.Options{})
	path := filepath.Join(t.TempDir(), "disk.img")
	seg := int64(snapshot.SegmentBlocks) * bs
	size := 3*seg + 5*bs // four segments, the second all zero, the last short
	want := writeDisk(t, path, size, extent{0, 2 * bs, 'r', 1}, extent{2 * seg, 3 * bs, 'r', 2}, extent{3 * seg, bs, 't', 3})
	m, _ := captureFile(t, src, path, snapshot.CaptureOptions{})
	dst := openRepo(t, mem.New(nil), snapshot.Options{})
	type report struct{ done, total, moved int64 }
	var got []report
	st, err := src.CopyToProgress(ctx, m.ID, dst, func(done, total int64, s snapshot.Stats) { got = append(got, report{done, total, s.BytesNew}) })
	if err != nil {
		t.Fatal(err)
	}
	checkRestore(t, dst, m.ID, want)
	wantReports := []report{{seg, size, 2 * bs}, {2 * seg, size, 2 * bs}, {3 * seg, size, 5 * bs}, {size, size, 6 * bs}}
	if fmt.Sprint(got) != fmt.Sprint(wantReports) || st.BytesNew != 6*bs {
		t.Fatalf("copy reports %v (moved %d), want %v (moved %d)", got, st.BytesNew, wantReports, 6*bs)
	}
	// Copied already: nothing to report.
	got = nil
	if _, err := src.CopyToProgress(ctx, m.ID, dst, func(done, total int64, s snapshot.Stats) { got = append(got, report{done, total, s.BytesNew}) }); err != nil || got != nil {
		t.Fatalf("a second copy reported %v (%v)", got, err)
	}
}
