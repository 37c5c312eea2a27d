package dataprotection_test

import (
	"testing"
	"time"

	"github.com/safehold/safehold/fault"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestRestoreEndsWhatGoesUnderIt: a restore held by a fault rule (in its
// access check) while what it works on goes: its target's resource group,
// its backup instance (with the point), or the instance and then the
// vault (soft delete off). Its operation ends Failed with the code that
// says why, and so does its job (gone with the vault in the last case).
// The operation of a restore whose vault was deleted meanwhile answered
// Succeeded, with no disk made: the engine answered the job as it read
// it, InProgress, when the job had gone with its vault, and the operation
// took a job without an error for a success.
func TestRestoreEndsWhatGoesUnderIt(t *testing.T) {
	const v = "?api-version=2024-04-01"
	cases := []struct {
		name   string
		code   string
		change func(t *testing.T, e *testserver.Env, dv *fixture.DiskVault, biPath string)
	}{
		{"targetGroupDeleted", "UserErrorRestoreFailed", func(t *testing.T, e *testserver.Env, dv *fixture.DiskVault, biPath string) {
			resp, _ := e.Do("DELETE", dv.TargetRG+"?api-version=2021-04-01", nil)
			if resp.StatusCode != 202 && resp.StatusCode != 200 {
				t.Fatalf("delete target-rg: %d", resp.StatusCode)
			}
			if u := resp.Header.Get("Location"); u != "" {
				e.WaitFor("target-rg gone", func() bool {
					r, _ := e.Do("GET", dv.TargetRG+"?api-version=2021-04-01", nil)
					return r.StatusCode == 404
				})
			}
		}},
		{"instanceDeleted", "UserErrorRecoveryPointNotFound", func(t *testing.T, e *testserver.Env, dv *fixture.DiskVault, biPath string) {
			deleteInstance(t, e, biPath, v)
		}},
		{"vaultDeleted", "UserErrorRecoveryPointNotFound", func(t *testing.T, e *testserver.Env, dv *fixture.DiskVault, biPath string) {
			deleteInstance(t, e, biPath, v)
			vp := "/subscriptions/" + e.Sub + "/resourceGroups/" + dv.RG + "/providers/Microsoft.DataProtection/backupVaults/" + dv.Vault
			if resp, m := e.Do("DELETE", vp+v, nil); resp.StatusCode != 200 {
				t.Fatalf("vault delete: %d %v", resp.StatusCode, m)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, dv, f, point := backedUpDisk(t)
			vp := "/subscriptions/" + e.Sub + "/resourceGroups/" + dv.RG + "/providers/Microsoft.DataProtection/backupVaults/" + dv.Vault
			biPath := vp + "/backupInstances/" + dv.Instance
			// soft delete off so that the instance and the vault can go at once
			patchVault(t, e, vp+v, `{"properties":{"securitySettings":{"softDeleteSettings":{"state":"Off","retentionDurationInDays":14}}}}`)
			if _, err := e.Server.Faults.Add(fault.Rule{Name: "hold", Operation: fault.OpRestore, Latency: "10m"}, time.Now()); err != nil {
				t.Fatal(err)
			}
			target := dv.TargetRG + "/providers/Microsoft.Compute/disks/restored"
			resp, m := e.Do("POST", biPath+"/restore"+v, `{"objectType":"AzureBackupRecoveryPointBasedRestoreRequest","recoveryPointId":"`+point+`",
		"sourceDataStoreType":"OperationalStore","restoreTargetInfo":{"objectType":"RestoreTargetInfo","recoveryOption":"FailIfExists","restoreLocation":"westus",
		"datasourceInfo":{"objectType":"Datasource","datasourceType":"Microsoft.Compute/disks","resourceID":"`+target+`","resourceLocation":"westus"}}}`)
			if resp.StatusCode != 202 {
				t.Fatalf("restore: %d %v", resp.StatusCode, m)
			}
			op := resp.Header.Get("Azure-AsyncOperation")
			e.WaitFaultRuleHit("the restore held", "hold")
			c.change(t, e, dv, biPath)
			e.Server.Faults.Delete("hold")
			if st := e.Poll(op); st["status"] != "Failed" || testserver.Field(st, "error.code") != c.code {
				t.Fatalf("the restore's operation: %v, want Failed with %s", st, c.code)
			}
			if c.name == "vaultDeleted" {
				if resp, _ := e.Do("GET", vp+v, nil); resp.StatusCode != 404 {
					t.Fatalf("the deleted vault answers %d", resp.StatusCode)
				}
				return
			}
			n := 0
			for p := range fixture.Pages(t, f.NewJobsClient().NewListPager(dv.RG, dv.Vault, nil)) {
				for _, j := range p.Value {
					if *j.Properties.Operation != "Restore" {
						continue
					}
					n++
					if *j.Properties.Status != "Failed" || len(j.Properties.ErrorDetails) == 0 || *j.Properties.ErrorDetails[0].Code != c.code {
						t.Errorf("restore job %s: %s %s, want Failed with %s", *j.Name, *j.Properties.Status, errorsOf(j.Properties), c.code)
					}
				}
			}
			if n != 1 {
				t.Fatalf("%d restore jobs, want 1", n)
			}
		})
	}
}
