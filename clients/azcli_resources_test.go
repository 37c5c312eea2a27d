package clients_test

import (
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
)

// TestAzCLIResources drives what az users do around the backup flows,
// asserting what each command prints:
//   - az provider show, operation list and show, and unregister (refused);
//   - az resource list with each filter az sends as $filter (-g,
//     --resource-type, --tag name=value and name, -n, -l) and the
//     createdTime and provisioningState its $expand asks for; az resource
//     show and delete --ids; az group exists, delete --no-wait and wait
//     --deleted; az tag update (Merge, Delete) and create at a resource
//     and a resource group;
//   - customer-managed keys: az disk-encryption-set create, az disk create
//     --disk-encryption-set (no --encryption-type: the set's type), the
//     types that need or refuse a set, and az disk update
//     --encryption-type back to platform keys dropping the set (which can
//     then be deleted);
//   - az storage account update --sku (the redundancy; not the tier) and
//     the upgrade of a general purpose v1 account to StorageV2;
//   - az backup vault create --immutability-state Locked, which a later
//     --immutability-state Disabled cannot undo.
//
// The client workaround of TestAzCLIBackupSeed002 (azure-cli#25826)
// applies here too.
func TestAzCLIResources(t *testing.T) {
	e := testserver.Start(t)
	az := loggedIn(t, e)
	sub := e.Conn.SubscriptionID
	for _, g := range []string{"resA", "resB"} {
		az.run("group", "create", "-n", g, "-l", "westus", "-o", "none")
	}
	if out := az.tsv("group", "exists", "-n", "resA"); out != "true" {
		t.Fatalf("group exists resA: %q", out)
	}
	// az provider: the namespaces and the actions custom roles are
	// written from (az provider operation, Microsoft.Authorization's
	// providerOperations; it was 404 InvalidResourceType).
	if out := az.tsv("provider", "show", "-n", "Microsoft.DataProtection", "--query", "registrationState"); out != "Registered" {
		t.Fatalf("az provider show: %q", out)
	}
	az.fails("OperationNotSupported", "provider", "unregister", "-n", "Microsoft.Storage")
	if out := az.tsv("provider", "operation", "list", "--query", "[?name=='Microsoft.RecoveryServices'].name"); out != "Microsoft.RecoveryServices" {
		t.Fatalf("az provider operation list: %q", out)
	}
	if out := az.tsv("provider", "operation", "show", "--namespace", "Microsoft.DataProtection", "--query",
		"resourceTypes[?name=='backupVaults/backupInstances'] | [0].operations[?name=='Microsoft.DataProtection/backupVaults/backupInstances/backup/action'].name | [0]"); out != "Microsoft.DataProtection/backupVaults/backupInstances/backup/action" {
		t.Fatalf("az provider operation show: %q", out)
	}
	az.run("disk", "create", "-g", "resA", "-n", "a1", "--size-gb", "1", "--tags", "env=prod", "-o", "none")
	az.run("disk", "create", "-g", "resB", "-n", "b1", "--size-gb", "1", "-o", "none")
	az.run("snapshot", "create", "-g", "resB", "-n", "b1snap", "--source", "/subscriptions/"+sub+"/resourceGroups/resB/providers/Microsoft.Compute/disks/b1", "-o", "none")

	// az resource list sends each option as a $filter condition.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-g", "resA"}, "a1"},
		{[]string{"-g", "resB"}, "b1\nb1snap"},
		{[]string{"--resource-type", "Microsoft.Compute/snapshots"}, "b1snap"},
		{[]string{"-g", "resB", "--namespace", "Microsoft.Compute", "--resource-type", "disks"}, "b1"},
		{[]string{"--tag", "env=prod"}, "a1"},
		{[]string{"--tag", "env"}, "a1"},
		{[]string{"--tag", "env=dev"}, ""},
		{[]string{"-l", "eastus"}, ""},
	} {
		if out := az.tsv(append([]string{"resource", "list", "--query", "sort_by(@, &name)[].name"}, c.args...)...); out != c.want {
			t.Errorf("az resource list %s: %q, want %q", strings.Join(c.args, " "), out, c.want)
		}
	}
	if out := az.tsv("resource", "list", "-n", "b1", "--query", "[].[resourceGroup,type,sku.name,provisioningState,length(createdTime) > `0`]"); out != "resB\tMicrosoft.Compute/disks\tPremium_LRS\tSucceeded\tTrue" {
		t.Fatalf("az resource list -n b1: %q", out)
	}
	// az tag at a resource and a resource group (the Tags API).
	a1 := "/subscriptions/" + sub + "/resourceGroups/resA/providers/Microsoft.Compute/disks/a1"
	if out := az.tsv("tag", "update", "--resource-id", a1, "--operation", "Merge", "--tags", "team=x", "--query", "[properties.tags.env,properties.tags.team]"); out != "prod\tx" && out != "prod\nx" {
		t.Fatalf("tag update --operation Merge: %q", out)
	}
	if out := az.tsv("tag", "update", "--resource-id", a1, "--operation", "Delete", "--tags", "env", "--query", "keys(properties.tags)"); out != "team" {
		t.Fatalf("tag update --operation Delete: %q", out)
	}
	if out := az.tsv("disk", "show", "--ids", a1, "--query", "tags.team"); out != "x" {
		t.Fatalf("the disk's tags after az tag update: %q", out)
	}
	az.run("tag", "create", "--resource-id", "/subscriptions/"+sub+"/resourceGroups/resB", "--tags", "owner=me", "-o", "none")
	if out := az.tsv("group", "list", "--tag", "owner=me", "--query", "[].name"); out != "resB" {
		t.Fatalf("group list --tag owner=me after az tag create: %q", out)
	}

	// Moves and template exports are refused saying so (they were 404).
	az.fails("ResourceMoveNotSupported", "resource", "move", "--destination-group", "resB", "--ids", a1)
	az.fails("OperationNotSupported", "group", "export", "-n", "resA")
	if out := az.tsv("resource", "list", "-g", "resA", "--query", "[].name"); out != "a1" {
		t.Fatalf("az resource list -g resA after the refused move: %q", out)
	}

	snap := "/subscriptions/" + sub + "/resourceGroups/resB/providers/Microsoft.Compute/snapshots/b1snap"
	if out := az.tsv("resource", "show", "--ids", snap, "--query", "[name,properties.diskSizeGB]"); out != "b1snap\n1" {
		t.Fatalf("az resource show --ids: %q", out)
	}
	az.run("resource", "delete", "--ids", snap, "-o", "none")
	if out := az.tsv("resource", "list", "-g", "resB", "--query", "[].name"); out != "b1" {
		t.Fatalf("az resource list -g resB after the snapshot's delete: %q", out)
	}

	// Customer-managed keys: a disk naming a set is encrypted with the
	// set's type; platform keys take no set.
	des := az.json("disk-encryption-set", "create", "-g", "resA", "-n", "des1", "--key-url", "https://kv1.vault.azure.net/keys/k1/0123456789abcdef0123456789abcdef", "--source-vault", "kv1")
	if str(des, "encryptionType") != "EncryptionAtRestWithCustomerKey" || str(des, "provisioningState") != "Succeeded" {
		t.Fatalf("disk-encryption-set create: %v", des)
	}
	cmk := []string{"-g", "resA", "-n", "cmk1"}
	if out := az.tsv(append([]string{"disk", "create", "--size-gb", "1", "--disk-encryption-set", "des1", "--query", "[encryption.type,encryption.diskEncryptionSetId]"}, cmk...)...); out != "EncryptionAtRestWithCustomerKey\t"+str(des, "id") && out != "EncryptionAtRestWithCustomerKey\n"+str(des, "id") {
		t.Fatalf("disk create --disk-encryption-set: %q", out)
	}
	az.fails("InvalidParameter", "disk", "create", "-g", "resA", "-n", "cmk2", "--size-gb", "1", "--encryption-type", "EncryptionAtRestWithCustomerKey")
	az.fails("InvalidParameter", "disk", "create", "-g", "resA", "-n", "cmk3", "--size-gb", "1", "--encryption-type", "EncryptionAtRestWithPlatformKey", "--disk-encryption-set", "des1")
	az.fails("OperationNotAllowed", "disk-encryption-set", "delete", "-g", "resA", "-n", "des1")
	if out := az.tsv(append([]string{"disk", "update", "--encryption-type", "EncryptionAtRestWithPlatformKey", "--query", "[encryption.type,encryption.diskEncryptionSetId]"}, cmk...)...); out != "EncryptionAtRestWithPlatformKey\tNone" && out != "EncryptionAtRestWithPlatformKey\nNone" {
		t.Fatalf("disk update --encryption-type EncryptionAtRestWithPlatformKey: %q", out)
	}
	az.run("disk-encryption-set", "delete", "-g", "resA", "-n", "des1", "-o", "none")

	// Storage accounts: the redundancy changes within the tier; a v1
	// account upgrades to StorageV2.
	acct := []string{"-g", "resA", "-n", "resstore1"}
	az.run(append([]string{"storage", "account", "create", "-l", "westus", "--sku", "Standard_LRS", "-o", "none"}, acct...)...)
	if out := az.tsv(append([]string{"storage", "account", "update", "--sku", "Standard_GRS", "--query", "sku.name"}, acct...)...); out != "Standard_GRS" {
		t.Fatalf("storage account update --sku Standard_GRS: %q", out)
	}
	az.fails("InvalidAccountType", append([]string{"storage", "account", "update", "--sku", "Premium_LRS"}, acct...)...)
	if out := az.tsv(append([]string{"storage", "account", "show", "--query", "sku.name"}, acct...)...); out != "Standard_GRS" {
		t.Fatalf("storage account show after a refused sku change: %q", out)
	}
	v1 := []string{"-g", "resA", "-n", "resstorev1"}
	az.run(append([]string{"storage", "account", "create", "-l", "westus", "--sku", "Standard_LRS", "--kind", "Storage", "-o", "none"}, v1...)...)
	if out := az.tsv(append([]string{"storage", "account", "update", "--set", "kind=StorageV2", "--access-tier", "Cool", "--query", "[kind,accessTier]"}, v1...)...); out != "StorageV2\tCool" && out != "StorageV2\nCool" {
		t.Fatalf("storage account update to StorageV2: %q", out)
	}

	// A vault's locked immutability cannot be undone.
	imm := []string{"backup", "vault", "create", "-g", "resA", "-n", "immvault", "-l", "westus", "--immutability-state"}
	if out := az.tsv(append(imm, "Locked", "--query", "properties.securitySettings.immutabilitySettings.state")...); out != "Locked" {
		t.Fatalf("vault create --immutability-state Locked: %q", out)
	}
	az.fails("UserErrorImmutabilityStateLocked", append(imm, "Disabled")...)
	if out := az.tsv("backup", "vault", "show", "-g", "resA", "-n", "immvault", "--query", "properties.securitySettings.immutabilitySettings.state"); out != "Locked" {
		t.Fatalf("vault show after a refused unlock: %q", out)
	}

	// A group's delete without waiting, then az group wait.
	az.run("group", "delete", "-n", "resB", "--yes", "--no-wait", "-o", "none")
	az.run("group", "wait", "-n", "resB", "--deleted", "--timeout", "120", "-o", "none")
	if out := az.tsv("group", "exists", "-n", "resB"); out != "false" {
		t.Fatalf("group exists resB after its delete: %q", out)
	}
	if out := az.tsv("resource", "list", "--resource-type", "Microsoft.Compute/disks", "--query", "sort([].name)"); out != "a1\ncmk1" {
		t.Fatalf("disks after resB's delete: %q", out)
	}
}
