package compute_test

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestDiskAccessInAnEdgeZoneIsRefused: a disk access asked for in an edge
// zone (extendedLocation) is refused as a disk is, 400
// LocationNotAvailableForResourceType naming extendedLocation (Safehold has
// no edge zones), and none is made; a PUT of an existing access that
// names one is 409 PropertyChangeNotAllowed, and one without it keeps the
// access as it is. The access was made and answered the edge zone it
// was never in.
func TestDiskAccessInAnEdgeZoneIsRefused(t *testing.T) {
	e, ctx := start(t)
	da := testserver.Factory(e.Env, armcompute.NewClientFactory).NewDiskAccessesClient()
	edge := &armcompute.ExtendedLocation{Name: to.Ptr("microsoftlosangeles1"), Type: to.Ptr(armcompute.ExtendedLocationTypesEdgeZone)}
	_, err := fixture.Wait(da.BeginCreateOrUpdate(ctx, e.rg, "edge", armcompute.DiskAccess{Location: to.Ptr("westus"), ExtendedLocation: edge}, nil))
	re := testserver.WantError(t, "a disk access in an edge zone", err, 400, "LocationNotAvailableForResourceType")
	if !strings.Contains(re.Error(), "extendedLocation") {
		t.Fatalf("the refusal does not name extendedLocation: %v", re)
	}
	if _, err := da.Get(ctx, e.rg, "edge", nil); !testserver.HasError(err, 404, "") {
		t.Fatalf("the refused disk access exists: %v", err)
	}
	if _, err := fixture.Wait(da.BeginCreateOrUpdate(ctx, e.rg, "a1", armcompute.DiskAccess{Location: to.Ptr("westus")}, nil)); err != nil {
		t.Fatal(err)
	}
	_, err = fixture.Wait(da.BeginCreateOrUpdate(ctx, e.rg, "a1", armcompute.DiskAccess{Location: to.Ptr("westus"), ExtendedLocation: edge}, nil))
	testserver.WantError(t, "moving a disk access to an edge zone", err, 409, "PropertyChangeNotAllowed")
	a, err := fixture.Wait(da.BeginCreateOrUpdate(ctx, e.rg, "a1", armcompute.DiskAccess{Location: to.Ptr("westus"), Tags: map[string]*string{"k": to.Ptr("v")}}, nil))
	if err != nil || a.ExtendedLocation != nil || *a.Tags["k"] != "v" {
		t.Fatalf("a PUT without extendedLocation: %v %+v", err, a)
	}
}
