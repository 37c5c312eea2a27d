package dataprotection_test

import (
	"bytes"
	"errors"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/pageblob"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

var poll = &runtime.PollUntilDoneOptions{Frequency: time.Second}

// TestSDKDiskBackupAndRestore runs the seed's workflow with the unmodified
// armdataprotection/v3 client (pollers and pagers), takes an ad-hoc backup,
// changes the disk, and restores the recovery point to a new disk whose
// bytes equal the source disk at backup time.
func TestSDKDiskBackupAndRestore(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	sub := e.Sub
	e.ResourceGroups("vault-rg", "disk-rg", "snapshot-rg", "target-rg")
	// The source disk: created with armcompute, written through a write SAS (azblob page blob).
	sd := newSDKDisks(t, e)
	diskID := sd.create("disk-rg", "data1", 1)
	atBackup := map[int64][]byte{}
	pc := sd.grant("disk-rg", "data1", armcompute.AccessLevelWrite)
	for i, off := range []int64{0, 4 << 20, 300 << 20, 1<<30 - 2<<20} {
		sd.write(pc, atBackup, off, byte(i+1), 1<<20)
	}
	sd.revoke("disk-rg", "data1")

	f := testserver.Factory(e, armdataprotection.NewClientFactory)
	vaults, pols, bis, jobs, rps := f.NewBackupVaultsClient(), f.NewBackupPoliciesClient(), f.NewBackupInstancesClient(), f.NewJobsClient(), f.NewRecoveryPointsClient()

	// Soft delete Off: deleting the instance below deletes its data at once
	// (Azure's default, On, keeps it as a deleted instance: softdelete_test.go).
	vault, err := fixture.Wait(vaults.BeginCreateOrUpdate(ctx, "vault-rg", "vault1", armdataprotection.BackupVaultResource{
		Location: to.Ptr("westus"), Identity: &armdataprotection.DppIdentityDetails{Type: to.Ptr("SystemAssigned")},
		Properties: &armdataprotection.BackupVault{StorageSettings: []*armdataprotection.StorageSetting{{
			DatastoreType: to.Ptr(armdataprotection.StorageSettingStoreTypesVaultStore), Type: to.Ptr(armdataprotection.StorageSettingTypesLocallyRedundant)}},
			SecuritySettings: &armdataprotection.SecuritySettings{SoftDeleteSettings: &armdataprotection.SoftDeleteSettings{State: to.Ptr(armdataprotection.SoftDeleteStateOff)}}}}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if vault.Identity == nil || vault.Identity.PrincipalID == nil || *vault.Properties.ProvisioningState != armdataprotection.ProvisioningStateSucceeded {
		t.Fatalf("vault: %+v", vault)
	}
	principal := *vault.Identity.PrincipalID

	pol, err := pols.CreateOrUpdate(ctx, "vault-rg", "vault1", "disk-policy", fixture.DiskPolicyFrom(fixture.ScheduleStart(e), "PT4H", "P7D", "P30D"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if bp, ok := pol.Properties.(*armdataprotection.BackupPolicy); !ok || len(bp.PolicyRules) != 3 {
		t.Fatalf("policy echo: %#v", pol.Properties)
	} else if br, ok := bp.PolicyRules[0].(*armdataprotection.AzureBackupRule); !ok || *br.Trigger.(*armdataprotection.ScheduleBasedTriggerContext).TaggingCriteria[1].TagInfo.ID != "Daily_" {
		t.Fatalf("policy rule echo: %#v", bp.PolicyRules[0])
	}

	bi := armdataprotection.BackupInstance{ObjectType: to.Ptr("BackupInstance"), FriendlyName: to.Ptr("data1"), DataSourceInfo: fixture.Datasource(diskID, "data1"),
		PolicyInfo: &armdataprotection.PolicyInfo{PolicyID: pol.ID, PolicyParameters: &armdataprotection.PolicyParameters{
			DataStoreParametersList: []armdataprotection.DataStoreParametersClassification{&armdataprotection.AzureOperationalStoreParameters{
				ObjectType: to.Ptr("AzureOperationalStoreParameters"), DataStoreType: to.Ptr(armdataprotection.DataStoreTypesOperationalStore),
				ResourceGroupID: to.Ptr("/subscriptions/" + sub + "/resourceGroups/snapshot-rg")}}}}}
	// As in the seed: validation fails until the vault's identity has its roles.
	var re *azcore.ResponseError
	vfb, err := bis.BeginValidateForBackup(ctx, "vault-rg", "vault1", armdataprotection.ValidateForBackupRequest{BackupInstance: &bi}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vfb.PollUntilDone(ctx, poll); !errors.As(err, &re) || re.ErrorCode != "UserErrorMissingRequiredPermissions" {
		t.Fatalf("validate for backup without roles: %v", err)
	}
	assign(t, e, diskID, roleDiskBackupReader, principal)
	assign(t, e, "/subscriptions/"+sub+"/resourceGroups/snapshot-rg", roleDiskSnapshotContributor, principal)
	vfb, err = bis.BeginValidateForBackup(ctx, "vault-rg", "vault1", armdataprotection.ValidateForBackupRequest{BackupInstance: &bi}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := vfb.PollUntilDone(ctx, poll); err != nil || res.ObjectType == nil || *res.ObjectType != "OperationJobExtendedInfo" {
		t.Fatalf("validate for backup: %v %+v", err, res)
	}
	inst, err := fixture.Wait(bis.BeginCreateOrUpdate(ctx, "vault-rg", "vault1", "data1-bi", armdataprotection.BackupInstanceResource{Properties: &bi}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if *inst.Properties.CurrentProtectionState != armdataprotection.CurrentProtectionStateProtectionConfigured || *inst.Properties.ProvisioningState != "Succeeded" ||
		*inst.Properties.DataSourceInfo.ResourceID != diskID {
		t.Fatalf("instance: %+v", inst.Properties)
	}
	// Now the disk is protected: validating it again is the seed's 400.
	if _, err := bis.BeginValidateForBackup(ctx, "vault-rg", "vault1", armdataprotection.ValidateForBackupRequest{BackupInstance: &bi}, nil); !errors.As(err, &re) ||
		re.StatusCode != 400 || re.ErrorCode != "UserErrorDppDatasourceAlreadyProtected" {
		t.Fatalf("validate a protected disk: %v", err)
	}
	n := testserver.Count(t, ctx, bis.NewListPager("vault-rg", "vault1", nil))
	if n != 1 {
		t.Fatalf("instances listed: %d", n)
	}

	// Ad-hoc backup: the job id comes from the Location result.
	br, err := fixture.Wait(bis.BeginAdhocBackup(ctx, "vault-rg", "vault1", "data1-bi", armdataprotection.TriggerBackupRequest{BackupRuleOptions: &armdataprotection.AdHocBackupRuleOptions{
		RuleName: to.Ptr("BackupHourly"), TriggerOption: &armdataprotection.AdhocBackupTriggerOption{RetentionTagOverride: to.Ptr("Default")}}}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if br.JobID == nil || *br.JobID == "" {
		t.Fatalf("adhoc backup result has no job id: %+v", br)
	}
	job, err := jobs.Get(ctx, "vault-rg", "vault1", path.Base(*br.JobID), nil)
	if err != nil {
		t.Fatal(err)
	}
	if *job.Properties.Status != "Completed" || *job.Properties.Operation != "Backup" || !*job.Properties.IsUserTriggered ||
		job.Properties.ExtendedInfo == nil || job.Properties.ExtendedInfo.DataTransferredInBytes == nil || *job.Properties.ExtendedInfo.DataTransferredInBytes <= 0 ||
		job.Properties.Duration == nil || *job.Properties.DataSourceID != diskID {
		t.Fatalf("backup job: %+v", job.Properties)
	}

	// The disk changes after the backup.
	pc = sd.grant("disk-rg", "data1", armcompute.AccessLevelWrite)
	sd.write(pc, map[int64][]byte{}, 0, 99, 2<<20)
	sd.write(pc, map[int64][]byte{}, 500<<20, 98, 1<<20)
	sd.revoke("disk-rg", "data1")

	var points []*armdataprotection.AzureBackupRecoveryPointResource
	for pg := rps.NewListPager("vault-rg", "vault1", "data1-bi", nil); pg.More(); {
		page, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		points = append(points, page.Value...)
	}
	if len(points) != 1 {
		t.Fatalf("recovery points: %d", len(points))
	}
	rp, ok := points[0].Properties.(*armdataprotection.AzureBackupDiscreteRecoveryPoint)
	if !ok || rp.RecoveryPointID == nil || len(rp.RecoveryPointDataStoresDetails) != 1 || *rp.RecoveryPointDataStoresDetails[0].Type != "OperationalStore" ||
		rp.ExpiryTime == nil || *rp.RetentionTagName != "Default" || rp.ExpiryTime.Sub(*rp.RecoveryPointTime) != 7*24*time.Hour {
		t.Fatalf("recovery point: %#v", points[0].Properties)
	}
	if _, err := rps.Get(ctx, "vault-rg", "vault1", "data1-bi", *rp.RecoveryPointID, nil); err != nil {
		t.Fatal(err)
	}
	// $filter on time: a window after the point excludes it.
	future := time.Now().Add(24 * time.Hour).UTC().Format(time.RFC3339)
	page, err := rps.NewListPager("vault-rg", "vault1", "data1-bi", &armdataprotection.RecoveryPointsClientListOptions{
		Filter: to.Ptr("startDate eq '" + future + "' and endDate eq '" + future + "'")}).NextPage(ctx)
	if err != nil || len(page.Value) != 0 {
		t.Fatalf("filtered list: %v %d", err, len(page.Value))
	}
	// An end before the start is 400, as a job list's is.
	past := time.Now().Add(-24 * time.Hour).UTC().Format(time.RFC3339)
	_, err = rps.NewListPager("vault-rg", "vault1", "data1-bi", &armdataprotection.RecoveryPointsClientListOptions{
		Filter: to.Ptr("startDate eq '" + future + "' and endDate eq '" + past + "'")}).NextPage(ctx)
	if !testserver.HasError(err, 400, "InvalidFilter") || !strings.Contains(err.Error(), "after the start") {
		t.Fatalf("a list whose end is before its start: %v", err)
	}

	// Restore to a new disk: first without Disk Restore Operator (fails, naming the action), then with it.
	targetID := "/subscriptions/" + sub + "/resourceGroups/target-rg/providers/Microsoft.Compute/disks/restored1"
	req := &armdataprotection.AzureBackupRecoveryPointBasedRestoreRequest{ObjectType: to.Ptr("AzureBackupRecoveryPointBasedRestoreRequest"),
		RecoveryPointID: rp.RecoveryPointID, SourceDataStoreType: to.Ptr(armdataprotection.SourceDataStoreTypeOperationalStore), SourceResourceID: to.Ptr(diskID),
		RestoreTargetInfo: &armdataprotection.RestoreTargetInfo{ObjectType: to.Ptr("RestoreTargetInfo"), RecoveryOption: to.Ptr(armdataprotection.RecoveryOptionFailIfExists),
			RestoreLocation: to.Ptr("westus"), DatasourceInfo: fixture.Datasource(targetID, "restored1")}}
	vr, err := bis.BeginValidateForRestore(ctx, "vault-rg", "vault1", "data1-bi", armdataprotection.ValidateRestoreRequestObject{RestoreRequestObject: req}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = vr.PollUntilDone(ctx, poll)
	if !errors.As(err, &re) || re.ErrorCode != "UserErrorMissingRequiredPermissions" {
		t.Fatalf("validate restore without Disk Restore Operator: %v", err)
	}
	assign(t, e, "/subscriptions/"+sub+"/resourceGroups/target-rg", roleDiskRestoreOperator, principal)
	if _, err := fixture.Wait(bis.BeginValidateForRestore(ctx, "vault-rg", "vault1", "data1-bi", armdataprotection.ValidateRestoreRequestObject{RestoreRequestObject: req}, nil)); err != nil {
		t.Fatal(err)
	}
	rr, err := fixture.Wait(bis.BeginTriggerRestore(ctx, "vault-rg", "vault1", "data1-bi", req, nil))
	if err != nil {
		t.Fatal(err)
	}
	rjob, err := jobs.Get(ctx, "vault-rg", "vault1", path.Base(*rr.JobID), nil)
	if err != nil {
		t.Fatal(err)
	}
	if *rjob.Properties.Status != "Completed" || *rjob.Properties.Operation != "Restore" || *rjob.Properties.ExtendedInfo.RecoveryDestination != targetID ||
		*rjob.Properties.ExtendedInfo.SourceRecoverPoint.RecoveryPointID != *rp.RecoveryPointID {
		t.Fatalf("restore job: %+v", rjob.Properties)
	}
	sd.compare(sd.grant("target-rg", "restored1", armcompute.AccessLevelRead), 1<<30, atBackup)
	sd.revoke("target-rg", "restored1")
	// FailIfExists: restoring onto the same disk again is refused.
	if _, err := bis.BeginTriggerRestore(ctx, "vault-rg", "vault1", "data1-bi", req, nil); !errors.As(err, &re) || re.StatusCode != 409 {
		t.Fatalf("restore onto an existing disk: %v", err)
	}
	// A target disk whose resourceLocation is another region than the
	// vault's (and restoreLocation's) is 400 naming the field, validated
	// or triggered; it was made in the vault's region.
	elsewhere := *req
	elsewhere.RestoreTargetInfo = &armdataprotection.RestoreTargetInfo{ObjectType: to.Ptr("RestoreTargetInfo"), RecoveryOption: to.Ptr(armdataprotection.RecoveryOptionFailIfExists),
		RestoreLocation: to.Ptr("westus"), DatasourceInfo: fixture.Datasource(strings.Replace(targetID, "restored1", "restored-east", 1), "restored-east")}
	elsewhere.RestoreTargetInfo.(*armdataprotection.RestoreTargetInfo).DatasourceInfo.ResourceLocation = to.Ptr("eastus")
	if _, err := bis.BeginTriggerRestore(ctx, "vault-rg", "vault1", "data1-bi", &elsewhere, nil); !testserver.HasError(err, 400, "InvalidRequestContent") || !strings.Contains(err.Error(), "restoreTargetInfo.datasourceInfo.resourceLocation") {
		t.Fatalf("restore of a disk in another region than the vault's: %v", err)
	}

	// Stop, resume, suspend, resume.
	for _, step := range []struct {
		name  string
		begin func() error
		want  armdataprotection.CurrentProtectionState
	}{
		{"stop", func() error { return waitErr(bis.BeginStopProtection(ctx, "vault-rg", "vault1", "data1-bi", nil)) }, armdataprotection.CurrentProtectionStateProtectionStopped},
		{"resumeProtection", func() error { return waitErr(bis.BeginResumeProtection(ctx, "vault-rg", "vault1", "data1-bi", nil)) }, armdataprotection.CurrentProtectionStateProtectionConfigured},
		{"suspend", func() error { return waitErr(bis.BeginSuspendBackups(ctx, "vault-rg", "vault1", "data1-bi", nil)) }, armdataprotection.CurrentProtectionStateBackupSchedulesSuspended},
		{"resumeBackups", func() error { return waitErr(bis.BeginResumeBackups(ctx, "vault-rg", "vault1", "data1-bi", nil)) }, armdataprotection.CurrentProtectionStateProtectionConfigured},
	} {
		if err := step.begin(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		got, err := bis.Get(ctx, "vault-rg", "vault1", "data1-bi", nil)
		if err != nil || *got.Properties.CurrentProtectionState != step.want {
			t.Fatalf("%s: state %v %v", step.name, *got.Properties.CurrentProtectionState, err)
		}
	}

	// Jobs list (pager) and the operation status client.
	if count := testserver.Count(t, ctx, jobs.NewListPager("vault-rg", "vault1", nil)); count < 3 {
		t.Fatalf("jobs listed: %d", count)
	}

	// Vault update and lists.
	up, err := vaults.BeginUpdate(ctx, "vault-rg", "vault1", armdataprotection.PatchResourceRequestInput{Tags: map[string]*string{"env": to.Ptr("test")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := up.PollUntilDone(ctx, poll); err != nil || *v.Tags["env"] != "test" || *v.Identity.PrincipalID != principal {
		t.Fatalf("vault update: %v %+v", err, v)
	}
	for _, pg := range []*runtime.Pager[armdataprotection.BackupVaultsClientGetInSubscriptionResponse]{vaults.NewGetInSubscriptionPager(nil)} {
		page, err := pg.NextPage(ctx)
		if err != nil || len(page.Value) != 1 {
			t.Fatalf("vaults in subscription: %v", err)
		}
	}
	if page, err := vaults.NewGetInResourceGroupPager("vault-rg", nil).NextPage(ctx); err != nil || len(page.Value) != 1 {
		t.Fatalf("vaults in group: %v", err)
	}

	// Delete the instance: its snapshots go too.
	snapRG := "/subscriptions/" + sub + "/resourceGroups/snapshot-rg"
	if snaps, _ := e.Server.Compute.ListSnapshots(ctx, snapRG); len(snaps) != 1 {
		t.Fatalf("snapshots before delete: %d", len(snaps))
	}
	if _, err := fixture.Wait(bis.BeginDelete(ctx, "vault-rg", "vault1", "data1-bi", nil)); err != nil {
		t.Fatal(err)
	}
	if snaps, _ := e.Server.Compute.ListSnapshots(ctx, snapRG); len(snaps) != 0 {
		t.Fatalf("snapshots after delete: %d", len(snaps))
	}
	if _, err := bis.Get(ctx, "vault-rg", "vault1", "data1-bi", nil); !errors.As(err, &re) || re.StatusCode != 404 {
		t.Fatalf("deleted instance: %v", err)
	}
	if _, err := pols.Delete(ctx, "vault-rg", "vault1", "disk-policy", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := fixture.Wait(vaults.BeginDelete(ctx, "vault-rg", "vault1", nil)); err != nil {
		t.Fatal(err)
	}
}

// sdkDisks drives disks through armcompute and their bytes through SAS
// page-blob access (azblob), as a customer would.
type sdkDisks struct {
	t     *testing.T
	e     *testserver.Env
	disks *armcompute.DisksClient
}

func newSDKDisks(t *testing.T, e *testserver.Env) *sdkDisks {
	c, err := armcompute.NewDisksClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	return &sdkDisks{t: t, e: e, disks: c}
}

func (d *sdkDisks) create(rg, name string, sizeGB int32) string {
	d.t.Helper()
	res, err := fixture.Wait(d.disks.BeginCreateOrUpdate(d.e.Ctx(), rg, name, fixture.EmptyDisk("westus", sizeGB), nil))
	if err != nil {
		d.t.Fatalf("create disk %s: %v", name, err)
	}
	return *res.ID
}

func (d *sdkDisks) grant(rg, name string, access armcompute.AccessLevel) *pageblob.Client {
	d.t.Helper()
	p, err := d.disks.BeginGrantAccess(d.e.Ctx(), rg, name, armcompute.GrantAccessData{Access: to.Ptr(access), DurationInSeconds: to.Ptr[int32](3600)}, nil)
	if err != nil {
		d.t.Fatalf("grant %s: %v", name, err)
	}
	res, err := p.PollUntilDone(d.e.Ctx(), poll)
	if err != nil || res.AccessSAS == nil {
		d.t.Fatalf("grant %s: %v", name, err)
	}
	hc, _ := d.e.Conn.HTTPClient()
	pc, err := pageblob.NewClientWithNoCredential(*res.AccessSAS, &pageblob.ClientOptions{ClientOptions: policy.ClientOptions{Transport: hc}})
	if err != nil {
		d.t.Fatal(err)
	}
	return pc
}

func (d *sdkDisks) revoke(rg, name string) {
	d.t.Helper()
	p, err := d.disks.BeginRevokeAccess(d.e.Ctx(), rg, name, nil)
	if err == nil {
		_, err = p.PollUntilDone(d.e.Ctx(), poll)
	}
	if err != nil {
		d.t.Fatalf("revoke %s: %v", name, err)
	}
}

// write uploads pages (a write SAS must be granted) and records them in model.
func (d *sdkDisks) write(pc *pageblob.Client, model map[int64][]byte, off int64, seed byte, n int) {
	d.t.Helper()
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*31) ^ seed ^ byte(off>>16)
	}
	if err := fixture.WritePages(pc, off, p); err != nil {
		d.t.Fatalf("upload pages at %d: %v", off, err)
	}
	model[off] = p
}

// compare downloads the whole disk through a read SAS and checks it equals
// model (the written regions, zeros elsewhere).
func (d *sdkDisks) compare(pc *pageblob.Client, size int64, model map[int64][]byte) {
	d.t.Helper()
	const step = 64 << 20
	want := make([]byte, step)
	for off := int64(0); off < size; off += step {
		n := min(step, size-off)
		clear(want)
		for o, p := range model {
			for i := range p {
				if at := o + int64(i); at >= off && at < off+n {
					want[at-off] = p[i]
				}
			}
		}
		got := fixture.ReadPages(d.t, pc, off, n)
		if !bytes.Equal(got, want[:n]) {
			d.t.Fatalf("restored disk differs from the source at backup time in [%d, %d)", off, off+n)
		}
	}
}
