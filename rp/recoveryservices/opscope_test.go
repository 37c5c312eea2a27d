package recoveryservices_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservices"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// An operation id is not a capability: a vault's status and result routes
// answer only that vault's operations, so a caller with rights on one
// vault cannot read another vault's operation through its own vault.
func TestOperationRoutesAnswerOnlyTheirScope(t *testing.T) {
	e, vf := vaultEnv(t, "va", "rgb") // vault a: vaultrg/va
	ctx := e.Ctx()
	fixture.RSVault(t, e, "rgb", "vb", fixture.StandardVault())
	var raw *http.Response
	if _, err := fixture.Wait(vf.NewVaultsClient().BeginUpdate(runtime.WithCaptureResponse(ctx, &raw), "rgb", "vb", armrecoveryservices.PatchVault{Tags: map[string]*string{"env": to.Ptr("ci")}}, nil)); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"Azure-AsyncOperation", "Location"} {
		u, err := url.Parse(raw.Header.Get(h))
		if err != nil || u.Path == "" {
			t.Fatalf("%s: %q", h, raw.Header.Get(h))
		}
		own := u.Path + "?" + u.RawQuery
		if resp, m := e.Do("GET", own, nil); resp.StatusCode != 200 {
			t.Fatalf("vault b's %s through vault b: %d %v", h, resp.StatusCode, m)
		}
		vb := "/resourceGroups/rgb/providers/Microsoft.RecoveryServices/vaults/vb/"
		if !strings.Contains(strings.ToLower(own), strings.ToLower(vb)) {
			t.Fatalf("%s %s is not below vault b", h, own)
		}
		i := strings.Index(strings.ToLower(own), strings.ToLower(vb))
		other := own[:i] + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/va/" + own[i+len(vb):]
		resp, m := e.Do("GET", other, nil)
		if resp.StatusCode != 404 || testserver.Field(m, "error.code") != "OperationNotFound" {
			t.Fatalf("vault b's operation through vault a's %s route: %d %v, want 404 OperationNotFound", h, resp.StatusCode, m)
		}
	}
}

// A policy's operation routes answer that policy's operations only: not
// another policy's, nor the vault's (whose result route answered the
// vault's body as if it were the policy's), nor an id naming none.
func TestPolicyOperationRoutesAnswerOnlyTheirPolicy(t *testing.T) {
	e, _ := vaultEnv(t, "va")
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/va"
	const v = "?api-version=2024-04-01"
	opOf := func(what string, resp *http.Response) string {
		t.Helper()
		u, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || u.Path == "" {
			t.Fatalf("%s: no Location (%d)", what, resp.StatusCode)
		}
		return u.Path[strings.LastIndex(u.Path, "/")+1:]
	}
	_, m := e.Do("GET", R+"/backupPolicies/DefaultPolicy"+v, nil)
	delete(m, "id")
	delete(m, "name")
	if resp, m := e.Do("PUT", R+"/backupPolicies/other"+v, m); resp.StatusCode != 200 {
		t.Fatalf("put policy: %d %v", resp.StatusCode, m)
	}
	policyOp := opOf("delete policy", first(e.Do("DELETE", R+"/backupPolicies/other"+v, nil)))
	vaultOp := opOf("patch vault", first(e.Do("PATCH", R+v, map[string]any{"tags": map[string]any{"env": "ci"}})))
	e.Poll(R + "/operationStatus/" + vaultOp + v)

	// The policy's own routes answer its operation (gone: the result is 204).
	if resp, m := e.Do("GET", R+"/backupPolicies/other/operations/"+policyOp+v, nil); resp.StatusCode != 200 || m["status"] != "Succeeded" {
		t.Fatalf("the policy's own status route: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.Do("GET", R+"/backupPolicies/other/operationResults/"+policyOp+v, nil); resp.StatusCode != 204 {
		t.Fatalf("the policy's own result route: %d %v", resp.StatusCode, m)
	}
	for _, c := range []struct{ what, policy, op string }{
		{"another policy's operation", "DefaultPolicy", policyOp},
		{"the vault's operation", "DefaultPolicy", vaultOp},
		{"the vault's operation, through a policy that does not exist", "nosuchpolicy", vaultOp},
		{"an id naming no operation", "DefaultPolicy", "0b5e3c34-95a5-4a3c-8d23-7c1c2e5d9f10"},
	} {
		for _, route := range []string{"operations", "operationResults"} {
			resp, m := e.Do("GET", R+"/backupPolicies/"+c.policy+"/"+route+"/"+c.op+v, nil, testserver.AnyStatus())
			if resp.StatusCode != 404 || testserver.Field(m, "error.code") != "OperationNotFound" {
				t.Errorf("%s through %s's %s route: %d %v, want 404 OperationNotFound", c.what, c.policy, route, resp.StatusCode, m)
			}
		}
	}
}

// first is the response of an Env.Do answer.
func first(resp *http.Response, _ map[string]any) *http.Response { return resp }

// A protected item's operation routes answer that item's operations only
// (its backups, its protection): not the vault's nor a policy's, through
// the item's own routes or another item's; its container's result route
// answers its items' operations, not the vault's.
func TestItemOperationRoutesAnswerOnlyTheirItem(t *testing.T) {
	e := testserver.Start(t)
	v := fixture.ProtectVM(t, e)
	R := "/subscriptions/" + e.Sub + "/resourceGroups/" + v.RG + "/providers/Microsoft.RecoveryServices/vaults/" + v.Vault
	I := R + "/backupFabrics/Azure/protectionContainers/" + v.Container + "/protectedItems/" + v.Item
	other := R + "/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;vm-rg;other/protectedItems/VM;iaasvmcontainerv2;vm-rg;other"
	const ver = "?api-version=2024-04-01"
	resp, m := e.Do("POST", I+"/backup"+ver, map[string]any{"properties": map[string]any{"objectType": "IaasVMBackupRequest"}})
	if resp.StatusCode != 202 {
		t.Fatalf("backup: %d %v", resp.StatusCode, m)
	}
	backupOp := testserver.OpID(t, resp.Header.Get("Azure-AsyncOperation"))
	resp, m = e.Do("PATCH", R+ver, map[string]any{"tags": map[string]any{"env": "ci"}})
	if resp.StatusCode != 202 {
		t.Fatalf("patch vault: %d %v", resp.StatusCode, m)
	}
	vaultOp := testserver.OpID(t, resp.Header.Get("Azure-AsyncOperation"))
	// The container's result route answers the operations of its items.
	C := R + "/backupFabrics/Azure/protectionContainers/" + v.Container
	if resp, m := e.Do("GET", C+"/operationResults/"+backupOp+ver, nil); resp.StatusCode >= 300 {
		t.Fatalf("the item's backup through its container's result route: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.Do("GET", C+"/operationResults/"+vaultOp+ver, nil, testserver.AnyStatus()); resp.StatusCode != 404 || testserver.Field(m, "error.code") != "OperationNotFound" {
		t.Errorf("the vault's operation through the container's result route: %d %v, want 404 OperationNotFound", resp.StatusCode, m)
	}
	for _, route := range []string{"operationsStatus", "operationResults"} {
		if resp, m := e.Do("GET", I+"/"+route+"/"+backupOp+ver, nil); resp.StatusCode != 200 && resp.StatusCode != 202 {
			t.Fatalf("the item's backup through its own %s route: %d %v", route, resp.StatusCode, m)
		}
		for _, c := range []struct{ what, item, op string }{
			{"the vault's operation", I, vaultOp},
			{"the item's backup, through another item's route", other, backupOp},
		} {
			resp, m := e.Do("GET", c.item+"/"+route+"/"+c.op+ver, nil, testserver.AnyStatus())
			if resp.StatusCode != 404 || testserver.Field(m, "error.code") != "OperationNotFound" {
				t.Errorf("%s through the %s route: %d %v, want 404 OperationNotFound", c.what, route, resp.StatusCode, m)
			}
		}
	}
}
