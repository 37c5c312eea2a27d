package compute_test

import (
	"errors"
	"net/http"

	"fmt"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
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

// A create-only PUT (If-None-Match: *) of one new disk from many clients
// at once creates it once: every other one is 412 PreconditionFailed,
// also one that read the disk as absent and lost its creation to another
// (it must not then update the disk, as a PUT without the header does).
// Before, such a raced PUT updated the disk the other had just created
// (more than one 200 in a round).
func TestSameDiskCreateOnlyAtOnceCreatesOnce(t *testing.T) {
	e, ctx := start(t)
	ctx = policy.WithHTTPHeader(ctx, http.Header{"If-None-Match": []string{"*"}})
	const rounds, clients = 6, 16
	for round := range rounds {
		name := fmt.Sprintf("createonly%d", round)
		var wg sync.WaitGroup
		errs := make([]error, clients)
		for i := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = fixture.Wait(e.disks.BeginCreateOrUpdate(ctx, e.rg, name, fixture.EmptyDisk("westus", 2), nil))
			}()
		}
		wg.Wait()
		ok := 0
		for i, err := range errs {
			var re *azcore.ResponseError
			switch {
			case err == nil:
				ok++
			case !errors.As(err, &re) || re.StatusCode != http.StatusPreconditionFailed:
				t.Errorf("round %d: create-only PUT of client %d: %v", round, i, err)
			}
		}
		if ok != 1 {
			t.Errorf("round %d: %d create-only PUTs of one new disk succeeded, want 1", round, ok)
		}
	}
}

// PUTs and DELETEs of one disk at once (raw requests, as curl sends
// them): every PUT succeeds, creating the disk again when a DELETE removed
// it while the PUT updated it, or updating it when another PUT created it
// first. Before, such a PUT answered 404 ResourceNotFound (the disk it was
// updating deleted under it) or 409 Conflict "already exists" (created
// again under it after its first retry): 2 of 60 PUTs mixed with 60
// DELETEs, hostile31.
func TestDiskPutAndDeleteAtOnce(t *testing.T) {
	e, ctx := start(t)
	const rounds, clients = 12, 24
	body := `{"location":"westus","properties":{"creationData":{"createOption":"Empty"},"diskSizeGB":1}}`
	for round := range rounds {
		name := fmt.Sprintf("mixed%d", round)
		e.emptyDisk(name, 1)
		path := e.diskID(name) + "?api-version=2024-03-02"
		var wg sync.WaitGroup
		codes := make([]string, clients)
		for i := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if i%2 == 1 {
					resp, _ := e.Do("DELETE", path, nil)
					if resp.StatusCode >= 300 {
						codes[i] = fmt.Sprintf("DELETE %d", resp.StatusCode)
					}
					return
				}
				resp, m := e.Do("PUT", path, body)
				if resp.StatusCode >= 300 {
					codes[i] = fmt.Sprintf("PUT %d %v", resp.StatusCode, m)
				}
			}()
		}
		wg.Wait()
		for i, c := range codes {
			if c != "" {
				t.Errorf("round %d, client %d: %s", round, i, c)
			}
		}
		e.WaitFor("the deletes", func() bool {
			d, err := e.disks.Get(ctx, e.rg, name, nil)
			return err != nil || *d.Properties.ProvisioningState == "Succeeded"
		})
	}
}
