package deployments_test

import (
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/google/uuid"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

func diskRes(name string) map[string]any {
	return map[string]any{"type": "Microsoft.Compute/disks", "apiVersion": "2023-04-02", "name": name, "location": "westus",
		"properties": map[string]any{"creationData": map[string]any{"createOption": "Empty"}, "diskSizeGB": 1}}
}

func templateOf(res ...any) map[string]any {
	return map[string]any{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0", "resources": res}
}

// TestCompleteMode: a deployment in Complete mode (the Go SDK's
// DeploymentModeComplete) deletes, once its template's resources are
// deployed, the group's resources its template does not name, each as a
// Delete operation of the deployment, and keeps those it names and other
// groups' resources; one it names under a false condition is deleted, as
// ARM does from api-version 2019-05-10 (before, it is kept). A caller who may
// deploy and write disks but not delete a Backup vault the template leaves
// out is refused first (400 InvalidTemplateDeployment naming the delete
// action), nothing deleted. A nested deployment in Complete mode is
// refused. Before, Complete mode was 400 InvalidDeploymentMode.
func TestCompleteMode(t *testing.T) {
	e := testserver.StartWithGroups(t, "cm-rg", "cm-other")
	ctx := e.Ctx()
	f := testserver.Factory(e, armresources.NewClientFactory)
	dc := f.NewDeploymentsClient()
	deploy := func(dc *armresources.DeploymentsClient, group, name string, mode armresources.DeploymentMode, tmpl map[string]any) (*armresources.DeploymentExtended, error) {
		p, err := dc.BeginCreateOrUpdate(ctx, group, name, armresources.Deployment{Properties: &armresources.DeploymentProperties{Mode: to.Ptr(mode), Template: tmpl}}, nil)
		if err != nil {
			return nil, err
		}
		res, err := fixture.Wait(p, err)
		return &res.DeploymentExtended, err
	}
	vault := map[string]any{"type": "Microsoft.DataProtection/backupVaults", "apiVersion": "2023-05-01", "name": "extra-vault", "location": "westus",
		"properties": map[string]any{"storageSettings": []any{map[string]any{"datastoreType": "VaultStore", "type": "LocallyRedundant"}}}}
	if _, err := deploy(dc, "cm-rg", "setup", armresources.DeploymentModeIncremental, templateOf(diskRes("keep"), diskRes("extra"), diskRes("cond"), vault)); err != nil {
		t.Fatal(err)
	}
	if _, err := deploy(dc, "cm-other", "setup", armresources.DeploymentModeIncremental, templateOf(diskRes("elsewhere"))); err != nil {
		t.Fatal(err)
	}
	cond := diskRes("cond")
	cond["condition"] = "[equals(1, 2)]"
	complete := templateOf(diskRes("keep"), cond)
	groups := "/subscriptions/" + e.Sub + "/resourceGroups/"
	exists := func(path string) bool {
		resp, _ := e.Do("GET", groups+path, nil, testserver.AnyStatus())
		return resp.StatusCode == 200
	}
	const disks, vaults = "/providers/Microsoft.Compute/disks/", "/providers/Microsoft.DataProtection/backupVaults/"

	// A caller who may not delete the vault: refused before anything.
	group := groups + "cm-rg"
	role := uuid.NewString()
	if resp, m := e.Do("PUT", group+"/providers/Microsoft.Authorization/roleDefinitions/"+role+"?api-version=2022-04-01", map[string]any{"properties": map[string]any{
		"roleName": "disk deployer", "assignableScopes": []string{group},
		"permissions": []any{map[string]any{"actions": []string{"Microsoft.Resources/deployments/*", "Microsoft.Compute/disks/*", "Microsoft.Resources/subscriptions/resourceGroups/read",
			"Microsoft.Resources/subscriptions/resourceGroups/resources/read", "Microsoft.DataProtection/backupVaults/read"}}}}}); resp.StatusCode != 201 {
		t.Fatalf("custom role: %d %v", resp.StatusCode, m)
	}
	id, cred := fixture.Principal(t, e, "deployer")
	fixture.Assign(t, e, group, "/subscriptions/"+e.Sub+"/providers/Microsoft.Authorization/roleDefinitions/"+role, id)
	asDeployer, err := armresources.NewDeploymentsClient(e.Sub, cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = deploy(asDeployer, "cm-rg", "complete", armresources.DeploymentModeComplete, complete)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 400 || re.ErrorCode != "InvalidTemplateDeployment" || !strings.Contains(err.Error(), "Microsoft.DataProtection/backupVaults/delete") {
		t.Fatalf("Complete mode by a caller who may not delete the vault: %v", err)
	}
	if !exists("cm-rg"+disks+"extra?api-version=2023-04-02") || !exists("cm-rg"+vaults+"extra-vault?api-version=2023-05-01") {
		t.Fatal("a refused Complete deployment deleted resources")
	}

	// The owner's: the leftovers deleted, the rest kept.
	res, err := deploy(dc, "cm-rg", "complete", armresources.DeploymentModeComplete, complete)
	if err != nil || *res.Properties.ProvisioningState != armresources.ProvisioningStateSucceeded || *res.Properties.Mode != armresources.DeploymentModeComplete {
		t.Fatalf("Complete mode: %v %+v", err, res)
	}
	for path, want := range map[string]bool{
		"cm-rg" + disks + "keep?api-version=2023-04-02":         true,
		"cm-rg" + disks + "cond?api-version=2023-04-02":         false,
		"cm-other" + disks + "elsewhere?api-version=2023-04-02": true,
		"cm-rg" + disks + "extra?api-version=2023-04-02":        false,
		"cm-rg" + vaults + "extra-vault?api-version=2023-05-01": false,
	} {
		if exists(path) != want {
			t.Errorf("%s exists: %v, want %v", path, !want, want)
		}
	}
	var ops []string
	for page := range fixture.Pages(t, f.NewDeploymentOperationsClient().NewListPager("cm-rg", "complete", nil)) {
		for _, o := range page.Value {
			ops = append(ops, string(*o.Properties.ProvisioningOperation)+" "+*o.Properties.TargetResource.ResourceName+" "+*o.Properties.ProvisioningState)
		}
	}
	sort.Strings(ops)
	if got := strings.Join(ops, ","); got != "Create keep Succeeded,Delete cond Succeeded,Delete extra Succeeded,Delete extra-vault Succeeded" {
		t.Errorf("the Complete deployment's operations: %s", got)
	}

	// At an api-version before 2019-05-10, a false condition's resource is
	// kept (ARM's rule then).
	if _, err := deploy(dc, "cm-rg", "setup2", armresources.DeploymentModeIncremental, templateOf(diskRes("cond"), diskRes("extra"))); err != nil {
		t.Fatal(err)
	}
	old := group + "/providers/Microsoft.Resources/deployments/old?api-version=2018-05-01"
	if resp, m := e.Do("PUT", old, map[string]any{"properties": map[string]any{"mode": "Complete", "template": complete}}); resp.StatusCode != 201 {
		t.Fatalf("Complete mode at 2018-05-01: %d %v", resp.StatusCode, m)
	}
	var m map[string]any
	e.WaitFor("the deployment at 2018-05-01 to end", func() bool {
		_, m = e.Do("GET", old, nil)
		st := testserver.Field(m, "properties.provisioningState")
		return st != "Accepted" && st != "Running"
	})
	if st := testserver.Field(m, "properties.provisioningState"); st != "Succeeded" {
		t.Fatalf("Complete mode at 2018-05-01: %v %v", st, testserver.Field(m, "properties.error"))
	}
	if !exists("cm-rg"+disks+"cond?api-version=2023-04-02") || exists("cm-rg"+disks+"extra?api-version=2023-04-02") {
		t.Error("Complete mode at 2018-05-01: want the false condition's disk kept and the left-out one deleted")
	}

	// A nested deployment in Complete mode: refused.
	nested := templateOf(map[string]any{"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": "inner",
		"properties": map[string]any{"mode": "Complete", "template": templateOf(diskRes("keep"))}})
	if _, err := deploy(dc, "cm-rg", "nestedcomplete", armresources.DeploymentModeIncremental, nested); !errors.As(err, &re) || re.ErrorCode != "InvalidTemplate" || !strings.Contains(err.Error(), "Incremental") {
		t.Errorf("a nested deployment in Complete mode: %v", err)
	}
}

// TestCompleteModeKeepsWhatModulesOfModulesDeploy: Complete mode keeps
// what the template's nested deployments deployed to the group at any
// depth (a Bicep module that uses a module compiles to a nested deployment
// inside a nested deployment's template), and deletes only what no part of
// the template deployed. Before, the parent read the resources of its own
// nested deployments only: the disk the inner module had just deployed was
// deleted.
func TestCompleteModeKeepsWhatModulesOfModulesDeploy(t *testing.T) {
	e := testserver.StartWithGroups(t, "cmm-rg")
	ctx := e.Ctx()
	dc := testserver.Factory(e, armresources.NewClientFactory).NewDeploymentsClient()
	deploy := func(name string, mode armresources.DeploymentMode, tmpl map[string]any) {
		t.Helper()
		p, err := dc.BeginCreateOrUpdate(ctx, "cmm-rg", name, armresources.Deployment{Properties: &armresources.DeploymentProperties{Mode: to.Ptr(mode), Template: tmpl}}, nil)
		if res := fixture.Done(t, p, err); *res.Properties.ProvisioningState != armresources.ProvisioningStateSucceeded {
			t.Fatalf("deployment %s: %s %s", name, *res.Properties.ProvisioningState, mustJSON(res.Properties.Error))
		}
	}
	module := func(name string, res ...any) map[string]any {
		return map[string]any{"type": "Microsoft.Resources/deployments", "apiVersion": "2022-09-01", "name": name,
			"properties": map[string]any{"expressionEvaluationOptions": map[string]any{"scope": "inner"}, "mode": "Incremental", "template": templateOf(res...)}}
	}
	deploy("setup", armresources.DeploymentModeIncremental, templateOf(diskRes("stale"), diskRes("off")))
	off := diskRes("off")
	off["condition"] = false
	complete := templateOf(diskRes("top"), module("outerMod", diskRes("mid"), module("innerMod", diskRes("deep"), off)))
	// What-if predicts what the deployment does: the modules' disks
	// created, the left-out disk and the one a module names under a false
	// condition (it deploys nothing of it) deleted.
	wp, err := dc.BeginWhatIf(ctx, "cmm-rg", "complete", armresources.DeploymentWhatIf{Properties: &armresources.DeploymentWhatIfProperties{
		Mode: to.Ptr(armresources.DeploymentModeComplete), Template: complete}}, nil)
	wi := fixture.Done(t, wp, err)
	var got []string
	for _, c := range wi.Properties.Changes {
		got = append(got, string(*c.ChangeType)+" "+(*c.ResourceID)[strings.LastIndex(*c.ResourceID, "/")+1:])
	}
	sort.Strings(got)
	if g := strings.Join(got, ","); g != "Create deep,Create mid,Create top,Delete off,Delete stale" {
		t.Errorf("what-if in Complete mode: %s", g)
	}
	deploy("complete", armresources.DeploymentModeComplete, complete)
	disks := "/subscriptions/" + e.Sub + "/resourceGroups/cmm-rg/providers/Microsoft.Compute/disks/"
	for name, want := range map[string]bool{"top": true, "mid": true, "deep": true, "stale": false, "off": false} {
		resp, _ := e.Do("GET", disks+name+"?api-version=2023-04-02", nil, testserver.AnyStatus())
		if (resp.StatusCode == 200) != want {
			t.Errorf("disk %s exists: %v, want %v", name, !want, want)
		}
	}
}
