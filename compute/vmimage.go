package compute

import (
	"context"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/failure"
	"github.com/safehold/safehold/resource"
)

// VMImageReference is a VM's storageProfile.imageReference: a platform
// image by publisher, offer, sku and version, or an image by id (a
// gallery image version, or an image definition for its latest version),
// sharedGalleryImageId or communityGalleryImageId.
type VMImageReference struct {
	Publisher               string `json:"publisher,omitempty"`
	Offer                   string `json:"offer,omitempty"`
	SKU                     string `json:"sku,omitempty"`
	Version                 string `json:"version,omitempty"`
	ExactVersion            string `json:"exactVersion,omitempty"`
	ID                      string `json:"id,omitempty"`
	SharedGalleryImageID    string `json:"sharedGalleryImageId,omitempty"`
	CommunityGalleryImageID string `json:"communityGalleryImageId,omitempty"`
}

// IsGallery reports whether ref names a gallery image (by id, shared or
// community id): one Safehold must have, unlike a platform image.
func (ref *VMImageReference) IsGallery() bool {
	if ref.SharedGalleryImageID != "" || ref.CommunityGalleryImageID != "" {
		return true
	}
	rid, err := arm.ParseID(ref.ID)
	return err == nil && (rid.IsType(GalleryImageType) || rid.IsType(GalleryImageVersionType))
}

// VMImageSource is the image a VM's implicit disks are created from.
type VMImageSource struct {
	// Content holds the image's OS disk and data disks.
	Content *ImageContent
	// ExactVersion is the version a platform image reference resolved to.
	ExactVersion string
	// The creationData references of the image's OS disk.
	image, gallery *ImageDiskReference
}

// DiskRefs are the creationData imageReference and galleryImageReference
// of a disk created from the image's disk at lun (nil: the OS disk).
func (src *VMImageSource) DiskRefs(lun *int32) (image, gallery *ImageDiskReference) {
	withLun := func(r *ImageDiskReference) *ImageDiskReference {
		if r == nil {
			return nil
		}
		c := *r
		c.Lun = lun
		return &c
	}
	return withLun(src.image), withLun(src.gallery)
}

// PlatformImageID is the catalog id of an image down to depth (0 the
// publisher ... 3 the version), spelled as Azure does.
func PlatformImageID(sub string, img *VMImage, depth int) string {
	id := "/Subscriptions/" + sub + "/Providers/Microsoft.Compute/Locations/" + img.Location + "/Publishers/" + img.Publisher
	if depth >= 1 {
		id += "/ArtifactTypes/VMImage/Offers/" + img.Offer
	}
	if depth >= 2 {
		id += "/Skus/" + img.SKU
	}
	if depth >= 3 {
		id += "/Versions/" + img.Version
	}
	return id
}

// ResolveVMImageReference resolves the image of a VM created in location
// by a caller of subscription sub and tenant tenant (whom a shared
// gallery must share with; the caller has checked RBAC read on a gallery
// id). A gallery image that does not exist is 404 GalleryImageNotFound; a
// platform image the catalog lacks (or an image of another kind) is nil:
// its disks are created empty.
func (s *Service) ResolveVMImageReference(ctx context.Context, ref VMImageReference, location, sub, tenant string) (*VMImageSource, error) {
	var g *GalleryImageRef
	var err error
	src := &VMImageSource{}
	switch {
	case ref.SharedGalleryImageID != "":
		g, err = s.ResolveSharedVersion(ctx, ref.SharedGalleryImageID, sub, tenant)
		src.gallery = &ImageDiskReference{SharedGalleryImageID: ref.SharedGalleryImageID}
	case ref.CommunityGalleryImageID != "":
		g, err = s.ResolveSharedVersion(ctx, ref.CommunityGalleryImageID, sub, tenant)
		src.gallery = &ImageDiskReference{CommunityGalleryImageID: ref.CommunityGalleryImageID}
	case ref.ID != "":
		rid, perr := arm.ParseID(ref.ID)
		switch {
		case perr == nil && rid.IsType(GalleryImageVersionType):
			g, err = s.ResolveGalleryVersion(ctx, rid.String())
		case perr == nil && rid.IsType(GalleryImageType):
			g, err = s.latestGalleryVersion(ctx, rid)
		default:
			p, ok := ParsePlatformImageID(ref.ID)
			if !ok {
				return nil, nil // a managed image: Safehold has none
			}
			return s.resolvePlatform(ctx, p, sub)
		}
		if err == nil {
			src.image, src.gallery = &ImageDiskReference{ID: g.Version.ID}, &ImageDiskReference{ID: g.Version.ID}
		}
	default:
		if ref.Publisher == "" || ref.Offer == "" {
			return nil, failure.Invalidf("InvalidParameter", "The image reference names no image: set publisher, offer, sku and version (a platform image), id (a gallery image), sharedGalleryImageId or communityGalleryImageId.")
		}
		return s.resolvePlatform(ctx, PlatformImageRef{Location: location, Publisher: ref.Publisher, Offer: ref.Offer, SKU: ref.SKU, Version: ref.Version}, sub)
	}
	if err != nil {
		return nil, err
	}
	src.Content = g.Content
	return src, nil
}

// resolvePlatform resolves a platform image of the catalog; nil when the
// catalog lacks it.
func (s *Service) resolvePlatform(ctx context.Context, ref PlatformImageRef, sub string) (*VMImageSource, error) {
	img, err := s.ResolveVMImage(ctx, ref)
	if failure.Is(err, failure.NotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &VMImageSource{Content: &img.Content, ExactVersion: img.Version, image: &ImageDiskReference{ID: PlatformImageID(sub, img, 3)}}, nil
}

// latestGalleryVersion resolves an image definition's latest version: the
// highest of the versions not excluded from latest.
func (s *Service) latestGalleryVersion(ctx context.Context, image arm.ResourceID) (*GalleryImageRef, error) {
	vs, err := resource.List[*GalleryImageVersionResource](ctx, s.p.Store, GalleryImageVersionType, image.String())
	if err != nil {
		return nil, err
	}
	var latest *GalleryImageVersionResource
	for _, v := range vs {
		if pp := v.Properties.PublishingProfile; pp != nil && pp.ExcludeFromLatest || v.Properties.ProvisioningState != "Succeeded" {
			continue
		}
		if latest == nil || CompareVersions(v.Name, latest.Name) > 0 {
			latest = v
		}
	}
	if latest == nil {
		return nil, galleryImageNotFound(image.String())
	}
	return s.ResolveGalleryVersion(ctx, latest.ID)
}
