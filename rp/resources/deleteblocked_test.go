package resources_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// wantBlocked checks a group delete's failed result: 409
// ResourceGroupDeletionBlocked naming the resource, with that resource's
// own error (code) as its detail; then that the group is back to
// Succeeded and that each path in kept still answers 200.
func wantBlocked(t *testing.T, e *testserver.Env, group, blocker, code string, kept ...string) {
	t.Helper()
	st, m := e.DeleteGroup(group)
	msg, _ := testserver.Field(m, "error.message").(string)
	if st != http.StatusConflict || testserver.ErrorCode(m) != "ResourceGroupDeletionBlocked" || !strings.Contains(msg, blocker) || !strings.Contains(msg, code) {
		t.Fatalf("delete group %s: want 409 ResourceGroupDeletionBlocked naming %s and %s, got %d %v", group, blocker, code, st, m)
	}
	details, _ := testserver.Field(m, "error.details").([]any)
	if len(details) != 1 || details[0].(map[string]any)["code"] != code {
		t.Fatalf("delete group %s: details %v, want the %s error", group, details, code)
	}
	resp, g := e.Do("GET", "/subscriptions/"+e.Sub+"/resourcegroups/"+group+"?api-version=2021-04-01", nil)
	if resp.StatusCode != 200 || testserver.Field(g, "properties.provisioningState") != "Succeeded" {
		t.Fatalf("group %s after its refused delete: %d %v", group, resp.StatusCode, g)
	}
	for _, p := range kept {
		if resp, m := e.Do("GET", p, nil, testserver.AnyStatus()); resp.StatusCode != 200 {
			t.Fatalf("%s after the refused delete of %s: %d %v", p, group, resp.StatusCode, m)
		}
	}
}

// A resource group's delete that meets a vault still holding backups
// (a Recovery Services vault's protected item, a Backup vault's backup
// instance or, soft delete on, its soft-deleted one) fails as Azure's
// does, deleting nothing: 409 ResourceGroupDeletionBlocked with the
// vault's own error (ServiceResourceNotEmpty,
// UserErrorVaultHasBackupInstances, UserErrorVaultHasSoftDeletedBackupInstances),
// the group back to Succeeded and writable. Once the vault is empty the
// same delete goes through; an empty vault goes with its group.
func TestGroupDeleteKeepsVaultsWithBackups(t *testing.T) {
	e := testserver.Start(t)
	sub := "/subscriptions/" + e.Sub
	rs := fixture.ProtectVM(t, e)
	otherDisk, _ := fixture.Disk(t, e, rs.RG, "bystander", 1)
	rsVault := sub + "/resourceGroups/" + rs.RG + "/providers/Microsoft.RecoveryServices/vaults/" + rs.Vault
	const rsv = "?api-version=2023-04-01"
	item := rsVault + "/backupFabrics/Azure/protectionContainers/" + rs.Container + "/protectedItems/" + rs.Item + rsv
	wantBlocked(t, e, rs.RG, "Microsoft.RecoveryServices/vaults/"+rs.Vault, "ServiceResourceNotEmpty",
		rsVault+rsv, item, otherDisk+"?api-version=2024-03-02")
	// The group takes writes again.
	if resp, m := e.Do("PUT", sub+"/resourcegroups/"+rs.RG+"?api-version=2021-04-01", map[string]any{"location": "westus", "tags": map[string]string{"after": "refusal"}}); resp.StatusCode != 200 {
		t.Fatalf("update the group after its refused delete: %d %v", resp.StatusCode, m)
	}

	dv := fixture.ProtectDisk(t, e)
	bv := sub + "/resourceGroups/" + dv.RG + "/providers/Microsoft.DataProtection/backupVaults/" + dv.Vault
	const dpv = "?api-version=2024-04-01"
	bi := bv + "/backupInstances/" + dv.Instance
	wantBlocked(t, e, dv.RG, "Microsoft.DataProtection/backupVaults/"+dv.Vault, "UserErrorVaultHasBackupInstances", bv+dpv, bi+dpv)
	// Soft delete on (the default): the instance deleted is kept
	// soft-deleted, and still blocks.
	if resp, m := e.Do("DELETE", bi+dpv, nil); resp.StatusCode != 202 {
		t.Fatalf("delete the backup instance: %d %v", resp.StatusCode, m)
	} else if st := e.Poll(resp.Header.Get("Azure-AsyncOperation")); st["status"] != "Succeeded" {
		t.Fatalf("delete the backup instance: %v", st)
	}
	wantBlocked(t, e, dv.RG, "Microsoft.DataProtection/backupVaults/"+dv.Vault, "UserErrorVaultHasSoftDeletedBackupInstances",
		bv+dpv, bv+"/deletedBackupInstances/"+dv.Instance+dpv)
	// Soft delete turned Off: what is soft-deleted goes with the vault, as
	// with a DELETE of the vault, and the group goes.
	if resp, m := e.Do("PATCH", bv+dpv, map[string]any{"properties": map[string]any{"securitySettings": map[string]any{"softDeleteSettings": map[string]any{"state": "Off"}}}}); resp.StatusCode >= 300 {
		t.Fatalf("turn soft delete off: %d %v", resp.StatusCode, m)
	} else if a := resp.Header.Get("Azure-AsyncOperation"); a != "" {
		e.Poll(a)
	}
	if st, m := e.DeleteGroup(dv.RG); st != 200 {
		t.Fatalf("delete the group of a vault without backups: %d %v", st, m)
	}
	if resp, m := e.Do("GET", bv+dpv, nil, testserver.AnyStatus()); resp.StatusCode != 404 {
		t.Fatalf("the vault after its group's delete: %d %v", resp.StatusCode, m)
	}

	// Empty vaults of both kinds go with their group.
	e.ResourceGroups("empty-vaults")
	fixture.BackupVault(t, e, "empty-vaults", "bv-empty")
	fixture.RSVault(t, e, "empty-vaults", "rs-empty", fixture.StandardVault())
	if st, m := e.DeleteGroup("empty-vaults"); st != 200 {
		t.Fatalf("delete the group of empty vaults: %d %v", st, m)
	}
	if resp, m := e.Do("GET", sub+"/resourceGroups/empty-vaults/providers/Microsoft.RecoveryServices/vaults/rs-empty"+rsv, nil, testserver.AnyStatus()); resp.StatusCode != 404 {
		t.Fatalf("the empty vault after its group's delete: %d %v", resp.StatusCode, m)
	}
}

// A resource group's delete does not delete a disk encryption set or disk
// access that a disk in another group names (Azure refuses deleting one
// in use: 409 OperationNotAllowed): it fails, deleting nothing, with that
// error. A set used only by disks of its own group goes with them.
func TestGroupDeleteKeepsDiskRefsInUse(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("keys", "disks", "together")
	sub := "/subscriptions/" + e.Sub
	const cv = "?api-version=2024-03-02"
	set := func(rg, name string) string {
		t.Helper()
		id := sub + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/diskEncryptionSets/" + name
		resp, m := e.Do("PUT", id+cv, map[string]any{"location": "westus", "identity": map[string]any{"type": "SystemAssigned"},
			"properties": map[string]any{"activeKey": map[string]any{"keyUrl": "https://kv1.vault.azure.net/keys/k1/0123456789abcdef"}}})
		if resp.StatusCode >= 300 {
			t.Fatalf("put set %s: %d %v", id, resp.StatusCode, m)
		}
		return id
	}
	access := func(rg, name string) string {
		t.Helper()
		id := sub + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/diskAccesses/" + name
		if resp, m := e.Do("PUT", id+cv, map[string]any{"location": "westus"}); resp.StatusCode >= 300 {
			t.Fatalf("put disk access %s: %d %v", id, resp.StatusCode, m)
		}
		return id
	}
	disk := func(rg, name string, props map[string]any) string {
		t.Helper()
		id := sub + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/disks/" + name
		props["creationData"] = map[string]any{"createOption": "Empty"}
		props["diskSizeGB"] = 1
		resp, m := e.Do("PUT", id+cv, map[string]any{"location": "westus", "properties": props})
		if resp.StatusCode >= 300 {
			t.Fatalf("put disk %s: %d %v", id, resp.StatusCode, m)
		}
		if a := resp.Header.Get("Azure-AsyncOperation"); a != "" {
			if st := e.Poll(a); st["status"] != "Succeeded" {
				t.Fatalf("create disk %s: %v", id, st)
			}
		}
		return id
	}
	des := set("keys", "des1")
	d1 := disk("disks", "d1", map[string]any{"encryption": map[string]any{"type": "EncryptionAtRestWithCustomerKey", "diskEncryptionSetId": des}})
	wantBlocked(t, e, "keys", "Microsoft.Compute/diskEncryptionSets/des1", "OperationNotAllowed", des+cv)
	if resp, m := e.Do("DELETE", d1+cv, nil); resp.StatusCode >= 300 {
		t.Fatalf("delete disk d1: %d %v", resp.StatusCode, m)
	} else if a := resp.Header.Get("Azure-AsyncOperation"); a != "" {
		e.Poll(a)
	}
	da := access("keys", "da1")
	disk("disks", "d2", map[string]any{"networkAccessPolicy": "AllowPrivate", "diskAccessId": da})
	wantBlocked(t, e, "keys", "Microsoft.Compute/diskAccesses/da1", "OperationNotAllowed", da+cv, des+cv)
	if st, m := e.DeleteGroup("disks"); st != 200 {
		t.Fatalf("delete the group of the disks: %d %v", st, m)
	}
	if st, m := e.DeleteGroup("keys"); st != 200 {
		t.Fatalf("delete the group of the set and access once nothing uses them: %d %v", st, m)
	}

	// Used only by a disk of its own group: deleted with it.
	own := set("together", "des2")
	disk("together", "d3", map[string]any{"encryption": map[string]any{"type": "EncryptionAtRestWithCustomerKey", "diskEncryptionSetId": own}})
	if st, m := e.DeleteGroup("together"); st != 200 {
		t.Fatalf("delete a group whose own disk uses its set: %d %v", st, m)
	}
}
