package compute

import (
	"bytes"
	"context"
	"encoding/json"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// Disk encryption sets (customer-managed keys) and disk accesses (private
// links): the resources a disk or snapshot names in
// encryption.diskEncryptionSetId, securityProfile.secureVMDiskEncryptionSetId
// and diskAccessId (checkSettings). Both are ARM resources kept as their
// documents; Safehold's own repository encryption protects the bytes, so a
// set's key is recorded, not used, and a disk access has no private
// endpoint connections (Safehold serves no private endpoints). A set or
// access that a disk or snapshot names cannot be deleted (409).

const (
	encryptionSetType = "Microsoft.Compute/diskEncryptionSets"
	diskAccessType    = "Microsoft.Compute/diskAccesses"
)

// encryptionSetIdentity spells identity.type with both kinds as Compute's
// spec does.
var encryptionSetIdentity = resource.IdentityKinds{Both: "SystemAssigned, UserAssigned"}

// encryptionSetTypes are the spec's values of encryptionType.
var encryptionSetTypes = []string{"EncryptionAtRestWithCustomerKey", "EncryptionAtRestWithPlatformAndCustomerKeys", "ConfidentialVmEncryptedWithCustomerKey"}

type sourceVault struct {
	ID string `json:"id,omitempty"`
}

// setKey is a set's key: its Key Vault key URL and vault.
type setKey struct {
	KeyURL      string       `json:"keyUrl"`
	SourceVault *sourceVault `json:"sourceVault,omitempty"`
}

type encryptionSetProperties struct {
	ActiveKey                         *setKey    `json:"activeKey,omitempty"`
	PreviousKeys                      []setKey   `json:"previousKeys"`
	EncryptionType                    string     `json:"encryptionType,omitempty"`
	RotationToLatestKeyVersionEnabled *bool      `json:"rotationToLatestKeyVersionEnabled,omitempty"`
	FederatedClientID                 string     `json:"federatedClientId,omitempty"`
	LastKeyRotationTimestamp          *time.Time `json:"lastKeyRotationTimestamp,omitempty"`
	ProvisioningState                 string     `json:"provisioningState"`
}

// encryptionSet is a disk encryption set as stored and answered.
type encryptionSet struct {
	arm.TrackedResource
	Identity   *resource.Identity      `json:"identity,omitempty"`
	Properties encryptionSetProperties `json:"properties"`
}

// encryptionSetInput is a set's PUT or PATCH body.
type encryptionSetInput struct {
	Location   *string            `json:"location"`
	Tags       map[string]string  `json:"tags"`
	Identity   *resource.Identity `json:"identity"`
	Properties *struct {
		ActiveKey                         *setKey `json:"activeKey"`
		EncryptionType                    *string `json:"encryptionType"`
		RotationToLatestKeyVersionEnabled *bool   `json:"rotationToLatestKeyVersionEnabled"`
		FederatedClientID                 *string `json:"federatedClientId"`
	} `json:"properties"`
}

type diskAccessProperties struct {
	PrivateEndpointConnections []any     `json:"privateEndpointConnections"`
	ProvisioningState          string    `json:"provisioningState"`
	TimeCreated                time.Time `json:"timeCreated"`
}

// diskAccess is a disk access as stored and answered.
type diskAccess struct {
	arm.TrackedResource
	ExtendedLocation json.RawMessage      `json:"extendedLocation,omitempty"`
	Properties       diskAccessProperties `json:"properties"`
}

func (pr *Provider) registerDiskRefs(rt *arm.Router) {
	set := rgPrefix + "/diskEncryptionSets/{diskEncryptionSetName}"
	rt.HandleResource(set, arm.Methods{List: listRefs[encryptionSet](pr, encryptionSetType), Get: getRef[encryptionSet](pr, encryptionSetType),
		Put: decoded(pr.putEncryptionSet(false)), Patch: decoded(pr.putEncryptionSet(true)), Delete: pr.deleteRef(encryptionSetType, "Disk encryption set")})
	rt.Handle("GET", subPrefix+"/diskEncryptionSets", listRefs[encryptionSet](pr, encryptionSetType))
	rt.Handle("GET", set+"/associatedResources", pr.associatedResources, arm.Action(encryptionSetType+"/read"))
	access := rgPrefix + "/diskAccesses/{diskAccessName}"
	rt.HandleResource(access, arm.Methods{List: listRefs[diskAccess](pr, diskAccessType), Get: getRef[diskAccess](pr, diskAccessType),
		Put: pr.putDiskAccess(false), Patch: pr.putDiskAccess(true), Delete: pr.deleteRef(diskAccessType, "Disk access")})
	rt.Handle("GET", subPrefix+"/diskAccesses", listRefs[diskAccess](pr, diskAccessType))
	rt.Handle("GET", access+"/privateLinkResources", pr.privateLinkResources, arm.Action(diskAccessType+"/read"))
	rt.Handle("GET", access+"/privateEndpointConnections", pr.privateEndpointConnections, arm.Action(diskAccessType+"/read"))
	rt.HandleResource(access+"/privateEndpointConnections/{privateEndpointConnectionName}", arm.Methods{
		Get: pr.privateEndpointConnection, Put: pr.privateEndpointConnection, Delete: pr.deletePrivateEndpointConnection})
	// A resource group's delete drops a set's system-assigned principal
	// too (after the disks naming it).
	pr.p.OnDelete(encryptionSetType, 30, pr.dropEncryptionSet)
	// And it deletes none that a disk or snapshot outside the group uses.
	pr.p.OnDeleteCheck(encryptionSetType, pr.checkDeleteRef("Disk encryption set"))
	pr.p.OnDeleteCheck(diskAccessType, pr.checkDeleteRef("Disk access"))
}

// refID is the id of the set or access the request addresses.
func refID(r *arm.Request, typ string) arm.ResourceID {
	name := r.Param("diskEncryptionSetName")
	if typ == diskAccessType {
		name = r.Param("diskAccessName")
	}
	return arm.NewID(r.Param("subscriptionId"), r.Param("resourceGroupName"), "Microsoft.Compute", typ[len("Microsoft.Compute/"):], name)
}

// listRefs lists the sets or accesses (typ, stored as T) of a resource
// group or subscription.
func listRefs[T any](pr *Provider, typ string) arm.Handler {
	return func(r *arm.Request) (*arm.Response, error) {
		scope, err := pr.listScope(r)
		if err != nil {
			return nil, err
		}
		items, err := resource.List[T](r.HTTP.Context(), pr.p.Store, typ, scope)
		if err != nil {
			return nil, err
		}
		return arm.PageOK(r, items, 1000)
	}
}

// getRef answers the set or access (typ, stored as T) the request names.
func getRef[T any](pr *Provider, typ string) arm.Handler {
	return func(r *arm.Request) (*arm.Response, error) {
		var v T
		if err := resource.Get(r.HTTP.Context(), pr.p.Store, refID(r, typ), &v); err != nil {
			return nil, err
		}
		return arm.OK(&v), nil
	}
}

// refLocation checks a new set's or access's location (required, known)
// and that an existing one's does not change.
func refLocation(in *string, old string) (string, error) {
	if in == nil || *in == "" {
		if old != "" {
			return old, nil
		}
		return "", arm.BadRequest("LocationRequired", "The location property is required for this definition.")
	}
	loc := resource.NormLocation(*in)
	if old != "" && loc != old {
		return "", arm.BadRequestAt("location", "InvalidParameter", "The resource is in location '%s'; its location cannot change to '%s'.", old, *in)
	}
	return loc, nil
}

// putEncryptionSet creates or replaces (PUT) or updates (PATCH, merge) a
// disk encryption set. As Azure's, the answer is asynchronous (202 and an
// operation, already completed: the set is written before the answer).
func (pr *Provider) putEncryptionSet(merge bool) func(*arm.Request, encryptionSetInput) (*arm.Response, error) {
	return func(r *arm.Request, in encryptionSetInput) (*arm.Response, error) {
		ctx := r.HTTP.Context()
		id := refID(r, encryptionSetType)
		if err := checkName(id.Name(), "disk encryption set"); err != nil {
			return nil, err
		}
		if in.Identity != nil {
			if err := r.CheckLinked(arm.AssignLinks(resource.AssignIdentity, in.Identity.UserAssignedIDs())...); err != nil {
				return nil, err
			}
		}
		if err := checkRG(ctx, pr, r); err != nil {
			return nil, err
		}
		now := pr.p.Now().UTC()
		var out encryptionSet
		err := pr.p.Store.Update(ctx, func(tx store.Tx) error {
			var old encryptionSet
			err := resource.Get(ctx, tx, id, &old)
			exists := err == nil
			if err != nil && !arm.IsNotFound(err) {
				return err
			}
			if merge && !exists {
				return err
			}
			loc, err := refLocation(in.Location, old.Location)
			if err != nil {
				return err
			}
			if !exists {
				if err := resource.CheckLocation(loc, encryptionSetType); err != nil {
					return err
				}
			}
			out = encryptionSet{TrackedResource: arm.TrackedResource{ID: id.String(), Name: id.Name(), Type: encryptionSetType, Location: loc, Tags: in.Tags}}
			if exists {
				out.ID, out.Name = old.ID, old.Name // (as created, whatever the path's casing)
			}
			if merge {
				out.Properties, out.Identity = old.Properties, old.Identity
				if in.Tags == nil {
					out.Tags = old.Tags
				}
			}
			if exists && !merge {
				// (a PUT naming no key keeps the set's)
				out.Properties.ActiveKey = old.Properties.ActiveKey
			}
			if p := in.Properties; p != nil {
				if p.ActiveKey != nil && p.ActiveKey.KeyURL != "" {
					out.Properties.ActiveKey = p.ActiveKey
				}
				if p.EncryptionType != nil {
					out.Properties.EncryptionType = *p.EncryptionType
				}
				if p.RotationToLatestKeyVersionEnabled != nil {
					out.Properties.RotationToLatestKeyVersionEnabled = p.RotationToLatestKeyVersionEnabled
				}
				if p.FederatedClientID != nil {
					out.Properties.FederatedClientID = *p.FederatedClientID
				}
			}
			if err := checkEncryptionSet(&out.Properties); err != nil {
				return err
			}
			if in.Identity != nil || !merge {
				ident, err := pr.p.SetIdentity(ctx, tx, encryptionSetIdentity, id.String(), old.Identity, in.Identity, merge)
				if err != nil {
					return err
				}
				out.Identity = ident
				if in.Identity == nil && ident.Type == "None" {
					out.Identity = nil
				}
			}
			// A new key (or the first) is a rotation.
			out.Properties.LastKeyRotationTimestamp = old.Properties.LastKeyRotationTimestamp
			if old.Properties.ActiveKey == nil || old.Properties.ActiveKey.KeyURL != out.Properties.ActiveKey.KeyURL {
				out.Properties.LastKeyRotationTimestamp = &now
			}
			out.Properties.PreviousKeys = []setKey{}
			out.Properties.ProvisioningState = "Succeeded"
			return resource.Put(ctx, tx, id, &out)
		})
		if err != nil {
			return nil, err
		}
		return pr.completed(r, "compute.diskEncryptionSet.write", out.ID, out.Location, &out)
	}
}

// checkEncryptionSet checks a set's properties as Azure does: an active
// key whose keyUrl is a Key Vault key's URL, and a known encryptionType
// (EncryptionAtRestWithCustomerKey when none is given).
func checkEncryptionSet(p *encryptionSetProperties) error {
	if p.ActiveKey == nil || p.ActiveKey.KeyURL == "" {
		return arm.BadRequestAt("properties.activeKey.keyUrl", "InvalidParameter",
			"properties.activeKey.keyUrl is required: the URL of a key in Azure Key Vault (https://{vault}.vault.azure.net/keys/{key}/{version}).")
	}
	if u, err := url.Parse(p.ActiveKey.KeyURL); err != nil || u.Scheme != "https" || u.Host == "" || !strings.HasPrefix(strings.ToLower(u.Path), "/keys/") {
		return arm.BadRequestAt("properties.activeKey.keyUrl", "InvalidParameter",
			"properties.activeKey.keyUrl '%s' is not the URL of a key in Azure Key Vault (https://{vault}.vault.azure.net/keys/{key}/{version}).", p.ActiveKey.KeyURL)
	}
	if sv := p.ActiveKey.SourceVault; sv != nil && sv.ID != "" {
		if rid, err := arm.ParseID(sv.ID); err != nil || !rid.IsType("Microsoft.KeyVault/vaults") {
			return arm.BadRequestAt("properties.activeKey.sourceVault.id", "InvalidParameter",
				"properties.activeKey.sourceVault.id '%s' is not the resource id of a key vault (/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.KeyVault/vaults/{name}).", sv.ID)
		}
	}
	if p.EncryptionType == "" {
		p.EncryptionType = encryptionSetTypes[0]
	}
	for _, t := range encryptionSetTypes {
		if strings.EqualFold(t, p.EncryptionType) {
			p.EncryptionType = t
			return nil
		}
	}
	return arm.BadRequestAt("properties.encryptionType", "InvalidParameter", "properties.encryptionType '%s' is not supported; allowed values: %s.",
		p.EncryptionType, strings.Join(encryptionSetTypes, ", "))
}

// putDiskAccess creates or replaces (PUT) a disk access or updates its
// tags (PATCH); asynchronous as for a set.
func (pr *Provider) putDiskAccess(patch bool) arm.Handler {
	return func(r *arm.Request) (*arm.Response, error) {
		ctx := r.HTTP.Context()
		id := refID(r, diskAccessType)
		var in struct {
			Location         *string           `json:"location"`
			Tags             map[string]string `json:"tags"`
			ExtendedLocation json.RawMessage   `json:"extendedLocation"`
		}
		if err := r.Decode(&in); err != nil {
			return nil, err
		}
		if err := checkName(id.Name(), "disk access"); err != nil {
			return nil, err
		}
		if err := checkRG(ctx, pr, r); err != nil {
			return nil, err
		}
		var out diskAccess
		err := pr.p.Store.Update(ctx, func(tx store.Tx) error {
			err := resource.Get(ctx, tx, id, &out)
			exists := err == nil
			if err != nil && (patch || !arm.IsNotFound(err)) {
				return err
			}
			loc, err := refLocation(in.Location, out.Location)
			if err != nil {
				return err
			}
			if e := bytes.TrimSpace(in.ExtendedLocation); len(e) > 0 && !bytes.Equal(e, []byte("null")) && !(exists && sameJSON(e, out.ExtendedLocation)) {
				if exists {
					return arm.Conflict("PropertyChangeNotAllowed", "Changing property 'extendedLocation' of disk access '%s' is not allowed: a disk access stays where it was created.", out.Name)
				}
				// An edge zone, which Safehold has none of (as for a disk).
				if err := resource.CheckExtendedLocation(loc, diskAccessType, e); err != nil {
					return err
				}
			}
			if !exists {
				if err := resource.CheckLocation(loc, diskAccessType); err != nil {
					return err
				}
				out = diskAccess{TrackedResource: arm.TrackedResource{ID: id.String(), Name: id.Name(), Type: diskAccessType, Location: loc},
					ExtendedLocation: in.ExtendedLocation,
					Properties:       diskAccessProperties{PrivateEndpointConnections: []any{}, TimeCreated: pr.p.Now().UTC()}}
			}
			if in.Tags != nil || !patch {
				out.Tags = in.Tags
			}
			out.Properties.ProvisioningState = "Succeeded"
			return resource.Put(ctx, tx, id, &out)
		})
		if err != nil {
			return nil, err
		}
		return pr.completed(r, "compute.diskAccess.write", out.ID, out.Location, &out)
	}
}

// deleteRef deletes a set or access that no disk or snapshot names (409
// OperationNotAllowed naming them otherwise); asynchronous as Azure's
// (202 and a completed operation), 204 when there is none.
func (pr *Provider) deleteRef(typ, what string) arm.Handler {
	return func(r *arm.Request) (*arm.Response, error) {
		ctx := r.HTTP.Context()
		id := refID(r, typ)
		var loc string
		err := pr.p.Store.Update(ctx, func(tx store.Tx) error {
			var v struct {
				arm.TrackedResource
				Identity *resource.Identity `json:"identity"`
			}
			if err := resource.Get(ctx, tx, id, &v); err != nil {
				return err
			}
			users, err := pr.referrers(ctx, tx, id)
			if err != nil {
				return err
			}
			if len(users) > 0 {
				return inUse(what, id, users)
			}
			loc = v.Location
			return pr.p.DropOwner(ctx, tx, id, v.Identity)
		})
		if arm.IsNotFound(err) {
			return noneToDelete(ctx, pr, r)
		}
		if err != nil {
			return nil, err
		}
		return pr.completed(r, "compute."+id.Types[0]+".delete", id.String(), loc, nil)
	}
}

// inUse is the 409 refusing the delete of a set or access (what) that
// disks or snapshots (users) name.
func inUse(what string, id arm.ResourceID, users []string) error {
	return arm.Conflict("OperationNotAllowed", "%s '%s' is in use by %s. Remove it from them (or delete them) before deleting the %s.",
		what, id.Name(), strings.Join(users, ", "), strings.ToLower(what))
}

// checkDeleteRef is a resource group delete's check of a set or access
// (what) in it (resource.DeleteCheck): the disks and snapshots naming it
// must all be under the group, deleted before it.
func (pr *Provider) checkDeleteRef(what string) resource.DeleteCheck {
	return func(ctx context.Context, r store.Reader, id, scope string) error {
		rid, err := arm.ParseID(id)
		if err != nil {
			return err
		}
		users, err := pr.referrers(ctx, r, rid)
		if err != nil {
			return err
		}
		prefix := strings.ToLower(strings.TrimRight(scope, "/") + "/")
		var outside []string
		for _, u := range users {
			if !strings.HasPrefix(strings.ToLower(u), prefix) {
				outside = append(outside, u)
			}
		}
		if len(outside) > 0 {
			return inUse(what, rid, outside)
		}
		return nil
	}
}

// dropEncryptionSet deletes a set with its system-assigned principal (a
// resource group's cascading delete).
func (pr *Provider) dropEncryptionSet(ctx context.Context, id string) error {
	rid, err := arm.ParseID(id)
	if err != nil {
		return err
	}
	return pr.p.Store.Update(ctx, func(tx store.Tx) error {
		var v encryptionSet
		if err := resource.Get(ctx, tx, rid, &v); err != nil {
			return err
		}
		return pr.p.DropOwner(ctx, tx, rid, v.Identity)
	})
}

// referrers are the ids of the disks and snapshots of id's subscription
// (those stored and those being created) whose settings name id.
func (pr *Provider) referrers(ctx context.Context, rd store.Reader, id arm.ResourceID) ([]string, error) {
	scope := "/subscriptions/" + id.SubscriptionID
	var users []string
	for _, typ := range []string{compute.DiskType, compute.SnapshotType} {
		type holder struct {
			ID         string           `json:"id"`
			Properties compute.Settings `json:"properties"`
		}
		stored, err := resource.List[holder](ctx, rd, typ, scope)
		if err != nil {
			return nil, err
		}
		pending, err := pr.pendingUnder(ctx, scope, typ, map[string]bool{})
		if err != nil {
			return nil, err
		}
		for _, b := range pending {
			var h holder
			if json.Unmarshal(b, &h) == nil {
				stored = append(stored, h)
			}
		}
		for _, h := range stored {
			refs, _ := namedRefs(h.Properties)
			for _, ref := range refs {
				if strings.EqualFold(strings.TrimRight(ref.id, "/"), id.String()) {
					users = append(users, h.ID)
					break
				}
			}
		}
	}
	return users, nil
}

// associatedResources lists the disks and snapshots that name a set.
func (pr *Provider) associatedResources(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	id := refID(r, encryptionSetType)
	if ok, err := resource.Exists(ctx, pr.p.Store, id.String()); err != nil {
		return nil, err
	} else if !ok {
		return nil, resource.NotFound(id)
	}
	users, err := pr.referrers(ctx, pr.p.Store, id)
	if err != nil {
		return nil, err
	}
	return arm.PageOK(r, users, 1000)
}

// privateLinkResources is a disk access's one private link resource, the
// "disks" group, as Azure's.
func (pr *Provider) privateLinkResources(r *arm.Request) (*arm.Response, error) {
	id := refID(r, diskAccessType)
	var a diskAccess
	if err := resource.Get(r.HTTP.Context(), pr.p.Store, id, &a); err != nil {
		return nil, err
	}
	return arm.OK(map[string]any{"value": []any{map[string]any{
		"id": id.String() + "/privateLinkResources/disks", "name": "disks", "type": diskAccessType + "/privateLinkResources",
		"properties": map[string]any{"groupId": "disks", "requiredMembers": []string{"diskAccess_1"}, "requiredZoneNames": []string{"privatelink.blob.core.windows.net"}},
	}}}), nil
}

// privateEndpointConnections lists a disk access's private endpoint
// connections: none (Safehold serves no private endpoints).
func (pr *Provider) privateEndpointConnections(r *arm.Request) (*arm.Response, error) {
	var a diskAccess
	if err := resource.Get(r.HTTP.Context(), pr.p.Store, refID(r, diskAccessType), &a); err != nil {
		return nil, err
	}
	return arm.PageOK(r, []any{}, 1000)
}

// privateEndpointConnection answers a read or an approval (PUT) of one of
// a disk access's private endpoint connections: it has none, so 404 naming
// the connection (404 for the access when it does not exist). These were
// 404 InvalidResourceType, as if Azure had no such type, while the list of
// that type answered.
func (pr *Provider) privateEndpointConnection(r *arm.Request) (*arm.Response, error) {
	id := refID(r, diskAccessType)
	var a diskAccess
	if err := resource.Get(r.HTTP.Context(), pr.p.Store, id, &a); err != nil {
		return nil, err
	}
	e := arm.NotFoundID(id.Child("privateEndpointConnections", r.Param("privateEndpointConnectionName")))
	e.Message += " Safehold's disk accesses have no private endpoint connections."
	return nil, e
}

// deletePrivateEndpointConnection finds nothing to delete in an access
// that exists (204).
func (pr *Provider) deletePrivateEndpointConnection(r *arm.Request) (*arm.Response, error) {
	var a diskAccess
	if err := resource.Get(r.HTTP.Context(), pr.p.Store, refID(r, diskAccessType), &a); err != nil {
		return nil, err
	}
	return arm.NoContent(), nil
}

// sameJSON reports whether a and b are the same JSON value.
func sameJSON(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
