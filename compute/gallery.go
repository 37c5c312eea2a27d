package compute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/failure"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// Azure Compute Galleries, as far as disks are created from them: a
// gallery, its image definitions and their versions. A version's content
// is captured from a disk or snapshot when the version is created; a disk
// created with creationData.galleryImageReference gets it. A gallery's
// sharingProfile makes its versions reachable as
// /SharedGalleries/{uniqueName}/Images/{image}/Versions/{version}
// (permissions Groups: the subscriptions and tenants of its groups) and
// /CommunityGalleries/{publicName}/Images/{image}/Versions/{version}
// (permissions Community: everyone).

// Gallery resource types.
const (
	GalleryType             = "Microsoft.Compute/galleries"
	GalleryImageType        = "Microsoft.Compute/galleries/images"
	GalleryImageVersionType = "Microsoft.Compute/galleries/images/versions"
)

// GalleryIdentifier is a gallery's unique name (its direct-shared name).
type GalleryIdentifier struct {
	UniqueName string `json:"uniqueName"`
}

// SharingGroup is a group a gallery is shared with (Subscriptions or
// AADTenants, by id).
type SharingGroup struct {
	Type string   `json:"type"`
	IDs  []string `json:"ids,omitempty"`
}

// CommunityGalleryInfo is what a community gallery publishes.
type CommunityGalleryInfo struct {
	PublisherURI            string   `json:"publisherUri,omitempty"`
	PublisherContact        string   `json:"publisherContact,omitempty"`
	Eula                    string   `json:"eula,omitempty"`
	PublicNamePrefix        string   `json:"publicNamePrefix,omitempty"`
	CommunityGalleryEnabled bool     `json:"communityGalleryEnabled"`
	PublicNames             []string `json:"publicNames,omitempty"`
}

// SharingProfile is a gallery's sharing: Private, Groups or Community.
type SharingProfile struct {
	Permissions          string                `json:"permissions,omitempty"`
	Groups               []SharingGroup        `json:"groups,omitempty"`
	CommunityGalleryInfo *CommunityGalleryInfo `json:"communityGalleryInfo,omitempty"`
}

// GalleryProperties are a gallery's properties.
type GalleryProperties struct {
	Description       string             `json:"description,omitempty"`
	Identifier        *GalleryIdentifier `json:"identifier,omitempty"`
	SharingProfile    *SharingProfile    `json:"sharingProfile,omitempty"`
	ProvisioningState string             `json:"provisioningState"`
}

// SetID sets the resource's id (a PUT's body takes the id of its URL).
func (t *Tracked) SetID(id string) { t.ID = id }

// GalleryResource is the stored ARM body of a gallery.
type GalleryResource struct {
	Tracked
	Properties GalleryProperties `json:"properties"`
}

// GalleryImageIdentifier names an image definition's publisher, offer and sku.
type GalleryImageIdentifier struct {
	Publisher string `json:"publisher"`
	Offer     string `json:"offer"`
	SKU       string `json:"sku"`
}

// GalleryImageProperties are an image definition's properties.
type GalleryImageProperties struct {
	Description       string                 `json:"description,omitempty"`
	OSType            string                 `json:"osType"`
	OSState           string                 `json:"osState"`
	HyperVGeneration  string                 `json:"hyperVGeneration,omitempty"`
	Architecture      string                 `json:"architecture,omitempty"`
	Identifier        GalleryImageIdentifier `json:"identifier"`
	Features          []ImageFeature         `json:"features,omitempty"`
	PurchasePlan      *ImagePlan             `json:"purchasePlan,omitempty"`
	ProvisioningState string                 `json:"provisioningState"`
}

// GalleryImageResource is the stored ARM body of an image definition.
type GalleryImageResource struct {
	Tracked
	Properties GalleryImageProperties `json:"properties"`
}

// GalleryDiskImageSource is the source of a version's disk.
type GalleryDiskImageSource struct {
	ID string `json:"id,omitempty"`
}

// GalleryDiskImage is one disk of a version.
type GalleryDiskImage struct {
	Lun         *int32                  `json:"lun,omitempty"`
	SizeInGB    int64                   `json:"sizeInGB,omitempty"`
	HostCaching string                  `json:"hostCaching,omitempty"`
	Source      *GalleryDiskImageSource `json:"source,omitempty"`
}

// GalleryStorageProfile is a version's disks.
type GalleryStorageProfile struct {
	Source         *GalleryDiskImageSource `json:"source,omitempty"`
	OSDiskImage    *GalleryDiskImage       `json:"osDiskImage,omitempty"`
	DataDiskImages []GalleryDiskImage      `json:"dataDiskImages,omitempty"`
}

// GalleryTargetRegion is a region a version is published in.
type GalleryTargetRegion struct {
	Name                 string `json:"name"`
	RegionalReplicaCount int32  `json:"regionalReplicaCount,omitempty"`
	StorageAccountType   string `json:"storageAccountType,omitempty"`
}

// GalleryPublishingProfile is where and how a version is published.
type GalleryPublishingProfile struct {
	TargetRegions      []GalleryTargetRegion `json:"targetRegions,omitempty"`
	ReplicaCount       int32                 `json:"replicaCount,omitempty"`
	ExcludeFromLatest  bool                  `json:"excludeFromLatest"`
	StorageAccountType string                `json:"storageAccountType,omitempty"`
	PublishedDate      string                `json:"publishedDate,omitempty"`
	EndOfLifeDate      string                `json:"endOfLifeDate,omitempty"`
}

// GalleryImageVersionProperties are a version's properties.
type GalleryImageVersionProperties struct {
	PublishingProfile *GalleryPublishingProfile `json:"publishingProfile,omitempty"`
	StorageProfile    GalleryStorageProfile     `json:"storageProfile"`
	ProvisioningState string                    `json:"provisioningState"`
}

// GalleryImageVersionResource is the stored ARM body of an image version.
type GalleryImageVersionResource struct {
	Tracked
	Properties GalleryImageVersionProperties `json:"properties"`
}

// PutGallery creates or updates a gallery. Its unique name is
// {subscriptionId}-{NAME}; permissions Community get a public name
// ({publicNamePrefix}-{uuid}) that stays for the gallery's life.
func (s *Service) PutGallery(ctx context.Context, g *GalleryResource) (created bool, err error) {
	return s.putGallery(ctx, g, 0)
}

// errGalleryChanged is putGallery's answer to an update whose gallery was
// written (or deleted) since it was read.
var errGalleryChanged = errors.New("the gallery changed since it was read")

// UpdateGallery applies change to the gallery id as stored and writes it
// (a PATCH): the write goes through only over the version change was
// given, else the gallery is read and changed again, so two concurrent
// updates never undo each other; one racing the gallery's delete is 404
// rather than making it again.
func (s *Service) UpdateGallery(ctx context.Context, id string, change func(g *GalleryResource)) (*GalleryResource, error) {
	rid, err := arm.ParseID(id)
	if err != nil || !rid.IsType(GalleryType) {
		return nil, failure.Invalidf("InvalidParameter", "'%s' is not a gallery id.", id)
	}
	for {
		var g GalleryResource
		version, err := resource.GetVersion(ctx, s.p.Store, rid, &g)
		if err != nil {
			return nil, err
		}
		change(&g)
		if _, err := s.putGallery(ctx, &g, version); !errors.Is(err, errGalleryChanged) {
			return &g, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

// putGallery is PutGallery; a base version (an update) is the version of
// the gallery g was computed from: errGalleryChanged when it is no longer
// the stored one, NotFound when the gallery is gone.
func (s *Service) putGallery(ctx context.Context, g *GalleryResource, base int64) (created bool, err error) {
	rid, err := arm.ParseID(g.ID)
	if err != nil || !rid.IsType(GalleryType) {
		return false, failure.Invalidf("InvalidParameter", "'%s' is not a gallery id.", g.ID)
	}
	if err := resource.CheckResourceGroup(ctx, s.p.Store, rid.SubscriptionID, rid.ResourceGroup); err != nil {
		return false, err
	}
	if err := checkGalleryName(rid.Name(), "gallery", false); err != nil {
		return false, err
	}
	if g.Location == "" {
		return false, failure.Invalidf("LocationRequired", "The location property is required for this definition.")
	}
	if err := resource.CheckLocation(g.Location, GalleryType); err != nil {
		return false, err
	}
	g.ID, g.Name, g.Type, g.Location = rid.String(), rid.Name(), GalleryType, resource.NormLocation(g.Location)
	g.Properties.Identifier = &GalleryIdentifier{UniqueName: rid.SubscriptionID + "-" + strings.ToUpper(rid.Name())}
	g.Properties.ProvisioningState = "Succeeded"
	sp := g.Properties.SharingProfile
	if sp != nil {
		if sp.Permissions, err = canonical("sharingProfile.permissions", firstNonEmpty(sp.Permissions, "Private"), "Private", "Groups", "Community"); err != nil {
			return false, err
		}
		if sp.Permissions == "Community" && (sp.CommunityGalleryInfo == nil || sp.CommunityGalleryInfo.PublicNamePrefix == "") {
			return false, failure.Invalidf("InvalidParameter", "A community gallery needs sharingProfile.communityGalleryInfo.publicNamePrefix (and its publisherUri, publisherContact and eula).")
		}
		for i := range sp.Groups {
			if sp.Groups[i].Type, err = canonical("sharingProfile.groups.type", sp.Groups[i].Type, "Subscriptions", "AADTenants"); err != nil {
				return false, err
			}
		}
	}
	err = s.p.Store.Update(ctx, func(tx store.Tx) error {
		var old GalleryResource
		version, err := resource.GetVersion(ctx, tx, rid, &old)
		switch created = failure.Is(err, failure.NotFound); {
		case err != nil && (!created || base != 0):
			return err
		case base != 0 && version != base:
			return errGalleryChanged
		}
		if !created && !strings.EqualFold(old.Location, g.Location) {
			return failure.Conflictf("InvalidParameter", "Gallery '%s' is in location '%s'; its location cannot change to '%s'.", old.Name, old.Location, g.Location)
		}
		if !created {
			// An update keeps the id (and name) the gallery was created
			// with, whatever the casing of the path that updates it.
			g.ID, g.Name, g.Properties.Identifier = old.ID, old.Name, old.Properties.Identifier
		}
		if sp != nil && sp.Permissions == "Community" {
			ci := sp.CommunityGalleryInfo
			ci.CommunityGalleryEnabled = true
			ci.PublicNames = nil
			if osp := old.Properties.SharingProfile; !created && osp != nil && osp.CommunityGalleryInfo != nil && len(osp.CommunityGalleryInfo.PublicNames) > 0 &&
				strings.EqualFold(osp.CommunityGalleryInfo.PublicNamePrefix, ci.PublicNamePrefix) {
				ci.PublicNames = osp.CommunityGalleryInfo.PublicNames
			}
			if len(ci.PublicNames) == 0 {
				ci.PublicNames = []string{ci.PublicNamePrefix + "-" + newUUID()}
			}
		}
		return resource.Put(ctx, tx, rid, g)
	})
	return created, err
}

// getOrNew reads the resource rid into v for a PUT: created is true when
// there is none yet (v left as it is).
func getOrNew(ctx context.Context, tx store.Reader, rid arm.ResourceID, v any) (created bool, err error) {
	err = resource.Get(ctx, tx, rid, v)
	if failure.Is(err, failure.NotFound) {
		return true, nil
	}
	return false, err
}

// checkGalleryName checks a gallery, image or version name as Azure does:
// letters, digits, '.' and '_' for galleries ('-' too for images); a
// version is Major.Minor.Patch.
func checkGalleryName(name, what string, dash bool) error {
	ok := len(name) >= 1 && len(name) <= 80
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || dash && c == '-'
	}
	if !ok {
		allowed := "letters, digits, '.' and '_'"
		if dash {
			allowed = "letters, digits, '.', '_' and '-'"
		}
		return failure.Invalidf("InvalidParameter", "The %s name '%s' is invalid. Use 1 to 80 %s.", what, name, allowed)
	}
	return nil
}

// Gallery reads a gallery.
func (s *Service) Gallery(ctx context.Context, id string) (*GalleryResource, error) {
	return getTypedAny[GalleryResource](ctx, s.p.Store, id, GalleryType)
}

// GalleryImage reads an image definition.
func (s *Service) GalleryImage(ctx context.Context, id string) (*GalleryImageResource, error) {
	return getTypedAny[GalleryImageResource](ctx, s.p.Store, id, GalleryImageType)
}

// GalleryImageVersion reads an image version.
func (s *Service) GalleryImageVersion(ctx context.Context, id string) (*GalleryImageVersionResource, error) {
	return getTypedAny[GalleryImageVersionResource](ctx, s.p.Store, id, GalleryImageVersionType)
}

func getTypedAny[T any](ctx context.Context, r store.Reader, id, typ string) (*T, error) {
	rid, err := arm.ParseID(id)
	if err != nil || !rid.IsType(typ) {
		return nil, failure.Invalidf("InvalidParameter", "'%s' is not a valid %s resource id.", id, typ)
	}
	var v T
	if err := resource.Get(ctx, r, rid, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// ListGalleries lists the galleries under scope.
func (s *Service) ListGalleries(ctx context.Context, scope string) ([]*GalleryResource, error) {
	return resource.List[*GalleryResource](ctx, s.p.Store, GalleryType, scope)
}

// ListGalleryImages lists a gallery's image definitions.
func (s *Service) ListGalleryImages(ctx context.Context, galleryID string) ([]*GalleryImageResource, error) {
	if _, err := s.Gallery(ctx, galleryID); err != nil {
		return nil, err
	}
	return resource.List[*GalleryImageResource](ctx, s.p.Store, GalleryImageType, galleryID)
}

// ListGalleryImageVersions lists an image definition's versions.
func (s *Service) ListGalleryImageVersions(ctx context.Context, imageID string) ([]*GalleryImageVersionResource, error) {
	if _, err := s.GalleryImage(ctx, imageID); err != nil {
		return nil, err
	}
	return resource.List[*GalleryImageVersionResource](ctx, s.p.Store, GalleryImageVersionType, imageID)
}

// PutGalleryImage creates or updates an image definition (its osType,
// osState and identifier cannot change).
func (s *Service) PutGalleryImage(ctx context.Context, im *GalleryImageResource) (created bool, err error) {
	rid, err := arm.ParseID(im.ID)
	if err != nil || !rid.IsType(GalleryImageType) {
		return false, failure.Invalidf("InvalidParameter", "'%s' is not a gallery image id.", im.ID)
	}
	if err := checkGalleryName(rid.Name(), "gallery image", true); err != nil {
		return false, err
	}
	g, err := s.Gallery(ctx, rid.Parent().String())
	if err != nil {
		return false, err
	}
	if im.Location == "" {
		im.Location = g.Location
	}
	if !strings.EqualFold(resource.NormLocation(im.Location), g.Location) {
		return false, failure.Invalidf("InvalidParameter", "The gallery image must be in its gallery's location '%s', not '%s'.", g.Location, im.Location)
	}
	p := &im.Properties
	p.HyperVGeneration = firstNonEmpty(p.HyperVGeneration, "V1")
	for _, f := range []struct {
		v       *string
		what    string
		allowed []string
	}{{&p.OSType, "osType", []string{"Linux", "Windows"}}, {&p.OSState, "osState", []string{"Generalized", "Specialized"}},
		{&p.HyperVGeneration, "hyperVGeneration", []string{"V1", "V2"}}} {
		if *f.v, err = canonical(f.what, *f.v, f.allowed...); err != nil {
			return false, err
		}
	}
	if p.Identifier.Publisher == "" || p.Identifier.Offer == "" || p.Identifier.SKU == "" {
		return false, failure.Invalidf("InvalidParameter", "Required parameter 'identifier' is incomplete: give its publisher, offer and sku.")
	}
	im.ID, im.Name, im.Type, im.Location = rid.String(), rid.Name(), GalleryImageType, g.Location
	p.ProvisioningState = "Succeeded"
	err = s.p.Store.Update(ctx, func(tx store.Tx) error {
		if err := parentExists(ctx, tx, rid); err != nil { // the gallery, read above, may be gone since
			return err
		}
		var old GalleryImageResource
		if created, err = getOrNew(ctx, tx, rid, &old); err != nil {
			return err
		}
		if !created {
			im.ID, im.Name = old.ID, old.Name // (as created, whatever the path's casing)
			op := old.Properties
			for _, c := range [][3]string{{"osType", op.OSType, p.OSType}, {"osState", op.OSState, p.OSState},
				{"identifier", strings.Join([]string{op.Identifier.Publisher, op.Identifier.Offer, op.Identifier.SKU}, ":"), strings.Join([]string{p.Identifier.Publisher, p.Identifier.Offer, p.Identifier.SKU}, ":")}} {
				if !strings.EqualFold(c[1], c[2]) {
					return failure.Conflictf("PropertyChangeNotAllowed", "Changing property '%s' is not allowed (it is '%s'). Create a new image definition instead.", c[0], c[1])
				}
			}
		}
		return resource.Put(ctx, tx, rid, im)
	})
	return created, err
}

// CheckGalleryImageVersion validates a new version (its sources included)
// without capturing anything; it fills in the version's ids and region.
func (s *Service) CheckGalleryImageVersion(ctx context.Context, v *GalleryImageVersionResource) error {
	rid, err := arm.ParseID(v.ID)
	if err != nil || !rid.IsType(GalleryImageVersionType) {
		return failure.Invalidf("InvalidParameter", "'%s' is not a gallery image version id.", v.ID)
	}
	if !reVersionName(rid.Name()) {
		return failure.Invalidf("InvalidParameter", "The gallery image version name '%s' is invalid. Use Major.Minor.Patch, three numbers within the 32-bit integer range (e.g. 1.0.0).", rid.Name())
	}
	im, err := s.GalleryImage(ctx, rid.Parent().String())
	if err != nil {
		return err
	}
	if v.Location == "" {
		v.Location = im.Location
	}
	if !strings.EqualFold(resource.NormLocation(v.Location), im.Location) {
		return failure.Invalidf("InvalidParameter", "The gallery image version must be in its gallery's location '%s', not '%s'.", im.Location, v.Location)
	}
	v.ID, v.Name, v.Type, v.Location = rid.String(), rid.Name(), GalleryImageVersionType, im.Location
	if ok, err := resource.Exists(ctx, s.p.Store, rid.String()); err != nil {
		return err
	} else if ok {
		return failure.Conflictf("OperationNotAllowed", "Gallery image version '%s' exists; its content cannot change. Create a new version.", rid.Name())
	}
	srcs, err := versionSources(&v.Properties.StorageProfile)
	if err != nil {
		return err
	}
	return s.checkImageSources(ctx, srcs)
}

// versionSources are the sources a version's storage profile names:
// osDiskImage.source.id (or source.id) and each data disk's.
func versionSources(sp *GalleryStorageProfile) ([]ImageSource, error) {
	var out []ImageSource
	switch {
	case sp.OSDiskImage != nil && sp.OSDiskImage.Source != nil && sp.OSDiskImage.Source.ID != "":
		out = append(out, ImageSource{SourceID: sp.OSDiskImage.Source.ID})
	case sp.Source != nil && sp.Source.ID != "":
		out = append(out, ImageSource{SourceID: sp.Source.ID})
	default:
		return nil, failure.Invalidf("InvalidParameter", "Required parameter 'storageProfile.osDiskImage.source.id' is missing: name the managed disk or snapshot holding the OS disk.")
	}
	for _, d := range sp.DataDiskImages {
		if d.Lun == nil || d.Source == nil || d.Source.ID == "" {
			return nil, failure.Invalidf("InvalidParameter", "Each of 'storageProfile.dataDiskImages' needs its lun and source.id (a managed disk or snapshot).")
		}
		out = append(out, ImageSource{Lun: d.Lun, SourceID: d.Source.ID})
	}
	return out, nil
}

func reVersionName(n string) bool {
	parts := strings.Split(n, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		var x int64
		if p == "" || len(p) > 10 || strings.Trim(p, "0123456789") != "" {
			return false
		}
		fmt.Sscan(p, &x)
		if x > 1<<31-1 {
			return false
		}
	}
	return true
}

// CreateGalleryImageVersion captures the version's sources and creates it.
func (s *Service) CreateGalleryImageVersion(ctx context.Context, v *GalleryImageVersionResource) (*GalleryImageVersionResource, error) {
	if err := s.CheckGalleryImageVersion(ctx, v); err != nil {
		return nil, err
	}
	srcs, _ := versionSources(&v.Properties.StorageProfile)
	c, err := s.CaptureImage(ctx, v.ID, srcs)
	if err != nil {
		return nil, err
	}
	sp := &v.Properties.StorageProfile
	if sp.OSDiskImage == nil {
		sp.OSDiskImage = &GalleryDiskImage{}
	}
	if sp.OSDiskImage.Source == nil && sp.Source != nil {
		sp.OSDiskImage.Source = &GalleryDiskImageSource{ID: sp.Source.ID}
	}
	sp.OSDiskImage.SizeInGB = sizeGB(c.OSDisk.SizeBytes)
	if sp.OSDiskImage.HostCaching == "" {
		sp.OSDiskImage.HostCaching = "ReadWrite"
	}
	for i := range sp.DataDiskImages {
		if d := c.Disk(sp.DataDiskImages[i].Lun); d != nil {
			sp.DataDiskImages[i].SizeInGB = sizeGB(d.SizeBytes)
		}
		if sp.DataDiskImages[i].HostCaching == "" {
			sp.DataDiskImages[i].HostCaching = "None"
		}
	}
	pp := v.Properties.PublishingProfile
	if pp == nil {
		pp = &GalleryPublishingProfile{}
		v.Properties.PublishingProfile = pp
	}
	if pp.ReplicaCount == 0 {
		pp.ReplicaCount = 1
	}
	if len(pp.TargetRegions) == 0 {
		pp.TargetRegions = []GalleryTargetRegion{{Name: v.Location, RegionalReplicaCount: pp.ReplicaCount, StorageAccountType: "Standard_LRS"}}
	}
	if pp.StorageAccountType == "" {
		pp.StorageAccountType = "Standard_LRS"
	}
	pp.PublishedDate = s.now().Format("2006-01-02T15:04:05.9999999Z07:00")
	v.Properties.ProvisioningState = "Succeeded"
	rid, _ := arm.ParseID(v.ID)
	err = s.p.Store.Update(ctx, func(tx store.Tx) error {
		// The image definition may have been deleted during the capture
		// (it had no version to refuse it).
		if err := parentExists(ctx, tx, rid); err != nil {
			return err
		}
		if err := create(ctx, tx, rid, "Gallery image version", v); err != nil {
			return err
		}
		return putState(ctx, tx, v.ID, resourceState{Image: c})
	})
	if err != nil {
		s.DropImageContent(ctx, c)
		return nil, err
	}
	return v, nil
}

// DeleteGalleryImageVersion deletes a version and its content.
func (s *Service) DeleteGalleryImageVersion(ctx context.Context, id string) error {
	rid, err := arm.ParseID(id)
	if err != nil || !rid.IsType(GalleryImageVersionType) {
		return failure.Invalidf("InvalidParameter", "'%s' is not a gallery image version id.", id)
	}
	var c *ImageContent
	err = s.p.Store.Update(ctx, func(tx store.Tx) error {
		st, err := getState(ctx, tx, rid.String())
		if err != nil {
			return err
		}
		c = st.Image
		if err := resource.Delete(ctx, tx, rid); err != nil {
			return err
		}
		return deleteState(ctx, tx, rid.String())
	})
	if err != nil {
		return err
	}
	s.DropImageContent(ctx, c)
	return nil
}

// DeleteGalleryChild deletes an image definition (refused while it has
// versions) or a gallery (refused while it has image definitions).
func (s *Service) DeleteGalleryChild(ctx context.Context, id string) error {
	rid, err := arm.ParseID(id)
	if err != nil || !(rid.IsType(GalleryType) || rid.IsType(GalleryImageType)) {
		return failure.Invalidf("InvalidParameter", "'%s' is not a gallery or gallery image id.", id)
	}
	return s.p.Store.Update(ctx, func(tx store.Tx) error {
		if ok, err := resource.Exists(ctx, tx, rid.String()); err != nil {
			return err
		} else if !ok {
			return resource.NotFound(rid)
		}
		childType, what := GalleryImageVersionType, "image versions"
		if rid.IsType(GalleryType) {
			childType, what = GalleryImageType, "image definitions"
		}
		kids, err := resource.List[json.RawMessage](ctx, tx, childType, rid.String())
		if err != nil {
			return err
		}
		if len(kids) > 0 {
			return failure.Conflictf("CannotDeleteResource", "Can not delete resource before nested resources are deleted: '%s' has %d %s. Delete them first.", rid.Name(), len(kids), what)
		}
		return resource.Delete(ctx, tx, rid)
	})
}

// parentExists is NotFound when rid's parent (an image definition's
// gallery, a version's image definition) is not stored in tx: a child is
// stored only under a parent that DeleteGalleryChild has not removed.
func parentExists(ctx context.Context, tx store.Tx, rid arm.ResourceID) error {
	ok, err := resource.Exists(ctx, tx, rid.Parent().String())
	if err == nil && !ok {
		err = resource.NotFound(rid.Parent())
	}
	return err
}

// GalleryImageRef is a resolved gallery image reference: the version, its
// image definition and content.
type GalleryImageRef struct {
	Version *GalleryImageVersionResource
	Image   *GalleryImageResource
	Content *ImageContent
}

func galleryImageNotFound(ref string) error {
	return failure.NotFoundf("GalleryImageNotFound", "The gallery image '%s' is not available. Verify that the gallery, image definition and version exist and are shared with your subscription.", ref)
}

// ResolveGalleryVersion resolves the version a gallery image id names
// (.../galleries/{g}/images/{i}/versions/{v}; the caller has checked the
// caller may read it).
func (s *Service) ResolveGalleryVersion(ctx context.Context, id string) (*GalleryImageRef, error) {
	rid, err := arm.ParseID(id)
	if err != nil || !rid.IsType(GalleryImageVersionType) {
		return nil, failure.Invalidf("InvalidParameter", "'galleryImageReference.id' '%s' is not the id of a gallery image version (.../galleries/{gallery}/images/{image}/versions/{version}).", id)
	}
	v, err := s.GalleryImageVersion(ctx, rid.String())
	if failure.Is(err, failure.NotFound) {
		return nil, galleryImageNotFound(id)
	}
	if err != nil {
		return nil, err
	}
	im, err := s.GalleryImage(ctx, rid.Parent().String())
	if err != nil {
		return nil, err
	}
	st, err := getState(ctx, s.p.Store, rid.String())
	if err != nil {
		return nil, err
	}
	if st.Image == nil {
		return nil, galleryImageNotFound(id)
	}
	return &GalleryImageRef{Version: v, Image: im, Content: st.Image}, nil
}

// ResolveSharedVersion resolves /SharedGalleries/{uniqueName}/Images/{i}/Versions/{v}
// (community: /CommunityGalleries/{publicName}/...) for a caller in
// subscription sub and tenant tenant: the gallery must share with them
// (Groups: a group names the subscription or tenant; the gallery's own
// subscription always may) or be a community gallery.
func (s *Service) ResolveSharedVersion(ctx context.Context, ref, sub, tenant string) (*GalleryImageRef, error) {
	segs := strings.Split(strings.Trim(ref, "/"), "/")
	for i := range segs {
		if u, err := url.PathUnescape(segs[i]); err == nil {
			segs[i] = u
		}
	}
	if len(segs) != 6 || !strings.EqualFold(segs[2], "images") || !strings.EqualFold(segs[4], "versions") {
		return nil, failure.Invalidf("InvalidParameter", "The gallery image reference '%s' is not of the form /SharedGalleries/{uniqueName}/Images/{image}/Versions/{version} or /CommunityGalleries/{publicName}/Images/{image}/Versions/{version}.", ref)
	}
	community := strings.EqualFold(segs[0], "CommunityGalleries")
	if !community && !strings.EqualFold(segs[0], "SharedGalleries") {
		return nil, failure.Invalidf("InvalidParameter", "The gallery image reference '%s' names neither /SharedGalleries nor /CommunityGalleries.", ref)
	}
	all, err := s.ListGalleries(ctx, "")
	if err != nil {
		return nil, err
	}
	for _, g := range all {
		sp := g.Properties.SharingProfile
		if sp == nil {
			continue
		}
		rid, _ := arm.ParseID(g.ID)
		if community {
			if sp.Permissions != "Community" || sp.CommunityGalleryInfo == nil || !containsFold(sp.CommunityGalleryInfo.PublicNames, segs[1]) {
				continue
			}
		} else {
			if sp.Permissions != "Groups" || g.Properties.Identifier == nil || !strings.EqualFold(g.Properties.Identifier.UniqueName, segs[1]) {
				continue
			}
			if !strings.EqualFold(rid.SubscriptionID, sub) && !sharedWith(sp, sub, tenant) {
				continue
			}
		}
		return s.ResolveGalleryVersion(ctx, g.ID+"/images/"+segs[3]+"/versions/"+segs[5])
	}
	return nil, galleryImageNotFound(ref)
}

func sharedWith(sp *SharingProfile, sub, tenant string) bool {
	for _, gr := range sp.Groups {
		if gr.Type == "Subscriptions" && containsFold(gr.IDs, sub) || gr.Type == "AADTenants" && tenant != "" && containsFold(gr.IDs, tenant) {
			return true
		}
	}
	return false
}

func containsFold(list []string, v string) bool {
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return true
		}
	}
	return false
}

// ShareGallery changes a gallery's sharing (the share action): Add or
// Remove the ids of groups (its permissions become Groups), Reset it to
// Private, or EnableCommunity (its communityGalleryInfo set by a PUT).
func (s *Service) ShareGallery(ctx context.Context, id, operation string, groups []SharingGroup) (*GalleryResource, error) {
	op, err := canonical("operationType", operation, "Add", "Remove", "Reset", "EnableCommunity")
	if err != nil {
		return nil, err
	}
	g, err := s.Gallery(ctx, id)
	if err != nil {
		return nil, err
	}
	sp := g.Properties.SharingProfile
	if sp == nil {
		sp = &SharingProfile{Permissions: "Private"}
	}
	for i := range groups {
		if groups[i].Type, err = canonical("groups.type", groups[i].Type, "Subscriptions", "AADTenants"); err != nil {
			return nil, err
		}
	}
	switch op {
	case "Reset":
		sp = &SharingProfile{Permissions: "Private"}
	case "EnableCommunity":
		sp.Permissions = "Community"
	case "Add", "Remove":
		if len(groups) == 0 {
			return nil, failure.Invalidf("InvalidParameter", "Required parameter 'groups' is missing: name the subscriptions or tenants to %s.", strings.ToLower(op))
		}
		sp.Permissions = "Groups"
		for _, ng := range groups {
			var cur *SharingGroup
			for i := range sp.Groups {
				if sp.Groups[i].Type == ng.Type {
					cur = &sp.Groups[i]
				}
			}
			if cur == nil {
				sp.Groups = append(sp.Groups, SharingGroup{Type: ng.Type})
				cur = &sp.Groups[len(sp.Groups)-1]
			}
			for _, x := range ng.IDs {
				if op == "Add" && !containsFold(cur.IDs, x) {
					cur.IDs = append(cur.IDs, x)
				}
				if op == "Remove" {
					cur.IDs = slices.DeleteFunc(cur.IDs, func(y string) bool { return strings.EqualFold(x, y) })
				}
			}
		}
	}
	g.Properties.SharingProfile = sp
	if _, err := s.PutGallery(ctx, g); err != nil {
		return nil, err
	}
	return g, nil
}
