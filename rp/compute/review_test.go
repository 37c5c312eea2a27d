package compute_test

import (
	"bytes"
	"fmt"
	"net/http"
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
)

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
		if st, _ := armCode(err); st != http.StatusBadRequest {
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
	if st, _ := armCode(err); st != http.StatusBadRequest {
		t.Fatalf("snapshot copy into another region: %v, want a synchronous 400", err)
	}
	// Missing source: 404 at once.
	_, err = e.disks.BeginCreateOrUpdate(ctx, e.rg, "c-missing", armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: to.Ptr(e.diskID("nope"))}}}, nil)
	if st, _ := armCode(err); st != http.StatusNotFound {
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
	} else if st, _ := armCode(err); st != http.StatusConflict {
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
	if _, err := sp.PollUntilDone(ctx, poll); err != nil {
		t.Fatal(err)
	}
	if _, err := dp.PollUntilDone(ctx, poll); err != nil {
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
	if st, code := armCode(err); st != http.StatusConflict || code != "PropertyChangeNotAllowed" || !strings.Contains(err.Error(), "creationData.createOption") {
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
		if st, code := armCode(err); st != http.StatusBadRequest || code != "InvalidParameter" || !strings.Contains(err.Error(), "PremiumV2_LRS") {
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
		if st, code := armCode(err); st != http.StatusBadRequest || code != "InvalidParameter" {
			t.Fatalf("disk name %q: %v", name, err)
		}
		_, err = e.snaps.BeginCreateOrUpdate(ctx, e.rg, name, armcompute.Snapshot{Location: to.Ptr("westus"), Properties: &armcompute.SnapshotProperties{
			CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: to.Ptr(e.diskID("src"))}}}, nil)
		if st, code := armCode(err); st != http.StatusBadRequest || code != "InvalidParameter" {
			t.Fatalf("snapshot name %q: %v", name, err)
		}
	}
	for _, name := range []string{"a", "x_", "A.b-c_9", strings.Repeat("a", 80)} {
		e.putDisk(name, good)
	}
	// A VM's implicit disks get the same name check.
	_, err = e.vms.BeginCreateOrUpdate(ctx, e.rg, "vm", armcompute.VirtualMachine{Location: to.Ptr("westus"), Properties: &armcompute.VirtualMachineProperties{
		StorageProfile: &armcompute.StorageProfile{OSDisk: &armcompute.OSDisk{CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesFromImage), Name: to.Ptr("os-")}}}}, nil)
	if st, code := armCode(err); st != http.StatusBadRequest || code != "InvalidParameter" {
		t.Fatalf("VM with OS disk name 'os-': %v", err)
	}
}

// Restart needs a running VM: a deallocated or stopped one answers 409.
func TestVMRestartNeedsRunning(t *testing.T) {
	e, ctx := start(t)
	e.emptyDisk("os", 1)
	if _, err := fixture.Wait(e.vms.BeginCreateOrUpdate(ctx, e.rg, "vm1", armcompute.VirtualMachine{Location: to.Ptr("westus"), Properties: &armcompute.VirtualMachineProperties{
		HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypesStandardD2SV3)},
		StorageProfile: &armcompute.StorageProfile{OSDisk: &armcompute.OSDisk{CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach),
			OSType: to.Ptr(armcompute.OperatingSystemTypesLinux), ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(e.diskID("os"))}}}}}, nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := fixture.Wait(e.vms.BeginRestart(ctx, e.rg, "vm1", nil)); err != nil {
		t.Fatalf("restart of a running VM: %v", err)
	}
	for _, stop := range []func() error{
		func() error { _, err := fixture.Wait(e.vms.BeginDeallocate(ctx, e.rg, "vm1", nil)); return err },
		func() error { _, err := fixture.Wait(e.vms.BeginPowerOff(ctx, e.rg, "vm1", nil)); return err },
	} {
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		_, err := e.vms.BeginRestart(ctx, e.rg, "vm1", nil)
		if st, code := armCode(err); st != http.StatusConflict || code != "OperationNotAllowed" || !strings.Contains(err.Error(), "start it first") {
			t.Fatalf("restart of a stopped VM: %v", err)
		}
		if _, err := fixture.Wait(e.vms.BeginStart(ctx, e.rg, "vm1", nil)); err != nil {
			t.Fatal(err)
		}
	}
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
	} {
		err := diff(c.sas, c.opts)
		if st, code := storageCode(err); st != c.st || code != c.code {
			t.Fatalf("%s: %v, want %d %s", name, err, c.st, c.code)
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
	if st, code := armCode(err); st != http.StatusConflict || code != "OperationNotAllowed" || !strings.Contains(err.Error(), "endGetAccess") {
		t.Fatalf("delete of a disk with an active SAS: %v", err)
	}
	_, err = e.snaps.BeginDelete(ctx, e.rg, "s1", nil)
	if st, code := armCode(err); st != http.StatusConflict || code != "OperationNotAllowed" {
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
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionUpload), UploadSizeBytes: to.Ptr[int64](1<<20 + 512)}}})
	e.grantDisk("up", armcompute.AccessLevelWrite)
	fake.Advance(2 * time.Hour)
	if d, _ := e.disks.Get(ctx, e.rg, "up", nil); *d.Properties.DiskState != armcompute.DiskStateReadyToUpload {
		t.Fatalf("upload disk after its SAS expired: %s", *d.Properties.DiskState)
	}
}

// Unknown actions say so; a VM reports how its disks were created.
func TestUnknownActionAndVMCreateOption(t *testing.T) {
	e, ctx := start(t)
	e.emptyDisk("d1", 1)
	resp, body := e.Do("POST", e.diskID("d1")+"/frobnicate?api-version=2024-03-02", map[string]any{})
	msg, _ := testserver.Field(body, "error.message").(string)
	if st := resp.StatusCode; st != http.StatusNotFound || !strings.Contains(msg, "'frobnicate' is not supported") || !strings.Contains(msg, "beginGetAccess") {
		t.Fatalf("unknown disk action: %d %v", st, body)
	}
	if resp, _ := e.Do("GET", e.diskID("d1")+"/frobnicate?api-version=2024-03-02", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET of an unknown disk child: %d", resp.StatusCode)
	}
	if _, err := fixture.Wait(e.vms.BeginCreateOrUpdate(ctx, e.rg, "vmi", armcompute.VirtualMachine{Location: to.Ptr("westus"), Properties: &armcompute.VirtualMachineProperties{
		HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypesStandardD2SV3)},
		StorageProfile: &armcompute.StorageProfile{
			ImageReference: &armcompute.ImageReference{Publisher: to.Ptr("Canonical"), Offer: to.Ptr("ubuntu-24_04-lts"), SKU: to.Ptr("server"), Version: to.Ptr("latest")},
			OSDisk:         &armcompute.OSDisk{CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesFromImage)},
			DataDisks: []*armcompute.DataDisk{
				{Lun: to.Ptr[int32](0), CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesEmpty), DiskSizeGB: to.Ptr[int32](1)},
				{Lun: to.Ptr[int32](1), CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach), ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(e.diskID("d1"))}},
			}}}}, nil)); err != nil {
		t.Fatal(err)
	}
	vm, err := e.vms.Get(ctx, e.rg, "vmi", nil)
	if err != nil {
		t.Fatal(err)
	}
	sp := vm.Properties.StorageProfile
	if *sp.OSDisk.CreateOption != armcompute.DiskCreateOptionTypesFromImage || *sp.DataDisks[0].CreateOption != armcompute.DiskCreateOptionTypesEmpty ||
		*sp.DataDisks[1].CreateOption != armcompute.DiskCreateOptionTypesAttach {
		t.Fatalf("createOptions: os %s, data %s %s", *sp.OSDisk.CreateOption, *sp.DataDisks[0].CreateOption, *sp.DataDisks[1].CreateOption)
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
