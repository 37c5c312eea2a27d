package recoveryservices_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservices"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestRestartKeepsBackups restarts the server between a backup and the next
// one, then restores the first point from the vault tier (its instant
// snapshots deleted with their resource group; its points show InstantRP
// Deleted and HardenedRP Valid then).
func TestRestartKeepsBackups(t *testing.T) {
	e := testserver.StartWithGroups(t, "vmrg", "vaultrg", "out")
	ctx := context.Background()
	vm := mkVM(t, e, "vmrg", "db", 1, 1<<20)
	write := func(b byte) {
		v, err := e.Server.Compute.Volume(ctx, vm.DataDisks[0].DiskID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.WriteAt(bytes.Repeat([]byte{b}, 65536), 0); err != nil {
			t.Fatal(err)
		}
	}
	write(1)
	want := readDisk(t, e.Server.Compute, vm.DataDisks[0].DiskID)
	const v = "?api-version=2024-04-01"
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/rv"
	mkVault(t, e, R+v, "westus")
	I := R + "/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;vmrg;db/protectedItems/VM;iaasvmcontainerv2;vmrg;db"
	protect(t, e, I+v, vm.ID, R+"/backupPolicies/EnhancedPolicy")
	backup := func() {
		resp, m := e.Do("POST", I+"/backup"+v, map[string]any{"properties": map[string]any{"objectType": "IaasVMBackupRequest"}})
		must(t, "backup", resp, m, 202)
		if j := waitJob(t, e, R, str(pollStatus(t, e, resp), "properties.jobId"), v); str(j, "properties.status") != "Completed" {
			t.Fatalf("job %v", j)
		}
	}
	backup()
	resp, m := e.Do("GET", I+"/recoveryPoints"+v, nil)
	first := str(m["value"].([]any)[0].(map[string]any), "name")

	e.Restart()
	write(2)
	backup()
	resp, m = e.Do("GET", I+v, nil)
	if str(m, "properties.extendedInfo.recoveryPointCount") != "2" || str(m, "properties.policyName") != "EnhancedPolicy" {
		t.Fatalf("item after restart %v", m)
	}
	resp, m = e.Do("DELETE", "/subscriptions/"+e.Sub+"/resourcegroups/AzureBackupRG_westus_1?api-version=2021-04-01", nil)
	must(t, "delete snapshot rg", resp, m, 202, 200)
	e.WaitFor("snapshots gone", func() bool { return listSnapshots(t, e) == 0 })
	// Its instant tier is gone, its vault tier stays (before, InstantRP
	// stayed Valid while its snapshots were deleted).
	tiers := func(m map[string]any) string {
		var out []string
		for _, tier := range testserver.Field(m, "properties.recoveryPointTierDetails").([]any) {
			tm := tier.(map[string]any)
			out = append(out, str(tm, "type")+"="+str(tm, "status"))
		}
		return strings.Join(out, ",")
	}
	resp, m = e.Do("GET", I+"/recoveryPoints/"+first+v, nil)
	if got := tiers(m); got != "InstantRP=Deleted,HardenedRP=Valid" {
		t.Fatalf("tiers of a point whose instant snapshots were deleted: %s", got)
	}
	resp, m = e.Do("GET", I+"/recoveryPoints"+v, nil)
	for _, p := range m["value"].([]any) {
		if got := tiers(p.(map[string]any)); got != "InstantRP=Deleted,HardenedRP=Valid" {
			t.Fatalf("tiers of %s listed with its instant snapshots deleted: %s", str(p.(map[string]any), "name"), got)
		}
	}
	resp, m = e.Do("POST", I+"/recoveryPoints/"+first+"/restore"+v, map[string]any{"properties": map[string]any{
		"objectType": "IaasVMRestoreRequest", "recoveryType": "RestoreDisks", "targetResourceGroupId": "/subscriptions/" + e.Sub + "/resourceGroups/out"}})
	must(t, "restore", resp, m, 202)
	if st := pollStatus(t, e, resp); str(st, "status") != "Succeeded" {
		t.Fatalf("restore %v", st)
	}
	id := "/subscriptions/" + e.Sub + "/resourceGroups/out/providers/Microsoft.Compute/disks/"
	resp, m = e.Do("GET", "/subscriptions/"+e.Sub+"/resourceGroups/out/providers/Microsoft.Compute/disks?api-version=2023-04-02", nil)
	found := false
	for _, d := range m["value"].([]any) {
		if n := str(d.(map[string]any), "name"); strings.Contains(n, "datadisk-0") {
			found = true
			if !bytes.Equal(readDisk(t, e.Server.Compute, id+n), want) {
				t.Fatal("vault-tier restore after restart differs from the first backup")
			}
		}
	}
	if !found {
		t.Fatalf("no restored data disk: %v", m)
	}
}

// TestFailedBackupJob shows a backup whose VM is gone: the job fails with
// errorDetails and actionsInfo as strings, the item turns unhealthy.
func TestFailedBackupJob(t *testing.T) {
	const v = "?api-version=2017-07-01"
	e, R, I, vm := vaultAndVM(t, "gone", "?api-version=2016-06-01")
	protect(t, e, I+v, vm.ID, R+"/backupPolicies/DefaultPolicy")
	if err := e.Server.Compute.DeleteVM(context.Background(), vm.ID); err != nil {
		t.Fatal(err)
	}
	resp, m := e.Do("POST", I+"/backup"+v, map[string]any{"properties": map[string]any{"objectType": "IaasVMBackupRequest"}})
	must(t, "backup", resp, m, 202)
	job := waitJob(t, e, R, str(pollStatus(t, e, resp), "properties.jobId"), v)
	errs, _ := testserver.Field(job, "properties.errorDetails").([]any)
	acts, _ := testserver.Field(job, "properties.actionsInfo").([]any)
	if str(job, "properties.status") != "Failed" || len(errs) != 1 || str(errs[0].(map[string]any), "errorString") == "" ||
		len(acts) != 1 || acts[0] != "Retriable" || str(job, "properties.endTime") == "" {
		t.Fatalf("failed job %v", job)
	}
	// errorCode is the Backup error's number (an integer, as the SDK
	// decodes it), never the HTTP status; errorTitle is the error code.
	ed := errs[0].(map[string]any)
	if c, ok := ed["errorCode"].(float64); !ok || c == 400 || c < 100000 || str(ed, "errorTitle") != "UserErrorVmNotFound" {
		t.Fatalf("error details %v", ed)
	}
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	sj, err := bf.NewJobDetailsClient().Get(e.Ctx(), "rv", "vaultrg", str(job, "name"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if ej := sj.Properties.(*armrecoveryservicesbackup.AzureIaaSVMJob).ErrorDetails; len(ej) != 1 || ej[0].ErrorCode == nil || *ej[0].ErrorCode == 400 {
		t.Fatalf("SDK error details %+v", ej)
	}
	resp, m = e.Do("GET", I+v, nil)
	if str(m, "properties.lastBackupStatus") != "Failed" || str(m, "properties.healthStatus") != "ActionRequired" || str(m, "properties.extendedInfo.recoveryPointCount") != "0" {
		t.Fatalf("item %v", m)
	}
	resp, m = e.Do("GET", R+"/backupJobs"+v+"&$filter="+url.QueryEscape("status eq 'Failed' and startTime eq '2000-01-01 12:00:00 AM' and endTime eq '2999-01-01 12:00:00 AM'"), nil)
	if n := len(m["value"].([]any)); n != 1 {
		t.Fatalf("failed jobs in window: %d", n)
	}
	resp, m = e.Do("GET", R+"/backupJobs"+v+"&$filter="+url.QueryEscape("startTime eq '2999-01-01 12:00:00 AM'"), nil)
	if n := len(m["value"].([]any)); n != 0 {
		t.Fatalf("jobs after 2999: %d", n)
	}
}

// TestFakeClock100Days runs a daily policy (02:00 UTC; 5 days of instant
// RPs, 30 daily and 12 weekly (Sunday) vault-tier points) for 100 simulated
// days and checks exactly which points remain in each tier; then restores
// the oldest point, which lives in the vault tier only.
func TestFakeClock100Days(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC) // a Wednesday
	e, clk, vm, vol := clockedVM(t, start, "daily")
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/v100"
	const v = "?api-version=2024-04-01"
	mkVault(t, e, R+"?api-version=2023-04-01", "westus")
	runAt := "2025-01-01T02:00:00Z"
	resp, m := e.Do("PUT", R+"/backupPolicies/daily7"+v, map[string]any{"properties": map[string]any{
		"backupManagementType": "AzureIaasVM", "instantRpRetentionRangeInDays": 5, "timeZone": "UTC",
		"schedulePolicy": map[string]any{"schedulePolicyType": "SimpleSchedulePolicy", "scheduleRunFrequency": "Daily", "scheduleRunTimes": []string{runAt}},
		"retentionPolicy": map[string]any{"retentionPolicyType": "LongTermRetentionPolicy",
			"dailySchedule":  map[string]any{"retentionTimes": []string{runAt}, "retentionDuration": map[string]any{"count": 30, "durationType": "Days"}},
			"weeklySchedule": map[string]any{"daysOfTheWeek": []string{"Sunday"}, "retentionTimes": []string{runAt}, "retentionDuration": map[string]any{"count": 12, "durationType": "Weeks"}}},
	}})
	must(t, "policy", resp, m, 200)
	I := R + "/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;vmrg;daily/protectedItems/VM;iaasvmcontainerv2;vmrg;daily"
	protect(t, e, I+v, vm.ID, R+"/backupPolicies/daily7")

	const days = 100
	block := func(d int) []byte { return bytes.Repeat([]byte{byte(d + 1)}, 4096) }
	for d := 0; d < days; d++ {
		if _, err := vol.WriteAt(block(d), int64(d)*4096); err != nil {
			t.Fatal(err)
		}
		clk.Set(start.AddDate(0, 0, d).Add(2 * time.Hour))
		e.Server.Jobs.Notify()
		e.WaitFor("day's backup", func() bool {
			resp, m := e.Do("GET", R+"/backupJobs"+v+"&$filter="+url.QueryEscape("operation eq 'Backup' and status eq 'Completed'"), nil)
			must(t, "jobs", resp, m, 200)
			return len(m["value"].([]any)) == d+1
		})
	}
	T := start.AddDate(0, 0, days-1).Add(2 * time.Hour)

	// What must remain: daily points younger than 30 days, Sunday points
	// younger than 12 weeks; instant snapshots younger than 5 days.
	wantVault, wantInstant := map[string]bool{}, map[string]bool{}
	for d := 0; d < days; d++ {
		at := start.AddDate(0, 0, d).Add(2 * time.Hour)
		if at.AddDate(0, 0, 30).After(T) || at.Weekday() == time.Sunday && at.AddDate(0, 0, 84).After(T) {
			wantVault[at.Format(time.RFC3339)] = true
		}
		if at.AddDate(0, 0, 5).After(T) {
			wantInstant[at.Format(time.RFC3339)] = true
		}
	}
	if len(wantVault) != 38 || len(wantInstant) != 5 {
		t.Fatalf("expectation %d/%d", len(wantVault), len(wantInstant))
	}
	resp, m = e.Do("GET", I+"/recoveryPoints"+v, nil)
	must(t, "points", resp, m, 200)
	gotVault, gotInstant := map[string]bool{}, map[string]bool{}
	var oldest map[string]any
	for _, p := range m["value"].([]any) {
		pm := p.(map[string]any)
		at := str(pm, "properties.recoveryPointTime")
		pt, _ := time.Parse(time.RFC3339, at)
		key := pt.UTC().Format(time.RFC3339)
		for _, tier := range testserver.Field(pm, "properties.recoveryPointTierDetails").([]any) {
			tm := tier.(map[string]any)
			switch {
			case str(tm, "type") == "HardenedRP" && str(tm, "status") == "Valid":
				gotVault[key] = true
			case str(tm, "type") == "InstantRP" && str(tm, "status") == "Valid":
				gotInstant[key] = true
			case str(tm, "type") == "InstantRP" && str(tm, "status") == "Deleted":
			default:
				t.Fatalf("tier %v", tm)
			}
		}
		if oldest == nil || key < str(oldest, "key") {
			pm["key"] = key
			oldest = pm
		}
	}
	if len(m["value"].([]any)) != len(wantVault) {
		t.Errorf("%d points listed, want %d", len(m["value"].([]any)), len(wantVault))
	}
	sameSet(t, "vault tier", gotVault, wantVault)
	sameSet(t, "instant tier", gotInstant, wantInstant)
	resp, m = e.Do("GET", "/subscriptions/"+e.Sub+"/resourceGroups/AzureBackupRG_westus_1/providers/Microsoft.Compute/snapshots?api-version=2023-04-02", nil)
	must(t, "snapshots", resp, m, 200)
	if n := len(m["value"].([]any)); n != 5 {
		t.Errorf("%d instant snapshots, want 5", n)
	}
	resp, m = e.Do("GET", I+v, nil)
	if str(m, "properties.extendedInfo.recoveryPointCount") != "38" || str(m, "properties.protectionState") != "Protected" {
		t.Errorf("item %v", testserver.Field(m, "properties"))
	}
	if t.Failed() {
		return
	}

	// The oldest point (day 18, a Sunday) is in the vault tier only: restore its disk.
	if k := str(oldest, "key"); k != "2025-01-19T02:00:00Z" {
		t.Fatalf("oldest point %s", k)
	}
	resp, m = e.Do("POST", I+"/recoveryPoints/"+str(oldest, "name")+"/restore"+v, map[string]any{"properties": map[string]any{
		"objectType": "IaasVMRestoreRequest", "recoveryType": "RestoreDisks", "sourceResourceId": vm.ID,
		"targetResourceGroupId": "/subscriptions/" + e.Sub + "/resourceGroups/restorerg", "region": "westus"}})
	must(t, "restore", resp, m, 202)
	if st := pollStatus(t, e, resp); str(st, "status") != "Succeeded" {
		t.Fatalf("restore %v", st)
	}
	resp, m = e.Do("GET", "/subscriptions/"+e.Sub+"/resourceGroups/restorerg/providers/Microsoft.Compute/disks?api-version=2023-04-02", nil)
	must(t, "disks", resp, m, 200)
	if len(m["value"].([]any)) != 1 {
		t.Fatalf("restored disks %v", m)
	}
	got := readDisk(t, e.Server.Compute, str(m["value"].([]any)[0].(map[string]any), "id"))
	want := make([]byte, 1<<20)
	for d := 0; d <= 18; d++ {
		copy(want[d*4096:], block(d))
	}
	if !bytes.Equal(got, want) {
		t.Fatal("disk restored from the vault tier differs from the VM's disk on day 18")
	}
	if !strings.HasPrefix(str(m["value"].([]any)[0].(map[string]any), "name"), "daily-osdisk-") {
		t.Errorf("restored disk name %s", str(m["value"].([]any)[0].(map[string]any), "name"))
	}
}

// sameSet reports each key of want that got lacks and each key of got that
// want does not have.
func sameSet(t *testing.T, what string, got, want map[string]bool) {
	t.Helper()
	for k := range want {
		if !got[k] {
			t.Errorf("%s lacks %s", what, k)
		}
	}
	for k := range got {
		if !want[k] {
			t.Errorf("%s keeps %s", what, k)
		}
	}
}

const blockSize = 4096

// writer writes numbered blocks round-robin over the disks: write k puts
// k into block (k/len(disks)) % blocks of disk k % len(disks). A
// crash-consistent copy of all disks at one instant is then exactly the
// result of writes 0..K-1 for some K.
type writer struct {
	disks  []string
	blocks int
	n      atomic.Int64
}

func (w *writer) run(ctx context.Context, t *testing.T, cs *compute.Service, stop <-chan struct{}) {
	buf := make([]byte, blockSize)
	for k := int64(0); ; k++ {
		select {
		case <-stop:
			return
		default:
		}
		d := w.disks[k%int64(len(w.disks))]
		b := (k / int64(len(w.disks))) % int64(w.blocks)
		for i := 0; i < blockSize; i += 8 {
			binary.LittleEndian.PutUint64(buf[i:], uint64(k+1))
		}
		v, err := cs.Volume(ctx, d)
		if err != nil {
			t.Error(err)
			return
		}
		if _, err := v.WriteAt(buf, b*blockSize); err != nil {
			t.Error(err)
			return
		}
		w.n.Store(k + 1)
		if k%64 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
}

// expected is the content of each disk after writes 0..K-1.
func (w *writer) expected(K int64, size int64) [][]byte {
	out := make([][]byte, len(w.disks))
	for i := range out {
		out[i] = make([]byte, size)
	}
	for k := int64(0); k < K; k++ {
		d := k % int64(len(w.disks))
		b := (k / int64(len(w.disks))) % int64(w.blocks)
		for i := int64(0); i < blockSize; i += 8 {
			binary.LittleEndian.PutUint64(out[d][b*blockSize+i:], uint64(k+1))
		}
	}
	return out
}

// TestSDKBackupRestoreWhileWriting backs up a VM with three disks through
// the unmodified armrecoveryservices and armrecoveryservicesbackup/v4
// clients while the disks are being written, restores it as a new VM and
// checks that every restored disk equals its source at the backup instant.
func TestSDKBackupRestoreWhileWriting(t *testing.T) {
	e := testserver.StartWithGroups(t, "vmrg", "vaultrg", "restorerg")
	ctx := e.Ctx()
	mkStorage(t, e, "vaultrg", "staging")
	const size = 2 << 20 // the region the writer uses, of 1 GiB disks
	cs := e.Server.Compute
	vm := armVM(t, e, "vmrg", "app1", 2)

	vf := testserver.Factory(e, armrecoveryservices.NewClientFactory)
	body := fixture.StandardVault()
	body.Identity = &armrecoveryservices.IdentityData{Type: to.Ptr(armrecoveryservices.ResourceIdentityTypeSystemAssigned)}
	vault := fixture.RSVault(t, e, "vaultrg", "vault1", body)
	if vault.Identity == nil || vault.Identity.PrincipalID == nil || *vault.Properties.ProvisioningState != "Succeeded" {
		t.Fatalf("vault %+v", vault)
	}

	avail, err := vf.NewClient().CheckNameAvailability(ctx, "vaultrg", "westus", armrecoveryservices.CheckNameAvailabilityParameters{Name: to.Ptr("vault1"), Type: to.Ptr("Microsoft.RecoveryServices/Vaults")}, nil)
	if err != nil || *avail.NameAvailable || *avail.Reason != "AlreadyExists" {
		t.Fatalf("name availability: %v %+v", err, avail)
	}

	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	// Discovery.
	var raw *http.Response
	if _, err := bf.NewProtectionContainersClient().Refresh(runtime.WithCaptureResponse(ctx, &raw), "vault1", "vaultrg", "Azure", nil); err != nil {
		t.Fatal(err)
	}
	refreshOp := testserver.OpID(t, raw.Header.Get("Location"))
	e.WaitFor("refresh", func() bool {
		var r *http.Response
		if _, err := bf.NewProtectionContainerRefreshOperationResultsClient().Get(runtime.WithCaptureResponse(ctx, &r), "vault1", "vaultrg", "Azure", refreshOp, nil); err != nil {
			t.Fatal(err)
		}
		return r.StatusCode == 204
	})
	var protectable *armrecoveryservicesbackup.AzureIaaSComputeVMProtectableItem
	pager := bf.NewBackupProtectableItemsClient().NewListPager("vault1", "vaultrg", &armrecoveryservicesbackup.BackupProtectableItemsClientListOptions{Filter: to.Ptr("backupManagementType eq 'AzureIaasVM'")})
	var pname string
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Value {
			if p, ok := it.Properties.(*armrecoveryservicesbackup.AzureIaaSComputeVMProtectableItem); ok && *p.FriendlyName == "app1" {
				protectable, pname = p, *it.Name
			}
		}
	}
	if protectable == nil || pname != "iaasvmcontainerv2;vmrg;app1" {
		t.Fatalf("protectable item not found (%q)", pname)
	}

	// A policy: daily, 5 days of instant RPs (a Standard policy's most),
	// 30 days daily, 12 weeks weekly.
	// On the hour some twelve hours from now: a scheduled run at a fixed
	// hour (23:30 UTC) came among the steps of a run across it, a second
	// point while the test takes the one it made.
	runAt := fixture.QuietTime(e, time.Date(2024, 1, 1, 23, 30, 0, 0, time.UTC))
	pol := armrecoveryservicesbackup.ProtectionPolicyResource{Properties: &armrecoveryservicesbackup.AzureIaaSVMProtectionPolicy{
		InstantRpRetentionRangeInDays: to.Ptr[int32](5), TimeZone: to.Ptr("UTC"), PolicyType: to.Ptr(armrecoveryservicesbackup.IAASVMPolicyTypeV1),
		SchedulePolicy: &armrecoveryservicesbackup.SimpleSchedulePolicy{ScheduleRunFrequency: to.Ptr(armrecoveryservicesbackup.ScheduleRunTypeDaily),
			ScheduleRunTimes: []*time.Time{to.Ptr(runAt)}},
		RetentionPolicy: &armrecoveryservicesbackup.LongTermRetentionPolicy{
			DailySchedule: &armrecoveryservicesbackup.DailyRetentionSchedule{RetentionTimes: []*time.Time{to.Ptr(runAt)},
				RetentionDuration: &armrecoveryservicesbackup.RetentionDuration{Count: to.Ptr[int32](30), DurationType: to.Ptr(armrecoveryservicesbackup.RetentionDurationTypeDays)}},
			WeeklySchedule: &armrecoveryservicesbackup.WeeklyRetentionSchedule{DaysOfTheWeek: []*armrecoveryservicesbackup.DayOfWeek{to.Ptr(armrecoveryservicesbackup.DayOfWeekSunday)},
				RetentionTimes:    []*time.Time{to.Ptr(runAt)},
				RetentionDuration: &armrecoveryservicesbackup.RetentionDuration{Count: to.Ptr[int32](12), DurationType: to.Ptr(armrecoveryservicesbackup.RetentionDurationTypeWeeks)}},
		},
	}}
	pc := bf.NewProtectionPoliciesClient()
	created, err := pc.CreateOrUpdate(ctx, "vault1", "vaultrg", "Daily7", pol, nil)
	if err != nil {
		t.Fatal(err)
	}
	ip, ok := created.Properties.(*armrecoveryservicesbackup.AzureIaaSVMProtectionPolicy)
	if !ok || *ip.InstantRpRetentionRangeInDays != 5 || ip.RetentionPolicy.(*armrecoveryservicesbackup.LongTermRetentionPolicy).WeeklySchedule == nil {
		t.Fatalf("policy %+v", created.Properties)
	}
	// Validation names the bad field: a Standard (V1) policy keeps its
	// snapshots 1 to 5 days (a weekly one 5), an Enhanced one up to 30, as
	// in Azure; 7 and 30 were accepted for a Standard policy.
	for _, c := range []struct {
		days   int32
		weekly bool
		want   string
	}{{45, false, "between 1 and 30"}, {7, false, "between 1 and 5 days for a Standard (V1) policy"}, {30, false, "Standard (V1)"}, {2, true, "must be 5 days for a weekly Standard (V1) policy"}} {
		bad := pol
		badProps := *pol.Properties.(*armrecoveryservicesbackup.AzureIaaSVMProtectionPolicy)
		badProps.InstantRpRetentionRangeInDays = to.Ptr(c.days)
		if c.weekly {
			badProps.SchedulePolicy = &armrecoveryservicesbackup.SimpleSchedulePolicy{ScheduleRunFrequency: to.Ptr(armrecoveryservicesbackup.ScheduleRunTypeWeekly),
				ScheduleRunDays: []*armrecoveryservicesbackup.DayOfWeek{to.Ptr(armrecoveryservicesbackup.DayOfWeekSunday)}, ScheduleRunTimes: []*time.Time{to.Ptr(runAt)}}
			rp := *badProps.RetentionPolicy.(*armrecoveryservicesbackup.LongTermRetentionPolicy)
			rp.DailySchedule = nil
			badProps.RetentionPolicy = &rp
		}
		bad.Properties = &badProps
		_, err = pc.CreateOrUpdate(ctx, "vault1", "vaultrg", "Bad", bad, nil)
		var re *azcore.ResponseError
		if !errors.As(err, &re) || re.StatusCode != 400 || !strings.Contains(err.Error(), "instantRpRetentionRangeInDays") || !strings.Contains(err.Error(), c.want) {
			t.Fatalf("bad policy (instantRpRetentionRangeInDays %d, weekly %v): %v", c.days, c.weekly, err)
		}
	}
	// An hourly schedule needs an Enhanced (V2) policy: a Standard one
	// with hourlySchedule was accepted.
	hourly := pol
	hourlyProps := *pol.Properties.(*armrecoveryservicesbackup.AzureIaaSVMProtectionPolicy)
	hourlyProps.SchedulePolicy = &armrecoveryservicesbackup.SimpleSchedulePolicy{ScheduleRunFrequency: to.Ptr(armrecoveryservicesbackup.ScheduleRunTypeHourly),
		HourlySchedule: &armrecoveryservicesbackup.HourlySchedule{Interval: to.Ptr[int32](4), ScheduleWindowStartTime: to.Ptr(time.Date(2024, 1, 1, 8, 0, 0, 0, time.UTC)), ScheduleWindowDuration: to.Ptr[int32](12)}}
	hourly.Properties = &hourlyProps
	if _, err = pc.CreateOrUpdate(ctx, "vault1", "vaultrg", "Bad", hourly, nil); !testserver.HasError(err, 400, "BMSUserErrorInvalidPolicyInput") || !strings.Contains(err.Error(), "scheduleRunFrequency") {
		t.Fatalf("a Standard policy with an hourly schedule: %v", err)
	}
	names := map[string]bool{}
	for page := range fixture.Pages(t, bf.NewBackupPoliciesClient().NewListPager("vault1", "vaultrg", &armrecoveryservicesbackup.BackupPoliciesClientListOptions{Filter: to.Ptr("backupManagementType eq 'AzureIaasVM'")})) {
		for _, p := range page.Value {
			names[*p.Name] = true
		}
	}
	if !names["DefaultPolicy"] || !names["EnhancedPolicy"] || !names["Daily7"] || names["HourlyLogBackup"] {
		t.Fatalf("policies %v", names)
	}

	// Enable protection.
	container, item := "IaasVMContainer;"+pname, "VM;"+pname
	pi := bf.NewProtectedItemsClient()
	policyID := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/vault1/backupPolicies/Daily7"
	if _, err := pi.CreateOrUpdate(runtime.WithCaptureResponse(ctx, &raw), "vault1", "vaultrg", "Azure", container, item, armrecoveryservicesbackup.ProtectedItemResource{
		Properties: &armrecoveryservicesbackup.AzureIaaSComputeVMProtectedItem{SourceResourceID: protectable.VirtualMachineID, PolicyID: to.Ptr(policyID)}}, nil); err != nil {
		t.Fatal(err)
	}
	if raw.StatusCode != 202 || raw.Header.Get("Azure-AsyncOperation") == "" {
		t.Fatalf("enable: %d %v", raw.StatusCode, raw.Header)
	}
	got, err := pi.Get(ctx, "vault1", "vaultrg", "Azure", container, item, nil)
	if err != nil {
		t.Fatal(err)
	}
	vmItem := got.Properties.(*armrecoveryservicesbackup.AzureIaaSComputeVMProtectedItem)
	if *vmItem.ProtectionState != armrecoveryservicesbackup.ProtectionStateIRPending || *vmItem.PolicyName != "Daily7" {
		t.Fatalf("item %+v", vmItem)
	}

	// Back up while the three disks are being written.
	w := &writer{disks: []string{vm.OSDiskID, vm.DataDisks[0].DiskID, vm.DataDisks[1].DiskID}, blocks: size / blockSize}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); w.run(context.Background(), t, cs, stop) }()
	e.WaitFor("writes", func() bool { return w.n.Load() > 2000 })
	if _, err := bf.NewBackupsClient().Trigger(runtime.WithCaptureResponse(ctx, &raw), "vault1", "vaultrg", "Azure", container, item, armrecoveryservicesbackup.BackupRequestResource{
		Properties: &armrecoveryservicesbackup.IaasVMBackupRequest{}}, nil); err != nil {
		t.Fatal(err)
	}
	st, err := bf.NewProtectedItemOperationStatusesClient().Get(ctx, "vault1", "vaultrg", "Azure", container, item, testserver.OpID(t, raw.Header.Get("Azure-AsyncOperation")), nil)
	if err != nil {
		t.Fatal(err)
	}
	jobID := *st.Properties.(*armrecoveryservicesbackup.OperationStatusJobExtendedInfo).JobID
	var job *armrecoveryservicesbackup.AzureIaaSVMJob
	e.WaitFor("backup job", func() bool {
		j, err := bf.NewJobDetailsClient().Get(ctx, "vault1", "vaultrg", jobID, nil)
		if err != nil {
			t.Fatal(err)
		}
		job = j.Properties.(*armrecoveryservicesbackup.AzureIaaSVMJob)
		return *job.Status != "InProgress"
	})
	close(stop)
	wg.Wait()
	if *job.Status != "Completed" || *job.Operation != "Backup" || len(job.ExtendedInfo.TasksList) != 2 || job.Duration == nil || *job.ExtendedInfo.TasksList[1].Status != "Completed" {
		t.Fatalf("job %+v", job)
	}

	// The recovery point lives in both tiers.
	var rpName string
	for page := range fixture.Pages(t, bf.NewRecoveryPointsClient().NewListPager("vault1", "vaultrg", "Azure", container, item, nil)) {
		for _, p := range page.Value {
			ivm := p.Properties.(*armrecoveryservicesbackup.IaasVMRecoveryPoint)
			if len(ivm.RecoveryPointTierDetails) != 2 || *ivm.RecoveryPointTierDetails[0].Type != armrecoveryservicesbackup.RecoveryPointTierTypeInstantRP ||
				*ivm.RecoveryPointTierDetails[1].Type != armrecoveryservicesbackup.RecoveryPointTierTypeHardenedRP ||
				*ivm.RecoveryPointTierDetails[1].Status != armrecoveryservicesbackup.RecoveryPointTierStatusValid ||
				*ivm.RecoveryPointDiskConfiguration.NumberOfDisksIncludedInBackup != 3 {
				t.Fatalf("point %+v", ivm)
			}
			rpName = *p.Name
		}
	}
	if rpName == "" {
		t.Fatal("no recovery point")
	}

	// Restore as a new VM.
	target := "/subscriptions/" + e.Sub + "/resourceGroups/restorerg/providers/Microsoft.Compute/virtualMachines/app1-restored"
	if _, err := fixture.Wait(bf.NewRestoresClient().BeginTrigger(ctx, "vault1", "vaultrg", "Azure", container, item, rpName, armrecoveryservicesbackup.RestoreRequestResource{
		Properties: &armrecoveryservicesbackup.IaasVMRestoreRequest{RecoveryPointID: to.Ptr(rpName), RecoveryType: to.Ptr(armrecoveryservicesbackup.RecoveryTypeAlternateLocation),
			SourceResourceID: protectable.VirtualMachineID, TargetVirtualMachineID: to.Ptr(target), TargetResourceGroupID: to.Ptr("/subscriptions/" + e.Sub + "/resourceGroups/restorerg"),
			StorageAccountID: to.Ptr("/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.Storage/storageAccounts/staging"),
			Region:           to.Ptr("westus"), OriginalStorageAccountOption: to.Ptr(false)}}, nil)); err != nil {
		t.Fatal(err)
	}
	nvm, err := cs.VM(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	restored := []string{nvm.OSDiskID}
	for _, d := range nvm.DataDisks {
		restored = append(restored, d.DiskID)
	}
	if len(restored) != 3 {
		t.Fatalf("restored VM disks %v", restored)
	}
	// Read the restored disks through the SAS data plane, as Azure allows
	// once the VM is deallocated.
	cf := testserver.Factory(e, armcompute.NewClientFactory)
	if _, err := fixture.Wait(cf.NewVirtualMachinesClient().BeginDeallocate(ctx, "restorerg", "app1-restored", nil)); err != nil {
		t.Fatal(err)
	}
	var K int64
	contents := make([][]byte, 3)
	for i, id := range restored {
		contents[i] = readSAS(t, e, id, size)
		vol, err := cs.Volume(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		rs, err := vol.DataRanges(size, vol.Size()-size)
		if err != nil || len(rs) != 0 {
			t.Fatalf("restored disk %d has data beyond the written region: %v %v", i, rs, err)
		}
		for off := 0; off < len(contents[i]); off += 8 {
			if v := int64(binary.LittleEndian.Uint64(contents[i][off:])); v > K {
				K = v
			}
		}
	}
	if K == 0 || K >= w.n.Load() {
		t.Fatalf("restored point holds %d of %d writes", K, w.n.Load())
	}
	want := w.expected(K, size)
	for i := range restored {
		if !bytes.Equal(contents[i], want[i]) {
			t.Fatalf("restored disk %d differs from its source at the backup instant (writes 0..%d)", i, K-1)
		}
	}
	t.Logf("backup instant after %d of %d writes; all 3 restored disks match", K, w.n.Load())

	// The restore job is listed.
	n := testserver.Count(t, ctx, bf.NewBackupJobsClient().NewListPager("vault1", "vaultrg", &armrecoveryservicesbackup.BackupJobsClientListOptions{Filter: to.Ptr("operation eq 'Restore' and status eq 'Completed'")}))
	if n != 1 {
		t.Fatalf("%d completed restore jobs", n)
	}

	// Stop protection (2024 style), then delete the data.
	if _, err := pi.CreateOrUpdate(ctx, "vault1", "vaultrg", "Azure", container, item, armrecoveryservicesbackup.ProtectedItemResource{
		Properties: &armrecoveryservicesbackup.AzureIaaSComputeVMProtectedItem{SourceResourceID: protectable.VirtualMachineID,
			ProtectionState: to.Ptr(armrecoveryservicesbackup.ProtectionStateProtectionStopped)}}, nil); err != nil {
		t.Fatal(err)
	}
	got, _ = pi.Get(ctx, "vault1", "vaultrg", "Azure", container, item, nil)
	if s := *got.Properties.(*armrecoveryservicesbackup.AzureIaaSComputeVMProtectedItem).ProtectionState; s != armrecoveryservicesbackup.ProtectionStateProtectionStopped {
		t.Fatalf("state %s", s)
	}
	_, err = vf.NewVaultsClient().Delete(ctx, "vaultrg", "vault1", nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 400 {
		t.Fatalf("delete non-empty vault: %v", err)
	}
	if _, err := pi.Delete(runtime.WithCaptureResponse(ctx, &raw), "vault1", "vaultrg", "Azure", container, item, nil); err != nil {
		t.Fatal(err)
	}
	delOp := testserver.OpID(t, raw.Header.Get("Location"))
	e.WaitFor("delete", func() bool {
		var r *http.Response
		if _, err := bf.NewBackupOperationResultsClient().Get(runtime.WithCaptureResponse(ctx, &r), "vault1", "vaultrg", delOp, nil); err != nil {
			t.Fatal(err)
		}
		return r.StatusCode == 204
	})
	if _, err := pi.Get(ctx, "vault1", "vaultrg", "Azure", container, item, nil); !errors.As(err, &re) || re.StatusCode != 404 {
		t.Fatalf("get deleted item: %v", err)
	}
	if _, err := vf.NewVaultsClient().Delete(ctx, "vaultrg", "vault1", nil); err != nil {
		t.Fatal(err)
	}
}

// TestRecoveryPointsDateFilter lists an item's points with the $filter's
// startDate and endDate: a point between them is listed, one before the
// start or after the end is not; an end before the start is 400
// InvalidFilter, as a job list's is (it was 200 with no points).
func TestRecoveryPointsDateFilter(t *testing.T) {
	e := testserver.StartWithGroups(t, "vmrg", "vaultrg")
	vm := mkVM(t, e, "vmrg", "db", 1, 1<<20)
	const v = "?api-version=2024-04-01"
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/rv"
	mkVault(t, e, R+v, "westus")
	I := R + "/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;vmrg;db/protectedItems/VM;iaasvmcontainerv2;vmrg;db"
	protect(t, e, I+v, vm.ID, R+"/backupPolicies/EnhancedPolicy")
	resp, m := e.Do("POST", I+"/backup"+v, map[string]any{"properties": map[string]any{"objectType": "IaasVMBackupRequest"}})
	must(t, "backup", resp, m, 202)
	if j := waitJob(t, e, R, str(pollStatus(t, e, resp), "properties.jobId"), v); str(j, "properties.status") != "Completed" {
		t.Fatalf("job %v", j)
	}
	for _, c := range []struct {
		filter string
		want   int
	}{
		{"", 1},
		{"startDate eq '2000-01-01 00:00:00 AM' and endDate eq '2100-01-01 00:00:00 AM'", 1},
		{"startDate eq '2100-01-01 00:00:00 AM'", 0},
		{"endDate eq '2000-01-01 00:00:00 AM'", 0},
		{"startDate eq '2100-01-01 00:00:00 AM' and endDate eq '2000-01-01 00:00:00 AM'", -1},
	} {
		q := v
		if c.filter != "" {
			q += "&$filter=" + url.QueryEscape(c.filter)
		}
		resp, m := e.Do("GET", I+"/recoveryPoints"+q, nil)
		if c.want < 0 {
			if msg := str(m, "error.message"); resp.StatusCode != 400 || str(m, "error.code") != "InvalidFilter" || !strings.Contains(msg, "endDate") || !strings.Contains(msg, "after the start") {
				t.Errorf("$filter %q: %d %v, want 400 InvalidFilter saying the end must be after the start", c.filter, resp.StatusCode, m)
			}
			continue
		}
		must(t, "list points "+c.filter, resp, m, 200)
		if got := len(m["value"].([]any)); got != c.want {
			t.Errorf("$filter %q: %d points, want %d: %v", c.filter, got, c.want, m)
		}
	}
}

// TestSDKPointOfZonalPrivateVM: a recovery point of a VM created through
// the SDK in zone 1 with size Standard_D1, one of whose disks allows
// private access only (networkAccessPolicy AllowPrivate), reports the VM's
// zones, its size and isPrivateAccessEnabledOnAnyDisk. A zonal VM takes
// disks of its zone only, and its zone cannot change.
func TestSDKPointOfZonalPrivateVM(t *testing.T) {
	// Zones are a zonal region's (eastus2): the vault and the VM are there.
	e := testserver.StartWithGroups(t, "vaultrg", "vmrg")
	vault := fixture.StandardVault()
	vault.Location = to.Ptr("eastus2")
	fixture.RSVault(t, e, "vaultrg", "v1", vault)
	ctx := e.Ctx()
	cf := testserver.Factory(e, armcompute.NewClientFactory)
	// The disk access the private disk is reached through.
	access, err := fixture.Wait(cf.NewDiskAccessesClient().BeginCreateOrUpdate(ctx, "vmrg", "da1", armcompute.DiskAccess{Location: to.Ptr("eastus2")}, nil))
	if err != nil {
		t.Fatal(err)
	}
	disk := func(name string, zones []string, policy armcompute.NetworkAccessPolicy) string {
		t.Helper()
		d := armcompute.Disk{Location: to.Ptr("eastus2"), Zones: to.SliceOfPtrs(zones...), Properties: &armcompute.DiskProperties{
			CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionEmpty)}, DiskSizeGB: to.Ptr[int32](1),
			NetworkAccessPolicy: to.Ptr(policy)}}
		if policy == armcompute.NetworkAccessPolicyAllowPrivate {
			d.Properties.DiskAccessID = access.ID
		}
		p, err := cf.NewDisksClient().BeginCreateOrUpdate(ctx, "vmrg", name, d, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := p.PollUntilDone(ctx, fixture.Poll)
		if err != nil {
			t.Fatal(err)
		}
		return *res.ID
	}
	osID := disk("vm1-os", []string{"1"}, armcompute.NetworkAccessPolicyAllowAll)
	dataID := disk("vm1-data", []string{"1"}, armcompute.NetworkAccessPolicyAllowPrivate)
	regionalID := disk("regional", nil, armcompute.NetworkAccessPolicyAllowAll)
	vm := func(zones []string, data string) error {
		p, err := cf.NewVirtualMachinesClient().BeginCreateOrUpdate(ctx, "vmrg", "vm1", armcompute.VirtualMachine{Location: to.Ptr("eastus2"), Zones: to.SliceOfPtrs(zones...),
			Properties: &armcompute.VirtualMachineProperties{HardwareProfile: &armcompute.HardwareProfile{VMSize: to.Ptr(armcompute.VirtualMachineSizeTypesStandardD1)},
				StorageProfile: &armcompute.StorageProfile{OSDisk: &armcompute.OSDisk{CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach),
					OSType: to.Ptr(armcompute.OperatingSystemTypesLinux), ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(osID)}},
					DataDisks: []*armcompute.DataDisk{{Lun: to.Ptr[int32](0), CreateOption: to.Ptr(armcompute.DiskCreateOptionTypesAttach),
						ManagedDisk: &armcompute.ManagedDiskParameters{ID: to.Ptr(data)}}}}}}, nil)
		if err == nil {
			_, err = p.PollUntilDone(ctx, fixture.Poll)
		}
		return err
	}
	if st, code := testserver.ErrorOf(vm([]string{"1"}, regionalID)); st != http.StatusBadRequest || code != "InvalidParameter" {
		t.Fatalf("a zonal VM with a regional disk: %d %s", st, code)
	}
	if err := vm([]string{"1"}, dataID); err != nil {
		t.Fatal(err)
	}
	if st, code := testserver.ErrorOf(vm([]string{"2"}, dataID)); st != http.StatusConflict || code != "PropertyChangeNotAllowed" {
		t.Fatalf("moving the VM to zone 2: %d %s", st, code)
	}
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	props := vm1Point(t, e, bf)
	if len(props.Zones) != 1 || *props.Zones[0] != "1" || *props.VirtualMachineSize != "Standard_D1" || props.IsPrivateAccessEnabledOnAnyDisk == nil || !*props.IsPrivateAccessEnabledOnAnyDisk {
		t.Fatalf("point: zones %v size %s private %v", props.Zones, *props.VirtualMachineSize, props.IsPrivateAccessEnabledOnAnyDisk)
	}
}
