package protection

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/safehold/safehold/store"
)

// Damage is what a verify found wrong with a recovery point's data.
type Damage struct {
	Packs   []string `json:"packs"`   // damaged or missing pack objects its snapshots need
	Summary string   `json:"summary"` // one line naming the damage
}

// DetailDamaged is the recovery point detail a verify sets on a damaged
// point (its value names the damage); restores of such a point fail at
// once with UserErrorRecoveryPointCorrupt, unless a tier of it is whole
// (DetailDamagedTiers).
const DetailDamaged = "damaged"

// DetailDamagedTiers lists, comma-separated, the tiers of a damaged point
// whose data is damaged (TierOperational, TierVault): a two-tier point
// restores from the other. A mark without it (made before it was kept)
// stands for every tier.
const DetailDamagedTiers = "damagedTiers"

// ListAllRecoveryPoints lists every recovery point of every item (vaultID
// "" for all vaults).
func ListAllRecoveryPoints(ctx context.Context, r store.Reader, vaultID string) ([]*RecoveryPoint, error) {
	docs, err := r.List(ctx, rpKind, store.ListQuery{})
	if err != nil {
		return nil, fmt.Errorf("list recovery points: %w", err)
	}
	return decodeDocs(docs, "recovery point", func(p *RecoveryPoint) bool { return vaultID == "" || strings.EqualFold(p.VaultID, vaultID) })
}

// DamageOf returns the damage a verify recorded on p ("" when none).
func DamageOf(p *RecoveryPoint) string { return p.Details[DetailDamaged] }

// DamagedTier reports whether a verify found the data of p's tier damaged
// (every tier, for a mark that does not name them).
func DamagedTier(p *RecoveryPoint, tier string) bool {
	if DamageOf(p) == "" {
		return false
	}
	tiers := p.Details[DetailDamagedTiers]
	return tiers == "" || slices.Contains(strings.Split(tiers, ","), tier)
}

// MarkDamaged records (summary != "") or clears (summary == "") a verify's
// finding on a recovery point: the damage, and the tiers it is in.
func MarkDamaged(ctx context.Context, s store.Store, itemID, pointID, summary string, tiers ...string) error {
	return s.Update(ctx, func(tx store.Tx) error {
		p, err := GetRecoveryPoint(ctx, tx, itemID, pointID)
		if err != nil {
			return err
		}
		listed := strings.Join(tiers, ",")
		if p.Details[DetailDamaged] == summary && (summary == "" || p.Details[DetailDamagedTiers] == listed) {
			return nil
		}
		if summary == "" {
			delete(p.Details, DetailDamaged)
			delete(p.Details, DetailDamagedTiers)
		} else {
			if p.Details == nil {
				p.Details = map[string]string{}
			}
			p.Details[DetailDamaged] = summary
			p.Details[DetailDamagedTiers] = listed // "" (none named): every tier
		}
		return PutRecoveryPoint(ctx, tx, p)
	})
}

// CheckNotDamaged fails a restore of a point a verify found damaged, at
// once and naming the damage, instead of writing partial data; one with a
// tier whole (a Recovery Services point's instant snapshot, or its vault
// copy) restores from that tier (restoreDisk).
func CheckNotDamaged(p *RecoveryPoint) error {
	if DamageOf(p) == "" {
		return nil
	}
	for _, t := range []string{TierOperational, TierVault} {
		if p.HasTier(t) && !DamagedTier(p, t) {
			return nil
		}
	}
	return damaged(p)
}

// damaged is the error of a restore of damaged point p.
func damaged(p *RecoveryPoint) error {
	return &JobError{Code: "UserErrorRecoveryPointCorrupt", Message: "The recovery point " + p.ID + " is damaged (" + DamageOf(p) + "); it cannot be restored. Restore an earlier or later recovery point, or take a new backup.",
		RecommendedAction: []string{"Restore another recovery point of this item.", "Run safehold verify --read-data to list every damaged recovery point."}}
}
