package compute_test

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/safehold/safehold/compute"
)

// TestSnapshotProgressCountsChangedBytes: the bytes a capture reports
// while it runs (a backup's bytesTransferred) are the bytes changed found
// so far, never more than the snapshot's BytesChanged at its end, which
// they reach. Before, the only figure was the scan's position over the
// whole disk: 64 MiB reported where 1 MiB had changed (a 200 MiB change
// showed 588 MB during a backup, corrected at its end).
func TestSnapshotProgressCountsChangedBytes(t *testing.T) {
	s := newService(t)
	ctx := context.Background()
	const size = 64 << 20
	if _, err := s.CreateDisk(ctx, compute.DiskSpec{ID: diskID("p"), Location: "westus", CreateOption: "Empty", SizeBytes: size}); err != nil {
		t.Fatal(err)
	}
	v, _ := s.Volume(ctx, diskID("p"))
	for i, at := range []int64{3 << 20, 40 << 20} {
		if _, err := v.WriteAt(bytes.Repeat([]byte{byte(i + 1)}, 1<<20), at); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var reports [][3]int64
		sns, err := s.SnapshotDisks(ctx, []compute.SnapshotSpec{{DiskID: diskID("p"), SnapshotID: snapID("p" + string(rune('0'+i))), Incremental: true}},
			func(done, total, changed int64) {
				mu.Lock()
				reports = append(reports, [3]int64{done, total, changed})
				mu.Unlock()
			})
		if err != nil {
			t.Fatal(err)
		}
		want := sns[0].Stats.BytesChanged
		if want != 1<<20 || len(reports) == 0 {
			t.Fatalf("snapshot %d: %d bytes changed (want 1 MiB), %d reports", i, want, len(reports))
		}
		for _, r := range reports {
			if r[2] > want || r[1] != size || r[0] > size {
				t.Fatalf("snapshot %d: reported %v (done, total, changed) of a capture that changed %d bytes", i, r, want)
			}
		}
		if last := reports[len(reports)-1]; last != [3]int64{size, size, want} {
			t.Fatalf("snapshot %d: the last report %v, want [%d %d %d]", i, last, size, size, want)
		}
	}
}
