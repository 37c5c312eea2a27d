package deployments_test

import (
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// bicepModules is a template as Bicep compiles one with two modules: a
// disk module (expressionEvaluationOptions scope inner, its parameters
// given from the parent's) whose outputs the parent reads back through
// reference(...).outputs, and a Backup vault module in another resource
// group (resourceGroup property); plus a nested deployment in the outer
// scope (the ARM default), whose template uses the parent's parameters
// and variables.
func bicepModules() map[string]any {
	const schema = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
	diskModule := map[string]any{
		"$schema": schema, "contentVersion": "1.0.0.0",
		"parameters": map[string]any{"diskName": map[string]any{"type": "string"}, "sizeGB": map[string]any{"type": "int"}},
		"resources": []any{map[string]any{
			"type": "Microsoft.Compute/disks", "apiVersion": "2023-04-02", "name": "[parameters('diskName')]", "location": "[resourceGroup().location]",
			"sku":        map[string]any{"name": "Standard_LRS"},
			"properties": map[string]any{"creationData": map[string]any{"createOption": "Empty"}, "diskSizeGB": "[parameters('sizeGB')]"},
		}},
		"outputs": map[string]any{
			"diskId": map[string]any{"type": "string", "value": "[resourceId('Microsoft.Compute/disks', parameters('diskName'))]"},
			"state":  map[string]any{"type": "string", "value": "[reference(resourceId('Microsoft.Compute/disks', parameters('diskName')), '2023-04-02').diskState]"},
		},
	}
	vaultModule := map[string]any{
		"$schema": schema, "contentVersion": "1.0.0.0",
		"parameters": map[string]any{"vaultName": map[string]any{"type": "string"}},
		"resources": []any{map[string]any{
			"type": "Microsoft.DataProtection/backupVaults", "apiVersion": "2023-05-01", "name": "[parameters('vaultName')]", "location": "[resourceGroup().location]",
			"identity":   map[string]any{"type": "SystemAssigned"},
			"properties": map[string]any{"storageSettings": []any{map[string]any{"datastoreType": "VaultStore", "type": "LocallyRedundant"}}},
		}},
		"outputs": map[string]any{"vaultId": map[string]any{"type": "string", "value": "[resourceId('Microsoft.DataProtection/backupVaults', parameters('vaultName'))]"}},
	}
	outer := map[string]any{
		"$schema": schema, "contentVersion": "1.0.0.0",
		"resources": []any{map[string]any{
			"type": "Microsoft.Compute/disks", "apiVersion": "2023-04-02", "name": "[variables('outerDisk')]", "location": "[parameters('location')]",
			"tags":       map[string]any{"note": "[variables('literal')]"},
			"properties": map[string]any{"creationData": map[string]any{"createOption": "Empty"}, "diskSizeGB": 1},
		}},
	}
	return map[string]any{
		"$schema": schema, "contentVersion": "1.0.0.0",
		"parameters": map[string]any{
			"prefix":   map[string]any{"type": "string"},
			"location": map[string]any{"type": "string", "defaultValue": "[resourceGroup().location]"},
		},
		"variables": map[string]any{"outerDisk": "[concat(parameters('prefix'), '-outer')]", "literal": "[[not an expression]"},
		"resources": []any{
			map[string]any{
				"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "diskModule",
				"properties": map[string]any{
					"expressionEvaluationOptions": map[string]any{"scope": "inner"}, "mode": "Incremental",
					"parameters": map[string]any{"diskName": map[string]any{"value": "[format('{0}-disk', parameters('prefix'))]"}, "sizeGB": map[string]any{"value": 2}},
					"template":   diskModule,
				},
			},
			map[string]any{
				"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "vaultModule", "resourceGroup": "nested-other",
				"properties": map[string]any{
					"expressionEvaluationOptions": map[string]any{"scope": "inner"}, "mode": "Incremental",
					"parameters": map[string]any{"vaultName": map[string]any{"value": "[concat(parameters('prefix'), '-vault')]"}},
					"template":   vaultModule,
				},
				"dependsOn": []any{"[resourceId('Microsoft.Resources/deployments', 'diskModule')]"},
			},
			map[string]any{
				"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "outerScope",
				"properties": map[string]any{"mode": "Incremental", "template": outer},
			},
		},
		"outputs": map[string]any{
			"diskId":    map[string]any{"type": "string", "value": "[reference(resourceId('Microsoft.Resources/deployments', 'diskModule'), '2022-09-01').outputs.diskId.value]"},
			"diskState": map[string]any{"type": "string", "value": "[reference('diskModule').outputs.state.value]"},
			"vaultId":   map[string]any{"type": "string", "value": "[reference(resourceId('nested-other', 'Microsoft.Resources/deployments', 'vaultModule'), '2022-09-01').outputs.vaultId.value]"},
		},
	}
}

// TestNestedDeployments: a template with nested deployments (Bicep
// modules: inner scope, one in another resource group; and one in the
// outer scope) deployed through the Go SDK ends Succeeded, its outputs
// read from the nested deployments' outputs; each nested deployment is a
// deployment of its own, in its group, with its own operations, and the
// parent's operations name them. A nested deployment's templateLink is
// refused saying to put the template inline. What-if lists the nested
// deployments' resources, not the deployments. Before, any template with a
// Microsoft.Resources/deployments resource was 400 InvalidTemplate.
func TestNestedDeployments(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("nested-rg", "nested-other")
	ctx := e.Ctx()
	dc := testserver.Factory(e, armresources.NewClientFactory).NewDeploymentsClient()
	oc := testserver.Factory(e, armresources.NewClientFactory).NewDeploymentOperationsClient()
	// What-if expands the nested deployments: their resources, not them.
	wp, err := dc.BeginWhatIf(ctx, "nested-rg", "main", armresources.DeploymentWhatIf{Properties: &armresources.DeploymentWhatIfProperties{
		Mode: to.Ptr(armresources.DeploymentModeIncremental), Template: bicepModules(), Parameters: map[string]any{"prefix": map[string]any{"value": "app"}}}}, nil)
	wi := fixture.Done(t, wp, err)
	var predicted []string
	for _, c := range wi.Properties.Changes {
		id := *c.ResourceID
		predicted = append(predicted, string(*c.ChangeType)+" "+id[strings.Index(id, "/resourceGroups/")+len("/resourceGroups/"):])
	}
	sort.Strings(predicted)
	if got := strings.Join(predicted, ","); got != "Create nested-other/providers/Microsoft.DataProtection/backupVaults/app-vault,Create nested-rg/providers/Microsoft.Compute/disks/app-disk,Create nested-rg/providers/Microsoft.Compute/disks/app-outer" {
		t.Errorf("what-if of the nested deployments: %s", got)
	}
	p, err := dc.BeginCreateOrUpdate(ctx, "nested-rg", "main", armresources.Deployment{Properties: &armresources.DeploymentProperties{
		Mode: to.Ptr(armresources.DeploymentModeIncremental), Template: bicepModules(), Parameters: map[string]any{"prefix": map[string]any{"value": "app"}}}}, nil)
	res := fixture.Done(t, p, err)
	if *res.Properties.ProvisioningState != armresources.ProvisioningStateSucceeded {
		t.Fatalf("deployment: %s %s", *res.Properties.ProvisioningState, mustJSON(res.Properties.Error))
	}
	out := res.Properties.Outputs.(map[string]any)
	val := func(k string) string { s, _ := out[k].(map[string]any)["value"].(string); return s }
	groups := "/subscriptions/" + e.Sub + "/resourceGroups/"
	if val("diskId") != groups+"nested-rg/providers/Microsoft.Compute/disks/app-disk" || val("diskState") != "Unattached" ||
		val("vaultId") != groups+"nested-other/providers/Microsoft.DataProtection/backupVaults/app-vault" {
		t.Errorf("outputs: %v", out)
	}
	if _, m := e.Do("GET", groups+"nested-rg/providers/Microsoft.Compute/disks/app-outer?api-version=2023-04-02", nil); testserver.Field(m, "tags.note") != "[not an expression]" {
		t.Errorf("the outer-scope disk's tag from an escaped variable: %v", m["tags"])
	}
	for _, path := range []string{
		groups + "nested-rg/providers/Microsoft.Compute/disks/app-disk?api-version=2023-04-02",
		groups + "nested-rg/providers/Microsoft.Compute/disks/app-outer?api-version=2023-04-02",
		groups + "nested-other/providers/Microsoft.DataProtection/backupVaults/app-vault?api-version=2023-05-01",
	} {
		if resp, m := e.Do("GET", path, nil, testserver.AnyStatus()); resp.StatusCode != 200 {
			t.Errorf("GET %s: %d %v", path, resp.StatusCode, m)
		}
	}
	// What-if in Complete mode: what the nested deployments deploy is the
	// template's, nothing to delete.
	wp, err = dc.BeginWhatIf(ctx, "nested-rg", "again", armresources.DeploymentWhatIf{Properties: &armresources.DeploymentWhatIfProperties{
		Mode: to.Ptr(armresources.DeploymentModeComplete), Template: bicepModules(), Parameters: map[string]any{"prefix": map[string]any{"value": "app"}}}}, nil)
	wi = fixture.Done(t, wp, err)
	for _, c := range wi.Properties.Changes {
		if ct := *c.ChangeType; ct != armresources.ChangeTypeNoChange && ct != armresources.ChangeTypeModify {
			t.Errorf("what-if in Complete mode of what was deployed: %s %s %v", ct, *c.ResourceID, c.UnsupportedReason)
		}
	}
	// Each nested deployment is one of its group, with its operations.
	for _, c := range []struct{ group, name, target string }{
		{"nested-rg", "diskModule", "Microsoft.Compute/disks"},
		{"nested-other", "vaultModule", "Microsoft.DataProtection/backupVaults"},
		{"nested-rg", "outerScope", "Microsoft.Compute/disks"},
	} {
		d, err := dc.Get(ctx, c.group, c.name, nil)
		if err != nil || *d.Properties.ProvisioningState != armresources.ProvisioningStateSucceeded {
			t.Errorf("nested deployment %s/%s: %v %v", c.group, c.name, err, d.Properties)
			continue
		}
		var targets []string
		for page := range fixture.Pages(t, oc.NewListPager(c.group, c.name, nil)) {
			for _, o := range page.Value {
				targets = append(targets, *o.Properties.TargetResource.ResourceType+" "+string(*o.Properties.ProvisioningState))
			}
		}
		if strings.Join(targets, ",") != c.target+" Succeeded" {
			t.Errorf("operations of %s: %v", c.name, targets)
		}
	}
	if d, err := dc.Get(ctx, "nested-rg", "outerScope", nil); err == nil {
		if v := d.Properties.Parameters.(map[string]any)["prefix"].(map[string]any)["value"]; v != "app" {
			t.Errorf("the outer-scope deployment's parameters: %v", d.Properties.Parameters)
		}
	}
	var parentOps []string
	for page := range fixture.Pages(t, oc.NewListPager("nested-rg", "main", nil)) {
		for _, o := range page.Value {
			parentOps = append(parentOps, *o.Properties.TargetResource.ID)
		}
	}
	if got := strings.Join(parentOps, ","); len(parentOps) != 3 || !strings.Contains(got, groups+"nested-other/providers/Microsoft.Resources/deployments/vaultModule") {
		t.Errorf("the parent's operations: %s", got)
	}

	// A nested deployment's templateLink: 400 InvalidTemplate, nothing deployed.
	link := bicepModules()
	link["resources"] = []any{map[string]any{"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "linked",
		"properties": map[string]any{"mode": "Incremental", "templateLink": map[string]any{"relativePath": "modules/disk.json"}}}}
	_, err = dc.BeginCreateOrUpdate(ctx, "nested-rg", "linked", armresources.Deployment{Properties: &armresources.DeploymentProperties{
		Mode: to.Ptr(armresources.DeploymentModeIncremental), Template: link, Parameters: map[string]any{"prefix": map[string]any{"value": "app"}}}}, nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 400 || re.ErrorCode != "InvalidTemplate" || !strings.Contains(err.Error(), "inline") {
		t.Errorf("a nested templateLink: %v", err)
	}
}

// TestOuterScopeKeepsSecureValuesHidden: a nested deployment in the outer
// scope is given its parent's variables, and a variable made from a
// secureString parameter is as hidden as the parameter: neither the nested
// deployment's exported template (az deployment group export) nor its
// parameters show the secret. Before, the variables were sent as values in
// the nested deployment's template, and its export showed 'pw=S3cret...'.
func TestOuterScopeKeepsSecureValuesHidden(t *testing.T) {
	e := testserver.StartWithGroups(t, "sec-rg")
	ctx := e.Ctx()
	dc := testserver.Factory(e, armresources.NewClientFactory).NewDeploymentsClient()
	const secret = "S3cretValue-of-the-parent"
	tmpl := templateOf(map[string]any{"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "outer",
		"properties": map[string]any{"mode": "Incremental", "template": templateOf(diskRes("plain"))}})
	tmpl["parameters"] = map[string]any{"pw": map[string]any{"type": "secureString"}}
	tmpl["variables"] = map[string]any{"conn": "[concat('pw=', parameters('pw'))]"}
	p, err := dc.BeginCreateOrUpdate(ctx, "sec-rg", "main", armresources.Deployment{Properties: &armresources.DeploymentProperties{
		Mode: to.Ptr(armresources.DeploymentModeIncremental), Template: tmpl, Parameters: map[string]any{"pw": map[string]any{"value": secret}}}}, nil)
	if res := fixture.Done(t, p, err); *res.Properties.ProvisioningState != armresources.ProvisioningStateSucceeded {
		t.Fatalf("deployment: %s %s", *res.Properties.ProvisioningState, mustJSON(res.Properties.Error))
	}
	exp, err := dc.ExportTemplate(ctx, "sec-rg", "outer", nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := dc.Get(ctx, "sec-rg", "outer", nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := mustJSON(exp.Template) + mustJSON(d.Properties.Parameters); strings.Contains(s, secret) {
		t.Errorf("the nested deployment's export or parameters show the parent's secure value: %s", s)
	}
}
