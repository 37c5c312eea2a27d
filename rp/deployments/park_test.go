package deployments_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/server"
)

// slowProvider serves Contoso.Slow/things, a resource whose PUT is a
// long-running operation (Azure-AsyncOperation) that stays InProgress
// until the test releases it: the shape of every slow resource a template
// deploys (a disk copied from a large snapshot, a vault's first backup
// configuration behind a busy job queue), held as long as the test needs.
type slowProvider struct {
	released atomic.Bool
	polls    atomic.Int64 // of the operations' status
	mu       sync.Mutex
	puts     map[string]int
}

func (sp *slowProvider) Register(rt *arm.Router, p *resource.Platform) error {
	sp.puts = map[string]int{}
	rt.RegisterNamespace(arm.Namespace{Name: "Contoso.Slow", AnyVersion: true})
	rt.Handle("PUT", "/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Contoso.Slow/things/{name}", func(r *arm.Request) (*arm.Response, error) {
		sp.mu.Lock()
		sp.puts[r.Param("name")]++
		sp.mu.Unlock()
		body := map[string]any{"id": r.HTTP.URL.Path, "name": r.Param("name"), "type": "Contoso.Slow/things", "properties": map[string]any{"provisioningState": "Creating"}}
		return arm.Created(body).Async(r, "/subscriptions/"+r.Param("subscriptionId")+"/providers/Contoso.Slow/operations/"+r.Param("name"), ""), nil
	})
	rt.Handle("GET", "/subscriptions/{subscriptionId}/providers/Contoso.Slow/operations/{name}", func(r *arm.Request) (*arm.Response, error) {
		sp.polls.Add(1)
		if sp.released.Load() {
			return arm.OK(map[string]any{"status": "Succeeded"}), nil
		}
		return arm.OK(map[string]any{"status": "InProgress"}), nil
	})
	return nil
}

// TestSlowDeploymentsLeaveTheTaskSlots: more deployments than the server
// has light task slots (32), each waiting on a resource's long-running
// operation, do not keep another deployment from running: a waiting run
// parks, its task's slot free, and its next run follows the operation by
// the polling URL recorded in the deployment operation (the resource is
// not PUT again). One cancelled while it waits ends Canceled, its
// operation too; once the operations end, every other ends Succeeded. Before, each deployment held its slot for its whole wait and
// the 34th deployment, of a disk, never started while they waited.
func TestSlowDeploymentsLeaveTheTaskSlots(t *testing.T) {
	sp := &slowProvider{}
	e := testserver.Start(t, func(c *server.Config) { c.Providers = append(c.Providers, sp) })
	e.ResourceGroups("slow")
	base := "/subscriptions/" + e.Sub + "/resourceGroups/slow/providers/Microsoft.Resources/deployments/"
	const n = 33
	for i := range n {
		tmpl := map[string]any{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
			"resources": []any{map[string]any{"type": "Contoso.Slow/things", "apiVersion": "2024-01-01", "name": fmt.Sprintf("thing%d", i)}}}
		e.Do("PUT", base+fmt.Sprintf("slow%d?api-version=2022-09-01", i), map[string]any{"properties": map[string]any{"mode": "Incremental", "template": tmpl}})
	}
	// A deployment of a disk runs while they wait. (The bound is no
	// measure of speed: without a free slot it never runs.)
	ctx, cancel := context.WithTimeout(e.Ctx(), 2*time.Minute)
	defer cancel()
	disk := map[string]any{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
		"resources": []any{map[string]any{"type": "Microsoft.Compute/disks", "apiVersion": "2023-04-02", "name": "d1", "location": "westus",
			"properties": map[string]any{"creationData": map[string]any{"createOption": "Empty"}, "diskSizeGB": 1}}}}
	dc := testserver.Factory(e, armresources.NewClientFactory).NewDeploymentsClient()
	res, err := fixture.Wait(dc.BeginCreateOrUpdate(ctx, "slow", "quick", armresources.Deployment{Properties: &armresources.DeploymentProperties{
		Mode: to.Ptr(armresources.DeploymentModeIncremental), Template: disk}}, nil))
	if err != nil || *res.Properties.ProvisioningState != armresources.ProvisioningStateSucceeded {
		t.Fatalf("a deployment while %d deployments wait on slow resources: %v", n, err)
	}
	for i := range n {
		_, m := e.Do("GET", base+fmt.Sprintf("slow%d?api-version=2022-09-01", i), nil)
		if st, _ := testserver.Field(m, "properties.provisioningState").(string); st != "Running" {
			t.Fatalf("slow%d before its resource's operation ended: %s", i, st)
		}
	}
	// One cancelled while it waits ends Canceled, its operation too.
	e.Do("POST", base+"slow0/cancel?api-version=2022-09-01", nil, testserver.AnyStatus())
	e.WaitFor("slow0 to end", func() bool {
		_, m := e.Do("GET", base+"slow0?api-version=2022-09-01", nil)
		return testserver.Field(m, "properties.provisioningState") != "Running"
	})
	_, m := e.Do("GET", base+"slow0?api-version=2022-09-01", nil)
	_, ops := e.Do("GET", base+"slow0/operations?api-version=2022-09-01", nil)
	if st := testserver.Field(m, "properties.provisioningState"); st != "Canceled" || !strings.Contains(fmt.Sprint(ops), "provisioningState:Canceled") {
		t.Errorf("slow0 cancelled while it waited: %s %v", st, ops)
	}
	sp.released.Store(true)
	for i := 1; i < n; i++ {
		name := fmt.Sprintf("slow%d", i)
		e.WaitFor(name+" to end", func() bool {
			_, m := e.Do("GET", base+name+"?api-version=2022-09-01", nil)
			return testserver.Field(m, "properties.provisioningState") != "Running"
		})
		_, m := e.Do("GET", base+name+"?api-version=2022-09-01", nil)
		if st := testserver.Field(m, "properties.provisioningState"); st != "Succeeded" {
			t.Errorf("%s: %s %v", name, st, m)
		}
		_, ops := e.Do("GET", base+name+"/operations?api-version=2022-09-01", nil)
		if got := fmt.Sprint(testserver.Field(ops, "value")); !strings.Contains(got, "provisioningState:Succeeded") || !strings.Contains(got, "statusCode:Created") {
			t.Errorf("%s's operations: %s", name, got)
		}
	}
	sp.mu.Lock()
	defer sp.mu.Unlock()
	for name, puts := range sp.puts {
		if puts != 1 {
			t.Errorf("%s was PUT %d times", name, puts)
		}
	}
	if len(sp.puts) != n { // slow0's too
		t.Errorf("%d things PUT, want %d", len(sp.puts), n)
	}
}

// TestFailureWhileAnotherResourceWaits: when one resource of a deployment
// fails while another's operation goes on past its run's hold (the run
// parks and comes again), the deployment keeps following that operation,
// as ARM does, and ends Failed, the failed resource's error in its
// details, once it has ended: no deployment operation stays Running. Before,
// the deployment ended Failed at the park, the waiting resource's
// operation Running for ever.
func TestFailureWhileAnotherResourceWaits(t *testing.T) {
	sp := &slowProvider{}
	e := testserver.Start(t, func(c *server.Config) { c.Providers = append(c.Providers, sp) })
	e.ResourceGroups("half")
	dep := "/subscriptions/" + e.Sub + "/resourceGroups/half/providers/Microsoft.Resources/deployments/d1"
	tmpl := map[string]any{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
		"resources": []any{
			map[string]any{"type": "Contoso.Slow/things", "apiVersion": "2024-01-01", "name": "slow"},
			map[string]any{"type": "Microsoft.Compute/disks", "apiVersion": "2023-04-02", "name": "bad", "location": "westus",
				"properties": map[string]any{"creationData": map[string]any{"createOption": "Empty"}, "diskSizeGB": -5}},
		}}
	e.Do("PUT", dep+"?api-version=2022-09-01", map[string]any{"properties": map[string]any{"mode": "Incremental", "template": tmpl}})
	state := func() string {
		_, m := e.Do("GET", dep+"?api-version=2022-09-01", nil)
		s, _ := testserver.Field(m, "properties.provisioningState").(string)
		return s
	}
	running := func() bool { st := state(); return st == "Accepted" || st == "Running" }
	// One run polls the slow operation at most 8 times within its hold:
	// more polls are a later run's, after the park.
	e.WaitFor("the slow operation followed past a park, or the deployment's end", func() bool {
		return sp.polls.Load() > 12 || !running()
	})
	if st := state(); !running() {
		_, ops := e.Do("GET", dep+"/operations?api-version=2022-09-01", nil)
		t.Fatalf("the deployment ended %s while a resource's operation went on: %v", st, ops)
	}
	sp.released.Store(true)
	e.WaitFor("the deployment to end", func() bool { return !running() })
	_, m := e.Do("GET", dep+"?api-version=2022-09-01", nil)
	if st := testserver.Field(m, "properties.provisioningState"); st != "Failed" || !strings.Contains(mustJSON(testserver.Field(m, "properties.error")), "diskSizeGB") {
		t.Errorf("the deployment: %s %v", st, testserver.Field(m, "properties.error"))
	}
	_, ops := e.Do("GET", dep+"/operations?api-version=2022-09-01", nil)
	got := map[string]any{}
	for _, o := range ops["value"].([]any) {
		got[testserver.Field(o.(map[string]any), "properties.targetResource.resourceName").(string)] = testserver.Field(o.(map[string]any), "properties.provisioningState")
	}
	if got["slow"] != "Succeeded" || got["bad"] != "Failed" || len(got) != 2 {
		t.Errorf("the deployment's operations: %v", got)
	}
}
