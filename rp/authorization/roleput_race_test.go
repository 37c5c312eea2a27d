package authorization_test

import (
	"context"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/google/uuid"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/rbac"
)

// roleServer starts a server; sub is its subscription's id, rd a role
// definitions client of its admin.
func roleServer(t *testing.T) (*testserver.Env, context.Context, string, *armauthorization.RoleDefinitionsClient) {
	t.Helper()
	e := testserver.Start(t)
	rd, err := armauthorization.NewRoleDefinitionsClient(e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	return e, e.Ctx(), "/subscriptions/" + e.Sub, rd
}

// TestConcurrentCustomRolesOfOneName: custom roles of one name PUT at once
// under different GUIDs make one role; every other PUT is 409
// RoleDefinitionWithSameNameExists. The name was checked against the roles
// in memory before the write, outside its transaction, so PUTs that
// overlapped each made a role of that name.
func TestConcurrentCustomRolesOfOneName(t *testing.T) {
	_, ctx, sub, rd := roleServer(t)
	for round := 0; round < 5; round++ {
		name := "operators " + uuid.NewString()[:8]
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				_, errs[i] = rd.CreateOrUpdate(ctx, sub, uuid.NewString(), armauthorization.RoleDefinition{Properties: &armauthorization.RoleDefinitionProperties{
					RoleName: to.Ptr(name), AssignableScopes: []*string{to.Ptr(sub)},
					Permissions: []*armauthorization.Permission{{Actions: []*string{to.Ptr("*/read")}}}}}, nil)
			})
		}
		wg.Wait()
		made := 0
		for _, err := range errs {
			switch {
			case err == nil:
				made++
			case !testserver.HasError(err, 409, "RoleDefinitionWithSameNameExists"):
				t.Fatalf("a PUT of role %q: %v", name, err)
			}
		}
		listed := 0
		for pager := rd.NewListPager(sub, &armauthorization.RoleDefinitionsClientListOptions{Filter: to.Ptr("roleName eq '" + name + "'")}); pager.More(); {
			page, err := pager.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			listed += len(page.Value)
		}
		if made != 1 || listed != 1 {
			t.Fatalf("%d PUTs at once of custom role %q: %d made, %d listed; want 1", n, name, made, listed)
		}
	}
}

// TestConcurrentAssignmentRaces: what a role assignment's PUT checks holds
// when the assignment is stored, whatever overlaps it. Assignments of one
// role to one principal at one scope PUT at once under different names make
// one assignment (the others 409 RoleAssignmentExists); an assignment PUT
// while its custom role is deleted leaves either the role with its
// assignment or neither (never an assignment of a role that is gone:
// RoleDefinitionDoesNotExist, or the delete's RoleDefinitionHasAssignments);
// one PUT while its principal is deleted leaves no assignment of the
// deleted principal. Each was checked against memory before the write.
func TestConcurrentAssignmentRaces(t *testing.T) {
	e, ctx, sub, rd := roleServer(t)
	ra, err := armauthorization.NewRoleAssignmentsClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	assign := func(role, principal string) error {
		_, err := ra.Create(ctx, sub, uuid.NewString(), armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
			RoleDefinitionID: to.Ptr(sub + "/providers/Microsoft.Authorization/roleDefinitions/" + role), PrincipalID: to.Ptr(principal)}}, nil)
		return err
	}
	assignmentsOf := func(principal string) int {
		t.Helper()
		n := 0
		for pager := ra.NewListForScopePager(sub, &armauthorization.RoleAssignmentsClientListForScopeOptions{Filter: to.Ptr("principalId eq '" + principal + "'")}); pager.More(); {
			page, err := pager.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			n += len(page.Value)
		}
		return n
	}
	newRole := func() string {
		t.Helper()
		role := uuid.NewString()
		if _, err := rd.CreateOrUpdate(ctx, sub, role, armauthorization.RoleDefinition{Properties: &armauthorization.RoleDefinitionProperties{
			RoleName: to.Ptr("readers " + role[:8]), AssignableScopes: []*string{to.Ptr(sub)},
			Permissions: []*armauthorization.Permission{{Actions: []*string{to.Ptr("*/read")}}}}}, nil); err != nil {
			t.Fatal(err)
		}
		return role
	}
	for round := 0; round < 5; round++ {
		// One role, one principal, one scope: one assignment.
		principal, _ := fixture.Principal(t, e, "p")
		role := newRole()
		const n = 6
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() { errs[i] = assign(role, principal) })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil && !testserver.HasError(err, 409, "RoleAssignmentExists") {
				t.Fatalf("an assignment PUT at once with others: %v", err)
			}
		}
		if got := assignmentsOf(principal); got != 1 {
			t.Fatalf("%d PUTs at once of one role's assignment to one principal at one scope: %d assignments, want 1", n, got)
		}

		// A role deleted while it is assigned.
		other, _ := fixture.Principal(t, e, "q")
		role = newRole()
		var aerr, derr error
		wg.Go(func() { aerr = assign(role, other) })
		wg.Go(func() { _, derr = rd.Delete(ctx, sub, role, nil) })
		wg.Wait()
		_, gerr := rd.Get(ctx, sub, role, nil)
		roleGone, assigned := testserver.HasError(gerr, 404, ""), assignmentsOf(other) == 1
		if roleGone == assigned || (aerr != nil) == assigned || (derr != nil) == roleGone {
			t.Fatalf("an assignment PUT while its role is deleted: role gone %v (delete: %v), assigned %v (PUT: %v)", roleGone, derr, assigned, aerr)
		}

		// A principal deleted while it is assigned a role.
		third, _ := fixture.Principal(t, e, "r")
		wg.Go(func() { assign(role2(role, roleGone), third) })
		wg.Go(func() {
			if resp, m := e.Do("DELETE", "/providers/Safehold.Identity/servicePrincipals/"+third+"?api-version=2024-01-01", nil); resp.StatusCode >= 300 {
				t.Errorf("delete principal: %d %v", resp.StatusCode, m)
			}
		})
		wg.Wait()
		if got := assignmentsOf(third); got != 0 {
			t.Fatalf("assignments of a principal deleted while assigned: %d", got)
		}
	}
}

// role2 is a role to assign: role while it exists, else Reader.
func role2(role string, gone bool) string {
	if gone {
		return rbac.Reader
	}
	return role
}

// TestConcurrentRoleDeleteAndWidening: a custom role's delete is authorized
// at the scopes the role has when it is deleted. A caller who may delete
// roles at one resource group only, deleting a role of that group while an
// admin widens it to the subscription, either deletes it first (the admin's
// PUT then makes it again) or is refused 403; it never deletes the widened
// role. The delete was authorized at the scopes read from memory before its
// transaction.
func TestConcurrentRoleDeleteAndWidening(t *testing.T) {
	raceWidening(t, "delete", func(ctx context.Context, asRG *armauthorization.RoleDefinitionsClient, rg, guid, name string) error {
		_, err := asRG.Delete(ctx, rg, guid, nil)
		return err
	}, func(ctx context.Context, rd *armauthorization.RoleDefinitionsClient, round int, sub, rg, guid string) {
		_, gerr := rd.Get(ctx, sub, guid, nil)
		if gerr != nil && !testserver.HasError(gerr, 404, "") {
			t.Fatal(gerr)
		}
		if gerr != nil {
			t.Fatalf("round %d: a caller who may delete roles only in %s deleted a role the admin had widened to %s", round, rg, sub)
		}
	})
}

// TestConcurrentRoleUpdateAndWidening: a custom role's update is
// authorized at the scopes the role has when it is written. A caller who
// may write roles at one resource group only, updating a role of that
// group while an admin widens it to the subscription, either updates it
// first (the admin's PUT then widens it) or is refused 403; it never
// narrows the widened role back to its group.
func TestConcurrentRoleUpdateAndWidening(t *testing.T) {
	raceWidening(t, "update", func(ctx context.Context, asRG *armauthorization.RoleDefinitionsClient, rg, guid, name string) error {
		_, err := asRG.CreateOrUpdate(ctx, rg, guid, readRole(name, rg), nil)
		return err
	}, func(ctx context.Context, rd *armauthorization.RoleDefinitionsClient, round int, sub, rg, guid string) {
		got, err := rd.Get(ctx, sub, guid, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Properties.AssignableScopes) != 2 {
			t.Fatalf("round %d: a caller who may write roles only in %s narrowed a role the admin had widened to %s (%d scopes)", round, rg, sub, len(got.Properties.AssignableScopes))
		}
	})
}

// readRole is a custom role named name, assignable at scopes, that reads.
func readRole(name string, scopes ...string) armauthorization.RoleDefinition {
	return armauthorization.RoleDefinition{Properties: &armauthorization.RoleDefinitionProperties{
		RoleName: to.Ptr(name), AssignableScopes: to.SliceOfPtrs(scopes...),
		Permissions: []*armauthorization.Permission{{Actions: []*string{to.Ptr("*/read")}}}}}
}

// raceWidening runs 20 rounds of a group admin's write (what: "delete" or
// "update") of a role of resource group "narrow", made at once with an
// admin's PUT widening the role to the subscription. The group admin's
// write either succeeds, and then after checks the role the subscription
// admin widened, or is refused 403.
func raceWidening(t *testing.T, what string, groupAdmin func(ctx context.Context, asRG *armauthorization.RoleDefinitionsClient, rg, guid, name string) error,
	after func(ctx context.Context, rd *armauthorization.RoleDefinitionsClient, round int, sub, rg, guid string)) {
	e, ctx, sub, rd := roleServer(t)
	e.ResourceGroups("narrow")
	rg := sub + "/resourceGroups/narrow"
	uid, ucred := fixture.Principal(t, e, "rg-admin")
	fixture.Assign(t, e, rg, rbac.UserAccessAdministrator, uid)
	asRG, err := armauthorization.NewRoleDefinitionsClient(ucred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 20; round++ {
		guid := uuid.NewString()
		name := "readers " + guid[:8]
		if _, err := rd.CreateOrUpdate(ctx, rg, guid, readRole(name, rg), nil); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var perr, gerr error
		wg.Go(func() { _, perr = rd.CreateOrUpdate(ctx, sub, guid, readRole(name, rg, sub), nil) })
		wg.Go(func() { gerr = groupAdmin(ctx, asRG, rg, guid, name) })
		wg.Wait()
		if perr != nil {
			t.Fatalf("the admin's PUT widening the role: %v", perr)
		}
		if gerr != nil && !testserver.HasError(gerr, 403, "AuthorizationFailed") {
			t.Fatalf("the group admin's %s: %v", what, gerr)
		}
		if gerr == nil {
			after(ctx, rd, round, sub, rg, guid)
		}
	}
}
