package recoveryservices_test

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// TestPolicyTimeZone: a VM policy's timeZone places its schedule, so an
// unknown one is refused (400 naming the field) instead of being stored and
// silently run as UTC; Windows names (as Azure's examples use) and IANA
// names are accepted.
func TestPolicyTimeZone(t *testing.T) {
	e, _ := vaultEnv(t, "rv")
	pc := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory).NewProtectionPoliciesClient()
	at := to.Ptr(time.Date(2024, 1, 24, 2, 0, 0, 0, time.UTC))
	pol := func(tz string) armrecoveryservicesbackup.ProtectionPolicyResource {
		return armrecoveryservicesbackup.ProtectionPolicyResource{Properties: &armrecoveryservicesbackup.AzureIaaSVMProtectionPolicy{
			BackupManagementType: to.Ptr("AzureIaasVM"), TimeZone: to.Ptr(tz),
			SchedulePolicy: &armrecoveryservicesbackup.SimpleSchedulePolicy{SchedulePolicyType: to.Ptr("SimpleSchedulePolicy"),
				ScheduleRunFrequency: to.Ptr(armrecoveryservicesbackup.ScheduleRunTypeDaily), ScheduleRunTimes: []*time.Time{at}},
			RetentionPolicy: &armrecoveryservicesbackup.LongTermRetentionPolicy{RetentionPolicyType: to.Ptr("LongTermRetentionPolicy"),
				DailySchedule: &armrecoveryservicesbackup.DailyRetentionSchedule{RetentionTimes: []*time.Time{at},
					RetentionDuration: &armrecoveryservicesbackup.RetentionDuration{Count: to.Ptr[int32](30), DurationType: to.Ptr(armrecoveryservicesbackup.RetentionDurationTypeDays)}}}}}
	}
	// Windows names from Azure's whole list, as the portal and the SDKs'
	// users send them: Safehold knew 15 of them, and a policy in Seoul,
	// Brisbane, Bogota or Johannesburg was 400 "unknown time zone".
	for i, tz := range []string{"Pacific Standard Time", "India Standard Time", "Europe/Berlin", "UTC",
		"Korea Standard Time", "E. Australia Standard Time", "SA Pacific Standard Time", "South Africa Standard Time",
		"Central Standard Time (Mexico)", "UTC-11", "Russia Time Zone 3", "New Zealand Standard Time", "korea standard time"} {
		if _, err := pc.CreateOrUpdate(e.Ctx(), "rv", "vaultrg", fmt.Sprintf("tz-%d", i), pol(tz), nil); err != nil {
			t.Errorf("policy in %s: %v", tz, err)
		}
	}
	_, err := pc.CreateOrUpdate(e.Ctx(), "rv", "vaultrg", "tz-mars", pol("Mars/Olympus"), nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 400 || re.ErrorCode != "BMSUserErrorInvalidPolicyInput" || !strings.Contains(err.Error(), "timeZone") {
		t.Fatalf("policy in an unknown time zone: %v", err)
	}
	if _, err := pc.Get(e.Ctx(), "rv", "vaultrg", "tz-mars", nil); !errors.As(err, &re) || re.StatusCode != 404 {
		t.Fatalf("the refused policy was stored: %v", err)
	}
}

// TestStoredPolicyUnknownTimeZoneKeepsBackingUp: a policy stored before
// unknown time zones were refused (its schedule run in UTC) still protects
// its items: their scheduled backups run. The refusal is the write's, not
// the reading of what is stored.
func TestStoredPolicyUnknownTimeZoneKeepsBackingUp(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	v := fixture.ProtectVM(t, e)
	pid, err := arm.ParseID("/subscriptions/" + e.Sub + "/resourceGroups/" + v.RG + "/providers/Microsoft.RecoveryServices/vaults/" + v.Vault + "/backupPolicies/DefaultPolicy")
	if err != nil {
		t.Fatal(err)
	}
	err = e.Server.Store.Update(ctx, func(tx store.Tx) error {
		var pol map[string]any
		if err := resource.Get(ctx, tx, pid, &pol); err != nil {
			return err
		}
		pol["properties"].(map[string]any)["timeZone"] = "Mars/Olympus"
		return resource.Put(ctx, tx, pid, pol)
	})
	if err != nil {
		t.Fatal(err)
	}
	backsUpADayLater(t, e, v)
}

// TestSDKPolicyUpdateAppliesToItems: updating an IaaS policy that protects
// a VM answers 202 and applies the policy to the item as a ConfigureBackup
// job, which the policy operation's status lists; the operation's result is
// the policy with its protected item counted. A policy protecting nothing
// is written at once (200 with the policy).
func TestSDKPolicyUpdateAppliesToItems(t *testing.T) {
	e, bf, _ := backedUpVM1(t, 0) // protected with DefaultPolicy
	ctx := e.Ctx()
	pc := bf.NewProtectionPoliciesClient()

	var raw *http.Response
	got, err := pc.CreateOrUpdate(runtime.WithCaptureResponse(ctx, &raw), "v1", "vaultrg", "Unused", sdkDailyPolicy(23, 30, 23, 30), nil)
	if err != nil || raw.StatusCode != http.StatusOK || got.Name == nil || *got.Name != "Unused" {
		t.Fatalf("a policy protecting nothing: %v %d %+v", err, raw.StatusCode, got)
	}

	if _, err := pc.CreateOrUpdate(runtime.WithCaptureResponse(ctx, &raw), "v1", "vaultrg", "DefaultPolicy", sdkDailyPolicy(23, 30, 23, 30), nil); err != nil {
		t.Fatal(err)
	}
	fixture.Accepted(t, "a policy protecting a VM", raw)
	opID := testserver.OpID(t, raw.Header.Get("Location"))
	if testserver.OpID(t, raw.Header.Get("Azure-AsyncOperation")) != opID {
		t.Fatalf("two operations: %v", raw.Header)
	}
	st, err := bf.NewProtectionPolicyOperationStatusesClient().Get(ctx, "v1", "vaultrg", "DefaultPolicy", opID, nil)
	if err != nil {
		t.Fatal(err)
	}
	ext, ok := st.Properties.(*armrecoveryservicesbackup.OperationStatusJobsExtendedInfo)
	if *st.Status != armrecoveryservicesbackup.OperationStatusValuesSucceeded || !ok || len(ext.JobIDs) != 1 || ext.FailedJobsError == nil || len(ext.FailedJobsError) != 0 {
		t.Fatalf("policy operation status %+v %#v", st.OperationStatus, st.Properties)
	}
	j, err := bf.NewJobDetailsClient().Get(ctx, "v1", "vaultrg", *ext.JobIDs[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	job := j.Properties.GetJob()
	if *job.Operation != "ConfigureBackup" || *job.Status != "Completed" || *job.EntityFriendlyName != "vm1" {
		t.Fatalf("the item's job: %s %s %s", *job.Operation, *job.Status, *job.EntityFriendlyName)
	}
	res, err := bf.NewProtectionPolicyOperationResultsClient().Get(ctx, "v1", "vaultrg", "DefaultPolicy", opID, nil)
	if err != nil {
		t.Fatal(err)
	}
	pol, ok := res.Properties.(*armrecoveryservicesbackup.AzureIaaSVMProtectionPolicy)
	if !ok || pol.ProtectedItemsCount == nil || *pol.ProtectedItemsCount != 1 {
		t.Fatalf("policy operation result %#v", res.Properties)
	}
	sp := pol.SchedulePolicy.(*armrecoveryservicesbackup.SimpleSchedulePolicy)
	if h, m, _ := sp.ScheduleRunTimes[0].Clock(); h != 23 || m != 30 {
		t.Fatalf("the result is not the updated policy: %v", sp.ScheduleRunTimes[0])
	}
}

// TestPolicyRetentionTimesMayDifferFromSchedule: IaaS daily and weekly
// retention times that differ from the schedule's run times are accepted
// and kept as sent, as Azure does (its IaaS_v2_daily example runs at 10:00
// and retains at 08:00); absent ones take the schedule's.
func TestPolicyRetentionTimesMayDifferFromSchedule(t *testing.T) {
	e := testserver.StartWithGroups(t, "vaultrg")
	ctx := e.Ctx()
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/rv"
	resp, m := e.Do("PUT", R+"?api-version=2016-06-01", map[string]any{"location": "westus", "sku": map[string]any{"name": "Standard"}})
	must(t, "vault", resp, m, 201)
	const v = "?api-version=2016-12-01"
	policy := func(sched, daily, weekly string) map[string]any {
		ret := map[string]any{"retentionPolicyType": "LongTermRetentionPolicy"}
		sp := map[string]any{"schedulePolicyType": "SimpleSchedulePolicy", "scheduleRunFrequency": "Daily", "scheduleRunTimes": []string{sched}}
		if daily != "-" {
			ret["dailySchedule"] = map[string]any{"retentionDuration": map[string]any{"count": 30, "durationType": "Days"}}
			if daily != "" {
				ret["dailySchedule"].(map[string]any)["retentionTimes"] = []string{daily}
			}
		} else {
			sp["scheduleRunFrequency"], sp["scheduleRunDays"] = "Weekly", []string{"Sunday"}
		}
		if weekly != "" {
			ret["weeklySchedule"] = map[string]any{"daysOfTheWeek": []string{"Sunday"}, "retentionTimes": []string{weekly}, "retentionDuration": map[string]any{"count": 12, "durationType": "Weeks"}}
		}
		return map[string]any{"properties": map[string]any{"backupManagementType": "AzureIaasVM", "timeZone": "UTC", "schedulePolicy": sp, "retentionPolicy": ret}}
	}
	for _, c := range []struct {
		name, sched, daily, weekly, wantDaily string
	}{
		{"DailyOff", "2018-01-24T10:00:00Z", "2018-01-24T10:30:00Z", "", "2018-01-24T10:30:00Z"},
		{"WeeklyOff", "2018-01-24T10:00:00Z", "2018-01-24T10:00:00Z", "2018-01-24T11:00:00Z", "2018-01-24T10:00:00Z"},
		{"WeeklyOnlyOff", "2018-01-24T22:00:00Z", "-", "2018-01-24T10:00:00Z", ""},
		{"DailyAbsent", "2018-01-24T22:00:00Z", "", "", "2018-01-24T22:00:00Z"},
	} {
		resp, m := e.Do("PUT", R+"/backupPolicies/"+c.name+v, policy(c.sched, c.daily, c.weekly))
		must(t, c.name, resp, m, 200)
		ret := testserver.Field(m, "properties.retentionPolicy").(map[string]any)
		if c.wantDaily != "" {
			if got := fmt.Sprint(testserver.Field(ret, "dailySchedule.retentionTimes")); !strings.Contains(got, c.wantDaily) {
				t.Fatalf("%s: daily retention times %s, want %s", c.name, got, c.wantDaily)
			}
		}
		if c.weekly != "" {
			if got := fmt.Sprint(testserver.Field(ret, "weeklySchedule.retentionTimes")); !strings.Contains(got, c.weekly) {
				t.Fatalf("%s: weekly retention times %s, want %s as sent", c.name, got, c.weekly)
			}
		}
	}
	// Through the SDK: a policy run at 23:30 retaining at 22:00.
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	got, err := bf.NewProtectionPoliciesClient().CreateOrUpdate(ctx, "rv", "vaultrg", "SDKOff", sdkDailyPolicy(23, 30, 22, 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	ip := got.Properties.(*armrecoveryservicesbackup.AzureIaaSVMProtectionPolicy)
	if rt := ip.RetentionPolicy.(*armrecoveryservicesbackup.LongTermRetentionPolicy).DailySchedule.RetentionTimes; len(rt) != 1 || rt[0].UTC().Hour() != 22 {
		t.Fatalf("SDK policy retention times %v", rt)
	}
}

// sdkDailyPolicy is a daily IaaS policy run at sh:sm with daily retention
// times rh:rm.
func sdkDailyPolicy(sh, sm, rh, rm int) armrecoveryservicesbackup.ProtectionPolicyResource {
	run := time.Date(2024, 1, 1, sh, sm, 0, 0, time.UTC)
	ret := time.Date(2024, 1, 1, rh, rm, 0, 0, time.UTC)
	return armrecoveryservicesbackup.ProtectionPolicyResource{Properties: &armrecoveryservicesbackup.AzureIaaSVMProtectionPolicy{
		TimeZone: to.Ptr("UTC"),
		SchedulePolicy: &armrecoveryservicesbackup.SimpleSchedulePolicy{ScheduleRunFrequency: to.Ptr(armrecoveryservicesbackup.ScheduleRunTypeDaily),
			ScheduleRunTimes: []*time.Time{&run}},
		RetentionPolicy: &armrecoveryservicesbackup.LongTermRetentionPolicy{DailySchedule: &armrecoveryservicesbackup.DailyRetentionSchedule{
			RetentionTimes:    []*time.Time{&ret},
			RetentionDuration: &armrecoveryservicesbackup.RetentionDuration{Count: to.Ptr[int32](30), DurationType: to.Ptr(armrecoveryservicesbackup.RetentionDurationTypeDays)}}},
	}}
}

// A VM the test helpers protect with DefaultPolicy on a server on real
// time has its first scheduled backup about twelve hours away
// (fixture.QuietPolicies): a test on real time sees no scheduled backup
// among its steps, whatever the hour it runs at (at 02:00 UTC, the
// policy's time, it did).
func TestProtectedOnRealTimePlansNoBackupSoon(t *testing.T) {
	e, _, I, _ := protectedApp(t)
	id := strings.SplitN(I, "?", 2)[0]
	var due time.Time
	e.WaitFor("the item's schedule", func() bool {
		task, err := e.Server.Store.GetTaskByKey(e.Ctx(), protection.TaskKey(id))
		due = task.RunAt
		return err == nil
	})
	if d := time.Until(due); d < 10*time.Hour || d > 13*time.Hour {
		t.Fatalf("the first scheduled backup is due at %v, %v from now: want about twelve hours", due, d.Round(time.Second))
	}
}

// TestPolicyRunTimesOnTheHalfHour: a VM policy's daily or weekly run time
// is on the hour or the half hour with no seconds, as Azure requires: one
// at 02:15, 02:00:30, 22:10 (weekly) or 02:45 (an Enhanced daily
// schedule) is 400 BMSUserErrorInvalidPolicyInput naming the field and
// the times around it, and nothing is stored; 02:00 and 23:30 are
// accepted. Off-grid times were accepted (and run at that minute).
func TestPolicyRunTimesOnTheHalfHour(t *testing.T) {
	e, _ := vaultEnv(t, "rv")
	pc := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory).NewProtectionPoliciesClient()
	ret := func(at *time.Time) *armrecoveryservicesbackup.LongTermRetentionPolicy {
		return &armrecoveryservicesbackup.LongTermRetentionPolicy{RetentionPolicyType: to.Ptr("LongTermRetentionPolicy"),
			DailySchedule: &armrecoveryservicesbackup.DailyRetentionSchedule{RetentionTimes: []*time.Time{at},
				RetentionDuration: &armrecoveryservicesbackup.RetentionDuration{Count: to.Ptr[int32](30), DurationType: to.Ptr(armrecoveryservicesbackup.RetentionDurationTypeDays)}}}
	}
	daily := func(h, m, s int) armrecoveryservicesbackup.ProtectionPolicyResource {
		at := time.Date(2024, 1, 24, h, m, s, 0, time.UTC)
		return armrecoveryservicesbackup.ProtectionPolicyResource{Properties: &armrecoveryservicesbackup.AzureIaaSVMProtectionPolicy{
			BackupManagementType: to.Ptr("AzureIaasVM"), TimeZone: to.Ptr("UTC"),
			SchedulePolicy: &armrecoveryservicesbackup.SimpleSchedulePolicy{SchedulePolicyType: to.Ptr("SimpleSchedulePolicy"),
				ScheduleRunFrequency: to.Ptr(armrecoveryservicesbackup.ScheduleRunTypeDaily), ScheduleRunTimes: []*time.Time{&at}},
			RetentionPolicy: ret(&at)}}
	}
	weekly := func(h, m int) armrecoveryservicesbackup.ProtectionPolicyResource {
		at := time.Date(2024, 1, 24, h, m, 0, 0, time.UTC)
		return armrecoveryservicesbackup.ProtectionPolicyResource{Properties: &armrecoveryservicesbackup.AzureIaaSVMProtectionPolicy{
			BackupManagementType: to.Ptr("AzureIaasVM"), TimeZone: to.Ptr("UTC"), InstantRpRetentionRangeInDays: to.Ptr[int32](5),
			SchedulePolicy: &armrecoveryservicesbackup.SimpleSchedulePolicy{SchedulePolicyType: to.Ptr("SimpleSchedulePolicy"),
				ScheduleRunFrequency: to.Ptr(armrecoveryservicesbackup.ScheduleRunTypeWeekly), ScheduleRunTimes: []*time.Time{&at},
				ScheduleRunDays: []*armrecoveryservicesbackup.DayOfWeek{to.Ptr(armrecoveryservicesbackup.DayOfWeekSunday)}},
			RetentionPolicy: &armrecoveryservicesbackup.LongTermRetentionPolicy{RetentionPolicyType: to.Ptr("LongTermRetentionPolicy"),
				WeeklySchedule: &armrecoveryservicesbackup.WeeklyRetentionSchedule{RetentionTimes: []*time.Time{&at},
					DaysOfTheWeek:     []*armrecoveryservicesbackup.DayOfWeek{to.Ptr(armrecoveryservicesbackup.DayOfWeekSunday)},
					RetentionDuration: &armrecoveryservicesbackup.RetentionDuration{Count: to.Ptr[int32](4), DurationType: to.Ptr(armrecoveryservicesbackup.RetentionDurationTypeWeeks)}}}}}
	}
	enhanced := func(h, m int) armrecoveryservicesbackup.ProtectionPolicyResource {
		at := time.Date(2024, 1, 24, h, m, 0, 0, time.UTC)
		return armrecoveryservicesbackup.ProtectionPolicyResource{Properties: &armrecoveryservicesbackup.AzureIaaSVMProtectionPolicy{
			BackupManagementType: to.Ptr("AzureIaasVM"), TimeZone: to.Ptr("UTC"), PolicyType: to.Ptr(armrecoveryservicesbackup.IAASVMPolicyTypeV2),
			SchedulePolicy: &armrecoveryservicesbackup.SimpleSchedulePolicyV2{SchedulePolicyType: to.Ptr("SimpleSchedulePolicyV2"),
				ScheduleRunFrequency: to.Ptr(armrecoveryservicesbackup.ScheduleRunTypeDaily),
				DailySchedule:        &armrecoveryservicesbackup.DailySchedule{ScheduleRunTimes: []*time.Time{&at}}},
			RetentionPolicy: ret(&at)}}
	}
	for _, c := range []struct {
		name   string
		policy armrecoveryservicesbackup.ProtectionPolicyResource
		field  string
		around string
	}{
		{"daily-0215", daily(2, 15, 0), "properties.schedulePolicy.scheduleRunTimes", "2024-01-24T02:00:00Z or 2024-01-24T02:30:00Z"},
		{"daily-020030", daily(2, 0, 30), "properties.schedulePolicy.scheduleRunTimes", "2024-01-24T02:00:00Z or 2024-01-24T02:30:00Z"},
		{"weekly-2210", weekly(22, 10), "properties.schedulePolicy.scheduleRunTimes", "2024-01-24T22:00:00Z or 2024-01-24T22:30:00Z"},
		{"enhanced-0245", enhanced(2, 45), "properties.schedulePolicy.dailySchedule.scheduleRunTimes", "2024-01-24T02:30:00Z or 2024-01-24T03:00:00Z"},
	} {
		_, err := pc.CreateOrUpdate(e.Ctx(), "rv", "vaultrg", c.name, c.policy, nil)
		var re *azcore.ResponseError
		if !errors.As(err, &re) || re.StatusCode != 400 || re.ErrorCode != "BMSUserErrorInvalidPolicyInput" || !strings.Contains(err.Error(), c.field) || !strings.Contains(err.Error(), c.around) {
			t.Errorf("%s: %v, want 400 BMSUserErrorInvalidPolicyInput naming %s and %s", c.name, err, c.field, c.around)
		}
		if _, err := pc.Get(e.Ctx(), "rv", "vaultrg", c.name, nil); !errors.As(err, &re) || re.StatusCode != 404 {
			t.Errorf("%s: the refused policy was stored: %v", c.name, err)
		}
	}
	for name, p := range map[string]armrecoveryservicesbackup.ProtectionPolicyResource{
		"daily-0200": daily(2, 0, 0), "daily-2330": daily(23, 30, 0), "weekly-2200": weekly(22, 0), "enhanced-0230": enhanced(2, 30)} {
		if _, err := pc.CreateOrUpdate(e.Ctx(), "rv", "vaultrg", name, p, nil); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
