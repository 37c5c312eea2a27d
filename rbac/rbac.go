// Package rbac is Safehold's role-based access control: built-in and custom
// role definitions, role assignments at any scope, and the permission check
// made on every ARM request and for managed identities (vaults). Assignments
// inherit down the scope tree; actions and notActions match with '*'
// wildcards, case-insensitively, as in Azure. Assignments take effect
// immediately unless a propagation delay is configured, in which case both
// grants and removals take effect only after it (to let users test how
// their automation copes with Azure's RBAC propagation).
package rbac

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/failure"
	"github.com/safehold/safehold/store"
)

const (
	assignmentKind = "roleassignment"
	roleDefKind    = "roledefinition"
	// genKind's one document (key genKey) is the generation of the role
	// assignments and definitions: a new random value in every
	// transaction that changes them, which a replica compares with the one
	// its index was loaded at (Fresh).
	genKind = "rbac.generation"
	genKey  = "rbac"
)

// GenerationKind is the store kind of the generation of role assignments
// and definitions (kept with them by an admin reset).
const GenerationKind = genKind

// GenerationRead is the store read of that generation, for a caller that
// reads it with a request's other checks (store.Prefetch) and passes the
// reader to Fresh.
func GenerationRead() store.Read { return store.Read{Kind: genKind, Key: genKey} }

// bump gives the role assignments and definitions a new generation in tx,
// the transaction that changes them.
func bump(ctx context.Context, tx store.Tx) error {
	return tx.Put(ctx, store.Doc{Kind: genKind, Key: genKey, Value: store.NewGeneration()})
}

// generation reads the generation through r ("" when none was written).
func generation(ctx context.Context, r store.Reader) (string, error) {
	d, err := store.View(ctx, r, genKind, genKey)
	if errors.Is(err, store.ErrNotFound) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("read the role assignments' generation: %w", err)
	}
	return string(d.Value), nil
}

// Assignment is a role assignment: its id and name, its properties
// (embedded: stored as the assignment's own fields) and when it takes
// effect.
type Assignment struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	AssignmentProperties
	EffectiveAt time.Time `json:"effectiveAt"`
}

// AssignmentProperties are what a role assignment grants, to whom and
// where, and who made it when: Microsoft.Authorization's
// RoleAssignmentProperties, which the authorization face answers (and
// decodes a PUT into) as they are.
type AssignmentProperties struct {
	RoleDefinitionID string    `json:"roleDefinitionId"`
	PrincipalID      string    `json:"principalId"`
	PrincipalType    string    `json:"principalType,omitempty"`
	Scope            string    `json:"scope"`
	Description      string    `json:"description,omitempty"`
	Condition        string    `json:"condition,omitempty"`
	CreatedOn        time.Time `json:"createdOn"`
	UpdatedOn        time.Time `json:"updatedOn"`
	CreatedBy        string    `json:"createdBy,omitempty"`
	UpdatedBy        string    `json:"updatedBy,omitempty"`
}

// RoleGUID is the role definition GUID of the assignment.
func (a *Assignment) RoleGUID() string { return lastSegment(a.RoleDefinitionID) }

func lastSegment(s string) string {
	s = strings.TrimRight(s, "/")
	if i := strings.LastIndex(s, "/"); i >= 0 {
		return s[i+1:]
	}
	return s
}

type tombstone struct {
	a     *Assignment
	until time.Time
}

// Authorizer holds the role index and answers permission checks.
type Authorizer struct {
	Store store.Store
	Clock clock.Clock
	// Delay postpones the effect of new and removed assignments.
	Delay time.Duration

	// Refresh, when set (replicas sharing a store), re-reads the index
	// from the store when it is older than this, and before any deny; and
	// Fresh re-reads it when the generation of role assignments and
	// definitions moved, so that changes made through other replicas take
	// effect here on the next request.
	Refresh time.Duration

	loadedMu    sync.Mutex
	loaded      time.Time
	reloadMu    sync.Mutex    // one reload at a time (reload, Fresh)
	reloadAsked atomic.Uint64 // reloads asked for (reload)
	reloadUpTo  uint64        // the asks the last reload began after (reloadMu held)
	mu          sync.RWMutex
	gen         string // the generation the index was loaded at
	byPrincipal map[string][]*Assignment
	roles       map[string]*RoleDefinition
	tombstones  map[string]tombstone

	// decisions caches Allowed's answers per principal, action and scope:
	// the effective permissions, computed once and dropped whenever role
	// assignments or definitions change (reload). Each answer also carries
	// the time window in which it holds, bounded by the next assignment to
	// take effect or tombstone to lapse (the propagation delay), so moving
	// the clock never serves a stale one. The key is the question as
	// asked (decide ignores case; a question asked in another casing is
	// another entry with the same answer), so a check allocates nothing.
	// A check that finds its answer takes the lock shared, so a check whose
	// thread the OS preempts while it holds the lock does not hold up the
	// others.
	dmu       sync.RWMutex
	decisions map[decisionKey]decision
}

type decisionKey struct{ principalID, action, scope string }

type decision struct {
	ok          bool
	from, until time.Time // the answer holds while from <= now < until
}

// decisionsMax bounds the decision cache; when full it starts over.
const decisionsMax = 1 << 16

// New loads assignments and custom roles from the store.
func New(ctx context.Context, st store.Store, clk clock.Clock, delay time.Duration) (*Authorizer, error) {
	if clk == nil {
		clk = clock.Real{}
	}
	a := &Authorizer{Store: st, Clock: clk, Delay: delay, tombstones: map[string]tombstone{}}
	if err := a.reload(ctx); err != nil {
		return nil, err
	}
	return a, nil
}

// reload reads the index (role assignments and definitions) from the store.
// Reloads run one at a time, each reading the store after the one before
// installed what it read: run at once, one that read before a change (a
// role assignment PUT's) could install after one that read after the next
// change (the delete of that assignment, or its group's), and the index
// then kept the deleted assignment, granting what it granted and listed,
// until the next change of roles (on one replica, with no Refresh: for
// good). A reload asked for while another waited is served by the one that
// read the store after it was asked for.
func (a *Authorizer) reload(ctx context.Context) error {
	ask := a.reloadAsked.Add(1)
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	if a.reloadUpTo >= ask {
		return nil // a reload that began after this ask has read the store since
	}
	return a.reloadLocked(ctx)
}

// reloadLocked is reload with reloadMu held.
func (a *Authorizer) reloadLocked(ctx context.Context) error {
	covers := a.reloadAsked.Load() // every ask so far came after its change committed
	a.loadedMu.Lock()
	a.loaded = time.Now()
	a.loadedMu.Unlock()
	// The generation first: a change after it (in the lists or not) moves
	// it, so Fresh loads again.
	gen, err := generation(ctx, a.Store)
	if err != nil {
		return err
	}
	docs, err := a.Store.List(ctx, assignmentKind, store.ListQuery{})
	if err != nil {
		return fmt.Errorf("load role assignments: %w", err)
	}
	by := map[string][]*Assignment{}
	for _, d := range docs {
		x, err := store.DecodeJSON[Assignment](d, "role assignment")
		if err != nil {
			return err
		}
		k := strings.ToLower(x.PrincipalID)
		by[k] = append(by[k], x)
	}
	roles := map[string]*RoleDefinition{}
	for i := range BuiltInRoles {
		roles[strings.ToLower(BuiltInRoles[i].ID)] = builtIn(i)
	}
	rdocs, err := a.Store.List(ctx, roleDefKind, store.ListQuery{})
	if err != nil {
		return fmt.Errorf("load role definitions: %w", err)
	}
	for _, d := range rdocs {
		r, err := store.DecodeJSON[RoleDefinition](d, "role definition")
		if err != nil {
			return err
		}
		roles[strings.ToLower(r.ID)] = r
	}
	a.mu.Lock()
	a.byPrincipal, a.roles, a.gen = by, roles, gen
	a.mu.Unlock()
	a.dmu.Lock()
	a.decisions = nil
	a.dmu.Unlock()
	a.reloadUpTo = covers
	return nil
}

// ScopeCovers reports whether an assignment at scope applies to target:
// the same scope or one below it.
func ScopeCovers(scope, target string) bool {
	s := strings.ToLower(strings.TrimRight(scope, "/"))
	t := strings.ToLower(strings.TrimRight(target, "/"))
	if s == "" {
		return true
	}
	return t == s || strings.HasPrefix(t, s+"/")
}

// ActionMatches reports whether pattern (with '*' wildcards) matches action, case-insensitively.
func ActionMatches(pattern, action string) bool {
	return glob(strings.ToLower(pattern), strings.ToLower(action))
}

func glob(p, s string) bool {
	// Iterative wildcard match: '*' matches any run of characters.
	pi, si, star, mark := 0, 0, -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case pi < len(p) && p[pi] == s[si]:
			pi++
			si++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// RoleAllows reports whether a role permits action.
func RoleAllows(r *RoleDefinition, action string) bool {
	for _, p := range r.Permissions {
		if anyMatches(p.Actions, action) && !anyMatches(p.NotActions, action) {
			return true
		}
	}
	return false
}

// anyMatches reports whether one of patterns matches action.
func anyMatches(patterns []string, action string) bool {
	return slices.ContainsFunc(patterns, func(x string) bool { return ActionMatches(x, action) })
}

// Allowed reports whether principal may perform action on scope now.
func (a *Authorizer) Allowed(principalID, action, scope string) bool {
	now := a.Clock.Now()
	key := decisionKey{principalID, action, scope}
	a.dmu.RLock()
	d, ok := a.decisions[key]
	a.dmu.RUnlock()
	if ok && !now.Before(d.from) && now.Before(d.until) {
		return d.ok
	}
	d = a.decide(principalID, action, scope, now)
	a.dmu.Lock()
	if a.decisions == nil || len(a.decisions) >= decisionsMax {
		a.decisions = map[decisionKey]decision{}
	}
	a.decisions[key] = d
	a.dmu.Unlock()
	return d.ok
}

// decide walks the principal's assignments (and tombstones of removed ones
// still in their propagation delay).
func (a *Authorizer) decide(principalID, action, scope string, now time.Time) decision {
	a.mu.RLock()
	defer a.mu.RUnlock()
	d := decision{until: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}
	bound := func(t time.Time) { // narrow the window to the side of t that now is on
		if t.After(now) {
			if t.Before(d.until) {
				d.until = t
			}
		} else if t.After(d.from) {
			d.from = t
		}
	}
	check := func(x *Assignment) bool {
		if !ScopeCovers(x.Scope, scope) {
			return false
		}
		r := a.roles[strings.ToLower(x.RoleGUID())]
		return r != nil && RoleAllows(r, action)
	}
	for _, x := range a.byPrincipal[strings.ToLower(principalID)] {
		bound(x.EffectiveAt)
		if !d.ok && !now.Before(x.EffectiveAt) && check(x) {
			d.ok = true
		}
	}
	for _, t := range a.tombstones {
		if !strings.EqualFold(t.a.PrincipalID, principalID) {
			continue
		}
		bound(t.a.EffectiveAt)
		bound(t.until)
		if !d.ok && now.Before(t.until) && !now.Before(t.a.EffectiveAt) && check(t.a) {
			d.ok = true
		}
	}
	return d
}

// GrantedBelow reports whether the principal holds action, now, through an
// assignment at a scope strictly below scope (or one removed but still in
// its propagation delay): ARM lists the items of a collection a caller may
// not read as a whole only to such a caller.
func (a *Authorizer) GrantedBelow(principalID, action, scope string) bool {
	now := a.Clock.Now()
	a.mu.RLock()
	defer a.mu.RUnlock()
	below := func(x *Assignment) bool {
		r := a.roles[strings.ToLower(x.RoleGUID())]
		return !now.Before(x.EffectiveAt) && ScopeCovers(scope, x.Scope) && !ScopeCovers(x.Scope, scope) && r != nil && RoleAllows(r, action)
	}
	for _, x := range a.byPrincipal[strings.ToLower(principalID)] {
		if below(x) {
			return true
		}
	}
	for _, t := range a.tombstones {
		if strings.EqualFold(t.a.PrincipalID, principalID) && now.Before(t.until) && below(t.a) {
			return true
		}
	}
	return false
}

// AssignedWithin reports whether the principal holds, now, any role
// through an assignment at scope, above it or below it (or one removed
// but still in its propagation delay), whatever its actions: ARM lists a
// subscription to every caller with a role there, a Backup Operator's or
// a Backup Reader's too, which grant no Microsoft.Resources/subscriptions/read.
func (a *Authorizer) AssignedWithin(principalID, scope string) bool {
	now := a.Clock.Now()
	a.mu.RLock()
	defer a.mu.RUnlock()
	within := func(x *Assignment) bool {
		return !now.Before(x.EffectiveAt) && (ScopeCovers(x.Scope, scope) || ScopeCovers(scope, x.Scope)) && a.roles[strings.ToLower(x.RoleGUID())] != nil
	}
	for _, x := range a.byPrincipal[strings.ToLower(principalID)] {
		if within(x) {
			return true
		}
	}
	for _, t := range a.tombstones {
		if strings.EqualFold(t.a.PrincipalID, principalID) && now.Before(t.until) && within(t.a) {
			return true
		}
	}
	return false
}

// PermissionsAt is what the principal may do at scope now: the permissions
// of each role it holds through an assignment at scope or above (or one
// removed but still in its propagation delay), one entry per assignment,
// as Azure's Permissions_ListForResourceGroup answers them.
func (a *Authorizer) PermissionsAt(principalID, scope string) []Permission {
	now := a.Clock.Now()
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := []Permission{}
	add := func(x *Assignment) {
		if r := a.roles[strings.ToLower(x.RoleGUID())]; r != nil && !now.Before(x.EffectiveAt) && ScopeCovers(x.Scope, scope) {
			out = append(out, r.Permissions...)
		}
	}
	for _, x := range a.byPrincipal[strings.ToLower(principalID)] {
		add(x)
	}
	for _, t := range a.tombstones {
		if strings.EqualFold(t.a.PrincipalID, principalID) && now.Before(t.until) {
			add(t.a)
		}
	}
	return out
}

// Fresh makes the index current with the store, which other replicas
// change too (Refresh set): it reads the generation of the role
// assignments and definitions through r (the request's prefetched checks,
// or the store) and loads the index again when it moved since it was
// loaded, so an assignment or role deleted, made or changed through
// another replica counts on the very next request here. Without Refresh
// (the only process on its store, which reloads after its own changes)
// it does nothing.
func (a *Authorizer) Fresh(ctx context.Context, r store.Reader) error {
	if a.Refresh <= 0 {
		return nil
	}
	gen, err := generation(ctx, r)
	if err != nil {
		return err
	}
	if a.loadedAt(gen) {
		return nil
	}
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	if a.loadedAt(gen) { // another request loaded it meanwhile
		return nil
	}
	return a.reloadLocked(ctx)
}

func (a *Authorizer) loadedAt(gen string) bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.gen == gen
}

// Reload re-reads the index from the store (another replica's changes).
func (a *Authorizer) Reload(ctx context.Context) error { return a.reload(ctx) }

// Check is Allowed as an error: a *failure.Error of kind Forbidden with
// Azure's code and words (AuthorizationFailed; the ARM layer answers it 403).
func (a *Authorizer) Check(ctx context.Context, caller arm.Caller, action, scope string) error {
	if a.Refresh > 0 {
		a.loadedMu.Lock()
		age := time.Since(a.loaded)
		a.loadedMu.Unlock()
		if age > a.Refresh {
			a.reload(ctx)
		}
	}
	if a.Allowed(caller.ObjectID, action, scope) {
		return nil
	}
	if a.Refresh > 0 {
		a.loadedMu.Lock()
		age := time.Since(a.loaded)
		a.loadedMu.Unlock()
		if age > 200*time.Millisecond && a.reload(ctx) == nil && a.Allowed(caller.ObjectID, action, scope) {
			return nil
		}
	}
	client := caller.AppID
	if client == "" {
		client = caller.ObjectID
	}
	return failure.New(failure.Forbidden, "AuthorizationFailed",
		"The client '%s' with object id '%s' does not have authorization to perform action '%s' over scope '%s' or the scope is invalid. If access was recently granted, please refresh your credentials.",
		client, caller.ObjectID, action, scope)
}

// ErrRoleNotFound is returned for an unknown role definition.
var ErrRoleNotFound = errors.New("role definition not found")

// Role returns a role definition by GUID.
func (a *Authorizer) Role(guid string) (*RoleDefinition, bool) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	r, ok := a.roles[strings.ToLower(guid)]
	return r, ok
}

// Roles lists all role definitions, built-in first.
func (a *Authorizer) Roles() []*RoleDefinition {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]*RoleDefinition, 0, len(a.roles))
	for _, r := range a.roles {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].RoleType != out[j].RoleType {
			return out[i].RoleType == "BuiltInRole"
		}
		return out[i].RoleName < out[j].RoleName
	})
	return out
}

// builtIn is BuiltInRoles[i] as it is answered: assignable everywhere.
func builtIn(i int) *RoleDefinition {
	r := BuiltInRoles[i]
	r.RoleType = "BuiltInRole"
	r.AssignableScopes = []string{"/"}
	return &r
}

// RoleIn reads the role guid as r holds it (a built-in role, or a custom
// role's document): store.ErrNotFound when there is none. A write that
// needs the role to exist checks it so in its transaction.
func RoleIn(ctx context.Context, r store.Reader, guid string) (*RoleDefinition, error) {
	for i := range BuiltInRoles {
		if strings.EqualFold(BuiltInRoles[i].ID, guid) {
			return builtIn(i), nil
		}
	}
	docs, err := r.List(ctx, roleDefKind, store.ListQuery{})
	if err != nil {
		return nil, err
	}
	for _, d := range docs {
		if strings.EqualFold(d.Key, guid) {
			return store.DecodeJSON[RoleDefinition](d, "role definition")
		}
	}
	return nil, store.ErrNotFound
}

// AssignmentsIn lists the assignments r holds at or below scope ("": all)
// of principalID ("": anyone's).
func AssignmentsIn(ctx context.Context, r store.Reader, scope, principalID string) ([]*Assignment, error) {
	var q store.ListQuery // by principal below, not by the documents' Type, which older ones may lack
	if scope != "" {
		q.ScopePrefix = strings.TrimRight(scope, "/") + "/"
	}
	docs, err := r.List(ctx, assignmentKind, q)
	if err != nil {
		return nil, err
	}
	out := make([]*Assignment, 0, len(docs))
	for _, d := range docs {
		x, err := store.DecodeJSON[Assignment](d, "role assignment")
		if err != nil {
			return nil, err
		}
		if principalID == "" || strings.EqualFold(x.PrincipalID, principalID) {
			out = append(out, x)
		}
	}
	return out, nil
}

// PutRole creates or updates a custom role. check (nil: none) runs in the
// write's transaction with the custom roles stored, read there (old: the
// one stored under r's id, nil if none): its error refuses the write, so
// that what it checks (a name no other role has, the scopes the role has
// now) holds when the role is written, whatever other writes overlap it.
func (a *Authorizer) PutRole(ctx context.Context, r *RoleDefinition, check func(old *RoleDefinition, custom []*RoleDefinition) error) error {
	b, _ := json.Marshal(r)
	if err := a.Store.Update(ctx, func(tx store.Tx) error {
		if check != nil {
			docs, err := tx.List(ctx, roleDefKind, store.ListQuery{})
			if err != nil {
				return err
			}
			var old *RoleDefinition
			custom := make([]*RoleDefinition, 0, len(docs))
			for _, d := range docs {
				x, err := store.DecodeJSON[RoleDefinition](d, "role definition")
				if err != nil {
					return err
				}
				if strings.EqualFold(x.ID, r.ID) {
					old = x
				}
				custom = append(custom, x)
			}
			if err := check(old, custom); err != nil {
				return err
			}
		}
		if err := tx.Put(ctx, store.Doc{Kind: roleDefKind, Key: r.ID, Value: b}); err != nil {
			return err
		}
		return bump(ctx, tx)
	}); err != nil {
		return err
	}
	return a.reload(ctx)
}

// DeleteRole removes a custom role; checks run first in its transaction
// (an error deletes nothing), as PutAssignment's do.
func (a *Authorizer) DeleteRole(ctx context.Context, guid string, checks ...func(store.Reader) error) error {
	if err := a.Store.Update(ctx, func(tx store.Tx) error {
		for _, check := range checks {
			if err := check(tx); err != nil {
				return err
			}
		}
		if err := tx.Delete(ctx, roleDefKind, guid); err != nil {
			return err
		}
		return bump(ctx, tx)
	}); err != nil {
		return err
	}
	return a.reload(ctx)
}

// RoleInUse reports whether any assignment references the role.
func (a *Authorizer) RoleInUse(guid string) bool {
	a.mu.RLock()
	defer a.mu.RUnlock()
	for _, xs := range a.byPrincipal {
		for _, x := range xs {
			if strings.EqualFold(x.RoleGUID(), guid) {
				return true
			}
		}
	}
	return false
}

// GetAssignment reads an assignment by full id.
func (a *Authorizer) GetAssignment(ctx context.Context, id string) (*Assignment, error) {
	return store.GetJSON[Assignment](ctx, a.Store, assignmentKind, id, "role assignment")
}

// Assignments lists every assignment.
func (a *Authorizer) Assignments() []*Assignment {
	a.mu.RLock()
	defer a.mu.RUnlock()
	var out []*Assignment
	for _, xs := range a.byPrincipal {
		out = append(out, xs...)
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].ID) < strings.ToLower(out[j].ID) })
	return out
}

// PutAssignment stores an assignment (EffectiveAt is set from the delay).
//
// checks run first in the transaction that stores it (an error stores
// nothing): what the assignment is on must still exist when it is stored,
// so a delete of its scope cannot leave it behind.
func (a *Authorizer) PutAssignment(ctx context.Context, x *Assignment, checks ...func(store.Reader) error) error {
	now := a.Clock.Now()
	if x.CreatedOn.IsZero() {
		x.CreatedOn = now
	}
	x.UpdatedOn = now
	if x.EffectiveAt.IsZero() {
		x.EffectiveAt = now.Add(a.Delay)
	}
	b, _ := json.Marshal(x)
	if err := a.Store.Update(ctx, func(tx store.Tx) error {
		for _, check := range checks {
			if err := check(tx); err != nil {
				return err
			}
		}
		if err := tx.Put(ctx, store.Doc{Kind: assignmentKind, Key: x.ID, Scope: strings.TrimRight(x.Scope, "/") + "/", Type: x.PrincipalID, Value: b}); err != nil {
			return err
		}
		return bump(ctx, tx)
	}); err != nil {
		return err
	}
	return a.reload(ctx)
}

// DeleteAssignment removes an assignment; with a delay it keeps working until the delay passes.
func (a *Authorizer) DeleteAssignment(ctx context.Context, id string) (*Assignment, error) {
	x, err := a.GetAssignment(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := a.Store.Update(ctx, func(tx store.Tx) error {
		if err := tx.Delete(ctx, assignmentKind, id); err != nil {
			return err
		}
		return bump(ctx, tx)
	}); err != nil {
		return nil, err
	}
	if a.Delay > 0 {
		a.mu.Lock()
		a.tombstones[strings.ToLower(id)] = tombstone{x, a.Clock.Now().Add(a.Delay)}
		a.mu.Unlock()
	}
	return x, a.reload(ctx)
}

// AssignmentKind is the store kind of role assignments, whose store scope
// is the assignment's scope followed by "/": resource.AnyUnder(…, scope,
// AssignmentKind) tells whether any lies at or below scope.
const AssignmentKind = assignmentKind

// DeleteAssignmentsUnder removes every assignment at or below scope (when
// the resource it is on is deleted) and every assignment of principalID
// (when a principal is deleted), whichever is set.
func (a *Authorizer) DeleteAssignmentsUnder(ctx context.Context, scope, principalID string) error {
	deleted := false
	if err := a.Store.Update(ctx, func(tx store.Tx) error {
		var err error
		deleted, err = DeleteAssignmentsIn(ctx, tx, scope, principalID)
		return err
	}); err != nil || !deleted {
		return err
	}
	return a.reload(ctx)
}

// DeleteAssignmentsIn is DeleteAssignmentsUnder in tx, the write of what
// they go with (a principal's delete), reading them there: one stored a
// moment ago, by another replica too, goes as well. deleted reports that
// there were some: Reload the authorizer once tx commits.
func DeleteAssignmentsIn(ctx context.Context, tx store.Tx, scope, principalID string) (deleted bool, err error) {
	var ids []string
	if scope != "" {
		docs, err := tx.List(ctx, assignmentKind, store.ListQuery{ScopePrefix: strings.TrimRight(scope, "/") + "/"})
		if err != nil {
			return false, err
		}
		for _, d := range docs {
			ids = append(ids, d.Key)
		}
	}
	if principalID != "" {
		xs, err := AssignmentsIn(ctx, tx, "", principalID)
		if err != nil {
			return false, err
		}
		for _, x := range xs {
			ids = append(ids, x.ID)
		}
	}
	if len(ids) == 0 {
		return false, nil
	}
	if err := store.DeleteKeys(ctx, tx, assignmentKind, ids...); err != nil {
		return false, err
	}
	return true, bump(ctx, tx)
}
