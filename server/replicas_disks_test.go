package server_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/lease"
	"github.com/safehold/safehold/store"
)

// TestUploadEndedThroughAnotherReplica: two replicas on one PostgreSQL
// store. A VHD uploaded to a new disk (its bytes on the leader, which
// makes new disks) and ended (endGetAccess) through the other replica
// leaves the disk its data: 20 MiB, the 512-byte footer dropped, as when
// the owner serves the revoke. The other replica revoked the grants
// without touching the bytes it does not hold: the disk stayed 20 MiB +
// 512 bytes with the footer in its last sector, its writes not flushed.
func TestUploadEndedThroughAnotherReplica(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	a := testserver.Start(t, testserver.WithStore(url))
	b := testserver.Start(t, testserver.WithStore(url))
	a.ResourceGroups("rg")
	owner, other := leaderOf(a, b)
	ctx := owner.Ctx()
	const size = 20 << 20
	dc := testserver.Factory(owner, armcompute.NewClientFactory).NewDisksClient()
	if _, err := fixture.Wait(dc.BeginCreateOrUpdate(ctx, "rg", "up", armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionUpload), UploadSizeBytes: to.Ptr[int64](size + 512)}}}, nil)); err != nil {
		t.Fatal(err)
	}
	vhd := make([]byte, size+512)
	rand.Read(vhd[:1<<20])
	rand.Read(vhd[size-1<<20 : size])
	footer := vhd[size:]
	copy(footer, "conectix")
	footer[63] = 2 // a fixed VHD's footer
	pc, _ := fixture.DiskAccess(t, owner, "rg", "up", armcompute.AccessLevelWrite)
	for off := 0; off < len(vhd); off += 4 << 20 {
		if err := fixture.WritePages(pc, int64(off), vhd[off:min(len(vhd), off+4<<20)]); err != nil {
			t.Fatalf("upload at %d: %v", off, err)
		}
	}
	// The upload ends through the replica that does not hold the disk.
	odc := testserver.Factory(other, armcompute.NewClientFactory).NewDisksClient()
	if _, err := fixture.Wait(odc.BeginRevokeAccess(other.Ctx(), "rg", "up", nil)); err != nil {
		t.Fatalf("endGetAccess through the other replica: %v", err)
	}
	for _, e := range []*testserver.Env{owner, other} {
		d, err := testserver.Factory(e, armcompute.NewClientFactory).NewDisksClient().Get(e.Ctx(), "rg", "up", nil)
		if err != nil {
			t.Fatal(err)
		}
		if *d.Properties.DiskState != armcompute.DiskStateUnattached || *d.Properties.DiskSizeBytes != size {
			t.Fatalf("the disk after its upload ended through the other replica: %s, %d bytes, want Unattached, %d (the VHD without its footer)",
				*d.Properties.DiskState, *d.Properties.DiskSizeBytes, size)
		}
	}
	// Its bytes, read through the other replica: the VHD's data, no footer.
	rc, done := fixture.DiskAccess(t, other, "rg", "up", armcompute.AccessLevelRead)
	props, err := rc.GetProperties(other.Ctx(), nil)
	if err != nil || *props.ContentLength != size {
		t.Fatalf("the disk's length through its SAS: %v, want %d", err, size)
	}
	if got := fixture.ReadPages(t, rc, 0, size); !bytes.Equal(got, vhd[:size]) {
		t.Fatal("the disk's bytes are not the uploaded VHD's data")
	}
	done()

	// With the owner stopped, an upload through it cannot end:
	// DiskOwnerUnavailable naming it (503 while its lease runs, 409 once
	// lapsed; the grant stays), and it ends once the owner is back.
	if _, err := fixture.Wait(dc.BeginCreateOrUpdate(ctx, "rg", "up2", armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionUpload), UploadSizeBytes: to.Ptr[int64](size + 512)}}}, nil)); err != nil {
		t.Fatal(err)
	}
	pc, _ = fixture.DiskAccess(t, owner, "rg", "up2", armcompute.AccessLevelWrite)
	if err := fixture.WritePages(pc, size, footer); err != nil {
		t.Fatal(err)
	}
	owner.Stop()
	_, err = fixture.Wait(odc.BeginRevokeAccess(other.Ctx(), "rg", "up2", nil))
	if st, code := testserver.ErrorOf(err); (st != 503 && st != 409) || code != "DiskOwnerUnavailable" || !strings.Contains(err.Error(), owner.Server.NodeID) {
		t.Fatalf("endGetAccess with the disk's owner stopped: %v, want 503 (its lease not yet lapsed) or 409 DiskOwnerUnavailable naming %s", err, owner.Server.NodeID)
	}
	owner.Restart()
	if _, err := fixture.Wait(odc.BeginRevokeAccess(other.Ctx(), "rg", "up2", nil)); err != nil {
		t.Fatalf("endGetAccess once the owner is back: %v", err)
	}
	d, err := odc.Get(other.Ctx(), "rg", "up2", nil)
	if err != nil || *d.Properties.DiskState != armcompute.DiskStateUnattached || *d.Properties.DiskSizeBytes != size {
		t.Fatalf("the second disk after its upload ended: %v (%+v)", err, d.Properties)
	}
}

// leaderOf waits for one of the replicas a and b (on one store) to lead,
// and returns it and the other.
func leaderOf(a, b *testserver.Env) (leader, other *testserver.Env) {
	a.WaitFor("a leader", func() bool {
		if _, ok := a.Server.Leader.Leading(); ok {
			leader, other = a, b
		} else if _, ok := b.Server.Leader.Leading(); ok {
			leader, other = b, a
		}
		return leader != nil
	})
	return leader, other
}

// TestDiskDeletedThroughAnotherReplicaLeavesNoVolume: two replicas on one
// PostgreSQL store. A disk made (on the leader, which holds its bytes) and
// written through the leader, then deleted through the other replica,
// leaves no volume in the leader's data dir, nor its lease row, while
// the leader runs. Before, the volume stayed (its lease renewed) until the
// leader restarted: a disk deleted, or a reset, through another replica
// left its bytes on the owner's disk (replica30: 575 MiB of deleted disks
// on one replica after a reset through another).
func TestDiskDeletedThroughAnotherReplicaLeavesNoVolume(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	a := testserver.Start(t, testserver.WithStore(url))
	b := testserver.Start(t, testserver.WithStore(url))
	a.ResourceGroups("rg")
	owner, other := leaderOf(a, b)
	ctx := owner.Ctx()
	dc := testserver.Factory(owner, armcompute.NewClientFactory).NewDisksClient()
	d, err := fixture.Wait(dc.BeginCreateOrUpdate(ctx, "rg", "gone", armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionEmpty)}, DiskSizeGB: to.Ptr[int32](1)}}, nil))
	if err != nil {
		t.Fatal(err)
	}
	pc, done := fixture.DiskAccess(t, owner, "rg", "gone", armcompute.AccessLevelWrite)
	data := make([]byte, 1<<20)
	rand.Read(data)
	if err := fixture.WritePages(pc, 0, data); err != nil {
		t.Fatal(err)
	}
	done()
	vol := filepath.Join(owner.Server.Compute.Volumes().Dir(), *d.Properties.UniqueID+".raw")
	if _, err := os.Stat(vol); err != nil {
		t.Fatalf("the disk's volume on the replica holding it: %v", err)
	}
	odc := testserver.Factory(other, armcompute.NewClientFactory).NewDisksClient()
	if _, err := fixture.Wait(odc.BeginDelete(other.Ctx(), "rg", "gone", nil)); err != nil {
		t.Fatalf("delete the disk through the other replica: %v", err)
	}
	owner.WaitFor("the deleted disk's volume to leave the replica that held it", func() bool {
		_, err := os.Stat(vol)
		return errors.Is(err, fs.ErrNotExist)
	})
	owner.WaitFor("the deleted disk's lease row to go", func() bool {
		_, err := owner.Server.Store.Get(ctx, lease.Kind, "disk:"+strings.ToLower(*d.Properties.UniqueID))
		return errors.Is(err, store.ErrNotFound)
	})
}

// TestDiskDeletedWhileItsOwnerIsStoppedLeavesNoMark: two replicas on one
// PostgreSQL store. A disk deleted through the other replica while the
// replica holding its bytes is stopped leaves a removed mark for it; the
// owner's start removes the volume (no disk uses it) and the mark with it,
// and no lease row of the disk stays. Before, the start's sweep removed the
// volume and left the mark (and a lease row of its own, had a creation
// been interrupted) for ever: the renewals only look at volumes still there.
func TestDiskDeletedWhileItsOwnerIsStoppedLeavesNoMark(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	a := testserver.Start(t, testserver.WithStore(url))
	b := testserver.Start(t, testserver.WithStore(url))
	a.ResourceGroups("rg")
	owner, other := leaderOf(a, b)
	ctx := other.Ctx()
	dc := testserver.Factory(owner, armcompute.NewClientFactory).NewDisksClient()
	d, err := fixture.Wait(dc.BeginCreateOrUpdate(owner.Ctx(), "rg", "gone", armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionEmpty)}, DiskSizeGB: to.Ptr[int32](1)}}, nil))
	if err != nil {
		t.Fatal(err)
	}
	uid := strings.ToLower(*d.Properties.UniqueID)
	vol := filepath.Join(owner.Server.Compute.Volumes().Dir(), *d.Properties.UniqueID+".raw")
	owner.Stop()
	odc := testserver.Factory(other, armcompute.NewClientFactory).NewDisksClient()
	if _, err := fixture.Wait(odc.BeginDelete(ctx, "rg", "gone", nil)); err != nil {
		t.Fatalf("delete the disk through the other replica: %v", err)
	}
	if _, err := other.Server.Store.Get(ctx, compute.RemovedVolumeKind, uid); err != nil {
		t.Fatalf("the removed mark for the stopped owner: %v", err)
	}
	owner.Restart()
	if _, err := os.Stat(vol); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the deleted disk's volume after its owner's start: %v", err)
	}
	if _, err := other.Server.Store.Get(ctx, compute.RemovedVolumeKind, uid); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the removed mark after its owner's start: %v, want none", err)
	}
	if _, err := other.Server.Store.Get(ctx, lease.Kind, "disk:"+uid); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the deleted disk's lease row after its owner's start: %v, want none", err)
	}
}
