package resources_test

import (
	"testing"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// While a group's delete cascades (the group lists as Deleting), a new
// resource in it is refused with 409 ResourceGroupBeingDeleted, whichever
// provider makes it: the cascade chose what it deletes when it began, so
// a resource made meanwhile would lose its document with the group while
// its own deleter never ran. One that exists can still be read and
// changed (the cascade's own writes go through the same path).
func TestCreateInDeletingGroupConflicts(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("going")
	rg := "/subscriptions/" + e.Sub + "/resourceGroups/going"
	const account = "/providers/Microsoft.Storage/storageAccounts/goingacct?api-version=2023-05-01"
	acctBody := map[string]any{"location": "westus", "kind": "StorageV2", "sku": map[string]any{"name": "Standard_LRS"}}
	if resp, m := e.Do("PUT", rg+account, acctBody); resp.StatusCode >= 300 {
		t.Fatalf("storage account before the delete: %d %v", resp.StatusCode, m)
	}
	// The state a DELETE of a group with contents leaves it in until its
	// cascade ends (set here so that the cascade cannot end first).
	ctx := e.Ctx()
	gid, err := arm.ParseID(rg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Server.Store.Update(ctx, func(tx store.Tx) error {
		var g resource.ResourceGroup
		if err := resource.Get(ctx, tx, gid, &g); err != nil {
			return err
		}
		g.Properties.ProvisioningState = "Deleting"
		return resource.Put(ctx, tx, gid, &g)
	}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what, path string
		body       any
	}{
		{"storage account", "/providers/Microsoft.Storage/storageAccounts/newacct?api-version=2023-05-01", acctBody},
		{"Recovery Services vault", "/providers/Microsoft.RecoveryServices/vaults/v1?api-version=2023-04-01",
			map[string]any{"location": "westus", "sku": map[string]any{"name": "Standard"}, "properties": map[string]any{}}},
		{"Backup vault", "/providers/Microsoft.DataProtection/backupVaults/bv1?api-version=2023-05-01",
			map[string]any{"location": "westus", "identity": map[string]any{"type": "None"}, "properties": map[string]any{
				"storageSettings": []any{map[string]any{"datastoreType": "VaultStore", "type": "LocallyRedundant"}}}}},
	} {
		resp, m := e.Do("PUT", rg+c.path, c.body, testserver.AnyStatus())
		if resp.StatusCode != 409 || testserver.ErrorCode(m) != "ResourceGroupBeingDeleted" {
			t.Errorf("new %s in a group being deleted: %d %v, want 409 ResourceGroupBeingDeleted", c.what, resp.StatusCode, m)
		}
		if resp, _ := e.Do("GET", rg+c.path, nil, testserver.AnyStatus()); resp.StatusCode != 404 {
			t.Errorf("new %s in a group being deleted: GET answers %d, want 404", c.what, resp.StatusCode)
		}
	}
	if resp, m := e.Do("PATCH", rg+account, map[string]any{"tags": map[string]any{"k": "v"}}); resp.StatusCode != 200 {
		t.Fatalf("existing storage account in a group being deleted: PATCH %d %v", resp.StatusCode, m)
	}
}
