package recoveryservices

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func policy(t *testing.T, js string) *iaasPolicy {
	t.Helper()
	ip, _, err := decodePolicyProperties(json.RawMessage(js))
	if err != nil {
		t.Fatal(err)
	}
	if err := ip.validate(); err != nil {
		t.Fatal(err)
	}
	return ip
}

func TestScheduleMath(t *testing.T) {
	ts := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	daily := policy(t, `{"backupManagementType":"AzureIaasVM","schedulePolicy":{"schedulePolicyType":"SimpleSchedulePolicy","scheduleRunFrequency":"Daily","scheduleRunTimes":["2018-01-24T02:30:00Z"]},
		"retentionPolicy":{"retentionPolicyType":"LongTermRetentionPolicy","dailySchedule":{"retentionTimes":["2018-01-24T02:30:00Z"],"retentionDuration":{"count":7,"durationType":"Days"}},
		"monthlySchedule":{"retentionScheduleFormatType":"Weekly","retentionScheduleWeekly":{"daysOfTheWeek":["sunday"],"weeksOfTheMonth":["First"]},"retentionTimes":["2018-01-24T02:30:00Z"],"retentionDuration":{"count":6,"durationType":"Months"}},
		"yearlySchedule":{"retentionScheduleFormatType":"Daily","monthsOfYear":["January"],"retentionScheduleDaily":{"daysOfTheMonth":[{"isLast":true}]},"retentionTimes":["2018-01-24T02:30:00Z"],"retentionDuration":{"count":2,"durationType":"Years"}}}}`)
	if got := daily.nextRun(ts("2025-03-10T02:30:00Z")); !got.Equal(ts("2025-03-11T02:30:00Z")) {
		t.Errorf("daily next %v", got)
	}
	if got := daily.nextRun(ts("2025-03-10T01:00:00Z")); !got.Equal(ts("2025-03-10T02:30:00Z")) {
		t.Errorf("daily same day %v", got)
	}
	for _, c := range []struct{ at, want string }{
		{"2025-03-04T02:30:00Z", "2025-03-11T02:30:00Z"}, // a Tuesday: daily only
		{"2025-03-02T02:30:00Z", "2025-09-02T02:30:00Z"}, // first Sunday of March: 6 months
		{"2025-03-09T02:30:00Z", "2025-03-16T02:30:00Z"}, // second Sunday: daily only
		{"2025-01-31T02:30:00Z", "2027-01-31T02:30:00Z"}, // last day of January: 2 years
	} {
		if got, _ := daily.expiry(ts(c.at)); !got.Equal(ts(c.want)) {
			t.Errorf("expiry(%s) = %v, want %s", c.at, got, c.want)
		}
	}
	weekly := policy(t, `{"backupManagementType":"AzureIaasVM","timeZone":"Pacific Standard Time","schedulePolicy":{"schedulePolicyType":"SimpleSchedulePolicy","scheduleRunFrequency":"Weekly","scheduleRunDays":["Saturday","wednesday"],"scheduleRunTimes":["2018-01-24T22:00:00Z"]},
		"retentionPolicy":{"retentionPolicyType":"LongTermRetentionPolicy","weeklySchedule":{"daysOfTheWeek":["Saturday","Wednesday"],"retentionTimes":["2018-01-24T22:00:00Z"],"retentionDuration":{"count":4,"durationType":"Weeks"}}}}`)
	// 22:00 Pacific on Wednesday 2025-03-12 (PDT, UTC-7) is 05:00Z Thursday.
	if got := weekly.nextRun(ts("2025-03-10T00:00:00Z")); !got.Equal(ts("2025-03-13T05:00:00Z")) {
		t.Errorf("weekly next %v", got)
	}
	if *weekly.InstantRpRetentionRangeInDays != 5 {
		t.Errorf("weekly instant default %d", *weekly.InstantRpRetentionRangeInDays)
	}
	hourly := policy(t, `{"backupManagementType":"AzureIaasVM","policyType":"V2","instantRpRetentionRangeInDays":7,"schedulePolicy":{"schedulePolicyType":"SimpleSchedulePolicyV2","scheduleRunFrequency":"Hourly",
		"hourlySchedule":{"interval":4,"scheduleWindowStartTime":"2024-01-01T08:00:00Z","scheduleWindowDuration":12}},
		"retentionPolicy":{"retentionPolicyType":"LongTermRetentionPolicy","dailySchedule":{"retentionTimes":["2024-01-01T08:00:00Z"],"retentionDuration":{"count":30,"durationType":"Days"}}}}`)
	var runs []string
	at := ts("2025-03-10T00:00:00Z")
	for i := 0; i < 4; i++ {
		at = hourly.nextRun(at)
		runs = append(runs, at.Format("02T15"))
	}
	if strings.Join(runs, ",") != "10T08,10T12,10T16,11T08" {
		t.Errorf("hourly runs %v", runs)
	}
}

func TestPolicyValidationNamesTheField(t *testing.T) {
	base := func(s string) string {
		return `{"backupManagementType":"AzureIaasVM",` + s + `}`
	}
	sched := `"schedulePolicy":{"schedulePolicyType":"SimpleSchedulePolicy","scheduleRunFrequency":"Daily","scheduleRunTimes":["2018-01-24T02:00:00Z"]}`
	ret := `"retentionPolicy":{"retentionPolicyType":"LongTermRetentionPolicy","dailySchedule":{"retentionTimes":["2018-01-24T02:00:00Z"],"retentionDuration":{"count":30,"durationType":"Days"}}}`
	for _, c := range []struct{ body, field string }{
		{base(ret), "properties.schedulePolicy"},
		{base(sched), "properties.retentionPolicy"},
		{base(`"schedulePolicy":{"schedulePolicyType":"SimpleSchedulePolicy","scheduleRunFrequency":"Monthly"},` + ret), "scheduleRunFrequency"},
		{base(`"schedulePolicy":{"schedulePolicyType":"SimpleSchedulePolicy","scheduleRunFrequency":"Daily"},` + ret), "scheduleRunTimes"},
		{base(`"instantRpRetentionRangeInDays":0,` + sched + "," + ret), "instantRpRetentionRangeInDays"},
		// An hourly schedule needs an Enhanced policy; each type takes its
		// own schedule type.
		{base(`"schedulePolicy":{"schedulePolicyType":"SimpleSchedulePolicy","scheduleRunFrequency":"Hourly","hourlySchedule":{"interval":4,"scheduleWindowStartTime":"2021-01-01T08:00:00Z","scheduleWindowDuration":12}},` + ret), "properties.schedulePolicy.scheduleRunFrequency"},
		{base(`"policyType":"V2",` + sched + "," + ret), "properties.policyType"},
		{base(`"policyType":"V1","schedulePolicy":{"schedulePolicyType":"SimpleSchedulePolicyV2","scheduleRunFrequency":"Daily","dailySchedule":{"scheduleRunTimes":["2018-01-24T02:00:00Z"]}},` + ret), "properties.policyType"},
		{base(sched + `,"retentionPolicy":{"retentionPolicyType":"LongTermRetentionPolicy","dailySchedule":{"retentionDuration":{"count":30,"durationType":"Weeks"}}}`), "dailySchedule.retentionDuration.durationType"},
		{base(sched + `,"retentionPolicy":{"retentionPolicyType":"LongTermRetentionPolicy","dailySchedule":{"retentionDuration":{"count":0,"durationType":"Days"}}}`), "dailySchedule.retentionDuration.count"},
		{base(sched + `,"retentionPolicy":{"retentionPolicyType":"LongTermRetentionPolicy","dailySchedule":{"retentionDuration":{"count":7,"durationType":"Days"}},"weeklySchedule":{"daysOfTheWeek":["Funday"],"retentionDuration":{"count":7,"durationType":"Weeks"}}}`), "weeklySchedule.daysOfTheWeek[0]"},
	} {
		ip, _, err := decodePolicyProperties(json.RawMessage(c.body))
		if err == nil {
			err = ip.validate()
		}
		if err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s: error %v does not name %s", c.body, err, c.field)
		}
	}
}

func TestParseFilterAndTimes(t *testing.T) {
	f, err := parseFilter("backupManagementType eq 'AzureIaasVM' and startTime eq '2016-01-01 00:00:00 AM' and endTime eq '2017-11-29 01:30:00 PM'", "backupManagementType", "startTime", "endTime")
	if err != nil {
		t.Fatal(err)
	}
	s, err1 := parseWireTime(f["starttime"])
	e, err2 := parseWireTime(f["endtime"])
	if err1 != nil || err2 != nil || !s.Equal(time.Date(2016, 1, 1, 0, 0, 0, 0, time.UTC)) || !e.Equal(time.Date(2017, 11, 29, 13, 30, 0, 0, time.UTC)) {
		t.Fatalf("%v %v %v %v", s, e, err1, err2)
	}
	if _, err := parseFilter("nope eq 'x'", "status"); err == nil {
		t.Fatal("unknown field accepted")
	}
	if _, err := parseFilter("status eq 'x' or status eq 'y'", "status"); err == nil {
		t.Fatal("'or' accepted")
	}
}

func TestNames(t *testing.T) {
	for _, s := range []string{"IaasVMContainer;iaasvmcontainerv2;RG;vm1", "iaasvmcontainer;iaasvmcontainerv2;rg;VM1", "iaasvmcontainerv2;rg;vm1"} {
		if v, ok := parseContainerName(s); !ok || v.key() != "rg;vm1" {
			t.Errorf("container %s: %v %v", s, v, ok)
		}
	}
	for _, s := range []string{"VM;iaasvmcontainerv2;RG;vm1", "vm;rg;VM1"} {
		if v, ok := parseItemName(s); !ok || v.key() != "rg;vm1" {
			t.Errorf("item %s: %v %v", s, v, ok)
		}
	}
	if _, ok := parseItemName("SQLDataBase;mssqlserver;db"); ok {
		t.Error("SQL item accepted as a VM")
	}
}
