package deployments

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// BenchmarkHistory: what a deployment's PUT reads of its group's history
// of 600 deployments (each with a template of about 8 KiB), on SQLite:
// every deployment decoded (read, before) or counted, the name looked for
// (count, now).
func BenchmarkHistory(b *testing.B) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(b.TempDir(), "db"), clock.Real{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	resources := []any{}
	for i := range 20 {
		resources = append(resources, map[string]any{"type": "Microsoft.Compute/disks", "apiVersion": "2023-04-02", "name": fmt.Sprintf("[concat(parameters('prefix'), '-disk%d')]", i),
			"location": "[resourceGroup().location]", "sku": map[string]any{"name": "Standard_LRS"}, "tags": map[string]any{"purpose": "[variables('purpose')]"},
			"properties": map[string]any{"creationData": map[string]any{"createOption": "Empty"}, "diskSizeGB": "[parameters('sizeGB')]"}})
	}
	tmpl := map[string]any{"$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#", "contentVersion": "1.0.0.0", "resources": resources}
	const sub, group = "00000000-0000-0000-0000-000000000001", "hist"
	g := &resource.ResourceGroup{ID: mustGroup(sub, group).String(), Name: group, Type: "Microsoft.Resources/resourceGroups", Location: "westus"}
	if err := st.Update(ctx, func(tx store.Tx) error { return resource.Put(ctx, tx, mustGroup(sub, group), g) }); err != nil {
		b.Fatal(err)
	}
	for i := range 600 {
		id := deploymentID(sub, group, fmt.Sprintf("dep%d", i))
		s := &stored{Deployment: Deployment{ID: id.String(), Name: id.Name(), Type: typeName, Properties: Properties{Mode: "Incremental", ProvisioningState: "Succeeded", Timestamp: time.Now()}},
			Run: runState{Template: tmpl}}
		if err := st.Update(ctx, func(tx store.Tx) error { return resource.Put(ctx, tx, id, s) }); err != nil {
			b.Fatal(err)
		}
	}
	pr := &Provider{p: &resource.Platform{Store: st}}
	b.Run("read", func(b *testing.B) {
		for b.Loop() {
			if all, err := pr.history(ctx, sub, group); err != nil || len(all) != 600 {
				b.Fatal(len(all), err)
			}
		}
	})
	b.Run("count", func(b *testing.B) {
		for b.Loop() {
			if n, has, err := pr.historyCount(ctx, sub, group, "dep7"); err != nil || n != 600 || !has {
				b.Fatal(n, has, err)
			}
		}
	})
}
