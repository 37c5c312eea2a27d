package recoveryservices_test

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestRestoreDisksStagesConfigAndVHDs: a RestoreDisks restore with a
// staging account leaves the VM's configuration in it (the job's property
// bag names the container and blob, as Azure's does); the unmanaged form
// (no target resource group) also writes each disk as a fixed VHD, which
// reads back through azblob with the disk's bytes, is a VHD qemu-img
// recognizes, and imports into a new managed disk with the same bytes.
func TestRestoreDisksStagesConfigAndVHDs(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("stagerg", "restorerg")
	ctx := e.Ctx()
	const size = 1 << 30 // the fixture's disks: 1 GiB, of which only the data below is read back
	data := bytes.Repeat([]byte("safehold staged restore "), 4096)[:96<<10]
	const at = 5 << 20
	v := fixture.ProtectVMWith(t, e, func(osID, _ string) {
		pc, done := fixture.DiskAccessByID(t, e, osID, armcompute.AccessLevelWrite)
		defer done()
		if err := fixture.WritePages(pc, at, data); err != nil {
			t.Fatal(err)
		}
	})
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	v.Backup(t, e)
	var rp string
	e.WaitFor("the recovery point", func() bool {
		page, err := bf.NewRecoveryPointsClient().NewListPager(v.Vault, v.RG, "Azure", v.Container, v.Item, nil).NextPage(ctx)
		if err == nil && len(page.Value) > 0 {
			rp = *page.Value[0].Name
		}
		return rp != ""
	})
	saID, bc := fixture.StorageAccount(t, e, "stagerg", "staging1")
	download := func(container, name string, off, n int64) []byte {
		t.Helper()
		r, err := bc.DownloadStream(ctx, container, name, &azblob.DownloadStreamOptions{Range: azblob.HTTPRange{Offset: off, Count: n}})
		if err != nil {
			t.Fatalf("download %s/%s: %v", container, name, err)
		}
		defer r.Body.Close()
		b, err := io.ReadAll(r.Body)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	// restore runs rr and returns its job's property bag and the VM
	// configuration it names.
	restore := func(rr *armrecoveryservicesbackup.IaasVMRestoreRequest) (map[string]string, map[string]any) {
		t.Helper()
		before := map[string]bool{}
		jc := bf.NewBackupJobsClient()
		list := func() []*armrecoveryservicesbackup.JobResource {
			page, err := jc.NewListPager(v.Vault, v.RG, &armrecoveryservicesbackup.BackupJobsClientListOptions{Filter: to.Ptr("operation eq 'Restore'")}).NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return page.Value
		}
		for _, j := range list() {
			before[*j.Name] = true
		}
		p, err := bf.NewRestoresClient().BeginTrigger(ctx, v.Vault, v.RG, "Azure", v.Container, v.Item, rp, armrecoveryservicesbackup.RestoreRequestResource{Properties: rr}, nil)
		fixture.Done(t, p, err)
		for _, j := range list() {
			if before[*j.Name] {
				continue
			}
			job, ok := j.Properties.(*armrecoveryservicesbackup.AzureIaaSVMJob)
			if !ok || job.Status == nil || *job.Status != "Completed" || job.ExtendedInfo == nil {
				t.Fatalf("restore job %+v", j.Properties)
			}
			bag := map[string]string{}
			for k, v := range job.ExtendedInfo.PropertyBag {
				bag[k] = *v
			}
			var config map[string]any
			if err := json.Unmarshal(download(bag["Config Blob Container Name"], bag["Config Blob Name"], 0, 0), &config); err != nil {
				t.Fatalf("config blob %v: %v", bag, err)
			}
			return bag, config
		}
		t.Fatal("no new restore job")
		return nil, nil
	}

	request := func() *armrecoveryservicesbackup.IaasVMRestoreRequest {
		return &armrecoveryservicesbackup.IaasVMRestoreRequest{ObjectType: to.Ptr("IaasVMRestoreRequest"), RecoveryPointID: to.Ptr(rp),
			RecoveryType: to.Ptr(armrecoveryservicesbackup.RecoveryTypeRestoreDisks), SourceResourceID: to.Ptr(v.VMID), StorageAccountID: to.Ptr(saID),
			Region: to.Ptr("westus"), CreateNewCloudService: to.Ptr(false), OriginalStorageAccountOption: to.Ptr(false)}
	}

	// Unmanaged: no target resource group.
	bag, config := restore(request())
	container := bag["Config Blob Container Name"]
	if bag["Target Storage Account Name"] != "staging1" || bag["Job Type"] != "Recover disks" || !strings.HasPrefix(container, "app1-") ||
		bag["Config Blob Uri"] != "https://staging1.blob.core.windows.net/"+container+"/"+bag["Config Blob Name"] {
		t.Fatalf("property bag %v", bag)
	}
	if got := str(config, "properties.hardwareProfile.vmSize"); got != "Standard_D2s_v3" {
		t.Fatalf("config vmSize %q: %v", got, config)
	}
	vhdURI := str(config, "properties.storageProfile.osDisk.vhd.uri")
	prefix := "https://staging1.blob.core.windows.net/" + container + "/"
	if !strings.HasPrefix(vhdURI, prefix) || !strings.HasSuffix(vhdURI, ".vhd") || str(config, "properties.storageProfile.osDisk.osType") != "Linux" {
		t.Fatalf("config OS disk %v", config["properties"])
	}
	dataDisks, _ := testserver.Field(config, "properties.storageProfile.dataDisks").([]any)
	if len(dataDisks) != 1 || str(dataDisks[0].(map[string]any), "vhd.uri") == "" {
		t.Fatalf("config data disks %v", dataDisks)
	}
	vhdName := strings.TrimPrefix(vhdURI, prefix)
	props, err := bc.ServiceClient().NewContainerClient(container).NewBlobClient(vhdName).GetProperties(ctx, nil)
	if err != nil || props.ContentLength == nil || *props.ContentLength != size+512 || props.BlobType == nil || *props.BlobType != "PageBlob" {
		t.Fatalf("the OS disk's VHD: %v %+v", err, props)
	}
	if got := download(container, vhdName, at-512, int64(len(data))+1024); !bytes.Equal(got, append(append(make([]byte, 512), data...), make([]byte, 512)...)) {
		t.Fatal("the VHD's data differs from the OS disk's")
	}
	footer := download(container, vhdName, size, 512)
	if string(footer[:8]) != "conectix" {
		t.Fatalf("the VHD's footer %q", footer[:8])
	}
	if qemu, err := exec.LookPath("qemu-img"); err == nil { // the footer is a VHD's (a sparse copy of the blob)
		f := t.TempDir() + "/os.vhd"
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(f, size); err != nil {
			t.Fatal(err)
		}
		fh, err := os.OpenFile(f, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = fh.Write(footer)
		fh.Close()
		if err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(qemu, "info", "--output=json", "-f", "vpc", f).CombinedOutput()
		var info struct {
			VirtualSize int64 `json:"virtual-size"`
		}
		if err != nil || json.Unmarshal(out, &info) != nil || info.VirtualSize != size {
			t.Fatalf("qemu-img info of the VHD: %v %s", err, out)
		}
	}
	// The VHD imports into a managed disk with the OS disk's bytes.
	cf := testserver.Factory(e, armcompute.NewClientFactory)
	_, err = fixture.Wait(cf.NewDisksClient().BeginCreateOrUpdate(ctx, "restorerg", "fromvhd", armcompute.Disk{Location: to.Ptr("westus"),
		Properties: &armcompute.DiskProperties{CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionImport),
			SourceURI: to.Ptr(vhdURI), StorageAccountID: to.Ptr(saID)}}}, nil))
	if err != nil {
		t.Fatal(err)
	}
	rc, done := fixture.DiskAccess(t, e, "restorerg", "fromvhd", armcompute.AccessLevelRead)
	got := fixture.ReadPages(t, rc, at, int64(len(data)))
	done()
	if !bytes.Equal(got, data) {
		t.Fatal("the disk imported from the VHD differs from the backed-up OS disk")
	}

	// Managed: a target resource group; the configuration names the disks.
	rr := request()
	rr.TargetResourceGroupID = to.Ptr("/subscriptions/" + e.Sub + "/resourceGroups/restorerg")
	bag, config = restore(rr)
	osDisk := str(config, "properties.storageProfile.osDisk.managedDisk.id")
	if !strings.Contains(bag["Restored Disks"], osDisk) || !strings.Contains(osDisk, "/resourceGroups/restorerg/") || str(config, "properties.storageProfile.osDisk.vhd.uri") != "" {
		t.Fatalf("managed restore: bag %v, config %v", bag, config["properties"])
	}
	pager := bc.NewListBlobsFlatPager(bag["Config Blob Container Name"], nil)
	page, err := pager.NextPage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Segment.BlobItems) != 1 {
		t.Fatalf("a managed restore's container holds %d blobs, want the configuration only", len(page.Segment.BlobItems))
	}
}
