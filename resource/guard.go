package resource

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/failure"
	"github.com/safehold/safehold/store"
)

// Multi-user authorization (MUA), shared by both vault kinds: a resource
// guard (Microsoft.DataProtection/resourceGuards, served by
// rp/dataprotection) lives where the backup admin has no rights, a vault is
// linked to it by its one backupResourceGuardProxies child, and from then
// on each critical operation of the vault the guard does not exclude needs
// the caller to hold the guard's permission for that operation
// (GuardAction, checked on the guard's id). Deleting the proxy needs an
// unlockDelete first, itself authorized on the guard, used within
// UnlockWindow on the platform clock.

// GuardType is the ARM type of resource guards.
const GuardType = "Microsoft.DataProtection/resourceGuards"

// ProxiesChild is the child type name of a vault's resource guard proxies.
const ProxiesChild = "backupResourceGuardProxies"

// UnlockWindow is how long an unlockDelete lets its resource be deleted.
const UnlockWindow = 10 * time.Minute

// GuardOperation is one critical operation a guard protects: the request
// type under the guard (Microsoft.DataProtection/resourceGuards/{Request},
// also the path of its request objects) and the vault action it guards.
type GuardOperation struct {
	Request, Vault string
}

// RequestType is the operation's requestResourceType.
func (o GuardOperation) RequestType() string { return GuardType + "/" + o.Request }

// Action is what the caller needs on the guard to perform the operation.
func (o GuardOperation) Action() string { return o.RequestType() + "/action" }

// GuardOperations are the critical operations of both vault kinds, in the
// order a guard lists them.
var GuardOperations = []GuardOperation{
	{"deleteProtectedItemRequests", "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems/delete"},
	{"updateProtectedItemRequests", "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems/write"},
	{"updateProtectionPolicyRequests", "Microsoft.RecoveryServices/vaults/backupPolicies/write"},
	{"deleteResourceGuardProxyRequests", "Microsoft.RecoveryServices/vaults/backupResourceGuardProxies/delete"},
	{"getBackupSecurityPINRequests", "Microsoft.RecoveryServices/vaults/backupSecurityPIN/action"},
	{"disableSoftDeleteRequests", "Microsoft.RecoveryServices/vaults/backupconfig/write"},
	{"deleteBackupInstanceRequests", "Microsoft.DataProtection/backupVaults/backupInstances/delete"},
	{"deleteResourceGuardProxyRequests", "Microsoft.DataProtection/backupVaults/backupResourceGuardProxies/delete"},
	{"dppDisableSoftDeleteRequests", "Microsoft.DataProtection/backupVaults/write"},
	{"dppModifyPolicy", "Microsoft.DataProtection/backupVaults/backupInstances/write"},
	{"dppDisableStopProtectionRequests", "Microsoft.DataProtection/backupVaults/backupInstances/stopProtection/action"},
	{"dppDisableSuspendBackupsRequests", "Microsoft.DataProtection/backupVaults/backupInstances/suspendBackups/action"},
}

// GuardOperationFor is the operation guarding the vault action vaultOp.
func GuardOperationFor(vaultOp string) (GuardOperation, bool) {
	for _, o := range GuardOperations {
		if strings.EqualFold(o.Vault, vaultOp) {
			return o, true
		}
	}
	return GuardOperation{}, false
}

// GuardDoc is what the vaults read of a stored guard.
type GuardDoc struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Properties *struct {
		VaultCriticalOperationExclusionList []string `json:"vaultCriticalOperationExclusionList"`
	} `json:"properties"`
}

// Excludes reports whether the guard leaves vaultOp unprotected.
func (g *GuardDoc) Excludes(vaultOp string) bool {
	return g.Properties != nil && Excluded(g.Properties.VaultCriticalOperationExclusionList, vaultOp)
}

// Excluded reports whether the exclusion list leaves vaultOp unprotected.
func Excluded(list []string, vaultOp string) bool {
	for _, x := range list {
		if strings.EqualFold(x, vaultOp) {
			return true
		}
	}
	return false
}

// GuardProxyProperties are a proxy's own properties.
type GuardProxyProperties struct {
	ResourceGuardResourceID string `json:"resourceGuardResourceId"`
	LastUpdatedTime         string `json:"lastUpdatedTime"`
	Description             string `json:"description,omitempty"`
}

// GuardProxy is a vault's link to a guard as stored.
type GuardProxy struct {
	ID         string               `json:"id"`
	Name       string               `json:"name"`
	Type       string               `json:"type"`
	Properties GuardProxyProperties `json:"properties"`
	// Unlocks are the deletes unlockDelete allowed, until their expiry.
	Unlocks []GuardUnlock `json:"unlocks,omitempty"`
}

// GuardUnlock is one unlocked delete.
type GuardUnlock struct {
	Resource string    `json:"resource"`
	Until    time.Time `json:"until"`
}

// GuardProxyOf is the proxy linking vault to a guard, nil when none does.
func GuardProxyOf(ctx context.Context, r store.Reader, vault string) (*GuardProxy, error) {
	vid, err := arm.ParseID(vault)
	if err != nil {
		return nil, nil
	}
	ps, err := List[GuardProxy](ctx, r, vid.Type()+"/"+ProxiesChild, vid.String())
	if err != nil || len(ps) == 0 {
		return nil, err
	}
	return &ps[0], nil
}

// Allowed answers whether the caller may perform action on scope.
type Allowed func(action, scope string) bool

// CheckCritical authorizes the critical operation vaultOp on vault: nothing
// to check when the vault has no guard, the guard is gone or excludes the
// operation; otherwise the caller needs the operation's action on the guard
// (403 naming the guard and the action) and the resourceGuardOperationRequests
// the request carries (if any) must name that guard. A vault without a
// guard refuses requests naming one (400).
func CheckCritical(ctx context.Context, r store.Reader, vault, vaultOp string, requests []string, allowed Allowed) error {
	px, err := GuardProxyOf(ctx, r, vault)
	if err != nil {
		return err
	}
	if px == nil {
		if len(requests) > 0 {
			return failure.Invalidf("UserErrorResourceGuardNotFound", "The vault '%s' is not protected by a resource guard: leave resourceGuardOperationRequests out.", lastName(vault))
		}
		return nil
	}
	guard := px.Properties.ResourceGuardResourceID
	if err := checkRequests(guard, requests); err != nil {
		return err
	}
	op, lacks, err := lacksGuard(ctx, r, guard, vaultOp, allowed)
	if err != nil || !lacks {
		return err
	}
	return refused(vault, vaultOp, op, guard)
}

// lacksGuard reports whether the caller lacks the permission guard asks
// for vaultOp, and which operation that is: false when the guard is gone,
// excludes vaultOp or the caller holds the permission.
func lacksGuard(ctx context.Context, r store.Reader, guard, vaultOp string, allowed Allowed) (GuardOperation, bool, error) {
	g, err := loadGuard(ctx, r, guard)
	if err != nil || g == nil || g.Excludes(vaultOp) {
		return GuardOperation{}, false, err
	}
	op, ok := GuardOperationFor(vaultOp)
	return op, ok && !allowed(op.Action(), guard), nil
}

// guardedData is, per vault kind, the backup data a cascading delete (of
// the vault's resource group, or of the vault) removes with the vault, and
// the critical operation deleting that data directly is.
var guardedData = []struct {
	vault, op string
	types     []string
}{
	{"Microsoft.RecoveryServices/vaults", "Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems/delete",
		[]string{"Microsoft.RecoveryServices/vaults/backupFabrics/protectionContainers/protectedItems"}},
	{"Microsoft.DataProtection/backupVaults", "Microsoft.DataProtection/backupVaults/backupInstances/delete",
		[]string{"Microsoft.DataProtection/backupVaults/backupInstances", "Microsoft.DataProtection/backupVaults/deletedBackupInstances"}},
}

// cascadeReads are the reads CheckCascade of scope begins with (the
// server's prefetch of a group's DELETE, CheckReads).
func cascadeReads(scope string) []store.Read {
	reads := make([]store.Read, len(guardedData))
	for i, k := range guardedData {
		reads[i] = ListRead(k.vault+"/"+ProxiesChild, scope)
	}
	return reads
}

// CheckCascade authorizes a delete that cascades into everything under
// scope (a resource group, or a vault), before anything is deleted: each
// vault there linked to a guard and still holding backup data (protected
// items, backup instances, soft-deleted ones included) needs the caller to
// hold the guard's permission that deleting that data directly needs
// (CheckCritical); 403 naming the vault and the guard otherwise.
func CheckCascade(ctx context.Context, r store.Reader, scope string, allowed Allowed) error {
	for _, k := range guardedData {
		pxs, err := List[GuardProxy](ctx, r, k.vault+"/"+ProxiesChild, scope)
		if err != nil {
			return err
		}
		for _, px := range pxs {
			pid, err := arm.ParseID(px.ID)
			if err != nil {
				continue
			}
			vault := pid.Parent()
			n := 0
			for _, typ := range k.types {
				data, err := List[struct{}](ctx, r, typ, vault.String())
				if err != nil {
					return err
				}
				n += len(data)
			}
			if n == 0 {
				continue
			}
			guard := px.Properties.ResourceGuardResourceID
			op, lacks, err := lacksGuard(ctx, r, guard, k.op, allowed)
			if err != nil {
				return err
			}
			if lacks {
				return failure.New(failure.Forbidden, "UserErrorCriticalOperationUnauthorized",
					"Deleting '%s' would delete the backup data of the vault '%s' (%d protected item(s) or backup instance(s), soft-deleted ones included), which the resource guard '%s' protects: the caller needs permission to perform '%s' on the resource guard (for example the Contributor role on it, granted by its owner), as deleting that data directly does. Nothing was deleted.",
					lastName(scope), vault.Name(), n, guard, op.Action())
			}
		}
	}
	return nil
}

func refused(vault, vaultOp string, op GuardOperation, guard string) error {
	return failure.New(failure.Forbidden, "UserErrorCriticalOperationUnauthorized",
		"The operation '%s' on vault '%s' is protected by the resource guard '%s': the caller needs permission to perform '%s' on the resource guard (for example the Contributor role on it, granted by its owner).",
		vaultOp, lastName(vault), guard, op.Action())
}

// checkRequests: each resourceGuardOperationRequest names a request under
// guard ({guard}/{requestType}/{name}).
func checkRequests(guard string, requests []string) error {
	for _, q := range requests {
		rest, ok := cutPrefixFold(q, guard+"/")
		if !ok || strings.Count(rest, "/") != 1 || strings.HasPrefix(rest, "/") || strings.HasSuffix(rest, "/") {
			return failure.Invalidf("UserErrorResourceGuardOperationRequestInvalid",
				"The resource guard operation request '%s' does not name a request of the vault's resource guard '%s' (expected '%s/{requestType}/default').", q, guard, guard)
		}
	}
	return nil
}

func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return "", false
	}
	return s[len(prefix):], true
}

func loadGuard(ctx context.Context, r store.Reader, id string) (*GuardDoc, error) {
	gid, err := arm.ParseID(id)
	if err != nil {
		return nil, nil
	}
	var g GuardDoc
	if err := Get(ctx, r, gid, &g); err != nil {
		if failure.Is(err, failure.NotFound) {
			return nil, nil
		}
		return nil, err
	}
	return &g, nil
}

// LinkGuard links vault to the guard guardID with the proxy name (a vault
// has one proxy: another name is a conflict), in tx. The guard must exist.
// It returns the proxy as stored.
func LinkGuard(ctx context.Context, tx store.Tx, vault arm.ResourceID, name, guardID string, now time.Time) (*GuardProxy, bool, error) {
	gid, err := arm.ParseID(guardID)
	if err != nil || !gid.IsType(GuardType) {
		return nil, false, failure.Invalidf("InvalidResourceGuardId", "properties.resourceGuardResourceId '%s' is not the id of a resource guard (/subscriptions/{id}/resourceGroups/{group}/providers/Microsoft.DataProtection/resourceGuards/{name}).", guardID)
	}
	g, err := loadGuard(ctx, tx, gid.String())
	if err != nil {
		return nil, false, err
	}
	if g == nil {
		return nil, false, failure.NotFoundf("ResourceGuardNotFound", "The resource guard '%s' was not found.", guardID)
	}
	old, err := GuardProxyOf(ctx, tx, vault.String())
	if err != nil {
		return nil, false, err
	}
	if old != nil && !strings.EqualFold(old.Name, name) {
		return nil, false, failure.Conflictf("UserErrorResourceGuardProxyExists", "The vault '%s' is already linked to a resource guard by the proxy '%s': a vault has one resource guard proxy.", vault.Name(), old.Name)
	}
	if old != nil && !strings.EqualFold(old.Properties.ResourceGuardResourceID, g.ID) {
		return nil, false, failure.Conflictf("UserErrorResourceGuardProxyExists", "The vault '%s' is linked to the resource guard '%s': unlock and delete the proxy '%s' before linking another guard.", vault.Name(), old.Properties.ResourceGuardResourceID, old.Name)
	}
	id := vault.Child(ProxiesChild, name)
	px := &GuardProxy{ID: id.String(), Name: name, Type: id.Type()}
	if old != nil {
		px = old
	}
	px.Properties.ResourceGuardResourceID = g.ID
	px.Properties.LastUpdatedTime = now.UTC().Format(time.RFC3339Nano)
	px.Properties.Description = "Critical operations on this vault need permission on the resource guard '" + g.Name + "'."
	return px, old == nil, Put(ctx, tx, id, px)
}

// UnlockDelete records, in tx, that resourceToBeDeleted may be deleted
// until the returned time: the caller needs the guard's permission for the
// delete (the proxy's own delete, also when resourceToBeDeleted is empty,
// a backup instance's or a protected item's), and the requests must name
// the guard.
func UnlockDelete(ctx context.Context, tx store.Tx, proxy arm.ResourceID, resourceToBeDeleted string, requests []string, allowed Allowed, now time.Time) (time.Time, error) {
	var px GuardProxy
	if err := Get(ctx, tx, proxy, &px); err != nil {
		return time.Time{}, err
	}
	guard := px.Properties.ResourceGuardResourceID
	if err := checkRequests(guard, requests); err != nil {
		return time.Time{}, err
	}
	if resourceToBeDeleted == "" {
		// The proxy's own delete: az backup vault resource-guard-mapping
		// delete unlocks it with the requests alone.
		resourceToBeDeleted = proxy.String()
	}
	target, err := arm.ParseID(resourceToBeDeleted)
	if err != nil {
		return time.Time{}, failure.Invalidf("InvalidRequestContent", "resourceToBeDeleted: give the ARM id of the resource to delete (the resource guard proxy, a backup instance or a protected item); got '%s'.", resourceToBeDeleted)
	}
	vaultOp := target.Type() + "/delete"
	if strings.EqualFold(target.Type(), proxy.Type()) {
		vaultOp = proxy.Type() + "/delete"
	}
	op, ok := GuardOperationFor(vaultOp)
	if !ok {
		return time.Time{}, failure.Invalidf("InvalidRequestContent", "resourceToBeDeleted: '%s' is not a resource whose delete a resource guard protects (a resource guard proxy, a backup instance or a protected item).", resourceToBeDeleted)
	}
	g, err := loadGuard(ctx, tx, guard)
	if err != nil {
		return time.Time{}, err
	}
	if g != nil && !g.Excludes(op.Vault) && !allowed(op.Action(), guard) {
		return time.Time{}, refused(proxy.Parent().String(), op.Vault, op, guard)
	}
	until := now.Add(UnlockWindow)
	var keep []GuardUnlock
	for _, u := range px.Unlocks {
		if u.Until.After(now) && !strings.EqualFold(u.Resource, target.String()) {
			keep = append(keep, u)
		}
	}
	px.Unlocks = append(keep, GuardUnlock{Resource: target.String(), Until: until})
	return until, Put(ctx, tx, proxy, &px)
}

// ErrNotUnlocked is the failure of a delete that needed an unlockDelete.
var ErrNotUnlocked = errors.New("not unlocked")

// UnlinkGuard deletes the proxy in tx: it needs an unexpired unlockDelete
// naming it (403 otherwise).
func UnlinkGuard(ctx context.Context, tx store.Tx, proxy arm.ResourceID, now time.Time) error {
	var px GuardProxy
	if err := Get(ctx, tx, proxy, &px); err != nil {
		return err
	}
	for _, u := range px.Unlocks {
		if strings.EqualFold(u.Resource, proxy.String()) && u.Until.After(now) {
			return Delete(ctx, tx, proxy)
		}
	}
	return failure.New(failure.Forbidden, "UserErrorResourceGuardProxyLocked",
		"The resource guard proxy '%s' links the vault '%s' to the resource guard '%s': unlock its delete first (POST .../backupResourceGuardProxies/%s/unlockDelete with resourceToBeDeleted set to the proxy's id; the unlock lasts %s).",
		px.Name, proxy.Parent().Name(), px.Properties.ResourceGuardResourceID, px.Name, UnlockWindow)
}

// GuardLinks lists the proxies of any vault that link guard.
func GuardLinks(ctx context.Context, r store.Reader, guard string) ([]GuardProxy, error) {
	var out []GuardProxy
	for _, typ := range []string{"Microsoft.DataProtection/backupVaults/" + ProxiesChild, "Microsoft.RecoveryServices/vaults/" + ProxiesChild} {
		ps, err := List[GuardProxy](ctx, r, typ, "")
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			if strings.EqualFold(p.Properties.ResourceGuardResourceID, guard) {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// GuardOperationDetail is one entry of a proxy's resourceGuardOperationDetails.
type GuardOperationDetail struct {
	VaultCriticalOperation string `json:"vaultCriticalOperation"`
	DefaultResourceRequest string `json:"defaultResourceRequest"`
}

// GuardDetails are the operations the proxy's guard protects on a vault of
// namespace ns, each with its default request, named by the vault's action
// on both vault kinds: the clients find an operation's request by it (az
// backup vault resource-guard-mapping delete, and its protected policy and
// item changes and soft delete, look up
// Microsoft.RecoveryServices/vaults/backupResourceGuardProxies/delete and
// the like; Azure PowerShell the same), though the Recovery Services
// examples document the request type there.
func GuardDetails(ctx context.Context, r store.Reader, px *GuardProxy, ns string) ([]GuardOperationDetail, error) {
	guard := px.Properties.ResourceGuardResourceID
	g, err := loadGuard(ctx, r, guard)
	if err != nil {
		return nil, err
	}
	out := []GuardOperationDetail{}
	for _, o := range GuardOperations {
		if !strings.HasPrefix(strings.ToLower(o.Vault), strings.ToLower(ns)+"/") || (g != nil && g.Excludes(o.Vault)) {
			continue
		}
		out = append(out, GuardOperationDetail{VaultCriticalOperation: o.Vault, DefaultResourceRequest: guard + "/" + o.Request + "/default"})
	}
	return out, nil
}

func lastName(id string) string {
	id = strings.TrimRight(id, "/")
	return id[strings.LastIndex(id, "/")+1:]
}

// GuardProxyView is a proxy as the vaults answer it.
type GuardProxyView struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Type       string `json:"type"`
	Properties struct {
		GuardProxyProperties
		ResourceGuardOperationDetails []GuardOperationDetail `json:"resourceGuardOperationDetails"`
	} `json:"properties"`
}

// GuardProxyBody is the proxy's answer on a vault of namespace ns (both
// kinds answer the type {ns}/vaults/backupResourceGuardProxies, as Azure
// does).
func GuardProxyBody(ctx context.Context, r store.Reader, px *GuardProxy, ns string) (*GuardProxyView, error) {
	d, err := GuardDetails(ctx, r, px, ns)
	if err != nil {
		return nil, err
	}
	v := &GuardProxyView{ID: px.ID, Name: px.Name, Type: ns + "/vaults/" + ProxiesChild}
	v.Properties.GuardProxyProperties = px.Properties
	v.Properties.ResourceGuardOperationDetails = d
	return v, nil
}

// The vault faces' resource guard proxy operations: vault is the vault's
// id (found by the face), ns its namespace, flag (when set) records in tx
// whether the vault is now protected by a guard.

// PutGuardProxy links vault to guardID by the proxy name.
func (p *Platform) PutGuardProxy(ctx context.Context, vault arm.ResourceID, name, guardID, ns string, flag func(tx store.Tx, linked bool) error) (*GuardProxyView, error) {
	var out *GuardProxyView
	err := p.Store.Update(ctx, func(tx store.Tx) error {
		px, _, err := LinkGuard(ctx, tx, vault, name, guardID, p.Now())
		if err != nil {
			return err
		}
		if flag != nil {
			if err := flag(tx, true); err != nil {
				return err
			}
		}
		out, err = GuardProxyBody(ctx, tx, px, ns)
		return err
	})
	return out, err
}

// GetGuardProxy answers the proxy name of vault.
func (p *Platform) GetGuardProxy(ctx context.Context, vault arm.ResourceID, name, ns string) (*GuardProxyView, error) {
	var px GuardProxy
	if err := Get(ctx, p.Store, vault.Child(ProxiesChild, name), &px); err != nil {
		return nil, err
	}
	return GuardProxyBody(ctx, p.Store, &px, ns)
}

// ListGuardProxies answers the proxies of vault (none or one).
func (p *Platform) ListGuardProxies(ctx context.Context, vault arm.ResourceID, ns string) ([]*GuardProxyView, error) {
	out := []*GuardProxyView{}
	px, err := GuardProxyOf(ctx, p.Store, vault.String())
	if err != nil || px == nil {
		return out, err
	}
	v, err := GuardProxyBody(ctx, p.Store, px, ns)
	if err != nil {
		return nil, err
	}
	return append(out, v), nil
}

// DeleteGuardProxy unlinks vault from its guard (an unlockDelete of the
// proxy first); false when there was no such proxy.
func (p *Platform) DeleteGuardProxy(ctx context.Context, vault arm.ResourceID, name string, flag func(tx store.Tx, linked bool) error) (bool, error) {
	found := true
	err := p.Store.Update(ctx, func(tx store.Tx) error {
		err := UnlinkGuard(ctx, tx, vault.Child(ProxiesChild, name), p.Now())
		if failure.Is(err, failure.NotFound) {
			found = false
			return nil
		}
		if err != nil || flag == nil {
			return err
		}
		return flag(tx, false)
	})
	return found, err
}

// UnlockGuardProxy runs unlockDelete on the proxy name of vault with the
// request body decode reads, and answers its result (unlockDeleteExpiryTime).
func (p *Platform) UnlockGuardProxy(ctx context.Context, vault arm.ResourceID, name string, decode func(any) error, allowed Allowed) (map[string]string, error) {
	var in struct {
		ResourceGuardOperationRequests []string `json:"resourceGuardOperationRequests"`
		ResourceToBeDeleted            string   `json:"resourceToBeDeleted"`
	}
	if err := decode(&in); err != nil {
		return nil, err
	}
	var until time.Time
	err := p.Store.Update(ctx, func(tx store.Tx) error {
		var err error
		until, err = UnlockDelete(ctx, tx, vault.Child(ProxiesChild, name), in.ResourceToBeDeleted, in.ResourceGuardOperationRequests, allowed, p.Now())
		return err
	})
	if err != nil {
		return nil, err
	}
	return map[string]string{"unlockDeleteExpiryTime": until.UTC().Format(time.RFC3339Nano)}, nil
}

// ProxyGuard reads a proxy PUT's body with decode and answers the guard
// it names, once canRead (the caller's linked access to it) allows it.
func ProxyGuard(decode func(any) error, canRead func(guard string) error) (string, error) {
	var in struct {
		Properties *struct {
			ResourceGuardResourceID string `json:"resourceGuardResourceId"`
		} `json:"properties"`
	}
	if err := decode(&in); err != nil {
		return "", err
	}
	if in.Properties == nil || in.Properties.ResourceGuardResourceID == "" {
		return "", failure.Invalidf("InvalidRequestContent", "properties.resourceGuardResourceId is required: the ARM id of the resource guard to link the vault to.")
	}
	return in.Properties.ResourceGuardResourceID, canRead(in.Properties.ResourceGuardResourceID)
}
