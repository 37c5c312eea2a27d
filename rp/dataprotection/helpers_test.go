package dataprotection_test

import (
	"io"
	"net/http"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// Built-in role definition ids (Azure's).
const (
	roleDiskBackupReader        = fixture.RoleDiskBackupReader
	roleDiskSnapshotContributor = fixture.RoleDiskSnapshotContributor
	roleDiskRestoreOperator     = fixture.RoleDiskRestoreOperator
)

// patchVault PATCHes a Backup vault as Azure answers it: 202 with both
// polling headers; the operation succeeds and its result is the vault.
func patchVault(t *testing.T, e *testserver.Env, path, body string) map[string]any {
	t.Helper()
	resp, m := e.Do("PATCH", path, body)
	fixture.Accepted(t, "PATCH "+path, resp)
	if st := e.Poll(resp.Header.Get("Azure-AsyncOperation")); st["status"] != "Succeeded" {
		t.Fatalf("PATCH %s: %v", path, st)
	}
	resp, m = e.Do("GET", resp.Header.Get("Location"), nil)
	if resp.StatusCode != 200 || m["id"] == nil {
		t.Fatalf("PATCH %s result: %d %v, want 200 with the vault", path, resp.StatusCode, m)
	}
	return m
}

// backupNow triggers an ad-hoc backup of the instance at biPath (rule
// BackupHourly, the Default tag) at api-version v (a "?api-version=..."
// query), requires 202 and returns the operation's final status.
func backupNow(t *testing.T, e *testserver.Env, biPath, v string) map[string]any {
	t.Helper()
	resp, m := e.Do("POST", biPath+"/backup"+v, `{"backupRuleOptions":{"ruleName":"BackupHourly","triggerOption":{"retentionTagOverride":"Default"}}}`)
	if resp.StatusCode != 202 {
		t.Fatalf("backup: %d %v", resp.StatusCode, m)
	}
	return e.Poll(resp.Header.Get("Azure-AsyncOperation"))
}

// deleteInstance deletes the instance at biPath at api-version v: 202, an
// operation that succeeds, and the instance answers 404 afterwards.
func deleteInstance(t *testing.T, e *testserver.Env, biPath, v string) {
	t.Helper()
	resp, _ := e.Do("DELETE", biPath+v, nil)
	if resp.StatusCode != 202 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	if st := e.Poll(resp.Header.Get("Azure-AsyncOperation")); st["status"] != "Succeeded" {
		t.Fatalf("delete: %v", st)
	}
	if resp, _ := e.Do("GET", biPath+v, nil); resp.StatusCode != 404 {
		t.Fatalf("get after delete: %d", resp.StatusCode)
	}
}

// newDisk creates a disk and writes data into it through the compute data
// plane (the live volume's write path); it returns the written bytes.
func newDisk(t *testing.T, e *testserver.Env, id string, size int64, seed byte) []byte {
	t.Helper()
	ctx := e.Ctx()
	if _, err := e.Server.Compute.CreateDisk(ctx, compute.DiskSpec{ID: id, Location: "westus", CreateOption: "Empty", SizeBytes: size}); err != nil {
		t.Fatalf("create disk: %v", err)
	}
	return writeDisk(t, e, id, seed)
}

// writeDisk writes a recognisable pattern into a few regions of the disk.
func writeDisk(t *testing.T, e *testserver.Env, id string, seed byte) []byte {
	t.Helper()
	ctx := e.Ctx()
	v, err := e.Server.Compute.Volume(ctx, id)
	if err != nil {
		t.Fatalf("open volume: %v", err)
	}
	buf := make([]byte, 256<<10)
	for i := range buf {
		buf[i] = byte(i*7) ^ seed
	}
	for _, off := range []int64{0, 3 << 20, v.Size() - int64(len(buf))} {
		if _, err := v.WriteAt(buf, off); err != nil {
			t.Fatalf("write disk: %v", err)
		}
	}
	if err := v.Flush(); err != nil {
		t.Fatal(err)
	}
	return readDisk(t, e, id)
}

func readDisk(t *testing.T, e *testserver.Env, id string) []byte {
	t.Helper()
	v, err := e.Server.Compute.Volume(e.Ctx(), id)
	if err != nil {
		t.Fatalf("open volume %s: %v", id, err)
	}
	out := make([]byte, v.Size())
	if _, err := v.ReadAt(out, 0); err != nil && err != io.EOF {
		t.Fatalf("read disk: %v", err)
	}
	return out
}

func assign(t *testing.T, e *testserver.Env, scope, role, principal string) string {
	t.Helper()
	return fixture.Assign(t, e, scope, role, principal)
}

func unassign(t *testing.T, e *testserver.Env, scope, name string) {
	t.Helper()
	ra, _ := armauthorization.NewRoleAssignmentsClient(e.Sub, e.Cred, e.Opts)
	if _, err := ra.Delete(e.Ctx(), scope, name, nil); err != nil {
		t.Fatalf("delete assignment: %v", err)
	}
}

const diskPolicyJSON = `{ "properties": {
  "objectType": "BackupPolicy",
  "datasourceTypes": [ "Microsoft.Compute/disks" ],
  "policyRules": [
    { "objectType": "AzureBackupRule", "name": "BackupHourly",
      "backupParameters": { "objectType": "AzureBackupParams", "backupType": "Incremental" },
      "dataStore": { "objectType": "DataStoreInfoBase", "dataStoreType": "OperationalStore" },
      "trigger": { "objectType": "ScheduleBasedTriggerContext",
        "schedule": { "repeatingTimeIntervals": [ "R/2021-05-19T06:00:00+00:00/%s" ], "timeZone": "UTC" },
        "taggingCriteria": [
          { "isDefault": true,  "taggingPriority": 99, "tagInfo": { "tagName": "Default" } },
          { "isDefault": false, "taggingPriority": 25, "tagInfo": { "tagName": "Daily" },
            "criteria": [ { "objectType": "ScheduleBasedBackupCriteria", "absoluteCriteria": [ "FirstOfDay" ] } ] } ] } },
    { "objectType": "AzureRetentionRule", "name": "Default", "isDefault": true,
      "lifecycles": [ { "sourceDataStore": { "objectType": "DataStoreInfoBase", "dataStoreType": "OperationalStore" },
                        "deleteAfter": { "objectType": "AbsoluteDeleteOption", "duration": "%s" },
                        "targetDataStoreCopySettings": [] } ] },
    { "objectType": "AzureRetentionRule", "name": "Daily", "isDefault": false,
      "lifecycles": [ { "sourceDataStore": { "objectType": "DataStoreInfoBase", "dataStoreType": "OperationalStore" },
                        "deleteAfter": { "objectType": "AbsoluteDeleteOption", "duration": "%s" } } ] } ] } }`

// revokeAll deletes every role assignment of principal in the subscription.
func revokeAll(t *testing.T, e *testserver.Env, principal string) int {
	t.Helper()
	ra, _ := armauthorization.NewRoleAssignmentsClient(e.Sub, e.Cred, e.Opts)
	n := 0
	for page := range fixture.Pages(t, ra.NewListForSubscriptionPager(&armauthorization.RoleAssignmentsClientListForSubscriptionOptions{Filter: to.Ptr("principalId eq '" + principal + "'")})) {
		for _, a := range page.Value {
			if _, err := ra.DeleteByID(e.Ctx(), *a.ID, nil); err != nil {
				t.Fatalf("delete assignment %s: %v", *a.ID, err)
			}
			n++
		}
	}
	return n
}

// v1Path is the path of the Backup vault vault-rg/v1 that protectDisk creates.
func v1Path(e *testserver.Env) string {
	return "/subscriptions/" + e.Sub + "/resourceGroups/vault-rg/providers/Microsoft.DataProtection/backupVaults/v1"
}

// protectDisk sets up a vault, roles, a policy and a configured backup
// instance over raw HTTP; it returns the instance path and id. The
// policy's schedule starts where fixture.ScheduleStart says: 2021-01-01
// 08:00 UTC on a server whose clock the test holds (which counts on the
// runs at those hours), two hours from now on one at real time, where a
// run at one of those hours came among the test's steps (a PT4H policy
// runs at 00:00, 04:00, ... UTC: a backup no step asked for, a second
// failed job or a newer point than the one the test made).
func protectDisk(t *testing.T, e *testserver.Env, period, keep, daily string) (biPath, biID, diskID string) {
	t.Helper()
	e.ResourceGroups("vault-rg", "disk-rg", "snapshot-rg")
	diskID = "/subscriptions/" + e.Sub + "/resourceGroups/disk-rg/providers/Microsoft.Compute/disks/d1"
	newDisk(t, e, diskID, 8<<20, 7)
	vaultPath := v1Path(e)
	const v = "?api-version=2024-04-01"
	vresp, vault := e.Do("PUT", vaultPath+v, `{"location":"westus","identity":{"type":"SystemAssigned"},"properties":{"storageSettings":[{"datastoreType":"VaultStore","type":"LocallyRedundant"}]}}`)
	principal, ok := testserver.Field(vault, "identity.principalId").(string)
	if !ok {
		t.Fatalf("vault: %d %v", vresp.StatusCode, vault)
	}
	assign(t, e, diskID, roleDiskBackupReader, principal)
	assign(t, e, "/subscriptions/"+e.Sub+"/resourceGroups/snapshot-rg", roleDiskSnapshotContributor, principal)
	if resp, m := e.Do("PUT", vaultPath+"/backupPolicies/p1"+v, fixture.DiskPolicyFrom(fixture.ScheduleStart(e), period, keep, daily)); resp.StatusCode != 200 {
		t.Fatalf("policy: %d %v", resp.StatusCode, m)
	}
	return vaultPath + "/backupInstances/d1-bi", putInstance(t, e, "d1-bi", diskID), diskID
}

// putInstance protects diskID as backup instance name of vault-rg/v1 with
// the policy p1 (as protectDisk set them up), waits for the configuration
// and returns the instance's id.
func putInstance(t *testing.T, e *testserver.Env, name, diskID string) string {
	t.Helper()
	resp, bi := startInstance(t, e, name, diskID)
	if st := e.Poll(resp.Header.Get("Azure-AsyncOperation")); st["status"] != "Succeeded" {
		t.Fatalf("configure %s: %v", name, st)
	}
	id, ok := bi["id"].(string)
	if !ok {
		t.Fatalf("instance %s: no id in %v", name, bi)
	}
	return id
}

// startInstance PUTs the backup instance of putInstance: 201, its
// configuration accepted, not waited for.
func startInstance(t *testing.T, e *testserver.Env, name, diskID string) (*http.Response, map[string]any) {
	t.Helper()
	vaultPath := v1Path(e)
	resp, bi := e.Do("PUT", vaultPath+"/backupInstances/"+name+"?api-version=2024-04-01", `{"properties":{"objectType":"BackupInstance","datasourceInfo":{"objectType":"Datasource","datasourceType":"Microsoft.Compute/disks","resourceID":"`+diskID+`"},
		"policyInfo":{"policyId":"`+vaultPath+`/backupPolicies/p1","policyParameters":{"dataStoreParametersList":[{"objectType":"AzureOperationalStoreParameters","dataStoreType":"OperationalStore","resourceGroupId":"/subscriptions/`+e.Sub+`/resourceGroups/snapshot-rg"}]}}}}`)
	if resp.StatusCode != 201 {
		t.Fatalf("instance %s: %d %v", name, resp.StatusCode, bi)
	}
	return resp, bi
}

// waitErr waits for an SDK operation begun with (p, err) to end and
// returns its error (fixture.Wait without the result).
func waitErr[T any](p *runtime.Poller[T], err error) error {
	_, err = fixture.Wait(p, err)
	return err
}

// backedUpDisk starts a server with a disk protected in a Backup vault
// (fixture.ProtectDisk) and backed up once; it returns the server, the
// vault, a client factory of the SDK and the recovery point's name.
func backedUpDisk(t *testing.T) (*testserver.Env, *fixture.DiskVault, *armdataprotection.ClientFactory, string) {
	t.Helper()
	e := testserver.Start(t)
	dv := fixture.ProtectDisk(t, e)
	dv.Backup(t, e)
	f := testserver.Factory(e, armdataprotection.NewClientFactory)
	var point string
	for page := range fixture.Pages(t, f.NewRecoveryPointsClient().NewListPager(dv.RG, dv.Vault, dv.Instance, nil)) {
		for _, p := range page.Value {
			point = *p.Name
		}
	}
	return e, dv, f, point
}
