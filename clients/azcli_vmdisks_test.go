package clients_test

import (
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
)

// TestAzCLIVMDiskCaching: az vm disk attach --caching (an existing disk and
// a --new one) keeps the host caching asked for, a later attach keeps the
// caching of the disks already attached, az vm update --set changes the
// OS disk's, and a caching Azure does not know is 400 InvalidParameter
// naming the field; a shared disk (--max-shares 2) attaches to two VMs
// (az disk show lists them in managedByExtended) and is refused to a
// third, naming its maxShares (it was refused to the second: Safehold
// attached a shared disk to one VM at a time). The caching of every disk
// was fixed (None for a data disk, ReadWrite for the OS disk), so az
// printed None for a disk attached --caching ReadOnly.
func TestAzCLIVMDiskCaching(t *testing.T) {
	e := testserver.Start(t)
	az := loggedIn(t, e)
	sub := e.Conn.SubscriptionID
	az.run("group", "create", "-n", "cacherg", "-l", "westus", "-o", "none")
	vm := az.vm(sub, "cacherg", "cvm")
	az.run("disk", "create", "-g", "cacherg", "-n", "cd1", "--size-gb", "1", "-o", "none")

	az.run("vm", "disk", "attach", "-g", "cacherg", "--vm-name", "cvm", "--name", "cd1", "--lun", "3", "--caching", "ReadOnly", "-o", "none")
	az.run("vm", "disk", "attach", "-g", "cacherg", "--vm-name", "cvm", "--name", "cd2", "--new", "--size-gb", "1", "--caching", "ReadWrite", "-o", "none")
	if out := az.tsv("vm", "show", "-g", "cacherg", "-n", "cvm", "--query", "storageProfile.dataDisks[].[name,to_string(lun),caching]"); strings.Join(strings.Fields(out), " ") != "cd1 3 ReadOnly cd2 0 ReadWrite" {
		t.Fatalf("data disks after az vm disk attach --caching: %q", out)
	}
	if out := az.tsv("vm", "update", "-g", "cacherg", "-n", "cvm", "--set", "storageProfile.osDisk.caching=ReadOnly", "--query", "[storageProfile.osDisk.caching,storageProfile.dataDisks[0].caching]"); strings.Join(strings.Fields(out), " ") != "ReadOnly ReadOnly" {
		t.Fatalf("caching after az vm update --set storageProfile.osDisk.caching: %q", out)
	}
	r := az.exec("rest", "--method", "patch", "--url", vm+"?api-version=2024-11-01",
		"--body", `{"properties":{"storageProfile":{"dataDisks":[{"lun":3,"createOption":"Attach","caching":"Sometimes","managedDisk":{"id":"`+strings.TrimSuffix(vm, "/providers/Microsoft.Compute/virtualMachines/cvm")+`/providers/Microsoft.Compute/disks/cd1"}}]}}}`)
	if r.Code == 0 || !strings.Contains(r.Stderr, "InvalidParameter") || !strings.Contains(r.Stderr, "dataDisks[0].caching") {
		t.Fatalf("a PATCH with caching Sometimes: exit status %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	if out := az.tsv("vm", "show", "-g", "cacherg", "-n", "cvm", "--query", "length(storageProfile.dataDisks)"); out != "2" {
		t.Fatalf("data disks after the refused PATCH: %q", out)
	}

	// A shared disk (maxShares 2) attaches to two VMs at once, and a
	// third attach names the limit.
	az.run("disk", "create", "-g", "cacherg", "-n", "shared", "--size-gb", "256", "--sku", "Premium_LRS", "--max-shares", "2", "-o", "none")
	az.run("vm", "disk", "attach", "-g", "cacherg", "--vm-name", "cvm", "--name", "shared", "-o", "none")
	az.vm(sub, "cacherg", "cvm2")
	az.run("vm", "disk", "attach", "-g", "cacherg", "--vm-name", "cvm2", "--name", "shared", "-o", "none")
	if out := az.tsv("disk", "show", "-g", "cacherg", "-n", "shared", "--query", "[diskState,length(managedByExtended)]"); strings.Join(strings.Fields(out), " ") != "Attached 2" {
		t.Fatalf("a shared disk attached to two VMs: %q", out)
	}
	az.vm(sub, "cacherg", "cvm3")
	r = az.exec("vm", "disk", "attach", "-g", "cacherg", "--vm-name", "cvm3", "--name", "shared", "-o", "none")
	if r.Code == 0 || !strings.Contains(r.Stderr, "(OperationNotAllowed)") || !strings.Contains(r.Stderr, "maxShares 2") {
		t.Fatalf("attaching a shared disk to a third VM: exit status %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}
