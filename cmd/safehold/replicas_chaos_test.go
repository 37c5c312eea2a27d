package main_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
)

// serverErrors records every 5xx answer the replicas gave the test's
// clients (method, path, status and the start of the body).
type serverErrors struct {
	base http.RoundTripper
	mu   sync.Mutex
	seen []string
	// judge, if set, is called (under mu) with each 5xx answer; what it
	// returns, if not "", goes to bad.
	judge func(r *http.Request, resp *http.Response, body []byte) string
	bad   []string
}

func (s *serverErrors) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := s.base.RoundTrip(r)
	if err != nil || resp.StatusCode < 500 {
		return resp, err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	s.mu.Lock()
	s.seen = append(s.seen, fmt.Sprintf("%s %s -> %d %s", r.Method, r.URL.Path, resp.StatusCode, body))
	if s.judge != nil {
		if bad := s.judge(r, resp, body); bad != "" {
			s.bad = append(s.bad, bad)
		}
	}
	s.mu.Unlock()
	return resp, nil
}

// pinned sends every request for one of hosts to hosts[i] (a client that
// talks to one replica only), whatever spread is under it.
type pinned struct {
	base  http.RoundTripper
	hosts []string
	i     int
}

// pinnedTo marks a pinned request's context: spread leaves it alone.
type pinnedTo struct{}

func (p *pinned) RoundTrip(r *http.Request) (*http.Response, error) {
	if slices.Contains(p.hosts, r.URL.Host) {
		r = r.Clone(context.WithValue(r.Context(), pinnedTo{}, p.hosts[p.i]))
		if r.Host == "" {
			r.Host = r.URL.Host
		}
		r.URL.Host = p.hosts[p.i]
	}
	return p.base.RoundTrip(r)
}

// TestReplicasChaos: three replicas on PostgreSQL and Azurite, a workload
// through random replicas (disk writes through the SAS data plane, ad hoc
// Backup vault backups, Recovery Services VM backups, restores), and a
// killer that SIGKILLs a random replica at a random moment of each round
// and starts it again on the same address. After each round: every
// acknowledged recovery point is listed by every replica, every job ends,
// restores are bit-exact against the bytes written before the backup;
// at the end a verify of the repositories is clean. SAFEHOLD_CHAOS_ROUNDS
// sets the number of rounds (default 4, the CI's share).
func TestReplicasChaos(t *testing.T) {
	rounds := 4
	if s := os.Getenv("SAFEHOLD_CHAOS_ROUNDS"); s != "" {
		rounds, _ = strconv.Atoi(s)
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SAFEHOLD_CHAOS_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (SAFEHOLD_CHAOS_SEED), %d rounds", seed, rounds)
	rng := mrand.New(mrand.NewPCG(seed, seed))

	c := startReplicas(t, 3)
	e := c.env
	ctx := context.Background()
	hc, err := e.Conn.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	errs := &serverErrors{base: hc.Transport}
	hc.Transport = errs
	var hosts []string
	for _, r := range c.reps {
		hosts = append(hosts, r.host())
	}

	dv := fixture.ProtectDisk(t, e)
	vm := fixture.ProtectVM(t, e)
	df := testserver.Factory(e, armdataprotection.NewClientFactory)
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	// Clients that each talk to one replica only.
	var perReplica []*armdataprotection.ClientFactory
	var perReplicaRS []*armrecoveryservicesbackup.ClientFactory
	for i := range c.reps {
		f, opts := pinnedFactory(t, e, errs, hosts, i)
		perReplica = append(perReplica, f)
		g, err := armrecoveryservicesbackup.NewClientFactory(e.Sub, e.Cred, &arm.ClientOptions{ClientOptions: opts.ClientOptions})
		if err != nil {
			t.Fatal(err)
		}
		perReplicaRS = append(perReplicaRS, g)
	}

	// retry calls fn until it succeeds: a killed replica's requests fail
	// until the SDK's retries reach another one.
	retry := func(what string, fn func() error) { t.Helper(); retryFor(t, what, fn) }

	image := &diskImage{}
	for off, b := range dv.Written {
		image.add(off, b)
	}
	var points []point
	known := map[string]bool{}
	kills := 0
	pool, err := pgxpool.New(ctx, c.pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	// kill SIGKILLs a replica and starts it again on its address and data
	// directory: three times in four one running a task (a job's, a
	// collection's) when there is one, else any.
	kill := func(why string) {
		i := rng.IntN(len(c.reps))
		var kinds, owners []string
		if rows, err := pool.Query(ctx, `SELECT kind, lease_owner FROM tasks WHERE lease_owner <> ''`); err == nil {
			for rows.Next() {
				var k, o string
				rows.Scan(&k, &o)
				kinds, owners = append(kinds, k), append(owners, o)
			}
			rows.Close()
		}
		if len(owners) > 0 && rng.IntN(4) > 0 {
			j := rng.IntN(len(owners))
			for n, r := range c.reps {
				if strings.HasPrefix(owners[j], r.nodeID(t)+"/") {
					i = n
					why += ", running " + kinds[j]
				}
			}
		}
		r := c.reps[i]
		r.cmd.Process.Kill()
		<-r.done
		kills++
		t.Logf("killed replica %d (%s)", i, why)
		c.start(r)
		c.ready(r)
	}
	// killDuring runs fn and kills a random replica a random delay up to
	// max after fn started (or once fn ended, if sooner), then waits for fn.
	killDuring := func(why string, max time.Duration, fn func()) {
		done := make(chan struct{})
		go func() { defer close(done); fn() }()
		delay := time.Duration(rng.Int64N(int64(max)))
		select {
		case <-done:
			why += " (after it)"
		case <-time.After(delay):
		}
		kill(fmt.Sprintf("%s, %v in", why, delay.Round(time.Millisecond)))
		<-done
	}
	dpJobs := func(f *armdataprotection.ClientFactory) ([]*armdataprotection.AzureBackupJobResource, error) {
		return allPages(ctx, f.NewJobsClient().NewListPager(dv.RG, dv.Vault, nil), func(p armdataprotection.JobsClientListResponse) []*armdataprotection.AzureBackupJobResource {
			return p.Value
		})
	}
	rsJobs := func(f *armrecoveryservicesbackup.ClientFactory) ([]*armrecoveryservicesbackup.JobResource, error) {
		return allPages(ctx, f.NewBackupJobsClient().NewListPager(vm.Vault, vm.RG, nil), func(p armrecoveryservicesbackup.BackupJobsClientListResponse) []*armrecoveryservicesbackup.JobResource {
			return p.Value
		})
	}
	// jobsEnd waits for every job of both vaults to end and fails the
	// test on one that ended otherwise than Completed without saying why.
	endedJobs := map[string]string{}
	// ended reports whether a job ended, and records its end once.
	ended := func(vault, name, op, status string, details any, nDetails int) bool {
		if status == "InProgress" || status == "NotStarted" {
			return false
		}
		if endedJobs[name] == "" {
			endedJobs[name] = status
			if status != "Completed" {
				b, _ := json.Marshal(details)
				t.Logf("%s job %s %s: %s %s", vault, op, name, status, b)
				if nDetails == 0 {
					t.Errorf("%s job %s %s ended %s without an error", vault, op, name, status)
				}
			}
		}
		return true
	}
	jobsEnd := func() {
		t.Helper()
		testsvc.WaitWithin(t, 4*time.Minute, "every job to end", func() bool {
			var dj []*armdataprotection.AzureBackupJobResource
			var rj []*armrecoveryservicesbackup.JobResource
			retry("list jobs", func() (err error) {
				if dj, err = dpJobs(df); err == nil {
					rj, err = rsJobs(bf)
				}
				return err
			})
			for _, j := range dj {
				p := j.Properties
				if !ended("Backup vault", *j.Name, *p.Operation, *p.Status, p.ErrorDetails, len(p.ErrorDetails)) {
					return false
				}
			}
			for _, j := range rj {
				p := j.Properties.(*armrecoveryservicesbackup.AzureIaaSVMJob)
				if !ended("Recovery Services", *j.Name, *p.Operation, *p.Status, p.ErrorDetails, len(p.ErrorDetails)) {
					return false
				}
			}
			return true
		})
	}
	dpPoints := func(f *armdataprotection.ClientFactory) ([]string, error) { return pointNames(ctx, f, dv) }
	rsPoints := func(f *armrecoveryservicesbackup.ClientFactory) ([]string, error) {
		return allPages(ctx, f.NewRecoveryPointsClient().NewListPager(vm.Vault, vm.RG, "Azure", vm.Container, vm.Item, nil), func(p armrecoveryservicesbackup.RecoveryPointsClientListResponse) (out []string) {
			for _, v := range p.Value {
				out = append(out, *v.Name)
			}
			return out
		})
	}
	var rsKnown []string
	// check: every acknowledged point listed by every replica.
	check := func(round int) {
		t.Helper()
		for i, f := range perReplica {
			var got []string
			retry(fmt.Sprintf("list points on replica %d", i), func() (err error) { got, err = dpPoints(f); return err })
			for _, p := range points {
				if !slices.Contains(got, p.name) {
					t.Fatalf("round %d: replica %d does not list Backup vault point %s (lists %v)", round, i, p.name, got)
				}
			}
			var rs []string
			retry(fmt.Sprintf("list RS points on replica %d", i), func() (err error) { rs, err = rsPoints(perReplicaRS[i]); return err })
			for _, p := range rsKnown {
				if !slices.Contains(rs, p) {
					t.Fatalf("round %d: replica %d does not list Recovery Services point %s (lists %v)", round, i, p, rs)
				}
			}
		}
	}

	for round := 0; round < rounds; round++ {
		// New data through the SAS data plane (64 KiB-aligned, never zero).
		data := make([]byte, 16<<20)
		off := rng.Int64N((1<<30-int64(len(data)))/imageBlock+1) * imageBlock // within the 1 GiB disk
		rand.Read(data)
		pc, revoke := fixture.DiskAccessByID(t, e, dv.DiskID, "Write")
		write := func() {
			var wg sync.WaitGroup
			for i := 0; i < len(data); i += 4 << 20 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					retry("write pages", func() error { return fixture.WritePages(pc, off+int64(i), data[i:i+4<<20]) })
				}()
			}
			wg.Wait()
		}
		killDuring("mid disk write", time.Second, write)
		write()         // whatever the kill cut
		if t.Failed() { // a write that failed in its goroutine: the image would be wrong
			t.FailNow()
		}
		revoke()
		image.add(off, data)
		want := &diskImage{blocks: maps(image.blocks)}

		// Ad hoc backups (and every other round, the VM's), a kill among them.
		killDuring("mid backup", 2*time.Second, func() {
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				retry("ad hoc backup", func() error {
					p, err := dv.StartBackup(t, e)
					if err == nil {
						_, err = p.PollUntilDone(ctx, fixture.Poll)
					}
					return err
				})
			}()
			if round%2 == 0 {
				retry("VM backup", func() error {
					_, err := bf.NewBackupsClient().Trigger(ctx, vm.Vault, vm.RG, "Azure", vm.Container, vm.Item,
						armrecoveryservicesbackup.BackupRequestResource{Properties: &armrecoveryservicesbackup.IaasVMBackupRequest{}}, nil)
					return err
				})
			}
			wg.Wait()
		})
		// acknowledged: the jobs ended; their points hold what was written.
		acknowledged := func() {
			jobsEnd()
			var now []string
			retry("list points", func() (err error) { now, err = dpPoints(df); return err })
			for _, n := range now {
				if !known[n] {
					known[n] = true
					points = append(points, point{n, want})
				}
			}
			retry("list RS points", func() (err error) { rsKnown, err = rsPoints(bf); return err })
		}
		acknowledged()

		// Every third round, scheduled backups: the clock moved through a
		// random replica (the next one if that one is killed under it).
		if round%3 == 2 {
			killDuring("mid clock advance", 3*time.Second, func() {
				retry("clock advance", func() error {
					out, err := exec.Command(c.bin, "clock", "advance", "PT5H", "--data-dir", c.reps[rng.IntN(len(c.reps))].dir).CombinedOutput()
					if err != nil {
						return fmt.Errorf("%v: %s", err, out)
					}
					return nil
				})
			})
			acknowledged()
		}

		// A restore of a random acknowledged point, a kill during it.
		if len(points) > 0 {
			p := points[rng.IntN(len(points))]
			name := fmt.Sprintf("chaos-r%d", round)
			req := diskRestore(dv, p.name, name)
			killDuring("mid restore", 2*time.Second, func() {
				retry("restore", func() error {
					_, err := df.NewBackupInstancesClient().BeginTriggerRestore(ctx, dv.RG, dv.Vault, dv.Instance, req, nil)
					if err != nil && strings.Contains(err.Error(), "already exists") {
						return nil
					}
					return err
				})
			})
			jobsEnd()
			restoredID := dv.TargetRG + "/providers/Microsoft.Compute/disks/" + name
			resp, _ := e.Do("GET", restoredID+"?api-version=2023-04-02", nil, testserver.AnyStatus())
			if resp.StatusCode == http.StatusOK {
				if got := readDisk(t, e, restoredID); !got.equal(p.image) {
					t.Fatalf("round %d: the restore of point %s differs from the bytes written before its backup", round, p.name)
				}
			} else {
				t.Logf("round %d: restore of %s made no disk (%d)", round, p.name, resp.StatusCode)
			}
		}
		check(round)
		t.Logf("round %d: %d points, %d kills", round, len(points), kills)
	}

	// Stop protecting the VM, deleting its data (a collection follows), a
	// kill during it; then protect it again and back it up.
	policyID := "/subscriptions/" + e.Sub + "/resourceGroups/rs-rg/providers/Microsoft.RecoveryServices/vaults/rsvault1/backupPolicies/DefaultPolicy"
	killDuring("mid stop protection with delete data", 3*time.Second, func() {
		retry("stop protection", func() error {
			_, err := bf.NewProtectedItemsClient().Delete(ctx, vm.Vault, vm.RG, "Azure", vm.Container, vm.Item, nil)
			return err
		})
	})
	testsvc.WaitWithin(t, 4*time.Minute, "the protected item's deletion", func() bool {
		_, err := bf.NewProtectedItemsClient().Get(ctx, vm.Vault, vm.RG, "Azure", vm.Container, vm.Item, nil)
		return err != nil && strings.Contains(err.Error(), "404")
	})
	jobsEnd()
	for i, f := range perReplicaRS {
		var rs []string
		retry("list RS points", func() (err error) {
			if rs, err = rsPoints(f); err != nil && strings.Contains(err.Error(), "BMSUserErrorItemNotFound") {
				return nil // the item is gone, and its points with it
			}
			return err
		})
		if len(rs) != 0 {
			t.Errorf("replica %d lists %d points of the deleted item", i, len(rs))
		}
	}
	rsKnown = nil
	killDuring("mid resume protection", 2*time.Second, func() {
		retry("protect again", func() error {
			_, err := bf.NewProtectedItemsClient().CreateOrUpdate(ctx, vm.Vault, vm.RG, "Azure", vm.Container, vm.Item, armrecoveryservicesbackup.ProtectedItemResource{
				Properties: &armrecoveryservicesbackup.AzureIaaSComputeVMProtectedItem{SourceResourceID: to.Ptr(vm.VMID), PolicyID: to.Ptr(policyID)}}, nil)
			return err
		})
		testsvc.WaitWithin(t, 4*time.Minute, "the protected item", func() bool {
			it, err := bf.NewProtectedItemsClient().Get(ctx, vm.Vault, vm.RG, "Azure", vm.Container, vm.Item, nil)
			return err == nil && it.Properties != nil
		})
		retry("VM backup", func() error {
			_, err := bf.NewBackupsClient().Trigger(ctx, vm.Vault, vm.RG, "Azure", vm.Container, vm.Item,
				armrecoveryservicesbackup.BackupRequestResource{Properties: &armrecoveryservicesbackup.IaasVMBackupRequest{}}, nil)
			return err
		})
	})
	jobsEnd()
	retry("list RS points", func() (err error) { rsKnown, err = rsPoints(bf); return err })
	if len(rsKnown) != 1 {
		t.Errorf("after protecting the VM again and one backup: %d points", len(rsKnown))
	}
	check(rounds)

	// Verify the repositories through a replica.
	out, err := exec.Command(c.bin, "verify", "-o", "json", "--data-dir", c.reps[0].dir).CombinedOutput()
	if err != nil {
		t.Fatalf("verify after %d kills: %v\n%s", kills, err, out)
	}
	t.Logf("verify: %s", out)
	errs.mu.Lock()
	defer errs.mu.Unlock()
	for _, s := range errs.seen { // only a killed replica's 503, naming it
		if !strings.Contains(s, "-> 503 ") || !strings.Contains(s, "replica") {
			t.Errorf("a 5xx answer: %s", s)
		} else {
			t.Logf("503: %s", s)
		}
	}
	t.Logf("%d rounds, %d kills, %d points, %d jobs", rounds, kills, len(points), len(endedJobs))
}

// allPages reads every page of p, answering the items of each (value
// picks them) or the first error.
func allPages[P, V any](ctx context.Context, p *runtime.Pager[P], value func(P) []V) (out []V, err error) {
	for p.More() {
		pg, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, value(pg)...)
	}
	return out, nil
}

func maps(m map[int64][]byte) map[int64][]byte {
	out := make(map[int64][]byte, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// retryFor calls fn until it succeeds, for three minutes at the most
// (logging each failure), and fails the test with its last error.
func retryFor(t testing.TB, what string, fn func() error) {
	t.Helper()
	var err error
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		if err = fn(); err == nil {
			return
		}
		msg := err.Error()
		var re *azcore.ResponseError
		if errors.As(err, &re) {
			msg = fmt.Sprintf("%d %s", re.StatusCode, re.ErrorCode)
		}
		t.Logf("%s: %.300s (retrying)", what, msg)
	}
	t.Fatalf("%s: %v", what, err)
}

// pointNames lists the names of the disk instance's recovery points.
func pointNames(ctx context.Context, f *armdataprotection.ClientFactory, dv *fixture.DiskVault) ([]string, error) {
	return allPages(ctx, f.NewRecoveryPointsClient().NewListPager(dv.RG, dv.Vault, dv.Instance, nil), func(p armdataprotection.RecoveryPointsClientListResponse) (out []string) {
		for _, v := range p.Value {
			out = append(out, *v.Name)
		}
		return out
	})
}

// diskRestore is the request to restore point as a new disk name in the
// instance's target resource group.
func diskRestore(dv *fixture.DiskVault, point, name string) *armdataprotection.AzureBackupRecoveryPointBasedRestoreRequest {
	return &armdataprotection.AzureBackupRecoveryPointBasedRestoreRequest{ObjectType: to.Ptr("AzureBackupRecoveryPointBasedRestoreRequest"),
		RecoveryPointID: to.Ptr(point), SourceDataStoreType: to.Ptr(armdataprotection.SourceDataStoreTypeOperationalStore),
		RestoreTargetInfo: &armdataprotection.RestoreTargetInfo{ObjectType: to.Ptr("RestoreTargetInfo"), RecoveryOption: to.Ptr(armdataprotection.RecoveryOptionFailIfExists),
			RestoreLocation: to.Ptr("westus"), DatasourceInfo: fixture.Datasource(dv.TargetRG+"/providers/Microsoft.Compute/disks/"+name, name)}}
}

// point is an acknowledged recovery point and the disk's bytes it holds.
type point struct {
	name  string
	image *diskImage
}

// pinnedFactory is a Backup vault client factory whose requests go to
// hosts[i] alone, through base, and its options.
func pinnedFactory(t testing.TB, e *testserver.Env, base http.RoundTripper, hosts []string, i int) (*armdataprotection.ClientFactory, *arm.ClientOptions) {
	opts := *e.Opts
	opts.Transport = &http.Client{Transport: &pinned{base: base, hosts: hosts, i: i}}
	f, err := armdataprotection.NewClientFactory(e.Sub, e.Cred, &opts)
	if err != nil {
		t.Fatal(err)
	}
	return f, &opts
}
