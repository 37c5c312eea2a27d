package authorization_test

import (
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/google/uuid"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestRoleAssignmentBodyScopeMustMatchURI: a role assignment PUT whose
// properties.scope names another scope than its URI's (the subscription's
// or a sibling group's for an assignment PUT at resource group ra-rg) is 400
// InvalidCreateRoleAssignmentRequest naming both scopes, as ARM answers it,
// and assigns nothing; the URI's own scope in another case or with a
// trailing slash (a body copied from a GET) is assigned, at the URI's
// scope. The body's scope was ignored before: the assignment was made at
// the URI's scope whatever the body said.
func TestRoleAssignmentBodyScopeMustMatchURI(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("ra-rg", "other-rg")
	ctx := e.Ctx()
	oid, _ := fixture.Principal(t, e, "scoped")
	ra, err := armauthorization.NewRoleAssignmentsClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	sub := "/subscriptions/" + e.Sub
	scope := sub + "/resourceGroups/ra-rg"
	reader := sub + "/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7"
	assign := func(bodyScope string) (armauthorization.RoleAssignmentsClientCreateResponse, error) {
		return ra.Create(ctx, scope, uuid.NewString(), armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
			PrincipalID: to.Ptr(oid), RoleDefinitionID: to.Ptr(reader), Scope: to.Ptr(bodyScope)}}, nil)
	}
	for _, other := range []string{sub, sub + "/resourceGroups/other-rg", scope + "/providers/Microsoft.Compute/disks/d1"} {
		_, err := assign(other)
		re := testserver.WantError(t, "body scope "+other, err, 400, "InvalidCreateRoleAssignmentRequest")
		if !strings.Contains(re.Error(), "'"+other+"' must match the scope specified on the URI '"+scope+"'") {
			t.Errorf("the refusal does not name both scopes: %v", re)
		}
	}
	pager := ra.NewListForSubscriptionPager(&armauthorization.RoleAssignmentsClientListForSubscriptionOptions{Filter: to.Ptr("principalId eq '" + oid + "'")})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Value) > 0 {
			t.Fatalf("a refused assignment was made: %s at %s", *page.Value[0].ID, *page.Value[0].Properties.Scope)
		}
	}
	got, err := assign(strings.ToLower(scope) + "/")
	if err != nil {
		t.Fatalf("body scope the URI's, in another case: %v", err)
	}
	if !strings.EqualFold(*got.Properties.Scope, scope) || !strings.HasPrefix(strings.ToLower(*got.ID), strings.ToLower(scope)+"/providers/") {
		t.Fatalf("assignment at %s (%s), want %s", *got.Properties.Scope, *got.ID, scope)
	}
}
