package compute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/failure"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/snapshot"
	"github.com/safehold/safehold/store"
)

// Images are disk content a disk can be created from (createOption
// FromImage): the versions of the platform image catalog an operator
// imports (VMImage: what `az vm image list` reads; Safehold has no
// marketplace) and the image versions of Azure Compute Galleries (see
// gallery.go). Their bytes are engine snapshots in the operational
// repository, captured from a disk or snapshot when the image is made:
// deleting the source afterwards leaves the image whole.

// ImageDisk is one disk of an image: its content and its size.
type ImageDisk struct {
	Lun       *int32      `json:"lun,omitempty"` // nil: the OS disk
	SizeBytes int64       `json:"sizeBytes"`
	EngineID  snapshot.ID `json:"engineId"`
	Source    string      `json:"source,omitempty"` // the disk or snapshot it was captured from
}

// ImageContent is the content of an image: its OS disk and data disks.
type ImageContent struct {
	OSDisk    *ImageDisk  `json:"osDisk,omitempty"`
	DataDisks []ImageDisk `json:"dataDisks,omitempty"`
}

// ImageSource names what one disk of a new image is captured from.
type ImageSource struct {
	Lun      *int32 // nil: the OS disk
	SourceID string // a disk or snapshot
}

// Disk returns the image's OS disk (lun nil) or its data disk at lun.
func (c *ImageContent) Disk(lun *int32) *ImageDisk {
	if lun == nil {
		return c.OSDisk
	}
	for i := range c.DataDisks {
		if d := &c.DataDisks[i]; d.Lun != nil && *d.Lun == *lun {
			return d
		}
	}
	return nil
}

func (c *ImageContent) engineIDs() []snapshot.ID {
	var out []snapshot.ID
	if c.OSDisk != nil {
		out = append(out, c.OSDisk.EngineID)
	}
	for _, d := range c.DataDisks {
		out = append(out, d.EngineID)
	}
	return out
}

// CheckImageSource validates a source of an image disk: a disk or snapshot
// that exists. what names the property in messages.
func (s *Service) CheckImageSource(ctx context.Context, what, id string) error {
	src, err := arm.ParseID(id)
	if id == "" || err != nil || !(src.IsType(DiskType) || src.IsType(SnapshotType)) {
		return failure.Invalidf("InvalidParameter", "'%s' '%s' is not the id of a managed disk or snapshot. Name the disk or snapshot whose content the image gets.", what, id)
	}
	if src.IsType(DiskType) {
		d, err := s.DiskResource(ctx, id)
		if err != nil {
			return err
		}
		if d.Properties.DiskState == StateReadyToUpload || d.Properties.DiskState == StateActiveUpload {
			return failure.Conflictf("OperationNotAllowed", "Disk '%s' is in state %s; finish the upload with endGetAccess before making an image of it.", d.Name, d.Properties.DiskState)
		}
		return nil
	}
	_, err = s.SnapshotResource(ctx, id)
	return err
}

// CaptureImage captures the content of each source (a disk: frozen at one
// instant; a snapshot: its content shared, no block read) for the image
// key names. The caller records the content (with the image) and calls
// DropImageContent when it does not.
func (s *Service) CaptureImage(ctx context.Context, key string, sources []ImageSource) (*ImageContent, error) {
	c := &ImageContent{}
	ok := false
	defer func() {
		if !ok {
			s.DropImageContent(ctx, c)
		}
	}()
	for _, src := range sources {
		d, err := s.captureImageDisk(ctx, key, src.SourceID)
		if err != nil {
			return nil, err
		}
		d.Lun = src.Lun
		if src.Lun == nil {
			c.OSDisk = d
		} else {
			c.DataDisks = append(c.DataDisks, *d)
		}
	}
	sort.Slice(c.DataDisks, func(i, j int) bool { return *c.DataDisks[i].Lun < *c.DataDisks[j].Lun })
	ok = true
	return c, nil
}

func (s *Service) captureImageDisk(ctx context.Context, key, sourceID string) (*ImageDisk, error) {
	rid, err := arm.ParseID(sourceID)
	if err != nil {
		return nil, failure.Invalidf("InvalidParameter", "'%s' is not a resource id.", sourceID)
	}
	tags := map[string]string{"imageId": key, "source": rid.String()}
	if rid.IsType(SnapshotType) {
		src, eid, err := s.snapshotEngineID(ctx, rid.String())
		if err != nil {
			return nil, err
		}
		m, err := s.recapture(ctx, src.Name, eid, 0, tags, func(*snapshot.Manifest) error { return nil })
		if err != nil {
			return nil, err
		}
		return &ImageDisk{SizeBytes: m.Size, EngineID: m.ID, Source: rid.String()}, nil
	}
	d, unlock, err := s.lockLiveDisk(ctx, rid.String())
	if err != nil {
		return nil, err
	}
	defer unlock()
	leave, valid, err := s.enterWrite(ctx)
	if err != nil {
		return nil, err
	}
	defer leave()
	fz, err := s.freezeDisk(d)
	if err != nil {
		return nil, err
	}
	defer fz.Abort() // the disk's change tracking stays relative to its own snapshots
	m, _, err := s.repo.Capture(ctx, frozenSource{fz}, snapshot.CaptureOptions{Tags: tags})
	if err != nil {
		return nil, fmt.Errorf("capture disk %s: %w", d.Name, err)
	}
	if err := valid(); err != nil {
		s.repo.Delete(context.WithoutCancel(ctx), m.ID)
		return nil, err
	}
	return &ImageDisk{SizeBytes: m.Size, EngineID: m.ID, Source: rid.String()}, nil
}

// DropImageContent deletes an image's content (after its record is gone,
// or when it was never recorded) and collects garbage.
func (s *Service) DropImageContent(ctx context.Context, c *ImageContent) {
	if c == nil {
		return
	}
	ids := c.engineIDs()
	for _, id := range ids {
		if err := s.repo.Delete(context.WithoutCancel(ctx), id); err != nil && !errors.Is(err, snapshot.ErrNotFound) && s.p.Logger != nil {
			s.p.Logger.Warn("delete the content of an image", "content", id, "error", err)
		}
	}
	if len(ids) > 0 {
		s.collectGarbage()
	}
}

// The platform image catalog.

const vmImageKind = "compute.vmimage"

// ImagePlan is a marketplace image's purchase plan (a disk created from
// the image carries it as its purchasePlan).
type ImagePlan struct {
	Name      string `json:"name"`
	Product   string `json:"product"`
	Publisher string `json:"publisher"`
}

// ImageFeature is a feature of an image (Azure's names, e.g.
// IsAcceleratedNetworkSupported = True, DiskControllerTypes = SCSI, NVMe).
type ImageFeature struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// VMImage is one version of the platform image catalog.
type VMImage struct {
	Location         string         `json:"location"`
	Publisher        string         `json:"publisher"`
	Offer            string         `json:"offer"`
	SKU              string         `json:"sku"`
	Version          string         `json:"version"`
	OSType           string         `json:"osType"`
	HyperVGeneration string         `json:"hyperVGeneration,omitempty"`
	Architecture     string         `json:"architecture,omitempty"`
	Plan             *ImagePlan     `json:"plan,omitempty"`
	Features         []ImageFeature `json:"features,omitempty"`
	Content          ImageContent   `json:"content"`
}

// VMImageSpec describes a platform image version to import.
type VMImageSpec struct {
	VMImage
	Sources []ImageSource
}

func vmImageKey(location, publisher, offer, sku, version string) string {
	return strings.ToLower(strings.Join([]string{resource.NormLocation(location), publisher, offer, sku, version}, "/"))
}

// checkCatalogName checks one name of a catalog path: what an ARM path
// segment can carry.
func checkCatalogName(what, v string) error {
	if v == "" || len(v) > 128 || strings.ContainsAny(v, "/\\?#%") || strings.TrimSpace(v) != v {
		return failure.Invalidf("InvalidParameter", "The image %s '%s' is invalid: use 1 to 128 characters, none of them '/', '\\', '?', '#', '%%' or leading or trailing spaces.", what, v)
	}
	return nil
}

// ImportVMImage captures the sources and publishes them as a version of the
// platform image catalog (replacing the version when it exists).
func (s *Service) ImportVMImage(ctx context.Context, spec VMImageSpec) (*VMImage, error) {
	img := spec.VMImage
	img.Location = resource.NormLocation(img.Location)
	for _, n := range [][2]string{{"location", img.Location}, {"publisher", img.Publisher}, {"offer", img.Offer}, {"sku", img.SKU}, {"version", img.Version}} {
		if err := checkCatalogName(n[0], n[1]); err != nil {
			return nil, err
		}
	}
	var err error
	if img.OSType, err = canonical("osType", img.OSType, "Linux", "Windows"); err != nil {
		return nil, err
	}
	if img.HyperVGeneration, err = canonical("hyperVGeneration", firstNonEmpty(img.HyperVGeneration, "V1"), "V1", "V2"); err != nil {
		return nil, err
	}
	if err := s.checkImageSources(ctx, spec.Sources); err != nil {
		return nil, err
	}
	key := vmImageKey(img.Location, img.Publisher, img.Offer, img.SKU, img.Version)
	c, err := s.CaptureImage(ctx, "vmimage:"+key, spec.Sources)
	if err != nil {
		return nil, err
	}
	img.Content = *c
	b, _ := json.Marshal(img)
	var old *VMImage
	err = s.p.Store.Update(ctx, func(tx store.Tx) error {
		if d, err := tx.Get(ctx, vmImageKind, key); err == nil {
			old = &VMImage{}
			_ = json.Unmarshal(d.Value, old)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return tx.Put(ctx, store.Doc{Kind: vmImageKind, Key: key, Scope: img.Location + "/", Value: b})
	})
	if err != nil {
		s.DropImageContent(ctx, c)
		return nil, err
	}
	if old != nil {
		s.DropImageContent(ctx, &old.Content)
	}
	return &img, nil
}

// checkImageSources checks an image's sources: an OS disk, data disks at
// distinct luns, each a disk or snapshot that exists.
func (s *Service) checkImageSources(ctx context.Context, srcs []ImageSource) error {
	luns := map[int32]bool{}
	os := 0
	for _, src := range srcs {
		what := "osDisk"
		if src.Lun == nil {
			os++
		} else {
			what = fmt.Sprintf("dataDisks[lun %d]", *src.Lun)
			if *src.Lun < 0 || *src.Lun > 63 || luns[*src.Lun] {
				return failure.Invalidf("InvalidParameter", "The data disk lun %d is invalid or given twice: luns are distinct numbers from 0 to 63.", *src.Lun)
			}
			luns[*src.Lun] = true
		}
		if err := s.CheckImageSource(ctx, what, src.SourceID); err != nil {
			return err
		}
	}
	if os != 1 {
		return failure.Invalidf("InvalidParameter", "An image has exactly one OS disk source (got %d). Name the disk or snapshot holding the OS disk.", os)
	}
	return nil
}

// DeleteVMImage removes a version from the catalog (disks created from it
// keep their bytes).
func (s *Service) DeleteVMImage(ctx context.Context, location, publisher, offer, sku, version string) error {
	key := vmImageKey(location, publisher, offer, sku, version)
	var img VMImage
	err := s.p.Store.Update(ctx, func(tx store.Tx) error {
		d, err := tx.Get(ctx, vmImageKind, key)
		if err != nil {
			return err
		}
		_ = json.Unmarshal(d.Value, &img)
		return tx.Delete(ctx, vmImageKind, key)
	})
	if errors.Is(err, store.ErrNotFound) {
		return platformImageNotFound(publisher, offer, sku, version)
	}
	if err != nil {
		return err
	}
	s.DropImageContent(ctx, &img.Content)
	return nil
}

// VMImages lists the catalog's versions in a location, ordered by
// publisher, offer, sku and version.
func (s *Service) VMImages(ctx context.Context, location string) ([]*VMImage, error) {
	docs, err := s.p.Store.List(ctx, vmImageKind, store.ListQuery{ScopePrefix: resource.NormLocation(location) + "/"})
	if err != nil {
		return nil, err
	}
	out := make([]*VMImage, 0, len(docs))
	for _, d := range docs {
		var img VMImage
		if json.Unmarshal(d.Value, &img) == nil {
			out = append(out, &img)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		for _, p := range [][2]string{{a.Publisher, b.Publisher}, {a.Offer, b.Offer}, {a.SKU, b.SKU}} {
			if !strings.EqualFold(p[0], p[1]) {
				return strings.ToLower(p[0]) < strings.ToLower(p[1])
			}
		}
		return CompareVersions(a.Version, b.Version) < 0
	})
	return out, nil
}

// CompareVersions orders image versions (Major.Minor.Patch) numerically,
// part by part; parts that are not numbers compare as text.
func CompareVersions(a, b string) int {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) || i < len(pb); i++ {
		var x, y string
		if i < len(pa) {
			x = pa[i]
		}
		if i < len(pb) {
			y = pb[i]
		}
		var nx, ny int
		_, ex := fmt.Sscan(x, &nx)
		_, ey := fmt.Sscan(y, &ny)
		switch {
		case ex == nil && ey == nil && nx != ny:
			if nx < ny {
				return -1
			}
			return 1
		case (ex != nil || ey != nil) && x != y:
			return strings.Compare(x, y)
		}
	}
	return 0
}

func platformImageNotFound(publisher, offer, sku, version string) error {
	return failure.NotFoundf("PlatformImageNotFound", "The platform image '%s:%s:%s:%s' is not available. Verify that all fields in the storage profile are correct. For more details about storage profile information, please refer to https://aka.ms/storageprofile",
		publisher, offer, sku, version)
}

// PlatformImageRef is a parsed imageReference.id of the catalog:
// /Subscriptions/{s}/Providers/Microsoft.Compute/Locations/{l}/Publishers/{p}/ArtifactTypes/VMImage/Offers/{o}[/Skus/{k}[/Versions/{v}]].
type PlatformImageRef struct {
	Location, Publisher, Offer, SKU, Version string
}

// ParsePlatformImageID parses an imageReference.id of the catalog; ok is
// false for an id of another shape.
func ParsePlatformImageID(id string) (ref PlatformImageRef, ok bool) {
	segs := strings.Split(strings.Trim(id, "/"), "/")
	for i := range segs {
		if u, err := url.PathUnescape(segs[i]); err == nil {
			segs[i] = u
		}
	}
	want := []string{"subscriptions", "", "providers", "microsoft.compute", "locations", "", "publishers", "", "artifacttypes", "vmimage", "offers", ""}
	if len(segs) < len(want) || len(segs) > len(want)+4 || len(segs)%2 != 0 {
		return ref, false
	}
	for i, w := range want {
		if w != "" && !strings.EqualFold(segs[i], w) {
			return ref, false
		}
	}
	ref = PlatformImageRef{Location: segs[5], Publisher: segs[7], Offer: segs[11]}
	if len(segs) > 12 {
		if !strings.EqualFold(segs[12], "skus") {
			return ref, false
		}
		ref.SKU = segs[13]
	}
	if len(segs) > 14 {
		if !strings.EqualFold(segs[14], "versions") {
			return ref, false
		}
		ref.Version = segs[15]
	}
	return ref, true
}

// ResolveVMImage returns the catalog version an imageReference names. A
// reference without a version (or with version "latest") names the
// newest version of its sku; one without a sku names the newest version
// of the offer's only sku (an offer of several skus must name one).
func (s *Service) ResolveVMImage(ctx context.Context, ref PlatformImageRef) (*VMImage, error) {
	all, err := s.VMImages(ctx, ref.Location)
	if err != nil {
		return nil, err
	}
	var hits []*VMImage
	skus := map[string]bool{}
	for _, img := range all {
		if !strings.EqualFold(img.Publisher, ref.Publisher) || !strings.EqualFold(img.Offer, ref.Offer) {
			continue
		}
		if ref.SKU != "" && !strings.EqualFold(img.SKU, ref.SKU) {
			continue
		}
		if ref.Version != "" && !strings.EqualFold(ref.Version, "latest") && !strings.EqualFold(img.Version, ref.Version) {
			continue
		}
		skus[strings.ToLower(img.SKU)] = true
		hits = append(hits, img)
	}
	if len(skus) > 1 {
		return nil, failure.Invalidf("InvalidParameter", "The image reference names offer '%s' of publisher '%s', which has %d skus. Name the sku and version: .../Offers/%s/Skus/{sku}/Versions/{version}.",
			ref.Offer, ref.Publisher, len(skus), ref.Offer)
	}
	if len(hits) == 0 {
		return nil, platformImageNotFound(ref.Publisher, ref.Offer, orLatest(ref.SKU, "*"), orLatest(ref.Version, "latest"))
	}
	return hits[len(hits)-1], nil // VMImages orders versions ascending
}

func orLatest(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// diskImage is what a disk created from an image gets: the content of the
// image's disk, and the properties the image gives it.
type diskImage struct {
	disk             *ImageDisk
	osType, hyperV   string
	architecture     string
	plan             *ImagePlan
	features         []ImageFeature
	dataDisk         bool
	galleryImageType string
}

// resolveDiskImage resolves the image a FromImage disk spec names: the
// platform image of imageReference.id or the gallery image version of
// galleryImageReference (id, sharedGalleryImageId or
// communityGalleryImageId); lun picks a data disk of it.
func (s *Service) resolveDiskImage(ctx context.Context, spec *DiskSpec) (*diskImage, error) {
	ref, gref := spec.ImageReference, spec.GalleryImageReference
	var lun *int32
	var out diskImage
	var content *ImageContent
	var name string
	switch {
	case ref != nil && ref.ID != "":
		lun, name = ref.Lun, ref.ID
		pr, ok := ParsePlatformImageID(ref.ID)
		if !ok {
			if rid, err := arm.ParseID(ref.ID); err == nil && rid.IsType(GalleryImageVersionType) {
				// A gallery version named in imageReference (older clients).
				gref = &ImageDiskReference{ID: ref.ID, Lun: ref.Lun}
				break
			}
			return nil, failure.Invalidf("InvalidParameter", "'creationData.imageReference.id' '%s' is not a platform image id (/Subscriptions/{subscriptionId}/Providers/Microsoft.Compute/Locations/{location}/Publishers/{publisher}/ArtifactTypes/VMImage/Offers/{offer}/Skus/{sku}/Versions/{version}); for a gallery image use creationData.galleryImageReference.", ref.ID)
		}
		img, err := s.ResolveVMImage(ctx, pr)
		if err != nil {
			return nil, err
		}
		content = &img.Content
		out.osType, out.hyperV, out.architecture, out.plan, out.features = img.OSType, img.HyperVGeneration, img.Architecture, img.Plan, img.Features
	case gref == nil:
		return nil, failure.Invalidf("InvalidParameter", "Required parameter 'creationData.imageReference' (or 'creationData.galleryImageReference') is missing: createOption FromImage names the image to create the disk from.")
	}
	if content == nil {
		if gref == nil {
			return nil, failure.Invalidf("InvalidParameter", "Required parameter 'creationData.galleryImageReference' is missing.")
		}
		lun = gref.Lun
		var g *GalleryImageRef
		var err error
		switch {
		case gref.ID != "":
			name = gref.ID
			g, err = s.ResolveGalleryVersion(ctx, gref.ID)
		case gref.SharedGalleryImageID != "":
			name = gref.SharedGalleryImageID
			g, err = s.ResolveSharedVersion(ctx, gref.SharedGalleryImageID, spec.CallerSubscription, spec.CallerTenant)
		case gref.CommunityGalleryImageID != "":
			name = gref.CommunityGalleryImageID
			g, err = s.ResolveSharedVersion(ctx, gref.CommunityGalleryImageID, spec.CallerSubscription, spec.CallerTenant)
		default:
			return nil, failure.Invalidf("InvalidParameter", "'creationData.galleryImageReference' names no image: set its id, sharedGalleryImageId or communityGalleryImageId.")
		}
		if err != nil {
			return nil, err
		}
		content = g.Content
		p := g.Image.Properties
		out.osType, out.hyperV, out.architecture, out.plan, out.features = p.OSType, p.HyperVGeneration, p.Architecture, p.PurchasePlan, p.Features
	}
	out.disk = content.Disk(lun)
	if out.disk == nil {
		if lun == nil {
			return nil, failure.Invalidf("InvalidParameter", "The image '%s' has no OS disk.", name)
		}
		return nil, failure.Invalidf("InvalidParameter", "The image '%s' has no data disk at lun %d.", name, *lun)
	}
	out.dataDisk = lun != nil
	return &out, nil
}

// imageSettings are the properties an image gives a disk created from it:
// its purchase plan and its supported capabilities.
func (di *diskImage) settings() Settings {
	s := Settings{}
	if di.dataDisk {
		return s
	}
	if di.plan != nil {
		s["purchasePlan"], _ = json.Marshal(map[string]string{"name": di.plan.Name, "product": di.plan.Product, "publisher": di.plan.Publisher})
	}
	caps := map[string]any{}
	for _, f := range di.features {
		switch {
		case strings.EqualFold(f.Name, "IsAcceleratedNetworkSupported"):
			caps["acceleratedNetwork"] = strings.EqualFold(f.Value, "true")
		case strings.EqualFold(f.Name, "DiskControllerTypes"):
			caps["diskControllerTypes"] = f.Value
		case strings.EqualFold(f.Name, "SecurityType"):
			// An image that supports Trusted Launch (and confidential
			// VMs) gives its disks that option; one whose security type
			// is TrustedLaunch or ConfidentialVM requires it (Azure sets
			// the disk's securityProfile, which Safehold does not keep).
			switch {
			case strings.EqualFold(f.Value, "TrustedLaunchSupported"):
				caps["supportedSecurityOption"] = "TrustedLaunchSupported"
			case strings.EqualFold(f.Value, "TrustedLaunchAndConfidentialVmSupported"):
				caps["supportedSecurityOption"] = "TrustedLaunchAndConfidentialVMSupported"
			}
		}
	}
	if di.architecture != "" {
		caps["architecture"] = di.architecture
	}
	if len(caps) > 0 {
		s["supportedCapabilities"], _ = json.Marshal(caps)
	}
	return s
}

// SizeGB is a size in bytes as whole GiB, rounded up.
func SizeGB(bytes int64) int64 { return sizeGB(bytes) }

// canonical returns the allowed value v names (case-insensitively), or a
// 400 InvalidParameter naming the allowed values of property what.
func canonical(what, v string, allowed ...string) (string, error) {
	for _, a := range allowed {
		if strings.EqualFold(a, v) {
			return a, nil
		}
	}
	return "", failure.Invalidf("InvalidParameter", "The value '%s' of '%s' is invalid. Use %s.", v, what, strings.Join(allowed, " or "))
}

// imageContent is the content the image key names records (a catalog
// version "vmimage:{key}", or a gallery image version's id); nil when the
// image does not exist.
func (s *Service) imageContent(ctx context.Context, key string) (*ImageContent, error) {
	if k, ok := strings.CutPrefix(key, "vmimage:"); ok {
		img, err := store.GetJSON[VMImage](ctx, s.p.Store, vmImageKind, k, "VM image")
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return &img.Content, nil
	}
	st, err := getState(ctx, s.p.Store, key)
	if err != nil {
		return nil, err
	}
	return st.Image, nil
}
