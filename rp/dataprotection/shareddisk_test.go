package dataprotection_test

import (
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestSharedDiskBacksUp: Azure Disk Backup protects shared disks (its
// support matrix: managed disks including shared Premium SSDs), so a
// protected disk made shared (Premium_LRS, maxShares 2) and attached to two
// VMs at once backs up to a recovery point. The second VM's attach was
// refused (a shared disk attached to one VM at a time).
func TestSharedDiskBacksUp(t *testing.T) {
	e := testserver.Start(t)
	dv := fixture.ProtectDisk(t, e)
	ctx := e.Ctx()
	cf := testserver.Factory(e, armcompute.NewClientFactory)
	_, err := fixture.Wait(cf.NewDisksClient().BeginUpdate(ctx, "disk-rg", "data1", armcompute.DiskUpdate{SKU: &armcompute.DiskSKU{Name: to.Ptr(armcompute.DiskStorageAccountTypesPremiumLRS)},
		Properties: &armcompute.DiskUpdateProperties{MaxShares: to.Ptr[int32](2)}}, nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, vm := range []string{"vm1", "vm2"} {
		os, err := fixture.Wait(cf.NewDisksClient().BeginCreateOrUpdate(ctx, "disk-rg", vm+"-os", fixture.EmptyDisk("westus", 1), nil))
		if err != nil {
			t.Fatal(err)
		}
		fixture.VM(t, e, "disk-rg", vm, *os.ID, dv.DiskID)
	}
	d, err := cf.NewDisksClient().Get(ctx, "disk-rg", "data1", nil)
	if err != nil || len(d.ManagedByExtended) != 2 {
		t.Fatalf("the shared disk: %v, managedByExtended %v", err, d.ManagedByExtended)
	}
	dv.Backup(t, e)
	f := testserver.Factory(e, armdataprotection.NewClientFactory)
	n := 0
	for page := range fixture.Pages(t, f.NewRecoveryPointsClient().NewListPager(dv.RG, dv.Vault, dv.Instance, nil)) {
		n += len(page.Value)
	}
	if n != 1 {
		t.Fatalf("recovery points of the shared disk: %d, want 1", n)
	}
}
