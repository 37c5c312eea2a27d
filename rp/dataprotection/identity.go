package dataprotection

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/identity"
	"github.com/safehold/safehold/store"
)

// Vault identities
//
// identity.type is None, SystemAssigned, UserAssigned or
// "SystemAssigned,UserAssigned" (any case, spaces ignored; answered in this
// canonical form). userAssignedIdentities maps ARM ids of
// Microsoft.ManagedIdentity/userAssignedIdentities to {}; Safehold does not
// serve that resource type, so any well-formed id is accepted and gets a
// managed-identity principal in the directory (one per id, shared by every
// vault naming it, never deleted with a vault), answered as its principalId
// and clientId so that role assignments can target it.
//
// The identity used for permission checks (validateForBackup, protection,
// backups, restores) is the vault's system identity when it has one and the
// backup instance does not say useSystemAssignedIdentity:false; otherwise the
// user-assigned identity named by the instance's
// identityDetails.userAssignedIdentityArmUrl, else the vault's first one (in
// id order).

const typeUserAssignedIdentity = "Microsoft.ManagedIdentity/userAssignedIdentities"

// uamiKind indexes the directory principal of each user-assigned identity:
// key = lower-case ARM id, value = the principal's object id.
const uamiKind = "dataprotection.userAssignedIdentity"

// parseIdentityType canonicalises identity.type.
func parseIdentityType(t string) (typ string, system, user bool, err *arm.Error) {
	switch strings.ToLower(strings.ReplaceAll(t, " ", "")) {
	case "", "none":
		return "None", false, false, nil
	case "systemassigned":
		return "SystemAssigned", true, false, nil
	case "userassigned":
		return "UserAssigned", false, true, nil
	case "systemassigned,userassigned", "userassigned,systemassigned":
		return "SystemAssigned,UserAssigned", true, true, nil
	}
	return "", false, false, fieldError("identity.type", "'%s' is not supported; allowed values: 'None', 'SystemAssigned', 'UserAssigned', 'SystemAssigned,UserAssigned'", t)
}

// checkUserAssignedID checks that id is a user-assigned identity's ARM id.
func checkUserAssignedID(field, id string) error {
	rid, err := arm.ParseID(id)
	if err != nil || !rid.IsType(typeUserAssignedIdentity) || rid.SubscriptionID == "" || rid.ResourceGroup == "" {
		return fieldError(field, "'%s' is not a user-assigned identity id (/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name})", id)
	}
	return nil
}

func findKey[V any](m map[string]V, k string) (string, bool) {
	for x := range m {
		if strings.EqualFold(x, k) {
			return x, true
		}
	}
	return "", false
}

// setIdentity computes the vault's identity from a request's identity
// (nil: None), keeping the system-assigned principal across updates and
// deleting it when dropped. merge (PATCH) adds the given user-assigned
// identities to the vault's and removes those given as null; otherwise the
// given set replaces the old one.
func (pr *Provider) setIdentity(ctx context.Context, tx store.Tx, vaultID string, old, in *identityDetails, merge bool) (*identityDetails, error) {
	var reqType string
	var reqUAs map[string]*userAssignedIdentity
	if in != nil {
		reqType, reqUAs = in.Type, in.UserAssignedIdentities
	}
	typ, system, user, aerr := parseIdentityType(reqType)
	if aerr != nil {
		return nil, aerr
	}
	uas := map[string]*userAssignedIdentity{}
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
		if prev, ok := findKey(uas, k); ok {
			delete(uas, prev)
		}
		if reqUAs[k] == nil && merge {
			continue
		}
		if err := checkUserAssignedID("identity.userAssignedIdentities['"+k+"']", k); err != nil {
			return nil, err
		}
		uas[k] = &userAssignedIdentity{}
	}
	if !user && len(reqUAs) > 0 {
		return nil, fieldError("identity.userAssignedIdentities", "is given but identity.type '%s' has no user-assigned identities; use 'UserAssigned' or 'SystemAssigned,UserAssigned'", typ)
	}
	if user && len(uas) == 0 {
		return nil, fieldError("identity.userAssignedIdentities", "is required when identity.type is '%s': {\"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{name}\": {}}", typ)
	}
	out := &identityDetails{Type: typ}
	hasOld := old != nil && old.PrincipalID != ""
	switch {
	case system && hasOld:
		out.PrincipalID, out.TenantID = old.PrincipalID, old.TenantID
	case system:
		pl, err := pr.p.Dir.CreateManagedIdentity(ctx, tx, vaultID)
		if err != nil {
			return nil, err
		}
		out.PrincipalID, out.TenantID = pl.ObjectID, pl.TenantID
	case hasOld:
		if err := pr.p.Dir.Delete(ctx, tx, old.PrincipalID); err != nil && !isNotFound(err) {
			return nil, err
		}
	}
	if user {
		for k := range uas {
			pl, err := pr.userAssignedPrincipal(ctx, tx, k)
			if err != nil {
				return nil, err
			}
			uas[k] = &userAssignedIdentity{PrincipalID: pl.ObjectID, ClientID: pl.AppID}
		}
		out.UserAssignedIdentities = uas
		if out.TenantID == "" {
			out.TenantID = pr.p.TenantID
		}
	}
	return out, nil
}

// userAssignedPrincipal returns the directory principal standing for a
// user-assigned identity, creating it the first time the id is named.
func (pr *Provider) userAssignedPrincipal(ctx context.Context, tx store.Tx, armID string) (*identity.Principal, error) {
	key := strings.ToLower(armID)
	d, err := tx.Get(ctx, uamiKind, key)
	if err == nil {
		if pl, err := pr.p.Dir.Get(ctx, string(d.Value)); err == nil {
			return pl, nil
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	var found *identity.Principal
	all, err := pr.p.Dir.List(ctx, identity.KindManagedIdentity)
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
		if found, err = pr.p.Dir.CreateManagedIdentity(ctx, tx, armID); err != nil {
			return nil, err
		}
	}
	if err := tx.Put(ctx, store.Doc{Kind: uamiKind, Key: key, Value: []byte(found.ObjectID)}); err != nil {
		return nil, err
	}
	return found, nil
}

// instanceIdentity is a backup instance's (or restore request's) identityDetails.
type instanceIdentity struct {
	UseSystemAssignedIdentity  *bool  `json:"useSystemAssignedIdentity"`
	UserAssignedIdentityArmURL string `json:"userAssignedIdentityArmUrl"`
}

func parseInstanceIdentity(raw json.RawMessage) instanceIdentity {
	var ii instanceIdentity
	if len(raw) > 0 {
		json.Unmarshal(raw, &ii) // checked by checkInstanceIdentity on input
	}
	return ii
}

// checkInstanceIdentity checks identityDetails against the vault's identities.
func checkInstanceIdentity(vault *vaultResource, raw json.RawMessage, field string) error {
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	var ii instanceIdentity
	if err := json.Unmarshal(raw, &ii); err != nil {
		return fieldError(field, "must be {\"useSystemAssignedIdentity\": true|false, \"userAssignedIdentityArmUrl\": \"<user-assigned identity id>\"}")
	}
	if ii.UserAssignedIdentityArmURL == "" {
		return nil // the vault's identity rules pick one
	}
	f := field + ".userAssignedIdentityArmUrl"
	if err := checkUserAssignedID(f, ii.UserAssignedIdentityArmURL); err != nil {
		return err
	}
	if vault.Identity == nil {
		return fieldError(f, "'%s' is not an identity of the Backup vault '%s'; add it to the vault's identity.userAssignedIdentities first", ii.UserAssignedIdentityArmURL, vault.Name)
	}
	if _, ok := findKey(vault.Identity.UserAssignedIdentities, ii.UserAssignedIdentityArmURL); !ok {
		return fieldError(f, "'%s' is not an identity of the Backup vault '%s'; add it to the vault's identity.userAssignedIdentities first", ii.UserAssignedIdentityArmURL, vault.Name)
	}
	return nil
}

// vaultPrincipal picks the principal whose permissions an operation uses
// (see the package's identity rules above); "" if the vault has none.
func vaultPrincipal(vault *vaultResource, details json.RawMessage) string {
	id := vault.Identity
	if id == nil {
		return ""
	}
	ii := parseInstanceIdentity(details)
	useSystem := ii.UseSystemAssignedIdentity == nil || *ii.UseSystemAssignedIdentity || len(id.UserAssignedIdentities) == 0
	if id.PrincipalID != "" && useSystem {
		return id.PrincipalID
	}
	if len(id.UserAssignedIdentities) == 0 {
		return ""
	}
	if ii.UserAssignedIdentityArmURL != "" {
		if k, ok := findKey(id.UserAssignedIdentities, ii.UserAssignedIdentityArmURL); ok && id.UserAssignedIdentities[k] != nil {
			return id.UserAssignedIdentities[k].PrincipalID
		}
	}
	keys := make([]string, 0, len(id.UserAssignedIdentities))
	for k := range id.UserAssignedIdentities {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return strings.ToLower(keys[i]) < strings.ToLower(keys[j]) })
	if u := id.UserAssignedIdentities[keys[0]]; u != nil {
		return u.PrincipalID
	}
	return ""
}
