package network

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// VNet is a virtual network as stored (its subnets inline, as Azure
// answers them).
type VNet struct {
	arm.TrackedResource
	Etag       string    `json:"etag"`
	Properties VNetProps `json:"properties"`
}

// VNetProps are a virtual network's properties.
type VNetProps struct {
	ProvisioningState      string       `json:"provisioningState"`
	ResourceGUID           string       `json:"resourceGuid"`
	AddressSpace           AddressSpace `json:"addressSpace"`
	DhcpOptions            *DhcpOptions `json:"dhcpOptions,omitempty"`
	Subnets                []Subnet     `json:"subnets"`
	VirtualNetworkPeerings []any        `json:"virtualNetworkPeerings"`
	EnableDdosProtection   bool         `json:"enableDdosProtection"`
}

// AddressSpace is a virtual network's address prefixes.
type AddressSpace struct {
	AddressPrefixes []string `json:"addressPrefixes"`
}

// DhcpOptions are a virtual network's DNS servers.
type DhcpOptions struct {
	DNSServers []string `json:"dnsServers"`
}

// Subnet is a subnet of a virtual network.
type Subnet struct {
	ID         string      `json:"id"`
	Name       string      `json:"name"`
	Etag       string      `json:"etag"`
	Type       string      `json:"type"`
	Properties SubnetProps `json:"properties"`
}

// SubnetProps are a subnet's properties.
type SubnetProps struct {
	ProvisioningState                 string   `json:"provisioningState"`
	AddressPrefix                     string   `json:"addressPrefix,omitempty"`
	AddressPrefixes                   []string `json:"addressPrefixes,omitempty"`
	NetworkSecurityGroup              *Ref     `json:"networkSecurityGroup,omitempty"`
	IPConfigurations                  []IPUse  `json:"ipConfigurations,omitempty"`
	Delegations                       []any    `json:"delegations"`
	ServiceEndpoints                  []any    `json:"serviceEndpoints,omitempty"`
	PrivateEndpointNetworkPolicies    string   `json:"privateEndpointNetworkPolicies"`
	PrivateLinkServiceNetworkPolicies string   `json:"privateLinkServiceNetworkPolicies"`
}

// IPUse is a network interface ip configuration in a subnet, with the
// private address it holds there (stored; not answered).
type IPUse struct {
	ID string `json:"id"`
	IP string `json:"privateIPAddress,omitempty"`
}

// NSG is a network security group.
type NSG struct {
	arm.TrackedResource
	Etag       string   `json:"etag"`
	Properties NSGProps `json:"properties"`
}

// NSGProps are a network security group's properties.
type NSGProps struct {
	ProvisioningState    string `json:"provisioningState"`
	ResourceGUID         string `json:"resourceGuid"`
	SecurityRules        []Rule `json:"securityRules"`
	DefaultSecurityRules []Rule `json:"defaultSecurityRules"`
	NetworkInterfaces    []Ref  `json:"networkInterfaces,omitempty"`
	Subnets              []Ref  `json:"subnets,omitempty"`
}

// Rule is a security rule.
type Rule struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Etag       string    `json:"etag"`
	Type       string    `json:"type"`
	Properties RuleProps `json:"properties"`
}

// RuleProps are a security rule's properties.
type RuleProps struct {
	ProvisioningState          string   `json:"provisioningState"`
	Description                string   `json:"description,omitempty"`
	Protocol                   string   `json:"protocol"`
	SourcePortRange            string   `json:"sourcePortRange,omitempty"`
	DestinationPortRange       string   `json:"destinationPortRange,omitempty"`
	SourceAddressPrefix        string   `json:"sourceAddressPrefix,omitempty"`
	DestinationAddressPrefix   string   `json:"destinationAddressPrefix,omitempty"`
	SourcePortRanges           []string `json:"sourcePortRanges"`
	DestinationPortRanges      []string `json:"destinationPortRanges"`
	SourceAddressPrefixes      []string `json:"sourceAddressPrefixes"`
	DestinationAddressPrefixes []string `json:"destinationAddressPrefixes"`
	Access                     string   `json:"access"`
	Priority                   int32    `json:"priority"`
	Direction                  string   `json:"direction"`
}

// PIP is a public IP address.
type PIP struct {
	arm.TrackedResource
	Etag       string   `json:"etag"`
	SKU        PIPSku   `json:"sku"`
	Zones      []string `json:"zones,omitempty"`
	Properties PIPProps `json:"properties"`
}

// PIPSku is a public IP address's sku.
type PIPSku struct {
	Name string `json:"name"`
	Tier string `json:"tier"`
}

// PIPProps are a public IP address's properties.
type PIPProps struct {
	ProvisioningState        string  `json:"provisioningState"`
	ResourceGUID             string  `json:"resourceGuid"`
	IPAddress                string  `json:"ipAddress,omitempty"`
	PublicIPAddressVersion   string  `json:"publicIPAddressVersion"`
	PublicIPAllocationMethod string  `json:"publicIPAllocationMethod"`
	IdleTimeoutInMinutes     int32   `json:"idleTimeoutInMinutes"`
	IPTags                   []any   `json:"ipTags"`
	IPConfiguration          *Ref    `json:"ipConfiguration,omitempty"`
	DNSSettings              *PIPDNS `json:"dnsSettings,omitempty"`
}

// PIPDNS is a public IP address's DNS name.
type PIPDNS struct {
	DomainNameLabel string `json:"domainNameLabel"`
	Fqdn            string `json:"fqdn"`
}

// NIC is a network interface.
type NIC struct {
	arm.TrackedResource
	Etag       string   `json:"etag"`
	Properties NICProps `json:"properties"`
}

// NICProps are a network interface's properties.
type NICProps struct {
	ProvisioningState           string     `json:"provisioningState"`
	ResourceGUID                string     `json:"resourceGuid"`
	IPConfigurations            []IPConfig `json:"ipConfigurations"`
	DNSSettings                 NICDNS     `json:"dnsSettings"`
	MacAddress                  string     `json:"macAddress,omitempty"`
	Primary                     *bool      `json:"primary,omitempty"`
	EnableAcceleratedNetworking bool       `json:"enableAcceleratedNetworking"`
	EnableIPForwarding          bool       `json:"enableIPForwarding"`
	NetworkSecurityGroup        *Ref       `json:"networkSecurityGroup,omitempty"`
	VirtualMachine              *Ref       `json:"virtualMachine,omitempty"`
	NicType                     string     `json:"nicType"`
	HostedWorkloads             []string   `json:"hostedWorkloads"`
	TapConfigurations           []any      `json:"tapConfigurations"`
}

// NICDNS are a network interface's DNS settings.
type NICDNS struct {
	DNSServers               []string `json:"dnsServers"`
	AppliedDNSServers        []string `json:"appliedDnsServers"`
	InternalDomainNameSuffix string   `json:"internalDomainNameSuffix"`
}

// IPConfig is a network interface's ip configuration.
type IPConfig struct {
	ID         string        `json:"id"`
	Name       string        `json:"name"`
	Etag       string        `json:"etag"`
	Type       string        `json:"type"`
	Properties IPConfigProps `json:"properties"`
}

// IPConfigProps are an ip configuration's properties.
type IPConfigProps struct {
	ProvisioningState         string `json:"provisioningState"`
	PrivateIPAddress          string `json:"privateIPAddress,omitempty"`
	PrivateIPAllocationMethod string `json:"privateIPAllocationMethod"`
	PrivateIPAddressVersion   string `json:"privateIPAddressVersion"`
	Subnet                    *Ref   `json:"subnet,omitempty"`
	PublicIPAddress           *Ref   `json:"publicIPAddress,omitempty"`
	Primary                   bool   `json:"primary"`
}

// wire is the subnet as answered: its ip configurations' ids alone.
func (s Subnet) wire() Subnet {
	if len(s.Properties.IPConfigurations) > 0 {
		uses := make([]IPUse, len(s.Properties.IPConfigurations))
		for i, u := range s.Properties.IPConfigurations {
			uses[i] = IPUse{ID: u.ID}
		}
		s.Properties.IPConfigurations = uses
	}
	return s
}

func (v VNet) wire() VNet {
	subs := make([]Subnet, len(v.Properties.Subnets))
	for i, s := range v.Properties.Subnets {
		subs[i] = s.wire()
	}
	v.Properties.Subnets = subs
	return v
}

func wireVNet(raw json.RawMessage) (any, error) {
	var v VNet
	err := json.Unmarshal(raw, &v)
	return v.wire(), err
}

func wireNSG(raw json.RawMessage) (any, error) {
	var v NSG
	err := json.Unmarshal(raw, &v)
	return v, err
}

func wirePIP(raw json.RawMessage) (any, error) {
	var v PIP
	err := json.Unmarshal(raw, &v)
	return v, err
}

func wireNIC(raw json.RawMessage) (any, error) {
	var v NIC
	err := json.Unmarshal(raw, &v)
	return v, err
}

// batch is the network resources one transaction reads and changes: each
// read once, changed in place, written (with a new etag) or deleted by
// flush.
type batch struct {
	ctx     context.Context
	tx      store.Tx
	p       *resource.Platform
	docs    map[string]any // lower-case id → *VNet, *NSG, *PIP, *NIC
	ids     map[string]arm.ResourceID
	dirty   map[string]bool
	deleted map[string]bool
	order   []string
	addrs   *addressBook // the public addresses in use (loaded on first use)
}

func newBatch(ctx context.Context, tx store.Tx, p *resource.Platform) *batch {
	return &batch{ctx: ctx, tx: tx, p: p, docs: map[string]any{}, ids: map[string]arm.ResourceID{}, dirty: map[string]bool{}, deleted: map[string]bool{}}
}

// load reads the resource id (of type typ) into a new doc, once per batch;
// NotFound when it does not exist (or was deleted in this batch).
func load[T any](b *batch, typ string, id arm.ResourceID) (*T, error) {
	if !id.IsType(typ) {
		return nil, resource.NotFound(id)
	}
	k := strings.ToLower(id.String())
	if b.deleted[k] {
		return nil, resource.NotFound(id)
	}
	if d, ok := b.docs[k]; ok {
		return d.(*T), nil
	}
	v := new(T)
	if err := resource.Get(b.ctx, b.tx, id, v); err != nil {
		return nil, err
	}
	b.docs[k], b.ids[k] = v, id
	b.order = append(b.order, k)
	return v, nil
}

// add puts a new resource in the batch (written by flush).
func (b *batch) add(id arm.ResourceID, v any) {
	k := strings.ToLower(id.String())
	if _, ok := b.docs[k]; !ok {
		b.order = append(b.order, k)
	}
	delete(b.deleted, k)
	b.docs[k], b.ids[k], b.dirty[k] = v, id, true
}

// touch marks a loaded resource changed.
func (b *batch) touch(id string) { b.dirty[strings.ToLower(id)] = true }

// drop deletes a loaded resource.
func (b *batch) drop(id string) {
	k := strings.ToLower(id)
	b.deleted[k] = true
	delete(b.dirty, k)
}

func (b *batch) vnet(id arm.ResourceID) (*VNet, error) { return load[VNet](b, vnetType, id) }
func (b *batch) nsg(id arm.ResourceID) (*NSG, error)   { return load[NSG](b, nsgType, id) }
func (b *batch) pip(id arm.ResourceID) (*PIP, error)   { return load[PIP](b, pipType, id) }
func (b *batch) nic(id arm.ResourceID) (*NIC, error)   { return load[NIC](b, nicType, id) }

// tracked loads the resource id of typ and answers its envelope (marked
// changed).
func (b *batch) tracked(typ string, id arm.ResourceID) (*arm.TrackedResource, error) {
	var t *arm.TrackedResource
	switch typ {
	case vnetType:
		v, err := b.vnet(id)
		if err != nil {
			return nil, err
		}
		t = &v.TrackedResource
	case nsgType:
		v, err := b.nsg(id)
		if err != nil {
			return nil, err
		}
		t = &v.TrackedResource
	case pipType:
		v, err := b.pip(id)
		if err != nil {
			return nil, err
		}
		t = &v.TrackedResource
	case nicType:
		v, err := b.nic(id)
		if err != nil {
			return nil, err
		}
		t = &v.TrackedResource
	default:
		return nil, fmt.Errorf("network: no type %s", typ)
	}
	b.touch(id.String())
	return t, nil
}

// docOf is the loaded resource id of typ.
func (b *batch) docOf(typ string, id arm.ResourceID) any { return b.docs[strings.ToLower(id.String())] }

// flush writes each changed resource with a new etag (and its changed
// children's), deletes the deleted ones, and stores the public address
// book if it changed.
func (b *batch) flush() error {
	keys := append([]string(nil), b.order...)
	sort.Strings(keys)
	for _, k := range keys {
		id := b.ids[k]
		switch {
		case b.deleted[k]:
			if err := resource.Delete(b.ctx, b.tx, id); err != nil && !arm.IsNotFound(err) {
				return err
			}
		case b.dirty[k]:
			stamp(b.docs[k])
			if err := resource.Put(b.ctx, b.tx, id, b.docs[k]); err != nil {
				return err
			}
		}
	}
	if b.addrs != nil && b.addrs.changed {
		return b.addrs.save(b.ctx, b.tx)
	}
	return nil
}

// stamp gives a resource about to be written a new etag, its own and its
// children's, and provisioningState Succeeded.
func stamp(doc any) {
	e := newEtag()
	switch v := doc.(type) {
	case *VNet:
		v.Etag, v.Properties.ProvisioningState = e, "Succeeded"
		for i := range v.Properties.Subnets {
			v.Properties.Subnets[i].Etag, v.Properties.Subnets[i].Properties.ProvisioningState = e, "Succeeded"
		}
	case *NSG:
		v.Etag, v.Properties.ProvisioningState = e, "Succeeded"
		for i := range v.Properties.SecurityRules {
			v.Properties.SecurityRules[i].Etag, v.Properties.SecurityRules[i].Properties.ProvisioningState = e, "Succeeded"
		}
		for i := range v.Properties.DefaultSecurityRules {
			v.Properties.DefaultSecurityRules[i].Etag = e
		}
	case *PIP:
		v.Etag, v.Properties.ProvisioningState = e, "Succeeded"
	case *NIC:
		v.Etag, v.Properties.ProvisioningState = e, "Succeeded"
		for i := range v.Properties.IPConfigurations {
			v.Properties.IPConfigurations[i].Etag, v.Properties.IPConfigurations[i].Properties.ProvisioningState = e, "Succeeded"
		}
	}
}

// wireOf is the answer for a body a write returned: resources and
// subnets as answered (copies: flush stamped them).
func (b *batch) wireOf(body any) any {
	switch v := body.(type) {
	case *VNet:
		return v.wire()
	case *Subnet:
		return v.wire()
	case *NSG:
		return *v
	case *Rule:
		return *v
	case *PIP:
		return *v
	case *NIC:
		return *v
	}
	return body
}
