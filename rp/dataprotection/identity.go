package dataprotection

import (
	"context"
	"encoding/json"
	"sort"
	"strings"

	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// Vault identities: resource.SetIdentity (the rules both vault kinds
// share), with the type spelled "SystemAssigned,UserAssigned".
//
// The identity used for permission checks (validateForBackup, protection,
// backups, restores) is the vault's system identity when it has one and the
// backup instance does not say useSystemAssignedIdentity:false; otherwise the
// user-assigned identity named by the instance's
// identityDetails.userAssignedIdentityArmUrl, else the vault's first one (in
// id order). An identity the instance asks for (by name, or by kind with
// useSystemAssignedIdentity) that the vault no longer has is none: the
// operation fails rather than run as another identity.

// identityKinds: a Backup vault spells the identity with both kinds
// "SystemAssigned,UserAssigned".
var identityKinds = resource.IdentityKinds{Both: "SystemAssigned,UserAssigned"}

// setIdentity is resource.SetIdentity for a Backup vault.
func (pr *Provider) setIdentity(ctx context.Context, tx store.Tx, vaultID string, old, in *identityDetails, merge bool) (*identityDetails, error) {
	return pr.p.SetIdentity(ctx, tx, identityKinds, vaultID, old, in, merge)
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
	// The identity asked for must be one the vault has: the system one
	// when it says so, a user-assigned one when it says not (vaultPrincipal
	// would otherwise run the operation as another identity than asked).
	if ii.UseSystemAssignedIdentity != nil && vault.Identity != nil {
		if *ii.UseSystemAssignedIdentity && vault.Identity.PrincipalID == "" {
			return fieldError(field+".useSystemAssignedIdentity", "is true, but the Backup vault '%s' has no system-assigned identity: add SystemAssigned to the vault's identity.type, or name one of its user-assigned identities (useSystemAssignedIdentity false, userAssignedIdentityArmUrl)", vault.Name)
		}
		if !*ii.UseSystemAssignedIdentity && len(vault.Identity.UserAssignedIdentities) == 0 {
			return fieldError(field+".useSystemAssignedIdentity", "is false, but the Backup vault '%s' has no user-assigned identity: add one to the vault's identity.userAssignedIdentities, or use its system-assigned identity (useSystemAssignedIdentity true)", vault.Name)
		}
	}
	if ii.UserAssignedIdentityArmURL == "" {
		return nil // the vault's identity rules pick one
	}
	f := field + ".userAssignedIdentityArmUrl"
	if err := resource.CheckUserAssignedID(f, ii.UserAssignedIdentityArmURL); err != nil {
		return err
	}
	if vault.Identity == nil {
		return fieldError(f, "'%s' is not an identity of the Backup vault '%s'; add it to the vault's identity.userAssignedIdentities first", ii.UserAssignedIdentityArmURL, vault.Name)
	}
	if _, ok := resource.FindKey(vault.Identity.UserAssignedIdentities, ii.UserAssignedIdentityArmURL); !ok {
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
	// An identity asked for by name or kind that the vault no longer has
	// (its identity changed after the instance was made) is none: the
	// operation does not run as another identity than asked.
	if ii.UseSystemAssignedIdentity != nil {
		if *ii.UseSystemAssignedIdentity {
			return id.PrincipalID
		}
		if len(id.UserAssignedIdentities) == 0 {
			return ""
		}
	}
	useSystem := ii.UseSystemAssignedIdentity == nil || len(id.UserAssignedIdentities) == 0
	if id.PrincipalID != "" && useSystem {
		return id.PrincipalID
	}
	if len(id.UserAssignedIdentities) == 0 {
		return ""
	}
	if ii.UserAssignedIdentityArmURL != "" {
		if k, ok := resource.FindKey(id.UserAssignedIdentities, ii.UserAssignedIdentityArmURL); ok && id.UserAssignedIdentities[k] != nil {
			return id.UserAssignedIdentities[k].PrincipalID
		}
		return ""
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
