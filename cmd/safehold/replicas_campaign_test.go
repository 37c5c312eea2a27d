package main_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/pageblob"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
)

// campaignDisk is a disk protected in a Backup vault of its own.
type campaignDisk struct {
	dv     *fixture.DiskVault
	mu     sync.Mutex // held while its bytes change and while a backup runs
	image  *diskImage
	points map[string]*diskImage // acknowledged points: the bytes they hold
}

// protectDiskIn is fixture.ProtectDisk with names of its own (suffix n).
func protectDiskIn(t testing.TB, e *testserver.Env, n int) *fixture.DiskVault {
	t.Helper()
	ctx := e.Ctx()
	rg, drg, srg, trg := fmt.Sprintf("vault-rg%d", n), fmt.Sprintf("disk-rg%d", n), fmt.Sprintf("snapshot-rg%d", n), fmt.Sprintf("target-rg%d", n)
	e.ResourceGroups(rg, drg, srg, trg)
	dv := &fixture.DiskVault{RG: rg, Vault: fmt.Sprintf("vault%d", n), Instance: fmt.Sprintf("data%d-bi", n), Policy: "disk-policy",
		SnapshotRG: "/subscriptions/" + e.Sub + "/resourceGroups/" + srg, TargetRG: "/subscriptions/" + e.Sub + "/resourceGroups/" + trg}
	name := fmt.Sprintf("data%d", n)
	dv.DiskID, dv.Written = fixture.Disk(t, e, drg, name, 1, 0, 4<<20)
	f := testserver.Factory(e, armdataprotection.NewClientFactory)
	principal := *fixture.BackupVault(t, e, dv.RG, dv.Vault).Identity.PrincipalID
	pol, err := f.NewBackupPoliciesClient().CreateOrUpdate(ctx, dv.RG, dv.Vault, dv.Policy, fixture.DiskPolicyFrom(fixture.ScheduleStart(e), "PT4H", "P7D", ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	fixture.Assign(t, e, dv.DiskID, fixture.RoleDiskBackupReader, principal)
	fixture.Assign(t, e, dv.SnapshotRG, fixture.RoleDiskSnapshotContributor, principal)
	fixture.Assign(t, e, dv.TargetRG, fixture.RoleDiskRestoreOperator, principal)
	bi := armdataprotection.BackupInstance{ObjectType: to.Ptr("BackupInstance"), FriendlyName: to.Ptr(name), DataSourceInfo: fixture.Datasource(dv.DiskID, name),
		PolicyInfo: &armdataprotection.PolicyInfo{PolicyID: pol.ID, PolicyParameters: &armdataprotection.PolicyParameters{
			DataStoreParametersList: []armdataprotection.DataStoreParametersClassification{&armdataprotection.AzureOperationalStoreParameters{
				ObjectType: to.Ptr("AzureOperationalStoreParameters"), DataStoreType: to.Ptr(armdataprotection.DataStoreTypesOperationalStore),
				ResourceGroupID: to.Ptr(dv.SnapshotRG)}}}}}
	cp, err := f.NewBackupInstancesClient().BeginCreateOrUpdate(ctx, dv.RG, dv.Vault, dv.Instance, armdataprotection.BackupInstanceResource{Properties: &bi}, nil)
	fixture.Done(t, cp, err)
	return dv
}

// TestReplicasCampaign: a fault campaign on three replicas on a
// PostgreSQL cluster of the test's own with packs on S3 (or Azurite:
// SAFEHOLD_CAMPAIGN_STORE=azurite) behind a proxy that fails as told, and
// data dirs on small file systems of their own (where one can be mounted):
// workloads through every replica at once (two Backup vaults: SAS writes,
// ad hoc backups, restores checked bit-exact; a VM's Recovery Services
// backups; clock advances running the scheduled ones) while a fault
// strikes: a replica SIGKILLed (the disk owner, a job's runner, the
// leader, all in turn, the owner while the database is down), PostgreSQL
// stopped -m immediate, the object store hanging, failing, cutting or
// committing uploads late, a data dir full. After each: every job ends
// (saying why if not Completed), every acknowledged point is listed by
// every replica; at the end a deleted instance is kept (soft delete), the
// VM's snapshots go with its protection, verify is clean and every 5xx
// answer was a clear one. It is a campaign, run by hand, not a CI check
// (its faults land at random moments of the workload):
// SAFEHOLD_CAMPAIGN_FAULTS=all runs every fault (about ten minutes),
// comma-separated words those whose names hold them, a number that many
// at random (SAFEHOLD_CAMPAIGN_SEED repeats the pick); unset, the test is
// skipped. It found a lost task claim that hung clock advances, a token
// endpoint calling a known client unknown during a database outage, S3
// manifest puts failing on a 409, and a backup retry left waiting for ever
// on a frozen clock (session 26's report).
func TestReplicasCampaign(t *testing.T) {
	sel := os.Getenv("SAFEHOLD_CAMPAIGN_FAULTS")
	if sel == "" {
		t.Skip("a fault campaign run by hand: SAFEHOLD_CAMPAIGN_FAULTS=all (or words, or a number)")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("SAFEHOLD_CAMPAIGN_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (SAFEHOLD_CAMPAIGN_SEED)", seed)
	rng := mrand.New(mrand.NewPCG(seed, seed))
	var rngMu sync.Mutex
	intn := func(n int) int { rngMu.Lock(); defer rngMu.Unlock(); return rng.IntN(n) }

	pg := testsvc.OutagePostgres(t)
	var blobURL string
	var store *testsvc.FaultyStore
	if os.Getenv("SAFEHOLD_CAMPAIGN_STORE") == "azurite" {
		store = testsvc.NewFaultyStore(t, testsvc.AzuriteEndpoint(t))
		blobURL = "azblob://" + strings.ToLower(testsvc.RandomName("campaign")) + "?endpoint=" + url.QueryEscape(store.URL)
	} else {
		ep, access, secret := testsvc.S3Endpoint(t)
		store = testsvc.NewFaultyStore(t, ep)
		t.Setenv("AWS_ACCESS_KEY_ID", access)
		t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
		blobURL = "s3://" + strings.ToLower(testsvc.RandomName("campaign")) + "?endpoint=" + url.QueryEscape(store.URL) + "&region=us-east-1"
	}
	base := t.TempDir()
	var dirs []string
	for i := range 3 {
		mnt := filepath.Join(base, fmt.Sprintf("fs%d", i))
		os.Mkdir(mnt, 0o700)
		if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=2g"); err != nil {
			t.Logf("no file system of its own for each replica (%v): no disk-full faults", err)
			dirs = nil
			break
		}
		t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
		dir := filepath.Join(base, fmt.Sprintf("replica%d", i))
		if err := os.Symlink(mnt, dir); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, dir)
	}
	c := startReplicasOn(t, 3, pg.URL, blobURL, dirs)
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
	ans := &serverErrors{base: hc.Transport, judge: func(r *http.Request, resp *http.Response, body []byte) string {
		s := clearOutageAnswer(r, resp, body)
		switch {
		case s == "":
		case resp.StatusCode == 503 && strings.Contains(string(body), "replica"): // a killed replica's, naming it
		case resp.StatusCode == 507 && strings.Contains(string(body), "InsufficientStorage") && strings.Contains(string(body), "free space"): // a full data dir's
		default:
			return s
		}
		return ""
	}}
	hc.Transport = ans

	// The workload's disks: two Backup vaults, one VM in a Recovery Services vault.
	var disks []*campaignDisk
	for n := 1; n <= 2; n++ {
		dv := protectDiskIn(t, e, n)
		cd := &campaignDisk{dv: dv, image: &diskImage{}, points: map[string]*diskImage{}}
		for off, b := range dv.Written {
			cd.image.add(off, b)
		}
		disks = append(disks, cd)
	}
	vm := fixture.ProtectVM(t, e)
	df := testserver.Factory(e, armdataprotection.NewClientFactory)
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	dc := testserver.Factory(e, armcompute.NewClientFactory).NewDisksClient()

	var logMu sync.Mutex
	logf := func(format string, args ...any) { logMu.Lock(); t.Logf(format, args...); logMu.Unlock() }
	// try calls fn until it succeeds or until the deadline (then it
	// reports the failure and returns it).
	try := func(what string, limit time.Duration, fn func() error) error {
		var err error
		for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(time.Second) {
			if err = fn(); err == nil {
				return nil
			}
			msg := err.Error()
			var re *azcore.ResponseError
			if errors.As(err, &re) {
				msg = fmt.Sprintf("%d %s", re.StatusCode, re.ErrorCode)
			}
			logf("%s: %.200s (retrying)", what, msg)
		}
		t.Errorf("%s: gave up after %v: %v", what, limit, err)
		return err
	}
	var problems []string
	var pmu sync.Mutex
	problem := func(format string, args ...any) {
		s := fmt.Sprintf(format, args...)
		pmu.Lock()
		problems = append(problems, s)
		pmu.Unlock()
		t.Errorf("%s", s)
	}

	// Jobs: every one ends, with an error if not Completed.
	ended := map[string]string{}
	var endMu sync.Mutex
	dpJobsEnd := func(cd *campaignDisk, limit time.Duration) bool {
		var open []string
		deadline := time.Now().Add(limit)
		for time.Now().Before(deadline) {
			jobs, err := allPages(ctx, df.NewJobsClient().NewListPager(cd.dv.RG, cd.dv.Vault, nil), func(p armdataprotection.JobsClientListResponse) []*armdataprotection.AzureBackupJobResource {
				return p.Value
			})
			if err != nil {
				time.Sleep(time.Second)
				continue
			}
			open = nil
			for _, j := range jobs {
				p := j.Properties
				if *p.Status == "InProgress" || *p.Status == "NotStarted" {
					open = append(open, *p.Operation+" "+*j.Name+" "+*p.Status)
					continue
				}
				endMu.Lock()
				if ended[*j.Name] == "" {
					ended[*j.Name] = *p.Status
					if *p.Status != "Completed" {
						b, _ := json.Marshal(p.ErrorDetails)
						logf("%s job %s %s: %s %s", cd.dv.Vault, *p.Operation, *j.Name, *p.Status, b)
						if len(p.ErrorDetails) == 0 {
							problem("%s job %s %s ended %s without an error", cd.dv.Vault, *p.Operation, *j.Name, *p.Status)
						}
					}
				}
				endMu.Unlock()
			}
			if len(open) == 0 {
				return true
			}
			time.Sleep(2 * time.Second)
		}
		problem("%s: jobs still open after %v: %v", cd.dv.Vault, limit, open)
		return false
	}
	rsJobsEnd := func(limit time.Duration) bool {
		var open []string
		deadline := time.Now().Add(limit)
		for time.Now().Before(deadline) {
			jobs, err := allPages(ctx, bf.NewBackupJobsClient().NewListPager(vm.Vault, vm.RG, nil), func(p armrecoveryservicesbackup.BackupJobsClientListResponse) []*armrecoveryservicesbackup.JobResource {
				return p.Value
			})
			if err != nil {
				time.Sleep(time.Second)
				continue
			}
			open = nil
			for _, j := range jobs {
				p := j.Properties.(*armrecoveryservicesbackup.AzureIaaSVMJob)
				if *p.Status == "InProgress" || *p.Status == "NotStarted" {
					open = append(open, *p.Operation+" "+*j.Name+" "+*p.Status)
					continue
				}
				endMu.Lock()
				if ended[*j.Name] == "" {
					ended[*j.Name] = *p.Status
					if *p.Status != "Completed" {
						b, _ := json.Marshal(p.ErrorDetails)
						logf("RS job %s %s: %s %s", *p.Operation, *j.Name, *p.Status, b)
						if len(p.ErrorDetails) == 0 {
							problem("RS job %s %s ended %s without an error", *p.Operation, *j.Name, *p.Status)
						}
					}
				}
				endMu.Unlock()
			}
			if len(open) == 0 {
				return true
			}
			time.Sleep(2 * time.Second)
		}
		problem("RS: jobs still open after %v: %v", limit, open)
		return false
	}

	// acknowledge records the points of cd not yet known as holding its
	// current image (called with cd.mu held, its jobs ended).
	acknowledge := func(cd *campaignDisk) {
		var names []string
		if try("list points", 3*time.Minute, func() (err error) { names, err = pointNames(ctx, df, cd.dv); return err }) != nil {
			return
		}
		for _, n := range names {
			if cd.points[n] == nil {
				cd.points[n] = &diskImage{blocks: maps(cd.image.blocks)}
			}
		}
	}
	grant := func(id string) (*pageblob.Client, func(), error) {
		parts := strings.Split(id, "/")
		rg, name := parts[4], parts[len(parts)-1]
		gp, err := dc.BeginGrantAccess(ctx, rg, name, armcompute.GrantAccessData{Access: to.Ptr(armcompute.AccessLevelWrite), DurationInSeconds: to.Ptr[int32](3600)}, nil)
		if err != nil {
			return nil, nil, err
		}
		g, err := gp.PollUntilDone(ctx, fixture.Poll)
		if err != nil {
			return nil, nil, err
		}
		pc, err := pageblob.NewClientWithNoCredential(*g.AccessSAS, &pageblob.ClientOptions{ClientOptions: policy.ClientOptions{Transport: hc}})
		return pc, func() {
			try("revoke "+name, 3*time.Minute, func() error {
				rp, err := dc.BeginRevokeAccess(ctx, rg, name, nil)
				if err == nil {
					_, err = rp.PollUntilDone(ctx, fixture.Poll)
				}
				return err
			})
		}, err
	}
	var backups, restores, rsBackups, advances, writes atomic.Int64
	// diskRound: new bytes through the SAS data plane, an ad hoc backup, the
	// new point acknowledged.
	diskRound := func(cd *campaignDisk) {
		cd.mu.Lock()
		defer cd.mu.Unlock()
		data := make([]byte, 4<<20)
		rand.Read(data)
		off := int64(intn((1<<30-len(data))/imageBlock+1)) * imageBlock
		var pc *pageblob.Client
		var revoke func()
		if try("grant "+cd.dv.DiskID, 4*time.Minute, func() (err error) { pc, revoke, err = grant(cd.dv.DiskID); return err }) != nil {
			return
		}
		if try("write pages", 4*time.Minute, func() error { return fixture.WritePages(pc, off, data) }) != nil {
			revoke()
			return
		}
		revoke()
		writes.Add(1)
		cd.image.add(off, data)
		err := try("ad hoc backup "+cd.dv.Vault, 4*time.Minute, func() error {
			p, err := cd.dv.StartBackup(t, e)
			if err == nil {
				_, err = p.PollUntilDone(ctx, fixture.Poll)
			}
			return err
		})
		if err == nil {
			backups.Add(1)
		}
		dpJobsEnd(cd, 5*time.Minute)
		acknowledge(cd)
	}
	restoreRound := func(cd *campaignDisk, tag string) {
		cd.mu.Lock()
		var names []string
		for n := range cd.points {
			names = append(names, n)
		}
		slices.Sort(names)
		if len(names) == 0 {
			cd.mu.Unlock()
			return
		}
		p := names[intn(len(names))]
		want := cd.points[p]
		cd.mu.Unlock()
		name := "r-" + tag
		req := diskRestore(cd.dv, p, name)
		err := try("restore "+p, 5*time.Minute, func() error {
			pl, err := df.NewBackupInstancesClient().BeginTriggerRestore(ctx, cd.dv.RG, cd.dv.Vault, cd.dv.Instance, req, nil)
			if err == nil {
				_, err = pl.PollUntilDone(ctx, fixture.Poll)
			}
			if err != nil && strings.Contains(err.Error(), "already exists") {
				return nil
			}
			return err
		})
		dpJobsEnd(cd, 5*time.Minute)
		if err != nil {
			return
		}
		id := cd.dv.TargetRG + "/providers/Microsoft.Compute/disks/" + name
		var got *diskImage
		func() {
			defer func() {
				if r := recover(); r != nil {
					problem("read restored %s: %v", id, r)
				}
			}()
			got = readDiskNoFatal(ctx, hc, dc, id, try)
		}()
		if got == nil {
			return
		}
		if !got.equal(want) {
			problem("the restore of %s (%s) differs from the bytes written before its backup", p, id)
		} else {
			restores.Add(1)
		}
		parts := strings.Split(id, "/")
		try("delete restored disk", 4*time.Minute, func() error {
			dp, err := dc.BeginDelete(ctx, parts[4], name, nil)
			if err == nil {
				_, err = dp.PollUntilDone(ctx, fixture.Poll)
			}
			return err
		})
	}
	vmRound := func() {
		err := try("VM backup", 4*time.Minute, func() error {
			_, err := bf.NewBackupsClient().Trigger(ctx, vm.Vault, vm.RG, "Azure", vm.Container, vm.Item,
				armrecoveryservicesbackup.BackupRequestResource{Properties: &armrecoveryservicesbackup.IaasVMBackupRequest{}}, nil)
			return err
		})
		if err == nil {
			rsBackups.Add(1)
		}
		rsJobsEnd(6 * time.Minute)
	}
	advance := func() {
		for _, cd := range disks {
			cd.mu.Lock()
		}
		defer func() {
			for _, cd := range disks {
				cd.mu.Unlock()
			}
		}()
		try("clock advance", 5*time.Minute, func() error {
			cmd := exec.Command(c.bin, "clock", "advance", "PT5H", "--data-dir", c.reps[intn(len(c.reps))].dir)
			out, err := cmd.CombinedOutput()
			if err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			return nil
		})
		advances.Add(1)
		for _, cd := range disks {
			dpJobsEnd(cd, 5*time.Minute)
			acknowledge(cd)
		}
	}

	// The faults.
	holderOf := func(key string) int {
		var v []byte
		if err := pool.QueryRow(ctx, `SELECT value FROM docs WHERE kind = 'lease' AND key LIKE $1 LIMIT 1`, key).Scan(&v); err != nil {
			return -1
		}
		var row struct{ Holder string }
		json.Unmarshal(v, &row)
		for i, r := range c.reps {
			if id := r.nodeID(t); row.Holder == id || strings.HasPrefix(row.Holder, id+"/") {
				return i
			}
		}
		return -1
	}
	taskOwner := func(kind string) int {
		var owner string
		if err := pool.QueryRow(ctx, `SELECT lease_owner FROM tasks WHERE kind LIKE $1 AND lease_owner <> '' LIMIT 1`, kind).Scan(&owner); err != nil {
			return -1
		}
		for i, r := range c.reps {
			if strings.HasPrefix(owner, r.nodeID(t)+"/") {
				return i
			}
		}
		return -1
	}
	kill := func(i int, why string, down time.Duration) {
		if i < 0 {
			i = intn(len(c.reps))
			why += " (none found: a random one)"
		}
		r := c.reps[i]
		r.cmd.Process.Kill()
		<-r.done
		logf("killed replica %d: %s; down %v", i, why, down)
		time.Sleep(down)
		c.start(r)
		c.ready(r)
	}
	waitTask := func(kind string, limit time.Duration) int {
		for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if i := taskOwner(kind); i >= 0 {
				return i
			}
		}
		return -1
	}
	type fault struct {
		name  string
		cause func()
	}
	faults := []fault{
		{"kill -9 the disk owner", func() { kill(holderOf("disk:%"), "the disk owner", 3*time.Second) }},
		{"kill -9 the backup runner", func() { kill(waitTask("protection.%", 20*time.Second), "the job runner", 0) }},
		{"kill -9 the leader, down 10 s", func() { kill(holderOf("leader"), "the leader", 10*time.Second) }},
		{"PostgreSQL stopped -m immediate for 5 s", func() { pg.StopImmediate(); time.Sleep(5 * time.Second); pg.Start() }},
		{"PostgreSQL stopped -m immediate for 30 s", func() { pg.StopImmediate(); time.Sleep(30 * time.Second); pg.Start() }},
		{"object store stopped (hangs) 15 s", func() { store.Set(testsvc.StoreHangs); time.Sleep(15 * time.Second); store.Set(testsvc.StoreUp) }},
		{"object store 503 15 s", func() { store.Set(testsvc.Store503); time.Sleep(15 * time.Second); store.Set(testsvc.StoreUp) }},
		{"object store cuts uploads 15 s", func() { store.Set(testsvc.StoreCutsPuts); time.Sleep(15 * time.Second); store.Set(testsvc.StoreUp) }},
		{"object store commits late 15 s", func() { store.Set(testsvc.StoreCommitsLate); time.Sleep(15 * time.Second); store.Set(testsvc.StoreUp) }},
		{"disk owner's file system full 15 s", func() {
			i := holderOf("disk:%")
			if i < 0 {
				i = 0
			}
			fill := filepath.Join(c.reps[i].dir, "fill")
			testsvc.FillUp(t, fill, 0)
			logf("filled replica %d's file system", i)
			time.Sleep(15 * time.Second)
			os.Remove(fill)
		}},
		{"kill -9 the disk owner while PostgreSQL is down", func() {
			i := holderOf("disk:%")
			pg.StopImmediate()
			r := c.reps[max(i, 0)]
			r.cmd.Process.Kill()
			<-r.done
			logf("killed replica %d (the disk owner) while the database is down", i)
			time.Sleep(5 * time.Second)
			pg.Start()
			c.start(r)
			c.ready(r)
		}},
		{"leader's file system full 15 s", func() {
			i := holderOf("leader")
			if i < 0 {
				i = 1
			}
			fill := filepath.Join(c.reps[i].dir, "fill")
			testsvc.FillUp(t, fill, 0)
			time.Sleep(15 * time.Second)
			os.Remove(fill)
		}},
		{"kill -9 every replica, one after another", func() {
			for i := range c.reps {
				kill(i, "each in turn", time.Second)
			}
		}},
	}
	if dirs == nil {
		faults = slices.DeleteFunc(faults, func(f fault) bool { return strings.Contains(f.name, "full") })
	}
	n, nerr := strconv.Atoi(sel)
	switch {
	case sel == "all":
	case nerr == nil && n > 0:
		rng.Shuffle(len(faults), func(i, j int) { faults[i], faults[j] = faults[j], faults[i] })
		faults = faults[:min(n, len(faults))]
	default:
		var picked []fault
		for _, w := range strings.Split(sel, ",") {
			for _, fl := range faults {
				if strings.Contains(fl.name, w) && !slices.ContainsFunc(picked, func(p fault) bool { return p.name == fl.name }) {
					picked = append(picked, fl)
				}
			}
		}
		faults = picked
	}

	for round, fl := range faults {
		logf("=== round %d: %s", round, fl.name)
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for i, cd := range disks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; ; k++ {
					select {
					case <-stop:
						return
					default:
					}
					diskRound(cd)
					if k%2 == 1 {
						restoreRound(cd, fmt.Sprintf("%d-%d-%d", round, i, k))
					}
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				if k%2 == 0 {
					vmRound()
				} else {
					advance()
				}
			}
		}()
		time.Sleep(time.Duration(2+intn(6)) * time.Second)
		t0 := time.Now()
		fl.cause()
		logf("round %d: the fault took %v", round, time.Since(t0).Round(time.Millisecond))
		time.Sleep(5 * time.Second)
		close(stop)
		wg.Wait()
		// After it: every job ended, every point listed by every replica.
		for _, cd := range disks {
			dpJobsEnd(cd, 5*time.Minute)
		}
		rsJobsEnd(5 * time.Minute)
		for i := range c.reps {
			f, _ := pinnedFactory(t, e, ans, hostsOf(c), i)
			for _, cd := range disks {
				var got []string
				try(fmt.Sprintf("points on replica %d", i), 3*time.Minute, func() (err error) { got, err = pointNames(ctx, f, cd.dv); return err })
				cd.mu.Lock()
				for p := range cd.points {
					if !slices.Contains(got, p) {
						problem("after %s: replica %d does not list %s point %s", fl.name, i, cd.dv.Vault, p)
					}
				}
				cd.mu.Unlock()
			}
		}
		logf("round %d done: writes %d backups %d restores %d rs %d advances %d; %d problems", round, writes.Load(), backups.Load(), restores.Load(), rsBackups.Load(), advances.Load(), len(problems))
	}

	// Delete with data: the VM's protection stopped with its data, one
	// Backup vault's instance deleted.
	try("stop protection", 3*time.Minute, func() error {
		_, err := bf.NewProtectedItemsClient().Delete(ctx, vm.Vault, vm.RG, "Azure", vm.Container, vm.Item, nil)
		return err
	})
	rsJobsEnd(5 * time.Minute)
	cd := disks[1]
	try("delete backup instance", 3*time.Minute, func() error {
		p, err := df.NewBackupInstancesClient().BeginDelete(ctx, cd.dv.RG, cd.dv.Vault, cd.dv.Instance, nil)
		if err == nil {
			_, err = p.PollUntilDone(ctx, fixture.Poll)
		}
		if err != nil && strings.Contains(err.Error(), "404") {
			return nil
		}
		return err
	})
	dpJobsEnd(cd, 5*time.Minute)
	// Soft delete (on by default): it is kept, with its points, under deletedBackupInstances.
	testsvc.WaitWithin(t, 3*time.Minute, "the deleted instance under deletedBackupInstances", func() bool {
		var n int
		p := df.NewDeletedBackupInstancesClient().NewListPager(cd.dv.RG, cd.dv.Vault, nil)
		for p.More() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return false
			}
			n += len(page.Value)
		}
		return n == 1
	})
	sc := testserver.Factory(e, armcompute.NewClientFactory).NewSnapshotsClient()
	// The VM's points went with its protection (Recovery Services soft
	// delete is off): so do their snapshots.
	testsvc.WaitWithin(t, 3*time.Minute, "the VM's snapshots to go", func() bool {
		var n int
		p := sc.NewListByResourceGroupPager("AzureBackupRG_westus_1", nil)
		for p.More() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return strings.Contains(err.Error(), "ResourceGroupNotFound")
			}
			n += len(page.Value)
		}
		if n > 0 {
			logf("%d snapshots left in AzureBackupRG_westus_1", n)
		}
		return n == 0
	})
	// Snapshots of the living instance: as many as its points (no leak).
	var pts []string
	try("points", time.Minute, func() (err error) { pts, err = pointNames(ctx, df, disks[0].dv); return err })
	var snaps []string
	for page := range fixture.Pages(t, sc.NewListByResourceGroupPager(path.Base(disks[0].dv.SnapshotRG), nil)) {
		for _, s := range page.Value {
			snaps = append(snaps, *s.Name)
		}
	}
	logf("vault1: %d points, %d snapshots", len(pts), len(snaps))
	if len(snaps) > len(pts) {
		problem("vault1 has %d snapshots for %d points: %v", len(snaps), len(pts), snaps)
	}

	out, err := exec.Command(c.bin, "verify", "-o", "json", "--data-dir", c.reps[0].dir).CombinedOutput()
	if err != nil {
		problem("verify: %v\n%s", err, out)
	}
	logf("verify: %s", out)
	ans.mu.Lock()
	logf("%d 5xx answers", len(ans.seen))
	for _, s := range ans.bad {
		t.Errorf("an unclear 5xx answer: %.600s", s)
	}
	ans.mu.Unlock()
	logf("campaign: %d faults, writes %d, backups %d, restores %d, rs backups %d, advances %d, jobs %d; problems %d",
		len(faults), writes.Load(), backups.Load(), restores.Load(), rsBackups.Load(), advances.Load(), len(ended), len(problems))
}

func hostsOf(c *replicaCluster) (out []string) {
	for _, r := range c.reps {
		out = append(out, r.host())
	}
	return out
}

// readDiskNoFatal is readDisk for a goroutine: it retries through try.
func readDiskNoFatal(ctx context.Context, hc *http.Client, dc *armcompute.DisksClient, id string, try func(string, time.Duration, func() error) error) *diskImage {
	parts := strings.Split(id, "/")
	rg, name := parts[4], parts[len(parts)-1]
	var g armcompute.DisksClientGrantAccessResponse
	if try("grant read "+name, 4*time.Minute, func() error {
		gp, err := dc.BeginGrantAccess(ctx, rg, name, armcompute.GrantAccessData{Access: to.Ptr(armcompute.AccessLevelRead), DurationInSeconds: to.Ptr[int32](3600)}, nil)
		if err == nil {
			g, err = gp.PollUntilDone(ctx, fixture.Poll)
		}
		return err
	}) != nil {
		return nil
	}
	defer try("revoke read "+name, 4*time.Minute, func() error {
		rp, err := dc.BeginRevokeAccess(ctx, rg, name, nil)
		if err == nil {
			_, err = rp.PollUntilDone(ctx, fixture.Poll)
		}
		return err
	})
	pc, err := pageblob.NewClientWithNoCredential(*g.AccessSAS, &pageblob.ClientOptions{ClientOptions: policy.ClientOptions{Transport: hc}})
	if err != nil {
		return nil
	}
	img := &diskImage{}
	var ranges [][2]int64
	if try("page ranges "+name, 4*time.Minute, func() error {
		ranges = nil
		p := pc.NewGetPageRangesPager(nil)
		for p.More() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return err
			}
			for _, r := range page.PageRange {
				ranges = append(ranges, [2]int64{*r.Start, *r.End + 1})
			}
		}
		return nil
	}) != nil {
		return nil
	}
	for _, r := range ranges {
		var b []byte
		if try("read pages "+name, 4*time.Minute, func() (err error) { b, err = readPages(ctx, pc, r[0], r[1]-r[0]); return err }) != nil {
			return nil
		}
		img.add(r[0], b)
	}
	return img
}

func readPages(ctx context.Context, pc *pageblob.Client, off, n int64) ([]byte, error) {
	resp, err := pc.DownloadStream(ctx, &blob.DownloadStreamOptions{Range: blob.HTTPRange{Offset: off, Count: n}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}
