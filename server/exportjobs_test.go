package server_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"path"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
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
