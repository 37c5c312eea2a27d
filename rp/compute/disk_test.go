package compute_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/streaming"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/pageblob"
	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/server"
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
		if err := fixture.WritePages(pc, off, p); err != nil {
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
	if err := fixture.WritePages(pc, 0, make([]byte, 512)); err == nil {
		t.Fatal("write through a revoked SAS succeeded")
	} else if st, code := testserver.ErrorOf(err); st != 403 || code != "AuthenticationFailed" {
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
	nsnaps := testserver.Count(t, e.Ctx(), e.snaps.NewListByResourceGroupPager(e.rg, nil))
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

// Validation failures of a disk create are synchronous 400s (the initial
// PUT fails), never an accepted operation that fails later.
func TestDiskCopyValidationIsSynchronous(t *testing.T) {
	e, ctx := start(t)
	e.emptyDisk("src", 2)
	for name, d := range map[string]armcompute.Disk{
		"smaller": {Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{DiskSizeGB: to.Ptr[int32](1),
			CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: to.Ptr(e.diskID("src"))}}},
		"otherregion": {Location: to.Ptr("eastus"), Properties: &armcompute.DiskProperties{
			CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: to.Ptr(e.diskID("src"))}}},
		"nosource": {Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{
			CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy)}}},
		"restore": {Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{
			CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionRestore), SourceResourceID: to.Ptr(e.diskID("src"))}}},
	} {
		_, err := e.disks.BeginCreateOrUpdate(ctx, e.rg, "c-"+name, d, nil)
		if st, _ := testserver.ErrorOf(err); st != http.StatusBadRequest {
			t.Fatalf("%s: initial PUT answered %v, want a synchronous 400", name, err)
		}
		if _, err := e.disks.Get(ctx, e.rg, "c-"+name, nil); err == nil {
			t.Fatalf("%s: the refused disk exists", name)
		}
	}
	// A snapshot copied (Copy) into another region: 400 at once.
	e.snapshot("s1", "src", false)
	_, err := e.snaps.BeginCreateOrUpdate(ctx, e.rg, "s2", armcompute.Snapshot{Location: to.Ptr("eastus"), Properties: &armcompute.SnapshotProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: to.Ptr(e.snapID("s1"))}}}, nil)
	if st, _ := testserver.ErrorOf(err); st != http.StatusBadRequest {
		t.Fatalf("snapshot copy into another region: %v, want a synchronous 400", err)
	}
	// Missing source: 404 at once.
	_, err = e.disks.BeginCreateOrUpdate(ctx, e.rg, "c-missing", armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: to.Ptr(e.diskID("nope"))}}}, nil)
	if st, _ := testserver.ErrorOf(err); st != http.StatusNotFound {
		t.Fatalf("copy of a missing disk: %v, want 404", err)
	}
	// A larger copy is still fine.
	d := e.putDisk("bigger", armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{DiskSizeGB: to.Ptr[int32](3),
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: to.Ptr(e.diskID("src"))}}})
	if *d.Properties.DiskSizeGB != 3 {
		t.Fatalf("copy size %d GB, want 3", *d.Properties.DiskSizeGB)
	}
}

// A disk or snapshot being created answers GET 200 with provisioningState
// Creating, then Succeeded.
func TestCreatingIsVisible(t *testing.T) {
	e, ctx := start(t)
	e.emptyDisk("src", 1)
	// Hold the source frozen (as a running capture would): the creations wait.
	v, err := e.Server.Compute.Volume(ctx, e.diskID("src"))
	if err != nil {
		t.Fatal(err)
	}
	fzs, err := e.Server.Compute.Volumes().Freeze(v)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := e.snaps.BeginCreateOrUpdate(ctx, e.rg, "s1", armcompute.Snapshot{Location: to.Ptr("westus"), Properties: &armcompute.SnapshotProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: to.Ptr(e.diskID("src"))}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	dp, err := e.disks.BeginCreateOrUpdate(ctx, e.rg, "d1", armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: to.Ptr(e.diskID("src"))}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sn, err := e.snaps.Get(ctx, e.rg, "s1", nil)
	if err != nil {
		t.Fatalf("GET of a snapshot being created: %v", err)
	}
	if *sn.Properties.ProvisioningState != "Creating" || *sn.Name != "s1" || *sn.ID != e.snapID("s1") {
		t.Fatalf("snapshot being created: %s %s", *sn.Name, *sn.Properties.ProvisioningState)
	}
	d, err := e.disks.Get(ctx, e.rg, "d1", nil)
	if err != nil {
		t.Fatalf("GET of a disk being created: %v", err)
	}
	if *d.Properties.ProvisioningState != "Creating" || *d.Properties.DiskSizeGB != 1 || *d.Location != "westus" {
		t.Fatalf("disk being created: %s %d", *d.Properties.ProvisioningState, *d.Properties.DiskSizeGB)
	}
	// It cannot be deleted or re-created meanwhile.
	if _, err := e.disks.BeginDelete(ctx, e.rg, "d1", nil); err == nil {
		t.Fatal("delete of a disk being created was accepted")
	} else if st, _ := testserver.ErrorOf(err); st != http.StatusConflict {
		t.Fatalf("delete of a disk being created: %v, want 409", err)
	}
	// Lists show them too.
	states := map[string]string{}
	for page := range fixture.Pages(t, e.disks.NewListByResourceGroupPager(e.rg, nil)) {
		for _, d := range page.Value {
			states[*d.Name] = *d.Properties.ProvisioningState
		}
	}
	for page := range fixture.Pages(t, e.snaps.NewListPager(nil)) {
		for _, sn := range page.Value {
			states[*sn.Name] = *sn.Properties.ProvisioningState
		}
	}
	if len(states) != 3 || states["src"] != "Succeeded" || states["d1"] != "Creating" || states["s1"] != "Creating" {
		t.Fatalf("listed states: %v", states)
	}
	fzs[0].Abort()
	if _, err := sp.PollUntilDone(ctx, fixture.Poll); err != nil {
		t.Fatal(err)
	}
	if _, err := dp.PollUntilDone(ctx, fixture.Poll); err != nil {
		t.Fatal(err)
	}
	sn, err = e.snaps.Get(ctx, e.rg, "s1", nil)
	if err != nil || *sn.Properties.ProvisioningState != "Succeeded" {
		t.Fatalf("snapshot after creation: %v", err)
	}
	d, err = e.disks.Get(ctx, e.rg, "d1", nil)
	if err != nil || *d.Properties.ProvisioningState != "Succeeded" {
		t.Fatalf("disk after creation: %v", err)
	}
}

// Azure refuses a re-PUT that changes how a disk was created, unknown disk
// SKUs and invalid names.
func TestDiskPutValidation(t *testing.T) {
	e, ctx := start(t)
	e.emptyDisk("src", 1)
	e.emptyDisk("d1", 1)
	_, err := e.disks.BeginCreateOrUpdate(ctx, e.rg, "d1", armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: to.Ptr(e.diskID("src"))}}}, nil)
	if st, code := testserver.ErrorOf(err); st != http.StatusConflict || code != "PropertyChangeNotAllowed" || !strings.Contains(err.Error(), "creationData.createOption") {
		t.Fatalf("re-PUT with another createOption: %v", err)
	}
	// The same createOption with a new size is an update.
	d := e.putDisk("d1", armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{DiskSizeGB: to.Ptr[int32](2),
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionEmpty)}}})
	if *d.Properties.DiskSizeGB != 2 {
		t.Fatalf("re-PUT resize: %d GB", *d.Properties.DiskSizeGB)
	}
	// SKUs.
	bad := armcompute.Disk{Location: to.Ptr("westus"), SKU: &armcompute.DiskSKU{Name: to.Ptr(armcompute.DiskStorageAccountTypes("Gold_LRS"))},
		Properties: &armcompute.DiskProperties{DiskSizeGB: to.Ptr[int32](1), CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionEmpty)}}}
	for _, name := range []string{"d1", "new"} {
		_, err = e.disks.BeginCreateOrUpdate(ctx, e.rg, name, bad, nil)
		if st, code := testserver.ErrorOf(err); st != http.StatusBadRequest || code != "InvalidParameter" || !strings.Contains(err.Error(), "PremiumV2_LRS") {
			t.Fatalf("sku Gold_LRS on %s: %v", name, err)
		}
	}
	good := bad
	good.SKU = &armcompute.DiskSKU{Name: to.Ptr(armcompute.DiskStorageAccountTypesStandardSSDZRS)}
	if d := e.putDisk("zrs", good); *d.SKU.Name != armcompute.DiskStorageAccountTypesStandardSSDZRS {
		t.Fatalf("sku %s", *d.SKU.Name)
	}
	// Names.
	for _, name := range []string{"-x", "x-", "x.", "a$b", strings.Repeat("a", 81)} {
		_, err := e.disks.BeginCreateOrUpdate(ctx, e.rg, name, good, nil)
		if st, code := testserver.ErrorOf(err); st != http.StatusBadRequest || code != "InvalidParameter" {
			t.Fatalf("disk name %q: %v", name, err)
		}
		_, err = e.snaps.BeginCreateOrUpdate(ctx, e.rg, name, armcompute.Snapshot{Location: to.Ptr("westus"), Properties: &armcompute.SnapshotProperties{
			CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: to.Ptr(e.diskID("src"))}}}, nil)
		if st, code := testserver.ErrorOf(err); st != http.StatusBadRequest || code != "InvalidParameter" {
			t.Fatalf("snapshot name %q: %v", name, err)
		}
	}
	for _, name := range []string{"a", "x_", "A.b-c_9", strings.Repeat("a", 80)} {
		e.putDisk(name, good)
	}
	// A VM's implicit disks get the same name check.
	_, err = e.vms.BeginCreateOrUpdate(ctx, e.rg, "vm", armcompute.VirtualMachine{Location: to.Ptr("westus"), Properties: &armcompute.VirtualMachineProperties{
		StorageProfile: &armcompute.StorageProfile{OSDisk: &armcompute.OSDisk{CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesFromImage), Name: to.Ptr("os-")}}}}, nil)
	if st, code := testserver.ErrorOf(err); st != http.StatusBadRequest || code != "InvalidParameter" {
		t.Fatalf("VM with OS disk name 'os-': %v", err)
	}
	// A value of the wrong JSON kind: a 400 naming the field as sent.
	vmID := strings.Replace(e.diskID("vm"), "/disks/", "/virtualMachines/", 1)
	for _, c := range []struct{ id, body, field string }{
		{e.diskID("d1"), `{"location":"westus","properties":{"diskSizeGB":"two"}}`, "properties.diskSizeGB"},
		{e.diskID("d2"), `{"location":"westus","properties":{"creationData":{"createOption":5}}}`, "properties.creationData.createOption"},
		{e.snapID("s1"), `{"location":5}`, "location"},
		{e.snapID("s1"), `{"location":"westus","properties":{"creationData":{"sourceResourceId":5}}}`, "properties.creationData.sourceResourceId"},
		{vmID, `{"location":"westus","tags":[1]}`, "tags"},
	} {
		v := "2024-03-02" // DiskRP's; a VM takes ComputeRP's
		if strings.Contains(c.id, "/virtualMachines/") {
			v = "2024-11-01"
		}
		resp, m := e.Do("PUT", c.id+"?api-version="+v, c.body)
		msg, _ := testserver.Field(m, "error.message").(string)
		if resp.StatusCode != http.StatusBadRequest || testserver.ErrorCode(m) != "InvalidRequestContent" || !strings.Contains(msg, "the value of '"+c.field+"' must be") {
			t.Fatalf("PUT %s %s: %d %v, want a 400 naming '%s'", c.id, c.body, resp.StatusCode, m, c.field)
		}
	}
}

// A disk or snapshot with an active SAS cannot be deleted; an expired SAS
// returns the disk to its previous state.
func TestActiveSASBlocksDelete(t *testing.T) {
	fake := clock.NewFake(time.Now())
	e, ctx := start(t, testserver.WithClock(fake))
	e.emptyDisk("d1", 1)
	e.snapshot("s1", "d1", false)
	e.grantDisk("d1", armcompute.AccessLevelRead)
	e.grantSnapshot("s1")
	_, err := e.disks.BeginDelete(ctx, e.rg, "d1", nil)
	if st, code := testserver.ErrorOf(err); st != http.StatusConflict || code != "OperationNotAllowed" || !strings.Contains(err.Error(), "endGetAccess") {
		t.Fatalf("delete of a disk with an active SAS: %v", err)
	}
	_, err = e.snaps.BeginDelete(ctx, e.rg, "s1", nil)
	if st, code := testserver.ErrorOf(err); st != http.StatusConflict || code != "OperationNotAllowed" {
		t.Fatalf("delete of a snapshot with an active SAS: %v", err)
	}
	// endGetAccess, then the snapshot deletes.
	if _, err := fixture.Wait(e.snaps.BeginRevokeAccess(ctx, e.rg, "s1", nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := fixture.Wait(e.snaps.BeginDelete(ctx, e.rg, "s1", nil)); err != nil {
		t.Fatal(err)
	}
	// The disk's SAS (an hour) expires: Unattached again, and deletable.
	if d, _ := e.disks.Get(ctx, e.rg, "d1", nil); *d.Properties.DiskState != armcompute.DiskStateActiveSAS {
		t.Fatalf("disk state with a SAS: %s", *d.Properties.DiskState)
	}
	fake.Advance(2 * time.Hour)
	d, err := e.disks.Get(ctx, e.rg, "d1", nil)
	if err != nil || *d.Properties.DiskState != armcompute.DiskStateUnattached {
		t.Fatalf("disk state after the SAS expired: %v %s", err, *d.Properties.DiskState)
	}
	if _, err := fixture.Wait(e.disks.BeginDelete(ctx, e.rg, "d1", nil)); err != nil {
		t.Fatalf("delete after the SAS expired: %v", err)
	}
	// An upload disk whose write SAS expired is ReadyToUpload again.
	e.putDisk("up", armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionUpload), UploadSizeBytes: to.Ptr[int64](20<<20 + 512)}}})
	e.grantDisk("up", armcompute.AccessLevelWrite)
	fake.Advance(2 * time.Hour)
	if d, _ := e.disks.Get(ctx, e.rg, "up", nil); *d.Properties.DiskState != armcompute.DiskStateReadyToUpload {
		t.Fatalf("upload disk after its SAS expired: %s", *d.Properties.DiskState)
	}
}

// A deallocated VM's disk is ActiveSAS while it has a SAS, and Reserved
// again after endGetAccess or once the SAS expired.
func TestReservedDiskSAS(t *testing.T) {
	fake := clock.NewFake(time.Now())
	e, ctx := start(t, testserver.WithClock(fake))
	e.emptyDisk("os", 1)
	if _, err := fixture.Wait(e.vms.BeginCreateOrUpdate(ctx, e.rg, "vm1", armcompute.VirtualMachine{Location: to.Ptr("westus"), Properties: &armcompute.VirtualMachineProperties{
		StorageProfile: &armcompute.StorageProfile{OSDisk: &armcompute.OSDisk{CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach),
			ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(e.diskID("os"))}}}}}, nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := fixture.Wait(e.vms.BeginDeallocate(ctx, e.rg, "vm1", nil)); err != nil {
		t.Fatal(err)
	}
	state := func() armcompute.DiskState {
		d, err := e.disks.Get(ctx, e.rg, "os", nil)
		if err != nil {
			t.Fatal(err)
		}
		return *d.Properties.DiskState
	}
	e.grantDisk("os", armcompute.AccessLevelRead)
	if s := state(); s != armcompute.DiskStateActiveSAS {
		t.Fatalf("reserved disk with a SAS: %s", s)
	}
	e.revokeDisk("os")
	if s := state(); s != armcompute.DiskStateReserved {
		t.Fatalf("after endGetAccess: %s", s)
	}
	e.grantDisk("os", armcompute.AccessLevelRead)
	fake.Advance(2 * time.Hour)
	if s := state(); s != armcompute.DiskStateReserved {
		t.Fatalf("after the SAS expired: %s", s)
	}
	if _, err := fixture.Wait(e.vms.BeginStart(ctx, e.rg, "vm1", nil)); err != nil {
		t.Fatal(err)
	}
	if s := state(); s != armcompute.DiskStateAttached {
		t.Fatalf("after start: %s", s)
	}
}

// TestImportOnlyFromImportDir: local imports read only files below
// --import-dir (none without it), after resolving symlinks and '..'; a
// root-only file or another Safehold's database is never read, and the
// answer names --import-dir.
func TestImportOnlyFromImportDir(t *testing.T) {
	secretDir := t.TempDir()
	secret := filepath.Join(secretDir, "secret.raw")
	if err := os.WriteFile(secret, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	other := testserver.Start(t) // another Safehold instance: its database holds its signing key
	otherDB := filepath.Join(other.DataDir, "safehold.db")
	other.Stop()

	importBody := func(uri string) map[string]any {
		return map[string]any{"location": "westus", "properties": map[string]any{"creationData": map[string]any{"createOption": "Import", "sourceUri": uri}}}
	}
	refused := func(e *env, name, uri string) {
		t.Helper()
		resp, m := e.Do("PUT", e.diskID(name)+"?api-version=2024-03-02", importBody(uri))
		msg, _ := testserver.Field(m, "error.message").(string)
		if resp.StatusCode != 400 || testserver.ErrorCode(m) != "InvalidParameter" || !strings.Contains(msg, "--import-dir") {
			t.Fatalf("import of %s: want 400 InvalidParameter naming --import-dir, got %d %v", uri, resp.StatusCode, m)
		}
		if resp, _ := e.Do("GET", e.diskID(name)+"?api-version=2024-03-02", nil); resp.StatusCode != 404 {
			t.Fatalf("disk %s exists after a refused import: %d", name, resp.StatusCode)
		}
	}

	// No --import-dir: no local file, even on loopback.
	e, _ := start(t)
	refused(e, "a", "file://"+secret)
	refused(e, "b", "file://"+otherDB)
	refused(e, "c", secret)
	e.Stop()

	// With --import-dir: only below it, symlinks and '..' resolved.
	imp := t.TempDir()
	if err := os.WriteFile(filepath.Join(imp, "ok.raw"), make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(imp, "link.raw")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other.DataDir, filepath.Join(imp, "otherdata")); err != nil {
		t.Fatal(err)
	}
	e, _ = start(t, func(c *server.Config) { c.Compute.ImportDir = imp })
	refused(e, "d", "file://"+secret)
	refused(e, "e", "file://"+filepath.Join(imp, "link.raw"))
	refused(e, "f", "link.raw")
	refused(e, "g", "file://"+filepath.Join(imp, "..", filepath.Base(secretDir), "secret.raw"))
	refused(e, "h", "../"+filepath.Base(secretDir)+"/secret.raw")
	refused(e, "i", "otherdata/safehold.db")
	refused(e, "j", "file://"+otherDB)
	d := e.putDisk("ok", map2disk(importBody("file://"+filepath.Join(imp, "ok.raw"))))
	if *d.Properties.DiskSizeBytes != 1<<20 {
		t.Fatalf("import inside --import-dir: %+v", d.Properties)
	}
	d = e.putDisk("rel", map2disk(importBody("ok.raw")))
	if *d.Properties.DiskSizeBytes != 1<<20 {
		t.Fatalf("relative import inside --import-dir: %+v", d.Properties)
	}
}

func map2disk(m map[string]any) armcompute.Disk {
	b, _ := json.Marshal(m)
	var d armcompute.Disk
	json.Unmarshal(b, &d)
	return d
}

// A page-range diff is only against an earlier snapshot of the same disk.
func TestPageDiffBaseChecks(t *testing.T) {
	e, ctx := start(t)
	e.emptyDisk("d1", 1)
	e.emptyDisk("d2", 1)
	e.snapshot("s1", "d1", true)
	e.snapshot("s2", "d1", true)
	e.snapshot("o1", "d2", true)
	s1, s2, o1 := e.grantSnapshot("s1"), e.grantSnapshot("s2"), e.grantSnapshot("o1")
	diff := func(sas string, opts *pageblob.GetPageRangesDiffOptions) error {
		_, err := e.pageClient(sas).NewGetPageRangesDiffPager(opts).NextPage(ctx)
		return err
	}
	if err := diff(s2, &pageblob.GetPageRangesDiffOptions{PrevSnapshotURL: to.Ptr(s1)}); err != nil {
		t.Fatalf("diff against an earlier snapshot: %v", err)
	}
	for name, c := range map[string]struct {
		sas  string
		opts *pageblob.GetPageRangesDiffOptions
		st   int
		code string
	}{
		"other disk by url": {s2, &pageblob.GetPageRangesDiffOptions{PrevSnapshotURL: to.Ptr(o1)}, http.StatusConflict, "PreviousSnapshotNotFound"},
		"other disk by id":  {s2, &pageblob.GetPageRangesDiffOptions{PrevSnapshot: to.Ptr(e.snapID("o1"))}, http.StatusConflict, "PreviousSnapshotNotFound"},
		"live disk":         {e.grantDisk("d1", armcompute.AccessLevelRead), &pageblob.GetPageRangesDiffOptions{PrevSnapshotURL: to.Ptr(o1)}, http.StatusConflict, "PreviousSnapshotNotFound"},
		"newer":             {s1, &pageblob.GetPageRangesDiffOptions{PrevSnapshotURL: to.Ptr(s2)}, http.StatusBadRequest, "PreviousSnapshotCannotBeNewer"},
		"a disk's SAS":      {s2, &pageblob.GetPageRangesDiffOptions{PrevSnapshotURL: to.Ptr(e.grantDisk("d2", armcompute.AccessLevelRead))}, http.StatusBadRequest, "InvalidHeaderValue"},
	} {
		err := diff(c.sas, c.opts)
		if st, code := testserver.ErrorOf(err); st != c.st || code != c.code {
			t.Fatalf("%s: %v, want %d %s", name, err, c.st, c.code)
		}
	}
}

// A diff reports the 512-byte pages that changed, not whole 64 KiB blocks.
func TestPageDiffIsPageExact(t *testing.T) {
	e, ctx := start(t)
	e.emptyDisk("d1", 1)
	e.snapshot("s1", "d1", true)
	w := e.grantDisk("d1", armcompute.AccessLevelWrite)
	data := bytes.Repeat([]byte{0xab}, 8192)
	const off = 2<<20 + 1024 // inside a block, not block-aligned
	if _, err := e.pageClient(w).UploadPages(ctx, streaming.NopCloser(bytes.NewReader(data)), blob.HTTPRange{Offset: off, Count: int64(len(data))}, nil); err != nil {
		t.Fatal(err)
	}
	e.revokeDisk("d1")
	e.snapshot("s2", "d1", true)
	s1, s2 := e.grantSnapshot("s1"), e.grantSnapshot("s2")
	var got []string
	for pg := e.pageClient(s2).NewGetPageRangesDiffPager(&pageblob.GetPageRangesDiffOptions{PrevSnapshotURL: to.Ptr(s1)}); pg.More(); {
		page, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.PageRange {
			got = append(got, fmt.Sprintf("%d-%d", *r.Start, *r.End))
		}
	}
	want := fmt.Sprintf("%d-%d", off, off+len(data)-1)
	if len(got) != 1 || got[0] != want {
		t.Fatalf("diff ranges %v, want [%s]", got, want)
	}
}

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
		if err := fixture.WritePages(pc, off, p); err != nil {
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
	res, err := up.PollUntilDone(e.Ctx(), fixture.Poll)
	if err != nil || *res.Properties.DiskSizeGB != 2 || *res.Properties.DiskSizeBytes != 2*gib {
		t.Fatalf("grow to 2 GB: %v %+v", err, res.Properties)
	}
	if g, err := e.snaps.Get(e.Ctx(), e.rg, "s1", nil); err != nil || *g.Properties.DiskSizeGB != 2 {
		t.Fatalf("get after the resize: %v", err)
	}
	// Shrinking is refused, by PATCH and by PUT.
	if _, err := e.snaps.BeginUpdate(e.Ctx(), e.rg, "s1", armcompute.SnapshotUpdate{Properties: &armcompute.SnapshotUpdateProperties{DiskSizeGB: to.Ptr[int32](1)}}, nil); err == nil {
		t.Fatal("shrink by PATCH accepted")
	} else if st, _ := testserver.ErrorOf(err); st != http.StatusBadRequest {
		t.Fatalf("shrink by PATCH: %v", err)
	}
	put := func(gb int32) (armcompute.Snapshot, error) {
		p, err := e.snaps.BeginCreateOrUpdate(e.Ctx(), e.rg, "s1", armcompute.Snapshot{Location: to.Ptr("westus"), Properties: &armcompute.SnapshotProperties{
			CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: to.Ptr(e.diskID("d1"))}, DiskSizeGB: to.Ptr(gb)}}, nil)
		if err != nil {
			return armcompute.Snapshot{}, err
		}
		r, err := p.PollUntilDone(e.Ctx(), fixture.Poll)
		return r.Snapshot, err
	}
	if _, err := put(1); err == nil {
		t.Fatal("shrink by PUT accepted")
	} else if st, _ := testserver.ErrorOf(err); st != http.StatusBadRequest {
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

// TestGrantAccessStatusCarriesTheSAS: beginGetAccess answers 202; the
// operation's status (Azure-AsyncOperation) carries the SAS as Compute's
// does (properties.output.accessSAS), the same one the result (Location)
// answers, for clients that stop at the status (the ms-rest generator of
// the JS SDK, older Python SDKs).
func TestGrantAccessStatusCarriesTheSAS(t *testing.T) {
	e, _ := start(t)
	e.emptyDisk("d1", 1)
	resp, m := e.Do("POST", e.diskID("d1")+"/beginGetAccess?api-version=2024-03-02", map[string]any{"access": "Read", "durationInSeconds": 600})
	if resp.StatusCode != 202 {
		t.Fatalf("beginGetAccess: %d %v", resp.StatusCode, m)
	}
	status, loc := resp.Header.Get("Azure-AsyncOperation"), resp.Header.Get("Location")
	_, st := e.Do("GET", status, nil)
	_, res := e.Do("GET", loc, nil)
	sas, _ := res["accessSAS"].(string)
	props, _ := st["properties"].(map[string]any)
	out, _ := props["output"].(map[string]any)
	if st["status"] != "Succeeded" || sas == "" || out["accessSAS"] != sas {
		t.Fatalf("status %v, result %v", st, res)
	}
	// revokeAccess has no result: its status has no properties.
	resp, _ = e.Do("POST", e.diskID("d1")+"/endGetAccess?api-version=2024-03-02", nil)
	if _, st = e.Do("GET", resp.Header.Get("Azure-AsyncOperation"), nil); st["status"] != "Succeeded" || st["properties"] != nil {
		t.Fatalf("revoke status %v", st)
	}
}
