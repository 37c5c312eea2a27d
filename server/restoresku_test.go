package server_test

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestRestoredDisksKeepTheSourceSKU: a disk restored by a Backup vault
// (restore to a new disk) or a Recovery Services vault (RestoreDisks) has
// the sku and performance tier its source disk had at the backup, as
// Azure's restored disks do, not Standard_LRS; a zone-redundant source
// restored into an availability zone (RestoreDisks' zones) is the
// locally redundant sku of its type in that zone, and without a zone
// stays zone-redundant. Every restored disk was Standard_LRS.
func TestRestoredDisksKeepTheSourceSKU(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	dc := testserver.Factory(e, armcompute.NewClientFactory).NewDisksClient()
	setSKU := func(id string, sku armcompute.DiskStorageAccountTypes, tier string) {
		t.Helper()
		rg, name := strings.Split(id, "/")[4], id[strings.LastIndex(id, "/")+1:]
		u := armcompute.DiskUpdate{SKU: &armcompute.DiskSKU{Name: to.Ptr(sku)}}
		if tier != "" {
			u.Properties = &armcompute.DiskUpdateProperties{Tier: to.Ptr(tier)}
		}
		p, err := dc.BeginUpdate(ctx, rg, name, u, nil)
		fixture.Done(t, p, err)
	}
	disk := func(id string) armcompute.Disk {
		t.Helper()
		rg, name := strings.Split(id, "/")[4], id[strings.LastIndex(id, "/")+1:]
		d, err := dc.Get(ctx, rg, name, nil)
		if err != nil {
			t.Fatal(err)
		}
		return d.Disk
	}
	shape := func(d armcompute.Disk) string {
		s := string(*d.SKU.Name)
		if d.Properties.Tier != nil {
			s += " " + *d.Properties.Tier
		}
		for _, z := range d.Zones {
			s += " zone " + *z
		}
		return s
	}

	// A Backup vault: the disk is Premium_ZRS at P20 when backed up, and
	// Standard_LRS again when restored.
	dv := fixture.ProtectDisk(t, e)
	setSKU(dv.DiskID, armcompute.DiskStorageAccountTypesPremiumZRS, "P20")
	dv.Backup(t, e)
	setSKU(dv.DiskID, armcompute.DiskStorageAccountTypesStandardLRS, "")
	dp := testserver.Factory(e, armdataprotection.NewClientFactory)
	page, err := dp.NewRecoveryPointsClient().NewListPager(dv.RG, dv.Vault, dv.Instance, nil).NextPage(ctx)
	if err != nil || len(page.Value) != 1 {
		t.Fatalf("points: %v %d", err, len(page.Value))
	}
	target := dv.TargetRG + "/providers/Microsoft.Compute/disks/restored1"
	rp, err := dp.NewBackupInstancesClient().BeginTriggerRestore(ctx, dv.RG, dv.Vault, dv.Instance, &armdataprotection.AzureBackupRecoveryPointBasedRestoreRequest{
		ObjectType: to.Ptr("AzureBackupRecoveryPointBasedRestoreRequest"), RecoveryPointID: page.Value[0].Name,
		SourceDataStoreType: to.Ptr(armdataprotection.SourceDataStoreTypeOperationalStore),
		RestoreTargetInfo: &armdataprotection.RestoreTargetInfo{ObjectType: to.Ptr("RestoreTargetInfo"), RecoveryOption: to.Ptr(armdataprotection.RecoveryOptionFailIfExists),
			RestoreLocation: to.Ptr("westus"), DatasourceInfo: fixture.Datasource(target, "restored1")}}, nil)
	fixture.Done(t, rp, err)
	e.WaitFor("the restored disk", func() bool {
		_, err := dc.Get(ctx, "target-rg", "restored1", nil)
		return err == nil
	})
	if got := shape(disk(target)); got != "Premium_ZRS P20" {
		t.Fatalf("Backup vault: the restored disk is %q, want the source's Premium_ZRS P20", got)
	}

	// A Recovery Services vault (in eastus2, a region with zones): the
	// OS disk StandardSSD_LRS, the data disk Premium_ZRS at P30.
	e.ResourceGroups("vm-rg", "rs-rg")
	mk := func(name string, sku armcompute.DiskStorageAccountTypes, tier string) string {
		t.Helper()
		d := armcompute.Disk{Location: to.Ptr("eastus2"), SKU: &armcompute.DiskSKU{Name: to.Ptr(sku)}, Properties: &armcompute.DiskProperties{
			CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionEmpty)}, DiskSizeGB: to.Ptr[int32](1)}}
		if tier != "" {
			d.Properties.Tier = to.Ptr(tier)
		}
		p, err := dc.BeginCreateOrUpdate(ctx, "vm-rg", name, d, nil)
		return *fixture.Done(t, p, err).ID
	}
	osID := mk("app1-os", armcompute.DiskStorageAccountTypesStandardSSDLRS, "")
	dataID := mk("app1-data0", armcompute.DiskStorageAccountTypesPremiumZRS, "P30")
	vp, err := testserver.Factory(e, armcompute.NewClientFactory).NewVirtualMachinesClient().BeginCreateOrUpdate(ctx, "vm-rg", "app1", armcompute.VirtualMachine{
		Location: to.Ptr("eastus2"), Properties: &armcompute.VirtualMachineProperties{HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypesStandardD2SV3)},
			StorageProfile: &armcompute.StorageProfile{OSDisk: &armcompute.OSDisk{CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach),
				OSType: to.Ptr(armcompute.OperatingSystemTypesLinux), ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(osID)}},
				DataDisks: []*armcompute.DataDisk{{Lun: to.Ptr[int32](0), CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach),
					ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(dataID)}}}}}}, nil)
	vmID := *fixture.Done(t, vp, err).ID
	vault := fixture.StandardVault()
	vault.Location = to.Ptr("eastus2")
	fixture.RSVault(t, e, "rs-rg", "rsvault1", vault)
	v := &fixture.VMVault{RG: "rs-rg", Vault: "rsvault1", Container: "IaasVMContainer;iaasvmcontainerv2;vm-rg;app1", Item: "VM;iaasvmcontainerv2;vm-rg;app1", VMID: vmID}
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	if _, err := bf.NewProtectedItemsClient().CreateOrUpdate(ctx, v.Vault, v.RG, "Azure", v.Container, v.Item, armrecoveryservicesbackup.ProtectedItemResource{
		Properties: &armrecoveryservicesbackup.AzureIaaSComputeVMProtectedItem{SourceResourceID: to.Ptr(vmID),
			PolicyID: to.Ptr("/subscriptions/" + e.Sub + "/resourceGroups/rs-rg/providers/Microsoft.RecoveryServices/vaults/rsvault1/backupPolicies/DefaultPolicy")}}, nil); err != nil {
		t.Fatal(err)
	}
	v.Backup(t, e)
	var point string
	e.WaitFor("the VM's recovery point", func() bool {
		pg, err := bf.NewRecoveryPointsClient().NewListPager(v.Vault, v.RG, "Azure", v.Container, v.Item, nil).NextPage(ctx)
		if err == nil && len(pg.Value) == 1 {
			point = *pg.Value[0].Name
		}
		return point != ""
	})
	e.ResourceGroups("stage-rg", "rs-target1", "rs-target2")
	staging, _ := fixture.StorageAccount(t, e, "stage-rg", "staging1")
	restore := func(rg string, zones ...string) map[string]string {
		t.Helper()
		p, err := bf.NewRestoresClient().BeginTrigger(ctx, v.Vault, v.RG, "Azure", v.Container, v.Item, point, armrecoveryservicesbackup.RestoreRequestResource{
			Properties: &armrecoveryservicesbackup.IaasVMRestoreRequest{ObjectType: to.Ptr("IaasVMRestoreRequest"),
				RecoveryPointID: to.Ptr(point), RecoveryType: to.Ptr(armrecoveryservicesbackup.RecoveryTypeRestoreDisks), SourceResourceID: to.Ptr(v.VMID),
				StorageAccountID: to.Ptr(staging), TargetResourceGroupID: to.Ptr("/subscriptions/" + e.Sub + "/resourceGroups/" + rg), Region: to.Ptr("eastus2"),
				Zones: to.SliceOfPtrs(zones...), CreateNewCloudService: to.Ptr(false), OriginalStorageAccountOption: to.Ptr(false)}}, nil)
		fixture.Done(t, p, err)
		got := map[string]string{}
		for d := range fixture.Pages(t, dc.NewListByResourceGroupPager(rg, nil)) {
			for _, x := range d.Value {
				part := "os"
				if strings.Contains(*x.Name, "datadisk") {
					part = "data"
				}
				got[part] = shape(*x)
			}
		}
		return got
	}
	if got := restore("rs-target1"); got["os"] != "StandardSSD_LRS" || got["data"] != "Premium_ZRS P30" {
		t.Fatalf("Recovery Services vault: restored disks %v, want the OS disk StandardSSD_LRS and the data disk Premium_ZRS P30", got)
	}
	if got := restore("rs-target2", "2"); got["os"] != "StandardSSD_LRS zone 2" || got["data"] != "Premium_LRS P30 zone 2" {
		t.Fatalf("Recovery Services vault: disks restored into zone 2 %v, want StandardSSD_LRS and Premium_LRS P30 (a zonal disk is locally redundant), both in zone 2", got)
	}
}
