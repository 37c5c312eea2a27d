package main_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/safehold/safehold/connect"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
)

// e2eReplica is one `safehold serve` process of the replicas test.
type e2eReplica struct {
	dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{}
}

func (r *e2eReplica) host() string { return fmt.Sprintf("127.0.0.1:%d", r.port) }

func (r *e2eReplica) nodeID(t testing.TB) string {
	b, err := os.ReadFile(filepath.Join(r.dir, "node-id"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// spread is a load balancer in the client: every request to one of the
// replicas goes to the next replica in turn, with its Host header kept (ARM calls, operation polls,
// token requests, SAS page transfers); a replica that does not answer is
// skipped by the SDK's own retries.
type spread struct {
	base  http.RoundTripper
	hosts []string
	n     atomic.Int64
}

func (s *spread) RoundTrip(r *http.Request) (*http.Response, error) {
	if slices.Contains(s.hosts, r.URL.Host) && r.Context().Value(pinnedTo{}) == nil {
		r = r.Clone(r.Context())
		if r.Host == "" {
			r.Host = r.URL.Host // as behind a load balancer: the Host the client asked for
		}
		r.URL.Host = s.hosts[int(s.n.Add(1))%len(s.hosts)]
	}
	return s.base.RoundTrip(r)
}

// TestReplicasEndToEnd: PostgreSQL, Azurite and three `safehold serve`
// replicas on loopback form one Safehold. Both seed flows (a disk in a
// Backup vault, a VM in a Recovery Services vault) run through the
// unmodified Go SDK with every request going to the next replica; the
// replica running the Recovery Services backup is killed (SIGKILL) while
// it transfers to the vault tier, and the job completes on another; every
// acknowledged recovery point is there exactly once and every restore is
// bit-exact; then a simulated day (the admin clock API) runs each
// scheduled backup exactly once.
func TestReplicasEndToEnd(t *testing.T) {
	c := startReplicas(t, 3)
	reps, pgURL, bin, e := c.reps, c.pgURL, c.bin, c.env
	start, ready := c.start, c.ready
	ctx := context.Background()

	// Seed 000: a disk in a Backup vault, an ad hoc backup.
	dv := fixture.ProtectDisk(t, e)
	dv.Backup(t, e)
	// Seed 002: a VM in a Recovery Services vault, with enough data on its
	// data disk that the transfer to the vault tier takes a while.
	source := map[string]*diskImage{}
	vm := fixture.ProtectVMWith(t, e, func(osID, dataID string) {
		payload := make([]byte, 128<<20)
		rand.Read(payload)
		writeDisk(t, e, dataID, 64<<20, payload)
		source["app1-os"], source["app1-data0"] = readDisk(t, e, osID), readDisk(t, e, dataID)
	})

	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	jobID := vm.Backup(t, e)
	job := func() *armrecoveryservicesbackup.AzureIaaSVMJob {
		j, err := bf.NewJobDetailsClient().Get(ctx, vm.Vault, vm.RG, jobID, nil)
		if err != nil {
			t.Fatalf("get job: %v", err)
		}
		return j.Properties.(*armrecoveryservicesbackup.AzureIaaSVMJob)
	}
	transferring := func(j *armrecoveryservicesbackup.AzureIaaSVMJob) bool {
		if j.ExtendedInfo == nil {
			return false
		}
		for _, tk := range j.ExtendedInfo.TasksList {
			if tk.TaskID != nil && *tk.TaskID == "Transfer data to vault" && tk.Status != nil && *tk.Status == "InProgress" {
				return true
			}
		}
		return false
	}
	testsvc.WaitWithin(t, 3*time.Minute, "the transfer to the vault tier", func() bool {
		j := job()
		if *j.Status != "InProgress" {
			t.Fatalf("the backup ended (%s) before its transfer was seen", *j.Status)
		}
		return transferring(j)
	})
	// Which replica runs it: the task's lease owner is "{node id}/{boot}".
	pool, err := pgxpool.New(ctx, pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	var owner string
	if err := pool.QueryRow(ctx, `SELECT lease_owner FROM tasks WHERE kind = 'protection.backup' AND lease_owner <> ''`).Scan(&owner); err != nil {
		t.Fatalf("the running backup's task: %v", err)
	}
	victim := -1
	for i, r := range reps {
		if strings.HasPrefix(owner, r.nodeID(t)+"/") {
			victim = i
		}
	}
	if victim < 0 {
		t.Fatalf("task owner %q is no replica", owner)
	}
	if !transferring(job()) {
		t.Fatal("the transfer ended before the kill")
	}
	reps[victim].cmd.Process.Kill() // SIGKILL
	<-reps[victim].done
	t.Logf("killed replica %d while it transferred job %s to the vault tier", victim, jobID)
	testsvc.WaitWithin(t, 4*time.Minute, "the job to end on another replica", func() bool { return *job().Status != "InProgress" })
	if j := job(); *j.Status != "Completed" {
		t.Fatalf("after the kill the job ended %s: %+v", *j.Status, j.ErrorDetails)
	}

	// Every acknowledged point exactly once.
	rsPoints := func() (out []*armrecoveryservicesbackup.RecoveryPointResource) {
		for page := range fixture.Pages(t, bf.NewRecoveryPointsClient().NewListPager(vm.Vault, vm.RG, "Azure", vm.Container, vm.Item, nil)) {
			out = append(out, page.Value...)
		}
		return out
	}
	pts := rsPoints()
	if len(pts) != 1 {
		t.Fatalf("Recovery Services points after the kill: %d, want 1", len(pts))
	}
	rsPoint := *pts[0].Name
	if ivm := pts[0].Properties.(*armrecoveryservicesbackup.IaasVMRecoveryPoint); len(ivm.RecoveryPointTierDetails) != 2 {
		t.Fatalf("the point is not in both tiers: %+v", ivm.RecoveryPointTierDetails)
	}
	df := testserver.Factory(e, armdataprotection.NewClientFactory)
	dpPoints := func() (out []*armdataprotection.AzureBackupRecoveryPointResource) {
		for page := range fixture.Pages(t, df.NewRecoveryPointsClient().NewListPager(dv.RG, dv.Vault, dv.Instance, nil)) {
			out = append(out, page.Value...)
		}
		return out
	}
	dps := dpPoints()
	if len(dps) != 1 {
		t.Fatalf("Backup vault points: %d, want 1", len(dps))
	}

	// The killed replica returns (its disks with it).
	start(reps[victim])
	ready(reps[victim])

	// Restores, bit-exact: the VM as a new VM (SDK), the disk through the CLI.
	target := "/subscriptions/" + e.Sub + "/resourceGroups/vm-rg/providers/Microsoft.Compute/virtualMachines/app1-restored"
	// The restore's staging storage account (a restore checks that it exists).
	if resp, m := e.Do("PUT", "/subscriptions/"+e.Sub+"/resourceGroups/rs-rg/providers/Microsoft.Storage/storageAccounts/staging?api-version=2023-01-01",
		map[string]any{"location": "westus", "kind": "StorageV2", "sku": map[string]any{"name": "Standard_LRS"}}); resp.StatusCode != 200 {
		t.Fatalf("create the staging storage account: %d %v", resp.StatusCode, m)
	}
	rp, err := bf.NewRestoresClient().BeginTrigger(ctx, vm.Vault, vm.RG, "Azure", vm.Container, vm.Item, rsPoint, armrecoveryservicesbackup.RestoreRequestResource{
		Properties: &armrecoveryservicesbackup.IaasVMRestoreRequest{RecoveryPointID: to.Ptr(rsPoint), RecoveryType: to.Ptr(armrecoveryservicesbackup.RecoveryTypeAlternateLocation),
			SourceResourceID: to.Ptr(vm.VMID), TargetVirtualMachineID: to.Ptr(target), TargetResourceGroupID: to.Ptr("/subscriptions/" + e.Sub + "/resourceGroups/vm-rg"),
			StorageAccountID: to.Ptr("/subscriptions/" + e.Sub + "/resourceGroups/rs-rg/providers/Microsoft.Storage/storageAccounts/staging"),
			Region:           to.Ptr("westus"), OriginalStorageAccountOption: to.Ptr(false)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rp.PollUntilDone(ctx, fixture.Poll); err != nil {
		t.Fatalf("restore the VM: %v", err)
	}
	cf := testserver.Factory(e, armcompute.NewClientFactory)
	nvm, err := cf.NewVirtualMachinesClient().Get(ctx, "vm-rg", "app1-restored", nil)
	if err != nil {
		t.Fatal(err)
	}
	dealloc, err := cf.NewVirtualMachinesClient().BeginDeallocate(ctx, "vm-rg", "app1-restored", nil)
	if err == nil {
		_, err = dealloc.PollUntilDone(ctx, fixture.Poll)
	}
	if err != nil {
		t.Fatal(err)
	}
	sp := nvm.Properties.StorageProfile
	if got := readDisk(t, e, *sp.OSDisk.ManagedDisk.ID); !got.equal(source["app1-os"]) {
		t.Fatal("the restored OS disk differs from the backed-up one")
	}
	if len(sp.DataDisks) != 1 {
		t.Fatalf("restored VM has %d data disks", len(sp.DataDisks))
	}
	if got := readDisk(t, e, *sp.DataDisks[0].ManagedDisk.ID); !got.equal(source["app1-data0"]) {
		t.Fatal("the restored data disk differs from the backed-up one")
	}
	out, err := exec.Command(bin, "restore", *dps[0].Name, "--target-disk", "data1-restored", "--target-resource-group", "target-rg", "--data-dir", reps[(victim+1)%3].dir).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Completed") {
		t.Fatalf("safehold restore: %v\n%s", err, out)
	}
	restored := readDisk(t, e, dv.TargetRG+"/providers/Microsoft.Compute/disks/data1-restored")
	want := &diskImage{}
	for off, b := range dv.Written {
		want.add(off, b)
	}
	if !restored.equal(want) {
		t.Fatal("the restored Backup vault disk differs from what was written")
	}

	// A simulated day: each scheduled backup runs exactly once.
	clockCmd := func(args ...string) map[string]any {
		out, err := exec.Command(bin, append(append([]string{"clock"}, args...), "--json", "--data-dir", reps[1].dir)...).Output()
		if err != nil {
			t.Fatalf("safehold clock %v: %v %s", args, err, out)
		}
		var m map[string]any
		json.Unmarshal(out, &m)
		return m
	}
	t0, err := time.Parse(time.RFC3339Nano, clockCmd("show")["now"].(string))
	if err != nil {
		t.Fatal(err)
	}
	clockCmd("advance", "P1D")
	t1 := t0.Add(24 * time.Hour)
	inDay := func(tm time.Time) bool { return tm.After(t0) && !tm.After(t1) }
	seen := map[time.Time]bool{}
	n := 0
	for _, p := range dpPoints() {
		tm := *p.Properties.(*armdataprotection.AzureBackupDiscreteRecoveryPoint).RecoveryPointTime
		if !inDay(tm) {
			continue
		}
		if seen[tm] {
			t.Fatalf("two Backup vault points at %s", tm)
		}
		seen[tm] = true
		n++
	}
	if n != 6 { // PT4H
		t.Fatalf("Backup vault points in the simulated day: %d, want 6 (%v)", n, seen)
	}
	n = 0
	for _, p := range rsPoints() {
		if tm := *p.Properties.(*armrecoveryservicesbackup.IaasVMRecoveryPoint).RecoveryPointTime; inDay(tm) {
			n++
		}
	}
	if n != 1 { // daily
		t.Fatalf("Recovery Services points in the simulated day: %d, want 1", n)
	}
	failed := 0
	for page := range fixture.Pages(t, bf.NewBackupJobsClient().NewListPager(vm.Vault, vm.RG, nil)) {
		for _, j := range page.Value {
			if jj, ok := j.Properties.(*armrecoveryservicesbackup.AzureIaaSVMJob); ok && *jj.Status != "Completed" {
				failed++
				t.Errorf("Recovery Services job %s %s: %s", *jj.Operation, *j.Name, *jj.Status)
			}
		}
	}
	var dpJobs int
	for page := range fixture.Pages(t, df.NewJobsClient().NewListPager(dv.RG, dv.Vault, nil)) {
		for _, j := range page.Value {
			if *j.Properties.Operation == "Backup" && inDay(*j.Properties.StartTime) {
				dpJobs++
				if *j.Properties.Status != "Completed" {
					t.Errorf("Backup vault job %s: %s", *j.Name, *j.Properties.Status)
				}
			}
		}
	}
	if dpJobs != 6 {
		t.Fatalf("Backup vault backup jobs in the simulated day: %d, want 6", dpJobs)
	}
}

// replicaCluster is n `safehold serve` processes on one PostgreSQL schema
// and one Azurite container, and an SDK environment whose requests go to
// the next replica in turn.
type replicaCluster struct {
	reps         []*e2eReplica
	pgURL, bin   string
	env          *testserver.Env
	start, ready func(*e2eReplica)
}

func startReplicas(t testing.TB, n int) *replicaCluster {
	t.Helper()
	return startReplicasOn(t, n, testsvc.PostgresSchema(t), testsvc.AzuriteContainer(t, "e2e"), nil)
}

// startReplicasOn is startReplicas on the store pgURL and the --blob URL
// blobURL (with Azurite's account and key), args added to serve's, and
// the data dirs dirs (nil: new ones).
func startReplicasOn(t testing.TB, n int, pgURL, blobURL string, dirs []string, args ...string) *replicaCluster {
	t.Helper()
	bin := cli(t)
	reps := make([]*e2eReplica, n)
	for i := range reps {
		reps[i] = &e2eReplica{dir: filepath.Join(t.TempDir(), fmt.Sprintf("replica%d", i)), port: testsvc.FreePort()}
		if dirs != nil {
			reps[i].dir = dirs[i]
		}
	}
	start := func(r *e2eReplica) {
		logf, err := os.OpenFile(filepath.Join(filepath.Dir(r.dir), filepath.Base(r.dir)+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err != nil {
			t.Fatal(err)
		}
		cmd := serveProcess(context.Background(), bin, append([]string{"--addr", r.host(), "--data-dir", r.dir, "--store", pgURL, "--blob", blobURL, "--lease-ttl", "6s"}, args...)...)
		cmd.Env = append(os.Environ(), "AZURE_STORAGE_ACCOUNT="+testsvc.AzuriteAccount, "AZURE_STORAGE_KEY="+testsvc.AzuriteKey, "SAFEHOLD_LOG_LEVEL=debug")
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		r.cmd, r.done = cmd, make(chan struct{})
		go func() { cmd.Wait(); logf.Close(); close(r.done) }()
	}
	ready := func(r *e2eReplica) {
		hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} // readiness only
		for deadline := time.Now().Add(2 * time.Minute); ; {
			if resp, err := hc.Get("https://" + r.host() + "/healthz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return
				}
			}
			select {
			case <-r.done:
				t.Fatalf("replica %s exited: %s", r.dir, tail(r.dir))
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %s not ready: %s", r.dir, tail(r.dir))
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for _, r := range reps { // all at once against the empty store
		start(r)
	}
	t.Cleanup(func() {
		for _, r := range reps {
			if r.cmd != nil {
				r.cmd.Process.Signal(os.Interrupt)
			}
		}
		for _, r := range reps {
			if r.cmd != nil {
				select {
				case <-r.done:
				case <-time.After(20 * time.Second):
					r.cmd.Process.Kill()
				}
			}
		}
		if t.Failed() {
			for _, r := range reps {
				t.Logf("log of %s:\n%s", filepath.Base(r.dir), tail(r.dir))
			}
		}
	})
	for _, r := range reps {
		ready(r)
	}

	conn, err := connect.Load(filepath.Join(reps[0].dir, "connection.json"))
	if err != nil {
		t.Fatal(err)
	}
	hc, err := conn.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	var hosts []string
	for _, r := range reps {
		hosts = append(hosts, r.host())
	}
	hc.Transport = &spread{base: hc.Transport, hosts: hosts}
	cred, err := conn.Credential()
	if err != nil {
		t.Fatal(err)
	}
	e := &testserver.Env{T: t, DataDir: reps[0].dir, Conn: conn, Cred: cred, Opts: conn.ARMOptions(), Sub: conn.SubscriptionID}
	return &replicaCluster{reps: reps, pgURL: pgURL, bin: bin, env: e, start: start, ready: ready}
}

func tail(dir string) string {
	b, _ := os.ReadFile(filepath.Join(filepath.Dir(dir), filepath.Base(dir)+".log"))
	if len(b) > 40000 { // enough to see the requests before a hang, not only the leases after it
		b = b[len(b)-40000:]
	}
	return string(b)
}

// diskImage is a disk's data: its non-zero 64 KiB blocks by offset.
type diskImage struct{ blocks map[int64][]byte }

const imageBlock = 64 << 10

func (d *diskImage) add(off int64, b []byte) {
	if d.blocks == nil {
		d.blocks = map[int64][]byte{}
	}
	for i := 0; i < len(b); i += imageBlock {
		blk := b[i:min(len(b), i+imageBlock)]
		if !bytes.Equal(blk, make([]byte, len(blk))) {
			d.blocks[off+int64(i)] = bytes.Clone(blk)
		}
	}
}

func (d *diskImage) equal(o *diskImage) bool {
	if len(d.blocks) != len(o.blocks) {
		return false
	}
	for k, v := range d.blocks {
		if !bytes.Equal(v, o.blocks[k]) {
			return false
		}
	}
	return true
}

func writeDisk(t testing.TB, e *testserver.Env, id string, off int64, data []byte) {
	t.Helper()
	pc, done := fixture.DiskAccessByID(t, e, id, armcompute.AccessLevelWrite)
	defer done()
	var wg sync.WaitGroup
	errs := make(chan error, len(data)/(4<<20)+1)
	sem := make(chan struct{}, 4)
	for i := 0; i < len(data); i += 4 << 20 {
		b := data[i:min(len(data), i+4<<20)]
		wg.Add(1)
		sem <- struct{}{}
		go func(o int64) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fixture.WritePages(pc, o, b); err != nil {
				errs <- err
			}
		}(off + int64(i))
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatalf("upload pages: %v", err)
	}
}

func readDisk(t testing.TB, e *testserver.Env, id string) *diskImage {
	t.Helper()
	pc, done := fixture.DiskAccessByID(t, e, id, armcompute.AccessLevelRead)
	defer done()
	img := &diskImage{}
	for page := range fixture.Pages(t, pc.NewGetPageRangesPager(nil)) {
		for _, r := range page.PageRange {
			off, end := *r.Start, *r.End+1
			img.add(off, fixture.ReadPages(t, pc, off, end-off))
		}
	}
	return img
}
