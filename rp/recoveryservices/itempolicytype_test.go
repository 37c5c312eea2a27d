package recoveryservices_test

import (
	"testing"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestProtectedItemPolicyType: a VM protected item reports the type of its
// policy (policyType, which armrecoveryservicesbackup v4.2.0 reads at
// api-version 2025-02-01 and Safehold did not send): V1 for the
// DefaultPolicy, V2 once the item is moved to the EnhancedPolicy; a
// stopped item without a policy reports none.
func TestProtectedItemPolicyType(t *testing.T) {
	e := testserver.Start(t)
	v := fixture.ProtectVM(t, e)
	vault := "/subscriptions/" + e.Sub + "/resourceGroups/" + v.RG + "/providers/Microsoft.RecoveryServices/vaults/" + v.Vault
	item := vault + "/backupFabrics/Azure/protectionContainers/" + v.Container + "/protectedItems/" + v.Item
	const ver = "?api-version=2025-02-01"
	policyType := func() any {
		t.Helper()
		resp, m := e.Do("GET", item+ver, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("GET item: %d %v", resp.StatusCode, m)
		}
		return testserver.Field(m, "properties.policyType")
	}
	if got := policyType(); got != "V1" {
		t.Fatalf("policyType with DefaultPolicy: %v", got)
	}
	put := func(policyID string) {
		t.Helper()
		resp, m := e.Do("PUT", item+ver, `{"properties":{"protectedItemType":"Microsoft.Compute/virtualMachines","sourceResourceId":"`+v.VMID+`","policyId":"`+policyID+`"}}`)
		if resp.StatusCode != 202 && resp.StatusCode != 200 {
			t.Fatalf("PUT item: %d %v", resp.StatusCode, m)
		}
		if az := resp.Header.Get("Azure-AsyncOperation"); az != "" {
			if st := e.Poll(az); st["status"] != "Succeeded" {
				t.Fatalf("PUT item: %v", st)
			}
		}
	}
	put(vault + "/backupPolicies/EnhancedPolicy")
	if got := policyType(); got != "V2" {
		t.Fatalf("policyType with EnhancedPolicy: %v", got)
	}
	put("")
	if got := policyType(); got != nil {
		t.Fatalf("policyType of a stopped item: %v", got)
	}
}
