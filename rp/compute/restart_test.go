package compute_test

import (
	"bytes"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/volume"
)

// TestRestartKeepsDisksSnapshotsChangeMapsAndRevocations restarts the
// server between a write and the next incremental snapshot: the snapshot
// still reads only the changed block (the change map survived), disks and
// snapshots are still there, a revoked SAS stays revoked and a live one
// keeps working.
func TestRestartKeepsDisksSnapshotsChangeMapsAndRevocations(t *testing.T) {
	e, ctx := start(t)
	const size = 128<<20 + 512 // a VHD size (Azure's uploadSizeBytes), raw content: kept whole
	e.putDisk("keep", armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionUpload), UploadSizeBytes: to.Ptr[int64](size)}}})
	m := newModel(t, size)
	w1 := e.grantDisk("keep", armcompute.AccessLevelWrite)
	p := bytes.Repeat([]byte{0x5a}, 2<<20)
	if err := e.writeSAS(w1, 10<<20, p); err != nil {
		t.Fatal(err)
	}
	m.write(p, 10<<20)
	e.revokeDisk("keep")
	e.snapshot("k1", "keep", true)

	w2 := e.grantDisk("keep", armcompute.AccessLevelWrite)
	q := bytes.Repeat([]byte{0xa5}, 4096)
	if err := e.writeSAS(w2, 100<<20, q); err != nil {
		t.Fatal(err)
	}
	m.write(q, 100<<20)
	e.revokeDisk("keep")
	r := e.grantDisk("keep", armcompute.AccessLevelRead)

	e.restart()

	if _, err := e.disks.Get(ctx, e.rg, "keep", nil); err != nil {
		t.Fatalf("disk after restart: %v", err)
	}
	if _, err := e.snaps.Get(ctx, e.rg, "k1", nil); err != nil {
		t.Fatalf("snapshot after restart: %v", err)
	}
	for _, sas := range []string{w1, w2} {
		err := e.writeSAS(rebase(e, sas), 0, make([]byte, 512))
		if st, code := testserver.ErrorOf(err); st != 403 || code != "AuthenticationFailed" {
			t.Fatalf("revoked SAS after restart: %v", err)
		}
	}
	// The live read SAS (same signing key) still works; the old host moved, so rebase it.
	compareSAS(t, e, rebase(e, r), m)

	sns, err := e.Server.Compute.SnapshotDisks(ctx, []compute.SnapshotSpec{{DiskID: e.diskID("keep"), SnapshotID: e.snapID("k2"), Incremental: true}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := sns[0].Stats; st.BytesScanned != volume.BlockSize {
		t.Fatalf("incremental after a clean restart scanned %d bytes, want one %d-byte block (the change map was lost)", st.BytesScanned, volume.BlockSize)
	}
	e.diskFromSnapshot("k2disk", "k2")
	compareSAS(t, e, e.grantDisk("k2disk", armcompute.AccessLevelRead), m)
}

// rebase points a SAS URL at the restarted server's address.
func rebase(e *env, sas string) string {
	i := len("https://")
	j := i
	for j < len(sas) && sas[j] != '/' {
		j++
	}
	return e.Conn.ARMEndpoint + sas[j:]
}
