package clients_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/rbac"
)

// vaultTemplateFile writes an ARM template that deploys a Backup vault
// (name from a parameter), its disk backup policy (a nested child) and a
// managed disk named with uniqueString, and returns its path.
func vaultTemplateFile(t *testing.T) string {
	t.Helper()
	pol, _ := json.Marshal(fixture.DiskPolicy("PT4H", "P7D", ""))
	var policy map[string]any
	json.Unmarshal(pol, &policy)
	tmpl := map[string]any{
		"$schema":        "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
		"contentVersion": "1.0.0.0",
		"parameters": map[string]any{
			"vaultName": map[string]any{"type": "string"},
			"diskSize":  map[string]any{"type": "int", "defaultValue": 1, "minValue": 1, "maxValue": 4},
			"location":  map[string]any{"type": "string", "defaultValue": "[resourceGroup().location]"},
		},
		"variables": map[string]any{"diskName": "[concat('disk-', uniqueString(resourceGroup().id))]"},
		"resources": []any{
			map[string]any{
				"type": "Microsoft.DataProtection/backupVaults", "apiVersion": "2023-05-01", "name": "[parameters('vaultName')]",
				"location": "[parameters('location')]", "identity": map[string]any{"type": "SystemAssigned"},
				"properties": map[string]any{"storageSettings": []any{map[string]any{"datastoreType": "VaultStore", "type": "LocallyRedundant"}}},
			},
			map[string]any{
				"type": "Microsoft.DataProtection/backupVaults/backupPolicies", "apiVersion": "2023-05-01",
				"name":       "[concat(parameters('vaultName'), '/disk-policy')]",
				"dependsOn":  []any{"[resourceId('Microsoft.DataProtection/backupVaults', parameters('vaultName'))]"},
				"properties": policy["properties"],
			},
			map[string]any{
				"type": "Microsoft.Compute/disks", "apiVersion": "2023-04-02", "name": "[variables('diskName')]",
				"location": "[parameters('location')]", "sku": map[string]any{"name": "Standard_LRS"},
				"properties": map[string]any{"creationData": map[string]any{"createOption": "Empty"}, "diskSizeGB": "[parameters('diskSize')]"},
			},
		},
		"outputs": map[string]any{
			"diskName":  map[string]any{"type": "string", "value": "[variables('diskName')]"},
			"vaultType": map[string]any{"type": "string", "value": "[reference(parameters('vaultName')).storageSettings[0].type]"},
		},
	}
	b, _ := json.MarshalIndent(tmpl, "", "  ")
	p := filepath.Join(t.TempDir(), "vault.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeJSON(t *testing.T, name string, v any) string {
	t.Helper()
	b, _ := json.Marshal(v)
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestAzCLIDeploymentGroup: az deployment group validate, what-if and create deploy
// a Backup vault, its disk policy and a disk from a template file with
// --parameters; show, list (--filter) and az deployment operation group
// list print what was deployed; a template with a function ARM has not is
// refused naming it; one whose disk the RP refuses ends Failed with
// DeploymentFailed and the disk's error in its details; a caller who may
// write its group but not read the snapshot a disk copies gets the
// disk's LinkedAuthorizationFailed (403) inside the details; az
// deployment group delete removes the record.
func TestAzCLIDeploymentGroup(t *testing.T) {
	e := testserver.Start(t)
	az := loggedIn(t, e)
	sub := "/subscriptions/" + e.Conn.SubscriptionID
	az.run("group", "create", "-n", "dep", "-l", "westus", "-o", "none")
	tmpl := vaultTemplateFile(t)

	if out := az.tsv("deployment", "group", "validate", "-g", "dep", "-n", "v1", "--template-file", tmpl, "--parameters", "vaultName=vault1", "--query", "properties.provisioningState"); out != "Succeeded" {
		t.Fatalf("az deployment group validate: %q", out)
	}
	// what-if: the vault, its policy and the disk would be created.
	if out := az.tsv("deployment", "group", "what-if", "-g", "dep", "-n", "v1", "--template-file", tmpl, "--parameters", "vaultName=vault1", "--no-pretty-print", "--query", "changes[].changeType"); out != "Create\nCreate\nCreate" {
		t.Fatalf("az deployment group what-if: %q", out)
	}
	out := az.json("deployment", "group", "create", "-g", "dep", "-n", "v1", "--template-file", tmpl, "--parameters", "vaultName=vault1", "diskSize=2")
	if str(out, "properties.provisioningState") != "Succeeded" || str(out, "properties.outputs.vaultType.value") != "LocallyRedundant" {
		t.Fatalf("az deployment group create: %v", out)
	}
	disk := str(out, "properties.outputs.diskName.value")
	if got := az.tsv("disk", "show", "-g", "dep", "-n", disk, "--query", "diskSizeGb"); got != "2" {
		t.Errorf("the deployed disk: %q", got)
	}
	if got := az.tsv("rest", "--method", "get", "--url", sub+"/resourceGroups/dep/providers/Microsoft.DataProtection/backupVaults/vault1/backupPolicies?api-version=2023-05-01", "--query", "value[].name"); got != "disk-policy" {
		t.Errorf("the deployed policy: %q", got)
	}
	if got := az.tsv("deployment", "group", "show", "-g", "dep", "-n", "v1", "--query", "[properties.provisioningState, properties.parameters.vaultName.value]"); got != "Succeeded\nvault1" {
		t.Errorf("az deployment group show: %q", got)
	}
	if got := az.tsv("deployment", "operation", "group", "list", "-g", "dep", "-n", "v1", "--query", "sort_by([], &properties.targetResource.resourceType)[].[properties.targetResource.resourceType, properties.provisioningState]"); got !=
		"Microsoft.Compute/disks\tSucceeded\nMicrosoft.DataProtection/backupVaults\tSucceeded\nMicrosoft.DataProtection/backupVaults/backupPolicies\tSucceeded" {
		t.Errorf("az deployment operation group list: %q", got)
	}

	// A function ARM does not have: 400 InvalidTemplate naming it.
	bad := writeJSON(t, "bad.json", map[string]any{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
		"resources": []any{map[string]any{"type": "Microsoft.Compute/disks", "apiVersion": "2023-04-02", "name": "[nosuchfn('x')]", "location": "westus"}}})
	r := az.exec("deployment", "group", "create", "-g", "dep", "-n", "bad", "--template-file", bad)
	if r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "InvalidTemplate") || !strings.Contains(r.Stdout+r.Stderr, "nosuchfn") {
		t.Fatalf("a template with an unknown function: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	// A resource the RP refuses: the deployment ends Failed with the
	// disk's error in its details, and what did deploy stays.
	failing := writeJSON(t, "failing.json", map[string]any{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
		"resources": []any{
			map[string]any{"type": "Microsoft.Compute/disks", "apiVersion": "2023-04-02", "name": "good", "location": "westus",
				"properties": map[string]any{"creationData": map[string]any{"createOption": "Empty"}, "diskSizeGB": 1}},
			map[string]any{"type": "Microsoft.Compute/disks", "apiVersion": "2023-04-02", "name": "nosize", "location": "westus", "dependsOn": []any{"good"},
				"properties": map[string]any{"creationData": map[string]any{"createOption": "Empty"}}},
		}})
	r = az.exec("deployment", "group", "create", "-g", "dep", "-n", "failing", "--template-file", failing)
	if r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "DeploymentFailed") {
		t.Fatalf("a deployment whose disk is refused: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if got := az.tsv("deployment", "group", "show", "-g", "dep", "-n", "failing", "--query", "[properties.provisioningState, properties.error.code, length(properties.error.details)]"); got != "Failed\nDeploymentFailed\n1" {
		t.Errorf("the failed deployment: %q", got)
	}
	if got := az.tsv("deployment", "operation", "group", "list", "-g", "dep", "-n", "failing", "--query", "[?properties.provisioningState=='Failed'].properties.targetResource.resourceName"); got != "nosize" {
		t.Errorf("the failed operation: %q", got)
	}
	if got := az.tsv("deployment", "group", "list", "-g", "dep", "--filter", "provisioningState eq 'Failed'", "--query", "[].name"); got != "failing" {
		t.Errorf("az deployment group list --filter Failed: %q", got)
	}

	// A caller who may write its group but not read another's snapshot:
	// the disk copying it is refused 403 inside the deployment's details.
	e.ResourceGroups("theirs")
	d1, _ := fixture.Disk(t, e, "theirs", "d1", 1)
	fixture.Snapshot(t, e, "theirs", "s1", d1)
	resp, m := e.Do("POST", "/providers/Safehold.Identity/servicePrincipals?api-version=2024-01-01", map[string]string{"displayName": "deployer"})
	if resp.StatusCode != 201 {
		t.Fatalf("create service principal: %d %v", resp.StatusCode, m)
	}
	fixture.Assign(t, e, sub+"/resourceGroups/dep", rbac.Contributor, str(m, "objectId"))
	c := loggedInAs(t, e, str(m, "appId"), str(m, "clientSecret"))
	linked := writeJSON(t, "linked.json", map[string]any{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0",
		"resources": []any{map[string]any{"type": "Microsoft.Compute/disks", "apiVersion": "2023-04-02", "name": "copy", "location": "westus",
			"properties": map[string]any{"creationData": map[string]any{"createOption": "Copy", "sourceResourceId": sub + "/resourceGroups/theirs/providers/Microsoft.Compute/snapshots/s1"}}}}})
	r = c.exec("deployment", "group", "create", "-g", "dep", "-n", "linked", "--template-file", linked)
	if r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "DeploymentFailed") {
		t.Fatalf("a deployment copying a snapshot the caller may not read: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if got := c.tsv("deployment", "group", "show", "-g", "dep", "-n", "linked", "--query", "properties.error.details[0].code"); got != "LinkedAuthorizationFailed" {
		t.Errorf("the linked refusal's detail: %q", got)
	}

	az.run("deployment", "group", "delete", "-g", "dep", "-n", "v1")
	if got := az.tsv("deployment", "group", "list", "-g", "dep", "--query", "length(@)"); got != "2" {
		t.Errorf("deployments after a delete: %q", got)
	}
}

// TestAzCLIDeploymentRefusedByTheRouter: what the router refuses before a
// deployment handler runs (a principal with no role on the group, a group
// that does not exist, an api-version Microsoft.Resources has not) comes
// back with details [] (as every answer of rp/deployments' own), so az
// deployment group create/validate prints the error, not "'NoneType' object
// is not iterable" (az reads every error's details as a list).
func TestAzCLIDeploymentRefusedByTheRouter(t *testing.T) {
	e := testserver.Start(t)
	az := loggedIn(t, e)
	az.run("group", "create", "-n", "dep", "-l", "westus", "-o", "none")
	tmpl := vaultTemplateFile(t)
	resp, m := e.Do("POST", "/providers/Safehold.Identity/servicePrincipals?api-version=2024-01-01", map[string]string{"displayName": "norole"})
	if resp.StatusCode != 201 {
		t.Fatalf("create service principal: %d %v", resp.StatusCode, m)
	}
	// It reads another group only (az login wants a subscription it sees).
	e.ResourceGroups("other")
	fixture.Assign(t, e, "/subscriptions/"+e.Conn.SubscriptionID+"/resourceGroups/other", rbac.Reader, str(m, "objectId"))
	c := loggedInAs(t, e, str(m, "appId"), str(m, "clientSecret"))
	for _, args := range [][]string{
		{"deployment", "group", "create", "-g", "dep", "-n", "v1", "--template-file", tmpl, "--parameters", "vaultName=vault1"},
		{"deployment", "group", "validate", "-g", "dep", "-n", "v1", "--template-file", tmpl, "--parameters", "vaultName=vault1"},
		{"deployment", "group", "show", "-g", "dep", "-n", "v1"},
		{"deployment", "operation", "group", "list", "-g", "dep", "-n", "v1"},
	} {
		r := c.exec(args...)
		out := r.Stdout + r.Stderr
		if r.Code == 0 || !strings.Contains(out, "AuthorizationFailed") || strings.Contains(out, "NoneType") {
			t.Errorf("az %s as a principal with no role on the group: exit %d\n%s", strings.Join(args[:3], " "), r.Code, out)
		}
	}
	r := az.exec("deployment", "group", "create", "-g", "nosuch", "-n", "v1", "--template-file", tmpl, "--parameters", "vaultName=vault1")
	if out := r.Stdout + r.Stderr; r.Code == 0 || !strings.Contains(out, "ResourceGroupNotFound") || strings.Contains(out, "NoneType") {
		t.Errorf("az deployment group create into a missing group: exit %d\n%s", r.Code, out)
	}
	// An api-version the namespace has not: the router's 400, details [].
	sub := "/subscriptions/" + e.Conn.SubscriptionID
	for _, p := range []string{"", "/validate"} {
		method := "PUT"
		if p != "" {
			method = "POST"
		}
		resp, m := e.Do(method, sub+"/resourceGroups/dep/providers/Microsoft.Resources/deployments/v1"+p+"?api-version=1999-01-01", map[string]any{"properties": map[string]any{"mode": "Incremental", "template": map[string]any{}}})
		if d, ok := testserver.Field(m, "error.details").([]any); resp.StatusCode != 400 || !ok || len(d) != 0 {
			t.Errorf("%s %s with a bad api-version: %d %v", method, p, resp.StatusCode, m)
		}
	}
}

// TestJSSDKDeployments drives template deployments with @azure/arm-resources
// 5 (testdata/js/deployments.cjs): validate, what-if, create with a copy
// loop and a secure parameter and output (never answered), get, list,
// operations, export, what-if against what was deployed (Modify with its
// delta), bad input with details as a list, delete.
func TestJSSDKDeployments(t *testing.T) {
	e := testserver.Start(t)
	if out := runNode(t, e, "deployments.cjs"); !strings.Contains(out, "deployments done") {
		t.Fatal("the script did not finish")
	}
}

// TestAzCLIDeploymentModulesAndCompleteMode: az deployment group create
// --mode Complete of a template with a nested deployment (a Bicep module:
// expressionEvaluationOptions scope inner, parameters from the parent's)
// deploys the module as a deployment of its own, whose output the parent
// reads, deletes the group's disk the template leaves out and keeps the
// module's disk; az deployment group what-if --mode Complete of a template
// without the module then shows the module's disk Delete, and az
// deployment operation group list the Delete of the first deployment.
// Before, both were 400: nested deployments and Complete mode were not
// served.
func TestAzCLIDeploymentModulesAndCompleteMode(t *testing.T) {
	e := testserver.Start(t)
	az := loggedIn(t, e)
	az.run("group", "create", "-n", "cm", "-l", "westus", "-o", "none")
	az.run("disk", "create", "-g", "cm", "-n", "leftover", "--size-gb", "1", "-o", "none")
	const schema = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
	disk := func(name string) map[string]any {
		return map[string]any{"type": "Microsoft.Compute/disks", "apiVersion": "2023-04-02", "name": name, "location": "[resourceGroup().location]",
			"properties": map[string]any{"creationData": map[string]any{"createOption": "Empty"}, "diskSizeGB": 1}}
	}
	module := map[string]any{"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "diskModule",
		"properties": map[string]any{
			"expressionEvaluationOptions": map[string]any{"scope": "inner"}, "mode": "Incremental",
			"parameters": map[string]any{"name": map[string]any{"value": "[concat(parameters('prefix'), '-mod')]"}},
			"template": map[string]any{"$schema": schema, "contentVersion": "1.0.0.0",
				"parameters": map[string]any{"name": map[string]any{"type": "string"}},
				"resources":  []any{disk("[parameters('name')]")},
				"outputs":    map[string]any{"name": map[string]any{"type": "string", "value": "[parameters('name')]"}}},
		}}
	withModule := writeJSON(t, "main.json", map[string]any{"$schema": schema, "contentVersion": "1.0.0.0",
		"parameters": map[string]any{"prefix": map[string]any{"type": "string"}},
		"resources":  []any{disk("keep"), module},
		"outputs":    map[string]any{"moduleDisk": map[string]any{"type": "string", "value": "[reference('diskModule').outputs.name.value]"}}})
	out := az.json("deployment", "group", "create", "-g", "cm", "-n", "main", "--mode", "Complete", "--template-file", withModule, "--parameters", "prefix=app")
	if str(out, "properties.provisioningState") != "Succeeded" || str(out, "properties.mode") != "Complete" || str(out, "properties.outputs.moduleDisk.value") != "app-mod" {
		t.Fatalf("az deployment group create --mode Complete: %v", out)
	}
	if got := az.tsv("disk", "list", "-g", "cm", "--query", "sort([].name)"); got != "app-mod\nkeep" {
		t.Errorf("the group's disks after the Complete deployment: %q", got)
	}
	if got := az.tsv("deployment", "operation", "group", "list", "-g", "cm", "-n", "main", "--query", "sort([].join(' ', [properties.provisioningOperation, properties.targetResource.resourceName, properties.provisioningState]))"); got != "Create diskModule Succeeded\nCreate keep Succeeded\nDelete leftover Succeeded" {
		t.Errorf("az deployment operation group list: %q", got)
	}
	if got := az.tsv("deployment", "operation", "group", "list", "-g", "cm", "-n", "diskModule", "--query", "[].properties.targetResource.resourceName"); got != "app-mod" {
		t.Errorf("the module's operations: %q", got)
	}
	alone := writeJSON(t, "alone.json", map[string]any{"$schema": schema, "contentVersion": "1.0.0.0", "resources": []any{disk("keep")}})
	if got := az.tsv("deployment", "group", "what-if", "-g", "cm", "-n", "alone", "--mode", "Complete", "--template-file", alone, "--no-pretty-print", "--query", "sort(changes[].join(' ', [changeType, resourceId]))"); !strings.HasPrefix(got, "Delete /subscriptions/") || !strings.HasSuffix(strings.Split(got, "\n")[0], "/disks/app-mod") || !strings.Contains(got, "\nNoChange ") {
		t.Errorf("az deployment group what-if --mode Complete: %q", got)
	}
}
