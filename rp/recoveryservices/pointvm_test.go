package recoveryservices_test

import (
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestSDKPointOfZonalPrivateVM: a recovery point of a VM created through
// the SDK in zone 1 with size Standard_D1, one of whose disks allows
// private access only (networkAccessPolicy AllowPrivate), reports the VM's
// zones, its size and isPrivateAccessEnabledOnAnyDisk. A zonal VM takes
// disks of its zone only, and its zone cannot change.
func TestSDKPointOfZonalPrivateVM(t *testing.T) {
	e, _ := vaultEnv(t, "v1", "vmrg")
	ctx := e.Ctx()
	cf := testserver.Factory(e, armcompute.NewClientFactory)
	disk := func(name string, zones []string, policy armcompute.NetworkAccessPolicy) string {
		t.Helper()
		d := armcompute.Disk{Location: to.Ptr("westus"), Zones: to.SliceOfPtrs(zones...), Properties: &armcompute.DiskProperties{
			CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionEmpty)}, DiskSizeGB: to.Ptr[int32](1),
			NetworkAccessPolicy: to.Ptr(policy)}}
		if policy == armcompute.NetworkAccessPolicyAllowPrivate {
			d.Properties.DiskAccessID = to.Ptr("/subscriptions/" + e.Sub + "/resourceGroups/vmrg/providers/Microsoft.Compute/diskAccesses/da1")
		}
		p, err := cf.NewDisksClient().BeginCreateOrUpdate(ctx, "vmrg", name, d, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := p.PollUntilDone(ctx, fixture.Poll)
		if err != nil {
			t.Fatal(err)
		}
		return *res.ID
	}
	osID := disk("vm1-os", []string{"1"}, armcompute.NetworkAccessPolicyAllowAll)
	dataID := disk("vm1-data", []string{"1"}, armcompute.NetworkAccessPolicyAllowPrivate)
	regionalID := disk("regional", nil, armcompute.NetworkAccessPolicyAllowAll)
	vm := func(zones []string, data string) error {
		p, err := cf.NewVirtualMachinesClient().BeginCreateOrUpdate(ctx, "vmrg", "vm1", armcompute.VirtualMachine{Location: to.Ptr("westus"), Zones: to.SliceOfPtrs(zones...),
			Properties: &armcompute.VirtualMachineProperties{HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypesStandardD1)},
				StorageProfile: &armcompute.StorageProfile{OSDisk: &armcompute.OSDisk{CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach),
					OSType: to.Ptr(armcompute.OperatingSystemTypesLinux), ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(osID)}},
					DataDisks: []*armcompute.DataDisk{{Lun: to.Ptr[int32](0), CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach),
						ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(data)}}}}}}, nil)
		if err == nil {
			_, err = p.PollUntilDone(ctx, fixture.Poll)
		}
		return err
	}
	if st, code := testserver.ErrorOf(vm([]string{"1"}, regionalID)); st != http.StatusBadRequest || code != "InvalidParameter" {
		t.Fatalf("a zonal VM with a regional disk: %d %s", st, code)
	}
	if err := vm([]string{"1"}, dataID); err != nil {
		t.Fatal(err)
	}
	if st, code := testserver.ErrorOf(vm([]string{"2"}, dataID)); st != http.StatusConflict || code != "PropertyChangeNotAllowed" {
		t.Fatalf("moving the VM to zone 2: %d %s", st, code)
	}
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	props := vm1Point(t, e, bf)
	if len(props.Zones) != 1 || *props.Zones[0] != "1" || *props.VirtualMachineSize != "Standard_D1" || props.IsPrivateAccessEnabledOnAnyDisk == nil || !*props.IsPrivateAccessEnabledOnAnyDisk {
		t.Fatalf("point: zones %v size %s private %v", props.Zones, *props.VirtualMachineSize, props.IsPrivateAccessEnabledOnAnyDisk)
	}
}
