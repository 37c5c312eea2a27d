package compute_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// Two PATCHes of one gallery changing different fields (its tags, its
// description), run together: neither undoes the other.
func TestConcurrentGalleryPatchesKeepEachOther(t *testing.T) {
	e, ctx := start(t)
	gc := testserver.Factory(e.Env, armcompute.NewClientFactory).NewGalleriesClient()
	gp, err := gc.BeginCreateOrUpdate(ctx, e.rg, "gallery1", armcompute.Gallery{Location: to.Ptr("westus")}, nil)
	fixture.Done(t, gp, err)
	path := "/subscriptions/" + e.Sub + "/resourceGroups/" + e.rg + "/providers/Microsoft.Compute/galleries/gallery1?api-version=2022-03-03"
	lost := 0
	for round := range 40 {
		v := fmt.Sprint(round)
		var wg sync.WaitGroup
		wg.Add(2)
		for _, body := range []map[string]any{{"tags": map[string]string{"round": v}}, {"properties": map[string]any{"description": v}}} {
			go func() {
				defer wg.Done()
				if resp, m := e.Do("PATCH", path, body, testserver.AnyStatus()); resp.StatusCode != 200 {
					t.Errorf("round %d: PATCH %v: %d %v", round, body, resp.StatusCode, m)
				}
			}()
		}
		wg.Wait()
		g, err := gc.Get(ctx, e.rg, "gallery1", nil)
		if err != nil {
			t.Fatal(err)
		}
		if g.Tags["round"] == nil || *g.Tags["round"] != v || g.Properties.Description == nil || *g.Properties.Description != v {
			lost++
		}
	}
	if lost > 0 {
		t.Fatalf("in %d of 40 rounds one of two concurrent PATCHes (tags, description) undid the other", lost)
	}
}
