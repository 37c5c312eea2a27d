package dataprotection_test

import (
	"regexp"
	"testing"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestOperationURLsOfAnotherRegion: a Backup vault operation's status and
// result (locations/{region}/operationStatus|operationResults/{id}) are
// answered at the vault's region, which its polling headers name, and 404
// OperationNotFound at another region's, as ARM answers them; they were
// answered under any location. The vault-scoped status route still
// answers it.
func TestOperationURLsOfAnotherRegion(t *testing.T) {
	e, _ := contractVault(t)
	vault := v1Path(e)
	resp, m := e.Do("PATCH", vault+"?api-version=2024-04-01", `{"tags":{"env":"ci"}}`)
	fixture.Accepted(t, "PATCH", resp)
	status, result := resp.Header.Get("Azure-AsyncOperation"), resp.Header.Get("Location")
	if st := e.Poll(status); st["status"] != "Succeeded" {
		t.Fatalf("status: %v", st)
	}
	if resp, m = e.Do("GET", result, nil); resp.StatusCode != 200 {
		t.Fatalf("result: %d %v", resp.StatusCode, m)
	}
	re := regexp.MustCompile(`(?i)/locations/([^/]+)/`)
	for _, u := range []string{status, result} {
		loc := re.FindStringSubmatch(u)
		if loc == nil || loc[1] != "westus" {
			t.Fatalf("%s is not at the vault's region westus", u)
		}
		wrong := re.ReplaceAllString(u, "/locations/eastus/")
		resp, m := e.Do("GET", wrong, nil, testserver.AnyStatus())
		if resp.StatusCode != 404 || testserver.ErrorCode(m) != "OperationNotFound" {
			t.Errorf("GET %s: %d %v, want 404 OperationNotFound", wrong, resp.StatusCode, m)
		}
	}
	id := regexp.MustCompile(`/operationStatus/([^/?]+)`).FindStringSubmatch(status)
	if resp, m := e.Do("GET", vault+"/operationStatus/"+id[1]+"?api-version=2024-04-01", nil); resp.StatusCode != 200 || m["status"] != "Succeeded" {
		t.Errorf("vault-scoped status: %d %v", resp.StatusCode, m)
	}
}
