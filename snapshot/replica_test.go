package snapshot_test

import (
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/safehold/safehold/snapshot"
)

// Two repositories on one backend, each with its own cache directory, stand
// for two replicas: a capture on one deduplicates against what the other
// stored once its view of the bucket is older than a minute, and each
// restores the other's snapshots.
func TestReplicasDeduplicateAgainstEachOther(t *testing.T) {
	be := mustLocal(t)
	var mu sync.Mutex
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	a := openRepo(t, be, snapshot.Options{Now: clock})
	b := openRepo(t, be, snapshot.Options{Now: clock})
	path := filepath.Join(t.TempDir(), "disk.img")
	want := writeDisk(t, path, 6<<20, extent{0, 3 << 20, 'r', 21}, extent{4 << 20, 2 << 20, 't', 22})
	ma, sta := captureFile(t, a, path, snapshot.CaptureOptions{})
	if sta.BytesNew == 0 {
		t.Fatalf("first capture stored nothing: %+v", sta)
	}
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	mb, stb := captureFile(t, b, path, snapshot.CaptureOptions{})
	if stb.BytesNew != 0 || stb.BytesStored != 0 {
		t.Fatalf("second replica stored the other's blocks again: %+v", stb)
	}
	checkRestore(t, b, ma.ID, want)
	checkRestore(t, a, mb.ID, want)
	// A snapshot the other replica took seconds ago restores too: a chunk
	// the index does not know makes it list the packs again.
	path2 := filepath.Join(t.TempDir(), "disk2.img")
	want2 := writeDisk(t, path2, 2<<20, extent{0, 2 << 20, 'r', 23})
	m2, _ := captureFile(t, a, path2, snapshot.CaptureOptions{})
	mu.Lock()
	now = now.Add(10 * time.Second)
	mu.Unlock()
	checkRestore(t, b, m2.ID, want2)
}
