package clients_test

import (
	"strings"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestAzCLIRestoreToANewVMInAVNet: az backup restore restore-disks
// --target-vm-name --target-vnet-name --target-vnet-resource-group
// --target-subnet-name makes the new VM with a network interface
// {vm}-nic in that subnet (its first free address), which az vm show -d
// reads; the VM's delete deletes the interface (deleteOption Delete). A
// restore naming a subnet not in the network (az rest: az itself looks
// the subnet up) is refused at once (BMSUserErrorInvalidRestoreInput,
// naming properties.subnetId). Before, the VM had no network interface
// and a missing subnet was accepted. A restore with the vault's identity
// (--mi-system-assigned) needs that identity to reach the staging
// account; before, it was not looked at there.
func TestAzCLIRestoreToANewVMInAVNet(t *testing.T) {
	e := testserver.Start(t)
	az := loggedIn(t, e)
	sub := e.Conn.SubscriptionID
	for _, g := range []string{"vmRG", "vaultRG", "netRG", "newRG"} {
		az.run("group", "create", "-n", g, "-l", "westus", "-o", "none")
	}
	vmID := az.vm(sub, "vmRG", "src")
	az.run("network", "vnet", "create", "-g", "netRG", "-n", "vnet1", "--address-prefixes", "10.0.0.0/16", "--subnet-name", "default", "--subnet-prefixes", "10.0.0.0/24", "-o", "none")
	az.run("rest", "--method", "put", "--url", "/subscriptions/"+sub+"/resourceGroups/vaultRG/providers/Microsoft.Storage/storageAccounts/vnetstaging?api-version=2023-01-01",
		"-o", "none", "--body", `{"location":"westus","kind":"StorageV2","sku":{"name":"Standard_LRS"}}`)
	v := []string{"-g", "vaultRG", "-v", "netVault"}
	with := func(args ...string) []string { return append(args, v...) }
	az.run("backup", "vault", "create", "-g", "vaultRG", "-n", "netVault", "-l", "westus", "-o", "none")
	fixture.QuietPolicies(t, e, "/subscriptions/"+sub+"/resourceGroups/vaultRG/providers/Microsoft.RecoveryServices/vaults/netVault")
	az.run(with("backup", "protection", "enable-for-vm", "--vm", vmID, "--policy-name", "DefaultPolicy", "-o", "none")...)
	item := []string{"-c", "src", "-i", "src", "--backup-management-type", "AzureIaasVM"}
	bj := az.json(with(append([]string{"backup", "protection", "backup-now", "--retain-until", time.Now().AddDate(0, 1, 0).Format("02-01-2006")}, item...)...)...)
	if st := az.tsv(with("backup", "job", "wait", "-n", str(bj, "name"), "--timeout", "300", "--query", "properties.status")...); st != "Completed" {
		t.Fatalf("backup job %s", st)
	}
	rp := az.tsv(with(append([]string{"backup", "recoverypoint", "list", "--query", "[0].name"}, item...)...)...)
	restore := []string{"backup", "restore", "restore-disks", "-c", "src", "-i", "src", "-r", rp, "--storage-account", "vnetstaging",
		"--target-resource-group", "newRG", "--target-vm-name", "vm1r", "--target-vnet-name", "vnet1", "--target-vnet-resource-group", "netRG"}

	rj := az.json(with(append(restore, "--target-subnet-name", "default")...)...)
	if st := az.tsv(with("backup", "job", "wait", "-n", str(rj, "name"), "--timeout", "300", "--query", "properties.status")...); st != "Completed" {
		t.Fatalf("restore job %s", st)
	}
	if ip := az.tsv("vm", "show", "-d", "-g", "newRG", "-n", "vm1r", "--query", "privateIps"); ip != "10.0.0.4" {
		t.Fatalf("the restored VM's private address %q, want 10.0.0.4 (its interface in vnet1/default)", ip)
	}
	if out := az.tsv("network", "nic", "show", "-g", "newRG", "-n", "vm1r-nic", "--query", "[virtualMachine.id, ipConfigurations[0].subnet.id]"); !strings.Contains(out, "/virtualMachines/vm1r") || !strings.HasSuffix(out, "/virtualNetworks/vnet1/subnets/default") {
		t.Fatalf("the restored VM's interface: %q", out)
	}
	az.run("vm", "delete", "-g", "newRG", "-n", "vm1r", "--yes")
	az.fails("ResourceNotFound", "network", "nic", "show", "-g", "newRG", "-n", "vm1r-nic")

	// az looks the subnet up in the network and sends its id: a subnet
	// not in it (one deleted since, or a request not made by az) is
	// refused when the restore is triggered.
	itemID := az.tsv(with(append([]string{"backup", "item", "show", "-n", "src", "--query", "id"}, "-c", "src", "--backup-management-type", "AzureIaasVM")...)...)
	body := `{"properties":{"objectType":"IaasVMRestoreRequest","recoveryType":"AlternateLocation","recoveryPointId":"` + rp + `",` +
		`"sourceResourceId":"` + vmID + `","region":"westus","storageAccountId":"/subscriptions/` + sub + `/resourceGroups/vaultRG/providers/Microsoft.Storage/storageAccounts/vnetstaging",` +
		`"targetResourceGroupId":"/subscriptions/` + sub + `/resourceGroups/newRG","targetVirtualMachineId":"/subscriptions/` + sub + `/resourceGroups/newRG/providers/Microsoft.Compute/virtualMachines/vm2r",` +
		`"virtualNetworkId":"/subscriptions/` + sub + `/resourceGroups/netRG/providers/Microsoft.Network/virtualNetworks/vnet1",` +
		`"subnetId":"/subscriptions/` + sub + `/resourceGroups/netRG/providers/Microsoft.Network/virtualNetworks/vnet1/subnets/missing"}}`
	r := az.exec("rest", "--method", "post", "--body", body, "--url", itemID+"/recoveryPoints/"+rp+"/restore?api-version=2023-04-01")
	if r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "BMSUserErrorInvalidRestoreInput") || !strings.Contains(r.Stdout+r.Stderr, "properties.subnetId") {
		t.Fatalf("a restore into a subnet not in the network: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}

	// A restore with the vault's managed identity (--mi-system-assigned;
	// az itself refuses it while the vault has none) reaches the staging
	// account as that identity, as in Azure: refused while the identity
	// may not write the account's containers (403 naming it), and done
	// once it holds Storage Account Contributor on the account.
	mi := []string{"backup", "restore", "restore-disks", "-c", "src", "-i", "src", "-r", rp, "--storage-account", "vnetstaging",
		"--target-resource-group", "newRG", "--mi-system-assigned"}
	principal := az.tsv("backup", "vault", "identity", "assign", "-g", "vaultRG", "-n", "netVault", "--system-assigned", "--query", "identity.principalId")
	r = az.exec(with(mi...)...)
	if r.Code == 0 || !strings.Contains(r.Stderr, "(AuthorizationFailed)") || !strings.Contains(r.Stderr, principal) {
		t.Fatalf("a restore as an identity that may not write the staging account: exit %d, want AuthorizationFailed naming %s\n%s%s", r.Code, principal, r.Stdout, r.Stderr)
	}
	az.run("role", "assignment", "create", "--assignee-object-id", principal, "--assignee-principal-type", "ServicePrincipal", "--role", "Storage Account Contributor",
		"--scope", "/subscriptions/"+sub+"/resourceGroups/vaultRG/providers/Microsoft.Storage/storageAccounts/vnetstaging", "-o", "none")
	rj = az.json(with(mi...)...)
	if st := az.tsv(with("backup", "job", "wait", "-n", str(rj, "name"), "--timeout", "300", "--query", "properties.status")...); st != "Completed" {
		t.Fatalf("the restore with the vault's identity: job %s", st)
	}
}
