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

// TestUnmatchedPrincipalType: a role assignment whose principalType is not
// its principal's (User or Group for a service principal, as Azure's
// RoleAssignments_Create examples send for their user) is 400
// UnmatchedPrincipalType at properties.principalType, as Azure answers it,
// and nothing is assigned: it was assigned, with the type silently
// corrected, so a template or script that Azure refuses passed its tests
// against Safehold. ServicePrincipal, in any case, or none is assigned.
func TestUnmatchedPrincipalType(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	oid, _ := fixture.Principal(t, e, "typed")
	ra, err := armauthorization.NewRoleAssignmentsClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	scope := "/subscriptions/" + e.Sub
	reader := scope + "/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7"
	assign := func(ptype *armauthorization.PrincipalType) (armauthorization.RoleAssignmentsClientCreateResponse, error) {
		return ra.Create(ctx, scope, uuid.NewString(), armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
			PrincipalID: to.Ptr(oid), RoleDefinitionID: to.Ptr(reader), PrincipalType: ptype}}, nil)
	}
	for _, pt := range []armauthorization.PrincipalType{armauthorization.PrincipalTypeUser, armauthorization.PrincipalTypeGroup} {
		_, err := assign(to.Ptr(pt))
		re := testserver.WantError(t, "principalType "+string(pt)+" for a service principal", err, 400, "UnmatchedPrincipalType")
		if !strings.Contains(re.Error(), "ServicePrincipal") || !strings.Contains(re.Error(), string(pt)) {
			t.Fatalf("the refusal does not name both types: %v", re)
		}
	}
	pager := ra.NewListForScopePager(scope, &armauthorization.RoleAssignmentsClientListForScopeOptions{Filter: to.Ptr("principalId eq '" + oid + "'")})
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Value) > 0 {
			t.Fatalf("a refused assignment was made: %s", *page.Value[0].ID)
		}
	}
	for _, pt := range []*armauthorization.PrincipalType{to.Ptr(armauthorization.PrincipalTypeServicePrincipal), to.Ptr(armauthorization.PrincipalType("serviceprincipal")), nil} {
		if pt != nil && *pt == "serviceprincipal" {
			// A second assignment of the same role would be RoleAssignmentExists.
			reader = scope + "/providers/Microsoft.Authorization/roleDefinitions/b24988ac-6180-42a0-ab88-20f7382dd24c"
		} else if pt == nil {
			reader = scope + "/providers/Microsoft.Authorization/roleDefinitions/8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
		}
		got, err := assign(pt)
		if err != nil {
			t.Fatalf("principalType %v: %v", pt, err)
		}
		if *got.Properties.PrincipalType != armauthorization.PrincipalTypeServicePrincipal {
			t.Fatalf("principalType %v answered %s", pt, *got.Properties.PrincipalType)
		}
	}
}
