package recoveryservices_test

import (
	"context"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/safehold/safehold/blob/blobtest"
	"github.com/safehold/safehold/blob/local"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/server"
	"github.com/safehold/safehold/snapshot"
)

// TestDeletedItemTakesNoBackup deletes a vault with two protected VMs
// (its resource group's delete): the items go one after the other, each
// holding the item's lease from deleting its data until the item is gone.
// The delete is held inside the second item's data (the deletion of its
// vault-tier copy); a backup of the first item asked for meanwhile must not
// record a point that outlives the item: the item is already gone (404),
// or its backup records nothing. Before, the first item's lease was free
// between its data's deletion and its own, and such a backup left a
// recovery point and its snapshot behind.
func TestDeletedItemTakesNoBackup(t *testing.T) {
	var armed atomic.Bool
	entered := make(chan struct{})
	release := make(chan struct{})
	e := testserver.Start(t, func(c *server.Config) {
		// The vault tier of the server (protection.VaultDir), its backend
		// holding the first deletion of a snapshot's manifest once armed.
		c.Setup = func(ctx context.Context, s *server.Server) error {
			s.Engine.OpenVault = func(ctx context.Context, key string) (*snapshot.Repository, error) {
				dir := protection.VaultDir(s.Config.DataDir, key)
				be, err := local.Open(filepath.Join(dir, "repo"))
				if err != nil {
					return nil, err
				}
				f := blobtest.NewFaulty(be)
				f.SetFail(func(op blobtest.Op, key string, n int) error {
					if op == blobtest.OpDelete && strings.HasPrefix(key, "snapshot/") && armed.CompareAndSwap(true, false) {
						close(entered)
						<-release
					}
					return nil
				})
				return snapshot.Open(ctx, f, filepath.Join(dir, "cache"), snapshot.Options{})
			}
			return nil
		}
	})
	released := false
	unhold := func() {
		if !released {
			released = true
			close(release)
		}
	}
	defer unhold()
	e.ResourceGroups("vmrg", "vaultrg")
	const v = "?api-version=2024-04-01"
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/rv"
	mkVault(t, e, R+v, "westus")
	item := func(vm string) string {
		return R + "/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;vmrg;" + vm + "/protectedItems/VM;iaasvmcontainerv2;vmrg;" + vm
	}
	// The vault's items are deleted in the order of their ids: a (no
	// recovery point, so its deletion deletes no snapshot), then b.
	for _, vm := range []string{"a", "b"} {
		protect(t, e, item(vm)+v, mkVM(t, e, "vmrg", vm, 0, 1<<20).ID, R+"/backupPolicies/DefaultPolicy")
	}
	backup := func(vm string) (string, bool) {
		resp, m := e.Do("POST", item(vm)+"/backup"+v, map[string]any{"properties": map[string]any{"objectType": "IaasVMBackupRequest"}})
		if resp.StatusCode == 404 {
			return "", false
		}
		must(t, "backup of "+vm, resp, m, 202)
		return str(pollStatus(t, e, resp), "properties.jobId"), true
	}
	if id, _ := backup("b"); str(waitJob(t, e, R, id, v), "properties.status") != "Completed" {
		t.Fatalf("backup of b: %v", waitJob(t, e, R, id, v))
	}

	armed.Store(true)
	rgs, err := armresources.NewResourceGroupsClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	poller, err := rgs.BeginDelete(e.Ctx(), "vaultrg", nil)
	if err != nil {
		t.Fatal(err)
	}
	<-entered // a is deleted; the delete holds b's lease, deleting b's vault copy
	if _, ok := backup("a"); ok {
		// Accepted: the item was still there. Its capture must then record
		// no point; wait for one (the transfer to the vault tier waits for
		// the held deletion) or for the job to end.
		e.WaitFor("the backup of a to record a point or to end", func() bool {
			pts, err := protection.ListRecoveryPoints(e.Ctx(), e.Server.Store, item("a"))
			if err != nil {
				t.Fatal(err)
			}
			_, m := e.Do("GET", R+"/backupJobs?api-version=2024-04-01&$filter="+url.QueryEscape("operation eq 'Backup' and status eq 'InProgress'"), nil)
			return len(pts) > 0 || len(m["value"].([]any)) == 0
		})
	}
	unhold()
	if _, err := fixture.Wait(poller, nil); err != nil {
		t.Fatalf("resource group delete: %v", err)
	}
	if pts, err := protection.ListRecoveryPoints(e.Ctx(), e.Server.Store, item("a")); err != nil || len(pts) != 0 {
		t.Errorf("recovery points of the deleted item a: %d %v", len(pts), err)
	}
	if n := listSnapshots(t, e); n != 0 {
		t.Errorf("snapshots left by the deleted vault's items: %d", n)
	}
}
