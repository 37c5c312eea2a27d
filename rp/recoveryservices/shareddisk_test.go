package recoveryservices_test

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestBackupOfVMWithSharedDisk: Azure VM backup does not back up shared
// disks (maxShares > 1): the backup job of a VM whose disk selection
// takes one fails with Azure's UserErrorSharedDiskBackupNotSupported,
// naming the disk and its LUN and saying to exclude it, and records no
// point; with the disk excluded (selective disk backup) the VM backs up,
// its point listing the disk as excluded. The shared disk was backed up
// as any other.
func TestBackupOfVMWithSharedDisk(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	dc := testserver.Factory(e, armcompute.NewClientFactory).NewDisksClient()
	v := fixture.ProtectVMWith(t, e, func(_, dataID string) {
		p, err := dc.BeginUpdate(ctx, "vm-rg", dataID[strings.LastIndex(dataID, "/")+1:], armcompute.DiskUpdate{
			SKU: &armcompute.DiskSKU{Name: to.Ptr(armcompute.DiskStorageAccountTypesPremiumLRS)}, Properties: &armcompute.DiskUpdateProperties{MaxShares: to.Ptr[int32](2)}}, nil)
		fixture.Done(t, p, err)
	})
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	R := "/subscriptions/" + e.Sub + "/resourceGroups/rs-rg/providers/Microsoft.RecoveryServices/vaults/rsvault1"
	const ver = "?api-version=2024-04-01"
	job := waitJob(t, e, R, v.Backup(t, e), ver)
	if str(job, "properties.status") != "Failed" {
		t.Fatalf("backup of a VM with a shared data disk: %v", job)
	}
	errs, _ := job["properties"].(map[string]any)["errorDetails"].([]any)
	if len(errs) != 1 {
		t.Fatalf("job error details: %v", job)
	}
	ed := errs[0].(map[string]any)
	if code, msg := ed["errorTitle"], ed["errorString"].(string); code != "UserErrorSharedDiskBackupNotSupported" || !strings.Contains(msg, "app1-data0") || !strings.Contains(msg, "LUN 0") {
		t.Fatalf("job error: %v", ed)
	}
	if rec := strings.Join(toStrings(ed["recommendations"]), " "); !strings.Contains(rec, "Exclude") {
		t.Fatalf("job recommendations: %v", ed)
	}
	if n := testserver.Count(t, ctx, bf.NewRecoveryPointsClient().NewListPager(v.Vault, v.RG, "Azure", v.Container, v.Item, nil)); n != 0 {
		t.Fatalf("the failed backup recorded %d points", n)
	}

	// The shared disk excluded: the backup runs.
	if _, err := bf.NewProtectedItemsClient().CreateOrUpdate(ctx, v.Vault, v.RG, "Azure", v.Container, v.Item, armrecoveryservicesbackup.ProtectedItemResource{
		Properties: &armrecoveryservicesbackup.AzureIaaSComputeVMProtectedItem{SourceResourceID: to.Ptr(v.VMID), PolicyID: to.Ptr(R + "/backupPolicies/DefaultPolicy"),
			ExtendedProperties: &armrecoveryservicesbackup.ExtendedProperties{DiskExclusionProperties: &armrecoveryservicesbackup.DiskExclusionProperties{
				DiskLunList: []*int32{to.Ptr[int32](0)}, IsInclusionList: to.Ptr(false)}}}}, nil); err != nil {
		t.Fatal(err)
	}
	if job := waitJob(t, e, R, v.Backup(t, e), ver); str(job, "properties.status") != "Completed" {
		t.Fatalf("backup with the shared disk excluded: %v", job)
	}
	pg, err := bf.NewRecoveryPointsClient().NewListPager(v.Vault, v.RG, "Azure", v.Container, v.Item, nil).NextPage(ctx)
	if err != nil || len(pg.Value) != 1 {
		t.Fatalf("points: %v", err)
	}
	p := pg.Value[0].Properties.(*armrecoveryservicesbackup.IaasVMRecoveryPoint)
	if p.RecoveryPointDiskConfiguration == nil || len(p.RecoveryPointDiskConfiguration.ExcludedDiskList) != 1 || *p.RecoveryPointDiskConfiguration.ExcludedDiskList[0].Lun != 0 {
		t.Fatalf("the point's disk configuration: %+v", p.RecoveryPointDiskConfiguration)
	}
}

func toStrings(v any) []string {
	var out []string
	l, _ := v.([]any)
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
