package server_test

import (
	"slices"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/server"
)

// TestClockSetBackKeepsAcceptedWorkDue: work accepted before the clock is
// set back runs at the new time. A task's run time is an instant of the
// server's clock, and a clock set back a day left every task accepted
// before it (a backup queued behind the runner, one running whose lease a
// restart released) due a day later: its job stayed InProgress until the
// clock came back to it. Both through the admin API's clock set and the
// Go SDK: an ad hoc backup accepted while the runner is stopped ends once
// it starts again, and one held by a backup fault rule when the clock is
// set back and the server restarts ends after the restart, as does one
// held when the server restarts with --clock (ClockStart) a day earlier.
func TestClockSetBackKeepsAcceptedWorkDue(t *testing.T) {
	e := testserver.Start(t)
	dv := fixture.ProtectDisk(t, e)
	now, err := time.Parse(time.RFC3339Nano, setClock(t, e, time.Now().UTC())["now"].(string))
	if err != nil {
		t.Fatal(err)
	}

	e.Server.Jobs.Stop()
	p, err := dv.StartBackup(t, e)
	if err != nil {
		t.Fatal(err)
	}
	setClock(t, e, now.AddDate(0, 0, -1))
	if err := e.Server.Jobs.Start(e.Ctx()); err != nil {
		t.Fatal(err)
	}
	fixture.Done(t, p, err)

	heldThenRestarted := func(what string, restart func()) {
		t.Helper()
		addRule(t, e, map[string]any{"name": "hold", "operation": "backup", "latency": "10m"})
		if _, err := dv.StartBackup(t, e); err != nil {
			t.Fatal(err)
		}
		e.WaitFaultRuleHit(what+": the backup held", "hold")
		restart()
		jobs := testserver.Factory(e, armdataprotection.NewClientFactory).NewJobsClient()
		var states []string
		e.WaitFor(what+": the held backup's job to end after the restart", func() bool {
			states = states[:0]
			for page := range fixture.Pages(t, jobs.NewListPager(dv.RG, dv.Vault, nil)) {
				for _, j := range page.Value {
					if *j.Properties.Operation == "Backup" {
						states = append(states, *j.Properties.Status)
					}
				}
			}
			return !slices.Contains(states, "InProgress")
		})
		if slices.ContainsFunc(states, func(s string) bool { return s != "Completed" }) {
			t.Fatalf("%s: the backups' jobs: %v", what, states)
		}
	}
	heldThenRestarted("clock set back", func() {
		setClock(t, e, now.AddDate(0, 0, -2))
		e.Restart()
	})
	heldThenRestarted("serve --clock back", func() {
		at := now.AddDate(0, 0, -3)
		e.RestartWith(func(c *server.Config) { c.ClockStart = &at })
	})
}

// TestClockSetBackLetsADeadHoldersLeaseLapse: a task's lease is an instant
// of the server clock too, and a clock set back a day kept the lease of a
// holder that died (a replica killed before it followed the clock and
// renewed its leases at the new time) a day ahead: the task could be
// claimed again only once the clock came back to it, and its job stayed
// InProgress. A backup claimed with a minute's lease by a holder that is
// gone, the clock set back a day and advanced two minutes: the backup runs
// here and its job ends. And a backup running here when the clock is set
// back keeps its lease, renewed at the new time, through the move: no
// other replica can take it over.
func TestClockSetBackLetsADeadHoldersLeaseLapse(t *testing.T) {
	e := testserver.Start(t)
	dv := fixture.ProtectDisk(t, e)
	now, err := time.Parse(time.RFC3339Nano, setClock(t, e, time.Now().UTC())["now"].(string))
	if err != nil {
		t.Fatal(err)
	}

	addRule(t, e, map[string]any{"name": "hold", "operation": "backup", "latency": "10m"})
	held, err := dv.StartBackup(t, e)
	if err != nil {
		t.Fatal(err)
	}
	e.WaitFaultRuleHit("the backup held", "hold")
	now = now.AddDate(0, 0, -1)
	setClock(t, e, now)
	if ts, err := e.Server.Store.ClaimTasks(e.Ctx(), "other-replica/1", now, time.Minute, 100); err != nil || len(ts) != 0 {
		t.Fatalf("another replica's claim after the clock was set back took %d tasks (%v), the running backup's among them", len(ts), err)
	}
	resp, m := call(t, e, "DELETE", adminURL("/faultRules"), nil)
	mustStatus(t, 200, resp, m)
	fixture.Done(t, held, err)

	e.Server.Jobs.Stop()
	p, err := dv.StartBackup(t, e)
	if err != nil {
		t.Fatal(err)
	}
	if ts, err := e.Server.Store.ClaimTasks(e.Ctx(), "gone-replica/1", now, time.Minute, 100); err != nil || len(ts) == 0 {
		t.Fatalf("the gone holder's claim: %d tasks, %v", len(ts), err)
	}
	setClock(t, e, now.AddDate(0, 0, -1))
	if err := e.Server.Jobs.Start(e.Ctx()); err != nil {
		t.Fatal(err)
	}
	advanceClock(t, e, "PT2M")
	fixture.Done(t, p, err)
}
