package resources_test

import (
	"net/http"
	"testing"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// A group delete that fails after its checks, while it cascades (here: a
// disk of the group attached to a VM of another group, which the disk's
// delete refuses), ends Failed and puts the group back to Succeeded, as
// Azure rolls a failed delete's provisioning state back: the group takes
// writes again instead of refusing them as Deleting forever.
func TestGroupDeleteFailureRollsBack(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("vms", "disks")
	osID, _ := fixture.Disk(t, e, "vms", "os", 1)
	dataID, _ := fixture.Disk(t, e, "disks", "data", 1)
	fixture.VM(t, e, "vms", "vm1", osID, dataID)

	st, m := e.DeleteGroup("disks")
	if st != http.StatusConflict || testserver.ErrorCode(m) != "OperationNotAllowed" {
		t.Fatalf("delete the group of a disk attached elsewhere: %d %v, want 409 OperationNotAllowed (the disk's delete)", st, m)
	}
	group := "/subscriptions/" + e.Sub + "/resourcegroups/disks?api-version=2021-04-01"
	resp, g := e.Do("GET", group, nil)
	if resp.StatusCode != http.StatusOK || testserver.Field(g, "properties.provisioningState") != "Succeeded" {
		t.Fatalf("group after its failed delete: %d %v, want Succeeded", resp.StatusCode, g)
	}
	if resp, m := e.Do("PUT", group, map[string]any{"location": "westus", "tags": map[string]string{"after": "failure"}}); resp.StatusCode != http.StatusOK {
		t.Fatalf("update the group after its failed delete: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.Do("GET", dataID+"?api-version=2024-03-02", nil, testserver.AnyStatus()); resp.StatusCode != http.StatusOK {
		t.Fatalf("the attached disk after the failed delete: %d %v", resp.StatusCode, m)
	}
}
