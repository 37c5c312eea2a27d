package resource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/safehold/safehold/failure"
	"github.com/safehold/safehold/store"
)

// LockKind is the store kind of ARM management locks
// (Microsoft.Authorization/locks): key the lock's id, Scope the locked
// scope followed by "/", so that a scope's locks and those below it share
// its prefix.
const LockKind = "authorization.lock"

// Lock levels.
const (
	LockCanNotDelete = "CanNotDelete"
	LockReadOnly     = "ReadOnly"
)

// Lock is a management lock as stored (and as the wire shows it).
type Lock struct {
	ID         string         `json:"id"`
	Name       string         `json:"name"`
	Type       string         `json:"type"`
	Properties LockProperties `json:"properties"`
}

// LockProperties are a lock's properties.
type LockProperties struct {
	Level  string      `json:"level"`
	Notes  string      `json:"notes,omitempty"`
	Owners []LockOwner `json:"owners,omitempty"`
}

// LockOwner is one owner of a lock (an application).
type LockOwner struct {
	ApplicationID string `json:"applicationId,omitempty"`
}

// Scope is the scope the lock applies to (its id without the
// /providers/Microsoft.Authorization/locks/{name} suffix).
func (l *Lock) Scope() string {
	if i := strings.LastIndex(strings.ToLower(l.ID), "/providers/microsoft.authorization/locks/"); i >= 0 {
		return l.ID[:i]
	}
	return l.ID
}

// lockPrefix is a scope as a lock document's store Scope: lower-case, one
// trailing "/".
func lockPrefix(scope string) string {
	return strings.ToLower(strings.TrimRight(scope, "/")) + "/"
}

// subscriptionPrefix is "/subscriptions/{id}/" of a scope under a
// subscription, "" for any other.
func subscriptionPrefix(scope string) string {
	rest, ok := cutPrefixFold(strings.TrimLeft(scope, "/"), "subscriptions/")
	if !ok {
		return ""
	}
	sub, _, _ := strings.Cut(rest, "/")
	if sub == "" {
		return ""
	}
	return "/subscriptions/" + sub + "/"
}

// PutLock stores l (its scope read by check in the same transaction) and
// reports whether it is new.
//
// An update keeps the id and name the lock was created with, whatever the
// casing of the path that updates it (l takes them).
func PutLock(ctx context.Context, st store.Store, l *Lock, check func(r store.Reader) error) (created bool, err error) {
	err = st.Update(ctx, func(tx store.Tx) error {
		if err := check(tx); err != nil {
			return err
		}
		old, err := GetLock(ctx, tx, l.ID)
		created = errors.Is(err, store.ErrNotFound)
		if err != nil && !created {
			return err
		}
		if !created {
			l.ID, l.Name = old.ID, old.Name
		}
		v, err := json.Marshal(l)
		if err != nil {
			return err
		}
		return tx.Put(ctx, store.Doc{Kind: LockKind, Key: l.ID, Scope: lockPrefix(l.Scope()), Value: v})
	})
	return created, err
}

// GetLock reads the lock of id (store.ErrNotFound when there is none).
func GetLock(ctx context.Context, r store.Reader, id string) (*Lock, error) {
	d, err := store.View(ctx, r, LockKind, id)
	if err != nil {
		return nil, err
	}
	var l Lock
	if err := json.Unmarshal(d.Value, &l); err != nil {
		return nil, fmt.Errorf("decode lock %s: %w", id, err)
	}
	return &l, nil
}

// DeleteLock removes the lock of id and returns it (store.ErrNotFound when
// there is none).
func DeleteLock(ctx context.Context, st store.Store, id string) (*Lock, error) {
	var l *Lock
	err := st.Update(ctx, func(tx store.Tx) error {
		var err error
		if l, err = GetLock(ctx, tx, id); err != nil {
			return err
		}
		return tx.Delete(ctx, LockKind, id)
	})
	return l, err
}

// LocksAround lists the locks that apply to scope (at it or above it) and,
// with below, those under it too, in id order.
func LocksAround(ctx context.Context, r store.Reader, scope string, below bool) ([]*Lock, error) {
	sub := subscriptionPrefix(scope)
	if sub == "" {
		return nil, nil
	}
	target := lockPrefix(scope)
	var out []*Lock
	var derr error
	err := store.ListView(ctx, r, LockKind, store.ListQuery{ScopePrefix: sub}, func(d *store.Doc, _ bool) bool {
		s := d.Scope // lockPrefix's: lower-case
		if !strings.HasPrefix(target, s) && !(below && strings.HasPrefix(s, target)) {
			return true
		}
		var l Lock
		if derr = json.Unmarshal(d.Value, &l); derr != nil {
			derr = fmt.Errorf("decode lock %s: %w", d.Key, derr)
			return false
		}
		out = append(out, &l)
		return true
	})
	if err == nil {
		err = derr
	}
	return out, err
}

// CheckLocks refuses a client's request of method (PUT, PATCH, POST or
// DELETE) on scope that a management lock forbids, as ARM does before the
// provider sees it: 409 ScopeLocked naming the locks. A lock applies to
// its scope and everything below it: CanNotDelete refuses deleting them,
// and deleting what holds a locked scope (its resource group, a parent
// resource); ReadOnly refuses every write and action besides. Reads are
// never asked about. It is one list of the subscription's locks, which
// SQLite answers from memory (its list mirror of the kind, current with
// every acknowledged write) and PostgreSQL in one query, so that a lock
// made through any replica is enforced by every other at once. Safehold's
// own upkeep (retention deleting expired points and their snapshots,
// garbage collection, the vault's own records) is no request and is never
// refused; a resource it creates or changes on a user's behalf is refused
// as the user's PUT would be (CheckWrite).
func CheckLocks(ctx context.Context, r store.Reader, method, scope string) error {
	del := method == http.MethodDelete
	locks, err := LocksAround(ctx, r, scope, del)
	if err != nil {
		return err
	}
	var names []string
	for _, l := range locks {
		if del || strings.EqualFold(l.Properties.Level, LockReadOnly) {
			names = append(names, fmt.Sprintf("'%s' (lock '%s', %s)", l.Scope(), l.Name, l.Properties.Level))
		}
	}
	if len(names) == 0 {
		return nil
	}
	op := "write"
	if del {
		op = "delete"
	}
	return failure.Conflictf("ScopeLocked", "The scope '%s' cannot perform %s operation because the following scope(s) are locked: %s. Please remove the lock and try again.",
		strings.TrimRight(scope, "/"), op, strings.Join(names, ", "))
}

// CheckWrite refuses Safehold creating or changing the resource id on a
// user's behalf where a management lock forbids a client's PUT of it (409
// ScopeLocked, as CheckLocks answers the PUT): a restore's disks and VM, a
// backup's snapshots and the resource group it keeps them in. The faces
// ask it when they accept the request that leads there (a restore, a
// backup now), and compute and EnsureResourceGroup again in the
// transaction that writes the resource, so that work accepted before a
// lock was made fails with ScopeLocked when it runs.
func CheckWrite(ctx context.Context, r store.Reader, id string) error {
	return CheckLocks(ctx, r, http.MethodPut, id)
}
