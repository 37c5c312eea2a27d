package server_test

import (
	"testing"

	"github.com/safehold/safehold/internal/testserver"
)

// TestUnknownLocationRefused: as ARM does for a resource group, a new
// resource in a region that does not exist is 400
// LocationNotAvailableForResourceType, whichever provider serves it;
// regions in any spelling ARM accepts ("West US") are fine.
func TestUnknownLocationRefused(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("rg")
	base := "/subscriptions/" + e.Sub + "/resourceGroups/rg/providers/"
	disk := base + "Microsoft.Compute/disks/d1?api-version=2024-03-02"
	diskBody := func(loc string) string {
		return `{"location":"` + loc + `","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}`
	}
	resp, m := e.Do("PUT", disk, diskBody("West US"))
	if resp.StatusCode != 200 && resp.StatusCode != 201 && resp.StatusCode != 202 {
		t.Fatalf("disk in West US: %d %v", resp.StatusCode, m)
	}
	diskID := "/subscriptions/" + e.Sub + "/resourceGroups/rg/providers/Microsoft.Compute/disks/d1"
	for _, c := range []struct{ url, body string }{
		{base + "Microsoft.Compute/disks/d2?api-version=2024-03-02", diskBody("nowhere")},
		{base + "Microsoft.Compute/snapshots/s1?api-version=2024-03-02", `{"location":"nowhere","properties":{"creationData":{"createOption":"Copy","sourceResourceId":"` + diskID + `"}}}`},
		{base + "Microsoft.Compute/virtualMachines/vm1?api-version=2024-11-01", `{"location":"nowhere","properties":{"hardwareProfile":{"vmSize":"Standard_D2s_v3"},"storageProfile":{"osDisk":{"osType":"Linux","createOption":"Attach","managedDisk":{"id":"` + diskID + `"}}}}}`},
		{base + "Microsoft.RecoveryServices/vaults/rv?api-version=2023-04-01", `{"location":"nowhere","sku":{"name":"Standard"}}`},
		{base + "Microsoft.DataProtection/backupVaults/bv?api-version=2023-05-01", `{"location":"nowhere","identity":{"type":"SystemAssigned"},"properties":{"storageSettings":[{"datastoreType":"VaultStore","type":"LocallyRedundant"}]}}`},
		{base + "Microsoft.Storage/storageAccounts/sa1nowhere?api-version=2023-01-01", `{"location":"nowhere","kind":"StorageV2","sku":{"name":"Standard_LRS"}}`},
	} {
		resp, m := e.Do("PUT", c.url, c.body)
		if resp.StatusCode != 400 || testserver.ErrorCode(m) != "LocationNotAvailableForResourceType" {
			t.Errorf("PUT %s in location nowhere: %d %v", c.url, resp.StatusCode, m)
		}
		if resp, _ := e.Do("GET", c.url, nil); resp.StatusCode != 404 {
			t.Errorf("GET %s after the refused PUT: %d", c.url, resp.StatusCode)
		}
	}
	// A region's compute usages and quotas: of known regions only.
	quota := "/providers/Safehold.Admin/computeQuotas/" + e.Sub + "/nowhere?api-version=2024-01-01"
	for _, c := range []struct{ method, url, body string }{
		{"GET", "/subscriptions/" + e.Sub + "/providers/Microsoft.Compute/locations/nowhere/usages?api-version=2024-03-01", ""},
		{"GET", quota, ""},
		{"POST", quota, `{"limits":{"cores":4}}`},
	} {
		var body any
		if c.body != "" {
			body = c.body
		}
		resp, m := e.Do(c.method, c.url, body)
		if resp.StatusCode != 400 || testserver.ErrorCode(m) != "LocationNotAvailableForResourceType" {
			t.Errorf("%s %s: %d %v", c.method, c.url, resp.StatusCode, m)
		}
	}
	if resp, m := e.Do("GET", "/subscriptions/"+e.Sub+"/providers/Microsoft.Compute/locations/West%20US/usages?api-version=2024-03-01", nil); resp.StatusCode != 200 {
		t.Errorf("usages of West US: %d %v", resp.StatusCode, m)
	}
}
