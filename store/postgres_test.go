package store_test

import (
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(testsvc.Main(m)) }

func TestPostgresConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return storetest.Postgres(t, testsvc.PostgresSchema(t)) })
}

// Replicas start at the same moment against an empty database: migrations
// run once, every store works.
func TestPostgresConcurrentBootstrap(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	var wg sync.WaitGroup
	stores := make([]*store.Postgres, 4)
	errs := make([]error, 4)
	for i := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stores[i], errs[i] = store.OpenPostgres(context.Background(), url, nil)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	ctx := context.Background()
	if err := stores[0].Update(ctx, func(tx store.Tx) error { return tx.Create(ctx, store.Doc{Kind: "k", Key: "a"}) }); err != nil {
		t.Fatal(err)
	}
	if _, err := stores[3].Get(ctx, "k", "A"); err != nil {
		t.Fatalf("another replica's write: %v", err)
	}
}

// Two processes' worth of stores on one database: a task one enqueues wakes
// the other through LISTEN/NOTIFY, and a claim fenced by one is seen by the other.
func TestPostgresWakeupsAcrossStores(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	a, b := storetest.Postgres(t, url), storetest.Postgres(t, url)
	wake := b.Wakeups()
	ctx := context.Background()
	// The listener signals once when it starts listening; drain it.
	select {
	case <-wake:
	case <-time.After(10 * time.Second):
		t.Fatal("listener did not start")
	}
	storetest.Enqueue(t, a, store.Task{Kind: "x"})
	select {
	case <-wake:
	case <-time.After(10 * time.Second):
		t.Fatal("no wake-up for another store's enqueue")
	}
	got, err := b.ClaimTasks(ctx, "b", time.Now().Add(time.Second), time.Minute, 10)
	if err != nil || len(got) != 1 {
		t.Fatalf("claim: %v %v", err, got)
	}
	// a claims it after b's lease lapses; b's commits are fenced off.
	got2, err := a.ClaimTasks(ctx, "a", time.Now().Add(2*time.Minute), time.Minute, 10)
	if err != nil || len(got2) != 1 {
		t.Fatalf("claim after lapse: %v %v", err, got2)
	}
	err = b.Update(store.WithLease(ctx, got[0].Lease()), func(tx store.Tx) error { return tx.CompleteTask(ctx, got[0].ID) })
	if !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("complete under the lost lease: %v", err)
	}
}
