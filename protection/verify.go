package protection

import (
	"context"
	"fmt"
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
// once with UserErrorRecoveryPointCorrupt.
const DetailDamaged = "damaged"

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

// MarkDamaged records (summary != "") or clears (summary == "") a verify's
// finding on a recovery point.
func MarkDamaged(ctx context.Context, s store.Store, itemID, pointID, summary string) error {
	return s.Update(ctx, func(tx store.Tx) error {
		p, err := GetRecoveryPoint(ctx, tx, itemID, pointID)
		if err != nil {
			return err
		}
		if p.Details[DetailDamaged] == summary {
			return nil
		}
		if summary == "" {
			delete(p.Details, DetailDamaged)
		} else {
			if p.Details == nil {
				p.Details = map[string]string{}
			}
			p.Details[DetailDamaged] = summary
		}
		return PutRecoveryPoint(ctx, tx, p)
	})
}

// CheckNotDamaged fails a restore of a point a verify found damaged, at
// once and naming the damage, instead of writing partial data.
func CheckNotDamaged(p *RecoveryPoint) error {
	if d := DamageOf(p); d != "" {
		return &JobError{Code: "UserErrorRecoveryPointCorrupt", Message: "The recovery point " + p.ID + " is damaged (" + d + "); it cannot be restored. Restore an earlier or later recovery point, or take a new backup.",
			RecommendedAction: []string{"Restore another recovery point of this item.", "Run safehold verify --read-data to list every damaged recovery point."}}
	}
	return nil
}
