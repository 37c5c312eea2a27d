package recoveryservices_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"

	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/store"
)

// TestRestoreWhoseEndWasNotRecordedDeletesItsVMLater: a restore to a new
// VM (AlternateLocation) makes its disk and the VM over it, then
// PostgreSQL refuses (57P01) every job write after the VM, so the run's
// end is not recorded (as a crash right after the VM would leave it). The
// point goes before the next run, which ends the job Failed
// (UserErrorRecoveryPointNotFound): the VM the first run made goes, and
// then its disk. Before, the VM stayed (it was not recorded in the job),
// and the disk with it, attached to it.
func TestRestoreWhoseEndWasNotRecordedDeletesItsVMLater(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	e := testserver.Start(t, testserver.WithStore(url))
	e.ResourceGroups("vaultrg", "vmrg", "stagerg", "newrg")
	fixture.RSVault(t, e, "vaultrg", "v1", fixture.StandardVault())
	mkVM(t, e, "vmrg", "vm1", 0, 1<<20)
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	rp := protectAndBackUp(t, e, bf)
	ctx := e.Ctx()
	target := "/subscriptions/" + e.Sub + "/resourceGroups/newrg/providers/Microsoft.Compute/virtualMachines/vm1r"

	st, err := store.OpenPostgres(context.Background(), url, clock.Real{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pg := st.Pool()
	exec := func(qs ...string) {
		t.Helper()
		for _, q := range qs {
			if _, err := pg.Exec(context.Background(), q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	exec(`CREATE SEQUENCE outage`,
		`CREATE FUNCTION refuse_after_vm() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.kind = 'resource' AND NEW.key = '`+strings.ToLower(target)+`' THEN
				PERFORM nextval('outage');
			ELSIF NEW.kind = 'protection.job' AND (SELECT is_called FROM outage) THEN
				RAISE EXCEPTION 'terminating connection due to administrator command (the test''s)' USING ERRCODE = '57P01';
			END IF;
			RETURN NEW;
		END $$`,
		`CREATE TRIGGER refuse_after_vm BEFORE INSERT OR UPDATE ON docs FOR EACH ROW EXECUTE FUNCTION refuse_after_vm()`)

	rr := restoreDisks(e, rp, mkStorage(t, e, "stagerg", "staging1"))
	rr.RecoveryType = to.Ptr(armrecoveryservicesbackup.RecoveryTypeAlternateLocation)
	rr.TargetVirtualMachineID = to.Ptr(target)
	rr.TargetResourceGroupID = to.Ptr("/subscriptions/" + e.Sub + "/resourceGroups/newrg")
	if _, err := bf.NewRestoresClient().BeginTrigger(ctx, "v1", "vaultrg", "Azure", vm1Container, vm1Item, rp, armrecoveryservicesbackup.RestoreRequestResource{Properties: rr}, nil); err != nil {
		t.Fatal(err)
	}
	vmExists := func() bool {
		resp, _ := e.Do("GET", target+"?api-version=2024-03-01", nil)
		return resp.StatusCode == http.StatusOK
	}
	testsvc.WaitWithin(t, 2*time.Minute, "the restore to make its VM", vmExists)
	// The run goes on after its VM is made (CreateVM's last steps, the
	// job's end): it is over once its task holds the refusal of a job
	// write and no lease. Dropping the trigger at once let a run slower
	// than the test (a loaded machine) record its end, Completed.
	testsvc.WaitWithin(t, 2*time.Minute, "the restore's run to end with its job write refused", func() bool {
		var n int
		if err := pg.QueryRow(context.Background(), `SELECT count(*) FROM tasks WHERE last_error LIKE '%(the test''s)%' AND lease_owner = ''`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n > 0
	})
	// The point goes while the job's end cannot be recorded; then the
	// database takes the job's writes again.
	exec(`DELETE FROM docs WHERE kind = 'protection.rp'`, `DROP TRIGGER refuse_after_vm ON docs`)

	jobs := bf.NewBackupJobsClient()
	var job *armrecoveryservicesbackup.AzureIaaSVMJob
	testsvc.WaitWithin(t, 3*time.Minute, "the restore job to end", func() bool {
		e.Server.Jobs.Notify()
		page, err := jobs.NewListPager("v1", "vaultrg", &armrecoveryservicesbackup.BackupJobsClientListOptions{Filter: to.Ptr("operation eq 'Restore'")}).NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Value) != 1 {
			return false
		}
		job, _ = page.Value[0].Properties.(*armrecoveryservicesbackup.AzureIaaSVMJob)
		return job != nil && *job.Status != "InProgress"
	})
	if *job.Status != "Failed" {
		t.Fatalf("the restore job: %s, want Failed (its point is gone)", *job.Status)
	}
	testsvc.WaitWithin(t, time.Minute, "the VM and disk the failed restore made to go", func() bool {
		e.Server.Jobs.Notify()
		ds, err := e.Server.Compute.ListDisks(ctx, "/subscriptions/"+e.Sub+"/resourceGroups/newrg")
		return !vmExists() && err == nil && len(ds) == 0
	})
	if len(job.ErrorDetails) > 0 {
		for _, d := range job.ErrorDetails {
			if strings.Contains(*d.ErrorString, "kept") {
				t.Fatalf("the job's error names what it kept: %s", *d.ErrorString)
			}
		}
	}
}
