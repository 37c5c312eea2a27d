package deployments_test

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestSecureValuesAreNeverAnswered: the values of securestring and
// secureobject parameters and outputs appear in no answer about the
// deployment (its PUT, validate, GET, list, operations; the SDK's result
// shows each with its type only, as Azure's do), and a secure parameter's
// value refused by allowedValues is not echoed in the error. Before,
// secure outputs were answered with their values.
func TestSecureValuesAreNeverAnswered(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("sec")
	ctx := e.Ctx()
	const secret, objSecret = "s3cret-Given-1", "s3cret-Obj-2"
	tmpl := map[string]any{
		"$schema":        "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
		"contentVersion": "1.0.0.0",
		"parameters": map[string]any{
			"key":  map[string]any{"type": "securestring"},
			"conf": map[string]any{"type": "secureObject"},
		},
		"resources": []any{map[string]any{
			"type": "Microsoft.Compute/disks", "apiVersion": "2023-04-02", "name": "d1", "location": "westus",
			"properties": map[string]any{"creationData": map[string]any{"createOption": "Empty"}, "diskSizeGB": 1},
		}},
		"outputs": map[string]any{
			"keyOut":   map[string]any{"type": "securestring", "value": "[parameters('key')]"},
			"confOut":  map[string]any{"type": "SecureObject", "value": "[parameters('conf')]"},
			"keyLen":   map[string]any{"type": "int", "value": "[length(parameters('key'))]"},
			"diskName": map[string]any{"type": "string", "value": "d1"},
		},
	}
	params := map[string]any{"key": map[string]any{"value": secret}, "conf": map[string]any{"value": map[string]any{"pw": objSecret}}}
	dc := testserver.Factory(e, armresources.NewClientFactory).NewDeploymentsClient()
	d := armresources.Deployment{Properties: &armresources.DeploymentProperties{Mode: to.Ptr(armresources.DeploymentModeIncremental), Template: tmpl, Parameters: params}}
	leaks := func(what string, v any) {
		t.Helper()
		if s := mustJSON(v); strings.Contains(s, secret) || strings.Contains(s, objSecret) {
			t.Errorf("%s answers a secure value: %s", what, s)
		}
	}
	v, err := dc.BeginValidate(ctx, "sec", "dep", d, nil)
	leaks("validate", fixture.Done(t, v, err))
	p, err := dc.BeginCreateOrUpdate(ctx, "sec", "dep", d, nil)
	res := fixture.Done(t, p, err)
	if *res.Properties.ProvisioningState != armresources.ProvisioningStateSucceeded {
		t.Fatalf("deployment: %s %+v", *res.Properties.ProvisioningState, res.Properties.Error)
	}
	leaks("the SDK's result", res)
	out := res.Properties.Outputs.(map[string]any)
	for k, typ := range map[string]string{"keyOut": "SecureString", "confOut": "SecureObject"} {
		if o := out[k].(map[string]any); o["type"] != typ || len(o) != 1 {
			t.Errorf("output %s: %v, want its type %s only", k, o, typ)
		}
	}
	if o := out["keyLen"].(map[string]any); o["value"] != float64(len(secret)) {
		t.Errorf("output keyLen: %v", o)
	}
	base := "/subscriptions/" + e.Sub + "/resourceGroups/sec/providers/Microsoft.Resources/deployments"
	for _, path := range []string{base + "/dep", base, base + "/dep/operations", "/subscriptions/" + e.Sub + "/resourceGroups/sec/deployments/dep/operations"} {
		_, m := e.Do("GET", path+"?api-version=2022-09-01", nil)
		leaks("GET "+path, m)
	}
	// A secure value allowedValues refuses: the error names the parameter,
	// not the value.
	bad := map[string]any{"$schema": tmpl["$schema"], "contentVersion": "1.0.0.0",
		"parameters": map[string]any{"key": map[string]any{"type": "securestring", "allowedValues": []any{"a", "b"}}}, "resources": []any{}}
	resp, m := e.Do("PUT", base+"/bad?api-version=2022-09-01", map[string]any{"properties": map[string]any{"mode": "Incremental", "template": bad, "parameters": map[string]any{"key": params["key"]}}}, testserver.AnyStatus())
	if resp.StatusCode != 400 || !strings.Contains(mustJSON(m), "'key'") {
		t.Errorf("a secure value outside allowedValues: %d %v", resp.StatusCode, m)
	}
	leaks("the refusal of a secure value outside allowedValues", m)
}
