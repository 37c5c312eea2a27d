package compute_test

import (
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/pageblob"
	"github.com/safehold/safehold/internal/fixture"
)

// TestDiskSASSnapshotNBDRestore is the main scenario: an empty
// 1 GiB disk, data uploaded through SAS, an incremental snapshot, 1 %
// changed through NBD with qemu-io, a second snapshot, and a disk created
// from each snapshot reading back byte-identical to the disk at that
// snapshot's instant.
func TestDiskSASSnapshotNBDRestore(t *testing.T) {
	needTool(t, "qemu-io", "qemu-img")
	e, _ := start(t, withNBD())
	// Each call gets its own e.Ctx(): one budget for the whole test would
	// time out on a loaded host while the byte compares run.
	d := e.emptyDisk("d1", 1)
	if *d.Properties.DiskSizeGB != 1 || *d.Properties.DiskSizeBytes != gib || *d.Properties.DiskState != armcompute.DiskStateUnattached ||
		*d.Properties.ProvisioningState != "Succeeded" || d.Properties.UniqueID == nil || d.Properties.TimeCreated == nil {
		t.Fatalf("created disk: %+v", d.Properties)
	}
	got, err := e.disks.Get(e.Ctx(), e.rg, "D1", nil)
	if err != nil || *got.Name != "d1" || *got.ID != e.diskID("d1") {
		t.Fatalf("get disk: %v", err)
	}

	// Upload through SAS.
	m := newModel(t, gib)
	sas := e.grantDisk("d1", armcompute.AccessLevelWrite)
	if g, _ := e.disks.Get(e.Ctx(), e.rg, "d1", nil); *g.Properties.DiskState != armcompute.DiskStateActiveUpload {
		t.Fatalf("state during write SAS: %s", *g.Properties.DiskState)
	}
	pc := e.pageClient(sas)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, off := range []int64{0, 4 << 20, 300 << 20, 512<<20 + 4096, gib - 4<<20} {
		p := make([]byte, 4<<20)
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		if err := uploadPages(t, pc, off, p); err != nil {
			t.Fatalf("upload pages at %d: %v", off, err)
		}
		m.write(p, off)
	}
	if _, err := pc.ClearPages(e.Ctx(), blob.HTTPRange{Offset: 1 << 20, Count: 1 << 20}, nil); err != nil {
		t.Fatalf("clear pages: %v", err)
	}
	m.zero(1<<20, 1<<20)
	var ranges int
	for pager := pc.NewGetPageRangesPager(nil); pager.More(); {
		page, err := pager.NextPage(e.Ctx())
		if err != nil {
			t.Fatalf("page ranges: %v", err)
		}
		ranges += len(page.PageList.PageRange)
		for _, r := range page.PageList.PageRange {
			if *r.Start%512 != 0 || (*r.End+1)%512 != 0 {
				t.Fatalf("unaligned page range %d-%d", *r.Start, *r.End)
			}
		}
	}
	if ranges < 5 {
		t.Fatalf("page ranges: %d, want at least 5", ranges)
	}
	compareSAS(t, e, sas, m)
	e.revokeDisk("d1")
	if err := uploadPages(t, pc, 0, make([]byte, 512)); err == nil {
		t.Fatal("write through a revoked SAS succeeded")
	} else if st, code := storageCode(err); st != 403 || code != "AuthenticationFailed" {
		t.Fatalf("revoked SAS: %d %s", st, code)
	}

	// Snapshot 1 (incremental; the disk's first, so it reads everything).
	s1 := e.snapshot("s1", "d1", true)
	if !*s1.Properties.Incremental || *s1.Properties.DiskSizeBytes != gib || *s1.Properties.ProvisioningState != "Succeeded" ||
		!strings.EqualFold(*s1.Properties.CreationData.SourceResourceID, e.diskID("d1")) {
		t.Fatalf("snapshot 1: %+v", s1.Properties)
	}
	m1 := m.clone(t)
	_, before := e.Server.Compute.Repository().Size()

	// Change 1 % through NBD with qemu-io.
	url := e.nbdURI("d1", armcompute.AccessLevelWrite)
	var cmds []string
	changed := int64(0)
	for i := 0; i < 10; i++ {
		off := int64(i)*97<<20 + 65536
		cmds = append(cmds, "-c", fmt.Sprintf("write -P %d %d 1M", 0x41+i, off))
		p := make([]byte, 1<<20)
		for j := range p {
			p[j] = byte(0x41 + i)
		}
		m.write(p, off)
		changed += 1 << 20
	}
	out, err := exec.Command("qemu-io", append([]string{"-f", "raw"}, append(cmds, url)...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-io: %v\n%s", err, out)
	}
	e.revokeDisk("d1")
	// Snapshot 2: only the changed blocks are read and stored.
	if s2 := e.snapshot("s2", "d1", true); *s2.Properties.DiskSizeGB != 1 {
		t.Fatalf("snapshot 2 size %d", *s2.Properties.DiskSizeGB)
	}
	_, after := e.Server.Compute.Repository().Size()
	if grown := after - before; grown > 2*changed {
		t.Errorf("incremental snapshot stored %d bytes for %d changed bytes", grown, changed)
	}
	m2 := m.clone(t)
	// Writes after snapshot 2 must not show in it.
	out, err = exec.Command("qemu-io", "-f", "raw", "-c", "write -P 0x99 0 2M", e.nbdURI("d1", armcompute.AccessLevelWrite)).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-io: %v\n%s", err, out)
	}
	e.revokeDisk("d1")

	// Restore each snapshot to a new disk and read it back.
	e.diskFromSnapshot("r1", "s1")
	r2 := e.diskFromSnapshot("r2", "s2")
	if *r2.Properties.DiskSizeBytes != gib || !strings.EqualFold(*r2.Properties.CreationData.SourceResourceID, e.snapID("s2")) {
		t.Fatalf("restored disk: %+v", r2.Properties.CreationData)
	}
	compareSAS(t, e, e.grantDisk("r1", armcompute.AccessLevelRead), m1)
	compareSAS(t, e, e.grantDisk("r2", armcompute.AccessLevelRead), m2)
	// The snapshots themselves read back through their SAS too.
	sres, err := fixture.Wait(e.snaps.BeginGrantAccess(e.Ctx(), e.rg, "s1", armcompute.GrantAccessData{Access: to.Ptr(armcompute.AccessLevelRead), DurationInSeconds: to.Ptr[int32](600)}, nil))
	if err != nil {
		t.Fatal(err)
	}
	compareSAS(t, e, *sres.AccessSAS, m1)
	// A real NBD client agrees: qemu-img compare of the restored disk's export with the model.
	out, err = exec.Command("qemu-img", "compare", "-f", "raw", "-F", "raw", e.nbdURI("r2", armcompute.AccessLevelRead), m2.f.Name()).CombinedOutput()
	if err != nil {
		t.Fatalf("qemu-img compare r2: %v\n%s", err, out)
	}

	// The diff between the two snapshots lists the 10 MiB changed through NBD.
	s2sas := e.grantSnapshot("s2")
	var diff int64
	for pager := e.pageClient(s2sas).NewGetPageRangesDiffPager(&pageblob.GetPageRangesDiffOptions{PrevSnapshotURL: sres.AccessSAS}); pager.More(); {
		page, err := pager.NextPage(e.Ctx())
		if err != nil {
			t.Fatalf("page ranges diff: %v", err)
		}
		for _, r := range page.PageList.PageRange {
			diff += *r.End - *r.Start + 1
		}
	}
	if diff < changed || diff > changed+20*65536 {
		t.Fatalf("diff covers %d bytes, want about %d", diff, changed)
	}
	// The same diff named by prevsnapshot (the earlier snapshot's id or its timeCreated).
	for _, prev := range []string{e.snapID("s1"), s1.Properties.TimeCreated.UTC().Format(time.RFC3339Nano)} {
		var d2 int64
		for pager := e.pageClient(s2sas).NewGetPageRangesDiffPager(&pageblob.GetPageRangesDiffOptions{PrevSnapshot: to.Ptr(prev)}); pager.More(); {
			page, err := pager.NextPage(e.Ctx())
			if err != nil {
				t.Fatalf("page ranges diff against %s: %v", prev, err)
			}
			for _, r := range page.PageList.PageRange {
				d2 += *r.End - *r.Start + 1
			}
		}
		if d2 != diff {
			t.Fatalf("diff against prevsnapshot %s covers %d bytes, want %d", prev, d2, diff)
		}
	}
	// The live disk against snapshot 2: only the 2 MiB written after it.
	var live int64
	for pager := e.pageClient(e.grantDisk("d1", armcompute.AccessLevelRead)).NewGetPageRangesDiffPager(&pageblob.GetPageRangesDiffOptions{PrevSnapshotURL: to.Ptr(s2sas)}); pager.More(); {
		page, err := pager.NextPage(e.Ctx())
		if err != nil {
			t.Fatalf("disk diff: %v", err)
		}
		for _, r := range page.PageList.PageRange {
			live += *r.End - *r.Start + 1
		}
	}
	if live != 2<<20 {
		t.Fatalf("disk diff against snapshot 2 covers %d bytes, want %d", live, 2<<20)
	}
	nsnaps := 0
	for pager := e.snaps.NewListByResourceGroupPager(e.rg, nil); pager.More(); {
		page, err := pager.NextPage(e.Ctx())
		if err != nil {
			t.Fatal(err)
		}
		nsnaps += len(page.Value)
	}
	if nsnaps != 2 {
		t.Fatalf("listed %d snapshots, want 2", nsnaps)
	}

	// Deleting snapshot 1 (its SAS ended first, as Azure requires) never breaks snapshot 2.
	if _, err := fixture.Wait(e.snaps.BeginRevokeAccess(e.Ctx(), e.rg, "s1", nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := fixture.Wait(e.snaps.BeginDelete(e.Ctx(), e.rg, "s1", nil)); err != nil {
		t.Fatal(err)
	}
	e.diskFromSnapshot("r3", "s2")
	compareSAS(t, e, e.grantDisk("r3", armcompute.AccessLevelRead), m2)
}

func (e *env) grantSnapshot(name string) string {
	e.t.Helper()
	res, err := fixture.Wait(e.snaps.BeginGrantAccess(e.Ctx(), e.rg, name, armcompute.GrantAccessData{Access: to.Ptr(armcompute.AccessLevelRead), DurationInSeconds: to.Ptr[int32](600)}, nil))
	if err != nil {
		e.t.Fatal(err)
	}
	return *res.AccessSAS
}
