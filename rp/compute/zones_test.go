package compute_test

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestZonalResourcesNeedAZonalRegion: a disk or VM asked in an
// availability zone of a region without zones (westus) is 400
// AvailabilityZoneNotSupported naming the region and its zones (none), as
// ARM answers, and nothing is made; a zone the region does not have ("4")
// is refused the same way, two zones are 400
// ResourceTypeNotSupportMultiZones; in a region with zones (eastus2) the
// zonal disk and VM are made. The zonal disk and VM were made in westus.
func TestZonalResourcesNeedAZonalRegion(t *testing.T) {
	e, ctx := start(t)
	zonal := func(location string, zones ...string) armcompute.Disk {
		d := fixture.EmptyDisk(location, 1)
		d.Zones = to.SliceOfPtrs(zones...)
		return d
	}
	for _, c := range []struct {
		name, location, code, says string
		zones                      []string
	}{
		{"zw", "westus", "AvailabilityZoneNotSupported", "location 'westus' are ''", []string{"1"}},
		{"z4", "eastus2", "AvailabilityZoneNotSupported", "location 'eastus2' are '1,2,3'", []string{"4"}},
		{"z12", "eastus2", "ResourceTypeNotSupportMultiZones", "'1,2'", []string{"1", "2"}},
	} {
		_, err := fixture.Wait(e.disks.BeginCreateOrUpdate(ctx, e.rg, c.name, zonal(c.location, c.zones...), nil))
		re := testserver.WantError(t, "disk "+c.name, err, 400, c.code)
		if !strings.Contains(re.Error(), c.says) {
			t.Fatalf("disk %s: the refusal does not say %q: %v", c.name, c.says, re)
		}
		if _, err := e.disks.Get(ctx, e.rg, c.name, nil); !testserver.HasError(err, 404, "") {
			t.Fatalf("a refused create made disk %s: %v", c.name, err)
		}
	}
	vm := func(name, location, osDisk string) error {
		_, err := fixture.Wait(e.vms.BeginCreateOrUpdate(ctx, e.rg, name, armcompute.VirtualMachine{Location: to.Ptr(location), Zones: to.SliceOfPtrs("1"),
			Properties: &armcompute.VirtualMachineProperties{HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypesStandardD2SV3)},
				StorageProfile: &armcompute.StorageProfile{OSDisk: &armcompute.OSDisk{CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach),
					OSType: to.Ptr(armcompute.OperatingSystemTypesLinux), ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(e.diskID(osDisk))}}}}}, nil))
		return err
	}
	e.emptyDisk("west-os", 1)
	re := testserver.WantError(t, "a VM in zone 1 of westus", vm("vmw", "westus", "west-os"), 400, "AvailabilityZoneNotSupported")
	if !strings.Contains(re.Error(), "westus") {
		t.Fatalf("the refusal does not name the region: %v", re)
	}
	if _, err := e.vms.Get(ctx, e.rg, "vmw", nil); !testserver.HasError(err, 404, "") {
		t.Fatalf("a refused create made VM vmw: %v", err)
	}
	if d, err := e.disks.Get(ctx, e.rg, "west-os", nil); err != nil || d.ManagedBy != nil {
		t.Fatalf("the refused VM's OS disk: %v", err)
	}

	e.putDisk("east-os", zonal("eastus2", "1"))
	if err := vm("vme", "eastus2", "east-os"); err != nil {
		t.Fatalf("a VM in zone 1 of eastus2: %v", err)
	}
}

// TestEdgeZonesRefused: Safehold serves no edge zones, so a disk, snapshot
// or VM asked in one (extendedLocation, what az --edge-zone sends) is 400
// LocationNotAvailableForResourceType naming "{edge zone} ({region})", as
// ARM answers an edge zone the type does not have, and nothing is made; a
// re-PUT of an existing disk cannot put it in one. The extendedLocation
// was kept as sent and the resource made in the region.
func TestEdgeZonesRefused(t *testing.T) {
	e, ctx := start(t)
	edge := &armcompute.ExtendedLocation{Name: to.Ptr("microsoftlosangeles1"), Type: to.Ptr(armcompute.ExtendedLocationTypesEdgeZone)}
	want := func(what string, err error) {
		t.Helper()
		re := testserver.WantError(t, what, err, 400, "LocationNotAvailableForResourceType")
		if !strings.Contains(re.Error(), "'microsoftlosangeles1 (West US)'") {
			t.Fatalf("%s: the refusal does not name the edge zone and region: %v", what, re)
		}
	}
	d := fixture.EmptyDisk("westus", 1)
	d.ExtendedLocation = edge
	_, err := fixture.Wait(e.disks.BeginCreateOrUpdate(ctx, e.rg, "edged", d, nil))
	want("a disk in an edge zone", err)
	if _, err := e.disks.Get(ctx, e.rg, "edged", nil); !testserver.HasError(err, 404, "") {
		t.Fatalf("a refused create made the disk: %v", err)
	}

	e.emptyDisk("src", 1)
	_, err = fixture.Wait(e.snaps.BeginCreateOrUpdate(ctx, e.rg, "edges", armcompute.Snapshot{Location: to.Ptr("westus"), ExtendedLocation: edge, Properties: &armcompute.SnapshotProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: to.Ptr(e.diskID("src"))}}}, nil))
	want("a snapshot in an edge zone", err)
	if _, err := e.snaps.Get(ctx, e.rg, "edges", nil); !testserver.HasError(err, 404, "") {
		t.Fatalf("a refused create made the snapshot: %v", err)
	}

	_, err = fixture.Wait(e.vms.BeginCreateOrUpdate(ctx, e.rg, "edgevm", armcompute.VirtualMachine{Location: to.Ptr("westus"), ExtendedLocation: edge,
		Properties: &armcompute.VirtualMachineProperties{HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypesStandardD2SV3)},
			StorageProfile: &armcompute.StorageProfile{OSDisk: &armcompute.OSDisk{CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach),
				OSType: to.Ptr(armcompute.OperatingSystemTypesLinux), ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(e.diskID("src"))}}}}}, nil))
	want("a VM in an edge zone", err)
	if _, err := e.vms.Get(ctx, e.rg, "edgevm", nil); !testserver.HasError(err, 404, "") {
		t.Fatalf("a refused create made the VM: %v", err)
	}

	// An existing disk re-PUT with an edge zone stays in its region.
	got, err := e.disks.Get(ctx, e.rg, "src", nil)
	if err != nil {
		t.Fatal(err)
	}
	body := got.Disk
	body.ExtendedLocation = edge
	_, err = fixture.Wait(e.disks.BeginCreateOrUpdate(ctx, e.rg, "src", body, nil))
	want("a re-PUT of a disk with an edge zone", err)
	if d, err := e.disks.Get(ctx, e.rg, "src", nil); err != nil || d.ExtendedLocation != nil {
		t.Fatalf("the disk after the refused re-PUT: %v %+v", err, d.ExtendedLocation)
	}
}
