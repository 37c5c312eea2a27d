package recoveryservices_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservices"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/store"
)

// TestVaultDeleteDoesNotWaitForItsData: a Recovery Services vault's
// DELETE (synchronous: the SDK takes 200 only) answers once the vault is
// gone from the store, with the object storage holding every request: the
// deletion of its vault tier's objects (and the wait for a collection of
// it) is a durable task that runs once the storage answers. The DELETE
// waited for both, so a big vault's (or one whose collection ran) took
// minutes and clients timed out; with the storage hung it never answered.
func TestVaultDeleteDoesNotWaitForItsData(t *testing.T) {
	e, objects := testserver.StartOnFaultyS3(t)
	e.ResourceGroups("rs-rg")
	ctx := e.Ctx()
	fixture.RSVault(t, e, "rs-rg", "gone1", fixture.StandardVault())
	vc := testserver.Factory(e, armrecoveryservices.NewClientFactory).NewVaultsClient()
	objects.Set(testsvc.StoreHangs)
	t.Cleanup(func() { objects.Set(testsvc.StoreUp) })
	done := make(chan error, 1)
	go func() { _, err := vc.Delete(ctx, "rs-rg", "gone1", nil); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the vault's DELETE with the object storage hung: %v", err)
		}
	case <-time.After(2 * time.Minute):
		objects.Set(testsvc.StoreUp)
		t.Fatalf("the vault's DELETE did not answer in 2 minutes with the object storage hung: it waits for the vault tier's deletion (answered once the storage was back: %v)", <-done)
	}
	var re *azcore.ResponseError
	if _, err := vc.Get(ctx, "rs-rg", "gone1", nil); !errors.As(err, &re) || re.StatusCode != 404 {
		t.Fatalf("the deleted vault: %v, want 404", err)
	}
	// Its vault tier's removal ends once the storage answers.
	gone, err := e.Server.Store.List(ctx, protection.VaultGoneKind, store.ListQuery{})
	if err != nil || len(gone) != 1 {
		t.Fatalf("removed vaults' markers: %d, %v, want the one", len(gone), err)
	}
	if _, err := e.Server.Store.GetTaskByKey(ctx, protection.RemoveVaultKey(gone[0].Key)); err != nil {
		t.Fatalf("the removal of the vault's tier: %v, want a task waiting for the storage", err)
	}
	objects.Set(testsvc.StoreUp)
	e.WaitFor("the vault tier's removal", func() bool {
		_, err := e.Server.Store.GetTaskByKey(ctx, protection.RemoveVaultKey(gone[0].Key))
		return errors.Is(err, store.ErrNotFound)
	})
}

// TestVaultDeletedTwiceAtOnce deletes a Recovery Services vault with
// several DELETEs at once through the SDK (two scripts, or a retry racing
// its first try): each succeeds (200, the only answer the SDK takes), one
// deleting the vault, the others finding it gone, as a DELETE of a vault
// that is not there does. One that found the vault when it began and lost
// it to another before it ended was 404 ResourceNotFound (hostile27: 6 of
// 120 DELETEs, 12 at once).
func TestVaultDeletedTwiceAtOnce(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("rs-rg")
	vc := testserver.Factory(e, armrecoveryservices.NewClientFactory).NewVaultsClient()
	const rounds, deletes = 12, 8
	for i := range rounds {
		name := fmt.Sprintf("twice%d", i)
		fixture.RSVault(t, e, "rs-rg", name, fixture.StandardVault())
		errs := make([]error, deletes)
		var wg sync.WaitGroup
		for k := range deletes {
			wg.Go(func() { _, errs[k] = vc.Delete(e.Ctx(), "rs-rg", name, nil) })
		}
		wg.Wait()
		for k, err := range errs {
			if err != nil {
				t.Errorf("round %d: DELETE %d of %d at once: %v", i, k+1, deletes, err)
			}
		}
		var re *azcore.ResponseError
		if _, err := vc.Get(e.Ctx(), "rs-rg", name, nil); !errors.As(err, &re) || re.StatusCode != 404 {
			t.Fatalf("round %d: the vault after its deletes: %v, want 404", i, err)
		}
	}
}
