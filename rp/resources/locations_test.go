package resources_test

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armsubscriptions"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestLocationsHaveDisplayNames: the subscription's locations (armsubscriptions'
// ListLocations, az account list-locations) answer each region's display
// name ("East US"), regional display name ("(US) East US"), geography group
// and geography, as Azure's do (its GetLocations example): they answered the
// name ("eastus") as the display name, so a script mapping a display name
// to a name through the list (az account list-locations --query
// "[?displayName=='East US'].name") found nothing. Each display name is
// its region in a spelling a resource's location takes: a group created at
// the display name is in the region.
func TestLocationsHaveDisplayNames(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	f, err := armsubscriptions.NewClientFactory(e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	c := f.NewClient()
	byDisplay := map[string]string{}
	n := 0
	for page := range fixture.Pages(t, c.NewListLocationsPager(e.Sub, nil)) {
		for _, l := range page.Value {
			n++
			name, display := *l.Name, *l.DisplayName
			if display == name || strings.ToLower(strings.ReplaceAll(display, " ", "")) != name {
				t.Errorf("location %s: display name %q", name, display)
			}
			m := l.Metadata
			if m == nil || m.GeographyGroup == nil || *m.GeographyGroup == "" || m.Geography == nil || *m.Geography == "" || m.RegionCategory == nil {
				t.Errorf("location %s: metadata %+v", name, m)
				continue
			}
			if want := "(" + *m.GeographyGroup + ") " + display; *l.RegionalDisplayName != want {
				t.Errorf("location %s: regional display name %q, want %q", name, *l.RegionalDisplayName, want)
			}
			byDisplay[display] = name
		}
	}
	if n == 0 || byDisplay["East US"] != "eastus" || byDisplay["Australia Central 2"] != "australiacentral2" || byDisplay["UAE North"] != "uaenorth" {
		t.Fatalf("%d locations; by display name: %v", n, byDisplay)
	}
	rg := testserver.Factory(e, armresources.NewClientFactory).NewResourceGroupsClient()
	got, err := rg.CreateOrUpdate(ctx, "by-display-name", armresources.ResourceGroup{Location: to.Ptr("Australia Central 2")}, nil)
	if err != nil || *got.Location != byDisplay["Australia Central 2"] {
		t.Fatalf("a group at a display name: %v %v", err, got.Location)
	}
}
