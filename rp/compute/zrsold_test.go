package compute_test

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// TestZonalZRSDiskStoredBeforeTakesItsOwnBody: a Premium_ZRS disk in
// zone 1, as Safehold stored one before zone-redundant skus were refused
// zones (8decf0f), takes a PUT of its own GET body (200, nothing changed),
// as does the zonal VM it is the OS disk of, and the disk again once
// attached. (Reported as 409 in session 25; not reproduced at 8decf0f or
// since: this keeps it so.)
func TestZonalZRSDiskStoredBeforeTakesItsOwnBody(t *testing.T) {
	e, ctx := start(t)
	d := fixture.EmptyDisk("eastus2", 1)
	d.Zones = to.SliceOfPtrs("1")
	e.putDisk("oldzrs", d)
	rid, err := arm.ParseID(e.diskID("oldzrs"))
	if err != nil {
		t.Fatal(err)
	}
	// The document as the code before 8decf0f wrote a zonal Premium_ZRS disk.
	if err := e.Server.Store.Update(ctx, func(tx store.Tx) error {
		var doc map[string]any
		if err := resource.Get(ctx, tx, rid, &doc); err != nil {
			return err
		}
		doc["sku"] = map[string]any{"name": "Premium_ZRS", "tier": "Premium"}
		return resource.Put(ctx, tx, rid, doc)
	}); err != nil {
		t.Fatal(err)
	}
	putOwn := func(what, path string) {
		t.Helper()
		resp, before := e.Do("GET", path, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %v", what, resp.StatusCode, before)
		}
		if resp, m := e.Do("PUT", path, before); resp.StatusCode != http.StatusOK {
			t.Fatalf("PUT of %s's own GET body: %d %v", what, resp.StatusCode, m)
		}
		if _, after := e.Do("GET", path, nil); !reflect.DeepEqual(after, before) {
			t.Fatalf("PUT of %s's own GET body changed it:\n%v\nto\n%v", what, before, after)
		}
	}
	disk := e.diskID("oldzrs") + "?api-version=2024-03-02"
	putOwn("the disk", disk)
	vm := "/subscriptions/" + e.Sub + "/resourceGroups/rg1/providers/Microsoft.Compute/virtualMachines/zvm?api-version=2024-11-01"
	if resp, m := e.Do("PUT", vm, map[string]any{"location": "eastus2", "zones": []string{"1"}, "properties": map[string]any{
		"hardwareProfile": map[string]any{"vmSize": "Standard_D2s_v3"},
		"storageProfile":  map[string]any{"osDisk": map[string]any{"osType": "Linux", "createOption": "Attach", "managedDisk": map[string]any{"id": e.diskID("oldzrs")}}}}}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("a zonal VM on the disk: %d %v", resp.StatusCode, m)
	}
	putOwn("the VM", vm)
	putOwn("the attached disk", disk)
}
