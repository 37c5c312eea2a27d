package recoveryservices_test

import (
	"bytes"
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/internal/testserver"
)

// TestFakeClock100Days runs a daily policy (02:00 UTC; 7 days of instant
// RPs, 30 daily and 12 weekly (Sunday) vault-tier points) for 100 simulated
// days and checks exactly which points remain in each tier; then restores
// the oldest point, which lives in the vault tier only.
func TestFakeClock100Days(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC) // a Wednesday
	clk := clock.NewFake(start)
	e := testserver.Start(t, testserver.WithClock(clk))
	ctx := context.Background()
	e.ResourceGroups("vmrg", "vaultrg", "restorerg")
	vm := mkVM(t, e, "vmrg", "daily", 0, 1<<20)
	vol, err := e.Server.Compute.Volume(ctx, vm.OSDiskID)
	if err != nil {
		t.Fatal(err)
	}
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/v100"
	const v = "?api-version=2024-04-01"
	mkVault(t, e, R+"?api-version=2023-04-01", "westus")
	runAt := "2025-01-01T02:00:00Z"
	resp, m := e.Do("PUT", R+"/backupPolicies/daily7"+v, map[string]any{"properties": map[string]any{
		"backupManagementType": "AzureIaasVM", "instantRpRetentionRangeInDays": 7, "timeZone": "UTC",
		"schedulePolicy": map[string]any{"schedulePolicyType": "SimpleSchedulePolicy", "scheduleRunFrequency": "Daily", "scheduleRunTimes": []string{runAt}},
		"retentionPolicy": map[string]any{"retentionPolicyType": "LongTermRetentionPolicy",
			"dailySchedule":  map[string]any{"retentionTimes": []string{runAt}, "retentionDuration": map[string]any{"count": 30, "durationType": "Days"}},
			"weeklySchedule": map[string]any{"daysOfTheWeek": []string{"Sunday"}, "retentionTimes": []string{runAt}, "retentionDuration": map[string]any{"count": 12, "durationType": "Weeks"}}},
	}})
	must(t, "policy", resp, m, 200)
	I := R + "/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;vmrg;daily/protectedItems/VM;iaasvmcontainerv2;vmrg;daily"
	protect(t, e, I+v, vm.ID, R+"/backupPolicies/daily7")

	const days = 100
	block := func(d int) []byte { return bytes.Repeat([]byte{byte(d + 1)}, 4096) }
	for d := 0; d < days; d++ {
		if _, err := vol.WriteAt(block(d), int64(d)*4096); err != nil {
			t.Fatal(err)
		}
		clk.Set(start.AddDate(0, 0, d).Add(2 * time.Hour))
		e.Server.Jobs.Notify()
		e.WaitFor("day's backup", func() bool {
			resp, m := e.Do("GET", R+"/backupJobs"+v+"&$filter="+url.QueryEscape("operation eq 'Backup' and status eq 'Completed'"), nil)
			must(t, "jobs", resp, m, 200)
			return len(m["value"].([]any)) == d+1
		})
	}
	T := start.AddDate(0, 0, days-1).Add(2 * time.Hour)

	// What must remain: daily points younger than 30 days, Sunday points
	// younger than 12 weeks; instant snapshots younger than 7 days.
	wantVault, wantInstant := map[string]bool{}, map[string]bool{}
	for d := 0; d < days; d++ {
		at := start.AddDate(0, 0, d).Add(2 * time.Hour)
		if at.AddDate(0, 0, 30).After(T) || at.Weekday() == time.Sunday && at.AddDate(0, 0, 84).After(T) {
			wantVault[at.Format(time.RFC3339)] = true
		}
		if at.AddDate(0, 0, 7).After(T) {
			wantInstant[at.Format(time.RFC3339)] = true
		}
	}
	if len(wantVault) != 38 || len(wantInstant) != 7 {
		t.Fatalf("expectation %d/%d", len(wantVault), len(wantInstant))
	}
	resp, m = e.Do("GET", I+"/recoveryPoints"+v, nil)
	must(t, "points", resp, m, 200)
	gotVault, gotInstant := map[string]bool{}, map[string]bool{}
	var oldest map[string]any
	for _, p := range m["value"].([]any) {
		pm := p.(map[string]any)
		at := str(pm, "properties.recoveryPointTime")
		pt, _ := time.Parse(time.RFC3339, at)
		key := pt.UTC().Format(time.RFC3339)
		for _, tier := range testserver.Field(pm, "properties.recoveryPointTierDetails").([]any) {
			tm := tier.(map[string]any)
			switch {
			case str(tm, "type") == "HardenedRP" && str(tm, "status") == "Valid":
				gotVault[key] = true
			case str(tm, "type") == "InstantRP" && str(tm, "status") == "Valid":
				gotInstant[key] = true
			case str(tm, "type") == "InstantRP" && str(tm, "status") == "Deleted":
			default:
				t.Fatalf("tier %v", tm)
			}
		}
		if oldest == nil || key < str(oldest, "key") {
			pm["key"] = key
			oldest = pm
		}
	}
	if len(m["value"].([]any)) != len(wantVault) {
		t.Errorf("%d points listed, want %d", len(m["value"].([]any)), len(wantVault))
	}
	sameSet(t, "vault tier", gotVault, wantVault)
	sameSet(t, "instant tier", gotInstant, wantInstant)
	resp, m = e.Do("GET", "/subscriptions/"+e.Sub+"/resourceGroups/AzureBackupRG_westus_1/providers/Microsoft.Compute/snapshots?api-version=2023-04-02", nil)
	must(t, "snapshots", resp, m, 200)
	if n := len(m["value"].([]any)); n != 7 {
		t.Errorf("%d instant snapshots, want 7", n)
	}
	resp, m = e.Do("GET", I+v, nil)
	if str(m, "properties.extendedInfo.recoveryPointCount") != "38" || str(m, "properties.protectionState") != "Protected" {
		t.Errorf("item %v", testserver.Field(m, "properties"))
	}
	if t.Failed() {
		return
	}

	// The oldest point (day 18, a Sunday) is in the vault tier only: restore its disk.
	if k := str(oldest, "key"); k != "2025-01-19T02:00:00Z" {
		t.Fatalf("oldest point %s", k)
	}
	resp, m = e.Do("POST", I+"/recoveryPoints/"+str(oldest, "name")+"/restore"+v, map[string]any{"properties": map[string]any{
		"objectType": "IaasVMRestoreRequest", "recoveryType": "RestoreDisks", "sourceResourceId": vm.ID,
		"targetResourceGroupId": "/subscriptions/" + e.Sub + "/resourceGroups/restorerg", "region": "westus"}})
	must(t, "restore", resp, m, 202)
	if st := pollStatus(t, e, resp); str(st, "status") != "Succeeded" {
		t.Fatalf("restore %v", st)
	}
	resp, m = e.Do("GET", "/subscriptions/"+e.Sub+"/resourceGroups/restorerg/providers/Microsoft.Compute/disks?api-version=2023-04-02", nil)
	must(t, "disks", resp, m, 200)
	if len(m["value"].([]any)) != 1 {
		t.Fatalf("restored disks %v", m)
	}
	got := readDisk(t, e.Server.Compute, str(m["value"].([]any)[0].(map[string]any), "id"))
	want := make([]byte, 1<<20)
	for d := 0; d <= 18; d++ {
		copy(want[d*4096:], block(d))
	}
	if !bytes.Equal(got, want) {
		t.Fatal("disk restored from the vault tier differs from the VM's disk on day 18")
	}
	if !strings.HasPrefix(str(m["value"].([]any)[0].(map[string]any), "name"), "daily-osdisk-") {
		t.Errorf("restored disk name %s", str(m["value"].([]any)[0].(map[string]any), "name"))
	}
}

// sameSet reports each key of want that got lacks and each key of got that
// want does not have.
func sameSet(t *testing.T, what string, got, want map[string]bool) {
	t.Helper()
	for k := range want {
		if !got[k] {
			t.Errorf("%s lacks %s", what, k)
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("%s keeps %s", what, k)
		}
	}
}
