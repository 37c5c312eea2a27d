package dataprotection

import (
	"context"
	"encoding/json"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// A Backup vault's resource guard proxy (at most one) links it to a
// resource guard (resourceguards.go); resource.CheckCritical then guards
// the vault's critical operations (guarded).

func (pr *Provider) registerProxies(rt *arm.Router, V string) {
	P := V + "/" + resource.ProxiesChild + "/{resourceGuardProxyName}"
	rt.HandleResource(P, arm.Methods{List: pr.listProxies, Get: pr.getProxy, Put: pr.putProxy, Delete: pr.deleteProxy})
	rt.Handle("POST", P+"/unlockDelete", pr.unlockProxy)
}

func (pr *Provider) putProxy(r *arm.Request) (*arm.Response, error) {
	guard, err := resource.ProxyGuard(r.Decode, func(g string) error { return r.CheckLinked(arm.LinkTo(resource.GuardType+"/read", g)) })
	if err != nil {
		return nil, err
	}
	if err := pr.checkVault(r); err != nil {
		return nil, err
	}
	out, err := pr.p.PutGuardProxy(r.HTTP.Context(), vaultIDOf(r), r.Param("resourceGuardProxyName"), guard, namespace, pr.flagGuarded(r.HTTP.Context(), vaultIDOf(r)))
	if err != nil {
		return nil, err
	}
	return arm.OK(out), nil
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

func (pr *Provider) getProxy(r *arm.Request) (*arm.Response, error) {
	if err := pr.checkVault(r); err != nil {
		return nil, err
	}
	out, err := pr.p.GetGuardProxy(r.HTTP.Context(), vaultIDOf(r), r.Param("resourceGuardProxyName"), namespace)
	if err != nil {
		return nil, err
	}
	return arm.OK(out), nil
}

func (pr *Provider) listProxies(r *arm.Request) (*arm.Response, error) {
	if err := pr.checkVault(r); err != nil {
		return nil, err
	}
	out, err := pr.p.ListGuardProxies(r.HTTP.Context(), vaultIDOf(r), namespace)
	if err != nil {
		return nil, err
	}
	return arm.OK(arm.Values(out)), nil
}

func (pr *Provider) deleteProxy(r *arm.Request) (*arm.Response, error) {
	if err := pr.checkVault(r); err != nil {
		return nil, err
	}
	found, err := pr.p.DeleteGuardProxy(r.HTTP.Context(), vaultIDOf(r), r.Param("resourceGuardProxyName"), pr.flagGuarded(r.HTTP.Context(), vaultIDOf(r)))
	if err != nil {
		return nil, err
	}
	if !found {
		return arm.NoContent(), nil
	}
	return arm.OK(nil), nil
}

func (pr *Provider) unlockProxy(r *arm.Request) (*arm.Response, error) {
	if err := pr.checkVault(r); err != nil {
		return nil, err
	}
	out, err := pr.p.UnlockGuardProxy(r.HTTP.Context(), vaultIDOf(r), r.Param("resourceGuardProxyName"), r.Decode, r.Allowed)
	if err != nil {
		return nil, err
	}
	return arm.OK(out), nil
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

// guardSoftDelete authorizes turning soft delete off (from On or AlwaysOn
// in old to Off in sec).
func (pr *Provider) guardSoftDelete(r *arm.Request, old, sec json.RawMessage, requests []string) error {
	if !parseSoftDelete(old).enabled() || parseSoftDelete(sec).enabled() {
		return nil
	}
	return pr.guarded(r, opGuardDisableSoft, requests)
}
