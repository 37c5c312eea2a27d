package protection_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/safehold/safehold/blob/blobtest"
	"github.com/safehold/safehold/protection"
)

// TestEngineCloseLeavesATierInUseToItsUser: the engine closing (a server
// stopping) while a backup copies into a vault's tier leaves that tier
// open to the backup, whose release closes it: the backup completes, its
// point in the vault. Before, Close closed the repository under the
// backup, whose copy of its next disk then failed on a closed store.
func TestEngineCloseLeavesATierInUseToItsUser(t *testing.T) {
	b := setup(t)
	it := b.protect(t, "vm", 2, "vault1", nil)
	var once sync.Once
	b.faulty.SetFail(func(op blobtest.Op, key string, n int) error {
		if op == blobtest.OpPut && strings.HasPrefix(key, "snapshot/") {
			// The first disk's copy is in the vault: the engine closes.
			once.Do(func() { b.engine.Close() })
		}
		return nil
	})
	j := b.backup(t, it, protection.BackupOptions{})
	wantStatus(t, j, protection.JobCompleted)
	if pts := b.points(t, it); len(pts) != 1 || !pts[0].HasTier(protection.TierVault) {
		t.Fatalf("the point: %+v", pts)
	}
}
