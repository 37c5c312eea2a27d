package arm

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// ResourceID is a parsed ARM resource id:
//
//	/subscriptions/{sub}/resourceGroups/{rg}/providers/{Namespace}/{type}/{name}[/{childType}/{childName}...]
//
// An extension resource (one under another resource's scope, such as a role
// assignment on a disk) keeps the scope it extends in Scope.
type ResourceID struct {
	SubscriptionID string
	ResourceGroup  string
	Namespace      string   // e.g. Microsoft.Compute; empty for subscriptions and resource groups
	Types          []string // e.g. [backupVaults backupInstances]
	Names          []string // one per type
	Scope          string   // for extension resources: the id of the extended scope
}

// ParseID parses an ARM resource id. Names keep their casing; static
// segments are matched case-insensitively.
func ParseID(id string) (ResourceID, error) {
	var r ResourceID
	if !strings.HasPrefix(id, "/") {
		return r, fmt.Errorf("resource id %q does not start with '/'", id)
	}
	segs := strings.Split(strings.Trim(id, "/"), "/")
	for _, s := range segs {
		if s == "" {
			return r, fmt.Errorf("resource id %q has an empty segment", id)
		}
	}
	// Extension resources: split at the last "providers" that has something before it.
	last := -1
	for i := len(segs) - 2; i > 0; i-- {
		if strings.EqualFold(segs[i], "providers") {
			last = i
			break
		}
	}
	i := 0
	if len(segs) >= 2 && strings.EqualFold(segs[0], "subscriptions") {
		r.SubscriptionID = segs[1]
		i = 2
		if len(segs) >= 4 && strings.EqualFold(segs[2], "resourceGroups") {
			r.ResourceGroup = segs[3]
			i = 4
		}
	}
	if last >= 0 && last > i {
		r.Scope = "/" + strings.Join(segs[:last], "/")
		i = last
	}
	if i == len(segs) {
		if r.SubscriptionID == "" && r.Scope == "" {
			return r, fmt.Errorf("resource id %q names no subscription", id)
		}
		return r, nil
	}
	if !strings.EqualFold(segs[i], "providers") || i+1 >= len(segs) {
		return r, fmt.Errorf("resource id %q is not of the form .../providers/{namespace}/{type}/{name}", id)
	}
	r.Namespace = segs[i+1]
	rest := segs[i+2:]
	if len(rest) == 0 {
		return r, fmt.Errorf("resource id %q names no resource type", id)
	}
	for j := 0; j < len(rest); j += 2 {
		r.Types = append(r.Types, rest[j])
		if j+1 < len(rest) {
			r.Names = append(r.Names, rest[j+1])
		}
	}
	if len(r.Names) != len(r.Types) {
		return r, fmt.Errorf("resource id %q ends with a type, not a name", id)
	}
	return r, nil
}

// Name is the last name segment (the resource group or subscription for those ids).
func (r ResourceID) Name() string {
	if len(r.Names) > 0 {
		return r.Names[len(r.Names)-1]
	}
	if r.ResourceGroup != "" {
		return r.ResourceGroup
	}
	return r.SubscriptionID
}

// Type is "Namespace/type[/childType...]".
func (r ResourceID) Type() string {
	if r.Namespace == "" {
		if r.ResourceGroup != "" {
			return "Microsoft.Resources/resourceGroups"
		}
		return "Microsoft.Resources/subscriptions"
	}
	return r.Namespace + "/" + strings.Join(r.Types, "/")
}

// QualifiedName is the resource's fully qualified name as ARM words it in
// its messages, each type followed by its name:
// "Microsoft.RecoveryServices/vaults/v1/backupResourceGuardProxies/VaultProxy".
func (r ResourceID) QualifiedName() string {
	if r.Namespace == "" || len(r.Types) != len(r.Names) {
		return r.Type() + "/" + strings.Join(r.Names, "/")
	}
	var b strings.Builder
	b.WriteString(r.Namespace)
	for i, t := range r.Types {
		b.WriteString("/" + t + "/" + r.Names[i])
	}
	return b.String()
}

// IsType reports whether the id's type equals t, case-insensitively.
func (r ResourceID) IsType(t string) bool { return strings.EqualFold(r.Type(), t) }

// String formats the id canonically.
func (r ResourceID) String() string {
	s, _ := r.format(false)
	return s
}

// Key is strings.ToLower(r.String()), the form in which stores compare ids,
// built in one allocation when the id is ASCII.
func (r ResourceID) Key() string {
	if s, ok := r.format(true); ok {
		return s
	}
	return strings.ToLower(r.String())
}

// format builds String, lower-cased when lower (ASCII letters only: false
// if the id has another byte, which strings.ToLower may change). The parts
// are copied into one buffer of the right size, then lower-cased in place in
// one pass: the store's key of every resource read (a GET's group) is made
// here, and writing it a byte at a time through a strings.Builder cost
// twice as much.
func (r ResourceID) format(lower bool) (string, bool) {
	n := len(r.Scope) + len("/subscriptions/") + len(r.SubscriptionID) + len("/resourceGroups/") + len(r.ResourceGroup) + len("/providers/") + len(r.Namespace)
	for i, t := range r.Types {
		n += 2 + len(t) + len(r.Names[i])
	}
	b := make([]byte, 0, n) // one allocation
	if r.Scope != "" {
		b = append(b, r.Scope...)
	} else if r.SubscriptionID != "" {
		b = append(append(b, "/subscriptions/"...), r.SubscriptionID...)
		if r.ResourceGroup != "" {
			b = append(append(b, "/resourceGroups/"...), r.ResourceGroup...)
		}
	}
	if r.Namespace != "" {
		b = append(append(b, "/providers/"...), r.Namespace...)
		for i, t := range r.Types {
			b = append(append(append(append(b, '/'), t...), '/'), r.Names[i]...)
		}
	}
	ascii := true
	if lower {
		for i, c := range b {
			if c >= utf8.RuneSelf {
				ascii = false
			} else if 'A' <= c && c <= 'Z' {
				b[i] = c + 'a' - 'A'
			}
		}
	}
	return unsafe.String(unsafe.SliceData(b), len(b)), ascii // b is not written again
}

// Parent is the id of the enclosing resource: the parent resource for a
// child, the extended scope for an extension resource, the resource group
// for a top-level resource.
func (r ResourceID) Parent() ResourceID {
	p := r
	if len(r.Types) > 1 {
		p.Types = r.Types[: len(r.Types)-1 : len(r.Types)-1]
		p.Names = r.Names[: len(r.Names)-1 : len(r.Names)-1]
		return p
	}
	if r.Scope != "" && len(r.Types) == 1 {
		s, err := ParseID(r.Scope)
		if err == nil {
			return s
		}
	}
	p.Namespace, p.Types, p.Names = "", nil, nil
	if len(r.Types) == 0 {
		p.ResourceGroup = ""
	}
	return p
}

// ResourceGroupID returns the id of the resource group holding r, or "" if none.
func (r ResourceID) ResourceGroupID() string {
	if r.SubscriptionID == "" || r.ResourceGroup == "" {
		return ""
	}
	return "/subscriptions/" + r.SubscriptionID + "/resourceGroups/" + r.ResourceGroup
}

// SubscriptionScope is "/subscriptions/{sub}".
func (r ResourceID) SubscriptionScope() string { return "/subscriptions/" + r.SubscriptionID }

// Child returns the id of a child resource of r.
func (r ResourceID) Child(typ, name string) ResourceID {
	c := r
	c.Types = append(append([]string(nil), r.Types...), typ)
	c.Names = append(append([]string(nil), r.Names...), name)
	return c
}

// NewID builds a top-level resource id in a resource group.
func NewID(sub, rg, namespace string, typeNamePairs ...string) ResourceID {
	r := ResourceID{SubscriptionID: sub, ResourceGroup: rg, Namespace: namespace}
	for i := 0; i+1 < len(typeNamePairs); i += 2 {
		r.Types = append(r.Types, typeNamePairs[i])
		r.Names = append(r.Names, typeNamePairs[i+1])
	}
	return r
}

// ContainsFold reports whether xs holds x, compared case-insensitively as
// ARM compares names, versions and operations.
func ContainsFold(xs []string, x string) bool {
	return slices.ContainsFunc(xs, func(y string) bool { return strings.EqualFold(x, y) })
}

// EqualIDs compares two ids case-insensitively, ignoring trailing slashes.
func EqualIDs(a, b string) bool {
	return strings.EqualFold(strings.TrimRight(a, "/"), strings.TrimRight(b, "/"))
}
