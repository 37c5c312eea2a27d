package resources_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/rbac"
)

// TestCreatesRaceGroupDelete races creates of every kind (a disk, whose
// creation is an operation, a storage account, a Recovery Services vault,
// a role assignment) against the DELETE of their empty resource group,
// many groups at once: whichever wins, nothing is left under a group that
// is gone, every answer is a clear ARM one (no 500) and every operation
// ends.
func TestCreatesRaceGroupDelete(t *testing.T) {
	e := testserver.Start(t)
	sub := "/subscriptions/" + e.Sub
	pid, _ := fixture.Principal(t, e, "racer")
	const groups = 24
	var names []string
	for i := range groups {
		names = append(names, fmt.Sprintf("race%d", i))
	}
	e.ResourceGroups(names...)
	var mu sync.Mutex
	var ops []string // Azure-AsyncOperation URLs of the disk creations
	var wg sync.WaitGroup
	start := make(chan struct{})
	do := func(what, method, path string, body any) {
		defer wg.Done()
		<-start
		resp, m := e.Do(method, path, body, testserver.AnyStatus())
		if resp.StatusCode >= 500 || resp.StatusCode >= 300 && testserver.ErrorCode(m) == "" {
			t.Errorf("%s: %d %v", what, resp.StatusCode, m)
		}
		if op := resp.Header.Get("Azure-AsyncOperation"); op != "" && resp.StatusCode < 300 {
			mu.Lock()
			ops = append(ops, op)
			mu.Unlock()
		}
	}
	for i, g := range names {
		rg := sub + "/resourceGroups/" + g
		wg.Add(5)
		go do("disk in "+g, "PUT", rg+"/providers/Microsoft.Compute/disks/d1?api-version=2024-03-02",
			[]byte(`{"location":"westus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}`))
		go do("storage account in "+g, "PUT", rg+fmt.Sprintf("/providers/Microsoft.Storage/storageAccounts/race%dacct?api-version=2023-05-01", i),
			[]byte(`{"location":"westus","kind":"StorageV2","sku":{"name":"Standard_LRS"}}`))
		go do("vault in "+g, "PUT", rg+"/providers/Microsoft.RecoveryServices/vaults/v1?api-version=2023-04-01",
			[]byte(`{"location":"westus","sku":{"name":"Standard"},"properties":{}}`))
		go do("role assignment at "+g, "PUT", rg+"/providers/Microsoft.Authorization/roleAssignments/"+uuid.NewString()+"?api-version=2022-04-01",
			[]byte(fmt.Sprintf(`{"properties":{"roleDefinitionId":"%s/providers/Microsoft.Authorization/roleDefinitions/%s","principalId":%q}}`, sub, rbac.Reader, pid)))
		go do("delete "+g, "DELETE", rg+"?api-version=2021-04-01", nil)
	}
	close(start)
	wg.Wait()
	// Every disk creation ends (Succeeded, or Failed with a code).
	for _, op := range ops {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			resp, m := e.Do("GET", op, nil, testserver.AnyStatus())
			status, _ := m["status"].(string)
			if resp.StatusCode == 200 && status != "InProgress" && status != "" {
				if status == "Failed" && testserver.ErrorCode(m) == "" {
					t.Errorf("disk creation failed without a code: %v", m)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("disk creation %s never ended: %d %v", op, resp.StatusCode, m)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Some groups go, taking what was created first; deletes of the
	// others cascade. Wait until each group is gone or settled.
	for _, g := range names {
		deadline := time.Now().Add(2 * time.Minute)
		for {
			resp, m := e.Do("GET", sub+"/resourceGroups/"+g+"?api-version=2021-04-01", nil, testserver.AnyStatus())
			if resp.StatusCode == 404 || resp.StatusCode == 200 && testserver.Field(m, "properties.provisioningState") != "Deleting" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("group %s: %d %v", g, resp.StatusCode, m)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	exists := map[string]bool{}
	groupExists := func(id string) bool {
		rid, err := arm.ParseID(id)
		if err != nil || rid.ResourceGroup == "" {
			return true
		}
		g := strings.ToLower(rid.ResourceGroup)
		if _, ok := exists[g]; !ok {
			resp, _ := e.Do("GET", sub+"/resourceGroups/"+g+"?api-version=2021-04-01", nil, testserver.AnyStatus())
			exists[g] = resp.StatusCode == 200
		}
		return exists[g]
	}
	resp, m := e.Do("GET", sub+"/resources?api-version=2021-04-01", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("list resources: %d %v", resp.StatusCode, m)
	}
	kept := 0
	for _, x := range m["value"].([]any) {
		id := x.(map[string]any)["id"].(string)
		if !groupExists(id) {
			t.Errorf("%s outlived its resource group", id)
		}
		kept++
	}
	resp, m = e.Do("GET", sub+"/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("list role assignments: %d %v", resp.StatusCode, m)
	}
	for _, x := range m["value"].([]any) {
		if scope, _ := testserver.Field(x.(map[string]any), "properties.scope").(string); !groupExists(scope) {
			t.Errorf("role assignment at %s outlived its resource group", scope)
		}
	}
	t.Logf("%d resources left after the deletes", kept)
}
