package compute_test

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// vmWith creates VM name with OS disk osDisk and the data disks (lun i:
// disks[i]), through the Go SDK.
func (e *env) vmWith(name, osDisk string, disks ...string) (armcompute.VirtualMachine, error) {
	e.t.Helper()
	var dds []*armcompute.DataDisk
	for i, d := range disks {
		dds = append(dds, &armcompute.DataDisk{Lun: to.Ptr(int32(i)), CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach),
			ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(e.diskID(d))}})
	}
	res, err := fixture.Wait(e.vms.BeginCreateOrUpdate(e.Ctx(), e.rg, name, armcompute.VirtualMachine{Location: to.Ptr("westus"), Properties: &armcompute.VirtualMachineProperties{
		HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypesStandardD2SV3)},
		StorageProfile: &armcompute.StorageProfile{OSDisk: &armcompute.OSDisk{CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach),
			OSType: to.Ptr(armcompute.OperatingSystemTypesLinux), ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(e.diskID(osDisk))}},
			DataDisks: dds}}}, nil))
	return res.VirtualMachine, err
}

// The sku of a disk attached to a running VM cannot change (Azure: 409
// OperationNotAllowed until the VM is deallocated); a deallocated VM's
// disk, or an unattached one, changes sku.
func TestDiskSKUChangeNeedsDeallocatedVM(t *testing.T) {
	e, ctx := start(t)
	e.emptyDisk("os", 1)
	e.emptyDisk("data", 1)
	if _, err := e.vmWith("vm1", "os", "data"); err != nil {
		t.Fatal(err)
	}
	premium := &armcompute.DiskSKU{Name: to.Ptr(armcompute.DiskStorageAccountTypesPremiumLRS)}
	skuOf := func() armcompute.DiskStorageAccountTypes {
		d, err := e.disks.Get(ctx, e.rg, "data", nil)
		if err != nil {
			t.Fatal(err)
		}
		return *d.SKU.Name
	}
	_, err := fixture.Wait(e.disks.BeginUpdate(ctx, e.rg, "data", armcompute.DiskUpdate{SKU: premium}, nil))
	if st, code := testserver.ErrorOf(err); st != http.StatusConflict || code != "OperationNotAllowed" || !strings.Contains(err.Error(), "deallocate") {
		t.Fatalf("PATCH sku of a running VM's disk: %v", err)
	}
	// A PUT of the disk as read, with another sku (az disk update --sku).
	d, err := e.disks.Get(ctx, e.rg, "data", nil)
	if err != nil {
		t.Fatal(err)
	}
	d.SKU = premium
	_, err = fixture.Wait(e.disks.BeginCreateOrUpdate(ctx, e.rg, "data", d.Disk, nil))
	if st, code := testserver.ErrorOf(err); st != http.StatusConflict || code != "OperationNotAllowed" {
		t.Fatalf("PUT sku of a running VM's disk: %v", err)
	}
	if s := skuOf(); s != armcompute.DiskStorageAccountTypesStandardLRS {
		t.Fatalf("sku after the refused changes: %s", s)
	}
	// The same sku again is no change: accepted.
	if _, err := fixture.Wait(e.disks.BeginUpdate(ctx, e.rg, "data", armcompute.DiskUpdate{SKU: &armcompute.DiskSKU{Name: to.Ptr(armcompute.DiskStorageAccountTypesStandardLRS)}}, nil)); err != nil {
		t.Fatalf("PATCH of the disk's own sku: %v", err)
	}
	if _, err := fixture.Wait(e.vms.BeginDeallocate(ctx, e.rg, "vm1", nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := fixture.Wait(e.disks.BeginUpdate(ctx, e.rg, "data", armcompute.DiskUpdate{SKU: premium}, nil)); err != nil {
		t.Fatalf("PATCH sku of a deallocated VM's disk: %v", err)
	}
	if s := skuOf(); s != armcompute.DiskStorageAccountTypesPremiumLRS {
		t.Fatalf("sku after the change: %s", s)
	}
}

// diskIOPSReadWrite and diskMBpsReadWrite (and their read-only pair) are
// set only on UltraSSD_LRS and PremiumV2_LRS disks: on any other a value
// is 400 BadRequest naming the property, on create, PUT and PATCH; the
// value a disk reports may be sent back (a PUT of the disk as read).
func TestDiskPerformanceOnlyUltraAndPremiumV2(t *testing.T) {
	e, ctx := start(t)
	disk := func(sku armcompute.DiskStorageAccountTypes, iops, mbps *int64) armcompute.Disk {
		return armcompute.Disk{Location: to.Ptr("westus"), SKU: &armcompute.DiskSKU{Name: to.Ptr(sku)}, Properties: &armcompute.DiskProperties{
			CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionEmpty)}, DiskSizeGB: to.Ptr[int32](4),
			DiskIOPSReadWrite: iops, DiskMBpsReadWrite: mbps}}
	}
	wantRefused := func(what, prop string, err error) {
		t.Helper()
		re := testserver.WantError(t, what, err, http.StatusBadRequest, "BadRequest")
		if !strings.Contains(re.Error(), prop) || !strings.Contains(re.Error(), "UltraSSD_LRS") {
			t.Fatalf("%s: the error does not say what to fix: %v", what, re)
		}
	}
	for _, sku := range []armcompute.DiskStorageAccountTypes{armcompute.DiskStorageAccountTypesStandardSSDLRS, armcompute.DiskStorageAccountTypesStandardLRS, armcompute.DiskStorageAccountTypesPremiumLRS} {
		_, err := fixture.Wait(e.disks.BeginCreateOrUpdate(ctx, e.rg, "bad", disk(sku, to.Ptr[int64](3000), nil), nil))
		wantRefused("create "+string(sku)+" with diskIOPSReadWrite", "diskIOPSReadWrite", err)
		_, err = fixture.Wait(e.disks.BeginCreateOrUpdate(ctx, e.rg, "bad", disk(sku, nil, to.Ptr[int64](200)), nil))
		wantRefused("create "+string(sku)+" with diskMBpsReadWrite", "diskMBpsReadWrite", err)
	}
	if _, err := e.disks.Get(ctx, e.rg, "bad", nil); func() bool { st, _ := testserver.ErrorOf(err); return st != http.StatusNotFound }() {
		t.Fatalf("a refused disk exists: %v", err)
	}
	for _, sku := range []armcompute.DiskStorageAccountTypes{armcompute.DiskStorageAccountTypesUltraSSDLRS, armcompute.DiskStorageAccountTypesPremiumV2LRS} {
		d := e.putDisk("perf"+strings.ToLower(string(sku[:5])), disk(sku, to.Ptr[int64](3000), to.Ptr[int64](125)))
		if *d.Properties.DiskIOPSReadWrite != 3000 || *d.Properties.DiskMBpsReadWrite != 125 {
			t.Fatalf("%s disk's performance: %d IOPS %d MBps", sku, *d.Properties.DiskIOPSReadWrite, *d.Properties.DiskMBpsReadWrite)
		}
	}
	std := e.putDisk("std", disk(armcompute.DiskStorageAccountTypesStandardSSDLRS, nil, nil))
	_, err := fixture.Wait(e.disks.BeginUpdate(ctx, e.rg, "std", armcompute.DiskUpdate{Properties: &armcompute.DiskUpdateProperties{DiskIOPSReadWrite: to.Ptr[int64](6000)}}, nil))
	wantRefused("PATCH diskIOPSReadWrite of a StandardSSD_LRS disk", "diskIOPSReadWrite", err)
	_, err = fixture.Wait(e.disks.BeginUpdate(ctx, e.rg, "std", armcompute.DiskUpdate{Properties: &armcompute.DiskUpdateProperties{DiskMBpsReadOnly: to.Ptr[int64](100)}}, nil))
	wantRefused("PATCH diskMBpsReadOnly of a StandardSSD_LRS disk", "diskMBpsReadOnly", err)
	// The disk as read, PUT back: its reported performance is no change.
	got, err := e.disks.Get(ctx, e.rg, "std", nil)
	if err != nil || got.Properties.DiskIOPSReadWrite == nil {
		t.Fatalf("GET: %+v %v", got.Properties, err)
	}
	got.Tags = map[string]*string{"k": to.Ptr("v")}
	if _, err := fixture.Wait(e.disks.BeginCreateOrUpdate(ctx, e.rg, "std", got.Disk, nil)); err != nil {
		t.Fatalf("PUT of the disk as read: %v", err)
	}
	// A new disk PUT with the body read of another: the performance it
	// reports is what the new disk has too.
	if _, err := fixture.Wait(e.disks.BeginCreateOrUpdate(ctx, e.rg, "std2", got.Disk, nil)); err != nil {
		t.Fatalf("a new disk PUT with another's body as read: %v", err)
	}
	got.Properties.DiskIOPSReadWrite = to.Ptr(*got.Properties.DiskIOPSReadWrite + 1)
	_, err = fixture.Wait(e.disks.BeginCreateOrUpdate(ctx, e.rg, "std", got.Disk, nil))
	wantRefused("PUT of the disk with other IOPS", "diskIOPSReadWrite", err)
	if d, _ := e.disks.Get(ctx, e.rg, "std", nil); *d.Properties.DiskIOPSReadWrite != *std.Properties.DiskIOPSReadWrite {
		t.Fatalf("IOPS after the refused changes: %d, was %d", *d.Properties.DiskIOPSReadWrite, *std.Properties.DiskIOPSReadWrite)
	}
}

// An Upload disk's uploadSizeBytes is a fixed VHD's size, as Azure takes
// it: a whole number of MiB plus the 512-byte footer, from 20 MiB + 512
// to 32 TiB + 512 bytes; anything else is 400 InvalidParameter saying
// what to send, and no disk is made.
func TestUploadSizeIsAVHDSize(t *testing.T) {
	e, ctx := start(t)
	upload := func(name string, n int64) (armcompute.Disk, error) {
		res, err := fixture.Wait(e.disks.BeginCreateOrUpdate(ctx, e.rg, name, armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{
			CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionUpload), UploadSizeBytes: to.Ptr(n)}}}, nil))
		return res.Disk, err
	}
	for _, c := range []struct {
		n    int64
		hint string
	}{
		{128 << 20, "134218240"},      // raw, no room for the footer
		{128<<20 + 1024, "135266816"}, // not a whole MiB of data
		{1<<20 + 512, "20972032"},     // under 20 MiB
		{19<<20 + 512, "20972032"},
		{32767<<30 + 1<<20 + 512, "35183298347520"}, // over 32767 GiB
	} {
		_, err := upload("bad", c.n)
		re := testserver.WantError(t, "uploadSizeBytes "+strconv.FormatInt(c.n, 10), err, http.StatusBadRequest, "InvalidParameter")
		if !strings.Contains(re.Error(), "uploadSizeBytes") || !strings.Contains(re.Error(), c.hint) {
			t.Fatalf("uploadSizeBytes %d: the error does not say what to send (%s): %v", c.n, c.hint, re)
		}
	}
	if _, err := e.disks.Get(ctx, e.rg, "bad", nil); func() bool { st, _ := testserver.ErrorOf(err); return st != http.StatusNotFound }() {
		t.Fatalf("a refused upload disk exists: %v", err)
	}
	for i, n := range []int64{20<<20 + 512, 1<<30 + 512} {
		d, err := upload("up"+strconv.Itoa(i), n)
		if err != nil || *d.Properties.DiskState != armcompute.DiskStateReadyToUpload || *d.Properties.CreationData.UploadSizeBytes != n {
			t.Fatalf("upload of %d bytes: %+v %v", n, d.Properties, err)
		}
	}
}

// The compute SKUs list the zones of their region as Azure has them:
// 1, 2 and 3 in a region with zones (East US), none in one without (West
// US), where no zone-redundant (_ZRS) disk or snapshot sku is offered.
func TestResourceSKUZonesAreTheRegions(t *testing.T) {
	e, _ := start(t)
	c, err := armcompute.NewResourceSKUsClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	skus := func(loc string) map[string][]string {
		out := map[string][]string{}
		for page := range fixture.Pages(t, c.NewListPager(&armcompute.ResourceSKUsClientListOptions{Filter: to.Ptr("location eq '" + loc + "'")})) {
			for _, k := range page.Value {
				var zones []string
				for _, z := range k.LocationInfo[0].Zones {
					zones = append(zones, *z)
				}
				out[*k.ResourceType+"/"+*k.Name] = zones
			}
		}
		return out
	}
	east, west := skus("eastus"), skus("westus")
	for _, k := range []string{"disks/Premium_ZRS", "disks/Standard_LRS", "snapshots/Standard_ZRS", "virtualMachines/Standard_D2s_v3"} {
		if z := strings.Join(east[k], ","); z != "1,2,3" {
			t.Errorf("eastus %s: zones %q, want 1,2,3", k, z)
		}
	}
	for k, z := range west {
		if len(z) != 0 || strings.HasSuffix(k, "_ZRS") {
			t.Errorf("westus lists %s with zones %v", k, z)
		}
	}
	if _, ok := west["virtualMachines/Standard_D2s_v3"]; !ok || len(west) == 0 {
		t.Fatalf("westus lists no Standard_D2s_v3: %d skus", len(west))
	}
}

// A copy of a snapshot is incremental as its request says, as Azure has
// it: a full copy (incremental false or left out) of any snapshot, in no
// family; an incremental copy of an incremental snapshot only, in its
// family; CopyStart copies an incremental snapshot to an incremental one
// only. The copies hold their source's content.
func TestSnapshotCopyIsIncrementalAsAsked(t *testing.T) {
	e, ctx := start(t)
	e.putDisk("d1", armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionUpload), UploadSizeBytes: to.Ptr[int64](20<<20 + 512)}}})
	sas := e.grantDisk("d1", armcompute.AccessLevelWrite)
	p := bytes.Repeat([]byte{0x6b}, 1<<20)
	if err := e.writeSAS(sas, 3<<20, p); err != nil {
		t.Fatal(err)
	}
	e.revokeDisk("d1")
	d1, err := e.disks.Get(ctx, e.rg, "d1", nil)
	if err != nil {
		t.Fatal(err)
	}
	inc := e.snapshot("inc", "d1", true)
	e.snapshot("full", "d1", false)
	copyOf := func(name, src string, option armcompute.DiskCreateOption, incremental *bool) (armcompute.Snapshot, error) {
		res, err := fixture.Wait(e.snaps.BeginCreateOrUpdate(ctx, e.rg, name, armcompute.Snapshot{Location: to.Ptr("westus"), Properties: &armcompute.SnapshotProperties{
			CreationData: &armcompute.CreationData{CreateOption: to.Ptr(option), SourceResourceID: to.Ptr(e.snapID(src))}, Incremental: incremental}}, nil))
		return res.Snapshot, err
	}
	family := func(s armcompute.Snapshot) string {
		if s.Properties.IncrementalSnapshotFamilyID == nil {
			return ""
		}
		return *s.Properties.IncrementalSnapshotFamilyID
	}
	for _, c := range []struct {
		name, src   string
		option      armcompute.DiskCreateOption
		incremental *bool
		want        bool
	}{
		{"inc-full", "inc", armcompute.DiskCreateOptionCopy, to.Ptr(false), false},
		{"inc-unsaid", "inc", armcompute.DiskCreateOptionCopy, nil, false},
		{"inc-inc", "inc", armcompute.DiskCreateOptionCopy, to.Ptr(true), true},
		{"full-full", "full", armcompute.DiskCreateOptionCopy, nil, false},
		{"inc-start", "inc", armcompute.DiskCreateOptionCopyStart, to.Ptr(true), true},
		{"inc-start-unsaid", "inc", armcompute.DiskCreateOptionCopyStart, nil, true},
	} {
		s, err := copyOf(c.name, c.src, c.option, c.incremental)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got, err := e.snaps.Get(ctx, e.rg, c.name, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []armcompute.Snapshot{s, got.Snapshot} {
			if *s.Properties.Incremental != c.want {
				t.Fatalf("%s: incremental %v, want %v", c.name, *s.Properties.Incremental, c.want)
			}
			if want := map[bool]string{true: family(inc), false: ""}[c.want]; family(s) != want || (c.want && want != *d1.Properties.UniqueID) {
				t.Fatalf("%s: family %q, want %q", c.name, family(s), want)
			}
		}
		// Its content is the disk's.
		e.diskFromSnapshot("from-"+c.name, c.name)
		r := e.grantDisk("from-"+c.name, armcompute.AccessLevelRead)
		if got := fixture.ReadPages(t, e.pageClient(r), 3<<20, 1<<20); !bytes.Equal(got, p) {
			t.Fatalf("%s: a disk from the copy reads other bytes", c.name)
		}
		e.revokeDisk("from-" + c.name)
	}
	for _, c := range []struct {
		name, src   string
		option      armcompute.DiskCreateOption
		incremental *bool
		target      string
	}{
		{"full-inc", "full", armcompute.DiskCreateOptionCopy, to.Ptr(true), "incremental"},
		{"full-start", "full", armcompute.DiskCreateOptionCopyStart, to.Ptr(true), "CopyStart"},
		{"inc-start-full", "inc", armcompute.DiskCreateOptionCopyStart, to.Ptr(false), "incremental"},
	} {
		_, err := copyOf(c.name, c.src, c.option, c.incremental)
		re := testserver.WantError(t, c.name, err, http.StatusBadRequest, "BadRequest")
		if !strings.Contains(re.Error(), c.target) {
			t.Fatalf("%s: the error does not name %s: %v", c.name, c.target, re)
		}
		if _, err := e.snaps.Get(ctx, e.rg, c.name, nil); func() bool { st, _ := testserver.ErrorOf(err); return st != http.StatusNotFound }() {
			t.Fatalf("%s: a refused copy exists: %v", c.name, err)
		}
	}
}

// A VM's data disk keeps writeAcceleratorEnabled (it was dropped), which
// Azure takes only on an M-series VM's Premium_LRS disk without
// read-write caching (400 InvalidParameter naming the field otherwise);
// an UltraSSD_LRS disk attaches only to a VM with
// additionalCapabilities.ultraSSDEnabled (Azure's 400 InvalidParameter),
// and is never an OS disk.
func TestVMDataDiskWriteAcceleratorAndUltraSSD(t *testing.T) {
	e, ctx := start(t)
	e.emptyDisk("os", 1)
	e.emptyDisk("os2", 1)
	e.emptyDisk("std", 1)
	withSKU := func(name string, sku armcompute.DiskStorageAccountTypes) {
		e.putDisk(name, armcompute.Disk{Location: to.Ptr("westus"), SKU: &armcompute.DiskSKU{Name: to.Ptr(sku)}, Properties: &armcompute.DiskProperties{
			CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionEmpty)}, DiskSizeGB: to.Ptr[int32](4)}})
	}
	withSKU("prem", armcompute.DiskStorageAccountTypesPremiumLRS)
	withSKU("prem2", armcompute.DiskStorageAccountTypesPremiumLRS)
	withSKU("ultra", armcompute.DiskStorageAccountTypesUltraSSDLRS)
	type dd struct {
		disk  string
		wa    *bool
		cache armcompute.CachingTypes
	}
	put := func(name, size, osDisk string, ultra *bool, disks ...dd) (armcompute.VirtualMachine, error) {
		var dds []*armcompute.DataDisk
		for i, d := range disks {
			x := &armcompute.DataDisk{Lun: to.Ptr(int32(i)), CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach),
				ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(e.diskID(d.disk))}, WriteAcceleratorEnabled: d.wa}
			if d.cache != "" {
				x.Caching = to.Ptr(d.cache)
			}
			dds = append(dds, x)
		}
		vm := armcompute.VirtualMachine{Location: to.Ptr("westus"), Properties: &armcompute.VirtualMachineProperties{
			HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypes(size))},
			StorageProfile: &armcompute.StorageProfile{OSDisk: &armcompute.OSDisk{CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach),
				ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(e.diskID(osDisk))}}, DataDisks: dds}}}
		if ultra != nil {
			vm.Properties.AdditionalCapabilities = &armcompute.AdditionalCapabilities{UltraSSDEnabled: ultra}
		}
		res, err := fixture.Wait(e.vms.BeginCreateOrUpdate(ctx, e.rg, name, vm, nil))
		return res.VirtualMachine, err
	}
	wantBad := func(what, target string, err error) {
		t.Helper()
		re := testserver.WantError(t, what, err, http.StatusBadRequest, "InvalidParameter")
		if !strings.Contains(re.Error(), target) {
			t.Fatalf("%s: the error does not name %s: %v", what, target, re)
		}
	}
	waOf := func(vm armcompute.VirtualMachine) []bool {
		var out []bool
		for _, d := range vm.Properties.StorageProfile.DataDisks {
			out = append(out, d.WriteAcceleratorEnabled != nil && *d.WriteAcceleratorEnabled)
		}
		return out
	}
	// Write Accelerator on an M-series VM's Premium_LRS disk: kept, through
	// a GET, a PATCH of the tags and a PUT that does not say.
	vm, err := put("m1", "Standard_M8ms", "os", nil, dd{"prem", to.Ptr(true), armcompute.CachingTypesNone}, dd{"std", nil, ""})
	if err != nil {
		t.Fatal(err)
	}
	if got := waOf(vm); len(got) != 2 || !got[0] || got[1] {
		t.Fatalf("writeAcceleratorEnabled of the new VM's disks: %v", got)
	}
	if _, err := fixture.Wait(e.vms.BeginUpdate(ctx, e.rg, "m1", armcompute.VirtualMachineUpdate{Tags: map[string]*string{"k": to.Ptr("v")}}, nil)); err != nil {
		t.Fatal(err)
	}
	got, err := e.vms.Get(ctx, e.rg, "m1", nil)
	if err != nil || !waOf(got.VirtualMachine)[0] {
		t.Fatalf("writeAcceleratorEnabled after a PATCH of the tags: %v %v", waOf(got.VirtualMachine), err)
	}
	if vm, err = put("m1", "Standard_M8ms", "os", nil, dd{"prem", to.Ptr(false), ""}, dd{"std", nil, ""}); err != nil || waOf(vm)[0] {
		t.Fatalf("writeAcceleratorEnabled turned off: %v %v", waOf(vm), err)
	}
	// Refused: another series, another sku, read-write caching.
	_, err = put("m1", "Standard_M8ms", "os", nil, dd{"prem", to.Ptr(true), armcompute.CachingTypesReadWrite}, dd{"std", nil, ""})
	wantBad("Write Accelerator with ReadWrite caching", "dataDisks[0].writeAcceleratorEnabled", err)
	_, err = put("m1", "Standard_M8ms", "os", nil, dd{"prem", nil, ""}, dd{"std", to.Ptr(true), ""})
	wantBad("Write Accelerator on a Standard_LRS disk", "dataDisks[1].writeAcceleratorEnabled", err)
	_, err = put("d1", "Standard_D2s_v3", "os2", nil, dd{"prem2", to.Ptr(true), ""})
	wantBad("Write Accelerator on a D-series VM", "dataDisks[0].writeAcceleratorEnabled", err)
	if _, err := e.vms.Get(ctx, e.rg, "d1", nil); func() bool { st, _ := testserver.ErrorOf(err); return st != http.StatusNotFound }() {
		t.Fatalf("a refused VM exists: %v", err)
	}
	// attachDetachDataDisks takes it too.
	if _, err := fixture.Wait(e.vms.BeginAttachDetachDataDisks(ctx, e.rg, "m1", armcompute.AttachDetachDataDisksRequest{
		DataDisksToDetach: []*armcompute.DataDisksToDetach{{DiskID: to.Ptr(e.diskID("prem"))}}}, nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := fixture.Wait(e.vms.BeginAttachDetachDataDisks(ctx, e.rg, "m1", armcompute.AttachDetachDataDisksRequest{
		DataDisksToAttach: []*armcompute.DataDisksToAttach{{DiskID: to.Ptr(e.diskID("prem")), Lun: to.Ptr[int32](5), WriteAcceleratorEnabled: to.Ptr(true)}}}, nil)); err != nil {
		t.Fatal(err)
	}
	got, err = e.vms.Get(ctx, e.rg, "m1", nil)
	if err != nil || len(waOf(got.VirtualMachine)) != 2 || !waOf(got.VirtualMachine)[1] {
		t.Fatalf("writeAcceleratorEnabled of a disk attached by attachDetachDataDisks: %v %v", waOf(got.VirtualMachine), err)
	}

	// UltraSSD_LRS: only with ultraSSDEnabled, only as a data disk, and
	// without host caching.
	_, err = put("u1", "Standard_D2s_v3", "os2", nil, dd{"ultra", nil, ""})
	wantBad("an UltraSSD_LRS disk on a VM without ultraSSDEnabled", "ultraSSDEnabled", err)
	_, err = put("u1", "Standard_D2s_v3", "os2", to.Ptr(false), dd{"ultra", nil, ""})
	wantBad("an UltraSSD_LRS disk on a VM with ultraSSDEnabled false", "ultraSSDEnabled", err)
	_, err = put("u1", "Standard_D2s_v3", "os2", to.Ptr(true), dd{"ultra", nil, armcompute.CachingTypesReadOnly})
	wantBad("an UltraSSD_LRS disk with ReadOnly caching", "caching", err)
	_, err = put("u1", "Standard_D2s_v3", "ultra", to.Ptr(true))
	wantBad("an UltraSSD_LRS OS disk", "OS disk", err)
	if d, _ := e.disks.Get(ctx, e.rg, "ultra", nil); d.ManagedBy != nil {
		t.Fatalf("a refused attach left the disk managed by %s", *d.ManagedBy)
	}
	if _, err := put("u1", "Standard_D2s_v3", "os2", to.Ptr(true), dd{"ultra", nil, ""}); err != nil {
		t.Fatalf("an UltraSSD_LRS disk on a VM with ultraSSDEnabled: %v", err)
	}
}

// A deallocated VM's disk grown or given another sku shows its new size
// and sku in the VM's storage profile, as Azure's VM does.
func TestVMShowsItsDisksNewSizeAndSKU(t *testing.T) {
	e, ctx := start(t)
	e.emptyDisk("os", 1)
	e.emptyDisk("data", 1)
	if _, err := e.vmWith("vm1", "os", "data"); err != nil {
		t.Fatal(err)
	}
	if _, err := fixture.Wait(e.vms.BeginDeallocate(ctx, e.rg, "vm1", nil)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"os", "data"} {
		if _, err := fixture.Wait(e.disks.BeginUpdate(ctx, e.rg, name, armcompute.DiskUpdate{SKU: &armcompute.DiskSKU{Name: to.Ptr(armcompute.DiskStorageAccountTypesPremiumLRS)},
			Properties: &armcompute.DiskUpdateProperties{DiskSizeGB: to.Ptr[int32](2)}}, nil)); err != nil {
			t.Fatal(err)
		}
	}
	vm, err := e.vms.Get(ctx, e.rg, "vm1", nil)
	if err != nil {
		t.Fatal(err)
	}
	sp := vm.Properties.StorageProfile
	for _, d := range []struct {
		size *int32
		md   *armcompute.ManagedDiskParameters
	}{{sp.OSDisk.DiskSizeGB, sp.OSDisk.ManagedDisk}, {sp.DataDisks[0].DiskSizeGB, sp.DataDisks[0].ManagedDisk}} {
		if d.size == nil || *d.size != 2 || d.md.StorageAccountType == nil || *d.md.StorageAccountType != armcompute.StorageAccountTypesPremiumLRS {
			var size int32
			var sku armcompute.StorageAccountTypes
			if d.size != nil {
				size = *d.size
			}
			if d.md.StorageAccountType != nil {
				sku = *d.md.StorageAccountType
			}
			t.Fatalf("the VM shows its disk %s as %d GB %s, want 2 GB Premium_LRS", *d.md.ID, size, sku)
		}
	}
}
