package resource

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/safehold/safehold/failure"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

func putTestLock(t testing.TB, st store.Store, scope, name, level string) {
	t.Helper()
	l := &Lock{ID: scope + "/providers/Microsoft.Authorization/locks/" + name, Name: name, Type: "Microsoft.Authorization/locks", Properties: LockProperties{Level: level}}
	if _, err := PutLock(context.Background(), st, l, func(store.Reader) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

// CheckLocks: a lock applies to its scope and below (case-insensitively,
// at segment boundaries); CanNotDelete refuses deletes there and of what
// holds it; ReadOnly refuses writes and actions there too.
func TestCheckLocks(t *testing.T) {
	st := storetest.SQLite(t)
	const rg = "/subscriptions/s1/resourceGroups/rg"
	vault := rg + "/providers/Microsoft.DataProtection/backupVaults/v1"
	putTestLock(t, st, vault, "keep", LockCanNotDelete)
	putTestLock(t, st, rg+"/providers/Microsoft.Compute/disks/d1", "frozen", LockReadOnly)
	for _, c := range []struct {
		method, scope string
		locked        bool
	}{
		{"DELETE", vault, true},
		{"DELETE", vault + "/backupPolicies/p1", true},
		{"DELETE", rg, true},
		{"DELETE", "/subscriptions/S1", true},
		{"DELETE", "/SUBSCRIPTIONS/s1/resourcegroups/RG/providers/microsoft.dataprotection/backupvaults/V1", true},
		{"DELETE", vault + "2", false}, // v12 is not under v1
		{"DELETE", "/subscriptions/s1/resourceGroups/rg2", false},
		{"DELETE", "/subscriptions/s2/resourceGroups/rg", false},
		{"PUT", vault, false},
		{"PATCH", vault + "/backupPolicies/p1", false},
		{"POST", vault, false},
		{"PUT", rg + "/providers/Microsoft.Compute/disks/d1", true},
		{"POST", rg + "/providers/Microsoft.Compute/disks/d1", true},
		{"PUT", rg, false}, // ReadOnly below the group does not apply to it
		{"PUT", rg + "/providers/Microsoft.Compute/disks/d2", false},
	} {
		err := CheckLocks(context.Background(), st, c.method, c.scope)
		if got := failure.Is(err, failure.Conflict); got != c.locked || (err != nil && !got) {
			t.Errorf("%s %s: %v, want locked %v", c.method, c.scope, err, c.locked)
		}
	}
}

// waitLocksInMemory waits until st (SQLite) answers lists of locks from
// its mirror: a lock in another subscription is listed as stable.
func waitLocksInMemory(t testing.TB, st store.Store) {
	t.Helper()
	putTestLock(t, st, "/subscriptions/s0", "warm", LockCanNotDelete)
	for range 500 {
		stable := false
		if err := store.ListView(context.Background(), st, LockKind, store.ListQuery{}, func(_ *store.Doc, s bool) bool { stable = s; return false }); err != nil {
			t.Fatal(err)
		}
		if stable {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("the locks are not listed from memory")
}

// A lock is enforced by the request after the one that made it and no
// longer once it is deleted, when SQLite lists the locks from memory.
func TestCheckLocksSeesEachLockWrite(t *testing.T) {
	st := storetest.SQLite(t)
	ctx := context.Background()
	waitLocksInMemory(t, st)
	const rg = "/subscriptions/s1/resourceGroups/rg"
	disk := rg + "/providers/Microsoft.Compute/disks/d1"
	for i := range 20 {
		level := []string{LockCanNotDelete, LockReadOnly}[i%2]
		putTestLock(t, st, rg, "l", level)
		if err := CheckLocks(ctx, st, http.MethodDelete, disk); !failure.Is(err, failure.Conflict) {
			t.Fatalf("round %d: a disk's delete under a %s lock just made: %v", i, level, err)
		}
		if err := CheckLocks(ctx, st, http.MethodPut, disk); failure.Is(err, failure.Conflict) != (level == LockReadOnly) {
			t.Fatalf("round %d: a disk's PUT under a %s lock just made: %v", i, level, err)
		}
		if _, err := DeleteLock(ctx, st, rg+"/providers/Microsoft.Authorization/locks/l"); err != nil {
			t.Fatal(err)
		}
		if err := CheckLocks(ctx, st, http.MethodDelete, disk); err != nil {
			t.Fatalf("round %d: a disk's delete after its lock was deleted: %v", i, err)
		}
	}
}

// BenchmarkCheckLocks is the lock check of a write request: in a
// subscription without locks, and in one with 50 locks elsewhere (SQLite
// lists them from memory).
func BenchmarkCheckLocks(b *testing.B) {
	st := storetest.SQLite(b)
	ctx := context.Background()
	waitLocksInMemory(b, st)
	disk := "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Compute/disks/d1"
	b.Run("none", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := CheckLocks(ctx, st, http.MethodPut, disk); err != nil {
				b.Fatal(err)
			}
		}
	})
	for i := 0; i < 50; i++ {
		putTestLock(b, st, fmt.Sprintf("/subscriptions/s1/resourceGroups/other%d", i), "keep", LockCanNotDelete)
	}
	b.Run("50elsewhere", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if err := CheckLocks(ctx, st, http.MethodDelete, disk); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// A scope's delete (DeleteUnder: a resource group's) takes the locks at the
// scope and below it, cased as they were made, and no other: not those of
// a sibling whose name it prefixes, nor of what holds it, nor of another
// subscription. With the locks listed from memory, a lock made just before
// is taken too.
func TestDeleteUnderTakesTheLocksThere(t *testing.T) {
	ctx := context.Background()
	st := storetest.SQLite(t)
	waitLocksInMemory(t, st)
	p := &Platform{Store: st}
	const rg = "/subscriptions/s1/resourceGroups/RG"
	putTestLock(t, st, rg, "at", LockCanNotDelete)
	putTestLock(t, st, rg+"/providers/Microsoft.Compute/disks/D1", "below", LockReadOnly)
	putTestLock(t, st, "/subscriptions/s1/resourceGroups/rg2", "sibling", LockCanNotDelete)
	putTestLock(t, st, "/subscriptions/s1", "above", LockCanNotDelete)
	putTestLock(t, st, "/subscriptions/s2/resourceGroups/rg", "elsewhere", LockCanNotDelete)
	if err := p.DeleteUnder(ctx, "/subscriptions/S1/resourcegroups/rg"); err != nil {
		t.Fatal(err)
	}
	var left []string
	if err := store.ListView(ctx, st, LockKind, store.ListQuery{}, func(d *store.Doc, _ bool) bool {
		left = append(left, d.Key)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"/subscriptions/s0/providers/microsoft.authorization/locks/warm",
		"/subscriptions/s1/providers/microsoft.authorization/locks/above",
		"/subscriptions/s1/resourcegroups/rg2/providers/microsoft.authorization/locks/sibling",
		"/subscriptions/s2/resourcegroups/rg/providers/microsoft.authorization/locks/elsewhere",
	}
	if fmt.Sprint(left) != fmt.Sprint(want) {
		t.Fatalf("locks left:\n%v\nwant\n%v", left, want)
	}
}
