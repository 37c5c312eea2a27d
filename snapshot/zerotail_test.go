package snapshot_test

import (
	"context"
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
	r, _, old, parent := capturedDisk(t, 5*bs+100)
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

// BenchmarkGrowSnapshot grows a 1 MiB snapshot to 1 GiB with zeros: with
// ZeroTail (what a snapshot resize does) and by reading the tail.
func BenchmarkGrowSnapshot(b *testing.B) {
	ctx := context.Background()
	r := openRepo(b, mem.New(nil), snapshot.Options{})
	content := make([]byte, 1<<20)
	for i := range content {
		content[i] = byte(i*7 + 1)
	}
	parent, _, err := r.Capture(ctx, &zeroTailSource{content: content, size: int64(len(content))}, snapshot.CaptureOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for _, zt := range []bool{true, false} {
		name := map[bool]string{true: "zeroTail", false: "readTail"}[zt]
		b.Run(name, func(b *testing.B) {
			b.SetBytes(1 << 30)
			for i := 0; i < b.N; i++ {
				m, _, err := r.Capture(ctx, &zeroTailSource{content: content, size: 1 << 30}, snapshot.CaptureOptions{Parent: parent.ID, Changed: []snapshot.Range{}, ZeroTail: zt})
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := r.Delete(ctx, m.ID); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}
