package main_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/recoveryservices/armrecoveryservicesbackup/v4"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
)

// TestRestoreToANewVMKilledMidRunEnds: a Recovery Services restore to a
// new VM (AlternateLocation) runs on one of two replicas (PostgreSQL,
// Azurite) and is held there once its VM is made (a restore fault rule
// matching the VM's id, on both replicas); the replica running it is
// killed (SIGKILL) and started again. Round 1: the job is taken on and
// completes; the new VM has the restored disks, bit-exact, and the target
// resource group holds nothing else. Round 2: the replica that takes the
// job on fails it (a restore rule failing the next restore there); the
// job ends Failed and the VM and both disks the killed run made go:
// nothing is left that no job names.
func TestRestoreToANewVMKilledMidRunEnds(t *testing.T) { restoreKilled(t, false) }

// TestJobOfAKilledReplicaIsTakenOnWhileTheClockStandsStill: round 2 of
// TestRestoreToANewVMKilledMidRunEnds with the server clock standing
// still (a clock advance leaves it so): the replica left takes the job of
// the killed one on once the killed one's lease has lapsed in real time,
// and the job ends. Before, the task's lease, measured on the clock, never
// lapsed while the clock stood still: the job stayed InProgress until the
// killed replica ran again or the clock moved.
func TestJobOfAKilledReplicaIsTakenOnWhileTheClockStandsStill(t *testing.T) { restoreKilled(t, true) }

// restoreKilled runs the rounds of TestRestoreToANewVMKilledMidRunEnds:
// with still, round 2 alone, the clock advanced (standing still) first.
func restoreKilled(t *testing.T, still bool) {
	c := startReplicasOn(t, 2, testsvc.PostgresSchema(t), testsvc.AzuriteContainer(t, "e2e"), nil, "--lease-ttl", "10s")
	e := c.env
	ctx := context.Background()
	// The source disks' content, read before the VM is made over them.
	source := map[string]*diskImage{}
	vm := fixture.ProtectVMWith(t, e, func(osID, dataID string) {
		source["os"], source["data"] = readDisk(t, e, osID), readDisk(t, e, dataID)
	})
	run := func(rep int, args ...string) string {
		t.Helper()
		out, err := exec.Command(c.bin, append(args, "--data-dir", c.reps[rep].dir)...).Output()
		if err != nil {
			t.Fatalf("safehold %v (replica %d): %v\n%s", args, rep, err, out)
		}
		return string(out)
	}
	var bj struct{ Status string }
	if err := json.Unmarshal([]byte(run(0, "job", "wait", vm.Backup(t, e), "-o", "json")), &bj); err != nil || bj.Status != "Completed" {
		t.Fatalf("the VM's backup: %+v (%v)", bj, err)
	}
	bf := testserver.Factory(e, armrecoveryservicesbackup.NewClientFactory)
	page, err := bf.NewRecoveryPointsClient().NewListPager(vm.Vault, vm.RG, "Azure", vm.Container, vm.Item, nil).NextPage(ctx)
	if err != nil || len(page.Value) != 1 {
		t.Fatalf("the VM's points: %d (%v)", len(page.Value), err)
	}
	point := *page.Value[0].Name
	e.ResourceGroups("restore-rg")
	if resp, m := e.Do("PUT", "/subscriptions/"+e.Sub+"/resourceGroups/rs-rg/providers/Microsoft.Storage/storageAccounts/staging?api-version=2023-01-01",
		map[string]any{"location": "westus", "kind": "StorageV2", "sku": map[string]any{"name": "Standard_LRS"}}); resp.StatusCode != 200 {
		t.Fatalf("create the staging storage account: %d %v", resp.StatusCode, m)
	}
	rgID := "/subscriptions/" + e.Sub + "/resourceGroups/restore-rg"
	cf := testserver.Factory(e, armcompute.NewClientFactory)
	restoredDisks := func() []*armcompute.Disk {
		var out []*armcompute.Disk
		for p := range fixture.Pages(t, cf.NewDisksClient().NewListByResourceGroupPager("restore-rg", nil)) {
			out = append(out, p.Value...)
		}
		return out
	}
	// restore starts a restore of the point to the new VM vmName, held on
	// the replica that runs it once the VM is made; it answers that
	// replica and the job's name.
	restore := func(vmName string) (runner int, job string) {
		t.Helper()
		target := rgID + "/providers/Microsoft.Compute/virtualMachines/" + vmName
		for i := range c.reps {
			run(i, "fault", "add", "restore", "--name", "hold", "--path", "*/virtualMachines/"+vmName, "--latency", "10m", "--count", "1")
		}
		if _, err := bf.NewRestoresClient().BeginTrigger(ctx, vm.Vault, vm.RG, "Azure", vm.Container, vm.Item, point, armrecoveryservicesbackup.RestoreRequestResource{
			Properties: &armrecoveryservicesbackup.IaasVMRestoreRequest{RecoveryPointID: to.Ptr(point), RecoveryType: to.Ptr(armrecoveryservicesbackup.RecoveryTypeAlternateLocation),
				SourceResourceID: to.Ptr(vm.VMID), TargetVirtualMachineID: to.Ptr(target), TargetResourceGroupID: to.Ptr(rgID),
				StorageAccountID: to.Ptr("/subscriptions/" + e.Sub + "/resourceGroups/rs-rg/providers/Microsoft.Storage/storageAccounts/staging"),
				Region:           to.Ptr("westus"), OriginalStorageAccountOption: to.Ptr(false)}}, nil); err != nil {
			t.Fatal(err)
		}
		runner = -1
		testsvc.WaitWithin(t, 2*time.Minute, "a replica to hold the restore once its VM is made", func() bool {
			for i := range c.reps {
				if strings.Contains(run(i, "fault", "list", "-o", "json"), `"hits": 1`) {
					runner = i
					return true
				}
			}
			return false
		})
		var running []struct{ Name, Operation, Status string }
		if err := json.Unmarshal([]byte(run(1-runner, "job", "list", "--status", "InProgress", "-o", "json")), &running); err != nil || len(running) != 1 || running[0].Operation != "Restore" {
			t.Fatalf("the running jobs: %+v (%v)", running, err)
		}
		// The VM is made, over the two restored disks.
		if _, err := cf.NewVirtualMachinesClient().Get(ctx, "restore-rg", vmName, nil); err != nil {
			t.Fatalf("the held restore's VM: %v", err)
		}
		return runner, running[0].Name
	}
	kill := func(rep int) {
		c.reps[rep].cmd.Process.Kill()
		<-c.reps[rep].done
	}
	// wait waits for the job to end (job wait, which exits non-zero
	// unless it completes) and answers its status and error.
	wait := func(rep int, job string) (status, errs string) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 4*time.Minute)
		defer cancel()
		out, err := exec.CommandContext(wctx, c.bin, "job", "wait", job, "-o", "json", "--data-dir", c.reps[rep].dir).Output()
		if wctx.Err() != nil {
			t.Fatalf("job %s did not end within 4 minutes", job)
		}
		var j struct{ Status, Error string }
		if jerr := json.Unmarshal(out, &j); jerr != nil {
			t.Fatalf("safehold job wait %s: %v %v\n%s", job, err, jerr, out)
		}
		return j.Status, j.Error
	}

	var nvm armcompute.VirtualMachinesClientGetResponse
	if still {
		run(0, "clock", "advance", "1m")
	} else {
		nvm = restoreKilledRound1(t, c, restore, kill, wait, run, cf, restoredDisks, source)
	}
	// Round 2: killed once its VM is made, the restore is taken on by
	// the other replica, where it fails: the VM and its disks go.
	// The other replica's rules are set before the kill: it may take the
	// job on as soon as the task's lease lapses (--lease-ttl 10s after its
	// last renewal), and rules set after the kill could come too late on a
	// loaded machine (the job held there by its hold rule, then completed).
	runner, job := restore("app1-r2")
	other := 1 - runner
	run(other, "fault", "clear", "hold")
	run(other, "fault", "add", "restore", "--name", "fail", "--code", "UserErrorRestoreFailedByTheTest", "--message", "The test fails this restore.", "--count", "1")
	kill(runner)
	st, errs := wait(other, job)
	if st != "Failed" || !strings.Contains(errs, "The test fails this restore.") {
		t.Fatalf("the restore taken on where it fails: %s %s", st, errs)
	}
	c.start(c.reps[runner])
	c.ready(c.reps[runner])
	kept := 2 // round 1's
	if still {
		kept = 0
	}
	testsvc.WaitWithin(t, 2*time.Minute, "the failed restore's VM and disks to go", func() bool {
		_, err := cf.NewVirtualMachinesClient().Get(ctx, "restore-rg", "app1-r2", nil)
		return testserver.HasError(err, http.StatusNotFound, "") && len(restoredDisks()) == kept
	})
	for _, d := range restoredDisks() {
		if d.ManagedBy == nil || !strings.EqualFold(*d.ManagedBy, *nvm.ID) {
			t.Errorf("restore-rg holds disk %s (managed by %v): not one of app1-r1's", *d.ID, d.ManagedBy)
		}
	}
	if strings.Contains(errs, "kept") {
		t.Errorf("the failed restore's error names what it kept: %s", errs)
	}
}

func jsonOf(v any) string { b, _ := json.Marshal(v); return string(b) }

// restoreKilledRound1 is round 1 of TestRestoreToANewVMKilledMidRunEnds:
// killed once its VM is made, the restore is taken on and completes; it
// answers the restored VM.
func restoreKilledRound1(t *testing.T, c *replicaCluster, restore func(string) (int, string), kill func(int), wait func(int, string) (string, string),
	run func(int, ...string) string, cf *armcompute.ClientFactory, restoredDisks func() []*armcompute.Disk, source map[string]*diskImage) armcompute.VirtualMachinesClientGetResponse {
	e, ctx := c.env, context.Background()
	runner, job := restore("app1-r1")
	kill(runner)
	run(1-runner, "fault", "clear", "hold")
	c.start(c.reps[runner])
	c.ready(c.reps[runner])
	if st, errs := wait(1-runner, job); st != "Completed" {
		t.Fatalf("the restore killed once its VM was made: %s %s", st, errs)
	}
	nvm, err := cf.NewVirtualMachinesClient().Get(ctx, "restore-rg", "app1-r1", nil)
	if err != nil {
		t.Fatal(err)
	}
	sp := nvm.Properties.StorageProfile
	if sp.OSDisk == nil || sp.OSDisk.ManagedDisk == nil || len(sp.DataDisks) != 1 {
		t.Fatalf("the restored VM's disks: %s", jsonOf(sp))
	}
	if ds := restoredDisks(); len(ds) != 2 {
		t.Fatalf("restore-rg holds %d disks, want the VM's 2: %s", len(ds), jsonOf(ds))
	}
	dealloc, err := cf.NewVirtualMachinesClient().BeginDeallocate(ctx, "restore-rg", "app1-r1", nil)
	if _, err = fixture.Wait(dealloc, err); err != nil {
		t.Fatal(err)
	}
	if !readDisk(t, e, *sp.OSDisk.ManagedDisk.ID).equal(source["os"]) || !readDisk(t, e, *sp.DataDisks[0].ManagedDisk.ID).equal(source["data"]) {
		t.Fatal("the restored disks differ from the backed-up ones")
	}
	return nvm
}
