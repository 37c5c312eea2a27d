package main

import (
	"context"
	"strings"
	"testing"

	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/internal/testserver"
)

// TestQuotaCLI: safehold quota set lowers a region's vCPU limit, show
// reports it with the use of the region's VMs, and a VM beyond it is
// refused by the server with Azure's quota error; default restores it.
func TestQuotaCLI(t *testing.T) {
	e := testserver.StartWithGroups(t, "rg1")
	ctx := context.Background()
	cs := e.Server.Compute
	base := "/subscriptions/" + e.Sub + "/resourceGroups/rg1/providers/Microsoft.Compute/"
	n := 0
	vm := func(name string) error {
		n++
		d, err := cs.CreateDisk(ctx, compute.DiskSpec{ID: base + "disks/" + name + "-os" + strings.Repeat("x", n), Location: "westus", CreateOption: "Empty", SizeBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		_, err = cs.CreateVM(ctx, compute.VMSpec{ID: base + "virtualMachines/" + name, Location: "westus", OSDiskID: d.ID, VMSize: "Standard_D2s_v3"})
		return err
	}
	if err := vm("vm1"); err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, e, "quota", "set", "westus", "cores=3")
	if !strings.Contains(out, "Total Regional vCPUs") || !strings.Contains(out, "standardDSv3Family") {
		t.Fatalf("quota set:\n%s", out)
	}
	line := func(out, name string) string {
		for _, l := range strings.Split(out, "\n") {
			if f := strings.Fields(l); len(f) > 0 && f[0] == name {
				return strings.Join(append(f[:1:1], f[len(f)-2:]...), " ")
			}
		}
		return ""
	}
	if got := line(mustRun(t, e, "quota", "show", "westus"), "cores"); got != "cores 2 3" {
		t.Fatalf("quota show cores: %q", got)
	}
	if err := vm("vm2"); err == nil || !strings.Contains(err.Error(), "Total Regional Cores quota") {
		t.Fatalf("a VM beyond the CLI's limit: %v", err)
	}
	if _, err := run(t, e, nil, "quota", "set", "westus", "cores=lots"); err == nil {
		t.Fatal("cores=lots accepted")
	}
	mustRun(t, e, "quota", "set", "westus", "cores=default")
	if got := line(mustRun(t, e, "quota", "show", "westus"), "cores"); got != "cores 2 10000" {
		t.Fatalf("quota show after default: %q", got)
	}
	if err := vm("vm2"); err != nil {
		t.Fatal(err)
	}
}
