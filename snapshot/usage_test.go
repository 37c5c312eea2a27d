package snapshot_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/blob/blobtest"
	"github.com/safehold/safehold/blob/mem"
	"github.com/safehold/safehold/snapshot"
)

// A replica's usage follows what another replica's collection freed in the
// shared bucket (its view of the packs is listed again when over a minute
// old, as a capture's is): a replica that captured nothing since kept
// answering the freed bytes as stored for ever, so `safehold status`, the
// dashboard and /metrics said 1.4 GB or 6 MB depending on the replica.
func TestUsageFollowsAnotherReplicasCollection(t *testing.T) {
	ctx := context.Background()
	clk := &fakeClock{now: time.Date(2026, 12, 4, 22, 0, 0, 0, time.UTC)}
	be := mem.New(clk.Now)
	path := filepath.Join(t.TempDir(), "disk.img")
	writeDisk(t, path, 40*bs, extent{0, 40 * bs, 'r', 1})
	r1 := openRepo(t, be, snapshot.Options{Now: clk.Now})
	m, _ := captureFile(t, r1, path, snapshot.CaptureOptions{})
	r2 := openRepo(t, be, snapshot.Options{Now: clk.Now})
	if u, err := r2.Usage(ctx); err != nil || u.Snapshots != 1 || u.StoredBytes == 0 {
		t.Fatalf("the other replica's usage after the capture: %+v %v", u, err)
	}
	if err := r1.Delete(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	clk.Add(2 * time.Minute)
	if st, err := r1.GC(ctx, snapshot.GCOptions{}); err != nil || st.PacksDeleted == 0 {
		t.Fatalf("gc: %+v %v", st, err)
	}
	if u, err := r2.Usage(ctx); err != nil || u.Snapshots != 0 || u.StoredBytes != 0 || u.Chunks != 0 {
		t.Fatalf("the other replica's usage after the collection: %+v %v", u, err)
	}
}

// Usage reads arriving together once a replica's view is stale (status,
// /metrics and the dashboard's refresh) list the bucket once: the others
// wait for the listing in flight. Before, each listed the whole bucket.
func TestConcurrentUsageListsOnce(t *testing.T) {
	ctx := context.Background()
	clk, be, r, path := countedRepo(t)
	captureFile(t, r, path, snapshot.CaptureOptions{})
	clk.Add(2 * time.Minute)
	before := be.count(blobtest.OpList, "pack/")
	reached, release := be.pauseOn(blobtest.OpList, "pack/")
	defer release()
	const n = 8
	errs := make(chan error, n)
	for range n {
		go func() {
			u, err := r.Usage(ctx)
			if err == nil && (u.Snapshots != 1 || u.StoredBytes == 0) {
				err = fmt.Errorf("usage %+v", u)
			}
			errs <- err
		}()
	}
	<-reached
	// Give the others time to list too, as they did before; they wait.
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline) && be.count(blobtest.OpList, "pack/")-before == 1; {
		time.Sleep(10 * time.Millisecond)
	}
	release()
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := be.count(blobtest.OpList, "pack/") - before; got != 1 {
		t.Fatalf("%d concurrent usage reads listed the packs %d times, want once", n, got)
	}
}

// A repository whose snapshot cannot be read whole (its packs lost) is
// measured still: the snapshot counts as damaged, not as an error. Before,
// the usage failed with the chunk's 'chunk not found', and the server's
// usage (safehold status, the dashboard, /metrics) answered 500
// InternalServerError once a restart had read the index from the packs.
func TestUsageOfADamagedRepository(t *testing.T) {
	ctx := context.Background()
	be := mem.New(nil)
	path := filepath.Join(t.TempDir(), "disk.img")
	writeDisk(t, path, 8*bs, extent{0, 8 * bs, 'r', 1})
	captureFile(t, openRepo(t, be, snapshot.Options{}), path, snapshot.CaptureOptions{})
	var packs []string
	be.List(ctx, "pack/", func(in blob.Info) error { packs = append(packs, in.Key); return nil })
	for _, k := range packs {
		if err := be.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	u, err := openRepo(t, be, snapshot.Options{}).Usage(ctx)
	if err != nil || u.Snapshots != 1 || u.Damaged != 1 || u.LogicalBytes != 0 {
		t.Fatalf("usage with the snapshot's %d packs lost: %+v, %v; want 1 snapshot, damaged", len(packs), u, err)
	}
}

// Usage reads a snapshot's manifest once (to measure it) and then only
// lists the snapshots' names: each read got every manifest (a GET from the
// object store with --blob) to sum sizes it had already measured, so
// /metrics, `safehold status` and the dashboard's refresh each read a
// thousand manifests at a thousand snapshots (hourly backups of 36 disks
// kept a day: /metrics took 4-7 s at load 20). A snapshot deleted leaves
// the count, and its remembered size is forgotten.
func TestUsageReadsEachManifestOnce(t *testing.T) {
	ctx := context.Background()
	_, be, r, path := countedRepo(t)
	var ids []snapshot.ID
	for range 3 {
		m, _ := captureFile(t, r, path, snapshot.CaptureOptions{})
		ids = append(ids, m.ID)
	}
	usage := func(wantSnaps int, wantGets int) snapshot.Usage {
		t.Helper()
		before := be.count(blobtest.OpGet, "snapshot/")
		u, err := r.Usage(ctx)
		if err != nil || u.Snapshots != wantSnaps || u.LogicalBytes != int64(wantSnaps)*8*bs {
			t.Fatalf("usage: %+v %v; want %d snapshots of %d bytes", u, err, wantSnaps, 8*bs)
		}
		if got := be.count(blobtest.OpGet, "snapshot/") - before; got != wantGets {
			t.Fatalf("usage read %d manifests, want %d", got, wantGets)
		}
		return u
	}
	usage(3, 3)
	usage(3, 0)
	m, _ := captureFile(t, r, path, snapshot.CaptureOptions{})
	usage(4, 1) // the new one only
	if err := r.Delete(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	usage(3, 0)
	if err := r.Delete(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	usage(2, 0)
}

// countedRepo is a repository on a counting (and pausable) memory backend,
// on a fake clock, and an image of 8 blocks of data to capture.
func countedRepo(t *testing.T) (*fakeClock, *pausing, *snapshot.Repository, string) {
	clk := &fakeClock{now: time.Date(2026, 12, 4, 22, 0, 0, 0, time.UTC)}
	be := newPausing(mem.New(clk.Now))
	path := filepath.Join(t.TempDir(), "disk.img")
	writeDisk(t, path, 8*bs, extent{0, 8 * bs, 'r', 1})
	return clk, be, openRepo(t, be, snapshot.Options{Now: clk.Now}), path
}
