package recoveryservices_test

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestPrivateEndpointConnectionsAndDataMoveOperations: the vault-level
// routes Azure's Recovery Services backup API has and Safehold has nothing
// behind answer as for what does not exist, through the Go SDK's clients:
// a private endpoint connection's read and PUT (its approval) are 404
// naming it, its delete 204 (nothing to delete), and the status of its
// operations and of a data move's (backupstorageconfig/vaultstorageconfig
// operationResults and operationStatus) 404 OperationNotFound; in a vault
// that does not exist, 404 for it. All were 404 InvalidResourceType,
// telling a client the type does not exist at all.
func TestPrivateEndpointConnectionsAndDataMoveOperations(t *testing.T) {
	e := testserver.StartWithGroups(t, "vaultrg")
	fixture.RSVault(t, e, "vaultrg", "pev", fixture.StandardVault())
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	ctx := e.Ctx()
	pec := bf.NewPrivateEndpointConnectionClient()
	want := func(what string, err error, status int, code string) {
		t.Helper()
		if st, c := testserver.ErrorOf(err); st != status || (code != "" && c != code) || c == "InvalidResourceType" {
			t.Errorf("%s: %v, want %d %s", what, err, status, code)
		}
	}
	_, err := pec.Get(ctx, "pev", "vaultrg", "pe1.conn", nil)
	want("a private endpoint connection's read", err, 404, "ResourceNotFound")
	_, err = fixture.Wait(pec.BeginPut(ctx, "pev", "vaultrg", "pe1.conn", armrecoveryservicesbackup.PrivateEndpointConnectionResource{
		Properties: &armrecoveryservicesbackup.PrivateEndpointConnection{PrivateLinkServiceConnectionState: &armrecoveryservicesbackup.PrivateLinkServiceConnectionState{
			Status: to.Ptr(armrecoveryservicesbackup.PrivateEndpointConnectionStatusApproved)}}}, nil))
	want("a private endpoint connection's approval", err, 404, "ResourceNotFound")
	if _, err := fixture.Wait(pec.BeginDelete(ctx, "pev", "vaultrg", "pe1.conn", nil)); err != nil {
		t.Errorf("a private endpoint connection's delete: %v", err)
	}
	_, err = bf.NewPrivateEndpointClient().GetOperationStatus(ctx, "pev", "vaultrg", "pe1.conn", "00000000-0000-0000-0000-000000000001", nil)
	want("a private endpoint connection's operation status", err, 404, "")
	_, err = bf.NewBMSPrepareDataMoveOperationResultClient().Get(ctx, "pev", "vaultrg", "00000000-0000-0000-0000-000000000001", nil)
	want("a data move's operation result", err, 404, "")
	c, err := armrecoveryservicesbackup.NewClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetOperationStatus(ctx, "pev", "vaultrg", "00000000-0000-0000-0000-000000000001", nil)
	want("a data move's operation status", err, 404, "")
	_, err = pec.Get(ctx, "nope", "vaultrg", "pe1.conn", nil)
	want("a private endpoint connection of a vault that does not exist", err, 404, "")
}

// TestNestedResourceNotFoundNamesItAsARMDoes: a child resource that does
// not exist is 404 ResourceNotFound naming it as ARM does, each type
// followed by its name ('Microsoft.RecoveryServices/vaults/pev/
// backupResourceGuardProxies/VaultProxy'), through the Go SDK: the
// message named the types, then the names
// ('Microsoft.RecoveryServices/vaults/backupResourceGuardProxies/pev/VaultProxy'),
// no resource's name (az backup vault resource-guard-mapping show printed
// it so).
func TestNestedResourceNotFoundNamesItAsARMDoes(t *testing.T) {
	e := testserver.StartWithGroups(t, "vaultrg")
	fixture.RSVault(t, e, "vaultrg", "pev", fixture.StandardVault())
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	for _, c := range []struct {
		what string
		err  func() error
		name string
	}{
		{"a resource guard mapping", func() error {
			_, err := bf.NewResourceGuardProxyClient().Get(e.Ctx(), "pev", "vaultrg", "VaultProxy", nil)
			return err
		}, "Microsoft.RecoveryServices/vaults/pev/backupResourceGuardProxies/VaultProxy"},
		{"a private endpoint connection", func() error {
			_, err := bf.NewPrivateEndpointConnectionClient().Get(e.Ctx(), "pev", "vaultrg", "pe1.conn", nil)
			return err
		}, "Microsoft.RecoveryServices/vaults/pev/privateEndpointConnections/pe1.conn"},
	} {
		err := c.err()
		if st, code := testserver.ErrorOf(err); st != 404 || code != "ResourceNotFound" || !strings.Contains(err.Error(), "The Resource '"+c.name+"' under resource group 'vaultrg' was not found") {
			t.Errorf("%s: %v, want 404 ResourceNotFound naming '%s'", c.what, err, c.name)
		}
	}
}
