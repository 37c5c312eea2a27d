package compute_test

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// vmFromImage is the body of a VM created the usual way: an image
// reference and an OS disk with createOption FromImage.
func vmFromImage(ref armcompute.ImageReference, osSizeGB *int32) armcompute.VirtualMachine {
	return armcompute.VirtualMachine{Location: to.Ptr("westus"), Properties: &armcompute.VirtualMachineProperties{
		HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypesStandardD2SV3)},
		StorageProfile: &armcompute.StorageProfile{ImageReference: &ref,
			OSDisk: &armcompute.OSDisk{CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesFromImage), DiskSizeGB: osSizeGB}}}}
}

// putVMFromImage creates a VM and deallocates it (its disks then take a
// read SAS); it returns the VM as GET shows it.
func (e *env) putVMFromImage(t *testing.T, name string, body armcompute.VirtualMachine) armcompute.VirtualMachine {
	t.Helper()
	if _, err := fixture.Wait(e.vms.BeginCreateOrUpdate(e.Ctx(), e.rg, name, body, nil)); err != nil {
		t.Fatalf("create VM %s: %v", name, err)
	}
	if _, err := fixture.Wait(e.vms.BeginDeallocate(e.Ctx(), e.rg, name, nil)); err != nil {
		t.Fatal(err)
	}
	vm, err := e.vms.Get(e.Ctx(), e.rg, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	return vm.VirtualMachine
}

// vmDisk reads a disk of a VM by its id.
func (e *env) vmDisk(t *testing.T, md *armcompute.ManagedDiskParameters) armcompute.Disk {
	t.Helper()
	name := (*md.ID)[strings.LastIndex(*md.ID, "/")+1:]
	d, err := e.disks.Get(e.Ctx(), e.rg, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d.Disk
}

// A VM created FromImage gets the image's bytes: from a catalog image
// (version latest: the newest), sized as the image or larger as asked,
// never smaller (409 OperationNotAllowed, as Azure); an image the catalog
// lacks still gets an empty disk.
func TestVMFromPlatformImage(t *testing.T) {
	e, ctx := start(t)
	osID, osBytes := fixture.Disk(t, e.Env, e.rg, "os-src", 2, 0, 1<<30+512<<20)
	oldID, oldBytes := fixture.Disk(t, e.Env, e.rg, "old-src", 2, 4<<20)
	e.importImage(t, "westus", "Contoso", "Server", "2024", "1.10.0", map[string]any{"osType": "Linux", "osDisk": map[string]string{"sourceId": osID}})
	e.importImage(t, "westus", "Contoso", "Server", "2024", "1.9.0", map[string]any{"osType": "Windows", "osDisk": map[string]string{"sourceId": oldID}})
	latest := armcompute.ImageReference{Publisher: to.Ptr("Contoso"), Offer: to.Ptr("Server"), SKU: to.Ptr("2024"), Version: to.Ptr("latest")}

	vm := e.putVMFromImage(t, "vm-latest", vmFromImage(latest, nil))
	sp := vm.Properties.StorageProfile
	if *sp.OSDisk.CreateOption != armcompute.DiskCreateOptionTypesFromImage || *sp.OSDisk.DiskSizeGB != 2 || *sp.OSDisk.OSType != armcompute.OperatingSystemTypesLinux ||
		sp.ImageReference == nil || sp.ImageReference.ExactVersion == nil || *sp.ImageReference.ExactVersion != "1.10.0" {
		t.Fatalf("VM from the latest image: %+v %+v", sp.OSDisk, sp.ImageReference)
	}
	d := e.vmDisk(t, sp.OSDisk.ManagedDisk)
	if cd := d.Properties.CreationData; *cd.CreateOption != armcompute.DiskCreateOptionFromImage || cd.ImageReference == nil ||
		!strings.HasSuffix(*cd.ImageReference.ID, "/Publishers/Contoso/ArtifactTypes/VMImage/Offers/Server/Skus/2024/Versions/1.10.0") || *d.Properties.DiskSizeGB != 2 {
		t.Fatalf("OS disk from the image: %+v size %d", cd, *d.Properties.DiskSizeGB)
	}
	e.sameBytes(t, *d.Name, osBytes)

	// An older version by name, enlarged.
	old := latest
	old.Version = to.Ptr("1.9.0")
	vm = e.putVMFromImage(t, "vm-old", vmFromImage(old, to.Ptr[int32](5)))
	d = e.vmDisk(t, vm.Properties.StorageProfile.OSDisk.ManagedDisk)
	if *d.Properties.DiskSizeGB != 5 || *d.Properties.OSType != armcompute.OperatingSystemTypesWindows || *vm.Properties.StorageProfile.OSDisk.DiskSizeGB != 5 {
		t.Fatalf("enlarged OS disk: %d GB %s", *d.Properties.DiskSizeGB, *d.Properties.OSType)
	}
	e.sameBytes(t, *d.Name, oldBytes)

	// Never smaller than the image: nothing is created.
	_, err := fixture.Wait(e.vms.BeginCreateOrUpdate(ctx, e.rg, "vm-small", vmFromImage(latest, to.Ptr[int32](1)), nil))
	re := testserver.WantError(t, "a VM's OS disk smaller than its image", err, 409, "OperationNotAllowed")
	if !strings.Contains(re.Error(), "osDisk.diskSizeGB") {
		t.Fatalf("the refusal does not name the field: %v", re)
	}
	if _, err := e.vms.Get(ctx, e.rg, "vm-small", nil); err == nil {
		t.Fatal("a refused VM exists")
	}

	// An image the catalog lacks: an empty OS disk of 30 GiB, as before.
	other := latest
	other.Offer = to.Ptr("Desktop")
	vm = e.putVMFromImage(t, "vm-unknown", vmFromImage(other, nil))
	if d = e.vmDisk(t, vm.Properties.StorageProfile.OSDisk.ManagedDisk); *d.Properties.DiskSizeGB != 30 || *d.Properties.CreationData.CreateOption != armcompute.DiskCreateOptionEmpty {
		t.Fatalf("disk for an unknown image: %d GB %s", *d.Properties.DiskSizeGB, *d.Properties.CreationData.CreateOption)
	}
	n := 0
	for page := range fixture.Pages(t, e.disks.NewListByResourceGroupPager(e.rg, nil)) {
		n += len(page.Value)
	}
	if n != 5 { // the two sources and the three VMs' OS disks
		t.Fatalf("%d disks, want 5", n)
	}
}

// A VM from a gallery image: by version id (its OS disk and its data disk
// at the image's lun get the version's bytes), by image definition id (its
// latest version) and by community id; an update keeps its disks; an
// unknown gallery image is 404 GalleryImageNotFound; a caller who may not
// read the gallery is 403.
func TestVMFromGalleryImage(t *testing.T) {
	e, ctx := start(t)
	_, osBytes := fixture.Disk(t, e.Env, e.rg, "golden-os", 1, 8<<20)
	dataID, dataBytes := fixture.Disk(t, e.Env, e.rg, "golden-data", 3, 2<<30)
	_, oldBytes := fixture.Disk(t, e.Env, e.rg, "old-os", 1, 16<<20)
	e.snapshot("golden-snap", "golden-os", false)
	e.snapshot("old-snap", "old-os", false)
	f, err := armcompute.NewClientFactory(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	g, im := e.communityGallery(t, f)
	version := func(name, osSnap string, data bool) armcompute.GalleryImageVersion {
		sp := &armcompute.GalleryImageVersionStorageProfile{OSDiskImage: &armcompute.GalleryOSDiskImage{Source: &armcompute.GalleryDiskImageSource{ID: to.Ptr(e.snapID(osSnap))}}}
		if data {
			sp.DataDiskImages = []*armcompute.GalleryDataDiskImage{{Lun: to.Ptr[int32](1), Source: &armcompute.GalleryDiskImageSource{ID: to.Ptr(dataID)}}}
		}
		vp, err := f.NewGalleryImageVersionsClient().BeginCreateOrUpdate(ctx, e.rg, "gallery1", "ubuntu", name, armcompute.GalleryImageVersion{Location: to.Ptr("westus"),
			Properties: &armcompute.GalleryImageVersionProperties{StorageProfile: sp}}, nil)
		return fixture.Done(t, vp, err).GalleryImageVersion
	}
	old := version("1.9.0", "old-snap", false)
	v := version("1.10.0", "golden-snap", true)

	// By version id: the OS disk and the data disk at lun 1, from the image.
	vm := e.putVMFromImage(t, "vm-version", vmFromImage(armcompute.ImageReference{ID: v.ID}, nil))
	sp := vm.Properties.StorageProfile
	if len(sp.DataDisks) != 1 || *sp.DataDisks[0].Lun != 1 || *sp.DataDisks[0].CreateOption != armcompute.DiskCreateOptionTypesFromImage || *sp.DataDisks[0].DiskSizeGB != 3 {
		t.Fatalf("the image's data disk: %+v", sp.DataDisks)
	}
	osd, dd := e.vmDisk(t, sp.OSDisk.ManagedDisk), e.vmDisk(t, sp.DataDisks[0].ManagedDisk)
	if cd := osd.Properties.CreationData; *cd.CreateOption != armcompute.DiskCreateOptionFromImage || cd.ImageReference == nil || !strings.EqualFold(*cd.ImageReference.ID, *v.ID) ||
		cd.GalleryImageReference == nil || !strings.EqualFold(*cd.GalleryImageReference.ID, *v.ID) || *osd.Properties.OSType != armcompute.OperatingSystemTypesLinux {
		t.Fatalf("OS disk's creationData: %+v", cd)
	}
	if cd := dd.Properties.CreationData; cd.GalleryImageReference == nil || cd.GalleryImageReference.Lun == nil || *cd.GalleryImageReference.Lun != 1 || *dd.Properties.DiskSizeGB != 3 {
		t.Fatalf("data disk's creationData: %+v", cd)
	}
	e.sameBytes(t, *osd.Name, osBytes)
	e.sameBytes(t, *dd.Name, dataBytes)

	// An update (the body GET shows, and the original body) keeps the disks.
	vm.Properties.InstanceView = nil
	if _, err := fixture.Wait(e.vms.BeginCreateOrUpdate(ctx, e.rg, "vm-version", vm, nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := fixture.Wait(e.vms.BeginCreateOrUpdate(ctx, e.rg, "vm-version", vmFromImage(armcompute.ImageReference{ID: v.ID}, nil), nil)); err != nil {
		t.Fatal(err)
	}
	got, err := e.vms.Get(ctx, e.rg, "vm-version", nil)
	if err != nil {
		t.Fatal(err)
	}
	if gsp := got.Properties.StorageProfile; *gsp.OSDisk.ManagedDisk.ID != *sp.OSDisk.ManagedDisk.ID || len(gsp.DataDisks) != 1 || *gsp.DataDisks[0].ManagedDisk.ID != *sp.DataDisks[0].ManagedDisk.ID {
		t.Fatalf("the update changed the disks: %+v", gsp)
	}

	// A data disk of the image named and enlarged in the request; a lun
	// the image lacks, another createOption at the image's lun, or a size
	// below the image's are refused before anything is created.
	named := vmFromImage(armcompute.ImageReference{ID: v.ID}, nil)
	fromImageAt := func(lun int32, name string, sizeGB *int32) []*armcompute.DataDisk {
		dd := &armcompute.DataDisk{Lun: to.Ptr(lun), CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesFromImage), DiskSizeGB: sizeGB}
		if name != "" {
			dd.Name = to.Ptr(name)
		}
		return []*armcompute.DataDisk{dd}
	}
	for _, bad := range []struct {
		disks  []*armcompute.DataDisk
		status int
		code   string
	}{
		{fromImageAt(2, "", nil), 400, "InvalidParameter"},
		{[]*armcompute.DataDisk{{Lun: to.Ptr[int32](1), CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesEmpty), DiskSizeGB: to.Ptr[int32](8)}}, 400, "InvalidParameter"},
		{fromImageAt(1, "", to.Ptr[int32](2)), 409, "OperationNotAllowed"},
	} {
		named.Properties.StorageProfile.DataDisks = bad.disks
		_, err := fixture.Wait(e.vms.BeginCreateOrUpdate(ctx, e.rg, "vm-named", named, nil))
		testserver.WantError(t, "a bad data disk from the image", err, bad.status, bad.code)
	}
	named.Properties.StorageProfile.DataDisks = fromImageAt(1, "named-data", to.Ptr[int32](4))
	vm = e.putVMFromImage(t, "vm-named", named)
	if dd := e.vmDisk(t, vm.Properties.StorageProfile.DataDisks[0].ManagedDisk); *dd.Name != "named-data" || *dd.Properties.DiskSizeGB != 4 {
		t.Fatalf("named data disk: %s %d GB", *dd.Name, *dd.Properties.DiskSizeGB)
	}
	e.sameBytes(t, "named-data", dataBytes)
	// An update without the image reference adds a disk from the VM's image.
	named.Properties.StorageProfile.ImageReference = nil
	named.Properties.StorageProfile.DataDisks = fromImageAt(1, "named-data-2", nil)
	if _, err := fixture.Wait(e.vms.BeginCreateOrUpdate(ctx, e.rg, "vm-named", named, nil)); err != nil {
		t.Fatal(err)
	}
	e.sameBytes(t, "named-data-2", dataBytes)
	n := 0
	for page := range fixture.Pages(t, e.disks.NewListByResourceGroupPager(e.rg, nil)) {
		n += len(page.Value)
	}
	if n != 8 { // three sources, vm-version's two disks, vm-named's OS disk and two data disks
		t.Fatalf("%d disks, want 8", n)
	}

	// By image definition id: its latest version, enlarged.
	vm = e.putVMFromImage(t, "vm-latest", vmFromImage(armcompute.ImageReference{ID: im.ID}, to.Ptr[int32](2)))
	osd = e.vmDisk(t, vm.Properties.StorageProfile.OSDisk.ManagedDisk)
	if !strings.EqualFold(*osd.Properties.CreationData.ImageReference.ID, *v.ID) || *osd.Properties.DiskSizeGB != 2 {
		t.Fatalf("VM from the image definition: %s %d GB", *osd.Properties.CreationData.ImageReference.ID, *osd.Properties.DiskSizeGB)
	}
	e.sameBytes(t, *osd.Name, osBytes)
	// By community id: the older version.
	community := "/CommunityGalleries/" + *g.Properties.SharingProfile.CommunityGalleryInfo.PublicNames[0] + "/Images/ubuntu/Versions/1.9.0"
	vm = e.putVMFromImage(t, "vm-community", vmFromImage(armcompute.ImageReference{CommunityGalleryImageID: to.Ptr(community)}, nil))
	osd = e.vmDisk(t, vm.Properties.StorageProfile.OSDisk.ManagedDisk)
	if cd := osd.Properties.CreationData; cd.GalleryImageReference == nil || cd.GalleryImageReference.CommunityGalleryImageID == nil || len(vm.Properties.StorageProfile.DataDisks) != 0 {
		t.Fatalf("VM from a community image: %+v", cd)
	}
	e.sameBytes(t, *osd.Name, oldBytes)

	// Gallery images Safehold does not have: 404, and nothing is created.
	for _, ref := range []armcompute.ImageReference{
		{ID: to.Ptr(strings.Replace(*old.ID, "1.9.0", "9.9.9", 1))},
		{ID: to.Ptr(strings.Replace(*im.ID, "ubuntu", "debian", 1))},
		{SharedGalleryImageID: to.Ptr("/SharedGalleries/nosuch/Images/ubuntu/Versions/1.0.0")},
	} {
		_, err := fixture.Wait(e.vms.BeginCreateOrUpdate(ctx, e.rg, "vm-missing", vmFromImage(ref, nil), nil))
		testserver.WantError(t, "a VM from an unknown gallery image", err, 404, "GalleryImageNotFound")
	}

	// A contributor of rg2 only may create VMs there, but not from a
	// gallery it may not read.
	vc := e.rg2Contributor(t, func(f *armcompute.ClientFactory) error {
		_, err := fixture.Wait(f.NewVirtualMachinesClient().BeginCreateOrUpdate(ctx, "rg2", "allowed",
			vmFromImage(armcompute.ImageReference{Publisher: to.Ptr("a"), Offer: to.Ptr("b"), SKU: to.Ptr("c"), Version: to.Ptr("latest")}, nil), nil))
		return err
	}).NewVirtualMachinesClient()
	_, err = fixture.Wait(vc.BeginCreateOrUpdate(ctx, "rg2", "stolen", vmFromImage(armcompute.ImageReference{ID: v.ID}, nil), nil))
	wantGalleryReadRefused(t, "a VM from a gallery the caller may not read", err)
	n = 0
	for page := range fixture.Pages(t, e.disks.NewListByResourceGroupPager("rg2", nil)) {
		n += len(page.Value)
	}
	if n != 1 { // the allowed VM's OS disk
		t.Fatalf("rg2 has %d disks, want 1", n)
	}
}
