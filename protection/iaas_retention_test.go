package protection

import (
	"testing"
	"time"
)

func TestLongTermRetention(t *testing.T) {
	ts := func(s string) time.Time { v, _ := time.Parse(time.RFC3339, s); return v }
	r := LongTermRetention{
		Daily:   &RetentionRule{Keep: Duration{Days: 7}},
		Weekly:  &RetentionRule{Keep: Duration{Weeks: 12}, Weekdays: []time.Weekday{time.Sunday}},
		Monthly: &RetentionRule{Keep: Duration{Months: 6}, Weekdays: []time.Weekday{time.Sunday}, WeeksOfMonth: []int{1}},
		Yearly:  &RetentionRule{Keep: Duration{Years: 2}, Months: []time.Month{time.January}, DaysOfMonth: []int{0}},
	}
	for _, c := range []struct{ at, want, rule string }{
		{"2025-03-04T02:30:00Z", "2025-03-11T02:30:00Z", RuleDaily},
		{"2025-03-09T02:30:00Z", "2025-06-01T02:30:00Z", RuleWeekly},  // second Sunday
		{"2025-03-02T02:30:00Z", "2025-09-02T02:30:00Z", RuleMonthly}, // first Sunday
		{"2025-01-31T02:30:00Z", "2027-01-31T02:30:00Z", RuleYearly},  // last day of January
	} {
		got, rule := r.Expiry(ts(c.at))
		if !got.Equal(ts(c.want)) || rule != c.rule {
			t.Errorf("Expiry(%s) = %v %s, want %s %s", c.at, got, rule, c.want, c.rule)
		}
	}
	if got, rule := (LongTermRetention{Weekly: r.Weekly}).Expiry(ts("2025-03-04T02:30:00Z")); rule != "" || !got.Equal(ts("2025-03-04T02:30:00Z")) {
		t.Errorf("no rule: %v %q", got, rule)
	}
	p := &RecoveryPoint{Tiers: []string{TierOperational, TierVault}}
	p.SetInstantExpiry(ts("2025-03-11T02:30:00Z"))
	p.DropTier(TierOperational)
	if !p.InstantExpiry().Equal(ts("2025-03-11T02:30:00Z")) || p.HasTier(TierOperational) || !p.HasTier(TierVault) {
		t.Fatalf("tiers %+v", p)
	}
}
