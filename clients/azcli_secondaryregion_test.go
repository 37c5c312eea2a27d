package clients_test

import (
	"strings"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestAzCLISecondaryRegionLists: az backup item list, item show,
// recoverypoint list, recoverypoint show and job list --use-secondary-region
// read the vault's copy in its paired region (the passive-stamp client,
// api-version 2021-11-15). On a vault whose Cross Region Restore is
// disabled (the default) each fails as in Azure with
// BMSUserErrorCrossRegionRestoreNotEnabledInThisVault, naming the vault,
// its storage and setting, saying to leave the flag out or how to enable
// it; once az backup vault backup-properties set --cross-region-restore-flag
// True enabled it, each fails with BMSUserErrorCrossRegionRestoreNotSupported
// (Safehold keeps no secondary copy). container list
// --use-secondary-region calls the primary container list (az's own
// client, as in Azure) and answers the vault's container; the lists
// without the flag answer the primary item and point. The secondary
// reads answered ...NotSupported whatever the vault's setting before (and
// the primary region's item and point before that).
func TestAzCLISecondaryRegionLists(t *testing.T) {
	e := testserver.Start(t)
	az := loggedIn(t, e)
	sub := e.Conn.SubscriptionID
	az.run("group", "create", "-n", "vmRG", "-l", "westus", "-o", "none")
	az.run("group", "create", "-n", "vaultRG", "-l", "westus", "-o", "none")
	disk := "/subscriptions/" + sub + "/resourceGroups/vmRG/providers/Microsoft.Compute/disks/crr-os"
	az.run("rest", "--method", "put", "--url", disk+"?api-version=2024-03-02", "-o", "none",
		"--body", `{"location":"westus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1,"osType":"Linux"}}`)
	vmID := "/subscriptions/" + sub + "/resourceGroups/vmRG/providers/Microsoft.Compute/virtualMachines/crr"
	az.run("rest", "--method", "put", "--url", vmID+"?api-version=2024-11-01", "-o", "none",
		"--body", `{"location":"westus","properties":{"hardwareProfile":{"vmSize":"Standard_D2s_v3"},"storageProfile":{`+
			`"osDisk":{"osType":"Linux","createOption":"Attach","managedDisk":{"id":"`+disk+`"}}}}}`)
	v := []string{"-g", "vaultRG", "-v", "crrVault"}
	with := func(args ...string) []string { return append(args, v...) }
	az.run("backup", "vault", "create", "-g", "vaultRG", "-n", "crrVault", "-l", "westus", "-o", "none")
	fixture.QuietPolicies(t, e, "/subscriptions/"+sub+"/resourceGroups/vaultRG/providers/Microsoft.RecoveryServices/vaults/crrVault")
	az.run(with("backup", "protection", "enable-for-vm", "--vm", vmID, "--policy-name", "DefaultPolicy", "-o", "none")...)
	item := []string{"-c", "crr", "--backup-management-type", "AzureIaasVM"}
	bj := az.json(with(append([]string{"backup", "protection", "backup-now", "-i", "crr", "--retain-until", time.Now().AddDate(0, 1, 0).Format("02-01-2006")}, item...)...)...)
	if st := az.tsv(with("backup", "job", "wait", "-n", str(bj, "name"), "--timeout", "300", "--query", "properties.status")...); st != "Completed" {
		t.Fatalf("backup job %s", st)
	}
	rp := az.tsv(with(append([]string{"backup", "recoverypoint", "list", "-i", "crr", "--query", "[0].name"}, item...)...)...)
	if rp == "" {
		t.Fatal("no recovery point in the primary region")
	}

	secondaryAll := func(code, setting, says string) {
		t.Helper()
		for _, args := range [][]string{
			{"backup", "item", "list", "--backup-management-type", "AzureIaasVM"},
			append([]string{"backup", "item", "show", "-n", "crr"}, item...),
			append([]string{"backup", "recoverypoint", "list", "-i", "crr"}, item...),
			append([]string{"backup", "recoverypoint", "show", "-i", "crr", "-n", rp}, item...),
			{"backup", "job", "list"},
		} {
			r := az.exec(with(append(args, "--use-secondary-region")...)...)
			out := r.Stdout + r.Stderr
			if r.Code == 0 || !strings.Contains(out, "("+code+")") || !strings.Contains(out, "crrVault") ||
				!strings.Contains(out, setting) || !strings.Contains(out, "leave out --use-secondary-region") || !strings.Contains(out, says) {
				t.Errorf("az %s --use-secondary-region: exit status %d, want %s naming the vault, its setting and what to do\n%s", strings.Join(args, " "), r.Code, code, out)
			}
		}
	}
	secondaryAll("BMSUserErrorCrossRegionRestoreNotEnabledInThisVault", "Cross Region Restore Disabled", "--cross-region-restore-flag True")

	if got := az.tsv(with("backup", "container", "list", "--backup-management-type", "AzureIaasVM", "--use-secondary-region", "--query", "[].properties.friendlyName")...); got != "crr" {
		t.Errorf("container list --use-secondary-region: %q, want the vault's container crr (az lists the primary containers)", got)
	}
	if got := az.tsv(with("backup", "item", "list", "--backup-management-type", "AzureIaasVM", "--query", "[].properties.friendlyName")...); got != "crr" {
		t.Errorf("item list: %q, want crr", got)
	}
	// The storage configuration at the Cross Region Restore api-version
	// is the vault's own.
	cfg := az.json("rest", "--method", "get", "--url", "/subscriptions/"+sub+"/resourceGroups/vaultRG/providers/Microsoft.RecoveryServices/vaults/crrVault/backupstorageconfig/vaultstorageconfig?api-version=2021-11-15")
	if got := testserver.Field(cfg, "properties.crossRegionRestoreFlag"); got != false {
		t.Errorf("storage config at 2021-11-15: crossRegionRestoreFlag %v, want false: %v", got, cfg)
	}

	// Cross Region Restore enabled: the secondary reads say Safehold keeps
	// no copy in the paired region.
	az.run("backup", "vault", "backup-properties", "set", "-g", "vaultRG", "-n", "crrVault", "--cross-region-restore-flag", "True", "-o", "none")
	secondaryAll("BMSUserErrorCrossRegionRestoreNotSupported", "Cross Region Restore Enabled", "keeps no copy")
}
