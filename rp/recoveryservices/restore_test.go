package recoveryservices_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/rbac"
)

// TestRestoreKinds restores one point three ways (raw HTTP at the restore
// document's 2019-05-13): RestoreDisks of a chosen data disk, and
// OriginalLocation replacing the VM's disks; it also checks job
// cancellation rules, backupStatus and a second trigger while one runs.
func TestRestoreKinds(t *testing.T) {
	e := testserver.StartWithGroups(t, "vmrg", "vaultrg", "diskrg")
	ctx := context.Background()
	cs := e.Server.Compute
	mkStorage(t, e, "vaultrg", "staging")
	vm := mkVM(t, e, "vmrg", "web", 2, 1<<20)
	disks := []string{vm.OSDiskID, vm.DataDisks[0].DiskID, vm.DataDisks[1].DiskID}
	fill := func(b byte) {
		for i, d := range disks {
			v, err := cs.Volume(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.WriteAt(bytes.Repeat([]byte{b + byte(i)}, 8192), 4096); err != nil {
				t.Fatal(err)
			}
		}
	}
	fill(10)
	want := make([][]byte, 3)
	for i, d := range disks {
		want[i] = readDisk(t, cs, d)
	}

	const v = "?api-version=2019-05-13"
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/rv"
	resp, m := e.Do("PUT", R+"?api-version=2016-06-01", map[string]any{"location": "westus", "sku": map[string]any{"name": "RS0", "tier": "Standard"}})
	must(t, "vault", resp, m, 201)
	I := R + "/backupFabrics/Azure/protectionContainers/" + url.PathEscape("IaasVMContainer;iaasvmcontainerv2;vmrg;web") + "/protectedItems/" + url.PathEscape("VM;iaasvmcontainerv2;vmrg;web")
	if !strings.Contains(I, "%3B") {
		t.Fatalf("escaping: %s", I)
	}
	protect(t, e, I+v, vm.ID, R+"/backupPolicies/DefaultPolicy")

	resp, m = e.Do("POST", "/Subscriptions/"+e.Sub+"/providers/Microsoft.RecoveryServices/locations/westus/backupStatus?api-version=2024-04-01", map[string]any{"resourceType": "VM", "resourceId": vm.ID})
	must(t, "backupStatus", resp, m, 200)
	if str(m, "protectionStatus") != "Protected" || !strings.EqualFold(str(m, "vaultId"), R) || str(m, "protectedItemName") != "VM;iaasvmcontainerv2;vmrg;web" {
		t.Fatalf("backupStatus %v", m)
	}

	resp, m = e.Do("POST", I+"/backup"+v, map[string]any{"properties": map[string]any{"objectType": "IaasVMBackupRequest"}})
	must(t, "backup", resp, m, 202)
	st := pollStatus(t, e, resp)
	jobID := str(st, "properties.jobId")
	if job := waitJob(t, e, R, jobID, v); str(job, "properties.status") != "Completed" {
		t.Fatalf("job %v", job)
	}
	resp, m = e.Do("POST", R+"/backupJobs/"+jobID+"/cancel"+v, nil)
	if resp.StatusCode != 400 || !strings.Contains(str(m, "error.message"), "cannot be cancelled") {
		t.Fatalf("cancel of a finished job: %d %v", resp.StatusCode, m)
	}
	resp, m = e.Do("GET", I+"/recoveryPoints"+v, nil)
	must(t, "points", resp, m, 200)
	point := str(m["value"].([]any)[0].(map[string]any), "name")
	exp, err := time.Parse(time.RFC3339, str(m["value"].([]any)[0].(map[string]any), "properties.recoveryPointProperties.expiryTime"))
	if d := time.Until(exp); err != nil || d < 29*24*time.Hour || d > 31*24*time.Hour {
		t.Fatalf("on-demand point expiry %v (%v), want 30 days: %v", exp, err, m)
	}
	fill(50) // the VM moves on

	// RestoreDisks, data disk at lun 1 only.
	resp, m = e.Do("POST", I+"/recoveryPoints/"+point+"/restore"+v, map[string]any{"properties": map[string]any{
		"objectType": "IaasVMRestoreRequest", "recoveryPointId": point, "recoveryType": "RestoreDisks", "sourceResourceId": vm.ID,
		"storageAccountId":      "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.Storage/storageAccounts/staging",
		"targetResourceGroupId": "/subscriptions/" + e.Sub + "/resourceGroups/diskrg", "restoreDiskLunList": []int{1}, "region": "westus"}})
	must(t, "restore disks", resp, m, 202)
	if st := pollStatus(t, e, resp); str(st, "status") != "Succeeded" {
		t.Fatalf("restore disks %v", st)
	}
	resp, m = e.Do("GET", "/subscriptions/"+e.Sub+"/resourceGroups/diskrg/providers/Microsoft.Compute/disks?api-version=2023-04-02", nil)
	must(t, "disks", resp, m, 200)
	// The OS disk is always restored; data disks as listed.
	vals := m["value"].([]any)
	if len(vals) != 2 {
		t.Fatalf("restored disks %v", m)
	}
	for _, d := range vals {
		name, id := str(d.(map[string]any), "name"), str(d.(map[string]any), "id")
		i := 0
		switch {
		case strings.Contains(name, "datadisk-1"):
			i = 2
		case strings.Contains(name, "osdisk"):
		default:
			t.Fatalf("unexpected restored disk %s", name)
		}
		if !bytes.Equal(readDisk(t, cs, id), want[i]) {
			t.Fatalf("restored %s differs from the backup", name)
		}
	}
	resp, m = e.Do("POST", I+"/recoveryPoints/"+point+"/restore"+v, map[string]any{"properties": map[string]any{
		"objectType": "IaasVMRestoreRequest", "recoveryType": "RestoreDisks", "targetResourceGroupId": "/subscriptions/" + e.Sub + "/resourceGroups/diskrg", "restoreDiskLunList": []int{7}}})
	if resp.StatusCode != 400 || !strings.Contains(str(m, "error.message"), "restoreDiskLunList[0]") {
		t.Fatalf("bad lun: %d %v", resp.StatusCode, m)
	}
	resp, m = e.Do("POST", I+"/recoveryPoints/"+point+"/restore"+v, map[string]any{"properties": map[string]any{"objectType": "IaasVMRestoreRequest"}})
	if resp.StatusCode != 400 || !strings.Contains(str(m, "error.message"), "recoveryType") {
		t.Fatalf("no recoveryType: %d %v", resp.StatusCode, m)
	}

	// OriginalLocation: the VM gets new disks holding the backup.
	resp, m = e.Do("POST", I+"/recoveryPoints/"+point+"/restore"+v, map[string]any{"properties": map[string]any{
		"objectType": "IaasVMRestoreRequest", "recoveryType": "OriginalLocation", "sourceResourceId": vm.ID,
		"storageAccountId": "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.Storage/storageAccounts/staging", "originalStorageAccountOption": false}})
	must(t, "restore original", resp, m, 202)
	if st := pollStatus(t, e, resp); str(st, "status") != "Succeeded" {
		t.Fatalf("restore original %v", st)
	}
	now, err := cs.VM(ctx, vm.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{now.OSDiskID, now.DataDisks[0].DiskID, now.DataDisks[1].DiskID}
	for i, d := range got {
		if strings.EqualFold(d, disks[i]) {
			t.Fatalf("disk %d not replaced", i)
		}
		if !bytes.Equal(readDisk(t, cs, d), want[i]) {
			t.Fatalf("disk %d of the VM differs from the backup after OriginalLocation", i)
		}
	}
	resp, m = e.Do("GET", R+"/backupJobs"+v+"&$filter="+url.QueryEscape("operation eq 'Restore'"), nil)
	must(t, "jobs", resp, m, 200)
	if n := len(m["value"].([]any)); n != 2 {
		t.Fatalf("%d restore jobs", n)
	}
	for _, j := range m["value"].([]any) {
		if s := str(j.(map[string]any), "properties.status"); s != "Completed" {
			t.Fatalf("restore job %v", j)
		}
	}

	// Deleting the vault's resource group while the vault protects an item
	// fails (as the vault's own delete does), deleting nothing; with the
	// item's backup data deleted (soft delete off) it removes the vault
	// with its points (both tiers) and jobs.
	if st, m := e.DeleteGroup("vaultrg"); st != 409 || !strings.Contains(str(m, "error.message"), "ServiceResourceNotEmpty") {
		t.Fatalf("delete the group of a vault protecting an item: %d %v", st, m)
	}
	if n := listSnapshots(t, e); n == 0 {
		t.Fatal("the refused group delete deleted instant snapshots")
	}
	resp, m = e.Do("PUT", R+"/backupconfig/vaultconfig"+v, map[string]any{"properties": map[string]any{"softDeleteFeatureState": "Disabled"}})
	must(t, "soft delete off", resp, m, 200)
	resp, m = e.Do("DELETE", I+v, nil)
	must(t, "delete backup data", resp, m, 202)
	if j := waitJob(t, e, R, str(pollStatus(t, e, resp), "properties.jobId"), v); str(j, "properties.status") != "Completed" {
		t.Fatalf("delete backup data: %v", j)
	}
	if st, m := e.DeleteGroup("vaultrg"); st != 200 {
		t.Fatalf("delete the group of an empty vault: %d %v", st, m)
	}
	e.WaitFor("vault gone", func() bool {
		resp, _ := e.Do("GET", R+v, nil)
		return resp.StatusCode == 404
	})
	if n := listSnapshots(t, e); n != 0 {
		t.Fatalf("%d instant snapshots left", n)
	}
	resp, m = e.Do("POST", "/Subscriptions/"+e.Sub+"/providers/Microsoft.RecoveryServices/locations/westus/backupStatus?api-version=2024-04-01", map[string]any{"resourceType": "VM", "resourceId": vm.ID})
	if str(m, "protectionStatus") != "NotProtected" {
		t.Fatalf("backupStatus after the vault went: %v", m)
	}
}

// TestRestoreStagingAndRegion: an identity-based restore's
// targetStorageAccountId is its staging account (the disks of a
// RestoreDisks without a target resource group go to its resource group),
// a missing one is refused by that field, and a region other than the
// vault's is refused up front. The restore's identity (identityInfo) is
// the vault's, and it reaches the staging account: it must be able to
// write the account's containers, as Azure documents. Before, the
// identity was not looked at for the staging account.
func TestRestoreStagingAndRegion(t *testing.T) {
	const v = "?api-version=2024-04-01"
	e, R, I, vm := vaultAndVM(t, "web", "?api-version=2023-04-01")
	e.ResourceGroups("stagerg")
	staging := mkStorage(t, e, "stagerg", "idstaging")
	protect(t, e, I+v, vm.ID, R+"/backupPolicies/DefaultPolicy")
	resp, m := e.Do("POST", I+"/backup"+v, map[string]any{"properties": map[string]any{"objectType": "IaasVMBackupRequest"}})
	must(t, "backup", resp, m, 202)
	st := pollStatus(t, e, resp)
	if job := waitJob(t, e, R, str(st, "properties.jobId"), v); str(job, "properties.status") != "Completed" {
		t.Fatalf("backup job %v", job)
	}
	resp, m = e.Do("GET", I+"/recoveryPoints"+v, nil)
	must(t, "points", resp, m, 200)
	point := str(m["value"].([]any)[0].(map[string]any), "name")
	restore := func(props map[string]any) (int, map[string]any) {
		t.Helper()
		body := map[string]any{"objectType": "IaasVMRestoreRequest", "recoveryType": "RestoreDisks", "sourceResourceId": vm.ID}
		for k, x := range props {
			body[k] = x
		}
		resp, m := e.Do("POST", I+"/recoveryPoints/"+point+"/restore"+v, map[string]any{"properties": body})
		if resp.StatusCode == 202 {
			m = pollStatus(t, e, resp)
		}
		return resp.StatusCode, m
	}

	code, m := restore(map[string]any{"region": "southeastasia", "storageAccountId": staging})
	if code != 400 || str(m, "error.target") != "properties.region" || !strings.Contains(str(m, "error.message"), "westus") {
		t.Fatalf("restore to another region: %d %v", code, m)
	}
	code, m = restore(map[string]any{"identityBasedRestoreDetails": map[string]any{"targetStorageAccountId": strings.Replace(staging, "idstaging", "nosuch", 1)}})
	if code != 400 || !strings.Contains(str(m, "error.message"), "identityBasedRestoreDetails.targetStorageAccountId") {
		t.Fatalf("missing identity-based staging account: %d %v", code, m)
	}
	// The restore reaches its staging account as the vault's identity, as
	// in Azure: a vault without one is refused (naming identityInfo), and
	// so is an identity that may not write the account's containers
	// (403 naming it), until it is granted Storage Account Contributor on
	// the account.
	idRestore := map[string]any{"region": "West US", "identityInfo": map[string]any{"isSystemAssignedIdentity": true},
		"identityBasedRestoreDetails": map[string]any{"targetStorageAccountId": staging}}
	code, m = restore(idRestore)
	if code != 400 || str(m, "error.target") != "properties.identityInfo" {
		t.Fatalf("identity-based restore as a vault without an identity: %d %v, want 400 naming properties.identityInfo", code, m)
	}
	resp, m = e.Do("PATCH", R+"?api-version=2023-04-01", map[string]any{"identity": map[string]any{"type": "SystemAssigned"}})
	must(t, "give the vault its identity", resp, m, 200, 202)
	resp, m = e.Do("GET", R+"?api-version=2023-04-01", nil)
	principal := str(m, "identity.principalId")
	if principal == "" {
		t.Fatalf("the vault's identity: %v", m)
	}
	code, m = restore(idRestore)
	if code != 403 || str(m, "error.code") != "AuthorizationFailed" || !strings.Contains(str(m, "error.message"), principal) || !strings.Contains(str(m, "error.message"), "blobServices/containers/write") {
		t.Fatalf("identity-based restore as an identity without access to the staging account: %d %v, want 403 naming %s", code, m, principal)
	}
	grant(t, e, principal, rbac.StorageAccountContributor, staging)
	e.WaitFor("the identity's grant", func() bool {
		code, m = restore(idRestore)
		return code != 403
	})
	if code != 202 || str(m, "status") != "Succeeded" {
		t.Fatalf("identity-based restore: %d %v", code, m)
	}
	resp, m = e.Do("GET", "/subscriptions/"+e.Sub+"/resourceGroups/stagerg/providers/Microsoft.Compute/disks?api-version=2023-04-02", nil)
	must(t, "restored disks", resp, m, 200)
	if vals, _ := m["value"].([]any); len(vals) != 1 {
		t.Fatalf("the VM's one disk restored next to the staging account: %v", m)
	}

	// A customer-managed key: the restored disks are encrypted with the
	// set diskEncryptionSetId names (az backup restore restore-disks
	// --disk-encryption-set-id), which must exist.
	e.ResourceGroups("desrg")
	set := "/subscriptions/" + e.Sub + "/resourceGroups/stagerg/providers/Microsoft.Compute/diskEncryptionSets/des1"
	resp, m = e.Do("PUT", set+"?api-version=2023-04-02", map[string]any{"location": "westus", "identity": map[string]any{"type": "SystemAssigned"},
		"properties": map[string]any{"encryptionType": "EncryptionAtRestWithPlatformAndCustomerKeys", "activeKey": map[string]any{"keyUrl": "https://kv1.vault.azure.net/keys/k1/0123456789abcdef"}}})
	if resp.StatusCode >= 300 {
		t.Fatalf("create the set: %d %v", resp.StatusCode, m)
	}
	e.WaitFor("the set", func() bool {
		resp, m := e.Do("GET", set+"?api-version=2023-04-02", nil)
		return resp.StatusCode == 200 && str(m, "properties.provisioningState") == "Succeeded"
	})
	desRG := "/subscriptions/" + e.Sub + "/resourceGroups/desrg"
	code, m = restore(map[string]any{"storageAccountId": staging, "targetResourceGroupId": desRG, "diskEncryptionSetId": set + "x"})
	if code != 400 || str(m, "error.target") != "properties.diskEncryptionSetId" {
		t.Fatalf("restore with a missing set: %d %v", code, m)
	}
	code, m = restore(map[string]any{"storageAccountId": staging, "targetResourceGroupId": desRG, "diskEncryptionSetId": vm.ID})
	if code != 400 || str(m, "error.target") != "properties.diskEncryptionSetId" {
		t.Fatalf("restore naming a VM as the set: %d %v", code, m)
	}
	code, m = restore(map[string]any{"storageAccountId": staging, "targetResourceGroupId": desRG, "diskEncryptionSetId": set})
	if code != 202 || str(m, "status") != "Succeeded" {
		t.Fatalf("restore with a set: %d %v", code, m)
	}
	e.WaitFor("the restored disk", func() bool {
		resp, m := e.Do("GET", desRG+"/providers/Microsoft.Compute/disks?api-version=2023-04-02", nil)
		vals, _ := m["value"].([]any)
		return resp.StatusCode == 200 && len(vals) == 1
	})
	_, m = e.Do("GET", desRG+"/providers/Microsoft.Compute/disks?api-version=2023-04-02", nil)
	d := m["value"].([]any)[0].(map[string]any)
	if str(d, "properties.encryption.type") != "EncryptionAtRestWithPlatformAndCustomerKeys" || !strings.EqualFold(str(d, "properties.encryption.diskEncryptionSetId"), set) {
		t.Fatalf("restored disk's encryption: %v", d)
	}
	// The set is in use: it is not deleted while the disk names it.
	if resp, m := e.Do("DELETE", set+"?api-version=2023-04-02", nil); resp.StatusCode != 409 {
		t.Fatalf("delete of the restored disk's set: %d %v", resp.StatusCode, m)
	}

	// The restored disks' network access (az backup restore restore-disks
	// --disk-access-option, --target-disk-access-id): private through a
	// disk access (which must exist, and which the caller must be able to
	// read), public, or as on the source disk.
	e.ResourceGroups("accessrg", "netrg")
	access := "/subscriptions/" + e.Sub + "/resourceGroups/accessrg/providers/Microsoft.Compute/diskAccesses/da1"
	if resp, m := e.Do("PUT", access+"?api-version=2023-04-02", map[string]any{"location": "westus"}); resp.StatusCode >= 300 {
		t.Fatalf("create the disk access: %d %v", resp.StatusCode, m)
	}
	netRG := "/subscriptions/" + e.Sub + "/resourceGroups/netrg"
	netAccess := func(option, id string) map[string]any {
		return map[string]any{"storageAccountId": staging, "targetResourceGroupId": netRG,
			"targetDiskNetworkAccessSettings": map[string]any{"targetDiskNetworkAccessOption": option, "targetDiskAccessId": id}}
	}
	const field = "properties.targetDiskNetworkAccessSettings."
	for _, c := range []struct{ option, id, target string }{
		{"EnablePrivateAccessForAllDisks", "", field + "targetDiskAccessId"},
		{"EnablePrivateAccessForAllDisks", access + "x", field + "targetDiskAccessId"},
		{"EnablePrivateAccessForAllDisks", set, field + "targetDiskAccessId"},
		{"Sometimes", "", field + "targetDiskNetworkAccessOption"},
	} {
		if code, m := restore(netAccess(c.option, c.id)); code != 400 || str(m, "error.target") != c.target {
			t.Fatalf("restore with network access %s %q: %d %v, want 400 at %s", c.option, c.id, code, m, c.target)
		}
	}
	// A caller who may restore but not read the disk access.
	pid, cred := fixture.Principal(t, e, "restorer")
	for _, rg := range []string{"vaultrg", "netrg", "stagerg"} {
		fixture.Assign(t, e, "/subscriptions/"+e.Sub+"/resourceGroups/"+rg, rbac.Contributor, pid)
	}
	resp, m = e.Do("POST", I+"/recoveryPoints/"+point+"/restore"+v, map[string]any{"properties": map[string]any{"objectType": "IaasVMRestoreRequest", "recoveryType": "RestoreDisks",
		"sourceResourceId": vm.ID, "storageAccountId": staging, "targetResourceGroupId": netRG,
		"targetDiskNetworkAccessSettings": map[string]any{"targetDiskNetworkAccessOption": "EnablePrivateAccessForAllDisks", "targetDiskAccessId": access}}},
		testserver.As(cred), testserver.AnyStatus())
	if resp.StatusCode != 403 || testserver.ErrorCode(m) != "LinkedAuthorizationFailed" || !strings.Contains(str(m, "error.message"), "diskAccesses/read") {
		t.Fatalf("restore through a disk access the caller may not read: %d %v", resp.StatusCode, m)
	}
	// An OriginalLocation restore by a caller who may not write the VM
	// (in vmrg) is refused as a link, naming the VM: it was 403
	// AuthorizationFailed, which reads as no access to the vault.
	resp, m = e.Do("POST", I+"/recoveryPoints/"+point+"/restore"+v, map[string]any{"properties": map[string]any{"objectType": "IaasVMRestoreRequest", "recoveryType": "OriginalLocation",
		"sourceResourceId": vm.ID, "storageAccountId": staging}}, testserver.As(cred), testserver.AnyStatus())
	if msg := str(m, "error.message"); resp.StatusCode != 403 || testserver.ErrorCode(m) != "LinkedAuthorizationFailed" || !strings.Contains(msg, "virtualMachines/write") || !strings.Contains(strings.ToLower(msg), strings.ToLower(vm.ID)) {
		t.Fatalf("OriginalLocation restore by a caller who may not write the VM: %d %v", resp.StatusCode, m)
	}
	restoredDisk := func(option, id string) map[string]any {
		t.Helper()
		before := map[string]bool{}
		_, m := e.Do("GET", netRG+"/providers/Microsoft.Compute/disks?api-version=2023-04-02", nil)
		for _, x := range m["value"].([]any) {
			before[str(x.(map[string]any), "id")] = true
		}
		if code, m := restore(netAccess(option, id)); code != 202 || str(m, "status") != "Succeeded" {
			t.Fatalf("restore with network access %s: %d %v", option, code, m)
		}
		_, m = e.Do("GET", netRG+"/providers/Microsoft.Compute/disks?api-version=2023-04-02", nil)
		for _, x := range m["value"].([]any) {
			if d := x.(map[string]any); !before[str(d, "id")] {
				return d
			}
		}
		t.Fatalf("restore with network access %s: no new disk", option)
		return nil
	}
	d = restoredDisk("enablePrivateAccessForAllDisks", access)
	if str(d, "properties.networkAccessPolicy") != "AllowPrivate" || !strings.EqualFold(str(d, "properties.diskAccessId"), access) || str(d, "properties.publicNetworkAccess") != "Disabled" {
		t.Fatalf("disk restored with private access: %v", d)
	}
	if resp, m := e.Do("DELETE", access+"?api-version=2023-04-02", nil); resp.StatusCode != 409 {
		t.Fatalf("delete of the restored disk's disk access: %d %v", resp.StatusCode, m)
	}
	d = restoredDisk("EnablePublicAccessForAllDisks", access)
	if str(d, "properties.networkAccessPolicy") != "AllowAll" || str(d, "properties.diskAccessId") != "" || str(d, "properties.publicNetworkAccess") != "Enabled" {
		t.Fatalf("disk restored with public access: %v", d)
	}
	// As on the source disk: the VM's OS disk, made private.
	if resp, m := e.Do("PATCH", vm.OSDiskID+"?api-version=2023-04-02", map[string]any{"properties": map[string]any{"networkAccessPolicy": "AllowPrivate", "diskAccessId": access}}); resp.StatusCode != 200 {
		t.Fatalf("make the source disk private: %d %v", resp.StatusCode, m)
	}
	d = restoredDisk("SameAsOnSourceDisks", "")
	if str(d, "properties.networkAccessPolicy") != "AllowPrivate" || !strings.EqualFold(str(d, "properties.diskAccessId"), access) {
		t.Fatalf("disk restored with the source disk's access: %v", d)
	}
}

// TestSDKRestoreValidationCoreQuota: with the region's vCPU quota lowered
// through the admin API, restore validation (synchronous and triggered)
// reports UserErrorCoreCountSubscriptionQuotaReached for the VM of the
// recovery point, and a restore to a new VM meets the same limit when it
// creates the VM; with the quota back, validation finds nothing.
func TestSDKRestoreValidationCoreQuota(t *testing.T) {
	e, bf, rp := backedUpVM1(t, 1, "stagerg", "newrg") // Standard_D2s_v3: 2 vCPUs
	ctx := e.Ctx()
	rpID := vm1PointID(e, rp)
	rr := restoreDisks(e, rp, mkStorage(t, e, "stagerg", "staging1"))
	validate := func() []*armrecoveryservicesbackup.ErrorDetail {
		t.Helper()
		return validateRestore(t, e, bf, rpID, rr)
	}
	quotaReached := func(vr []*armrecoveryservicesbackup.ErrorDetail) bool {
		return len(vr) == 1 && *vr[0].Code == "UserErrorCoreCountSubscriptionQuotaReached" && len(vr[0].Recommendations) == 1 &&
			strings.Contains(*vr[0].Message, "Current Limit: 2, Current Usage: 2, Additional Required: 2")
	}
	setCores := func(n int64) {
		t.Helper()
		resp, m := e.Do("POST", "/providers/Safehold.Admin/computeQuotas/"+e.Sub+"/westus?api-version=2024-01-01", map[string]any{"limits": map[string]int64{"cores": n}})
		must(t, "set quota", resp, m, http.StatusOK)
	}
	if vr := validate(); len(vr) != 0 {
		t.Fatalf("validation within the default quota: %+v", *vr[0].Code)
	}

	setCores(2) // vm1 uses them all
	if vr := validate(); !quotaReached(vr) {
		t.Fatalf("validation with the quota reached: %+v", vr)
	}
	result, status := triggerValidation(t, e, bf, rpID, rr)
	if !quotaReached(result) {
		t.Fatalf("triggered validation result: %+v", result)
	}
	if !quotaReached(status) {
		t.Fatalf("triggered validation status: %+v", status)
	}

	// A restore to a new VM creates the VM last, and meets the same limit.
	alr := *rr
	alr.RecoveryType = to.Ptr(armrecoveryservicesbackup.RecoveryTypeAlternateLocation)
	alr.TargetVirtualMachineID = to.Ptr("/subscriptions/" + e.Sub + "/resourceGroups/newrg/providers/Microsoft.Compute/virtualMachines/vm1r")
	alr.TargetResourceGroupID = to.Ptr("/subscriptions/" + e.Sub + "/resourceGroups/newrg")
	if err := restoreVM1(e, bf, rp, &alr); err == nil || !strings.Contains(err.Error(), "UserErrorCoreCountSubscriptionQuotaReached") || !strings.Contains(err.Error(), "Total Regional Cores quota") {
		t.Fatalf("a restore to a new VM beyond the quota: %v", err)
	}
	jobs, err := bf.NewBackupJobsClient().NewListPager("v1", "vaultrg", &armrecoveryservicesbackup.BackupJobsClientListOptions{Filter: to.Ptr("operation eq 'Restore'")}).NextPage(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(jobs.Value) != 1 || *jobs.Value[0].Properties.GetJob().Status != "Failed" {
		t.Fatalf("restore jobs: %+v", jobs.Value)
	}
	if resp, _ := e.Do("GET", *alr.TargetVirtualMachineID+"?api-version=2024-03-01", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the refused VM exists: %d", resp.StatusCode)
	}

	setCores(4)
	if vr := validate(); len(vr) != 0 {
		t.Fatalf("validation with room for the VM: %+v", *vr[0].Code)
	}
}
