package compute_test

import (
	"math/rand/v2"
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
)

// TestSnapshotResize: diskSizeGB in a snapshot update (PATCH, or a PUT on
// the existing snapshot) grows the snapshot, as Azure's Snapshot_Update
// example does; it never shrinks (400). The grown snapshot reads as the
// old content followed by zeros through a SAS, and a disk created from it
// has the new size.
func TestSnapshotResize(t *testing.T) {
	e, _ := start(t)
	e.emptyDisk("d1", 1)
	m := newModel(t, gib)
	pc := e.pageClient(e.grantDisk("d1", armcompute.AccessLevelWrite))
	rng := rand.New(rand.NewPCG(3, 4))
	for _, off := range []int64{0, gib - 1<<20} {
		p := make([]byte, 1<<20)
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		if err := uploadPages(t, pc, off, p); err != nil {
			t.Fatal(err)
		}
		m.write(p, off)
	}
	e.revokeDisk("d1")
	e.snapshot("s1", "d1", true)

	up, err := e.snaps.BeginUpdate(e.Ctx(), e.rg, "s1", armcompute.SnapshotUpdate{Properties: &armcompute.SnapshotUpdateProperties{DiskSizeGB: to.Ptr[int32](2)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := up.PollUntilDone(e.Ctx(), poll)
	if err != nil || *res.Properties.DiskSizeGB != 2 || *res.Properties.DiskSizeBytes != 2*gib {
		t.Fatalf("grow to 2 GB: %v %+v", err, res.Properties)
	}
	if g, err := e.snaps.Get(e.Ctx(), e.rg, "s1", nil); err != nil || *g.Properties.DiskSizeGB != 2 {
		t.Fatalf("get after the resize: %v", err)
	}
	// Shrinking is refused, by PATCH and by PUT.
	if _, err := e.snaps.BeginUpdate(e.Ctx(), e.rg, "s1", armcompute.SnapshotUpdate{Properties: &armcompute.SnapshotUpdateProperties{DiskSizeGB: to.Ptr[int32](1)}}, nil); err == nil {
		t.Fatal("shrink by PATCH accepted")
	} else if st, _ := armCode(err); st != http.StatusBadRequest {
		t.Fatalf("shrink by PATCH: %v", err)
	}
	put := func(gb int32) (armcompute.Snapshot, error) {
		p, err := e.snaps.BeginCreateOrUpdate(e.Ctx(), e.rg, "s1", armcompute.Snapshot{Location: to.Ptr("westus"), Properties: &armcompute.SnapshotProperties{
			CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: to.Ptr(e.diskID("d1"))}, DiskSizeGB: to.Ptr(gb)}}, nil)
		if err != nil {
			return armcompute.Snapshot{}, err
		}
		r, err := p.PollUntilDone(e.Ctx(), poll)
		return r.Snapshot, err
	}
	if _, err := put(1); err == nil {
		t.Fatal("shrink by PUT accepted")
	} else if st, _ := armCode(err); st != http.StatusBadRequest {
		t.Fatalf("shrink by PUT: %v", err)
	}
	if s, err := put(3); err != nil || *s.Properties.DiskSizeGB != 3 {
		t.Fatalf("grow to 3 GB by PUT: %v", err)
	}

	// The content: the old bytes, then zeros.
	m3 := newModel(t, 3*gib)
	buf := make([]byte, gib)
	m.f.ReadAt(buf, 0)
	m3.write(buf, 0)
	compareSAS(t, e, e.grantSnapshot("s1"), m3)
	d := e.diskFromSnapshot("d2", "s1")
	if *d.Properties.DiskSizeGB != 3 {
		t.Fatalf("disk from the grown snapshot: %d GB", *d.Properties.DiskSizeGB)
	}
}
