package recoveryservices_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net/http"
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

var pollOpts = &runtime.PollUntilDoneOptions{Frequency: time.Second}

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

func readDisk(t *testing.T, cs *compute.Service, id string) []byte {
	t.Helper()
	v, err := cs.Volume(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, v.Size())
	if _, err := v.ReadAt(b, 0); err != nil {
		t.Fatal(err)
	}
	return b
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

	// A policy: daily, 7 days of instant RPs, 30 days daily, 12 weeks weekly.
	pol := armrecoveryservicesbackup.ProtectionPolicyResource{Properties: &armrecoveryservicesbackup.AzureIaaSVMProtectionPolicy{
		InstantRpRetentionRangeInDays: to.Ptr[int32](7), TimeZone: to.Ptr("UTC"), PolicyType: to.Ptr(armrecoveryservicesbackup.IAASVMPolicyTypeV1),
		SchedulePolicy: &armrecoveryservicesbackup.SimpleSchedulePolicy{ScheduleRunFrequency: to.Ptr(armrecoveryservicesbackup.ScheduleRunTypeDaily),
			ScheduleRunTimes: []*time.Time{to.Ptr(time.Date(2024, 1, 1, 23, 30, 0, 0, time.UTC))}},
		RetentionPolicy: &armrecoveryservicesbackup.LongTermRetentionPolicy{
			DailySchedule: &armrecoveryservicesbackup.DailyRetentionSchedule{RetentionTimes: []*time.Time{to.Ptr(time.Date(2024, 1, 1, 23, 30, 0, 0, time.UTC))},
				RetentionDuration: &armrecoveryservicesbackup.RetentionDuration{Count: to.Ptr[int32](30), DurationType: to.Ptr(armrecoveryservicesbackup.RetentionDurationTypeDays)}},
			WeeklySchedule: &armrecoveryservicesbackup.WeeklyRetentionSchedule{DaysOfTheWeek: []*armrecoveryservicesbackup.DayOfWeek{to.Ptr(armrecoveryservicesbackup.DayOfWeekSunday)},
				RetentionTimes:    []*time.Time{to.Ptr(time.Date(2024, 1, 1, 23, 30, 0, 0, time.UTC))},
				RetentionDuration: &armrecoveryservicesbackup.RetentionDuration{Count: to.Ptr[int32](12), DurationType: to.Ptr(armrecoveryservicesbackup.RetentionDurationTypeWeeks)}},
		},
	}}
	pc := bf.NewProtectionPoliciesClient()
	created, err := pc.CreateOrUpdate(ctx, "vault1", "vaultrg", "Daily7", pol, nil)
	if err != nil {
		t.Fatal(err)
	}
	ip, ok := created.Properties.(*armrecoveryservicesbackup.AzureIaaSVMProtectionPolicy)
	if !ok || *ip.InstantRpRetentionRangeInDays != 7 || ip.RetentionPolicy.(*armrecoveryservicesbackup.LongTermRetentionPolicy).WeeklySchedule == nil {
		t.Fatalf("policy %+v", created.Properties)
	}
	// Validation names the bad field.
	bad := pol
	badProps := *pol.Properties.(*armrecoveryservicesbackup.AzureIaaSVMProtectionPolicy)
	badProps.InstantRpRetentionRangeInDays = to.Ptr[int32](45)
	bad.Properties = &badProps
	_, err = pc.CreateOrUpdate(ctx, "vault1", "vaultrg", "Bad", bad, nil)
	var re *azcore.ResponseError
	if !errors.As(err, &re) || re.StatusCode != 400 || !strings.Contains(err.Error(), "instantRpRetentionRangeInDays") {
		t.Fatalf("bad policy: %v", err)
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
