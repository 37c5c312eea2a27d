package resources

import (
	"encoding/json"
	"regexp"
	"strings"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// The $filter of a resource list (ARM's Resources - List): conditions
// joined with "and", each one of
//
//	resourceGroup|name|location|resourceType eq|ne 'v'
//	tagName eq 'n', tagValue eq 'v' (with a tagName)
//	substringof('v', name|resourceGroup)
//	startswith(tagName, 'p')
//
// which is what az resource list sends for -g, -n, -l, --resource-type
// and --tag.
var (
	filterAndRE  = regexp.MustCompile(`(?i)\s+and\s+`)
	filterCmpRE  = regexp.MustCompile(`(?i)^(resourceGroup|name|location|resourceType|tagName|tagValue)\s+(eq|ne)\s+'((?:[^']|'')*)'$`)
	filterFuncRE = regexp.MustCompile(`(?i)^(substringof|startswith)\(\s*(?:'((?:[^']|'')*)'\s*,\s*(name|resourceGroup)|(tagName)\s*,\s*'((?:[^']|'')*)')\s*\)$`)
)

// resourceCond is one condition of a resource list's $filter.
type resourceCond struct {
	prop  string // resourcegroup, name, location, resourcetype, tagname, tagvalue (lower case)
	op    string // eq, ne, substringof, startswith
	value string
}

// resourceFilter is a parsed $filter (nil: none).
type resourceFilter []resourceCond

// parseResourceFilter parses f; a 400 InvalidFilterInQueryString says what
// is supported when it is not.
func parseResourceFilter(f string) (resourceFilter, error) {
	f = strings.TrimSpace(f)
	if f == "" {
		return nil, nil
	}
	bad := func() error {
		return arm.BadRequest("InvalidFilterInQueryString", "The $filter '%s' is not supported. Join with 'and' any of: resourceGroup, name, location or resourceType eq|ne '{value}'; tagName eq '{name}' [and tagValue eq '{value}']; substringof('{text}', name|resourceGroup); startswith(tagName, '{prefix}').", f)
	}
	var out resourceFilter
	tagName, tagValue := false, false
	for _, c := range filterAndRE.Split(f, -1) {
		c = strings.TrimSpace(c)
		if strings.HasPrefix(c, "(") && strings.HasSuffix(c, ")") {
			c = strings.TrimSpace(c[1 : len(c)-1])
		}
		if m := filterCmpRE.FindStringSubmatch(c); m != nil {
			prop := strings.ToLower(m[1])
			if (prop == "tagname" || prop == "tagvalue") && strings.EqualFold(m[2], "ne") {
				return nil, bad()
			}
			tagName = tagName || prop == "tagname"
			tagValue = tagValue || prop == "tagvalue"
			out = append(out, resourceCond{prop, strings.ToLower(m[2]), strings.ReplaceAll(m[3], "''", "'")})
			continue
		}
		if m := filterFuncRE.FindStringSubmatch(c); m != nil {
			fn := strings.ToLower(m[1])
			if fn == "substringof" && m[3] != "" {
				out = append(out, resourceCond{strings.ToLower(m[3]), fn, strings.ReplaceAll(m[2], "''", "'")})
				continue
			}
			if fn == "startswith" && m[4] != "" {
				tagName = true
				out = append(out, resourceCond{"tagname", fn, strings.ReplaceAll(m[5], "''", "'")})
				continue
			}
		}
		return nil, bad()
	}
	if tagValue && !tagName {
		return nil, arm.BadRequest("InvalidFilterInQueryString", "The $filter '%s' is not supported: tagValue needs a tagName (tagName eq '{name}' and tagValue eq '{value}').", f)
	}
	return out, nil
}

// typ is the resource type the filter asks for with resourceType eq ("":
// any), which the store's list selects by.
func (f resourceFilter) typ() string {
	for _, c := range f {
		if c.prop == "resourcetype" && c.op == "eq" {
			return c.value
		}
	}
	return ""
}

// match reports whether g (of resource group rg) meets every condition.
func (f resourceFilter) match(g *genericResource, rg string) bool {
	var tagNames []string // the tags a tagName condition picked
	for _, c := range f {
		var have string
		switch c.prop {
		case "resourcegroup":
			have = rg
		case "name":
			have = g.Name
		case "location":
			if c.op == "eq" || c.op == "ne" {
				if (resource.NormLocation(g.Location) == resource.NormLocation(c.value)) != (c.op == "eq") {
					return false
				}
				continue
			}
		case "resourcetype":
			have = g.Type
		case "tagname":
			tagNames = tagNames[:0]
			for k := range g.Tags {
				if c.op == "eq" && strings.EqualFold(k, c.value) || c.op == "startswith" && strings.HasPrefix(strings.ToLower(k), strings.ToLower(c.value)) {
					tagNames = append(tagNames, k)
				}
			}
			if len(tagNames) == 0 {
				return false
			}
			continue
		case "tagvalue":
			continue // below, with its tagName
		}
		switch c.op {
		case "eq", "ne":
			if strings.EqualFold(have, c.value) != (c.op == "eq") {
				return false
			}
		case "substringof":
			if !strings.Contains(strings.ToLower(have), strings.ToLower(c.value)) {
				return false
			}
		}
	}
	for _, c := range f {
		if c.prop != "tagvalue" {
			continue
		}
		found := false
		for _, k := range tagNames {
			found = found || g.Tags[k] == c.value
		}
		if !found {
			return false
		}
	}
	return true
}

// expand adds to g the properties $expand asks for (az resource list asks
// for createdTime,changedTime,provisioningState): from its systemData
// (else when it was stored) and its properties.provisioningState.
func expand(g *genericResource, d *store.Doc, what string) {
	if what == "" {
		return
	}
	var extra struct {
		SystemData *struct {
			CreatedAt      *time.Time `json:"createdAt"`
			LastModifiedAt *time.Time `json:"lastModifiedAt"`
		} `json:"systemData"`
		Properties struct {
			ProvisioningState string `json:"provisioningState"`
		} `json:"properties"`
	}
	_ = json.Unmarshal(d.Value, &extra) // a document that does not decode expands to nothing more
	created, changed := d.Created, d.Updated
	if sd := extra.SystemData; sd != nil && sd.CreatedAt != nil {
		created = *sd.CreatedAt
		if sd.LastModifiedAt != nil {
			changed = *sd.LastModifiedAt
		}
	}
	for _, w := range strings.Split(what, ",") {
		switch strings.ToLower(strings.TrimSpace(w)) {
		case "createdtime":
			if !created.IsZero() {
				t := created.UTC()
				g.CreatedTime = &t
			}
		case "changedtime":
			if !changed.IsZero() {
				t := changed.UTC()
				g.ChangedTime = &t
			}
		case "provisioningstate":
			g.ProvisioningState = extra.Properties.ProvisioningState
			if g.ProvisioningState == "" {
				g.ProvisioningState = "Succeeded"
			}
		}
	}
}
