package snapshot_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/blob/mem"
	"github.com/safehold/safehold/chunk"
	"github.com/safehold/safehold/snapshot"
)

func packKeys(t *testing.T, be blob.Backend) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	be.List(context.Background(), "pack/", func(in blob.Info) error { out[in.Key] = in.Size; return nil })
	return out
}

// TestVerifyNamesTruncatedAndDeletedPacks: a pack cut short and a pack
// deleted behind the repository's back are named, with what happened to
// them, for each chunk a snapshot misses, both by the running repository
// and by one reopened on the same cache (not just "chunk not found"); and
// a verify that reads no data finds them too.
func TestVerifyNamesTruncatedAndDeletedPacks(t *testing.T) {
	ctx := context.Background()
	be := mem.New(nil)
	cache := t.TempDir()
	r, err := snapshot.Open(ctx, be, cache, snapshot.Options{PackSize: 128 << 10})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	writeDisk(t, filepath.Join(dir, "a.img"), 32*bs, extent{0, 32 * bs, 'r', 1})
	writeDisk(t, filepath.Join(dir, "b.img"), 32*bs, extent{0, 32 * bs, 'r', 2})
	m1, _ := captureFile(t, r, filepath.Join(dir, "a.img"), snapshot.CaptureOptions{})
	before := packKeys(t, be)
	m2, _ := captureFile(t, r, filepath.Join(dir, "b.img"), snapshot.CaptureOptions{})
	// Truncate the first capture's largest pack, one of its data: packs
	// are padded to whole pages, so cutting a small one (a segment's) in
	// half may cut only padding, which no check reads.
	var truncated, deleted string
	largest := 0
	for k := range before {
		b, err := be.Get(ctx, k, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > largest {
			truncated, largest = k, len(b)
		}
	}
	for k := range packKeys(t, be) {
		if _, ok := before[k]; !ok {
			deleted = k
		}
	}
	if truncated == "" || deleted == "" {
		t.Fatal("test setup: no packs")
	}
	if rep, err := r.Verify(ctx, snapshot.VerifyOptions{}); err != nil || !rep.OK {
		t.Fatalf("intact: %+v %v", rep, err)
	}
	data, err := be.Get(ctx, truncated, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	be.Delete(ctx, truncated)
	if err := be.Put(ctx, truncated, data[:len(data)/2]); err != nil {
		t.Fatal(err)
	}
	be.Delete(ctx, deleted)

	check := func(name string, rep snapshot.VerifyReport) {
		t.Helper()
		if rep.OK || len(rep.BadSnapshots) != 2 {
			t.Fatalf("%s: bad snapshots %v, want %s and %s", name, rep.BadSnapshots, m1.ID, m2.ID)
		}
		named := map[string]bool{}
		for _, b := range rep.Bad {
			if b.Pack == "" {
				t.Errorf("%s: chunk %s reported without its pack: %v", name, b.ID.Short(), b.Err)
				continue
			}
			named[b.Pack] = true
			if !errors.Is(b.Err, chunk.ErrCorrupt) {
				t.Errorf("%s: %s: %v", name, b.Pack, b.Err)
			}
			if b.Pack == deleted && !strings.Contains(b.Err.Error(), "deleted") && !strings.Contains(b.Err.Error(), "missing") {
				t.Errorf("%s: deleted pack reported as %v", name, b.Err)
			}
			if b.Pack == truncated && !strings.Contains(b.Err.Error(), "truncated") && !strings.Contains(b.Err.Error(), "unreadable") && !strings.Contains(b.Err.Error(), "outside") {
				t.Errorf("%s: truncated pack reported as %v", name, b.Err)
			}
		}
		if !named[truncated] || !named[deleted] || len(named) != 2 {
			t.Errorf("%s: packs named %v, want %s and %s", name, named, truncated, deleted)
		}
	}
	for _, opts := range []snapshot.VerifyOptions{{}, {NoData: true}, {Sample: 0.01}} {
		rep, err := r.Verify(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		check("running", rep)
	}
	r.Close()
	r2, err := snapshot.Open(ctx, be, cache, snapshot.Options{PackSize: 128 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	for _, opts := range []snapshot.VerifyOptions{{}, {NoData: true}} {
		rep, err := r2.Verify(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		check("reopened", rep)
	}
}

// TestVerifyNamesADamagedManifest: a snapshot whose manifest object is
// damaged (cut short, a byte flipped) is reported as a snapshot that
// cannot be restored, named by its object, and the other snapshots are
// still checked; Usage counts it damaged. Before, Verify and Usage
// stopped at the first unreadable manifest with an error, so a verify
// named nothing and the storage figures were a 500 (hostile29).
func TestVerifyNamesADamagedManifest(t *testing.T) {
	ctx := context.Background()
	be := mem.New(nil)
	r, err := snapshot.Open(ctx, be, t.TempDir(), snapshot.Options{PackSize: 128 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	dir := t.TempDir()
	writeDisk(t, filepath.Join(dir, "a.img"), 32*bs, extent{0, 32 * bs, 'r', 1})
	writeDisk(t, filepath.Join(dir, "b.img"), 32*bs, extent{0, 32 * bs, 'r', 2})
	writeDisk(t, filepath.Join(dir, "c.img"), 32*bs, extent{0, 32 * bs, 'r', 3})
	m1, _ := captureFile(t, r, filepath.Join(dir, "a.img"), snapshot.CaptureOptions{})
	m2, _ := captureFile(t, r, filepath.Join(dir, "b.img"), snapshot.CaptureOptions{})
	m3, _ := captureFile(t, r, filepath.Join(dir, "c.img"), snapshot.CaptureOptions{})
	key := func(m *snapshot.Manifest) string { return "snapshot/" + string(m.ID) }
	for _, m := range []*snapshot.Manifest{m1, m2, m3} {
		if _, err := be.Get(ctx, key(m), 0, -1); err != nil {
			t.Fatalf("test setup: manifest object %s: %v", key(m), err)
		}
	}
	damage := map[string]func([]byte) []byte{
		key(m1): func(b []byte) []byte { return b[:len(b)/2] },                                // cut short
		key(m3): func(b []byte) []byte { c := bytes.Clone(b); c[len(c)/2] ^= 0xff; return c }, // a flipped byte
	}
	for k, f := range damage {
		b, err := be.Get(ctx, k, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		be.Delete(ctx, k)
		if err := be.Put(ctx, k, f(b)); err != nil {
			t.Fatal(err)
		}
	}
	for _, opts := range []snapshot.VerifyOptions{{}, {NoData: true}, {Sample: 0.01}} {
		rep, err := r.Verify(ctx, opts)
		if err != nil {
			t.Fatalf("verify %+v: %v", opts, err)
		}
		if rep.OK || rep.Snapshots != 3 || !slices.Equal(rep.BadSnapshots, []snapshot.ID{m1.ID, m3.ID}) {
			t.Fatalf("verify %+v: ok %v, %d snapshots, bad %v; want %s and %s of 3", opts, rep.OK, rep.Snapshots, rep.BadSnapshots, m1.ID, m3.ID)
		}
		named := map[string]bool{}
		for _, b := range rep.Bad {
			named[b.Pack] = true
			if !errors.Is(b.Err, chunk.ErrCorrupt) || len(b.Snapshots) != 1 || key(&snapshot.Manifest{ID: b.Snapshots[0]}) != b.Pack {
				t.Errorf("verify %+v: %s: %v, snapshots %v", opts, b.Pack, b.Err, b.Snapshots)
			}
		}
		if len(named) != 2 || !named[key(m1)] || !named[key(m3)] {
			t.Errorf("verify %+v: objects named %v, want the two manifests", opts, named)
		}
	}
	u, err := r.Usage(ctx)
	if err != nil {
		t.Fatalf("usage: %v", err)
	}
	if u.Snapshots != 3 || u.Damaged != 2 || u.LogicalBytes != m2.Size {
		t.Errorf("usage %+v: want 3 snapshots, 2 damaged, %d logical bytes", u, m2.Size)
	}
	// The intact snapshot still restores.
	if _, err := r.Get(ctx, m2.ID); err != nil {
		t.Fatal(err)
	}
}

// TestGCWithADamagedManifestDeletesNothingAndSaysWhy: a collection in a
// repository where one snapshot's manifest is damaged (cut short) ends
// without an error, names the snapshot in GCStats.Damaged and deletes
// nothing: not the garbage of a deleted snapshot, which the damaged one
// may share (which chunks it names cannot be read from it). The manifest
// put back (the object restored from the store's versions) restores
// bit-exact; once the damaged point is deleted, the next collection frees
// the garbage. Before, every collection failed ("checksum mismatch" or
// "decode manifest"), retried in vain.
func TestGCWithADamagedManifestDeletesNothingAndSaysWhy(t *testing.T) {
	ctx := context.Background()
	be := mem.New(nil)
	r := openRepo(t, be, snapshot.Options{PackSize: 128 << 10})
	dir := t.TempDir()
	wantA := writeDisk(t, filepath.Join(dir, "a.img"), 32*bs, extent{0, 32 * bs, 'r', 1})
	writeDisk(t, filepath.Join(dir, "b.img"), 32*bs, extent{0, 32 * bs, 'r', 2})
	wantC := writeDisk(t, filepath.Join(dir, "c.img"), 32*bs, extent{0, 32 * bs, 'r', 3})
	ma, _ := captureFile(t, r, filepath.Join(dir, "a.img"), snapshot.CaptureOptions{})
	mb, _ := captureFile(t, r, filepath.Join(dir, "b.img"), snapshot.CaptureOptions{})
	mc, _ := captureFile(t, r, filepath.Join(dir, "c.img"), snapshot.CaptureOptions{})
	if err := r.Delete(ctx, mb.ID); err != nil { // its chunks are garbage now
		t.Fatal(err)
	}
	key := "snapshot/" + string(ma.ID)
	whole, err := be.Get(ctx, key, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	be.Delete(ctx, key)
	if err := be.Put(ctx, key, whole[:len(whole)/2]); err != nil {
		t.Fatal(err)
	}
	chunks, bytes := r.Size()
	for range 2 { // every run: no error, nothing deleted
		st, err := r.GC(ctx, snapshot.GCOptions{})
		if err != nil {
			t.Fatalf("gc with a damaged manifest: %v", err)
		}
		if len(st.Damaged) != 1 || !errors.Is(st.Damaged[ma.ID], chunk.ErrCorrupt) || st.Snapshots != 1 || st.ChunksFreed != 0 || st.PacksDeleted+st.PacksRepacked != 0 {
			t.Fatalf("gc with %s damaged: %+v; want it named and nothing freed", ma.ID, st)
		}
		if n, b := r.Size(); n != chunks || b != bytes {
			t.Fatalf("gc with a damaged manifest: %d chunks, %d bytes; were %d, %d", n, b, chunks, bytes)
		}
	}
	checkRestore(t, r, mc.ID, wantC)
	be.Delete(ctx, key)
	if err := be.Put(ctx, key, whole); err != nil { // the object restored
		t.Fatal(err)
	}
	checkRestore(t, r, ma.ID, wantA)
	if err := be.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if err := be.Put(ctx, key, whole[:len(whole)/2]); err != nil {
		t.Fatal(err)
	}
	if err := r.Delete(ctx, ma.ID); err != nil { // the damaged point deleted
		t.Fatal(err)
	}
	st, err := r.GC(ctx, snapshot.GCOptions{})
	if err != nil || len(st.Damaged) != 0 || st.ChunksFreed == 0 {
		t.Fatalf("gc once the damaged point is deleted: %+v, %v; want the garbage freed", st, err)
	}
	checkRestore(t, r, mc.ID, wantC)
	assertExactlyLive(t, r)
}
