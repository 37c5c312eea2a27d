package main

import (
	"path/filepath"
	"strings"
	"testing"

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
// vault without jobs.
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
}
