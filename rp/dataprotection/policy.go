package dataprotection

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/protection"
)

// Azure's limits for disk backup policies.
var (
	allowedPeriods = []string{"PT1H", "PT2H", "PT4H", "PT6H", "PT8H", "PT12H", "P1D"}
	allowedTags    = []string{"Default", "Daily", "Weekly"}
	tagCriteria    = map[string]string{"Daily": protection.FirstOfDay, "Weekly": protection.FirstOfWeek}
	tagPriority    = map[string]int{"Default": 99, "Daily": 25, "Weekly": 20}
)

const (
	maxSnapshots = 450                  // 500 incremental snapshots per disk, minus headroom for ad-hoc backups
	maxRetention = 366 * 24 * time.Hour // one year
)

// diskPolicy is a validated disk backup policy in domain terms.
type diskPolicy struct {
	RuleName  string
	Interval  protection.RepeatingInterval
	Retention protection.Retention
}

// policy is the policy in the engine's terms.
func (dp *diskPolicy) policy(pol *policyResource) *protection.Policy {
	r := dp.Retention
	return &protection.Policy{ID: pol.ID, Name: pol.Name, RuleName: dp.RuleName, Schedule: dp.Interval, AtOccurrence: true, Tags: &r}
}

// policyError is a 400 naming the field, the value given and what is allowed.
func policyError(field, format string, args ...any) *arm.Error {
	return arm.BadRequestAt(field, "UserErrorInvalidPolicyInput", "Invalid backup policy: %s: %s", field, fmt.Sprintf(format, args...))
}

func quoteList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = "'" + x + "'"
	}
	return strings.Join(q, ", ")
}

func canonical(v string, allowed []string) (string, bool) {
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			return a, true
		}
	}
	return "", false
}

// parsePolicy validates a disk backup policy against Azure's rules and
// normalizes it for storage and echo (SDK casing, tagInfo ids, empty copy
// settings). Every error names the field, the value and the allowed values.
func parsePolicy(bp *backupPolicy) (*diskPolicy, error) {
	if bp == nil {
		return nil, policyError("properties", "is required: send the BackupPolicy as the resource's properties")
	}
	if ot, ok := canonical(bp.ObjectType, []string{"BackupPolicy"}); !ok {
		return nil, policyError("properties.objectType", "'%s' is not supported; allowed values: 'BackupPolicy'", bp.ObjectType)
	} else {
		bp.ObjectType = ot
	}
	if len(bp.DatasourceTypes) != 1 {
		return nil, policyError("properties.datasourceTypes", "%d values given; give exactly one: 'Microsoft.Compute/disks'", len(bp.DatasourceTypes))
	}
	if !strings.EqualFold(bp.DatasourceTypes[0], typeDisk) {
		return nil, policyError("properties.datasourceTypes[0]", "'%s' is not supported; allowed values: 'Microsoft.Compute/disks'", bp.DatasourceTypes[0])
	}
	bp.DatasourceTypes[0] = typeDisk
	if len(bp.PolicyRules) == 0 {
		return nil, policyError("properties.policyRules", "is empty; give one AzureBackupRule and an AzureRetentionRule named 'Default'")
	}
	dp := &diskPolicy{}
	var backupIdx = -1
	retention := map[string]protection.Duration{}
	retentionField := map[string]string{}
	for i := range bp.PolicyRules {
		r := &bp.PolicyRules[i]
		f := fmt.Sprintf("properties.policyRules[%d]", i)
		ot, ok := canonical(r.ObjectType, []string{"AzureBackupRule", "AzureRetentionRule"})
		if !ok {
			return nil, policyError(f+".objectType", "'%s' is not supported; allowed values: 'AzureBackupRule', 'AzureRetentionRule'", r.ObjectType)
		}
		r.ObjectType = ot
		if strings.TrimSpace(r.Name) == "" {
			return nil, policyError(f+".name", "is required")
		}
		if ot == "AzureBackupRule" {
			if backupIdx >= 0 {
				return nil, policyError(f, "a second AzureBackupRule ('%s'); a disk policy has exactly one (the first is '%s')", r.Name, bp.PolicyRules[backupIdx].Name)
			}
			backupIdx = i
			if err := parseBackupRule(r, f, dp); err != nil {
				return nil, err
			}
			continue
		}
		name, ok := canonical(r.Name, allowedTags)
		if !ok {
			return nil, policyError(f+".name", "retention rule '%s' is not supported for disks; allowed values: %s", r.Name, quoteList(allowedTags))
		}
		r.Name = name
		if _, dup := retention[name]; dup {
			return nil, policyError(f+".name", "retention rule '%s' is given twice", name)
		}
		isDef := r.IsDefault != nil && *r.IsDefault || r.IsDefault == nil && name == "Default"
		if name == "Default" && !isDef {
			return nil, policyError(f+".isDefault", "must be true for the 'Default' retention rule")
		}
		if name != "Default" && isDef {
			return nil, policyError(f+".isDefault", "must be false for the '%s' retention rule; only 'Default' is the default", name)
		}
		t := isDef
		r.IsDefault = &t
		if len(r.Lifecycles) != 1 {
			return nil, policyError(f+".lifecycles", "%d lifecycles given; disks allow exactly one (OperationalStore)", len(r.Lifecycles))
		}
		lc := &r.Lifecycles[0]
		lf := f + ".lifecycles[0]"
		if lc.SourceDataStore == nil {
			return nil, policyError(lf+".sourceDataStore", "is required: {\"objectType\":\"DataStoreInfoBase\",\"dataStoreType\":\"OperationalStore\"}")
		}
		if err := checkDataStore(lc.SourceDataStore, lf+".sourceDataStore"); err != nil {
			return nil, err
		}
		if len(lc.TargetDataStoreCopySettings) > 0 {
			return nil, policyError(lf+".targetDataStoreCopySettings", "copies to another data store are not supported for disks; give an empty list")
		}
		lc.TargetDataStoreCopySettings = []json.RawMessage{}
		if lc.DeleteAfter == nil {
			return nil, policyError(lf+".deleteAfter", "is required: {\"objectType\":\"AbsoluteDeleteOption\",\"duration\":\"P7D\"}")
		}
		if ot, ok := canonical(lc.DeleteAfter.ObjectType, []string{"AbsoluteDeleteOption"}); !ok {
			return nil, policyError(lf+".deleteAfter.objectType", "'%s' is not supported; allowed values: 'AbsoluteDeleteOption'", lc.DeleteAfter.ObjectType)
		} else {
			lc.DeleteAfter.ObjectType = ot
		}
		dur, err := strictDuration(lf+".deleteAfter.duration", lc.DeleteAfter.Duration)
		if err != nil {
			return nil, err
		}
		lc.DeleteAfter.Duration = dur
		d, err := protection.ParseDuration(dur)
		if err != nil {
			return nil, policyError(lf+".deleteAfter.duration", "'%s' is not a valid ISO 8601 duration; use days or weeks such as 'P7D', 'P30D', 'P12W'", lc.DeleteAfter.Duration)
		}
		if d.Approx() < 24*time.Hour || d.Approx() > maxRetention || d.Fixed() != 0 {
			return nil, policyError(lf+".deleteAfter.duration", "'%s' is out of range; allowed: whole days from 'P1D' up to one year ('P365D', 'P52W', 'P12M' or 'P1Y')", lc.DeleteAfter.Duration)
		}
		retention[name] = d
		retentionField[name] = lf + ".deleteAfter.duration"
	}
	if backupIdx < 0 {
		return nil, policyError("properties.policyRules", "has no AzureBackupRule; add one with a ScheduleBasedTriggerContext")
	}
	if _, ok := retention["Default"]; !ok {
		return nil, policyError("properties.policyRules", "has no AzureRetentionRule named 'Default'; it is mandatory")
	}
	// Every tag has a retention rule and every retention rule a tag.
	tags := map[string]bool{}
	for _, tr := range dp.Retention.Rules {
		tags[tr.Tag] = true
		d, ok := retention[tr.Tag]
		if !ok {
			return nil, policyError(fmt.Sprintf("properties.policyRules[%d].trigger.taggingCriteria", backupIdx), "tag '%s' has no AzureRetentionRule named '%s'; add one or remove the tag", tr.Tag, tr.Tag)
		}
		for i := range dp.Retention.Rules {
			if dp.Retention.Rules[i].Tag == tr.Tag {
				dp.Retention.Rules[i].Retain = d
			}
		}
	}
	for name := range retention {
		if !tags[name] {
			return nil, policyError(fmt.Sprintf("properties.policyRules[%d].trigger.taggingCriteria", backupIdx), "retention rule '%s' has no tagging criteria with tagName '%s'; add one", name, name)
		}
	}
	// Azure's snapshot limit: what the policy keeps at steady state.
	period := dp.Interval.Period.Approx()
	count := int(retention["Default"].Approx() / period)
	if d, ok := retention["Daily"]; ok {
		count += int(d.Approx() / (24 * time.Hour))
	}
	if d, ok := retention["Weekly"]; ok {
		count += int(d.Approx() / (7 * 24 * time.Hour))
	}
	if count > maxSnapshots {
		field := retentionField["Default"]
		return nil, policyError(field, "the policy would keep about %d snapshots (backups every %s kept %s, plus daily/weekly points); the limit is %d: shorten the retention or back up less often", count, dp.Interval.Period, retention["Default"], maxSnapshots)
	}
	return dp, nil
}

func checkDataStore(ds *dataStoreInfo, field string) error {
	st, ok := canonical(ds.DataStoreType, []string{"OperationalStore", "VaultStore", "ArchiveStore"})
	if !ok || st != "OperationalStore" {
		return policyError(field+".dataStoreType", "'%s' is not supported for disks; allowed values: 'OperationalStore'", ds.DataStoreType)
	}
	ds.DataStoreType = st
	if ds.ObjectType == "" || strings.EqualFold(ds.ObjectType, "DataStoreInfoBase") {
		ds.ObjectType = "DataStoreInfoBase"
	} else {
		return policyError(field+".objectType", "'%s' is not supported; allowed values: 'DataStoreInfoBase'", ds.ObjectType)
	}
	return nil
}

func parseBackupRule(r *policyRule, f string, dp *diskPolicy) error {
	dp.RuleName = r.Name
	if r.BackupParameters == nil {
		r.BackupParameters = &backupParams{BackupType: "Incremental"}
	}
	r.BackupParameters.ObjectType = "AzureBackupParams"
	if bt, ok := canonical(r.BackupParameters.BackupType, []string{"Incremental"}); !ok {
		return policyError(f+".backupParameters.backupType", "'%s' is not supported for disks; allowed values: 'Incremental'", r.BackupParameters.BackupType)
	} else {
		r.BackupParameters.BackupType = bt
	}
	if r.DataStore == nil {
		return policyError(f+".dataStore", "is required: {\"objectType\":\"DataStoreInfoBase\",\"dataStoreType\":\"OperationalStore\"}")
	}
	if err := checkDataStore(r.DataStore, f+".dataStore"); err != nil {
		return err
	}
	if r.Trigger == nil {
		return policyError(f+".trigger", "is required: a ScheduleBasedTriggerContext")
	}
	if ot, ok := canonical(r.Trigger.ObjectType, []string{"ScheduleBasedTriggerContext"}); !ok {
		return policyError(f+".trigger.objectType", "'%s' is not supported for disks; allowed values: 'ScheduleBasedTriggerContext'", r.Trigger.ObjectType)
	} else {
		r.Trigger.ObjectType = ot
	}
	s := r.Trigger.Schedule
	if s == nil {
		return policyError(f+".trigger.schedule", "is required: {\"repeatingTimeIntervals\":[\"R/2021-01-01T08:00:00+00:00/PT4H\"],\"timeZone\":\"UTC\"}")
	}
	loc, err := protection.LoadTimeZone(s.TimeZone)
	if err != nil {
		return policyError(f+".trigger.schedule.timeZone", "%v", err)
	}
	if len(s.RepeatingTimeIntervals) != 1 {
		return policyError(f+".trigger.schedule.repeatingTimeIntervals", "%d values given; give exactly one, such as 'R/2021-01-01T08:00:00+00:00/PT4H'", len(s.RepeatingTimeIntervals))
	}
	rf := f + ".trigger.schedule.repeatingTimeIntervals[0]"
	ri, err := protection.ParseRepeatingInterval(s.RepeatingTimeIntervals[0], loc)
	if err != nil {
		return policyError(rf, "%v", err)
	}
	if ri.Count != 0 {
		return policyError(rf, "'%s' has a repetition count; use 'R/<start>/<period>' without one", s.RepeatingTimeIntervals[0])
	}
	ps := ri.Period.String()
	if _, ok := canonical(ps, allowedPeriods); !ok {
		return policyError(rf, "the period '%s' in '%s' is not allowed; allowed values: %s", ps, s.RepeatingTimeIntervals[0], quoteList(allowedPeriods))
	}
	dp.Interval = ri
	dp.Retention = protection.Retention{Location: loc}
	if len(r.Trigger.TaggingCriteria) == 0 {
		return policyError(f+".trigger.taggingCriteria", "is empty; the 'Default' tag (isDefault true, taggingPriority 99) is mandatory")
	}
	hasDefault := false
	for i := range r.Trigger.TaggingCriteria {
		tc := &r.Trigger.TaggingCriteria[i]
		tf := fmt.Sprintf("%s.trigger.taggingCriteria[%d]", f, i)
		name, ok := canonical(tc.TagInfo.TagName, allowedTags)
		if !ok {
			return policyError(tf+".tagInfo.tagName", "'%s' is not supported for disks; allowed values: %s", tc.TagInfo.TagName, quoteList(allowedTags))
		}
		tc.TagInfo.TagName = name
		tc.TagInfo.ID = name + "_"
		if _, dup := dp.Retention.Rule(name); dup {
			return policyError(tf+".tagInfo.tagName", "tag '%s' is given twice", name)
		}
		rule := protection.TagRule{Tag: name, Priority: int(tc.TaggingPriority)}
		if name == "Default" {
			if !tc.IsDefault {
				return policyError(tf+".isDefault", "must be true for the 'Default' tag")
			}
			if len(tc.Criteria) > 0 {
				return policyError(tf+".criteria", "the 'Default' tag takes no criteria")
			}
			if tc.TaggingPriority == 0 {
				tc.TaggingPriority = 99
			}
			rule.Default, rule.Priority = true, int(tc.TaggingPriority)
			hasDefault = true
		} else {
			if tc.IsDefault {
				return policyError(tf+".isDefault", "must be false for the '%s' tag; only 'Default' is the default", name)
			}
			want := tagCriteria[name]
			if len(tc.Criteria) != 1 || len(tc.Criteria[0].AbsoluteCriteria) != 1 {
				return policyError(tf+".criteria", "the '%s' tag needs exactly one ScheduleBasedBackupCriteria with absoluteCriteria ['%s']", name, want)
			}
			c := &tc.Criteria[0]
			if ot, ok := canonical(c.ObjectType, []string{"ScheduleBasedBackupCriteria"}); !ok {
				return policyError(tf+".criteria[0].objectType", "'%s' is not supported; allowed values: 'ScheduleBasedBackupCriteria'", c.ObjectType)
			} else {
				c.ObjectType = ot
			}
			if !strings.EqualFold(c.AbsoluteCriteria[0], want) {
				return policyError(tf+".criteria[0].absoluteCriteria[0]", "'%s' is not allowed for the '%s' tag; allowed values: '%s'", c.AbsoluteCriteria[0], name, want)
			}
			c.AbsoluteCriteria[0] = want
			if len(c.DaysOfTheWeek)+len(c.DaysOfMonth)+len(c.WeeksOfTheMonth)+len(c.MonthsOfYear)+len(c.ScheduleTimes) > 0 {
				return policyError(tf+".criteria[0]", "only absoluteCriteria is supported for disks; remove daysOfTheWeek, daysOfMonth, weeksOfTheMonth, monthsOfYear and scheduleTimes")
			}
			if tc.TaggingPriority == 0 {
				tc.TaggingPriority = int64(tagPriority[name])
			}
			rule.Priority = int(tc.TaggingPriority)
			rule.Criteria = []string{want}
		}
		dp.Retention.Rules = append(dp.Retention.Rules, rule)
	}
	if !hasDefault {
		return policyError(f+".trigger.taggingCriteria", "has no 'Default' tag; it is mandatory (isDefault true, taggingPriority 99)")
	}
	return nil
}

// policyFromStored rebuilds the domain policy from a stored (validated) body.
func policyFromStored(pr *policyResource) (*diskPolicy, error) {
	cp := *pr.Properties
	cp.PolicyRules = append([]policyRule(nil), pr.Properties.PolicyRules...)
	return parsePolicy(&cp)
}

// strictDuration checks an ISO 8601 duration as Azure's parser (XML
// Schema's duration: surrounding white space ignored, designators P, Y,
// M, W, D, T, H, M, S upper case) reads it, and answers it as stored: a
// value with white space around it is stored without it ("P7D " is
// "P7D"), one with a lower-case designator ("p7d") is 400 at field naming
// the upper-case spelling. Both were stored as written, which a client
// parsing the policy back strictly cannot read.
func strictDuration(field, s string) (string, error) {
	t := strings.TrimSpace(s)
	if up := strings.ToUpper(t); up != t {
		return "", policyError(field, "'%s' is not a valid ISO 8601 duration: its designators are upper case ('%s')", s, up)
	}
	return t, nil
}
