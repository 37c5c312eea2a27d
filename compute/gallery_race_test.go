package compute_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/failure"
)

// An image definition deleted while one of its versions is being captured
// (the version not stored yet, so the delete finds no versions) takes the
// version with it: the capture fails NotFound instead of storing a version
// under an image definition that no longer exists (which nothing lists or
// deletes, and which keeps its content).
func TestGalleryVersionOfDeletedImage(t *testing.T) {
	s := newServiceOpts(t, compute.Options{})
	ctx := context.Background()
	gal := "/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.Compute/galleries/g1"
	img, ver := gal+"/images/i1", gal+"/images/i1/versions/1.0.0"
	if _, err := s.CreateDisk(ctx, compute.DiskSpec{ID: diskID("src"), Location: "westus", CreateOption: "Empty", SizeBytes: 64 << 20}); err != nil {
		t.Fatal(err)
	}
	v, _ := s.Volume(ctx, diskID("src"))
	for off := int64(0); off < 64<<20; off += 1 << 20 {
		v.WriteAt(bytes.Repeat([]byte{byte(off >> 20), 1, 2, 3}, 1<<18), off)
	}
	if _, err := s.PutGallery(ctx, &compute.GalleryResource{Tracked: compute.Tracked{ID: gal, Location: "westus"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutGalleryImage(ctx, &compute.GalleryImageResource{Tracked: compute.Tracked{ID: img}, Properties: compute.GalleryImageProperties{
		OSType: "Linux", OSState: "Generalized", Identifier: compute.GalleryImageIdentifier{Publisher: "p", Offer: "o", SKU: "s"}}}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := s.CreateGalleryImageVersion(ctx, &compute.GalleryImageVersionResource{Tracked: compute.Tracked{ID: ver, Location: "westus"},
			Properties: compute.GalleryImageVersionProperties{StorageProfile: compute.GalleryStorageProfile{
				OSDiskImage: &compute.GalleryDiskImage{Source: &compute.GalleryDiskImageSource{ID: diskID("src")}}}}})
		done <- err
	}()
	// Delete the image definition as soon as it may be (a 409 once the
	// version is stored: then the delete comes after it, also consistent).
	delErr := s.DeleteGalleryChild(ctx, img)
	if delErr != nil && !failure.Is(delErr, failure.Conflict) {
		t.Fatalf("delete the image definition: %v", delErr)
	}
	createErr := <-done
	_, imgErr := s.GalleryImage(ctx, img)
	_, verErr := s.GalleryImageVersion(ctx, ver)
	switch {
	case delErr == nil && (verErr == nil || createErr == nil):
		t.Fatalf("the image definition was deleted, yet its version was created (create: %v, get: %v)", createErr, verErr)
	case delErr == nil && !failure.Is(createErr, failure.NotFound):
		t.Fatalf("the version's create after its image definition was deleted: %v, want NotFound", createErr)
	case delErr != nil && (createErr != nil || imgErr != nil || verErr != nil):
		t.Fatalf("the delete was refused, yet: create %v, image %v, version %v", createErr, imgErr, verErr)
	}
	if delErr != nil {
		t.Log("the version was stored before the delete: this run did not race")
	}
}
