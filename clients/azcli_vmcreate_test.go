package clients_test

import (
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestAzCLIVMCreate runs az vm create end to end (an ARM template
// deployment of a virtual network, a public address, a security group, a
// network interface and a VM from a platform image the operator imported
// as az 2.45's UbuntuLTS alias names it): the VM runs with the interface's
// private address 10.0.0.4 and a public address, and the interface names
// the VM. A NIC the VM uses cannot be deleted; once the VM is deleted it
// can.
func TestAzCLIVMCreate(t *testing.T) {
	e := testserver.StartWithGroups(t, "src")
	osID, _ := fixture.Disk(t, e, "src", "os-src", 1)
	if resp, m := e.Do("PUT", "/providers/Safehold.Admin/vmImages/westus/Canonical/UbuntuServer/18.04-LTS/18.04.202401010?api-version=2024-01-01",
		map[string]any{"osType": "Linux", "osDisk": map[string]string{"sourceId": osID}}); resp.StatusCode != 200 {
		t.Fatalf("import image: %d %v", resp.StatusCode, m)
	}
	az := loggedIn(t, e)
	az.run("group", "create", "-n", "vmrg", "-l", "westus", "-o", "none")
	vm := az.json("vm", "create", "-g", "vmrg", "-n", "vm1", "--image", "UbuntuLTS", "--admin-username", "u", "--ssh-key-values", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 u@host")
	if str(vm, "powerState") != "VM running" || str(vm, "privateIpAddress") != "10.0.0.4" || !strings.HasPrefix(str(vm, "publicIpAddress"), "203.0.113.") {
		t.Fatalf("vm create: %v", vm)
	}
	if out := az.tsv("network", "nic", "show", "-g", "vmrg", "-n", "vm1VMNic", "--query", "virtualMachine.id"); !strings.HasSuffix(out, "/virtualMachines/vm1") {
		t.Fatalf("the VM's interface names %q", out)
	}
	az.fails("NicInUse", "network", "nic", "delete", "-g", "vmrg", "-n", "vm1VMNic")
	az.run("vm", "delete", "-g", "vmrg", "-n", "vm1", "--yes")
	az.run("network", "nic", "delete", "-g", "vmrg", "-n", "vm1VMNic")
	az.run("group", "delete", "-n", "vmrg", "--yes")
}
