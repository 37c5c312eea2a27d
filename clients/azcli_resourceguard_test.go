package clients_test

import (
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
)

// TestAzCLIResourceGuardMapping: az backup vault resource-guard-mapping
// update links a Recovery Services vault to a resource guard, and delete
// unlinks it: az finds the request it unlocks the delete with in the
// mapping's resourceGuardOperationDetails by the vault's operation
// (Microsoft.RecoveryServices/vaults/backupResourceGuardProxies/delete),
// sends unlockDelete with it (and no resourceToBeDeleted) and then
// deletes the mapping; the item delete of az backup protection disable
// --delete-backup-data finds its request the same way.
func TestAzCLIResourceGuardMapping(t *testing.T) {
	e := testserver.Start(t)
	az := loggedIn(t, e)
	az.run("group", "create", "-n", "guardrg", "-l", "westus", "-o", "none")
	guard := "/subscriptions/" + e.Conn.SubscriptionID + "/resourceGroups/guardrg/providers/Microsoft.DataProtection/resourceGuards/guard1"
	az.run("rest", "--method", "put", "--url", guard+"?api-version=2023-05-01", "--body", `{"location":"westus","properties":{}}`, "-o", "none")
	az.run("backup", "vault", "create", "-g", "guardrg", "-n", "guardv", "-l", "westus", "-o", "none")
	az.run("backup", "vault", "resource-guard-mapping", "update", "-g", "guardrg", "-n", "guardv", "--resource-guard-id", guard, "-o", "none")
	ops := az.tsv("backup", "vault", "resource-guard-mapping", "show", "-g", "guardrg", "-n", "guardv", "--query", "properties.resourceGuardOperationDetails[].vaultCriticalOperation")
	if !strings.Contains(ops, "Microsoft.RecoveryServices/vaults/backupResourceGuardProxies/delete") {
		t.Fatalf("the mapping's operations: %s", ops)
	}
	// A critical operation az authorizes with the mapping's request for
	// it: deleting an item's backup data (unlockDelete of the item, then
	// its delete).
	az.vm(e.Conn.SubscriptionID, "guardrg", "guardvm")
	az.run("backup", "protection", "enable-for-vm", "-g", "guardrg", "-v", "guardv", "--vm", "guardvm", "--policy-name", "DefaultPolicy", "-o", "none")
	az.run("backup", "protection", "disable", "-g", "guardrg", "-v", "guardv", "-c", "guardvm", "-i", "guardvm", "--backup-management-type", "AzureIaasVM", "--delete-backup-data", "true", "--yes", "-o", "none")
	if items := az.tsv("backup", "item", "list", "-g", "guardrg", "-v", "guardv", "--query", "length(@)"); items != "0" {
		t.Fatalf("%s items after their backup data was deleted", items)
	}
	az.run("backup", "vault", "resource-guard-mapping", "delete", "-g", "guardrg", "-n", "guardv", "--yes", "-o", "none")
	az.fails("ResourceNotFound", "backup", "vault", "resource-guard-mapping", "show", "-g", "guardrg", "-n", "guardv")
}
