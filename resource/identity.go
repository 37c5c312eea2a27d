package resource

import (
	"context"
	"errors"
	"sort"
	"strings"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/failure"
	"github.com/safehold/safehold/identity"
	"github.com/safehold/safehold/store"
)

// Managed identities of vaults (both kinds)
//
// identity.type is None, SystemAssigned, UserAssigned or SystemAssigned with
// UserAssigned (any case, spaces ignored; answered in the spelling of the
// vault kind's spec: IdentityKinds.Both). userAssignedIdentities maps ARM ids
// of Microsoft.ManagedIdentity/userAssignedIdentities to {}.
//
// Safehold does not serve Microsoft.ManagedIdentity, so a user-assigned
// identity cannot be looked up: any well-formed id is accepted (the faces
// authorize the caller's assign action on it, as Azure's linked check does)
// and gets a managed-identity principal in the directory, one per id, shared
// by every vault naming it and never deleted with a vault, answered as its
// principalId and clientId so that role assignments can target it.

// TypeUserAssignedIdentity is the resource type of user-assigned identities.
const TypeUserAssignedIdentity = "Microsoft.ManagedIdentity/userAssignedIdentities"

// AssignIdentity is the action a caller needs on a user-assigned identity
// to give it to a resource (ARM's linked check).
const AssignIdentity = TypeUserAssignedIdentity + "/assign/action"

// uamiKind indexes the directory principal of each user-assigned identity:
// key = lower-case ARM id, value = the principal's object id. (The kind
// keeps the name it had when only Backup vaults had such identities.)
const uamiKind = "dataprotection.userAssignedIdentity"

// Identity is a resource's managed identity on the wire.
type Identity struct {
	Type                   string                   `json:"type"`
	PrincipalID            string                   `json:"principalId,omitempty"`
	TenantID               string                   `json:"tenantId,omitempty"`
	UserAssignedIdentities map[string]*UserIdentity `json:"userAssignedIdentities,omitempty"`
}

// UserIdentity is a value of userAssignedIdentities: {} (or null in a PATCH,
// to remove it) on input; principalId and clientId on output.
type UserIdentity struct {
	PrincipalID string `json:"principalId,omitempty"`
	ClientID    string `json:"clientId,omitempty"`
}

// IdentityKinds is how a vault kind spells the identity type with both
// kinds ("SystemAssigned,UserAssigned" for Backup vaults, "SystemAssigned,
// UserAssigned" for Recovery Services vaults).
type IdentityKinds struct{ Both string }

// ParseIdentityType canonicalises identity.type ("" is None).
func (k IdentityKinds) ParseIdentityType(t string) (typ string, system, user bool, err error) {
	switch strings.ToLower(strings.ReplaceAll(t, " ", "")) {
	case "", "none":
		return "None", false, false, nil
	case "systemassigned":
		return "SystemAssigned", true, false, nil
	case "userassigned":
		return "UserAssigned", false, true, nil
	case "systemassigned,userassigned", "userassigned,systemassigned":
		return k.Both, true, true, nil
	}
	return "", false, false, invalidField("identity.type", "'%s' is not supported; allowed values: 'None', 'SystemAssigned', 'UserAssigned', '%s'", t, k.Both)
}

// invalidField is a 400 InvalidRequestContent about field (its target).
func invalidField(field, format string, args ...any) error {
	e := failure.Invalidf("InvalidRequestContent", field+": "+format, args...)
	e.Target = field
	return e
}

// CheckUserAssignedID checks that id is a user-assigned identity's ARM id.
func CheckUserAssignedID(field, id string) error {
	rid, err := arm.ParseID(id)
	if err != nil || !rid.IsType(TypeUserAssignedIdentity) || rid.SubscriptionID == "" || rid.ResourceGroup == "" {
		return invalidField(field, "'%s' is not a user-assigned identity id (/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name})", id)
	}
	return nil
}

// UserAssignedIDs are the user-assigned identity ids an identity names, in
// order (for the faces' linked checks).
func (id *Identity) UserAssignedIDs() []string {
	if id == nil {
		return nil
	}
	ids := make([]string, 0, len(id.UserAssignedIdentities))
	for uid := range id.UserAssignedIdentities {
		ids = append(ids, uid)
	}
	sort.Strings(ids)
	return ids
}

// FindKey is the key of m equal to k but for case.
func FindKey[V any](m map[string]V, k string) (string, bool) {
	for x := range m {
		if strings.EqualFold(x, k) {
			return x, true
		}
	}
	return "", false
}

// DropOwner deletes, in tx, a resource that may own a managed identity (a
// vault of either face): the system-assigned principal of its identity
// (ident; nil or without one: none), what kept (each of them, such as
// protection.DeleteJobs, gets the resource's id) holds of it elsewhere,
// every resource under it and its own document.
func (p *Platform) DropOwner(ctx context.Context, tx store.Tx, id arm.ResourceID, ident *Identity, kept ...func(context.Context, store.Tx, string) error) error {
	if ident != nil && ident.PrincipalID != "" && p.Dir != nil {
		if err := p.dropPrincipal(ctx, tx, ident.PrincipalID); err != nil {
			return err
		}
	}
	for _, drop := range kept {
		if err := drop(ctx, tx, id.String()); err != nil {
			return err
		}
	}
	if err := DropUnder(ctx, tx, id); err != nil {
		return err
	}
	return Delete(ctx, tx, id)
}

// dropPrincipal deletes a system-assigned identity's principal; one gone
// already is no error.
func (p *Platform) dropPrincipal(ctx context.Context, tx store.Tx, objectID string) error {
	if err := p.Dir.Delete(ctx, tx, objectID); err != nil && !errors.Is(err, store.ErrNotFound) && !failure.Is(err, failure.NotFound) {
		return err
	}
	return nil
}

// SetIdentity computes a resource's identity from a request's identity
// (nil: None), keeping the system-assigned principal across updates and
// deleting it when dropped. merge (PATCH) adds the given user-assigned
// identities to the old ones and removes those given as null; otherwise the
// given set replaces the old one.
func (p *Platform) SetIdentity(ctx context.Context, tx store.Tx, kinds IdentityKinds, ownerID string, old, in *Identity, merge bool) (*Identity, error) {
	var reqType string
	var reqUAs map[string]*UserIdentity
	if in != nil {
		reqType, reqUAs = in.Type, in.UserAssignedIdentities
	}
	if merge && reqType == "" && old != nil {
		// A PATCH's identity without a type (`{}`, a type of null, or
		// user-assigned ids alone) keeps the type it has, as ARM's PATCH
		// merges: it was None, which deleted the system-assigned
		// principal and its role assignments.
		reqType = old.Type
	}
	typ, system, user, err := kinds.ParseIdentityType(reqType)
	if err != nil {
		return nil, err
	}
	uas := map[string]*UserIdentity{}
	if merge && old != nil {
		for k, v := range old.UserAssignedIdentities {
			uas[k] = v
		}
	}
	keys := make([]string, 0, len(reqUAs))
	for k := range reqUAs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if prev, ok := FindKey(uas, k); ok {
			delete(uas, prev)
		}
		if reqUAs[k] == nil && merge {
			continue
		}
		if err := CheckUserAssignedID("identity.userAssignedIdentities['"+k+"']", k); err != nil {
			return nil, err
		}
		uas[k] = &UserIdentity{}
	}
	if !user && len(reqUAs) > 0 {
		return nil, invalidField("identity.userAssignedIdentities", "is given but identity.type '%s' has no user-assigned identities; use 'UserAssigned' or '%s'", typ, kinds.Both)
	}
	if user && len(uas) == 0 {
		return nil, invalidField("identity.userAssignedIdentities", "is required when identity.type is '%s': {\"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}\": {}}", typ)
	}
	out := &Identity{Type: typ}
	hasOld := old != nil && old.PrincipalID != ""
	switch {
	case system && hasOld:
		out.PrincipalID, out.TenantID = old.PrincipalID, old.TenantID
	case system:
		pl, err := p.Dir.CreateManagedIdentity(ctx, tx, ownerID)
		if err != nil {
			return nil, err
		}
		out.PrincipalID, out.TenantID = pl.ObjectID, pl.TenantID
	case hasOld:
		if err := p.dropPrincipal(ctx, tx, old.PrincipalID); err != nil {
			return nil, err
		}
	}
	if user {
		for k := range uas {
			pl, err := p.userAssignedPrincipal(ctx, tx, k)
			if err != nil {
				return nil, err
			}
			uas[k] = &UserIdentity{PrincipalID: pl.ObjectID, ClientID: pl.AppID}
		}
		out.UserAssignedIdentities = uas
		if out.TenantID == "" {
			out.TenantID = p.TenantID
		}
	}
	return out, nil
}

// userAssignedPrincipal returns the directory principal standing for a
// user-assigned identity, creating it the first time the id is named.
func (p *Platform) userAssignedPrincipal(ctx context.Context, tx store.Tx, armID string) (*identity.Principal, error) {
	key := strings.ToLower(armID)
	d, err := tx.Get(ctx, uamiKind, key)
	if err == nil {
		if pl, err := p.Dir.Get(ctx, string(d.Value)); err == nil {
			return pl, nil
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	var found *identity.Principal
	all, err := p.Dir.List(ctx, identity.KindManagedIdentity)
	if err != nil {
		return nil, err
	}
	for _, pl := range all {
		if strings.EqualFold(pl.ResourceID, armID) {
			found = pl
			break
		}
	}
	if found == nil {
		if found, err = p.Dir.CreateManagedIdentity(ctx, tx, armID); err != nil {
			return nil, err
		}
	}
	if err := tx.Put(ctx, store.Doc{Kind: uamiKind, Key: key, Value: []byte(found.ObjectID)}); err != nil {
		return nil, err
	}
	return found, nil
}
