package compute_test

import (
	"regexp"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
)

// otherRegion swaps the region of a location-scoped operation URL
// (…/locations/{region}/…) for another one.
func otherRegion(t *testing.T, u string) string {
	t.Helper()
	re := regexp.MustCompile(`(?i)/locations/([^/]+)/`)
	m := re.FindStringSubmatch(u)
	if m == nil {
		t.Fatalf("%s is not location-scoped", u)
	}
	other := "eastus"
	if m[1] == other {
		other = "westus"
	}
	return re.ReplaceAllString(u, "/locations/"+other+"/")
}

// TestOperationURLsOfAnotherRegion: a Compute operation's status and
// result are answered at the region its polling URLs name, and 404
// OperationNotFound at another region's (locations/eastus/operations/{id}
// for a westus disk's operation), as ARM answers them. Both answered
// under any location before.
func TestOperationURLsOfAnotherRegion(t *testing.T) {
	e, _ := start(t)
	e.emptyDisk("d1", 1)
	resp, m := e.Do("POST", e.diskID("d1")+"/beginGetAccess?api-version=2024-03-02", map[string]any{"access": "Read", "durationInSeconds": 600})
	if resp.StatusCode != 202 {
		t.Fatalf("beginGetAccess: %d %v", resp.StatusCode, m)
	}
	status, result := resp.Header.Get("Azure-AsyncOperation"), resp.Header.Get("Location")
	if st := e.Poll(status); st["status"] != "Succeeded" {
		t.Fatalf("status: %v", st)
	}
	if resp, m := e.Do("GET", result, nil); resp.StatusCode != 200 {
		t.Fatalf("result: %d %v", resp.StatusCode, m)
	}
	for _, u := range []string{status, result} {
		wrong := otherRegion(t, u)
		resp, m := e.Do("GET", wrong, nil, testserver.AnyStatus())
		if resp.StatusCode != 404 || testserver.ErrorCode(m) != "OperationNotFound" {
			t.Errorf("GET %s: %d %v, want 404 OperationNotFound", wrong, resp.StatusCode, m)
		}
	}
}
