package resource

import (
	"context"
	"testing"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/failure"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

// Put, in its transaction, refuses a new resource anywhere under a
// resource group being deleted (409 ResourceGroupBeingDeleted), a child
// resource (a vault's protected item) as well as one directly in the
// group: a client's PUT that passed the router's check before the delete
// began commits after it only if it changes what the delete's checks
// already saw. Resources that exist, and their children that exist, may
// still be written (the cascade's and jobs' own writes).
func TestPutRefusesNewResourcesInDeletingGroup(t *testing.T) {
	ctx := context.Background()
	st := storetest.SQLite(t)
	group := arm.ResourceID{SubscriptionID: "s", ResourceGroup: "rg"}
	vault := arm.NewID("s", "rg", "Microsoft.Test", "vaults", "v")
	child := func(n string) arm.ResourceID {
		id, err := arm.ParseID(vault.String() + "/items/" + n)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	put := func(id arm.ResourceID) error {
		return st.Update(ctx, func(tx store.Tx) error {
			return Put(ctx, tx, id, map[string]any{"id": id.String(), "type": id.Type(), "name": id.Name()})
		})
	}
	setState := func(state string) {
		t.Helper()
		g := ResourceGroup{ID: group.String(), Name: "rg", Type: "Microsoft.Resources/resourceGroups", Location: "westus"}
		g.Properties.ProvisioningState = state
		if err := st.Update(ctx, func(tx store.Tx) error { return Put(ctx, tx, group, &g) }); err != nil {
			t.Fatal(err)
		}
	}
	setState("Succeeded")
	for _, id := range []arm.ResourceID{vault, child("old")} {
		if err := put(id); err != nil {
			t.Fatalf("put %s: %v", id, err)
		}
	}
	setState("Deleting")
	for _, id := range []arm.ResourceID{arm.NewID("s", "rg", "Microsoft.Test", "vaults", "new"), child("new")} {
		err := put(id)
		if fe, ok := err.(*failure.Error); !ok || fe.Code != "ResourceGroupBeingDeleted" {
			t.Fatalf("new %s in a group being deleted: %v, want 409 ResourceGroupBeingDeleted", id, err)
		}
	}
	for _, id := range []arm.ResourceID{vault, child("old")} {
		if err := put(id); err != nil {
			t.Fatalf("update of %s in a group being deleted: %v", id, err)
		}
	}
}
