package recoveryservices_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservices"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestVaultDeletedWhileAVMIsProtected DELETEs a Recovery Services vault
// through the Go SDK while a VM is protected in it (a protected item's
// PUT), round after round: one of them wins. Either the PUT is accepted,
// the item is there, no job of the vault stays InProgress and the DELETE is
// 400 ServiceResourceNotEmpty; or the DELETE removes the vault and the PUT
// is refused (404). Either way the VM is free afterwards: another vault
// protects it. The DELETE checked the vault empty, then removed the items
// it found with the vault (and the transaction that removed it deleted
// whatever was under it): an item accepted after the check was deleted
// with the vault, or left behind it protecting the VM (brief inputs28).
func TestVaultDeletedWhileAVMIsProtected(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("vm-rg", "rs-rg")
	osID, _ := fixture.Disk(t, e, "vm-rg", "app1-os", 1)
	vm := fixture.VM(t, e, "vm-rg", "app1", osID)
	vc := testserver.Factory(e, armrecoveryservices.NewClientFactory).NewVaultsClient()
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	ic, jc := bf.NewProtectedItemsClient(), bf.NewBackupJobsClient()
	const container, item = "IaasVMContainer;iaasvmcontainerv2;vm-rg;app1", "VM;iaasvmcontainerv2;vm-rg;app1"
	protect := func(ctx context.Context, vault string) error {
		policyID := "/subscriptions/" + e.Sub + "/resourceGroups/rs-rg/providers/Microsoft.RecoveryServices/vaults/" + vault + "/backupPolicies/DefaultPolicy"
		_, err := ic.CreateOrUpdate(ctx, vault, "rs-rg", "Azure", container, item, armrecoveryservicesbackup.ProtectedItemResource{
			Properties: &armrecoveryservicesbackup.AzureIaaSComputeVMProtectedItem{SourceResourceID: vm.ID, PolicyID: to.Ptr(policyID)}}, nil)
		return err
	}
	// unprotect stops protecting the VM in vault and deletes its data.
	unprotect := func(ctx context.Context, vault string) {
		t.Helper()
		if _, err := ic.Delete(ctx, vault, "rs-rg", "Azure", container, item, nil); err != nil {
			t.Fatalf("stop protection in %s: %v", vault, err)
		}
		e.WaitFor("the item's delete in "+vault, func() bool {
			_, err := ic.Get(ctx, vault, "rs-rg", "Azure", container, item, nil)
			var re *azcore.ResponseError
			return errors.As(err, &re) && re.StatusCode == 404
		})
	}
	fixture.RSVault(t, e, "rs-rg", "keeper", fixture.StandardVault())
	const rounds = 30
	put, deleted := 0, 0
	for i := range rounds {
		ctx := e.Ctx()
		name := fmt.Sprintf("rsrace%d", i)
		fixture.RSVault(t, e, "rs-rg", name, fixture.StandardVault())

		var delErr error
		var wg sync.WaitGroup
		// (Jitter, in turn before either request: it spreads one over the
		// other's steps.)
		jitter := time.Duration(i/2%10) * 300 * time.Microsecond
		wg.Go(func() {
			if i%2 == 0 {
				time.Sleep(jitter)
			}
			_, delErr = vc.Delete(ctx, "rs-rg", name, nil)
		})
		if i%2 == 1 {
			time.Sleep(jitter)
		}
		putErr := protect(ctx, name)
		wg.Wait()

		var re *azcore.ResponseError
		if putErr == nil {
			put++
			if !errors.As(delErr, &re) || re.StatusCode != 400 || re.ErrorCode != "ServiceResourceNotEmpty" {
				_, getErr := ic.Get(ctx, name, "rs-rg", "Azure", container, item, nil)
				t.Fatalf("round %d: the item's PUT was accepted and the vault's DELETE ended with %v, want 400 ServiceResourceNotEmpty; the item now: %v", i, delErr, getErr)
			}
			if _, err := ic.Get(ctx, name, "rs-rg", "Azure", container, item, nil); err != nil {
				t.Fatalf("round %d: the item that won: %v", i, err)
			}
			for page := range fixture.Pages(t, jc.NewListPager(name, "rs-rg", nil)) {
				for _, j := range page.Value {
					if p := j.Properties.GetJob(); p.Status != nil && *p.Status == "InProgress" {
						t.Fatalf("round %d: job %s (%s) of the vault is InProgress after the item's PUT", i, *j.Name, *p.Operation)
					}
				}
			}
			unprotect(ctx, name)
			if _, err := vc.Delete(ctx, "rs-rg", name, nil); err != nil {
				t.Fatalf("round %d: delete the emptied vault: %v", i, err)
			}
		} else {
			deleted++
			if delErr != nil {
				t.Fatalf("round %d: the item's PUT (%v) and the vault's DELETE (%v) both failed", i, putErr, delErr)
			}
			if !errors.As(putErr, &re) || re.StatusCode != 404 {
				t.Fatalf("round %d: the item's PUT into a vault being deleted: %v, want 404", i, putErr)
			}
		}
		if _, err := vc.Get(ctx, "rs-rg", name, nil); !errors.As(err, &re) || re.StatusCode != 404 {
			t.Fatalf("round %d: the vault after its delete: %v, want 404", i, err)
		}
		// The VM is free: nothing left protects it.
		if err := protect(ctx, "keeper"); err != nil {
			t.Fatalf("round %d: protect the VM in another vault after the race: %v", i, err)
		}
		unprotect(ctx, "keeper")
	}
	t.Logf("%d rounds: the item won %d, the vault's DELETE %d", rounds, put, deleted)
}
