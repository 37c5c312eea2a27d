package recoveryservices

import (
	"context"
	"strings"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/rp/vaultface"
	"github.com/safehold/safehold/store"
)

// A Recovery Services vault's resource guard proxy (at most one) links it
// to a resource guard (Microsoft.DataProtection/resourceGuards); from then
// on resource.CheckCritical guards the vault's critical operations
// (guarded). Azure answers each operation detail by its request type. The
// proxies' routes are vaultface.GuardProxies, as the Backup vaults' are.

func (pr *Provider) registerProxies(rt *arm.Router, R string) {
	vaultface.GuardProxies{Platform: pr.p, Namespace: namespace, Vault: pr.foundVaultID, Flag: pr.flagMUA}.Register(rt, R)
}

// guarded authorizes the critical operation vaultOp on the vault vid
// against the vault's resource guard (resource.CheckCritical).
func (pr *Provider) guarded(r *arm.Request, vid arm.ResourceID, vaultOp string, requests []string) error {
	return resource.CheckCritical(r.HTTP.Context(), pr.p.Store, vid.String(), vaultOp, requests, r.Allowed)
}

// The Recovery Services vault's critical operations (resource.GuardOperations).
const (
	opGuardDeleteItem  = "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems/delete"
	opGuardUpdateItem  = "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems/write"
	opGuardPolicy      = "Microsoft.RecoveryServices/vaults/backupPolicies/write"
	opGuardSecurityPIN = "Microsoft.RecoveryServices/vaults/backupSecurityPIN/action"
	opGuardSoftDelete  = "Microsoft.RecoveryServices/vaults/backupconfig/write"
)

// guardUpdate authorizes vaultOp when it changes the existing resource id
// (creating one is not critical).
func (pr *Provider) guardUpdate(r *arm.Request, vid, id arm.ResourceID, vaultOp string) error {
	ok, err := resource.Exists(r.HTTP.Context(), pr.p.Store, id.String())
	if err != nil || !ok {
		return err
	}
	return pr.guarded(r, vid, vaultOp, nil)
}

// guardVaultConfig authorizes turning soft delete off (old and cur are the
// vault config's properties before and after the write; sent what the
// request sent).
func (pr *Provider) guardVaultConfig(r *arm.Request, vid arm.ResourceID, old, cur, sent map[string]any) error {
	if old["softDeleteFeatureState"] == "Disabled" || cur["softDeleteFeatureState"] != "Disabled" && !shortened(old, cur) {
		return nil
	}
	return pr.guarded(r, vid, opGuardSoftDelete, guardRequests(sent))
}

// shortened: the config's soft-delete retention is shorter in cur than in
// old (a weakening the guard protects as turning soft delete off).
func shortened(old, cur map[string]any) bool {
	days := func(m map[string]any) float64 {
		switch d := m["softDeleteRetentionPeriodInDays"].(type) {
		case float64:
			return d
		case int:
			return float64(d)
		case int64:
			return float64(d)
		}
		return 14
	}
	return days(cur) < days(old)
}

// guardImmutability authorizes turning a vault's immutability off (from
// Unlocked in old to Disabled in new, its properties), Azure's "disable
// security features", guarded as turning soft delete off.
func (pr *Provider) guardImmutability(r *arm.Request, vid arm.ResourceID, old, new map[string]any) error {
	if !strings.EqualFold(immutabilityOf(old), "Unlocked") || !strings.EqualFold(immutabilityOf(new), "Disabled") {
		return nil
	}
	return pr.guarded(r, vid, opGuardSoftDelete, guardRequests(new))
}

// guardRequests is the resourceGuardOperationRequests of m (a request's
// properties), its strings.
func guardRequests(m map[string]any) []string {
	var requests []string
	if l, ok := m["resourceGuardOperationRequests"].([]any); ok {
		for _, q := range l {
			if s, ok := q.(string); ok {
				requests = append(requests, s)
			}
		}
	}
	return requests
}

// markMUA sets the vault's securitySettings.multiUserAuthorization
// (Enabled while a resource guard protects it, Disabled otherwise), in tx.
func markMUA(ctx context.Context, tx store.Tx, id arm.ResourceID, v *vaultRecord) error {
	px, err := resource.GuardProxyOf(ctx, tx, id.String())
	if err != nil {
		return err
	}
	if v.Properties == nil {
		v.Properties = map[string]any{}
	}
	ss, _ := v.Properties["securitySettings"].(map[string]any)
	if ss == nil {
		ss = map[string]any{}
		v.Properties["securitySettings"] = ss
	}
	ss["multiUserAuthorization"] = map[bool]string{true: "Enabled", false: "Disabled"}[px != nil]
	return nil
}

// flagMUA records on the vault, in the proxy's transaction, that a guard
// now protects it or no longer does.
func (pr *Provider) flagMUA(ctx context.Context, id arm.ResourceID) func(tx store.Tx, linked bool) error {
	return func(tx store.Tx, _ bool) error {
		v, err := pr.loadVault(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := markMUA(ctx, tx, id, v); err != nil {
			return err
		}
		return resource.Put(ctx, tx, id, v)
	}
}
