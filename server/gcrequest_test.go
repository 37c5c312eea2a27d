package server_test

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/blob/azure"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/lease"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/server"
	"github.com/safehold/safehold/snapshot"
	"github.com/safehold/safehold/store"
)

// TestGarbageCollectionRequestOutlivesItsLeader: replicas on PostgreSQL
// with the snapshot store in object storage (Azurite). A snapshot deleted
// through the leader leaves garbage in packs younger than the collection's
// grace; the request to collect it stays in the store, due when those
// packs are old enough, and outlives the leader, so the replica leading
// then frees it. The leader collected in memory (its own deletes asked no
// one, and the young packs' retry was a timer in the process): a leader
// stopped or killed before that retry left the garbage in the bucket until
// some later delete asked for another collection.
func TestGarbageCollectionRequestOutlivesItsLeader(t *testing.T) {
	pg := testsvc.PostgresSchema(t)
	blobURL := testsvc.AzuriteContainer(t, "gcreq")
	t.Setenv("AZURE_STORAGE_ACCOUNT", testsvc.AzuriteAccount)
	t.Setenv("AZURE_STORAGE_KEY", testsvc.AzuriteKey)
	withBlob := func(c *server.Config) { c.Blob = blobURL }
	a := testserver.Start(t, testserver.WithStore(pg), withBlob)
	ctx := a.Ctx()
	a.ResourceGroups("rg")
	diskID, _ := fixture.Disk(t, a, "rg", "d1", 1, 0, 4<<20)
	sc := fixture.Snapshot(t, a, "rg", "s1", diskID)
	dp, err := sc.BeginDelete(ctx, "rg", "s1", nil)
	fixture.Done(t, dp, err)

	pool, err := pgxpool.New(ctx, pg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	request := func() (due time.Time, ok bool) {
		var v []byte
		if err := pool.QueryRow(ctx, `SELECT value FROM docs WHERE kind = $1 AND key = 'gc:snapshots'`, lease.WantKind).Scan(&v); err != nil {
			return time.Time{}, false
		}
		return lease.Due(store.Doc{Value: v}), true
	}
	// The leader collects, keeps the young packs' garbage, and leaves the
	// request due when they are old enough (the grace: ten minutes).
	var due time.Time
	a.WaitFor("the collection's request, due when its young packs are old enough", func() bool {
		d, ok := request()
		due = d
		return ok && d.After(time.Now().Add(5*time.Minute))
	})
	a.Stop()
	b := testserver.Start(t, testserver.WithStore(pg), withBlob)
	b.WaitFor("the second replica to lead", func() bool { _, leading := b.Server.Leader.Leading(); return leading })
	if d, ok := request(); !ok || !d.Equal(due) {
		t.Fatalf("after the leader stopped, the collection's request is %v (%v), want it due at %v", d, ok, due)
	}
}

// leaderOnPostgresAndAzurite starts a replica on a PostgreSQL schema of its
// own with the snapshot store in a new Azurite container (blobURL) and
// waits until it leads.
func leaderOnPostgresAndAzurite(t *testing.T, prefix string, opts ...testserver.Option) (a *testserver.Env, blobURL string) {
	pg := testsvc.PostgresSchema(t)
	blobURL = testsvc.AzuriteContainer(t, prefix)
	t.Setenv("AZURE_STORAGE_ACCOUNT", testsvc.AzuriteAccount)
	t.Setenv("AZURE_STORAGE_KEY", testsvc.AzuriteKey)
	a = testserver.Start(t, append([]testserver.Option{testserver.WithStore(pg), func(c *server.Config) { c.Blob = blobURL }}, opts...)...)
	a.WaitFor("the replica to lead", func() bool { _, leading := a.Server.Leader.Leading(); return leading })
	return a, blobURL
}

// TestFailedCollectionIsRetried: replicas on PostgreSQL with the snapshot
// store in object storage. A collection the leader runs while the object
// store is out (its container gone) fails; the request stays in the store,
// due again after a backoff and saying why it failed, and once the store
// is back the retry collects and removes it. The leader removed a failed
// collection's request as if it had been done, so the garbage it was to
// free stayed until some later delete asked again.
func TestFailedCollectionIsRetried(t *testing.T) {
	a, blobURL := leaderOnPostgresAndAzurite(t, "gcfail")
	ctx := a.Ctx()
	// The object store's outage: its container is gone.
	back := containerOut(t, blobURL)
	if err := lease.Want(ctx, a.Server.Store, compute.GCWork, time.Now()); err != nil {
		t.Fatal(err)
	}
	request := func() (store.Doc, bool) {
		d, err := a.Server.Store.Get(ctx, lease.WantKind, compute.GCWork)
		return d, err == nil
	}
	a.WaitFor("the collection to run and fail (or its request to be removed)", func() bool {
		d, ok := request()
		n, _ := lease.Failures(d)
		return !ok || n > 0
	})
	d, ok := request()
	if !ok {
		t.Fatal("the collection failed (the object store was out) and its request was removed: nothing will collect its garbage")
	}
	n, why := lease.Failures(d)
	if due := lease.Due(d); due.IsZero() || why == "" {
		t.Fatalf("the failed collection's request: due %v after %d failures (%q); want it due again after a backoff, with the error", due, n, why)
	}
	t.Logf("request after %d failures: due %v, %s", n, lease.Due(d), why)

	// The store is back: a retry collects and the request goes.
	back()
	a.WaitFor("a retry to collect and remove the request", func() bool { _, ok := request(); return !ok })
}

// TestDeadWritersPacksAreCollected: replicas on PostgreSQL with the
// snapshot store in object storage. A writer that died while it captured
// into the store (a replica killed mid-backup) leaves its gate entry to
// lapse and its packs referenced by no manifest; the leader requests a
// collection of that store by itself, which frees them (once past the
// grace that keeps young packs: two seconds here) and removes the entry.
// Nothing asked for one before: the packs stayed until some later delete
// did. (The test checked only that the entry and the request went, which
// a collection freeing nothing passed too.)
func TestDeadWritersPacksAreCollected(t *testing.T) {
	a, blobURL := leaderOnPostgresAndAzurite(t, "gcdead", func(c *server.Config) { c.Compute.GCGrace = 2 * time.Second })
	ctx := a.Ctx()
	a.ResourceGroups("rg")
	fixture.Disk(t, a, "rg", "d1", 1, 0, 4<<20) // a store with something in it

	// What a writer killed during its capture leaves: its packs, in the
	// store as another replica writes them, with no manifest...
	cfg, err := azure.ParseURL(blobURL)
	if err != nil {
		t.Fatal(err)
	}
	az, err := azure.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	be, err := az.WithPrefix("snapshots")
	if err != nil {
		t.Fatal(err)
	}
	packs := func() map[string]bool {
		out := map[string]bool{}
		if err := be.List(ctx, "pack/", func(in blob.Info) error { out[in.Key] = true; return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	before := packs()
	dead, err := snapshot.Open(ctx, be, t.TempDir(), snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := dead.Chunks().NewWriter()
	for i := 0; i < 4; i++ {
		data := make([]byte, 1<<20)
		rand.Read(data)
		if _, _, err := w.Put(ctx, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	var left []string
	for k := range packs() {
		if !before[k] {
			left = append(left, k)
		}
	}
	if len(left) == 0 {
		t.Fatal("the dead writer's chunks left no pack in the store")
	}
	w.Close()
	dead.Close()
	// ...and its entry in the store's gate, renewed no more, lapsed for
	// longer than a slow renewal could explain.
	name := "gatew:" + compute.GateRepo + ":dead-writer"
	if _, ok, err := lease.Try(ctx, a.Server.Store, name, "dead-replica/boot", "", time.Now().Add(-lease.AbandonedAfter-time.Minute), time.Minute); err != nil || !ok {
		t.Fatalf("enter the gate as the dead writer: %v %v", ok, err)
	}
	a.WaitFor("a collection of the store to run and remove the dead writer's entry", func() bool {
		_, err := lease.Get(ctx, a.Server.Store, name)
		return errors.Is(err, store.ErrNotFound)
	})
	a.WaitFor("the collection's request to be done", func() bool {
		_, err := a.Server.Store.Get(ctx, lease.WantKind, compute.GCWork)
		return errors.Is(err, store.ErrNotFound)
	})
	now := packs()
	for _, k := range left {
		if now[k] {
			t.Errorf("the dead writer's pack %s is still in the store after the collection", k)
		}
	}
}

// TestDeletedVaultsStoreStaysGone: a Recovery Services vault whose VM was
// backed up goes with its resource group, and its vault tier with it. A
// collection of that tier requested before (by a replica that did not
// lead, or due later for packs too young to touch) runs after the delete:
// it must find the vault gone and leave its store so. It opened the store
// by the vault's key, which made it again (an empty repository in the
// data dir, or in object storage) for nothing ever to remove.
func TestDeletedVaultsStoreStaysGone(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	key, dir := deleteBackedUpVault(t, e)
	// A collection of the vault's tier asked for before its delete.
	if err := lease.Want(ctx, e.Server.Store, protection.GCWorkPrefix+key, time.Now()); err != nil {
		t.Fatal(err)
	}
	e.WaitFor("the collection's request to be done", func() bool {
		_, err := e.Server.Store.Get(ctx, lease.WantKind, protection.GCWorkPrefix+key)
		return errors.Is(err, store.ErrNotFound)
	})
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a collection after the vault's delete made its store again (%s): %v", dir, err)
	}
}

// TestGoneVaultMarkersArePruned: the marker a deleted vault leaves (so no
// collection asked for before makes its store again) goes once the
// store is gone and no collection can reach it: a day after the delete
// (real time), with no collection requested and none holding the vault's
// gate; the gate's collector row goes with it, and a marker of session
// 23's form (the bare time) too. They were kept for ever, one per vault
// ever deleted.
func TestGoneVaultMarkersArePruned(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	st, eng := e.Server.Store, e.Server.Engine
	key, dir := deleteBackedUpVault(t, e)
	if err := st.Update(ctx, func(tx store.Tx) error {
		return tx.Put(ctx, store.Doc{Kind: protection.VaultGoneKind, Key: "session23-vault", Value: []byte(`"` + time.Now().UTC().Format(time.RFC3339Nano) + `"`)})
	}); err != nil {
		t.Fatal(err)
	}
	marked := func(k string) bool {
		_, err := st.Get(ctx, protection.VaultGoneKind, k)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	prune := func(now time.Time, want int) {
		t.Helper()
		if n, err := eng.PruneGoneVaults(ctx, now); n != want || err != nil {
			t.Fatalf("prune at %v: %d pruned, %v; want %d", now, n, err, want)
		}
	}
	if !marked(key) {
		t.Fatal("no marker after the vault's delete")
	}
	later := time.Now().Add(protection.GoneVaultKeep + time.Minute)
	// Young: kept (the session-23 one, as old as the vault's, too).
	prune(time.Now(), 0)
	// A collection requested (due later, so that the leader leaves it
	// standing): kept.
	if err := lease.Want(ctx, st, protection.GCWorkPrefix+key, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	prune(later, 1)
	if !marked(key) || marked("session23-vault") {
		t.Fatalf("with a collection requested: marker %v, session 23's %v; want kept, pruned", marked(key), marked("session23-vault"))
	}
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.Delete(ctx, lease.WantKind, protection.GCWorkPrefix+key) }); err != nil {
		t.Fatal(err)
	}
	// A collection holding the vault's gate: kept.
	gc := "gategc:" + protection.GatePrefix + key
	row, ok, err := lease.Try(ctx, st, gc, "collector", "", time.Now(), time.Hour)
	if err != nil || !ok {
		t.Fatalf("hold the gate: %v %v", ok, err)
	}
	prune(later, 0)
	if !marked(key) {
		t.Fatal("the marker went while a collection held the vault's gate")
	}
	if err := lease.Release(ctx, st, gc, "collector", row.Epoch); err != nil {
		t.Fatal(err)
	}
	prune(later, 1)
	if marked(key) {
		t.Fatal("the marker is still there a day after the delete, with no collection")
	}
	if _, err := lease.Get(ctx, st, gc); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the gate's collector row after the prune: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the vault's store after the prune: %v", err)
	}
	prune(later, 0)
}

// deleteBackedUpVault makes a Recovery Services vault with a VM's backup
// in its tier, deletes the item's data and then the vault (with its
// group), and answers the tier's key and dir (gone).
func deleteBackedUpVault(t *testing.T, e *testserver.Env) (key, dir string) {
	t.Helper()
	vm := fixture.ProtectVM(t, e)
	rsVault := "/subscriptions/" + e.Sub + "/resourceGroups/" + vm.RG + "/providers/Microsoft.RecoveryServices/vaults/" + vm.Vault
	const av = "?api-version=2024-04-01"
	job := vm.Backup(t, e)
	if j := waitVaultJob(t, e, rsVault, job[strings.LastIndexByte(job, '/')+1:], av); str(j, "properties.status") != "Completed" {
		t.Fatalf("backup: %v", j)
	}
	vaults, err := os.ReadDir(filepath.Join(e.DataDir, "vaults"))
	if err != nil || len(vaults) != 1 {
		t.Fatalf("the vault tier after a backup: %v %v", vaults, err)
	}
	key = vaults[0].Name()
	dir = protection.VaultDir(e.DataDir, key)
	// Its item and backup data first (soft delete off), then the vault.
	resp, m := call(t, e, "PUT", rsVault+"/backupconfig/vaultconfig"+av, map[string]any{"properties": map[string]any{"softDeleteFeatureState": "Disabled"}})
	mustStatus(t, 200, resp, m)
	resp, m = call(t, e, "DELETE", rsVault+"/backupFabrics/Azure/protectionContainers/"+url.PathEscape(vm.Container)+"/protectedItems/"+url.PathEscape(vm.Item)+av, nil)
	mustStatus(t, 202, resp, m)
	if st := pollOp(t, e, resp.Header.Get("Azure-AsyncOperation")); str(st, "status") != "Succeeded" {
		t.Fatalf("delete the item's backup data: %v", st)
	}
	if code, m := e.DeleteGroup(vm.RG); code != 200 {
		t.Fatalf("delete the vault's group: %d %v", code, m)
	}
	// Its store goes by a task, after the delete answered.
	e.WaitFor("the vault's store to go after its delete", func() bool {
		_, err := os.Stat(dir)
		return errors.Is(err, os.ErrNotExist)
	})
	return key, dir
}

// containerOut deletes the Azurite container of blobURL (an outage of the
// object store); the func answered creates it again.
func containerOut(t *testing.T, blobURL string) func() {
	t.Helper()
	u, err := url.Parse(blobURL)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := azblob.NewSharedKeyCredential(testsvc.AzuriteAccount, testsvc.AzuriteKey)
	if err != nil {
		t.Fatal(err)
	}
	az, err := azblob.NewClientWithSharedKeyCredential(u.Query().Get("endpoint")+"/", cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := az.DeleteContainer(context.Background(), u.Host, nil); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		if _, err := az.CreateContainer(context.Background(), u.Host, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCollectionThatKeepsFailingIsVisible: replicas on PostgreSQL with the
// snapshot store in object storage, which is out (its container gone). A
// collection that fails is counted in /metrics
// (safehold_gc_failures_total by repository, safehold_gc_requests_failing
// while its request waits for a retry); one that has failed
// lease.Persistent times in a row is logged as an error saying it keeps
// failing and when it runs next (its backoff then grows to hours:
// TestFailedRequestBacksOffFurther). Once the store is back and the retry
// collects, no request is failing. A failing collection said so only in a
// warning like any transient one, retried every ten minutes for ever.
func TestCollectionThatKeepsFailingIsVisible(t *testing.T) {
	var logs syncBuf
	a, blobURL := leaderOnPostgresAndAzurite(t, "gcvisible", func(c *server.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	ctx := a.Ctx()
	back := containerOut(t, blobURL)
	// A request that failed once less than lease.Persistent times in a
	// row already (backdated, so its retry is due).
	if err := lease.Want(ctx, a.Server.Store, compute.GCWork, time.Now()); err != nil {
		t.Fatal(err)
	}
	for i := 1; i < lease.Persistent; i++ {
		d, err := a.Server.Store.Get(ctx, lease.WantKind, compute.GCWork)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := lease.Failed(ctx, a.Server.Store, d, time.Now().Add(-48*time.Hour), errors.New("earlier outage")); err != nil {
			t.Fatal(err)
		}
	}
	a.WaitFor("the collection to fail a lease.Persistent-th time", func() bool {
		d, err := a.Server.Store.Get(ctx, lease.WantKind, compute.GCWork)
		n, why := lease.Failures(d)
		return err == nil && n >= lease.Persistent && why != "earlier outage"
	})
	a.WaitFor("the failure in /metrics", func() bool {
		m := a.Metrics()
		return m[`safehold_gc_failures_total{repository="snapshots"}`] >= 1 && m["safehold_gc_requests_failing"] == 1
	})
	if l := logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "keeps failing") || !strings.Contains(l, "work="+compute.GCWork) {
		t.Fatalf("no error logged for the collection that keeps failing; the log:\n%s", l)
	}
	back()
	// Its retry is due in minutes now; a new request (another delete's)
	// is due at once.
	if err := lease.Want(ctx, a.Server.Store, compute.GCWork, time.Now()); err != nil {
		t.Fatal(err)
	}
	a.WaitFor("the collection to run and remove the request", func() bool {
		_, err := a.Server.Store.Get(ctx, lease.WantKind, compute.GCWork)
		return errors.Is(err, store.ErrNotFound)
	})
	a.WaitFor("no failing request in /metrics", func() bool { return a.Metrics()["safehold_gc_requests_failing"] == 0 })
}
