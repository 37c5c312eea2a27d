package snapshot_test

import (
	"context"
	"errors"
	"path/filepath"
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
