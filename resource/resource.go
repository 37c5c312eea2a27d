// Package resource holds what every resource provider shares: the Platform
// it is built on (store, clock, operations, jobs, identities) and the generic
// storage of ARM resources as documents, with cascading deletes.
package resource

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/safehold/safehold/blob"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/failure"
	"github.com/safehold/safehold/identity"
	"github.com/safehold/safehold/job"
	"github.com/safehold/safehold/lease"
	"github.com/safehold/safehold/ops"
	"github.com/safehold/safehold/store"
)

// Platform is what resource providers are built on.
type Platform struct {
	Store    store.Store
	Clock    clock.Clock
	Ops      *ops.Manager
	Jobs     *job.Runner
	Dir      *identity.Directory
	Logger   *slog.Logger
	DataDir  string
	TenantID string
	// Authorize checks a principal's permission outside a request (e.g. a
	// vault's managed identity); nil allows everything.
	Authorize func(ctx context.Context, principalID, action, scope string) error
	// AssignedWithin reports whether a principal holds any role through an
	// assignment at scope, above it or below it (ARM lists it the
	// subscription then, whatever the role); nil: none is asked.
	AssignedWithin func(ctx context.Context, principalID, scope string) bool
	// ScopeDeleted is told when everything under a scope that needed more
	// than its document removed was deleted (role assignments there go
	// too); nil does nothing.
	ScopeDeleted func(ctx context.Context, scope string) error
	// FaultHook applies the operator's fault-injection rules (nil: none);
	// see Inject.
	FaultHook func(ctx context.Context, op, target string) error
	// OpenBlob opens the object storage under a key prefix ("snapshots",
	// "vaults/ID") when --blob is set; nil keeps repositories in DataDir.
	OpenBlob func(ctx context.Context, prefix string) (blob.Backend, error)
	// Leader is this process's campaign for the "leader" lease: singletons
	// (GC, scheduled verify) run only on the replica that leads; nil runs
	// them here (tests that build a Platform by hand).
	Leader *lease.Leader

	mu       sync.Mutex
	deleters map[string]typeDeleter
	checks   map[string]DeleteCheck
}

// DeleteCheck refuses, with the error a DELETE of the resource itself
// would answer, the cascading delete of resource id as part of deleting
// scope (a resource group), as Azure refuses a resource group's delete
// that meets a resource which cannot be deleted: a vault that still holds
// backups, a disk encryption set that disks outside scope use. It reads
// through r and returns nil when id may go (or is gone).
type DeleteCheck func(ctx context.Context, r store.Reader, id, scope string) error

// OnDeleteCheck registers the check a resource group's delete runs on each
// resource of typ under it before deleting anything (CheckDeleteUnder).
func (p *Platform) OnDeleteCheck(typ string, check DeleteCheck) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.checks == nil {
		p.checks = map[string]DeleteCheck{}
	}
	p.checks[strings.ToLower(typ)] = check
}

// Blocked is CheckDeleteUnder's refusal: the resource that cannot be
// deleted and its check's error.
type Blocked struct {
	ID  string
	Err error
}

func (b *Blocked) Error() string { return fmt.Sprintf("%s cannot be deleted: %v", b.ID, b.Err) }
func (b *Blocked) Unwrap() error { return b.Err }

// CheckDeleteUnder runs the registered DeleteChecks of the resources under
// scope, in id order, and returns the first check's error as a *Blocked
// (a refusal, or the check's own failure to read; any other error is the
// store's). A resource group's delete runs it before ClearUnder, so a
// group holding what cannot be deleted stays whole.
func (p *Platform) CheckDeleteUnder(ctx context.Context, r store.Reader, scope string) error {
	p.mu.Lock()
	n := len(p.checks)
	p.mu.Unlock()
	if n == 0 {
		return nil
	}
	docs, err := r.List(ctx, resourceKind, store.ListQuery{ScopePrefix: strings.TrimRight(scope, "/") + "/"})
	if err != nil {
		return err
	}
	for _, d := range docs {
		p.mu.Lock()
		check := p.checks[strings.ToLower(d.Type)]
		p.mu.Unlock()
		if check == nil {
			continue
		}
		var h struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(d.Value, &h); err != nil {
			return fmt.Errorf("decode %s: %w", d.Key, err)
		}
		err := check(ctx, r, h.ID, scope)
		if err == nil || failure.Is(err, failure.NotFound) || errors.Is(err, store.ErrNotFound) {
			continue // (gone meanwhile)
		}
		return &Blocked{ID: h.ID, Err: err}
	}
	return nil
}

// DeleteFunc removes a resource with everything it owns (files, child
// resources) as part of a cascading delete (e.g. its resource group's).
type DeleteFunc func(ctx context.Context, id string) error

type typeDeleter struct {
	order int
	fn    DeleteFunc
}

// OnDelete registers how resources of typ are removed by a cascading delete.
// Lower order runs first (e.g. VMs before disks, backup instances before vaults).
func (p *Platform) OnDelete(typ string, order int, fn DeleteFunc) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.deleters == nil {
		p.deleters = map[string]typeDeleter{}
	}
	p.deleters[strings.ToLower(typ)] = typeDeleter{order, fn}
}

// DeleteUnder removes every resource whose id is under scope (a resource
// group or resource id): ClearUnder, then the documents that remain.
func (p *Platform) DeleteUnder(ctx context.Context, scope string) error {
	drop, err := p.ClearUnder(ctx, scope)
	if err != nil {
		return err
	}
	return p.Store.Update(ctx, drop)
}

// ClearUnder removes the resources under scope that need more than their
// document removed, using the registered DeleteFuncs in order, and the role
// assignments there (ScopeDeleted); it returns the step that drops every
// document still under scope (and the management locks at and under it), for the caller to run in a transaction of
// its choosing (a resource group's delete runs it in the one that removes
// the group and ends its operation: one commit fewer per group).
func (p *Platform) ClearUnder(ctx context.Context, scope string) (drop func(tx store.Tx) error, err error) {
	return p.ClearUnderWhile(ctx, scope, nil)
}

// ClearUnderWhile is ClearUnder that calls still before each deleter (and
// before the role assignments go) and stops with its error: a group's
// delete stops once the group is no longer its to delete (another delete
// removed it and a client made it again) instead of deleting what was made
// again under names it listed. nil: no check.
func (p *Platform) ClearUnderWhile(ctx context.Context, scope string, still func(context.Context) error) (drop func(tx store.Tx) error, err error) {
	prefix := strings.TrimRight(scope, "/") + "/"
	docs, err := p.Store.List(ctx, resourceKind, store.ListQuery{ScopePrefix: prefix})
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	type item struct {
		id    string
		order int
		fn    DeleteFunc
	}
	var items []item
	for _, d := range docs {
		var h struct {
			ID   string `json:"id"`
			Type string `json:"type"`
		}
		json.Unmarshal(d.Value, &h)
		td, ok := p.deleters[strings.ToLower(d.Type)]
		if ok {
			items = append(items, item{h.ID, td.order, td.fn})
		}
	}
	p.mu.Unlock()
	sort.SliceStable(items, func(i, j int) bool { return items[i].order < items[j].order })
	check := func() error {
		if still == nil {
			return nil
		}
		return still(ctx)
	}
	for _, it := range items {
		if err := check(); err != nil {
			return nil, err
		}
		if err := it.fn(ctx, it.id); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("delete %s: %w", it.id, err)
		}
	}
	if err := check(); err != nil {
		return nil, err
	}
	if p.ScopeDeleted != nil {
		if err := p.ScopeDeleted(ctx, scope); err != nil {
			return nil, err
		}
	}
	return func(tx store.Tx) error {
		if _, err := tx.DeleteScope(ctx, resourceKind, prefix); err != nil {
			return err
		}
		// The management locks there and at scope itself go with it.
		return dropLocks(ctx, tx, scope)
	}, nil
}

// AnyUnder reports whether r holds a resource below scope, or a document of
// one of alsoKinds whose store scope is at or below it (through a
// transaction: as of that transaction), in one store query where the store
// can (store.AnyUnder). A scope with none has nothing for ClearUnder's
// deleters to do.
func AnyUnder(ctx context.Context, r store.Reader, scope string, alsoKinds ...string) (bool, error) {
	return store.AnyUnder(ctx, r, strings.TrimRight(scope, "/")+"/", append([]string{resourceKind}, alsoKinds...)...)
}

// Now is the platform clock's time.
func (p *Platform) Now() time.Time { return p.Clock.Now() }

const resourceKind = "resource"

func scopeOf(id arm.ResourceID) string {
	return strings.ToLower(id.Parent().String()) + "/"
}

// DropUnder deletes, in tx, the documents of every resource under id (its
// children and theirs), not id's own.
func DropUnder(ctx context.Context, tx store.Tx, id arm.ResourceID) error {
	_, err := tx.DeleteScope(ctx, resourceKind, strings.ToLower(id.String())+"/")
	return err
}

// Put stores an ARM resource body (a struct or map with at least id and type).
//
// A resource in a resource group is written only while the group exists,
// read in tx (404 ResourceGroupNotFound otherwise): a create racing the
// DELETE of its empty group, which removes the group in a transaction of
// its own once nothing is under it, either commits first (and the delete
// sees it and cascades) or fails, never leaving a resource under a group
// that is gone, whatever the create checked before its transaction.
//
// A new resource anywhere in a group being deleted is refused too (409
// ResourceGroupBeingDeleted, as in Azure, and as Create refuses it): the
// cascade chose what it deletes when it began, so one made meanwhile
// would lose its document with the group while its deleter never ran
// (a storage account's blobs, a vault's data), and a new child of a
// resource there (a vault's protected item) would slip past the checks
// the delete ran first (CheckDeleteUnder) and be deleted with its data.
// The client's PUT that makes it is refused before its handler runs
// (CheckGroupWritable), but it may have passed that check before the
// delete began: this check, in its transaction, is the one that holds.
// Resources that exist, and those under them that exist, may still
// change (the cascade's own writes, a job's); a client's PUT or PATCH of
// one is refused by CheckGroupWritable.
func Put(ctx context.Context, tx store.Tx, id arm.ResourceID, v any) error {
	if id.Namespace != "" && id.ResourceGroup != "" {
		if err := checkPutGroup(ctx, tx, id); err != nil {
			return err
		}
	}
	return store.WriteJSON(ctx, tx.Put, resourceDoc(id), v, "resource")
}

// checkPutGroup is Put's check of id's resource group (see Put): one read
// of the group's document unless it is being deleted.
func checkPutGroup(ctx context.Context, tx store.Reader, id arm.ResourceID) error {
	deleting, err := groupMayBeDeleting(ctx, tx, id.SubscriptionID, id.ResourceGroup)
	if err != nil || !deleting {
		return err
	}
	if ok, err := Exists(ctx, tx, id.String()); err != nil || ok {
		return err
	}
	return CheckGroupOpen(ctx, tx, id.SubscriptionID, id.ResourceGroup)
}

// Create stores a new resource; store.ErrConflict if it exists. As for
// Put, its resource group must exist; a group being deleted takes no new
// resource (409 ResourceGroupBeingDeleted, as in Azure): the cascade
// already chose what it removes.
func Create(ctx context.Context, tx store.Tx, id arm.ResourceID, v any) error {
	if id.Namespace != "" && id.ResourceGroup != "" {
		if err := CheckGroupOpen(ctx, tx, id.SubscriptionID, id.ResourceGroup); err != nil {
			return err
		}
	}
	return store.WriteJSON(ctx, tx.Create, resourceDoc(id), v, "resource")
}

func resourceDoc(id arm.ResourceID) store.Doc {
	return store.Doc{Kind: resourceKind, Key: id.String(), Scope: scopeOf(id), Type: id.Type()}
}

// Get reads a resource into v; when absent it returns NotFound(id).
func Get(ctx context.Context, r store.Reader, id arm.ResourceID, v any) error {
	_, err := GetVersion(ctx, r, id, v)
	return err
}

// GetVersion is Get answering the document's store version too (changed
// by every write of it): an update computed from what it read writes only
// while the version is still that one, and otherwise reads and computes
// again, so that it never undoes a write made in between.
func GetVersion(ctx context.Context, r store.Reader, id arm.ResourceID, v any) (int64, error) {
	d, err := r.Get(ctx, resourceKind, id.String())
	if errors.Is(err, store.ErrNotFound) {
		return 0, NotFound(id)
	}
	if err != nil {
		return 0, err
	}
	if err := json.Unmarshal(d.Value, v); err != nil {
		return 0, fmt.Errorf("decode %s: %w", id, err)
	}
	return d.Version, nil
}

// NotFound is the NotFound error (code ResourceNotFound) for a resource
// that does not exist, in ARM's words (a child named as
// 'Namespace/type/name/childType/childName').
func NotFound(id arm.ResourceID) *failure.Error {
	if id.ResourceGroup == "" {
		return failure.NotFoundf("ResourceNotFound", "The Resource '%s' was not found.", id.QualifiedName())
	}
	return failure.NotFoundf("ResourceNotFound", "The Resource '%s' under resource group '%s' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix", id.QualifiedName(), id.ResourceGroup)
}

// Exists reports whether a resource exists (store.Exists: the value is
// neither copied nor decoded).
func Exists(ctx context.Context, r store.Reader, id string) (bool, error) {
	return store.Exists(ctx, r, resourceKind, id)
}

// Delete removes a resource document (not its children) and the
// management locks at it and below it, which go with their scope whatever
// deletes it (a client's request, which a lock refuses, or Safehold's own
// work, such as retention deleting a snapshot, which no lock stops): a
// lock left on a scope that is gone could not be deleted and would refuse
// its group's delete.
func Delete(ctx context.Context, tx store.Tx, id arm.ResourceID) error {
	err := tx.Delete(ctx, resourceKind, id.String())
	if errors.Is(err, store.ErrNotFound) {
		return NotFound(id)
	}
	if err != nil {
		return err
	}
	return dropLocks(ctx, tx, id.String())
}

// dropLocks deletes, in tx, the management locks at scope and below it.
// It lists the subscription's locks (few, and a list that SQLite's mirror
// and the PostgreSQL writer answer from memory, so that a delete costs no
// query or round trip more when there are none) rather than deleting by
// scope (a statement of its own, and on SQLite a pass over its read cache
// for the kind).
func dropLocks(ctx context.Context, tx store.Tx, scope string) error {
	sub := subscriptionPrefix(scope)
	if sub == "" {
		return nil
	}
	locks, err := tx.List(ctx, LockKind, store.ListQuery{ScopePrefix: sub})
	if err != nil {
		return err
	}
	prefix := lockPrefix(scope)
	for _, d := range locks {
		if strings.HasPrefix(d.Scope, prefix) { // lockPrefix's: lower-case
			if err := tx.Delete(ctx, LockKind, d.Key); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
	}
	return nil
}

// List lists resources of typ under scope (a subscription,
// resource group or parent resource id), decoding each into a new T.
func List[T any](ctx context.Context, r store.Reader, typ, scope string) ([]T, error) {
	return store.ListJSON[T](ctx, r, resourceKind, listQuery(typ, scope), "resource")
}

// listQuery is List's query.
func listQuery(typ, scope string) store.ListQuery {
	return store.ListQuery{ScopePrefix: strings.TrimRight(scope, "/") + "/", Type: typ}
}

// ListRead is the read List of typ under scope makes (for store.Prefetch).
func ListRead(typ, scope string) store.Read {
	return store.Read{Kind: resourceKind, List: true, Q: listQuery(typ, scope)}
}

// ListAs lists like List and converts each resource with conv (to its
// wire view, or to a domain value).
func ListAs[T, U any](ctx context.Context, r store.Reader, typ, scope string, conv func(*T) U) ([]U, error) {
	all, err := List[T](ctx, r, typ, scope)
	if err != nil {
		return nil, err
	}
	out := make([]U, len(all))
	for i := range all {
		out[i] = conv(&all[i])
	}
	return out, nil
}

// Lookup reads, with load, the resource of type typ that id names: a
// NotFound failure, as for a missing one, when id does not parse or names
// another type.
func Lookup[T any](ctx context.Context, r store.Reader, id, typ string, load func(context.Context, store.Reader, arm.ResourceID) (T, error)) (T, error) {
	rid, err := arm.ParseID(id)
	if err != nil || !rid.IsType(typ) {
		var zero T
		return zero, failure.NotFoundf("ResourceNotFound", "The resource '%s' of type '%s' was not found.", id, typ)
	}
	return load(ctx, r, rid)
}

// ResourceGroupType is the ARM type of resource groups.
const ResourceGroupType = "Microsoft.Resources/resourceGroups"

// ResourceGroup is a resource group as the store keeps it (served by
// rp/resources; other providers create the groups they own with
// EnsureResourceGroup).
type ResourceGroup struct {
	ID         string            `json:"id"`
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	Location   string            `json:"location"`
	ManagedBy  string            `json:"managedBy,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	Properties struct {
		ProvisioningState string `json:"provisioningState"`
	} `json:"properties"`
}

// EnsureResourceGroup creates resource group name of sub in location with
// tags unless it exists (a group a provider creates on demand, such as
// Azure Backup's AzureBackupRG_{location}_1); a ReadOnly lock on the
// subscription refuses creating it (CheckWrite).
func EnsureResourceGroup(ctx context.Context, tx store.Tx, sub, name, location string, tags map[string]string) error {
	id := "/subscriptions/" + sub + "/resourceGroups/" + name
	if ok, err := Exists(ctx, tx, id); err != nil || ok {
		return err
	}
	if err := CheckWrite(ctx, tx, id); err != nil {
		return err
	}
	g := ResourceGroup{ID: id, Name: name, Type: ResourceGroupType, Location: location, Tags: tags}
	g.Properties.ProvisioningState = "Succeeded"
	rid, err := arm.ParseID(id)
	if err != nil {
		return err
	}
	return Put(ctx, tx, rid, &g)
}

// NormLocation is a location as ARM answers it: the region's name in lower
// case without spaces ("West US" is "westus").
func NormLocation(l string) string { return strings.ToLower(strings.ReplaceAll(l, " ", "")) }

// CheckResourceGroup returns a NotFound ResourceGroupNotFound error unless the group exists.
func CheckResourceGroup(ctx context.Context, r store.Reader, sub, rg string) error {
	ok, err := Exists(ctx, r, "/subscriptions/"+sub+"/resourceGroups/"+rg)
	if err != nil {
		return err
	}
	if !ok {
		return groupNotFound(rg)
	}
	return nil
}

// CheckGroupOpen is CheckResourceGroup for something new in the group: a
// group being deleted takes nothing new (409 ResourceGroupBeingDeleted, as
// in Azure), its cascade having chosen what it removes.
func CheckGroupOpen(ctx context.Context, r store.Reader, sub, rg string) error {
	var g ResourceGroup
	err := Get(ctx, r, arm.ResourceID{SubscriptionID: sub, ResourceGroup: rg}, &g)
	if failure.Is(err, failure.NotFound) {
		return groupNotFound(rg)
	}
	if err != nil {
		return err
	}
	if g.Properties.ProvisioningState == "Deleting" {
		return failure.Conflictf("ResourceGroupBeingDeleted", "The resource group '%s' is in deprovisioning state and cannot perform this operation.", g.Name)
	}
	return nil
}

// CheckGroupWritable refuses a client's write into resource group rg while
// the group is being deleted (409 ResourceGroupBeingDeleted, as ARM refuses
// it before the provider sees the request: the server's
// arm.Router.GroupWritable). A group that does not exist is left to the
// provider to answer (404 ResourceGroupNotFound in its own order of checks).
// One cached read of the group's document; it is decoded only when it may
// be deleting.
func CheckGroupWritable(ctx context.Context, r store.Reader, sub, rg string) error {
	deleting, err := groupMayBeDeleting(ctx, r, sub, rg)
	if err != nil || !deleting {
		if failure.Is(err, failure.NotFound) {
			return nil
		}
		return err
	}
	if err := CheckGroupOpen(ctx, r, sub, rg); !failure.Is(err, failure.NotFound) {
		return err
	}
	return nil
}

// groupMayBeDeleting reads resource group rg's document (cached) and
// reports whether it may be being deleted, without decoding it unless so
// (CheckGroupOpen decides); 404 ResourceGroupNotFound when it does not
// exist.
func groupMayBeDeleting(ctx context.Context, r store.Reader, sub, rg string) (bool, error) {
	g, err := store.View(ctx, r, resourceKind, "/subscriptions/"+sub+"/resourceGroups/"+rg)
	if errors.Is(err, store.ErrNotFound) {
		return false, groupNotFound(rg)
	}
	if err != nil {
		return false, err
	}
	return bytes.Contains(g.Value, []byte(`"Deleting"`)), nil
}

func groupNotFound(rg string) error {
	return failure.NotFoundf("ResourceGroupNotFound", "Resource group '%s' could not be found.", rg)
}

// CheckReads appends to reads the store reads of the checks that a client's
// request of method on path passes before its handler runs: the
// subscription's existence (CheckSubscription), for any write the
// subscription's locks (CheckLocks); and those its handler makes before it
// writes anything: below a resource group the group (CheckResourceGroup,
// and a PUT's or PATCH's CheckGroupWritable), below a resource the
// resources above it (a vault of its policy: that it exists), for a
// group's DELETE what its cascade checks (CheckCascade). The server reads
// them with the caller's principal in one round trip (store.Prefetch) and
// gives those checks the reader, and the handlers store.Prefetched. A GET
// of the first page of a collection (query, the request's raw query, has
// no $skipToken) whose list handler reads through store.Prefetched
// (PrefetchList) adds that list's reads, saving its round trip.
func CheckReads(reads []store.Read, method, path, query string) []store.Read {
	// (a list's first page: a later one reads after its token's key)
	listing := method == http.MethodGet && !strings.Contains(strings.ToLower(query), "skiptoken")
	first, rest, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if !strings.EqualFold(first, "subscriptions") {
		return reads
	}
	sub, rest, _ := strings.Cut(rest, "/")
	if sub == "" {
		return reads
	}
	reads = append(reads, store.Read{Kind: SubscriptionKind, Key: sub})
	if method != http.MethodGet && method != http.MethodHead {
		reads = append(reads, store.Read{Kind: LockKind, List: true, Q: store.ListQuery{ScopePrefix: "/subscriptions/" + sub + "/"}})
	}
	scope := "/subscriptions/" + sub
	if groups, below, _ := strings.Cut(rest, "/"); strings.EqualFold(groups, "resourceGroups") {
		rg, below, _ := strings.Cut(below, "/")
		if rg == "" {
			if listing && below == "" {
				reads = appendListReads(reads, "Microsoft.Resources/resourceGroups", scope)
			}
			return reads
		}
		scope += "/resourceGroups/" + rg
		if below == "" { // the group itself
			if method == http.MethodDelete {
				reads = append(reads, cascadeReads(scope)...)
			}
			return reads
		}
		reads = append(reads, store.Read{Kind: resourceKind, Key: scope})
		rest = below
	}
	// The resources above the one the path names (or lists): the
	// pairs of type and name after the namespace but the last, at most
	// maxAncestors; a nested "providers" is an extension resource's,
	// whose scope is the resource before it.
	const maxAncestors = 3
	providers, rest, _ := strings.Cut(rest, "/")
	ns, rest, _ := strings.Cut(rest, "/")
	if !strings.EqualFold(providers, "providers") || ns == "" {
		return reads
	}
	id := scope + "/providers/" + ns
	types := ns
	for range maxAncestors {
		typ, after, _ := strings.Cut(rest, "/")
		name, after, _ := strings.Cut(after, "/")
		if typ != "" && name == "" && after == "" && listing && !strings.EqualFold(typ, "providers") {
			// The path lists typ under the resource above it.
			reads = appendListReads(reads, types+"/"+typ, scope)
		}
		if typ == "" || name == "" || after == "" || strings.EqualFold(typ, "providers") {
			break
		}
		id += "/" + typ + "/" + name
		reads = append(reads, store.Read{Kind: resourceKind, Key: id})
		scope, types, rest = id, types+"/"+typ, after
	}
	return reads
}

// listReads holds, by a collection's resource type in lower case
// (Microsoft.DataProtection/backupVaults/backupPolicies), the reads its
// list handler makes first under a scope (PrefetchList).
var listReads sync.Map // string → func(scope string) []store.Read

// PrefetchList registers reads as the reads the list handler of resource
// type typ (its namespace and types, as its path names them) makes first
// for its first page under scope (the subscription, the group or the
// resource above the collection), each through store.Prefetched: CheckReads
// adds them to the request's checks, which a store of round trips
// (PostgreSQL) reads at once. A handler that read them otherwise would
// read each twice.
func PrefetchList(typ string, reads func(scope string) []store.Read) {
	listReads.Store(strings.ToLower(typ), reads)
}

// appendListReads appends to reads those PrefetchList registered for typ
// under scope, if any.
func appendListReads(reads []store.Read, typ, scope string) []store.Read {
	if f, ok := listReads.Load(strings.ToLower(typ)); ok {
		reads = append(reads, f.(func(string) []store.Read)(scope)...)
	}
	return reads
}

// CheckSubscription returns a NotFound SubscriptionNotFound error unless the subscription exists.
func CheckSubscription(ctx context.Context, r store.Reader, sub string) error {
	ok, err := store.Exists(ctx, r, SubscriptionKind, sub)
	return subscriptionFound(sub, ok, err)
}

// SubscriptionCheck returns CheckSubscription over r for a check made on
// every request (the router's): it answers from memory while no
// subscription has been written since it read one (store.KnownKeys), so a
// deleted subscription is refused on the very next check.
func SubscriptionCheck(r store.Reader) func(ctx context.Context, sub string) error {
	k := store.NewKnownKeys(r, SubscriptionKind)
	return func(ctx context.Context, sub string) error {
		ok, err := k.Exists(ctx, sub)
		return subscriptionFound(sub, ok, err)
	}
}

func subscriptionFound(sub string, ok bool, err error) error {
	if err == nil && !ok {
		return failure.NotFoundf("SubscriptionNotFound", "The subscription '%s' could not be found.", sub)
	}
	return err
}

// SubscriptionKind is the document kind of subscriptions.
const SubscriptionKind = "subscription"

// VaultDocs reads a face's vault documents (of type Type, read by Load) as
// the vaults the protection engine sees (As): a face embeds it for the two
// methods of protection.VaultFace.
type VaultDocs[T, U any] struct {
	Type string
	Load func(context.Context, store.Reader, arm.ResourceID) (*T, error)
	As   func(*T) U
}

// Vaults lists every vault of the type.
func (d VaultDocs[T, U]) Vaults(ctx context.Context, r store.Reader) ([]U, error) {
	return ListAs(ctx, r, d.Type, "", d.As)
}

// Vault reads the vault id names: a failure of kind NotFound, or Load's
// error, when there is none.
func (d VaultDocs[T, U]) Vault(ctx context.Context, r store.Reader, id string) (U, error) {
	v, err := Lookup(ctx, r, id, d.Type, d.Load)
	if err != nil {
		var zero U
		return zero, err
	}
	return d.As(v), nil
}
