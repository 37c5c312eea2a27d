package compute

import (
	"context"
	"net/http"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/ops"
)

// Azure Compute Galleries: galleries, image definitions and image versions
// (a version's content is captured from a disk or snapshot: a long-running
// operation, the version visible as Creating meanwhile).

func (pr *Provider) registerGalleries(rt *arm.Router) {
	gallery := rgPrefix + "/galleries/{galleryName}"
	image := gallery + "/images/{galleryImageName}"
	version := image + "/versions/{galleryImageVersionName}"
	galleryList := func(r *arm.Request) (*arm.Response, error) {
		scope, err := pr.listScope(r)
		if err != nil {
			return nil, err
		}
		gs, err := pr.svc.ListGalleries(r.HTTP.Context(), scope)
		if err != nil {
			return nil, err
		}
		return arm.PageOK(r, gs, 1000)
	}
	rt.HandleResource(gallery, arm.Methods{List: galleryList, Get: getByID(galleryID, pr.svc.Gallery), Put: putByID(galleryID, pr.svc.PutGallery), Patch: pr.patchGallery, Delete: pr.deleteGalleryChild(galleryID)})
	rt.Handle("GET", subPrefix+"/galleries", galleryList)
	rt.Handle("POST", gallery+"/share", pr.shareGallery)
	rt.HandleResource(image, arm.Methods{
		List: func(r *arm.Request) (*arm.Response, error) {
			ims, err := pr.svc.ListGalleryImages(r.HTTP.Context(), galleryID(r))
			if err != nil {
				return nil, err
			}
			return arm.PageOK(r, ims, 1000)
		},
		Get:    getByID(galleryImageID, pr.svc.GalleryImage),
		Put:    putByID(galleryImageID, pr.svc.PutGalleryImage),
		Delete: pr.deleteGalleryChild(galleryImageID),
	})
	rt.HandleResource(version, arm.Methods{
		List: func(r *arm.Request) (*arm.Response, error) {
			vs, err := pr.svc.ListGalleryImageVersions(r.HTTP.Context(), galleryImageID(r))
			if err != nil {
				return nil, err
			}
			return pageWithCreating(r.HTTP.Context(), pr, r, galleryImageID(r), compute.GalleryImageVersionType, vs, func(v *compute.GalleryImageVersionResource) string { return v.ID })
		},
		Get:    getWithCreating(pr, galleryVersionID, pr.svc.GalleryImageVersion),
		Put:    pr.putGalleryVersion,
		Delete: pr.deleteGalleryVersion,
	})
	pr.p.Ops.Register("compute.galleryversion.create", pr.runCreateGalleryVersion)
}

func galleryID(r *arm.Request) string { return computeID(r, "galleries", r.Param("galleryName")) }

func galleryImageID(r *arm.Request) string {
	return galleryID(r) + "/images/" + r.Param("galleryImageName")
}

func galleryVersionID(r *arm.Request) string {
	return galleryImageID(r) + "/versions/" + r.Param("galleryImageVersionName")
}

// getByID is a GET handler: the resource that idOf names, read with read.
func getByID[R any](idOf func(*arm.Request) string, read func(context.Context, string) (R, error)) arm.Handler {
	return func(r *arm.Request) (*arm.Response, error) {
		res, err := read(r.HTTP.Context(), idOf(r))
		if err != nil {
			return nil, err
		}
		return arm.OK(res), nil
	}
}

// putByID is the PUT handler of a resource the service creates or updates
// in one call (galleries, image definitions): the body, its id the one
// idOf names, stored with put; 201 when put created it.
func putByID[T any, P interface {
	*T
	SetID(string)
}](idOf func(*arm.Request) string, put func(context.Context, P) (bool, error)) arm.Handler {
	return func(r *arm.Request) (*arm.Response, error) {
		v := P(new(T))
		if err := r.Decode(v); err != nil {
			return nil, err
		}
		v.SetID(idOf(r))
		created, err := put(r.HTTP.Context(), v)
		if err != nil {
			return nil, err
		}
		return arm.CreatedOrOK(created, v), nil
	}
}

// patchGallery updates a gallery's tags, description and sharing profile.
func (pr *Provider) patchGallery(r *arm.Request) (*arm.Response, error) {
	var in struct {
		Tags       map[string]string `json:"tags"`
		Properties *struct {
			Description    *string                 `json:"description"`
			SharingProfile *compute.SharingProfile `json:"sharingProfile"`
		} `json:"properties"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	g, err := pr.svc.UpdateGallery(r.HTTP.Context(), galleryID(r), func(g *compute.GalleryResource) {
		if in.Tags != nil {
			g.Tags = in.Tags
		}
		if p := in.Properties; p != nil {
			if p.Description != nil {
				g.Properties.Description = *p.Description
			}
			if p.SharingProfile != nil {
				sp := *p.SharingProfile // (each try changes its own copy)
				g.Properties.SharingProfile = &sp
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return arm.OK(g), nil
}

// deleteGalleryChild deletes a gallery or an image definition (refused
// while it holds image definitions or versions).
func (pr *Provider) deleteGalleryChild(id func(*arm.Request) string) arm.Handler {
	return func(r *arm.Request) (*arm.Response, error) {
		if err := checkRG(r.HTTP.Context(), pr, r); err != nil {
			return nil, err
		}
		err := pr.svc.DeleteGalleryChild(r.HTTP.Context(), id(r))
		if arm.IsNotFound(err) {
			return arm.NoContent(), nil
		}
		if err != nil {
			return nil, err
		}
		return arm.OK(nil), nil
	}
}

func (pr *Provider) putGalleryVersion(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	var v compute.GalleryImageVersionResource
	if err := r.Decode(&v); err != nil {
		return nil, err
	}
	v.ID = galleryVersionID(r)
	// Linked access first: the caller must be allowed to read what the
	// version captures.
	sp := v.Properties.StorageProfile
	var links []arm.Link
	if sp.Source != nil {
		links = append(links, readLink(sp.Source.ID))
	}
	if sp.OSDiskImage != nil && sp.OSDiskImage.Source != nil {
		links = append(links, readLink(sp.OSDiskImage.Source.ID))
	}
	for _, d := range sp.DataDiskImages {
		if d.Source != nil {
			links = append(links, readLink(d.Source.ID))
		}
	}
	if err := r.CheckLinked(links...); err != nil {
		return nil, err
	}
	if err := pr.checkNotCreating(ctx, v.ID, "gallery image version"); err != nil {
		return nil, err
	}
	if err := pr.svc.CheckGalleryImageVersion(ctx, &v); err != nil {
		return nil, err
	}
	body := v
	body.Properties.ProvisioningState = "Creating"
	return pr.startCreate(r, "compute.galleryversion.create", v.ID, v.Location, v, &body)
}

func (pr *Provider) runCreateGalleryVersion(ctx context.Context, op *ops.Operation) error {
	_, v, err := opSpec[compute.GalleryImageVersionResource](op)
	if err != nil {
		return err
	}
	if got, err := pr.svc.GalleryImageVersion(ctx, v.ID); err == nil && got.Properties.PublishingProfile != nil {
		if t, perr := time.Parse(time.RFC3339Nano, got.Properties.PublishingProfile.PublishedDate); perr == nil && !t.Before(op.StartTime.Add(-time.Second)) {
			return setResult(op, http.StatusOK, got) // created before a crash
		}
	}
	if _, err := pr.svc.CreateGalleryImageVersion(ctx, &v); err != nil {
		return retryBusy(err)
	}
	return answerCreated(ctx, pr, op, v.ID, pr.svc.GalleryImageVersion)
}

func (pr *Provider) deleteGalleryVersion(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	id := galleryVersionID(r)
	if err := pr.checkNotCreating(ctx, id, "gallery image version"); err != nil {
		return nil, err
	}
	err := pr.svc.DeleteGalleryImageVersion(ctx, id)
	if arm.IsNotFound(err) {
		return noneToDelete(ctx, pr, r)
	}
	if err != nil {
		return nil, err
	}
	return arm.OK(nil), nil
}

// shareGallery is the share action: Add or Remove groups, Reset to
// private, EnableCommunity.
func (pr *Provider) shareGallery(r *arm.Request) (*arm.Response, error) {
	var in struct {
		OperationType string                 `json:"operationType"`
		Groups        []compute.SharingGroup `json:"groups"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	g, err := pr.svc.ShareGallery(r.HTTP.Context(), galleryID(r), in.OperationType, in.Groups)
	if err != nil {
		return nil, err
	}
	return arm.OK(map[string]any{"operationType": in.OperationType, "groups": g.Properties.SharingProfile.Groups}), nil
}
