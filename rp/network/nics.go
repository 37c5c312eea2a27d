package network

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// ipConfigIn is an ip configuration as a request gives it.
type ipConfigIn struct {
	Name       string `json:"name"`
	Properties struct {
		PrivateIPAddress          string `json:"privateIPAddress"`
		PrivateIPAllocationMethod string `json:"privateIPAllocationMethod"`
		PrivateIPAddressVersion   string `json:"privateIPAddressVersion"`
		Subnet                    *Ref   `json:"subnet"`
		PublicIPAddress           *Ref   `json:"publicIPAddress"`
		Primary                   *bool  `json:"primary"`
	} `json:"properties"`
}

type nicIn struct {
	trackedIn
	Properties struct {
		IPConfigurations            []ipConfigIn `json:"ipConfigurations"`
		NetworkSecurityGroup        *Ref         `json:"networkSecurityGroup"`
		EnableAcceleratedNetworking bool         `json:"enableAcceleratedNetworking"`
		EnableIPForwarding          bool         `json:"enableIPForwarding"`
		DNSSettings                 *struct {
			DNSServers []string `json:"dnsServers"`
		} `json:"dnsSettings"`
	} `json:"properties"`
}

// links are the accesses a network interface PUT needs on what it names.
func (in *nicIn) links() []arm.Link {
	links := []arm.Link{arm.LinkTo(joinNSG, refID(in.Properties.NetworkSecurityGroup))}
	for _, c := range in.Properties.IPConfigurations {
		links = append(links, arm.LinkTo(joinSubnet, refID(c.Properties.Subnet)), arm.LinkTo(joinPIP, refID(c.Properties.PublicIPAddress)))
	}
	return links
}

func (pr *Provider) putNIC(r *arm.Request) (*arm.Response, error) {
	id := idIn(r, "networkInterfaces", r.Param("networkInterfaceName"))
	if err := pr.checkGroup(r); err != nil {
		return nil, err
	}
	var in nicIn
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	loc, err := in.check(nicType)
	if err != nil {
		return nil, err
	}
	ipcs := in.Properties.IPConfigurations
	if len(ipcs) == 0 {
		return nil, arm.BadRequest("NetworkInterfaceMustHaveAtLeastOneIpConfiguration", "Network interface %s needs properties.ipConfigurations: at least one, naming the subnet it is in.", id.Name())
	}
	primaries := 0
	for i, c := range ipcs {
		if c.Name == "" {
			return nil, arm.BadRequest("InvalidRequestFormat", "Cannot parse the request: ip configuration %d of network interface %s has no name.", i, id.Name())
		}
		for _, o := range ipcs[:i] {
			if strings.EqualFold(o.Name, c.Name) {
				return nil, arm.BadRequest("InvalidRequestFormat", "Cannot parse the request: network interface %s lists ip configuration '%s' twice.", id.Name(), c.Name)
			}
		}
		if c.Properties.Primary != nil && *c.Properties.Primary {
			primaries++
		}
		if v := c.Properties.PrivateIPAddressVersion; v != "" && !strings.EqualFold(v, "IPv4") {
			return nil, arm.BadRequest("InvalidRequestFormat", "Cannot parse the request: privateIPAddressVersion '%s' of ip configuration %s is not served; Safehold's networks are IPv4.", v, c.Name)
		}
		switch strings.ToLower(c.Properties.PrivateIPAllocationMethod) {
		case "", "dynamic":
		case "static":
			if c.Properties.PrivateIPAddress == "" {
				return nil, arm.BadRequest("PrivateIPAddressIsRequiredForStaticAllocation", "Ip configuration %s of network interface %s is Static: give its privateIPAddress, or make it Dynamic.", c.Name, id.Name())
			}
		default:
			return nil, arm.BadRequest("InvalidRequestFormat", "Cannot parse the request: privateIPAllocationMethod '%s' of ip configuration %s is not Static or Dynamic.", c.Properties.PrivateIPAllocationMethod, c.Name)
		}
		if refID(c.Properties.Subnet) == "" {
			return nil, arm.BadRequest("IpConfigurationMustReferenceSubnet", "Ip configuration %s of network interface %s needs properties.subnet.id: the subnet its private address comes from.", c.Name, id.Name())
		}
	}
	if len(ipcs) > 1 && primaries != 1 {
		return nil, arm.BadRequest("NetworkInterfaceMustHaveExactlyOnePrimaryIpConfiguration", "Network interface %s has %d ip configurations and %d marked primary: mark exactly one primary.", id.Name(), len(ipcs), primaries)
	}
	if err := r.CheckLinked(in.links()...); err != nil {
		return nil, err
	}
	return pr.write(r, id.String(), func(b *batch) (any, string, bool, error) {
		n, created, err := pr.setNIC(b, id, loc, &in)
		return n, loc, created, err
	})
}

// setNIC makes, in b, the network interface id in loc as in asks (in
// checked for shape): it creates it or changes it, releasing what it used
// and taking what it names now.
func (pr *Provider) setNIC(b *batch, id arm.ResourceID, loc string, in *nicIn) (*NIC, bool, error) {
	ipcs := in.Properties.IPConfigurations
	n, err := b.nic(id)
	created := arm.IsNotFound(err)
	if err != nil && !created {
		return nil, false, err
	}
	var old []IPConfig
	if created {
		n = &NIC{TrackedResource: arm.TrackedResource{ID: id.String(), Name: id.Name(), Type: nicType, Location: loc}}
		n.Properties.ResourceGUID = newGUID()
		n.Properties.NicType, n.Properties.HostedWorkloads, n.Properties.TapConfigurations = "Standard", []string{}, []any{}
		b.add(id, n)
	} else {
		if err := sameLocation(&n.TrackedResource, loc); err != nil {
			return nil, false, err
		}
		old = n.Properties.IPConfigurations
	}
	b.touch(id.String())
	// What the interface used is released, then what it uses now taken.
	pips, err := pr.releaseNIC(b, n)
	if err != nil {
		return nil, false, err
	}
	n.Tags = in.Tags
	n.Properties.EnableAcceleratedNetworking, n.Properties.EnableIPForwarding = in.Properties.EnableAcceleratedNetworking, in.Properties.EnableIPForwarding
	n.Properties.DNSSettings = NICDNS{DNSServers: []string{}, AppliedDNSServers: []string{}, InternalDomainNameSuffix: internalSuffix(n.Properties.ResourceGUID)}
	if d := in.Properties.DNSSettings; d != nil && d.DNSServers != nil {
		n.Properties.DNSSettings.DNSServers = d.DNSServers
	}
	n.Properties.IPConfigurations = make([]IPConfig, 0, len(ipcs))
	var vnetID string
	for _, c := range ipcs {
		ipcID := n.ID + "/ipConfigurations/" + c.Name
		v, s, err := pr.subnetRef(b, c.Properties.Subnet.ID, n.ID, loc)
		if err != nil {
			return nil, false, err
		}
		if vnetID != "" && !arm.EqualIDs(vnetID, v.ID) {
			return nil, false, arm.BadRequest("IpConfigurationsOfNicMustBeInSameVnet", "All ip configurations of network interface %s must be in one virtual network: %s is in %s, another in %s.", n.Name, c.Name, v.ID, vnetID)
		}
		vnetID = v.ID
		method := "Dynamic"
		want := ""
		if strings.EqualFold(c.Properties.PrivateIPAllocationMethod, "Static") {
			method, want = "Static", c.Properties.PrivateIPAddress
		} else if prev := findIPConfig(old, c.Name); prev != nil && arm.EqualIDs(refID(prev.Properties.Subnet), s.ID) {
			want = prev.Properties.PrivateIPAddress // a Dynamic address stays while the interface stays in its subnet
		}
		ip, err := takeIP(s, want, method == "Static", ipcID)
		if err != nil {
			return nil, false, err
		}
		b.touch(v.ID)
		cfg := IPConfig{ID: ipcID, Name: c.Name, Type: ipcType, Properties: IPConfigProps{PrivateIPAddress: ip, PrivateIPAllocationMethod: method,
			PrivateIPAddressVersion: "IPv4", Subnet: &Ref{ID: s.ID}, Primary: len(ipcs) == 1 || c.Properties.Primary != nil && *c.Properties.Primary}}
		if ref := refID(c.Properties.PublicIPAddress); ref != "" {
			p, err := pr.pipRef(b, ref, ipcID, loc)
			if err != nil {
				return nil, false, err
			}
			p.Properties.IPConfiguration = &Ref{ID: ipcID}
			cfg.Properties.PublicIPAddress = &Ref{ID: p.ID}
			pips = append(pips, p)
		}
		n.Properties.IPConfigurations = append(n.Properties.IPConfigurations, cfg)
	}
	n.Properties.NetworkSecurityGroup = nil
	if ref := refID(in.Properties.NetworkSecurityGroup); ref != "" {
		g, err := pr.nsgRef(b, ref, n.ID, loc)
		if err != nil {
			return nil, false, err
		}
		g.Properties.NetworkInterfaces = addRef(g.Properties.NetworkInterfaces, n.ID)
		n.Properties.NetworkSecurityGroup = &Ref{ID: g.ID}
	}
	for _, p := range pips {
		if err := pr.settleAddress(b, p); err != nil {
			return nil, false, err
		}
	}
	return n, created, nil
}

func internalSuffix(guid string) string {
	return strings.ReplaceAll(guid, "-", "")[:26] + ".bx.internal.cloudapp.net"
}

func findIPConfig(cs []IPConfig, name string) *IPConfig {
	for i := range cs {
		if strings.EqualFold(cs[i].Name, name) {
			return &cs[i]
		}
	}
	return nil
}

// releaseNIC takes n's ip configurations out of their subnets and public
// addresses and n out of its security group's users; it answers the
// public IP addresses released (their addresses settled by the caller).
func (pr *Provider) releaseNIC(b *batch, n *NIC) ([]*PIP, error) {
	var pips []*PIP
	for _, c := range n.Properties.IPConfigurations {
		if sid, err := arm.ParseID(refID(c.Properties.Subnet)); err == nil {
			v, err := b.vnet(sid.Parent())
			switch {
			case err == nil:
				if i := findSubnet(v.Properties.Subnets, sid.Name()); i >= 0 {
					s := &v.Properties.Subnets[i]
					uses := s.Properties.IPConfigurations[:0:0]
					for _, u := range s.Properties.IPConfigurations {
						if !arm.EqualIDs(u.ID, c.ID) {
							uses = append(uses, u)
						}
					}
					s.Properties.IPConfigurations = uses
					b.touch(v.ID)
				}
			case !arm.IsNotFound(err):
				return nil, err
			}
		}
		if pid, err := arm.ParseID(refID(c.Properties.PublicIPAddress)); err == nil {
			p, err := b.pip(pid)
			switch {
			case err == nil:
				if p.Properties.IPConfiguration != nil && arm.EqualIDs(p.Properties.IPConfiguration.ID, c.ID) {
					p.Properties.IPConfiguration = nil
					b.touch(p.ID)
					pips = append(pips, p)
				}
			case !arm.IsNotFound(err):
				return nil, err
			}
		}
	}
	if g := n.Properties.NetworkSecurityGroup; g != nil {
		pr.unrefNSG(b, g.ID, n.ID)
	}
	return pips, nil
}

// takeIP takes a private address of subnet s for the ip configuration
// ipcID: want when given (a Static one must be free and in the subnet; a
// Dynamic one kept is taken again only if it still is), else the lowest
// free one. Azure keeps each subnet's first four addresses and its last.
func takeIP(s *Subnet, want string, static bool, ipcID string) (string, error) {
	var prefix netip.Prefix
	for _, p := range subnetPrefixes(s) {
		if p.Addr().Is4() {
			prefix = p
			break
		}
	}
	if !prefix.IsValid() {
		return "", arm.BadRequest("SubnetHasNoIPv4AddressPrefix", "Subnet %s has no IPv4 address prefix to give ip configuration %s an address from.", s.Name, ipcID)
	}
	used := map[netip.Addr]bool{}
	for _, u := range s.Properties.IPConfigurations {
		if a, err := netip.ParseAddr(u.IP); err == nil {
			used[a] = true
		}
	}
	first := prefix.Addr().Next().Next().Next().Next()
	last := lastOf(prefix)
	take := func(a netip.Addr) string {
		s.Properties.IPConfigurations = append(s.Properties.IPConfigurations, IPUse{ID: ipcID, IP: a.String()})
		return a.String()
	}
	if want != "" {
		a, err := netip.ParseAddr(want)
		switch {
		case err != nil || !a.Is4():
			if static {
				return "", arm.BadRequest("InvalidPrivateIPAddress", "Private static IP address %s of ip configuration %s is not an IPv4 address.", want, ipcID)
			}
		case !prefix.Contains(a):
			if static {
				return "", arm.BadRequest("PrivateIPAddressNotInSubnet", "IP configuration %s references the subnet %s, but the requested private IP address %s does not belong to the subnet's address prefix %s.", ipcID, s.ID, want, prefix)
			}
		case a.Less(first) || a == last:
			if static {
				return "", arm.BadRequest("PrivateIPAddressInReservedRange", "Private static IP address %s falls within reserved IP range of subnet prefix %s: Azure keeps the first four addresses and the last one of each subnet.", want, prefix)
			}
		case used[a]:
			if static {
				return "", arm.BadRequest("PrivateIPAddressInUse", "IP configuration %s is using the private IP address %s which is already allocated to resource %s.", ipcID, want, userOf(s, want))
			}
		default:
			return take(a), nil
		}
	}
	for a := first; prefix.Contains(a) && a != last; a = a.Next() {
		if !used[a] {
			return take(a), nil
		}
	}
	return "", arm.BadRequest("SubnetIsFull", "Subnet %s with address prefix %s does not have enough capacity for 1 IP address: use a larger subnet or free addresses in it.", s.Name, prefix)
}

func userOf(s *Subnet, ip string) string {
	for _, u := range s.Properties.IPConfigurations {
		if u.IP == ip {
			return u.ID
		}
	}
	return ""
}

func (pr *Provider) getNIC(r *arm.Request) (*arm.Response, error) {
	var n NIC
	if err := resource.Get(r.HTTP.Context(), pr.p.Store, idIn(r, "networkInterfaces", r.Param("networkInterfaceName")), &n); err != nil {
		return nil, err
	}
	return arm.OK(n), nil
}

func nicInUse(n *NIC) error {
	return arm.BadRequest("NicInUse", "Network Interface %s is used by existing resource %s. In order to delete the network interface, it must be dissociated from the resource. To learn more, see aka.ms/deletenic.", n.ID, n.Properties.VirtualMachine.ID)
}

func (pr *Provider) deleteNIC(r *arm.Request) (*arm.Response, error) {
	id := idIn(r, "networkInterfaces", r.Param("networkInterfaceName"))
	return pr.remove(r, id.String(), func(b *batch) (string, bool, error) {
		n, err := b.nic(id)
		if arm.IsNotFound(err) {
			return "", false, nil
		} else if err != nil {
			return "", false, err
		}
		if n.Properties.VirtualMachine != nil {
			return "", false, nicInUse(n)
		}
		return n.Location, true, pr.dropNIC(b, n)
	})
}

// dropNIC deletes a network interface with what it holds.
func (pr *Provider) dropNIC(b *batch, n *NIC) error {
	pips, err := pr.releaseNIC(b, n)
	if err != nil {
		return err
	}
	for _, p := range pips {
		if err := pr.settleAddress(b, p); err != nil {
			return err
		}
	}
	b.drop(n.ID)
	return nil
}

func (pr *Provider) listIPConfigs(r *arm.Request) (*arm.Response, error) {
	var n NIC
	if err := resource.Get(r.HTTP.Context(), pr.p.Store, idIn(r, "networkInterfaces", r.Param("networkInterfaceName")), &n); err != nil {
		return nil, err
	}
	return arm.PageOK(r, n.Properties.IPConfigurations, 1000)
}

func (pr *Provider) getIPConfig(r *arm.Request) (*arm.Response, error) {
	id := idIn(r, "networkInterfaces", r.Param("networkInterfaceName"))
	var n NIC
	if err := resource.Get(r.HTTP.Context(), pr.p.Store, id, &n); err != nil {
		return nil, err
	}
	c := findIPConfig(n.Properties.IPConfigurations, r.Param("ipConfigurationName"))
	if c == nil {
		return nil, resource.NotFound(id.Child("ipConfigurations", r.Param("ipConfigurationName")))
	}
	return arm.OK(*c), nil
}

// UseNICs implements compute.Network.
func (pr *Provider) UseNICs(ctx context.Context, tx store.Tx, vmID, location string, nics, released []string) error {
	return listed(pr.useNICs(ctx, tx, vmID, location, nics, released))
}

func (pr *Provider) useNICs(ctx context.Context, tx store.Tx, vmID, location string, nics, released []string) error {
	b := newBatch(ctx, tx, pr.p)
	if err := pr.release(b, vmID, released); err != nil {
		return err
	}
	for _, ref := range nics {
		nid, err := arm.ParseID(ref)
		if err != nil || !nid.IsType(nicType) {
			return arm.BadRequest("InvalidParameter", "'%s' in networkProfile.networkInterfaces is not a network interface id (/subscriptions/{id}/resourceGroups/{group}/providers/Microsoft.Network/networkInterfaces/{name}).", ref)
		}
		n, err := b.nic(nid)
		if arm.IsNotFound(err) || err == nil && !strings.EqualFold(n.Location, location) {
			return refNotFound(ref, vmID)
		} else if err != nil {
			return err
		}
		if vm := n.Properties.VirtualMachine; vm != nil && !arm.EqualIDs(vm.ID, vmID) {
			return arm.BadRequest("NicInUse", "Network interface %s is used by virtual machine %s: a network interface serves one VM. Detach it from that VM (or delete the VM) first, or name another network interface.", n.ID, vm.ID)
		}
		if n.Properties.VirtualMachine == nil {
			n.Properties.VirtualMachine = &Ref{ID: vmID}
			if n.Properties.MacAddress == "" {
				n.Properties.MacAddress = newMAC()
			}
			b.touch(n.ID)
		}
	}
	return b.flush()
}

// listed is the network's CloudError err with details [] (arm.ListedDetails),
// as the network's handlers answer it, where compute answers it (a VM
// naming its network interfaces): az iterates them. Any other error (the
// store's) passes as it is.
func listed(err error) error {
	var ae *arm.Error
	if errors.As(err, &ae) {
		return arm.ListedDetails(ae)
	}
	return err
}

// CreateNIC implements compute.Network: the interface is made as a PUT of
// it naming the subnet would make it (its first free address, Dynamic).
func (pr *Provider) CreateNIC(ctx context.Context, tx store.Tx, nicID, location, subnetID string, tags map[string]string) error {
	return listed(pr.createNIC(ctx, tx, nicID, location, subnetID, tags))
}

func (pr *Provider) createNIC(ctx context.Context, tx store.Tx, nicID, location, subnetID string, tags map[string]string) error {
	nid, err := arm.ParseID(nicID)
	if err != nil || !nid.IsType(nicType) {
		return arm.BadRequest("InvalidParameter", "'%s' is not a network interface id (/subscriptions/{id}/resourceGroups/{group}/providers/Microsoft.Network/networkInterfaces/{name}).", nicID)
	}
	b := newBatch(ctx, tx, pr.p)
	if _, err := b.nic(nid); err == nil {
		return arm.Conflict("NetworkInterfaceExists", "Network interface %s already exists: delete it, or give the VM another name.", nicID)
	} else if !arm.IsNotFound(err) {
		return err
	}
	in := nicIn{trackedIn: trackedIn{Location: location, Tags: tags}}
	c := ipConfigIn{Name: "ipconfig1"}
	c.Properties.Subnet = &Ref{ID: subnetID}
	in.Properties.IPConfigurations = []ipConfigIn{c}
	if _, _, err := pr.setNIC(b, nid, resource.NormLocation(location), &in); err != nil {
		return err
	}
	return b.flush()
}

// SubnetLocation implements compute.Network.
func (pr *Provider) SubnetLocation(ctx context.Context, r store.Reader, subnetID string) (string, error) {
	sid, err := arm.ParseID(subnetID)
	if err != nil || !sid.IsType(subnetType) {
		return "", arm.BadRequest("InvalidRequestFormat", "Cannot parse the request: '%s' is not a subnet id (/subscriptions/{id}/resourceGroups/{group}/providers/Microsoft.Network/virtualNetworks/{vnet}/subnets/{subnet}).", subnetID)
	}
	var v VNet
	if err := resource.Get(ctx, r, sid.Parent(), &v); err != nil {
		return "", err
	}
	if findSubnet(v.Properties.Subnets, sid.Name()) < 0 {
		return "", resource.NotFound(sid)
	}
	return v.Location, nil
}

// DropNICs implements compute.Network.
func (pr *Provider) DropNICs(ctx context.Context, tx store.Tx, vmID string, released, deleted []string) error {
	return listed(pr.dropNICs(ctx, tx, vmID, released, deleted))
}

func (pr *Provider) dropNICs(ctx context.Context, tx store.Tx, vmID string, released, deleted []string) error {
	b := newBatch(ctx, tx, pr.p)
	if err := pr.release(b, vmID, released); err != nil {
		return err
	}
	for _, ref := range deleted {
		nid, err := arm.ParseID(ref)
		if err != nil {
			continue
		}
		n, err := b.nic(nid)
		if arm.IsNotFound(err) {
			continue
		} else if err != nil {
			return err
		}
		if vm := n.Properties.VirtualMachine; vm != nil && !arm.EqualIDs(vm.ID, vmID) {
			continue // another VM's now
		}
		if err := pr.dropNIC(b, n); err != nil {
			return err
		}
	}
	return b.flush()
}

// release takes the VM vmID out of the network interfaces nics.
func (pr *Provider) release(b *batch, vmID string, nics []string) error {
	for _, ref := range nics {
		nid, err := arm.ParseID(ref)
		if err != nil {
			continue
		}
		n, err := b.nic(nid)
		if arm.IsNotFound(err) {
			continue
		} else if err != nil {
			return err
		}
		if vm := n.Properties.VirtualMachine; vm != nil && arm.EqualIDs(vm.ID, vmID) {
			n.Properties.VirtualMachine = nil
			b.touch(n.ID)
		}
	}
	return nil
}

// newMAC is a MAC address in Azure's form (Microsoft's 00-0D-3A prefix).
func newMAC() string {
	var b [3]byte
	rand.Read(b[:])
	return fmt.Sprintf("00-0D-3A-%02X-%02X-%02X", b[0], b[1], b[2])
}

// The cascade of a resource group's delete: what is used from outside the
// group stops it (the checks); the interfaces and public addresses in it
// release what they hold outside it.

func (pr *Provider) cascadeNIC(ctx context.Context, id string) error {
	nid, err := arm.ParseID(id)
	if err != nil {
		return nil
	}
	return pr.p.Store.Update(ctx, func(tx store.Tx) error {
		b := newBatch(ctx, tx, pr.p)
		n, err := b.nic(nid)
		if arm.IsNotFound(err) {
			return nil
		} else if err != nil {
			return err
		}
		if err := pr.dropNIC(b, n); err != nil {
			return err
		}
		return b.flush()
	})
}

func (pr *Provider) cascadePIP(ctx context.Context, id string) error {
	pid, err := arm.ParseID(id)
	if err != nil {
		return nil
	}
	return pr.p.Store.Update(ctx, func(tx store.Tx) error {
		b := newBatch(ctx, tx, pr.p)
		p, err := b.pip(pid)
		if arm.IsNotFound(err) {
			return nil
		} else if err != nil {
			return err
		}
		if err := pr.dropPIP(b, p); err != nil {
			return err
		}
		return b.flush()
	})
}

func (pr *Provider) checkNIC(ctx context.Context, r store.Reader, id, scope string) error {
	var n NIC
	if err := getID(ctx, r, id, &n); err != nil {
		return err
	}
	if vm := n.Properties.VirtualMachine; vm != nil && !under(vm.ID, scope) {
		return nicInUse(&n)
	}
	return nil
}

func (pr *Provider) checkPIP(ctx context.Context, r store.Reader, id, scope string) error {
	var p PIP
	if err := getID(ctx, r, id, &p); err != nil {
		return err
	}
	if c := p.Properties.IPConfiguration; c != nil && !under(c.ID, scope) {
		return pipInUse(&p)
	}
	return nil
}

func (pr *Provider) checkVNet(ctx context.Context, r store.Reader, id, scope string) error {
	var v VNet
	if err := getID(ctx, r, id, &v); err != nil {
		return err
	}
	for i := range v.Properties.Subnets {
		s := &v.Properties.Subnets[i]
		for _, u := range s.Properties.IPConfigurations {
			if !under(u.ID, scope) {
				return arm.BadRequest("InUseSubnetCannotBeDeleted", "Subnet %s is in use by %s and cannot be deleted. In order to delete the subnet, delete all the resources within the subnet. See aka.ms/deletesubnet.", s.Name, u.ID)
			}
		}
	}
	return nil
}

func (pr *Provider) checkNSG(ctx context.Context, r store.Reader, id, scope string) error {
	var g NSG
	if err := getID(ctx, r, id, &g); err != nil {
		return err
	}
	for _, ref := range append(append([]Ref(nil), g.Properties.NetworkInterfaces...), g.Properties.Subnets...) {
		if !under(ref.ID, scope) {
			return arm.BadRequest("InUseNetworkSecurityGroupCannotBeDeleted", "Network security group %s cannot be deleted because it is in use by the following resources: %s. In order to delete the Network security group, remove the association with the resource(s).", g.ID, ref.ID)
		}
	}
	return nil
}

func getID(ctx context.Context, r store.Reader, id string, v any) error {
	rid, err := arm.ParseID(id)
	if err != nil {
		return err
	}
	return resource.Get(ctx, r, rid, v)
}
