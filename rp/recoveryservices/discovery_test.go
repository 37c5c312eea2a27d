package recoveryservices_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/rbac"
)

// TestRefreshContainersFilter: refreshContainers takes Azure's
// backupManagementType filter (in any case) and answers any other $filter
// (another field, an unknown type, a malformed clause) with 400
// InvalidFilter naming what is allowed, instead of ignoring it.
func TestRefreshContainersFilter(t *testing.T) {
	e := testserver.StartWithGroups(t, "vaultrg")
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/rv"
	mkVault(t, e, R+"?api-version=2023-04-01", "westus")
	refresh := func(filter string) (int, map[string]any) {
		q := "?api-version=2016-12-01"
		if filter != "" {
			q += "&$filter=" + url.QueryEscape(filter)
		}
		resp, m := e.Do("POST", R+"/backupFabrics/Azure/refreshContainers"+q, nil)
		return resp.StatusCode, m
	}
	for _, f := range []string{"", "backupManagementType eq 'AzureIaasVM'", "backupmanagementtype eq 'azureiaasvm'"} {
		if code, m := refresh(f); code != 202 {
			t.Fatalf("refresh with %q: %d %v", f, code, m)
		}
	}
	for filter, names := range map[string][]string{
		"backupManagementType eq 'AzureVM'":  {"'AzureVM'", "AzureIaasVM"},
		"status eq 'Completed'":              {"'status'", "backupManagementType"},
		"backupManagementType = AzureIaasVM": {"backupManagementType eq 'AzureIaasVM'"},
	} {
		code, m := refresh(filter)
		checkInvalidFilter(t, filter, code, m, names...)
	}
}

// Test450VMsPageThroughNextLink discovers 450 VMs and lists them as
// protectable items: three pages (200, 200, 50) through nextLink, none
// missing or doubled, raw at 2016-12-01 and through the SDK pager.
func Test450VMsPageThroughNextLink(t *testing.T) {
	e := testserver.StartWithGroups(t, "fleet0", "fleet1", "fleet2", "vaultrg") // the VMs' groups: fleet<i%3>
	ctx := context.Background()
	cs := e.Server.Compute
	want := map[string]bool{}
	for i := 0; i < 450; i++ {
		rg := fmt.Sprintf("fleet%d", i%3)
		name := fmt.Sprintf("vm%03d", i)
		base := "/subscriptions/" + e.Sub + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/"
		d, err := cs.CreateDisk(ctx, compute.DiskSpec{ID: base + "disks/" + name + "-os", Location: "westus", CreateOption: "Empty", SizeBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cs.CreateVM(ctx, compute.VMSpec{ID: base + "virtualMachines/" + name, Location: "westus", OSDiskID: d.ID}); err != nil {
			t.Fatal(err)
		}
		want[strings.ToLower("iaasvmcontainerv2;"+rg+";"+name)] = true
	}
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/fleet"
	mkVault(t, e, R+"?api-version=2023-04-01", "westus")
	refreshAndWait(t, e, R)

	next := R + "/backupProtectableItems?api-version=2016-12-01&$filter=" + url.QueryEscape("backupManagementType eq 'AzureIaasVM'")
	seen := map[string]bool{}
	var sizes []int
	for next != "" {
		resp, m := e.Do("GET", next, nil)
		must(t, "page", resp, m, 200)
		vals := m["value"].([]any)
		sizes = append(sizes, len(vals))
		for _, v := range vals {
			n := strings.ToLower(str(v.(map[string]any), "name"))
			if seen[n] {
				t.Fatalf("%s listed twice", n)
			}
			seen[n] = true
		}
		next, _ = m["nextLink"].(string)
		if next != "" && !strings.Contains(next, "api-version=2016-12-01") {
			t.Fatalf("nextLink without the api-version: %s", next)
		}
	}
	if fmt.Sprint(sizes) != "[200 200 50]" {
		t.Fatalf("page sizes %v", sizes)
	}
	for n := range want {
		if !seen[n] {
			t.Fatalf("%s missing", n)
		}
	}
	if len(seen) != 450 {
		t.Fatalf("%d items", len(seen))
	}

	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	pages, total := 0, 0
	for pg := bf.NewBackupProtectableItemsClient().NewListPager("fleet", "vaultrg", &armrecoveryservicesbackup.BackupProtectableItemsClientListOptions{Filter: to.Ptr("backupManagementType eq 'AzureIaasVM'")}); pg.More(); {
		page, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		total += len(page.Value)
	}
	if pages != 3 || total != 450 {
		t.Fatalf("SDK pager: %d pages, %d items", pages, total)
	}
	// Other filter fields narrow the list.
	resp, m := e.Do("GET", R+"/backupProtectableItems?api-version=2024-04-01&$filter="+url.QueryEscape("backupManagementType eq 'AzureIaasVM' and friendlyName eq 'VM007'"), nil)
	must(t, "filtered", resp, m, 200)
	if vals := m["value"].([]any); len(vals) != 1 || str(vals[0].(map[string]any), "properties.resourceGroup") != "fleet1" {
		t.Fatalf("friendlyName filter: %v", m)
	}
	resp, m = e.Do("GET", R+"/backupProtectableItems?api-version=2024-04-01&$filter="+url.QueryEscape("backupManagementType eq 'AzureStorage'"), nil)
	if vals := m["value"].([]any); len(vals) != 0 {
		t.Fatalf("AzureStorage filter: %d items", len(vals))
	}
}

// TestProtectableItemsAreTheVMsTheCallerMayRead: a principal who may work
// the vault (Backup Contributor on its group) but read no VM lists no
// protectable items through the SDK pager after the admin's discovery, and
// the VMs of a group once it may read that group; before, it was shown
// every VM the discovery found in the subscription.
func TestProtectableItemsAreTheVMsTheCallerMayRead(t *testing.T) {
	e := testserver.StartWithGroups(t, "vaultrg", "teama", "teamb")
	for _, rg := range []string{"teama", "teamb"} {
		mkVM(t, e, rg, "vm-"+rg, 0, 1<<20)
	}
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/rv"
	mkVault(t, e, R+"?api-version=2023-04-01", "westus")
	refreshAndWait(t, e, R)
	pid, cred := fixture.Principal(t, e, "operator")
	fixture.Assign(t, e, "/subscriptions/"+e.Sub+"/resourceGroups/vaultrg", rbac.BackupContributor, pid)
	bf, err := armrecoveryservicesbackup.NewClientFactory(e.Sub, cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	list := func(c *armrecoveryservicesbackup.ClientFactory) string {
		t.Helper()
		var names []string
		for page := range fixture.Pages(t, c.NewBackupProtectableItemsClient().NewListPager("rv", "vaultrg", &armrecoveryservicesbackup.BackupProtectableItemsClientListOptions{Filter: to.Ptr("backupManagementType eq 'AzureIaasVM'")})) {
			for _, it := range page.Value {
				names = append(names, *it.Properties.GetWorkloadProtectableItem().FriendlyName)
			}
		}
		return strings.Join(names, ",")
	}
	if got := list(testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)); got != "vm-teama,vm-teamb" {
		t.Fatalf("the admin's protectable items: %q", got)
	}
	if got := list(bf); got != "" {
		t.Fatalf("protectable items of a caller who may read no VM: %q", got)
	}
	fixture.Assign(t, e, "/subscriptions/"+e.Sub+"/resourceGroups/teamb", rbac.Reader, pid)
	if got := list(bf); got != "vm-teamb" {
		t.Fatalf("protectable items of a caller who may read teamb: %q", got)
	}
}

// refreshAndWait runs the vault R's discovery (refreshContainers) and
// waits for its operation to end (204).
func refreshAndWait(t *testing.T, e *testserver.Env, R string) {
	t.Helper()
	resp, m := e.Do("POST", R+"/backupFabrics/Azure/refreshContainers?api-version=2016-12-01", nil)
	must(t, "refresh", resp, m, 202)
	loc := resp.Header.Get("Location")
	e.WaitFor("refresh", func() bool {
		resp, _ := e.Do("GET", loc, nil)
		return resp.StatusCode == 204
	})
}
