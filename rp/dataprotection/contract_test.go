package dataprotection_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// contractVault starts a server with the Backup vault vault-rg/v1 and
// returns it with an SDK client factory for it.
func contractVault(t *testing.T) (*testserver.Env, *armdataprotection.ClientFactory) {
	t.Helper()
	e := testserver.Start(t)
	e.ResourceGroups("vault-rg")
	fixture.BackupVault(t, e, "vault-rg", "v1")
	return e, testserver.Factory(e, armdataprotection.NewClientFactory)
}

// TestSDKVaultPatchIsAnOperation: a Backup vault PATCH answers 202 with
// both polling headers, as Azure does; the SDK's poller ends with the
// patched vault, and the operation result is the vault.
func TestSDKVaultPatchIsAnOperation(t *testing.T) {
	e, f := contractVault(t)
	ctx := e.Ctx()
	raw0 := fixture.PatchTags(t, ctx, "vault PATCH", map[string]string{"env": "ci"},
		func(ctx context.Context, tags map[string]*string) (*runtime.Poller[armdataprotection.BackupVaultsClientUpdateResponse], error) {
			return f.NewBackupVaultsClient().BeginUpdate(ctx, "vault-rg", "v1", armdataprotection.PatchResourceRequestInput{Tags: tags}, nil)
		}, func(v armdataprotection.BackupVaultsClientUpdateResponse) map[string]*string { return v.Tags })
	resp, m := e.Do("GET", raw0.Header.Get("Location"), nil)
	if resp.StatusCode != 200 || testserver.Field(m, "tags.env") != "ci" {
		t.Fatalf("PATCH operation result %d %v, want 200 with the vault", resp.StatusCode, m)
	}
}

// TestSDKExportJobsRunsAsAnOperation: the export is written by an
// operation; its result answers 202 (with Location and Retry-After) until
// the operation has run, then 200 with where the list is. The job runner is
// held to see the first state.
func TestSDKExportJobsRunsAsAnOperation(t *testing.T) {
	e, f := contractVault(t)
	ctx := e.Ctx()
	e.Server.Jobs.Stop()
	var raw0 *http.Response
	p, err := f.NewExportJobsClient().BeginTrigger(runtime.WithCaptureResponse(ctx, &raw0), "vault-rg", "v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	loc := raw0.Header.Get("Location")
	opID := loc[strings.LastIndex(strings.Split(loc, "?")[0], "/")+1 : strings.Index(loc, "?")]
	var raw1 *http.Response
	res, err := f.NewExportJobsOperationResultClient().Get(runtime.WithCaptureResponse(ctx, &raw1), "vault-rg", "v1", opID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if raw1.StatusCode != http.StatusAccepted || raw1.Header.Get("Location") == "" || raw1.Header.Get("Retry-After") == "" || res.BlobURL != nil {
		t.Fatalf("export result while the export has not run: %d %v %+v, want 202 with Location and Retry-After", raw1.StatusCode, raw1.Header, res.ExportJobsResult)
	}
	if err := e.Server.Jobs.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := p.PollUntilDone(ctx, fixture.Poll); err != nil {
		t.Fatal(err)
	}
	res, err = f.NewExportJobsOperationResultClient().Get(runtime.WithCaptureResponse(ctx, &raw1), "vault-rg", "v1", opID, nil)
	if err != nil || raw1.StatusCode != http.StatusOK || res.BlobURL == nil {
		t.Fatalf("export result: %v %d %+v", err, raw1.StatusCode, res.ExportJobsResult)
	}
}

// TestSDKBackupVaultSettingsFromState: a Backup vault created without
// settings answers the ones Azure returns, from the vault's real state
// (soft delete On for 14 days as Azure's default, cross-region restore,
// job-failure alerts), and a secure
// score and BCDR security level computed from its security settings.
func TestSDKBackupVaultSettingsFromState(t *testing.T) {
	e, f := contractVault(t)
	ctx := e.Ctx()
	g, err := f.NewBackupVaultsClient().Get(ctx, "vault-rg", "v1", nil)
	if err != nil {
		t.Fatal(err)
	}
	p := g.Properties
	if p.FeatureSettings == nil || p.FeatureSettings.CrossRegionRestoreSettings == nil || *p.FeatureSettings.CrossRegionRestoreSettings.State != armdataprotection.CrossRegionRestoreStateDisabled {
		t.Fatalf("featureSettings %+v", p.FeatureSettings)
	}
	if p.MonitoringSettings == nil || p.MonitoringSettings.AzureMonitorAlertSettings == nil || *p.MonitoringSettings.AzureMonitorAlertSettings.AlertsForAllJobFailures != armdataprotection.AlertsStateEnabled {
		t.Fatalf("monitoringSettings %+v", p.MonitoringSettings)
	}
	// Azure enables soft delete (14 days) on a vault created without settings.
	if p.SecuritySettings == nil || p.SecuritySettings.SoftDeleteSettings == nil || *p.SecuritySettings.SoftDeleteSettings.State != armdataprotection.SoftDeleteStateOn ||
		*p.SecuritySettings.SoftDeleteSettings.RetentionDurationInDays != 14 ||
		*p.SecureScore != armdataprotection.SecureScoreLevelAdequate || *p.BcdrSecurityLevel != armdataprotection.BCDRSecurityLevelGood {
		t.Fatalf("security of a vault created without settings: %+v %v %v", p.SecuritySettings, *p.SecureScore, *p.BcdrSecurityLevel)
	}
	patch := func(sd armdataprotection.SoftDeleteSettings) *armdataprotection.BackupVault {
		v, err := fixture.Wait(f.NewBackupVaultsClient().BeginUpdate(ctx, "vault-rg", "v1", armdataprotection.PatchResourceRequestInput{Properties: &armdataprotection.PatchBackupVaultInput{
			SecuritySettings: &armdataprotection.SecuritySettings{SoftDeleteSettings: &sd}}}, nil))
		if err != nil {
			t.Fatal(err)
		}
		return v.Properties
	}
	p = patch(armdataprotection.SoftDeleteSettings{State: to.Ptr(armdataprotection.SoftDeleteStateOff)})
	if *p.SecuritySettings.SoftDeleteSettings.State != armdataprotection.SoftDeleteStateOff || *p.SecureScore != armdataprotection.SecureScoreLevelNone || *p.BcdrSecurityLevel != armdataprotection.BCDRSecurityLevelPoor {
		t.Fatalf("security with soft delete off: %+v %v %v", p.SecuritySettings.SoftDeleteSettings, *p.SecureScore, *p.BcdrSecurityLevel)
	}
	p = patch(armdataprotection.SoftDeleteSettings{State: to.Ptr(armdataprotection.SoftDeleteStateOn), RetentionDurationInDays: to.Ptr[float64](30)})
	if *p.SecuritySettings.SoftDeleteSettings.State != armdataprotection.SoftDeleteStateOn || *p.SecuritySettings.SoftDeleteSettings.RetentionDurationInDays != 30 ||
		*p.SecureScore != armdataprotection.SecureScoreLevelAdequate || *p.BcdrSecurityLevel != armdataprotection.BCDRSecurityLevelGood {
		t.Fatalf("security with soft delete on: %+v %v %v", p.SecuritySettings.SoftDeleteSettings, *p.SecureScore, *p.BcdrSecurityLevel)
	}
	// A PUT that leaves the settings out keeps them.
	if v := fixture.BackupVault(t, e, "vault-rg", "v1"); *v.Properties.SecuritySettings.SoftDeleteSettings.RetentionDurationInDays != 30 {
		t.Fatalf("soft delete after a PUT without settings: %+v", v.Properties.SecuritySettings.SoftDeleteSettings)
	}
}

// TestAdhocBackupWithTagThePolicyLacks: Azure's ad hoc backup example asks
// for retention tag 'yearly' of a policy with Default and Weekly rules, and
// Azure accepts it; the point is kept by the policy's default rule and the
// job says so. The job answers dataSourceSetName and the rule and task in
// extendedInfo.additionalDetails.
func TestAdhocBackupWithTagThePolicyLacks(t *testing.T) {
	e := testserver.Start(t)
	biPath, _, _ := protectDisk(t, e, "P1D", "P7D", "P30D")
	resp, m := e.Do("POST", biPath+"/backup?api-version=2024-04-01", `{"objectType":"AzureBackupParams","backupRuleOptions":{"ruleName":"BackupHourly","triggerOption":{"retentionTagOverride":"yearly"}}}`)
	if resp.StatusCode != 202 {
		t.Fatalf("ad hoc backup with tag 'yearly': %d %v", resp.StatusCode, m)
	}
	st := e.Poll(resp.Header.Get("Azure-AsyncOperation"))
	jobID, _ := testserver.Field(st, "properties.jobId").(string)
	if st["status"] != "Succeeded" || jobID == "" {
		t.Fatalf("backup status %v", st)
	}
	ps, _ := listPoints(t, e, biPath)
	if len(ps) != 1 || ps[0].Tag != "Default" {
		t.Fatalf("points %+v, want one kept by the Default rule", ps)
	}
	vaultPath := strings.SplitN(biPath, "/backupInstances/", 2)[0]
	_, job := e.Do("GET", vaultPath+"/backupJobs/"+jobID+"?api-version=2024-04-01", nil)
	ad, _ := testserver.Field(job, "properties.extendedInfo.additionalDetails").(map[string]any)
	if testserver.Field(job, "properties.dataSourceSetName") != "d1" || ad["PolicyRuleName"] != "BackupHourly" || ad["TaskId"] != jobID ||
		!strings.Contains(fmt.Sprint(ad["RetentionTagOverride"]), "'yearly'") {
		t.Fatalf("job %v", job)
	}
}
