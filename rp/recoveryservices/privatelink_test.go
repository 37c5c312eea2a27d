package recoveryservices_test

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservices"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/rbac"
)

// TestPrivateLinkResources: a vault's private link resources are Azure's
// catalog, listed and read through the SDK: the AzureBackup and
// AzureSiteRecovery groups with their members and DNS zones, the service's
// zone named for the vault's region by its geo code (wus for West US, ecy
// for East US 2 EUAP). A caller without read access to the vault is 403;
// an unknown group, or a vault that does not exist, is 404.
func TestPrivateLinkResources(t *testing.T) {
	e, vf := vaultEnv(t, "v1", "otherrg")
	v := fixture.StandardVault()
	v.Location = to.Ptr("East US 2 EUAP")
	fixture.RSVault(t, e, "vaultrg", "v2", v)
	plr := vf.NewPrivateLinkResourcesClient()
	ctx := e.Ctx()
	zones := func(r *armrecoveryservices.PrivateLinkResource) string {
		var z []string
		for _, s := range r.Properties.RequiredZoneNames {
			z = append(z, *s)
		}
		return strings.Join(z, ",")
	}
	for vault, code := range map[string]string{"v1": "wus", "v2": "ecy"} {
		page, err := plr.NewListPager("vaultrg", vault, nil).NextPage(ctx)
		if err != nil || len(page.Value) != 2 {
			t.Fatalf("list of %s: %v %v", vault, err, page.Value)
		}
		got := map[string]*armrecoveryservices.PrivateLinkResource{}
		for _, r := range page.Value {
			got[*r.Properties.GroupID] = r
		}
		b, s := got["AzureBackup"], got["AzureSiteRecovery"]
		if b == nil || s == nil || *b.Name != "backupResource" || *s.Name != "siteRecoveryResource" || len(b.Properties.RequiredMembers) != 8 || len(s.Properties.RequiredMembers) != 6 {
			t.Fatalf("groups of %s: %+v", vault, got)
		}
		if want := "privatelink." + code + ".backup.windowsazure.com,privatelink.queue.core.windows.net,privatelink.blob.core.windows.net"; zones(b) != want {
			t.Fatalf("backup zones of %s: %s, want %s", vault, zones(b), want)
		}
		if !strings.HasPrefix(zones(s), "privatelink."+code+".siterecovery.windowsazure.com,") {
			t.Fatalf("site recovery zones of %s: %s", vault, zones(s))
		}
		r, err := plr.Get(ctx, "vaultrg", vault, "backupResource", nil)
		if err != nil || zones(&r.PrivateLinkResource) != zones(b) || !strings.HasSuffix(*r.ID, "/vaults/"+vault+"/privateLinkResources/backupResource") {
			t.Fatalf("get backupResource of %s: %v %+v", vault, err, r)
		}
	}
	outsider := newPrincipal(t, e, "outsider", rbac.BackupReader, "/subscriptions/"+e.Sub+"/resourceGroups/otherrg")
	resp, m := e.Do("GET", "/subscriptions/"+e.Sub+"/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/v1/privateLinkResources"+rsAPI, nil, testserver.As(outsider.cred))
	must(t, "a reader of another resource group lists the groups", resp, m, 403)
	if _, err := plr.Get(ctx, "vaultrg", "v1", "nosuch", nil); !testserver.HasError(err, 404, "") {
		t.Fatalf("an unknown group: %v", err)
	}
	if _, err := plr.NewListPager("vaultrg", "nosuch", nil).NextPage(ctx); !testserver.HasError(err, 404, "") {
		t.Fatalf("the groups of an unknown vault: %v", err)
	}
}
