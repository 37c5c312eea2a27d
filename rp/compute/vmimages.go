package compute

import (
	"strconv"
	"strings"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/compute"
)

// The platform image catalog as `az vm image list/show` reads it: the
// publishers, offers, skus and versions of the images an operator imported
// into a location (safehold image import), each level a JSON array of
// {id, name, location} as Azure answers, and one version's details.

// imageResource is Azure's VirtualMachineImageResource.
type imageResource struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Location string `json:"location"`
}

type imageDetail struct {
	imageResource
	Properties imageProperties `json:"properties"`
}

type imageProperties struct {
	Plan           *compute.ImagePlan     `json:"plan,omitempty"`
	OSDiskImage    map[string]any         `json:"osDiskImage"`
	DataDiskImages []map[string]any       `json:"dataDiskImages"`
	HyperVGen      string                 `json:"hyperVGeneration,omitempty"`
	Architecture   string                 `json:"architecture,omitempty"`
	Features       []compute.ImageFeature `json:"features,omitempty"`
	ImageDeprecate map[string]any         `json:"imageDeprecationStatus,omitempty"`
}

func (pr *Provider) registerVMImages(rt *arm.Router) {
	loc := subPrefix + "/locations/{location}/publishers"
	pub := loc + "/{publisherName}/artifacttypes/vmimage/offers"
	offer := pub + "/{offer}/skus"
	sku := offer + "/{skus}/versions"
	// Each level lists the distinct names below the one the path fixes.
	level := func(depth int) arm.Handler {
		return func(r *arm.Request) (*arm.Response, error) {
			imgs, err := pr.matchingImages(r, depth)
			if err != nil {
				return nil, err
			}
			seen := map[string]bool{}
			out := []imageResource{}
			for _, img := range imgs {
				names := []string{img.Publisher, img.Offer, img.SKU, img.Version}
				n := names[depth]
				if seen[strings.ToLower(n)] {
					continue
				}
				seen[strings.ToLower(n)] = true
				out = append(out, imageResource{ID: compute.PlatformImageID(r.Param("subscriptionId"), img, depth), Name: n, Location: img.Location})
			}
			if depth == 3 {
				out = topOrdered(r, out)
			}
			return arm.OK(out), nil
		}
	}
	read := arm.Action("Microsoft.Compute/locations/publishers/artifacttypes/offers/skus/versions/read")
	rt.Handle("GET", loc, level(0), read)
	rt.Handle("GET", pub, level(1), read)
	rt.Handle("GET", offer, level(2), read)
	rt.Handle("GET", sku, level(3), read)
	rt.Handle("GET", sku+"/{version}", pr.getVMImage, read)
}

// matchingImages are the location's images under the names the path fixes
// (depth names: 0 none, 1 the publisher, 2 and the offer, 3 and the sku).
func (pr *Provider) matchingImages(r *arm.Request, depth int) ([]*compute.VMImage, error) {
	all, err := pr.svc.VMImages(r.HTTP.Context(), r.Param("location"))
	if err != nil {
		return nil, err
	}
	fixed := []string{r.Param("publisherName"), r.Param("offer"), r.Param("skus")}[:depth]
	var out []*compute.VMImage
	for _, img := range all {
		names := []string{img.Publisher, img.Offer, img.SKU}
		ok := true
		for i, f := range fixed {
			ok = ok && strings.EqualFold(names[i], f)
		}
		if ok {
			out = append(out, img)
		}
	}
	return out, nil
}

// topOrdered applies a versions list's $orderby=name desc and $top.
func topOrdered(r *arm.Request, out []imageResource) []imageResource {
	if strings.Contains(strings.ToLower(r.Query("$orderby")), "desc") {
		for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	if n, err := strconv.Atoi(r.Query("$top")); err == nil && n >= 0 && n < len(out) {
		out = out[:n]
	}
	return out
}

func (pr *Provider) getVMImage(r *arm.Request) (*arm.Response, error) {
	img, err := pr.svc.ResolveVMImage(r.HTTP.Context(), compute.PlatformImageRef{Location: r.Param("location"), Publisher: r.Param("publisherName"),
		Offer: r.Param("offer"), SKU: r.Param("skus"), Version: r.Param("version")})
	if err != nil {
		return nil, err
	}
	d := imageDetail{imageResource: imageResource{ID: compute.PlatformImageID(r.Param("subscriptionId"), img, 3), Name: img.Version, Location: img.Location},
		Properties: imageProperties{Plan: img.Plan, HyperVGen: img.HyperVGeneration, Architecture: img.Architecture, Features: img.Features,
			OSDiskImage: map[string]any{"operatingSystem": img.OSType, "sizeInGb": compute.SizeGB(img.Content.OSDisk.SizeBytes)}, DataDiskImages: []map[string]any{},
			ImageDeprecate: map[string]any{"imageState": "Active"}}}
	for _, dd := range img.Content.DataDisks {
		d.Properties.DataDiskImages = append(d.Properties.DataDiskImages, map[string]any{"lun": *dd.Lun, "sizeInGb": compute.SizeGB(dd.SizeBytes)})
	}
	return arm.OK(d), nil
}
