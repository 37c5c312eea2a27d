package rbac

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/store/storetest"
)

func TestActionMatches(t *testing.T) {
	cases := []struct {
		pattern, action string
		want            bool
	}{
		{"*", "Microsoft.Compute/disks/write", true},
		{"*/read", "Microsoft.Compute/disks/read", true},
		{"*/read", "Microsoft.Compute/disks/write", false},
		{"Microsoft.Authorization/*/Write", "microsoft.authorization/roleAssignments/write", true},
		{"Microsoft.Compute/disks/read", "Microsoft.Compute/disks/readx", false},
		{"Microsoft.RecoveryServices/*", "Microsoft.RecoveryServices/Vaults/backupFabrics/protectionContainers/protectedItems/backup/action", true},
		{"Microsoft.Compute/*/read", "Microsoft.Compute/read", false},
	}
	for _, c := range cases {
		if got := ActionMatches(c.pattern, c.action); got != c.want {
			t.Errorf("%s ~ %s = %v", c.pattern, c.action, got)
		}
	}
}

func TestScopeCovers(t *testing.T) {
	if !ScopeCovers("/subscriptions/S/resourceGroups/RG", "/subscriptions/s/resourcegroups/rg/providers/x/y/z") {
		t.Fatal("child not covered")
	}
	if ScopeCovers("/subscriptions/s/resourceGroups/rg", "/subscriptions/s/resourceGroups/rg2") {
		t.Fatal("sibling with common prefix covered")
	}
	if !ScopeCovers("/", "/subscriptions/s") {
		t.Fatal("root does not cover")
	}
}

func FuzzScopeAndAction(f *testing.F) {
	f.Add("Microsoft.*/read", "Microsoft.Compute/disks/read", "/subscriptions/a", "/subscriptions/a/b")
	f.Add("**a*", "aaaa", "/", "")
	f.Fuzz(func(t *testing.T, pattern, action, scope, target string) {
		ActionMatches(pattern, action)
		if ActionMatches(action, action) != !strings.Contains(action, "*") && !strings.Contains(action, "*") {
			t.Fatalf("literal %q does not match itself", action)
		}
		if ScopeCovers(scope, target) && scope != "" && scope != "/" && len(strings.TrimRight(target, "/")) < len(strings.TrimRight(scope, "/")) {
			t.Fatalf("%q covers shorter %q", scope, target)
		}
	})
}

func TestAuthorizerDelayAndInheritance(t *testing.T) {
	ctx := context.Background()
	st := storetest.SQLite(t)
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	a, err := New(ctx, st, clk, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	x := &Assignment{ID: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Authorization/roleAssignments/1", Name: "1", AssignmentProperties: AssignmentProperties{Scope: "/subscriptions/s/resourceGroups/rg",
		RoleDefinitionID: "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/" + DiskBackupReader, PrincipalID: "p"}}
	if err := a.PutAssignment(ctx, x); err != nil {
		t.Fatal(err)
	}
	disk := "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/d"
	if a.Allowed("p", "Microsoft.Compute/disks/read", disk) {
		t.Fatal("effective before the delay")
	}
	clk.Advance(time.Minute)
	if !a.Allowed("p", "Microsoft.Compute/disks/read", disk) || a.Allowed("p", "Microsoft.Compute/disks/write", disk) {
		t.Fatal("Disk Backup Reader semantics")
	}
	if err := a.Check(ctx, arm.Caller{ObjectID: "p"}, "Microsoft.Compute/snapshots/write", "/subscriptions/s/resourceGroups/snap"); err == nil || !strings.Contains(err.Error(), "AuthorizationFailed") {
		t.Fatalf("check: %v", err)
	}
	// A reload from the store (a restart) keeps the assignment.
	b, _ := New(ctx, st, clk, time.Minute)
	if !b.Allowed("p", "Microsoft.Compute/disks/read", disk) {
		t.Fatal("assignment lost on reload")
	}
	if _, err := a.DeleteAssignment(ctx, x.ID); err != nil {
		t.Fatal(err)
	}
	if !a.Allowed("p", "Microsoft.Compute/disks/read", disk) {
		t.Fatal("removal took effect before the delay")
	}
	clk.Advance(time.Minute)
	if a.Allowed("p", "Microsoft.Compute/disks/read", disk) {
		t.Fatal("removal never took effect")
	}
	// Cached answers hold only inside their window: set back into the
	// propagation delay, the removed assignment still counts.
	clk.Advance(-30 * time.Second)
	if !a.Allowed("p", "Microsoft.Compute/disks/read", disk) {
		t.Fatal("a cached answer was served outside the window it holds in")
	}
}

// Answers are cached, and a change of assignments is seen at once.
func TestAuthorizerCacheFollowsChanges(t *testing.T) {
	ctx := context.Background()
	st := storetest.SQLite(t)
	a, err := New(ctx, st, clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), 0)
	if err != nil {
		t.Fatal(err)
	}
	disk := "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/d"
	for range 3 {
		if a.Allowed("p", "Microsoft.Compute/disks/read", disk) {
			t.Fatal("allowed with no assignment")
		}
	}
	x := &Assignment{ID: "/subscriptions/s/providers/Microsoft.Authorization/roleAssignments/2", Name: "2", AssignmentProperties: AssignmentProperties{Scope: "/subscriptions/s",
		RoleDefinitionID: "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/" + DiskBackupReader, PrincipalID: "P"}}
	if err := a.PutAssignment(ctx, x); err != nil {
		t.Fatal(err)
	}
	if !a.Allowed("p", "Microsoft.Compute/disks/read", disk) {
		t.Fatal("a new assignment is hidden by a cached denial")
	}
	if _, err := a.DeleteAssignment(ctx, x.ID); err != nil {
		t.Fatal(err)
	}
	if a.Allowed("p", "Microsoft.Compute/disks/read", disk) {
		t.Fatal("a removed assignment is still served from the cache")
	}
}
