package network

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/resource"
)

// parsePrefix reads an address prefix in CIDR notation as Azure takes it:
// the network's own address (10.0.0.0/24, not 10.0.0.1/24).
func parsePrefix(s, what string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(strings.TrimSpace(s))
	if err != nil {
		return p, arm.BadRequest("InvalidAddressPrefixFormat", "The address prefix '%s' of %s is not in CIDR notation: give an address and a prefix length, such as 10.0.0.0/16.", s, what)
	}
	if p.Masked() != p {
		return p, arm.BadRequest("InvalidCIDRNotation", "The address prefix %s of %s has an invalid CIDR notation. For the given prefix length, the address prefix should be %s.", s, what, p.Masked())
	}
	return p, nil
}

// overlaps reports whether two prefixes share an address.
func overlaps(a, b netip.Prefix) bool { return a.Overlaps(b) }

// within reports whether p lies inside one of space.
func within(p netip.Prefix, space []netip.Prefix) bool {
	for _, s := range space {
		if s.Bits() <= p.Bits() && s.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

// subnetIn is a subnet as a request gives it.
type subnetIn struct {
	Name       string `json:"name"`
	Properties struct {
		AddressPrefix                     string   `json:"addressPrefix"`
		AddressPrefixes                   []string `json:"addressPrefixes"`
		NetworkSecurityGroup              *Ref     `json:"networkSecurityGroup"`
		Delegations                       []any    `json:"delegations"`
		ServiceEndpoints                  []any    `json:"serviceEndpoints"`
		PrivateEndpointNetworkPolicies    string   `json:"privateEndpointNetworkPolicies"`
		PrivateLinkServiceNetworkPolicies string   `json:"privateLinkServiceNetworkPolicies"`
	} `json:"properties"`
}

func (s *subnetIn) prefixes() []string {
	if s.Properties.AddressPrefix != "" {
		return append([]string{s.Properties.AddressPrefix}, s.Properties.AddressPrefixes...)
	}
	return s.Properties.AddressPrefixes
}

// subnetPrefixes are the parsed prefixes of a stored subnet.
func subnetPrefixes(s *Subnet) []netip.Prefix {
	var out []netip.Prefix
	for _, str := range append([]string{s.Properties.AddressPrefix}, s.Properties.AddressPrefixes...) {
		if p, err := netip.ParsePrefix(str); err == nil {
			out = append(out, p)
		}
	}
	return out
}

// vnetIn is a virtual network PUT's body.
type vnetIn struct {
	trackedIn
	Properties struct {
		AddressSpace         *AddressSpace `json:"addressSpace"`
		DhcpOptions          *DhcpOptions  `json:"dhcpOptions"`
		Subnets              []subnetIn    `json:"subnets"`
		EnableDdosProtection bool          `json:"enableDdosProtection"`
	} `json:"properties"`
}

func (pr *Provider) putVNet(r *arm.Request) (*arm.Response, error) {
	id := idIn(r, "virtualNetworks", r.Param("virtualNetworkName"))
	if err := pr.checkGroup(r); err != nil {
		return nil, err
	}
	var in vnetIn
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	loc, err := in.check(vnetType)
	if err != nil {
		return nil, err
	}
	if in.Properties.AddressSpace == nil || len(in.Properties.AddressSpace.AddressPrefixes) == 0 {
		return nil, arm.BadRequest("InvalidRequestFormat", "Cannot parse the request: the virtual network '%s' needs properties.addressSpace.addressPrefixes, such as [\"10.0.0.0/16\"].", id.Name())
	}
	var links []arm.Link
	for _, s := range in.Properties.Subnets {
		links = append(links, arm.LinkTo(joinNSG, refID(s.Properties.NetworkSecurityGroup)))
	}
	if err := r.CheckLinked(links...); err != nil {
		return nil, err
	}
	return pr.write(r, id.String(), func(b *batch) (any, string, bool, error) {
		v, err := b.vnet(id)
		created := arm.IsNotFound(err)
		if err != nil && !created {
			return nil, "", false, err
		}
		if created {
			v = &VNet{TrackedResource: arm.TrackedResource{ID: id.String(), Name: id.Name(), Type: vnetType, Location: loc}}
			v.Properties.ResourceGUID = newGUID()
			b.add(id, v)
		} else if err := sameLocation(&v.TrackedResource, loc); err != nil {
			return nil, "", false, err
		}
		b.touch(id.String())
		v.Tags = in.Tags
		v.Properties.AddressSpace = AddressSpace{AddressPrefixes: in.Properties.AddressSpace.AddressPrefixes}
		v.Properties.DhcpOptions = in.Properties.DhcpOptions
		v.Properties.EnableDdosProtection = in.Properties.EnableDdosProtection
		if v.Properties.VirtualNetworkPeerings == nil {
			v.Properties.VirtualNetworkPeerings = []any{}
		}
		// The subnets are those the body lists: each kept one keeps what
		// uses it; one dropped must be unused.
		subs := make([]Subnet, 0, len(in.Properties.Subnets))
		for i := range in.Properties.Subnets {
			s, err := pr.subnetFrom(b, v, &in.Properties.Subnets[i])
			if err != nil {
				return nil, "", false, err
			}
			subs = append(subs, s)
		}
		for i := range v.Properties.Subnets {
			old := &v.Properties.Subnets[i]
			if findSubnet(subs, old.Name) < 0 {
				if err := pr.releaseSubnet(b, old); err != nil {
					return nil, "", false, err
				}
			}
		}
		v.Properties.Subnets = subs
		if err := checkVNet(v); err != nil {
			return nil, "", false, err
		}
		return v, loc, created, nil
	})
}

// findSubnet is the index of the subnet named name in subs (-1: none).
func findSubnet(subs []Subnet, name string) int {
	for i := range subs {
		if strings.EqualFold(subs[i].Name, name) {
			return i
		}
	}
	return -1
}

// subnetFrom is the subnet in gives v: a new one, or v's of that name
// with in's settings (what uses it stays); the security group it names
// is marked as used by it (and one it no longer names released).
func (pr *Provider) subnetFrom(b *batch, v *VNet, in *subnetIn) (Subnet, error) {
	if in.Name == "" {
		return Subnet{}, arm.BadRequest("InvalidRequestFormat", "Cannot parse the request: a subnet of virtual network '%s' has no name.", v.Name)
	}
	prefixes := in.prefixes()
	if len(prefixes) == 0 {
		return Subnet{}, arm.BadRequest("InvalidRequestFormat", "Cannot parse the request: subnet '%s' needs properties.addressPrefix, such as \"10.0.0.0/24\".", in.Name)
	}
	vid, _ := arm.ParseID(v.ID)
	s := Subnet{ID: vid.Child("subnets", in.Name).String(), Name: in.Name, Type: subnetType}
	var old *Subnet
	if i := findSubnet(v.Properties.Subnets, in.Name); i >= 0 {
		old = &v.Properties.Subnets[i]
		s.ID, s.Name = old.ID, old.Name
		s.Properties.IPConfigurations = old.Properties.IPConfigurations
	}
	p := &s.Properties
	p.AddressPrefix = prefixes[0]
	if len(prefixes) > 1 || len(in.Properties.AddressPrefixes) > 0 && in.Properties.AddressPrefix == "" {
		p.AddressPrefix, p.AddressPrefixes = "", prefixes
	}
	p.Delegations = in.Properties.Delegations
	if p.Delegations == nil {
		p.Delegations = []any{}
	}
	p.ServiceEndpoints = in.Properties.ServiceEndpoints
	p.PrivateEndpointNetworkPolicies = firstOf(in.Properties.PrivateEndpointNetworkPolicies, "Disabled")
	p.PrivateLinkServiceNetworkPolicies = firstOf(in.Properties.PrivateLinkServiceNetworkPolicies, "Enabled")
	if old != nil && len(old.Properties.IPConfigurations) > 0 {
		// The addresses in use must stay in the subnet.
		now := subnetPrefixes(&s)
		for _, u := range old.Properties.IPConfigurations {
			a, err := netip.ParseAddr(u.IP)
			if err != nil {
				continue
			}
			in := false
			for _, pf := range now {
				in = in || pf.Contains(a)
			}
			if !in {
				return Subnet{}, arm.BadRequest("InUseSubnetCannotBeUpdated", "Subnet %s is in use by %s and its address prefix cannot change to leave out %s. Remove the ip configurations from the subnet first, or keep a prefix that holds their addresses.", s.Name, u.ID, u.IP)
			}
		}
	}
	// The security group it names, and the one it named.
	if nsg := refID(in.Properties.NetworkSecurityGroup); nsg != "" {
		g, err := pr.nsgRef(b, nsg, s.ID, v.Location)
		if err != nil {
			return Subnet{}, err
		}
		g.Properties.Subnets = addRef(g.Properties.Subnets, s.ID)
		p.NetworkSecurityGroup = &Ref{ID: g.ID}
	}
	if old != nil && old.Properties.NetworkSecurityGroup != nil && !arm.EqualIDs(refID(old.Properties.NetworkSecurityGroup), refID(p.NetworkSecurityGroup)) {
		pr.unrefNSG(b, old.Properties.NetworkSecurityGroup.ID, s.ID)
	}
	return s, nil
}

// releaseSubnet checks a subnet about to go is unused and releases the
// security group it names.
func (pr *Provider) releaseSubnet(b *batch, s *Subnet) error {
	if len(s.Properties.IPConfigurations) > 0 {
		return subnetInUse(s)
	}
	if s.Properties.NetworkSecurityGroup != nil {
		pr.unrefNSG(b, s.Properties.NetworkSecurityGroup.ID, s.ID)
	}
	return nil
}

func subnetInUse(s *Subnet) error {
	return arm.BadRequest("InUseSubnetCannotBeDeleted", "Subnet %s is in use by %s and cannot be deleted. In order to delete the subnet, delete all the resources within the subnet. See aka.ms/deletesubnet.", s.Name, s.Properties.IPConfigurations[0].ID)
}

// checkVNet checks a virtual network's address space and subnets as Azure
// does: prefixes in CIDR notation, address spaces apart, each subnet
// inside the space and apart from the others, names distinct.
func checkVNet(v *VNet) error {
	var space []netip.Prefix
	for _, s := range v.Properties.AddressSpace.AddressPrefixes {
		p, err := parsePrefix(s, "virtual network "+v.Name)
		if err != nil {
			return err
		}
		for _, q := range space {
			if overlaps(p, q) {
				return arm.BadRequest("NetcfgInvalidAddressPrefix", "The address space of virtual network %s has overlapping prefixes %s and %s: give each range once.", v.Name, q, p)
			}
		}
		space = append(space, p)
	}
	type named struct {
		name string
		p    netip.Prefix
	}
	var seen []named
	for i := range v.Properties.Subnets {
		s := &v.Properties.Subnets[i]
		for _, o := range seen {
			if strings.EqualFold(o.name, s.Name) {
				return arm.BadRequest("InvalidRequestFormat", "Cannot parse the request: virtual network %s lists subnet '%s' twice.", v.Name, s.Name)
			}
		}
		for _, str := range append([]string{s.Properties.AddressPrefix}, s.Properties.AddressPrefixes...) {
			if str == "" {
				continue
			}
			p, err := parsePrefix(str, "subnet "+s.Name)
			if err != nil {
				return err
			}
			if p.Addr().Is4() && p.Bits() > 29 {
				return arm.BadRequest("InvalidAddressPrefix", "Subnet %s's address prefix %s is too small: an IPv4 subnet is a /29 or larger (Azure keeps five addresses of each subnet).", s.Name, p)
			}
			if !within(p, space) {
				return arm.BadRequest("NetcfgSubnetRangeOutsideVnet", "Subnet '%s' is not valid because its IP address range %s is outside the IP address range of virtual network '%s' (%s).", s.Name, p, v.Name, strings.Join(v.Properties.AddressSpace.AddressPrefixes, ", "))
			}
			for _, o := range seen {
				if !strings.EqualFold(o.name, s.Name) && overlaps(o.p, p) {
					return arm.BadRequest("NetcfgSubnetRangesOverlap", "Subnet '%s' is not valid because its IP address range %s overlaps with that of an existing subnet '%s' (%s) in virtual network '%s'.", s.Name, p, o.name, o.p, v.Name)
				}
			}
			seen = append(seen, named{s.Name, p})
		}
	}
	return nil
}

func (pr *Provider) getVNet(r *arm.Request) (*arm.Response, error) {
	var v VNet
	if err := resource.Get(r.HTTP.Context(), pr.p.Store, idIn(r, "virtualNetworks", r.Param("virtualNetworkName")), &v); err != nil {
		return nil, err
	}
	return arm.OK(v.wire()), nil
}

func (pr *Provider) deleteVNet(r *arm.Request) (*arm.Response, error) {
	id := idIn(r, "virtualNetworks", r.Param("virtualNetworkName"))
	return pr.remove(r, id.String(), func(b *batch) (string, bool, error) {
		v, err := b.vnet(id)
		if arm.IsNotFound(err) {
			return "", false, nil
		} else if err != nil {
			return "", false, err
		}
		for i := range v.Properties.Subnets {
			if err := pr.releaseSubnet(b, &v.Properties.Subnets[i]); err != nil {
				return "", false, err
			}
		}
		b.drop(id.String())
		return v.Location, true, nil
	})
}

// subnet routes

func (pr *Provider) subnetIDs(r *arm.Request) (vnet, subnet arm.ResourceID) {
	vnet = idIn(r, "virtualNetworks", r.Param("virtualNetworkName"))
	return vnet, vnet.Child("subnets", r.Param("subnetName"))
}

func (pr *Provider) listSubnets(r *arm.Request) (*arm.Response, error) {
	var v VNet
	if err := resource.Get(r.HTTP.Context(), pr.p.Store, idIn(r, "virtualNetworks", r.Param("virtualNetworkName")), &v); err != nil {
		return nil, err
	}
	out := make([]Subnet, len(v.Properties.Subnets))
	for i, s := range v.Properties.Subnets {
		out[i] = s.wire()
	}
	return arm.PageOK(r, out, 1000)
}

func (pr *Provider) getSubnet(r *arm.Request) (*arm.Response, error) {
	vid, sid := pr.subnetIDs(r)
	var v VNet
	if err := resource.Get(r.HTTP.Context(), pr.p.Store, vid, &v); err != nil {
		return nil, err
	}
	i := findSubnet(v.Properties.Subnets, sid.Name())
	if i < 0 {
		return nil, resource.NotFound(sid)
	}
	return arm.OK(v.Properties.Subnets[i].wire()), nil
}

func (pr *Provider) putSubnet(r *arm.Request) (*arm.Response, error) {
	vid, sid := pr.subnetIDs(r)
	var in subnetIn
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	in.Name = sid.Name()
	if err := r.CheckLinked(arm.LinkTo(joinNSG, refID(in.Properties.NetworkSecurityGroup))); err != nil {
		return nil, err
	}
	return pr.write(r, sid.String(), func(b *batch) (any, string, bool, error) {
		v, err := b.vnet(vid)
		if err != nil {
			return nil, "", false, err
		}
		s, err := pr.subnetFrom(b, v, &in)
		if err != nil {
			return nil, "", false, err
		}
		i := findSubnet(v.Properties.Subnets, in.Name)
		created := i < 0
		if created {
			v.Properties.Subnets = append(v.Properties.Subnets, s)
			i = len(v.Properties.Subnets) - 1
		} else {
			v.Properties.Subnets[i] = s
		}
		if err := checkVNet(v); err != nil {
			return nil, "", false, err
		}
		b.touch(vid.String())
		return &v.Properties.Subnets[i], v.Location, created, nil
	})
}

func (pr *Provider) deleteSubnet(r *arm.Request) (*arm.Response, error) {
	vid, sid := pr.subnetIDs(r)
	return pr.remove(r, sid.String(), func(b *batch) (string, bool, error) {
		v, err := b.vnet(vid)
		if arm.IsNotFound(err) {
			return "", false, nil
		} else if err != nil {
			return "", false, err
		}
		i := findSubnet(v.Properties.Subnets, sid.Name())
		if i < 0 {
			return "", false, nil
		}
		if err := pr.releaseSubnet(b, &v.Properties.Subnets[i]); err != nil {
			return "", false, err
		}
		v.Properties.Subnets = append(v.Properties.Subnets[:i:i], v.Properties.Subnets[i+1:]...)
		b.touch(vid.String())
		return v.Location, true, nil
	})
}

// subnetRef loads the subnet a reference names for a resource by in
// location: a 400 InvalidResourceReference when it does not exist there.
func (pr *Provider) subnetRef(b *batch, ref, by, location string) (*VNet, *Subnet, error) {
	sid, err := arm.ParseID(ref)
	if err != nil || !sid.IsType(subnetType) {
		return nil, nil, arm.BadRequest("InvalidRequestFormat", "Cannot parse the request: '%s' is not a subnet id (/subscriptions/{id}/resourceGroups/{group}/providers/Microsoft.Network/virtualNetworks/{vnet}/subnets/{subnet}).", ref)
	}
	v, err := b.vnet(sid.Parent())
	if arm.IsNotFound(err) {
		return nil, nil, refNotFound(ref, by)
	} else if err != nil {
		return nil, nil, err
	}
	i := findSubnet(v.Properties.Subnets, sid.Name())
	if i < 0 || !strings.EqualFold(v.Location, location) {
		return nil, nil, refNotFound(ref, by)
	}
	return v, &v.Properties.Subnets[i], nil
}

func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// addRef adds id to refs unless there.
func addRef(refs []Ref, id string) []Ref {
	for _, r := range refs {
		if arm.EqualIDs(r.ID, id) {
			return refs
		}
	}
	return append(refs, Ref{ID: id})
}

// dropRef removes id from refs.
func dropRef(refs []Ref, id string) []Ref {
	out := refs[:0:0]
	for _, r := range refs {
		if !arm.EqualIDs(r.ID, id) {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

var _ = fmt.Sprintf
