package main_test

import (
	"context"
	"encoding/json"
	"net/http"
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
	if _, err := bp.PollUntilDone(ctx, fixture.Poll); err != nil {
		t.Fatal(err)
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
	points, err := allPages(ctx, f.NewRecoveryPointsClient().NewListPager(dv.RG, dv.Vault, dv.Instance, nil), func(p armdataprotection.RecoveryPointsClientListResponse) []*armdataprotection.AzureBackupRecoveryPointResource {
		return p.Value
	})
	if err != nil || len(points) != 1 {
		t.Fatalf("points after the backup: %d, %v", len(points), err)
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
