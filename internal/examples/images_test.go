package examples_test

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/safehold/safehold/internal/fixture"
)

// The images the disk examples are created from (createOption FromImage):
// the platform images they name are imported into Safehold's catalog, and
// the gallery image versions made in Safehold's galleries, all from real
// bytes (a disk with a written page, and a snapshot of it), through
// Safehold's own admin API and ARM API.

var (
	// A platform image id: the location, publisher and offer, and the sku
	// and version when it names them.
	rePlatformImage = regexp.MustCompile(`(?i)/Locations/([^/"]+)/Publishers/([^/"]+)/ArtifactTypes/VMImage/Offers/([^/"]+)(?:/Skus/([^/"]+)/Versions/([^/"]+))?"`)
	// A gallery image version by id, and by its shared or community name.
	reGalleryVersion = regexp.MustCompile(`(?i)/resourceGroups/([^/"]+)/Providers/Microsoft\.Compute/Galleries/([^/"]+)/Images/([^/"]+)/Versions/([^/"]+)"`)
	reSharedVersion  = regexp.MustCompile(`(?i)/(SharedGalleries|CommunityGalleries)/([^/"]+)/Images/([^/"]+)/Versions/([^/"]+)"`)
	// A disk documented as attached to a VM, and its size.
	reManagedByVM = regexp.MustCompile(`ManagedBy: to\.Ptr\("[^"]*/virtualMachines/[^"]+"\)`)
	reDocDiskSize = regexp.MustCompile(`DiskSizeGB: to\.Ptr\[int32\]\((\d+)\)`)
)

const imagesRG = "examples-images"

// placeholder: a name the example leaves for its reader to fill in
// ({galleryName}): the prerequisites give it a real one.
func placeholder(name, real string) string {
	if strings.ContainsAny(name, "{}<>") {
		return real
	}
	return name
}

// images imports the platform images and creates the gallery versions the
// compute examples name, and has the harness use the real names where an
// example names a placeholder.
func (p *prereqs) images(xs []*example) {
	type platform struct{ loc, pub, offer, sku, version string }
	var imgs []platform
	seen := map[string]bool{}
	var galleryXs []*example
	for _, x := range xs {
		if x.Mod.Pkg != "armcompute" {
			continue
		}
		text := x.Body
		if x.seeded() || x.seededUpdate() {
			text += x.WantExpr
		}
		for _, m := range rePlatformImage.FindAllStringSubmatch(text, -1) {
			// The catalog takes the example's names as they are ({publisher}
			// too: its purchase plan is documented with them). An id naming
			// only the offer names its only sku's newest version.
			im := platform{m[1], m[2], m[3], m[4], m[5]}
			if m[4] == "" {
				im.sku, im.version = "examples-sku", "1.0.0"
			}
			if k := strings.ToLower(strings.Join([]string{im.loc, im.pub, im.offer, im.sku, im.version}, "/")); !seen[k] {
				seen[k] = true
				imgs = append(imgs, im)
			}
		}
		if reGalleryVersion.MatchString(x.Body) || reSharedVersion.MatchString(x.Body) {
			galleryXs = append(galleryXs, x)
		}
	}
	if len(imgs) == 0 && len(galleryXs) == 0 {
		return
	}
	defer p.attachedImageDisks(xs)
	p.e.ResourceGroups(imagesRG)
	src, _ := fixture.Disk(p.t, p.e, imagesRG, "image-source", 1, 0, 64<<20)
	for _, im := range imgs {
		// Azure's example images: Windows, generation 1, accelerated
		// networking, a purchase plan of their own sku, offer and publisher.
		path := "/providers/Safehold.Admin/vmImages/" + url.PathEscape(im.loc) + "/" + url.PathEscape(im.pub) + "/" + url.PathEscape(im.offer) + "/" +
			url.PathEscape(im.sku) + "/" + url.PathEscape(im.version) + "?api-version=2024-01-01"
		resp, m := p.e.Do("PUT", path, map[string]any{"osType": "Windows", "hyperVGeneration": "V1",
			"plan":     map[string]string{"name": im.sku, "product": im.offer, "publisher": im.pub},
			"features": []map[string]string{{"name": "IsAcceleratedNetworkSupported", "value": "True"}},
			"osDisk":   map[string]string{"sourceId": src}})
		if resp.StatusCode != 200 {
			p.logf("platform image %v: %d %v", im, resp.StatusCode, m)
		}
	}
	if len(galleryXs) == 0 {
		return
	}
	f, err := armcompute.NewClientFactory(p.e.Sub, p.e.Cred, p.e.Opts)
	if err != nil {
		p.t.Fatal(err)
	}
	sp, err := f.NewSnapshotsClient().BeginCreateOrUpdate(p.e.Ctx(), imagesRG, "image-source-snap", armcompute.Snapshot{Location: to.Ptr("westus"), Properties: &armcompute.SnapshotProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: to.Ptr(src)}}}, nil)
	snap := fixture.Done(p.t, sp, err)
	// gallery makes a gallery (sharing as given) with an image definition
	// and a version captured from the snapshot; it returns the gallery.
	made := map[string]*armcompute.Gallery{}
	gallery := func(rg, name, image, version string, sharing *armcompute.SharingProfile) *armcompute.Gallery {
		k := strings.ToLower(rg + "/" + name + "/" + image + "/" + version)
		if g := made[k]; g != nil {
			return g
		}
		p.e.ResourceGroups(rg)
		gp, err := f.NewGalleriesClient().BeginCreateOrUpdate(p.e.Ctx(), rg, name, armcompute.Gallery{Location: to.Ptr("westus"), Properties: &armcompute.GalleryProperties{SharingProfile: sharing}}, nil)
		g := fixture.Done(p.t, gp, err)
		ip, err := f.NewGalleryImagesClient().BeginCreateOrUpdate(p.e.Ctx(), rg, name, image, armcompute.GalleryImage{Location: to.Ptr("westus"), Properties: &armcompute.GalleryImageProperties{
			OSType: to.Ptr(armcompute.OperatingSystemTypesWindows), OSState: to.Ptr(armcompute.OperatingSystemStateTypesGeneralized),
			HyperVGeneration: to.Ptr(armcompute.HyperVGenerationV1), Identifier: &armcompute.GalleryImageIdentifier{Publisher: to.Ptr("examples"), Offer: to.Ptr(image), SKU: to.Ptr("1")},
			// (Trusted Launch supported: Disk_Create_FromAnAzureComputeGalleryImage.json documents its disk's
			// supportedSecurityOption since 2025-01-02.)
			Features: []*armcompute.GalleryImageFeature{{Name: to.Ptr("IsAcceleratedNetworkSupported"), Value: to.Ptr("True")},
				{Name: to.Ptr("SecurityType"), Value: to.Ptr("TrustedLaunchSupported")}}}}, nil)
		fixture.Done(p.t, ip, err)
		vp, err := f.NewGalleryImageVersionsClient().BeginCreateOrUpdate(p.e.Ctx(), rg, name, image, version, armcompute.GalleryImageVersion{Location: to.Ptr("westus"),
			Properties: &armcompute.GalleryImageVersionProperties{StorageProfile: &armcompute.GalleryImageVersionStorageProfile{
				OSDiskImage: &armcompute.GalleryOSDiskImage{Source: &armcompute.GalleryDiskImageSource{ID: snap.ID}}}}}, nil)
		fixture.Done(p.t, vp, err)
		made[k] = &g.Gallery
		return &g.Gallery
	}
	for _, x := range galleryXs {
		for _, m := range reGalleryVersion.FindAllStringSubmatch(x.Body, -1) {
			rg, name, image := placeholder(m[1], imagesRG), placeholder(m[2], "examplesgallery"), placeholder(m[3], "examples-image")
			gallery(rg, name, image, m[4], nil)
			p.bodySub(x, m[0], "/resourceGroups/"+rg+"/Providers/Microsoft.Compute/Galleries/"+name+"/Images/"+image+"/Versions/"+m[4]+`"`)
		}
		for _, m := range reSharedVersion.FindAllStringSubmatch(x.Body, -1) {
			image := placeholder(m[3], "examples-image")
			var public string
			if strings.EqualFold(m[1], "CommunityGalleries") {
				g := gallery(imagesRG, "examplescommunity", image, m[4], &armcompute.SharingProfile{Permissions: to.Ptr(armcompute.GallerySharingPermissionTypesCommunity),
					CommunityGalleryInfo: &armcompute.CommunityGalleryInfo{PublicNamePrefix: to.Ptr("examples"), Eula: to.Ptr("none"), PublisherContact: to.Ptr("examples@safehold.invalid"),
						PublisherURI: to.Ptr("https://safehold.invalid")}})
				public = *g.Properties.SharingProfile.CommunityGalleryInfo.PublicNames[0]
			} else {
				g := gallery(imagesRG, "examplesshared", image, m[4], &armcompute.SharingProfile{Permissions: to.Ptr(armcompute.GallerySharingPermissionTypesGroups)})
				public = *g.Properties.Identifier.UniqueName
			}
			p.bodySub(x, m[0], "/"+m[1]+"/"+placeholder(m[2], public)+"/Images/"+image+"/Versions/"+m[4]+`"`)
		}
	}
}

// attachedImageDisks: a disk read documented as created from a platform
// image and attached to a VM (Azure's Disk_Get) is that: created from the
// image with its documented size and attached to a VM of its own as a data
// disk (the harness's seed then sets the documented settings on it).
func (p *prereqs) attachedImageDisks(xs []*example) {
	for _, x := range xs {
		if x.Mod.Pkg != "armcompute" || x.Client != "DisksClient" || x.Method != "Get" || !x.seeded() || !reManagedByVM.MatchString(x.WantExpr) {
			continue
		}
		img := rePlatformImage.FindStringSubmatch(x.WantExpr)
		if img == nil || img[4] == "" {
			continue
		}
		rg, name := x.Args["resourceGroupName"], x.Args["diskName"]
		size := int32(1)
		if m := reDocDiskSize.FindStringSubmatch(x.WantExpr); m != nil {
			fmt.Sscan(m[1], &size)
		}
		f, err := armcompute.NewClientFactory(p.e.Sub, p.e.Cred, p.e.Opts)
		if err != nil {
			p.t.Fatal(err)
		}
		// The empty disk of that name the reads got is replaced.
		if pl, err := f.NewDisksClient().BeginDelete(p.e.Ctx(), rg, name, nil); err == nil {
			_, _ = pl.PollUntilDone(p.e.Ctx(), fixture.Poll)
		}
		ref := "/Subscriptions/" + p.e.Sub + "/Providers/Microsoft.Compute/Locations/" + img[1] + "/Publishers/" + img[2] + "/ArtifactTypes/VMImage/Offers/" + img[3] + "/Skus/" + img[4] + "/Versions/" + img[5]
		dp, err := f.NewDisksClient().BeginCreateOrUpdate(p.e.Ctx(), rg, name, armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{DiskSizeGB: to.Ptr(size),
			CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionFromImage), ImageReference: &armcompute.ImageDiskReference{ID: to.Ptr(ref)}}}}, nil)
		d := fixture.Done(p.t, dp, err)
		vm := name + "-vm"
		osID := p.disk(rg, vm+"-osdisk")
		vp, err := f.NewVirtualMachinesClient().BeginCreateOrUpdate(p.e.Ctx(), rg, vm, armcompute.VirtualMachine{Location: to.Ptr("westus"), Properties: &armcompute.VirtualMachineProperties{
			HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypesStandardD2SV3)},
			StorageProfile: &armcompute.StorageProfile{OSDisk: &armcompute.OSDisk{CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach),
				OSType: to.Ptr(armcompute.OperatingSystemTypesLinux), ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(osID)}},
				DataDisks: []*armcompute.DataDisk{{Lun: to.Ptr[int32](0), CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach), ManagedDisk: &armcompute.ManagedDiskParameters{ID: d.ID}}}}}}, nil)
		fixture.Done(p.t, vp, err)
	}
}
