package compute_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// redeleted is a resource type whose DELETE is a long-running operation:
// make (re)creates the resource name (and what it needs) and answers its
// identity (uniqueId, vmId).
type redeleted struct {
	name, url string
	make      func(e *env) string
}

func redeletedKinds(e *env) []redeleted {
	rg := "/subscriptions/" + e.Sub + "/resourceGroups/" + e.rg + "/providers/Microsoft.Compute/"
	return []redeleted{
		{"disk", rg + "disks/d1?api-version=2023-04-02", func(e *env) string {
			return *e.emptyDisk("d1", 1).Properties.UniqueID
		}},
		{"snapshot", rg + "snapshots/s1?api-version=2023-04-02", func(e *env) string {
			e.emptyDisk("src", 1)
			return *e.snapshot("s1", "src", false).Properties.UniqueID
		}},
		{"VM", rg + "virtualMachines/vm1?api-version=2024-03-01", func(e *env) string {
			e.emptyDisk("os1", 1)
			if err := e.putVMSized("vm1", "os1", "Standard_B1s"); err != nil {
				e.t.Fatalf("create vm1: %v", err)
			}
			v, err := e.vms.Get(e.Ctx(), e.rg, "vm1", nil)
			if err != nil {
				e.t.Fatal(err)
			}
			return *v.Properties.VMID
		}},
	}
}

// opEnd waits for the end of the operation whose Azure-AsyncOperation URL
// is status and answers its status.
func opEnd(e *env, status string) string {
	e.t.Helper()
	var st string
	e.WaitFor("the end of "+status, func() bool {
		_, m := e.Do("GET", status, nil)
		st, _ = m["status"].(string)
		return st != "InProgress"
	})
	return st
}

// identityOf answers the identity of the resource at url ("" if it is gone).
func identityOf(e *env, url string) string {
	e.t.Helper()
	resp, m := e.Do("GET", url, nil, testserver.AnyStatus())
	if resp.StatusCode == http.StatusNotFound {
		return ""
	}
	p, _ := m["properties"].(map[string]any)
	if resp.StatusCode != http.StatusOK || p == nil {
		e.t.Fatalf("GET %s: %d %v", url, resp.StatusCode, m)
	}
	for _, k := range []string{"uniqueId", "vmId"} {
		if id, ok := p[k].(string); ok {
			return id
		}
	}
	e.t.Fatalf("GET %s: no identity in %v", url, p)
	return ""
}

// A DELETE of a disk, snapshot or VM whose delete is pending answers the
// pending operation (the same polling URLs) instead of queueing another:
// a second operation that ran after the first had deleted the resource and
// a client made it again deleted the new one. The race is driven with the
// server's clock: the second DELETE is accepted later than the time the
// first runs, the resource is made again, then the clock reaches it.
// The Go SDK's poller of a DELETE answered that way ends Succeeded.
func TestDeleteTwiceOneOperation(t *testing.T) {
	fake := clock.NewFake(time.Now())
	e, ctx := start(t, testserver.WithClock(fake))
	for _, k := range redeletedKinds(e) {
		base := fake.Now()
		first := k.make(e)
		e.Server.Jobs.Stop()
		e.MoveClock(fake, base.Add(time.Hour))
		resp1, m := e.Do("DELETE", k.url, nil, testserver.AnyStatus())
		if resp1.StatusCode != http.StatusAccepted {
			t.Fatalf("%s: first delete: %d %v", k.name, resp1.StatusCode, m)
		}
		e.MoveClock(fake, base.Add(3*time.Hour))
		resp2, m := e.Do("DELETE", k.url, nil, testserver.AnyStatus())
		if resp2.StatusCode != http.StatusAccepted {
			t.Fatalf("%s: second delete: %d %v", k.name, resp2.StatusCode, m)
		}
		e.SameOperation(k.name+"'s two deletes", resp1, resp2)
		var sdkDone chan error
		if k.name == "disk" { // the Go SDK's poller of a third DELETE
			p, err := e.disks.BeginDelete(ctx, e.rg, "d1", nil)
			if err != nil {
				t.Fatalf("SDK delete of a disk being deleted: %v", err)
			}
			sdkDone = make(chan error, 1)
			go func() {
				_, err := p.PollUntilDone(ctx, fixture.Poll)
				sdkDone <- err
			}()
		}
		e.MoveClock(fake, base.Add(2*time.Hour))
		if err := e.Server.Jobs.Start(e.Ctx()); err != nil {
			t.Fatal(err)
		}
		if st := opEnd(e, resp1.Header.Get("Azure-AsyncOperation")); st != "Succeeded" {
			t.Fatalf("%s: the delete ended %s", k.name, st)
		}
		if id := identityOf(e, k.url); id != "" {
			t.Fatalf("%s: still there after its delete (%s)", k.name, id)
		}
		if sdkDone != nil {
			if err := <-sdkDone; err != nil {
				t.Errorf("the SDK's poller of a delete answered with the pending operation: %v", err)
			}
		}
		again := k.make(e)
		if again == first {
			t.Fatalf("%s: made again with the same identity %s", k.name, again)
		}
		e.MoveClock(fake, base.Add(4*time.Hour))
		if st := opEnd(e, resp2.Header.Get("Azure-AsyncOperation")); st != "Succeeded" {
			t.Fatalf("%s: the second delete ended %s", k.name, st)
		}
		e.Server.Jobs.WaitIdle(e.Ctx())
		if id := identityOf(e, k.url); id != again {
			t.Errorf("%s made again (%s) after its delete ran: now %q (a delete accepted for the one before deleted it)", k.name, again, id)
		}
	}
}

// A delete operation acts only on the resource it was accepted for: one
// still pending when its disk, snapshot or VM was deleted another way (its
// resource group's delete) and made again leaves the new one alone and
// ends Succeeded.
func TestDeleteLeavesAResourceMadeAgain(t *testing.T) {
	fake := clock.NewFake(time.Now())
	e, _ := start(t, testserver.WithClock(fake))
	kinds := redeletedKinds(e)
	base := fake.Now()
	first := map[string]string{}
	for _, k := range kinds {
		first[k.name] = k.make(e)
	}
	e.Server.Jobs.Stop()
	e.MoveClock(fake, base.Add(time.Hour))
	status := map[string]string{}
	for _, k := range kinds {
		resp, m := e.Do("DELETE", k.url, nil, testserver.AnyStatus())
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("%s: delete: %d %v", k.name, resp.StatusCode, m)
		}
		status[k.name] = resp.Header.Get("Azure-AsyncOperation")
	}
	// The deletes wait for their hour; the group's delete removes all now.
	e.MoveClock(fake, base)
	if err := e.Server.Jobs.Start(e.Ctx()); err != nil {
		t.Fatal(err)
	}
	group := "/subscriptions/" + e.Sub + "/resourcegroups/" + e.rg + "?api-version=2021-04-01"
	resp, m := e.Do("DELETE", group, nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delete the group: %d %v", resp.StatusCode, m)
	}
	e.WaitFor("the group's delete", func() bool {
		resp, _ := e.Do("GET", group, nil, testserver.AnyStatus())
		return resp.StatusCode == http.StatusNotFound
	})
	e.ResourceGroups(e.rg)
	again := map[string]string{}
	for _, k := range kinds {
		if id := identityOf(e, k.url); id != "" {
			t.Fatalf("%s: still there after its group's delete (%s)", k.name, id)
		}
		again[k.name] = k.make(e)
	}
	e.MoveClock(fake, base.Add(2*time.Hour))
	for _, k := range kinds {
		if st := opEnd(e, status[k.name]); st != "Succeeded" {
			t.Errorf("%s: the delete accepted for %s ended %s", k.name, first[k.name], st)
		}
		if id := identityOf(e, k.url); id != again[k.name] {
			t.Errorf("%s made again (%s): now %q after the delete accepted for %s ran", k.name, again[k.name], id, first[k.name])
		}
	}
	// And it can be deleted as usual.
	if _, err := fixture.Wait(e.vms.BeginDelete(e.Ctx(), e.rg, "vm1", nil)); err != nil {
		t.Fatal(err)
	}
	if _, err := fixture.Wait(e.disks.BeginDelete(e.Ctx(), e.rg, "d1", nil)); err != nil {
		t.Fatal(err)
	}
	if id := identityOf(e, kinds[0].url); id != "" {
		t.Fatalf("d1 kept after its delete (%s)", id)
	}
}
