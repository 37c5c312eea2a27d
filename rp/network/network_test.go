package network_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/network/armnetwork/v7"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

type netEnv struct {
	*testserver.Env
	t     *testing.T
	ctx   context.Context
	f     *armnetwork.ClientFactory
	vnets *armnetwork.VirtualNetworksClient
	subs  *armnetwork.SubnetsClient
	nsgs  *armnetwork.SecurityGroupsClient
	rules *armnetwork.SecurityRulesClient
	pips  *armnetwork.PublicIPAddressesClient
	nics  *armnetwork.InterfacesClient
	vms   *armcompute.VirtualMachinesClient
	disks *armcompute.DisksClient
}

func start(t *testing.T, groups ...string) *netEnv {
	e := testserver.StartWithGroups(t, groups...)
	f := testserver.Factory(e, armnetwork.NewClientFactory)
	cf := testserver.Factory(e, armcompute.NewClientFactory)
	return &netEnv{Env: e, t: t, ctx: e.Ctx(), f: f, vnets: f.NewVirtualNetworksClient(), subs: f.NewSubnetsClient(), nsgs: f.NewSecurityGroupsClient(),
		rules: f.NewSecurityRulesClient(), pips: f.NewPublicIPAddressesClient(), nics: f.NewInterfacesClient(), vms: cf.NewVirtualMachinesClient(), disks: cf.NewDisksClient()}
}

func (e *netEnv) id(rg, typ, name string) string {
	return "/subscriptions/" + e.Sub + "/resourceGroups/" + rg + "/providers/" + typ + "/" + name
}

func (e *netEnv) vnet(rg, name, space string, subnets map[string]string) armnetwork.VirtualNetwork {
	e.t.Helper()
	v := armnetwork.VirtualNetwork{Location: to.Ptr("westus"), Properties: &armnetwork.VirtualNetworkPropertiesFormat{
		AddressSpace: &armnetwork.AddressSpace{AddressPrefixes: []*string{to.Ptr(space)}}}}
	for n, p := range subnets {
		v.Properties.Subnets = append(v.Properties.Subnets, &armnetwork.Subnet{Name: to.Ptr(n), Properties: &armnetwork.SubnetPropertiesFormat{AddressPrefix: to.Ptr(p)}})
	}
	r, err := fixture.Wait(e.vnets.BeginCreateOrUpdate(e.ctx, rg, name, v, nil))
	if err != nil {
		e.t.Fatalf("create vnet %s: %v", name, err)
	}
	return r.VirtualNetwork
}

type nicSpec struct {
	subnet, pip, nsg, static string
}

func (e *netEnv) putNIC(rg, name string, s nicSpec) (armnetwork.Interface, error) {
	ipc := &armnetwork.InterfaceIPConfiguration{Name: to.Ptr("ipconfig1"), Properties: &armnetwork.InterfaceIPConfigurationPropertiesFormat{
		Subnet: &armnetwork.Subnet{ID: to.Ptr(s.subnet)}, PrivateIPAllocationMethod: to.Ptr(armnetwork.IPAllocationMethodDynamic)}}
	if s.static != "" {
		ipc.Properties.PrivateIPAllocationMethod, ipc.Properties.PrivateIPAddress = to.Ptr(armnetwork.IPAllocationMethodStatic), to.Ptr(s.static)
	}
	if s.pip != "" {
		ipc.Properties.PublicIPAddress = &armnetwork.PublicIPAddress{ID: to.Ptr(s.pip)}
	}
	n := armnetwork.Interface{Location: to.Ptr("westus"), Properties: &armnetwork.InterfacePropertiesFormat{IPConfigurations: []*armnetwork.InterfaceIPConfiguration{ipc}}}
	if s.nsg != "" {
		n.Properties.NetworkSecurityGroup = &armnetwork.SecurityGroup{ID: to.Ptr(s.nsg)}
	}
	r, err := fixture.Wait(e.nics.BeginCreateOrUpdate(e.ctx, rg, name, n, nil))
	return r.Interface, err
}

func (e *netEnv) vm(rg, name, disk string, nics ...string) error {
	vm := armcompute.VirtualMachine{Location: to.Ptr("westus"), Properties: &armcompute.VirtualMachineProperties{
		HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypesStandardD2SV3)},
		StorageProfile: &armcompute.StorageProfile{OSDisk: &armcompute.OSDisk{CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach),
			OSType: to.Ptr(armcompute.OperatingSystemTypesLinux), ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(disk)}}},
		NetworkProfile: &armcompute.NetworkProfile{}}}
	for _, n := range nics {
		vm.Properties.NetworkProfile.NetworkInterfaces = append(vm.Properties.NetworkProfile.NetworkInterfaces, &armcompute.NetworkInterfaceReference{ID: to.Ptr(n)})
	}
	_, err := fixture.Wait(e.vms.BeginCreateOrUpdate(e.ctx, rg, name, vm, nil))
	return err
}

func (e *netEnv) disk(rg, name string) string {
	e.t.Helper()
	d, err := fixture.Wait(e.disks.BeginCreateOrUpdate(e.ctx, rg, name, armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionEmpty)}, DiskSizeGB: to.Ptr[int32](1)}}, nil))
	if err != nil {
		e.t.Fatal(err)
	}
	return *d.ID
}

func wantErr(t *testing.T, what string, err error, code string) {
	t.Helper()
	if st, c := testserver.ErrorOf(err); st != http.StatusBadRequest || c != code {
		t.Fatalf("%s: want 400 %s, got %v", what, code, err)
	}
}

// Virtual networks, subnets, security groups, public addresses and
// network interfaces through armnetwork, with the references ARM keeps:
// private addresses from the subnet (the first four kept), one address
// per ip configuration, what is in use not deleted, a VM's interfaces
// checked and marked with it.
func TestNetworkThroughTheSDK(t *testing.T) {
	e := start(t, "net", "other")
	v := e.vnet("net", "vnet1", "10.0.0.0/16", map[string]string{"default": "10.0.0.0/24"})
	if *v.Properties.ProvisioningState != armnetwork.ProvisioningStateSucceeded || v.Etag == nil || len(v.Properties.Subnets) != 1 || *v.Properties.Subnets[0].Properties.AddressPrefix != "10.0.0.0/24" {
		t.Fatalf("vnet: %+v", v.Properties)
	}
	subnet := *v.Properties.Subnets[0].ID
	if !strings.EqualFold(subnet, e.id("net", "Microsoft.Network/virtualNetworks", "vnet1/subnets/default")) {
		t.Fatalf("subnet id %s", subnet)
	}
	// A subnet as a child resource; one outside the space or over another is refused.
	s2, err := fixture.Wait(e.subs.BeginCreateOrUpdate(e.ctx, "net", "vnet1", "second", armnetwork.Subnet{Properties: &armnetwork.SubnetPropertiesFormat{AddressPrefix: to.Ptr("10.0.1.0/24")}}, nil))
	if err != nil || *s2.Properties.AddressPrefix != "10.0.1.0/24" {
		t.Fatalf("subnet second: %+v %v", s2, err)
	}
	_, err = e.subs.BeginCreateOrUpdate(e.ctx, "net", "vnet1", "out", armnetwork.Subnet{Properties: &armnetwork.SubnetPropertiesFormat{AddressPrefix: to.Ptr("10.1.0.0/24")}}, nil)
	wantErr(t, "subnet outside the space", err, "NetcfgSubnetRangeOutsideVnet")
	_, err = e.subs.BeginCreateOrUpdate(e.ctx, "net", "vnet1", "over", armnetwork.Subnet{Properties: &armnetwork.SubnetPropertiesFormat{AddressPrefix: to.Ptr("10.0.0.128/25")}}, nil)
	wantErr(t, "overlapping subnet", err, "NetcfgSubnetRangesOverlap")
	_, err = e.subs.BeginCreateOrUpdate(e.ctx, "net", "vnet1", "odd", armnetwork.Subnet{Properties: &armnetwork.SubnetPropertiesFormat{AddressPrefix: to.Ptr("10.0.2.1/24")}}, nil)
	wantErr(t, "subnet not in CIDR notation", err, "InvalidCIDRNotation")
	if r, err := e.vnets.Get(e.ctx, "net", "vnet1", nil); err != nil || len(r.Properties.Subnets) != 2 {
		t.Fatalf("vnet after subnets: %+v %v", r, err)
	}

	// A security group: its rule and Azure's six default rules.
	g, err := fixture.Wait(e.nsgs.BeginCreateOrUpdate(e.ctx, "net", "nsg1", armnetwork.SecurityGroup{Location: to.Ptr("westus"), Properties: &armnetwork.SecurityGroupPropertiesFormat{
		SecurityRules: []*armnetwork.SecurityRule{{Name: to.Ptr("ssh"), Properties: &armnetwork.SecurityRulePropertiesFormat{Protocol: to.Ptr(armnetwork.SecurityRuleProtocolTCP),
			SourcePortRange: to.Ptr("*"), DestinationPortRange: to.Ptr("22"), SourceAddressPrefix: to.Ptr("*"), DestinationAddressPrefix: to.Ptr("*"),
			Access: to.Ptr(armnetwork.SecurityRuleAccessAllow), Priority: to.Ptr[int32](1000), Direction: to.Ptr(armnetwork.SecurityRuleDirectionInbound)}}}}}, nil))
	if err != nil || len(g.Properties.SecurityRules) != 1 || len(g.Properties.DefaultSecurityRules) != 6 {
		t.Fatalf("nsg: %+v %v", g, err)
	}
	_, err = e.rules.BeginCreateOrUpdate(e.ctx, "net", "nsg1", "ssh2", armnetwork.SecurityRule{Properties: &armnetwork.SecurityRulePropertiesFormat{Protocol: to.Ptr(armnetwork.SecurityRuleProtocolTCP),
		SourcePortRange: to.Ptr("*"), DestinationPortRange: to.Ptr("2222"), SourceAddressPrefix: to.Ptr("*"), DestinationAddressPrefix: to.Ptr("*"),
		Access: to.Ptr(armnetwork.SecurityRuleAccessAllow), Priority: to.Ptr[int32](1000), Direction: to.Ptr(armnetwork.SecurityRuleDirectionInbound)}}, nil)
	wantErr(t, "a rule at a taken priority", err, "SecurityRuleConflict")

	// Public addresses: Standard is Static, from a documentation range.
	_, err = e.pips.BeginCreateOrUpdate(e.ctx, "net", "pipd", armnetwork.PublicIPAddress{Location: to.Ptr("westus"), SKU: &armnetwork.PublicIPAddressSKU{Name: to.Ptr(armnetwork.PublicIPAddressSKUNameStandard)},
		Properties: &armnetwork.PublicIPAddressPropertiesFormat{PublicIPAllocationMethod: to.Ptr(armnetwork.IPAllocationMethodDynamic)}}, nil)
	wantErr(t, "a Standard Dynamic public address", err, "StandardSkuPublicIPAddressesMustBeStatic")
	p, err := fixture.Wait(e.pips.BeginCreateOrUpdate(e.ctx, "net", "pip1", armnetwork.PublicIPAddress{Location: to.Ptr("westus"), SKU: &armnetwork.PublicIPAddressSKU{Name: to.Ptr(armnetwork.PublicIPAddressSKUNameStandard)},
		Properties: &armnetwork.PublicIPAddressPropertiesFormat{PublicIPAllocationMethod: to.Ptr(armnetwork.IPAllocationMethodStatic)}}, nil))
	if err != nil || p.Properties.IPAddress == nil || !strings.HasPrefix(*p.Properties.IPAddress, "203.0.113.") {
		t.Fatalf("public address: %+v %v", p, err)
	}
	pip, nsg := *p.ID, *g.ID

	// Interfaces: addresses from .4 on, a static one checked.
	n1, err := e.putNIC("net", "nic1", nicSpec{subnet: subnet, pip: pip, nsg: nsg})
	if err != nil || *n1.Properties.IPConfigurations[0].Properties.PrivateIPAddress != "10.0.0.4" || n1.Properties.VirtualMachine != nil {
		t.Fatalf("nic1: %+v %v", n1, err)
	}
	n2, err := e.putNIC("other", "nic2", nicSpec{subnet: subnet})
	if err != nil || *n2.Properties.IPConfigurations[0].Properties.PrivateIPAddress != "10.0.0.5" {
		t.Fatalf("nic2: %+v %v", n2, err)
	}
	_, err = e.putNIC("net", "nic3", nicSpec{subnet: subnet, static: "10.0.0.4"})
	wantErr(t, "a static address in use", err, "PrivateIPAddressInUse")
	_, err = e.putNIC("net", "nic3", nicSpec{subnet: subnet, static: "10.0.0.3"})
	wantErr(t, "a reserved static address", err, "PrivateIPAddressInReservedRange")
	_, err = e.putNIC("net", "nic3", nicSpec{subnet: subnet, static: "10.0.1.9"})
	wantErr(t, "a static address outside the subnet", err, "PrivateIPAddressNotInSubnet")
	_, err = e.putNIC("net", "nic3", nicSpec{subnet: subnet, pip: pip})
	wantErr(t, "a public address in use", err, "PublicIPAddressInUse")
	_, err = e.putNIC("net", "nic3", nicSpec{subnet: e.id("net", "Microsoft.Network/virtualNetworks", "vnet1/subnets/absent")})
	wantErr(t, "a subnet that does not exist", err, "InvalidResourceReference")
	if n3, err := e.putNIC("net", "nic3", nicSpec{subnet: subnet, static: "10.0.0.200"}); err != nil || *n3.Properties.IPConfigurations[0].Properties.PrivateIPAddress != "10.0.0.200" {
		t.Fatalf("nic3 static: %+v %v", n3, err)
	}
	// A Dynamic address stays through a PUT of the same interface.
	if n1b, err := e.putNIC("net", "nic1", nicSpec{subnet: subnet, pip: pip, nsg: nsg}); err != nil || *n1b.Properties.IPConfigurations[0].Properties.PrivateIPAddress != "10.0.0.4" {
		t.Fatalf("nic1 again: %+v %v", n1b, err)
	}
	if s, err := e.subs.Get(e.ctx, "net", "vnet1", "default", nil); err != nil || len(s.Properties.IPConfigurations) != 3 {
		t.Fatalf("subnet users: %+v %v", s, err)
	}
	if p, err := e.pips.Get(e.ctx, "net", "pip1", nil); err != nil || p.Properties.IPConfiguration == nil || !strings.EqualFold(*p.Properties.IPConfiguration.ID, *n1.Properties.IPConfigurations[0].ID) {
		t.Fatalf("public address user: %+v %v", p, err)
	}
	if g, err := e.nsgs.Get(e.ctx, "net", "nsg1", nil); err != nil || len(g.Properties.NetworkInterfaces) != 1 {
		t.Fatalf("nsg users: %+v %v", g, err)
	}
	// What is in use stays.
	_, err = e.subs.BeginDelete(e.ctx, "net", "vnet1", "default", nil)
	wantErr(t, "delete of a subnet in use", err, "InUseSubnetCannotBeDeleted")
	_, err = e.vnets.BeginDelete(e.ctx, "net", "vnet1", nil)
	wantErr(t, "delete of a vnet in use", err, "InUseSubnetCannotBeDeleted")
	_, err = e.pips.BeginDelete(e.ctx, "net", "pip1", nil)
	wantErr(t, "delete of a public address in use", err, "PublicIPAddressCannotBeDeleted")
	_, err = e.nsgs.BeginDelete(e.ctx, "net", "nsg1", nil)
	wantErr(t, "delete of a security group in use", err, "InUseNetworkSecurityGroupCannotBeDeleted")

	// A VM's interfaces must exist and be free; the VM is named in them.
	disk := e.disk("net", "os1")
	wantErr(t, "a VM naming no interface that exists", e.vm("net", "vm1", disk, e.id("net", "Microsoft.Network/networkInterfaces", "absent")), "InvalidResourceReference")
	if err := e.vm("net", "vm1", disk, *n1.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := e.nics.Get(e.ctx, "net", "nic1", nil); err != nil || n.Properties.VirtualMachine == nil || !strings.EqualFold(*n.Properties.VirtualMachine.ID, e.id("net", "Microsoft.Compute/virtualMachines", "vm1")) || n.Properties.MacAddress == nil {
		t.Fatalf("nic1 of vm1: %+v %v", n, err)
	}
	wantErr(t, "a second VM on the same interface", e.vm("net", "vm2", e.disk("net", "os2"), *n1.ID), "NicInUse")
	_, err = e.nics.BeginDelete(e.ctx, "net", "nic1", nil)
	wantErr(t, "delete of an interface a VM uses", err, "NicInUse")
	if _, err := fixture.Wait(e.vms.BeginDelete(e.ctx, "net", "vm1", nil)); err != nil {
		t.Fatal(err)
	}
	if n, err := e.nics.Get(e.ctx, "net", "nic1", nil); err != nil || n.Properties.VirtualMachine != nil {
		t.Fatalf("nic1 after its VM: %+v %v", n.Properties, err)
	}
	if _, err := fixture.Wait(e.nics.BeginDelete(e.ctx, "net", "nic1", nil)); err != nil {
		t.Fatal(err)
	}
	if p, err := e.pips.Get(e.ctx, "net", "pip1", nil); err != nil || p.Properties.IPConfiguration != nil {
		t.Fatalf("public address after its interface: %+v %v", p, err)
	}
	// The freed address is the next one taken.
	if n4, err := e.putNIC("net", "nic4", nicSpec{subnet: subnet}); err != nil || *n4.Properties.IPConfigurations[0].Properties.PrivateIPAddress != "10.0.0.4" {
		t.Fatalf("nic4: %+v %v", n4, err)
	}

	// Tags, lists.
	if r, err := e.vnets.UpdateTags(e.ctx, "net", "vnet1", armnetwork.TagsObject{Tags: map[string]*string{"env": to.Ptr("test")}}, nil); err != nil || *r.Tags["env"] != "test" || len(r.Properties.Subnets) != 2 {
		t.Fatalf("tags: %+v %v", r, err)
	}
	if n := testserver.Count(t, e.ctx, e.nics.NewListAllPager(nil)); n != 3 {
		t.Fatalf("interfaces in the subscription: %d", n)
	}
	if n := testserver.Count(t, e.ctx, e.nics.NewListPager("other", nil)); n != 1 {
		t.Fatalf("interfaces in other: %d", n)
	}

	// The provider lists its types and api-versions, and its operations.
	resp, m := e.Do("GET", "/subscriptions/"+e.Sub+"/providers/Microsoft.Network?api-version=2021-04-01", nil)
	types := map[string]bool{}
	for _, rt := range asList(m["resourceTypes"]) {
		rtm := rt.(map[string]any)
		if vs := asList(rtm["apiVersions"]); len(vs) > 0 {
			types[rtm["resourceType"].(string)] = true
		}
	}
	if resp.StatusCode != 200 || !types["virtualNetworks"] || !types["networkInterfaces"] || !types["publicIPAddresses"] || !types["networkSecurityGroups"] {
		t.Fatalf("GET /providers/Microsoft.Network: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.Do("GET", "/providers/Microsoft.Network/operations?api-version=2022-01-01", nil); resp.StatusCode != 200 || len(asList(m["value"])) == 0 {
		t.Fatalf("operations: %d %v", resp.StatusCode, m)
	}

	// A group whose subnet another group's interface uses is not deleted;
	// once that interface is gone it is, with everything in it.
	if st, m := e.DeleteGroup("net"); st < 400 && testserver.Field(m, "status") != "Failed" {
		t.Fatalf("delete of net while other's nic2 uses its subnet: %d %v", st, m)
	}
	if _, err := e.vnets.Get(e.ctx, "net", "vnet1", nil); err != nil {
		t.Fatalf("vnet1 after the refused group delete: %v", err)
	}
	if _, err := fixture.Wait(e.nics.BeginDelete(e.ctx, "other", "nic2", nil)); err != nil {
		t.Fatal(err)
	}
	if st, m := e.DeleteGroup("net"); st >= 400 || testserver.Field(m, "status") == "Failed" {
		t.Fatalf("delete of net: %d %v", st, m)
	}
	// Its public address went back: the next one made gets it.
	p2, err := fixture.Wait(e.pips.BeginCreateOrUpdate(e.ctx, "other", "pip2", armnetwork.PublicIPAddress{Location: to.Ptr("westus"), Properties: &armnetwork.PublicIPAddressPropertiesFormat{PublicIPAllocationMethod: to.Ptr(armnetwork.IPAllocationMethodStatic)}}, nil))
	if err != nil || *p2.Properties.IPAddress != *p.Properties.IPAddress || *p2.SKU.Name != armnetwork.PublicIPAddressSKUNameBasic {
		t.Fatalf("public address after the group: %+v %v", p2, err)
	}
}

func asList(v any) []any { l, _ := v.([]any); return l }

// TestVMNetworkErrorsListDetails: compute's answers to a VM naming network
// interfaces it cannot use (one that does not exist, one another VM uses)
// carry the network's errors with details [], as the network provider's
// own answers do: az's generated commands iterate them and fail on null
// ("'NoneType' object is not iterable"). Before, compute answered them
// with details null.
func TestVMNetworkErrorsListDetails(t *testing.T) {
	e := start(t, "net")
	v := e.vnet("net", "vnet1", "10.0.0.0/16", map[string]string{"default": "10.0.0.0/24"})
	n1, err := e.putNIC("net", "nic1", nicSpec{subnet: *v.ID + "/subnets/default"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.vm("net", "vm1", e.disk("net", "os1"), *n1.ID); err != nil {
		t.Fatal(err)
	}
	disk := e.disk("net", "os2")
	for _, c := range []struct{ nic, code string }{
		{e.id("net", "Microsoft.Network/networkInterfaces", "absent"), "InvalidResourceReference"},
		{*n1.ID, "NicInUse"},
		{e.id("net", "Microsoft.Network/virtualNetworks", "vnet1"), "InvalidParameter"},
	} {
		resp, m := e.Do("PUT", e.id("net", "Microsoft.Compute/virtualMachines", "vm2")+"?api-version=2024-03-01", map[string]any{"location": "westus", "properties": map[string]any{
			"hardwareProfile": map[string]any{"vmSize": "Standard_D2s_v3"},
			"storageProfile":  map[string]any{"osDisk": map[string]any{"createOption": "Attach", "osType": "Linux", "managedDisk": map[string]any{"id": disk}}},
			"networkProfile":  map[string]any{"networkInterfaces": []any{map[string]any{"id": c.nic}}}}}, testserver.AnyStatus())
		details, isList := testserver.Field(m, "error.details").([]any)
		if resp.StatusCode != http.StatusBadRequest || testserver.Field(m, "error.code") != c.code || !isList || len(details) != 0 {
			t.Errorf("a VM naming %s: %d %v, want 400 %s with details []", c.nic, resp.StatusCode, m, c.code)
		}
	}
}
