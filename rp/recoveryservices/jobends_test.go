package recoveryservices_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/fault"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/server"
	"github.com/safehold/safehold/store"
)

// heldLease is the task and item lease of the servers of
// TestProtectionChangedUnderARunningVMBackup: the job runner renews a
// running task's lease every third of it, and such a renewal is what found
// a stopped schedule's task gone.
const heldLease = 3 * time.Second

// TestProtectionChangedUnderARunningVMBackup: a protected VM's protection
// changes while its backup is held in its capture (a fault rule's latency)
// across at least one renewal of the task's lease, then the backup goes
// on. Every backup job ends: a scheduled one whose item's protection was
// stopped (retaining its data) or suspended, and a backup-now whose item's
// protection was stopped, end Failed with
// UserErrorProtectionChangedWhileRunning (errorTitle) naming the change,
// with no recovery point; one whose item was deleted ends, and the delete
// completes. Before, the stop and the delete removed the schedule's task
// while its backup ran, the runner stopped the handler at its next lease
// renewal, and the job stayed InProgress for ever; the suspended item's
// scheduled backup and the stopped item's backup-now recorded a point
// after the change.
func TestProtectionChangedUnderARunningVMBackup(t *testing.T) {
	const v = "?api-version=2024-04-01"
	type env struct {
		e    *testserver.Env
		I    string
		vmID string
	}
	stopWith := func(state string) func(t *testing.T, x env) func() {
		return func(t *testing.T, x env) func() {
			resp, m := x.e.Do("PUT", x.I+v, map[string]any{"properties": map[string]any{"protectedItemType": "Microsoft.Compute/virtualMachines",
				"sourceResourceId": x.vmID, "protectionState": state, "policyId": ""}})
			must(t, state, resp, m, 202)
			return nil
		}
	}
	cases := []struct {
		name   string
		adhoc  bool
		change func(t *testing.T, x env) (finish func())
		code   string // "" for the delete: whichever end the job had
		says   string
	}{
		{name: "scheduled/stop", change: stopWith("ProtectionStopped"), code: protection.CodeProtectionChanged, says: "stopped"},
		{name: "scheduled/suspend", change: stopWith("BackupsSuspended"), code: protection.CodeProtectionChanged, says: "suspended"},
		{name: "scheduled/delete", change: func(t *testing.T, x env) func() {
			resp, m := x.e.Do("DELETE", x.I+v, nil)
			must(t, "delete", resp, m, 202)
			loc := resp.Header.Get("Location")
			return func() { waitNoContent(t, x.e, "the item's delete", loc) }
		}},
		{name: "adhoc/stop", adhoc: true, change: stopWith("ProtectionStopped"), code: protection.CodeProtectionChanged, says: "stopped"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
			clk := clock.NewFake(start)
			e := testserver.Start(t, testserver.WithClock(clk), func(c *server.Config) { c.LeaseTTL = heldLease })
			e.ResourceGroups("vmrg", "vaultrg")
			vm := mkVM(t, e, "vmrg", "app", 0, 1<<20)
			R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/rv"
			I := R + "/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;vmrg;app/protectedItems/VM;iaasvmcontainerv2;vmrg;app"
			mkVault(t, e, R+"?api-version=2023-04-01", "westus")
			runAt := "2025-01-01T02:00:00Z"
			resp, m := e.Do("PUT", R+"/backupPolicies/daily"+v, map[string]any{"properties": map[string]any{
				"backupManagementType": "AzureIaasVM", "instantRpRetentionRangeInDays": 2, "timeZone": "UTC",
				"schedulePolicy": map[string]any{"schedulePolicyType": "SimpleSchedulePolicy", "scheduleRunFrequency": "Daily", "scheduleRunTimes": []string{runAt}},
				"retentionPolicy": map[string]any{"retentionPolicyType": "LongTermRetentionPolicy",
					"dailySchedule": map[string]any{"retentionTimes": []string{runAt}, "retentionDuration": map[string]any{"count": 7, "durationType": "Days"}}},
			}})
			must(t, "policy", resp, m, 200)
			protect(t, e, I+v, vm.ID, R+"/backupPolicies/daily")
			var itemID string
			e.WaitFor("the item's schedule", func() bool {
				resp, m := e.Do("GET", I+v, nil)
				if resp.StatusCode != 200 {
					return false
				}
				itemID = str(m, "id")
				_, err := e.Server.Store.GetTaskByKey(e.Ctx(), protection.TaskKey(itemID))
				return err == nil
			})
			if _, err := e.Server.Faults.Add(fault.Rule{Name: "hold", Operation: fault.OpBackup, Latency: "10m"}, clk.Now()); err != nil {
				t.Fatal(err)
			}
			if c.adhoc {
				resp, m := e.Do("POST", I+"/backup"+v, map[string]any{"properties": map[string]any{"objectType": "IaasVMBackupRequest"}})
				must(t, "backup", resp, m, 202)
			} else {
				e.MoveClock(clk, start.Add(2*time.Hour)) // the schedule's first run
			}
			e.WaitFaultRuleHit("the backup held in its capture", "hold")
			finish := c.change(t, env{e, I, vm.ID})
			// Past a renewal of the running task's lease (every third of
			// it): the one that found the schedule's task gone stopped the
			// backup. A loaded machine may renew later, which only makes
			// the test miss the old failure, never fail with the fix.
			time.Sleep(heldLease)
			if !e.Server.Faults.Delete("hold") {
				t.Fatal("the fault rule is gone")
			}
			if finish != nil {
				finish()
			}
			var job map[string]any
			e.WaitFor("the backup job to end", func() bool {
				resp, m := e.Do("GET", R+"/backupJobs"+v+"&$filter="+url.QueryEscape("operation eq 'Backup'"), nil)
				must(t, "jobs", resp, m, 200)
				jobs, _ := m["value"].([]any)
				if len(jobs) != 1 {
					return false
				}
				job = jobs[0].(map[string]any)
				return str(job, "properties.status") != "InProgress"
			})
			status := str(job, "properties.status")
			if c.code == "" {
				if status != "Failed" && status != "Completed" {
					t.Fatalf("the job ended %s", status)
				}
				return
			}
			errs, _ := job["properties"].(map[string]any)["errorDetails"].([]any)
			if status != "Failed" || len(errs) == 0 || str(errs[0].(map[string]any), "errorTitle") != c.code ||
				!strings.Contains(str(errs[0].(map[string]any), "errorString"), c.says) {
				t.Fatalf("the job ended %s with %v, want Failed with %s naming %q", status, errs, c.code, c.says)
			}
			resp, m = e.Do("GET", I+"/recoveryPoints"+v, nil)
			must(t, "points", resp, m, 200)
			if pts, _ := m["value"].([]any); len(pts) != 0 {
				t.Fatalf("%d recovery points listed, want none", len(pts))
			}
			if c.adhoc {
				return
			}
			// The stopped item has no runs left; the suspended one only
			// applies retention (it has no point to expire).
			if _, err := e.Server.Store.GetTaskByKey(e.Ctx(), protection.TaskKey(itemID)); err == nil && c.name == "scheduled/stop" {
				t.Fatal("the stopped item is still scheduled")
			} else if err != nil && !errors.Is(err, store.ErrNotFound) {
				t.Fatal(err)
			}
		})
	}
}
