package protection_test

import (
	"testing"

	"github.com/safehold/safehold/protection"
)

// A damage mark whose tier list is empty stands for every tier, as one
// made before the tiers were kept: a restore of the point is refused.
// Before, an empty list read as no tier damaged, and CheckNotDamaged let
// the restore of a damaged point go ahead.
func TestDamageMarkWithoutTiersStandsForEveryTier(t *testing.T) {
	for _, details := range []map[string]string{
		{protection.DetailDamaged: "vault tier: damaged pack(s) p1"},
		{protection.DetailDamaged: "vault tier: damaged pack(s) p1", protection.DetailDamagedTiers: ""},
	} {
		p := &protection.RecoveryPoint{ID: "rp1", Details: details, Tiers: []string{protection.TierOperational, protection.TierVault}}
		for _, tier := range []string{protection.TierOperational, protection.TierVault} {
			if !protection.DamagedTier(p, tier) {
				t.Errorf("details %v: tier %s not damaged", details, tier)
			}
		}
		if protection.CheckNotDamaged(p) == nil {
			t.Errorf("details %v: the damaged point's restore is not refused", details)
		}
	}
}
