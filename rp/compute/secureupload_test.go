package compute_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestUploadPreparedSecure: a disk created with createOption
// UploadPreparedSecure (az disk create --upload-type UploadWithSecurityData:
// a Trusted Launch or confidential VM's disk, uploaded with its VM guest
// state) is ReadyToUpload, as Azure's; beginGetAccess with
// getSecureVMGuestStateSAS answers the disk's accessSAS and the guest
// state's securityDataAccessSAS, both written through the page-blob
// client and read back after the upload; without a securityType the
// create is 400 naming securityProfile.securityType, and the guest state
// asked of a disk that has none is 400 naming getSecureVMGuestStateSAS.
// The disk's delete removes the guest state too. The create option was
// 400 "not supported".
func TestUploadPreparedSecure(t *testing.T) {
	e, ctx := start(t)
	const size = 20<<20 + 512
	disk := func(security *armcompute.DiskSecurityProfile) armcompute.Disk {
		return armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{OSType: to.Ptr(armcompute.OperatingSystemTypesWindows),
			SecurityProfile: security, CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionUploadPreparedSecure), UploadSizeBytes: to.Ptr[int64](size)}}}
	}
	_, err := fixture.Wait(e.disks.BeginCreateOrUpdate(ctx, e.rg, "nosec", disk(nil), nil))
	if re := testserver.WantError(t, "UploadPreparedSecure without a securityType", err, 400, "InvalidParameter"); !strings.Contains(re.Error(), "securityProfile.securityType") {
		t.Fatalf("the refusal does not name securityProfile.securityType: %v", re)
	}
	d := e.putDisk("tl", disk(&armcompute.DiskSecurityProfile{SecurityType: to.Ptr(armcompute.DiskSecurityTypesTrustedLaunch)}))
	if *d.Properties.DiskState != armcompute.DiskStateReadyToUpload || *d.Properties.CreationData.CreateOption != armcompute.DiskCreateOptionUploadPreparedSecure ||
		*d.Properties.SecurityProfile.SecurityType != armcompute.DiskSecurityTypesTrustedLaunch {
		t.Fatalf("the new disk: state %s, createOption %s", *d.Properties.DiskState, *d.Properties.CreationData.CreateOption)
	}
	grant := func(name string, access armcompute.AccessLevel) (armcompute.AccessURI, error) {
		res, err := fixture.Wait(e.disks.BeginGrantAccess(ctx, e.rg, name, armcompute.GrantAccessData{Access: to.Ptr(access), DurationInSeconds: to.Ptr[int32](3600),
			GetSecureVMGuestStateSAS: to.Ptr(true)}, nil))
		return res.AccessURI, err
	}
	w, err := grant("tl", armcompute.AccessLevelWrite)
	if err != nil || w.AccessSAS == nil || w.SecurityDataAccessSAS == nil || *w.AccessSAS == *w.SecurityDataAccessSAS {
		t.Fatalf("write grant with the VM guest state: %v %+v", err, w)
	}
	data, state := bytes.Repeat([]byte{0xd1}, 1<<20), bytes.Repeat([]byte{0x6e}, 64<<10)
	if err := e.writeSAS(*w.AccessSAS, 4<<20, data); err != nil {
		t.Fatal(err)
	}
	if err := e.writeSAS(*w.SecurityDataAccessSAS, 0, state); err != nil {
		t.Fatal(err)
	}
	e.revokeDisk("tl")
	r, err := grant("tl", armcompute.AccessLevelRead)
	if err != nil || r.SecurityDataAccessSAS == nil {
		t.Fatalf("read grant with the VM guest state: %v", err)
	}
	if got := fixture.ReadPages(t, e.pageClient(*r.AccessSAS), 4<<20, 1<<20); !bytes.Equal(got, data) {
		t.Fatalf("the disk's data read back differs")
	}
	if got := fixture.ReadPages(t, e.pageClient(*r.SecurityDataAccessSAS), 0, 64<<10); !bytes.Equal(got, state) {
		t.Fatalf("the VM guest state read back differs")
	}
	e.revokeDisk("tl")

	// A disk without a guest state.
	e.emptyDisk("plain", 1)
	_, err = grant("plain", armcompute.AccessLevelRead)
	if re := testserver.WantError(t, "the VM guest state of a disk without one", err, 400, "InvalidParameter"); !strings.Contains(re.Error(), "getSecureVMGuestStateSAS") {
		t.Fatalf("the refusal does not name getSecureVMGuestStateSAS: %v", re)
	}

	// The delete takes the guest state's volume too.
	dir := e.Server.Compute.Volumes().Dir()
	vmgs := filepath.Join(dir, *d.Properties.UniqueID+"_vmgs.raw")
	if _, err := os.Stat(vmgs); err != nil {
		t.Fatalf("the VM guest state's volume: %v", err)
	}
	if _, err := fixture.Wait(e.disks.BeginDelete(ctx, e.rg, "tl", nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(vmgs); !os.IsNotExist(err) {
		t.Fatalf("the deleted disk's VM guest state is still there: %v", err)
	}
}
