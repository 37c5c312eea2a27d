package recoveryservices_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/store"
)

// BenchmarkRSItemList lists the protected items of a vault with 100 VMs
// protected, each with 10 recovery points (written to the store as a
// backup writes them; backing up 100 VMs would only slow the setup), a
// page of the list's 200 per request. SAFEHOLD_TEST_STORE=postgres runs it
// on PostgreSQL, where each read of the list is a round trip.
//
//	go test ./rp/recoveryservices -run '^$' -bench RSItemList -benchtime 50x
func BenchmarkRSItemList(b *testing.B) {
	const items, points = 100, 10
	e := testserver.StartWithGroups(b, "vmrg", "vaultrg")
	ctx := context.Background()
	R := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/rv"
	if resp, m := e.Do("PUT", R+rsAPI, map[string]any{"location": "westus", "sku": map[string]any{"name": "Standard"}}); resp.StatusCode != 201 {
		b.Fatalf("vault: %d %v", resp.StatusCode, m)
	}
	cs := e.Server.Compute
	base := "/subscriptions/" + e.Sub + "/resourceGroups/vmrg/providers/Microsoft.Compute/"
	for i := range items {
		name := fmt.Sprintf("vm%03d", i)
		os, err := cs.CreateDisk(ctx, compute.DiskSpec{ID: base + "disks/" + name + "-os", Location: "westus", CreateOption: "Empty", SizeBytes: 1 << 20, OSType: "Linux"})
		if err != nil {
			b.Fatal(err)
		}
		vm, err := cs.CreateVM(ctx, compute.VMSpec{ID: base + "virtualMachines/" + name, Location: "westus", OSDiskID: os.ID, OSType: "Linux",
			VMSize: "Standard_D2s_v3", HardwareProfile: map[string]any{"vmSize": "Standard_D2s_v3"}})
		if err != nil {
			b.Fatal(err)
		}
		item := R + "/backupFabrics/Azure/protectionContainers/IaasVMContainer;iaasvmcontainerv2;vmrg;" + name + "/protectedItems/VM;iaasvmcontainerv2;vmrg;" + name
		if resp, m := e.Do("PUT", item+rsAPI, map[string]any{"properties": map[string]any{"protectedItemType": "Microsoft.Compute/virtualMachines",
			"sourceResourceId": vm.ID, "policyId": R + "/backupPolicies/DefaultPolicy"}}); resp.StatusCode != 202 {
			b.Fatalf("protect %s: %d %v", name, resp.StatusCode, m)
		}
	}
	// Each item's points, as a backup records them (under the item's id
	// as its record has it: read back from the list).
	resp, m := e.Do("GET", R+"/backupProtectedItems"+rsAPI, nil)
	if resp.StatusCode != 200 {
		b.Fatalf("list: %d %v", resp.StatusCode, m)
	}
	listed, _ := m["value"].([]any)
	if len(listed) != items {
		b.Fatalf("%d items listed, want %d", len(listed), items)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := e.Server.Store.Update(ctx, func(tx store.Tx) error {
		for _, v := range listed {
			id := v.(map[string]any)["id"].(string)
			for k := range points {
				at := t0.Add(time.Duration(k) * 24 * time.Hour)
				tiers := []string{protection.TierOperational}
				if k < points-2 {
					tiers = append(tiers, protection.TierVault)
				}
				p := &protection.RecoveryPoint{ID: protection.PointID(id, at.String()), VaultID: R, ItemID: id, Time: at, Type: "AppConsistent", Tiers: tiers,
					Snapshots:    []protection.DiskSnapshot{{DiskID: base + "disks/x-os", SnapshotID: base + "snapshots/x" + fmt.Sprint(k), Lun: -1, SizeBytes: 1 << 20, OSDisk: true}},
					RetentionTag: "Daily", Created: at}
				if err := protection.PutRecoveryPoint(ctx, tx, p); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	check := func() {
		resp, m := e.Do("GET", R+"/backupProtectedItems"+rsAPI, nil)
		listed, _ := m["value"].([]any)
		if resp.StatusCode != 200 || len(listed) != items {
			b.Fatalf("list: %d, %d items", resp.StatusCode, len(listed))
		}
		for _, v := range listed {
			ext, _ := testserver.Field(v.(map[string]any), "properties.extendedInfo").(map[string]any)
			if ext["recoveryPointCount"] != float64(points) || !strings.HasPrefix(fmt.Sprint(ext["oldestRecoveryPoint"]), "2026-01-01T00:00:00") ||
				!strings.HasPrefix(fmt.Sprint(ext["oldestRecoveryPointInVault"]), "2026-01-01T00:00:00") {
				b.Fatalf("item %v: extendedInfo %v", testserver.Field(v.(map[string]any), "id"), ext)
			}
		}
	}
	check()
	b.ResetTimer()
	for range b.N {
		resp, _ := e.Do("GET", R+"/backupProtectedItems"+rsAPI, nil)
		if resp.StatusCode != 200 {
			b.Fatal(resp.StatusCode)
		}
	}
}
