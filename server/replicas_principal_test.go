package server_test

import (
	"net/http"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
)

// TestReplicasRefuseAPrincipalDeletedThroughAnother: two replicas on one
// PostgreSQL store, which answer the check of a caller's principal from
// memory while the generation read with each request's checks stands. A
// service principal with no role assignment (so that its delete changes
// none) is authenticated through b (403 for want of a role, not 401),
// again (from memory), then deleted through a: b refuses its token on the
// very next request (401), as does a.
func TestReplicasRefuseAPrincipalDeletedThroughAnother(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	a := testserver.Start(t, testserver.WithStore(url))
	b := testserver.Start(t, testserver.WithStore(url))
	resp, sp := a.Do("POST", "/providers/Safehold.Identity/servicePrincipals?api-version=2024-01-01", map[string]string{"displayName": "gone"})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create sp: %d %v", resp.StatusCode, sp)
	}
	cred, err := a.Conn.CredentialFor(sp["appId"].(string), sp["clientSecret"].(string))
	if err != nil {
		t.Fatal(err)
	}
	tok := testserver.Bearer(a.Token(cred))
	a.ResourceGroups("principal-rg")
	group := "/subscriptions/" + a.Sub + "/resourceGroups/principal-rg?api-version=2021-04-01"
	status := func(e *testserver.Env) int {
		resp, _ := e.Do("GET", group, nil, tok, testserver.AnyStatus())
		return resp.StatusCode
	}
	for i := range 2 {
		if st := status(b); st != http.StatusForbidden {
			t.Fatalf("the principal's read %d through b: %d, want 403 (authenticated, no role)", i+1, st)
		}
	}
	if resp, m := a.Do("DELETE", "/providers/Safehold.Identity/servicePrincipals/"+sp["objectId"].(string)+"?api-version=2024-01-01", nil, testserver.AnyStatus()); resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		t.Fatalf("delete the principal through a: %d %v", resp.StatusCode, m)
	}
	if st := status(b); st != http.StatusUnauthorized {
		t.Fatalf("the deleted principal's read through b: %d, want 401", st)
	}
	if st := status(a); st != http.StatusUnauthorized {
		t.Fatalf("the deleted principal's read through a: %d, want 401", st)
	}
}
