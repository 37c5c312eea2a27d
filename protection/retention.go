package protection

import (
	"sort"
	"strings"
	"time"
)

// Absolute tagging criteria (Azure's absoluteCriteria values).
const (
	AllBackup    = "AllBackup"
	FirstOfDay   = "FirstOfDay"
	FirstOfWeek  = "FirstOfWeek"
	FirstOfMonth = "FirstOfMonth"
	FirstOfYear  = "FirstOfYear"
)

// TagRule is one retention tag of a policy: which backups get it and how
// long they are kept.
type TagRule struct {
	Tag      string   // Default, Daily, Weekly, Monthly, Yearly
	Priority int      // lower wins when several tags match (Azure's taggingPriority)
	Default  bool     // the fallback tag every backup gets when no other matches
	Criteria []string // absolute criteria; a backup matching any of them qualifies
	Retain   Duration // kept this long after the backup time; zero keeps it forever
}

// Retention assigns tags and expiry times to backups.
//
// A backup at t gets the matching tag with the lowest Priority: FirstOfDay
// matches when no earlier point of the item exists on t's calendar day in
// Location, FirstOfWeek the same for t's week (weeks start on WeekStart,
// Sunday by default, as in Azure), FirstOfMonth/FirstOfYear likewise,
// AllBackup always; with no match it gets the Default tag. Its expiry is
// t + Retain of that tag (calendar arithmetic in Location).
type Retention struct {
	Rules     []TagRule
	Location  *time.Location
	WeekStart time.Weekday
}

func (r Retention) loc() *time.Location {
	if r.Location == nil {
		return time.UTC
	}
	return r.Location
}

// Rule returns the rule of a tag name (case-insensitive).
func (r Retention) Rule(tag string) (TagRule, bool) {
	for _, x := range r.Rules {
		if strings.EqualFold(x.Tag, tag) {
			return x, true
		}
	}
	return TagRule{}, false
}

// Tag picks the tag for a backup at t; earlier holds the times of the
// item's existing points (any order; later ones are ignored).
func (r Retention) Tag(t time.Time, earlier []time.Time) TagRule {
	rules := append([]TagRule(nil), r.Rules...)
	sort.SliceStable(rules, func(a, b int) bool { return rules[a].Priority < rules[b].Priority })
	var def TagRule
	for _, x := range rules {
		if x.Default {
			def = x
			continue
		}
		for _, c := range x.Criteria {
			if r.matches(c, t, earlier) {
				return x
			}
		}
	}
	return def
}

// PeriodStart is the start of the day, week, month or year (per criterion)
// containing t in the retention's location.
func (r Retention) PeriodStart(criterion string, t time.Time) time.Time {
	lt := t.In(r.loc())
	y, m, d := lt.Date()
	switch criterion {
	case FirstOfWeek:
		back := (int(lt.Weekday()) - int(r.WeekStart) + 7) % 7
		return time.Date(y, m, d-back, 0, 0, 0, 0, r.loc())
	case FirstOfMonth:
		return time.Date(y, m, 1, 0, 0, 0, 0, r.loc())
	case FirstOfYear:
		return time.Date(y, 1, 1, 0, 0, 0, 0, r.loc())
	default:
		return time.Date(y, m, d, 0, 0, 0, 0, r.loc())
	}
}

func (r Retention) matches(c string, t time.Time, earlier []time.Time) bool {
	switch {
	case strings.EqualFold(c, AllBackup):
		return true
	case strings.EqualFold(c, FirstOfDay), strings.EqualFold(c, FirstOfWeek), strings.EqualFold(c, FirstOfMonth), strings.EqualFold(c, FirstOfYear):
		var canon string
		for _, k := range []string{FirstOfDay, FirstOfWeek, FirstOfMonth, FirstOfYear} {
			if strings.EqualFold(c, k) {
				canon = k
			}
		}
		start := r.PeriodStart(canon, t)
		for _, e := range earlier {
			if !e.Before(start) && e.Before(t) {
				return false
			}
		}
		return true
	}
	return false
}

// Expiry is when a backup at t with rule's tag expires (nil: never).
func (r Retention) Expiry(t time.Time, rule TagRule) *time.Time {
	if rule.Retain.IsZero() {
		return nil
	}
	e := rule.Retain.AddTo(t.In(r.loc())).UTC()
	return &e
}

// ExpiredPoints returns the points whose expiry is at or before now,
// oldest first.
func ExpiredPoints(points []*RecoveryPoint, now time.Time) []*RecoveryPoint {
	var out []*RecoveryPoint
	for _, p := range points {
		if p.Expired(now) {
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Time.Before(out[b].Time) })
	return out
}
