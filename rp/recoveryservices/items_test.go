package recoveryservices_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/safehold/safehold/blob/blobtest"
	"github.com/safehold/safehold/blob/local"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/server"
	"github.com/safehold/safehold/snapshot"
)

// A protected item's delete meets the delete fault rules: a rule with a
// code fails it (the operation Failed with the code, the DeleteBackupData
// job Failed, the item kept with its schedule); a rule with a latency holds it, so its
// backupOperations status and its job read InProgress and the item is
// still there (the status's endTime is the minimum time, as in Azure's
// ProtectedItem_Delete_OperationStatus example); deleting the rule releases it at once (the rule holds for
// ten minutes, the test's deadline is two) and the delete completes.
func TestDeleteHeldByFaultRule(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	v := fixture.ProtectVM(t, e)
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	items := bf.NewProtectedItemsClient()
	del := func() string {
		t.Helper()
		var raw *http.Response
		if _, err := items.Delete(runtime.WithCaptureResponse(ctx, &raw), v.Vault, v.RG, "Azure", v.Container, v.Item, nil); err != nil {
			t.Fatal(err)
		}
		if raw.StatusCode != http.StatusAccepted || raw.Header.Get("Azure-AsyncOperation") == "" {
			t.Fatalf("delete: %d %v", raw.StatusCode, raw.Header)
		}
		return raw.Header.Get("Azure-AsyncOperation")
	}
	deleteJob := func(status string) {
		t.Helper()
		pg := bf.NewBackupJobsClient().NewListPager(v.Vault, v.RG, &armrecoveryservicesbackup.BackupJobsClientListOptions{
			Filter: to.Ptr("operation eq 'DeleteBackupData' and status eq '" + status + "'")})
		page, err := pg.NextPage(ctx)
		if err != nil || len(page.Value) != 1 {
			t.Fatalf("%s DeleteBackupData jobs: %v %s", status, err, show(page.Value))
		}
	}

	// Failed by a rule: the item and its data stay.
	if resp, m := e.Do("POST", faultRules, map[string]any{"name": "fail", "operation": "delete", "path": "*/protectedItems/" + v.Item, "code": "UserErrorDeleteRefused", "count": 1}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("fault rule: %d %v", resp.StatusCode, m)
	}
	st := e.Poll(del())
	if testserver.Field(st, "status") != "Failed" || testserver.Field(st, "error.code") != "UserErrorDeleteRefused" {
		t.Fatalf("failed delete's status: %v", st)
	}
	deleteJob("Failed")
	if _, err := items.Get(ctx, v.Vault, v.RG, "Azure", v.Container, v.Item, nil); err != nil {
		t.Fatalf("item after the failed delete: %v", err)
	}
	// Its schedule stays too: a day later its scheduled backup has run.
	backsUpADayLater(t, e, v)

	// Held by a rule, then released by its deletion.
	if resp, m := e.Do("POST", faultRules, map[string]any{"name": "hold", "operation": "delete", "path": "*/protectedItems/" + v.Item, "latency": "10m"}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("fault rule: %d %v", resp.StatusCode, m)
	}
	op := del()
	e.WaitFaultRuleHit("the delete held by the rule", "hold")
	_, held := e.Do("GET", op, nil)
	// As Azure's statuses do, an operation still running has the minimum
	// time as its endTime.
	if testserver.Field(held, "status") != "InProgress" || testserver.Field(held, "endTime") != "0001-01-01T00:00:00Z" {
		t.Fatalf("held delete's status: %v", held)
	}
	deleteJob("InProgress")
	if _, err := items.Get(ctx, v.Vault, v.RG, "Azure", v.Container, v.Item, nil); err != nil {
		t.Fatalf("item while its delete is held: %v", err)
	}
	if resp, m := e.Do("DELETE", "/providers/Safehold.Admin/faultRules/hold?api-version=2024-01-01", nil); resp.StatusCode != 200 {
		t.Fatalf("delete the rule: %d %v", resp.StatusCode, m)
	}
	if st := e.Poll(op); testserver.Field(st, "status") != "Succeeded" {
		t.Fatalf("released delete's status: %v", st)
	}
	deleteJob("Completed")
	if _, err := items.Get(ctx, v.Vault, v.RG, "Azure", v.Container, v.Item, nil); err == nil {
		t.Fatal("the item is still there after its delete completed")
	}
}

// TestProtectedItemPolicyType: a VM protected item reports the type of its
// policy (policyType, which armrecoveryservicesbackup v4.2.0 reads at
// api-version 2025-02-01 and Safehold did not send): V1 for the
// DefaultPolicy, V2 once the item is moved to the EnhancedPolicy; a
// stopped item without a policy reports none.
func TestProtectedItemPolicyType(t *testing.T) {
	e := testserver.Start(t)
	v := fixture.ProtectVM(t, e)
	vault := "/subscriptions/" + e.Sub + "/resourceGroups/" + v.RG + "/providers/Microsoft.RecoveryServices/vaults/" + v.Vault
	item := vault + "/backupFabrics/Azure/protectionContainers/" + v.Container + "/protectedItems/" + v.Item
	const ver = "?api-version=2025-02-01"
	policyType := func() any {
		t.Helper()
		resp, m := e.Do("GET", item+ver, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("GET item: %d %v", resp.StatusCode, m)
		}
		return testserver.Field(m, "properties.policyType")
	}
	if got := policyType(); got != "V1" {
		t.Fatalf("policyType with DefaultPolicy: %v", got)
	}
	put := func(policyID string) {
		t.Helper()
		resp, m := e.Do("PUT", item+ver, `{"properties":{"protectedItemType":"Microsoft.Compute/virtualMachines","sourceResourceId":"`+v.VMID+`","policyId":"`+policyID+`"}}`)
		if resp.StatusCode != 202 && resp.StatusCode != 200 {
			t.Fatalf("PUT item: %d %v", resp.StatusCode, m)
		}
		if az := resp.Header.Get("Azure-AsyncOperation"); az != "" {
			if st := e.Poll(az); st["status"] != "Succeeded" {
				t.Fatalf("PUT item: %v", st)
			}
		}
	}
	put(vault + "/backupPolicies/EnhancedPolicy")
	if got := policyType(); got != "V2" {
		t.Fatalf("policyType with EnhancedPolicy: %v", got)
	}
	put("")
	if got := policyType(); got != nil {
		t.Fatalf("policyType of a stopped item: %v", got)
	}
}

// TestResumeAfterSuspend: an item with recovery points is Protected again
// when a policy is set after BackupsSuspended (IRPending is only for items
// never backed up).
func TestResumeAfterSuspend(t *testing.T) {
	e := testserver.StartWithGroups(t, "vmrg", "vaultrg")
	vm := mkVM(t, e, "vmrg", "app", 0, 1<<20)
	const v = "?api-version=2019-05-13"
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/rv"
	mkVault(t, e, R+"?api-version=2016-06-01", "westus")
	I := R + "/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;vmrg;app/protectedItems/VM;iaasvmcontainerv2;vmrg;app"
	policy := R + "/backupPolicies/DefaultPolicy"
	put := func(what string, props map[string]any) map[string]any {
		t.Helper()
		props["protectedItemType"], props["sourceResourceId"] = "Microsoft.Compute/virtualMachines", vm.ID
		resp, m := e.Do("PUT", I+v, map[string]any{"properties": props})
		must(t, what, resp, m, 202)
		if st := pollStatus(t, e, resp); str(st, "status") != "Succeeded" {
			t.Fatalf("%s: %v", what, st)
		}
		resp, m = e.Do("GET", I+v, nil)
		must(t, what+": get", resp, m, 200)
		return m
	}
	if m := put("protect", map[string]any{"policyId": policy}); str(m, "properties.protectionState") != "IRPending" {
		t.Fatalf("protected: %v", m)
	}
	// Suspended before any backup, resumed: still IRPending.
	if m := put("suspend", map[string]any{"protectionState": "BackupsSuspended", "policyId": policy}); str(m, "properties.protectionState") != "BackupsSuspended" {
		t.Fatalf("suspended: %v", m)
	}
	if m := put("resume", map[string]any{"policyId": policy}); str(m, "properties.protectionState") != "IRPending" {
		t.Fatalf("resumed without points: %v", m)
	}
	// An expiry that is not a date-time is refused; a future one is kept.
	resp, m := e.Do("POST", I+"/backup"+v, []byte(`{"properties":{"objectType":"IaasVMBackupRequest","recoveryPointExpiryTimeInUTC":"next tuesday"}}`))
	must(t, "backup with a bad expiry", resp, m, 400)
	resp, m = e.Do("POST", I+"/backup"+v, map[string]any{"properties": map[string]any{"objectType": "IaasVMBackupRequest", "recoveryPointExpiryTimeInUTC": "2099-12-01T02:16:20.3156909Z"}})
	must(t, "backup", resp, m, 202)
	if job := waitJob(t, e, R, str(pollStatus(t, e, resp), "properties.jobId"), v); str(job, "properties.status") != "Completed" || str(job, "properties.extendedInfo.propertyBag.Warning") != "" {
		t.Fatalf("backup %v", job)
	}
	resp, m = e.Do("GET", I+"/recoveryPoints"+v, nil)
	must(t, "points", resp, m, 200)
	if pts := m["value"].([]any); len(pts) != 1 || !strings.HasPrefix(str(pts[0].(map[string]any), "properties.recoveryPointProperties.expiryTime"), "2099-12-01T02:16:20") {
		t.Fatalf("points %v", m)
	}
	if m := put("suspend", map[string]any{"protectionState": "BackupsSuspended"}); str(m, "properties.protectionState") != "BackupsSuspended" ||
		str(m, "properties.extendedInfo.recoveryPointCount") != "1" {
		t.Fatalf("suspended: %v", m)
	}
	if m := put("resume", map[string]any{"policyId": policy}); str(m, "properties.protectionState") != "Protected" {
		t.Fatalf("resumed with a recovery point: %s, want Protected", str(m, "properties.protectionState"))
	}
	// Stopped (policy removed) then resumed likewise.
	if m := put("stop", map[string]any{"policyId": ""}); str(m, "properties.protectionState") != "ProtectionStopped" {
		t.Fatalf("stopped: %v", m)
	}
	if m := put("resume", map[string]any{"policyId": policy}); str(m, "properties.protectionState") != "Protected" {
		t.Fatalf("resumed after stop: %v", m)
	}
}

// TestDeletedItemTakesNoBackup deletes a protected VM's backup data (soft
// delete off): the delete holds the item's lease from deleting its data
// until the item is gone. The delete is held inside the item's data (the
// deletion of its vault-tier copy); a backup of the item asked for
// meanwhile must not record a point that outlives the item: the item is
// already gone (404), or its backup records nothing. (A vault's items
// went one after the other this way in its resource group's delete, when
// that deleted protected items: the first item's lease was free between
// its data's deletion and its own, and such a backup left a recovery
// point and its snapshot behind.)
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
	resp, m := e.Do("PUT", R+"/backupconfig/vaultconfig"+v, map[string]any{"properties": map[string]any{"softDeleteFeatureState": "Disabled"}})
	must(t, "soft delete off", resp, m, 200)
	protect(t, e, item("b")+v, mkVM(t, e, "vmrg", "b", 0, 1<<20).ID, R+"/backupPolicies/DefaultPolicy")
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
	resp, m = e.Do("DELETE", item("b")+v, nil)
	must(t, "delete backup data", resp, m, 202)
	<-entered // the delete holds b's lease, deleting b's vault copy
	// Accepted while the item is there, its backup waits for the item's
	// lease, and must then record nothing.
	jobID, accepted := backup("b")
	unhold()
	if j := waitJob(t, e, R, str(pollStatus(t, e, resp), "properties.jobId"), v); str(j, "properties.status") != "Completed" {
		t.Fatalf("delete backup data: %v", j)
	}
	if accepted {
		if j := waitJob(t, e, R, jobID, v); str(j, "properties.status") == "Completed" {
			t.Errorf("the backup of the deleted item completed: %v", j)
		}
	}
	if pts, err := protection.ListRecoveryPoints(e.Ctx(), e.Server.Store, item("b")); err != nil || len(pts) != 0 {
		t.Errorf("recovery points of the deleted item b: %d %v", len(pts), err)
	}
	if n := listSnapshots(t, e); n != 0 {
		t.Errorf("snapshots left by the deleted item: %d", n)
	}
}

// A vault's security PIN (six digits, valid five minutes, the newest one
// only) confirms deleting backup data when the delete carries it: a wrong,
// replaced, expired or spent PIN is refused with 400 and the item stays;
// the current one lets one delete through.
func TestSecurityPIN(t *testing.T) {
	e, R, I, _ := protectedApp(t)
	ctx := e.Ctx()
	const v = rsAPI
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	shift := time.Duration(0) // the server's clock ahead of real time
	pin := func() string {
		t.Helper()
		r, err := bf.NewSecurityPINsClient().Get(ctx, "rv", "vaultrg", nil)
		if err != nil {
			t.Fatal(err)
		}
		const unixEpochTicks = 621355968000000000
		exp := time.Unix(0, (*r.ExpiryTimeInUTCTicks-unixEpochTicks)*100)
		if len(*r.SecurityPIN) != 6 || strings.Trim(*r.SecurityPIN, "0123456789") != "" || *r.Token != *r.SecurityPIN ||
			exp.Before(time.Now().Add(shift+4*time.Minute)) || exp.After(time.Now().Add(shift+6*time.Minute)) {
			t.Fatalf("security PIN: %s (expires %s)", show(r), exp)
		}
		return *r.SecurityPIN
	}
	del := func(p string) (*http.Response, map[string]any) {
		return e.Do("DELETE", I+v, nil, testserver.Header("x-ms-security-pin", p))
	}
	old := pin()
	cur := pin()
	for cur == old {
		cur = pin()
	}
	wrong := "x" + cur[1:]
	for _, p := range []string{wrong, old} {
		if resp, m := del(p); resp.StatusCode != 400 || str(m, "error.code") != "UserErrorSecurityPinInvalid" {
			t.Fatalf("delete with PIN %s (current %s): %d %v", p, cur, resp.StatusCode, m)
		}
	}
	advanceClock(t, e, "PT6M")
	shift = 6 * time.Minute
	if resp, m := del(cur); resp.StatusCode != 400 || str(m, "error.code") != "UserErrorSecurityPinExpired" {
		t.Fatalf("delete with an expired PIN: %d %v", resp.StatusCode, m)
	}
	resp, m := e.Do("GET", I+v, nil)
	must(t, "the item after the refused deletes", resp, m, 200)
	p := pin()
	resp, m = del(p)
	must(t, "delete with the current PIN", resp, m, 202)
	if st := e.Poll(resp.Header.Get("Azure-AsyncOperation")); str(st, "status") != "Succeeded" {
		t.Fatalf("delete: %v", st)
	}
	// A PIN confirms one delete: another item's delete with it is refused.
	second := mkVM(t, e, "vmrg", "second", 0, 1<<20)
	I2 := R + "/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;vmrg;second/protectedItems/VM;iaasvmcontainerv2;vmrg;second"
	protect(t, e, I2+v, second.ID, R+"/backupPolicies/DefaultPolicy")
	if resp, m := e.Do("DELETE", I2+v, nil, testserver.Header("x-ms-security-pin", p)); resp.StatusCode != 400 || str(m, "error.code") != "UserErrorSecurityPinInvalid" {
		t.Fatalf("delete with a spent PIN: %d %v", resp.StatusCode, m)
	}
	resp, m = e.Do("POST", R+"/backupSecurityPIN"+v, map[string]any{"resourceGuardOperationRequests": []string{"x"}})
	if resp.StatusCode != 400 {
		t.Fatalf("PIN for a resource guard operation: %d %v", resp.StatusCode, m)
	}
}

// TestEnhancedPolicyItemStaysEnhanced: a VM moves from a Standard (V1)
// policy to an Enhanced (V2) one but never back, as Azure's documentation
// says ("Backup doesn't allow changing the policy type to Standard after
// you enable a VM backup with the Enhanced policy"): az backup item
// set-policy (the SDK's protected item CreateOrUpdate) to a Standard
// policy, or resuming a stopped item with one, is 400
// BMSUserErrorInvalidPolicyInput naming properties.policyId, and the item
// keeps its policy. A policy's own type does not change either (400 naming
// properties.policyType): editing it would move its items across. Before,
// each was accepted.
func TestEnhancedPolicyItemStaysEnhanced(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	v := fixture.ProtectVM(t, e)
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	items, policies := bf.NewProtectedItemsClient(), bf.NewProtectionPoliciesClient()
	vault := "/subscriptions/" + e.Sub + "/resourceGroups/" + v.RG + "/providers/Microsoft.RecoveryServices/vaults/" + v.Vault
	setPolicy := func(policy string) error {
		_, err := items.CreateOrUpdate(ctx, v.Vault, v.RG, "Azure", v.Container, v.Item, armrecoveryservicesbackup.ProtectedItemResource{
			Properties: &armrecoveryservicesbackup.AzureIaaSComputeVMProtectedItem{SourceResourceID: to.Ptr(v.VMID), PolicyID: to.Ptr(vault + "/backupPolicies/" + policy)}}, nil)
		return err
	}
	policyOf := func(want string) {
		t.Helper()
		e.WaitFor("the item's policy "+want, func() bool {
			it, err := items.Get(ctx, v.Vault, v.RG, "Azure", v.Container, v.Item, nil)
			if err != nil {
				t.Fatal(err)
			}
			p := it.Properties.GetProtectedItem()
			return p.PolicyName != nil && *p.PolicyName == want
		})
	}
	refused := func(what string, err error, field string) {
		t.Helper()
		if st, code := testserver.ErrorOf(err); st != 400 || code != "BMSUserErrorInvalidPolicyInput" || !strings.Contains(err.Error(), field) {
			t.Fatalf("%s: %v, want 400 BMSUserErrorInvalidPolicyInput naming %s", what, err, field)
		}
	}
	if err := setPolicy("EnhancedPolicy"); err != nil {
		t.Fatalf("Standard to Enhanced: %v", err)
	}
	policyOf("EnhancedPolicy")
	refused("Enhanced to Standard", setPolicy("DefaultPolicy"), "properties.policyId")
	policyOf("EnhancedPolicy")
	// Stopped (retain data), then resumed: with the Enhanced policy only.
	resp, m := e.Do("PUT", vault+"/backupFabrics/Azure/protectionContainers/"+v.Container+"/protectedItems/"+v.Item+"?api-version=2016-12-01",
		`{"properties":{"protectedItemType":"Microsoft.Compute/virtualMachines","sourceResourceId":"`+v.VMID+`","policyId":""}}`)
	if resp.StatusCode != 202 || e.Poll(resp.Header.Get("Azure-AsyncOperation"))["status"] != "Succeeded" {
		t.Fatalf("stop protection: %d %v", resp.StatusCode, m)
	}
	refused("resume with a Standard policy", setPolicy("DefaultPolicy"), "properties.policyId")
	if err := setPolicy("EnhancedPolicy"); err != nil {
		t.Fatalf("resume with the Enhanced policy: %v", err)
	}
	policyOf("EnhancedPolicy")
	// A policy keeps its type.
	for name, other := range map[string]string{"DefaultPolicy": "EnhancedPolicy", "EnhancedPolicy": "DefaultPolicy"} {
		p, err := policies.Get(ctx, v.Vault, v.RG, other, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = policies.CreateOrUpdate(ctx, v.Vault, v.RG, name, armrecoveryservicesbackup.ProtectionPolicyResource{Properties: p.Properties}, nil)
		refused("PUT of "+name+" with "+other+"'s type", err, "properties.policyType")
	}
}

// TestSuspendedItemKeepsItsLatestPoint: an item whose backups are
// suspended (protectionState BackupsSuspended: stop protection and retain
// the data as per policy) keeps its points as the policy says but the
// latest, which is kept until its backup data is deleted, as in Azure:
// every point expired, the last one with them, which left the item with
// no backup at all.
func TestSuspendedItemKeepsItsLatestPoint(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	e, clk, vm, _ := clockedVM(t, start, "app")
	ctx := e.Ctx()
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/rv"
	mkVault(t, e, R+"?api-version=2023-04-01", "westus")
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	at := start.Add(2 * time.Hour)
	policy, err := bf.NewProtectionPoliciesClient().CreateOrUpdate(ctx, "rv", "vaultrg", "daily7", armrecoveryservicesbackup.ProtectionPolicyResource{
		Properties: &armrecoveryservicesbackup.AzureIaaSVMProtectionPolicy{BackupManagementType: to.Ptr("AzureIaasVM"), TimeZone: to.Ptr("UTC"),
			SchedulePolicy: &armrecoveryservicesbackup.SimpleSchedulePolicy{SchedulePolicyType: to.Ptr("SimpleSchedulePolicy"),
				ScheduleRunFrequency: to.Ptr(armrecoveryservicesbackup.ScheduleRunTypeDaily), ScheduleRunTimes: []*time.Time{&at}},
			RetentionPolicy: &armrecoveryservicesbackup.LongTermRetentionPolicy{RetentionPolicyType: to.Ptr("LongTermRetentionPolicy"),
				DailySchedule: &armrecoveryservicesbackup.DailyRetentionSchedule{RetentionTimes: []*time.Time{&at},
					RetentionDuration: &armrecoveryservicesbackup.RetentionDuration{Count: to.Ptr[int32](7), DurationType: to.Ptr(armrecoveryservicesbackup.RetentionDurationTypeDays)}}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	const container, item = "IaasVMContainer;iaasvmcontainerv2;vmrg;app", "VM;iaasvmcontainerv2;vmrg;app"
	put := func(state armrecoveryservicesbackup.ProtectionState) {
		t.Helper()
		props := &armrecoveryservicesbackup.AzureIaaSComputeVMProtectedItem{SourceResourceID: to.Ptr(vm.ID), PolicyID: policy.ID}
		if state != "" {
			props.ProtectionState = to.Ptr(state)
		}
		if _, err := bf.NewProtectedItemsClient().CreateOrUpdate(ctx, "rv", "vaultrg", "Azure", container, item, armrecoveryservicesbackup.ProtectedItemResource{Properties: props}, nil); err != nil {
			t.Fatal(err)
		}
		e.WaitFor("the item's protection state", func() bool {
			it, err := bf.NewProtectedItemsClient().Get(ctx, "rv", "vaultrg", "Azure", container, item, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := it.Properties.(*armrecoveryservicesbackup.AzureIaaSComputeVMProtectedItem)
			return state == "" || ok && got.ProtectionState != nil && *got.ProtectionState == state
		})
	}
	points := func() []*armrecoveryservicesbackup.RecoveryPointResource {
		var out []*armrecoveryservicesbackup.RecoveryPointResource
		for p := range fixture.Pages(t, bf.NewRecoveryPointsClient().NewListPager("rv", "vaultrg", "Azure", container, item, nil)) {
			out = append(out, p.Value...)
		}
		return out
	}
	put("")
	for d := 0; d < 3; d++ { // 02:00 on January 1st, 2nd and 3rd
		clk.Set(at.AddDate(0, 0, d))
		e.WaitFor("the day's backup", func() bool {
			e.Server.Jobs.Notify()
			return len(points()) == d+1
		})
	}
	put(armrecoveryservicesbackup.ProtectionStateBackupsSuspended)
	clk.Set(at.AddDate(0, 0, 40)) // every point's 7 days are long past
	e.WaitFor("the suspended item's retention", func() bool {
		e.Server.Jobs.Notify()
		return len(points()) <= 1
	})
	pts := points()
	if len(pts) != 1 {
		t.Fatalf("a suspended item lists %d points, want its latest", len(pts))
	}
	if p := pts[0].Properties.(*armrecoveryservicesbackup.IaasVMRecoveryPoint); !p.RecoveryPointTime.Equal(at.AddDate(0, 0, 2)) {
		t.Fatalf("kept point of %v, want the latest (%v)", p.RecoveryPointTime, at.AddDate(0, 0, 2))
	}
	// Every job ends, the last backup's too: the item's schedule was
	// stopped (suspended) while it could still run, and then the clock
	// moved on 38 days, after which the next claim collected the fence its
	// writes were made under, and its job stayed InProgress for ever.
	e.WaitFor("every job to end", func() bool {
		resp, m := e.Do("GET", R+"/backupJobs?api-version=2024-04-01", nil)
		jobs, _ := m["value"].([]any)
		if resp.StatusCode != 200 || len(jobs) == 0 {
			t.Fatalf("the vault's jobs: %d %v", resp.StatusCode, m)
		}
		for _, j := range jobs {
			if testserver.Field(j.(map[string]any), "properties.status") == "InProgress" {
				return false
			}
		}
		return true
	})
}

// TestProtectedItemPutWithoutProperties: a protected item's PUT with no
// properties ({}, what the Go SDK sends for a ProtectedItemResource
// without them) is 400 BMSUserErrorInvalidInput saying what to give, on
// an existing item as on a new one, and starts nothing: on an existing
// item it answered 202 and ran a ConfigureBackup job, as if a policy had
// been given.
func TestProtectedItemPutWithoutProperties(t *testing.T) {
	e, _ := vaultEnv(t, "v1", "vmrg")
	mkVM(t, e, "vmrg", "vm1", 0, 1<<20)
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	protectVM1(t, e, bf)
	jobs := func() int {
		n := 0
		for pg := bf.NewBackupJobsClient().NewListPager("v1", "vaultrg", nil); pg.More(); {
			page, err := pg.NextPage(e.Ctx())
			if err != nil {
				t.Fatal(err)
			}
			n += len(page.Value)
		}
		return n
	}
	before := jobs()
	items := bf.NewProtectedItemsClient()
	for _, item := range []string{vm1Item, "VM;iaasvmcontainerv2;vmrg;vm2"} {
		container := "IaasVMContainer;" + item[len("VM;"):]
		_, err := items.CreateOrUpdate(e.Ctx(), "v1", "vaultrg", "Azure", container, item, armrecoveryservicesbackup.ProtectedItemResource{}, nil)
		if st, code := testserver.ErrorOf(err); st != 400 || code != "BMSUserErrorInvalidInput" {
			t.Errorf("PUT {} of %s: %v, want 400 BMSUserErrorInvalidInput", item, err)
		}
	}
	if n := jobs(); n != before {
		t.Errorf("the PUTs of {} made %d jobs", n-before)
	}
}
