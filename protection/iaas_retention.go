package protection

import (
	"slices"
	"time"
)

// This file holds the Recovery Services IaaS VM retention model (Azure's
// LongTermRetentionPolicy) and its two-tier bookkeeping. It differs from the
// tag model of Retention: a backup is not given one tag; every rule that
// matches it keeps it, and the latest end wins. Added for the Recovery
// Services provider; the rest of the package is unchanged.

// Rule names of a long-term retention (Azure's ruleName of a point).
const (
	RuleDaily   = "Daily"
	RuleWeekly  = "Weekly"
	RuleMonthly = "Monthly"
	RuleYearly  = "Yearly"
)

// RetentionRule is one rule of a LongTermRetention: which backups it keeps
// and for how long.
type RetentionRule struct {
	Keep Duration // e.g. P30D, P12W, P6M, P1Y
	// Weekdays: backups on these days (weekly rules; monthly/yearly rules
	// together with WeeksOfMonth).
	Weekdays []time.Weekday
	// WeeksOfMonth: 1..4 for the first to fourth such weekday of the month,
	// -1 for the last (monthly/yearly rules in the "Weekly" format).
	WeeksOfMonth []int
	// DaysOfMonth: 1..28, or 0 for the last day of the month (monthly/yearly
	// rules in the "Daily" format).
	DaysOfMonth []int
	// Months: the months a yearly rule keeps backups of.
	Months []time.Month
}

// LongTermRetention keeps scheduled backups per daily, weekly, monthly and
// yearly rules, evaluated in Location (UTC when nil). Nil rules are absent.
type LongTermRetention struct {
	Daily, Weekly, Monthly, Yearly *RetentionRule
	Location                       *time.Location
}

// Expiry is when a backup taken at t leaves the vault tier, and the rule
// that keeps it longest ("" and t itself when no rule keeps it).
func (r LongTermRetention) Expiry(t time.Time) (time.Time, string) {
	loc := r.Location
	if loc == nil {
		loc = time.UTC
	}
	lt := t.In(loc)
	best, name := t, ""
	keep := func(rule *RetentionRule, n string) {
		if e := rule.Keep.AddTo(lt); e.After(best) {
			best, name = e, n
		}
	}
	if r.Daily != nil {
		keep(r.Daily, RuleDaily)
	}
	if w := r.Weekly; w != nil && (len(w.Weekdays) == 0 || slices.Contains(w.Weekdays, lt.Weekday())) {
		keep(w, RuleWeekly)
	}
	if m := r.Monthly; m != nil && m.matchesInMonth(lt) {
		keep(m, RuleMonthly)
	}
	if y := r.Yearly; y != nil && slices.Contains(y.Months, lt.Month()) && y.matchesInMonth(lt) {
		keep(y, RuleYearly)
	}
	return best.In(t.Location()), name
}

// matchesInMonth reports whether local time lt is one of the rule's days of
// the month (by date, or by nth weekday).
func (rule *RetentionRule) matchesInMonth(lt time.Time) bool {
	if len(rule.WeeksOfMonth) > 0 {
		if !slices.Contains(rule.Weekdays, lt.Weekday()) {
			return false
		}
		nth := (lt.Day()-1)/7 + 1
		last := lt.AddDate(0, 0, 7).Month() != lt.Month()
		for _, w := range rule.WeeksOfMonth {
			if w == nth || w == -1 && last {
				return true
			}
		}
		return false
	}
	lastDay := lt.AddDate(0, 0, 1).Month() != lt.Month()
	for _, d := range rule.DaysOfMonth {
		if d == lt.Day() || d == 0 && lastDay {
			return true
		}
	}
	return false
}

// Instant-tier bookkeeping of a recovery point: Azure keeps a VM backup's
// snapshots (the "instant RP", TierOperational) for the policy's
// instantRpRetentionRangeInDays, next to its copy in the vault. The instant
// tier's end is kept in RecoveryPoint.Details.
const detailInstantExpiry = "instantExpiry"

// InstantExpiry is when p's operational-tier snapshots expire (zero if
// unknown).
func (p *RecoveryPoint) InstantExpiry() time.Time {
	t, _ := time.Parse(time.RFC3339Nano, p.Details[detailInstantExpiry])
	return t
}

// SetInstantExpiry records when p's operational-tier snapshots expire.
func (p *RecoveryPoint) SetInstantExpiry(t time.Time) {
	if p.Details == nil {
		p.Details = map[string]string{}
	}
	p.Details[detailInstantExpiry] = t.UTC().Format(time.RFC3339Nano)
}

// HasTier reports whether p's data is in tier.
func (p *RecoveryPoint) HasTier(tier string) bool {
	for _, t := range p.Tiers {
		if t == tier {
			return true
		}
	}
	return false
}

// DropTier removes tier from p's tiers.
func (p *RecoveryPoint) DropTier(tier string) {
	out := p.Tiers[:0]
	for _, t := range p.Tiers {
		if t != tier {
			out = append(out, t)
		}
	}
	p.Tiers = out
}
