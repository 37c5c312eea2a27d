package clients_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
)

// TestAzCLIDeleteTwice: az disk delete of a disk whose delete is pending
// (az disk delete --no-wait, the job runner held) is answered with the
// pending delete's operation; az polls it to its end (the runner starts
// meanwhile) and succeeds, and the disk is gone.
func TestAzCLIDeleteTwice(t *testing.T) {
	e := testserver.Start(t)
	az := loggedIn(t, e)
	az.run("group", "create", "-n", "delrg", "-l", "westus", "-o", "none")
	az.run("disk", "create", "-g", "delrg", "-n", "dd1", "--size-gb", "1", "-o", "none")
	e.Server.Jobs.Stop()
	az.run("disk", "delete", "-g", "delrg", "-n", "dd1", "--yes", "--no-wait")
	if az.tsv("disk", "show", "-g", "delrg", "-n", "dd1", "--query", "name") != "dd1" {
		t.Fatal("the disk is gone before its delete ran")
	}
	// The runner starts once az polls the pending delete's operation (a
	// fault rule of 1 ns latency on compute's operation polls counts them):
	// its DELETE was answered while the delete was still pending, however
	// long az took to start.
	if resp, m := e.Do("POST", "/providers/Safehold.Admin/faultRules?api-version=2024-01-01",
		map[string]any{"name": "poll", "operation": "arm", "method": "GET", "path": "*/providers/Microsoft.Compute/locations/*/operation*", "latency": "1ns"}); resp.StatusCode != 201 {
		t.Fatalf("fault rule: %d %v", resp.StatusCode, m)
	}
	started := make(chan error, 1)
	go func() {
		for deadline := time.Now().Add(testsvc.WaitLimit); e.FaultRuleHits("poll") < 1; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				started <- fmt.Errorf("az did not poll the delete's operation within %v", testsvc.WaitLimit)
				e.Server.Jobs.Start(e.Ctx()) // az's poll ends then
				return
			}
		}
		started <- e.Server.Jobs.Start(e.Ctx())
	}()
	az.run("disk", "delete", "-g", "delrg", "-n", "dd1", "--yes", "-o", "none")
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	az.fails("ResourceNotFound", "disk", "show", "-g", "delrg", "-n", "dd1")
}
