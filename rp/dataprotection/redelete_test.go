package dataprotection_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/ops"
)

// A DELETE of a backup instance being deleted (Deleting) answers the
// operation deleting it (the same polling URLs) instead of queueing
// another, which ran after the first had deleted the instance and a client
// protected the disk again under that name, and deleted the new instance
// with its backups. The race is driven with the server's clock: the second
// DELETE is accepted later than the time the first runs, the instance is
// made again, then the clock reaches it.
func TestDeleteInstanceTwiceOneOperation(t *testing.T) {
	start := time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)
	fake := clock.NewFake(start)
	e := testserver.Start(t, testserver.WithClock(fake))
	biPath, _, diskID := protectDisk(t, e, "P1D", "P7D", "")
	vaultPath := v1Path(e)
	patchVault(t, e, vaultPath+dpAPI, `{"properties":{"securitySettings":{"softDeleteSettings":{"state":"Off"}}}}`)
	e.Server.Jobs.Stop()
	e.MoveClock(fake, start.Add(time.Hour))
	r1, m := e.Do("DELETE", biPath+dpAPI, nil)
	if r1.StatusCode != http.StatusAccepted {
		t.Fatalf("first delete: %d %v", r1.StatusCode, m)
	}
	e.MoveClock(fake, start.Add(3*time.Hour))
	r2, m := e.Do("DELETE", biPath+dpAPI, nil)
	if r2.StatusCode != http.StatusAccepted {
		t.Fatalf("second delete: %d %v", r2.StatusCode, m)
	}
	e.SameOperation("two deletes", r1, r2)
	e.MoveClock(fake, start.Add(2*time.Hour))
	if err := e.Server.Jobs.Start(e.Ctx()); err != nil {
		t.Fatal(err)
	}
	if st := e.Poll(r1.Header.Get("Azure-AsyncOperation")); st["status"] != "Succeeded" {
		t.Fatalf("delete: %v", st)
	}
	if resp, m := e.Do("GET", biPath+dpAPI, nil, testserver.AnyStatus()); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the instance after its delete: %d %v", resp.StatusCode, m)
	}
	putInstance(t, e, "d1-bi", diskID) // protected again
	e.MoveClock(fake, start.Add(4*time.Hour))
	if st := e.Poll(r2.Header.Get("Azure-AsyncOperation")); st["status"] != "Succeeded" {
		t.Fatalf("second delete: %v", st)
	}
	e.Server.Jobs.WaitIdle(e.Ctx())
	resp, bi := e.Do("GET", biPath+dpAPI, nil, testserver.AnyStatus())
	if resp.StatusCode != http.StatusOK || testserver.Field(bi, "properties.provisioningState") != "Succeeded" {
		t.Fatalf("the instance made again, once every delete ran: %d %v", resp.StatusCode, bi)
	}
}

// A DELETE accepted while the instance's configuration still waits to run
// deletes the instance: the configuration that runs first finds it
// Deleting and leaves it so (it used to set it Succeeded and schedule its
// backups, and the delete then took it for one made again and left it,
// protected, ending Succeeded). The order is driven with the server's
// clock: the configuration is due before the delete.
func TestDeleteInstanceWhileItsConfigurationWaits(t *testing.T) {
	start := time.Date(2026, 1, 1, 1, 0, 0, 0, time.UTC)
	fake := clock.NewFake(start)
	e := testserver.Start(t, testserver.WithClock(fake))
	biPath, _, diskID := protectDisk(t, e, "P1D", "P7D", "")
	patchVault(t, e, v1Path(e)+dpAPI, `{"properties":{"securitySettings":{"softDeleteSettings":{"state":"Off"}}}}`)
	deleteInstance(t, e, biPath, dpAPI)
	e.Server.Jobs.Stop()
	e.MoveClock(fake, start.Add(time.Hour))
	put, _ := startInstance(t, e, "d1-bi", diskID)
	e.MoveClock(fake, start.Add(3*time.Hour))
	del, m := e.Do("DELETE", biPath+dpAPI, nil)
	if del.StatusCode != http.StatusAccepted {
		t.Fatalf("delete: %d %v", del.StatusCode, m)
	}
	e.MoveClock(fake, start.Add(2*time.Hour)) // the configuration is due, the delete not yet
	if err := e.Server.Jobs.Start(e.Ctx()); err != nil {
		t.Fatal(err)
	}
	if st := e.Poll(put.Header.Get("Azure-AsyncOperation")); st["status"] == "Succeeded" {
		if resp, bi := e.Do("GET", biPath+dpAPI, nil, testserver.AnyStatus()); testserver.Field(bi, "properties.provisioningState") != "Deleting" {
			t.Errorf("the instance being deleted, once its configuration ran: %d %v", resp.StatusCode, bi)
		}
	}
	e.MoveClock(fake, start.Add(4*time.Hour))
	if st := e.Poll(del.Header.Get("Azure-AsyncOperation")); st["status"] != "Succeeded" {
		t.Fatalf("delete: %v", st)
	}
	if resp, bi := e.Do("GET", biPath+dpAPI, nil, testserver.AnyStatus()); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("the instance after its delete Succeeded: %d %v", resp.StatusCode, bi)
	}
}

// A delete operation of a backup instance accepted by the release before
// pending records (no record, the instance's name only in its input) that
// runs when the instance is no longer Deleting (another delete removed it
// and the disk was protected again) leaves the instance alone and ends
// Succeeded. The operation is started as that release stored it.
func TestDeleteInstanceOperationLeavesAnInstanceMadeAgain(t *testing.T) {
	e := testserver.Start(t)
	biPath, biID, _ := protectDisk(t, e, "P1D", "P7D", "")
	op := &ops.Operation{Kind: "dataprotection.deleteInstance", ResourceID: biID}
	if err := e.Server.Platform.Ops.Launch(e.Ctx(), op, map[string]string{"instanceId": biID}, nil); err != nil {
		t.Fatal(err)
	}
	if st := e.Poll("/subscriptions/" + e.Sub + "/providers/Microsoft.DataProtection/locations/westus/operationStatus/" + op.ID + dpAPI); st["status"] != "Succeeded" {
		t.Fatalf("the delete: %v", st)
	}
	resp, bi := e.Do("GET", biPath+dpAPI, nil, testserver.AnyStatus())
	if resp.StatusCode != http.StatusOK || testserver.Field(bi, "properties.provisioningState") != "Succeeded" {
		t.Fatalf("the instance, not Deleting, after a delete operation for its name ran: %d %v", resp.StatusCode, bi)
	}
}
