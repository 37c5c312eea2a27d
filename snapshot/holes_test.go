package snapshot_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/safehold/safehold/blob/mem"
	"github.com/safehold/safehold/snapshot"
)

// plainSource reads a file without telling where its data is (no
// DataRanger): every block is read, the holes as zeros.
type plainSource struct{ f *snapshot.File }

func (p plainSource) Size() int64                             { return p.f.Size() }
func (p plainSource) ReadAt(b []byte, off int64) (int, error) { return p.f.ReadAt(b, off) }

// TestHoleSegmentsSkipped: a sparse disk whose segments are wholly holes
// but for a few (data in the first, one in the middle across a segment
// boundary, a partial last segment) is captured skipping the holes'
// segments whole, and the snapshot is the one reading every block makes:
// the same segments, the same counts, and a restore bit-exact; scanned
// again against a parent that had data where there are holes now, the hole
// segments count as changed as they did.
func TestHoleSegmentsSkipped(t *testing.T) {
	const seg = snapshot.SegmentBlocks * bs
	size := int64(5*seg + 5*bs + 100) // a partial last block and segment
	dir := t.TempDir()
	path := filepath.Join(dir, "disk.img")
	want := writeDisk(t, path, size,
		extent{0, 3 * bs, 'r', 1}, extent{3*seg - bs/2, 2 * bs, 't', 2}, extent{size - 300, 300, 'r', 3})
	capture := func(r *snapshot.Repository, plain bool, opts snapshot.CaptureOptions) (*snapshot.Manifest, snapshot.Stats) {
		t.Helper()
		if !plain {
			return captureFile(t, r, path, opts)
		}
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		fs, err := snapshot.FileSource(f)
		if err != nil {
			t.Fatal(err)
		}
		defer fs.Close()
		m, st, err := r.Capture(context.Background(), plainSource{fs}, opts)
		if err != nil {
			t.Fatal(err)
		}
		return m, st
	}
	same := func(what string, a, b *snapshot.Manifest, sa, sb snapshot.Stats) {
		t.Helper()
		sa.Duration, sb.Duration, sa.BytesScanned, sb.BytesScanned = 0, 0, 0, 0 // a plain source scans the holes too
		if !slices.Equal(a.Segments, b.Segments) || sa != sb {
			t.Fatalf("%s: skipping holes %v %+v; reading every block %v %+v", what, a.Segments, sa, b.Segments, sb)
		}
	}
	holes, plain := openRepo(t, mem.New(nil), snapshot.Options{}), openRepo(t, mem.New(nil), snapshot.Options{})
	mh, sh := capture(holes, false, snapshot.CaptureOptions{})
	mp, sp := capture(plain, true, snapshot.CaptureOptions{})
	same("a full capture", mh, mp, sh, sp)
	if sh.BytesZero < 2*seg {
		t.Fatalf("zero bytes %d, want the 2 hole segments at least", sh.BytesZero)
	}
	out := filepath.Join(dir, "restored.img")
	if _, err := holes.Restore(context.Background(), mh.ID, out, snapshot.RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, err := os.ReadFile(out); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("restore differs (%v)", err)
	}

	// Against a parent with data where holes are now.
	parentDisk := filepath.Join(dir, "parent.img")
	var pexts []extent
	for i := int64(0); i < 6; i++ {
		pexts = append(pexts, extent{i*seg + 2*bs, bs, 'r', uint64(10 + i)})
	}
	writeDisk(t, parentDisk, size, pexts...)
	parentOf := func(r *snapshot.Repository) snapshot.ID {
		m, _ := captureFile(t, r, parentDisk, snapshot.CaptureOptions{})
		return m.ID
	}
	mh, sh = capture(holes, false, snapshot.CaptureOptions{Parent: parentOf(holes), Scan: true})
	mp, sp = capture(plain, true, snapshot.CaptureOptions{Parent: parentOf(plain), Scan: true})
	same("a scan against a parent", mh, mp, sh, sp)
	if sh.BytesChanged < 2*bs {
		t.Fatalf("changed bytes %d, want a block of each of the 2 hole segments at least (the parent had data there)", sh.BytesChanged)
	}
}

// BenchmarkCaptureSparse4TiB: the first full capture of a 4 TiB sparse
// disk with 4 MiB written (1 MiB at its start, at 1 GiB, at 2 TiB and at
// its end).
func BenchmarkCaptureSparse4TiB(b *testing.B) {
	path := filepath.Join(b.TempDir(), "disk.img")
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := f.Truncate(4 << 40); err != nil {
		b.Skipf("a 4 TiB sparse file: %v", err)
	}
	p := make([]byte, 1<<20)
	fill(p, 'r', 1)
	for _, off := range []int64{0, 1 << 30, 2 << 40, 4<<40 - 1<<20} {
		if _, err := f.WriteAt(p, off); err != nil {
			b.Fatal(err)
		}
	}
	f.Close()
	for b.Loop() {
		r := openRepo(b, mem.New(nil), snapshot.Options{})
		if _, st := captureFile(b, r, path, snapshot.CaptureOptions{}); st.BytesScanned != 4<<20 {
			b.Fatalf("scanned %d bytes, want the 4 MiB written", st.BytesScanned)
		}
	}
}
