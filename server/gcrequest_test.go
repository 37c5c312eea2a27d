package server_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/lease"
	"github.com/safehold/safehold/server"
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
