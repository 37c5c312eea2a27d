package compute

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// computeID is the id of the Microsoft.Compute resource of type typ
// (disks, snapshots, virtualMachines) and name in the request's resource
// group.
func computeID(r *arm.Request, typ, name string) string {
	return arm.NewID(r.Param("subscriptionId"), r.Param("resourceGroupName"), "Microsoft.Compute", typ, name).String()
}

// resourceInput is the PUT or PATCH body of a tracked resource (disks,
// snapshots, VMs): its location, its tags and its type's properties P.
type resourceInput[P any] struct {
	Location   *string           `json:"location"`
	Tags       map[string]string `json:"tags"`
	Properties *P                `json:"properties"`
}

// decoded is the handler that decodes the request's body into a T (a 400
// when it is not one) and passes it to h: the PUT and PATCH handlers of
// disks, snapshots and VMs.
func decoded[T any](h func(r *arm.Request, in T) (*arm.Response, error)) arm.Handler {
	return func(r *arm.Request) (*arm.Response, error) {
		var in T
		if err := r.Decode(&in); err != nil {
			return nil, err
		}
		return h(r, in)
	}
}

func checkRG(ctx context.Context, pr *Provider, r *arm.Request) error {
	return resource.CheckResourceGroup(ctx, store.Prefetched(ctx, pr.p.Store), r.Param("subscriptionId"), r.Param("resourceGroupName"))
}

// noneToDelete answers a DELETE of a resource that does not exist: 204, or
// 404 when its resource group does not exist either.
func noneToDelete(ctx context.Context, pr *Provider, r *arm.Request) (*arm.Response, error) {
	if err := checkRG(ctx, pr, r); err != nil {
		return nil, err
	}
	return arm.NoContent(), nil
}

// registerUnknownActions answers POST {resource}/{action} for an action the
// type does not have with a 404 naming the supported ones (instead of the
// router's "resource type could not be found"), and other methods on such
// a path as the router would.
func registerUnknownActions(rt *arm.Router, one, typ string, actions ...string) {
	rt.Handle("POST", one+"/{action}", func(r *arm.Request) (*arm.Response, error) {
		return nil, arm.Errorf(http.StatusNotFound, "ActionNotSupported", "The action '%s' is not supported for resource type '%s'. Supported actions: %s.",
			r.Param("action"), typ, strings.Join(actions, ", "))
	})
	for _, m := range []string{"GET", "PUT", "PATCH", "DELETE"} {
		rt.Handle(m, one+"/{action}", func(r *arm.Request) (*arm.Response, error) {
			return nil, arm.Errorf(http.StatusNotFound, "InvalidResourceType", "The resource type '%s' could not be found in the namespace 'Microsoft.Compute' for api version '%s'.",
				typ[strings.LastIndex(typ, "/")+1:]+"/"+r.Param("action"), r.APIVersion)
		})
	}
}

// readLink is the linked access a request needs on a resource it reads
// from (a copy's source): {type}/read on its id. An id that does not parse
// links nothing (validation answers it with a 400).
func readLink(id string) arm.Link {
	rid, err := arm.ParseID(id)
	if id == "" || err != nil || rid.Namespace == "" {
		return arm.Link{}
	}
	return arm.Link{Action: rid.Type() + "/read", Scope: rid.String()}
}

// settingRefs are the resources a disk or snapshot PUT or PATCH may name
// in the settings it keeps: the disk encryption sets (encryption's and
// securityProfile's) and the disk access (private links).
var settingRefs = []struct {
	field, key, typ, what string // settings key (or ""), field in it, resource type, Azure's name of it
}{
	{"encryption", "diskEncryptionSetId", encryptionSetType, "DiskEncryptionSet"},
	{"securityProfile", "secureVMDiskEncryptionSetId", encryptionSetType, "DiskEncryptionSet"},
	{"", "diskAccessId", diskAccessType, "DiskAccess"},
}

// settingRef is a resource a disk's or snapshot's settings name: the
// field (path) naming it, its id, its type and Azure's name of the type.
type settingRef struct{ path, id, typ, what string }

// namedRefs are the disk encryption sets and disk access settings s name
// (settingRefs); a 400 when one is not a string.
func namedRefs(s compute.Settings) ([]settingRef, error) {
	var refs []settingRef
	for _, f := range settingRefs {
		raw, path := s[f.key], "properties."+f.key
		if f.field != "" {
			var m map[string]json.RawMessage
			if json.Unmarshal(s[f.field], &m) != nil {
				continue
			}
			raw, path = m[f.key], "properties."+f.field+"."+f.key
		}
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		var id string
		if json.Unmarshal(raw, &id) != nil {
			return nil, arm.BadRequestAt(path, "InvalidParameter", "%s must be the resource id of a %s (a string), not %s.", path, f.what, raw)
		}
		refs = append(refs, settingRef{path, id, f.typ, f.what})
	}
	return refs, nil
}

// checkSettings checks settings s of a disk or snapshot PUT or PATCH: that
// the disk's (or snapshot's) properties can hold them, and what they name,
// as Azure does: first that the caller may read each (linked access,
// 403, with the request's other links more), then that each exists (400
// naming it, Azure's "DiskEncryptionSet '...' was not found."), so that
// a caller learns nothing of what exists where it has no access.
func (pr *Provider) checkSettings(r *arm.Request, s compute.Settings, snapshot bool, more ...arm.Link) error {
	if err := compute.CheckSettings(s, snapshot); err != nil {
		return err
	}
	refs, err := namedRefs(s)
	if err != nil {
		return err
	}
	if err := pr.checkRefs(r, refs, more...); err != nil {
		return err
	}
	return pr.normEncryption(r.HTTP.Context(), s)
}

// checkRefs checks the resources a request names (refs) as Azure does:
// first that the caller may read each (linked access, 403, with the
// request's other links more), then that each exists (400 naming it,
// Azure's "DiskEncryptionSet '...' was not found."), so that a caller
// learns nothing of what exists where it has no access.
func (pr *Provider) checkRefs(r *arm.Request, refs []settingRef, more ...arm.Link) error {
	links := more
	for _, ref := range refs {
		links = append(links, arm.LinkTo(ref.typ+"/read", ref.id))
	}
	if err := r.CheckLinked(links...); err != nil {
		return err
	}
	for _, ref := range refs {
		rid, err := arm.ParseID(ref.id)
		ok := err == nil && rid.IsType(ref.typ)
		if ok {
			if ok, err = resource.Exists(r.HTTP.Context(), pr.p.Store, rid.String()); err != nil {
				return err
			}
		}
		if !ok {
			return arm.BadRequestAt(ref.path, "BadRequest", "%s '%s' was not found.", ref.what, ref.id)
		}
	}
	return nil
}

// diskEncryptionTypes are the values of a disk's or snapshot's
// encryption.type (platform keys first: the default).
var diskEncryptionTypes = []string{"EncryptionAtRestWithPlatformKey", "EncryptionAtRestWithCustomerKey", "EncryptionAtRestWithPlatformAndCustomerKeys"}

// normEncryption makes the encryption setting of s (when sent) whole, as
// Azure reads it: it replaces the one stored (a diskEncryptionSetId left
// out is none); a set without a type encrypts with the set's own type
// (az disk create --disk-encryption-set sends no type); no set and no
// type is platform keys; customer keys need a set of their type, and
// platform keys take none (400 naming what to fix).
func (pr *Provider) normEncryption(ctx context.Context, s compute.Settings) error {
	raw := s["encryption"]
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var in compute.Encryption // (its types CheckSettings checked)
	if err := json.Unmarshal(raw, &in); err != nil {
		return err
	}
	typ := ""
	for _, t := range diskEncryptionTypes {
		if strings.EqualFold(t, in.Type) {
			typ = t
		}
	}
	if in.Type != "" && typ == "" {
		return arm.BadRequestAt("properties.encryption.type", "InvalidParameter", "properties.encryption.type '%s' is not supported; allowed values: %s.", in.Type, strings.Join(diskEncryptionTypes, ", "))
	}
	setType := ""
	if in.DiskEncryptionSetID != "" {
		var set encryptionSet
		rid, err := arm.ParseID(in.DiskEncryptionSetID)
		if err != nil {
			return err // (checkSettings found it)
		}
		if err := resource.Get(ctx, pr.p.Store, rid, &set); err != nil {
			return err
		}
		setType = set.Properties.EncryptionType
		if setType != diskEncryptionTypes[2] {
			setType = diskEncryptionTypes[1]
		}
	}
	switch {
	case typ == "" && setType == "":
		typ = diskEncryptionTypes[0]
	case typ == "":
		typ = setType
	case typ == diskEncryptionTypes[0] && setType != "":
		return arm.BadRequestAt("properties.encryption.diskEncryptionSetId", "InvalidParameter", "properties.encryption.type %s takes no disk encryption set: remove diskEncryptionSetId, or set the type to %s.", typ, setType)
	case typ != diskEncryptionTypes[0] && setType == "":
		return arm.BadRequestAt("properties.encryption.diskEncryptionSetId", "InvalidParameter", "properties.encryption.type %s needs a disk encryption set: set properties.encryption.diskEncryptionSetId.", typ)
	case setType != "" && typ != setType:
		return arm.BadRequestAt("properties.encryption.type", "InvalidParameter", "properties.encryption.type %s does not match the encryptionType %s of disk encryption set '%s': use %s.", typ, setType, in.DiskEncryptionSetID, setType)
	}
	out := map[string]any{"type": typ, "diskEncryptionSetId": nil} // (null: the stored one goes)
	if in.DiskEncryptionSetID != "" {
		out["diskEncryptionSetId"] = in.DiskEncryptionSetID
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	s["encryption"] = b
	return nil
}

// vmLinks are the links of the profiles a VM PUT keeps, which the caller
// must be allowed to use, as in Azure: each network interface its
// networkProfile names and each subnet its network interface
// configurations put one in (join), each key vault its osProfile's
// secrets come from (deploy).
func vmLinks(p *vmProperties) []arm.Link {
	var links []arm.Link
	add := func(action string, ids []any) {
		for _, id := range ids {
			if s, ok := id.(string); ok {
				links = append(links, arm.LinkTo(action, s))
			}
		}
	}
	add("Microsoft.Network/networkInterfaces/join/action", eachAt(p.NetworkProfile["networkInterfaces"], "id"))
	for _, ipcs := range eachAt(p.NetworkProfile["networkInterfaceConfigurations"], "properties", "ipConfigurations") {
		add("Microsoft.Network/virtualNetworks/subnets/join/action", eachAt(ipcs, "properties", "subnet", "id"))
	}
	add("Microsoft.KeyVault/vaults/deploy/action", eachAt(p.OSProfile["secrets"], "sourceVault", "id"))
	return links
}

// eachAt is the value at path (object keys) in each item of list, a
// decoded JSON array (nil where an item has none).
func eachAt(list any, path ...string) []any {
	items, _ := list.([]any)
	out := make([]any, 0, len(items))
	for _, v := range items {
		for _, k := range path {
			m, _ := v.(map[string]any)
			v = m[k]
		}
		out = append(out, v)
	}
	return out
}

// attachLink is the linked access a VM needs on a disk it attaches
// (Microsoft.Compute/disks/write: attaching changes the disk's managedBy).
func attachLink(id string) arm.Link {
	rid, err := arm.ParseID(id)
	if id == "" || err != nil || rid.Namespace == "" {
		return arm.Link{}
	}
	return arm.Link{Action: "Microsoft.Compute/disks/write", Scope: rid.String()}
}
