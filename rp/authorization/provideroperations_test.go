package authorization_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/google/uuid"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestProviderOperationsMetadata: Microsoft.Authorization/providerOperations
// (armauthorization's ProviderOperationsMetadataClient, az provider
// operation list and show) lists each provider's operations by resource
// type, and an action read there builds a custom role that works: a
// principal given a role of the Backup vaults' read action reads a vault
// and may not write one. Both were 404 InvalidResourceType, so a user
// writing a role for a vault's work had no list of the actions to put in it.
func TestProviderOperationsMetadata(t *testing.T) {
	e := testserver.StartWithGroups(t, "vault-rg")
	ctx := e.Ctx()
	vault := fixture.BackupVault(t, e, "vault-rg", "vault1")
	pom, err := armauthorization.NewProviderOperationsMetadataClient(e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for page := range fixture.Pages(t, pom.NewListPager(nil)) {
		for _, m := range page.Value {
			names = append(names, *m.Name)
		}
	}
	for _, want := range []string{"Microsoft.Compute", "Microsoft.DataProtection", "Microsoft.RecoveryServices"} {
		if !slices.Contains(names, want) {
			t.Errorf("providerOperations lists %v, not %s", names, want)
		}
	}
	m, err := pom.Get(ctx, "microsoft.dataprotection", nil) // the namespace in any case
	if err != nil {
		t.Fatal(err)
	}
	if *m.Name != "Microsoft.DataProtection" || *m.Type != "Microsoft.Authorization/providerOperations" || *m.ID != "/providers/Microsoft.Authorization/providerOperations/Microsoft.DataProtection" {
		t.Fatalf("metadata %s %s %s", *m.Name, *m.Type, *m.ID)
	}
	ops := map[string][]string{}
	for _, rt := range m.ResourceTypes {
		for _, o := range rt.Operations {
			ops[*rt.Name] = append(ops[*rt.Name], *o.Name)
		}
	}
	read := "Microsoft.DataProtection/backupVaults/read"
	if !slices.Contains(ops["backupVaults"], read) || !slices.Contains(ops["backupVaults/backupInstances"], "Microsoft.DataProtection/backupVaults/backupInstances/backup/action") {
		t.Fatalf("backupVaults: %v; backupVaults/backupInstances: %v", ops["backupVaults"], ops["backupVaults/backupInstances"])
	}
	if _, err := pom.Get(ctx, "Microsoft.Nope", nil); !testserver.HasError(err, 404, "InvalidResourceNamespace") || !strings.Contains(err.Error(), "Microsoft.DataProtection") {
		t.Fatalf("an unknown namespace: %v", err)
	}

	// A custom role of the action.
	rd, _ := armauthorization.NewRoleDefinitionsClient(e.Cred, e.Opts)
	role := uuid.NewString()
	sub := "/subscriptions/" + e.Sub
	if _, err := rd.CreateOrUpdate(ctx, sub, role, armauthorization.RoleDefinition{Properties: &armauthorization.RoleDefinitionProperties{
		RoleName: to.Ptr("vault reader"), AssignableScopes: []*string{to.Ptr(sub)},
		Permissions: []*armauthorization.Permission{{Actions: []*string{to.Ptr(read)}}}}}, nil); err != nil {
		t.Fatal(err)
	}
	userID, userCred := fixture.Principal(t, e, "vault reader")
	fixture.Assign(t, e, *vault.ID, role, userID)
	vc, _ := armdataprotection.NewBackupVaultsClient(e.Sub, userCred, e.Opts)
	if _, err := vc.Get(ctx, "vault-rg", "vault1", nil); err != nil {
		t.Fatalf("the role of %s: %v", read, err)
	}
	_, err = vc.BeginUpdate(ctx, "vault-rg", "vault1", armdataprotection.PatchResourceRequestInput{Tags: map[string]*string{"a": to.Ptr("b")}}, nil)
	if !testserver.HasError(err, 403, "AuthorizationFailed") {
		t.Fatalf("a write with the read role: %v", err)
	}
}
