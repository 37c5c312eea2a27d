package server_test

import (
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
)

// A snapshot deleted right after it was taken frees its space: the
// collection its delete starts removes the packs only it used, however
// young they are (a lone server protects its own captures exactly and needs
// no grace for them). The snapshot's packs stayed for ever before: the
// collection kept packs younger than ten minutes and nothing ran it again,
// so an operator who deleted the snapshots (or backup instance) of a
// backup taken a moment before never got the space back.
func TestDeletedSnapshotSpaceIsReclaimed(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	e.ResourceGroups("rg")
	disk, _ := fixture.Disk(t, e, "rg", "d1", 1, 0, 64<<20, 512<<20)
	sc := testserver.Factory(e, armcompute.NewClientFactory).NewSnapshotsClient()
	p, err := sc.BeginCreateOrUpdate(ctx, "rg", "s1", armcompute.Snapshot{Location: to.Ptr("westus"), Properties: &armcompute.SnapshotProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: to.Ptr(disk)}}}, nil)
	fixture.Done(t, p, err)
	m := e.Metrics()
	if m["safehold_repository_snapshots"] != 1 || m["safehold_repository_stored_bytes"] <= 0 {
		t.Fatalf("after the snapshot: snapshots %v stored %v", m["safehold_repository_snapshots"], m["safehold_repository_stored_bytes"])
	}
	dp, err := sc.BeginDelete(ctx, "rg", "s1", nil)
	fixture.Done(t, dp, err)
	testsvc.WaitFor(t, "the deleted snapshot's bytes freed (safehold_repository_stored_bytes 0)", func() bool {
		m = e.Metrics()
		return m["safehold_repository_snapshots"] == 0 && m["safehold_repository_stored_bytes"] == 0
	})
}
