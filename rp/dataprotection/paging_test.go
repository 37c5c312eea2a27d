package dataprotection_test

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"strings"
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

// TestPoliciesAndInstancesPageByKey: a Backup vault's policy and backup
// instance lists read a page at a time answer each item once, and the next
// one, when an item is made between the pages that sorts before the page
// read (a key-set $skipToken, as the job and point lists'); with an offset
// token the page's item was answered again. A $skipToken the list did not
// give is 400 naming the parameter, a decodable one too.
func TestPoliciesAndInstancesPageByKey(t *testing.T) {
	e := testserver.Start(t)
	protectDisk(t, e, "P1D", "P7D", "P30D") // policy p1, instance d1-bi
	vaultPath := v1Path(e)
	const v = "?api-version=2024-04-01"
	policy := func(name string) {
		t.Helper()
		if resp, m := e.Do("PUT", vaultPath+"/backupPolicies/"+name+v, fmt.Sprintf(diskPolicyJSON, "PT4H", "P7D", "P30D")); resp.StatusCode != 200 {
			t.Fatalf("policy %s: %d %v", name, resp.StatusCode, m)
		}
	}
	policy("p3")
	policy("p5")
	got := e.PageNames(t, vaultPath+"/backupPolicies"+v+"&$top=1", func(page int) {
		if page == 0 {
			policy("p0") // before p1, the page read
		}
	})
	if strings.Join(got, ",") != "p1,p3,p5" {
		t.Errorf("policies paged %v, want p1,p3,p5", got)
	}

	_, vault := e.Do("GET", vaultPath+v, nil)
	principal := testserver.Field(vault, "identity.principalId").(string)
	instance := func(name string) {
		t.Helper()
		diskID := "/subscriptions/" + e.Sub + "/resourceGroups/disk-rg/providers/Microsoft.Compute/disks/" + name
		newDisk(t, e, diskID, 8<<20, 1)
		assign(t, e, diskID, roleDiskBackupReader, principal)
		putInstance(t, e, name+"-bi", diskID)
	}
	instance("d3")
	got = e.PageNames(t, vaultPath+"/backupInstances"+v+"&$top=1", func(page int) {
		if page == 0 {
			instance("d0") // before d1-bi, the page read
		}
	})
	if strings.Join(got, ",") != "d1-bi,d3-bi" {
		t.Errorf("backup instances paged %v, want d1-bi,d3-bi", got)
	}

	for _, list := range []string{"/backupPolicies", "/backupInstances"} {
		for _, tok := range []string{"kAAAAAA", "k" + base64.RawURLEncoding.EncodeToString([]byte("/subscriptions/x")), "k%21%21", "x1"} {
			resp, m := e.Do("GET", vaultPath+list+v+"&$skipToken="+tok, nil)
			msg, _ := testserver.Field(m, "error.message").(string)
			if resp.StatusCode != 400 || testserver.ErrorCode(m) != "InvalidQueryParameterValue" || !strings.Contains(msg, "$skipToken") {
				t.Errorf("%s with $skipToken=%s: %d %v, want 400 InvalidQueryParameterValue naming $skipToken", list, tok, resp.StatusCode, m)
			}
		}
	}
}
