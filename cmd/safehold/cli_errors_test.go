package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestCLIDataPlaneErrorsAndVaultFilter: a disk transfer refused by the SAS
// data plane says why (its Azure Storage XML message, without the request
// id and time), not only the code: `disk download` printed
// "safehold: DiskOwnerUnavailable" without the message naming the replica
// to restart. And `job list --vault` takes a vault's name or id, as `vault
// show` does; a name no vault has is an error naming the command that
// lists them: it was an empty list and exit 0, so a typo looked like a
// vault without jobs. So is an --operation no job can have, naming those
// it can (an empty list before); one in another case still filters.
func TestCLIDataPlaneErrorsAndVaultFilter(t *testing.T) {
	e := testserver.Start(t)
	dv := fixture.ProtectDisk(t, e)
	dv.Backup(t, e)

	mustRun(t, e, "fault", "add", "disk", "--name", "reads", "--method", "GET", "--status", "409", "--code", "InjectedConflict", "--count", "5")
	_, err := run(t, e, nil, "disk", "download", "data1", filepath.Join(t.TempDir(), "d.img"))
	if err == nil || !strings.Contains(err.Error(), "InjectedConflict: Safehold fault injection: disk failed as a fault rule asked.") ||
		strings.Contains(err.Error(), "RequestId") {
		t.Errorf("disk download refused by the data plane: %v", err)
	}
	mustRun(t, e, "fault", "clear")

	vaultID := "/subscriptions/" + e.Sub + "/resourceGroups/" + dv.RG + "/providers/Microsoft.DataProtection/backupVaults/" + dv.Vault
	for _, v := range []string{dv.Vault, strings.ToUpper(dv.Vault), vaultID} {
		if out := mustRun(t, e, "job", "list", "--vault", v, "-o", "tsv"); !strings.Contains(out, "\tBackup\tCompleted\t") {
			t.Errorf("job list --vault %s:\n%s", v, out)
		}
	}
	_, err = run(t, e, nil, "job", "list", "--vault", "vualt1")
	if err == nil || !strings.Contains(err.Error(), `no vault "vualt1" (see `+"`safehold vault list`)") {
		t.Errorf("job list --vault of a vault that does not exist: %v", err)
	}
	_, err = run(t, e, nil, "job", "list", "--operation", "Bogus")
	if err == nil || !strings.Contains(err.Error(), `--operation "Bogus": use one of `) || !strings.Contains(err.Error(), "Backup, Restore") {
		t.Errorf("job list --operation Bogus: %v", err)
	}
	if out := mustRun(t, e, "job", "list", "--operation", "backup", "-o", "tsv"); !strings.Contains(out, "\tBackup\tCompleted\t") {
		t.Errorf("job list --operation backup:\n%s", out)
	}
}

// TestDamagedSnapshotReadsSayWhy: reading a snapshot whose stored data is
// damaged (a flipped byte in its pack) is 409 SnapshotDataDamaged saying
// what to do, on the SAS data plane (safehold disk download) and for a disk
// created from it (its operation fails with that code): both answered 500
// InternalError ("Please retry the request", which the SDKs do in vain)
// or InternalServerError. And verify names the damaged snapshot resource:
// it named only its engine id, which no API shows.
func TestDamagedSnapshotReadsSayWhy(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("rg")
	diskID, _ := fixture.Disk(t, e, "rg", "d1", 1, 0, 8<<20)
	fixture.Snapshot(t, e, "rg", "s1", diskID)
	for _, f := range packs(t, e.DataDir) {
		fixture.FlipByte(t, f)
	}

	_, err := run(t, e, nil, "disk", "download", "s1", filepath.Join(t.TempDir(), "s1.img"))
	if err == nil || !strings.Contains(err.Error(), "SnapshotDataDamaged: The stored data of snapshot 's1' is damaged") || !strings.Contains(err.Error(), "safehold verify --read-data") {
		t.Errorf("disk download of the damaged snapshot: %v", err)
	}
	// verify names the snapshot resource, not only its engine id.
	snapID := "/subscriptions/" + e.Sub + "/resourceGroups/rg/providers/Microsoft.Compute/snapshots/s1"
	if out, err := verifyCLI(t, e, "--read-data"); err == nil || !strings.Contains(out, "DAMAGED disk snapshot "+snapID+" (engine id ") {
		t.Errorf("verify --read-data of the damaged snapshot: %v\n%s", err, out)
	}
	dc, err := armcompute.NewDisksClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = fixture.Wait(dc.BeginCreateOrUpdate(e.Ctx(), "rg", "from-s1", armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy),
			SourceResourceID: to.Ptr("/subscriptions/" + e.Sub + "/resourceGroups/rg/providers/Microsoft.Compute/snapshots/s1")}}}, nil))
	if err == nil || !strings.Contains(err.Error(), "SnapshotDataDamaged") || strings.Contains(err.Error(), "InternalServerError") {
		t.Errorf("disk from the damaged snapshot: %v", err)
	}
}
