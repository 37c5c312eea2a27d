package recoveryservices_test

import (
	"net/url"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"

	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/rbac"
)

// TestProtectionIntent: an Azure VM's protection intent (AzureResourceItem,
// what the portal's VM creation sends) protects the VM at once with the
// policy it names (the protected item exists, IRPending, with its
// ConfigureBackup job), reads Protected, and deleting it leaves the VM
// protected; bad input is a 400 saying what to send, a Backup Reader may
// not create one (but lists them), the vault's backupProtectionIntents
// lists the intent by its $filter, and an unknown intent is 404.
func TestProtectionIntent(t *testing.T) {
	e, R, I, vm := vaultAndVM(t, "web", rsAPI)
	pi := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory).NewProtectionIntentClient()
	policy := R + "/backupPolicies/DefaultPolicy"
	const name = "vm;iaasvmcontainerv2;vmrg;web"
	PI := R + "/backupFabrics/Azure/backupProtectionIntent/"
	props := func(typ, src, pol string) map[string]any {
		return map[string]any{"properties": map[string]any{"protectionIntentItemType": typ, "sourceResourceId": src, "policyId": pol}}
	}
	for _, c := range []struct {
		what, name string
		body       map[string]any
	}{
		{"a workload intent", name, props("AzureWorkloadAutoProtectionIntent", vm.ID, policy)},
		{"another VM", name, props("AzureResourceItem", "/subscriptions/"+e.Sub+"/resourceGroups/vmrg/providers/Microsoft.Compute/virtualMachines/other", policy)},
		{"no policy", name, props("AzureResourceItem", vm.ID, "")},
		{"no properties", name, map[string]any{}},
		{"a workload's name", "sqlinstance;mssqlserver", props("AzureResourceItem", vm.ID, policy)},
	} {
		resp, m := e.Do("PUT", PI+c.name+rsAPI, c.body)
		if resp.StatusCode != 400 || testserver.ErrorCode(m) == "" {
			t.Fatalf("%s: %d %v", c.what, resp.StatusCode, m)
		}
	}
	resp, m := e.Do("GET", I+rsAPI, nil, testserver.AnyStatus())
	if resp.StatusCode != 404 {
		t.Fatalf("a refused intent protected the VM: %d %v", resp.StatusCode, m)
	}
	reader := newPrincipal(t, e, "reader", rbac.BackupReader, "/subscriptions/"+e.Sub+"/resourceGroups/vaultrg")
	resp, m = e.Do("PUT", PI+name+rsAPI, props("AzureResourceItem", vm.ID, policy), testserver.As(reader.cred))
	must(t, "a reader creates an intent", resp, m, 403)

	res, err := pi.CreateOrUpdate(e.Ctx(), "rv", "vaultrg", "Azure", name, armrecoveryservicesbackup.ProtectionIntentResource{
		Properties: &armrecoveryservicesbackup.AzureResourceProtectionIntent{SourceResourceID: to.Ptr(vm.ID), PolicyID: to.Ptr(policy)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, ok := res.Properties.(*armrecoveryservicesbackup.AzureResourceProtectionIntent)
	if !ok || *p.ProtectionState != armrecoveryservicesbackup.ProtectionStatusProtected || *p.BackupManagementType != armrecoveryservicesbackup.BackupManagementTypeAzureIaasVM || *res.Name != name {
		t.Fatalf("intent %+v %+v", res, p)
	}
	resp, m = e.Do("GET", I+rsAPI, nil)
	if resp.StatusCode != 200 || str(m, "properties.protectionState") != "IRPending" || str(m, "properties.policyName") != "DefaultPolicy" {
		t.Fatalf("the VM after its intent: %d %v", resp.StatusCode, m)
	}
	resp, m = e.Do("GET", R+"/backupJobs"+rsAPI, nil)
	if resp.StatusCode != 200 || len(m["value"].([]any)) != 1 || str(m["value"].([]any)[0].(map[string]any), "properties.operation") != "ConfigureBackup" {
		t.Fatalf("jobs after the intent: %v", m)
	}
	got, err := pi.Get(e.Ctx(), "rv", "vaultrg", "Azure", name, nil)
	if err != nil || *got.Properties.(*armrecoveryservicesbackup.AzureResourceProtectionIntent).ProtectionState != armrecoveryservicesbackup.ProtectionStatusProtected {
		t.Fatalf("get the intent: %v %+v", err, got)
	}
	list := func(filter string, cred ...testserver.RequestOption) []any {
		t.Helper()
		q := rsAPI
		if filter != "" {
			q += "&$filter=" + url.QueryEscape(filter)
		}
		resp, m := e.Do("GET", R+"/backupProtectionIntents"+q, nil, cred...)
		must(t, "list intents "+filter, resp, m, 200)
		return m["value"].([]any)
	}
	if l := list("", testserver.As(reader.cred)); len(l) != 1 || str(l[0].(map[string]any), "name") != name || str(l[0].(map[string]any), "properties.protectionState") != "Protected" {
		t.Fatalf("the intents a reader lists: %v", l)
	}
	for filter, want := range map[string]int{"backupManagementType eq 'AzureIaasVM' and itemName eq 'web'": 1, "parentName eq 'VMRG'": 1,
		"itemName eq 'other'": 0, "backupManagementType eq 'AzureWorkload'": 0, "itemType eq 'SQLDataBase'": 0} {
		if l := list(filter); len(l) != want {
			t.Fatalf("intents with %q: %v, want %d", filter, l, want)
		}
	}
	resp, m = e.Do("GET", R+"/backupProtectionIntents"+rsAPI+"&$filter="+url.QueryEscape("friendlyName eq 'web'"), nil)
	must(t, "a filter on a field intents lack", resp, m, 400)
	pager := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory).NewBackupProtectionIntentClient().NewListPager("rv", "vaultrg", nil)
	page, err := pager.NextPage(e.Ctx())
	if err != nil || len(page.Value) != 1 || *page.Value[0].ID != *res.ID || pager.More() {
		t.Fatalf("the SDK's intent list: %v %+v", err, page)
	}
	if _, err := pi.Delete(e.Ctx(), "rv", "vaultrg", "Azure", name, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := pi.Get(e.Ctx(), "rv", "vaultrg", "Azure", name, nil); !testserver.HasError(err, 404, "") {
		t.Fatalf("a deleted intent: %v", err)
	}
	resp, m = e.Do("GET", I+rsAPI, nil)
	must(t, "the VM stays protected after its intent is deleted", resp, m, 200)
	if l := list(""); len(l) != 0 {
		t.Fatalf("intents after the delete: %v", l)
	}
}
