package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"path"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// Data Protection ExportJobs through the Go SDK: the trigger LRO, its
// operation result, and the exported list at the URL the result gives.
func TestDataProtectionExportJobs(t *testing.T) {
	e := testserver.Start(t)
	dv := fixture.ProtectDisk(t, e)
	jobID := dv.Backup(t, e)
	ctx := e.Ctx()
	f := testserver.Factory(e, armdataprotection.NewClientFactory)
	var resp *http.Response
	if _, err := fixture.Wait(f.NewExportJobsClient().BeginTrigger(runtime.WithCaptureResponse(ctx, &resp), dv.RG, dv.Vault, nil)); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	opID := path.Base(u.Path)
	res, err := f.NewExportJobsOperationResultClient().Get(ctx, dv.RG, dv.Vault, opID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.BlobURL == nil || res.ExcelFileBlobURL == nil {
		t.Fatalf("export result %+v", res.ExportJobsResult)
	}
	r, m := raw(t, e, "GET", *res.BlobURL, "", nil)
	if r.StatusCode != 200 {
		t.Fatalf("exported list: %d %v", r.StatusCode, m)
	}
	b, _ := json.Marshal(m["value"])
	var jobs []armdataprotection.AzureBackupJobResource
	if err := json.Unmarshal(b, &jobs); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, j := range jobs {
		if j.Name != nil && (*j.Name == jobID || *j.ID == jobID) {
			found = true
		}
	}
	if len(jobs) < 2 || !found {
		t.Fatalf("exported %d jobs, want the configure and backup jobs including %s: %s", len(jobs), jobID, b)
	}
	if r, m := raw(t, e, "GET", "/subscriptions/"+e.Conn.SubscriptionID+"/resourceGroups/"+dv.RG+"/providers/Microsoft.DataProtection/backupVaults/"+dv.Vault+"/backupJobs/operations/nope?api-version=2024-04-01", "", nil); r.StatusCode != 404 {
		t.Fatalf("unknown export: %d %v", r.StatusCode, m)
	}
}

// TestRecoveryServicesJobsExport: Recovery Services JobsClient.Export writes the vault's job list and
// answers 202 with the Location of its result; the result (through the
// SDK) gives the URL where the exported list is served; that list holds the
// vault's jobs as the job list shows them; an unknown export is 404.
func TestRecoveryServicesJobsExport(t *testing.T) {
	e := testserver.Start(t)
	v := fixture.ProtectVM(t, e)
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	var accepted *http.Response
	if _, err := bf.NewJobsClient().Export(runtime.WithCaptureResponse(e.Ctx(), &accepted), v.Vault, v.RG, nil); err != nil {
		t.Fatalf("export: %v", err)
	}
	if accepted.StatusCode != http.StatusAccepted || accepted.Header.Get("Location") == "" {
		t.Fatalf("export answered %d, Location %q: want 202 with a Location", accepted.StatusCode, accepted.Header.Get("Location"))
	}
	loc, err := url.Parse(accepted.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := bf.NewExportJobsOperationResultsClient().Get(e.Ctx(), v.Vault, v.RG, path.Base(loc.Path), nil)
	if err != nil {
		t.Fatalf("export result: %v", err)
	}
	info, ok := res.Operation.(*armrecoveryservicesbackup.ExportJobsOperationResultInfo)
	if !ok || info.BlobURL == nil || info.ExcelFileBlobURL == nil || *info.BlobURL != *info.ExcelFileBlobURL {
		t.Fatalf("export result %+v", res.Operation)
	}
	u, err := url.Parse(*info.BlobURL)
	if err != nil {
		t.Fatal(err)
	}
	_, list := e.Do("GET", u.RequestURI(), nil)
	_, jobs := e.Do("GET", "/subscriptions/"+e.Sub+"/resourceGroups/"+v.RG+"/providers/Microsoft.RecoveryServices/vaults/"+v.Vault+"/backupJobs?api-version=2024-04-01", nil)
	got, want := list["value"].([]any), jobs["value"].([]any)
	if len(want) == 0 || len(got) != len(want) || list["exportedAt"] == nil {
		t.Fatalf("exported %v, want the %d jobs of the list %v", list, len(want), jobs)
	}
	for i := range want {
		if g, w := testserver.Field(got[i].(map[string]any), "name"), testserver.Field(want[i].(map[string]any), "name"); g != w {
			t.Fatalf("exported job %d is %v, the job list's %v", i, g, w)
		}
	}
	if resp, m := e.Do("GET", "/subscriptions/"+e.Sub+"/resourceGroups/"+v.RG+"/providers/Microsoft.RecoveryServices/vaults/"+v.Vault+"/backupJobs/exports/nope?api-version=2024-04-01", nil); resp.StatusCode != http.StatusNotFound || testserver.Field(m, "error.code") != "BMSUserErrorOperationNotFound" {
		t.Fatalf("unknown export: %d %v", resp.StatusCode, m)
	}
}
