package clients_test

import (
	"testing"
	"time"

	"github.com/safehold/safehold/internal/testserver"
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
	started := make(chan error, 1)
	go func() {
		time.Sleep(12 * time.Second) // az (some seconds to start) sends its DELETE and polls meanwhile
		started <- e.Server.Jobs.Start(e.Ctx())
	}()
	az.run("disk", "delete", "-g", "delrg", "-n", "dd1", "--yes", "-o", "none")
	if err := <-started; err != nil {
		t.Fatal(err)
	}
	az.fails("ResourceNotFound", "disk", "show", "-g", "delrg", "-n", "dd1")
}
