package recoveryservices_test

import (
	"testing"

	"github.com/safehold/safehold/internal/testserver"
)

// TestVaultPutKeepsOmittedTags: as Azure's Recovery Services vaults do, a
// PUT of an existing vault that does not send tags keeps the vault's tags
// (Azure's PUT examples update a vault and document tags the request does
// not send; az resource tag moved to PATCH to change them, azure-cli#11588);
// tags sent replace them, an empty map clears them, and a new vault has
// only the tags its PUT sends.
func TestVaultPutKeepsOmittedTags(t *testing.T) {
	e := testserver.StartWithGroups(t, "vaultrg")
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/tv" + rsAPI
	put := func(what string, body map[string]any, code int) map[string]any {
		t.Helper()
		body["location"], body["sku"] = "westus", map[string]any{"name": "Standard"}
		resp, m := e.Do("PUT", R, body)
		must(t, what, resp, m, code)
		_, g := e.Do("GET", R, nil)
		if str(m, "tags") != str(g, "tags") {
			t.Fatalf("%s: the PUT answered tags %v, a GET %v", what, m["tags"], g["tags"])
		}
		return g
	}
	tags := func(g map[string]any) int {
		m, _ := g["tags"].(map[string]any)
		return len(m)
	}
	if g := put("create", map[string]any{"tags": map[string]string{"env": "ci"}}, 201); str(g, "tags.env") != "ci" {
		t.Fatalf("created vault: %v", g)
	}
	if g := put("update without tags", map[string]any{"properties": map[string]any{"publicNetworkAccess": "Enabled"}}, 200); str(g, "tags.env") != "ci" {
		t.Fatalf("a PUT without tags dropped them: %v", g)
	}
	if g := put("update with null tags", map[string]any{"tags": nil}, 200); str(g, "tags.env") != "ci" {
		t.Fatalf("a PUT with null tags dropped them: %v", g)
	}
	if g := put("update with tags", map[string]any{"tags": map[string]string{"team": "backup"}}, 200); str(g, "tags.team") != "backup" || str(g, "tags.env") != "" {
		t.Fatalf("a PUT with tags did not replace them: %v", g)
	}
	if g := put("update with no tags", map[string]any{"tags": map[string]string{}}, 200); tags(g) != 0 {
		t.Fatalf("a PUT with {} did not clear the tags: %v", g)
	}
	resp, m := e.Do("DELETE", R, nil)
	must(t, "delete", resp, m, 200, 204)
	if g := put("create again", map[string]any{}, 201); tags(g) != 0 {
		t.Fatalf("a new vault has tags it was not given: %v", g)
	}
}
