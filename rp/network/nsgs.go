package network

import (
	"strings"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/resource"
)

// defaultRules are the rules every network security group has below its
// own (Azure's six).
func defaultRules(nsgID string) []Rule {
	rule := func(name, desc, src, dst, access string, prio int32, dir string) Rule {
		return Rule{ID: nsgID + "/defaultSecurityRules/" + name, Name: name, Type: defaultRuleType, Properties: RuleProps{
			ProvisioningState: "Succeeded", Description: desc, Protocol: "*", SourcePortRange: "*", DestinationPortRange: "*",
			SourceAddressPrefix: src, DestinationAddressPrefix: dst, Access: access, Priority: prio, Direction: dir,
			SourcePortRanges: []string{}, DestinationPortRanges: []string{}, SourceAddressPrefixes: []string{}, DestinationAddressPrefixes: []string{}}}
	}
	return []Rule{
		rule("AllowVnetInBound", "Allow inbound traffic from all VMs in VNET", "VirtualNetwork", "VirtualNetwork", "Allow", 65000, "Inbound"),
		rule("AllowAzureLoadBalancerInBound", "Allow inbound traffic from azure load balancer", "AzureLoadBalancer", "*", "Allow", 65001, "Inbound"),
		rule("DenyAllInBound", "Deny all inbound traffic", "*", "*", "Deny", 65500, "Inbound"),
		rule("AllowVnetOutBound", "Allow outbound traffic from all VMs to all VMs in VNET", "VirtualNetwork", "VirtualNetwork", "Allow", 65000, "Outbound"),
		rule("AllowInternetOutBound", "Allow outbound traffic from all VMs to Internet", "*", "Internet", "Allow", 65001, "Outbound"),
		rule("DenyAllOutBound", "Deny all outbound traffic", "*", "*", "Deny", 65500, "Outbound"),
	}
}

// ruleIn is a security rule as a request gives it.
type ruleIn struct {
	Name       string    `json:"name"`
	Properties RuleProps `json:"properties"`
}

var protocols = map[string]string{"tcp": "Tcp", "udp": "Udp", "icmp": "Icmp", "esp": "Esp", "ah": "Ah", "*": "*"}

// ruleFrom checks a rule of the group nsgID as Azure does and answers it
// as stored.
func ruleFrom(nsgID string, in ruleIn) (Rule, error) {
	p := in.Properties
	bad := func(field, format string, args ...any) (Rule, error) {
		return Rule{}, arm.BadRequest("SecurityRuleInvalid"+field, "Security rule %s: "+format, append([]any{in.Name}, args...)...)
	}
	if in.Name == "" {
		return Rule{}, arm.BadRequest("InvalidRequestFormat", "Cannot parse the request: a security rule has no name.")
	}
	proto, ok := protocols[strings.ToLower(p.Protocol)]
	if !ok {
		return bad("Protocol", "protocol '%s' is not one of Tcp, Udp, Icmp, Esp, Ah or *.", p.Protocol)
	}
	p.Protocol = proto
	switch strings.ToLower(p.Access) {
	case "allow":
		p.Access = "Allow"
	case "deny":
		p.Access = "Deny"
	default:
		return bad("Access", "access '%s' is not Allow or Deny.", p.Access)
	}
	switch strings.ToLower(p.Direction) {
	case "inbound":
		p.Direction = "Inbound"
	case "outbound":
		p.Direction = "Outbound"
	default:
		return bad("Direction", "direction '%s' is not Inbound or Outbound.", p.Direction)
	}
	if p.Priority < 100 || p.Priority > 4096 {
		return bad("Priority", "priority %d is out of range: give a number from 100 to 4096 (lower is applied first).", p.Priority)
	}
	for _, f := range []struct {
		name string
		one  string
		many []string
	}{{"sourcePortRange", p.SourcePortRange, p.SourcePortRanges}, {"destinationPortRange", p.DestinationPortRange, p.DestinationPortRanges},
		{"sourceAddressPrefix", p.SourceAddressPrefix, p.SourceAddressPrefixes}, {"destinationAddressPrefix", p.DestinationAddressPrefix, p.DestinationAddressPrefixes}} {
		if f.one == "" && len(f.many) == 0 {
			return Rule{}, arm.BadRequest("SecurityRuleParameterMissing", "Security rule %s needs %s (or %ss): give a value such as \"*\".", in.Name, f.name, f.name)
		}
	}
	for _, l := range []*[]string{&p.SourcePortRanges, &p.DestinationPortRanges, &p.SourceAddressPrefixes, &p.DestinationAddressPrefixes} {
		if *l == nil {
			*l = []string{}
		}
	}
	p.ProvisioningState = "Succeeded"
	return Rule{ID: nsgID + "/securityRules/" + in.Name, Name: in.Name, Type: ruleType, Properties: p}, nil
}

// checkRules refuses two rules of one direction at one priority.
func checkRules(rules []Rule) error {
	for i := range rules {
		for j := range i {
			a, b := rules[j], rules[i]
			if strings.EqualFold(a.Name, b.Name) {
				return arm.BadRequest("InvalidRequestFormat", "Cannot parse the request: security rule '%s' is listed twice.", b.Name)
			}
			if a.Properties.Priority == b.Properties.Priority && a.Properties.Direction == b.Properties.Direction {
				return arm.BadRequest("SecurityRuleConflict", "Security rule %s conflicts with rule %s. Rules cannot have the same Priority and Direction. To learn more, see aka.ms/nsgrules.", b.Name, a.Name)
			}
		}
	}
	return nil
}

func (pr *Provider) putNSG(r *arm.Request) (*arm.Response, error) {
	id := idIn(r, "networkSecurityGroups", r.Param("networkSecurityGroupName"))
	if err := pr.checkGroup(r); err != nil {
		return nil, err
	}
	var in struct {
		trackedIn
		Properties struct {
			SecurityRules []ruleIn `json:"securityRules"`
		} `json:"properties"`
	}
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	loc, err := in.check(nsgType)
	if err != nil {
		return nil, err
	}
	rules := make([]Rule, 0, len(in.Properties.SecurityRules))
	for _, ri := range in.Properties.SecurityRules {
		rule, err := ruleFrom(id.String(), ri)
		if err != nil {
			return nil, err
		}
		rules = append(rules, rule)
	}
	if err := checkRules(rules); err != nil {
		return nil, err
	}
	return pr.write(r, id.String(), func(b *batch) (any, string, bool, error) {
		g, err := b.nsg(id)
		created := arm.IsNotFound(err)
		if err != nil && !created {
			return nil, "", false, err
		}
		if created {
			g = &NSG{TrackedResource: arm.TrackedResource{ID: id.String(), Name: id.Name(), Type: nsgType, Location: loc}}
			g.Properties.ResourceGUID = newGUID()
			g.Properties.DefaultSecurityRules = defaultRules(id.String())
			b.add(id, g)
		} else if err := sameLocation(&g.TrackedResource, loc); err != nil {
			return nil, "", false, err
		}
		b.touch(id.String())
		g.Tags = in.Tags
		for i := range rules {
			rules[i].ID = g.ID + "/securityRules/" + rules[i].Name
		}
		g.Properties.SecurityRules = rules
		return g, loc, created, nil
	})
}

func (pr *Provider) getNSG(r *arm.Request) (*arm.Response, error) {
	var g NSG
	if err := resource.Get(r.HTTP.Context(), pr.p.Store, idIn(r, "networkSecurityGroups", r.Param("networkSecurityGroupName")), &g); err != nil {
		return nil, err
	}
	return arm.OK(g), nil
}

func nsgInUse(g *NSG) error {
	by := ""
	if len(g.Properties.NetworkInterfaces) > 0 {
		by = g.Properties.NetworkInterfaces[0].ID
	} else if len(g.Properties.Subnets) > 0 {
		by = g.Properties.Subnets[0].ID
	}
	return arm.BadRequest("InUseNetworkSecurityGroupCannotBeDeleted", "Network security group %s cannot be deleted because it is in use by the following resources: %s. In order to delete the Network security group, remove the association with the resource(s).", g.ID, by)
}

func (pr *Provider) deleteNSG(r *arm.Request) (*arm.Response, error) {
	id := idIn(r, "networkSecurityGroups", r.Param("networkSecurityGroupName"))
	return pr.remove(r, id.String(), func(b *batch) (string, bool, error) {
		g, err := b.nsg(id)
		if arm.IsNotFound(err) {
			return "", false, nil
		} else if err != nil {
			return "", false, err
		}
		if len(g.Properties.NetworkInterfaces) > 0 || len(g.Properties.Subnets) > 0 {
			return "", false, nsgInUse(g)
		}
		b.drop(id.String())
		return g.Location, true, nil
	})
}

func (pr *Provider) loadNSG(r *arm.Request) (*NSG, error) {
	var g NSG
	err := resource.Get(r.HTTP.Context(), pr.p.Store, idIn(r, "networkSecurityGroups", r.Param("networkSecurityGroupName")), &g)
	return &g, err
}

func (pr *Provider) listRules(r *arm.Request) (*arm.Response, error) {
	g, err := pr.loadNSG(r)
	if err != nil {
		return nil, err
	}
	return arm.PageOK(r, g.Properties.SecurityRules, 1000)
}

func (pr *Provider) listDefaultRules(r *arm.Request) (*arm.Response, error) {
	g, err := pr.loadNSG(r)
	if err != nil {
		return nil, err
	}
	return arm.PageOK(r, g.Properties.DefaultSecurityRules, 1000)
}

func findRule(rules []Rule, name string) int {
	for i := range rules {
		if strings.EqualFold(rules[i].Name, name) {
			return i
		}
	}
	return -1
}

func (pr *Provider) getRule(r *arm.Request) (*arm.Response, error) {
	g, err := pr.loadNSG(r)
	if err != nil {
		return nil, err
	}
	i := findRule(g.Properties.SecurityRules, r.Param("securityRuleName"))
	if i < 0 {
		gid, _ := arm.ParseID(g.ID)
		return nil, resource.NotFound(gid.Child("securityRules", r.Param("securityRuleName")))
	}
	return arm.OK(g.Properties.SecurityRules[i]), nil
}

func (pr *Provider) getDefaultRule(r *arm.Request) (*arm.Response, error) {
	g, err := pr.loadNSG(r)
	if err != nil {
		return nil, err
	}
	i := findRule(g.Properties.DefaultSecurityRules, r.Param("defaultSecurityRuleName"))
	if i < 0 {
		gid, _ := arm.ParseID(g.ID)
		return nil, resource.NotFound(gid.Child("defaultSecurityRules", r.Param("defaultSecurityRuleName")))
	}
	return arm.OK(g.Properties.DefaultSecurityRules[i]), nil
}

func (pr *Provider) putRule(r *arm.Request) (*arm.Response, error) {
	gid := idIn(r, "networkSecurityGroups", r.Param("networkSecurityGroupName"))
	var in ruleIn
	if err := r.Decode(&in); err != nil {
		return nil, err
	}
	in.Name = r.Param("securityRuleName")
	rule, err := ruleFrom(gid.String(), in)
	if err != nil {
		return nil, err
	}
	return pr.write(r, gid.Child("securityRules", in.Name).String(), func(b *batch) (any, string, bool, error) {
		g, err := b.nsg(gid)
		if err != nil {
			return nil, "", false, err
		}
		rule.ID = g.ID + "/securityRules/" + in.Name
		i := findRule(g.Properties.SecurityRules, in.Name)
		created := i < 0
		if created {
			g.Properties.SecurityRules = append(g.Properties.SecurityRules, rule)
			i = len(g.Properties.SecurityRules) - 1
		} else {
			rule.Name = g.Properties.SecurityRules[i].Name
			rule.ID = g.Properties.SecurityRules[i].ID
			g.Properties.SecurityRules[i] = rule
		}
		if err := checkRules(g.Properties.SecurityRules); err != nil {
			return nil, "", false, err
		}
		b.touch(gid.String())
		return &g.Properties.SecurityRules[i], g.Location, created, nil
	})
}

func (pr *Provider) deleteRule(r *arm.Request) (*arm.Response, error) {
	gid := idIn(r, "networkSecurityGroups", r.Param("networkSecurityGroupName"))
	name := r.Param("securityRuleName")
	return pr.remove(r, gid.Child("securityRules", name).String(), func(b *batch) (string, bool, error) {
		g, err := b.nsg(gid)
		if arm.IsNotFound(err) {
			return "", false, nil
		} else if err != nil {
			return "", false, err
		}
		i := findRule(g.Properties.SecurityRules, name)
		if i < 0 {
			return "", false, nil
		}
		g.Properties.SecurityRules = append(g.Properties.SecurityRules[:i:i], g.Properties.SecurityRules[i+1:]...)
		b.touch(gid.String())
		return g.Location, true, nil
	})
}

// nsgRef loads the security group a reference names for the resource by
// in location (marked changed: the caller adds by to it).
func (pr *Provider) nsgRef(b *batch, ref, by, location string) (*NSG, error) {
	gid, err := arm.ParseID(ref)
	if err != nil || !gid.IsType(nsgType) {
		return nil, arm.BadRequest("InvalidRequestFormat", "Cannot parse the request: '%s' is not a network security group id (/subscriptions/{id}/resourceGroups/{group}/providers/Microsoft.Network/networkSecurityGroups/{name}).", ref)
	}
	g, err := b.nsg(gid)
	if arm.IsNotFound(err) || err == nil && !strings.EqualFold(g.Location, location) {
		return nil, refNotFound(ref, by)
	} else if err != nil {
		return nil, err
	}
	b.touch(gid.String())
	return g, nil
}

// unrefNSG removes by from the resources that use the security group ref
// (gone already: nothing to do).
func (pr *Provider) unrefNSG(b *batch, ref, by string) {
	gid, err := arm.ParseID(ref)
	if err != nil {
		return
	}
	g, err := b.nsg(gid)
	if err != nil {
		return
	}
	g.Properties.Subnets = dropRef(g.Properties.Subnets, by)
	g.Properties.NetworkInterfaces = dropRef(g.Properties.NetworkInterfaces, by)
	b.touch(gid.String())
}
