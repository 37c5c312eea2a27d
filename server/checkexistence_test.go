package server_test

import (
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestCheckExistenceByID: armresources' CheckExistenceByID and
// CheckExistence (HEAD on a resource, what a Terraform-like tool asks before
// it creates one) answer true for a disk, a Backup vault, a Recovery
// Services vault and a vault's backup policy, and false for one that is
// none. The SDK takes 204 and 404 only, as the REST reference gives them;
// a HEAD answered 200 (the GET's status) failed it with "200 OK".
func TestCheckExistenceByID(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	e.ResourceGroups("exist-rg")
	diskID, _ := fixture.Disk(t, e, "exist-rg", "disk1", 1)
	vault := fixture.BackupVault(t, e, "exist-rg", "vault1")
	rs := fixture.RSVault(t, e, "exist-rg", "rsvault1", fixture.StandardVault())
	rc := testserver.Factory(e, armresources.NewClientFactory).NewClient()
	for _, c := range []struct{ id, version string }{
		{diskID, "2024-03-02"},
		{*vault.ID, "2025-07-01"},
		{*vault.ID + "/backupPolicies/none", ""},
		{*rs.ID, "2024-04-01"},
		{*rs.ID + "/backupPolicies/DefaultPolicy", "2024-04-01"},
		{"/subscriptions/" + e.Sub + "/resourceGroups/exist-rg", "2021-04-01"},
	} {
		want := c.version != ""
		v := c.version
		if v == "" {
			v = "2025-07-01"
		}
		got, err := rc.CheckExistenceByID(ctx, c.id, v, nil)
		if err != nil || got.Success != want {
			t.Errorf("CheckExistenceByID %s: %v, %v; want %v", c.id, got.Success, err, want)
		}
	}
	for _, c := range []struct {
		ns, typ, name, version string
		want                   bool
	}{
		{"Microsoft.Compute", "disks", "disk1", "2024-03-02", true},
		{"Microsoft.Compute", "disks", "disk2", "2024-03-02", false},
		{"Microsoft.DataProtection", "backupVaults", "vault1", "2025-07-01", true},
		{"Microsoft.RecoveryServices", "vaults", "rsvault2", "2024-04-01", false},
	} {
		got, err := rc.CheckExistence(ctx, "exist-rg", c.ns, "", c.typ, c.name, c.version, nil)
		if err != nil || got.Success != c.want {
			t.Errorf("CheckExistence %s/%s/%s: %v, %v; want %v", c.ns, c.typ, c.name, got.Success, err, c.want)
		}
	}
}
