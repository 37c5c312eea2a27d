package dataprotection_test

import (
	"net/url"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
)

// TestRecoveryPointPagesWhileBackupsLand: a recovery point list read a
// page at a time answers each point once when a backup lands between its
// pages (a key-set $skipToken, as the job lists'). With an offset token
// the new point pushed the first page's point onto the second, and an
// hourly policy's week of points spans two pages of 200.
func TestRecoveryPointPagesWhileBackupsLand(t *testing.T) {
	e, dv, _, _ := backedUpDisk(t)
	dv.Backup(t, e)
	points := "/subscriptions/" + e.Sub + "/resourceGroups/" + dv.RG + "/providers/Microsoft.DataProtection/backupVaults/" + dv.Vault +
		"/backupInstances/" + dv.Instance + "/recoveryPoints?api-version=2025-07-01&$top=1"
	page := func(u string) (string, string) {
		t.Helper()
		resp, m := e.Do("GET", u, nil)
		vals, _ := m["value"].([]any)
		if resp.StatusCode != 200 || len(vals) != 1 {
			t.Fatalf("GET %s: %d %v", u, resp.StatusCode, m)
		}
		next, _ := m["nextLink"].(string)
		return testserver.Field(vals[0].(map[string]any), "name").(string), next
	}
	first, next := page(points)
	if next == "" {
		t.Fatal("the first page of two points has no nextLink")
	}
	if _, err := url.Parse(next); err != nil {
		t.Fatal(err)
	}
	dv.Backup(t, e) // lands between the pages
	second, _ := page(next)
	if second == first {
		t.Fatalf("the second page answered the first page's point %s again", first)
	}
}
