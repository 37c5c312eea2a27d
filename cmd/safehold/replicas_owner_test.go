package main_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
)

// TestBackupWaitsForAPausedDiskOwner: a disk's owner that could not renew
// its ownership lease for a while (paused here, SIGSTOP, as a stalled host
// or a database out of reach leaves it) is waited for by a backup claimed
// on another replica in the meantime, which completes once the owner runs
// again: the backup failed at once, UserErrorDiskOwnerUnavailable saying
// the owner was not running and to restart it (found by
// TestReplicasOutages after PostgreSQL stayed down 15 s).
func TestBackupWaitsForAPausedDiskOwner(t *testing.T) {
	// Leases of 20 s: the backup waits for the owner three terms (a minute).
	c := startReplicasOn(t, 2, testsvc.PostgresSchema(t), testsvc.AzuriteContainer(t, "e2e"), nil, "--lease-ttl", "20s")
	e := c.env
	ctx := context.Background()
	dv := fixture.ProtectDisk(t, e)
	pool, err := pgxpool.New(ctx, c.pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var holder string
	var until time.Time
	ownerLease := func() {
		t.Helper()
		var v []byte
		if err := pool.QueryRow(ctx, `SELECT value FROM docs WHERE kind = 'lease' AND key LIKE 'disk:%'`).Scan(&v); err != nil {
			t.Fatalf("the disk's ownership lease: %v", err)
		}
		var row struct {
			Holder string
			Until  time.Time
		}
		if err := json.Unmarshal(v, &row); err != nil {
			t.Fatal(err)
		}
		holder, until = row.Holder, row.Until
	}
	// The clock left standing where an advance stops it (frozen): the
	// backup's wait for the owner is a real one all the same. Counted on
	// the clock it never ended, and the job stayed InProgress for ever
	// (found by chaos26's TestReplicasCampaign).
	if out, err := exec.Command(c.bin, "clock", "advance", "10m", "--data-dir", c.reps[0].dir).CombinedOutput(); err != nil {
		t.Fatalf("safehold clock advance: %v\n%s", err, out)
	}
	ownerLease()
	owner, other := 0, 1
	if holder == c.reps[1].nodeID(t) {
		owner, other = 1, 0
	} else if holder != c.reps[0].nodeID(t) {
		t.Fatalf("the disk is owned by %q, no replica", holder)
	}
	// A client of the other replica alone (the paused one answers nothing).
	hc, err := e.Conn.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	opts := *e.Opts
	opts.Transport = &http.Client{Transport: &pinned{base: hc.Transport, hosts: []string{c.reps[0].host(), c.reps[1].host()}, i: other}}
	f, err := armdataprotection.NewClientFactory(e.Sub, e.Cred, &opts)
	if err != nil {
		t.Fatal(err)
	}

	pointsNow := func() []*armdataprotection.AzureBackupRecoveryPointResource {
		t.Helper()
		points, err := allPages(ctx, f.NewRecoveryPointsClient().NewListPager(dv.RG, dv.Vault, dv.Instance, nil), func(p armdataprotection.RecoveryPointsClientListResponse) []*armdataprotection.AzureBackupRecoveryPointResource {
			return p.Value
		})
		if err != nil {
			t.Fatal(err)
		}
		return points
	}
	before := len(pointsNow())
	p := c.reps[owner].cmd.Process
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	resume := func() { once.Do(func() { p.Signal(syscall.SIGCONT) }) }
	t.Cleanup(resume)
	testsvc.WaitWithin(t, 2*time.Minute, "the paused owner's lease to lapse", func() bool {
		ownerLease()
		return time.Now().After(until)
	})
	bp, err := f.NewBackupInstancesClient().BeginAdhocBackup(ctx, dv.RG, dv.Vault, dv.Instance, armdataprotection.TriggerBackupRequest{BackupRuleOptions: &armdataprotection.AdHocBackupRuleOptions{
		RuleName: to.Ptr("BackupHourly"), TriggerOption: &armdataprotection.AdhocBackupTriggerOption{RetentionTagOverride: to.Ptr("Default")}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The other replica ran the backup and met the lapsed lease: the task
	// waits (its error recorded for its next run), or the job ended.
	jobs := func() []*armdataprotection.AzureBackupJobResource { return vaultJobs(ctx, t, f, dv.RG, dv.Vault) }
	testsvc.WaitWithin(t, 2*time.Minute, "the backup to meet the paused owner", func() bool {
		var n int
		pool.QueryRow(ctx, `SELECT count(*) FROM tasks WHERE last_error LIKE '%ownership lease expired%'`).Scan(&n)
		if n > 0 {
			return true
		}
		for _, j := range jobs() {
			if *j.Properties.Operation == "Backup" && *j.Properties.Status != "InProgress" && *j.Properties.Status != "Completed" {
				b, _ := json.Marshal(j.Properties.ErrorDetails)
				t.Fatalf("the backup ended %s while its disk's owner was paused: %s", *j.Properties.Status, b)
			}
		}
		return false
	})
	resume()
	pctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if _, err := bp.PollUntilDone(pctx, fixture.Poll); err != nil {
		t.Fatalf("the backup after its disk's owner resumed: %v", err)
	}
	testsvc.WaitWithin(t, 2*time.Minute, "the backup to end", func() bool {
		for _, j := range jobs() {
			switch *j.Properties.Status {
			case "InProgress", "NotStarted":
				return false
			case "Completed":
			default:
				b, _ := json.Marshal(j.Properties.ErrorDetails)
				t.Fatalf("job %s %s ended %s after its disk's owner resumed: %s", *j.Properties.Operation, *j.Name, *j.Properties.Status, b)
			}
		}
		return true
	})
	if n := len(pointsNow()); n != before+1 {
		t.Fatalf("points after the backup: %d, want %d", n, before+1)
	}
}

// vaultJobs lists a Backup vault's jobs through the SDK, failing the test
// on an error.
func vaultJobs(ctx context.Context, t *testing.T, f *armdataprotection.ClientFactory, rg, vault string) []*armdataprotection.AzureBackupJobResource {
	t.Helper()
	js, err := allPages(ctx, f.NewJobsClient().NewListPager(rg, vault, nil), func(p armdataprotection.JobsClientListResponse) []*armdataprotection.AzureBackupJobResource {
		return p.Value
	})
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// TestJobsSayTheyWaitForADeadDiskOwner: a scheduled backup whose disk's
// owner is not running (paused here, SIGSTOP) says what it waits for while
// it waits (the owner's lease lapsed less than three terms ago): its job's
// "Waiting" detail names the replica, in the Backup vault job's
// extendedInfo.additionalDetails, `safehold job list -o json` and the line
// `safehold job wait` prints; and `safehold clock advance`, which runs it,
// prints that too while it waits, and stops at its --timeout saying how to
// go on. The job said nothing for three minutes, and the advance hung
// without a word. Once the owner runs again, the advance taken on with its
// request id completes and the job no longer says it waits.
func TestJobsSayTheyWaitForADeadDiskOwner(t *testing.T) {
	// Leases of 30 s: the backup waits for the owner three terms.
	c := startReplicasOn(t, 2, testsvc.PostgresSchema(t), testsvc.AzuriteContainer(t, "e2e"), nil, "--lease-ttl", "30s")
	e := c.env
	ctx := context.Background()
	dv := fixture.ProtectDisk(t, e)
	pool, err := pgxpool.New(ctx, c.pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var lease struct {
		Holder string
		Until  time.Time
	}
	ownerLease := func() {
		t.Helper()
		var v []byte
		if err := pool.QueryRow(ctx, `SELECT value FROM docs WHERE kind = 'lease' AND key LIKE 'disk:%'`).Scan(&v); err != nil {
			t.Fatalf("the disk's ownership lease: %v", err)
		}
		if err := json.Unmarshal(v, &lease); err != nil {
			t.Fatal(err)
		}
	}
	ownerLease()
	owner, other := 0, 1
	if lease.Holder == c.reps[1].nodeID(t) {
		owner, other = 1, 0
	}
	ownerID := c.reps[owner].nodeID(t)
	safehold := func(args ...string) *exec.Cmd {
		return exec.Command(c.bin, append(args, "--data-dir", c.reps[other].dir)...)
	}
	must := func(args ...string) string {
		t.Helper()
		out, err := safehold(args...).Output()
		if err != nil {
			t.Fatalf("safehold %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	t0 := time.Now().UTC().Truncate(time.Second).Add(time.Second)
	must("clock", "set", t0.Format(time.RFC3339))

	p := c.reps[owner].cmd.Process
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	resume := func() { once.Do(func() { p.Signal(syscall.SIGCONT) }) }
	t.Cleanup(resume)
	testsvc.WaitWithin(t, 2*time.Minute, "the paused owner's lease to lapse", func() bool {
		ownerLease()
		return time.Now().After(lease.Until)
	})
	// The advance runs the PT4H policy's scheduled backup, which waits for
	// the owner; the advance says so, and stops at its timeout.
	const id = "b3c1f4e2-5a6d-4e7f-8a9b-0c1d2e3f4a5b"
	adv := safehold("clock", "advance", "PT5H", "--request-id", id, "--timeout", "45s")
	var advOut, advErr syncBuffer
	adv.Stdout, adv.Stderr = &advOut, &advErr
	if err := adv.Start(); err != nil {
		t.Fatal(err)
	}
	advDone := make(chan error, 1)
	go func() { advDone <- adv.Wait() }()
	wantWait := "Waiting for replica " + ownerID
	testsvc.WaitWithin(t, 2*time.Minute, "the advance to say the backup waits for the owner", func() bool {
		return strings.Contains(advErr.String(), wantWait)
	})
	if !strings.Contains(advErr.String(), "waiting for:\n  Backup of data1 (job ") || !strings.Contains(advErr.String(), "is not running (its ownership lease expired at ") {
		t.Errorf("the advance said:\n%s", advErr.String())
	}
	var running []struct{ Name, Operation, Status, Waiting string }
	if err := json.Unmarshal([]byte(must("job", "list", "--status", "InProgress", "-o", "json")), &running); err != nil || len(running) != 1 ||
		running[0].Operation != "Backup" || !strings.Contains(running[0].Waiting, wantWait) {
		t.Fatalf("the running jobs: %+v (%v)", running, err)
	}
	job := running[0].Name
	// The job's ARM body, through the replica that runs it.
	hc, err := e.Conn.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	opts := *e.Opts
	opts.Transport = &http.Client{Transport: &pinned{base: hc.Transport, hosts: []string{c.reps[0].host(), c.reps[1].host()}, i: other}}
	f, err := armdataprotection.NewClientFactory(e.Sub, e.Cred, &opts)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := f.NewJobsClient().Get(ctx, dv.RG, dv.Vault, job, nil)
	if err != nil {
		t.Fatal(err)
	}
	if w := jb.Properties.ExtendedInfo.AdditionalDetails["Waiting"]; w == nil || !strings.Contains(*w, wantWait) {
		b, _ := json.Marshal(jb.Properties.ExtendedInfo)
		t.Errorf("the waiting job's extendedInfo: %s", b)
	}
	// job wait, on a pipe, prints what the job waits for.
	wait := safehold("job", "wait", job)
	var waitErr syncBuffer
	wait.Stderr = &waitErr
	if err := wait.Start(); err != nil {
		t.Fatal(err)
	}
	testsvc.WaitWithin(t, time.Minute, "job wait to say what the job waits for", func() bool {
		return strings.Contains(waitErr.String(), "job "+job+": "+wantWait)
	})
	// Stopped as Ctrl-C stops it; a test process started with SIGINT
	// ignored (run in a shell's background, `go test ... &`) passes that
	// on, and the command keeps it ignored as it should, so it waited for
	// the job to end, past the owner's three lease terms: SIGTERM then,
	// which it handles the same way.
	sig := syscall.SIGINT
	if signal.Ignored(sig) {
		sig = syscall.SIGTERM
	}
	wait.Process.Signal(sig)
	wait.Wait()

	select {
	case err := <-advDone:
		if err == nil || !strings.Contains(advErr.String(), "stopped waiting for the clock advance (--timeout 45s passed)") || !strings.Contains(advErr.String(), "--request-id "+id) {
			t.Fatalf("the advance past its timeout: %v\nstdout: %s\nstderr: %s", err, advOut.String(), advErr.String())
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the advance did not stop at its timeout")
	}
	// The owner runs again: the advance taken on ends at its target, the
	// backup completed, saying no more that it waits.
	resume()
	var end struct{ Now string }
	if err := json.Unmarshal([]byte(must("clock", "advance", "PT5H", "--request-id", id, "--json")), &end); err != nil {
		t.Fatal(err)
	}
	if now, err := time.Parse(time.RFC3339Nano, end.Now); err != nil || !now.Equal(t0.Add(5*time.Hour)) {
		t.Fatalf("the advance taken on ended at %s (%v), want %s", end.Now, err, t0.Add(5*time.Hour))
	}
	var done struct{ Status, Waiting string }
	if err := json.Unmarshal([]byte(must("job", "show", job, "-o", "json")), &done); err != nil || done.Status != "Completed" || done.Waiting != "" {
		t.Fatalf("the backup once its owner ran again: %+v (%v)", done, err)
	}
}

// syncBuffer is a bytes.Buffer a process writes while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestBackupHandedToAStoppedOwnerSaysSo: a backup claimed by a replica
// that does not hold its disk is handed to the one that does; when that
// one has stopped (paused here, SIGSTOP, its lease still running) the job
// waits for it for three lease terms, and says so meanwhile, naming the
// replica (it said nothing: with the default 60 s leases, three minutes
// of a job at 0 % without a word). Once the owner runs again the backup
// completes and says no more that it waits.
func TestBackupHandedToAStoppedOwnerSaysSo(t *testing.T) {
	c := startReplicasOn(t, 2, testsvc.PostgresSchema(t), testsvc.AzuriteContainer(t, "e2e"), nil, "--lease-ttl", "20s")
	e := c.env
	ctx := context.Background()
	fixture.ProtectDisk(t, e)
	pool, err := pgxpool.New(ctx, c.pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var holder string
	if err := pool.QueryRow(ctx, `SELECT convert_from(value, 'UTF8')::jsonb->>'holder' FROM docs WHERE kind = 'lease' AND key LIKE 'disk:%'`).Scan(&holder); err != nil {
		t.Fatalf("the disk's ownership lease: %v", err)
	}
	owner, other := 0, 1
	if holder == c.reps[1].nodeID(t) {
		owner, other = 1, 0
	}
	ownerID := c.reps[owner].nodeID(t)
	must := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(c.bin, append(args, "--data-dir", c.reps[other].dir)...).Output()
		if err != nil {
			t.Fatalf("safehold %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	p := c.reps[owner].cmd.Process
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	resume := func() { once.Do(func() { p.Signal(syscall.SIGCONT) }) }
	t.Cleanup(resume)
	var j struct{ Name, Status, Waiting string }
	if err := json.Unmarshal([]byte(must("backup", "now", "data1-bi", "--no-wait", "-o", "json")), &j); err != nil || j.Name == "" {
		t.Fatalf("backup now: %+v (%v)", j, err)
	}
	name := j.Name
	want := "Waiting for replica " + ownerID
	testsvc.WaitWithin(t, time.Minute, "the job to say it waits for the disk's owner", func() bool {
		j = struct{ Name, Status, Waiting string }{}
		if err := json.Unmarshal([]byte(must("job", "show", name, "-o", "json")), &j); err != nil {
			t.Fatal(err)
		}
		if j.Status != "InProgress" {
			t.Fatalf("the backup ended while its disk's owner was paused: %+v", j)
		}
		return strings.Contains(j.Waiting, want)
	})
	if !strings.Contains(j.Waiting, "to run the backup; should that replica have stopped") {
		t.Errorf("the job waits: %q", j.Waiting)
	}
	resume()
	var done struct{ Status, Waiting string }
	if err := json.Unmarshal([]byte(must("job", "wait", name, "-o", "json")), &done); err != nil || done.Status != "Completed" || done.Waiting != "" {
		t.Fatalf("the backup once its disk's owner ran again: %+v (%v)", done, err)
	}
}

// TestJobWhoseRunnerWasKilledSaysItWaitsForItsLease: the replica running
// a backup (held in its capture by a fault rule) is killed (SIGKILL).
// Once its presence lapses, the job says it waits for the lease of that
// replica, which stopped answering, and until when (the job's CLI view
// and its ARM body's additionalDetails); the replica started again takes
// the job on, which completes saying no more that it waits. Before, the
// job stood at its last figure without a word until the task's lease
// lapsed (a minute by default).
func TestJobWhoseRunnerWasKilledSaysItWaitsForItsLease(t *testing.T) {
	c := startReplicasOn(t, 2, testsvc.PostgresSchema(t), testsvc.AzuriteContainer(t, "e2e"), nil, "--lease-ttl", "60s")
	e := c.env
	ctx := context.Background()
	dv := fixture.ProtectDisk(t, e)
	pool, err := pgxpool.New(ctx, c.pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var holder string
	if err := pool.QueryRow(ctx, `SELECT convert_from(value, 'UTF8')::jsonb->>'holder' FROM docs WHERE kind = 'lease' AND key LIKE 'disk:%'`).Scan(&holder); err != nil {
		t.Fatalf("the disk's ownership lease: %v", err)
	}
	owner, other := 0, 1
	if holder == c.reps[1].nodeID(t) {
		owner, other = 1, 0
	}
	ownerID := c.reps[owner].nodeID(t)
	run := func(rep int, args ...string) string {
		t.Helper()
		out, err := exec.Command(c.bin, append(args, "--data-dir", c.reps[rep].dir)...).Output()
		if err != nil {
			t.Fatalf("safehold %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	// The backup runs on the disk's owner, held there in its capture.
	run(owner, "fault", "add", "backup", "--name", "hold", "--latency", "10m", "--count", "1")
	var j struct{ Name, Status, Waiting string }
	if err := json.Unmarshal([]byte(run(other, "backup", "now", "data1-bi", "--no-wait", "-o", "json")), &j); err != nil || j.Name == "" {
		t.Fatalf("backup now: %+v (%v)", j, err)
	}
	name := j.Name
	testsvc.WaitWithin(t, time.Minute, "the owner to hold the backup", func() bool {
		return strings.Contains(run(owner, "fault", "list", "-o", "json"), `"hits": 1`)
	})
	c.reps[owner].cmd.Process.Kill()
	<-c.reps[owner].done
	killed := time.Now()
	want := "Waiting for the lease of replica " + ownerID
	testsvc.WaitWithin(t, 2*time.Minute, "the job to say it waits for the killed runner's lease", func() bool {
		j = struct{ Name, Status, Waiting string }{}
		if err := json.Unmarshal([]byte(run(other, "job", "show", name, "-o", "json")), &j); err != nil {
			t.Fatal(err)
		}
		if j.Status != "InProgress" {
			t.Fatalf("the backup ended while its runner was dead: %+v", j)
		}
		return strings.Contains(j.Waiting, want)
	})
	t.Logf("%s after the kill: %s", time.Since(killed).Round(time.Second), j.Waiting)
	if !strings.Contains(j.Waiting, "stopped answering") || !strings.Contains(j.Waiting, "once that lease lapses, at ") {
		t.Errorf("the job waits: %q", j.Waiting)
	}
	jb, err := testserver.Factory(e, armdataprotection.NewClientFactory).NewJobsClient().Get(ctx, dv.RG, dv.Vault, name, nil)
	if err != nil {
		t.Fatal(err)
	}
	if w := jb.Properties.ExtendedInfo.AdditionalDetails["Waiting"]; w == nil || !strings.Contains(*w, want) {
		b, _ := json.Marshal(jb.Properties.ExtendedInfo)
		t.Errorf("the waiting job's extendedInfo: %s", b)
	}
	// The replica runs again (no fault rule now): it takes its job on.
	c.start(c.reps[owner])
	c.ready(c.reps[owner])
	var done struct{ Status, Waiting string }
	if err := json.Unmarshal([]byte(run(other, "job", "wait", name, "-o", "json")), &done); err != nil || done.Status != "Completed" || done.Waiting != "" {
		t.Fatalf("the backup once its runner ran again: %+v (%v)", done, err)
	}
}

// TestJobWhoseRunnerPausedSaysNoMoreItWaitsOnceItRuns: the replica running
// a backup (held in its capture by a fault rule) stops answering for a
// while (paused, SIGSTOP, as a stalled host leaves it) longer than its
// presence lease and shorter than its task's. Once the job says it waits
// for that replica's lease, the replica runs again (SIGCONT) and goes on
// with the job under the same claim: the job no longer says it waits, at
// once (the leader's next look), while the backup still runs; it then
// completes. Before, the message stood until the job ended, saying the
// job waited for a replica that was running it.
func TestJobWhoseRunnerPausedSaysNoMoreItWaitsOnceItRuns(t *testing.T) {
	// Task leases of 3 minutes: the pause (the presence's 15 s and the
	// leader's look) ends long before the task's lease would lapse.
	c := startReplicasOn(t, 2, testsvc.PostgresSchema(t), testsvc.AzuriteContainer(t, "e2e"), nil, "--lease-ttl", "180s")
	ctx := context.Background()
	fixture.ProtectDisk(t, c.env)
	pool, err := pgxpool.New(ctx, c.pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var holder string
	if err := pool.QueryRow(ctx, `SELECT convert_from(value, 'UTF8')::jsonb->>'holder' FROM docs WHERE kind = 'lease' AND key LIKE 'disk:%'`).Scan(&holder); err != nil {
		t.Fatalf("the disk's ownership lease: %v", err)
	}
	owner, other := 0, 1
	if holder == c.reps[1].nodeID(t) {
		owner, other = 1, 0
	}
	ownerID := c.reps[owner].nodeID(t)
	run := func(rep int, args ...string) string {
		t.Helper()
		out, err := exec.Command(c.bin, append(args, "--data-dir", c.reps[rep].dir)...).Output()
		if err != nil {
			t.Fatalf("safehold %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	run(owner, "fault", "add", "backup", "--name", "hold", "--latency", "10m", "--count", "1")
	type jobView struct{ Name, Status, Waiting string }
	var j jobView
	if err := json.Unmarshal([]byte(run(other, "backup", "now", "data1-bi", "--no-wait", "-o", "json")), &j); err != nil || j.Name == "" {
		t.Fatalf("backup now: %+v (%v)", j, err)
	}
	name := j.Name
	testsvc.WaitWithin(t, time.Minute, "the owner to hold the backup", func() bool {
		return strings.Contains(run(owner, "fault", "list", "-o", "json"), `"hits": 1`)
	})
	var runnerOwner string
	if err := pool.QueryRow(ctx, `SELECT convert_from(value, 'UTF8')::jsonb->'runner'->>'owner' FROM docs WHERE kind = 'protection.job' AND key LIKE '%'||$1`, name).Scan(&runnerOwner); err != nil || !strings.HasPrefix(runnerOwner, ownerID+"/") {
		t.Fatalf("the job's runner: %q (%v), want a claim of %s", runnerOwner, err, ownerID)
	}
	show := func() jobView {
		t.Helper()
		var j jobView
		if err := json.Unmarshal([]byte(run(other, "job", "show", name, "-o", "json")), &j); err != nil {
			t.Fatal(err)
		}
		if j.Status != "InProgress" {
			t.Fatalf("the backup ended while it was held: %+v", j)
		}
		return j
	}
	p := c.reps[owner].cmd.Process
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	resume := func() { once.Do(func() { p.Signal(syscall.SIGCONT) }) }
	t.Cleanup(resume)
	want := "Waiting for the lease of replica " + ownerID
	testsvc.WaitWithin(t, 90*time.Second, "the job to say it waits for the paused runner's lease", func() bool {
		j = show()
		return strings.Contains(j.Waiting, want)
	})
	resume()
	resumed := time.Now()
	testsvc.WaitWithin(t, 90*time.Second, "the job to say no more that it waits once its runner runs again", func() bool {
		j = show()
		return j.Waiting == ""
	})
	t.Logf("the message went %s after the runner ran again", time.Since(resumed).Round(time.Second))
	// The same claim runs the job: no other replica took it on.
	var owner2 string
	if err := pool.QueryRow(ctx, `SELECT convert_from(value, 'UTF8')::jsonb->'runner'->>'owner' FROM docs WHERE kind = 'protection.job' AND key LIKE '%'||$1`, name).Scan(&owner2); err != nil || owner2 != runnerOwner {
		t.Fatalf("the job's runner after the pause: %q (%v), want %q", owner2, err, runnerOwner)
	}
	// Released, the backup completes, saying nothing of a wait.
	run(owner, "fault", "clear", "hold")
	var done jobView
	if err := json.Unmarshal([]byte(run(other, "job", "wait", name, "-o", "json")), &done); err != nil || done.Status != "Completed" || done.Waiting != "" {
		t.Fatalf("the backup once its runner ran again: %+v (%v)", done, err)
	}
}

// TestBackupAfterALongDatabaseOutageWaitsForTheDiskOwner: PostgreSQL out
// of reach for longer than three lease terms (a failover, a long restart)
// leaves every replica's ownership leases lapsed for longer than that when
// it comes back, though none of the replicas stopped; a backup claimed
// then by a replica other than its disk's owner, before the owner renewed
// its lease (it is paused here a few seconds after the database is back,
// so that it renews only after the backup met its lapsed lease), waits for
// the owner three terms from the end of the outage and completes once the
// owner renews. Before, it failed at once, UserErrorDiskOwnerUnavailable
// saying the owner was not running (hostile29: two replicas on PostgreSQL
// down four minutes; the first backup after it failed, both replicas
// running).
func TestBackupAfterALongDatabaseOutageWaitsForTheDiskOwner(t *testing.T) {
	const ttl = 10 * time.Second // the backup waits three terms, 30 s
	pg := testsvc.OutagePostgres(t)
	c := startReplicasOn(t, 2, pg.URL, testsvc.AzuriteContainer(t, "dbout"), nil, "--lease-ttl", ttl.String())
	e := c.env
	ctx := context.Background()
	dv := fixture.ProtectDisk(t, e)
	pool, err := pgxpool.New(ctx, c.pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var lease struct {
		Holder string
		Until  time.Time
	}
	var v []byte
	if err := pool.QueryRow(ctx, `SELECT value FROM docs WHERE kind = 'lease' AND key LIKE 'disk:%'`).Scan(&v); err != nil {
		t.Fatalf("the disk's ownership lease: %v", err)
	}
	if err := json.Unmarshal(v, &lease); err != nil {
		t.Fatal(err)
	}
	owner, other := 0, 1
	if lease.Holder == c.reps[1].nodeID(t) {
		owner, other = 1, 0
	} else if lease.Holder != c.reps[0].nodeID(t) {
		t.Fatalf("the disk is owned by %q, no replica", lease.Holder)
	}
	hc, err := e.Conn.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	opts := *e.Opts
	opts.Transport = &http.Client{Transport: &pinned{base: hc.Transport, hosts: []string{c.reps[0].host(), c.reps[1].host()}, i: other}}
	f, err := armdataprotection.NewClientFactory(e.Sub, e.Cred, &opts)
	if err != nil {
		t.Fatal(err)
	}
	var before int
	retryFor(t, "list points", func() error {
		ps, err := pointNames(ctx, f, dv)
		before = len(ps)
		return err
	})

	// The database out of reach until the owner's lease has lapsed for
	// more than three terms; the owner paused from just before it is back
	// until the backup met its lapsed lease.
	pool.Reset()
	pg.Stop()
	for time.Now().Before(lease.Until.Add(3*ttl + 5*time.Second)) {
		time.Sleep(time.Second)
	}
	p := c.reps[owner].cmd.Process
	if err := p.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	resume := func() { once.Do(func() { p.Signal(syscall.SIGCONT) }) }
	t.Cleanup(resume)
	pg.Start()

	var bp *runtime.Poller[armdataprotection.BackupInstancesClientAdhocBackupResponse]
	retryFor(t, "the backup after the outage", func() (err error) {
		bp, err = f.NewBackupInstancesClient().BeginAdhocBackup(ctx, dv.RG, dv.Vault, dv.Instance, armdataprotection.TriggerBackupRequest{BackupRuleOptions: &armdataprotection.AdHocBackupRuleOptions{
			RuleName: to.Ptr("BackupHourly"), TriggerOption: &armdataprotection.AdhocBackupTriggerOption{RetentionTagOverride: to.Ptr("Default")}}}, nil)
		return err
	})
	jobs := func() (js []*armdataprotection.AzureBackupJobResource) {
		retryFor(t, "list jobs", func() (err error) {
			js, err = allPages(ctx, f.NewJobsClient().NewListPager(dv.RG, dv.Vault, nil), func(p armdataprotection.JobsClientListResponse) []*armdataprotection.AzureBackupJobResource {
				return p.Value
			})
			return err
		})
		return js
	}
	testsvc.WaitWithin(t, 2*time.Minute, "the backup to meet the paused owner's lapsed lease", func() bool {
		var n int
		pool.QueryRow(ctx, `SELECT count(*) FROM tasks WHERE last_error LIKE '%ownership lease expired%'`).Scan(&n)
		if n > 0 {
			return true
		}
		for _, j := range jobs() {
			if *j.Properties.Operation == "Backup" && *j.Properties.Status != "InProgress" && *j.Properties.Status != "Completed" {
				b, _ := json.Marshal(j.Properties.ErrorDetails)
				t.Fatalf("the backup ended %s right after the outage, its disk's owner running: %s", *j.Properties.Status, b)
			}
		}
		return false
	})
	resume()
	pctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	if _, err := bp.PollUntilDone(pctx, fixture.Poll); err != nil {
		t.Fatalf("the backup after the outage, its disk's owner running again: %v", err)
	}
	var now []string
	retryFor(t, "list points", func() (err error) { now, err = pointNames(ctx, f, dv); return err })
	if len(now) != before+1 {
		t.Fatalf("points after the backup: %d, want %d", len(now), before+1)
	}
}
