package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/server"
)

// jobError is the error code and message a DP or RS job ended with.
func jobError(j map[string]any) (code, msg string) {
	if ed, _ := testserver.Field(j, "properties.errorDetails").([]any); len(ed) > 0 {
		d, _ := ed[0].(map[string]any)
		code, msg = str(d, "code"), str(d, "message")
		if code == "" { // Recovery Services' shape
			code, msg = str(d, "errorTitle"), str(d, "errorString")
		}
	}
	return code, msg
}

// TestDiskFull runs a server whose data directory (store, backup data,
// disk images) is a small tmpfs and fills it up. Nearly full (the store
// can still write, backup data cannot): ad hoc backups (Backup vault and
// Recovery Services), scheduled ones under a clock advance, and a restore
// end Failed with UserErrorInsufficientStorage and its recommended action;
// a disk or snapshot copy fails InsufficientStorage and leaves nothing.
// Full (the store cannot write either):
// the clock advance ends at once with 507 InsufficientStorage saying where
// it stopped, ARM writes (a resource group, a policy, an ad hoc backup), a
// page-blob write and a blob upload answer 507 InsufficientStorage, reads
// keep working. Once the space is
// freed, without a restart: the advance runs the schedule, new backups
// succeed, and what was stored before reads back and verifies.
func TestDiskFull(t *testing.T) {
	if os.Getenv("SAFEHOLD_TEST_STORE") == "postgres" {
		t.Skip("the store must be on the file system that fills up: SQLite in the data dir, not PostgreSQL (SAFEHOLD_TEST_STORE)")
	}
	dir := testsvc.SmallDisk(t, 64)
	e := testserver.Start(t, func(c *server.Config) { c.DataDir = filepath.Join(dir, "data") })
	filler := filepath.Join(dir, "filler")
	sub := "/subscriptions/" + e.Sub
	const av = "?api-version=2024-04-01"
	setClock(t, e, time.Date(2021, 1, 1, 7, 0, 0, 0, time.UTC))

	dv := fixture.ProtectDisk(t, e) // PT4H from 08:00
	dpVault := sub + "/resourceGroups/" + dv.RG + "/providers/Microsoft.DataProtection/backupVaults/" + dv.Vault
	bi := dpVault + "/backupInstances/" + dv.Instance
	vm := fixture.ProtectVM(t, e)
	rsVault := sub + "/resourceGroups/" + vm.RG + "/providers/Microsoft.RecoveryServices/vaults/" + vm.Vault
	item := rsVault + "/backupFabrics/Azure/protectionContainers/" + url.PathEscape(vm.Container) + "/protectedItems/" + url.PathEscape(vm.Item)
	vmDisk := &fixture.DiskVault{DiskID: sub + "/resourceGroups/vm-rg/providers/Microsoft.Compute/disks/app1-data0"}
	scratchID, _ := fixture.Disk(t, e, "disk-rg", "scratch", 1)

	// advance advances the clock by d; it fails the test if the advance
	// does not answer within a minute.
	advance := func(d string) (*http.Response, map[string]any) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "POST", e.Conn.ARMEndpoint+adminURL("/clock/advance"), strings.NewReader(`{"duration":"`+d+`"}`))
		req.Header.Set("Authorization", "Bearer "+e.Token(nil))
		req.Header.Set("Content-Type", "application/json")
		hc, err := e.Conn.HTTPClient()
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("advance %s: %v", d, err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatalf("advance %s: %d, not JSON: %v", d, resp.StatusCode, err)
		}
		return resp, m
	}
	// ended sends a request that starts a job in vault and returns the job
	// once it has ended.
	ended := func(vault string, send func() (*http.Response, map[string]any)) map[string]any {
		t.Helper()
		ids := func() map[string]bool {
			_, m := call(t, e, "GET", vault+"/backupJobs"+av, nil)
			out := map[string]bool{}
			for _, j := range m["value"].([]any) {
				out[str(j.(map[string]any), "name")] = true
			}
			return out
		}
		before := ids()
		resp, m := send()
		mustStatus(t, 202, resp, m)
		pollOp(t, e, resp.Header.Get("Azure-AsyncOperation"))
		for id := range ids() {
			if !before[id] {
				return waitVaultJob(t, e, vault, id, av)
			}
		}
		t.Fatalf("no new job in %s", vault)
		return nil
	}
	dpBackup := func() (*http.Response, map[string]any) {
		return call(t, e, "POST", bi+"/backup"+av, map[string]any{"objectType": "AzureBackupParams",
			"backupRuleOptions": map[string]any{"ruleName": "BackupHourly", "triggerOption": map[string]any{"retentionTagOverride": "Default"}}})
	}
	dpBackupJob := func() map[string]any { t.Helper(); return ended(dpVault, dpBackup) }
	rsBackup := func() map[string]any {
		t.Helper()
		return ended(rsVault, func() (*http.Response, map[string]any) {
			return call(t, e, "POST", item+"/backup"+av, map[string]any{"properties": map[string]any{"objectType": "IaasVMBackupRequest"}})
		})
	}
	dpRestore := func(point, name string) map[string]any {
		t.Helper()
		return ended(dpVault, func() (*http.Response, map[string]any) {
			return call(t, e, "POST", bi+"/restore"+av, map[string]any{
				"objectType": "AzureBackupRecoveryPointBasedRestoreRequest", "recoveryPointId": point, "sourceDataStoreType": "OperationalStore",
				"restoreTargetInfo": map[string]any{"objectType": "RestoreTargetInfo", "recoveryOption": "FailIfExists", "restoreLocation": "westus",
					"datasourceInfo": map[string]any{"objectType": "Datasource", "datasourceType": "Microsoft.Compute/disks",
						"resourceID": dv.TargetRG + "/providers/Microsoft.Compute/disks/" + name, "resourceLocation": "westus"}}})
		})
	}
	outOfSpace := func(what string, j map[string]any) {
		t.Helper()
		b, _ := json.Marshal(j)
		if code, msg := jobError(j); str(j, "properties.status") != "Failed" || code != protection.CodeInsufficientStorage || !strings.Contains(msg, "not enough free space") ||
			!strings.Contains(string(b), "Free space on the file system") { // the recommended action
			t.Errorf("%s when out of space: %s %s %s %v", what, str(j, "properties.status"), code, msg, j["properties"])
		}
	}
	refused507 := func(what string, resp *http.Response, m map[string]any) {
		t.Helper()
		if resp.StatusCode != 507 || testserver.ErrorCode(m) != "InsufficientStorage" || !strings.Contains(strings.ToLower(str(m, "error.message")), "free space") {
			t.Errorf("%s when full: %d %v", what, resp.StatusCode, m)
		}
	}

	// Before: a scheduled backup (08:00), an ad hoc RS one.
	if resp, m := advance("PT2H"); resp.StatusCode != 200 {
		t.Fatalf("advance: %d %v", resp.StatusCode, m)
	}
	if j := rsBackup(); str(j, "properties.status") != "Completed" {
		t.Fatalf("RS backup: %v", j)
	}
	_, points := call(t, e, "GET", bi+"/recoveryPoints"+av, nil)
	if n := len(points["value"].([]any)); n != 1 {
		t.Fatalf("%d points before", n)
	}
	point := str(points["value"].([]any)[0].(map[string]any), "name")

	// Nearly full: new data does not fit, the store's writes do.
	dv.WriteRandom(t, e, 8<<20, 8<<20)
	vmDisk.WriteRandom(t, e, 8<<20, 8<<20)
	testsvc.FillUp(t, filler, 2<<20)
	outOfSpace("DP ad hoc backup", dpBackupJob())
	outOfSpace("RS ad hoc backup", rsBackup())
	outOfSpace("DP restore", dpRestore(point, "restored-full"))
	// A disk and a snapshot copied from the disk fail (their operations
	// say why) and leave nothing behind, their space included.
	for _, id := range []string{"/disks/copy", "/snapshots/copy"} {
		id = sub + "/resourceGroups/disk-rg/providers/Microsoft.Compute" + id + "?api-version=2023-04-02"
		resp, m := call(t, e, "PUT", id, map[string]any{"location": "westus",
			"properties": map[string]any{"creationData": map[string]any{"createOption": "Copy", "sourceResourceId": dv.DiskID}}})
		mustStatus(t, 202, resp, m)
		if st := pollOp(t, e, resp.Header.Get("Azure-AsyncOperation")); str(st, "status") != "Failed" || str(st, "error.code") != "InsufficientStorage" {
			t.Errorf("copy %s when out of space: %v", id, st)
		}
		if resp, m := call(t, e, "GET", id, nil); resp.StatusCode != 404 {
			t.Errorf("copy %s that failed: %d %v", id, resp.StatusCode, m)
		}
	}
	if resp, m := advance("PT8H"); resp.StatusCode != 200 {
		t.Errorf("advance nearly full: %d %v", resp.StatusCode, m)
	}
	failed := 0
	for _, j := range jobs(t, e, dpVault) {
		if j["operation"] == "Backup" && j["status"] == "Failed" {
			failed++
		}
	}
	if failed != 3 { // the ad hoc one, 12:00 and 16:00
		t.Errorf("%d failed backups, want 3: %v", failed, jobs(t, e, dpVault))
	}

	// Full: the store cannot write.
	var re *azcore.ResponseError
	scratch, _ := fixture.DiskAccessByID(t, e, scratchID, armcompute.AccessLevelWrite)
	_, blobs := fixture.StorageAccount(t, e, "disk-rg", "diskfull1")
	if _, err := blobs.CreateContainer(e.Ctx(), "full", nil); err != nil {
		t.Fatal(err)
	}
	testsvc.FillUp(t, filler, 0)
	if _, err := blobs.UploadBuffer(e.Ctx(), "full", "b", make([]byte, 1<<20), nil); !errors.As(err, &re) || re.StatusCode != 507 || re.ErrorCode != "InsufficientStorage" {
		t.Errorf("blob upload when full: %v", err)
	}
	page := make([]byte, 4<<20)
	rand.Read(page)
	if err := fixture.WritePages(scratch, 0, page); !errors.As(err, &re) || re.StatusCode != 507 || re.ErrorCode != "InsufficientStorage" {
		t.Errorf("page-blob write when full: %v", err)
	}
	resp, m := advance("PT8H")
	refused507("advance", resp, m)
	if !strings.Contains(str(m, "error.message"), "stopped at 2021-01-01T20:00:00Z") {
		t.Errorf("advance when full does not say where it stopped: %v", m)
	}
	resp, m = call(t, e, "PUT", sub+"/resourcegroups/new-rg?api-version=2021-04-01", `{"location":"westus"}`)
	refused507("resource group PUT", resp, m)
	resp, m = call(t, e, "PUT", dpVault+"/backupPolicies/p2"+av, fixture.DiskPolicy("PT4H", "P7D", ""))
	refused507("policy PUT", resp, m)
	resp, m = dpBackup()
	refused507("ad hoc backup", resp, m)
	for _, p := range []string{dpVault + av, bi + "/recoveryPoints" + av, rsVault + "/backupJobs" + av, sub + "/resourcegroups?api-version=2021-04-01"} {
		if resp, m := call(t, e, "GET", p, nil); resp.StatusCode != 200 {
			t.Errorf("GET %s when full: %d %v", p, resp.StatusCode, m)
		}
	}
	for _, v := range []string{dpVault, rsVault} {
		for _, j := range jobs(t, e, v) {
			if j["status"] == "InProgress" {
				t.Errorf("a job in progress when full: %v", j)
			}
		}
	}

	// Freed: everything works again, without a restart.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if resp, m := advance("PT4H"); resp.StatusCode != 200 {
		t.Fatalf("advance once freed: %d %v", resp.StatusCode, m)
	}
	if j := dpBackupJob(); str(j, "properties.status") != "Completed" {
		t.Errorf("DP backup once freed: %v", j)
	}
	if j := rsBackup(); str(j, "properties.status") != "Completed" {
		t.Errorf("RS backup once freed: %v", j)
	}
	if _, err := blobs.UploadBuffer(e.Ctx(), "full", "b", page, nil); err != nil {
		t.Errorf("blob upload once freed: %v", err)
	}
	if resp, m := call(t, e, "PUT", sub+"/resourcegroups/new-rg?api-version=2021-04-01", `{"location":"westus"}`); resp.StatusCode != 201 {
		t.Errorf("resource group PUT once freed: %d %v", resp.StatusCode, m)
	}
	scratch, _ = fixture.DiskAccessByID(t, e, scratchID, armcompute.AccessLevelWrite)
	if err := fixture.WritePages(scratch, 0, page); err != nil {
		t.Errorf("page-blob write once freed: %v", err)
	} else if !bytes.Equal(fixture.ReadPages(t, scratch, 0, int64(len(page))), page) {
		t.Error("the pages written once freed read back otherwise")
	}
	for _, v := range []string{dpVault, rsVault} {
		if st, _ := startVerify(t, e, v, av, "", map[string]any{"readData": true}); str(st, "status") != "Succeeded" {
			t.Errorf("verify %s: %v", v, st)
		}
	}
	// The point taken before reads back as it was.
	if j := dpRestore(point, "restored"); str(j, "properties.status") != "Completed" {
		t.Fatalf("restore once freed: %v", j)
	}
	restored, revoke := fixture.DiskAccess(t, e, "target-rg", "restored", armcompute.AccessLevelRead)
	defer revoke()
	for off, want := range dv.Written {
		if !bytes.Equal(fixture.ReadPages(t, restored, off, int64(len(want))), want) {
			t.Errorf("restored disk differs at %d", off)
		}
	}
}

// TestUploadThatFillsTheDiskEnds: an upload through a disk's write SAS
// that fills the data directory's file system fails with 507, and its
// endGetAccess still ends the grant (the disk Unattached, deletable, its
// space given back): the revoke, a write to the store, answered 507 too,
// which left the disk ActiveUpload, undeletable until the grant's hour ran
// out.
func TestUploadThatFillsTheDiskEnds(t *testing.T) {
	if os.Getenv("SAFEHOLD_TEST_STORE") == "postgres" {
		t.Skip("the store must be on the file system that fills up: SQLite in the data dir, not PostgreSQL (SAFEHOLD_TEST_STORE)")
	}
	uploadFillsTheDisk(t, testsvc.SmallDisk(t, 48))
}

// TestUploadThatFillsTheDiskEndsOnPostgres: with the store on PostgreSQL,
// the data directory's file system full is not the store's: the revoke's
// writes go to PostgreSQL, and the upload ends with no reserve (the
// PostgreSQL store keeps none; a PostgreSQL out of space of its own is its
// operator's to free, which no file beside Safehold's data could help).
func TestUploadThatFillsTheDiskEndsOnPostgres(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	uploadFillsTheDisk(t, testsvc.SmallDisk(t, 48), testserver.WithStore(url))
}

func uploadFillsTheDisk(t *testing.T, dir string, opts ...testserver.Option) {
	e := testserver.Start(t, append(opts, func(c *server.Config) { c.DataDir = filepath.Join(dir, "data") })...)
	e.ResourceGroups("disk-rg")
	id, _ := fixture.Disk(t, e, "disk-rg", "up", 1)
	pc, _ := fixture.DiskAccessByID(t, e, id, armcompute.AccessLevelWrite)
	page := make([]byte, 4<<20)
	var re *azcore.ResponseError
	for off := int64(0); ; off += int64(len(page)) {
		if off >= 1<<30 {
			t.Fatal("the upload never filled the file system")
		}
		rand.Read(page)
		err := fixture.WritePages(pc, off, page)
		if err == nil {
			continue
		}
		if !errors.As(err, &re) || re.StatusCode != 507 || re.ErrorCode != "InsufficientStorage" {
			t.Fatalf("upload at %d when full: %v", off, err)
		}
		break
	}
	av := "?api-version=2023-04-02"
	resp, m := call(t, e, "POST", id+"/endGetAccess"+av, nil)
	mustStatus(t, 202, resp, m)
	if st := pollOp(t, e, resp.Header.Get("Azure-AsyncOperation")); str(st, "status") != "Succeeded" {
		t.Fatalf("endGetAccess after the upload filled the disk: %v", st)
	}
	if resp, m := call(t, e, "GET", id+av, nil); resp.StatusCode != 200 || str(m, "properties.diskState") != "Unattached" {
		t.Fatalf("disk after endGetAccess: %d %v", resp.StatusCode, m)
	}
	resp, m = call(t, e, "DELETE", id+av, nil)
	if resp.StatusCode != 202 && resp.StatusCode != 200 {
		t.Fatalf("delete after endGetAccess: %d %v", resp.StatusCode, m)
	}
	if resp.StatusCode == 202 {
		if st := pollOp(t, e, resp.Header.Get("Azure-AsyncOperation")); str(st, "status") != "Succeeded" {
			t.Fatalf("delete after endGetAccess: %v", st)
		}
	}
	// Its space is back: a resource group can be made.
	if resp, m := call(t, e, "PUT", "/subscriptions/"+e.Sub+"/resourcegroups/after-rg?api-version=2021-04-01", `{"location":"westus"}`); resp.StatusCode != 201 {
		t.Errorf("resource group PUT once the disk is deleted: %d %v", resp.StatusCode, m)
	}
}
