package server_test

import (
	"bytes"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/protection"
)

// TestTwoTierPointRestoresFromItsWholeTier: a Recovery Services point
// holds its data twice, in its instant snapshot (the operational tier)
// and in the vault. A verify that finds one tier damaged marks that tier
// (InstantRP or HardenedRP Invalid, the other Valid) and a restore reads
// the other, the VM's data whole; with both damaged the restore fails at
// once. Before, the damage marked the point as a whole: its restore
// failed UserErrorRecoveryPointCorrupt though the vault's copy (or the
// instant snapshot) could restore it, and both tiers showed Invalid.
func TestTwoTierPointRestoresFromItsWholeTier(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	sub := "/subscriptions/" + e.Sub
	const av = "?api-version=2024-04-01"
	vm := fixture.ProtectVM(t, e)
	rsVault := sub + "/resourceGroups/" + vm.RG + "/providers/Microsoft.RecoveryServices/vaults/" + vm.Vault
	item := rsVault + "/backupFabrics/Azure/protectionContainers/" + url.PathEscape(vm.Container) + "/protectedItems/" + url.PathEscape(vm.Item)
	job := vm.Backup(t, e)
	if j := waitVaultJob(t, e, rsVault, job[strings.LastIndex(job, "/")+1:], av); str(j, "properties.status") != "Completed" {
		t.Fatalf("backup: %v", j)
	}
	ps, err := protection.ListAllRecoveryPoints(ctx, e.Server.Store, rsVault)
	if err != nil || len(ps) != 1 || !ps[0].HasTier(protection.TierVault) || !ps[0].HasTier(protection.TierOperational) {
		t.Fatalf("the point: %v %v", ps, err)
	}
	point := ps[0].ID
	_, opPack := fixture.MostData(t, packFiles(filepath.Join(e.DataDir, "snapshots", "repo")), nil)
	vaults, _ := os.ReadDir(filepath.Join(e.DataDir, "vaults"))
	if len(vaults) != 1 {
		t.Fatalf("test setup: vault tiers %v", vaults)
	}
	_, vaultPack := fixture.MostData(t, packFiles(filepath.Join(e.DataDir, "vaults", vaults[0].Name(), "repo")), nil)
	e.ResourceGroups("target")
	staging, _ := fixture.StorageAccount(t, e, "target", "staging1")
	rpc := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory).NewRecoveryPointsClient()
	dc := testserver.Factory(e, armcompute.NewClientFactory).NewDisksClient()

	// verify verifies the vault's data; the point's tiers then show
	// want (InstantRP, HardenedRP: Valid or Invalid).
	verify := func(what string, want map[string]string) {
		t.Helper()
		_, vj := startVerify(t, e, rsVault, av, "", map[string]any{"readData": true})
		if j := waitVaultJob(t, e, rsVault, vj, av); str(j, "properties.status") != "Failed" {
			t.Fatalf("%s: the verify %v", what, j)
		}
		p, err := rpc.Get(ctx, vm.Vault, vm.RG, "Azure", vm.Container, vm.Item, point, nil)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, tier := range p.Properties.(*armrecoveryservicesbackup.IaasVMRecoveryPoint).RecoveryPointTierDetails {
			got[string(*tier.Type)] = string(*tier.Status)
		}
		if got["InstantRP"] != want["InstantRP"] || got["HardenedRP"] != want["HardenedRP"] {
			t.Fatalf("%s: the point's tiers %v, want %v", what, got, want)
		}
	}
	// restore restores the VM's disks into group rg: their error code
	// ("" when Completed, the data disk's data then checked).
	restore := func(rg string) string {
		t.Helper()
		e.ResourceGroups(rg)
		resp, m := call(t, e, "POST", item+"/recoveryPoints/"+point+"/restore"+av, map[string]any{"properties": map[string]any{
			"objectType": "IaasVMRestoreRequest", "recoveryPointId": point, "recoveryType": "RestoreDisks", "sourceResourceId": vm.VMID,
			"storageAccountId": staging, "targetResourceGroupId": sub + "/resourceGroups/" + rg, "region": "westus"}})
		mustStatus(t, 202, resp, m)
		st := pollOp(t, e, resp.Header.Get("Azure-AsyncOperation"))
		id := str(st, "properties.jobId")
		if id == "" { // (a restore that fails at once names its job in none)
			js, _ := protection.ListJobs(ctx, e.Server.Store, rsVault, protection.JobFilter{Operation: protection.OpRestore})
			for _, j := range js {
				if strings.EqualFold(j.Target, sub+"/resourceGroups/"+rg) {
					id = j.ID
				}
			}
		}
		j := waitVaultJob(t, e, rsVault, id, av)
		if str(j, "properties.status") != "Completed" {
			errs, _ := testserver.Field(j, "properties.errorDetails").([]any)
			if len(errs) != 1 {
				t.Fatalf("restore into %s: %v", rg, j)
			}
			return errs[0].(map[string]any)["errorTitle"].(string)
		}
		data := ""
		for pg := range fixture.Pages(t, dc.NewListByResourceGroupPager(rg, nil)) {
			for _, d := range pg.Value {
				if strings.Contains(*d.Name, "datadisk") {
					data = *d.Name
				}
			}
		}
		rc, done := fixture.DiskAccess(t, e, rg, data, armcompute.AccessLevelRead)
		defer done()
		want := make([]byte, 1<<20) // fixture.Disk's data at 1 MiB
		for k := range want {
			want[k] = byte(k*31) ^ 1 ^ byte((1<<20)>>16)
		}
		if got := fixture.ReadPages(t, rc, 1<<20, 1<<20); !bytes.Equal(got, want) {
			t.Fatalf("restore into %s: the data disk %s is not the VM's", rg, data)
		}
		return ""
	}

	fixture.FlipByte(t, opPack)
	verify("the instant snapshot damaged", map[string]string{"InstantRP": "Invalid", "HardenedRP": "Valid"})
	if code := restore("from-vault"); code != "" {
		t.Fatalf("restore with the instant snapshot damaged, the vault's copy whole: %s", code)
	}
	fixture.FlipByte(t, opPack) // mended
	fixture.FlipByte(t, vaultPack)
	verify("the vault's copy damaged", map[string]string{"InstantRP": "Valid", "HardenedRP": "Invalid"})
	if code := restore("from-snapshot"); code != "" {
		t.Fatalf("restore with the vault's copy damaged, the instant snapshot whole: %s", code)
	}
	fixture.FlipByte(t, opPack)
	verify("both damaged", map[string]string{"InstantRP": "Invalid", "HardenedRP": "Invalid"})
	if code := restore("from-none"); code != protection.CodeRecoveryPointCorrupt {
		t.Fatalf("restore with both tiers damaged: %q, want %s", code, protection.CodeRecoveryPointCorrupt)
	}
}
