package compute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/safehold/safehold/accountblob"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/failure"
	"github.com/safehold/safehold/lease"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/snapshot"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/volume"
)

// SKU is a disk or snapshot sku.
type SKU struct {
	Name string `json:"name,omitempty"`
	Tier string `json:"tier,omitempty"`
}

// CreationData is how a disk or snapshot was created.
type CreationData struct {
	CreateOption      string `json:"createOption"`
	SourceResourceID  string `json:"sourceResourceId,omitempty"`
	SourceUniqueID    string `json:"sourceUniqueId,omitempty"`
	SourceURI         string `json:"sourceUri,omitempty"`
	StorageAccountID  string `json:"storageAccountId,omitempty"`
	UploadSizeBytes   int64  `json:"uploadSizeBytes,omitempty"`
	LogicalSectorSize int32  `json:"logicalSectorSize,omitempty"`
	// Kept as sent (Safehold's copies have one speed and no performance tiers).
	PerformancePlus               *bool  `json:"performancePlus,omitempty"`
	ProvisionedBandwidthCopySpeed string `json:"provisionedBandwidthCopySpeed,omitempty"`
	// A snapshot's instant access (DiskRP 2025-01-02): Safehold's snapshots
	// are readable at once, so it changes nothing but is answered as sent
	// (a whole number of minutes: anything else is 400, as a Go SDK could
	// not read the snapshot back).
	InstantAccessDurationMinutes *int64 `json:"instantAccessDurationMinutes,omitempty"`
	// FromImage: the platform image (imageReference) or gallery image
	// version (galleryImageReference) the disk was created from.
	ImageReference        *ImageDiskReference `json:"imageReference,omitempty"`
	GalleryImageReference *ImageDiskReference `json:"galleryImageReference,omitempty"`
}

// ImageDiskReference names an image and the disk of it (lun: a data disk;
// none: the OS disk).
type ImageDiskReference struct {
	ID                      string `json:"id,omitempty"`
	SharedGalleryImageID    string `json:"sharedGalleryImageId,omitempty"`
	CommunityGalleryImageID string `json:"communityGalleryImageId,omitempty"`
	Lun                     *int32 `json:"lun,omitempty"`
}

// Encryption is a disk's encryption settings.
type Encryption struct {
	Type                string `json:"type,omitempty"`
	DiskEncryptionSetID string `json:"diskEncryptionSetId,omitempty"`
}

// BlockProperties are the properties Azure returns first for a disk and
// for a snapshot alike.
type BlockProperties struct {
	CreationData      CreationData `json:"creationData"`
	DiskSizeGB        int64        `json:"diskSizeGB"`
	DiskSizeBytes     int64        `json:"diskSizeBytes"`
	DiskState         string       `json:"diskState"`
	ProvisioningState string       `json:"provisioningState"`
	TimeCreated       time.Time    `json:"timeCreated"`
	UniqueID          string       `json:"uniqueId"`
}

// DiskProperties are the properties Azure returns for a disk.
type DiskProperties struct {
	BlockProperties
	OSType              string      `json:"osType,omitempty"`
	HyperVGeneration    string      `json:"hyperVGeneration,omitempty"`
	DiskIOPSReadWrite   int64       `json:"diskIOPSReadWrite,omitempty"`
	DiskMBpsReadWrite   int64       `json:"diskMBpsReadWrite,omitempty"`
	Encryption          *Encryption `json:"encryption,omitempty"`
	NetworkAccessPolicy string      `json:"networkAccessPolicy,omitempty"`
	PublicNetworkAccess string      `json:"publicNetworkAccess,omitempty"`
	Tier                string      `json:"tier,omitempty"`
	MaxShares           int32       `json:"maxShares,omitempty"`
	// ShareInfo lists the VMs a shared disk is attached to (as
	// managedByExtended does).
	ShareInfo []ShareInfo `json:"shareInfo,omitempty"`
	// LastOwnershipUpdateTime is when the disk was last attached to or
	// detached from a VM, or its VM deallocated or started (Azure's
	// spelling, capital L).
	LastOwnershipUpdateTime *time.Time `json:"LastOwnershipUpdateTime,omitempty"`
	Settings                Settings   `json:"-"`
}

// Tracked is what Azure returns first for a disk and for a snapshot: the
// resource's id, name, type, location, tags, manager and SKU.
type Tracked struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Type      string            `json:"type"`
	Location  string            `json:"location"`
	Tags      map[string]string `json:"tags,omitempty"`
	ManagedBy string            `json:"managedBy,omitempty"`
	SKU       *SKU              `json:"sku,omitempty"`
}

// DiskResource is the stored ARM body of a disk (Azure's Disk model).
type DiskResource struct {
	Tracked
	// ManagedByExtended lists the VMs a shared disk (maxShares > 1) is
	// attached to, managedBy first (AttachedVMs).
	ManagedByExtended []string `json:"managedByExtended,omitempty"`
	Zones             []string `json:"zones,omitempty"`
	// ExtendedLocation is kept as sent (an edge zone; Safehold has one place).
	ExtendedLocation json.RawMessage `json:"extendedLocation,omitempty"`
	Properties       DiskProperties  `json:"properties"`
}

// Disk is a managed disk.
type Disk struct {
	ID, Name, Location, ResourceGroup, SubscriptionID string
	SizeBytes                                         int64
	ManagedBy                                         string
	DiskState                                         string
	TimeCreated                                       time.Time
	UniqueID                                          string
	Tags                                              map[string]string
	CreateOption                                      string
	// BytesRestored is what a restore wrote to make the disk (its data
	// blocks), as created from a snapshot or a repository: zero when read
	// later.
	BytesRestored int64
}

func (d *DiskResource) domain() *Disk {
	rid, _ := arm.ParseID(d.ID)
	return &Disk{ID: d.ID, Name: d.Name, Location: d.Location, ResourceGroup: rid.ResourceGroup, SubscriptionID: rid.SubscriptionID,
		SizeBytes: d.Properties.DiskSizeBytes, ManagedBy: d.ManagedBy, DiskState: d.Properties.DiskState,
		TimeCreated: d.Properties.TimeCreated, UniqueID: d.Properties.UniqueID, Tags: d.Tags, CreateOption: d.Properties.CreationData.CreateOption}
}

// RestoreSettings are what a restore sets on the disks it creates besides
// their content.
type RestoreSettings struct {
	// Encryption, when not nil, is the disks' encryption (a
	// customer-managed key's set) instead of platform keys.
	Encryption *Encryption `json:",omitempty"`
	// NetworkAccessPolicy (AllowAll, AllowPrivate; "": AllowAll),
	// PublicNetworkAccess (Enabled, Disabled; "": Enabled) and the disk
	// access of an AllowPrivate disk.
	NetworkAccessPolicy, PublicNetworkAccess, DiskAccessID string `json:",omitempty"`
	// SKU and Tier are the source disk's sku and performance tier, which
	// the restored disk keeps ("": Standard_LRS and its size's baseline).
	SKU, Tier string `json:",omitempty"`
}

// sku is the sku of a disk restored with rs into zones: the source's (nil
// or none: Standard_LRS), but a zone-redundant one restored into a zone
// is the locally redundant sku of its type (a zonal disk is in one zone;
// a ZRS disk in every zone of its region cannot be), as Azure restores a
// ZRS disk into the zone a restore names.
func (rs *RestoreSettings) sku(zones []string) string {
	if rs == nil {
		return ""
	}
	if zoneRedundant(rs.SKU) && len(zones) > 0 {
		return strings.TrimSuffix(rs.SKU, "_ZRS") + "_LRS"
	}
	return rs.SKU
}

// apply sets rs (nil: nothing) on the properties of a new disk.
func (rs *RestoreSettings) apply(p *DiskProperties) {
	if rs == nil {
		return
	}
	if rs.Encryption != nil {
		p.Encryption = rs.Encryption
	}
	if rs.Tier != "" {
		p.Tier = rs.Tier // settleTier keeps it for a Premium SSD disk only
	}
	if rs.NetworkAccessPolicy != "" {
		p.NetworkAccessPolicy = rs.NetworkAccessPolicy
	}
	if rs.PublicNetworkAccess != "" {
		p.PublicNetworkAccess = rs.PublicNetworkAccess
	}
	if rs.DiskAccessID != "" {
		id, _ := json.Marshal(rs.DiskAccessID)
		if p.Settings == nil {
			p.Settings = Settings{}
		}
		p.Settings["diskAccessId"] = id
	}
}

// DiskSpec describes a disk to create.
type DiskSpec struct {
	ID       string // full ARM id
	Location string
	Tags     map[string]string
	SKU      string // default Standard_LRS
	// CreateOption is Empty (SizeBytes), Upload (UploadSizeBytes), Copy
	// (SourceID: a disk or snapshot), Import (SourceURI: a local file under
	// the import directory), FromImage (ImageReference or
	// GalleryImageReference) or Restore (internal).
	CreateOption          string
	ImageReference        *ImageDiskReference
	GalleryImageReference *ImageDiskReference
	// Caller's subscription and tenant: whom a shared gallery must share with.
	CallerSubscription, CallerTenant string
	SizeBytes                        int64
	UploadSizeBytes                  int64
	SourceID                         string
	SourceURI                        string
	// SourceBlob is the storage-account blob (a fixed VHD) an Import
	// reads, when its sourceUri names one.
	SourceBlob       *accountblob.Source `json:",omitempty"`
	StorageAccountID string              `json:",omitempty"` // as sent (the blob's account)
	OSType           string
	HyperVGeneration string
	Zones            []string
	// Restore, when not nil, replaces the defaults (platform keys, public
	// network access) with what a restore asks for.
	Restore *RestoreSettings `json:",omitempty"`
	// Settings and ExtendedLocation are kept as sent (UpdateSettings).
	Settings         Settings
	ExtendedLocation json.RawMessage
}

// Limits of disk sizes (Azure's).
const (
	MaxDiskBytes = 32767 * gib
	// MaxUploadBytes is the largest upload (Azure's 35183298347520: a
	// largest disk's VHD with its footer).
	MaxUploadBytes = MaxDiskBytes + 512
	// MinUploadBytes is the smallest upload: a 20 MiB VHD with its footer.
	MinUploadBytes = 20<<20 + 512
)

// Disk returns a disk; 404 ResourceNotFound when absent.
func (s *Service) Disk(ctx context.Context, id string) (*Disk, error) {
	d, err := s.DiskResource(ctx, id)
	if err != nil {
		return nil, err
	}
	return d.domain(), nil
}

// DiskResource returns a disk's ARM body.
func (s *Service) DiskResource(ctx context.Context, id string) (*DiskResource, error) {
	d, err := getTyped[DiskResource](ctx, s.p.Store, id, DiskType)
	if err != nil {
		return nil, err
	}
	if err := s.settleState(ctx, s.p.Store, d); err != nil {
		return nil, err
	}
	d.settleTier()
	return d, nil
}

// ListDisks lists the disks under scope (a subscription or resource group id).
func (s *Service) ListDisks(ctx context.Context, scope string) ([]*DiskResource, error) {
	ds, err := resource.List[*DiskResource](ctx, store.Prefetched(ctx, s.p.Store), DiskType, scope)
	if err != nil {
		return nil, err
	}
	for _, d := range ds {
		if err := s.settleState(ctx, s.p.Store, d); err != nil {
			return nil, err
		}
		d.settleTier()
	}
	return ds, nil
}

// CheckDiskSpec validates a disk spec without creating anything.
func (s *Service) CheckDiskSpec(ctx context.Context, spec *DiskSpec) error {
	_, err := s.parseInGroup(ctx, spec.ID, DiskType)
	if err != nil {
		return err
	}
	if spec.Location == "" {
		return failure.Invalidf("LocationRequired", "The location property is required for this definition.")
	}
	if err := resource.CheckLocation(spec.Location, DiskType); err != nil {
		return err
	}
	if err := resource.CheckZones(spec.Location, DiskType, path.Base(spec.ID), spec.Zones); err != nil {
		return err
	}
	if err := resource.CheckExtendedLocation(spec.Location, DiskType, spec.ExtendedLocation); err != nil {
		return err
	}
	if spec.SKU != "" {
		if spec.SKU, err = CanonicalSKU(spec.SKU); err != nil {
			return err
		}
	}
	if zoneRedundant(spec.SKU) && len(spec.Zones) > 0 {
		// Azure's answer: a zone-redundant disk is in every zone of the region.
		return failure.Conflictf("OperationNotAllowed", "A disk with sku '%s' cannot be created in an availability zone: a zone-redundant disk is kept in all the region's zones and attaches to a VM in any of them. Leave out zones, or use sku %s_LRS for a disk in zone %s.",
			spec.SKU, strings.TrimSuffix(spec.SKU, "_ZRS"), strings.Join(spec.Zones, ", "))
	}
	switch strings.ToLower(spec.CreateOption) {
	case "empty":
		spec.CreateOption = "Empty"
		if spec.SizeBytes <= 0 {
			return failure.Invalidf("InvalidParameter", "Required parameter 'diskSizeGB' is missing (null). Set diskSizeGB for a disk created with createOption Empty.")
		}
		if spec.SizeBytes > MaxDiskBytes {
			return failure.Invalidf("InvalidParameter", "The value %d of parameter 'diskSizeGB' is out of range. The value must be between 1 and 32767, inclusive.", spec.SizeBytes/gib)
		}
	case "upload", "uploadpreparedsecure":
		if strings.EqualFold(spec.CreateOption, "uploadpreparedsecure") {
			spec.CreateOption = "UploadPreparedSecure"
			if err := checkSecureUpload(spec.Settings); err != nil {
				return err
			}
		} else {
			spec.CreateOption = "Upload"
		}
		if spec.UploadSizeBytes <= 0 {
			return failure.Invalidf("InvalidParameter", "Required parameter 'creationData.uploadSizeBytes' is missing. Set it to the size of the content to upload, including the VHD footer.")
		}
		if n := spec.UploadSizeBytes; n < MinUploadBytes || n > MaxUploadBytes || (n-512)%(1<<20) != 0 {
			return invalidAt("properties.creationData.uploadSizeBytes", "The value %d of 'creationData.uploadSizeBytes' is not the size of a fixed VHD Azure takes: a whole number of MiB of data plus its 512-byte footer, between %d (20 MiB + 512 bytes) and %d (32767 GiB + 512 bytes). For an image of N MiB send N*1048576+512 (%d for %d MiB).",
				n, int64(MinUploadBytes), int64(MaxUploadBytes), min(MaxUploadBytes, max(MinUploadBytes, (n+(1<<20)-1)>>20<<20+512)), min(MaxDiskBytes>>20, max(20, (n+(1<<20)-1)>>20)))
		}
	case "copy":
		spec.CreateOption = "Copy"
		if err := s.checkCopySource(ctx, spec); err != nil {
			return err
		}
	case "import":
		spec.CreateOption = "Import"
		if spec.SourceID != "" {
			// A Safehold disk or snapshot named by URL (the face resolved it).
			return s.checkCopySource(ctx, spec)
		}
		if spec.SourceBlob != nil {
			return s.checkBlobSource(ctx, spec.SourceBlob, spec.SizeBytes)
		}
		p, err := s.importPath(spec.SourceURI)
		if err != nil {
			return err
		}
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() {
			return failure.Invalidf("InvalidParameter", "The import source '%s' is not a readable regular file on the Safehold server.", spec.SourceURI)
		}
		if fi.Size() == 0 || fi.Size()%512 != 0 || fi.Size() > MaxDiskBytes {
			return failure.Invalidf("InvalidParameter", "The import source '%s' has an unsupported size of %d bytes: a disk image is a non-empty multiple of 512 bytes.", spec.SourceURI, fi.Size())
		}
		if spec.SizeBytes > 0 {
			size := fi.Size()
			if f, err := os.Open(p); err == nil {
				if isFixedVHD(f, size) {
					size -= 512
				}
				f.Close()
			}
			if spec.SizeBytes < size {
				return failure.Invalidf("BadRequest", "The requested diskSizeGB %d is smaller than the import source's %d GB. A disk can only be created the same size as its source or larger.",
					sizeGB(spec.SizeBytes), sizeGB(size))
			}
			if spec.SizeBytes > MaxDiskBytes {
				return failure.Invalidf("InvalidParameter", "The value %d of parameter 'diskSizeGB' is out of range. The value must be between 1 and 32767, inclusive.", spec.SizeBytes/gib)
			}
		}
	case "fromimage":
		spec.CreateOption = "FromImage"
		di, err := s.resolveDiskImage(ctx, spec)
		if err != nil {
			return err
		}
		if spec.SizeBytes > 0 && spec.SizeBytes < di.disk.SizeBytes {
			return failure.Invalidf("BadRequest", "The requested diskSizeGB %d is smaller than the image's %d GB. A disk can only be created the same size as its image or larger.",
				sizeGB(spec.SizeBytes), sizeGB(di.disk.SizeBytes))
		}
		if spec.SizeBytes > MaxDiskBytes {
			return failure.Invalidf("InvalidParameter", "The value %d of parameter 'diskSizeGB' is out of range. The value must be between 1 and 32767, inclusive.", spec.SizeBytes/gib)
		}
	case "restore":
		spec.CreateOption = "Restore"
	case "":
		return failure.Invalidf("InvalidParameter", "Required parameter 'creationData.createOption' is missing (null).")
	default:
		return failure.Invalidf("InvalidParameter", "The value '%s' of parameter 'creationData.createOption' is not supported for disks. Use Empty, Upload, UploadPreparedSecure, Copy, Import or FromImage.", spec.CreateOption)
	}
	return nil
}

// securityTypes are Azure's disk securityProfile.securityType values.
var securityTypes = []string{"TrustedLaunch", "ConfidentialVM_VMGuestStateOnlyEncryptedWithPlatformKey", "ConfidentialVM_DiskEncryptedWithPlatformKey",
	"ConfidentialVM_DiskEncryptedWithCustomerKey", "ConfidentialVM_NonPersistedTPM"}

// checkSecureUpload checks the settings of a disk created with
// UploadPreparedSecure (an upload with its VM guest state, for a Trusted
// Launch or confidential VM): securityProfile.securityType must say which.
func checkSecureUpload(s Settings) error {
	var sp struct {
		SecurityType string `json:"securityType"`
	}
	sp.SecurityType = securityType(s)
	if sp.SecurityType == "" {
		return invalidAt("properties.securityProfile.securityType", "A disk created with createOption UploadPreparedSecure is uploaded with its VM guest state, for a Trusted Launch or confidential VM: set properties.securityProfile.securityType to one of %s.", strings.Join(securityTypes, ", "))
	}
	for _, t := range securityTypes {
		if strings.EqualFold(t, sp.SecurityType) {
			return nil
		}
	}
	return invalidAt("properties.securityProfile.securityType", "The value '%s' of 'securityProfile.securityType' is not valid. The allowed values are %s.", sp.SecurityType, strings.Join(securityTypes, ", "))
}

// dropVolumes removes the volumes of a disk that was not made (uid's and
// its VM guest state's).
func (s *Service) dropVolumes(uid string) {
	s.vols.Remove(uid)
	s.vols.Remove(guestStateVolume(uid))
}

// securityType is the securityProfile.securityType settings s give ("":
// none).
func securityType(s Settings) string {
	var sp struct {
		SecurityType string `json:"securityType"`
	}
	_ = json.Unmarshal(s["securityProfile"], &sp)
	return sp.SecurityType
}

// guestStateVolume is the volume holding the VM guest state of disk uid
// (a Trusted Launch or confidential VM's disk: made with the disk by
// UploadPreparedSecure, else empty when first opened): the page blob its
// securityDataAccessSAS addresses.
func guestStateVolume(uid string) string { return uid + guestStateSuffix }

// guestStateSuffix ends the name of a VM guest state's volume (and the
// blob name of its SAS, as Azure's {uuid}_vmgs).
const guestStateSuffix = "_vmgs"

// GuestStateBytes is the size of a disk's VM guest state blob: room for
// a Trusted Launch or confidential VM's guest state file (a few MiB),
// sparse until written.
const GuestStateBytes = 64 << 20

// checkCopySource validates the source of a Copy (or of an Import from a
// Safehold URL): a disk or snapshot in the new disk's region, no larger
// than the size asked for.
func (s *Service) checkCopySource(ctx context.Context, spec *DiskSpec) error {
	if spec.SourceID == "" {
		return failure.Invalidf("InvalidParameter", "Required parameter 'creationData.sourceResourceId' is missing. Name the disk or snapshot to copy.")
	}
	src, err := arm.ParseID(spec.SourceID)
	if err != nil || !(src.IsType(DiskType) || src.IsType(SnapshotType)) {
		return failure.Invalidf("InvalidParameter", "'creationData.sourceResourceId' '%s' is not a disk or snapshot id.", spec.SourceID)
	}
	var srcName, srcLoc string
	var srcBytes int64
	if src.IsType(DiskType) {
		sd, err := s.DiskResource(ctx, spec.SourceID)
		if err != nil {
			return err
		}
		if st := sd.Properties.DiskState; st == StateReadyToUpload || st == StateActiveUpload {
			// Nothing, or part of an upload: no source, as for a snapshot
			// or an image (CheckSnapshotSpecs, CheckImageSource).
			return failure.Conflictf("OperationNotAllowed", "Disk '%s' is in state %s; finish the upload with endGetAccess before copying it.", sd.Name, st)
		}
		srcName, srcLoc, srcBytes = sd.Name, sd.Location, sd.Properties.DiskSizeBytes
	} else {
		sn, err := s.SnapshotResource(ctx, spec.SourceID)
		if err != nil {
			return err
		}
		srcName, srcLoc, srcBytes = sn.Name, sn.Location, sn.Properties.DiskSizeBytes
	}
	if !strings.EqualFold(resource.NormLocation(spec.Location), resource.NormLocation(srcLoc)) {
		return failure.Invalidf("InvalidParameter", "The source '%s' is in location '%s', not '%s'. Create the disk in the source's region.", srcName, srcLoc, spec.Location)
	}
	if spec.SizeBytes > 0 && spec.SizeBytes < srcBytes {
		return failure.Invalidf("BadRequest", "The requested diskSizeGB %d is smaller than the source's %d GB. A disk can only be created the same size as its source or larger.",
			sizeGB(spec.SizeBytes), sizeGB(srcBytes))
	}
	if spec.SizeBytes > MaxDiskBytes {
		return failure.Invalidf("InvalidParameter", "The value %d of parameter 'diskSizeGB' is out of range. The value must be between 1 and 32767, inclusive.", spec.SizeBytes/gib)
	}
	return nil
}

// importPath resolves an Import sourceUri (a file: URL or a path, relative
// ones to the import directory) to a local file below the import
// directory, after resolving symlinks and '..'. Without an import
// directory (--import-dir) no local file may be imported.
func (s *Service) importPath(uri string) (string, error) {
	p := uri
	if strings.HasPrefix(strings.ToLower(uri), "file:") {
		u, err := url.Parse(uri)
		if err != nil {
			return "", failure.Invalidf("InvalidParameter", "'creationData.sourceUri' '%s' is not a valid file URL.", uri)
		}
		p = u.Path
	}
	if p == "" {
		return "", failure.Invalidf("InvalidParameter", "Required parameter 'creationData.sourceUri' is missing. Name the image to import: a file under the server's --import-dir, or a Safehold disk or snapshot URL.")
	}
	if s.opts.ImportDir == "" {
		return "", failure.Invalidf("InvalidParameter", "Importing local files is disabled: this server has no import directory. Start 'safehold serve' with --import-dir DIR and put the image there, or import a Safehold disk or snapshot by its URL.")
	}
	dir := realPath(s.opts.ImportDir)
	if !filepath.IsAbs(p) {
		p = filepath.Join(dir, p)
	}
	p = realPath(p)
	if !strings.HasPrefix(p, dir+string(filepath.Separator)) {
		return "", failure.Invalidf("InvalidParameter", "The import source '%s' is outside the server's --import-dir (%s); copy the image there first.", uri, s.opts.ImportDir)
	}
	return p, nil
}

func realPath(p string) string {
	p = filepath.Clean(p)
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return p
}

// CreateDisk creates a managed disk. Copy and Import copy the data in
// before the disk appears; the call is idempotent for a crashed attempt
// (a disk that already exists is a 409 Conflict).
func (s *Service) CreateDisk(ctx context.Context, spec DiskSpec) (*Disk, error) {
	if err := s.CheckDiskSpec(ctx, &spec); err != nil {
		return nil, err
	}
	rid, _ := arm.ParseID(spec.ID)
	if err := s.checkAbsent(ctx, rid, "Disk"); err != nil {
		return nil, err
	}
	uid := newUUID()
	d := &DiskResource{Tracked: Tracked{ID: rid.String(), Name: rid.Name(), Type: DiskType, Location: resource.NormLocation(spec.Location), Tags: spec.Tags,
		SKU: SKUOf(spec.SKU)}, Zones: spec.Zones,
		Properties: DiskProperties{BlockProperties: BlockProperties{CreationData: CreationData{CreateOption: spec.CreateOption}, DiskState: StateUnattached,
			ProvisioningState: "Succeeded", TimeCreated: s.now(), UniqueID: uid}, OSType: spec.OSType, HyperVGeneration: spec.HyperVGeneration,
			Encryption:          &Encryption{Type: "EncryptionAtRestWithPlatformKey"},
			NetworkAccessPolicy: "AllowAll", PublicNetworkAccess: "Enabled"}}
	spec.Restore.apply(&d.Properties)
	var st resourceState
	var err error
	var written int64 // by a restore from a snapshot (Disk.BytesRestored)
	switch spec.CreateOption {
	case "Empty":
		_, err = s.vols.Create(uid, spec.SizeBytes)
		d.Properties.DiskSizeBytes = spec.SizeBytes
	case "Upload", "UploadPreparedSecure":
		_, err = s.vols.Create(uid, spec.UploadSizeBytes)
		if err == nil && spec.CreateOption == "UploadPreparedSecure" {
			if _, err = s.vols.Create(guestStateVolume(uid), GuestStateBytes); err != nil {
				s.vols.Remove(guestStateVolume(uid))
			}
		}
		d.Properties.CreationData.UploadSizeBytes = spec.UploadSizeBytes
		d.Properties.DiskSizeBytes = spec.UploadSizeBytes
		d.Properties.DiskState = StateReadyToUpload
	case "Import", "Copy":
		if spec.CreateOption == "Import" {
			d.Properties.CreationData.SourceURI = spec.SourceURI
			if spec.SourceBlob != nil {
				d.Properties.CreationData.StorageAccountID = spec.StorageAccountID
				d.Properties.DiskSizeBytes, err = s.importBlob(ctx, uid, spec.SourceBlob)
				break
			}
			if spec.SourceID == "" {
				p, _ := s.importPath(spec.SourceURI)
				d.Properties.DiskSizeBytes, err = s.importFile(uid, p)
				break
			}
		}
		src, _ := arm.ParseID(spec.SourceID)
		d.Properties.CreationData.SourceResourceID = src.String()
		if src.IsType(DiskType) {
			var sd *DiskResource
			sd, err = s.copyDisk(ctx, src.String(), uid)
			if err == nil {
				d.Properties.DiskSizeBytes, d.Properties.CreationData.SourceUniqueID = sd.Properties.DiskSizeBytes, sd.Properties.UniqueID
				d.Properties.OSType = firstNonEmpty(d.Properties.OSType, sd.Properties.OSType)
				d.Properties.HyperVGeneration = firstNonEmpty(d.Properties.HyperVGeneration, sd.Properties.HyperVGeneration)
			}
		} else {
			var sn *SnapshotResource
			var eid snapshot.ID
			sn, eid, err = s.snapshotEngineID(ctx, src.String())
			if err == nil {
				d.Properties.DiskSizeBytes, written, err = s.restoreVolume(ctx, s.repo, eid, uid)
				err = damagedData(fmt.Sprintf("snapshot '%s'", sn.Name), err)
				d.Properties.CreationData.SourceUniqueID = sn.Properties.UniqueID
				d.Properties.OSType = firstNonEmpty(d.Properties.OSType, sn.Properties.OSType)
				d.Properties.HyperVGeneration = firstNonEmpty(d.Properties.HyperVGeneration, sn.Properties.HyperVGeneration)
				st.Base = eid
			}
		}
	case "FromImage":
		var di *diskImage
		if di, err = s.resolveDiskImage(ctx, &spec); err != nil {
			break
		}
		d.Properties.CreationData.ImageReference, d.Properties.CreationData.GalleryImageReference = spec.ImageReference, spec.GalleryImageReference
		d.Properties.DiskSizeBytes, _, err = s.restoreVolume(ctx, s.repo, di.disk.EngineID, uid)
		if !di.dataDisk {
			d.Properties.OSType = firstNonEmpty(d.Properties.OSType, di.osType)
			d.Properties.HyperVGeneration = firstNonEmpty(d.Properties.HyperVGeneration, di.hyperV)
		}
		d.Properties.Settings = di.settings()
	default:
		return nil, failure.Invalidf("InvalidParameter", "createOption %s needs a source; use CreateDiskFromRepository.", spec.CreateOption)
	}
	if err == nil && spec.SizeBytes > 0 && (spec.CreateOption == "Copy" || spec.CreateOption == "Import" || spec.CreateOption == "FromImage") && spec.SizeBytes != d.Properties.DiskSizeBytes {
		// A copy or import may ask for a larger disk than its source.
		if spec.SizeBytes < d.Properties.DiskSizeBytes {
			err = failure.Invalidf("BadRequest", "The requested diskSizeGB %d is smaller than the source's %d GB. A disk can only be created the same size as its source or larger.",
				sizeGB(spec.SizeBytes), sizeGB(d.Properties.DiskSizeBytes))
		} else if v, verr := s.vols.Get(uid); verr != nil {
			err = verr
		} else if err = v.Resize(spec.SizeBytes); err == nil {
			d.Properties.DiskSizeBytes = spec.SizeBytes
		}
	}
	if err != nil {
		s.dropVolumes(uid)
		if spec.CreateOption == "Upload" || spec.CreateOption == "UploadPreparedSecure" {
			return nil, tooLarge(err, "properties.creationData.uploadSizeBytes", spec.UploadSizeBytes)
		}
		return nil, tooLarge(err, "properties.diskSizeGB", spec.SizeBytes)
	}
	return s.storeRestoredDisk(ctx, d, st, written)
}

// storeRestoredDisk is storeNewDisk of a disk a restore wrote written
// bytes to (Disk.BytesRestored).
func (s *Service) storeRestoredDisk(ctx context.Context, d *DiskResource, st resourceState, written int64) (*Disk, error) {
	out, err := s.storeNewDisk(ctx, d, st)
	if out != nil {
		out.BytesRestored = written
	}
	return out, err
}

func (s *Service) storeNewDisk(ctx context.Context, d *DiskResource, st resourceState) (*Disk, error) {
	if s.opts.Replica != nil { // the new volume is here: this replica owns the disk
		if _, ok, err := s.own(ctx, d.Properties.UniqueID); err != nil || !ok {
			s.dropVolumes(d.Properties.UniqueID)
			if err == nil {
				err = fmt.Errorf("disk %s: another replica holds the ownership lease of a new disk", d.Name)
			}
			return nil, err
		}
	}
	d.Properties.DiskSizeGB = sizeGB(d.Properties.DiskSizeBytes)
	d.settleTier()
	rid, _ := arm.ParseID(d.ID)
	if st.Base != "" {
		if v, err := s.vols.Get(d.Properties.UniqueID); err == nil {
			v.SetBase(string(st.Base))
		}
	}
	err := s.p.Store.Update(ctx, func(tx store.Tx) error {
		if err := create(ctx, tx, rid, "Disk", d); err != nil {
			return err
		}
		return putState(ctx, tx, d.ID, st)
	})
	if err != nil {
		s.dropVolumes(d.Properties.UniqueID)
		return nil, err
	}
	return d.domain(), nil
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// diskSKUs are Azure's managed disk SKUs (DiskStorageAccountTypes).
const diskSKUs = "Standard_LRS, Premium_LRS, StandardSSD_LRS, UltraSSD_LRS, Premium_ZRS, StandardSSD_ZRS, PremiumV2_LRS"

// snapshotSKUs are Azure's snapshot SKUs (SnapshotStorageAccountTypes).
const snapshotSKUs = "Standard_LRS, Premium_LRS, Standard_ZRS"

// CanonicalSKU returns the canonical spelling of a disk SKU name, or a 400
// InvalidParameter naming the allowed values.
func CanonicalSKU(name string) (string, error) { return canonicalSKU(name, diskSKUs) }

// CanonicalSnapshotSKU is CanonicalSKU for a snapshot. An incremental
// snapshot is kept on standard storage, as Azure keeps it: Premium_LRS is
// refused for one.
func CanonicalSnapshotSKU(name string, incremental bool) (string, error) {
	if incremental && strings.EqualFold(name, "Premium_LRS") {
		return "", failure.Invalidf("InvalidParameter", "An incremental snapshot is kept on standard storage: 'sku.name' must be Standard_LRS or Standard_ZRS, not '%s'.", name)
	}
	return canonicalSKU(name, snapshotSKUs)
}

func canonicalSKU(name, allowed string) (string, error) {
	for _, n := range strings.Split(allowed, ", ") {
		if strings.EqualFold(n, name) {
			return n, nil
		}
	}
	return "", failure.Invalidf("InvalidParameter", "The value '%s' of parameter 'sku.name' is not valid. The allowed values are %s.", name, allowed)
}

// zoneRedundant reports whether sku is a zone-redundant disk sku
// (Premium_ZRS, StandardSSD_ZRS): a disk in no one zone, which a VM in any
// zone of its region can use.
func zoneRedundant(sku string) bool { return strings.HasSuffix(sku, "_ZRS") }

// SKUTier is the tier Azure reports for a disk sku: Ultra for UltraSSD,
// Premium for Premium and PremiumV2, else Standard.
func SKUTier(name string) string {
	switch l := strings.ToLower(name); {
	case strings.HasPrefix(l, "ultra"):
		return "Ultra"
	case strings.HasPrefix(l, "premium"):
		return "Premium"
	}
	return "Standard"
}

// SKUOf is the sku body of a sku name ("": Standard_LRS).
func SKUOf(name string) *SKU {
	if name == "" {
		name = "Standard_LRS"
	}
	return &SKU{Name: name, Tier: SKUTier(name)}
}

// importFile copies a local file into a new volume, skipping zero blocks.
func (s *Service) importFile(uid, path string) (int64, error) {
	src, err := os.Open(path)
	if err != nil {
		return 0, failure.Invalidf("InvalidParameter", "Cannot read import source: %v.", err)
	}
	defer src.Close()
	fi, err := src.Stat()
	if err != nil {
		return 0, err
	}
	return s.importReader(uid, src, fi.Size())
}

// importReader creates volume uid with the size bytes of src (the data of
// a fixed VHD, without its footer).
func (s *Service) importReader(uid string, src io.ReaderAt, size int64) (int64, error) {
	if isFixedVHD(src, size) {
		size -= 512 // the disk is the VHD's data, without its footer
	}
	_, err := s.vols.CreateWith(uid, size, func(f *os.File) error {
		if sp, ok := src.(rangedSource); ok { // copy only where the source has data
			rs, err := sp.DataRanges(0, size)
			if err != nil {
				return err
			}
			return copyRanges(f, src, rs, size)
		}
		return copySparse(f, src, 0, size)
	})
	return size, err
}

// rangedSource is a source that knows where its data is (a page blob).
type rangedSource interface {
	io.ReaderAt
	DataRanges(start, end int64) ([]struct{ Off, Len int64 }, error)
}

// copyRanges copies the ranges rs (where a source has data) of src's
// first size bytes into f, writing only non-zero blocks.
func copyRanges[R ~struct{ Off, Len int64 }](f io.WriterAt, src io.ReaderAt, rs []R, size int64) error {
	buf := make([]byte, 1<<20)
	for _, rr := range rs {
		r := struct{ Off, Len int64 }(rr)
		end := min(r.Off+r.Len, size)
		if err := copySparseBuf(f, io.NewSectionReader(src, 0, end), r.Off, end, buf); err != nil {
			return err
		}
	}
	return nil
}

// openBlobSource opens the storage-account blob an Import reads: it must
// be a fixed VHD (Azure imports only those); size is its data's, without
// the footer.
func (s *Service) openBlobSource(ctx context.Context, src *accountblob.Source) (*accountblob.Blob, int64, error) {
	if s.opts.Blobs == nil {
		return nil, 0, failure.Invalidf("InvalidParameter", "This server keeps no storage-account blobs to import %s from.", src.URI)
	}
	b, err := s.opts.Blobs.OpenSource(ctx, src)
	if err != nil {
		return nil, 0, err
	}
	if b.Size()%512 != 0 || !isFixedVHD(b, b.Size()) {
		b.Close()
		return nil, 0, failure.Invalidf("InvalidParameter", "Only blobs formatted as VHDs can be imported: %s is not a fixed VHD (its data followed by a 512-byte footer, a size a multiple of 512).", src.URI)
	}
	return b, b.Size() - 512, nil
}

// checkBlobSource checks the blob an Import reads, and that a size asked
// for holds it.
func (s *Service) checkBlobSource(ctx context.Context, src *accountblob.Source, want int64) error {
	b, size, err := s.openBlobSource(ctx, src)
	if err != nil {
		return err
	}
	b.Close()
	if size > MaxDiskBytes {
		return failure.Invalidf("InvalidParameter", "The VHD %s has %d bytes of data, more than a disk's 32767 GB.", src.URI, size)
	}
	if want > 0 && want < size {
		return failure.Invalidf("BadRequest", "The requested diskSizeGB %d is smaller than the import source's %d GB. A disk can only be created the same size as its source or larger.",
			sizeGB(want), sizeGB(size))
	}
	return nil
}

// importBlob creates volume uid with the data of a blob (a fixed VHD).
func (s *Service) importBlob(ctx context.Context, uid string, src *accountblob.Source) (int64, error) {
	b, _, err := s.openBlobSource(ctx, src)
	if err != nil {
		return 0, err
	}
	defer b.Close()
	return s.importReader(uid, b, b.Size())
}

// isFixedVHD reports whether a file is a fixed-format VHD: raw data
// followed by a 512-byte footer (cookie "conectix", disk type 2).
func isFixedVHD(f io.ReaderAt, size int64) bool {
	if size < 1024 {
		return false
	}
	var footer [512]byte
	if _, err := f.ReadAt(footer[:], size-512); err != nil {
		return false
	}
	return string(footer[:8]) == "conectix" && footer[60] == 0 && footer[61] == 0 && footer[62] == 0 && footer[63] == 2
}

// copyDisk freezes a disk and copies its content into a new volume.
func (s *Service) copyDisk(ctx context.Context, srcID, uid string) (*DiskResource, error) {
	sd, fz, release, err := s.frozenLiveDisk(ctx, srcID)
	if err != nil {
		return nil, err
	}
	defer release()
	_, err = s.vols.CreateWith(uid, fz.Size(), func(f *os.File) error {
		rs, err := fz.DataRanges(0, fz.Size())
		if err != nil {
			return err
		}
		return copyRanges(f, fz, rs, fz.Size())
	})
	return sd, err
}

// restoreVolume creates volume uid with the content of snapshot id of repo.
func (s *Service) restoreVolume(ctx context.Context, repo *snapshot.Repository, id snapshot.ID, uid string) (size, written int64, err error) {
	m, err := repo.Get(ctx, id)
	if err != nil {
		return 0, 0, fmt.Errorf("restore disk: %w", err)
	}
	_, err = s.vols.CreateWith(uid, m.Size, func(f *os.File) error {
		st, err := repo.RestoreTo(ctx, id, f, snapshot.RestoreOptions{})
		written = st.BytesScanned // the data blocks: zero ones stay holes
		return err
	})
	return m.Size, written, err
}

// copySparse copies size bytes of src into f, writing only non-zero blocks.
func copySparse(f io.WriterAt, src io.ReaderAt, from, size int64) error {
	return copySparseBuf(f, src, from, size, make([]byte, 1<<20))
}

// copySparseBuf is copySparse through buf.
func copySparseBuf(f io.WriterAt, src io.ReaderAt, from, size int64, buf []byte) error {
	for off := from; off < size; {
		n := min(int64(len(buf)), size-off)
		if _, err := io.ReadFull(io.NewSectionReader(src, off, n), buf[:n]); err != nil {
			return err
		}
		if err := writeNonZero(f, buf[:n], off); err != nil {
			return err
		}
		off += n
	}
	return nil
}

func writeNonZero(f io.WriterAt, p []byte, off int64) error {
	for i := 0; i < len(p); i += volume.BlockSize {
		b := p[i:min(len(p), i+volume.BlockSize)]
		if isZero(b) {
			continue
		}
		if _, err := f.WriteAt(b, off+int64(i)); err != nil {
			return err
		}
	}
	return nil
}

func isZero(p []byte) bool {
	for _, c := range p {
		if c != 0 {
			return false
		}
	}
	return true
}

// DiskUpdate is a PATCH of a disk.
type DiskUpdate struct {
	SizeBytes int64             // grow to (0: keep)
	Tags      map[string]string // replace (nil: keep)
	SKU       string
}

// UpdateDisk grows a disk or changes its tags.
func (s *Service) UpdateDisk(ctx context.Context, id string, u DiskUpdate) (*DiskResource, error) {
	rid, err := parseTyped(id, DiskType)
	if err != nil {
		return nil, err
	}
	if u.SKU != "" {
		if u.SKU, err = CanonicalSKU(u.SKU); err != nil {
			return nil, err
		}
	}
	return updateDoc(ctx, s.p.Store, rid, func(tx store.Tx, d *DiskResource) error {
		if err := s.settleState(ctx, tx, d); err != nil {
			return err
		}
		if u.SizeBytes != 0 && u.SizeBytes != d.Properties.DiskSizeBytes {
			if u.SizeBytes < d.Properties.DiskSizeBytes {
				return failure.Invalidf("BadRequest", "The disk/snapshot resource with id %s cannot be resized down (from %d GB to %d GB). Reducing disk/snapshot size is not supported to prevent data loss. If you do need to reduce the size of the disk, create new snapshot/disks with the appropriate size.",
					d.ID, d.Properties.DiskSizeGB, sizeGB(u.SizeBytes))
			}
			if u.SizeBytes > MaxDiskBytes {
				return failure.Invalidf("InvalidParameter", "The value %d of parameter 'diskSizeGB' is out of range. The value must be between 1 and 32767, inclusive.", u.SizeBytes/gib)
			}
			if d.Properties.DiskState == StateAttached {
				return failure.Conflictf("OperationNotAllowed", "Cannot resize disk %s while it is attached to running VM %s. Resizing a disk of an Azure Virtual Machine requires the virtual machine to be deallocated. Please stop your VM and retry the operation.", d.Name, d.ManagedBy)
			}
			if d.Properties.DiskState == StateActiveSAS || d.Properties.DiskState == StateActiveUpload {
				return failure.Conflictf("OperationNotAllowed", "Disk '%s' has an active SAS (state %s); call endGetAccess before resizing it.", d.Name, d.Properties.DiskState)
			}
			v, err := s.vols.Get(d.Properties.UniqueID)
			if err != nil {
				return fmt.Errorf("open disk %s: %w", d.Name, err)
			}
			if err := v.Resize(u.SizeBytes); err != nil {
				return tooLarge(fmt.Errorf("resize disk %s: %w", d.Name, err), "properties.diskSizeGB", u.SizeBytes)
			}
			d.Properties.DiskSizeBytes = u.SizeBytes
			d.Properties.DiskSizeGB = sizeGB(u.SizeBytes)
		}
		if u.Tags != nil {
			d.Tags = u.Tags
		}
		if u.SKU != "" && (d.SKU == nil || d.SKU.Name != u.SKU) {
			if d.Properties.DiskState == StateAttached {
				return failure.Conflictf("OperationNotAllowed", "Cannot change the sku of disk %s from %s to %s while it is attached to running VM %s. Changing the sku (storage account type) of a disk of an Azure Virtual Machine requires the virtual machine to be deallocated. Please stop (deallocate) your VM and retry the operation.",
					d.Name, SKUOf(skuName(d.SKU)).Name, u.SKU, d.ManagedBy)
			}
			if err := checkShares(d.Properties.MaxShares, u.SKU, d.Properties.DiskSizeBytes); err != nil {
				return err
			}
			d.SKU = SKUOf(u.SKU)
		}
		d.settleTier()
		return refreshVMDisk(ctx, tx, d)
	})
}

// refreshVMDisk answers the size and sku of disk d (changed while its
// VMs are deallocated) in the storage profile of the VMs it is attached
// to, as Azure's VM shows them.
func refreshVMDisk(ctx context.Context, tx store.Tx, d *DiskResource) error {
	for _, v := range d.AttachedVMs() {
		if err := refreshOneVMDisk(ctx, tx, d, v); err != nil {
			return err
		}
	}
	return nil
}

// refreshOneVMDisk is refreshVMDisk of VM vm.
func refreshOneVMDisk(ctx context.Context, tx store.Tx, d *DiskResource, vmID string) error {
	vid, err := arm.ParseID(vmID)
	if err != nil {
		return nil
	}
	var vm VMResource
	if err := resource.Get(ctx, tx, vid, &vm); err != nil {
		return nil // gone: nothing shows the disk
	}
	changed := false
	set := func(size *int64, md *ManagedDiskRef) {
		if md == nil || !arm.EqualIDs(md.ID, d.ID) {
			return
		}
		if *size != d.Properties.DiskSizeGB || md.StorageAccountType != skuName(d.SKU) {
			*size, md.StorageAccountType, changed = d.Properties.DiskSizeGB, skuName(d.SKU), true
		}
	}
	if od := vm.Properties.StorageProfile.OSDisk; od != nil {
		set(&od.DiskSizeGB, od.ManagedDisk)
	}
	for i := range vm.Properties.StorageProfile.DataDisks {
		dd := &vm.Properties.StorageProfile.DataDisks[i]
		set(&dd.DiskSizeGB, dd.ManagedDisk)
	}
	if !changed {
		return nil
	}
	return resource.Put(ctx, tx, vid, &vm)
}

// skuName is the name of sku ("": none).
func skuName(sku *SKU) string {
	if sku == nil {
		return ""
	}
	return sku.Name
}

// DeleteDisk deletes a disk and its volume. Attached disks cannot be deleted.
func (s *Service) DeleteDisk(ctx context.Context, id string) error {
	return s.DeleteDiskOf(ctx, id, "")
}

// DeleteDiskOf is DeleteDisk of the disk whose uniqueId is uid ("": any):
// a disk of that name with another uniqueId (made again since) is left
// alone, and the error is a NotFound one (the disk uid is gone).
func (s *Service) DeleteDiskOf(ctx context.Context, id, uid string) error {
	return s.deleteDisk(ctx, id, uid, false)
}

// DeleteDiskOnBehalf is DeleteDisk of a disk Safehold made on a user's
// behalf and takes back (the disks of a restore that failed after making
// them): a management lock that forbids a client's DELETE of it refuses it
// (409 ScopeLocked, resource.CheckLocks), checked in the transaction that
// drops it, as create checks resource.CheckWrite. uid is as DeleteDiskOf's.
func (s *Service) DeleteDiskOnBehalf(ctx context.Context, id, uid string) error {
	return s.deleteDisk(ctx, id, uid, true)
}

func (s *Service) deleteDisk(ctx context.Context, id, uid string, checkLocks bool) error {
	rid, err := parseTyped(id, DiskType)
	if err != nil {
		return err
	}
	var d DiskResource
	if err := resource.Get(ctx, s.p.Store, rid, &d); err != nil {
		return err
	}
	if err := sameIdentity(rid, uid, d.Properties.UniqueID); err != nil {
		return err
	}
	if d.ManagedBy != "" {
		return failure.Conflictf("OperationNotAllowed", "Disk %s is attached to VM %s. Detach the disk or delete the VM first.", d.Name, d.ManagedBy)
	}
	unlock := s.lockVolumes(d.Properties.UniqueID)
	defer unlock()
	var cur *DiskResource
	err = s.p.Store.Update(ctx, func(tx store.Tx) error {
		if checkLocks {
			if err := resource.CheckLocks(ctx, tx, http.MethodDelete, rid.String()); err != nil {
				return err
			}
		}
		cur, err = dropDisk(ctx, tx, rid)
		if err == nil {
			err = sameIdentity(rid, uid, cur.Properties.UniqueID)
		}
		return err
	})
	if err != nil {
		return err
	}
	return s.removeVolume(ctx, cur)
}

// dropDisk deletes, in tx, the documents of the unattached disk rid and
// returns it (its volume stays for removeVolume, once tx commits).
func dropDisk(ctx context.Context, tx store.Tx, rid arm.ResourceID) (*DiskResource, error) {
	var cur DiskResource
	if err := resource.Get(ctx, tx, rid, &cur); err != nil {
		return nil, err
	}
	if cur.ManagedBy != "" {
		return nil, failure.Conflictf("OperationNotAllowed", "Disk %s is attached to VM %s. Detach the disk or delete the VM first.", cur.Name, cur.ManagedBy)
	}
	return &cur, dropDoc(ctx, tx, rid, cur.ID)
}

// removeVolume removes the volume of disk d, whose documents are gone
// (dropDisk committed; a crash before this leaves the volume to the
// start's sweep of volumes no disk uses), and ends its grants' NBD exports.
func (s *Service) removeVolume(ctx context.Context, d *DiskResource) error {
	s.nbdGrants.end(d.ID) // its grants went with it: so do their open NBD exports
	uid := d.Properties.UniqueID
	err := s.vols.Remove(uid)
	if err != nil && !errors.Is(err, volume.ErrNotFound) {
		return fmt.Errorf("remove volume of disk %s: %w", d.Name, err)
	}
	here := err == nil
	if err := s.vols.Remove(guestStateVolume(uid)); err != nil && !errors.Is(err, volume.ErrNotFound) {
		return fmt.Errorf("remove the VM guest state of disk %s: %w", d.Name, err)
	}
	// On another replica the owner's volume is marked removed: the owner
	// removes it at its next lease renewal (keepOwnership), or at its next
	// start (its sweep removes volumes no disk uses). Without the mark it
	// kept the volume, and renewed its lease, until it restarted: a disk
	// deleted (or a reset) through another replica left its bytes on the
	// owner's disk (replica30). The lease row goes.
	if s.opts.Replica != nil {
		s.p.Store.Update(ctx, func(tx store.Tx) error {
			if !here {
				if err := tx.Put(ctx, store.Doc{Kind: RemovedVolumeKind, Key: strings.ToLower(uid), Value: []byte("{}")}); err != nil {
					return err
				}
			}
			return store.DeleteKeys(ctx, tx, lease.Kind, diskLease(uid))
		})
	}
	return nil
}

// Volume opens a disk's live volume.
func (s *Service) Volume(ctx context.Context, diskID string) (*volume.Volume, error) {
	d, err := s.DiskResource(ctx, diskID)
	if err != nil {
		return nil, err
	}
	return s.vols.Get(d.Properties.UniqueID)
}

// DiskByExport finds a disk by an NBD export name: its ARM id (with or
// without the leading slash) or its uniqueId.
func (s *Service) DiskByExport(ctx context.Context, name string) (*DiskResource, error) {
	if strings.Contains(name, "/") {
		if !strings.HasPrefix(name, "/") {
			name = "/" + name
		}
		return s.DiskResource(ctx, name)
	}
	docs, err := s.p.Store.List(ctx, "resource", store.ListQuery{Type: DiskType})
	if err != nil {
		return nil, err
	}
	for _, doc := range docs {
		if d, err := store.DecodeJSON[DiskResource](doc, "disk"); err == nil && strings.EqualFold(d.Properties.UniqueID, name) {
			return d, nil
		}
	}
	return nil, failure.NotFoundf("ResourceNotFound", "No disk has the export name '%s'.", name)
}

// AllDisks lists every disk of every subscription.
func (s *Service) AllDisks(ctx context.Context) ([]*DiskResource, error) {
	docs, err := s.p.Store.List(ctx, "resource", store.ListQuery{Type: DiskType})
	if err != nil {
		return nil, err
	}
	out := make([]*DiskResource, 0, len(docs))
	for _, doc := range docs {
		if d, err := store.DecodeJSON[DiskResource](doc, "disk"); err == nil {
			out = append(out, d)
		}
	}
	return out, nil
}

// tooLarge is err, or for a volume of size bytes the file system of the
// data directory could not hold as one file (EFBIG: ext4 keeps files of
// up to 16 TiB, and Azure's disks go to 32767 GiB) a 400 naming the
// request's field (target) and what to do: it was a 500
// InternalServerError.
func tooLarge(err error, target string, size int64) error {
	if !errors.Is(err, syscall.EFBIG) {
		return err
	}
	field := target[strings.LastIndex(target, ".")+1:]
	return invalidAt(target, "A disk of %d GiB is larger than the file system of this server's data directory holds as one file (ext4 holds files of up to 16 TiB). Use a smaller %s (up to 16383 GiB on ext4), or run Safehold with its data directory on a file system that holds larger files (XFS, btrfs).", sizeGB(size), field)
}
