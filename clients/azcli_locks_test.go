package clients_test

import (
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
)

// TestAzCLILocks: management locks as az users set them. az lock
// create/update/show/list/delete at a resource group and at a resource; a
// CanNotDelete lock on the group refuses az group delete, az backup vault
// delete and az disk delete (409 ScopeLocked) but not az disk update; a
// ReadOnly lock on a disk refuses its update too; deleting the locks lifts
// them.
func TestAzCLILocks(t *testing.T) {
	e := testserver.Start(t)
	az := loggedIn(t, e)
	az.run("group", "create", "-n", "lockrg", "-l", "westus", "-o", "none")
	az.run("disk", "create", "-g", "lockrg", "-n", "ld1", "--size-gb", "1", "-o", "none")
	az.run("backup", "vault", "create", "-g", "lockrg", "-n", "lockvault", "-l", "westus", "-o", "none")

	if out := az.tsv("lock", "create", "-n", "keep", "-g", "lockrg", "--lock-type", "CanNotDelete", "--notes", "production", "--query", "[name,level,notes]"); strings.ReplaceAll(out, "\t", "\n") != "keep\nCanNotDelete\nproduction" {
		t.Fatalf("az lock create -g: %q", out)
	}
	if out := az.tsv("lock", "update", "-n", "keep", "-g", "lockrg", "--notes", "production data", "--query", "notes"); out != "production data" {
		t.Fatalf("az lock update: %q", out)
	}
	if out := az.tsv("lock", "show", "-n", "keep", "-g", "lockrg", "--query", "[level,notes]"); strings.ReplaceAll(out, "\t", "\n") != "CanNotDelete\nproduction data" {
		t.Fatalf("az lock show: %q", out)
	}
	az.fails("ScopeLocked", "group", "delete", "-n", "lockrg", "--yes")
	az.fails("ScopeLocked", "backup", "vault", "delete", "-g", "lockrg", "-n", "lockvault", "--yes")
	az.fails("ScopeLocked", "disk", "delete", "-g", "lockrg", "-n", "ld1", "--yes")
	if out := az.tsv("disk", "update", "-g", "lockrg", "-n", "ld1", "--set", "tags.env=prod", "--query", "tags.env"); out != "prod" {
		t.Fatalf("az disk update under CanNotDelete: %q", out)
	}

	disk := []string{"-g", "lockrg", "--resource", "ld1", "--resource-type", "Microsoft.Compute/disks"}
	if out := az.tsv(append([]string{"lock", "create", "-n", "frozen", "--lock-type", "ReadOnly", "--query", "level"}, disk...)...); out != "ReadOnly" {
		t.Fatalf("az lock create --resource: %q", out)
	}
	if out := az.tsv(append([]string{"lock", "show", "-n", "frozen", "--query", "level"}, disk...)...); out != "ReadOnly" {
		t.Fatalf("az lock show --resource: %q", out)
	}
	if out := az.tsv("lock", "list", "-g", "lockrg", "--query", "sort([].name)"); out != "frozen\nkeep" {
		t.Fatalf("az lock list -g: %q", out)
	}
	if out := az.tsv("lock", "list", "--query", "sort([].name)"); out != "frozen\nkeep" {
		t.Fatalf("az lock list: %q", out)
	}
	if out := az.tsv(append([]string{"lock", "list", "--query", "sort([].name)"}, disk...)...); out != "frozen\nkeep" {
		t.Fatalf("az lock list --resource: %q", out)
	}
	az.fails("ScopeLocked", "disk", "update", "-g", "lockrg", "-n", "ld1", "--set", "tags.env=dev")

	// Deleting the locks lifts them.
	az.run(append([]string{"lock", "delete", "-n", "frozen"}, disk...)...)
	az.run("lock", "delete", "-n", "keep", "-g", "lockrg")
	if out := az.tsv("lock", "list", "-g", "lockrg", "--query", "length(@)"); out != "0" {
		t.Fatalf("az lock list after the deletes: %q", out)
	}
	az.run("disk", "delete", "-g", "lockrg", "-n", "ld1", "--yes", "-o", "none")
	az.run("group", "delete", "-n", "lockrg", "--yes", "-o", "none")
	if out := az.tsv("group", "exists", "-n", "lockrg"); out != "false" {
		t.Fatalf("group exists after its delete: %q", out)
	}
}
