package dataprotection_test

import (
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/fault"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/server"
)

// heldLease is the task and item lease of the servers of the tests that
// change an instance's protection under a held backup: the job runner
// renews a running task's lease every third of it, and such a renewal is
// what found a stopped schedule's task gone.
const heldLease = 3 * time.Second

// TestProtectionChangedUnderARunningBackup: an instance's protection
// changes while its backup is held in its capture (a fault rule's latency),
// across at least one renewal of the task's lease, then the backup goes on.
// Every job ends, and its recovery point exists and is listed only when
// the job says so: a scheduled backup whose instance was stopped,
// suspended or moved to another policy meanwhile, and an ad hoc one whose
// instance was stopped, end Failed with UserErrorProtectionChangedWhileRunning
// naming the change, keeping no point and no snapshot; one whose instance
// was deleted ends, and the delete completes. Before, stopping protection,
// changing the policy or deleting the instance removed (or replaced) the
// schedule's task while its backup ran, the runner stopped the handler at
// its next lease renewal, and the job stayed InProgress for ever (nothing
// was left to run it again); a suspended instance's scheduled backup, and
// a stopped one's ad hoc backup, recorded a point after the change.
func TestProtectionChangedUnderARunningBackup(t *testing.T) {
	const v = "?api-version=2024-04-01"
	cases := []struct {
		name   string
		adhoc  bool
		change func(t *testing.T, e *testserver.Env, biPath, diskID string) (finish func())
		code   string // the job's error code; "" for the delete, whichever end it had
		says   string // what the job's message names
	}{
		{name: "scheduled/stopProtection", change: action("stopProtection"), code: protection.CodeProtectionChanged, says: "stopped"},
		{name: "scheduled/suspendBackups", change: action("suspendBackups"), code: protection.CodeProtectionChanged, says: "suspended"},
		{name: "scheduled/otherPolicy", change: otherPolicy, code: protection.CodeProtectionChanged, says: "'p1' to 'p2'"},
		{name: "scheduled/delete", change: deleteHeld},
		{name: "adhoc/stopProtection", adhoc: true, change: action("stopProtection"), code: protection.CodeProtectionChanged, says: "stopped"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			day1 := time.Date(2021, 1, 1, 8, 0, 0, 0, time.UTC)
			clk := clock.NewFake(day1.Add(-time.Hour))
			e := testserver.Start(t, testserver.WithClock(clk), func(c *server.Config) { c.LeaseTTL = heldLease })
			biPath, _, diskID := protectDisk(t, e, "PT4H", "P1D", "")
			if _, err := e.Server.Faults.Add(fault.Rule{Name: "hold", Operation: fault.OpBackup, Latency: "10m"}, clk.Now()); err != nil {
				t.Fatal(err)
			}
			var opURL string
			if c.adhoc {
				resp, m := e.Do("POST", biPath+"/backup"+v, `{"backupRuleOptions":{"ruleName":"BackupHourly","triggerOption":{"retentionTagOverride":"Default"}}}`)
				if resp.StatusCode != 202 {
					t.Fatalf("backup: %d %v", resp.StatusCode, m)
				}
				opURL = resp.Header.Get("Azure-AsyncOperation")
			} else {
				e.MoveClock(clk, day1) // the schedule's first run
			}
			e.WaitFaultRuleHit("the backup held in its capture", "hold")
			finish := c.change(t, e, biPath, diskID)
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
			if opURL != "" {
				if st := e.Poll(opURL); st["status"] == "InProgress" || st["status"] == nil {
					t.Fatalf("the backup's operation: %v", st)
				}
			}
			f := testserver.Factory(e, armdataprotection.NewClientFactory)
			var job *armdataprotection.AzureBackupJob
			e.WaitFor("the backup job to end", func() bool {
				job = nil
				for p := range fixture.Pages(t, f.NewJobsClient().NewListPager("vault-rg", "v1", nil)) {
					for _, j := range p.Value {
						if j.Properties != nil && *j.Properties.Operation == protection.OpBackup {
							job = j.Properties
						}
					}
				}
				return job != nil && *job.Status != protection.JobInProgress
			})
			if c.code == "" {
				if *job.Status != protection.JobFailed && *job.Status != protection.JobCompleted {
					t.Fatalf("the job ended %s", *job.Status)
				}
			} else {
				if *job.Status != protection.JobFailed || len(job.ErrorDetails) == 0 || *job.ErrorDetails[0].Code != c.code ||
					!strings.Contains(*job.ErrorDetails[0].Message, c.says) {
					t.Fatalf("the job ended %s with %s, want Failed with %s naming %q", *job.Status, errorsOf(job), c.code, c.says)
				}
				if pts, _ := listPoints(t, e, biPath); len(pts) != 0 {
					t.Fatalf("%d recovery points listed, want none: %+v", len(pts), pts)
				}
			}
			if c.code != "" || *job.Status == protection.JobFailed {
				if n := snapshotCount(t, e); n != 0 {
					t.Fatalf("%d snapshots left by a backup that kept no point", n)
				}
			}
		})
	}
}

func errorsOf(j *armdataprotection.AzureBackupJob) string {
	var out []string
	for _, d := range j.ErrorDetails {
		if d.Code != nil && d.Message != nil {
			out = append(out, *d.Code+": "+*d.Message)
		}
	}
	return "[" + strings.Join(out, "; ") + "]"
}

// action is a change that POSTs the instance action name (stopProtection,
// suspendBackups): 202, and its operation succeeds.
func action(name string) func(t *testing.T, e *testserver.Env, biPath, diskID string) func() {
	return func(t *testing.T, e *testserver.Env, biPath, diskID string) func() {
		t.Helper()
		resp, m := e.Do("POST", biPath+"/"+name+"?api-version=2024-04-01", nil)
		if resp.StatusCode != 202 {
			t.Fatalf("%s: %d %v", name, resp.StatusCode, m)
		}
		if st := e.Poll(resp.Header.Get("Azure-AsyncOperation")); st["status"] != "Succeeded" {
			t.Fatalf("%s: %v", name, st)
		}
		return nil
	}
}

// otherPolicy moves the instance to a new policy p2 (a PUT of the instance).
func otherPolicy(t *testing.T, e *testserver.Env, biPath, diskID string) func() {
	t.Helper()
	vaultPath := v1Path(e)
	const v = "?api-version=2024-04-01"
	if resp, m := e.Do("PUT", vaultPath+"/backupPolicies/p2"+v, fixture.DiskPolicyFrom(fixture.ScheduleStart(e), "PT8H", "P2D", "")); resp.StatusCode != 200 {
		t.Fatalf("policy p2: %d %v", resp.StatusCode, m)
	}
	resp, bi := e.Do("PUT", biPath+v, `{"properties":{"objectType":"BackupInstance","datasourceInfo":{"objectType":"Datasource","datasourceType":"Microsoft.Compute/disks","resourceID":"`+diskID+`"},
		"policyInfo":{"policyId":"`+vaultPath+`/backupPolicies/p2","policyParameters":{"dataStoreParametersList":[{"objectType":"AzureOperationalStoreParameters","dataStoreType":"OperationalStore","resourceGroupId":"/subscriptions/`+e.Sub+`/resourceGroups/snapshot-rg"}]}}}}`)
	if resp.StatusCode != 200 && resp.StatusCode != 201 {
		t.Fatalf("the instance on p2: %d %v", resp.StatusCode, bi)
	}
	if u := resp.Header.Get("Azure-AsyncOperation"); u != "" {
		if st := e.Poll(u); st["status"] != "Succeeded" {
			t.Fatalf("the instance on p2: %v", st)
		}
	}
	return nil
}

// deleteHeld begins the instance's delete; finish waits for it (its
// operation waits for the backup, which holds the instance's lease).
func deleteHeld(t *testing.T, e *testserver.Env, biPath, diskID string) func() {
	t.Helper()
	resp, m := e.Do("DELETE", biPath+"?api-version=2024-04-01", nil)
	if resp.StatusCode != 202 {
		t.Fatalf("delete: %d %v", resp.StatusCode, m)
	}
	op := resp.Header.Get("Azure-AsyncOperation")
	return func() {
		if st := e.Poll(op); st["status"] != "Succeeded" {
			t.Fatalf("delete: %v", st)
		}
		if resp, _ := e.Do("GET", biPath+"?api-version=2024-04-01", nil); resp.StatusCode != 404 {
			t.Fatalf("the deleted instance answers %d", resp.StatusCode)
		}
	}
}
