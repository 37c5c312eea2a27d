package compute_test

import (
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"

	"github.com/safehold/safehold/internal/fixture"
)

// TestDiskPerformanceBySkuAndSize: a disk reports the IOPS and MB/s Azure
// gives its sku and size (Premium SSD by performance tier, P30 5000/200;
// Standard SSD and HDD by size, 500/60 up to 4 TiB, E70 4000/600, S70
// 2000/500), as created, with a higher tier set, and after a resize; an
// Ultra or Premium SSD v2 disk reports what it was given, 3000/125 when
// nothing. Every disk reported 500/60 before, whatever its sku and size.
func TestDiskPerformanceBySkuAndSize(t *testing.T) {
	e, ctx := start(t)
	disk := func(sku armcompute.DiskStorageAccountTypes, gb int32, tier string, iops, mbps *int64) armcompute.Disk {
		d := armcompute.Disk{Location: to.Ptr("westus"), SKU: &armcompute.DiskSKU{Name: to.Ptr(sku)}, Properties: &armcompute.DiskProperties{
			CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionEmpty)}, DiskSizeGB: to.Ptr(gb),
			DiskIOPSReadWrite: iops, DiskMBpsReadWrite: mbps}}
		if tier != "" {
			d.Properties.Tier = to.Ptr(tier)
		}
		return d
	}
	want := func(what string, d armcompute.Disk, iops, mbps int64) {
		t.Helper()
		p := d.Properties
		if p.DiskIOPSReadWrite == nil || p.DiskMBpsReadWrite == nil || *p.DiskIOPSReadWrite != iops || *p.DiskMBpsReadWrite != mbps {
			val := func(v *int64) int64 {
				if v == nil {
					return -1
				}
				return *v
			}
			t.Errorf("%s: %d IOPS %d MB/s, want %d/%d", what, val(p.DiskIOPSReadWrite), val(p.DiskMBpsReadWrite), iops, mbps)
		}
	}
	for _, c := range []struct {
		name       string
		sku        armcompute.DiskStorageAccountTypes
		gb         int32
		tier       string
		iops, mbps *int64
		wantIOPS   int64
		wantMBps   int64
	}{
		{"p1", armcompute.DiskStorageAccountTypesPremiumLRS, 4, "", nil, nil, 120, 25},
		{"p10", armcompute.DiskStorageAccountTypesPremiumLRS, 128, "", nil, nil, 500, 100},
		{"p30", armcompute.DiskStorageAccountTypesPremiumLRS, 1024, "", nil, nil, 5000, 200},
		{"p10asp30", armcompute.DiskStorageAccountTypesPremiumLRS, 128, "P30", nil, nil, 5000, 200},
		{"p70zrs", armcompute.DiskStorageAccountTypesPremiumZRS, 16000, "", nil, nil, 18000, 750},
		{"e10", armcompute.DiskStorageAccountTypesStandardSSDLRS, 128, "", nil, nil, 500, 60},
		{"e60", armcompute.DiskStorageAccountTypesStandardSSDLRS, 8192, "", nil, nil, 2000, 400},
		{"e70", armcompute.DiskStorageAccountTypesStandardSSDZRS, 16000, "", nil, nil, 4000, 600},
		{"s4", armcompute.DiskStorageAccountTypesStandardLRS, 4, "", nil, nil, 500, 60},
		{"s60", armcompute.DiskStorageAccountTypesStandardLRS, 8000, "", nil, nil, 1300, 300},
		{"s70", armcompute.DiskStorageAccountTypesStandardLRS, 16000, "", nil, nil, 2000, 500},
		{"ultra", armcompute.DiskStorageAccountTypesUltraSSDLRS, 1024, "", to.Ptr[int64](20000), to.Ptr[int64](800), 20000, 800},
		{"ultradefault", armcompute.DiskStorageAccountTypesUltraSSDLRS, 64, "", nil, nil, 3000, 125},
		{"v2default", armcompute.DiskStorageAccountTypesPremiumV2LRS, 64, "", nil, nil, 3000, 125},
	} {
		d := e.putDisk(c.name, disk(c.sku, c.gb, c.tier, c.iops, c.mbps))
		want(c.name+" as created", d, c.wantIOPS, c.wantMBps)
		got, err := e.disks.Get(ctx, e.rg, c.name, nil)
		if err != nil {
			t.Fatal(err)
		}
		want(c.name+" as read", got.Disk, c.wantIOPS, c.wantMBps)
	}
	// A Premium SSD disk grown from P10 to P30's size; a Premium SSD v2
	// disk given other figures.
	if _, err := fixture.Wait(e.disks.BeginUpdate(ctx, e.rg, "p10", armcompute.DiskUpdate{Properties: &armcompute.DiskUpdateProperties{DiskSizeGB: to.Ptr[int32](1024)}}, nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := fixture.Wait(e.disks.BeginUpdate(ctx, e.rg, "v2default", armcompute.DiskUpdate{Properties: &armcompute.DiskUpdateProperties{DiskIOPSReadWrite: to.Ptr[int64](6000), DiskMBpsReadWrite: to.Ptr[int64](300)}}, nil)); err != nil {
		t.Fatal(err)
	}
	for pg := range fixture.Pages(t, e.disks.NewListByResourceGroupPager(e.rg, nil)) {
		for _, d := range pg.Value {
			switch *d.Name {
			case "p10":
				want("p10 grown to 1024 GiB, as listed", *d, 5000, 200)
			case "v2default":
				want("v2default given 6000/300, as listed", *d, 6000, 300)
			case "s70":
				want("s70 as listed", *d, 2000, 500)
			}
		}
	}
}
