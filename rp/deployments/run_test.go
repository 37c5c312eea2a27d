package deployments_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/testserver"
)

const faults = "/providers/Safehold.Admin/faultRules"

// heldTemplate is a deployment of disk "held1", then disk "after" that
// depends on it.
func heldTemplate() map[string]any {
	disk := func(name string, deps ...any) map[string]any {
		return map[string]any{"type": "Microsoft.Compute/disks", "apiVersion": "2023-04-02", "name": name, "location": "westus", "dependsOn": deps,
			"properties": map[string]any{"creationData": map[string]any{"createOption": "Empty"}, "diskSizeGB": 1}}
	}
	return map[string]any{"properties": map[string]any{"mode": "Incremental", "template": map[string]any{
		"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
		"resources": []any{disk("held1"), disk("after", "held1")}}}}
}

// holdDisk makes the PUT of disk held1 wait (an ARM fault rule with a long
// latency, which the deployment's own requests meet as a client's would)
// until the rule is deleted, starts the deployment and waits until its
// operation on held1 runs.
func holdDisk(t *testing.T, e *testserver.Env, dep string) *http.Response {
	t.Helper()
	if resp, m := e.Do("POST", faults+"?api-version=2024-01-01", map[string]any{"name": "hold", "operation": "arm", "path": "*/disks/held1", "latency": "10m"}); resp.StatusCode >= 300 {
		t.Fatalf("fault rule: %d %v", resp.StatusCode, m)
	}
	resp, m := e.Do("PUT", dep+"?api-version=2022-09-01", heldTemplate())
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT: %d %v", resp.StatusCode, m)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		_, ops := e.Do("GET", dep+"/operations?api-version=2022-09-01", nil)
		if strings.Contains(mustJSON(ops), `"resourceName":"held1"`) {
			return resp
		}
		if time.Now().After(deadline) {
			t.Fatalf("the deployment never reached held1: %v", ops)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCancelADeployment: a deployment cancelled while a resource deploys
// ends Canceled once that resource's request returns, and deploys nothing
// after it; its operation ends Failed with DeploymentCanceled; an ended
// deployment cannot be cancelled (409).
func TestCancelADeployment(t *testing.T) {
	e := testserver.StartWithGroups(t, "cancel-rg")
	group := "/subscriptions/" + e.Sub + "/resourceGroups/cancel-rg"
	dep := group + "/providers/Microsoft.Resources/deployments/c1"
	resp := holdDisk(t, e, dep)
	if r, m := e.Do("POST", dep+"/cancel?api-version=2022-09-01", nil); r.StatusCode != http.StatusNoContent {
		t.Fatalf("cancel: %d %v", r.StatusCode, m)
	}
	if r, m := e.Do("DELETE", dep+"?api-version=2022-09-01", nil, testserver.AnyStatus()); r.StatusCode != http.StatusConflict {
		t.Fatalf("DELETE of a running deployment: %d %v", r.StatusCode, m)
	}
	e.Do("DELETE", faults+"/hold?api-version=2024-01-01", nil)
	st := e.Poll(resp.Header.Get("Azure-AsyncOperation"))
	if st["status"] != "Failed" || testserver.Field(st, "error.code") != "DeploymentCanceled" {
		t.Fatalf("the cancelled deployment's operation: %v", st)
	}
	if _, m := e.Do("GET", dep+"?api-version=2022-09-01", nil); testserver.Field(m, "properties.provisioningState") != "Canceled" {
		t.Fatalf("the cancelled deployment: %v", m)
	}
	if r, _ := e.Do("GET", group+"/providers/Microsoft.Compute/disks/after?api-version=2023-04-02", nil, testserver.AnyStatus()); r.StatusCode != 404 {
		t.Errorf("a cancelled deployment deployed what came after: %d", r.StatusCode)
	}
	if r, m := e.Do("POST", dep+"/cancel?api-version=2022-09-01", nil, testserver.AnyStatus()); r.StatusCode != http.StatusConflict {
		t.Errorf("cancel of an ended deployment: %d %v", r.StatusCode, m)
	}
}

// TestDeploymentResumesAfterItsRunnerStops: a deployment whose runner
// stops while a resource deploys (a replica's shutdown or crash) is taken
// up again when the runner starts: it deploys that resource and the rest
// and ends Succeeded, never staying Running.
func TestDeploymentResumesAfterItsRunnerStops(t *testing.T) {
	e := testserver.StartWithGroups(t, "resume-rg")
	group := "/subscriptions/" + e.Sub + "/resourceGroups/resume-rg"
	dep := group + "/providers/Microsoft.Resources/deployments/r1"
	resp := holdDisk(t, e, dep)
	e.Server.Jobs.Stop()
	e.Do("DELETE", faults+"/hold?api-version=2024-01-01", nil)
	if _, m := e.Do("GET", dep+"?api-version=2022-09-01", nil); testserver.Field(m, "properties.provisioningState") != "Running" {
		t.Fatalf("the deployment while its runner is stopped: %v", m)
	}
	if err := e.Server.Jobs.Start(e.Ctx()); err != nil {
		t.Fatal(err)
	}
	if st := e.Poll(resp.Header.Get("Azure-AsyncOperation")); st["status"] != "Succeeded" {
		t.Fatalf("the resumed deployment's operation: %v", st)
	}
	for _, d := range []string{"held1", "after"} {
		if r, m := e.Do("GET", group+"/providers/Microsoft.Compute/disks/"+d+"?api-version=2023-04-02", nil, testserver.AnyStatus()); r.StatusCode != 200 {
			t.Errorf("disk %s after the resumed deployment: %d %v", d, r.StatusCode, m)
		}
	}
	_, ops := e.Do("GET", dep+"/operations?api-version=2022-09-01", nil)
	if s := mustJSON(ops); strings.Count(s, `"provisioningState":"Succeeded"`) != 2 || strings.Contains(s, `"Failed"`) {
		t.Errorf("the resumed deployment's operations: %s", s)
	}
}
