package compute_test

import (
	"fmt"
	"sync"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/safehold/safehold/internal/fixture"
)

// The same disk PUT from many clients at once is a create-or-update, as
// ARM's PUT is: the first to store the disk creates it and every other
// one updates it (200), whichever read the disk as absent first. None
// may fail with 409 "Disk ... already exists" (hostile31: 1 to 4 of 20
// identical PUTs of a new empty disk did), and one disk is left, with
// the tags of one of the PUTs.
func TestSameDiskPutAtOnceAllSucceed(t *testing.T) {
	e, ctx := start(t)
	const rounds, clients = 4, 16
	for round := range rounds {
		name := fmt.Sprintf("raced%d", round)
		var wg sync.WaitGroup
		errs := make([]error, clients)
		for i := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d := fixture.EmptyDisk("westus", 2)
				d.Tags = map[string]*string{"client": to.Ptr(fmt.Sprint(i))}
				_, errs[i] = fixture.Wait(e.disks.BeginCreateOrUpdate(ctx, e.rg, name, d, nil))
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d: PUT of client %d: %v", round, i, err)
			}
		}
		d, err := e.disks.Get(ctx, e.rg, name, nil)
		if err != nil {
			t.Fatal(err)
		}
		if *d.Properties.DiskSizeGB != 2 || *d.Properties.ProvisioningState != "Succeeded" || d.Tags["client"] == nil {
			t.Errorf("round %d: disk %s: size %d GB, state %s, tags %v", round, name, *d.Properties.DiskSizeGB, *d.Properties.ProvisioningState, d.Tags)
		}
	}
	n := 0
	for page := range fixture.Pages(t, e.disks.NewListByResourceGroupPager(e.rg, nil)) {
		n += len(page.Value)
	}
	if n != rounds {
		t.Errorf("%d disks in %s, want %d", n, e.rg, rounds)
	}
}
