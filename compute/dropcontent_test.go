package compute_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/blob/blobtest"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/snapshot"
)

// TestSnapshotOldContentOutlivesCancelledRequest: a client that goes away
// (its request's context cancelled) just as ResizeSnapshot or
// DeleteSnapshot starts deleting the content the change replaced or
// removed neither fails the committed change nor leaves that content
// behind.
func TestSnapshotOldContentOutlivesCancelledRequest(t *testing.T) {
	// cancelOnDelete, when set, is called as the repository is asked to
	// delete a snapshot manifest, before the backend deletes it.
	var mu sync.Mutex
	var cancelOnDelete context.CancelFunc
	s := newServiceOpts(t, compute.Options{WrapBlob: func(be blob.Backend) blob.Backend {
		f := blobtest.NewFaulty(be)
		f.SetFail(func(op blobtest.Op, key string, n int) error {
			mu.Lock()
			defer mu.Unlock()
			if op == blobtest.OpDelete && strings.HasPrefix(key, "snapshot/") && cancelOnDelete != nil {
				cancelOnDelete()
				cancelOnDelete = nil
			}
			return nil
		})
		return f
	}})
	ctx := context.Background()
	// request is a request context its client abandons during the first
	// manifest delete.
	request := func() context.Context {
		rctx, cancel := context.WithCancel(ctx)
		t.Cleanup(cancel)
		mu.Lock()
		cancelOnDelete = cancel
		mu.Unlock()
		return rctx
	}
	manifests := func() map[snapshot.ID]bool {
		ms, err := s.Repository().List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[snapshot.ID]bool{}
		for _, m := range ms {
			out[m.ID] = true
		}
		return out
	}
	if _, err := s.CreateDisk(ctx, compute.DiskSpec{ID: diskID("d"), Location: "westus", CreateOption: "Empty", SizeBytes: 4 << 20}); err != nil {
		t.Fatal(err)
	}
	v, _ := s.Volume(ctx, diskID("d"))
	v.WriteAt(bytes.Repeat([]byte{7}, 70000), 4096)
	sns, err := s.SnapshotDisks(ctx, []compute.SnapshotSpec{{DiskID: diskID("d"), SnapshotID: snapID("s")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	old := sns[0].EngineID

	sn, err := s.ResizeSnapshot(request(), snapID("s"), 8<<20)
	if err != nil {
		t.Fatalf("resize with the client gone during the cleanup: %v", err)
	}
	if sn.Properties.DiskSizeBytes != 8<<20 {
		t.Fatalf("resized snapshot: %+v", sn.Properties)
	}
	got, err := s.Snapshot(ctx, snapID("s"))
	if err != nil || got.EngineID == old {
		t.Fatalf("snapshot after resize: %v %+v", err, got)
	}
	if ms := manifests(); ms[old] || !ms[got.EngineID] || len(ms) != 1 {
		t.Fatalf("manifests after resize: %v (old %s, new %s)", ms, old, got.EngineID)
	}

	if err := s.DeleteSnapshot(request(), snapID("s")); err != nil {
		t.Fatalf("delete with the client gone during the cleanup: %v", err)
	}
	if ms := manifests(); len(ms) != 0 {
		t.Fatalf("manifests after delete: %v", ms)
	}
}
