package dataprotection_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestVaultDeletedTwiceAtOnce deletes a Backup vault with several DELETEs
// at once through the SDK (two scripts, or a retry racing its first try):
// each succeeds, one deleting the vault, the others finding it gone, as a
// DELETE of a vault that is not there does (204). One that found the vault
// when it began and lost it to another before it ended was 404
// ResourceNotFound (hostile27: 8 of 120 DELETEs, 12 at once).
func TestVaultDeletedTwiceAtOnce(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("vault-rg")
	vc := testserver.Factory(e, armdataprotection.NewClientFactory).NewBackupVaultsClient()
	const rounds, deletes = 12, 8
	for i := range rounds {
		name := fmt.Sprintf("twice%d", i)
		fixture.BackupVault(t, e, "vault-rg", name)
		errs := make([]error, deletes)
		var wg sync.WaitGroup
		for k := range deletes {
			wg.Go(func() {
				p, err := vc.BeginDelete(e.Ctx(), "vault-rg", name, nil)
				_, errs[k] = fixture.Wait(p, err)
			})
		}
		wg.Wait()
		for k, err := range errs {
			if err != nil {
				t.Errorf("round %d: DELETE %d of %d at once: %v", i, k+1, deletes, err)
			}
		}
		var re *azcore.ResponseError
		if _, err := vc.Get(e.Ctx(), "vault-rg", name, nil); !errors.As(err, &re) || re.StatusCode != 404 {
			t.Fatalf("round %d: the vault after its deletes: %v, want 404", i, err)
		}
	}
}
