package protection_test

import (
	"sync"
	"testing"
	"time"

	"github.com/safehold/safehold/blob/blobtest"
)

// TestCloseDoesNotWaitForAStuckVaultOpen: the engine closes while a
// vault tier's open hangs on its object store (a collection of the vault
// opening it); the open, once the store answers, fails saying the engine
// is closed. The engine's lock was held over the open, so Close (and
// every other vault's operations) waited for the stuck store.
func TestCloseDoesNotWaitForAStuckVaultOpen(t *testing.T) {
	b := setup(t)
	stuck, entered := make(chan struct{}), make(chan struct{})
	var once sync.Once
	b.faulty.SetFail(func(op blobtest.Op, key string, n int) error {
		once.Do(func() { close(entered) })
		<-stuck
		return nil
	})
	var unstick sync.Once
	defer unstick.Do(func() { close(stuck) })
	gc := make(chan error, 1)
	go func() { _, err := b.engine.GCVaultNow(b.ctx, "va"); gc <- err }()
	select {
	case <-entered:
	case err := <-gc:
		t.Fatalf("the collection ended without opening the vault's store: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the collection never reached the vault's store")
	}
	closed := make(chan error, 1)
	go func() { closed <- b.engine.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("close: %v", err)
		}
	case <-time.After(time.Minute): // a hang, not a speed: the store never answers until told
		t.Fatal("Close waited for a vault's open stuck on its object store")
	}
	unstick.Do(func() { close(stuck) })
	b.faulty.SetFail(nil)
	if err := <-gc; err == nil {
		t.Fatal("the collection of a vault opened after the engine closed succeeded")
	}
}
