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
// can. The other common forms: a VM over an existing (restored) OS disk in
// an existing network, and one with password authentication, a new data
// disk and delete options.
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

	// A VM over a disk (a restored one, as az backup's restore-disks
	// leaves it): --attach-os-disk --os-type linux, in vm1's network, with
	// neither public address nor security group. Its OS type reads Linux
	// (it read linux, as az sent it).
	az.run("disk", "create", "-g", "vmrg", "-n", "restored-os", "--size-gb", "1", "-o", "none")
	vm = az.json("vm", "create", "-g", "vmrg", "-n", "vm2", "--attach-os-disk", "restored-os", "--os-type", "linux",
		"--vnet-name", "vm1VNET", "--subnet", "vm1Subnet", "--public-ip-address", "", "--nsg", "")
	if str(vm, "privateIpAddress") != "10.0.0.5" || str(vm, "publicIpAddress") != "" {
		t.Fatalf("vm create --attach-os-disk: %v", vm)
	}
	if out := az.tsv("vm", "show", "-g", "vmrg", "-n", "vm2", "--query", "[storageProfile.osDisk.osType, storageProfile.osDisk.createOption, osProfile]"); strings.Join(strings.Fields(out), " ") != "Linux Attach None" {
		t.Fatalf("vm2's OS disk and profile: %q, want Linux, Attach and no OS profile", out)
	}
	// Password authentication, a data disk made for it, and what the VM's
	// delete deletes: its OS disk and interface (--os-disk-delete-option
	// Delete --nic-delete-option Delete), not the data disk (Detach). The
	// password is never answered.
	az.run("vm", "create", "-g", "vmrg", "-n", "vm3", "--image", "UbuntuLTS", "--admin-username", "azureuser", "--admin-password", "Secret123!xyzW",
		"--authentication-type", "password", "--size", "Standard_B1s", "--data-disk-sizes-gb", "1", "--os-disk-delete-option", "Delete", "--nic-delete-option", "Delete", "-o", "none")
	if out := az.tsv("vm", "show", "-g", "vmrg", "-n", "vm3", "--query", "[osProfile.adminUsername, osProfile.adminPassword, hardwareProfile.vmSize, length(storageProfile.dataDisks)]"); strings.Join(strings.Fields(out), " ") != "azureuser None Standard_B1s 1" {
		t.Fatalf("vm3: %q", out)
	}
	// Its Linux configuration reads as Azure's does: password
	// authentication allowed (az sent no linuxConfiguration), the VM agent
	// provisioned, the image's patching; vm1's, given an SSH key, disables
	// passwords.
	lc := "[osProfile.linuxConfiguration.disablePasswordAuthentication, osProfile.linuxConfiguration.provisionVmAgent, osProfile.linuxConfiguration.patchSettings.patchMode, osProfile.allowExtensionOperations]"
	if out := az.tsv("vm", "show", "-g", "vmrg", "-n", "vm3", "--query", lc); strings.Join(strings.Fields(out), " ") != "false true ImageDefault true" {
		t.Fatalf("vm3's linuxConfiguration: %q, want disablePasswordAuthentication false, provisionVMAgent true, patchMode ImageDefault (and allowExtensionOperations true)", out)
	}
	if out := az.tsv("vm", "show", "-g", "vmrg", "-n", "vm1", "--query", lc); strings.Join(strings.Fields(out), " ") != "true true ImageDefault true" {
		t.Fatalf("vm1's linuxConfiguration: %q, want passwords disabled", out)
	}
	az.run("vm", "delete", "-g", "vmrg", "-n", "vm3", "--yes")
	az.fails("ResourceNotFound", "network", "nic", "show", "-g", "vmrg", "-n", "vm3VMNic")
	if out := az.tsv("disk", "list", "-g", "vmrg", "--query", "[?starts_with(name, 'vm3_')].name | length(@)"); out != "1" {
		t.Fatalf("vm3's disks after its delete: %s, want its data disk alone", out)
	}

	az.run("vm", "delete", "-g", "vmrg", "-n", "vm1", "--yes")
	az.run("network", "nic", "delete", "-g", "vmrg", "-n", "vm1VMNic")
	az.run("group", "delete", "-n", "vmrg", "--yes")
}
