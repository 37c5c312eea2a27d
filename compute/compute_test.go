package compute_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/blob/local"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/failure"
	"github.com/safehold/safehold/snapshot"
)

// TestDomainSnapshotAndVaultRestore drives the domain API the vault
// providers use: disks, a VM, SnapshotVM, copying a snapshot to another
// repository and restoring from it as a new disk.
func TestDomainSnapshotAndVaultRestore(t *testing.T) {
	s := newService(t)
	ctx := context.Background()
	var ids []string
	for _, n := range []string{"os", "data"} {
		d, err := s.CreateDisk(ctx, compute.DiskSpec{ID: diskID(n), Location: "westus", CreateOption: "Empty", SizeBytes: 8 << 20})
		if err != nil {
			t.Fatal(err)
		}
		if d.SizeBytes != 8<<20 || d.DiskState != compute.StateUnattached || d.UniqueID == "" {
			t.Fatalf("disk: %+v", d)
		}
		ids = append(ids, d.ID)
	}
	if _, err := s.CreateDisk(ctx, compute.DiskSpec{ID: diskID("os"), Location: "westus", CreateOption: "Empty", SizeBytes: 1 << 20}); !isStatus(err, http.StatusConflict) {
		t.Fatalf("duplicate disk: %v", err)
	}
	vmID := "/subscriptions/" + sub + "/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm"
	vm, err := s.CreateVM(ctx, compute.VMSpec{ID: vmID, Location: "westus", OSDiskID: ids[0], DataDisks: []compute.VMDataDisk{{Lun: 0, DiskID: ids[1]}}})
	if err != nil {
		t.Fatal(err)
	}
	if vm.OSDiskID != ids[0] || len(vm.DataDiskIDs) != 1 || vm.VMID == "" || vm.PowerState != compute.PowerRunning {
		t.Fatalf("vm: %+v", vm)
	}
	if d, _ := s.Disk(ctx, ids[1]); d.DiskState != compute.StateAttached || d.ManagedBy != vmID {
		t.Fatalf("attached disk: %+v", d)
	}
	if vms, err := s.ListVMs(ctx, sub); err != nil || len(vms) != 1 {
		t.Fatalf("list vms: %v %d", err, len(vms))
	}
	v, _ := s.Volume(ctx, ids[1])
	v.WriteAt(bytes.Repeat([]byte{3}, 100000), 12345)
	var last [2]int64
	sns, err := s.SnapshotVM(ctx, vmID, true, map[string]string{ids[0]: snapID("s-os"), ids[1]: snapID("s-data")}, nil,
		func(done, total, _ int64) { last = [2]int64{done, total} })
	if err != nil {
		t.Fatal(err)
	}
	if len(sns) != 2 || sns[1].SourceDiskID != ids[1] || sns[1].EngineID == "" || last[0] != last[1] || last[1] != 16<<20 {
		t.Fatalf("snapshots: %+v progress %v", sns, last)
	}
	got, err := s.Snapshot(ctx, sns[1].ID)
	if err != nil || got.EngineID != sns[1].EngineID || !got.Incremental {
		t.Fatalf("snapshot: %v %+v", err, got)
	}
	vaultBe, _ := local.Open(filepath.Join(t.TempDir(), "vault"))
	vault, err := snapshot.Open(ctx, vaultBe, filepath.Join(t.TempDir(), "cache"), snapshot.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer vault.Close()
	if _, err := s.Repository().CopyTo(ctx, sns[1].EngineID, vault); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSnapshot(ctx, sns[1].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Snapshot(ctx, sns[1].ID); !isStatus(err, http.StatusNotFound) {
		t.Fatalf("deleted snapshot: %v", err)
	}
	r, err := s.CreateDiskFromRepository(ctx, vault, sns[1].EngineID, diskID("restored"), "westus", map[string]string{"from": "vault"}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	rv, _ := s.Volume(ctx, r.ID)
	want, gotb := make([]byte, 8<<20), make([]byte, 8<<20)
	v.ReadAt(want, 0)
	rv.ReadAt(gotb, 0)
	if !bytes.Equal(want, gotb) || r.Tags["from"] != "vault" {
		t.Fatal("disk restored from the vault differs")
	}
	if _, err := s.CreateDiskFromSnapshot(ctx, sns[0].ID, diskID("restored"), "", nil, nil, nil); !isStatus(err, http.StatusConflict) {
		t.Fatalf("restore onto an existing disk: %v", err)
	}
	if _, err := s.CreateDiskFromSnapshot(ctx, sns[0].ID, diskID("os2"), "", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	// A copied snapshot outlives its source.
	cp, err := s.CopySnapshot(ctx, sns[0].ID, snapID("s-os-copy"), "", nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSnapshot(ctx, sns[0].ID); err != nil {
		t.Fatal(err)
	}
	c, err := s.CreateDiskFromSnapshot(ctx, cp.ID, diskID("os3"), "", nil, nil, nil)
	if err != nil || c.SizeBytes != 8<<20 {
		t.Fatalf("disk from a copied snapshot: %v", err)
	}
	if err := s.DeleteDisk(ctx, ids[0]); !isStatus(err, http.StatusConflict) {
		t.Fatalf("delete attached disk: %v", err)
	}
	if err := s.DeleteVM(ctx, vmID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteDisk(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
}

// isStatus reports whether err is a typed domain error (*failure.Error) that
// the faces write with status.
func isStatus(err error, status int) bool {
	var fe *failure.Error
	var ae *arm.Error
	return errors.As(err, &fe) && arm.As(err, &ae) && ae.Status == status
}

func TestImportDirRestriction(t *testing.T) {
	allowed, other := t.TempDir(), t.TempDir()
	s := newServiceOpts(t, compute.Options{ImportDir: allowed})
	ctx := context.Background()
	for _, dir := range []string{allowed, other} {
		f, _ := os.Create(filepath.Join(dir, "img.raw"))
		f.Truncate(1 << 20)
		f.WriteAt([]byte("hello"), 4096)
		f.Close()
	}
	if _, err := s.CreateDisk(ctx, compute.DiskSpec{ID: diskID("a"), Location: "westus", CreateOption: "Import", SourceURI: "img.raw"}); err != nil {
		t.Fatalf("import inside the import dir: %v", err)
	}
	if _, err := s.CreateDisk(ctx, compute.DiskSpec{ID: diskID("b"), Location: "westus", CreateOption: "Import", SourceURI: "file://" + filepath.Join(other, "img.raw")}); !isStatus(err, http.StatusBadRequest) {
		t.Fatalf("import outside the import dir: %v", err)
	}
	if _, err := s.CreateDisk(ctx, compute.DiskSpec{ID: diskID("c"), Location: "westus", CreateOption: "Import", SourceURI: "../" + filepath.Base(other) + "/img.raw"}); !isStatus(err, http.StatusBadRequest) {
		t.Fatalf("import escaping the import dir: %v", err)
	}
	v, _ := s.Volume(ctx, diskID("a"))
	p := make([]byte, 5)
	v.ReadAt(p, 4096)
	if string(p) != "hello" {
		t.Fatalf("imported content %q", p)
	}
}

func TestImportFixedVHDDropsFooter(t *testing.T) {
	imp := t.TempDir()
	s := newServiceOpts(t, compute.Options{ImportDir: imp})
	ctx := context.Background()
	path := filepath.Join(imp, "disk.vhd")
	f, _ := os.Create(path)
	f.Truncate(4<<20 + 512)
	f.WriteAt([]byte("data"), 100)
	footer := make([]byte, 512)
	copy(footer, "conectix")
	footer[63] = 2 // fixed
	f.WriteAt(footer, 4<<20)
	f.Close()
	d, err := s.CreateDisk(ctx, compute.DiskSpec{ID: diskID("vhd"), Location: "westus", CreateOption: "Import", SourceURI: "file://" + path})
	if err != nil {
		t.Fatal(err)
	}
	if d.SizeBytes != 4<<20 {
		t.Fatalf("imported VHD size %d, want the data without the footer", d.SizeBytes)
	}
}
