package compute_test

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestPremiumDiskTier: a Premium SSD disk answers its performance tier:
// its size's baseline (P10 for 128 GiB), or the higher one set at create
// or by a PATCH; a tier below the baseline, P60 and up on a disk of 4096
// GiB or less, an unknown one or one on a Standard disk are 400
// InvalidParameter naming properties.tier (a refused create makes no
// disk); a resize past the tier raises it to the new baseline, and a PUT
// of the body read back with a larger size keeps working. A Standard disk
// answers no tier. Every Premium disk answered tier null.
func TestPremiumDiskTier(t *testing.T) {
	e, ctx := start(t)
	premium := func(sizeGB int32, tier string) armcompute.Disk {
		d := fixture.EmptyDisk("westus", sizeGB)
		d.SKU = &armcompute.DiskSKU{Name: to.Ptr(armcompute.DiskStorageAccountTypesPremiumLRS)}
		if tier != "" {
			d.Properties.Tier = to.Ptr(tier)
		}
		return d
	}
	tierOf := func(name string) string {
		t.Helper()
		d, err := e.disks.Get(ctx, e.rg, name, nil)
		if err != nil {
			t.Fatal(err)
		}
		if d.Properties.Tier == nil {
			return ""
		}
		return *d.Properties.Tier
	}
	if d := e.putDisk("p", premium(128, "")); d.Properties.Tier == nil || *d.Properties.Tier != "P10" {
		t.Fatalf("a 128 GiB Premium disk's tier: %v, want P10", to.Ptr(d.Properties.Tier))
	}
	if got := tierOf("p"); got != "P10" {
		t.Fatalf("GET: tier %q, want P10", got)
	}
	if d := e.putDisk("p2", premium(128, "P30")); *d.Properties.Tier != "P30" {
		t.Fatalf("a disk created with tier P30: %s", *d.Properties.Tier)
	}
	for _, c := range []struct{ name, tier string }{{"low", "P4"}, {"big", "P60"}, {"odd", "P11"}} {
		_, err := fixture.Wait(e.disks.BeginCreateOrUpdate(ctx, e.rg, c.name, premium(128, c.tier), nil))
		re := testserver.WantError(t, "tier "+c.tier+" on a 128 GiB disk", err, 400, "InvalidParameter")
		if !strings.Contains(re.Error(), "properties.tier") {
			t.Fatalf("tier %s: the refusal does not name properties.tier: %v", c.tier, re)
		}
		if _, err := e.disks.Get(ctx, e.rg, c.name, nil); !testserver.HasError(err, 404, "") {
			t.Fatalf("a refused create made disk %s: %v", c.name, err)
		}
	}

	patch := func(name string, u armcompute.DiskUpdate) (armcompute.Disk, error) {
		r, err := fixture.Wait(e.disks.BeginUpdate(ctx, e.rg, name, u, nil))
		return r.Disk, err
	}
	if d, err := patch("p", armcompute.DiskUpdate{Properties: &armcompute.DiskUpdateProperties{Tier: to.Ptr("P40")}}); err != nil || *d.Properties.Tier != "P40" {
		t.Fatalf("PATCH tier P40: %v", err)
	}
	_, err := patch("p", armcompute.DiskUpdate{Properties: &armcompute.DiskUpdateProperties{Tier: to.Ptr("P6")}})
	testserver.WantError(t, "PATCH tier P6 on a 128 GiB disk", err, 400, "InvalidParameter")
	if got := tierOf("p"); got != "P40" {
		t.Fatalf("after the refused PATCH: tier %q, want P40", got)
	}
	// Back down to the baseline (12 hours on: TestTierDowngradeWaits),
	// then a resize past it: the new baseline.
	advance(t, e, "PT12H")
	if d, err := patch("p", armcompute.DiskUpdate{Properties: &armcompute.DiskUpdateProperties{Tier: to.Ptr("P10")}}); err != nil || *d.Properties.Tier != "P10" {
		t.Fatalf("PATCH tier P10: %v", err)
	}
	if d, err := patch("p", armcompute.DiskUpdate{Properties: &armcompute.DiskUpdateProperties{DiskSizeGB: to.Ptr[int32](1024)}}); err != nil || *d.Properties.Tier != "P30" {
		t.Fatalf("resize to 1024 GiB: %v %v", err, d.Properties)
	}
	// A PUT of the body read back, larger: its tier follows the size.
	got, err := e.disks.Get(ctx, e.rg, "p", nil)
	if err != nil {
		t.Fatal(err)
	}
	body := got.Disk
	body.Properties.DiskSizeGB = to.Ptr[int32](2048)
	if d := e.putDisk("p", body); *d.Properties.Tier != "P40" || *d.Properties.DiskSizeGB != 2048 {
		t.Fatalf("PUT back 2048 GiB with tier P30: tier %s, size %d", *d.Properties.Tier, *d.Properties.DiskSizeGB)
	}

	// A Standard disk has no tier, and takes none.
	if d := e.emptyDisk("s", 128); d.Properties.Tier != nil {
		t.Fatalf("a Standard_LRS disk's tier: %s", *d.Properties.Tier)
	}
	_, err = patch("s", armcompute.DiskUpdate{Properties: &armcompute.DiskUpdateProperties{Tier: to.Ptr("P10")}})
	testserver.WantError(t, "a tier on a Standard_LRS disk", err, 400, "InvalidParameter")
	// Its sku to Premium_LRS: the baseline.
	if d, err := patch("s", armcompute.DiskUpdate{SKU: &armcompute.DiskSKU{Name: to.Ptr(armcompute.DiskStorageAccountTypesPremiumLRS)}}); err != nil || d.Properties.Tier == nil || *d.Properties.Tier != "P10" {
		t.Fatalf("a Standard disk made Premium_LRS: %v", err)
	}
}

// advance moves the server's clock on by duration (ISO 8601).
func advance(t *testing.T, e *env, duration string) {
	t.Helper()
	if resp, m := e.Do("POST", "/providers/Safehold.Admin/clock/advance?api-version=2024-01-01", map[string]string{"duration": duration}); resp.StatusCode != 200 {
		t.Fatalf("clock advance %s: %d %v", duration, resp.StatusCode, m)
	}
}

// TestTierDowngradeWaits: as in Azure, a disk's performance tier can be
// downgraded only 12 hours after it last changed (on the server's clock):
// a PATCH to a lower tier sooner is 409 OperationNotAllowed saying from
// when it can, and leaves the tier; an upgrade is never held back, and
// starts the 12 hours again, as a tier set at create does. A tier could
// be lowered at once.
func TestTierDowngradeWaits(t *testing.T) {
	e, ctx := start(t)
	patch := func(name, tier string) (armcompute.Disk, error) {
		r, err := fixture.Wait(e.disks.BeginUpdate(ctx, e.rg, name, armcompute.DiskUpdate{Properties: &armcompute.DiskUpdateProperties{Tier: to.Ptr(tier)}}, nil))
		return r.Disk, err
	}
	refused := func(name, tier, what string) {
		t.Helper()
		_, err := patch(name, tier)
		re := testserver.WantError(t, what, err, 409, "OperationNotAllowed")
		if !strings.Contains(re.Error(), "12 hours") {
			t.Fatalf("%s: the refusal does not say when: %v", what, re)
		}
	}
	tierOf := func(name string) string {
		t.Helper()
		d, err := e.disks.Get(ctx, e.rg, name, nil)
		if err != nil {
			t.Fatal(err)
		}
		return *d.Properties.Tier
	}
	d := fixture.EmptyDisk("westus", 128)
	d.SKU = &armcompute.DiskSKU{Name: to.Ptr(armcompute.DiskStorageAccountTypesPremiumLRS)}
	e.putDisk("p", d)
	if _, err := patch("p", "P40"); err != nil {
		t.Fatal(err)
	}
	refused("p", "P20", "a downgrade at once after the upgrade")
	advance(t, e, "PT11H")
	refused("p", "P10", "a downgrade 11 hours after the upgrade")
	if got := tierOf("p"); got != "P40" {
		t.Fatalf("after the refused downgrades: tier %s, want P40", got)
	}
	advance(t, e, "PT1H")
	if r, err := patch("p", "P20"); err != nil || *r.Properties.Tier != "P20" {
		t.Fatalf("a downgrade 12 hours after the upgrade: %v", err)
	}
	refused("p", "P10", "a second downgrade at once")
	if r, err := patch("p", "P50"); err != nil || *r.Properties.Tier != "P50" {
		t.Fatalf("an upgrade right after a downgrade: %v", err)
	}
	refused("p", "P20", "a downgrade at once after the second upgrade")

	// A disk created with a tier above its baseline: created then.
	d.Properties.Tier = to.Ptr("P30")
	e.putDisk("q", d)
	refused("q", "P10", "a downgrade at once after a create at P30")
	advance(t, e, "PT12H")
	if r, err := patch("q", "P10"); err != nil || *r.Properties.Tier != "P10" {
		t.Fatalf("the created disk's downgrade 12 hours on: %v", err)
	}
}
