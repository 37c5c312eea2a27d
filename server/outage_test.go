package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// With its object storage out of reach (the S3 server down), the server
// says so: the storage usage (safehold status, the dashboard) answers 503
// ServiceUnavailable naming the object storage, and a snapshot's SAS read
// 503 ServerBusy, both to retry once it is back. They answered 500
// InternalServerError (the usage without a word of why), as for a bug.
func TestObjectStorageOutageIsServiceUnavailable(t *testing.T) {
	e, stop := testserver.StartOnS3(t)
	ctx := e.Ctx()
	e.ResourceGroups("rg")
	disk, _ := fixture.Disk(t, e, "rg", "d1", 1, 0)
	sc := testserver.Factory(e, armcompute.NewClientFactory).NewSnapshotsClient()
	p, err := sc.BeginCreateOrUpdate(ctx, "rg", "s1", armcompute.Snapshot{Location: to.Ptr("westus"), Properties: &armcompute.SnapshotProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: to.Ptr(disk)}}}, nil)
	fixture.Done(t, p, err)
	gp, err := sc.BeginGrantAccess(ctx, "rg", "s1", armcompute.GrantAccessData{Access: to.Ptr(armcompute.AccessLevelRead), DurationInSeconds: to.Ptr[int32](3600)}, nil)
	sas := *fixture.Done(t, gp, err).AccessSAS

	stop()
	r, m := raw(t, e, "GET", "/subscriptions/"+e.Sub+"/providers/Safehold.Storage/usage/default?api-version=2024-01-01", "", nil)
	ce, _ := m["error"].(map[string]any)
	if r.StatusCode != http.StatusServiceUnavailable || ce["code"] != "ServiceUnavailable" || !strings.Contains(ce["message"].(string), "object storage") || r.Header.Get("Retry-After") == "" {
		t.Errorf("usage with the object storage down: %d %v (Retry-After %q)", r.StatusCode, m, r.Header.Get("Retry-After"))
	}
	hc, _ := e.Conn.HTTPClient()
	req, _ := http.NewRequest("GET", sas, nil)
	req.Header.Set("x-ms-range", "bytes=0-4095")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("x-ms-error-code") != "ServerBusy" {
		t.Errorf("snapshot read with the object storage down: %d %s", resp.StatusCode, resp.Header.Get("x-ms-error-code"))
	}
}
