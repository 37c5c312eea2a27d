package armops

import (
	"strings"
	"testing"

	"github.com/safehold/safehold/ops"
)

func TestRouteCovers(t *testing.T) {
	const sub = "/subscriptions/s1"
	vault := sub + "/resourceGroups/rg/providers/Microsoft.RecoveryServices/vaults/v1"
	item := vault + "/backupFabrics/Azure/protectionContainers/c/protectedItems/i"
	for _, c := range []struct {
		route, resource string
		want            bool
	}{
		{vault + "/operationStatus/x", vault, true},
		{vault + "/operationResults/x", item, true},
		{item + "/operationResults/x", vault, true}, // same vault
		{strings.Replace(vault, "vaults/v1", "vaults/v2", 1) + "/operationStatus/x", vault, false},
		{sub + "/resourceGroups/RG/providers/Microsoft.DataProtection/operationStatus/x", vault, true},
		{sub + "/resourceGroups/other/providers/Microsoft.DataProtection/operationStatus/x", vault, false},
		{sub + "/providers/Microsoft.Compute/locations/westus/operations/x", sub + "/resourceGroups/rg/providers/Microsoft.Compute/disks/d", true},
		{"/subscriptions/s2/providers/Microsoft.Compute/locations/westus/operations/x", sub + "/resourceGroups/rg/providers/Microsoft.Compute/disks/d", false},
		{sub + "/operationresults/x", sub + "/resourceGroups/rg", true},
		{sub + "/operationresults/x", "", false},
		{vault + "/backupJobs/operations/x", vault, true},
	} {
		if got := routeCovers(c.route, c.resource); got != c.want {
			t.Errorf("routeCovers(%s, %s) = %v, want %v", c.route, c.resource, got, c.want)
		}
	}
}

func TestLocationCovers(t *testing.T) {
	const sub = "/subscriptions/s1"
	for _, c := range []struct {
		route, opLocation, statusPath string
		want                          bool
	}{
		{sub + "/providers/Microsoft.Compute/locations/westus/operations/x", "westus", "", true},
		{sub + "/providers/Microsoft.Compute/locations/WestUS/operations/x", "westus", "", true},
		{sub + "/providers/Microsoft.Compute/locations/eastus/operations/x", "westus", "", false},
		{sub + "/providers/Microsoft.DataProtection/locations/eastus/operationResults/x", "West US", "", false},
		{sub + "/providers/Microsoft.Compute/locations/eastus/operations/x", "", sub + "/providers/Microsoft.Compute/locations/westus/operations/x", false},
		{sub + "/providers/Microsoft.Compute/locations/eastus/operations/x", "", "", true},             // recorded without its region
		{sub + "/providers/Microsoft.Compute/locations/west%2520us/operations/x", "west us", "", true}, // 'West US' escaped twice in the polling URL
		{sub + "/providers/Microsoft.Compute/locations/west%20us/operations/x", "westus", "", true},
		{sub + "/providers/Microsoft.Compute/locations/east%20us/operations/x", "west us", "", false},
		{sub + "/resourceGroups/rg/providers/Microsoft.DataProtection/backupVaults/v/operationStatus/x", "westus", "", true},
	} {
		if got := locationCovers(c.route, &ops.Operation{Location: c.opLocation, StatusPath: c.statusPath}); got != c.want {
			t.Errorf("locationCovers(%s, %q, %q) = %v, want %v", c.route, c.opLocation, c.statusPath, got, c.want)
		}
	}
}
