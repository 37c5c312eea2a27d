package server_test

import (
	"context"
	"encoding/json"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/server"
	"github.com/safehold/safehold/store"
)

const (
	roleReader            = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
	roleBackupContributor = "5e467623-bb1f-42f4-a55d-6e525e11384b"
)

// packFiles maps pack names to their files below dir (a repository).
func packFiles(dir string) map[string]string {
	out := map[string]string{}
	filepath.WalkDir(filepath.Join(dir, "pack"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.Contains(d.Name(), ".") {
			out[d.Name()] = p
		}
		return nil
	})
	return out
}

func str(m map[string]any, path string) string {
	v := testserver.Field(m, path)
	s, _ := v.(string)
	return s
}

// waitVaultJob waits for a vault's job to end and returns its body.
func waitVaultJob(t *testing.T, e *testserver.Env, vault, job, av string) map[string]any {
	t.Helper()
	var m map[string]any
	e.WaitFor("job "+job, func() bool {
		var resp *http.Response
		resp, m = call(t, e, "GET", vault+"/backupJobs/"+job+av, nil)
		mustStatus(t, 200, resp, m)
		s := str(m, "properties.status")
		return s != "InProgress" && s != "Cancelling"
	})
	return m
}

// startVerify posts a vault's verify action and returns the operation's
// final status (polled at Azure-AsyncOperation) and the verify job id.
func startVerify(t *testing.T, e *testserver.Env, vault, av, token string, body any) (map[string]any, string) {
	t.Helper()
	resp, m := raw(t, e, "POST", vault+"/verify"+av, token, body)
	mustStatus(t, 202, resp, m)
	if resp.Header.Get("Location") == "" || resp.Header.Get("Azure-AsyncOperation") == "" {
		t.Fatalf("verify: no Location / Azure-AsyncOperation: %v", resp.Header)
	}
	st := pollOp(t, e, resp.Header.Get("Azure-AsyncOperation"))
	return st, str(st, "properties.jobId")
}

// TestVerifyJobs: POST .../verify on a Backup vault and on a Recovery
// Services vault runs a Verify job in the vault's job list (read through
// the unmodified SDKs too): Completed on intact data; after one byte of a
// pack the vault's point needs is flipped, Failed with
// UserErrorRecoveryPointCorrupt naming the point, the point marked, and a
// restore of it failing at once. A Reader gets 403, a Contributor may
// verify; the admin verify (the CLI's) runs jobs in both vaults.
func TestVerifyJobs(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	sub := "/subscriptions/" + e.Sub
	const av = "?api-version=2024-04-01"

	// A VM in a Recovery Services vault, backed up.
	vm := fixture.ProtectVM(t, e)
	rsVault := sub + "/resourceGroups/" + vm.RG + "/providers/Microsoft.RecoveryServices/vaults/" + vm.Vault
	item := rsVault + "/backupFabrics/Azure/protectionContainers/" + url.PathEscape(vm.Container) + "/protectedItems/" + url.PathEscape(vm.Item)
	resp, m := call(t, e, "POST", item+"/backup"+av, map[string]any{"properties": map[string]any{"objectType": "IaasVMBackupRequest"}})
	mustStatus(t, 202, resp, m)
	st := pollOp(t, e, resp.Header.Get("Azure-AsyncOperation"))
	if j := waitVaultJob(t, e, rsVault, str(st, "properties.jobId"), av); str(j, "properties.status") != "Completed" {
		t.Fatalf("RS backup: %v", j)
	}
	opBefore := packFiles(filepath.Join(e.DataDir, "snapshots", "repo"))

	// A disk in a Backup vault with data of its own, backed up.
	dv := fixture.ProtectDisk(t, e)
	dv.WriteRandom(t, e, 100<<20, 8<<20)
	dv.Backup(t, e)
	dpVault := sub + "/resourceGroups/" + dv.RG + "/providers/Microsoft.DataProtection/backupVaults/" + dv.Vault

	points := func(vault string) []*protection.RecoveryPoint {
		ps, err := protection.ListAllRecoveryPoints(ctx, e.Server.Store, vault)
		if err != nil || len(ps) != 1 {
			t.Fatalf("points of %s: %v %v", vault, ps, err)
		}
		return ps
	}
	dpPoint, rsPoint := points(dpVault)[0], points(rsVault)[0]

	dpJobs, err := armdataprotection.NewJobsClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	rsJobs, err := armrecoveryservicesbackup.NewJobDetailsClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}

	// Intact: both jobs Completed, in Azure's job shapes.
	st, dpJob := startVerify(t, e, dpVault, av, "", map[string]any{"readData": true})
	if str(st, "status") != "Succeeded" || dpJob == "" {
		t.Fatalf("DP verify of intact data: %v", st)
	}
	dj, err := dpJobs.Get(ctx, dv.RG, dv.Vault, dpJob, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := dj.Properties; *p.Operation != "Verify" || *p.OperationCategory != "Verify" || *p.Status != "Completed" || !*p.IsUserTriggered || *p.DataSourceID != dpVault {
		t.Fatalf("DP verify job: %+v", p)
	}
	st, rsJob := startVerify(t, e, rsVault, av, "", map[string]any{"sample": 0.5})
	if str(st, "status") != "Succeeded" || rsJob == "" {
		t.Fatalf("RS verify: %v", st)
	}
	waitVaultJob(t, e, rsVault, rsJob, av)
	rj, err := rsJobs.Get(ctx, vm.Vault, vm.RG, rsJob, nil)
	if err != nil {
		t.Fatal(err)
	}
	vj, ok := rj.Properties.(*armrecoveryservicesbackup.VaultJob)
	if !ok {
		t.Fatalf("RS verify job is a %T", rj.Properties)
	}
	if *vj.Operation != "Verify" || *vj.Status != "Completed" || *vj.EntityFriendlyName != vm.Vault || len(vj.ErrorDetails) != 0 ||
		vj.BackupManagementType == nil || *vj.BackupManagementType != armrecoveryservicesbackup.BackupManagementTypeAzureIaasVM {
		t.Fatalf("RS verify job: %+v", vj)
	}
	// Every job of the vault's list carries its backupManagementType (the
	// vault holds VMs), the verify job's too, so a filter on it keeps it.
	_, m = call(t, e, "GET", rsVault+"/backupJobs"+av+"&$filter="+url.QueryEscape("backupManagementType eq 'AzureIaasVM' and operation eq 'Verify'"), nil)
	if l, _ := m["value"].([]any); len(l) != 1 {
		t.Fatalf("RS verify jobs of AzureIaasVM: %v", m)
	}
	_, m = call(t, e, "GET", rsVault+"/backupJobs"+av, nil)
	for _, j := range m["value"].([]any) {
		if str(j.(map[string]any), "properties.backupManagementType") != "AzureIaasVM" {
			t.Fatalf("RS job without backupManagementType AzureIaasVM: %v", j)
		}
	}

	// Bad input and permissions.
	resp, m = call(t, e, "POST", dpVault+"/verify"+av, map[string]any{"readData": true, "sample": 0.1})
	if resp.StatusCode != 400 || testserver.ErrorCode(m) != "InvalidVerifyMode" {
		t.Errorf("readData and sample: %d %v", resp.StatusCode, m)
	}
	resp, m = call(t, e, "POST", rsVault+"/verify"+av, map[string]any{"sample": 2})
	if resp.StatusCode != 400 || testserver.ErrorCode(m) != "InvalidSample" {
		t.Errorf("sample 2: %d %v", resp.StatusCode, m)
	}
	_, reader := newPrincipal(t, e, roleReader)
	for _, vault := range []string{dpVault, rsVault} {
		resp, m := raw(t, e, "POST", vault+"/verify"+av, reader, map[string]any{})
		if resp.StatusCode != 403 || testserver.ErrorCode(m) != "AuthorizationFailed" || !strings.Contains(str(m, "error.message"), "/verify/action") {
			t.Errorf("Reader verify of %s: %d %v", vault, resp.StatusCode, m)
		}
	}
	_, contributor := newPrincipal(t, e, roleContributor)
	if st, _ := startVerify(t, e, dpVault, av, contributor, nil); str(st, "status") != "Succeeded" {
		t.Errorf("Contributor verify: %v", st)
	}
	_, backupContributor := newPrincipal(t, e, roleBackupContributor)
	if st, _ := startVerify(t, e, rsVault, av, backupContributor, map[string]any{}); str(st, "status") != "Succeeded" {
		t.Errorf("Backup Contributor verify: %v", st)
	}

	// Damage in the Backup vault's data: a pack only its point needs.
	opAfter := packFiles(filepath.Join(e.DataDir, "snapshots", "repo"))
	pack, file := fixture.MostData(t, opAfter, func(k string) bool { _, old := opBefore[k]; return !old }) // a pack of the disk backup's own
	fixture.FlipByte(t, file)
	st, dpJob = startVerify(t, e, dpVault, av, "", map[string]any{"readData": true})
	if str(st, "status") != "Failed" || str(st, "error.code") != protection.CodeRecoveryPointCorrupt || !strings.Contains(str(st, "error.message"), dpPoint.ID) {
		t.Fatalf("DP verify of damaged data: %v", st)
	}
	dj, err = dpJobsLatestVerify(t, dpJobs, dv.RG, dv.Vault)
	if err != nil {
		t.Fatal(err)
	}
	if p := dj.Properties; *p.Status != "Failed" || len(p.ErrorDetails) != 1 || *p.ErrorDetails[0].Code != protection.CodeRecoveryPointCorrupt ||
		!strings.Contains(*p.ErrorDetails[0].Message, dpPoint.ID) || !strings.Contains(*p.ErrorDetails[0].Message, pack) {
		t.Fatalf("DP verify job after damage: %+v %+v", p, p.ErrorDetails)
	}
	if p, _ := protection.GetRecoveryPoint(ctx, e.Server.Store, dpPoint.ItemID, dpPoint.ID); !strings.Contains(protection.DamageOf(p), pack) {
		t.Fatalf("DP point not marked: %v", p.Details)
	}
	// The Recovery Services vault's data is not affected.
	if st, _ := startVerify(t, e, rsVault, av, "", map[string]any{"readData": true}); str(st, "status") != "Succeeded" {
		t.Fatalf("RS verify: %v", st)
	}
	e.WaitFor("RS verify", func() bool {
		js, _ := protection.ListJobs(ctx, e.Server.Store, rsVault, protection.JobFilter{Operation: protection.OpVerify, Status: protection.JobInProgress})
		return len(js) == 0
	})
	if js, _ := protection.ListJobs(ctx, e.Server.Store, rsVault, protection.JobFilter{Operation: protection.OpVerify, Status: protection.JobFailed}); len(js) != 0 {
		t.Fatalf("RS verify failed on the Backup vault's damage: %+v", js[0].Error)
	}
	// A restore of the marked point fails at once and creates nothing.
	target := dv.TargetRG + "/providers/Microsoft.Compute/disks/restored-bad"
	resp, m = call(t, e, "POST", dpVault+"/backupInstances/"+dv.Instance+"/restore"+av, map[string]any{
		"objectType": "AzureBackupRecoveryPointBasedRestoreRequest", "recoveryPointId": dpPoint.ID, "sourceDataStoreType": "OperationalStore",
		"restoreTargetInfo": map[string]any{"objectType": "RestoreTargetInfo", "recoveryOption": "FailIfExists", "restoreLocation": "westus",
			"datasourceInfo": map[string]any{"objectType": "Datasource", "datasourceType": "Microsoft.Compute/disks", "resourceID": target, "resourceLocation": "westus"}}})
	mustStatus(t, 202, resp, m)
	st = pollOp(t, e, resp.Header.Get("Azure-AsyncOperation"))
	if str(st, "status") != "Failed" || str(st, "error.code") != protection.CodeRecoveryPointCorrupt {
		t.Fatalf("restore of a damaged point: %v", st)
	}
	if resp, _ := call(t, e, "GET", target+"?api-version=2023-04-02", nil); resp.StatusCode != 404 {
		t.Fatalf("restore of a damaged point created the disk: %d", resp.StatusCode)
	}

	// Damage in the Recovery Services vault's tier, and in its instant
	// snapshot's (a point with one tier whole restores from it:
	// TestTwoTierPointRestoresFromItsWholeTier).
	vaults, _ := os.ReadDir(filepath.Join(e.DataDir, "vaults"))
	if len(vaults) != 1 {
		t.Fatalf("test setup: vault tiers %v", vaults)
	}
	vpack, vfile := fixture.MostData(t, packFiles(filepath.Join(e.DataDir, "vaults", vaults[0].Name(), "repo")), nil)
	fixture.FlipByte(t, vfile)
	_, ofile := fixture.MostData(t, opBefore, nil)
	fixture.FlipByte(t, ofile)
	st, rsJob = startVerify(t, e, rsVault, av, "", map[string]any{"readData": true})
	if str(st, "status") != "Succeeded" {
		t.Fatalf("RS verify operation: %v", st)
	}
	waitVaultJob(t, e, rsVault, rsJob, av)
	rj, err = rsJobs.Get(ctx, vm.Vault, vm.RG, rsJob, nil)
	if err != nil {
		t.Fatal(err)
	}
	vj = rj.Properties.(*armrecoveryservicesbackup.VaultJob)
	if *vj.Status != "Failed" || len(vj.ErrorDetails) != 1 || !strings.Contains(*vj.ErrorDetails[0].ErrorString, rsPoint.ID) ||
		!strings.Contains(*vj.ErrorDetails[0].ErrorString, vpack) || *vj.ExtendedInfo.PropertyBag["Error Code"] != protection.CodeRecoveryPointCorrupt {
		t.Fatalf("RS verify job after damage: %+v %+v", vj, vj.ErrorDetails)
	}
	if p, _ := protection.GetRecoveryPoint(ctx, e.Server.Store, rsPoint.ItemID, rsPoint.ID); !strings.Contains(protection.DamageOf(p), vpack) {
		t.Fatalf("RS point not marked: %v", p.Details)
	}
	// The restore's staging storage account (restore checks that it exists).
	resp, m = call(t, e, "PUT", sub+"/resourceGroups/"+vm.RG+"/providers/Microsoft.Storage/storageAccounts/staging?api-version=2023-01-01",
		map[string]any{"location": "westus", "kind": "StorageV2", "sku": map[string]any{"name": "Standard_LRS"}})
	mustStatus(t, 200, resp, m)
	resp, m = call(t, e, "POST", item+"/recoveryPoints/"+rsPoint.ID+"/restore"+av, map[string]any{"properties": map[string]any{
		"objectType": "IaasVMRestoreRequest", "recoveryPointId": rsPoint.ID, "recoveryType": "RestoreDisks", "sourceResourceId": vm.VMID,
		"storageAccountId":      sub + "/resourceGroups/" + vm.RG + "/providers/Microsoft.Storage/storageAccounts/staging",
		"targetResourceGroupId": dv.TargetRG, "region": "westus"}})
	mustStatus(t, 202, resp, m)
	st = pollOp(t, e, resp.Header.Get("Azure-AsyncOperation"))
	restoreJob := str(st, "properties.jobId")
	if restoreJob == "" {
		js, _ := protection.ListJobs(ctx, e.Server.Store, rsVault, protection.JobFilter{Operation: protection.OpRestore})
		if len(js) != 1 {
			t.Fatalf("RS restore: %v, %d jobs", st, len(js))
		}
		restoreJob = js[0].ID
	}
	j := waitVaultJob(t, e, rsVault, restoreJob, av)
	errs, _ := testserver.Field(j, "properties.errorDetails").([]any)
	if str(j, "properties.status") != "Failed" || len(errs) != 1 || errs[0].(map[string]any)["errorTitle"] != protection.CodeRecoveryPointCorrupt {
		t.Fatalf("RS restore of a damaged point: %v", j)
	}

	// The admin verify (the CLI's) runs a Verify job in each vault too.
	resp, m = call(t, e, "POST", adminURL("/verify"), map[string]any{"readData": true})
	mustStatus(t, 202, resp, m)
	run := pollOp(t, e, resp.Header.Get("Azure-AsyncOperation"))
	if str(run, "status") != "Succeeded" || testserver.Field(run, "result.ok") != false {
		t.Fatalf("admin verify: %v", run)
	}
	vs, _ := run["vaults"].([]any)
	if len(vs) != 2 {
		t.Fatalf("admin verify vaults: %v", run["vaults"])
	}
	for _, x := range vs {
		vv := x.(map[string]any)
		j := waitVaultJob(t, e, vv["id"].(string), vv["jobId"].(string), av)
		if str(j, "properties.operation") != "Verify" || str(j, "properties.status") != "Failed" {
			t.Errorf("admin verify job in %s: %v", vv["id"], j)
		}
	}
}

func dpJobsLatestVerify(t *testing.T, c *armdataprotection.JobsClient, rg, vault string) (armdataprotection.JobsClientGetResponse, error) {
	t.Helper()
	var latest *armdataprotection.AzureBackupJobResource
	for pg := c.NewListPager(rg, vault, nil); pg.More(); {
		page, err := pg.NextPage(fixture.Ctx())
		if err != nil {
			return armdataprotection.JobsClientGetResponse{}, err
		}
		for _, j := range page.Value {
			if *j.Properties.Operation == "Verify" && (latest == nil || j.Properties.StartTime.After(*latest.Properties.StartTime)) {
				latest = j
			}
		}
	}
	if latest == nil {
		t.Fatal("no verify job")
	}
	return c.Get(fixture.Ctx(), rg, vault, *latest.Name, nil)
}

// TestScheduledVerify: every vault of both kinds is verified weekly by
// default (a sampled Verify job, not user-triggered, in its job list,
// once per week on the controllable clock), a vault's tags change its
// period or turn it off, re-putting a vault keeps its schedule, and bad
// tag values are refused.
func TestScheduledVerify(t *testing.T) {
	e := testserver.Start(t)
	start := time.Date(2021, 3, 1, 7, 0, 0, 0, time.UTC)
	setClock(t, e, start)
	sub := "/subscriptions/" + e.Sub
	resp, m := call(t, e, "PUT", sub+"/resourcegroups/vrg?api-version=2021-04-01", `{"location":"westus"}`)
	mustStatus(t, 201, resp, m)
	const dpAV, rsAV = "?api-version=2024-04-01", "?api-version=2023-04-01"
	dp := func(name string) string {
		return sub + "/resourceGroups/vrg/providers/Microsoft.DataProtection/backupVaults/" + name
	}
	rs := func(name string) string {
		return sub + "/resourceGroups/vrg/providers/Microsoft.RecoveryServices/vaults/" + name
	}
	putDP := func(name string, tags map[string]string) (*http.Response, map[string]any) {
		return call(t, e, "PUT", dp(name)+dpAV, map[string]any{"location": "westus", "tags": tags,
			"properties": map[string]any{"storageSettings": []any{map[string]string{"datastoreType": "VaultStore", "type": "LocallyRedundant"}}}})
	}
	putRS := func(name string, tags map[string]string) (*http.Response, map[string]any) {
		return call(t, e, "PUT", rs(name)+rsAV, map[string]any{"location": "westus", "tags": tags, "sku": map[string]string{"name": "Standard"}, "properties": map[string]any{}})
	}
	for _, c := range []struct {
		put  func(string, map[string]string) (*http.Response, map[string]any)
		name string
		tags map[string]string
	}{
		{putDP, "dv1", nil}, {putRS, "rv1", nil},
		{putDP, "dv-off", map[string]string{"safehold-verify-every": "off"}},
		{putRS, "rv-daily", map[string]string{"safehold-verify-every": "P1D", "safehold-verify-sample": "all"}},
	} {
		if resp, m := c.put(c.name, c.tags); resp.StatusCode != 201 {
			t.Fatalf("vault %s: %d %v", c.name, resp.StatusCode, m)
		}
	}
	for _, bad := range []map[string]string{{"safehold-verify-every": "5m"}, {"safehold-verify-every": "weekly"}, {"safehold-verify-sample": "1.5"}, {"safehold-verify-sample": "NaN"}} { // NaN passed the range check (it compares false)
		if resp, m := putDP("dv-bad", bad); resp.StatusCode != 400 || !strings.Contains(str(m, "error.message"), "safehold-verify-") {
			t.Errorf("DP vault with tags %v: %d %v", bad, resp.StatusCode, m)
		}
		if resp, m := putRS("rv-bad", bad); resp.StatusCode != 400 || !strings.Contains(str(m, "error.message"), "safehold-verify-") {
			t.Errorf("RS vault with tags %v: %d %v", bad, resp.StatusCode, m)
		}
	}

	verifies := func(vault, av string) []map[string]any {
		t.Helper()
		var out []map[string]any
		resp, m := call(t, e, "GET", vault+"/backupJobs"+av, nil)
		mustStatus(t, 200, resp, m)
		for _, x := range m["value"].([]any) {
			if p := x.(map[string]any)["properties"].(map[string]any); p["operation"] == "Verify" {
				out = append(out, p)
			}
		}
		return out
	}
	counts := func() [4]int {
		return [4]int{len(verifies(dp("dv1"), dpAV)), len(verifies(rs("rv1"), rsAV)), len(verifies(dp("dv-off"), dpAV)), len(verifies(rs("rv-daily"), rsAV))}
	}

	advanceClock(t, e, "P3D")
	if resp, m := putDP("dv1", nil); resp.StatusCode != 200 { // the same vault again: its schedule stays
		t.Fatalf("re-put dv1: %d %v", resp.StatusCode, m)
	}
	advanceClock(t, e, "PT95H")
	if got := counts(); got != [4]int{0, 0, 0, 6} {
		t.Fatalf("verify jobs after 6 days 23 hours (dv1, rv1, dv-off, rv-daily): %v", got)
	}
	advanceClock(t, e, "PT1H")
	if got := counts(); got != [4]int{1, 1, 0, 7} {
		t.Fatalf("verify jobs after 7 days (dv1, rv1, dv-off, rv-daily): %v", got)
	}
	week := start.Add(7 * 24 * time.Hour)
	j := verifies(dp("dv1"), dpAV)[0]
	if j["status"] != "Completed" || j["isUserTriggered"] != false || j["operationCategory"] != "Verify" || !strings.Contains(toString(testserver.Field(j, "extendedInfo.additionalDetails")), "sample") {
		t.Errorf("DP scheduled verify job: %v", j)
	}
	if st, _ := time.Parse(time.RFC3339Nano, j["startTime"].(string)); !st.Equal(week) {
		t.Errorf("DP scheduled verify started at %v, want %v", st, week)
	}
	j = verifies(rs("rv1"), rsAV)[0]
	if j["status"] != "Completed" || j["jobType"] != "VaultJob" || j["entityFriendlyName"] != "rv1" {
		t.Errorf("RS scheduled verify job: %v", j)
	}
	if !strings.Contains(toString(verifies(rs("rv-daily"), rsAV)[0]["extendedInfo"]), "read-data") {
		t.Errorf("rv-daily verify is not a full read: %v", verifies(rs("rv-daily"), rsAV)[0])
	}

	// Turn rv1's schedule off; dv1 goes on weekly.
	resp, m = call(t, e, "PATCH", rs("rv1")+rsAV, map[string]any{"tags": map[string]string{"safehold-verify-every": "off"}})
	if resp.StatusCode != 200 && resp.StatusCode != 202 {
		t.Fatalf("patch rv1: %d %v", resp.StatusCode, m)
	}
	advanceClock(t, e, "P7D")
	if got := counts(); got != [4]int{2, 1, 0, 14} {
		t.Fatalf("verify jobs after 14 days (dv1, rv1, dv-off, rv-daily): %v", got)
	}
	// The schedules survive a restart, neither lost nor doubled.
	e.Restart()
	advanceClock(t, e, "P7D")
	if got := counts(); got != [4]int{3, 1, 0, 21} {
		t.Fatalf("verify jobs after a restart and 21 days (dv1, rv1, dv-off, rv-daily): %v", got)
	}
	// Verify records (what the admin API returns) go 30 days after their
	// end; the jobs stay.
	advanceClock(t, e, "P31D")
	docs, err := e.Server.Store.List(e.Ctx(), "protection.verify", store.ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	now := start.Add(52 * 24 * time.Hour)
	for _, d := range docs {
		var v protection.VerifyRun
		json.Unmarshal(d.Value, &v)
		if v.End == nil || now.Sub(*v.End) > 30*24*time.Hour+time.Hour {
			t.Errorf("verify %s (ended %v) kept at %v", v.ID, v.End, now)
		}
	}
	if len(docs) < 30 {
		t.Errorf("%d verify records left, want the last 30 days'", len(docs))
	}
	if got := counts(); got != [4]int{7, 1, 0, 52} {
		t.Fatalf("verify jobs after 52 days (dv1, rv1, dv-off, rv-daily): %v", got)
	}
}

func toString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// stallingBlob is the operational tier's real backend, whose pack reads
// wait while stall is set until their context ends (a verify cut short
// by a shutdown).
type stallingBlob struct {
	blob.Backend
	stall   *atomic.Bool
	reading chan string
}

func (b stallingBlob) Get(ctx context.Context, key string, off, n int64) ([]byte, error) {
	if b.stall.Load() && strings.HasPrefix(key, "pack/") {
		select {
		case b.reading <- key:
		default:
		}
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return b.Backend.Get(ctx, key, off, n)
}

// TestVerifyResumesAfterRestart: a verify cut short by a shutdown (the
// vault's ARM action and the admin's) stays InProgress and runs again
// after the restart, ending Completed, once, with no point marked.
func TestVerifyResumesAfterRestart(t *testing.T) {
	var stall atomic.Bool
	reading := make(chan string, 1)
	e := testserver.Start(t, func(c *server.Config) {
		c.Compute.WrapBlob = func(be blob.Backend) blob.Backend { return stallingBlob{Backend: be, stall: &stall, reading: reading} }
	})
	dv := fixture.ProtectDisk(t, e)
	dv.Backup(t, e)
	vault := "/subscriptions/" + e.Sub + "/resourceGroups/" + dv.RG + "/providers/Microsoft.DataProtection/backupVaults/" + dv.Vault
	const av = "?api-version=2024-04-01"

	stall.Store(true)
	resp, m := call(t, e, "POST", vault+"/verify"+av, map[string]any{"readData": true})
	mustStatus(t, 202, resp, m)
	<-reading
	resp, m = call(t, e, "POST", adminURL("/verify"), map[string]any{"readData": true})
	mustStatus(t, 202, resp, m)
	adminRun := m["id"].(string)
	<-reading
	jobs := func() []map[string]any {
		var out []map[string]any
		_, m := call(t, e, "GET", vault+"/backupJobs"+av, nil)
		for _, x := range m["value"].([]any) {
			if p := x.(map[string]any)["properties"].(map[string]any); p["operation"] == "Verify" {
				out = append(out, p)
			}
		}
		return out
	}
	if js := jobs(); len(js) != 2 || js[0]["status"] != "InProgress" || js[1]["status"] != "InProgress" {
		t.Fatalf("verify jobs while reading: %v", js)
	}
	stall.Store(false)
	e.Restart()
	e.WaitFor("verify jobs after the restart", func() bool {
		js := jobs()
		return len(js) == 2 && js[0]["status"] != "InProgress" && js[1]["status"] != "InProgress"
	})
	for _, j := range jobs() {
		if j["status"] != "Completed" {
			t.Errorf("verify job after the restart: %v", j)
		}
	}
	e.WaitFor("the admin verify after the restart", func() bool { // its record ends after its jobs
		_, m = call(t, e, "GET", adminURL("/verify/"+adminRun), nil)
		return m["status"] != "InProgress"
	})
	if m["status"] != "Succeeded" || testserver.Field(m, "result.ok") != true {
		t.Errorf("admin verify after the restart: %v", m)
	}
	ps, _ := protection.ListAllRecoveryPoints(e.Ctx(), e.Server.Store, "")
	for _, p := range ps {
		if protection.DamageOf(p) != "" {
			t.Errorf("point %s marked damaged by an interrupted verify: %s", p.ID, protection.DamageOf(p))
		}
	}
}
