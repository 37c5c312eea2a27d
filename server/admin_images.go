package server

import (
	"strings"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/compute"
)

// The platform image catalog (what `az vm image list/show` reads and what
// a disk's creationData.imageReference names): Safehold has no
// marketplace, so an operator imports the images, each a version of
// {location}/{publisher}/{offer}/{sku}, its bytes captured from a disk or
// snapshot (the CLI uploads a file into a disk first: safehold image
// import).
//
//	PUT    /providers/Safehold.Admin/vmImages/{location}/{publisher}/{offer}/{sku}/{version}
//	       {"osType": "Linux", "hyperVGeneration": "V1", "architecture": "x64",
//	        "plan": {"name": .., "product": .., "publisher": ..},
//	        "features": [{"name": "IsAcceleratedNetworkSupported", "value": "True"}],
//	        "osDisk": {"sourceId": DISK_OR_SNAPSHOT_ID},
//	        "dataDisks": [{"lun": 0, "sourceId": DISK_OR_SNAPSHOT_ID}]}
//	DELETE the same path.
//
// The caller needs read access to each source as well as the Owner role.

type vmImageInput struct {
	OSType           string                 `json:"osType"`
	HyperVGeneration string                 `json:"hyperVGeneration"`
	Architecture     string                 `json:"architecture"`
	Plan             *compute.ImagePlan     `json:"plan"`
	Features         []compute.ImageFeature `json:"features"`
	OSDisk           *struct {
		SourceID string `json:"sourceId"`
	} `json:"osDisk"`
	DataDisks []struct {
		Lun      *int32 `json:"lun"`
		SourceID string `json:"sourceId"`
	} `json:"dataDisks"`
}

const vmImagePath = "/vmImages/{location}/{publisher}/{offer}/{sku}/{version}"

func (s *Server) vmImageImport(r *arm.Request) (*arm.Response, error) {
	var in vmImageInput
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	if in.OSDisk == nil || in.OSDisk.SourceID == "" {
		return nil, arm.BadRequest("InvalidParameter", "osDisk.sourceId is required: the id of the managed disk or snapshot holding the image's OS disk.")
	}
	spec := compute.VMImageSpec{VMImage: compute.VMImage{Location: r.Param("location"), Publisher: r.Param("publisher"), Offer: r.Param("offer"),
		SKU: r.Param("sku"), Version: r.Param("version"), OSType: in.OSType, HyperVGeneration: in.HyperVGeneration, Architecture: in.Architecture,
		Plan: in.Plan, Features: in.Features}}
	spec.Sources = append(spec.Sources, compute.ImageSource{SourceID: in.OSDisk.SourceID})
	for _, d := range in.DataDisks {
		if d.Lun == nil {
			return nil, arm.BadRequest("InvalidParameter", "Each of dataDisks needs its lun.")
		}
		spec.Sources = append(spec.Sources, compute.ImageSource{Lun: d.Lun, SourceID: d.SourceID})
	}
	ctx := r.HTTP.Context()
	for _, src := range spec.Sources {
		rid, err := arm.ParseID(src.SourceID)
		if err != nil || rid.Namespace == "" {
			continue // validation answers it
		}
		if err := s.Authz.Check(ctx, r.Caller(), rid.Type()+"/read", rid.String()); err != nil {
			return nil, err
		}
	}
	img, err := s.Compute.ImportVMImage(ctx, spec)
	if err != nil {
		return nil, err
	}
	s.logger.Info("platform image imported", "image", strings.Join([]string{img.Location, img.Publisher, img.Offer, img.SKU, img.Version}, "/"))
	return arm.OK(vmImageBody(img)), nil
}

func (s *Server) vmImageDelete(r *arm.Request) (*arm.Response, error) {
	if err := s.Compute.DeleteVMImage(r.HTTP.Context(), r.Param("location"), r.Param("publisher"), r.Param("offer"), r.Param("sku"), r.Param("version")); err != nil {
		return nil, err
	}
	return arm.OK(nil), nil
}

func vmImageBody(img *compute.VMImage) map[string]any {
	disks := []map[string]any{}
	for _, d := range img.Content.DataDisks {
		disks = append(disks, map[string]any{"lun": *d.Lun, "sizeBytes": d.SizeBytes, "source": d.Source})
	}
	return map[string]any{"location": img.Location, "publisher": img.Publisher, "offer": img.Offer, "sku": img.SKU, "version": img.Version,
		"osType": img.OSType, "hyperVGeneration": img.HyperVGeneration, "architecture": img.Architecture, "plan": img.Plan, "features": img.Features,
		"osDisk": map[string]any{"sizeBytes": img.Content.OSDisk.SizeBytes, "source": img.Content.OSDisk.Source}, "dataDisks": disks}
}
