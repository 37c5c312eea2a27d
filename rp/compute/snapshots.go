package compute

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/ops"
	"github.com/safehold/safehold/resource"
)

// snapshotInput is a snapshot PUT/PATCH body.
type snapshotInput struct {
	resourceInput[snapshotProperties]
	SKU *struct {
		Name string `json:"name"`
	} `json:"sku"`
}

// sku checks the sku the request sends for a snapshot (incremental or
// not): "" when it sends none.
func (in snapshotInput) sku(incremental bool) (string, error) {
	if in.SKU == nil || in.SKU.Name == "" {
		return "", nil
	}
	return compute.CanonicalSnapshotSKU(in.SKU.Name, incremental)
}

// setSnapshotSKU sets the sku of the snapshot id, when one is given; sn is the
// snapshot's body before (after, when the sku was set).
func (pr *Provider) setSnapshotSKU(ctx context.Context, id, sku string, sn *compute.SnapshotResource) (*compute.SnapshotResource, error) {
	if sku == "" {
		return sn, nil
	}
	return pr.svc.SetSnapshotSKU(ctx, id, sku)
}

// incremental reports whether a snapshot request asks for an incremental
// snapshot.
func (in snapshotInput) incremental() bool {
	return in.Properties != nil && in.Properties.Incremental != nil && *in.Properties.Incremental
}

type snapshotProperties struct {
	CreationData     *creationInput `json:"creationData"`
	Incremental      *bool          `json:"incremental"`
	DiskSizeGB       *int64         `json:"diskSizeGB"`
	OSType           string         `json:"osType"`
	HyperVGeneration string         `json:"hyperVGeneration"`
}

// resize applies a request's diskSizeGB to an existing snapshot: Azure
// reads it as a resize, which can only grow the snapshot.
func (pr *Provider) resizeSnapshot(ctx context.Context, id string, in snapshotInput, sn *compute.SnapshotResource) (*compute.SnapshotResource, error) {
	if in.Properties == nil || in.Properties.DiskSizeGB == nil {
		return sn, nil
	}
	if gb := *in.Properties.DiskSizeGB; gb <= 0 || gb > 32767 {
		return nil, arm.BadRequest("InvalidParameter", "The value %d of parameter 'diskSizeGB' is out of range. The value must be between 1 and 32767, inclusive.", gb)
	}
	return pr.svc.ResizeSnapshot(ctx, id, *in.Properties.DiskSizeGB<<30)
}

func (pr *Provider) registerSnapshots(rt *arm.Router) {
	one := rgPrefix + "/snapshots/{snapshotName}"
	list := versionShapes(listWithCreating(pr, compute.SnapshotType, pr.svc.ListSnapshots, func(s *compute.SnapshotResource) string { return s.ID }))
	rt.HandleResource(one, arm.Methods{List: list, Get: versionShapes(getWithCreating(pr, snapshotID, pr.svc.SnapshotResource)),
		Put: versionShapes(decoded(pr.putSnapshot)), Patch: versionShapes(decoded(pr.patchSnapshot)), Delete: pr.deleteSnapshot})
	rt.Handle("GET", subPrefix+"/snapshots", list)
	rt.Handle("POST", one+"/beginGetAccess", func(r *arm.Request) (*arm.Response, error) { return pr.grant(r, snapshotID(r)) })
	rt.Handle("POST", one+"/endGetAccess", func(r *arm.Request) (*arm.Response, error) { return pr.revoke(r, snapshotID(r)) })
	registerUnknownActions(rt, one, compute.SnapshotType, "beginGetAccess", "endGetAccess")
	pr.p.Ops.Register("compute.snapshot.create", pr.runCreateSnapshot)
	pr.p.Ops.Register("compute.snapshot.delete", runDelete(pr.svc.DeleteSnapshotOf))
	pr.p.Ops.Register("compute.snapshot.copy", pr.runCopySnapshot)
	pr.p.Ops.Register("compute.snapshot.import", pr.runImportSnapshot)
}

func snapshotID(r *arm.Request) string {
	return computeID(r, "snapshots", r.Param("snapshotName"))
}

func (pr *Provider) putSnapshot(r *arm.Request, in snapshotInput) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	id := snapshotID(r)
	settings, ext := settingsOf(r.Body, snapshotSettings)
	var source arm.Link
	if in.Properties != nil && in.Properties.CreationData != nil {
		in.Properties.CreationData.SourceResourceID = normSourceID(in.Properties.CreationData.SourceResourceID)
		source = readLink(in.Properties.CreationData.SourceResourceID)
	}
	if err := pr.checkSettings(r, settings, true, source); err != nil {
		return nil, err
	}
	if err := pr.checkPutTarget(ctx, id, r.Param("snapshotName"), "snapshot"); err != nil {
		return nil, err
	}
	if sn, err := pr.svc.SnapshotResource(ctx, id); err == nil {
		// PUT on an existing snapshot can only change its tags and grow it.
		if in.Properties != nil && in.Properties.CreationData != nil && in.Properties.CreationData.SourceResourceID != "" &&
			!arm.EqualIDs(in.Properties.CreationData.SourceResourceID, sn.Properties.CreationData.SourceResourceID) {
			return nil, arm.Conflict("PropertyChangeNotAllowed", "Changing property 'sourceResourceId' is not allowed. Create a new snapshot instead.")
		}
		if in.Location != nil && *in.Location != "" && resource.NormLocation(*in.Location) != resource.NormLocation(sn.Location) {
			return nil, arm.Conflict("InvalidParameter", "Snapshot '%s' is in location '%s'; its location cannot change to '%s'.", sn.Name, sn.Location, *in.Location)
		}
		tags := in.Tags
		if tags == nil {
			tags = sn.Tags
		}
		sku, err := in.sku(sn.Properties.Incremental)
		if err != nil {
			return nil, err
		}
		if sn, err = pr.resizeSnapshot(ctx, id, in, sn); err != nil {
			return nil, err
		}
		if sn, err = pr.svc.UpdateSnapshotTags(ctx, id, tags); err == nil {
			sn, err = pr.setSnapshotSKU(ctx, id, sku, sn)
		}
		return pr.withSettings(r, id, sn, err, settings, nil)
	} else if !arm.IsNotFound(err) {
		return nil, err
	}
	if err := checkRG(ctx, pr, r); err != nil {
		return nil, err
	}
	if in.Location == nil || *in.Location == "" {
		return nil, arm.BadRequest("LocationRequired", "The location property is required for this definition.")
	}
	if err := resource.CheckLocation(*in.Location, compute.SnapshotType); err != nil {
		return nil, err
	}
	if err := resource.CheckExtendedLocation(*in.Location, compute.SnapshotType, ext); err != nil {
		return nil, err
	}
	if in.Properties == nil || in.Properties.CreationData == nil || in.Properties.CreationData.CreateOption == "" {
		return nil, arm.BadRequest("InvalidParameter", "Required parameter 'creationData.createOption' is missing (null). Use Copy with sourceResourceId set to a disk.")
	}
	cd := in.Properties.CreationData
	sku, err := in.sku(in.incremental())
	if err != nil {
		return nil, err
	}
	if strings.EqualFold(cd.CreateOption, "Import") {
		return pr.importSnapshot(r, id, in, settings, sku)
	}
	if !strings.EqualFold(cd.CreateOption, "Copy") && !strings.EqualFold(cd.CreateOption, "CopyStart") {
		return nil, arm.BadRequest("InvalidParameter", "The value '%s' of parameter 'creationData.createOption' is not supported for snapshots. Use Copy with sourceResourceId set to a disk or snapshot, or Import with sourceUri set to a VHD blob.", cd.CreateOption)
	}
	src, err := arm.ParseID(cd.SourceResourceID)
	if cd.SourceResourceID == "" || err != nil || !(src.IsType(compute.DiskType) || src.IsType(compute.SnapshotType)) {
		return nil, arm.BadRequest("InvalidParameter", "'creationData.sourceResourceId' must be the id of a managed disk or snapshot, not '%s'.", cd.SourceResourceID)
	}
	if src.IsType(compute.SnapshotType) {
		sn, err := pr.svc.SnapshotResource(ctx, cd.SourceResourceID)
		if err != nil {
			return nil, err
		}
		copyStart := strings.EqualFold(cd.CreateOption, "CopyStart")
		if !copyStart && !strings.EqualFold(resource.NormLocation(*in.Location), sn.Location) {
			return nil, arm.BadRequest("InvalidParameter", "Snapshot location '%s' differs from the location '%s' of snapshot '%s'. Copy within the region, or use createOption CopyStart.", *in.Location, sn.Location, sn.Name)
		}
		incremental, err := copyIncremental(in, sn, copyStart)
		if err != nil {
			return nil, err
		}
		if sku != "" {
			if _, err := compute.CanonicalSnapshotSKU(sku, incremental); err != nil {
				return nil, err
			}
		}
		// A Copy is in its source's region; a CopyStart in the one asked
		// for, as it copies across regions.
		location := sn.Location
		if copyStart {
			location = resource.NormLocation(*in.Location)
		}
		body := *sn
		body.ID, body.Name, body.Tags, body.Location = id, r.Param("snapshotName"), in.Tags, location
		body.Properties.Incremental = incremental
		if !incremental {
			// A full copy of an incremental snapshot is in no family.
			body.Properties.IncrementalFamilyID = ""
		}
		if sku != "" {
			body.SKU = compute.SKUOf(sku)
		} else if sn.Properties.Incremental && !incremental {
			body.SKU = compute.SKUOf("") // the source's standard storage is no default for a full snapshot
		}
		body.Properties.UniqueID, body.Properties.TimeCreated = "", pr.p.Now().UTC()
		body.Properties.ProvisioningState, body.Properties.CompletionPercent = "Creating", 0
		body.Properties.CreationData = compute.CreationData{CreateOption: "Copy", SourceResourceID: sn.ID, SourceUniqueID: sn.Properties.UniqueID}
		if strings.EqualFold(cd.CreateOption, "CopyStart") {
			cds := map[string]json.RawMessage{}
			_ = json.Unmarshal(settings["creationData"], &cds)
			cds["createOption"] = json.RawMessage(`"CopyStart"`)
			if settings == nil {
				settings = compute.Settings{}
			}
			settings["creationData"], _ = json.Marshal(cds)
			body.Properties.CreationData.CreateOption = "CopyStart"
		}
		body.Properties.Settings = settings
		return pr.startCreate(r, "compute.snapshot.copy", id, location, snapshotCopy{Source: sn.ID, Target: id, Location: location, Tags: in.Tags, Settings: settings, SKU: sku, Full: !incremental}, &body)
	}
	d, err := pr.svc.DiskResource(ctx, cd.SourceResourceID)
	if err != nil {
		return nil, err
	}
	if !strings.EqualFold(strings.ReplaceAll(*in.Location, " ", ""), d.Location) {
		return nil, arm.BadRequest("InvalidParameter", "Snapshot location '%s' differs from the location '%s' of disk '%s'. Create the snapshot in the disk's region.", *in.Location, d.Location, d.Name)
	}
	spec := compute.SnapshotSpec{DiskID: d.ID, SnapshotID: id, Tags: in.Tags, Location: d.Location, Settings: settings, SKU: sku}
	if in.Properties.Incremental != nil {
		spec.Incremental = *in.Properties.Incremental
	}
	if err := pr.svc.CheckSnapshotSpecs(ctx, []compute.SnapshotSpec{spec}); err != nil {
		return nil, err
	}
	body := &compute.SnapshotResource{Tracked: compute.Tracked{ID: id, Name: r.Param("snapshotName"), Type: compute.SnapshotType, Location: d.Location, Tags: in.Tags,
		SKU: compute.SKUOf(sku)},
		Properties: compute.SnapshotProperties{
			BlockProperties: compute.BlockProperties{CreationData: compute.CreationData{CreateOption: "Copy", SourceResourceID: d.ID, SourceUniqueID: d.Properties.UniqueID},
				DiskSizeBytes: d.Properties.DiskSizeBytes, DiskSizeGB: d.Properties.DiskSizeGB, DiskState: compute.StateUnattached,
				ProvisioningState: "Creating", TimeCreated: pr.p.Now().UTC()},
			Incremental: spec.Incremental, OSType: d.Properties.OSType, HyperVGeneration: d.Properties.HyperVGeneration, Settings: settings}}
	return pr.startCreate(r, "compute.snapshot.create", id, d.Location, spec, body)
}

func (pr *Provider) runCreateSnapshot(ctx context.Context, op *ops.Operation) error {
	_, spec, err := opSpec[compute.SnapshotSpec](op)
	if err != nil {
		return err
	}
	if sn, err := pr.svc.SnapshotResource(ctx, spec.SnapshotID); err == nil {
		return setResult(op, http.StatusOK, sn) // taken before a crash
	}
	if _, err := pr.svc.SnapshotDisks(ctx, []compute.SnapshotSpec{spec}, nil); err != nil {
		return retryBusy(err)
	}
	if err := pr.applySettings(ctx, spec.SnapshotID, spec.Settings, nil); err != nil {
		return err
	}
	return answerCreated(ctx, pr, op, spec.SnapshotID, pr.svc.SnapshotResource)
}

func (pr *Provider) patchSnapshot(r *arm.Request, in snapshotInput) (*arm.Response, error) {
	settings, _ := settingsOf(r.Body, snapshotSettings)
	if err := pr.checkSettings(r, settings, true); err != nil {
		return nil, err
	}
	sn, err := pr.svc.SnapshotResource(r.HTTP.Context(), snapshotID(r))
	if err != nil {
		return nil, err
	}
	sku, err := in.sku(sn.Properties.Incremental)
	if err != nil {
		return nil, err
	}
	if _, err := pr.resizeSnapshot(r.HTTP.Context(), snapshotID(r), in, sn); err != nil {
		return nil, err
	}
	if sn, err = pr.svc.UpdateSnapshotTags(r.HTTP.Context(), snapshotID(r), in.Tags); err == nil {
		sn, err = pr.setSnapshotSKU(r.HTTP.Context(), snapshotID(r), sku, sn)
	}
	return pr.withSettings(r, snapshotID(r), sn, err, settings, nil)
}

func (pr *Provider) deleteSnapshot(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	sn, err := pr.svc.SnapshotResource(ctx, snapshotID(r))
	if arm.IsNotFound(err) {
		if err := pr.checkNotCreating(ctx, snapshotID(r), "snapshot"); err != nil {
			return nil, err
		}
		return arm.NoContent(), nil
	}
	if err != nil {
		return nil, err
	}
	if err := pr.checkNoActiveAccess(ctx, sn.ID, sn.Properties.UniqueID, "Snapshot", sn.Name); err != nil {
		return nil, err
	}
	return pr.startDelete(r, "compute.snapshot.delete", sn.ID, sn.Location, sn.Properties.UniqueID)
}

type snapshotCopy struct {
	Source, Target string
	// Location is the copy's region ("": its source's, as operations
	// started before it was kept have it).
	Location string `json:",omitempty"`
	Tags     map[string]string
	// Settings kept as sent, with creationData.createOption as sent
	// (CopyStart: Safehold copies across regions the same way).
	Settings compute.Settings
	SKU      string // as sent; "": the source's
	// Full: the copy is a full snapshot (of an incremental one: its
	// request said incremental false); else it is as its source.
	Full bool `json:",omitempty"`
}

// copyIncremental is whether a copy of snapshot sn (createOption
// CopyStart when copyStart, else Copy) the request in asks for is
// incremental, as Azure has it: incremental as the request says (false
// when it does not), a full snapshot of any snapshot, an incremental one
// only of an incremental snapshot (of a disk: its family); CopyStart copies
// an incremental snapshot to an incremental one only.
func copyIncremental(in snapshotInput, sn *compute.SnapshotResource, copyStart bool) (bool, error) {
	asked := in.Properties != nil && in.Properties.Incremental != nil
	incremental := in.incremental()
	if copyStart {
		if !sn.Properties.Incremental {
			return false, arm.BadRequestAt("properties.creationData.createOption", "BadRequest", "CopyStart copies an incremental snapshot only, and snapshot '%s' is a full snapshot. Copy it with createOption Copy (in its region), or take an incremental snapshot of its disk and copy that.", sn.Name)
		}
		if asked && !incremental {
			return false, arm.BadRequestAt("properties.incremental", "BadRequest", "CopyStart makes an incremental snapshot of incremental snapshot '%s': set 'incremental' to true (or leave it out), or copy it in its region with createOption Copy to make a full snapshot.", sn.Name)
		}
		return true, nil
	}
	if incremental && !sn.Properties.Incremental {
		return false, arm.BadRequestAt("properties.incremental", "BadRequest", "An incremental snapshot is of a managed disk, or a copy of an incremental snapshot of one, and snapshot '%s' is a full snapshot. Leave 'incremental' out (or false) to copy it as a full snapshot, or take an incremental snapshot of its disk.", sn.Name)
	}
	return incremental, nil
}

func (pr *Provider) runCopySnapshot(ctx context.Context, op *ops.Operation) error {
	_, c, err := opSpec[snapshotCopy](op)
	if err != nil {
		return err
	}
	if _, err := pr.svc.SnapshotResource(ctx, c.Target); err != nil {
		if _, err := pr.svc.CopySnapshot(ctx, c.Source, c.Target, c.Location, c.Tags, c.Full); err != nil {
			return err
		}
		if _, err := pr.setSnapshotSKU(ctx, c.Target, c.SKU, nil); err != nil {
			return err
		}
		if err := pr.applySettings(ctx, c.Target, c.Settings, nil); err != nil {
			return err
		}
	}
	return answerCreated(ctx, pr, op, c.Target, pr.svc.SnapshotResource)
}

// importSnapshot starts the import of a snapshot from a storage-account
// blob (createOption Import, sourceUri a VHD blob's URL).
func (pr *Provider) importSnapshot(r *arm.Request, id string, in snapshotInput, settings compute.Settings, sku string) (*arm.Response, error) {
	cd := in.Properties.CreationData
	src, acct, err := pr.blobSource(r, cd.SourceURI, cd.StorageAccountID)
	if err != nil {
		return nil, err
	}
	if src == nil {
		return nil, arm.BadRequest("InvalidParameter", "'creationData.sourceUri' '%s' is not a blob URL: a snapshot imports https://{account}.blob.core.windows.net/{container}/{blob}.", cd.SourceURI)
	}
	if err := r.CheckLinked(readLink(acct)); err != nil {
		return nil, err
	}
	spec := compute.SnapshotImport{ID: id, Location: *in.Location, Tags: in.Tags, Source: src, StorageAccountID: cd.StorageAccountID,
		OSType: in.Properties.OSType, HyperVGeneration: in.Properties.HyperVGeneration, SKU: sku}
	if gb := in.Properties.DiskSizeGB; gb != nil {
		if *gb <= 0 || *gb > 32767 {
			return nil, arm.BadRequest("InvalidParameter", "The value %d of parameter 'diskSizeGB' is out of range. The value must be between 1 and 32767, inclusive.", *gb)
		}
		spec.SizeBytes = *gb << 30
	}
	if err := pr.svc.CheckSnapshotImport(r.HTTP.Context(), &spec); err != nil {
		return nil, err
	}
	body := &compute.SnapshotResource{Tracked: compute.Tracked{ID: id, Name: r.Param("snapshotName"), Type: compute.SnapshotType, Location: resource.NormLocation(*in.Location), Tags: in.Tags,
		SKU: compute.SKUOf(sku)},
		Properties: compute.SnapshotProperties{
			BlockProperties: compute.BlockProperties{CreationData: compute.CreationData{CreateOption: "Import", SourceURI: src.URI, StorageAccountID: cd.StorageAccountID},
				DiskState: compute.StateUnattached, ProvisioningState: "Creating", TimeCreated: pr.p.Now().UTC()},
			OSType: spec.OSType, HyperVGeneration: spec.HyperVGeneration, Settings: settings}}
	return pr.startCreate(r, "compute.snapshot.import", id, spec.Location, snapshotImport{Import: spec, Settings: settings}, body)
}

type snapshotImport struct {
	Import   compute.SnapshotImport
	Settings compute.Settings
}

func (pr *Provider) runImportSnapshot(ctx context.Context, op *ops.Operation) error {
	_, in, err := opSpec[snapshotImport](op)
	if err != nil {
		return err
	}
	if _, err := pr.svc.SnapshotResource(ctx, in.Import.ID); err != nil {
		if _, err := pr.svc.ImportSnapshot(ctx, in.Import); err != nil {
			return retryBusy(err)
		}
		if err := pr.applySettings(ctx, in.Import.ID, in.Settings, nil); err != nil {
			return err
		}
	}
	return answerCreated(ctx, pr, op, in.Import.ID, pr.svc.SnapshotResource)
}
