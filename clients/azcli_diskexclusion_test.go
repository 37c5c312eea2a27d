package clients_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestAzCLISelectiveDiskBackup: Azure's selective disk backup as az users
// set it (enable-for-vm and update-for-vm with --disk-list-setting
// include|exclude --diskslist, --exclude-all-data-disks, and
// resetexclusionsettings). The item answers its
// extendedProperties.diskExclusionProperties, kept by item set-policy; a
// backup takes the OS disk and the data disks the settings take, and its
// recovery point lists the others as excluded; such a point restores its
// disks only (OriginalLocation is 400), and restore-disks --diskslist of an
// excluded LUN is 400. A LUN beyond 63 is 400. The settings were dropped:
// the item answered none and every backup took every disk. Of a point of
// every disk, restore-disks --restore-only-osdisk restores the OS disk
// alone (it restored every disk) and --diskslist 0 it and LUN 0.
func TestAzCLISelectiveDiskBackup(t *testing.T) {
	e := testserver.Start(t)
	az := loggedIn(t, e)
	sub := e.Conn.SubscriptionID
	az.run("group", "create", "-n", "vmRG", "-l", "westus", "-o", "none")
	az.run("group", "create", "-n", "vaultRG", "-l", "westus", "-o", "none")
	disks := "/subscriptions/" + sub + "/resourceGroups/vmRG/providers/Microsoft.Compute/disks/"
	for _, d := range []string{"os", "d0", "d1"} {
		osType := ""
		if d == "os" {
			osType = `,"osType":"Linux"`
		}
		az.run("rest", "--method", "put", "--url", disks+"sel-"+d+"?api-version=2024-03-02", "-o", "none",
			"--body", `{"location":"westus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1`+osType+`}}`)
	}
	vmID := "/subscriptions/" + sub + "/resourceGroups/vmRG/providers/Microsoft.Compute/virtualMachines/sel"
	az.run("rest", "--method", "put", "--url", vmID+"?api-version=2024-11-01", "-o", "none",
		"--body", `{"location":"westus","properties":{"hardwareProfile":{"vmSize":"Standard_D2s_v3"},"storageProfile":{`+
			`"osDisk":{"osType":"Linux","createOption":"Attach","managedDisk":{"id":"`+disks+`sel-os"}},`+
			`"dataDisks":[{"lun":0,"createOption":"Attach","managedDisk":{"id":"`+disks+`sel-d0"}},{"lun":1,"createOption":"Attach","managedDisk":{"id":"`+disks+`sel-d1"}}]}}}`)
	az.run("rest", "--method", "put", "--url", "/subscriptions/"+sub+"/resourceGroups/vaultRG/providers/Microsoft.Storage/storageAccounts/selstaging?api-version=2023-01-01",
		"-o", "none", "--body", `{"location":"westus","kind":"StorageV2","sku":{"name":"Standard_LRS"}}`)
	v := []string{"-g", "vaultRG", "-v", "selVault"}
	az.run("backup", "vault", "create", "-g", "vaultRG", "-n", "selVault", "-l", "westus", "-o", "none")
	// DefaultPolicy runs daily at 02:00 UTC: moved away from the steps, which
	// take the newest recovery point as the one backup-now made.
	fixture.QuietPolicies(t, e, "/subscriptions/"+sub+"/resourceGroups/vaultRG/providers/Microsoft.RecoveryServices/vaults/selVault")
	with := func(args ...string) []string { return append(args, v...) }
	item := []string{"-c", "sel", "--backup-management-type", "AzureIaasVM"}
	settings := func() string {
		t.Helper()
		return strings.Join(strings.Fields(az.tsv(with(append([]string{"backup", "item", "show", "-n", "sel", "--query",
			"[properties.extendedProperties.diskExclusionProperties.isInclusionList, join(',', map(&to_string(@), properties.extendedProperties.diskExclusionProperties.diskLunList || `[]`))]"}, item...)...)...)), " ")
	}
	backup := func() map[string]any {
		t.Helper()
		bj := az.json(with(append([]string{"backup", "protection", "backup-now", "-i", "sel", "--retain-until", time.Now().AddDate(0, 1, 0).Format("02-01-2006")}, item...)...)...)
		if st := az.tsv(with("backup", "job", "wait", "-n", str(bj, "name"), "--timeout", "300", "--query", "properties.status")...); st != "Completed" {
			t.Fatalf("backup job %s", st)
		}
		return az.json(with(append([]string{"backup", "recoverypoint", "list", "-i", "sel", "--query", "[0]"}, item...)...)...)
	}
	luns := func(p map[string]any, list string) string {
		var out []string
		l, _ := testserver.Field(p, "properties.recoveryPointDiskConfiguration."+list).([]any)
		for _, d := range l {
			m, _ := d.(map[string]any)
			out = append(out, fmt.Sprintf("%s@%v", strings.TrimPrefix(str(m, "name"), "sel-"), m["lun"]))
		}
		return strings.Join(out, ",")
	}

	// Only LUN 1 (and the OS disk).
	az.run(with("backup", "protection", "enable-for-vm", "--vm", vmID, "--policy-name", "DefaultPolicy", "--disk-list-setting", "include", "--diskslist", "1", "-o", "none")...)
	if got := settings(); got != "true 1" {
		t.Fatalf("item's disk settings after enable-for-vm --disk-list-setting include --diskslist 1: %q", got)
	}
	p := backup()
	if inc, exc := luns(p, "includedDiskList"), luns(p, "excludedDiskList"); inc != "os@-1,d1@1" || exc != "d0@0" {
		t.Fatalf("point's disks: included %q excluded %q", inc, exc)
	}
	if n := testserver.Field(p, "properties.recoveryPointDiskConfiguration.numberOfDisksAttachedToVm"); n != 3.0 {
		t.Fatalf("numberOfDisksAttachedToVm %v, want 3", n)
	}
	rp := []string{"-c", "sel", "-i", "sel", "-r", str(p, "name"), "--storage-account", "selstaging"}
	az.fails("BMSUserErrorInvalidRestoreInput", with(append([]string{"backup", "restore", "restore-disks", "--restore-mode", "OriginalLocation"}, rp...)...)...)
	az.fails("BMSUserErrorInvalidRestoreInput", with(append([]string{"backup", "restore", "restore-disks", "--target-resource-group", "vmRG", "--diskslist", "0"}, rp...)...)...)
	rj := az.json(with(append([]string{"backup", "restore", "restore-disks", "--target-resource-group", "vmRG"}, rp...)...)...)
	if st := az.tsv(with("backup", "job", "wait", "-n", str(rj, "name"), "--timeout", "300", "--query", "properties.status")...); st != "Completed" {
		t.Fatalf("restore job %s", st)
	}
	if n := az.tsv("disk", "list", "-g", "vmRG", "--query", "length([?tags.RestoredBy=='AzureBackup'])"); n != "2" {
		t.Fatalf("restore-disks of the point made %s disks, want 2 (the OS disk and LUN 1)", n)
	}

	// A policy change keeps the settings.
	polFile := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(polFile, []byte(az.run(with("backup", "policy", "show", "-n", "DefaultPolicy", "-o", "json")...)), 0o600); err != nil {
		t.Fatal(err)
	}
	az.run(with("backup", "policy", "create", "-n", "other", "--backup-management-type", "AzureIaasVM", "--policy", polFile, "-o", "none")...)
	az.run(with(append([]string{"backup", "item", "set-policy", "-n", "sel", "--policy-name", "other", "-o", "none"}, item...)...)...)
	if got := settings(); got != "true 1" {
		t.Fatalf("item's disk settings after set-policy: %q", got)
	}

	// All but LUN 1; then no data disk; then every disk again.
	az.run(with("backup", "protection", "update-for-vm", "-c", "sel", "-i", "sel", "--disk-list-setting", "exclude", "--diskslist", "1", "-o", "none")...)
	if got := settings(); got != "false 1" {
		t.Fatalf("item's disk settings after update-for-vm --disk-list-setting exclude --diskslist 1: %q", got)
	}
	if p := backup(); luns(p, "includedDiskList") != "os@-1,d0@0" || luns(p, "excludedDiskList") != "d1@1" {
		t.Fatalf("point's disks excluding LUN 1: included %q excluded %q", luns(p, "includedDiskList"), luns(p, "excludedDiskList"))
	}
	az.run(with("backup", "protection", "update-for-vm", "-c", "sel", "-i", "sel", "--exclude-all-data-disks", "-o", "none")...)
	if p := backup(); luns(p, "includedDiskList") != "os@-1" || luns(p, "excludedDiskList") != "d0@0,d1@1" {
		t.Fatalf("point's disks with --exclude-all-data-disks: included %q excluded %q", luns(p, "includedDiskList"), luns(p, "excludedDiskList"))
	}
	az.run(with("backup", "protection", "update-for-vm", "-c", "sel", "-i", "sel", "--disk-list-setting", "resetexclusionsettings", "-o", "none")...)
	if got := az.tsv(with(append([]string{"backup", "item", "show", "-n", "sel", "--query", "properties.extendedProperties.diskExclusionProperties"}, item...)...)...); got != "" {
		t.Fatalf("item's disk settings after resetexclusionsettings: %q", got)
	}
	p = backup()
	if luns(p, "includedDiskList") != "os@-1,d0@0,d1@1" || luns(p, "excludedDiskList") != "" {
		t.Fatalf("point's disks after resetexclusionsettings: included %q excluded %q", luns(p, "includedDiskList"), luns(p, "excludedDiskList"))
	}
	// A point of every disk: --restore-only-osdisk (restoreDiskLunList [])
	// restores the OS disk alone, --diskslist 0 it and LUN 0.
	restored := func(args ...string) string {
		t.Helper()
		rj := az.json(with(append([]string{"backup", "restore", "restore-disks", "--target-resource-group", "vmRG",
			"-c", "sel", "-i", "sel", "-r", str(p, "name"), "--storage-account", "selstaging"}, args...)...)...)
		if st := az.tsv(with("backup", "job", "wait", "-n", str(rj, "name"), "--timeout", "300", "--query", "properties.status")...); st != "Completed" {
			t.Fatalf("restore job %s", st)
		}
		names := strings.Fields(az.tsv("disk", "list", "-g", "vmRG", "--query", "sort([?tags.RestoreJobId=='"+str(rj, "name")+"'].name)"))
		for i, n := range names {
			names[i] = strings.Split(n, "-")[1]
		}
		return strings.Join(names, ",")
	}
	if got := restored("--restore-only-osdisk"); got != "osdisk" {
		t.Fatalf("restore-disks --restore-only-osdisk restored %q, want the OS disk only", got)
	}
	if got := restored("--diskslist", "0"); got != "datadisk,osdisk" {
		t.Fatalf("restore-disks --diskslist 0 restored %q, want the OS disk and LUN 0's", got)
	}
	az.fails("BMSUserErrorInvalidInput", with("backup", "protection", "update-for-vm", "-c", "sel", "-i", "sel", "--disk-list-setting", "include", "--diskslist", "64")...)
}
