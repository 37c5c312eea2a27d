package recoveryservices

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	_ "time/tzdata" // policies name Windows and IANA time zones

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/protection"
)

// iaasPolicy is AzureIaaSVMProtectionPolicy (discriminator
// backupManagementType = AzureIaasVM).
type iaasPolicy struct {
	BackupManagementType          string          `json:"backupManagementType"`
	PolicyType                    string          `json:"policyType,omitempty"`
	InstantRpRetentionRangeInDays *int            `json:"instantRpRetentionRangeInDays,omitempty"`
	InstantRPDetails              map[string]any  `json:"instantRPDetails,omitempty"`
	TimeZone                      string          `json:"timeZone,omitempty"`
	SchedulePolicy                *schedulePolicy `json:"schedulePolicy,omitempty"`
	RetentionPolicy               *retention      `json:"retentionPolicy,omitempty"`
	TieringPolicy                 map[string]any  `json:"tieringPolicy,omitempty"`
	SnapshotConsistencyType       string          `json:"snapshotConsistencyType,omitempty"`
	ProtectedItemsCount           int             `json:"protectedItemsCount"`
}

type schedulePolicy struct {
	SchedulePolicyType   string `json:"schedulePolicyType"`
	ScheduleRunFrequency string `json:"scheduleRunFrequency,omitempty"`
	runSchedule
	ScheduleWeeklyFrequency *int            `json:"scheduleWeeklyFrequency,omitempty"`
	HourlySchedule          *hourlySchedule `json:"hourlySchedule,omitempty"`
	DailySchedule           *struct {
		ScheduleRunTimes []wireTime `json:"scheduleRunTimes,omitempty"`
	} `json:"dailySchedule,omitempty"`
	WeeklySchedule *runSchedule `json:"weeklySchedule,omitempty"`
}

// runSchedule is when a daily or weekly schedule runs: a
// SimpleSchedulePolicy (V1) spells it in the schedule, a V2 one in its
// weeklySchedule.
type runSchedule struct {
	ScheduleRunTimes []wireTime `json:"scheduleRunTimes,omitempty"`
	ScheduleRunDays  []string   `json:"scheduleRunDays,omitempty"`
}

type hourlySchedule struct {
	Interval                *int      `json:"interval,omitempty"`
	ScheduleWindowStartTime *wireTime `json:"scheduleWindowStartTime,omitempty"`
	ScheduleWindowDuration  *int      `json:"scheduleWindowDuration,omitempty"`
}

type retentionDuration struct {
	Count        *int   `json:"count,omitempty"`
	DurationType string `json:"durationType,omitempty"`
}

type dayOfMonth struct {
	Date   *int  `json:"date,omitempty"`
	IsLast *bool `json:"isLast,omitempty"`
}

type retentionRule struct {
	RetentionScheduleFormatType string   `json:"retentionScheduleFormatType,omitempty"`
	DaysOfTheWeek               []string `json:"daysOfTheWeek,omitempty"`
	RetentionScheduleDaily      *struct {
		DaysOfTheMonth []dayOfMonth `json:"daysOfTheMonth,omitempty"`
	} `json:"retentionScheduleDaily,omitempty"`
	RetentionScheduleWeekly *struct {
		DaysOfTheWeek   []string `json:"daysOfTheWeek,omitempty"`
		WeeksOfTheMonth []string `json:"weeksOfTheMonth,omitempty"`
	} `json:"retentionScheduleWeekly,omitempty"`
	MonthsOfYear      []string           `json:"monthsOfYear,omitempty"`
	RetentionTimes    []wireTime         `json:"retentionTimes,omitempty"`
	RetentionDuration *retentionDuration `json:"retentionDuration,omitempty"`
}

type retention struct {
	RetentionPolicyType string             `json:"retentionPolicyType"`
	DailySchedule       *retentionRule     `json:"dailySchedule,omitempty"`
	WeeklySchedule      *retentionRule     `json:"weeklySchedule,omitempty"`
	MonthlySchedule     *retentionRule     `json:"monthlySchedule,omitempty"`
	YearlySchedule      *retentionRule     `json:"yearlySchedule,omitempty"`
	RetentionDuration   *retentionDuration `json:"retentionDuration,omitempty"`
}

// kind is the policy's type, V1 (Standard) or V2 (Enhanced): its
// policyType, or as Azure infers it without one, V2 for a V2 schedule.
func (ip *iaasPolicy) kind() string {
	switch {
	case ip.PolicyType != "":
		return ip.PolicyType
	case ip.SchedulePolicy != nil && strings.EqualFold(ip.SchedulePolicy.SchedulePolicyType, "SimpleSchedulePolicyV2"):
		return "V2"
	}
	return "V1"
}

// onHalfHours checks a schedule's run times as Azure does: each on the
// hour or the half hour, with no seconds (Azure answers 400
// BMSUserErrorInvalidPolicyInput for another, as Az.RecoveryServices
// says before sending: "must be of multiples of 30 Mins with seconds and
// milliseconds set to 0"). Such a time was accepted, and ran at that
// minute.
func onHalfHours(field string, times []wireTime) error {
	for _, t := range times {
		if t.Minute()%30 != 0 || t.Second() != 0 || t.Nanosecond() != 0 {
			before := time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute()/30*30, 0, 0, t.Location())
			return badField(field, "has %s, which is not on the hour or the half hour: Azure Backup runs a schedule at multiples of 30 minutes with seconds and milliseconds 0 (such as %s or %s).",
				t.Format(time.RFC3339Nano), before.Format(time.RFC3339), before.Add(30*time.Minute).Format(time.RFC3339))
		}
	}
	return nil
}

func badField(field, format string, args ...any) *arm.Error {
	return arm.BadRequestAt(field, "BMSUserErrorInvalidPolicyInput", "Invalid policy: '%s' %s", field, fmt.Sprintf(format, args...))
}

var weekdays = map[string]time.Weekday{"sunday": time.Sunday, "monday": time.Monday, "tuesday": time.Tuesday, "wednesday": time.Wednesday,
	"thursday": time.Thursday, "friday": time.Friday, "saturday": time.Saturday}

var months = map[string]time.Month{"january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7, "august": 8,
	"september": 9, "october": 10, "november": 11, "december": 12}

var weeksOfMonth = map[string]int{"first": 1, "second": 2, "third": 3, "fourth": 4, "last": -1}

func canonicalEnum(field, v string, set []string) (string, error) {
	for _, s := range set {
		if strings.EqualFold(s, v) {
			return s, nil
		}
	}
	return "", badField(field, "has the invalid value '%s': use one of %s.", v, strings.Join(set, ", "))
}

var (
	dayNames   = []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
	monthNames = []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}
	weekNames  = []string{"First", "Second", "Third", "Fourth", "Last"}
)

// canonicalList checks each value against keys (case-insensitively) and
// returns them in the keys' casing, without duplicates.
func canonicalList(field string, vs []string, keys []string) ([]string, error) {
	out := make([]string, 0, len(vs))
	seen := map[string]bool{}
	for i, v := range vs {
		c, err := canonicalEnum(fmt.Sprintf("%s[%d]", field, i), v, keys)
		if err != nil {
			return nil, err
		}
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out, nil
}

// validate checks an IaaS VM policy and fills defaults; errors name the bad field.
func (p *iaasPolicy) validate() error {
	p.BackupManagementType = "AzureIaasVM"
	sp := p.SchedulePolicy
	if sp == nil {
		return badField("properties.schedulePolicy", "is required.")
	}
	var err error
	if _, err = p.tiering(); err != nil {
		return err
	}
	if sp.SchedulePolicyType, err = canonicalEnum("properties.schedulePolicy.schedulePolicyType", sp.SchedulePolicyType, []string{"SimpleSchedulePolicy", "SimpleSchedulePolicyV2"}); err != nil {
		return err
	}
	if sp.ScheduleRunFrequency, err = canonicalEnum("properties.schedulePolicy.scheduleRunFrequency", sp.ScheduleRunFrequency, []string{"Daily", "Weekly", "Hourly"}); err != nil {
		return err
	}
	v2 := sp.SchedulePolicyType == "SimpleSchedulePolicyV2"
	if p.PolicyType == "" {
		p.PolicyType = "V1"
		if v2 {
			p.PolicyType = "V2"
		}
	} else if p.PolicyType, err = canonicalEnum("properties.policyType", p.PolicyType, []string{"V1", "V2"}); err != nil {
		return err
	}
	// A Standard (V1) policy has a SimpleSchedulePolicy, daily or weekly;
	// an Enhanced (V2) one a SimpleSchedulePolicyV2, which alone runs
	// hourly, as in Azure: a V1 policy with an hourly schedule, or either
	// type with the other's schedule, was accepted (and a V1 one named V2
	// schedule ran as Standard).
	if p.PolicyType == "V1" && v2 || p.PolicyType == "V2" && !v2 {
		return badField("properties.policyType", "is '%s', but properties.schedulePolicy.schedulePolicyType is '%s': a Standard (V1) policy takes a SimpleSchedulePolicy, an Enhanced (V2) one a SimpleSchedulePolicyV2.", p.PolicyType, sp.SchedulePolicyType)
	}
	if !v2 && sp.ScheduleRunFrequency == "Hourly" {
		return badField("properties.schedulePolicy.scheduleRunFrequency", "'Hourly' needs an Enhanced (V2) policy: give schedulePolicyType 'SimpleSchedulePolicyV2' with an hourlySchedule (and policyType 'V2'); a Standard (V1) policy runs Daily or Weekly.")
	}
	if p.TimeZone == "" {
		p.TimeZone = "UTC"
	}
	if p.SnapshotConsistencyType == "" && v2 {
		p.SnapshotConsistencyType = "OnlyCrashConsistent"
	}
	switch sp.ScheduleRunFrequency {
	case "Daily":
		times := sp.ScheduleRunTimes
		field := "properties.schedulePolicy.scheduleRunTimes"
		if v2 {
			field = "properties.schedulePolicy.dailySchedule.scheduleRunTimes"
			if sp.DailySchedule == nil {
				return badField("properties.schedulePolicy.dailySchedule", "is required when scheduleRunFrequency is Daily.")
			}
			times = sp.DailySchedule.ScheduleRunTimes
		}
		if len(times) != 1 {
			return badField(field, "must hold exactly one time for a daily schedule (it has %d).", len(times))
		}
		if err := onHalfHours(field, times); err != nil {
			return err
		}
	case "Weekly":
		w := &sp.runSchedule
		tf, df := "properties.schedulePolicy.scheduleRunTimes", "properties.schedulePolicy.scheduleRunDays"
		if v2 {
			if sp.WeeklySchedule == nil {
				return badField("properties.schedulePolicy.weeklySchedule", "is required when scheduleRunFrequency is Weekly.")
			}
			w = sp.WeeklySchedule
			tf, df = "properties.schedulePolicy.weeklySchedule.scheduleRunTimes", "properties.schedulePolicy.weeklySchedule.scheduleRunDays"
		}
		if len(w.ScheduleRunTimes) != 1 {
			return badField(tf, "must hold exactly one time for a weekly schedule (it has %d).", len(w.ScheduleRunTimes))
		}
		if err := onHalfHours(tf, w.ScheduleRunTimes); err != nil {
			return err
		}
		if len(w.ScheduleRunDays) == 0 {
			return badField(df, "must name at least one day for a weekly schedule.")
		}
		cd, err := canonicalList(df, w.ScheduleRunDays, dayNames)
		if err != nil {
			return err
		}
		w.ScheduleRunDays = cd
	case "Hourly":
		h := sp.HourlySchedule
		if h == nil {
			return badField("properties.schedulePolicy.hourlySchedule", "is required when scheduleRunFrequency is Hourly.")
		}
		if h.Interval == nil || !(*h.Interval == 4 || *h.Interval == 6 || *h.Interval == 8 || *h.Interval == 12) {
			return badField("properties.schedulePolicy.hourlySchedule.interval", "must be 4, 6, 8 or 12 hours.")
		}
		if h.ScheduleWindowStartTime == nil || h.ScheduleWindowStartTime.IsZero() {
			return badField("properties.schedulePolicy.hourlySchedule.scheduleWindowStartTime", "is required.")
		}
		if h.ScheduleWindowDuration == nil || *h.ScheduleWindowDuration < *h.Interval || *h.ScheduleWindowDuration > 24 {
			return badField("properties.schedulePolicy.hourlySchedule.scheduleWindowDuration", "must be between the interval and 24 hours.")
		}
	}
	if p.InstantRpRetentionRangeInDays == nil {
		n := 2
		if sp.ScheduleRunFrequency == "Weekly" {
			n = 5
		}
		p.InstantRpRetentionRangeInDays = &n
	} else if n := *p.InstantRpRetentionRangeInDays; n < 1 || n > 30 {
		return badField("properties.instantRpRetentionRangeInDays", "must be between 1 and 30 days (it is %d).", n)
	} else if p.PolicyType == "V1" && sp.ScheduleRunFrequency == "Weekly" && n != 5 {
		// A Standard policy keeps its snapshots 1 to 5 days, a weekly one
		// 5, as in Azure (and az backup policy set's own check); an
		// Enhanced one 1 to 30.
		return badField("properties.instantRpRetentionRangeInDays", "must be 5 days for a weekly Standard (V1) policy (it is %d); an Enhanced (V2) policy keeps snapshots 1 to 30 days.", n)
	} else if p.PolicyType == "V1" && n > 5 {
		return badField("properties.instantRpRetentionRangeInDays", "must be between 1 and 5 days for a Standard (V1) policy (it is %d); an Enhanced (V2) policy keeps snapshots 1 to 30 days.", n)
	}
	rp := p.RetentionPolicy
	if rp == nil {
		return badField("properties.retentionPolicy", "is required.")
	}
	if rp.RetentionPolicyType, err = canonicalEnum("properties.retentionPolicy.retentionPolicyType", rp.RetentionPolicyType, []string{"LongTermRetentionPolicy", "SimpleRetentionPolicy"}); err != nil {
		return err
	}
	if rp.RetentionPolicyType == "SimpleRetentionPolicy" {
		return checkDuration("properties.retentionPolicy.retentionDuration", rp.RetentionDuration, "Days", 1, 9999)
	}
	if rp.DailySchedule == nil && rp.WeeklySchedule == nil && rp.MonthlySchedule == nil && rp.YearlySchedule == nil {
		return badField("properties.retentionPolicy", "needs at least one of dailySchedule, weeklySchedule, monthlySchedule or yearlySchedule.")
	}
	if sp.ScheduleRunFrequency != "Weekly" && rp.DailySchedule == nil {
		return badField("properties.retentionPolicy.dailySchedule", "is required for a %s schedule.", strings.ToLower(sp.ScheduleRunFrequency))
	}
	if sp.ScheduleRunFrequency == "Weekly" && rp.DailySchedule != nil {
		return badField("properties.retentionPolicy.dailySchedule", "is not allowed with a weekly schedule: use weeklySchedule.")
	}
	if r := rp.DailySchedule; r != nil {
		if err := checkDuration("properties.retentionPolicy.dailySchedule.retentionDuration", r.RetentionDuration, "Days", 1, 9999); err != nil {
			return err
		}
	}
	if r := rp.WeeklySchedule; r != nil {
		if err := checkDuration("properties.retentionPolicy.weeklySchedule.retentionDuration", r.RetentionDuration, "Weeks", 1, 5163); err != nil {
			return err
		}
		if len(r.DaysOfTheWeek) == 0 {
			return badField("properties.retentionPolicy.weeklySchedule.daysOfTheWeek", "must name at least one day.")
		}
		if r.DaysOfTheWeek, err = canonicalList("properties.retentionPolicy.weeklySchedule.daysOfTheWeek", r.DaysOfTheWeek, dayNames); err != nil {
			return err
		}
	}
	for _, x := range []struct {
		name   string
		r      *retentionRule
		unit   string
		max    int
		yearly bool
	}{{"monthlySchedule", rp.MonthlySchedule, "Months", 1188, false}, {"yearlySchedule", rp.YearlySchedule, "Years", 99, true}} {
		r := x.r
		if r == nil {
			continue
		}
		f := "properties.retentionPolicy." + x.name
		if err := checkDuration(f+".retentionDuration", r.RetentionDuration, x.unit, 1, x.max); err != nil {
			return err
		}
		if r.RetentionScheduleFormatType, err = canonicalEnum(f+".retentionScheduleFormatType", r.RetentionScheduleFormatType, []string{"Daily", "Weekly"}); err != nil {
			return err
		}
		if r.RetentionScheduleFormatType == "Daily" {
			if r.RetentionScheduleDaily == nil || len(r.RetentionScheduleDaily.DaysOfTheMonth) == 0 {
				return badField(f+".retentionScheduleDaily.daysOfTheMonth", "must name at least one day when retentionScheduleFormatType is Daily.")
			}
			for i, d := range r.RetentionScheduleDaily.DaysOfTheMonth {
				last := d.IsLast != nil && *d.IsLast
				if !last && (d.Date == nil || *d.Date < 1 || *d.Date > 28) {
					return badField(fmt.Sprintf("%s.retentionScheduleDaily.daysOfTheMonth[%d].date", f, i), "must be between 1 and 28, or set isLast.")
				}
			}
		} else {
			w := r.RetentionScheduleWeekly
			if w == nil || len(w.DaysOfTheWeek) == 0 || len(w.WeeksOfTheMonth) == 0 {
				return badField(f+".retentionScheduleWeekly", "must name daysOfTheWeek and weeksOfTheMonth when retentionScheduleFormatType is Weekly.")
			}
			if w.DaysOfTheWeek, err = canonicalList(f+".retentionScheduleWeekly.daysOfTheWeek", w.DaysOfTheWeek, dayNames); err != nil {
				return err
			}
			if w.WeeksOfTheMonth, err = canonicalList(f+".retentionScheduleWeekly.weeksOfTheMonth", w.WeeksOfTheMonth, weekNames); err != nil {
				return err
			}
		}
		if x.yearly {
			if len(r.MonthsOfYear) == 0 {
				return badField(f+".monthsOfYear", "must name at least one month.")
			}
			if r.MonthsOfYear, err = canonicalList(f+".monthsOfYear", r.MonthsOfYear, monthNames); err != nil {
				return err
			}
		}
	}
	return nil
}

// runTimes is the daily or weekly schedule's run times (nil for hourly).
func (p *iaasPolicy) runTimes() []wireTime {
	sp := p.SchedulePolicy
	switch {
	case sp.ScheduleRunFrequency == "Daily" && sp.SchedulePolicyType == "SimpleSchedulePolicyV2" && sp.DailySchedule != nil:
		return sp.DailySchedule.ScheduleRunTimes
	case sp.ScheduleRunFrequency == "Weekly" && sp.SchedulePolicyType == "SimpleSchedulePolicyV2" && sp.WeeklySchedule != nil:
		return sp.WeeklySchedule.ScheduleRunTimes
	case sp.ScheduleRunFrequency == "Daily" || sp.ScheduleRunFrequency == "Weekly":
		return sp.ScheduleRunTimes
	}
	return nil
}

// checkRetentionTimes gives the daily and weekly retention rules that have
// no retentionTimes the schedule's run times. Times that differ from the
// schedule's are kept as sent, as Azure does (its own IaaS_v2_daily example
// runs at 10:00 and retains at 08:00): a rule keeps the backup of each day
// (or weekday) it names, whatever its time of day. It runs on a PUT after
// validate (not on stored policies, which keep their schedules).
func (p *iaasPolicy) checkRetentionTimes() error {
	want := p.runTimes()
	if len(want) == 0 {
		return nil
	}
	for _, r := range []*retentionRule{p.RetentionPolicy.DailySchedule, p.RetentionPolicy.WeeklySchedule} {
		if r != nil && len(r.RetentionTimes) == 0 {
			r.RetentionTimes = append([]wireTime(nil), want...)
		}
	}
	return nil
}

func checkDuration(field string, d *retentionDuration, unit string, min, max int) error {
	if d == nil || d.Count == nil {
		return badField(field+".count", "is required.")
	}
	if d.DurationType == "" {
		d.DurationType = unit
	}
	if !strings.EqualFold(d.DurationType, unit) {
		return badField(field+".durationType", "must be '%s' (it is '%s').", unit, d.DurationType)
	}
	d.DurationType = unit
	if *d.Count < min || *d.Count > max {
		return badField(field+".count", "must be between %d and %d (it is %d).", min, max, *d.Count)
	}
	return nil
}

// checkTimeZone refuses a policy write with a time zone LoadTimeZone does
// not know. It is not part of validate, which also reads stored policies:
// one stored before the check (run in UTC, see location) keeps its items
// scheduled.
func (p *iaasPolicy) checkTimeZone() error {
	if _, err := protection.LoadTimeZone(p.TimeZone); err != nil {
		return badField("properties.timeZone", "is invalid: %v.", err)
	}
	return nil
}

// location of the policy's time zone (Windows or IANA names; UTC when unknown).
func (p *iaasPolicy) location() *time.Location {
	loc, err := protection.LoadTimeZone(p.TimeZone)
	if err != nil {
		return time.UTC
	}
	return loc
}

// schedule is the policy's backup schedule: daily and weekly runs at their
// time of day; hourly runs every interval hours within the daily window.
func (p *iaasPolicy) schedule() protection.WeeklySchedule {
	sp := p.SchedulePolicy
	ws := protection.WeeklySchedule{Location: p.location()}
	tod := func(ts []wireTime) []time.Duration {
		var out []time.Duration
		for _, t := range ts {
			out = append(out, time.Duration(t.Hour())*time.Hour+time.Duration(t.Minute())*time.Minute)
		}
		return out
	}
	days := func(ds []string) []time.Weekday {
		var out []time.Weekday
		for _, d := range ds {
			out = append(out, weekdays[strings.ToLower(d)])
		}
		return out
	}
	v2 := sp.SchedulePolicyType == "SimpleSchedulePolicyV2"
	switch sp.ScheduleRunFrequency {
	case "Daily":
		ws.Times = tod(sp.ScheduleRunTimes)
		if v2 && sp.DailySchedule != nil {
			ws.Times = tod(sp.DailySchedule.ScheduleRunTimes)
		}
	case "Weekly":
		w := &sp.runSchedule
		if v2 && sp.WeeklySchedule != nil {
			w = sp.WeeklySchedule
		}
		ws.Times, ws.Weekdays = tod(w.ScheduleRunTimes), days(w.ScheduleRunDays)
	case "Hourly":
		h := sp.HourlySchedule
		start := tod([]wireTime{*h.ScheduleWindowStartTime})[0]
		for k := time.Duration(0); k < time.Duration(*h.ScheduleWindowDuration)*time.Hour; k += time.Duration(*h.Interval) * time.Hour {
			ws.Times = append(ws.Times, (start+k)%(24*time.Hour))
		}
	}
	return ws
}

// nextRun is the first scheduled run strictly after t.
func (p *iaasPolicy) nextRun(t time.Time) time.Time { return p.schedule().Next(t).UTC() }

// retention is the policy's long-term retention in the shared core's terms.
func (p *iaasPolicy) retention() protection.LongTermRetention {
	r := protection.LongTermRetention{Location: p.location()}
	rp := p.RetentionPolicy
	if rp == nil {
		return r
	}
	if rp.RetentionPolicyType == "SimpleRetentionPolicy" {
		r.Daily = &protection.RetentionRule{Keep: keepFor(rp.RetentionDuration)}
		return r
	}
	rule := func(x *retentionRule) *protection.RetentionRule {
		if x == nil {
			return nil
		}
		out := &protection.RetentionRule{Keep: keepFor(x.RetentionDuration)}
		for _, d := range x.DaysOfTheWeek {
			out.Weekdays = append(out.Weekdays, weekdays[strings.ToLower(d)])
		}
		if strings.EqualFold(x.RetentionScheduleFormatType, "Weekly") && x.RetentionScheduleWeekly != nil {
			for _, d := range x.RetentionScheduleWeekly.DaysOfTheWeek {
				out.Weekdays = append(out.Weekdays, weekdays[strings.ToLower(d)])
			}
			for _, w := range x.RetentionScheduleWeekly.WeeksOfTheMonth {
				out.WeeksOfMonth = append(out.WeeksOfMonth, weeksOfMonth[strings.ToLower(w)])
			}
		} else if x.RetentionScheduleDaily != nil {
			for _, d := range x.RetentionScheduleDaily.DaysOfTheMonth {
				switch {
				case d.IsLast != nil && *d.IsLast:
					out.DaysOfMonth = append(out.DaysOfMonth, 0)
				case d.Date != nil:
					out.DaysOfMonth = append(out.DaysOfMonth, *d.Date)
				}
			}
		}
		for _, m := range x.MonthsOfYear {
			out.Months = append(out.Months, months[strings.ToLower(m)])
		}
		return out
	}
	r.Daily, r.Weekly, r.Monthly, r.Yearly = rule(rp.DailySchedule), rule(rp.WeeklySchedule), rule(rp.MonthlySchedule), rule(rp.YearlySchedule)
	if r.Weekly != nil && len(r.Weekly.Weekdays) == 0 {
		r.Weekly = nil
	}
	return r
}

func keepFor(d *retentionDuration) protection.Duration {
	if d == nil || d.Count == nil {
		return protection.Duration{Days: 30}
	}
	n := *d.Count
	switch strings.ToLower(d.DurationType) {
	case "weeks":
		return protection.Duration{Weeks: n}
	case "months":
		return protection.Duration{Months: n}
	case "years":
		return protection.Duration{Years: n}
	}
	return protection.Duration{Days: n}
}

// expiry is when a scheduled recovery point taken at t leaves the vault
// tier (the latest end among the rules that keep it) and that rule's name.
func (p *iaasPolicy) expiry(t time.Time) (time.Time, string) {
	e, rule := p.retention().Expiry(t)
	return e.UTC(), rule
}

// instantExpiry is when a point taken at t leaves the snapshot tier.
func (p *iaasPolicy) instantExpiry(t time.Time) time.Time {
	n := 2
	if p.InstantRpRetentionRangeInDays != nil {
		n = *p.InstantRpRetentionRangeInDays
	}
	return t.AddDate(0, 0, n)
}

// policy is the policy in the engine's terms (id and name as the item
// spells them).
func (p *iaasPolicy) policy(id, name string) *protection.Policy {
	n := 2
	if p.InstantRpRetentionRangeInDays != nil {
		n = *p.InstantRpRetentionRangeInDays
	}
	lt := p.retention()
	tiering, _ := p.tiering() // checked by validate
	return &protection.Policy{ID: id, Name: name, Schedule: p.schedule(), LongTerm: &lt, Operational: protection.Duration{Days: n}, Tiering: tiering}
}

// decodePolicyProperties decodes a policy body's properties by its
// discriminator; non-IaaS policies are kept as given.
func decodePolicyProperties(raw json.RawMessage) (*iaasPolicy, map[string]any, error) {
	var head struct {
		BackupManagementType string `json:"backupManagementType"`
	}
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil, badField("properties", "is required.")
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, nil, arm.InvalidRequest("The policy properties could not be read: %v.", err)
	}
	if head.BackupManagementType == "" {
		return nil, nil, badField("properties.backupManagementType", "is required: use 'AzureIaasVM' for virtual machines.")
	}
	if strings.EqualFold(head.BackupManagementType, "AzureIaasVM") {
		var p iaasPolicy
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, nil, arm.Errorf(http.StatusBadRequest, "BMSUserErrorInvalidPolicyInput", "Invalid policy: %v.", err)
		}
		return &p, nil, nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, nil, arm.InvalidRequest("The policy properties could not be read: %v.", err)
	}
	return nil, m, nil
}
