package authorization

import (
	"errors"
	"net/http"
	"strings"
	"unicode"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// Management locks (Microsoft.Authorization/locks) at a subscription, a
// resource group or a resource (nested ones too). The router enforces them
// (resource.CheckLocks); this face stores and lists them. Writing or
// deleting one needs Microsoft.Authorization/locks/write or /delete (Owner,
// User Access Administrator), reading one locks/read.

const lockType = "Microsoft.Authorization/locks"

func (pr *Provider) registerLocks(rt *arm.Router) {
	rt.HandleResource("/{*scope}/providers/Microsoft.Authorization/locks/{lockName}",
		arm.Methods{List: pr.listLocks, Get: pr.getLock, Put: pr.putLock, Delete: pr.deleteLock})
}

func lockID(scope, name string) string {
	return strings.TrimRight(scope, "/") + "/providers/" + lockType + "/" + name
}

func lockNotFound(name string) error {
	return arm.Errorf(http.StatusNotFound, "LockNotFound", "The lock '%s' could not be found.", name)
}

// checkLockScope refuses a scope a lock cannot be at (the tenant's, or no
// valid id) and one that does not exist.
func (pr *Provider) checkLockScope(r *arm.Request, rd store.Reader, scope string) error {
	id, err := arm.ParseID(scope)
	if scope == "/" || err != nil || id.SubscriptionID == "" {
		return arm.BadRequest("InvalidLockScope", "The scope '%s' cannot hold a management lock: use '/subscriptions/{subscriptionId}', a resource group or a resource id.", scope)
	}
	return checkScopeIn(r.HTTP.Context(), rd, scope)
}

func (pr *Provider) getLock(r *arm.Request) (*arm.Response, error) {
	scope := scopeOf(r)
	if err := pr.checkLockScope(r, pr.p.Store, scope); err != nil {
		return nil, err
	}
	l, err := resource.GetLock(r.HTTP.Context(), pr.p.Store, lockID(scope, r.Param("lockName")))
	if errors.Is(err, store.ErrNotFound) {
		return nil, lockNotFound(r.Param("lockName"))
	}
	if err != nil {
		return nil, err
	}
	return arm.OK(l), nil
}

// validLockName reports what is wrong with a lock's name ("" when nothing):
// the API's rules (at most 260 characters, none of <, >, %, &, :, \, ?, /
// or control characters) and ARM's for any name (no trailing period or space).
func validLockName(name string) string {
	switch {
	case name == "":
		return "The lock name is required."
	case len(name) > 260:
		return "The lock name cannot be longer than 260 characters."
	case strings.ContainsAny(name, `<>%&:\?/`) || strings.ContainsFunc(name, unicode.IsControl):
		return "The lock name cannot contain <, >, %, &, :, \\, ?, / or control characters."
	case strings.HasSuffix(name, ".") || strings.HasSuffix(name, " "):
		return "The lock name cannot end with a period or a space."
	}
	return ""
}

func (pr *Provider) putLock(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	scope, name := scopeOf(r), r.Param("lockName")
	if msg := validLockName(name); msg != "" {
		return nil, arm.BadRequest("InvalidLockName", "The lock name '%s' is invalid: %s", name, msg)
	}
	pp, err := decodeProperties[resource.LockProperties](r)
	if err != nil {
		return nil, err
	}
	switch {
	case strings.EqualFold(pp.Level, resource.LockCanNotDelete):
		pp.Level = resource.LockCanNotDelete
	case strings.EqualFold(pp.Level, resource.LockReadOnly):
		pp.Level = resource.LockReadOnly
	case pp.Level == "":
		return nil, arm.BadRequestAt("properties.level", "LockLevelRequired", "properties.level is required: 'CanNotDelete' (the scope and what is under it cannot be deleted) or 'ReadOnly' (nor written).")
	default:
		return nil, arm.BadRequestAt("properties.level", "InvalidLockLevel", "The lock level '%s' is invalid: use 'CanNotDelete' or 'ReadOnly'.", pp.Level)
	}
	if n := len([]rune(pp.Notes)); n > 512 {
		return nil, arm.BadRequestAt("properties.notes", "LockNotesTooLong", "properties.notes is %d characters long: a lock's notes can have at most 512.", n)
	}
	for i, o := range pp.Owners {
		if strings.TrimSpace(o.ApplicationID) == "" {
			return nil, arm.BadRequestAt("properties.owners", "InvalidLockOwner", "properties.owners[%d].applicationId is required.", i)
		}
	}
	l := &resource.Lock{ID: lockID(scope, name), Name: name, Type: lockType, Properties: pp}
	created, err := resource.PutLock(ctx, pr.p.Store, l, func(rd store.Reader) error {
		// Read where the lock is stored, so that a group's delete racing
		// the PUT does not leave the lock behind.
		if err := pr.checkLockScope(r, rd, scope); err != nil {
			return err
		}
		if id, _ := arm.ParseID(scope); id.ResourceGroup != "" {
			return resource.CheckGroupOpen(ctx, rd, id.SubscriptionID, id.ResourceGroup)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return arm.CreatedOrOK(created, l), nil
}

// deleteLock deletes a lock. One there is goes whether or not its scope
// still exists: a lock left behind by its resource's deletion (earlier
// releases left a pruned snapshot's, a purged item's container's) refuses
// its group's delete and must stay deletable. Without one, the scope is
// checked as for a GET.
func (pr *Provider) deleteLock(r *arm.Request) (*arm.Response, error) {
	scope := scopeOf(r)
	_, err := resource.DeleteLock(r.HTTP.Context(), pr.p.Store, lockID(scope, r.Param("lockName")))
	if errors.Is(err, store.ErrNotFound) {
		if err := pr.checkLockScope(r, pr.p.Store, scope); err != nil {
			return nil, err
		}
		return arm.NoContent(), nil
	}
	if err != nil {
		return nil, err
	}
	return arm.OK(nil), nil
}

// listLocks lists the locks at the scope, above it and below it; with
// $filter=atScope() only those that apply to it (at it or above).
func (pr *Provider) listLocks(r *arm.Request) (*arm.Response, error) {
	scope := scopeOf(r)
	if err := pr.checkLockScope(r, pr.p.Store, scope); err != nil {
		return nil, err
	}
	filter := strings.TrimSpace(r.Query("$filter"))
	atScope := atScopeRE.MatchString(filter)
	if filter != "" && !atScope {
		return nil, arm.BadRequest("InvalidFilterInQueryString", "The $filter '%s' is not supported: use atScope() (the locks that apply at the scope) or no filter (those below it too).", filter)
	}
	locks, err := resource.LocksAround(r.HTTP.Context(), pr.p.Store, scope, !atScope)
	if err != nil {
		return nil, err
	}
	return arm.PageOK(r, locks, 500)
}
