package recoveryservices_test

import (
	"net/url"
	"testing"
	"time"
)

// TestPolicyChangeRecomputesPointsExpiry: a VM policy's retention changed
// while it protects a VM applies to the points already taken, as Azure's
// does (extended: they are kept by the new policy; reduced: those past the
// new retention are deleted at the next cleanup), and shows in each point's
// expiryTime; an on-demand backup keeps the expiry it was given. So does
// moving the VM to another policy.
func TestPolicyChangeRecomputesPointsExpiry(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	e, clk, vm, _ := clockedVM(t, start, "chg")
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/vchg"
	const v = "?api-version=2024-04-01"
	mkVault(t, e, R+"?api-version=2023-04-01", "westus")
	runAt := "2025-01-01T02:00:00Z"
	policyNamed := func(name string, days int) {
		t.Helper()
		resp, m := e.Do("PUT", R+"/backupPolicies/"+name+v, map[string]any{"properties": map[string]any{
			"backupManagementType": "AzureIaasVM", "instantRpRetentionRangeInDays": 2, "timeZone": "UTC",
			"schedulePolicy": map[string]any{"schedulePolicyType": "SimpleSchedulePolicy", "scheduleRunFrequency": "Daily", "scheduleRunTimes": []string{runAt}},
			"retentionPolicy": map[string]any{"retentionPolicyType": "LongTermRetentionPolicy",
				"dailySchedule": map[string]any{"retentionTimes": []string{runAt}, "retentionDuration": map[string]any{"count": days, "durationType": "Days"}}},
		}})
		must(t, "policy", resp, m, 200, 202)
		if resp.StatusCode == 202 {
			e.WaitFor("policy change", func() bool {
				resp, m := e.Do("GET", resp.Header.Get("Location"), nil)
				must(t, "policy change result", resp, m, 200, 202, 204)
				return resp.StatusCode != 202
			})
		}
	}
	policy := func(days int) { t.Helper(); policyNamed("daily", days) }
	policy(7)
	I := R + "/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;vmrg;chg/protectedItems/VM;iaasvmcontainerv2;vmrg;chg"
	protect(t, e, I+v, vm.ID, R+"/backupPolicies/daily")
	completed := func(n int) {
		t.Helper()
		e.WaitFor("backups", func() bool {
			resp, m := e.Do("GET", R+"/backupJobs"+v+"&$filter="+url.QueryEscape("operation eq 'Backup' and status eq 'Completed'"), nil)
			must(t, "jobs", resp, m, 200)
			return len(m["value"].([]any)) == n
		})
	}
	day := func(d int) time.Time { return start.AddDate(0, 0, d).Add(2 * time.Hour) }
	for d := 0; d < 3; d++ {
		clk.Set(day(d))
		e.Server.Jobs.Notify()
		completed(d + 1)
	}
	clk.Set(day(2).Add(time.Hour))
	onDemand := "2025-06-01T00:00:00Z"
	resp, m := e.Do("POST", I+"/backup"+v, map[string]any{"properties": map[string]any{"objectType": "IaasVMBackupRequest", "recoveryPointExpiryTimeInUTC": onDemand}})
	must(t, "backup now", resp, m, 202)
	completed(4)

	// points answers each point's expiry by its time (the on-demand
	// one's by "on-demand").
	points := func() map[string]string {
		t.Helper()
		resp, m := e.Do("GET", I+"/recoveryPoints"+v, nil)
		must(t, "points", resp, m, 200)
		out := map[string]string{}
		for _, p := range m["value"].([]any) {
			pm := p.(map[string]any)
			at, _ := time.Parse(time.RFC3339, str(pm, "properties.recoveryPointTime"))
			key := at.UTC().Format(time.RFC3339)
			if at.Equal(day(2).Add(time.Hour)) {
				key = "on-demand"
			}
			exp, _ := time.Parse(time.RFC3339, str(pm, "properties.recoveryPointProperties.expiryTime"))
			out[key] = exp.UTC().Format(time.RFC3339)
		}
		return out
	}
	want := func(days int, through int) map[string]string {
		out := map[string]string{"on-demand": onDemand}
		for d := 0; d <= through; d++ {
			if day(d).AddDate(0, 0, days).After(clk.Now()) {
				out[day(d).Format(time.RFC3339)] = day(d).AddDate(0, 0, days).Format(time.RFC3339)
			}
		}
		return out
	}
	same := func(what string, got, want map[string]string) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: points %v, want %v", what, got, want)
		}
		for k, w := range want {
			if got[k] != w {
				t.Fatalf("%s: points %v, want %v", what, got, want)
			}
		}
	}
	same("before the change", points(), want(7, 2))

	// Extended to 30 days: the points taken are kept 30 days too, and are
	// still there 10 days on (the policy's next backups taken meanwhile).
	policy(30)
	same("retention extended", points(), want(30, 2))
	for d := 3; d < 12; d++ {
		clk.Set(day(d))
		e.Server.Jobs.Notify()
		completed(4 + d - 2)
	}
	clk.Set(day(11).Add(time.Hour))
	if got := points(); len(got) != 13 || got[day(0).Format(time.RFC3339)] != day(30).Format(time.RFC3339) {
		t.Fatalf("10 days after the extension: %v", got)
	}

	// Reduced to 7 days: the points older than that are deleted.
	policy(7)
	e.WaitFor("points past the reduced retention deleted", func() bool { return len(points()) == len(want(7, 11)) })
	same("retention reduced", points(), want(7, 11))

	// Moved to another policy (az backup item set-policy): its retention
	// applies to the points taken.
	policyNamed("long", 60)
	protect(t, e, I+v, vm.ID, R+"/backupPolicies/long")
	kept := want(60, 11)
	for k := range kept {
		if _, ok := want(7, 11)[k]; !ok {
			delete(kept, k) // deleted by the reduction
		}
	}
	same("another policy", points(), kept)
}
