// Package clients_test drives Safehold with real non-Go clients: Debian's az
// CLI (az backup, az storage) and the JavaScript SDK from npm. .ci/run installs them
// (.ci/clients.sh); outside CI a test whose client is missing skips, inside
// CI (CI=true) it fails.
package clients_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/server"
)

// installHow says how the clients get installed.
const installHow = "bash .ci/run installs it through .ci/clients.sh"

// need returns the path of a client binary, skipping the test when it is
// missing outside CI and failing it in CI (where .ci/run installs it).
func need(t *testing.T, bin string) string {
	t.Helper()
	return testsvc.Tool(t, bin, installHow)
}

// clientLimit bounds one client run (an az command, the longest of which,
// az backup job wait, waits --timeout 300; a script of testdata/js): a
// guard against a hang.
const clientLimit = 10 * time.Minute

type azCLI struct {
	t   *testing.T
	bin string
	env []string
	dir string // working directory ("": the test's)
}

// exec runs az with args and returns how it ended.
func (a *azCLI) exec(args ...string) testsvc.Result {
	a.t.Helper()
	r := testsvc.RunIn(a.t, clientLimit, a.dir, a.env, a.bin, args...)
	a.t.Logf("az %s (%.1fs)", strings.Join(args, " "), r.Took.Seconds())
	return r
}

// run runs az with args and returns its stdout; a failure fails the test.
func (a *azCLI) run(args ...string) string {
	a.t.Helper()
	r := a.exec(args...)
	if r.Code != 0 {
		a.t.Fatalf("az %s: exit status %d\n%s%s", strings.Join(args, " "), r.Code, r.Stdout, r.Stderr)
	}
	return r.Stdout
}

// fails runs az with args, which must fail printing code (Azure's error
// code, as az prints it: "(Code) message").
func (a *azCLI) fails(code string, args ...string) {
	a.t.Helper()
	r := a.exec(args...)
	if r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "("+code+")") {
		a.t.Fatalf("az %s: exit status %d, want a failure with %s\n%s%s", strings.Join(args, " "), r.Code, code, r.Stdout, r.Stderr)
	}
}

func (a *azCLI) json(args ...string) map[string]any {
	a.t.Helper()
	out := a.run(append(args, "-o", "json")...)
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		a.t.Fatalf("az %s: not a JSON object: %q", strings.Join(args, " "), out)
	}
	return m
}

func (a *azCLI) tsv(args ...string) string {
	a.t.Helper()
	return strings.TrimSpace(a.run(append(args, "-o", "tsv")...))
}

// str is the string at a dotted path of m ("" when it is missing or not a
// string).
func str(m map[string]any, path string) string {
	s, _ := testserver.Field(m, path).(string)
	return s
}

// loggedIn is Debian's az CLI connected to e as the README says (az cloud
// register with the ARM endpoint and the storage suffix, then az login
// --service-principal),
// trusting Safehold's CA through REQUESTS_CA_BUNDLE alone.
func loggedIn(t *testing.T, e *testserver.Env) *azCLI {
	t.Helper()
	return loggedInAs(t, e, e.Conn.ClientID, e.Conn.ClientSecret)
}

// loggedInAs is loggedIn as the service principal appID (its secret
// secret), in a configuration of its own.
func loggedInAs(t *testing.T, e *testserver.Env, appID, secret string) *azCLI {
	t.Helper()
	bin := need(t, "az")
	hook, err := filepath.Abs("testdata/azcli")
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH"), "AZURE_CONFIG_DIR=" + t.TempDir(),
		"REQUESTS_CA_BUNDLE=" + e.Conn.CACertFile, "PYTHONPATH=" + hook,
		"AZURE_CORE_COLLECT_TELEMETRY=false", "AZURE_CORE_NO_COLOR=true", "AZURE_CORE_SURVEY_MESSAGE=false"}
	az := &azCLI{t: t, bin: bin, env: env}
	c := e.Conn
	az.run("cloud", "register", "--name", "safehold", "--endpoint-resource-manager", c.ARMEndpoint+"/", "--suffix-storage-endpoint", "safehold.local")
	az.run("cloud", "set", "--name", "safehold")
	login := az.run("login", "--service-principal", "-u", appID, "-p="+secret, "--tenant", c.TenantID, "-o", "json")
	if !strings.Contains(login, c.SubscriptionID) {
		t.Fatalf("login did not find the subscription: %s", login)
	}
	return az
}

// vm creates the Linux VM rg/name on a new 1 GiB OS disk {name}-os with az
// rest (Safehold has no images for az vm create) and returns its id.
func (a *azCLI) vm(sub, rg, name string) string {
	a.t.Helper()
	disk := "/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/disks/" + name + "-os"
	a.run("rest", "--method", "put", "--url", disk+"?api-version=2024-03-02", "-o", "none",
		"--body", `{"location":"westus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1,"osType":"Linux"}}`)
	id := "/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/virtualMachines/" + name
	a.run("rest", "--method", "put", "--url", id+"?api-version=2024-11-01", "-o", "none",
		"--body", `{"location":"westus","properties":{"hardwareProfile":{"vmSize":"Standard_D2s_v3"},"storageProfile":{"osDisk":{"osType":"Linux","createOption":"Attach","managedDisk":{"id":"`+disk+`"}}}}}`)
	return id
}

// TestAzCLIBackupSeed002 connects Debian's az CLI to Safehold with nothing
// but REQUESTS_CA_BUNDLE (az cloud register with the ARM endpoint, the rest
// from /metadata/endpoints; az login --service-principal through the AD
// FS-shaped authority it advertises) and runs seed 002 with az backup.
//
// Workaround for the client's own defect: Debian's azure-cli 2.45 asks for
// Compute api-version 2022-11-01, which its packaged azure-mgmt-compute 29.0.0
// lacks, so `az vm show` and `az backup protection enable-for-vm` fail inside
// the CLI before any request (azure-cli#25826). testdata/azcli/sitecustomize.py,
// put on PYTHONPATH, pins the CLI's compute calls to 2022-08-01 only when the
// 2022-11-01 module is missing; it changes nothing else. It works around two
// more packaging defects the same way (az role, --retain-as-per-policy; see
// the file).
func TestAzCLIBackupSeed002(t *testing.T) {
	e := testserver.Start(t)
	az := loggedIn(t, e)
	sub := e.Conn.SubscriptionID

	// The VM to protect (created with az rest: Safehold has no images for az vm create).
	az.run("group", "create", "-n", "testRG", "-l", "westus", "-o", "none")
	az.run("group", "create", "-n", "testVaultRG", "-l", "westus", "-o", "none")
	az.run("group", "create", "-n", "restoreRG", "-l", "westus", "-o", "none")
	vmID := az.vm(sub, "testRG", "testVM")
	if got := az.tsv("vm", "show", "-g", "testRG", "-n", "testVM", "--query", "id"); !strings.EqualFold(got, vmID) {
		t.Fatalf("az vm show: %q", got)
	}
	// The staging storage account restore-disks names.
	az.run("rest", "--method", "put", "--url", "/subscriptions/"+sub+"/resourceGroups/testVaultRG/providers/Microsoft.Storage/storageAccounts/safeholdstaging?api-version=2023-01-01",
		"-o", "none", "--body", `{"location":"westus","kind":"StorageV2","sku":{"name":"Standard_LRS"}}`)

	v := []string{"-g", "testVaultRG", "-v", "testVault"}
	vault := az.json("backup", "vault", "create", "-g", "testVaultRG", "-n", "testVault", "-l", "westus")
	if str(vault, "properties.provisioningState") != "Succeeded" || str(vault, "type") != "Microsoft.RecoveryServices/vaults" {
		t.Fatalf("vault create: %v", vault)
	}
	// Its DefaultPolicy runs daily at 02:00 UTC: moved away from the steps,
	// which take the newest recovery point as the one backup-now made.
	fixture.QuietPolicies(t, e, str(vault, "id"))
	if names := az.tsv(append([]string{"backup", "policy", "list", "--query", "[].name"}, v...)...); !strings.Contains(names, "DefaultPolicy") {
		t.Fatalf("policy list: %q", names)
	}
	polFile := filepath.Join(t.TempDir(), "policy.json")
	pol := az.run(append([]string{"backup", "policy", "show", "-n", "DefaultPolicy", "-o", "json"}, v...)...)
	// Keep 14 daily points instead of 30 (the change policy set applies).
	pol = strings.Replace(pol, `"count": 30`, `"count": 14`, 1)
	if err := os.WriteFile(polFile, []byte(pol), 0o600); err != nil {
		t.Fatal(err)
	}
	if n := az.tsv(append([]string{"backup", "policy", "set", "-n", "DefaultPolicy", "--policy", polFile, "--query", "properties.retentionPolicy.dailySchedule.retentionDuration.count"}, v...)...); n != "14" {
		t.Fatalf("policy set did not apply: daily retention %q", n)
	}

	en := az.json(append([]string{"backup", "protection", "enable-for-vm", "--vm", vmID, "--policy-name", "DefaultPolicy"}, v...)...)
	if str(en, "properties.operation") != "ConfigureBackup" || str(en, "properties.status") != "Completed" {
		t.Fatalf("enable-for-vm job: %v", en)
	}
	cont := az.tsv(append([]string{"backup", "container", "list", "--backup-management-type", "AzureIaasVM", "--query", "[0].name"}, v...)...)
	item := az.tsv(append([]string{"backup", "item", "list", "--query", "[0].name"}, v...)...)
	if !strings.EqualFold(cont, "IaasVMContainer;iaasvmcontainerv2;testRG;testVM") || !strings.EqualFold(item, "VM;iaasvmcontainerv2;testRG;testVM") {
		t.Fatalf("container %q item %q", cont, item)
	}
	ci := []string{"-c", cont, "-i", item, "--backup-management-type", "AzureIaasVM"}

	bj := az.json(append(append([]string{"backup", "protection", "backup-now", "--retain-until", time.Now().AddDate(0, 1, 0).Format("02-01-2006")}, ci...), v...)...)
	if str(bj, "properties.operation") != "Backup" {
		t.Fatalf("backup-now: %v", bj)
	}
	jobs := az.tsv(append([]string{"backup", "job", "list", "--query", "[?properties.operation=='Backup'].name"}, v...)...)
	if !strings.Contains(jobs, str(bj, "name")) {
		t.Fatalf("job list %q lacks the backup job %s", jobs, str(bj, "name"))
	}
	if st := az.tsv(append([]string{"backup", "job", "wait", "-n", str(bj, "name"), "--timeout", "300", "--query", "properties.status"}, v...)...); st != "Completed" {
		t.Fatalf("backup job %s", st)
	}
	rp := az.tsv(append(append([]string{"backup", "recoverypoint", "list", "--query", "[0].name"}, ci...), v...)...)
	if rp == "" {
		t.Fatal("no recovery point")
	}

	rj := az.json(append([]string{"backup", "restore", "restore-disks", "-c", cont, "-i", item, "-r", rp, "--storage-account", "safeholdstaging", "--target-resource-group", "restoreRG"}, v...)...)
	if str(rj, "properties.operation") != "Restore" {
		t.Fatalf("restore-disks: %v", rj)
	}
	if st := az.tsv(append([]string{"backup", "job", "wait", "-n", str(rj, "name"), "--timeout", "300", "--query", "properties.status"}, v...)...); st != "Completed" {
		t.Fatalf("restore job %s", st)
	}
	if disks := az.tsv("rest", "--method", "get", "--url", "/subscriptions/"+sub+"/resourceGroups/restoreRG/providers/Microsoft.Compute/disks?api-version=2024-03-02", "--query", "length(value)"); disks != "1" {
		t.Fatalf("restore-disks created %s disks in restoreRG, want 1", disks)
	}
	// The unmanaged form leaves the VM's configuration and a VHD per disk in
	// the staging account; the job names the container and blob, and az
	// storage fetches the configuration (Azure's restore-disk tutorial).
	uj := az.json(append([]string{"backup", "restore", "restore-disks", "-c", cont, "-i", item, "-r", rp, "--storage-account", "safeholdstaging", "--restore-as-unmanaged-disks"}, v...)...)
	az.run(append([]string{"backup", "job", "wait", "-n", str(uj, "name"), "--timeout", "300", "-o", "none"}, v...)...)
	bag := az.json(append([]string{"backup", "job", "show", "-n", str(uj, "name"), "--query", "properties.extendedInfo.propertyBag"}, v...)...)
	cs := az.tsv("storage", "account", "show-connection-string", "-g", "testVaultRG", "-n", "safeholdstaging", "--query", "connectionString")
	config := filepath.Join(t.TempDir(), "config.json")
	az.run("storage", "blob", "download", "--connection-string", cs, "-c", str(bag, "Config Blob Container Name"), "-n", str(bag, "Config Blob Name"), "-f", config, "-o", "none")
	var vmConfig map[string]any
	if b, err := os.ReadFile(config); err != nil || json.Unmarshal(b, &vmConfig) != nil || !strings.HasSuffix(str(vmConfig, "properties.storageProfile.osDisk.vhd.uri"), ".vhd") {
		t.Fatalf("the unmanaged restore's configuration (bag %v): %v %v", bag, err, vmConfig)
	}
	if blobs := az.tsv("storage", "blob", "list", "--connection-string", cs, "-c", str(bag, "Config Blob Container Name"), "--query", "[?properties.blobType=='PageBlob'] | length(@)"); blobs != "1" {
		t.Fatalf("the unmanaged restore wrote %s VHDs, want 1", blobs)
	}

	// Stop protection keeping the data, then delete the data.
	dj := az.json(append(append([]string{"backup", "protection", "disable", "--yes"}, ci...), v...)...)
	if str(dj, "properties.operation") != "DisableBackup" || str(dj, "properties.status") != "Completed" {
		t.Fatalf("disable: %v", dj)
	}
	if st := az.tsv(append([]string{"backup", "item", "show", "-c", cont, "-n", item, "--backup-management-type", "AzureIaasVM", "--query", "properties.protectionState"}, v...)...); st != "ProtectionStopped" {
		t.Fatalf("after disable: %s", st)
	}
	xj := az.json(append(append([]string{"backup", "protection", "disable", "--delete-backup-data", "true", "--yes"}, ci...), v...)...)
	if str(xj, "properties.operation") != "DeleteBackupData" || str(xj, "properties.status") != "Completed" {
		t.Fatalf("disable --delete-backup-data: %v", xj)
	}
	if n := az.tsv(append([]string{"backup", "item", "list", "--query", "length(@)"}, v...)...); n != "0" {
		t.Fatalf("items after delete: %s", n)
	}
}

// TestAzCLISweep walks the az commands of the families Safehold serves
// beyond seed 002 (README, "What az commands work"), asserting what each
// prints: az group, az disk and az snapshot (create, update, grant and
// revoke access, delete; a shrink refused), az vm show -d, and az backup:
// vault create, backup-properties set and show (redundancy, soft delete,
// which vault show shows too),
// identity assign and remove, encryption show; policy get-default-for-vm,
// create, list-associated-items, delete (refused while in use; a bad
// policy refused); protection check-vm and enable-for-vm; container show;
// item set-policy; backup-now, job wait, list with filters (and
// --use-secondary-region, refused saying why), show and stop
// (of an ended job: refused); recoverypoint list with time filters and
// show; restore-disks of the OS disk only; restore files mount-rp (the
// script it writes) and unmount-rp; disable --retain-as-per-policy
// (backups suspended, the points kept), which item set-policy resumes;
// and soft delete: disable
// --delete-backup-data with soft delete on keeps the item, which takes no
// backup and keeps the vault, until protection undelete and resume.
// The client workarounds of testdata/azcli/sitecustomize.py (see
// TestAzCLIBackupSeed002) apply here too.
func TestAzCLISweep(t *testing.T) {
	e := testserver.Start(t, func(c *server.Config) { c.Compute.NBDAddr = "127.0.0.1:0" })
	az := loggedIn(t, e)
	sub := e.Conn.SubscriptionID
	for _, g := range []string{"vmRG", "vaultRG"} {
		if st := az.tsv("group", "create", "-n", g, "-l", "westus", "--query", "properties.provisioningState"); st != "Succeeded" {
			t.Fatalf("group create %s: %q", g, st)
		}
	}
	az.fails("ResourceGroupNotFound", "group", "show", "-n", "nope")

	// Disks and snapshots.
	d := []string{"-g", "vmRG", "-n", "data1"}
	if out := az.tsv(append([]string{"disk", "create", "--size-gb", "1", "--query", "[diskSizeGb,diskState,sku.name]"}, d...)...); out != "1\nUnattached\nPremium_LRS" {
		t.Fatalf("disk create: %q", out)
	}
	if out := az.tsv(append([]string{"disk", "update", "--size-gb", "2", "--set", "tags.env=test", "--query", "[diskSizeGb,tags.env]"}, d...)...); out != "2\ntest" {
		t.Fatalf("disk update: %q", out)
	}
	az.fails("BadRequest", append([]string{"disk", "update", "--size-gb", "1"}, d...)...)
	if sas := az.tsv(append([]string{"disk", "grant-access", "--duration-in-seconds", "600", "--query", "accessSas"}, d...)...); !strings.HasPrefix(sas, "https://") {
		t.Fatalf("disk grant-access: %q", sas)
	}
	if st := az.tsv(append([]string{"disk", "show", "--query", "diskState"}, d...)...); st != "ActiveSAS" {
		t.Fatalf("disk state with access granted: %q", st)
	}
	az.run(append([]string{"disk", "revoke-access", "-o", "none"}, d...)...)
	s := []string{"-g", "vmRG", "-n", "snap1"}
	if out := az.tsv(append([]string{"snapshot", "create", "--source", "data1", "--incremental", "true", "--query", "[incremental,diskSizeGb,provisioningState]"}, s...)...); out != "True\n2\nSucceeded" && out != "true\n2\nSucceeded" {
		t.Fatalf("snapshot create: %q", out)
	}
	if out := az.tsv(append([]string{"snapshot", "update", "--set", "tags.k=v", "--sku", "Standard_ZRS", "--query", "[tags.k,sku.name]"}, s...)...); out != "v\nStandard_ZRS" {
		t.Fatalf("snapshot update: %q", out)
	}
	if sas := az.tsv(append([]string{"snapshot", "grant-access", "--duration-in-seconds", "600", "--query", "accessSas"}, s...)...); !strings.HasPrefix(sas, "https://") {
		t.Fatalf("snapshot grant-access: %q", sas)
	}
	az.run(append([]string{"snapshot", "revoke-access", "-o", "none"}, s...)...)
	az.run(append([]string{"snapshot", "delete", "-o", "none"}, s...)...)
	az.run(append([]string{"disk", "delete", "--yes", "-o", "none"}, d...)...)
	vmID := az.vm(sub, "vmRG", "vm1")
	if out := az.tsv("disk", "list", "-g", "vmRG", "--query", "[].[name,diskState]"); out != "vm1-os\tAttached" {
		t.Fatalf("disk list: %q", out)
	}
	az.fails("OperationNotAllowed", "disk", "delete", "-g", "vmRG", "-n", "vm1-os", "--yes")
	if out := az.tsv("vm", "show", "-d", "-g", "vmRG", "-n", "vm1", "--query", "[powerState,storageProfile.osDisk.osType]"); out != "VM running\tLinux" && out != "VM running\nLinux" {
		t.Fatalf("vm show -d: %q", out)
	}

	// The vault and its settings.
	v := []string{"-g", "vaultRG", "-v", "vault1"}
	vn := []string{"-g", "vaultRG", "-n", "vault1"}
	vaultID := str(az.json(append([]string{"backup", "vault", "create", "-l", "westus"}, vn...)...), "id")
	// DefaultPolicy (and pol2, its copy) run daily at 02:00 UTC: moved away
	// from the steps, which count one backup job and one recovery point.
	fixture.QuietPolicies(t, e, vaultID)
	az.fails("ResourceNotFound", "backup", "vault", "show", "-g", "vaultRG", "-n", "nope")
	if st := az.tsv(append([]string{"backup", "vault", "backup-properties", "set", "--backup-storage-redundancy", "LocallyRedundant", "--query", "properties.storageType"}, vn...)...); st != "LocallyRedundant" {
		t.Fatalf("backup-properties set redundancy: %q", st)
	}
	if st := az.tsv(append([]string{"backup", "vault", "backup-properties", "set", "--soft-delete-feature-state", "Enable", "--query", "properties.softDeleteFeatureState"}, vn...)...); st != "Enabled" {
		t.Fatalf("backup-properties set soft delete: %q", st)
	}
	if out := az.tsv(append([]string{"backup", "vault", "backup-properties", "show", "--query", "[[0].properties.storageType,[1].properties.softDeleteFeatureState]"}, vn...)...); out != "LocallyRedundant\tEnabled" && out != "LocallyRedundant\nEnabled" {
		t.Fatalf("backup-properties show: %q", out)
	}
	// The vault shows the same soft delete setting.
	if out := az.tsv(append([]string{"backup", "vault", "show", "--query", "properties.securitySettings.softDeleteSettings.softDeleteState"}, vn...)...); out != "Enabled" {
		t.Fatalf("vault show after soft delete was enabled: %q", out)
	}
	if out := az.tsv(append([]string{"backup", "vault", "identity", "assign", "--system-assigned", "--query", "identity.type"}, vn...)...); out != "SystemAssigned" {
		t.Fatalf("identity assign: %q", out)
	}
	if out := az.tsv(append([]string{"backup", "vault", "identity", "remove", "--system-assigned", "--query", "identity.type"}, vn...)...); out != "" {
		t.Fatalf("identity remove left %q", out)
	}
	if out := az.tsv(append([]string{"backup", "vault", "encryption", "show", "--query", "properties.encryptionAtRestType"}, vn...)...); out != "MicrosoftManaged" {
		t.Fatalf("encryption show: %q", out)
	}

	// Policies.
	dir := t.TempDir()
	pol := az.run(append([]string{"backup", "policy", "get-default-for-vm", "-o", "json"}, v...)...)
	polFile, badFile := filepath.Join(dir, "pol2.json"), filepath.Join(dir, "bad.json")
	if err := os.WriteFile(polFile, []byte(pol), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(badFile, []byte(strings.Replace(pol, `"count": 30`, `"count": 0`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if n := az.tsv(append([]string{"backup", "policy", "create", "-n", "pol2", "--policy", polFile, "--backup-management-type", "AzureIaasVM", "--query", "name"}, v...)...); n != "pol2" {
		t.Fatalf("policy create: %q", n)
	}
	az.fails("BMSUserErrorInvalidPolicyInput", append([]string{"backup", "policy", "create", "-n", "bad", "--policy", badFile, "--backup-management-type", "AzureIaasVM"}, v...)...)

	// Protection.
	if out := az.tsv("backup", "protection", "check-vm", "--vm", vmID); out != "" {
		t.Fatalf("check-vm of an unprotected VM: %q", out)
	}
	en := az.json(append([]string{"backup", "protection", "enable-for-vm", "--vm", vmID, "--policy-name", "pol2"}, v...)...)
	if str(en, "properties.operation") != "ConfigureBackup" || str(en, "properties.status") != "Completed" {
		t.Fatalf("enable-for-vm: %v", en)
	}
	if out := az.tsv("backup", "protection", "check-vm", "--vm", vmID); !strings.EqualFold(out, vaultID) {
		t.Fatalf("check-vm of a protected VM: %q, want %s", out, vaultID)
	}
	if out := az.tsv(append([]string{"backup", "policy", "list-associated-items", "-n", "pol2", "--query", "[].properties.friendlyName"}, v...)...); out != "vm1" {
		t.Fatalf("list-associated-items: %q", out)
	}
	az.fails("BMSUserErrorObjectLocked", append([]string{"backup", "policy", "delete", "-n", "pol2"}, v...)...)
	if out := az.tsv(append([]string{"backup", "container", "show", "-n", "vm1", "--backup-management-type", "AzureIaasVM", "--query", "[properties.friendlyName,properties.registrationStatus]"}, v...)...); out != "vm1\nRegistered" {
		t.Fatalf("container show: %q", out)
	}
	ci := []string{"-c", "vm1", "-i", "vm1", "--backup-management-type", "AzureIaasVM"}
	if out := az.tsv(append([]string{"backup", "item", "set-policy", "-c", "vm1", "-n", "vm1", "--backup-management-type", "AzureIaasVM", "--policy-name", "DefaultPolicy", "--query", "properties.operation"}, v...)...); out != "ConfigureBackup" {
		t.Fatalf("item set-policy: %q", out)
	}
	az.run(append([]string{"backup", "policy", "delete", "-n", "pol2"}, v...)...)

	// A backup, its job and its recovery point.
	job := str(az.json(append(append([]string{"backup", "protection", "backup-now"}, ci...), v...)...), "name")
	if st := az.tsv(append([]string{"backup", "job", "wait", "-n", job, "--timeout", "300", "--query", "properties.status"}, v...)...); st != "Completed" {
		t.Fatalf("backup job: %s", st)
	}
	if out := az.tsv(append([]string{"backup", "job", "list", "--status", "Completed", "--operation", "Backup", "--query", "[].name"}, v...)...); out != job {
		t.Fatalf("job list --status Completed --operation Backup: %q, want %s", out, job)
	}
	if n := az.tsv(append([]string{"backup", "job", "list", "--status", "InProgress", "--query", "length(@)"}, v...)...); n != "0" {
		t.Fatalf("job list --status InProgress: %s", n)
	}
	az.fails("BMSUserErrorJobNotCancellable", append([]string{"backup", "job", "stop", "-n", job}, v...)...)
	// The secondary region's jobs: the vault's Cross Region Restore is
	// disabled, and Azure says so (was 404 InvalidResourceType
	// 'locations/backupCrrJobs', then ...NotSupported whatever the setting).
	az.fails("BMSUserErrorCrossRegionRestoreNotEnabledInThisVault", append([]string{"backup", "job", "list", "--use-secondary-region"}, v...)...)
	day := func(d int) string { return time.Now().UTC().AddDate(0, 0, d).Format("02-01-2006") }
	rp := az.tsv(append(append([]string{"backup", "recoverypoint", "list", "--start-date", day(-1), "--end-date", day(1), "--query", "[].name"}, ci...), v...)...)
	if rp == "" || strings.Contains(rp, "\n") {
		t.Fatalf("recoverypoint list: %q", rp)
	}
	if n := az.tsv(append(append([]string{"backup", "recoverypoint", "list", "--start-date", "01-01-2020", "--end-date", "02-01-2020", "--query", "length(@)"}, ci...), v...)...); n != "0" {
		t.Fatalf("recoverypoint list in 2020: %s", n)
	}
	if out := az.tsv(append(append([]string{"backup", "recoverypoint", "show", "-n", rp, "--query", "properties.objectType"}, ci...), v...)...); out != "IaasVMRecoveryPoint" {
		t.Fatalf("recoverypoint show: %q", out)
	}

	// Restore of the OS disk; file recovery.
	az.run("group", "create", "-n", "restoreRG", "-l", "westus", "-o", "none")
	az.run("storage", "account", "create", "-n", "sweepstaging", "-g", "vaultRG", "-l", "westus", "--sku", "Standard_LRS", "-o", "none")
	rj := str(az.json(append([]string{"backup", "restore", "restore-disks", "-c", "vm1", "-i", "vm1", "-r", rp, "--storage-account", "sweepstaging", "--target-resource-group", "restoreRG", "--restore-only-osdisk"}, v...)...), "name")
	if st := az.tsv(append([]string{"backup", "job", "wait", "-n", rj, "--timeout", "300", "--query", "properties.status"}, v...)...); st != "Completed" {
		t.Fatalf("restore job: %s", st)
	}
	if n := az.tsv("disk", "list", "-g", "restoreRG", "--query", "length(@)"); n != "1" {
		t.Fatalf("restore-disks created %s disks, want 1", n)
	}
	mount := &azCLI{t: t, bin: az.bin, env: az.env, dir: t.TempDir()}
	mount.run(append([]string{"backup", "restore", "files", "mount-rp", "-c", "vm1", "-i", "vm1", "-r", rp}, v...)...)
	scripts, _ := filepath.Glob(filepath.Join(mount.dir, "*.sh"))
	if len(scripts) != 1 {
		t.Fatalf("mount-rp wrote %v", scripts)
	}
	if b, err := os.ReadFile(scripts[0]); err != nil || !strings.Contains(string(b), "qemu-nbd --read-only") {
		t.Fatalf("mount-rp's script: %q %v", b, err)
	}
	active := append(append([]string{"backup", "recoverypoint", "show", "-n", rp, "--query", "properties.isInstantIlrSessionActive"}, ci...), v...)
	if out := az.tsv(active...); out != "True" && out != "true" {
		t.Fatalf("file recovery session after mount-rp: %q", out)
	}
	az.run(append([]string{"backup", "restore", "files", "unmount-rp", "-c", "vm1", "-i", "vm1", "-r", rp, "-o", "none"}, v...)...)
	if out := az.tsv(active...); out != "False" && out != "false" {
		t.Fatalf("file recovery session after unmount-rp: %q", out)
	}

	// Stop protection keeping the points for as long as the policy says
	// (--retain-as-per-policy: protectionState BackupsSuspended; Debian's
	// az 2.45 needs workaround 3 of testdata/azcli/sitecustomize.py).
	if out := az.tsv(append(append([]string{"backup", "protection", "disable", "--retain-as-per-policy", "true", "--yes", "--query", "[properties.operation,properties.status]"}, ci...), v...)...); out != "DisableBackup\nCompleted" {
		t.Fatalf("disable --retain-as-per-policy: %q", out)
	}
	if out := az.tsv(append([]string{"backup", "item", "show", "-c", "vm1", "-n", "vm1", "--backup-management-type", "AzureIaasVM", "--query", "[properties.protectionState,properties.extendedInfo.recoveryPointCount]"}, v...)...); out != "BackupsSuspended\n1" {
		t.Fatalf("item after disable --retain-as-per-policy: %q", out)
	}
	// az 2.45's resume takes ProtectionStopped items only; set-policy resumes it.
	if out := az.tsv(append([]string{"backup", "item", "set-policy", "-c", "vm1", "-n", "vm1", "--backup-management-type", "AzureIaasVM", "--policy-name", "DefaultPolicy", "--query", "properties.status"}, v...)...); out != "Completed" {
		t.Fatalf("item set-policy of the suspended item: %q", out)
	}
	if out := az.tsv(append([]string{"backup", "item", "show", "-c", "vm1", "-n", "vm1", "--backup-management-type", "AzureIaasVM", "--query", "properties.protectionState"}, v...)...); out != "Protected" {
		t.Fatalf("item after set-policy: %q", out)
	}

	// Soft delete: the deleted data stays until undeleted.
	if out := az.tsv(append(append([]string{"backup", "protection", "disable", "--delete-backup-data", "true", "--yes", "--query", "[properties.operation,properties.status]"}, ci...), v...)...); out != "DeleteBackupData\nCompleted" {
		t.Fatalf("disable --delete-backup-data: %q", out)
	}
	if out := az.tsv(append([]string{"backup", "item", "list", "--query", "[].properties.[protectionState,isScheduledForDeferredDelete]"}, v...)...); out != "ProtectionStopped\tTrue" && out != "ProtectionStopped\ttrue" {
		t.Fatalf("the soft-deleted item: %q", out)
	}
	az.fails("BMSUserErrorItemSoftDeleted", append(append([]string{"backup", "protection", "backup-now"}, ci...), v...)...)
	az.fails("ServiceResourceNotEmpty", append([]string{"backup", "vault", "delete", "--yes"}, vn...)...)
	if out := az.tsv(append(append([]string{"backup", "protection", "undelete", "--query", "[properties.operation,properties.status]"}, ci...), v...)...); out != "Undelete\nCompleted" {
		t.Fatalf("undelete: %q", out)
	}
	az.run(append(append([]string{"backup", "protection", "resume", "--policy-name", "DefaultPolicy", "-o", "none"}, ci...), v...)...)
	if out := az.tsv(append(append([]string{"backup", "recoverypoint", "list", "--query", "[].name"}, ci...), v...)...); out != rp {
		t.Fatalf("recovery points after undelete: %q, want %s", out, rp)
	}
	if out := az.tsv(append([]string{"backup", "item", "show", "-c", "vm1", "-n", "vm1", "--backup-management-type", "AzureIaasVM", "--query", "[properties.protectionState,properties.policyName]"}, v...)...); out != "Protected\nDefaultPolicy" {
		t.Fatalf("resumed item: %q", out)
	}
}

// TestAzCLIStorageBlobs drives the blob service of a Safehold storage
// account with az storage and nothing but a connection string: the one
// az storage account show-connection-string gives with --blob-endpoint set
// to the account's primaryEndpoints.blob (README), and the same built by
// hand from az storage account keys list. Containers are created and
// listed; a 65 MiB file goes up in blocks (a second upload without
// --overwrite is refused), is listed by prefix, comes back byte for byte in
// ranges, and is deleted; a .vhd goes up as a page blob, az disk create
// imports it and the disk's SAS reads its data back. A container SAS az
// generates lists and reads but does not write. A wrong key is Azure's 403
// AuthenticationFailed, which az reports as an authentication failure.
func TestAzCLIStorageBlobs(t *testing.T) {
	e := testserver.Start(t)
	az := loggedIn(t, e)
	az.run("group", "create", "-n", "stg", "-l", "westus", "-o", "none")
	az.run("storage", "account", "create", "-n", "azblobs1", "-g", "stg", "-l", "westus", "--sku", "Standard_LRS", "-o", "none")
	endpoint := az.tsv("storage", "account", "show", "-n", "azblobs1", "-g", "stg", "--query", "primaryEndpoints.blob")
	if !strings.HasSuffix(endpoint, "/storage/blob/azblobs1/") {
		t.Fatalf("primaryEndpoints.blob %q", endpoint)
	}
	key := az.tsv("storage", "account", "keys", "list", "-n", "azblobs1", "-g", "stg", "--query", "[0].value")
	cs := az.tsv("storage", "account", "show-connection-string", "-n", "azblobs1", "-g", "stg", "--blob-endpoint", endpoint, "--query", "connectionString")
	if !strings.Contains(cs, "AccountKey="+key) || !strings.Contains(cs, "BlobEndpoint="+endpoint) {
		t.Fatalf("connection string %q lacks the key or the blob endpoint", cs)
	}
	byHand := "DefaultEndpointsProtocol=https;AccountName=azblobs1;AccountKey=" + key + ";BlobEndpoint=" + strings.TrimSuffix(endpoint, "/")
	// Storage commands need no login: a fresh configuration directory.
	arm := &azCLI{t: t, bin: az.bin, env: az.env}
	az = &azCLI{t: t, bin: az.bin, env: append(az.env[:len(az.env):len(az.env)], "AZURE_CONFIG_DIR="+t.TempDir())}

	if out := az.tsv("storage", "container", "create", "-n", "docs", "--connection-string", cs, "--query", "created"); out != "true" {
		t.Fatalf("container create: %q", out)
	}
	az.run("storage", "container", "create", "-n", "disks", "--connection-string", byHand, "-o", "none")
	if out := az.tsv("storage", "container", "list", "--connection-string", cs, "--query", "[].name"); out != "disks\ndocs" {
		t.Fatalf("container list: %q", out)
	}

	dir := t.TempDir()
	// Past az's 64 MiB single-put limit: it goes up in 4 MiB blocks (Put
	// Block, Put Block List) and comes back in ranges (If-Match the ETag).
	data := make([]byte, 65<<20+11)
	rand.Read(data)
	src := filepath.Join(dir, "data.bin")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	az.run("storage", "blob", "upload", "-c", "docs", "-n", "a/data.bin", "-f", src, "--connection-string", cs, "-o", "none")
	az.run("storage", "blob", "upload", "-c", "docs", "-n", "b/note.txt", "--data", "hello", "--connection-string", byHand, "-o", "none")
	r := testsvc.Run(t, clientLimit, az.env, az.bin, "storage", "blob", "upload", "-c", "docs", "-n", "a/data.bin", "-f", src, "--connection-string", cs, "-o", "none")
	if r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "BlobAlreadyExists") {
		t.Fatalf("a second upload without --overwrite: exit %d %s%s", r.Code, r.Stdout, r.Stderr)
	}
	az.run("storage", "blob", "upload", "-c", "docs", "-n", "a/data.bin", "-f", src, "--overwrite", "--connection-string", cs, "-o", "none")
	if out := az.tsv("storage", "blob", "list", "-c", "docs", "--prefix", "a/", "--connection-string", cs, "--query", "[].[name,properties.contentLength,properties.blobType]"); out != "a/data.bin\t68157451\tBlockBlob" {
		t.Fatalf("blob list a/: %q", out)
	}
	if out := az.tsv("storage", "blob", "list", "-c", "docs", "--connection-string", cs, "--query", "[].name"); out != "a/data.bin\nb/note.txt" {
		t.Fatalf("blob list: %q", out)
	}
	dst := filepath.Join(dir, "back.bin")
	az.run("storage", "blob", "download", "-c", "docs", "-n", "a/data.bin", "-f", dst, "--connection-string", cs, "-o", "none")
	if back, err := os.ReadFile(dst); err != nil || !bytes.Equal(back, data) {
		t.Fatalf("downloaded file differs (%v)", err)
	}

	// An empty file goes and comes back (Azure answers its first ranged GET 416).
	empty := filepath.Join(dir, "empty.txt")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	az.run("storage", "blob", "upload", "-c", "disks", "-n", "empty.txt", "-f", empty, "--connection-string", cs, "-o", "none")
	az.run("storage", "blob", "download", "-c", "disks", "-n", "empty.txt", "-f", dst, "--connection-string", cs, "-o", "none")
	if fi, err := os.Stat(dst); err != nil || fi.Size() != 0 {
		t.Fatalf("the empty blob downloaded: %v %v", fi, err)
	}

	// A .vhd (a fixed VHD: data, then the footer) uploads as a page blob
	// (az's default for the extension).
	vhd := make([]byte, 1<<20+512)
	rand.Read(vhd[:4096])
	copy(vhd[1<<20:], "conectix")
	vhd[1<<20+63] = 2 // disk type: fixed
	vhdFile := filepath.Join(dir, "disk.vhd")
	if err := os.WriteFile(vhdFile, vhd, 0o600); err != nil {
		t.Fatal(err)
	}
	az.run("storage", "blob", "upload", "-c", "disks", "-n", "disk.vhd", "-f", vhdFile, "--connection-string", cs, "-o", "none")
	if out := az.tsv("storage", "blob", "show", "-c", "disks", "-n", "disk.vhd", "--connection-string", cs, "--query", "[properties.blobType,properties.contentLength]"); out != "PageBlob\n1049088" {
		t.Fatalf("vhd blob: %q", out)
	}
	az.run("storage", "blob", "download", "-c", "disks", "-n", "disk.vhd", "-f", dst, "--overwrite", "--connection-string", cs, "-o", "none")
	if back, err := os.ReadFile(dst); err != nil || !bytes.Equal(back, vhd) {
		t.Fatalf("downloaded vhd differs (%v)", err)
	}
	// az disk create imports it by Azure's URL of the blob; the disk's SAS
	// (az disk grant-access) reads back the VHD's data.
	if out := arm.tsv("disk", "create", "-g", "stg", "-n", "fromvhd", "--source", "https://azblobs1.blob.core.windows.net/disks/disk.vhd", "--query", "diskSizeBytes"); out != "1048576" {
		t.Fatalf("az disk create --source: size %q", out)
	}
	access := arm.tsv("disk", "grant-access", "-g", "stg", "-n", "fromvhd", "--duration-in-seconds", "600", "--query", "accessSas")
	az.run("storage", "blob", "download", "--blob-url", access, "-f", dst, "--overwrite", "-o", "none")
	if back, err := os.ReadFile(dst); err != nil || !bytes.Equal(back, vhd[:1<<20]) {
		t.Fatalf("the imported disk differs from the VHD's data (%v)", err)
	}

	az.run("storage", "blob", "delete", "-c", "docs", "-n", "a/data.bin", "--connection-string", cs, "-o", "none")
	if out := az.tsv("storage", "blob", "list", "-c", "docs", "--connection-string", cs, "--query", "[].name"); out != "b/note.txt" {
		t.Fatalf("blob list after delete: %q", out)
	}

	// Metadata and content settings change; a container goes.
	az.run("storage", "blob", "metadata", "update", "-c", "docs", "-n", "b/note.txt", "--metadata", "owner=ops", "--connection-string", cs, "-o", "none")
	if out := az.tsv("storage", "blob", "metadata", "show", "-c", "docs", "-n", "b/note.txt", "--connection-string", cs, "--query", "owner"); out != "ops" {
		t.Fatalf("blob metadata: %q", out)
	}
	az.run("storage", "blob", "update", "-c", "docs", "-n", "b/note.txt", "--content-type", "text/markdown", "--connection-string", cs, "-o", "none")
	if out := az.tsv("storage", "blob", "show", "-c", "docs", "-n", "b/note.txt", "--connection-string", cs, "--query", "[properties.contentSettings.contentType,properties.contentLength]"); out != "text/markdown\n5" {
		t.Fatalf("blob after update: %q", out)
	}
	if out := az.tsv("storage", "container", "delete", "-n", "disks", "--connection-string", cs, "--query", "deleted"); out != "true" {
		t.Fatalf("container delete: %q", out)
	}
	if out := az.tsv("storage", "container", "exists", "-n", "disks", "--connection-string", cs, "--query", "exists"); out != "false" {
		t.Fatalf("container exists after delete: %q", out)
	}

	// A container SAS az signs, in a connection string: it lists and reads,
	// and may not write.
	token := az.tsv("storage", "container", "generate-sas", "-n", "docs", "--permissions", "rl", "--https-only",
		"--expiry", time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04Z"), "--connection-string", cs)
	sasCS := "BlobEndpoint=" + endpoint + ";SharedAccessSignature=" + token
	if out := az.tsv("storage", "blob", "list", "-c", "docs", "--connection-string", sasCS, "--query", "[].name"); out != "b/note.txt" {
		t.Fatalf("blob list with a SAS: %q", out)
	}
	// The endpoint with a key or a SAS as az's own flags.
	if out := az.tsv("storage", "blob", "list", "-c", "docs", "--blob-endpoint", endpoint, "--account-name", "azblobs1", "--account-key", key, "--query", "[].name"); out != "b/note.txt" {
		t.Fatalf("blob list with --blob-endpoint and --account-key: %q", out)
	}
	if out := az.tsv("storage", "blob", "list", "-c", "docs", "--blob-endpoint", endpoint, "--sas-token", token, "--query", "[].name"); out != "b/note.txt" {
		t.Fatalf("blob list with --blob-endpoint and --sas-token: %q", out)
	}
	az.run("storage", "blob", "download", "-c", "docs", "-n", "b/note.txt", "-f", dst, "--overwrite", "--connection-string", sasCS, "-o", "none")
	if back, err := os.ReadFile(dst); err != nil || string(back) != "hello" {
		t.Fatalf("download with a SAS: %q %v", back, err)
	}
	r = testsvc.Run(t, clientLimit, az.env, az.bin, "storage", "blob", "upload", "-c", "docs", "-n", "c.txt", "--data", "x", "--connection-string", sasCS, "-o", "none")
	// (az words 403 AuthorizationPermissionMismatch, and only it, so.)
	if r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "You do not have the required permissions needed to perform this operation") {
		t.Fatalf("an upload with a read/list SAS: exit %d %s%s", r.Code, r.Stdout, r.Stderr)
	}

	wrong := strings.Replace(cs, key, strings.Repeat("A", len(key)-4)+"AA==", 1)
	r = testsvc.Run(t, clientLimit, az.env, az.bin, "storage", "container", "list", "--connection-string", wrong, "-o", "none")
	// (az words Azure's 403 AuthenticationFailed as "Authentication failure".)
	if r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "Authentication failure") {
		t.Fatalf("a wrong key: exit %d %s%s", r.Code, r.Stdout, r.Stderr)
	}
}

// nodeModules is the node_modules directory .ci/clients.sh installs the
// JavaScript SDK packages into; the test skips (fails in CI) when pkg is
// not there.
func nodeModules(t *testing.T, pkg string) string {
	t.Helper()
	home, _ := os.UserHomeDir()
	return testsvc.NodeModules(t, "SAFEHOLD_NPM_DIR", filepath.Join(home, ".cache", "safehold", "npm"), pkg, installHow)
}

// runNode runs a script of testdata/js against e with what a JS user sets:
// NODE_EXTRA_CA_CERTS (Safehold's CA) and the connection file; env adds
// variables of the script's own.
func runNode(t *testing.T, e *testserver.Env, script string, env ...string) string {
	t.Helper()
	node := need(t, "node")
	nm := nodeModules(t, "@azure/arm-recoveryservicesbackup")
	env = append(append(os.Environ(), "NODE_PATH="+nm, "NODE_EXTRA_CA_CERTS="+e.Conn.CACertFile,
		"SAFEHOLD_CONNECTION="+filepath.Join(e.DataDir, "connection.json")), env...)
	r := testsvc.Run(t, clientLimit, env, node, filepath.Join("testdata", "js", script))
	t.Logf("node %s:\n%s%s", script, r.Stdout, r.Stderr)
	if r.Code != 0 {
		t.Fatalf("node %s: exit status %d", script, r.Code)
	}
	return r.Stdout
}

// TestJSSDKSeed002 runs seed 002 with @azure/identity, @azure/arm-compute 24,
// @azure/arm-authorization 9, @azure/arm-recoveryservices 6 and
// @azure/arm-recoveryservicesbackup 12, every client at its default
// api-version.
func TestJSSDKSeed002(t *testing.T) {
	e := testserver.Start(t)
	if out := runNode(t, e, "seed002.cjs"); !strings.Contains(out, "seed 002 done") {
		t.Fatal("seed 002 did not finish")
	}
}

// TestJSSeed000CoreClient runs seed 000 (disk backup in a Backup vault)
// with @azure/arm-resources, @azure/arm-compute and @azure/arm-authorization
// at their default api-versions and the Data Protection paths through
// @azure/core-client (@azure/arm-dataprotection is not served by the npm
// registry here).
func TestJSSeed000CoreClient(t *testing.T) {
	e := testserver.Start(t)
	if out := runNode(t, e, "seed000.cjs"); !strings.Contains(out, "seed 000 done") {
		t.Fatal("seed 000 did not finish")
	}
}

// TestJSSDKRecoveryServices walks Azure VM backup beyond seed 002
// (testdata/js/recoveryservices.cjs: resource groups, disks and snapshots
// with grant/revoke access, role assignments, the vault and its config
// resources, policies, protection intents, backup status and feature
// validation, a cancelled backup, jobs with $filter, export jobs, usages,
// restore validation, a restore, stopping protection) twice, every package
// at its default api-version: with the current majors .ci/clients.sh pins
// (@azure/arm-recoveryservicesbackup 12, arm-recoveryservices 6,
// arm-compute 24, arm-resources 5, arm-authorization 9, arm-storage 21)
// and with older ones installed under npm aliases
// (arm-recoveryservicesbackup 9 at 2022-03-01, arm-recoveryservices 5,
// arm-compute 22, arm-authorization 8 of the ms-rest generator,
// arm-storage 18), and with the newest majors of the TypeSpec generator
// (modular clients) where the registry has them (arm-compute 25 at
// 2026-04-01, arm-recoveryservices 7 at 2026-07-01).
func TestJSSDKRecoveryServices(t *testing.T) {
	for _, c := range []struct {
		name string
		env  []string
	}{
		{"current", nil},
		{"older", []string{"SAFEHOLD_JS_RSB=arm-recoveryservicesbackup-9", "SAFEHOLD_JS_RS=arm-recoveryservices-5",
			"SAFEHOLD_JS_COMPUTE=arm-compute-22", "SAFEHOLD_JS_AUTHZ=arm-authorization-8", "SAFEHOLD_JS_STORAGE=arm-storage-18"}},
		{"newest", newestJS},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, kv := range c.env {
				nodeModules(t, kv[strings.IndexByte(kv, '=')+1:])
			}
			e := testserver.Start(t)
			if out := runNode(t, e, "recoveryservices.cjs", c.env...); !strings.Contains(out, "recoveryservices done") {
				t.Fatal("the script did not finish")
			}
		})
	}
}

// TestJSSDKWide drives, with @azure/arm-compute 24,
// @azure/arm-recoveryservices 6 and @azure/arm-recoveryservicesbackup 12
// at their default api-versions, the calls users reach for beyond the
// seed flows (testdata/js/sdkwide.cjs): disks from empty, copy, snapshot
// and upload, incremental snapshots, disk encryption sets and disk
// accesses, VMs with deleteOption, power actions, status-only lists, VM
// sizes, resource SKUs and attachDetachDataDisks, the Compute operations
// catalog, the vault's config resources, V1 and Enhanced policies, the
// protection container calls (register, unregister, inquire, protectable
// containers, workload items) and usage summaries by type; then again
// with the newest majors of arm-compute and arm-recoveryservices
// (newestJS).
func TestJSSDKWide(t *testing.T) {
	for _, c := range []struct {
		name string
		env  []string
	}{{"current", nil}, {"newest", newestJS}} {
		t.Run(c.name, func(t *testing.T) {
			for _, kv := range c.env {
				nodeModules(t, kv[strings.IndexByte(kv, '=')+1:])
			}
			e := testserver.Start(t)
			if out := runNode(t, e, "sdkwide.cjs", c.env...); !strings.Contains(out, "sdkwide done") {
				t.Fatal("the script did not finish")
			}
		})
	}
}

// newestJS names the newest majors the npm registry has of the packages
// whose newest major is of the TypeSpec generator (modular clients, their
// own LRO pollers and paging), installed by .ci/clients.sh under npm
// aliases: @azure/arm-compute 25 (Compute 2026-04-01, disks 2026-03-02)
// and @azure/arm-recoveryservices 7 (2026-07-01).
var newestJS = []string{"SAFEHOLD_JS_COMPUTE=arm-compute-25", "SAFEHOLD_JS_RS=arm-recoveryservices-7"}

// TestJSSDKLocks drives management locks with @azure/arm-locks 2 at its
// default api-version (testdata/js/locks.cjs): locks at subscription,
// group, resource and nested scope, gets and lists at every level, the
// deletes and writes they refuse with 409 ScopeLocked, bad input, and
// deleting them lifting them.
func TestJSSDKLocks(t *testing.T) {
	nodeModules(t, "@azure/arm-locks")
	e := testserver.Start(t)
	if out := runNode(t, e, "locks.cjs"); !strings.Contains(out, "locks done") {
		t.Fatal("the script did not finish")
	}
}
