package main_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testsvc"
)

// TestStalledItemLeaseHolderWritesNothing: a replica paused (SIGSTOP)
// longer than its item lease while it backs up an item, then resumed
// (SIGCONT) while another replica holds the item's lease for a backup of
// its own, commits nothing more of its backup until the other lets the
// item go: its writes are fenced by the item's lease, and its job runs
// again under the lease. Before, the item lease guarded only its take:
// the resumed replica went on, took the snapshot, recorded its point and
// ended its job Completed while the other replica held the item (two
// runners on one item). The backup task is pinned to the disk's owner
// (claimed first by the other replica, which handed it over), so only its
// item lease, not its task's, was taken over while it was paused.
func TestStalledItemLeaseHolderWritesNothing(t *testing.T) {
	const ttl = 10 * time.Second
	c := startReplicasOn(t, 2, testsvc.PostgresSchema(t), testsvc.AzuriteContainer(t, "e2e"), nil, "--lease-ttl", ttl.String())
	e := c.env
	ctx := context.Background()
	dv := fixture.ProtectDisk(t, e)
	pool, err := pgxpool.New(ctx, c.pgURL)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	leaseOf := func(like string) (holder string, until time.Time) {
		t.Helper()
		var v []byte
		if err := pool.QueryRow(ctx, `SELECT value FROM docs WHERE kind = $1 AND key LIKE $2`, map[bool]string{true: "lease", false: "protection.lease"}[strings.HasPrefix(like, "disk:")], like).Scan(&v); err != nil {
			t.Fatalf("lease %s: %v", like, err)
		}
		var row struct {
			Holder, Owner string
			Until         time.Time
		}
		if err := json.Unmarshal(v, &row); err != nil {
			t.Fatal(err)
		}
		return row.Holder + row.Owner, row.Until
	}
	holder, _ := leaseOf("disk:%")
	a, b := 0, 1 // a owns the disk
	if holder == c.reps[1].nodeID(t) {
		a, b = 1, 0
	} else if holder != c.reps[0].nodeID(t) {
		t.Fatalf("the disk is owned by %q, no replica", holder)
	}
	fault := func(r int, args ...string) string {
		t.Helper()
		out, err := exec.Command(c.bin, append(append([]string{"fault"}, args...), "--data-dir", c.reps[r].dir)...).CombinedOutput()
		if err != nil {
			t.Fatalf("safehold fault %v on replica %d: %v\n%s", args, r, err, out)
		}
		return string(out)
	}
	hits := func(r int) int {
		t.Helper()
		var rules []struct{ Hits int }
		if err := json.Unmarshal([]byte(fault(r, "list", "--json")), &rules); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, x := range rules {
			n += x.Hits
		}
		return n
	}
	// A client of replica b alone (a is paused at times).
	hc, err := e.Conn.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	opts := *e.Opts
	opts.Transport = &http.Client{Transport: &pinned{base: hc.Transport, hosts: []string{c.reps[0].host(), c.reps[1].host()}, i: b}}
	f, err := armdataprotection.NewClientFactory(e.Sub, e.Cred, &opts)
	if err != nil {
		t.Fatal(err)
	}
	backup := func() {
		t.Helper()
		if _, err := f.NewBackupInstancesClient().BeginAdhocBackup(ctx, dv.RG, dv.Vault, dv.Instance, armdataprotection.TriggerBackupRequest{BackupRuleOptions: &armdataprotection.AdHocBackupRuleOptions{
			RuleName: to.Ptr("BackupHourly"), TriggerOption: &armdataprotection.AdhocBackupTriggerOption{RetentionTagOverride: to.Ptr("Default")}}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	jobs := func() []*armdataprotection.AzureBackupJobResource { return vaultJobs(ctx, t, f, dv.RG, dv.Vault) }
	p := c.reps[a].cmd.Process
	var mu sync.Mutex
	stopped := false
	signal := func(s syscall.Signal) {
		mu.Lock()
		defer mu.Unlock()
		if err := p.Signal(s); err != nil {
			t.Fatal(err)
		}
		stopped = s == syscall.SIGSTOP
	}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			p.Signal(syscall.SIGCONT)
		}
	})

	// The first backup, held inside the item's lease on a (its capture
	// waits on a fault rule's latency until the rule is removed). Claimed
	// first by b while a is paused, it is pinned to a for three lease
	// terms.
	fault(a, "add", "backup", "--name", "hold-a", "--latency", "10m")
	signal(syscall.SIGSTOP)
	backup()
	testsvc.WaitWithin(t, 2*time.Minute, "the backup's task to be handed to the disk's owner", func() bool {
		var n int
		pool.QueryRow(ctx, `SELECT count(*) FROM tasks WHERE pin_node <> ''`).Scan(&n)
		return n > 0
	})
	signal(syscall.SIGCONT)
	testsvc.WaitWithin(t, 2*time.Minute, "the disk's owner to hold the first backup in its capture", func() bool { return hits(a) > 0 })

	// a stalls past its item lease; b's backup of the item takes it over
	// and holds it (its own capture held the same way).
	fault(b, "add", "backup", "--name", "hold-b", "--latency", "10m")
	signal(syscall.SIGSTOP)
	backup()
	testsvc.WaitWithin(t, 2*time.Minute, "the second backup to take the item over", func() bool { return hits(b) > 0 })
	itemHolder, _ := leaseOf("%")
	if !strings.HasPrefix(itemHolder, c.reps[b].nodeID(t)+"/") {
		t.Fatalf("the item's lease is held by %q, not by replica b", itemHolder)
	}
	signal(syscall.SIGCONT)
	fault(a, "clear", "hold-a")

	// a goes on with its backup: its first write under the lost lease is
	// refused and its task runs again later (waiting for the item).
	testsvc.WaitWithin(t, 2*time.Minute, "the resumed replica's backup to meet its lost item lease", func() bool {
		var n int
		pool.QueryRow(ctx, `SELECT count(*) FROM tasks WHERE last_error LIKE '%ItemLeaseLost%'`).Scan(&n)
		if n > 0 {
			return true
		}
		for _, j := range jobs() {
			if *j.Properties.Operation == "Backup" && *j.Properties.Status != "InProgress" {
				b, _ := json.Marshal(j.Properties)
				t.Fatalf("a backup ended while replica b held the item's lease (the stalled replica went on under a lost lease): %s", b)
			}
		}
		return false
	})
	if h, _ := leaseOf("%"); h != itemHolder {
		t.Fatalf("the item's lease went from %q to %q while b's backup held it", itemHolder, h)
	}

	// b lets the item go: both backups complete, one point each.
	fault(b, "clear", "hold-b")
	testsvc.WaitWithin(t, 3*time.Minute, "both backups to end", func() bool {
		n := 0
		for _, j := range jobs() {
			if *j.Properties.Operation != "Backup" {
				continue
			}
			n++
			switch *j.Properties.Status {
			case "InProgress", "NotStarted":
				return false
			case "Completed":
			default:
				b, _ := json.Marshal(j.Properties.ErrorDetails)
				t.Fatalf("job %s ended %s: %s", *j.Name, *j.Properties.Status, b)
			}
		}
		return n == 2
	})
	points, err := allPages(ctx, f.NewRecoveryPointsClient().NewListPager(dv.RG, dv.Vault, dv.Instance, nil), func(p armdataprotection.RecoveryPointsClientListResponse) []*armdataprotection.AzureBackupRecoveryPointResource {
		return p.Value
	})
	if err != nil || len(points) != 2 {
		t.Fatalf("points after the backups: %d, %v", len(points), err)
	}
}
