package clients_test

import (
	"testing"

	"github.com/safehold/safehold/internal/testserver"
)

// TestAzCLISnapshotCopyStart copies an incremental snapshot to another
// region with az snapshot create --copy-start (createOption CopyStart, the
// cross-region copy): the copy is in the region asked for, as in Azure, and
// a disk is made from it there, not in the source's region. Its copy was
// put in its source's region (westus), whatever -l said. A Copy to another
// region (no --copy-start, a full snapshot) stays refused, saying to use
// CopyStart.
func TestAzCLISnapshotCopyStart(t *testing.T) {
	e := testserver.Start(t)
	az := loggedIn(t, e)
	az.run("group", "create", "-n", "snapRG", "-l", "westus", "-o", "none")
	g := []string{"-g", "snapRG"}
	az.run(append([]string{"disk", "create", "-n", "d1", "--size-gb", "2", "-o", "none"}, g...)...)
	src := az.tsv(append([]string{"snapshot", "create", "-n", "s1", "--source", "d1", "--incremental", "true", "--query", "id"}, g...)...)

	if out := az.tsv(append([]string{"snapshot", "create", "-n", "s1-east", "-l", "eastus", "--source", src, "--incremental", "true", "--copy-start", "true",
		"--query", "[location,incremental,creationData.createOption,provisioningState,diskSizeGb]"}, g...)...); out != "eastus\ntrue\nCopyStart\nSucceeded\n2" && out != "eastus\nTrue\nCopyStart\nSucceeded\n2" {
		t.Fatalf("snapshot create --copy-start -l eastus: %q", out)
	}
	if out := az.tsv(append([]string{"snapshot", "list", "--query", "sort_by([], &name)[].[name,location]"}, g...)...); out != "s1\twestus\ns1-east\teastus" {
		t.Fatalf("snapshot list: %q", out)
	}
	if out := az.tsv(append([]string{"disk", "create", "-n", "d1-east", "-l", "eastus", "--source", "s1-east", "--query", "[location,diskSizeGb]"}, g...)...); out != "eastus\n2" {
		t.Fatalf("disk create from the copy in eastus: %q", out)
	}
	az.fails("InvalidParameter", append([]string{"disk", "create", "-n", "d1-west", "-l", "westus", "--source", "s1-east"}, g...)...)
	// A full copy to another region is no CopyStart: refused.
	az.fails("InvalidParameter", append([]string{"snapshot", "create", "-n", "s1-full-east", "-l", "eastus", "--source", src}, g...)...)
}
