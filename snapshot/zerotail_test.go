package snapshot_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/safehold/safehold/blob/mem"
	"github.com/safehold/safehold/snapshot"
)

// zeroTailSource is content followed by zeros up to size, counting the
// bytes read.
type zeroTailSource struct {
	content []byte
	size    int64
	read    atomic.Int64
}

func (z *zeroTailSource) Size() int64 { return z.size }
func (z *zeroTailSource) ReadAt(p []byte, off int64) (int, error) {
	z.read.Add(int64(len(p)))
	clear(p)
	if off < int64(len(z.content)) {
		copy(p, z.content[off:])
	}
	return len(p), nil
}

// A snapshot grown with zeros (ZeroTail, nothing changed) reads only the
// parent's partial last block: the grown tail is recorded as zero without
// being read. The grown snapshot restores to the old bytes followed by
// zeros; without ZeroTail the same capture reads the whole tail.
func TestGrowZeroTailReadsOnlyTheLastPartialBlock(t *testing.T) {
	ctx := context.Background()
	r := openRepo(t, mem.New(nil), snapshot.Options{})
	path := filepath.Join(t.TempDir(), "disk.img")
	old := writeDisk(t, path, 5*bs+100, extent{0, 5*bs + 100, 'r', 1})
	parent, _ := captureFile(t, r, path, snapshot.CaptureOptions{})
	const grown = 3000 * bs // past the first segment: whole segments of zeros
	want := append(append([]byte(nil), old...), make([]byte, grown-len(old))...)

	src := &zeroTailSource{content: old, size: grown}
	m, st, err := r.Capture(ctx, src, snapshot.CaptureOptions{Parent: parent.ID, Changed: []snapshot.Range{}, ZeroTail: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := src.read.Load(); n != bs || st.BytesScanned != bs {
		t.Fatalf("grown capture read %d bytes (scanned %d), want only the partial last block (%d)", n, st.BytesScanned, bs)
	}
	if m.Size != grown {
		t.Fatalf("size %d, want %d", m.Size, grown)
	}
	checkRestore(t, r, m.ID, want)

	full := &zeroTailSource{content: old, size: grown}
	m2, st2, err := r.Capture(ctx, full, snapshot.CaptureOptions{Parent: parent.ID, Changed: []snapshot.Range{}})
	if err != nil {
		t.Fatal(err)
	}
	if st2.BytesScanned != grown-5*bs {
		t.Fatalf("without ZeroTail scanned %d, want the tail from the partial block on (%d)", st2.BytesScanned, grown-5*bs)
	}
	checkRestore(t, r, m2.ID, want)
}
