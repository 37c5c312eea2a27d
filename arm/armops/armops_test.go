package armops

import (
	"strings"
	"testing"
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
