package deployments_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestDeploymentNeedsWriteOnEveryResource: a caller whose role lets it
// deploy and write disks, but not snapshots, is refused a template that
// makes a snapshot before anything is deployed (400
// InvalidTemplateDeployment naming the snapshot and the action, with the
// 403 AuthorizationFailed in its details); a caller without
// Microsoft.Resources/deployments/write is refused the deployment itself
// (403); the same caller deploys a template of disks alone, whose
// resources it then owns.
func TestDeploymentNeedsWriteOnEveryResource(t *testing.T) {
	e := testserver.StartWithGroups(t, "dep-rg")
	group := "/subscriptions/" + e.Sub + "/resourceGroups/dep-rg"
	const v = "?api-version=2022-04-01"
	role := uuid.NewString()
	if resp, m := e.Do("PUT", group+"/providers/Microsoft.Authorization/roleDefinitions/"+role+v, map[string]any{"properties": map[string]any{
		"roleName": "disk deployer", "assignableScopes": []string{group},
		"permissions": []any{map[string]any{"actions": []string{"Microsoft.Resources/deployments/*", "Microsoft.Compute/disks/*", "Microsoft.Resources/subscriptions/resourceGroups/read"}}}}}); resp.StatusCode != 201 {
		t.Fatalf("custom role: %d %v", resp.StatusCode, m)
	}
	id, cred := fixture.Principal(t, e, "deployer")
	as := testserver.As(cred)
	disk := map[string]any{"type": "Microsoft.Compute/disks", "apiVersion": "2023-04-02", "name": "d1", "location": "westus",
		"properties": map[string]any{"creationData": map[string]any{"createOption": "Empty"}, "diskSizeGB": 1}}
	snap := map[string]any{"type": "Microsoft.Compute/snapshots", "apiVersion": "2023-04-02", "name": "s1", "location": "westus", "dependsOn": []any{"d1"},
		"properties": map[string]any{"creationData": map[string]any{"createOption": "Copy", "sourceResourceId": "[resourceId('Microsoft.Compute/disks', 'd1')]"}}}
	body := func(res ...any) map[string]any {
		return map[string]any{"properties": map[string]any{"mode": "Incremental", "template": map[string]any{
			"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0", "resources": res}}}
	}
	dep := group + "/providers/Microsoft.Resources/deployments/"
	if resp, m := e.Do("PUT", dep+"before"+v, body(disk), as, testserver.AnyStatus()); resp.StatusCode != 403 || testserver.ErrorCode(m) != "AuthorizationFailed" {
		t.Fatalf("a deployment without deployments/write: %d %v", resp.StatusCode, m)
	}
	fixture.Assign(t, e, group, "/subscriptions/"+e.Sub+"/providers/Microsoft.Authorization/roleDefinitions/"+role, id)
	resp, m := e.Do("PUT", dep+"withsnap"+v, body(disk, snap), as, testserver.AnyStatus())
	msg := testserver.Field(m, "error.message")
	if resp.StatusCode != 400 || testserver.ErrorCode(m) != "InvalidTemplateDeployment" || !strings.Contains(msg.(string), "Microsoft.Compute/snapshots/write") ||
		!strings.Contains(mustJSON(testserver.Field(m, "error.details")), `"code":"AuthorizationFailed"`) {
		t.Fatalf("a template with a resource the caller may not write: %d %v", resp.StatusCode, m)
	}
	if resp, _ := e.Do("GET", group+"/providers/Microsoft.Compute/disks/d1?api-version=2023-04-02", nil, testserver.AnyStatus()); resp.StatusCode != 404 {
		t.Fatalf("a refused deployment deployed its disk: %d", resp.StatusCode)
	}
	resp, m = e.Do("PUT", dep+"disks"+v, body(disk), as)
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Azure-AsyncOperation") == "" {
		t.Fatalf("a deployment of a disk: %d %v", resp.StatusCode, m)
	}
	if st := e.Poll(resp.Header.Get("Azure-AsyncOperation"), as); st["status"] != "Succeeded" {
		t.Fatalf("the deployment's operation: %v", st)
	}
	if _, m := e.Do("GET", dep+"disks"+v, nil, as); testserver.Field(m, "properties.provisioningState") != "Succeeded" {
		t.Fatalf("the deployment: %v", m)
	}
	if _, m := e.Do("GET", group+"/providers/Microsoft.Compute/disks/d1?api-version=2023-04-02", nil); testserver.Field(m, "properties.diskState") != "Unattached" {
		t.Fatalf("the deployed disk: %v", m)
	}
}

// TestDeploymentLanguage: what a template's strings become, through a
// deployment's outputs: "[[" escapes, property copy loops, format with
// a width, if with the branch not taken left unevaluated, union, split,
// replace, substring, guid stable for the same arguments, and a
// variable's value shared by two uses.
func TestDeploymentLanguage(t *testing.T) {
	e := testserver.StartWithGroups(t, "lang-rg")
	group := "/subscriptions/" + e.Sub + "/resourceGroups/lang-rg"
	tmpl := map[string]any{
		"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
		"parameters": map[string]any{"n": map[string]any{"type": "int", "defaultValue": 3}, "when": map[string]any{"type": "string", "defaultValue": "[utcNow('yyyy')]"}},
		"variables": map[string]any{
			"copy": []any{map[string]any{"name": "items", "count": "[parameters('n')]", "input": "[format('item{0:D2}', copyIndex('items', 1))]"}},
			"g":    "[guid(resourceGroup().id, 'x')]",
		},
		"resources": []any{},
		"outputs": map[string]any{
			"literal": map[string]any{"type": "string", "value": "[[not an expression]"},
			"items":   map[string]any{"type": "array", "value": "[variables('items')]"},
			"pick":    map[string]any{"type": "string", "value": "[if(equals(parameters('n'), 3), 'three', reference('nothing').x)]"},
			"union":   map[string]any{"type": "object", "value": "[union(createObject('a', 1), createObject('b', 2))]"},
			"split":   map[string]any{"type": "array", "value": "[split(replace('a-b-c', '-', ','), ',')]"},
			"sub":     map[string]any{"type": "string", "value": "[substring(toUpper('safehold'), 4, 4)]"},
			"same":    map[string]any{"type": "bool", "value": "[equals(variables('g'), guid(resourceGroup().id, 'x'))]"},
			"year":    map[string]any{"type": "int", "value": "[length(parameters('when'))]"},
		},
	}
	resp, m := e.Do("PUT", group+"/providers/Microsoft.Resources/deployments/lang?api-version=2021-04-01", map[string]any{"properties": map[string]any{"mode": "Incremental", "template": tmpl}})
	if resp.StatusCode != 201 {
		t.Fatalf("PUT: %d %v", resp.StatusCode, m)
	}
	if st := e.Poll(resp.Header.Get("Azure-AsyncOperation")); st["status"] != "Succeeded" {
		t.Fatalf("the deployment: %v", st)
	}
	_, m = e.Do("GET", group+"/providers/Microsoft.Resources/deployments/lang?api-version=2021-04-01", nil)
	out := func(k string) string { return mustJSON(testserver.Field(m, "properties.outputs."+k+".value")) }
	for k, want := range map[string]string{
		"literal": `"[not an expression]"`, "items": `["item01","item02","item03"]`, "pick": `"three"`, "union": `{"a":1,"b":2}`,
		"split": `["a","b","c"]`, "sub": `"HOLD"`, "same": "true", "year": "4",
	} {
		if got := out(k); got != want {
			t.Errorf("output %s: %s, want %s", k, got, want)
		}
	}
}
