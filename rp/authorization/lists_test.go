package authorization_test

import (
	"testing"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/rbac"
)

// TestListNeedsAGrant: as in ARM, a collection the caller may not read as a
// whole lists the items it may read only to a caller holding the action
// somewhere below it; a caller with no grant there is denied (403
// AuthorizationFailed), not shown an empty list that hides the missing
// role (and tells whether the vault exists).
func TestListNeedsAGrant(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("vaultrg", "disks")
	fixture.RSVault(t, e, "vaultrg", "rv", fixture.StandardVault())
	outsider, cred := fixture.Principal(t, e, "outsider")
	as := testserver.As(cred)

	V := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/rv"
	jobs := V + "/backupJobs?api-version=2023-04-01"
	lists := []string{jobs,
		V + "/backupPolicies?api-version=2023-04-01",
		V + "/backupProtectedItems?api-version=2023-04-01",
		"/subscriptions/" + e.Sub + "/providers/Microsoft.RecoveryServices/vaults?api-version=2023-04-01",
		"/subscriptions/" + e.Sub + "/providers/Microsoft.Compute/disks?api-version=2024-03-02",
		"/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/nosuch/backupJobs?api-version=2023-04-01",
	}
	for _, u := range lists {
		resp, m := e.Do("GET", u, nil, as)
		if resp.StatusCode != 403 || testserver.ErrorCode(m) != "AuthorizationFailed" {
			t.Errorf("GET %s without a role: %d %v, want 403 AuthorizationFailed", u, resp.StatusCode, m)
		}
	}

	// A role below the subscription: the subscription-wide vault list
	// shows what it covers; the vault's jobs, which it does not cover,
	// stay denied.
	fixture.Assign(t, e, "/subscriptions/"+e.Sub+"/resourceGroups/disks", rbac.Reader, outsider)
	resp, m := e.Do("GET", lists[3], nil, as)
	if resp.StatusCode != 200 || testserver.Field(m, "value") == nil || len(testserver.Field(m, "value").([]any)) != 0 {
		t.Fatalf("vault list with a Reader role on another group: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.Do("GET", jobs, nil, as); resp.StatusCode != 403 {
		t.Fatalf("jobs of a vault the role does not cover: %d %v", resp.StatusCode, m)
	}
	// A role on the vault's group: the vault is listed, its jobs readable.
	fixture.Assign(t, e, "/subscriptions/"+e.Sub+"/resourceGroups/vaultrg", rbac.BackupReader, outsider)
	resp, m = e.Do("GET", lists[3], nil, as)
	if v, _ := testserver.Field(m, "value").([]any); resp.StatusCode != 200 || len(v) != 1 {
		t.Fatalf("vault list with Backup Reader on its group: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.Do("GET", jobs, nil, as); resp.StatusCode != 200 {
		t.Fatalf("jobs with Backup Reader: %d %v", resp.StatusCode, m)
	}
}
