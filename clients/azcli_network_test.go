package clients_test

import (
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
)

// TestAzCLINetwork drives az network (vnet, vnet subnet, nsg, nsg rule,
// public-ip, nic) at the api-versions az 2.45 sends: what they create
// reads back, a network interface takes the subnet's first free address
// (Azure keeps .0 to .3), and what is in use is not deleted.
func TestAzCLINetwork(t *testing.T) {
	e := testserver.Start(t)
	az := loggedIn(t, e)
	az.run("group", "create", "-n", "netrg", "-l", "westus", "-o", "none")

	v := az.json("network", "vnet", "create", "-g", "netrg", "-n", "vnet1", "--address-prefixes", "10.0.0.0/16", "--subnet-name", "default", "--subnet-prefixes", "10.0.0.0/24")
	if subs, _ := testserver.Field(v, "newVNet.subnets").([]any); str(v, "newVNet.provisioningState") != "Succeeded" || len(subs) != 1 || str(subs[0].(map[string]any), "name") != "default" {
		t.Fatalf("vnet create: %v", v)
	}
	az.run("network", "vnet", "subnet", "create", "-g", "netrg", "--vnet-name", "vnet1", "-n", "second", "--address-prefixes", "10.0.1.0/24", "-o", "none")
	if out := az.tsv("network", "vnet", "show", "-g", "netrg", "-n", "vnet1", "--query", "subnets[].addressPrefix | sort(@) | join(',', @)"); out != "10.0.0.0/24,10.0.1.0/24" {
		t.Fatalf("vnet show: subnets %q", out)
	}
	if out := az.tsv("network", "vnet", "list", "-g", "netrg", "--query", "[].name"); out != "vnet1" {
		t.Fatalf("vnet list: %q", out)
	}
	az.fails("NetcfgSubnetRangesOverlap", "network", "vnet", "subnet", "create", "-g", "netrg", "--vnet-name", "vnet1", "-n", "over", "--address-prefixes", "10.0.1.128/25")

	g := az.json("network", "nsg", "create", "-g", "netrg", "-n", "nsg1")
	if rules, _ := testserver.Field(g, "NewNSG.defaultSecurityRules").([]any); len(rules) != 6 {
		t.Fatalf("nsg create: %v", g)
	}
	az.run("network", "nsg", "rule", "create", "-g", "netrg", "--nsg-name", "nsg1", "-n", "ssh", "--priority", "1000", "--destination-port-ranges", "22", "--access", "Allow", "--protocol", "Tcp", "-o", "none")
	if out := az.tsv("network", "nsg", "rule", "list", "-g", "netrg", "--nsg-name", "nsg1", "--query", "[].[name,priority]"); out != "ssh\t1000" {
		t.Fatalf("nsg rule list: %q", out)
	}

	p := az.json("network", "public-ip", "create", "-g", "netrg", "-n", "pip1", "--sku", "Standard")
	if ip := str(p, "publicIp.ipAddress"); !strings.HasPrefix(ip, "203.0.113.") || str(p, "publicIp.publicIPAllocationMethod") != "Static" {
		t.Fatalf("public-ip create: %v", p)
	}

	n := az.json("network", "nic", "create", "-g", "netrg", "-n", "nic1", "--vnet-name", "vnet1", "--subnet", "default", "--public-ip-address", "pip1", "--network-security-group", "nsg1")
	if ipcs, _ := testserver.Field(n, "NewNIC.ipConfigurations").([]any); len(ipcs) != 1 || str(ipcs[0].(map[string]any), "privateIpAddress") != "10.0.0.4" || !strings.HasSuffix(str(n, "NewNIC.networkSecurityGroup.id"), "/networkSecurityGroups/nsg1") {
		t.Fatalf("nic create: %v", n)
	}
	if out := az.tsv("network", "nic", "show", "-g", "netrg", "-n", "nic1", "--query", "ipConfigurations[0].publicIpAddress.id"); !strings.HasSuffix(out, "/publicIPAddresses/pip1") {
		t.Fatalf("nic show: public address %q", out)
	}
	az.fails("InUseSubnetCannotBeDeleted", "network", "vnet", "subnet", "delete", "-g", "netrg", "--vnet-name", "vnet1", "-n", "default")
	az.fails("PublicIPAddressCannotBeDeleted", "network", "public-ip", "delete", "-g", "netrg", "-n", "pip1")

	az.run("network", "nic", "delete", "-g", "netrg", "-n", "nic1")
	az.run("network", "public-ip", "delete", "-g", "netrg", "-n", "pip1")
	az.run("network", "vnet", "delete", "-g", "netrg", "-n", "vnet1")
	az.fails("ResourceNotFound", "network", "vnet", "show", "-g", "netrg", "-n", "vnet1")
}
