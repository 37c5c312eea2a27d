package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/safehold/safehold/lease"
	"github.com/safehold/safehold/store"
)

// TestVaultStoreStaysFormat1WhileAnOlderReplicaLives: replicas on
// PostgreSQL with the vaults in object storage, and a live replica whose
// registration names no store format (a version before it: it may read
// format 1 only, as a replica not upgraded yet in a rolling upgrade). A
// vault tier created meanwhile is format 1, which it reads; once it is
// gone, a new vault tier is format 2, and the first stays format 1.
// Before, every new vault tier was format 2, which such a replica refuses
// ("unsupported store format 2/blake3"), failing its jobs on the vault.
func TestVaultStoreStaysFormat1WhileAnOlderReplicaLives(t *testing.T) {
	e, _ := leaderOnPostgresAndAzurite(t, "fmt")
	ctx := context.Background()
	// The older replica: its presence lease and its registration as its
	// version wrote it (no storeFormat).
	var epoch int64
	if err := e.Server.Store.Update(ctx, func(tx store.Tx) error {
		row, _, err := lease.TakeTx(ctx, tx, "replica:old-node", "old-node", "https://127.0.0.1:1", time.Now(), time.Hour)
		epoch = row.Epoch
		if err != nil {
			return err
		}
		return tx.Put(ctx, store.Doc{Kind: "replica", Key: "old-node", Value: []byte(`{"nodeId":"old-node","endpoint":"https://127.0.0.1:1","audiences":[]}`)})
	}); err != nil {
		t.Fatal(err)
	}
	format := func(key string) int {
		t.Helper()
		r, err := e.Server.Engine.OpenVault(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		return r.Chunks().Format()
	}
	if f := format("vault-during-upgrade"); f != 1 {
		t.Fatalf("a vault tier created while an older replica lives: format %d, want 1", f)
	}
	if err := lease.Release(ctx, e.Server.Store, "replica:old-node", "old-node", epoch); err != nil {
		t.Fatal(err)
	}
	if f := format("vault-after-upgrade"); f != 2 {
		t.Fatalf("a vault tier created once every replica is upgraded: format %d, want 2", f)
	}
	if f := format("vault-during-upgrade"); f != 1 {
		t.Fatalf("the vault tier made during the upgrade, reopened: format %d, want 1", f)
	}
}
