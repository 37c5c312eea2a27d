package dataprotection

import (
	"context"
	"encoding/json"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/rp/vaultface"
	"github.com/safehold/safehold/store"
)

// A Backup vault's resource guard proxy (at most one) links it to a
// resource guard (resourceguards.go); resource.CheckCritical then guards
// the vault's critical operations (guarded). The proxies' routes are
// vaultface.GuardProxies, as the Recovery Services vaults' are.

func (pr *Provider) registerProxies(rt *arm.Router, V string) {
	vault := func(r *arm.Request) (arm.ResourceID, error) { return vaultIDOf(r), pr.checkVault(r) }
	vaultface.GuardProxies{Platform: pr.p, Namespace: namespace, Vault: vault, Flag: pr.flagGuarded}.Register(rt, V)
}

// flagGuarded records on the vault whether a guard protects it
// (isVaultProtectedByResourceGuard).
func (pr *Provider) flagGuarded(ctx context.Context, id arm.ResourceID) func(tx store.Tx, linked bool) error {
	return func(tx store.Tx, linked bool) error {
		v, err := pr.loadVault(ctx, tx, id)
		if err != nil {
			return err
		}
		v.Properties.IsVaultProtectedByResourceGuard = &linked
		v.Properties.SecureScore, v.Properties.BcdrSecurityLevel = securityLevels(v)
		return resource.Put(ctx, tx, id, v)
	}
}

// guarded authorizes the critical operation vaultOp on the vault r
// addresses against the vault's resource guard (resource.CheckCritical).
func (pr *Provider) guarded(r *arm.Request, vaultOp string, requests []string) error {
	return resource.CheckCritical(r.HTTP.Context(), pr.p.Store, vaultIDOf(r).String(), vaultOp, requests, r.Allowed)
}

// The Backup vault's critical operations (resource.GuardOperations).
const (
	opGuardDeleteInstance = "Microsoft.DataProtection/backupVaults/backupInstances/delete"
	opGuardModifyInstance = "Microsoft.DataProtection/backupVaults/backupInstances/write"
	opGuardDisableSoft    = "Microsoft.DataProtection/backupVaults/write"
)

// guardedActions are the backup instance actions a guard protects.
var guardedActions = map[string]string{
	"stopProtection": "Microsoft.DataProtection/backupVaults/backupInstances/stopProtection/action",
	"suspendBackups": "Microsoft.DataProtection/backupVaults/backupInstances/suspendBackups/action",
}

// guardAction authorizes a backup instance action (its body's
// resourceGuardOperationRequests included) when a guard protects it.
func (pr *Provider) guardAction(r *arm.Request, action string) error {
	op := guardedActions[action]
	if op == "" {
		return nil
	}
	var in struct {
		ResourceGuardOperationRequests []string `json:"resourceGuardOperationRequests"`
	}
	if err := r.DecodeOptional(&in); err != nil {
		return err
	}
	return pr.guarded(r, op, in.ResourceGuardOperationRequests)
}

// guardSecurity authorizes a vault write that weakens its security
// settings (old to sec), Azure's "disable soft delete or security
// features" (dppDisableSoftDeleteRequests): soft delete turned off (from On
// or AlwaysOn), its retention shortened, or immutability turned off (from
// Unlocked to Disabled).
func (pr *Provider) guardSecurity(r *arm.Request, old, sec json.RawMessage, requests []string) error {
	if !weakensSecurity(old, sec) {
		return nil
	}
	return pr.guarded(r, opGuardDisableSoft, requests)
}

func weakensSecurity(old, sec json.RawMessage) bool {
	o, n := parseSoftDelete(old), parseSoftDelete(sec)
	if o.enabled() && (!n.enabled() || n.Days < o.Days) {
		return true
	}
	return immutabilityState(old) == "unlocked" && immutabilityState(sec) == "disabled"
}
