package resources_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armsubscriptions"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/resource"
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

// TestLocationsSayWhereTheyAre: each location of the subscription's list
// answers what Azure's does beyond its names (its GetLocations example):
// its coordinates and physical location, the region it is paired with (a
// region of the list, named by name and id), and the subscription's
// mapping of the logical zones 1 to 3 to the region's physical zones (a
// permutation of them, the same at every read). The list answered none of
// them, so a client placing a disaster-recovery copy in the paired region,
// or matching zones across subscriptions, found nothing (Azure's
// GetLocations example failed to replay for it).
func TestLocationsSayWhereTheyAre(t *testing.T) {
	e := testserver.Start(t)
	f, err := armsubscriptions.NewClientFactory(e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	c := f.NewClient()
	list := func() map[string]*armsubscriptions.Location {
		out := map[string]*armsubscriptions.Location{}
		for page := range fixture.Pages(t, c.NewListLocationsPager(e.Sub, nil)) {
			for _, l := range page.Value {
				out[*l.Name] = l
			}
		}
		return out
	}
	first, again := list(), list()
	if len(first) == 0 {
		t.Fatal("no locations")
	}
	for name, l := range first {
		m := l.Metadata
		if m == nil || m.Latitude == nil || m.Longitude == nil || m.PhysicalLocation == nil || *m.PhysicalLocation == "" {
			t.Errorf("location %s: metadata %+v", name, m)
			continue
		}
		lat, err1 := strconv.ParseFloat(*m.Latitude, 64)
		long, err2 := strconv.ParseFloat(*m.Longitude, 64)
		if err1 != nil || err2 != nil || lat < -90 || lat > 90 || long < -180 || long > 180 {
			t.Errorf("location %s: coordinates %q, %q", name, *m.Latitude, *m.Longitude)
		}
		for _, p := range m.PairedRegion {
			if first[*p.Name] == nil || p.ID == nil || *p.ID != "/subscriptions/"+e.Sub+"/locations/"+*p.Name {
				t.Errorf("location %s: paired with %s (%v), not a location of the list", name, *p.Name, p.ID)
			}
		}
		var zones []string
		for i, z := range l.AvailabilityZoneMappings {
			if *z.LogicalZone != strconv.Itoa(i+1) {
				t.Errorf("location %s: logical zone %s at %d", name, *z.LogicalZone, i)
			}
			if *again[name].AvailabilityZoneMappings[i].PhysicalZone != *z.PhysicalZone {
				t.Errorf("location %s: zone %s is %s, then %s", name, *z.LogicalZone, *z.PhysicalZone, *again[name].AvailabilityZoneMappings[i].PhysicalZone)
			}
			zones = append(zones, *z.PhysicalZone)
		}
		slices.Sort(zones)
		want := []string{name + "-az1", name + "-az2", name + "-az3"}
		if resource.Zones(name) == nil {
			want = nil // a region without zones maps none
		}
		if !slices.Equal(zones, want) {
			t.Errorf("location %s: physical zones %v, want a permutation of %v", name, zones, want)
		}
	}
	// Azure's regions: West US, North Central US and UK West have no
	// zones; East US, West Europe and Japan East have three.
	for name, n := range map[string]int{"westus": 0, "northcentralus": 0, "ukwest": 0, "eastus": 3, "westeurope": 3, "japaneast": 3} {
		if got := len(first[name].AvailabilityZoneMappings); got != n {
			t.Errorf("location %s: %d zones, want %d", name, got, n)
		}
	}
	for name, paired := range map[string]string{"eastus": "westus", "westeurope": "northeurope", "australiacentral2": "australiacentral"} {
		if p := first[name].Metadata.PairedRegion; len(p) != 1 || *p[0].Name != paired {
			t.Errorf("%s is paired with %v, want %s", name, p, paired)
		}
	}
	if p := first["eastus"].Metadata; *p.PhysicalLocation != "Virginia" || *p.Latitude != "37.3719" {
		t.Errorf("eastus is in %s at %s", *p.PhysicalLocation, *p.Latitude)
	}
}
