package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
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

// A backup that finds the object storage out of reach ends Failed saying
// so, with what to check: it said 'Retry the operation; if it fails again,
// look for the job id in Safehold's log', and its message was every failed
// pack upload's error (chunk.packErrors says the first).
func TestBackupWithTheObjectStorageDown(t *testing.T) {
	e, down := testserver.StartOnS3(t)
	dv := fixture.ProtectDisk(t, e)
	down()
	bis, err := armdataprotection.NewBackupInstancesClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	bp, err := bis.BeginAdhocBackup(e.Ctx(), dv.RG, dv.Vault, dv.Instance, armdataprotection.TriggerBackupRequest{BackupRuleOptions: &armdataprotection.AdHocBackupRuleOptions{
		RuleName: to.Ptr("BackupHourly"), TriggerOption: &armdataprotection.AdhocBackupTriggerOption{RetentionTagOverride: to.Ptr("Default")}}}, nil)
	if _, err := fixture.Wait(bp, err); err == nil || !strings.Contains(err.Error(), "object storage") {
		t.Fatalf("backup with the object storage down: %v", err)
	}
	_, m := raw(t, e, "GET", "/subscriptions/"+e.Sub+"/resourceGroups/"+dv.RG+"/providers/Microsoft.DataProtection/backupVaults/"+dv.Vault+"/backupJobs?api-version=2024-04-01", "", nil)
	found := false
	for _, j := range m["value"].([]any) {
		p := j.(map[string]any)["properties"].(map[string]any)
		if p["operation"] != "Backup" {
			continue
		}
		found = true
		b, _ := json.Marshal(p["errorDetails"])
		if p["status"] != "Failed" || !strings.Contains(string(b), "object storage") || !strings.Contains(string(b), "--blob") {
			t.Errorf("backup job with the object storage down: %v %s", p["status"], b)
		}
	}
	if !found {
		t.Fatalf("no backup job: %v", m)
	}
}

// A backup whose uploads to the object storage are cut halfway for a
// while completes once they pass: its pack uploads are tried again with a
// backoff. It failed once one upload had been cut three times (the S3
// client's own tries): the cuts go on here until at least one upload must
// have been (13 cuts, more than two for each of six uploads in flight; a
// backup has two at most per repository).
func TestBackupOutlastsCutUploads(t *testing.T) {
	e, store := testserver.StartOnFaultyS3(t)
	dv := fixture.ProtectDisk(t, e)
	store.Set(testsvc.StoreCutsPuts)
	p, err := dv.StartBackup(t, e)
	if err != nil {
		store.Set(testsvc.StoreUp)
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := fixture.Wait(p, nil); done <- err }()
	for store.Failed() < 13 {
		select {
		case err := <-done:
			store.Set(testsvc.StoreUp)
			t.Fatalf("the backup ended while every upload was cut (%d cuts): %v", store.Failed(), err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	store.Set(testsvc.StoreUp)
	if err := <-done; err != nil {
		t.Fatalf("a backup whose uploads were cut halfway %d times, then let through: %v", store.Failed(), err)
	}
	n := 0
	for page := range fixture.Pages(t, testserver.Factory(e, armdataprotection.NewClientFactory).NewRecoveryPointsClient().NewListPager(dv.RG, dv.Vault, dv.Instance, nil)) {
		n += len(page.Value)
	}
	if n != 1 {
		t.Fatalf("%d recovery points after the backup, want 1", n)
	}
}

// jobOf is the Backup vault job name's properties as the wire has them.
func jobOf(t *testing.T, e *testserver.Env, dv *fixture.DiskVault, name string) map[string]any {
	t.Helper()
	_, m := raw(t, e, "GET", "/subscriptions/"+e.Sub+"/resourceGroups/"+dv.RG+"/providers/Microsoft.DataProtection/backupVaults/"+dv.Vault+"/backupJobs/"+name+"?api-version=2024-04-01", "", nil)
	p, _ := m["properties"].(map[string]any)
	if p == nil {
		t.Fatalf("job %s: %v", name, m)
	}
	return p
}

// TestObjectStorage503IsATransientServiceError: a backup whose object
// storage answers 503 for good ends Failed with Azure's retryable
// ServiceTransientError (not a UserError...: the user did nothing wrong)
// and a message naming the object storage (its bucket) that answered; a
// restore whose object storage answers 503 for ten seconds rides it out
// as a backup's uploads do, and restores the point. Before, the backup
// ended with UserErrorBackupFailed and the restore failed within a few
// seconds (reads had only the S3 client's own three tries).
func TestObjectStorage503IsATransientServiceError(t *testing.T) {
	e, store := testserver.StartOnFaultyS3(t)
	dv := fixture.ProtectDisk(t, e)
	df := testserver.Factory(e, armdataprotection.NewClientFactory)
	ctx := e.Ctx()
	point := dv.Backup(t, e)
	var points []*armdataprotection.AzureBackupRecoveryPointResource
	for p := range fixture.Pages(t, df.NewRecoveryPointsClient().NewListPager(dv.RG, dv.Vault, dv.Instance, nil)) {
		points = append(points, p.Value...)
	}
	if len(points) != 1 {
		t.Fatalf("%d recovery points after backup job %s, want 1", len(points), point)
	}

	// A restore through ten seconds of 503.
	const name = "restored-through-503"
	target := dv.TargetRG + "/providers/Microsoft.Compute/disks/" + name
	req := &armdataprotection.AzureBackupRecoveryPointBasedRestoreRequest{ObjectType: to.Ptr("AzureBackupRecoveryPointBasedRestoreRequest"),
		RecoveryPointID: points[0].Name, SourceDataStoreType: to.Ptr(armdataprotection.SourceDataStoreTypeOperationalStore),
		RestoreTargetInfo: &armdataprotection.RestoreTargetInfo{ObjectType: to.Ptr("RestoreTargetInfo"), RecoveryOption: to.Ptr(armdataprotection.RecoveryOptionFailIfExists),
			RestoreLocation: to.Ptr("westus"), DatasourceInfo: fixture.Datasource(target, name)}}
	store.Set(testsvc.Store503)
	rp, err := df.NewBackupInstancesClient().BeginTriggerRestore(ctx, dv.RG, dv.Vault, dv.Instance, req, nil)
	if err != nil {
		store.Set(testsvc.StoreUp)
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := fixture.Wait(rp, nil); done <- err }()
	for start := time.Now(); time.Since(start) < 10*time.Second || store.Failed() < 5; {
		select {
		case err := <-done:
			store.Set(testsvc.StoreUp)
			t.Fatalf("the restore ended after %s of object storage 503 (%d answered): %v", time.Since(start).Round(time.Millisecond), store.Failed(), err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	store.Set(testsvc.StoreUp)
	if err := <-done; err != nil {
		t.Fatalf("the restore through ten seconds of object storage 503: %v", err)
	}
	v, err := e.Server.Compute.Volume(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	for off, want := range dv.Written {
		got := make([]byte, len(want))
		if _, err := v.ReadAt(got, off); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("the restored disk differs from the point at %d", off)
		}
	}

	// A backup against 503 for good.
	dv.WriteRandom(t, e, 8<<20, 1<<20)
	store.Set(testsvc.Store503)
	defer store.Set(testsvc.StoreUp)
	bp, err := dv.StartBackup(t, e)
	if _, err := fixture.Wait(bp, err); err == nil {
		t.Fatal("a backup with the object storage answering 503 succeeded")
	}
	found := false
	for page := range fixture.Pages(t, df.NewJobsClient().NewListPager(dv.RG, dv.Vault, nil)) {
		for _, j := range page.Value {
			if *j.Properties.Operation != "Backup" || *j.Properties.Status != "Failed" {
				continue
			}
			found = true
			p := jobOf(t, e, dv, *j.Name)
			b, _ := json.Marshal(p["errorDetails"])
			var details []struct{ Code, Message string }
			json.Unmarshal(b, &details)
			if len(details) == 0 || strings.HasPrefix(details[0].Code, "UserError") || !strings.Contains(details[0].Code, "Transient") ||
				!strings.Contains(details[0].Message, "503") || !strings.Contains(details[0].Message, "bucket") {
				t.Errorf("the backup job failed by the object storage's 503: %s", b)
			}
		}
	}
	if !found {
		t.Fatal("no failed backup job")
	}
}
