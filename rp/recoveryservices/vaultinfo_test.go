package recoveryservices_test

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservices"
	"github.com/safehold/safehold/internal/testserver"
)

// TestSDKVaultNameAvailability: a name is taken exactly when a vault of
// that name exists in the resource group.
func TestSDKVaultNameAvailability(t *testing.T) {
	e, vf := vaultEnv(t, "taken-vault")
	c := vf.NewClient()
	check := func(name string) armrecoveryservices.CheckNameAvailabilityResult {
		t.Helper()
		res, err := c.CheckNameAvailability(e.Ctx(), "vaultrg", "westus", armrecoveryservices.CheckNameAvailabilityParameters{
			Name: to.Ptr(name), Type: to.Ptr("Microsoft.RecoveryServices/Vaults")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res.CheckNameAvailabilityResult
	}
	if r := check("taken-vault"); r.NameAvailable == nil || *r.NameAvailable || r.Reason == nil || *r.Reason != "AlreadyExists" || r.Message == nil {
		t.Fatalf("existing vault: %+v", r)
	}
	if r := check("TAKEN-VAULT"); r.NameAvailable == nil || *r.NameAvailable {
		t.Fatalf("names are case-insensitive: %+v", r)
	}
	if r := check("free-vault"); r.NameAvailable == nil || !*r.NameAvailable {
		t.Fatalf("free name: %+v", r)
	}
	if r := check("-bad"); r.NameAvailable == nil || *r.NameAvailable || r.Reason == nil || *r.Reason != "Invalid" {
		t.Fatalf("invalid name: %+v", r)
	}
}

// TestSDKVaultExtendedInfo: a vault has an integrity key from the start;
// PUT replaces the extended info (a key generated when none is given),
// PATCH changes only what it names; it goes with the vault.
func TestSDKVaultExtendedInfo(t *testing.T) {
	e, vf := vaultEnv(t, "v1")
	c := vf.NewVaultExtendedInfoClient()
	ctx := e.Ctx()
	first, err := c.Get(ctx, "vaultrg", "v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	p := first.Properties
	if p == nil || p.IntegrityKey == nil || len(*p.IntegrityKey) != 24 || p.Algorithm == nil || *p.Algorithm != "None" || first.Etag == nil {
		t.Fatalf("initial extended info: %+v", first.VaultExtendedInfoResource)
	}
	again, err := c.Get(ctx, "vaultrg", "v1", nil)
	if err != nil || *again.Properties.IntegrityKey != *p.IntegrityKey {
		t.Fatalf("the key changed between reads: %v %v", err, again.Properties)
	}
	put, err := c.CreateOrUpdate(ctx, "vaultrg", "v1", armrecoveryservices.VaultExtendedInfoResource{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if k := put.Properties.IntegrityKey; k == nil || *k == "" || *k == *p.IntegrityKey {
		t.Fatalf("PUT without a key must make a new one: %+v", put.Properties)
	}
	if _, err := c.CreateOrUpdate(ctx, "vaultrg", "v1", armrecoveryservices.VaultExtendedInfoResource{Properties: &armrecoveryservices.VaultExtendedInfo{
		IntegrityKey: to.Ptr("a2V5a2V5a2V5a2V5a2V5aw=="), Algorithm: to.Ptr("None")}}, nil); err != nil {
		t.Fatal(err)
	}
	up, err := c.Update(ctx, "vaultrg", "v1", armrecoveryservices.VaultExtendedInfoResource{Properties: &armrecoveryservices.VaultExtendedInfo{
		EncryptionKeyThumbprint: to.Ptr("ABCDEF")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *up.Properties.IntegrityKey != "a2V5a2V5a2V5a2V5a2V5aw==" || up.Properties.EncryptionKeyThumbprint == nil || *up.Properties.EncryptionKeyThumbprint != "ABCDEF" {
		t.Fatalf("PATCH: %+v", up.Properties)
	}
	if _, err := c.CreateOrUpdate(ctx, "vaultrg", "v1", armrecoveryservices.VaultExtendedInfoResource{Properties: &armrecoveryservices.VaultExtendedInfo{
		Algorithm: to.Ptr("ROT13")}}, nil); err == nil {
		t.Fatal("an unknown algorithm was accepted")
	}
	if _, err := c.Get(ctx, "vaultrg", "nosuchvault", nil); err == nil {
		t.Fatal("extended info of a missing vault")
	}
}

// TestSDKVaultUsagesAndCapabilities: a vault's usages count its real
// protected items and the bytes its recovery points cover; the location's
// capabilities name the private DNS zones of its region.
func TestSDKVaultUsagesAndCapabilities(t *testing.T) {
	e, R, item, vm := vaultAndVM(t, "usagevm", "?api-version=2023-04-01")
	vf := testserver.Factory(e, armrecoveryservices.NewClientFactory)
	usages := func() map[string]int64 {
		t.Helper()
		out := map[string]int64{}
		pg := vf.NewUsagesClient().NewListByVaultsPager("vaultrg", "rv", nil)
		for pg.More() {
			page, err := pg.NextPage(e.Ctx())
			if err != nil {
				t.Fatal(err)
			}
			for _, u := range page.Value {
				out[*u.Name.Value] = *u.CurrentValue
			}
		}
		return out
	}
	u := usages()
	if u["ProtectedItemCount"] != 0 || u["GRSStorageUsage"] != 0 || len(u) < 10 {
		t.Fatalf("empty vault: %v", u)
	}
	protect(t, e, item+"?api-version=2024-04-01", vm.ID, R+"/backupPolicies/DefaultPolicy")
	resp, m := e.Do("POST", item+"/backup?api-version=2024-04-01", map[string]any{"properties": map[string]any{"objectType": "IaasVMBackupRequest"}})
	must(t, "backup", resp, m, 202)
	st := pollStatus(t, e, resp)
	if job := waitJob(t, e, R, str(st, "properties.jobId"), "?api-version=2024-04-01"); str(job, "properties.status") != "Completed" {
		t.Fatalf("backup job %v", job)
	}
	u = usages()
	if u["ProtectedItemCount"] != 1 || u["IaaSVMProtectedItemCount"] != 1 || u["GRSStorageUsage"] != 1<<20 || u["LRSStorageUsage"] != 0 || u["MABContainersCount"] != 0 {
		t.Fatalf("one protected 1 MiB VM with one point: %v", u)
	}

	// A backup held by a fault rule is a job in progress; one failed by a
	// rule is a failed job of the day and puts the item in warning.
	itemName := item[strings.LastIndex(item, "/")+1:]
	const rules = "/providers/Safehold.Admin/faultRules"
	const av = "?api-version=2024-01-01"
	resp, m = e.Do("POST", rules+av, map[string]any{"name": "hold", "operation": "backup", "path": "*/protectedItems/" + itemName, "latency": "10m"})
	must(t, "hold rule", resp, m, 201)
	resp, m = e.Do("POST", item+"/backup?api-version=2024-04-01", map[string]any{"properties": map[string]any{"objectType": "IaasVMBackupRequest"}})
	must(t, "held backup", resp, m, 202)
	held := str(pollStatus(t, e, resp), "properties.jobId")
	e.WaitFor("the held backup counted in progress", func() bool { return usages()["InProgressJobsCount"] == 1 })
	resp, m = e.Do("DELETE", rules+"/hold"+av, nil)
	must(t, "release the hold", resp, m, 200, 204)
	waitJob(t, e, R, held, "?api-version=2024-04-01")
	resp, m = e.Do("POST", rules+av, map[string]any{"name": "fail", "operation": "backup", "path": "*/protectedItems/" + itemName, "code": "UserErrorTest", "message": "failed by the test"})
	must(t, "fail rule", resp, m, 201)
	resp, m = e.Do("POST", item+"/backup?api-version=2024-04-01", map[string]any{"properties": map[string]any{"objectType": "IaasVMBackupRequest"}})
	must(t, "failing backup", resp, m, 202)
	if job := waitJob(t, e, R, str(pollStatus(t, e, resp), "properties.jobId"), "?api-version=2024-04-01"); str(job, "properties.status") != "Failed" {
		t.Fatalf("backup failed by the rule: %v", job)
	}
	u = usages()
	if u["InProgressJobsCount"] != 0 || u["FailedJobsCount"] != 1 || u["ProtectedItemWarningCount"] != 1 || u["IaaSVMProtectedItemWarningCount"] != 1 || u["ProtectedItemCount"] != 1 {
		t.Fatalf("after a failed backup: %v", u)
	}

	caps, err := vf.NewClient().Capabilities(e.Ctx(), "westus", armrecoveryservices.ResourceCapabilities{Type: to.Ptr("Microsoft.RecoveryServices/Vaults"),
		Properties: &armrecoveryservices.CapabilitiesProperties{DNSZones: []*armrecoveryservices.DNSZone{{SubResource: to.Ptr(armrecoveryservices.VaultSubResourceTypeAzureBackup)}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	z := caps.Properties.DNSZones
	if len(z) != 1 || len(z[0].RequiredZoneNames) != 3 || *z[0].RequiredZoneNames[0] != "privatelink.wus.backup.windowsazure.com" {
		t.Fatalf("capabilities: %+v", z)
	}
	if _, err := vf.NewClient().Capabilities(e.Ctx(), "westus", armrecoveryservices.ResourceCapabilities{Type: to.Ptr("Microsoft.Compute/disks")}, nil); err == nil {
		t.Fatal("capabilities of another resource type")
	}
}
