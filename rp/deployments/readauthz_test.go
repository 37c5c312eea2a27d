package deployments_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/rbac"
)

// TestDeploymentReadsAsTheCaller: a deployment reads what its template's
// reference() and listKeys() name as its caller: a Contributor of one
// group whose template reads a disk of another group, or lists the keys
// of a storage account there, into an output or a resource's tags gets a
// Failed deployment naming the 403, and nothing of the other group's in
// its outputs or resources; the same template naming its own group's
// resources deploys. Every error of a failed deployment has a details
// list (az iterates them): an output's failure had none (null).
func TestDeploymentReadsAsTheCaller(t *testing.T) {
	e := testserver.StartWithGroups(t, "mine-rg", "theirs-rg")
	sub := "/subscriptions/" + e.Sub
	fixture.Disk(t, e, "theirs-rg", "secret-disk", 1)
	fixture.Disk(t, e, "mine-rg", "my-disk", 1)
	for _, g := range []string{"theirs-rg", "mine-rg"} {
		if resp, m := e.Do("PUT", sub+"/resourceGroups/"+g+"/providers/Microsoft.Storage/storageAccounts/sa"+strings.TrimSuffix(g, "-rg")+"?api-version=2023-01-01",
			map[string]any{"location": "westus", "kind": "StorageV2", "sku": map[string]any{"name": "Standard_LRS"}}, testserver.AnyStatus()); resp.StatusCode >= 300 {
			t.Fatalf("storage account in %s: %d %v", g, resp.StatusCode, m)
		}
	}
	id, cred := fixture.Principal(t, e, "contributor-of-mine")
	fixture.Assign(t, e, sub+"/resourceGroups/mine-rg", rbac.Contributor, id)
	as := testserver.As(cred)
	dep := sub + "/resourceGroups/mine-rg/providers/Microsoft.Resources/deployments/"
	deploy := func(name, group string, output bool) (string, map[string]any) {
		t.Helper()
		diskRef := fmt.Sprintf("[reference(resourceId('%s', 'Microsoft.Compute/disks', '%s'), '2023-04-02').diskSizeGB]", group, map[bool]string{true: "my-disk", false: "secret-disk"}[group == "mine-rg"])
		keys := fmt.Sprintf("[listKeys(resourceId('%s', 'Microsoft.Storage/storageAccounts', 'sa%s'), '2023-01-01').keys[0].value]", group, strings.TrimSuffix(group, "-rg"))
		tmpl := map[string]any{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0", "resources": []any{}}
		if output {
			tmpl["outputs"] = map[string]any{"size": map[string]any{"type": "int", "value": diskRef}}
			if group == "mine-rg" {
				tmpl["outputs"].(map[string]any)["key"] = map[string]any{"type": "string", "value": keys}
			}
		} else {
			tmpl["resources"] = []any{map[string]any{"type": "Microsoft.Compute/disks", "apiVersion": "2023-04-02", "name": name, "location": "westus",
				"tags":       map[string]any{"key": keys},
				"properties": map[string]any{"creationData": map[string]any{"createOption": "Empty"}, "diskSizeGB": 1}}}
		}
		resp, m := e.Do("PUT", dep+name+"?api-version=2022-09-01", map[string]any{"properties": map[string]any{"mode": "Incremental", "template": tmpl}}, as)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("%s: %d %v", name, resp.StatusCode, m)
		}
		e.Poll(resp.Header.Get("Azure-AsyncOperation"), as)
		_, d := e.Do("GET", dep+name+"?api-version=2022-09-01", nil, as)
		state, _ := testserver.Field(d, "properties.provisioningState").(string)
		return state, d
	}
	for _, c := range []struct {
		name   string
		output bool
		names  string // what the error names
	}{{"out-theirs", true, "secret-disk"}, {"tags-theirs", false, "satheirs"}} {
		state, d := deploy(c.name, "theirs-rg", c.output)
		if s := fmt.Sprint(d); state != "Failed" || !strings.Contains(s, "AuthorizationFailed") || !strings.Contains(s, c.names) || testserver.Field(d, "properties.outputs") != nil {
			t.Errorf("%s: a deployment reading another group's resources: %s %v", c.name, state, d)
		}
		// az iterates every error's details: a list at every level.
		var nulls []string
		var walk func(v any, at string)
		walk = func(v any, at string) {
			m, _ := v.(map[string]any)
			if m == nil {
				return
			}
			ds, ok := m["details"].([]any)
			if !ok {
				nulls = append(nulls, at)
			}
			for i, x := range ds {
				walk(x, fmt.Sprintf("%s.details.%d", at, i))
			}
		}
		walk(testserver.Field(d, "properties.error"), "error")
		if len(nulls) > 0 {
			t.Errorf("%s: errors without a details list at %v: %v", c.name, nulls, testserver.Field(d, "properties.error"))
		}
	}
	if resp, m := e.Do("GET", sub+"/resourceGroups/mine-rg/providers/Microsoft.Compute/disks/tags-theirs?api-version=2023-04-02", nil, testserver.AnyStatus()); resp.StatusCode != http.StatusNotFound {
		t.Errorf("the disk tagged with another group's storage key: %d %v", resp.StatusCode, m)
	}
	if state, d := deploy("out-mine", "mine-rg", true); state != "Succeeded" || testserver.Field(d, "properties.outputs.size.value") != float64(1) || testserver.Field(d, "properties.outputs.key.value") == "" {
		t.Errorf("a deployment reading its own group's resources: %s %v", state, d)
	}
}
