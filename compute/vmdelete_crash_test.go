package compute_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/safehold/safehold/compute"
)

const (
	vmDeleteCrashDirEnv = "SAFEHOLD_VMDELETE_CRASH_DIR"
	crashVMs            = 24
	crashVMDisks        = 5 // an OS disk and four data disks, deleteOption Delete
)

func crashVMID(i int) string {
	return fmt.Sprintf("/subscriptions/%s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm%d", sub, i)
}

func crashVMDisk(i, j int) string { return diskID(fmt.Sprintf("vm%d-d%d", i, j)) }

// TestVMDeleteCrashChild is the process TestKill9DuringVMDeletes kills: it
// makes VMs whose disks all have deleteOption Delete, then deletes them
// one after the other until killed.
func TestVMDeleteCrashChild(t *testing.T) {
	dir := os.Getenv(vmDeleteCrashDirEnv)
	if dir == "" {
		t.Skip("run by TestKill9DuringVMDeletes")
	}
	s, _ := openServiceAt(t, dir)
	ctx := context.Background()
	for i := range crashVMs {
		spec := compute.VMSpec{ID: crashVMID(i), Location: "westus", OSDiskDeleteOption: "Delete"}
		for j := range crashVMDisks {
			if _, err := s.CreateDisk(ctx, compute.DiskSpec{ID: crashVMDisk(i, j), Location: "westus", CreateOption: "Empty", SizeBytes: 1 << 20}); err != nil {
				t.Fatal(err)
			}
			if j == 0 {
				spec.OSDiskID = crashVMDisk(i, j)
			} else {
				spec.DataDisks = append(spec.DataDisks, compute.VMDataDisk{Lun: int32(j), DiskID: crashVMDisk(i, j), DeleteOption: "Delete"})
			}
		}
		if _, err := s.CreateVM(ctx, spec); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Println("ready")
	for i := range crashVMs {
		if err := s.DeleteVM(ctx, crashVMID(i)); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Println("done")
	select {}
}

// TestKill9DuringVMDeletes SIGKILLs a process while it deletes VMs whose
// disks have deleteOption Delete, then reopens its data dir: each VM is
// either there with all its disks attached, or gone with all its disks
// (never gone with some of its disks left behind), and no volume outlives
// its disk once the service has started again.
func TestKill9DuringVMDeletes(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	for round := range 3 {
		dir := t.TempDir()
		killWhenReady(t, "TestVMDeleteCrashChild", vmDeleteCrashDirEnv+"="+dir, 20, 170)

		s, closeFn := openServiceAt(t, dir)
		ctx := context.Background()
		gone := 0
		for i := range crashVMs {
			_, vmErr := s.VMResource(ctx, crashVMID(i))
			for j := range crashVMDisks {
				d, err := s.DiskResource(ctx, crashVMDisk(i, j))
				switch {
				case vmErr == nil && (err != nil || !strings.EqualFold(d.ManagedBy, crashVMID(i))):
					t.Errorf("round %d: vm%d is there, but its disk d%d is not attached to it (%v)", round, i, j, err)
				case vmErr != nil && err == nil:
					t.Errorf("round %d: vm%d was deleted, but its disk d%d (deleteOption Delete) is still there", round, i, j)
				}
			}
			if vmErr != nil {
				gone++
			}
		}
		disks, err := s.AllDisks(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ents, err := os.ReadDir(dir + "/volumes")
		if err != nil {
			t.Fatal(err)
		}
		vols := 0
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".raw") {
				vols++
			}
		}
		if vols != len(disks) {
			t.Errorf("round %d: %d volumes for %d disks after the start", round, vols, len(disks))
		}
		t.Logf("round %d: %d of %d VMs deleted before the kill", round, gone, crashVMs)
		closeFn()
	}
}
