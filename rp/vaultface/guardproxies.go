package vaultface

import (
	"context"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// GuardProxies serves a vault's resource guard proxies (at most one), which
// link the vault to a resource guard (Microsoft.DataProtection/resourceGuards);
// from then on resource.CheckCritical guards the vault's critical operations.
// Both vault kinds serve them alike under their vault's path.
type GuardProxies struct {
	Platform *resource.Platform
	// Namespace is the vault's namespace (the proxies' type and the
	// operation details Azure answers by request type).
	Namespace string
	// Vault resolves the vault a request addresses (NotFound when it does
	// not exist) and returns its id.
	Vault func(r *arm.Request) (arm.ResourceID, error)
	// Flag records on the vault id, in the proxy's transaction, whether a
	// guard now protects it (linked) or no longer does.
	Flag func(ctx context.Context, id arm.ResourceID) func(tx store.Tx, linked bool) error
}

// Register adds the proxy routes under the vault path vault: list, get,
// put, delete and unlockDelete.
func (g GuardProxies) Register(rt *arm.Router, vault string) {
	P := vault + "/" + resource.ProxiesChild + "/{resourceGuardProxyName}"
	rt.HandleResource(P, arm.Methods{List: g.on(g.list), Get: g.on(g.get), Put: g.on(g.put), Delete: g.on(g.delete)})
	rt.Handle("POST", P+"/unlockDelete", g.on(g.unlock))
}

// on is h as a handler: it resolves the vault the request addresses first
// and hands h the request's context, the vault's id and the proxy's name.
func (g GuardProxies) on(h func(ctx context.Context, r *arm.Request, vid arm.ResourceID, name string) (*arm.Response, error)) arm.Handler {
	return func(r *arm.Request) (*arm.Response, error) {
		vid, err := g.Vault(r)
		if err != nil {
			return nil, err
		}
		return h(r.HTTP.Context(), r, vid, r.Param("resourceGuardProxyName"))
	}
}

// ok answers 200 with body unless err.
func ok[T any](body T, err error) (*arm.Response, error) {
	if err != nil {
		return nil, err
	}
	return arm.OK(body), nil
}

func (g GuardProxies) put(ctx context.Context, r *arm.Request, vid arm.ResourceID, name string) (*arm.Response, error) {
	guard, err := resource.ProxyGuard(r.Decode, func(guard string) error { return r.CheckLinked(arm.LinkTo(resource.GuardType+"/read", guard)) })
	if err != nil {
		return nil, err
	}
	return ok(g.Platform.PutGuardProxy(ctx, vid, name, guard, g.Namespace, g.Flag(ctx, vid)))
}

func (g GuardProxies) get(ctx context.Context, r *arm.Request, vid arm.ResourceID, name string) (*arm.Response, error) {
	return ok(g.Platform.GetGuardProxy(ctx, vid, name, g.Namespace))
}

func (g GuardProxies) list(ctx context.Context, r *arm.Request, vid arm.ResourceID, _ string) (*arm.Response, error) {
	all, err := g.Platform.ListGuardProxies(ctx, vid, g.Namespace)
	return ok(arm.Values(all), err)
}

func (g GuardProxies) delete(ctx context.Context, r *arm.Request, vid arm.ResourceID, name string) (*arm.Response, error) {
	found, err := g.Platform.DeleteGuardProxy(ctx, vid, name, g.Flag(ctx, vid))
	switch {
	case err != nil:
		return nil, err
	case !found:
		return arm.NoContent(), nil
	}
	return arm.OK(nil), nil
}

func (g GuardProxies) unlock(ctx context.Context, r *arm.Request, vid arm.ResourceID, name string) (*arm.Response, error) {
	return ok(g.Platform.UnlockGuardProxy(ctx, vid, name, r.Decode, r.Allowed))
}
