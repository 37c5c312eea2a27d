package clients_test

import (
	"strings"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestAzCLIBackupNowRetainUntil: az backup protection backup-now
// --retain-until more than 99 years ahead (31-12-9999) fails with 400
// BMSUserErrorInvalidInput naming recoveryPointExpiryTimeInUTC and the
// range, and starts no job; a date a month ahead backs up and keeps the
// point until then. Before, 9999-12-31 was accepted. (A past date keeps
// the point 30 days with a warning: Azure's documented request sends one;
// TestSeedRawHTTP.)
func TestAzCLIBackupNowRetainUntil(t *testing.T) {
	e := testserver.Start(t)
	az := loggedIn(t, e)
	sub := e.Conn.SubscriptionID
	az.run("group", "create", "-n", "vmRG", "-l", "westus", "-o", "none")
	az.run("group", "create", "-n", "vaultRG", "-l", "westus", "-o", "none")
	vmID := az.vm(sub, "vmRG", "ret")
	v := []string{"-g", "vaultRG", "-v", "retVault"}
	with := func(args ...string) []string { return append(args, v...) }
	az.run("backup", "vault", "create", "-g", "vaultRG", "-n", "retVault", "-l", "westus", "-o", "none")
	fixture.QuietPolicies(t, e, "/subscriptions/"+sub+"/resourceGroups/vaultRG/providers/Microsoft.RecoveryServices/vaults/retVault")
	az.run(with("backup", "protection", "enable-for-vm", "--vm", vmID, "--policy-name", "DefaultPolicy", "-o", "none")...)
	now := time.Now().UTC()
	backupNow := func(until string) []string {
		return with("backup", "protection", "backup-now", "-i", "ret", "-c", "ret", "--backup-management-type", "AzureIaasVM", "--retain-until", until)
	}
	for _, c := range []struct{ until, want string }{
		{"31-12-9999", "is more than 99 years ahead"},
	} {
		r := az.exec(backupNow(c.until)...)
		out := r.Stdout + r.Stderr
		if r.Code == 0 || !strings.Contains(out, "(BMSUserErrorInvalidInput)") || !strings.Contains(out, "recoveryPointExpiryTimeInUTC") || !strings.Contains(out, c.want) {
			t.Errorf("backup-now --retain-until %s: exit status %d, want BMSUserErrorInvalidInput saying the time %s\n%s", c.until, r.Code, c.want, out)
		}
	}
	if got := az.tsv(with("backup", "job", "list", "--operation", "Backup", "--query", "length(@)")...); got != "0" {
		t.Fatalf("backup jobs after the refused backup-now: %s, want none", got)
	}

	until := now.AddDate(0, 1, 0)
	bj := az.json(backupNow(until.Format("02-01-2006"))...)
	if st := az.tsv(with("backup", "job", "wait", "-n", str(bj, "name"), "--timeout", "300", "--query", "properties.status")...); st != "Completed" {
		t.Fatalf("backup job %s", st)
	}
	exp := az.tsv(with("backup", "recoverypoint", "list", "-i", "ret", "-c", "ret", "--backup-management-type", "AzureIaasVM", "--query", "[0].properties.recoveryPointProperties.expiryTime")...)
	if !strings.HasPrefix(exp, until.Format("2006-01-02")) {
		t.Errorf("point expiry %q, want the --retain-until date %s", exp, until.Format("2006-01-02"))
	}
}
