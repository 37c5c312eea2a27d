package protection

import "time"

// Policy is a protection policy in the engine's terms; both vault kinds
// parse their wire policies into it.
type Policy struct {
	ID, Name string
	// RuleName is the policy's backup rule (Backup vaults name it).
	RuleName string
	// Schedule is when scheduled backups run (nil: never).
	Schedule Schedule
	// AtOccurrence: a scheduled backup's point carries the time of the
	// occurrence it stands for (Backup vaults); else the capture's time.
	AtOccurrence bool
	// Tags is tag-based retention (Backup vaults): each backup gets the
	// tag whose criteria it meets first and is kept for that tag's duration.
	Tags *Retention
	// LongTerm is rule-based retention of the vault tier (Recovery
	// Services): daily, weekly, monthly and yearly rules; the longest keeps.
	LongTerm *LongTermRetention
	// Operational is how long the operational tier (snapshots) keeps a
	// point that the vault tier holds too; zero: as long as the point.
	Operational Duration
	// Tiering moves vault-tier points to the archive tier (nil: never;
	// archive.go).
	Tiering *Tiering
}

// Default retention without a policy: on-demand points of Recovery
// Services vaults.
var (
	DefaultKeep        = Duration{Days: 30}
	DefaultOperational = Duration{Days: 2}
)

// onDemandTag is the retention tag of a point whose expiry its backup
// gave (an on-demand backup's retainUntil).
const onDemandTag = "Default"

// Keep is how long a backup taken at at is kept. earlier holds the times of
// the item's existing points (for first-of-day/week/... tags). tag, when
// not empty, overrides the tag (false if the policy has no such tag);
// expiry, when not nil, overrides the expiry (on-demand backups).
func (p *Policy) Keep(at time.Time, earlier []time.Time, tag string, expiry *time.Time) (Keep, bool) {
	var k Keep
	switch {
	case p == nil:
		e := DefaultKeep.AddTo(at)
		k.Expiry = &e
		k.Operational = DefaultOperational.AddTo(at)
	case p.Tags != nil:
		rule := p.Tags.Tag(at, earlier)
		if tag != "" {
			r, ok := p.Tags.Rule(tag)
			if !ok {
				return k, false
			}
			rule = r
		}
		k.Tag, k.Expiry = rule.Tag, p.Tags.Expiry(at, rule)
	case p.LongTerm != nil:
		e, rule := p.LongTerm.Expiry(at)
		e = e.UTC()
		k.Tag, k.Expiry = rule, &e
	}
	if p != nil && !p.Operational.IsZero() {
		k.Operational = p.Operational.AddTo(at)
	}
	if expiry != nil {
		e := *expiry
		k.Expiry, k.Tag = &e, onDemandTag
	}
	return k, true
}
