package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
)

// TestMixedLoadReadsOnceOnPostgres: on PostgreSQL each store read outside
// a transaction is a round trip; each kind of request bench/mixed.sh makes
// reads the checks before its handler (principal, subscription, locks)
// and those its handler makes before it writes (the resource group, the
// vault a policy or a job list is under, a group DELETE's cascade check)
// in one round trip (resource.CheckReads, store.Prefetched), and a list
// then reads once more (a disk list's stored and creating disks at once).
// They are answers of the request's own moment: a vault or group deleted
// through another replica is refused by the very next request.
func TestMixedLoadReadsOnceOnPostgres(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	e := testserver.Start(t, testserver.WithStore(url))
	e.ResourceGroups("mix")
	sub := "/subscriptions/" + e.Sub
	rg := sub + "/resourceGroups/mix"
	dp := rg + "/providers/Microsoft.DataProtection/backupVaults/dp"
	rs := rg + "/providers/Microsoft.RecoveryServices/vaults/rs"
	for _, v := range []struct {
		path string
		body any
	}{
		{dp + "?api-version=2021-01-01", map[string]any{"location": "westus", "identity": map[string]any{"type": "SystemAssigned"},
			"properties": map[string]any{"storageSettings": []any{map[string]any{"datastoreType": "VaultStore", "type": "LocallyRedundant"}}}}},
		{rs + "?api-version=2016-06-01", map[string]any{"location": "westus", "sku": map[string]any{"name": "Standard"}, "properties": map[string]any{}}},
	} {
		if resp, m := e.Do("PUT", v.path, v.body); resp.StatusCode >= 300 {
			t.Fatalf("PUT %s: %d %v", v.path, resp.StatusCode, m)
		}
	}
	policy := map[string]any{"properties": map[string]any{"objectType": "BackupPolicy", "datasourceTypes": []string{"Microsoft.Compute/disks"},
		"policyRules": []any{
			map[string]any{"objectType": "AzureBackupRule", "name": "BackupHourly",
				"backupParameters": map[string]any{"objectType": "AzureBackupParams", "backupType": "Incremental"},
				"dataStore":        map[string]any{"objectType": "DataStoreInfoBase", "dataStoreType": "OperationalStore"},
				"trigger": map[string]any{"objectType": "ScheduleBasedTriggerContext",
					"schedule":        map[string]any{"repeatingTimeIntervals": []string{"R/2021-05-19T06:00:00+00:00/PT4H"}, "timeZone": "UTC"},
					"taggingCriteria": []any{map[string]any{"isDefault": true, "taggingPriority": 99, "tagInfo": map[string]any{"tagName": "Default"}}}}},
			map[string]any{"objectType": "AzureRetentionRule", "name": "Default", "isDefault": true,
				"lifecycles": []any{map[string]any{"sourceDataStore": map[string]any{"objectType": "DataStoreInfoBase", "dataStoreType": "OperationalStore"},
					"deleteAfter": map[string]any{"objectType": "AbsoluteDeleteOption", "duration": "P7D"}}}}}}}
	type req struct {
		name, method, path string
		body               any
		status             int
		reads              int // the store's reads (round trips) it makes at most
	}
	const (
		rgv     = "?api-version=2021-04-01"
		dpv     = "?api-version=2021-01-01"
		policyL = "/backupPolicies" + dpv
	)
	n := 0
	reqs := func() []req {
		n++
		group, pol := fmt.Sprintf("%s/resourcegroups/g%d%s", sub, n, rgv), fmt.Sprintf("%s/backupPolicies/p%d%s", dp, n, dpv)
		return []req{
			{"rg-put", "PUT", group, map[string]any{"location": "westus"}, http.StatusCreated, 1},
			{"rg-delete", "DELETE", group, nil, http.StatusAccepted, 1},
			{"policy-put", "PUT", pol, policy, http.StatusOK, 1},
			{"policy-delete", "DELETE", pol, nil, http.StatusOK, 1},
			{"rg-list", "GET", sub + "/resourcegroups" + rgv, nil, http.StatusOK, 1},
			{"disk-list", "GET", sub + "/providers/Microsoft.Compute/disks?api-version=2023-04-02", nil, http.StatusOK, 1},
			{"policy-list", "GET", dp + policyL, nil, http.StatusOK, 1},
			{"dp-job-list", "GET", dp + "/backupJobs" + dpv, nil, http.StatusOK, 1},
			{"rs-job-list", "GET", rs + "/backupJobs?api-version=2016-12-01", nil, http.StatusOK, 1},
		}
	}
	// The reads are the server's: a background reader (the RBAC index
	// listed again every 5 s, the leader's and the sweeps' periodic reads)
	// may add one to a request's count, more often under load, so each
	// request's count is the fewest of up to ten rounds, which stop once
	// every request has been seen within its bound.
	got, bound := map[string]int{}, map[string]int{}
	within := func() bool {
		for name, c := range got {
			if c > bound[name] {
				return false
			}
		}
		return true
	}
	for round := 0; round < 10 && (round < 3 || !within()); round++ {
		for _, r := range reqs() {
			bound[r.name] = r.reads
			before := storeReads(t, e)
			if resp, m := e.Do(r.method, r.path, r.body); resp.StatusCode != r.status {
				t.Fatalf("%s: %d %v", r.name, resp.StatusCode, m)
			}
			if c := int(storeReads(t, e) - before); got[r.name] == 0 || c < got[r.name] {
				got[r.name] = c
			}
		}
	}
	for _, r := range reqs() {
		if got[r.name] > r.reads {
			t.Errorf("%s: %d store reads, want at most %d", r.name, got[r.name], r.reads)
		}
	}
	t.Logf("store reads per request on PostgreSQL: %v", got)

	// What another replica deleted is gone for the very next request.
	b := testserver.Start(t, testserver.WithStore(url))

	// A list read with the checks is the list of the request's moment: a
	// policy or a group written through another replica is in the very
	// next list, and a later page ($skipToken) reads on after its key.
	for i, env := range []*testserver.Env{e, b, e} {
		p := fmt.Sprintf("%s/backupPolicies/q%d%s", dp, i, dpv)
		if resp, m := env.Do("PUT", p, policy); resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT %s: %d %v", p, resp.StatusCode, m)
		}
		for _, lister := range []*testserver.Env{e, b} {
			if got := lister.PageNames(t, dp+policyL+"&$top=1", nil); fmt.Sprint(got) != fmt.Sprint([]string{"q0", "q1", "q2"}[:i+1]) {
				t.Errorf("policies paged after q%d was written: %v", i, got)
			}
			resp, m := lister.Do("GET", dp+policyL, nil)
			if vals, _ := m["value"].([]any); resp.StatusCode != http.StatusOK || len(vals) != i+1 {
				t.Errorf("policy list after q%d was written: %d, %d policies, want %d", i, resp.StatusCode, len(vals), i+1)
			}
		}
		if resp, m := b.Do("PUT", fmt.Sprintf("%s/resourcegroups/late%d%s", sub, i, rgv), map[string]any{"location": "westus"}); resp.StatusCode >= 300 {
			t.Fatalf("group late%d through b: %d %v", i, resp.StatusCode, m)
		}
		resp, m := e.Do("GET", sub+"/resourcegroups"+rgv, nil)
		if !strings.Contains(fmt.Sprint(m), fmt.Sprintf("late%d", i)) || resp.StatusCode != http.StatusOK {
			t.Errorf("group late%d written through b, not in the next list through a: %d %v", i, resp.StatusCode, m)
		}
	}
	for _, p := range []string{dp + dpv, rs + "?api-version=2016-06-01"} {
		if resp, m := b.Do("DELETE", p, nil); resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusAccepted && resp.StatusCode != http.StatusNoContent {
			t.Fatalf("DELETE %s through b: %d %v", p, resp.StatusCode, m)
		}
	}
	e.WaitFor("the vaults deleted through b", func() bool {
		resp, _ := b.Do("GET", dp+dpv, nil, testserver.AnyStatus())
		resp2, _ := b.Do("GET", rs+"?api-version=2016-06-01", nil, testserver.AnyStatus())
		return resp.StatusCode == http.StatusNotFound && resp2.StatusCode == http.StatusNotFound
	})
	for _, r := range []req{
		{"policy-list", "GET", dp + policyL, nil, http.StatusNotFound, 0},
		{"policy-put", "PUT", dp + "/backupPolicies/late" + dpv, policy, http.StatusNotFound, 0},
		{"dp-job-list", "GET", dp + "/backupJobs" + dpv, nil, http.StatusNotFound, 0},
		{"rs-job-list", "GET", rs + "/backupJobs?api-version=2016-12-01", nil, http.StatusNotFound, 0},
	} {
		if resp, m := e.Do(r.method, r.path, r.body, testserver.AnyStatus()); resp.StatusCode != r.status {
			t.Errorf("%s through a after b deleted the vault: %d %v, want %d", r.name, resp.StatusCode, m, r.status)
		}
	}
	if st, m := b.DeleteGroup("mix"); st != http.StatusOK {
		t.Fatalf("delete the group through b: %d %v", st, m)
	}
	if resp, m := e.Do("GET", dp+policyL, nil, testserver.AnyStatus()); resp.StatusCode != http.StatusNotFound || testserver.ErrorCode(m) != "ResourceGroupNotFound" {
		t.Errorf("policy-list through a after b deleted the group: %d %v", resp.StatusCode, m)
	}
}
