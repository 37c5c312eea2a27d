package clients_test

import (
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
)

// TestAzCLIZoneRedundantDisks: a zone-redundant disk (Premium_ZRS,
// StandardSSD_ZRS) is in no one zone, as in Azure: az disk create --zone
// with such a sku is 409 OperationNotAllowed saying so, and one made
// without a zone attaches to a zonal VM (az vm disk attach), as does one
// az vm disk attach --new --sku Premium_ZRS creates for it, which gets no
// zone. Before, the zonal disk was made, and both attaches were refused
// with 400 InvalidParameter ("not in zone 1 of the VM") or made the new
// disk zonal.
func TestAzCLIZoneRedundantDisks(t *testing.T) {
	e := testserver.Start(t)
	az := loggedIn(t, e)
	sub := e.Conn.SubscriptionID
	g := []string{"-g", "zrsrg"}
	az.run("group", "create", "-n", "zrsrg", "-l", "eastus2", "-o", "none")
	az.fails("OperationNotAllowed", append([]string{"disk", "create", "-n", "zonal", "--size-gb", "1", "--sku", "Premium_ZRS", "--zone", "1"}, g...)...)
	if out := az.tsv(append([]string{"disk", "list", "--query", "length(@)"}, g...)...); out != "0" {
		t.Fatalf("disks after the refused zonal Premium_ZRS disk: %s", out)
	}
	az.run(append([]string{"disk", "create", "-n", "zrs", "--size-gb", "1", "--sku", "StandardSSD_ZRS", "-o", "none"}, g...)...)

	// A VM in zone 1, on an OS disk of zone 1.
	osDisk := "/subscriptions/" + sub + "/resourceGroups/zrsrg/providers/Microsoft.Compute/disks/zvm-os"
	az.run(append([]string{"disk", "create", "-n", "zvm-os", "--size-gb", "1", "--os-type", "Linux", "--zone", "1", "-o", "none"}, g...)...)
	az.run("rest", "--method", "put", "--url", "/subscriptions/"+sub+"/resourceGroups/zrsrg/providers/Microsoft.Compute/virtualMachines/zvm?api-version=2024-11-01", "-o", "none",
		"--body", `{"location":"eastus2","zones":["1"],"properties":{"hardwareProfile":{"vmSize":"Standard_D2s_v3"},"storageProfile":{"osDisk":{"osType":"Linux","createOption":"Attach","managedDisk":{"id":"`+osDisk+`"}}}}}`)

	az.run(append([]string{"vm", "disk", "attach", "--vm-name", "zvm", "--name", "zrs", "--lun", "0", "-o", "none"}, g...)...)
	az.run(append([]string{"vm", "disk", "attach", "--vm-name", "zvm", "--name", "zrsnew", "--new", "--size-gb", "1", "--sku", "Premium_ZRS", "--lun", "1", "-o", "none"}, g...)...)
	if out := az.tsv(append([]string{"vm", "show", "-n", "zvm", "--query", "storageProfile.dataDisks[].[name,managedDisk.storageAccountType]"}, g...)...); strings.Join(strings.Fields(out), " ") != "zrs StandardSSD_ZRS zrsnew Premium_ZRS" {
		t.Fatalf("the zonal VM's data disks: %q", out)
	}
	if out := az.tsv(append([]string{"disk", "list", "--query", "[?starts_with(name,'zrs')].[name,diskState,length(zones || `[]`)]"}, g...)...); strings.Join(strings.Fields(out), " ") != "zrs Attached 0 zrsnew Attached 0" {
		t.Fatalf("the zone-redundant disks: %q", out)
	}
	// A locally redundant disk of another zone is still refused.
	az.run(append([]string{"disk", "create", "-n", "zone2", "--size-gb", "1", "--zone", "2", "-o", "none"}, g...)...)
	r := az.exec(append([]string{"vm", "disk", "attach", "--vm-name", "zvm", "--name", "zone2", "--lun", "2", "-o", "none"}, g...)...)
	if r.Code == 0 || !strings.Contains(r.Stderr, "(InvalidParameter)") || !strings.Contains(r.Stderr, "is not in zone 1 of the VM") {
		t.Fatalf("attaching a disk of zone 2 to a VM of zone 1: exit status %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}
