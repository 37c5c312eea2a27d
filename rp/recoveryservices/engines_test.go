package recoveryservices_test

import (
	"errors"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestBackupEnginesNone: a vault lists no backup engines (no MABS or DPM
// server is ever registered to a Safehold vault) through the SDK's
// BackupEnginesClient, and through the request armrecoveryservicesbackup
// v1.0.0 sends (api-version 2022-02-01), where both answered 404
// InvalidResourceType; a named engine is a 404 naming it, and a missing
// vault is a 404 before either.
func TestBackupEnginesNone(t *testing.T) {
	e, _ := vaultEnv(t, "v1")
	ctx := e.Ctx()
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	n := 0
	for page := range fixture.Pages(t, bf.NewBackupEnginesClient().NewListPager("v1", "vaultrg", nil)) {
		n += len(page.Value)
	}
	if n != 0 {
		t.Fatalf("%d backup engines listed", n)
	}
	var re *azcore.ResponseError
	if _, err := bf.NewBackupEnginesClient().Get(ctx, "v1", "vaultrg", "mabs1", nil); !errors.As(err, &re) || re.StatusCode != 404 || re.ErrorCode != "BMSUserErrorObjectNotFound" {
		t.Fatalf("get a backup engine: %v", err)
	}
	vault := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/"
	resp, m := e.Do("GET", vault+"v1/backupEngines?api-version=2022-02-01", nil)
	if v, ok := m["value"].([]any); resp.StatusCode != 200 || !ok || len(v) != 0 {
		t.Fatalf("backup engines at 2022-02-01: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.Do("GET", vault+"nope/backupEngines?api-version=2022-02-01", nil); resp.StatusCode != 404 || testserver.ErrorCode(m) == "InvalidResourceType" {
		t.Fatalf("backup engines of a missing vault: %d %v", resp.StatusCode, m)
	}
}
