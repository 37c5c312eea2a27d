package server_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestDailyScheduleStartingInADSTGapKeepsItsTimeOfDay: a Backup vault
// policy backing up daily from 2026-03-08T02:30:00 (no offset) in Pacific
// time, a wall-clock time that does not exist that day (clocks go from
// 02:00 PST to 03:00 PDT), runs at 02:30 Pacific on the days after it. Its
// start was normalized to 01:30 PST before the days were counted from it,
// so every later backup ran at 01:30, an hour before the time the policy
// names (hostile28).
func TestDailyScheduleStartingInADSTGapKeepsItsTimeOfDay(t *testing.T) {
	e := testserver.Start(t)
	setClock(t, e, time.Date(2026, 3, 7, 12, 0, 0, 0, time.UTC))
	p := protectDisk(t, e, "d1", "2026-03-08T02:30:00", "P1D", "P7D")
	pol := fixture.DiskPolicyFrom("2026-03-08T02:30:00", "P1D", "P7D", "")
	rule := pol.Properties.(*armdataprotection.BackupPolicy).PolicyRules[0].(*armdataprotection.AzureBackupRule)
	rule.Trigger.(*armdataprotection.ScheduleBasedTriggerContext).Schedule.TimeZone = to.Ptr("Pacific Standard Time")
	resp, m := call(t, e, "PUT", p.vault+"/backupPolicies/p1?api-version=2024-04-01", pol)
	mustStatus(t, 200, resp, m)

	advanceClock(t, e, "P4D") // to 2026-03-11T12:00:00Z
	// 02:30 PDT is 09:30 UTC; on the gap day itself 02:30 does not
	// exist, and the backup runs at 01:30 PST, also 09:30 UTC.
	var want []time.Time
	for d := 8; d <= 11; d++ {
		want = append(want, time.Date(2026, 3, d, 9, 30, 0, 0, time.UTC))
	}
	if got := pointTimes(t, e, p.bi); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("recovery points of a daily 02:30 Pacific schedule that starts in the DST gap:\n got %v\nwant %v", got, want)
	}
}

// TestScheduleCenturiesOnRuns: with the clock set to 2400 (it goes up to
// 9000), a PT4H schedule that started in 2021 runs its catch-up backup and
// then one at its next occurrence. The occurrence arithmetic overflowed
// past 292 years from the start (k × PT4H wrapped negative), the scheduled
// run looped for ever on a core, the clock advance never returned and the
// server never shut down (hostile28; TestRepeatingIntervalCenturiesOn).
func TestScheduleCenturiesOnRuns(t *testing.T) {
	e := testserver.Start(t)
	setClock(t, e, time.Date(2021, 1, 1, 7, 0, 0, 0, time.UTC))
	p := protectDisk(t, e, "d1", "2021-01-01T08:00:00+00:00", "PT4H", "P2D")
	setClock(t, e, time.Date(2400, 1, 1, 1, 0, 0, 0, time.UTC))
	advanceClock(t, e, "PT4H") // to 05:00: the catch-up (stamped with its time, 01:00), then 04:00
	want := []time.Time{time.Date(2400, 1, 1, 1, 0, 0, 0, time.UTC), time.Date(2400, 1, 1, 4, 0, 0, 0, time.UTC)}
	if got := pointTimes(t, e, p.bi); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("recovery points in 2400 of a PT4H schedule from 2021:\n got %v\nwant %v", got, want)
	}
}
