package compute

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/ops"
)

// diskInput is a disk PUT/PATCH body.
type diskInput struct {
	Location *string           `json:"location"`
	Tags     map[string]string `json:"tags"`
	SKU      *struct {
		Name string `json:"name"`
	} `json:"sku"`
	Zones      []string `json:"zones"`
	Properties *struct {
		CreationData *struct {
			CreateOption     string `json:"createOption"`
			SourceResourceID string `json:"sourceResourceId"`
			SourceURI        string `json:"sourceUri"`
			UploadSizeBytes  int64  `json:"uploadSizeBytes"`
		} `json:"creationData"`
		DiskSizeGB       *int64 `json:"diskSizeGB"`
		OSType           string `json:"osType"`
		HyperVGeneration string `json:"hyperVGeneration"`
	} `json:"properties"`
}

type accessInput struct {
	Access            string `json:"access"`
	DurationInSeconds int64  `json:"durationInSeconds"`
}

func (pr *Provider) registerDisks(rt *arm.Router) {
	one := rgPrefix + "/disks/{diskName}"
	rt.Handle("PUT", one, pr.putDisk)
	rt.Handle("PATCH", one, pr.patchDisk)
	rt.Handle("GET", one, pr.getDisk)
	rt.Handle("DELETE", one, pr.deleteDisk)
	rt.Handle("GET", rgPrefix+"/disks", pr.listDisks)
	rt.Handle("GET", subPrefix+"/disks", pr.listDisks)
	rt.Handle("POST", one+"/beginGetAccess", pr.beginGetAccess)
	rt.Handle("POST", one+"/endGetAccess", pr.endGetAccess)
	pr.p.Ops.Register("compute.disk.create", pr.runCreateDisk)
	pr.p.Ops.Register("compute.disk.delete", pr.runDeleteDisk)
}

func diskID(r *arm.Request) string {
	return arm.NewID(r.Param("subscriptionId"), r.Param("resourceGroupName"), "Microsoft.Compute", "disks", r.Param("diskName")).String()
}

func (pr *Provider) putDisk(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	var in diskInput
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	id := diskID(r)
	if existing, err := pr.svc.DiskResource(ctx, id); err == nil {
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
		d, err := pr.svc.UpdateDisk(ctx, id, u)
		if err != nil {
			return nil, err
		}
		return arm.OK(d), nil
	} else if !isNotFound(err) {
		return nil, err
	}
	spec := compute.DiskSpec{ID: id, Tags: in.Tags, Zones: in.Zones}
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
	if in.Properties.DiskSizeGB != nil {
		if *in.Properties.DiskSizeGB <= 0 || *in.Properties.DiskSizeGB > 32767 {
			return nil, arm.BadRequest("InvalidParameter", "The value %d of parameter 'diskSizeGB' is out of range. The value must be between 1 and 32767, inclusive.", *in.Properties.DiskSizeGB)
		}
		spec.SizeBytes = *in.Properties.DiskSizeGB << 30
	}
	if err := pr.svc.CheckDiskSpec(ctx, &spec); err != nil {
		return nil, err
	}
	switch spec.CreateOption {
	case "Empty", "Upload":
		if _, err := pr.svc.CreateDisk(ctx, spec); err != nil {
			return nil, err
		}
		d, err := pr.svc.DiskResource(ctx, id)
		if err != nil {
			return nil, err
		}
		return arm.OK(d), nil
	default:
		// Copy and Import move data: a long-running operation.
		return pr.start(r, "compute.disk.create", id, spec.Location, spec, 0, nil)
	}
}

func (pr *Provider) runCreateDisk(ctx context.Context, op *ops.Operation) error {
	var in opInput
	if err := op.DecodeInput(&in); err != nil {
		return err
	}
	var spec compute.DiskSpec
	if err := jsonUnmarshal(in.Spec, &spec); err != nil {
		return err
	}
	if d, err := pr.svc.DiskResource(ctx, spec.ID); err == nil && !d.Properties.TimeCreated.Before(op.StartTime.Add(-time.Second)) {
		return setResult(op, http.StatusOK, d) // created before a crash
	}
	if _, err := pr.svc.CreateDisk(ctx, spec); err != nil {
		return err
	}
	d, err := pr.svc.DiskResource(ctx, spec.ID)
	if err != nil {
		return err
	}
	return setResult(op, http.StatusOK, d)
}

func (pr *Provider) patchDisk(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	var in diskInput
	if err := r.Decode(&in); err != nil {
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
	d, err := pr.svc.UpdateDisk(ctx, diskID(r), u)
	if err != nil {
		return nil, err
	}
	return arm.OK(d), nil
}

func (pr *Provider) getDisk(r *arm.Request) (*arm.Response, error) {
	d, err := pr.svc.DiskResource(r.HTTP.Context(), diskID(r))
	if err != nil {
		return nil, err
	}
	return arm.OK(d), nil
}

func (pr *Provider) listDisks(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	scope := "/subscriptions/" + r.Param("subscriptionId")
	if rg := r.Param("resourceGroupName"); rg != "" {
		if err := checkRG(ctx, pr, r); err != nil {
			return nil, err
		}
		scope += "/resourceGroups/" + rg
	}
	ds, err := pr.svc.ListDisks(ctx, scope)
	if err != nil {
		return nil, err
	}
	l, err := arm.Page(r, ds, 1000)
	if err != nil {
		return nil, err
	}
	return arm.OK(l), nil
}

func (pr *Provider) deleteDisk(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	id := diskID(r)
	d, err := pr.svc.DiskResource(ctx, id)
	if isNotFound(err) {
		return arm.NoContent(), nil
	}
	if err != nil {
		return nil, err
	}
	if d.ManagedBy != "" {
		return nil, arm.Conflict("OperationNotAllowed", "Disk %s is attached to VM %s. Detach the disk or delete the VM first.", d.Name, d.ManagedBy)
	}
	return pr.start(r, "compute.disk.delete", d.ID, d.Location, nil, 0, nil)
}

func (pr *Provider) runDeleteDisk(ctx context.Context, op *ops.Operation) error {
	var in opInput
	if err := op.DecodeInput(&in); err != nil {
		return err
	}
	if err := pr.svc.DeleteDisk(ctx, in.ResourceID); err != nil && !isNotFound(err) {
		return err
	}
	op.ResultStatus = http.StatusOK
	return nil
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
	g, err := pr.svc.GrantAccess(ctx, id, in.Access, time.Duration(in.DurationInSeconds)*time.Second)
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
	return pr.completed(r, "compute.grant", id, loc, map[string]any{"accessSAS": sas})
}

func (pr *Provider) revoke(r *arm.Request, id string) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	loc, err := pr.location(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := pr.svc.RevokeAccess(ctx, id); err != nil {
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
