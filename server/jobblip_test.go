package server_test

import (
	"bytes"
	"context"
	"path"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/dataprotection/armdataprotection/v3"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/jackc/pgx/v5"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
)

// blip makes the test's PostgreSQL refuse the first write of a document
// matching cond (SQL over NEW.kind and NEW.key) with 57P01, what a backend
// answers when the database shuts down under it (a restart, a failover):
// the store sees the database out of reach for that one write. fired
// reports whether it refused one and let a later one through.
func blip(t *testing.T, c *pgx.Conn, name, cond string) (fired func() bool) {
	t.Helper()
	ctx := context.Background()
	for _, q := range []string{
		`CREATE SEQUENCE ` + name,
		`CREATE FUNCTION ` + name + `() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF (` + cond + `) AND nextval('` + name + `') = 1 THEN
				RAISE EXCEPTION 'terminating connection due to administrator command (the test''s blip)' USING ERRCODE = '57P01';
			END IF;
			RETURN NEW;
		END $$`,
		`CREATE TRIGGER ` + name + ` BEFORE INSERT ON docs FOR EACH ROW EXECUTE FUNCTION ` + name + `()`,
	} {
		if _, err := c.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return func() bool {
		var n int64
		var called bool
		if err := c.QueryRow(ctx, `SELECT last_value, is_called FROM `+name).Scan(&n, &called); err != nil {
			t.Fatal(err)
		}
		return called && n >= 2
	}
}

// TestJobsOutliveADatabaseBlip: PostgreSQL refuses, once, the write that
// records a backup's recovery point (a Backup vault's ad hoc backup, a
// Recovery Services VM backup) or a restore's disk, as it does while it
// restarts, and answers again at once. Each job runs again from what it
// recorded and ends Completed, with one recovery point, the restored disk
// holding the point's bytes, and the operation Succeeded. Before, the job
// ended Failed (UserErrorBackupFailed, UserErrorRestoreFailed: 'the
// metadata database is unavailable'), its data safe and its task able to
// record it a second later.
func TestJobsOutliveADatabaseBlip(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	e := testserver.Start(t, testserver.WithStore(url))
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	dv := fixture.ProtectDisk(t, e)
	df := testserver.Factory(e, armdataprotection.NewClientFactory)

	// A Backup vault's ad hoc backup.
	fired := blip(t, conn, "blip_dp_point", `NEW.kind = 'protection.rp'`)
	jobName := dv.Backup(t, e) // fails the test unless its operation Succeeded
	j, err := df.NewJobsClient().Get(ctx, dv.RG, dv.Vault, jobName, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := j.Properties; *p.Status != "Completed" {
		t.Fatalf("the backup job: %s %v", *p.Status, p.ErrorDetails)
	}
	if !fired() {
		t.Fatal("the database never refused the point's write")
	}
	var points []*armdataprotection.AzureBackupRecoveryPointResource
	for p := range fixture.Pages(t, df.NewRecoveryPointsClient().NewListPager(dv.RG, dv.Vault, dv.Instance, nil)) {
		points = append(points, p.Value...)
	}
	if len(points) != 1 {
		t.Fatalf("%d recovery points, want 1", len(points))
	}

	// Its restore.
	const name = "blip-restored"
	target := dv.TargetRG + "/providers/Microsoft.Compute/disks/" + name
	fired = blip(t, conn, "blip_dp_restore", `NEW.kind = 'resource' AND NEW.key = lower('`+target+`')`)
	req := &armdataprotection.AzureBackupRecoveryPointBasedRestoreRequest{ObjectType: to.Ptr("AzureBackupRecoveryPointBasedRestoreRequest"),
		RecoveryPointID: points[0].Name, SourceDataStoreType: to.Ptr(armdataprotection.SourceDataStoreTypeOperationalStore),
		RestoreTargetInfo: &armdataprotection.RestoreTargetInfo{ObjectType: to.Ptr("RestoreTargetInfo"), RecoveryOption: to.Ptr(armdataprotection.RecoveryOptionFailIfExists),
			RestoreLocation: to.Ptr("westus"), DatasourceInfo: fixture.Datasource(target, name)}}
	rp, err := df.NewBackupInstancesClient().BeginTriggerRestore(ctx, dv.RG, dv.Vault, dv.Instance, req, nil)
	res := fixture.Done(t, rp, err)
	j, err = df.NewJobsClient().Get(ctx, dv.RG, dv.Vault, path.Base(*res.JobID), nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := j.Properties; *p.Status != "Completed" {
		t.Fatalf("the restore job: %s %v", *p.Status, p.ErrorDetails)
	}
	if !fired() {
		t.Fatal("the database never refused the restored disk's write")
	}
	v, err := e.Server.Compute.Volume(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	for off, want := range dv.Written {
		got := make([]byte, len(want))
		if _, err := v.ReadAt(got, off); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("the restored disk differs from the point at %d", off)
		}
	}

	// A Recovery Services VM backup.
	vm := fixture.ProtectVM(t, e)
	fired = blip(t, conn, "blip_rs_point", `NEW.kind = 'protection.rp'`)
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	jobID := vm.Backup(t, e)
	var status string
	e.WaitFor("the VM's backup job to end", func() bool {
		j, err := bf.NewJobDetailsClient().Get(ctx, vm.Vault, vm.RG, jobID, nil)
		if err != nil {
			t.Fatal(err)
		}
		status = *j.Properties.GetJob().Status
		if status == "Failed" {
			t.Fatalf("the VM's backup job failed: %+v", j.Properties)
		}
		return status != "InProgress"
	})
	if status != "Completed" || !fired() {
		t.Fatalf("the VM's backup job: %s, the point's write refused: %v", status, fired())
	}
	n := 0
	for p := range fixture.Pages(t, bf.NewRecoveryPointsClient().NewListPager(vm.Vault, vm.RG, "Azure", vm.Container, vm.Item, nil)) {
		n += len(p.Value)
	}
	if n != 1 {
		t.Fatalf("%d recovery points of the VM, want 1", n)
	}
}
