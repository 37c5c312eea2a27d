package recoveryservices_test

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
)

// TestPoliciesItemsAndContainersPageByKey: a Recovery Services vault's
// policy, protected item and container lists read a page at a time answer
// each item once, and the next one, when an item is made between the pages
// that sorts before the page read (a key-set $skipToken, as the job and
// point lists'); with an offset token the page's item was answered again.
// A $skipToken the list did not give is 400 naming the parameter, one
// that decodes too (the job list took it as a key).
func TestPoliciesItemsAndContainersPageByKey(t *testing.T) {
	e, R, _, _ := protectedApp(t) // vmrg/app protected
	resp, pol := e.Do("GET", R+"/backupPolicies/DefaultPolicy"+rsAPI, nil)
	must(t, "DefaultPolicy", resp, pol, 200)
	policy := func(name string) {
		t.Helper()
		resp, m := e.Do("PUT", R+"/backupPolicies/"+name+rsAPI, map[string]any{"properties": pol["properties"]})
		must(t, "policy "+name, resp, m, 200)
	}
	_, all := e.Do("GET", R+"/backupPolicies"+rsAPI, nil)
	want := len(all["value"].([]any))
	got := e.PageNames(t, R+"/backupPolicies"+rsAPI+"&$top=1", func(page int) {
		if page == 0 {
			policy("AAA")
		}
	})
	if len(got) != want || got[0] == got[1] {
		t.Errorf("policies paged %v, want the %d the first page began with, each once", got, want)
	}

	protectVM := func(name string) {
		t.Helper()
		vm := mkVM(t, e, "vmrg", name, 0, 1<<20)
		protect(t, e, R+"/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;vmrg;"+name+"/protectedItems/VM;iaasvmcontainerv2;vmrg;"+name+rsAPI, vm.ID, R+"/backupPolicies/DefaultPolicy")
	}
	protectVM("zed")
	got = e.PageNames(t, R+"/backupProtectedItems"+rsAPI+"&$top=1", func(page int) {
		if page == 0 {
			protectVM("aaa")
		}
	})
	if strings.Join(got, ",") != "VM;iaasvmcontainerv2;vmrg;app,VM;iaasvmcontainerv2;vmrg;zed" {
		t.Errorf("protected items paged %v, want app's and zed's", got)
	}
	containers := R + "/backupProtectionContainers" + rsAPI + "&$filter=" + url.QueryEscape("backupManagementType eq 'AzureIaasVM'") + "&$top=1"
	got = e.PageNames(t, containers, func(page int) {
		if page == 0 {
			protectVM("aa0")
		}
	})
	if len(got) != 3 || got[0] == got[1] {
		t.Errorf("containers paged %v, want aaa's, app's and zed's, each once", got)
	}

	for _, list := range []string{"/backupPolicies", "/backupProtectedItems", "/backupJobs"} {
		for _, tok := range []string{"kAAAAAA", "k" + base64.RawURLEncoding.EncodeToString([]byte("/subscriptions/x")), "k%21%21", "x1"} {
			resp, m := e.Do("GET", R+list+rsAPI+"&$skipToken="+tok, nil)
			msg, _ := testserver.Field(m, "error.message").(string)
			if resp.StatusCode != 400 || testserver.ErrorCode(m) != "InvalidQueryParameterValue" || !strings.Contains(msg, "$skipToken") {
				t.Errorf("%s with $skipToken=%s: %d %v, want 400 InvalidQueryParameterValue naming $skipToken", list, tok, resp.StatusCode, m)
			}
		}
	}
}
