package deployments_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// vaultTemplate deploys a Backup vault, a disk backup policy in it and
// count managed disks, with parameters, variables, a copy loop, a nested
// child, dependsOn by name and by resourceId, a condition and outputs
// that read a deployed resource (reference).
func vaultTemplate(t testing.TB) map[string]any {
	pol, _ := json.Marshal(fixture.DiskPolicy("PT4H", "P7D", ""))
	var policy map[string]any
	json.Unmarshal(pol, &policy)
	return map[string]any{
		"$schema":        "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
		"contentVersion": "1.0.0.0",
		"parameters": map[string]any{
			"vaultName": map[string]any{"type": "string", "minLength": 3},
			"location":  map[string]any{"type": "string", "defaultValue": "[resourceGroup().location]"},
			"diskCount": map[string]any{"type": "int", "defaultValue": 2, "minValue": 0, "maxValue": 5},
			"sizeGB":    map[string]any{"type": "int", "defaultValue": 1, "allowedValues": []any{1, 2}},
			"adminKey":  map[string]any{"type": "securestring", "defaultValue": "hush"},
			"withLock":  map[string]any{"type": "bool", "defaultValue": false},
		},
		"variables": map[string]any{
			"policyName": "[concat(parameters('vaultName'), '-policy')]",
			"diskPrefix": "[toLower(format('{0}-disk', parameters('vaultName')))]",
			"tags":       map[string]any{"purpose": "[string('backup')]", "suffix": "[uniqueString(resourceGroup().id)]"},
		},
		"resources": []any{
			map[string]any{
				"type": "Microsoft.DataProtection/backupVaults", "apiVersion": "2023-05-01",
				"name": "[parameters('vaultName')]", "location": "[parameters('location')]", "tags": "[variables('tags')]",
				"identity":   map[string]any{"type": "SystemAssigned"},
				"properties": map[string]any{"storageSettings": []any{map[string]any{"datastoreType": "VaultStore", "type": "LocallyRedundant"}}},
				"resources": []any{map[string]any{
					"type": "backupPolicies", "apiVersion": "2023-05-01", "name": "[variables('policyName')]",
					"dependsOn":  []any{"[resourceId('Microsoft.DataProtection/backupVaults', parameters('vaultName'))]"},
					"properties": policy["properties"],
				}},
			},
			map[string]any{
				"type": "Microsoft.Compute/disks", "apiVersion": "2023-04-02",
				"name":       "[concat(variables('diskPrefix'), copyIndex(1))]",
				"location":   "[parameters('location')]",
				"copy":       map[string]any{"name": "disks", "count": "[parameters('diskCount')]"},
				"sku":        map[string]any{"name": "Standard_LRS"},
				"dependsOn":  []any{"[parameters('vaultName')]"},
				"properties": map[string]any{"creationData": map[string]any{"createOption": "Empty"}, "diskSizeGB": "[parameters('sizeGB')]"},
			},
			map[string]any{
				"condition": "[parameters('withLock')]",
				"type":      "Microsoft.Authorization/locks", "apiVersion": "2016-09-01", "name": "never",
				"properties": map[string]any{"level": "CanNotDelete"},
			},
		},
		"outputs": map[string]any{
			"vaultId":     map[string]any{"type": "string", "value": "[resourceId('Microsoft.DataProtection/backupVaults', parameters('vaultName'))]"},
			"principal":   map[string]any{"type": "string", "value": "[reference(parameters('vaultName'), '2023-05-01', 'Full').identity.principalId]"},
			"diskState":   map[string]any{"type": "string", "value": "[reference(resourceId('Microsoft.Compute/disks', concat(variables('diskPrefix'), '1'))).diskState]"},
			"policyCount": map[string]any{"type": "int", "value": "[length(createArray(variables('policyName')))]"},
		},
	}
}

// TestDeployAVaultAPolicyAndDisksWithTheSDK: a template deployment through
// the Go SDK's DeploymentsClient creates a Backup vault, its disk policy
// and two disks (a copy loop) as the caller, ends Succeeded with outputs
// read from the deployed resources, lists its operations one per resource,
// and never echoes a secure parameter.
func TestDeployAVaultAPolicyAndDisksWithTheSDK(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("deploy-rg")
	ctx := e.Ctx()
	dc := testserver.Factory(e, armresources.NewClientFactory).NewDeploymentsClient()
	params := map[string]any{"vaultName": map[string]any{"value": "Vault1"}}
	d := armresources.Deployment{Properties: &armresources.DeploymentProperties{
		Mode: to.Ptr(armresources.DeploymentModeIncremental), Template: vaultTemplate(t), Parameters: params}}
	v, err := dc.BeginValidate(ctx, "deploy-rg", "dep1", d, nil)
	vr := fixture.Done(t, v, err)
	if vr.Properties == nil || len(vr.Properties.ValidatedResources) != 4 {
		t.Fatalf("validate: %+v", vr.Properties)
	}
	p, err := dc.BeginCreateOrUpdate(ctx, "deploy-rg", "dep1", d, nil)
	res := fixture.Done(t, p, err)
	props := res.Properties
	if *props.ProvisioningState != armresources.ProvisioningStateSucceeded {
		t.Fatalf("deployment: %s %+v", *props.ProvisioningState, props.Error)
	}
	out := props.Outputs.(map[string]any)
	field := func(k string) any { return out[k].(map[string]any)["value"] }
	if !strings.HasSuffix(field("vaultId").(string), "/providers/Microsoft.DataProtection/backupVaults/Vault1") ||
		field("principal") == "" || field("diskState") != "Unattached" || field("policyCount") != float64(1) {
		t.Errorf("outputs: %v", out)
	}
	if pv := props.Parameters.(map[string]any)["adminKey"].(map[string]any); pv["value"] != nil || pv["type"] != "SecureString" {
		t.Errorf("a secure parameter answered: %v", pv)
	}
	for _, path := range []string{
		"/subscriptions/" + e.Sub + "/resourceGroups/deploy-rg/providers/Microsoft.DataProtection/backupVaults/Vault1?api-version=2023-05-01",
		"/subscriptions/" + e.Sub + "/resourceGroups/deploy-rg/providers/Microsoft.DataProtection/backupVaults/Vault1/backupPolicies/Vault1-policy?api-version=2023-05-01",
		"/subscriptions/" + e.Sub + "/resourceGroups/deploy-rg/providers/Microsoft.Compute/disks/vault1-disk1?api-version=2023-04-02",
		"/subscriptions/" + e.Sub + "/resourceGroups/deploy-rg/providers/Microsoft.Compute/disks/vault1-disk2?api-version=2023-04-02",
	} {
		if resp, m := e.Do("GET", path, nil, testserver.AnyStatus()); resp.StatusCode != 200 {
			t.Errorf("GET %s: %d %v", path, resp.StatusCode, m)
		}
	}
	var n int
	for page := range fixture.Pages(t, testserver.Factory(e, armresources.NewClientFactory).NewDeploymentOperationsClient().NewListPager("deploy-rg", "dep1", nil)) {
		for _, o := range page.Value {
			n++
			if *o.Properties.ProvisioningState != "Succeeded" || o.Properties.TargetResource == nil {
				t.Errorf("operation: %+v", o.Properties)
			}
		}
	}
	if n != 4 {
		t.Errorf("%d deployment operations, want 4", n)
	}
	// The deployment is listed, found by its state, exported; it is no
	// resource of the group's list.
	var listed int
	for page := range fixture.Pages(t, dc.NewListByResourceGroupPager("deploy-rg", &armresources.DeploymentsClientListByResourceGroupOptions{Filter: to.Ptr("provisioningState eq 'Succeeded'")})) {
		listed += len(page.Value)
	}
	if listed != 1 {
		t.Errorf("listed %d succeeded deployments", listed)
	}
	if ex, err := dc.ExportTemplate(ctx, "deploy-rg", "dep1", nil); err != nil || ex.Template == nil {
		t.Errorf("exportTemplate: %v", err)
	}
	if ce, err := dc.CheckExistence(ctx, "deploy-rg", "dep1", nil); err != nil || !ce.Success {
		t.Errorf("checkExistence: %v %v", ce, err)
	}
	if _, m := e.Do("GET", "/subscriptions/"+e.Sub+"/resourceGroups/deploy-rg/resources?api-version=2021-04-01", nil); strings.Contains(mustJSON(m), "Microsoft.Resources/deployments") {
		t.Errorf("the group's resources list a deployment: %v", m)
	}
	dp, err := dc.BeginDelete(ctx, "deploy-rg", "dep1", nil)
	fixture.Done(t, dp, err)
	if ce, err := dc.CheckExistence(ctx, "deploy-rg", "dep1", nil); err != nil || ce.Success {
		t.Errorf("checkExistence after delete: %v %v", ce, err)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestDeploymentTemplateErrors: a template naming a function ARM does not
// have, a missing parameter, a value outside allowedValues, a cycle and a
// remote template are 400 InvalidTemplate saying what and where, and
// nothing is deployed.
func TestDeploymentTemplateErrors(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("bad-rg")
	dc := testserver.Factory(e, armresources.NewClientFactory).NewDeploymentsClient()
	disk := func(name string) map[string]any {
		return map[string]any{"type": "Microsoft.Compute/disks", "apiVersion": "2023-04-02", "name": name, "location": "westus",
			"properties": map[string]any{"creationData": map[string]any{"createOption": "Empty"}, "diskSizeGB": 1}}
	}
	badFn := disk("[frobnicate('x')]")
	cyc1, cyc2 := disk("a"), disk("b")
	cyc1["dependsOn"], cyc2["dependsOn"] = []any{"b"}, []any{"a"}
	for _, c := range []struct {
		what     string
		template map[string]any
		params   map[string]any
		want     []string
	}{
		{"an unknown function", map[string]any{"resources": []any{badFn}}, nil, []string{"frobnicate", "resources[0].name"}},
		{"a missing parameter", map[string]any{"parameters": map[string]any{"n": map[string]any{"type": "string"}}, "resources": []any{}}, nil, []string{"'n'", "not provided"}},
		{"a value not allowed", map[string]any{"parameters": map[string]any{"n": map[string]any{"type": "string", "allowedValues": []any{"a"}}}, "resources": []any{}},
			map[string]any{"n": map[string]any{"value": "b"}}, []string{"allowed value"}},
		{"an unknown parameter given", map[string]any{"resources": []any{}}, map[string]any{"zz": map[string]any{"value": "b"}}, []string{"zz"}},
		{"a cycle", map[string]any{"resources": []any{cyc1, cyc2}}, nil, []string{"Circular dependency"}},
		{"dependsOn on what is not in it", map[string]any{"resources": []any{map[string]any{"type": "Microsoft.Compute/disks", "apiVersion": "2023-04-02", "name": "c", "dependsOn": []any{"nothere"}}}}, nil, []string{"nothere", "not defined"}},
	} {
		_, err := dc.BeginCreateOrUpdate(e.Ctx(), "bad-rg", "bad", armresources.Deployment{Properties: &armresources.DeploymentProperties{
			Mode: to.Ptr(armresources.DeploymentModeIncremental), Template: c.template, Parameters: c.params}}, nil)
		var re *azcore.ResponseError
		if !errors.As(err, &re) || re.StatusCode != 400 || re.ErrorCode != "InvalidTemplate" {
			t.Errorf("%s: %v", c.what, err)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: the error does not say %q: %v", c.what, w, err)
			}
		}
	}
	_, err := dc.BeginCreateOrUpdate(e.Ctx(), "bad-rg", "bad", armresources.Deployment{Properties: &armresources.DeploymentProperties{
		Mode: to.Ptr(armresources.DeploymentModeIncremental), TemplateLink: &armresources.TemplateLink{URI: to.Ptr("https://example.com/t.json")}}}, nil)
	if err == nil || !strings.Contains(err.Error(), "inline") {
		t.Errorf("a template link: %v", err)
	}
	if resp, m := e.Do("GET", "/subscriptions/"+e.Sub+"/resourceGroups/bad-rg/providers/Microsoft.Compute/disks?api-version=2023-04-02", nil); resp.StatusCode != 200 || len(m["value"].([]any)) != 0 {
		t.Errorf("disks after refused deployments: %v", m)
	}
}
