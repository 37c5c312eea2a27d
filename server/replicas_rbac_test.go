package server_test

import (
	"net/http"
	"testing"

	"github.com/google/uuid"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
)

// TestReplicasApplyEachOthersRoleChangesAtOnce: two replicas on one
// PostgreSQL store. A custom role made through one can be assigned
// through the other at once, the assignment grants through the first at
// once, and its delete through the other denies through the first on the
// very next request (a replica's index of role assignments was re-read
// only when 5 s old or before a deny, so a removed grant kept allowing
// there, and a role made a moment ago elsewhere did not exist).
func TestReplicasApplyEachOthersRoleChangesAtOnce(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	a := testserver.Start(t, testserver.WithStore(url))
	b := testserver.Start(t, testserver.WithStore(url))
	a.ResourceGroups("rbac-rg")
	sub := "/subscriptions/" + a.Sub
	group := sub + "/resourceGroups/rbac-rg?api-version=2021-04-01"
	const v = "?api-version=2022-04-01"

	resp, sp := a.Do("POST", "/providers/Safehold.Identity/servicePrincipals?api-version=2024-01-01", map[string]string{"displayName": "reader"})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create sp: %d %v", resp.StatusCode, sp)
	}
	cred, err := a.Conn.CredentialFor(sp["appId"].(string), sp["clientSecret"].(string))
	if err != nil {
		t.Fatal(err)
	}
	tok := testserver.Bearer(a.Token(cred))
	read := func(e *testserver.Env) int {
		resp, _ := e.Do("GET", group, nil, tok, testserver.AnyStatus())
		return resp.StatusCode
	}

	// A custom role made through a, assigned through b.
	role := uuid.NewString()
	roleID := sub + "/providers/Microsoft.Authorization/roleDefinitions/" + role
	if resp, m := a.Do("PUT", roleID+v, map[string]any{"properties": map[string]any{"roleName": "group reader " + role[:6],
		"permissions": []any{map[string]any{"actions": []string{"Microsoft.Resources/subscriptions/resourceGroups/read"}}}, "assignableScopes": []string{sub}}}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("role through a: %d %v", resp.StatusCode, m)
	}
	ra := sub + "/providers/Microsoft.Authorization/roleAssignments/" + uuid.NewString()
	if resp, m := b.Do("PUT", ra+v, map[string]any{"properties": map[string]any{"roleDefinitionId": roleID, "principalId": sp["objectId"]}}, testserver.AnyStatus()); resp.StatusCode != http.StatusCreated {
		t.Fatalf("assign through b the role made through a: %d %v", resp.StatusCode, m)
	}
	if st := read(a); st != http.StatusOK {
		t.Fatalf("the principal's read through a, granted through b: %d", st)
	}
	if st := read(b); st != http.StatusOK {
		t.Fatalf("the principal's read through b: %d", st)
	}

	// The assignment deleted through b: a denies at once.
	if resp, m := b.Do("DELETE", ra+v, nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("delete the assignment through b: %d %v", resp.StatusCode, m)
	}
	if st := read(a); st != http.StatusForbidden {
		t.Fatalf("the principal's read through a after its grant was deleted through b: %d, want 403", st)
	}

	// Assigned again through a, then the role's permissions narrowed
	// through a: b denies at once.
	ra = sub + "/providers/Microsoft.Authorization/roleAssignments/" + uuid.NewString()
	if resp, m := a.Do("PUT", ra+v, map[string]any{"properties": map[string]any{"roleDefinitionId": roleID, "principalId": sp["objectId"]}}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("assign through a: %d %v", resp.StatusCode, m)
	}
	if st := read(b); st != http.StatusOK {
		t.Fatalf("the principal's read through b, granted through a: %d", st)
	}
	if resp, m := a.Do("PUT", roleID+v, map[string]any{"properties": map[string]any{"roleName": "group reader " + role[:6],
		"permissions": []any{map[string]any{"actions": []string{"Microsoft.Compute/disks/read"}}}, "assignableScopes": []string{sub}}}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("narrow the role through a: %d %v", resp.StatusCode, m)
	}
	if st := read(b); st != http.StatusForbidden {
		t.Fatalf("the principal's read through b after its role was narrowed through a: %d, want 403", st)
	}
}
