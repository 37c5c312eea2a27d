package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// Public addresses come from the documentation ranges of RFC 5737
// (TEST-NET-3, -2, -1): they are unique across the server (a document
// lists those in use) and route nowhere.
var publicRanges = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24"), netip.MustParsePrefix("198.51.100.0/24"), netip.MustParsePrefix("192.0.2.0/24")}

const addressKind = "network.publicaddresses"

// addressBook is the public addresses in use: address → public IP id.
type addressBook struct {
	Used    map[string]string `json:"used"`
	changed bool
}

func (b *batch) addressBook() (*addressBook, error) {
	if b.addrs != nil {
		return b.addrs, nil
	}
	book, err := store.GetJSON[addressBook](b.ctx, b.tx, addressKind, "all", "public address book")
	if errors.Is(err, store.ErrNotFound) {
		book, err = &addressBook{}, nil
	}
	if err != nil {
		return nil, err
	}
	if book.Used == nil {
		book.Used = map[string]string{}
	}
	b.addrs = book
	return book, nil
}

func (a *addressBook) save(ctx context.Context, tx store.Tx) error {
	return store.WriteJSON(ctx, tx.Put, store.Doc{Kind: addressKind, Key: "all"}, a, "public address book")
}

// allocate gives the public IP id the lowest free address.
func (a *addressBook) allocate(id string) (string, error) {
	for _, p := range publicRanges {
		for ip := p.Addr().Next(); p.Contains(ip) && ip != lastOf(p); ip = ip.Next() {
			if _, used := a.Used[ip.String()]; !used {
				a.Used[ip.String()], a.changed = id, true
				return ip.String(), nil
			}
		}
	}
	return "", arm.BadRequest("PublicIPCountLimitReached", "Cannot create more public IP addresses: all %d of Safehold's addresses are in use. Delete public IP addresses you no longer need, or use Dynamic ones, which hold an address only while in use.", 3*253)
}

func (a *addressBook) release(ip, id string) {
	if ip != "" && arm.EqualIDs(a.Used[ip], id) {
		delete(a.Used, ip)
		a.changed = true
	}
}

// lastOf is a prefix's last (broadcast) address.
func lastOf(p netip.Prefix) netip.Addr {
	b := p.Addr().As4()
	n := 32 - p.Bits()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= (1 << n) - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

var pipSKUs = map[string]string{"basic": "Basic", "standard": "Standard"}

func (pr *Provider) putPIP(r *arm.Request) (*arm.Response, error) {
	id := idIn(r, "publicIPAddresses", r.Param("publicIpAddressName"))
	if err := pr.checkGroup(r); err != nil {
		return nil, err
	}
	var in struct {
		trackedIn
		SKU *struct {
			Name string `json:"name"`
			Tier string `json:"tier"`
		} `json:"sku"`
		Zones      []string `json:"zones"`
		Properties struct {
			PublicIPAllocationMethod string `json:"publicIPAllocationMethod"`
			PublicIPAddressVersion   string `json:"publicIPAddressVersion"`
			IdleTimeoutInMinutes     *int32 `json:"idleTimeoutInMinutes"`
			DNSSettings              *struct {
				DomainNameLabel string `json:"domainNameLabel"`
			} `json:"dnsSettings"`
		} `json:"properties"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	loc, err := in.check(pipType)
	if err != nil {
		return nil, err
	}
	sku := "Basic"
	if in.SKU != nil && in.SKU.Name != "" {
		s, ok := pipSKUs[strings.ToLower(in.SKU.Name)]
		if !ok {
			return nil, arm.BadRequest("InvalidRequestFormat", "Cannot parse the request: sku.name '%s' of public IP address %s is not Basic or Standard.", in.SKU.Name, id.Name())
		}
		sku = s
	}
	method := in.Properties.PublicIPAllocationMethod
	switch strings.ToLower(method) {
	case "":
		method = map[string]string{"Basic": "Dynamic", "Standard": "Static"}[sku]
	case "static":
		method = "Static"
	case "dynamic":
		method = "Dynamic"
	default:
		return nil, arm.BadRequest("InvalidRequestFormat", "Cannot parse the request: publicIPAllocationMethod '%s' is not Static or Dynamic.", method)
	}
	if sku == "Standard" && method != "Static" {
		return nil, arm.BadRequest("StandardSkuPublicIPAddressesMustBeStatic", "Standard sku publicIp %s must specify publicIPAllocationMethod as Static.", id.String())
	}
	version := firstOf(in.Properties.PublicIPAddressVersion, "IPv4")
	if !strings.EqualFold(version, "IPv4") {
		return nil, arm.BadRequest("InvalidRequestFormat", "Cannot parse the request: publicIPAddressVersion '%s' is not served; Safehold's public addresses are IPv4.", version)
	}
	idle := int32(4)
	if in.Properties.IdleTimeoutInMinutes != nil {
		idle = *in.Properties.IdleTimeoutInMinutes
		if idle < 4 || idle > 30 {
			return nil, arm.BadRequest("PublicIPIdleTimeoutIsOutOfRange", "The idle timeout %d of public IP address %s is out of range: give 4 to 30 minutes.", idle, id.Name())
		}
	}
	if err := resource.CheckZones(loc, pipType, id.Name(), in.Zones); err != nil {
		return nil, err
	}
	return pr.write(r, id.String(), func(b *batch) (any, string, bool, error) {
		p, err := b.pip(id)
		created := arm.IsNotFound(err)
		if err != nil && !created {
			return nil, "", false, err
		}
		if created {
			p = &PIP{TrackedResource: arm.TrackedResource{ID: id.String(), Name: id.Name(), Type: pipType, Location: loc}, Zones: in.Zones}
			p.Properties.ResourceGUID = newGUID()
			p.Properties.IPTags = []any{}
			b.add(id, p)
		} else {
			if err := sameLocation(&p.TrackedResource, loc); err != nil {
				return nil, "", false, err
			}
			if p.SKU.Name != sku {
				return nil, "", false, arm.BadRequest("PublicIPSkuCannotBeChanged", "The sku of public IP address %s cannot change from %s to %s: create a new public IP address.", p.Name, p.SKU.Name, sku)
			}
		}
		b.touch(id.String())
		p.Tags, p.SKU = in.Tags, PIPSku{Name: sku, Tier: "Regional"}
		p.Properties.PublicIPAllocationMethod, p.Properties.PublicIPAddressVersion, p.Properties.IdleTimeoutInMinutes = method, "IPv4", idle
		p.Properties.DNSSettings = nil
		if in.Properties.DNSSettings != nil && in.Properties.DNSSettings.DomainNameLabel != "" {
			label := strings.ToLower(in.Properties.DNSSettings.DomainNameLabel)
			p.Properties.DNSSettings = &PIPDNS{DomainNameLabel: label, Fqdn: fmt.Sprintf("%s.%s.cloudapp.azure.com", label, loc)}
		}
		// A Static address holds its address; a Dynamic one only while an
		// ip configuration uses it.
		if err := pr.settleAddress(b, p); err != nil {
			return nil, "", false, err
		}
		return p, loc, created, nil
	})
}

// settleAddress gives p an address when it is Static or used, and takes a
// Dynamic unused one's away.
func (pr *Provider) settleAddress(b *batch, p *PIP) error {
	book, err := b.addressBook()
	if err != nil {
		return err
	}
	want := p.Properties.PublicIPAllocationMethod == "Static" || p.Properties.IPConfiguration != nil
	switch {
	case want && p.Properties.IPAddress == "":
		ip, err := book.allocate(p.ID)
		if err != nil {
			return err
		}
		p.Properties.IPAddress = ip
	case !want && p.Properties.IPAddress != "":
		book.release(p.Properties.IPAddress, p.ID)
		p.Properties.IPAddress = ""
	}
	return nil
}

func (pr *Provider) getPIP(r *arm.Request) (*arm.Response, error) {
	var p PIP
	if err := resource.Get(r.HTTP.Context(), pr.p.Store, idIn(r, "publicIPAddresses", r.Param("publicIpAddressName")), &p); err != nil {
		return nil, err
	}
	return arm.OK(p), nil
}

func pipInUse(p *PIP) error {
	return arm.BadRequest("PublicIPAddressCannotBeDeleted", "Public IP address %s can not be deleted since it is still allocated to resource %s. In order to delete the public IP, disassociate/detach the Public IP address from the resource.", p.ID, p.Properties.IPConfiguration.ID)
}

func (pr *Provider) deletePIP(r *arm.Request) (*arm.Response, error) {
	id := idIn(r, "publicIPAddresses", r.Param("publicIpAddressName"))
	return pr.remove(r, id.String(), func(b *batch) (string, bool, error) {
		p, err := b.pip(id)
		if arm.IsNotFound(err) {
			return "", false, nil
		} else if err != nil {
			return "", false, err
		}
		if p.Properties.IPConfiguration != nil {
			return "", false, pipInUse(p)
		}
		if err := pr.dropPIP(b, p); err != nil {
			return "", false, err
		}
		return p.Location, true, nil
	})
}

// dropPIP deletes a public IP address and frees its address.
func (pr *Provider) dropPIP(b *batch, p *PIP) error {
	book, err := b.addressBook()
	if err != nil {
		return err
	}
	book.release(p.Properties.IPAddress, p.ID)
	b.drop(p.ID)
	return nil
}

// pipRef loads the public IP address a reference names for the ip
// configuration by in location.
func (pr *Provider) pipRef(b *batch, ref, by, location string) (*PIP, error) {
	pid, err := arm.ParseID(ref)
	if err != nil || !pid.IsType(pipType) {
		return nil, arm.BadRequest("InvalidRequestFormat", "Cannot parse the request: '%s' is not a public IP address id (/subscriptions/{id}/resourceGroups/{group}/providers/Microsoft.Network/publicIPAddresses/{name}).", ref)
	}
	p, err := b.pip(pid)
	if arm.IsNotFound(err) || err == nil && !strings.EqualFold(p.Location, location) {
		return nil, refNotFound(ref, by)
	} else if err != nil {
		return nil, err
	}
	if p.Properties.IPConfiguration != nil && !arm.EqualIDs(p.Properties.IPConfiguration.ID, by) {
		return nil, arm.BadRequest("PublicIPAddressInUse", "Resource %s is referencing public IP address %s that is already allocated to resource %s. Detach it from that resource first, or name another public IP address.", by, p.ID, p.Properties.IPConfiguration.ID)
	}
	b.touch(p.ID)
	return p, nil
}
