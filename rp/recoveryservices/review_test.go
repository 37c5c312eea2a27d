package recoveryservices_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservices"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestCheckNameAvailabilityAndLocation: the vaults client's
// CheckNameAvailability (2023-04-01) answers per resource group, and a
// vault's location is normalized as Azure does while matching any case.
func TestCheckNameAvailabilityAndLocation(t *testing.T) {
	e := testserver.StartWithGroups(t, "rg1", "rg2")
	ctx := e.Ctx()
	vf := testserver.Factory(e, armrecoveryservices.NewClientFactory)
	v, err := fixture.Wait(vf.NewVaultsClient().BeginCreateOrUpdate(ctx, "rg1", "Vault-A", armrecoveryservices.Vault{
		Location: to.Ptr("West US"), SKU: &armrecoveryservices.SKU{Name: to.Ptr(armrecoveryservices.SKUNameStandard)},
		Properties: &armrecoveryservices.VaultProperties{}}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if *v.Location != "westus" || *v.Name != "Vault-A" {
		t.Fatalf("vault location %q name %q, want westus and Vault-A", *v.Location, *v.Name)
	}
	// Updating with another spelling of the same region is not a move.
	if v, err = fixture.Wait(vf.NewVaultsClient().BeginCreateOrUpdate(ctx, "rg1", "Vault-A", armrecoveryservices.Vault{
		Location: to.Ptr("WESTUS"), SKU: &armrecoveryservices.SKU{Name: to.Ptr(armrecoveryservices.SKUNameStandard)}, Properties: &armrecoveryservices.VaultProperties{}}, nil)); err != nil || *v.Location != "westus" {
		t.Fatalf("update: %v %v", err, v.Location)
	}
	for page := range fixture.Pages(t, vf.NewVaultsClient().NewListBySubscriptionIDPager(nil)) {
		for _, x := range page.Value {
			if *x.Location != "westus" {
				t.Fatalf("listed location %q", *x.Location)
			}
		}
	}

	c := vf.NewClient()
	check := func(rg, name string) armrecoveryservices.ClientCheckNameAvailabilityResponse {
		t.Helper()
		res, err := c.CheckNameAvailability(ctx, rg, "West US", armrecoveryservices.CheckNameAvailabilityParameters{Name: to.Ptr(name), Type: to.Ptr("Microsoft.RecoveryServices/Vaults")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if r := check("rg1", "vault-a"); r.NameAvailable == nil || *r.NameAvailable || r.Reason == nil || *r.Reason != "AlreadyExists" || r.Message == nil || *r.Message == "" {
		t.Fatalf("taken name: %+v", r)
	}
	if r := check("rg2", "Vault-A"); r.NameAvailable == nil || !*r.NameAvailable {
		t.Fatalf("name in another resource group: %+v", r)
	}
	if r := check("rg1", "free-name"); r.NameAvailable == nil || !*r.NameAvailable {
		t.Fatalf("free name: %+v", r)
	}
	if r := check("rg1", "-bad"); r.NameAvailable == nil || *r.NameAvailable || *r.Reason != "Invalid" {
		t.Fatalf("invalid name: %+v", r)
	}
	// The raw request of the review, exactly.
	resp, m := e.Do("POST", "/subscriptions/"+e.Sub+"/resourceGroups/rg1/providers/Microsoft.RecoveryServices/locations/westus/checkNameAvailability?api-version=2023-04-01",
		[]byte(`{"type":"Microsoft.RecoveryServices/Vaults","name":"x"}`))
	must(t, "raw checkNameAvailability", resp, m, 200)
	if m["nameAvailable"] != false || m["reason"] != "Invalid" { // one character is too short
		t.Fatalf("raw check %v", m)
	}
}

// TestVaultRegionOnly: discovery lists only the VMs of the vault's region
// and protecting a VM of another region is refused; the SDK's
// ProtectedItemOperationStatusesClient decodes the enable status (which
// carries the item).
func TestVaultRegionOnly(t *testing.T) {
	e := testserver.StartWithGroups(t, "vmrg", "vaultrg")
	ctx := e.Ctx()
	west := mkVMIn(t, e, "vmrg", "westvm", "West US", 0, 1<<20)
	east := mkVMIn(t, e, "vmrg", "eastvm", "eastus", 0, 1<<20)
	const v = "?api-version=2016-12-01"
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/rv"
	resp, m := e.Do("PUT", R+"?api-version=2016-06-01", map[string]any{"location": "WestUS", "sku": map[string]any{"name": "Standard"}})
	must(t, "vault", resp, m, 201)

	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	var hr *http.Response
	if _, err := bf.NewProtectionContainersClient().Refresh(runtime.WithCaptureResponse(ctx, &hr), "rv", "vaultrg", "Azure", nil); err != nil {
		t.Fatal(err)
	}
	loc := hr.Header.Get("Location")
	e.WaitFor("refresh", func() bool {
		resp, m = e.Do("GET", loc, nil)
		return resp.StatusCode == 204
	})
	resp, m = e.Do("GET", R+"/backupProtectableItems"+v+"&$filter="+url.QueryEscape("backupManagementType eq 'AzureIaasVM'"), nil)
	must(t, "protectable", resp, m, 200)
	var names []string
	for _, x := range m["value"].([]any) {
		names = append(names, str(x.(map[string]any), "properties.friendlyName"))
	}
	if len(names) != 1 || names[0] != "westvm" {
		t.Fatalf("protectable items %v, want only westvm (the vault's region)", names)
	}

	policy := R + "/backupPolicies/DefaultPolicy"
	item := func(vm string) string {
		return R + "/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;vmrg;" + vm + "/protectedItems/VM;iaasvmcontainerv2;vmrg;" + vm
	}
	resp, m = e.Do("PUT", item("eastvm")+v, map[string]any{"properties": map[string]any{"protectedItemType": "Microsoft.Compute/virtualMachines", "sourceResourceId": east.ID, "policyId": policy}})
	must(t, "protect eastvm", resp, m, 400)
	if msg := str(m, "error.message"); str(m, "error.code") != "BMSUserErrorCrossRegionVMNotSupported" || !strings.Contains(msg, "eastus") || !strings.Contains(msg, "westus") {
		t.Fatalf("cross-region error %v", m)
	}
	resp, m = e.Do("GET", item("eastvm")+v, nil)
	must(t, "eastvm not protected", resp, m, 404)

	// The VM of the vault's region is protected through the SDK; the status
	// decodes with its job id.
	pi := bf.NewProtectedItemsClient()
	if _, err := pi.CreateOrUpdate(runtime.WithCaptureResponse(ctx, &hr), "rv", "vaultrg", "Azure", "IaasVMContainer;iaasvmcontainerv2;vmrg;westvm", "VM;iaasvmcontainerv2;vmrg;westvm",
		armrecoveryservicesbackup.ProtectedItemResource{Properties: &armrecoveryservicesbackup.AzureIaaSComputeVMProtectedItem{SourceResourceID: to.Ptr(west.ID), PolicyID: to.Ptr(policy)}}, nil); err != nil {
		t.Fatal(err)
	}
	st, err := bf.NewProtectedItemOperationStatusesClient().Get(ctx, "rv", "vaultrg", "Azure", "IaasVMContainer;iaasvmcontainerv2;vmrg;westvm", "VM;iaasvmcontainerv2;vmrg;westvm",
		testserver.OpID(t, hr.Header.Get("Azure-AsyncOperation")), nil)
	if err != nil {
		t.Fatal(err)
	}
	ji, ok := st.Properties.(*armrecoveryservicesbackup.OperationStatusJobExtendedInfo)
	if st.Status == nil || *st.Status != armrecoveryservicesbackup.OperationStatusValuesSucceeded || !ok || ji.JobID == nil || *ji.JobID == "" || st.EndTime == nil {
		t.Fatalf("enable status %+v", st)
	}
	if _, err := bf.NewJobDetailsClient().Get(ctx, "rv", "vaultrg", *ji.JobID, nil); err != nil {
		t.Fatalf("job %s of the status: %v", *ji.JobID, err)
	}
	resp, m = e.Do("GET", hr.Header.Get("Azure-AsyncOperation"), nil)
	if str(m, "properties.protectionState") != "IRPending" || str(m, "properties.friendlyName") != "westvm" || !strings.HasSuffix(str(m, "id"), "/protectedItems/VM;iaasvmcontainerv2;vmrg;westvm") {
		t.Fatalf("raw enable status %v", m)
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
	resp, m := e.Do("PUT", R+"?api-version=2016-06-01", map[string]any{"location": "westus", "sku": map[string]any{"name": "Standard"}})
	must(t, "vault", resp, m, 201)
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
	resp, m = e.Do("POST", I+"/backup"+v, []byte(`{"properties":{"objectType":"IaasVMBackupRequest","recoveryPointExpiryTimeInUTC":"next tuesday"}}`))
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

// TestPolicyRetentionTimesMayDifferFromSchedule: IaaS daily and weekly
// retention times that differ from the schedule's run times are accepted
// and kept as sent, as Azure does (its IaaS_v2_daily example runs at 10:00
// and retains at 08:00); absent ones take the schedule's.
func TestPolicyRetentionTimesMayDifferFromSchedule(t *testing.T) {
	e := testserver.StartWithGroups(t, "vaultrg")
	ctx := e.Ctx()
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/rv"
	resp, m := e.Do("PUT", R+"?api-version=2016-06-01", map[string]any{"location": "westus", "sku": map[string]any{"name": "Standard"}})
	must(t, "vault", resp, m, 201)
	const v = "?api-version=2016-12-01"
	policy := func(sched, daily, weekly string) map[string]any {
		ret := map[string]any{"retentionPolicyType": "LongTermRetentionPolicy"}
		sp := map[string]any{"schedulePolicyType": "SimpleSchedulePolicy", "scheduleRunFrequency": "Daily", "scheduleRunTimes": []string{sched}}
		if daily != "-" {
			ret["dailySchedule"] = map[string]any{"retentionDuration": map[string]any{"count": 30, "durationType": "Days"}}
			if daily != "" {
				ret["dailySchedule"].(map[string]any)["retentionTimes"] = []string{daily}
			}
		} else {
			sp["scheduleRunFrequency"], sp["scheduleRunDays"] = "Weekly", []string{"Sunday"}
		}
		if weekly != "" {
			ret["weeklySchedule"] = map[string]any{"daysOfTheWeek": []string{"Sunday"}, "retentionTimes": []string{weekly}, "retentionDuration": map[string]any{"count": 12, "durationType": "Weeks"}}
		}
		return map[string]any{"properties": map[string]any{"backupManagementType": "AzureIaasVM", "timeZone": "UTC", "schedulePolicy": sp, "retentionPolicy": ret}}
	}
	for _, c := range []struct {
		name, sched, daily, weekly, wantDaily string
	}{
		{"DailyOff", "2018-01-24T10:00:00Z", "2018-01-24T10:30:00Z", "", "2018-01-24T10:30:00Z"},
		{"WeeklyOff", "2018-01-24T10:00:00Z", "2018-01-24T10:00:00Z", "2018-01-24T11:00:00Z", "2018-01-24T10:00:00Z"},
		{"WeeklyOnlyOff", "2018-01-24T22:00:00Z", "-", "2018-01-24T10:00:00Z", ""},
		{"DailyAbsent", "2018-01-24T22:00:00Z", "", "", "2018-01-24T22:00:00Z"},
	} {
		resp, m := e.Do("PUT", R+"/backupPolicies/"+c.name+v, policy(c.sched, c.daily, c.weekly))
		must(t, c.name, resp, m, 200)
		ret := testserver.Field(m, "properties.retentionPolicy").(map[string]any)
		if c.wantDaily != "" {
			if got := fmt.Sprint(testserver.Field(ret, "dailySchedule.retentionTimes")); !strings.Contains(got, c.wantDaily) {
				t.Fatalf("%s: daily retention times %s, want %s", c.name, got, c.wantDaily)
			}
		}
		if c.weekly != "" {
			if got := fmt.Sprint(testserver.Field(ret, "weeklySchedule.retentionTimes")); !strings.Contains(got, c.weekly) {
				t.Fatalf("%s: weekly retention times %s, want %s as sent", c.name, got, c.weekly)
			}
		}
	}
	// Through the SDK: a policy run at 23:30 retaining at 22:00.
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	got, err := bf.NewProtectionPoliciesClient().CreateOrUpdate(ctx, "rv", "vaultrg", "SDKOff", sdkDailyPolicy(23, 30, 22, 0), nil)
	if err != nil {
		t.Fatal(err)
	}
	ip := got.Properties.(*armrecoveryservicesbackup.AzureIaaSVMProtectionPolicy)
	if rt := ip.RetentionPolicy.(*armrecoveryservicesbackup.LongTermRetentionPolicy).DailySchedule.RetentionTimes; len(rt) != 1 || rt[0].UTC().Hour() != 22 {
		t.Fatalf("SDK policy retention times %v", rt)
	}
}

// sdkDailyPolicy is a daily IaaS policy run at sh:sm with daily retention
// times rh:rm.
func sdkDailyPolicy(sh, sm, rh, rm int) armrecoveryservicesbackup.ProtectionPolicyResource {
	run := time.Date(2024, 1, 1, sh, sm, 0, 0, time.UTC)
	ret := time.Date(2024, 1, 1, rh, rm, 0, 0, time.UTC)
	return armrecoveryservicesbackup.ProtectionPolicyResource{Properties: &armrecoveryservicesbackup.AzureIaaSVMProtectionPolicy{
		TimeZone: to.Ptr("UTC"),
		SchedulePolicy: &armrecoveryservicesbackup.SimpleSchedulePolicy{ScheduleRunFrequency: to.Ptr(armrecoveryservicesbackup.ScheduleRunTypeDaily),
			ScheduleRunTimes: []*time.Time{&run}},
		RetentionPolicy: &armrecoveryservicesbackup.LongTermRetentionPolicy{DailySchedule: &armrecoveryservicesbackup.DailyRetentionSchedule{
			RetentionTimes:    []*time.Time{&ret},
			RetentionDuration: &armrecoveryservicesbackup.RetentionDuration{Count: to.Ptr[int32](30), DurationType: to.Ptr(armrecoveryservicesbackup.RetentionDurationTypeDays)}}},
	}}
}
