package compute

import (
	"context"
	"encoding/json"
	"errors"
	"maps"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/safehold/safehold/accountblob"
	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/ops"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// diskInput is a disk PUT/PATCH body.
type diskInput struct {
	resourceInput[diskProperties]
	SKU *struct {
		Name string `json:"name"`
	} `json:"sku"`
	Zones []string `json:"zones"`
}

type diskProperties struct {
	CreationData *struct {
		creationInput
		UploadSizeBytes int64 `json:"uploadSizeBytes"`
		// FromImage: a platform image or a gallery image version.
		ImageReference        *compute.ImageDiskReference `json:"imageReference"`
		GalleryImageReference *compute.ImageDiskReference `json:"galleryImageReference"`
	} `json:"creationData"`
	DiskSizeGB       *int64 `json:"diskSizeGB"`
	OSType           string `json:"osType"`
	HyperVGeneration string `json:"hyperVGeneration"`
}

// creationInput is the creationData of a disk or snapshot PUT: how to
// create it, and from what.
type creationInput struct {
	CreateOption     string `json:"createOption"`
	SourceResourceID string `json:"sourceResourceId"`
	SourceURI        string `json:"sourceUri"`
	StorageAccountID string `json:"storageAccountId"`
}

type accessInput struct {
	Access            string `json:"access"`
	DurationInSeconds int64  `json:"durationInSeconds"`
	// GetSecureVMGuestStateSAS asks for the VM guest state's SAS too
	// (securityDataAccessSAS) of a disk created with UploadPreparedSecure.
	GetSecureVMGuestStateSAS bool `json:"getSecureVMGuestStateSAS"`
}

func (pr *Provider) registerDisks(rt *arm.Router) {
	one := rgPrefix + "/disks/{diskName}"
	list := versionShapes(listWithCreating(pr, compute.DiskType, pr.svc.ListDisks, func(d *compute.DiskResource) string { return d.ID }))
	rt.HandleResource(one, arm.Methods{List: list, Get: versionShapes(getWithCreating(pr, diskID, pr.svc.DiskResource)),
		Put: versionShapes(decoded(pr.putDisk)), Patch: versionShapes(decoded(pr.patchDisk)), Delete: pr.deleteDisk})
	rt.Handle("GET", subPrefix+"/disks", list)
	rt.Handle("POST", one+"/beginGetAccess", pr.beginGetAccess)
	rt.Handle("POST", one+"/endGetAccess", pr.endGetAccess)
	registerUnknownActions(rt, one, compute.DiskType, "beginGetAccess", "endGetAccess")
	pr.p.Ops.Register("compute.disk.create", pr.runCreateDisk)
	pr.p.Ops.Register("compute.disk.delete", runDelete(pr.svc.DeleteDiskOf))
}

func diskID(r *arm.Request) string {
	return computeID(r, "disks", r.Param("diskName"))
}

func (pr *Provider) putDisk(r *arm.Request, in diskInput) (*arm.Response, error) {
	return pr.putDiskOnce(r, in, putDiskRetries)
}

// putDiskRetries is how many times a disk's PUT runs again when another
// request changed what it found: the disk it was creating was created
// meanwhile (a PUT of the same disk at once), so it updates it, or the
// disk it was updating was deleted meanwhile (a DELETE at once), so it
// creates it, as a PUT is a create-or-update either way.
const putDiskRetries = 3

// putDiskOnce is a disk's PUT, which runs again (retries more times) when
// the disk was created or deleted under it.
func (pr *Provider) putDiskOnce(r *arm.Request, in diskInput, retries int) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	settings, ext := settingsOf(r.Body, diskSettings)
	if err := pr.checkSettings(r, settings, false); err != nil {
		return nil, err
	}
	if in.Properties != nil && in.Properties.CreationData != nil {
		in.Properties.CreationData.SourceResourceID = normSourceID(in.Properties.CreationData.SourceResourceID)
		// Upload with only diskSizeGB (Azure's PerformancePlus example):
		// the upload is that size plus the VHD footer.
		if cd := in.Properties.CreationData; strings.EqualFold(cd.CreateOption, "Upload") && cd.UploadSizeBytes == 0 && in.Properties.DiskSizeGB != nil {
			cd.UploadSizeBytes = *in.Properties.DiskSizeGB<<30 + 512
		}
	}
	id := diskID(r)
	// Linked access first: the caller must be allowed to read what it
	// copies from, before anything about the source is looked up.
	importSrc := ""
	var blobSrc *accountblob.Source
	if in.Properties != nil && in.Properties.CreationData != nil {
		cd := in.Properties.CreationData
		links := []arm.Link{readLink(cd.SourceResourceID)}
		// A gallery image version is read through RBAC on it; shared and
		// community galleries through their sharing profile; platform
		// images are everyone's.
		for _, ref := range []*compute.ImageDiskReference{cd.ImageReference, cd.GalleryImageReference} {
			if ref != nil && ref.ID != "" {
				if rid, err := arm.ParseID(ref.ID); err == nil && rid.IsType(compute.GalleryImageVersionType) {
					links = append(links, readLink(ref.ID))
				}
			}
		}
		if strings.EqualFold(cd.CreateOption, "Import") {
			b, acct, err := pr.blobSource(r, cd.SourceURI, cd.StorageAccountID)
			if err != nil {
				return nil, err
			}
			if b == nil {
				if importSrc, err = pr.importSource(r, cd.SourceURI); err != nil {
					return nil, err
				}
			}
			blobSrc = b
			links = append(links, readLink(importSrc), readLink(acct))
		}
		if err := r.CheckLinked(links...); err != nil {
			return nil, err
		}
	}
	if err := pr.checkPutTarget(ctx, id, r.Param("diskName"), "disk"); err != nil {
		return nil, err
	}
	if existing, err := pr.svc.DiskResource(ctx, id); err == nil {
		// The router checked the conditions before: the disk may have been
		// created since by another PUT at once. A create-only PUT
		// (If-None-Match: *) is 412 then, not an update.
		if err := r.CheckConditions(true, ""); err != nil {
			return nil, err
		}
		if err := checkCreationUnchanged(in, existing); err != nil {
			return nil, err
		}
		// PUT on an existing disk updates what may change (size, tags, sku).
		if in.Location != nil && !strings.EqualFold(strings.ReplaceAll(*in.Location, " ", ""), existing.Location) {
			return nil, arm.Conflict("InvalidParameter", "Disk '%s' is in location '%s'; its location cannot change to '%s'.", existing.Name, existing.Location, *in.Location)
		}
		u := compute.DiskUpdate{Tags: in.Tags}
		if in.Tags == nil {
			u.Tags = existing.Tags
		}
		if in.SKU != nil {
			u.SKU = in.SKU.Name
		}
		if in.Properties != nil && in.Properties.DiskSizeGB != nil {
			u.SizeBytes = *in.Properties.DiskSizeGB << 30
		}
		settings, err = pr.checkDiskUpdate(ctx, existing, u, settings)
		var d *compute.DiskResource
		if err == nil {
			d, err = pr.svc.UpdateDisk(ctx, id, u)
		}
		resp, err := pr.withSettings(r, id, d, err, settings, ext)
		if arm.IsNotFound(err) && retries > 0 {
			return pr.putDiskOnce(r, in, retries-1) // deleted meanwhile
		}
		return resp, err
	} else if !arm.IsNotFound(err) {
		return nil, err
	}
	// Again where the PUT finds the disk absent: it may have been deleted
	// since by a DELETE at once. An update-only PUT (If-Match) is 412 then.
	if err := r.CheckConditions(false, ""); err != nil {
		return nil, err
	}
	spec := compute.DiskSpec{ID: id, Tags: in.Tags, Zones: in.Zones, Settings: settings, ExtendedLocation: ext}
	if in.Location != nil {
		spec.Location = *in.Location
	}
	if in.SKU != nil {
		spec.SKU = in.SKU.Name
	}
	if in.Properties == nil || in.Properties.CreationData == nil {
		return nil, arm.BadRequest("InvalidParameter", "Required parameter 'creationData' is missing (null). Set properties.creationData.createOption (Empty, Upload, Copy or Import).")
	}
	cd := in.Properties.CreationData
	spec.CreateOption, spec.SourceID, spec.SourceURI, spec.UploadSizeBytes = cd.CreateOption, cd.SourceResourceID, cd.SourceURI, cd.UploadSizeBytes
	spec.OSType, spec.HyperVGeneration = in.Properties.OSType, in.Properties.HyperVGeneration
	spec.ImageReference, spec.GalleryImageReference = cd.ImageReference, cd.GalleryImageReference
	spec.CallerSubscription, spec.CallerTenant = r.Param("subscriptionId"), r.Caller().TenantID
	if importSrc != "" {
		spec.SourceID = importSrc
	}
	spec.SourceBlob, spec.StorageAccountID = blobSrc, cd.StorageAccountID
	if in.Properties.DiskSizeGB != nil {
		if *in.Properties.DiskSizeGB <= 0 || *in.Properties.DiskSizeGB > 32767 {
			return nil, arm.BadRequest("InvalidParameter", "The value %d of parameter 'diskSizeGB' is out of range. The value must be between 1 and 32767, inclusive.", *in.Properties.DiskSizeGB)
		}
		spec.SizeBytes = *in.Properties.DiskSizeGB << 30
	}
	if err := pr.svc.CheckDiskSpec(ctx, &spec); err != nil {
		return nil, err
	}
	if err := checkPerformance(settings, spec.SKU, pr.newDiskSize(ctx, spec), nil); err != nil {
		return nil, err
	}
	if err := pr.svc.CheckDiskSettings(ctx, nil, spec.SKU, pr.newDiskSize(ctx, spec), settings); err != nil {
		return nil, err
	}
	if spec.CreateOption == "Restore" {
		// Internal (backup restores); over ARM it would fail only later.
		return nil, arm.BadRequest("InvalidParameter", "The value 'Restore' of parameter 'creationData.createOption' is not supported for disks. Use Empty, Upload, Copy (from a disk or snapshot), Import or FromImage.")
	}
	switch spec.CreateOption {
	case "Empty", "Upload", "UploadPreparedSecure":
		if _, err := pr.svc.CreateDisk(ctx, spec); err != nil {
			if compute.IsExists(err) && retries > 0 {
				return pr.putDiskOnce(r, in, retries-1) // created meanwhile: an update now, conditions checked again there
			}
			return nil, err
		}
		d, err := pr.svc.DiskResource(ctx, id)
		return pr.withSettings(r, id, d, err, settings, ext)
	default:
		// Copy, Import and FromImage move data: a long-running operation; the disk is
		// visible as Creating meanwhile.
		return pr.startCreate(r, "compute.disk.create", id, spec.Location, spec, pr.creatingDisk(ctx, r, spec))
	}
}

func (pr *Provider) runCreateDisk(ctx context.Context, op *ops.Operation) error {
	_, spec, err := opSpec[compute.DiskSpec](op)
	if err != nil {
		return err
	}
	if d, err := pr.svc.DiskResource(ctx, spec.ID); err == nil && !d.Properties.TimeCreated.Before(op.StartTime.Add(-time.Second)) {
		return setResult(op, http.StatusOK, d) // created before a crash
	}
	if err := pr.svc.PlaceHere(ctx); err != nil {
		return retryBusy(err) // new disks live on the leader: it runs this task
	}
	if _, err := pr.svc.CreateDisk(ctx, spec); err != nil {
		return retryBusy(err)
	}
	if err := pr.applySettings(ctx, spec.ID, spec.Settings, spec.ExtendedLocation); err != nil {
		return err
	}
	return answerCreated(ctx, pr, op, spec.ID, pr.svc.DiskResource)
}

// newDiskSize is the size a new disk will have, as far as the request
// tells before its data is read: diskSizeGB, an upload's data, or the
// disk or snapshot it copies (0: not known yet).
func (pr *Provider) newDiskSize(ctx context.Context, spec compute.DiskSpec) int64 {
	size := spec.SizeBytes
	if size == 0 && (spec.CreateOption == "Upload" || spec.CreateOption == "UploadPreparedSecure") && spec.UploadSizeBytes > 512 {
		size = spec.UploadSizeBytes - 512
	}
	if size == 0 && spec.SourceID != "" {
		if sd, err := pr.svc.DiskResource(ctx, spec.SourceID); err == nil {
			size = sd.Properties.DiskSizeBytes
		} else if sn, err := pr.svc.SnapshotResource(ctx, spec.SourceID); err == nil {
			size = sn.Properties.DiskSizeBytes
		}
	}
	return size
}

// checkDiskUpdate checks what update u and settings make of disk cur
// (checkPerformance, CheckDiskSettings) and answers the settings to
// apply: without a tier that is cur's (unchangedTier).
func (pr *Provider) checkDiskUpdate(ctx context.Context, cur *compute.DiskResource, u compute.DiskUpdate, settings compute.Settings) (compute.Settings, error) {
	if err := checkPerformance(settings, u.SKU, 0, cur); err != nil {
		return nil, err
	}
	settings = unchangedTier(settings, cur)
	return settings, pr.svc.CheckDiskSettings(ctx, cur, u.SKU, u.SizeBytes, settings)
}

// unchangedTier is settings without a tier that is the one disk d has
// (what a client that PUTs back the body it read sends with a new size
// or sku: the tier then follows them).
func unchangedTier(s compute.Settings, d *compute.DiskResource) compute.Settings {
	raw, ok := s["tier"]
	if !ok {
		return s
	}
	var t string
	if json.Unmarshal(raw, &t) != nil || !strings.EqualFold(t, d.Properties.Tier) {
		return s
	}
	out := maps.Clone(s)
	delete(out, "tier")
	if len(out) == 0 {
		return nil
	}
	return out
}

// creatingDisk is the body of a disk while its Copy or Import runs.
func (pr *Provider) creatingDisk(ctx context.Context, r *arm.Request, spec compute.DiskSpec) *compute.DiskResource {
	size := pr.newDiskSize(ctx, spec)
	sku := spec.SKU
	if sku == "" {
		sku = "Standard_LRS"
	}
	tier := compute.SKUTier(sku)
	cd := compute.CreationData{CreateOption: spec.CreateOption, SourceURI: spec.SourceURI, StorageAccountID: spec.StorageAccountID, ImageReference: spec.ImageReference, GalleryImageReference: spec.GalleryImageReference}
	if spec.SourceID != "" {
		if rid, err := arm.ParseID(spec.SourceID); err == nil {
			cd.SourceResourceID = rid.String()
		}
	}
	return &compute.DiskResource{Tracked: compute.Tracked{ID: spec.ID, Name: r.Param("diskName"), Type: compute.DiskType, Location: resource.NormLocation(spec.Location), Tags: spec.Tags,
		SKU: &compute.SKU{Name: sku, Tier: tier}}, Zones: spec.Zones,
		Properties: compute.DiskProperties{BlockProperties: compute.BlockProperties{CreationData: cd, DiskSizeGB: (size + 1<<30 - 1) >> 30, DiskSizeBytes: size,
			DiskState: compute.StateUnattached, ProvisioningState: "Creating", TimeCreated: pr.p.Now().UTC()},
			OSType: spec.OSType, HyperVGeneration: spec.HyperVGeneration, Tier: compute.BaseTier(sku, size)}}
}

// blobSource resolves an Import sourceUri that names a storage-account
// blob (Azure's https://{account}.blob.core.windows.net/..., or Safehold's
// blob endpoint) to the blob and its account's id, which the caller must
// be allowed to read. storageAccountId, when sent, must name that account
// (the way to import from another subscription's). nil: not a blob URL.
func (pr *Provider) blobSource(r *arm.Request, uri, storageAccountID string) (*accountblob.Source, string, error) {
	src, ok, err := accountblob.ParseSource(uri, r.HTTP.Host)
	if !ok || err != nil {
		return nil, "", err
	}
	if storageAccountID != "" {
		// Linked access first: nothing about the account is looked up
		// before the caller may read it.
		if err := r.CheckLinked(readLink(normSourceID(storageAccountID))); err != nil {
			return nil, "", err
		}
	}
	acct, err := accountblob.FindAccount(r.HTTP.Context(), pr.p.Store, src.Account)
	if err != nil {
		return nil, "", err
	}
	if storageAccountID != "" && !arm.EqualIDs(normSourceID(storageAccountID), acct) {
		return nil, "", arm.BadRequest("InvalidParameter", "'creationData.storageAccountId' '%s' is not the account of 'creationData.sourceUri' (%s): name the storage account the blob is in.", storageAccountID, acct)
	}
	return src, acct, nil
}

// importSource resolves an Import sourceUri that is a Safehold URL (an
// http or https URL on the host the caller used) to the disk or snapshot
// it names: a SAS URL from beginGetAccess (which must verify and grant
// Read) or the ARM URL of a disk or snapshot. Anything else ("" back) is a
// local file, left to the import directory rules.
func (pr *Provider) importSource(r *arm.Request, uri string) (string, error) {
	lu := strings.ToLower(uri)
	if !strings.HasPrefix(lu, "http://") && !strings.HasPrefix(lu, "https://") {
		return "", nil
	}
	u, err := url.Parse(uri)
	if err != nil {
		return "", arm.BadRequest("InvalidParameter", "'creationData.sourceUri' '%s' is not a valid URL.", uri)
	}
	if !strings.EqualFold(u.Host, r.HTTP.Host) {
		return "", arm.BadRequest("InvalidParameter", "'creationData.sourceUri' '%s' is not on this Safehold server (%s): Import reads a Safehold disk or snapshot URL (its SAS from beginGetAccess or its resource URL), or a local file under --import-dir.", uri, r.HTTP.Host)
	}
	if rest, ok := strings.CutPrefix(u.Path, "/sas/disks/"); ok {
		grantID, _, _ := strings.Cut(rest, "/")
		g, err := pr.svc.VerifySAS(r.HTTP.Context(), grantID, u.Query())
		if err != nil {
			return "", arm.BadRequest("InvalidParameter", "The SAS in 'creationData.sourceUri' cannot be used: %v. Request a new one with beginGetAccess.", err)
		}
		return g.ResourceID, nil
	}
	rid, err := arm.ParseID(u.Path)
	if err != nil || !(rid.IsType(compute.DiskType) || rid.IsType(compute.SnapshotType)) {
		return "", arm.BadRequest("InvalidParameter", "'creationData.sourceUri' '%s' names no Safehold disk or snapshot: use its SAS URL from beginGetAccess or its resource URL.", uri)
	}
	return rid.String(), nil
}

func (pr *Provider) patchDisk(r *arm.Request, in diskInput) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	settings, _ := settingsOf(r.Body, diskSettings)
	if err := pr.checkSettings(r, settings, false); err != nil {
		return nil, err
	}
	u := compute.DiskUpdate{Tags: in.Tags}
	if in.SKU != nil {
		u.SKU = in.SKU.Name
	}
	if in.Properties != nil && in.Properties.DiskSizeGB != nil {
		if *in.Properties.DiskSizeGB <= 0 {
			return nil, arm.BadRequest("InvalidParameter", "The value %d of parameter 'diskSizeGB' is out of range. The value must be between 1 and 32767, inclusive.", *in.Properties.DiskSizeGB)
		}
		u.SizeBytes = *in.Properties.DiskSizeGB << 30
	}
	if len(settings) > 0 {
		cur, err := pr.svc.DiskResource(ctx, diskID(r))
		if err != nil {
			return nil, err
		}
		if settings, err = pr.checkDiskUpdate(ctx, cur, u, settings); err != nil {
			return nil, err
		}
	}
	d, err := pr.svc.UpdateDisk(ctx, diskID(r), u)
	return pr.withSettings(r, diskID(r), d, err, settings, nil)
}

func (pr *Provider) deleteDisk(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	id := diskID(r)
	d, err := pr.svc.DiskResource(ctx, id)
	if arm.IsNotFound(err) {
		if err := pr.checkNotCreating(ctx, id, "disk"); err != nil {
			return nil, err
		}
		return arm.NoContent(), nil
	}
	if err != nil {
		return nil, err
	}
	if d.ManagedBy != "" {
		return nil, arm.Conflict("OperationNotAllowed", "Disk %s is attached to VM %s. Detach the disk or delete the VM first.", d.Name, d.ManagedBy)
	}
	if err := pr.checkNoActiveAccess(ctx, d.ID, d.Properties.UniqueID, "Disk", d.Name); err != nil {
		return nil, err
	}
	return pr.startDelete(r, "compute.disk.delete", d.ID, d.Location, d.Properties.UniqueID)
}

func (pr *Provider) beginGetAccess(r *arm.Request) (*arm.Response, error) {
	return pr.grant(r, diskID(r))
}

func (pr *Provider) endGetAccess(r *arm.Request) (*arm.Response, error) {
	return pr.revoke(r, diskID(r))
}

func (pr *Provider) grant(r *arm.Request, id string) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	var in accessInput
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if in.Access == "" {
		return nil, arm.BadRequest("InvalidParameter", "Required parameter 'access' is missing (null). Use Read or Write.")
	}
	if in.DurationInSeconds <= 0 {
		return nil, arm.BadRequest("InvalidParameter", "Required parameter 'durationInSeconds' is missing or not positive.")
	}
	if in.DurationInSeconds > math.MaxInt32 {
		// Azure's field is an int32; larger values overflowed the
		// duration (99999999999 s made a SAS expiring in 2273).
		return nil, arm.BadRequestAt("durationInSeconds", "InvalidParameter", "The value %d of parameter 'durationInSeconds' is out of range: it is an int32, at most 2147483647 seconds.", in.DurationInSeconds)
	}
	g, err := pr.svc.GrantAccessWith(ctx, id, in.Access, time.Duration(in.DurationInSeconds)*time.Second, in.GetSecureVMGuestStateSAS)
	if err != nil {
		return nil, err
	}
	q, err := pr.svc.SASQuery(ctx, g)
	if err != nil {
		return nil, err
	}
	sas := r.BaseURL() + "/sas/disks/" + g.ID + "/abcd?" + q
	loc, err := pr.location(ctx, id)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"accessSAS": sas}
	if g.GuestState {
		out["securityDataAccessSAS"] = r.BaseURL() + "/sas/disks/" + g.ID + "/" + compute.GuestStateBlob(g) + "?" + q
	}
	// With an NBD listener, the grant opens the disk there too (Safehold's
	// addition to AccessUri; SDKs ignore it, the raw body carries it).
	nbdURI, err := pr.svc.NBDURI(ctx, g)
	if err != nil {
		return nil, err
	}
	if nbdURI != "" {
		out["nbdUri"] = nbdURI
	}
	return pr.completed(r, "compute.grant", id, loc, out)
}

// revoke ends a disk's or snapshot's access (endGetAccess). Its writes
// are store.Freeing: an upload that filled the data directory's file
// system must still be able to end (the disk deletable again), so they
// may use the store's reserve.
func (pr *Provider) revoke(r *arm.Request, id string) (*arm.Response, error) {
	r.HTTP = r.HTTP.WithContext(store.Freeing(r.HTTP.Context()))
	ctx := r.HTTP.Context()
	loc, err := pr.location(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := pr.svc.RevokeAccess(ctx, id); err != nil {
		if ee := (*compute.ErrElsewhere)(nil); errors.As(err, &ee) && ee.Alive {
			// An upload's end: the disk's owner makes its bytes durable
			// and drops the VHD footer.
			return pr.forwardARM(r, ee)
		}
		return nil, err
	}
	return pr.completed(r, "compute.revoke", id, loc, nil)
}

func (pr *Provider) location(ctx context.Context, id string) (string, error) {
	rid, _ := arm.ParseID(id)
	if rid.IsType(compute.SnapshotType) {
		sn, err := pr.svc.SnapshotResource(ctx, id)
		if err != nil {
			return "", err
		}
		return sn.Location, nil
	}
	d, err := pr.svc.DiskResource(ctx, id)
	if err != nil {
		return "", err
	}
	return d.Location, nil
}

// checkCreationUnchanged refuses a re-PUT that changes how an existing
// disk was created (Azure: 409 PropertyChangeNotAllowed).
func checkCreationUnchanged(in diskInput, d *compute.DiskResource) error {
	if in.Properties == nil || in.Properties.CreationData == nil {
		return nil
	}
	cd, old := in.Properties.CreationData, d.Properties.CreationData
	changed := func(prop string) error {
		return arm.Conflict("PropertyChangeNotAllowed", "Changing property 'creationData.%s' is not allowed. Create a new disk to use another source.", prop)
	}
	switch {
	case cd.CreateOption != "" && !strings.EqualFold(cd.CreateOption, old.CreateOption):
		return changed("createOption")
	case cd.SourceResourceID != "" && !arm.EqualIDs(cd.SourceResourceID, old.SourceResourceID):
		return changed("sourceResourceId")
	case cd.SourceURI != "" && cd.SourceURI != old.SourceURI:
		return changed("sourceUri")
	case cd.UploadSizeBytes != 0 && cd.UploadSizeBytes != old.UploadSizeBytes:
		return changed("uploadSizeBytes")
	}
	return nil
}

// checkName checks a disk or snapshot name as Azure does: 1-80 letters,
// digits, '_', '-' or '.', starting with a letter or digit and ending with
// a letter, digit or '_'.
func checkName(name, what string) error {
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
	ok := len(name) >= 1 && len(name) <= 80 && alnum(name[0]) && (alnum(name[len(name)-1]) || name[len(name)-1] == '_')
	for i := 0; ok && i < len(name); i++ {
		ok = alnum(name[i]) || strings.IndexByte("_-.", name[i]) >= 0
	}
	if !ok {
		return arm.BadRequest("InvalidParameter", "The %s name '%s' is invalid. Use 1 to 80 letters, digits, '_', '-' or '.', starting with a letter or digit and ending with a letter, digit or '_'.", what, name)
	}
	return nil
}

// checkPutTarget checks the disk or snapshot a PUT names: a valid name,
// and not one being created now (a PUT that would change it is refused).
func (pr *Provider) checkPutTarget(ctx context.Context, id, name, what string) error {
	if err := checkName(name, what); err != nil {
		return err
	}
	return pr.checkNotCreating(ctx, id, what)
}

// checkNoActiveAccess refuses to delete a disk or snapshot with an active
// SAS (Azure: 409 OperationNotAllowed until endGetAccess or expiry).
func (pr *Provider) checkNoActiveAccess(ctx context.Context, id, uniqueID, what, name string) error {
	live, err := pr.svc.HasActiveAccess(ctx, id, uniqueID)
	if err != nil {
		return err
	}
	if live {
		return arm.Conflict("OperationNotAllowed", "%s '%s' has an active shared access signature (SAS) URI. Call endGetAccess to revoke it before deleting the %s.", what, name, strings.ToLower(what))
	}
	return nil
}
