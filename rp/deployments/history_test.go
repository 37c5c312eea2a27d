package deployments_test

import (
	"fmt"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestDeploymentHistoryKeeps800: as ARM's, a group's deployment history
// holds at most 800 deployments: past 700, a deployment deletes the oldest
// that ended until 600 are left, as its caller. With a CanNotDelete lock on
// the group none can be deleted, and the deployment that would be the
// 801st is refused 409 DeploymentQuotaExceeded saying what to do (its name
// deployed again is not); with the lock lifted, the next one deletes the
// oldest and goes ahead. Before, the history grew without bound.
func TestDeploymentHistoryKeeps800(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("hist")
	base := "/subscriptions/" + e.Sub + "/resourceGroups/hist/providers/Microsoft.Resources/deployments/"
	body := map[string]any{"properties": map[string]any{"mode": "Incremental", "template": map[string]any{
		"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0", "resources": []any{}}}}
	put := func(i int) (int, map[string]any) {
		resp, m := e.Do("PUT", base+fmt.Sprintf("d%d?api-version=2022-09-01", i), body, testserver.AnyStatus())
		return resp.StatusCode, m
	}
	dc := testserver.Factory(e, armresources.NewClientFactory).NewDeploymentsClient()
	count := func() int {
		n := 0
		for page := range fixture.Pages(t, dc.NewListByResourceGroupPager("hist", nil)) {
			n += len(page.Value)
		}
		return n
	}
	for i := range 701 {
		if st, m := put(i); st != 201 {
			t.Fatalf("deployment %d: %d %v", i, st, m)
		}
	}
	if n := count(); n != 600 {
		t.Fatalf("%d deployments in the history after 701, want 600", n)
	}
	for name, want := range map[string]int{"d0": 404, "d100": 404, "d101": 200, "d700": 200} {
		if resp, _ := e.Do("GET", base+name+"?api-version=2022-09-01", nil, testserver.AnyStatus()); resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", name, resp.StatusCode, want)
		}
	}

	if resp, m := e.Do("PUT", "/subscriptions/"+e.Sub+"/resourceGroups/hist/providers/Microsoft.Authorization/locks/keep?api-version=2016-09-01",
		map[string]any{"properties": map[string]any{"level": "CanNotDelete"}}); resp.StatusCode >= 300 {
		t.Fatalf("lock: %d %v", resp.StatusCode, m)
	}
	for i := 701; i < 901; i++ {
		if st, m := put(i); st != 201 {
			t.Fatalf("deployment %d under the lock: %d %v", i, st, m)
		}
	}
	if st, m := put(901); st != 409 || testserver.ErrorCode(m) != "DeploymentQuotaExceeded" {
		t.Fatalf("the 801st deployment: %d %v", st, m)
	}
	if st, m := put(900); st != 200 {
		t.Fatalf("a deployment's name deployed again at 800: %d %v", st, m)
	}
	if n := count(); n != 800 {
		t.Errorf("%d deployments in the locked history, want 800", n)
	}
	// The lock lifted, as the refusal says, the next new name deletes the
	// oldest and goes ahead (before, it was refused once more while it
	// deleted them).
	if resp, m := e.Do("DELETE", "/subscriptions/"+e.Sub+"/resourceGroups/hist/providers/Microsoft.Authorization/locks/keep?api-version=2016-09-01", nil); resp.StatusCode >= 300 {
		t.Fatalf("delete the lock: %d %v", resp.StatusCode, m)
	}
	if st, m := put(902); st != 201 {
		t.Fatalf("a new deployment at 800 once the lock is lifted: %d %v", st, m)
	}
	if n := count(); n != 601 { // 600 kept, and the new one
		t.Errorf("%d deployments in the history after the lock was lifted, want 601", n)
	}
}
