package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/lease"
	"github.com/safehold/safehold/server"
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

// TestSnapshotStoreCreatedWhileAnOlderReplicaLivesIsFormat1: a fresh
// cluster on PostgreSQL with the operational snapshot store in object
// storage, whose first upgraded replica starts while a replica of a
// version before it (its registration names no store format) is live:
// the snapshot store it creates is format 1, which that replica reads.
// Before, compute opened it without the vault tiers' OlderReaders and
// made it format 2, which such a replica refuses ("unsupported store
// format 2/blake3").
func TestSnapshotStoreCreatedWhileAnOlderReplicaLivesIsFormat1(t *testing.T) {
	pg := testsvc.PostgresSchema(t)
	blobURL := testsvc.AzuriteContainer(t, "snapfmt")
	t.Setenv("AZURE_STORAGE_ACCOUNT", testsvc.AzuriteAccount)
	t.Setenv("AZURE_STORAGE_KEY", testsvc.AzuriteKey)
	ctx := context.Background()
	st, err := store.OpenPostgres(ctx, pg, clock.Real{})
	if err != nil {
		t.Fatal(err)
	}
	var epoch int64
	if err := st.Update(ctx, func(tx store.Tx) error {
		row, _, err := lease.TakeTx(ctx, tx, "replica:old-node", "old-node", "https://127.0.0.1:1", time.Now(), time.Hour)
		epoch = row.Epoch
		if err != nil {
			return err
		}
		return tx.Put(ctx, store.Doc{Kind: "replica", Key: "old-node", Value: []byte(`{"nodeId":"old-node","endpoint":"https://127.0.0.1:1","audiences":[]}`)})
	}); err != nil {
		t.Fatal(err)
	}
	e := testserver.Start(t, testserver.WithStore(pg), func(c *server.Config) { c.Blob = blobURL })
	if f := e.Server.Compute.Repository().Chunks().Format(); f != 1 {
		t.Fatalf("the snapshot store created while an older replica lives: format %d, want 1", f)
	}
	if err := lease.Release(ctx, st, "replica:old-node", "old-node", epoch); err != nil {
		t.Fatal(err)
	}
	st.Close()

	// Every replica upgraded: a new cluster's snapshot store is format 2.
	pg2 := testsvc.PostgresSchema(t)
	blob2 := testsvc.AzuriteContainer(t, "snapfmt2")
	e2 := testserver.Start(t, testserver.WithStore(pg2), func(c *server.Config) { c.Blob = blob2 })
	if f := e2.Server.Compute.Repository().Chunks().Format(); f != 2 {
		t.Fatalf("the snapshot store created with no older replica: format %d, want 2", f)
	}
}
