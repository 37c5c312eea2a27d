package server_test

import (
	"path"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestJobAcrossAClockSetBackEndsAfterItStarts: a backup held (a backup
// fault rule) while the server clock is set back a day ends at its start
// at the earliest, on both vault kinds, as read through the Go SDKs: its
// endTime is not before its startTime, nor any of its tasks' (Recovery
// Services), and its duration is not negative. Before, the job ended at
// the clock's time, a day before it started.
func TestJobAcrossAClockSetBackEndsAfterItStarts(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	dv := fixture.ProtectDisk(t, e)
	vm := fixture.ProtectVM(t, e)
	now, err := time.Parse(time.RFC3339Nano, setClock(t, e, time.Now().UTC())["now"].(string))
	if err != nil {
		t.Fatal(err)
	}
	// held runs start under a hold rule, sets the clock back a day once
	// the backup is held, releases it and answers the job (start's
	// answer's answer) when it has ended.
	held := func(what string, start func() func() string, ended func(job string) bool) string {
		t.Helper()
		addRule(t, e, map[string]any{"name": "hold", "operation": "backup", "latency": "10m", "count": 1})
		jobOf := start()
		e.WaitFaultRuleHit(what+": the backup held", "hold")
		now = now.AddDate(0, 0, -1)
		setClock(t, e, now)
		call(t, e, "DELETE", adminURL("/faultRules/hold"), nil)
		job := jobOf()
		e.WaitFor(what+": the held backup's job to end", func() bool { return ended(job) })
		return job
	}

	dpJobs := testserver.Factory(e, armdataprotection.NewClientFactory).NewJobsClient()
	dpJob := held("Backup vault", func() func() string {
		p, err := dv.StartBackup(t, e)
		if err != nil {
			t.Fatal(err)
		}
		return func() string { return path.Base(*fixture.Done(t, p, err).JobID) }
	}, func(job string) bool {
		j, err := dpJobs.Get(ctx, dv.RG, dv.Vault, job, nil)
		if err != nil {
			t.Fatal(err)
		}
		return *j.Properties.Status != "InProgress"
	})
	j, err := dpJobs.Get(ctx, dv.RG, dv.Vault, dpJob, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := j.Properties
	if *p.Status != "Completed" || p.EndTime == nil || p.EndTime.Before(*p.StartTime) || *p.Duration == "" || (*p.Duration)[0] == '-' {
		t.Errorf("the Backup vault's job across the clock set back: %s, start %v, end %v, duration %v", *p.Status, p.StartTime, p.EndTime, *p.Duration)
	}

	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	getRS := func(job string) *armrecoveryservicesbackup.AzureIaaSVMJob {
		j, err := bf.NewJobDetailsClient().Get(ctx, vm.Vault, vm.RG, job, nil)
		if err != nil {
			t.Fatal(err)
		}
		return j.Properties.(*armrecoveryservicesbackup.AzureIaaSVMJob)
	}
	rsJob := held("Recovery Services vault", func() func() string {
		job := vm.Backup(t, e) // its id is known before the job ends
		return func() string { return job }
	}, func(job string) bool {
		return *getRS(job).Status != "InProgress"
	})
	rj := getRS(rsJob)
	if *rj.Status != "Completed" || rj.EndTime == nil || rj.EndTime.Before(*rj.StartTime) {
		t.Errorf("the Recovery Services vault's job across the clock set back: %s, start %v, end %v, duration %v", *rj.Status, rj.StartTime, rj.EndTime, *rj.Duration)
	}
	if rj.ExtendedInfo == nil || len(rj.ExtendedInfo.TasksList) == 0 {
		t.Fatalf("the Recovery Services job's tasks: %+v", rj.ExtendedInfo)
	}
	for _, tk := range rj.ExtendedInfo.TasksList {
		if tk.EndTime == nil || tk.StartTime == nil || tk.EndTime.Before(*tk.StartTime) {
			t.Errorf("the Recovery Services job's task %s: start %v, end %v", *tk.TaskID, tk.StartTime, tk.EndTime)
		}
	}
}
