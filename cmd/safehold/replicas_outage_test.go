package main_test

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/safehold/safehold/connect"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
)

// clearOutageAnswer is "" for a 5xx answer an outage may give (a clear ARM
// 503 with a code, a message and Retry-After, a 504 GatewayTimeout for a
// commit whose outcome is unknown, a data plane's 503 with its
// x-ms-error-code), else what is wrong with it.
func clearOutageAnswer(r *http.Request, resp *http.Response, body []byte) string {
	var e struct {
		Error struct{ Code, Message string }
	}
	json.Unmarshal(body, &e)
	what := fmt.Sprintf("%s %s -> %d %s (Retry-After %q)", r.Method, r.URL.Path, resp.StatusCode, body, resp.Header.Get("Retry-After"))
	switch {
	case strings.HasPrefix(r.URL.Path, "/sas/") || strings.Contains(r.URL.Path, "/storage/blob/"):
		// the data planes answer in Azure Storage's XML
		if resp.StatusCode != 503 || resp.Header.Get("x-ms-error-code") == "" {
			return what
		}
	case resp.StatusCode == 504 && e.Error.Code == "GatewayTimeout":
	case resp.StatusCode != 503 || e.Error.Code == "" || e.Error.Message == "" || resp.Header.Get("Retry-After") == "":
		return what
	}
	return ""
}

// TestReplicasOutages: three replicas on a PostgreSQL cluster of the
// test's own and Azurite behind a proxy that fails as told, a workload
// (disk writes, ad hoc backups, reads through every replica) while the
// services under them fail: PostgreSQL restarts, crashes and stays down,
// the object store answers 503 or 500, hangs, cuts uploads, fails its
// listings. During each outage every 5xx answer is a clear ARM 503 (or a
// 504 for a commit whose outcome is unknown) and no replica exits; after
// it every replica is healthy again without a restart, every job ends,
// every acknowledged point is listed by every replica and restores
// bit-exact; at the end verify is clean.
func TestReplicasOutages(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SAFEHOLD_OUTAGES_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (SAFEHOLD_OUTAGES_SEED)", seed)
	pg := testsvc.OutagePostgres(t)
	store := testsvc.NewFaultyStore(t, testsvc.AzuriteEndpoint(t))
	container := strings.ToLower(testsvc.RandomName("outage"))
	// Each replica's data dir on a small file system of its own (a tmpfs,
	// where one can be mounted: as root), to fill up.
	base := t.TempDir()
	var dirs []string
	for i := range 3 {
		mnt := filepath.Join(base, fmt.Sprintf("fs%d", i))
		os.Mkdir(mnt, 0o700)
		if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=1g"); err != nil {
			t.Logf("no file system of its own for each replica (%v): no disk-full outage", err)
			dirs = nil
			break
		}
		t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
		dir := filepath.Join(base, fmt.Sprintf("replica%d", i)) // its log beside it, not on the tmpfs
		if err := os.Symlink(mnt, dir); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, dir)
	}
	c := startReplicasOn(t, 3, pg.URL, "azblob://"+container+"?endpoint="+url.QueryEscape(store.URL), dirs)
	e := c.env
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, pg.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	hc, err := e.Conn.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	ans := &serverErrors{base: hc.Transport, judge: clearOutageAnswer}
	hc.Transport = ans
	var hosts []string
	for _, r := range c.reps {
		hosts = append(hosts, r.host())
	}
	dv := fixture.ProtectDisk(t, e)
	df := testserver.Factory(e, armdataprotection.NewClientFactory)
	var perReplica []*armdataprotection.ClientFactory
	for i := range c.reps {
		f, _ := pinnedFactory(t, e, ans, hosts, i)
		perReplica = append(perReplica, f)
	}
	retry := func(what string, fn func() error) { t.Helper(); retryFor(t, what, fn) }
	health := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	healthOf := func(i int) (int, string) {
		resp, err := health.Get("https://" + hosts[i] + "/healthz")
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	image := &diskImage{}
	for off, b := range dv.Written {
		image.add(off, b)
	}
	var points []point
	known := map[string]bool{}
	endedJobs := map[string]string{}
	scheduledJobs := map[string]string{} // the scheduled backups' jobs: their status
	jobsEnd := func(limit time.Duration) {
		t.Helper()
		testsvc.WaitWithin(t, limit, "every job to end", func() bool {
			var jobs []*armdataprotection.AzureBackupJobResource
			retry("list jobs", func() (err error) {
				jobs, err = allPages(ctx, df.NewJobsClient().NewListPager(dv.RG, dv.Vault, nil), func(p armdataprotection.JobsClientListResponse) []*armdataprotection.AzureBackupJobResource {
					return p.Value
				})
				return err
			})
			for _, j := range jobs {
				p := j.Properties
				if *p.Operation == "Backup" && p.IsUserTriggered != nil && !*p.IsUserTriggered {
					scheduledJobs[*j.Name] = *p.Status
				}
				if *p.Status == "InProgress" || *p.Status == "NotStarted" {
					return false
				}
				if endedJobs[*j.Name] == "" {
					endedJobs[*j.Name] = *p.Status
					if *p.Status != "Completed" {
						b, _ := json.Marshal(p.ErrorDetails)
						t.Logf("job %s %s: %s %s", *p.Operation, *j.Name, *p.Status, b)
						if len(p.ErrorDetails) == 0 {
							t.Errorf("job %s %s ended %s without an error", *p.Operation, *j.Name, *p.Status)
						}
					}
				}
			}
			return true
		})
	}
	dpPoints := func(f *armdataprotection.ClientFactory) ([]string, error) { return pointNames(ctx, f, dv) }

	type outage struct {
		name      string
		cause     func()
		scheduled bool // the disk's first scheduled backup falls in it
	}
	down := 8 * time.Second
	clockCLI := func(args ...string) {
		t.Helper()
		retry("clock "+args[0], func() error {
			out, err := exec.Command(c.bin, append(append([]string{"clock"}, args...), "--data-dir", c.reps[0].dir)...).CombinedOutput()
			if err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			return nil
		})
	}
	outages := []outage{
		{name: "PostgreSQL crashes 10 s before the disk's first scheduled backup, down 20 s", scheduled: true, cause: func() {
			// The clock runs from 10 s before the schedule's first
			// occurrence: it passes while the database is down.
			pol, err := df.NewBackupPoliciesClient().Get(ctx, dv.RG, dv.Vault, dv.Policy, nil)
			if err != nil {
				t.Fatal(err)
			}
			var first time.Time
			for _, r := range pol.Properties.(*armdataprotection.BackupPolicy).PolicyRules {
				if br, ok := r.(*armdataprotection.AzureBackupRule); ok {
					iv := *br.Trigger.(*armdataprotection.ScheduleBasedTriggerContext).Schedule.RepeatingTimeIntervals[0] // R/START/PT4H
					if first, err = time.Parse(time.RFC3339, strings.Split(iv, "/")[1]); err != nil {
						t.Fatal(err)
					}
				}
			}
			clockCLI("set", first.Add(-10*time.Second).Format(time.RFC3339))
			clockCLI("resume")
			pg.Crash()
			time.Sleep(20 * time.Second)
			pg.Start()
		}},
		{name: "PostgreSQL restarts (pg_ctl restart -m fast)", cause: pg.Restart},
		{name: "PostgreSQL crashes (SIGKILL of every process), down 8 s, started again", cause: func() { pg.Crash(); time.Sleep(down); pg.Start() }},
		{name: "PostgreSQL stopped (pg_ctl stop -m fast) for 8 s", cause: func() { pg.Stop(); time.Sleep(down); pg.Start() }},
		{name: "PostgreSQL restarts, then something else holds every connection for 8 s", cause: func() {
			pg.Restart()
			release := pg.Exhaust()
			time.Sleep(down)
			release()
		}},
		{name: "object store answers 503 for 8 s", cause: func() { store.Set(testsvc.Store503); time.Sleep(down); store.Set(testsvc.StoreUp) }},
		{name: "object store answers 500 for 8 s", cause: func() { store.Set(testsvc.Store500); time.Sleep(down); store.Set(testsvc.StoreUp) }},
		{name: "object store hangs for 8 s", cause: func() { store.Set(testsvc.StoreHangs); time.Sleep(down); store.Set(testsvc.StoreUp) }},
		{name: "object store cuts uploads halfway for 8 s", cause: func() { store.Set(testsvc.StoreCutsPuts); time.Sleep(down); store.Set(testsvc.StoreUp) }},
	}
	if dirs != nil {
		outages = append(outages, outage{name: "the file system of the disk's owner is full for 8 s", cause: func() {
			var v []byte
			if err := pool.QueryRow(ctx, `SELECT value FROM docs WHERE kind = 'lease' AND key LIKE 'disk:%'`).Scan(&v); err != nil {
				t.Fatalf("the disk's ownership lease: %v", err)
			}
			var row struct{ Holder string }
			json.Unmarshal(v, &row)
			for _, r := range c.reps {
				if r.nodeID(t) == row.Holder {
					fill := filepath.Join(r.dir, "fill")
					testsvc.FillUp(t, fill, 0)
					time.Sleep(down)
					os.Remove(fill)
					return
				}
			}
			t.Fatalf("the disk is owned by %q, no replica", row.Holder)
		}})
	}
	// SAFEHOLD_OUTAGES=all runs every outage; comma-separated words select
	// those whose names hold one of them, in the words' order; by default
	// (the CI's share) three at random.
	switch sel := os.Getenv("SAFEHOLD_OUTAGES"); sel {
	case "all":
	case "":
		rng := mrand.New(mrand.NewPCG(seed, seed))
		rng.Shuffle(len(outages), func(i, j int) { outages[i], outages[j] = outages[j], outages[i] })
		outages = outages[:3]
	default:
		// In the order of the words (a CI run's three, as its seed shuffled them).
		var picked []outage
		for _, w := range strings.Split(sel, ",") {
			for _, o := range outages {
				if strings.Contains(o.name, w) && !slices.ContainsFunc(picked, func(p outage) bool { return p.name == o.name }) {
					picked = append(picked, o)
				}
			}
		}
		outages = picked
	}
	for round, o := range outages {
		t.Logf("round %d: %s", round, o.name)
		// New data, written before the outage.
		data := make([]byte, 8<<20)
		rand.Read(data)
		off := int64(64<<20) + int64(round)*int64(len(data))
		pc, revoke := fixture.DiskAccessByID(t, e, dv.DiskID, "Write")
		for i := 0; i < len(data); i += 4 << 20 {
			retry("write pages", func() error { return fixture.WritePages(pc, off+int64(i), data[i:i+4<<20]) })
		}
		revoke()
		image.add(off, data)
		want := &diskImage{blocks: maps(image.blocks)}

		// The workload, while the outage runs: backups and reads through
		// every replica; health watched.
		stop := make(chan struct{})
		var wg sync.WaitGroup
		var backups, reads, readFails atomic.Int64
		healthSeen := make([]map[int]int, len(hosts))
		for i := range hosts {
			healthSeen[i] = map[int]int{}
		}
		var hmu sync.Mutex
		if !o.scheduled { // (a scheduled run is skipped while an on-demand backup runs)
			wg.Add(1)
			go func() { // ad hoc backups, one after another
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					p, err := dv.StartBackup(t, e)
					if err == nil {
						_, err = p.PollUntilDone(ctx, fixture.Poll)
					}
					if err == nil {
						backups.Add(1)
					} else {
						time.Sleep(time.Second)
					}
				}
			}()
		}
		for i := range hosts {
			wg.Add(1)
			go func() { // reads and health, through replica i
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					case <-time.After(300 * time.Millisecond):
					}
					if _, err := dpPoints(perReplica[i]); err != nil {
						readFails.Add(1)
					} else {
						reads.Add(1)
					}
					code, _ := healthOf(i)
					hmu.Lock()
					healthSeen[i][code]++
					hmu.Unlock()
					select {
					case <-c.reps[i].done:
						t.Errorf("replica %d exited during %s", i, o.name)
						return
					default:
					}
				}
			}()
		}
		time.Sleep(time.Second)
		o.cause()
		time.Sleep(3 * time.Second)
		close(stop)
		wg.Wait()
		t.Logf("round %d: %d backups, %d reads ok, %d failed, health %v", round, backups.Load(), reads.Load(), readFails.Load(), healthSeen)

		// After it: every replica healthy without a restart.
		for i := range hosts {
			testsvc.WaitWithin(t, time.Minute, fmt.Sprintf("replica %d healthy after %s", i, o.name), func() bool {
				code, body := healthOf(i)
				if code != 200 {
					t.Logf("replica %d: %d %s", i, code, body)
				}
				return code == 200
			})
		}
		if o.scheduled { // the backup the outage held back runs once after it
			testsvc.WaitWithin(t, 2*time.Minute, "the scheduled backup", func() bool {
				jobsEnd(4 * time.Minute)
				return len(scheduledJobs) > 0
			})
		}
		// One more backup after it, which must succeed.
		retry("backup after the outage", func() error {
			p, err := dv.StartBackup(t, e)
			if err == nil {
				_, err = p.PollUntilDone(ctx, fixture.Poll)
			}
			return err
		})
		jobsEnd(4 * time.Minute)
		for name, status := range scheduledJobs {
			if len(scheduledJobs) != 1 || status != "Completed" {
				t.Fatalf("after %s: scheduled backup jobs %v, want one Completed (%s)", o.name, scheduledJobs, name)
			}
		}
		var now []string
		retry("list points", func() (err error) { now, err = dpPoints(df); return err })
		for _, n := range now {
			if !known[n] {
				known[n] = true
				points = append(points, point{n, want})
			}
		}
		for i, f := range perReplica {
			var got []string
			retry(fmt.Sprintf("list points on replica %d", i), func() (err error) { got, err = dpPoints(f); return err })
			for _, p := range points {
				if !slices.Contains(got, p.name) {
					t.Fatalf("after %s: replica %d does not list point %s", o.name, i, p.name)
				}
			}
		}
		// A restore of the latest point.
		p := points[len(points)-1]
		name := fmt.Sprintf("outage-r%d", round)
		req := diskRestore(dv, p.name, name)
		retry("restore", func() error {
			p, err := df.NewBackupInstancesClient().BeginTriggerRestore(ctx, dv.RG, dv.Vault, dv.Instance, req, nil)
			if err == nil {
				_, err = p.PollUntilDone(ctx, fixture.Poll)
			}
			if err != nil && strings.Contains(err.Error(), "already exists") {
				return nil // an earlier try's
			}
			return err
		})
		jobsEnd(4 * time.Minute)
		restoredID := dv.TargetRG + "/providers/Microsoft.Compute/disks/" + name
		if got := readDisk(t, e, restoredID); !got.equal(p.image) {
			t.Fatalf("after %s: the restore of point %s differs from the bytes written before its backup", o.name, p.name)
		}
		t.Logf("round %d: %d points, object store failed %d requests", round, len(points), store.Failed())
	}

	out, err := exec.Command(c.bin, "verify", "-o", "json", "--data-dir", c.reps[0].dir).CombinedOutput()
	if err != nil {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	t.Logf("verify: %s", out)
	ans.mu.Lock()
	defer ans.mu.Unlock()
	t.Logf("%d 5xx answers", len(ans.seen))
	for _, s := range ans.bad {
		t.Errorf("an unclear 5xx answer: %.600s", s)
	}
	t.Logf("%d outages, %d points, %d jobs", len(outages), len(points), len(endedJobs))
}

// TestReplicaStartedWhileTheDatabaseIsDownWaits: a replica started while
// PostgreSQL is down does not exit: it logs that it waits for the
// metadata database, answers /healthz 503 saying so (and ARM requests a
// clear 503 with Retry-After), and starts serving once the database is
// back, its requests then answered. Before, `safehold serve` exited at
// once ("connect postgres: ... connection refused"), so a replica started
// during a database outage (a host reboot, a rollout) stayed down.
func TestReplicaStartedWhileTheDatabaseIsDownWaits(t *testing.T) {
	pg := testsvc.OutagePostgres(t)
	c := startReplicasOn(t, 1, pg.URL, testsvc.AzuriteContainer(t, "dbwait"), nil)
	r := &e2eReplica{dir: filepath.Join(t.TempDir(), "late"), port: testsvc.FreePort()}
	pg.Stop()
	started := false
	defer func() {
		if !started {
			pg.Start()
		}
	}()
	c.start(r)
	t.Cleanup(func() {
		r.cmd.Process.Signal(os.Interrupt)
		select {
		case <-r.done:
		case <-time.After(20 * time.Second):
			r.cmd.Process.Kill()
		}
	})
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	get := func(path string) (int, string, http.Header) {
		resp, err := hc.Get("https://" + r.host() + path)
		if err != nil {
			return 0, err.Error(), nil
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), resp.Header
	}
	// It waits: not ready, and saying why, for a few of its retries.
	var body string
	testsvc.WaitWithin(t, 2*time.Minute, "the replica started with the database down to answer /healthz", func() bool {
		select {
		case <-r.done:
			t.Fatalf("the replica started with the database down exited: %s", tail(r.dir))
		default:
		}
		var status int
		status, body, _ = get("/healthz")
		return status != 0
	})
	if !strings.Contains(body, "metadata database") || !strings.Contains(body, `"status":"starting"`) {
		t.Errorf("/healthz of the replica waiting for the database: %s", body)
	}
	if status, body, h := get("/subscriptions?api-version=2022-12-01"); status != 503 || !strings.Contains(body, "ServiceUnavailable") || !strings.Contains(body, "metadata database") || h.Get("Retry-After") == "" {
		t.Errorf("an ARM request to the replica waiting for the database: %d %s", status, body)
	}
	testsvc.WaitWithin(t, 2*time.Minute, "the replica to log that it waits twice", func() bool {
		return strings.Count(tail(r.dir), "waiting for the metadata database") >= 2
	})
	select {
	case <-r.done:
		t.Fatalf("the replica started with the database down exited: %s", tail(r.dir))
	default:
	}
	pg.Start()
	started = true
	c.ready(r)
	// It serves: a token from its own endpoint and an ARM request.
	conn, err := connect.Load(filepath.Join(r.dir, "connection.json"))
	if err != nil {
		t.Fatal(err)
	}
	conn.ClientID, conn.ClientSecret = c.env.Conn.ClientID, c.env.Conn.ClientSecret
	cred, err := conn.Credential()
	if err != nil {
		t.Fatal(err)
	}
	e := &testserver.Env{T: t, DataDir: r.dir, Conn: conn, Cred: cred, Opts: conn.ARMOptions(), Sub: conn.SubscriptionID}
	if conn.SubscriptionID != c.env.Sub {
		t.Fatalf("the late replica's subscription %s, the others' %s", conn.SubscriptionID, c.env.Sub)
	}
	e.ResourceGroups("after-the-wait")
}
