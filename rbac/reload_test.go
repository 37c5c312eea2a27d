package rbac

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

// heldList is a store whose next List of role assignments, once armed,
// reads them and then waits for release before it answers: a reload that
// read the store and lost the CPU before it installed what it read.
type heldList struct {
	store.Store
	mu      sync.Mutex
	armed   bool
	read    chan struct{} // closed once the held List has read
	release chan struct{}
}

func (h *heldList) List(ctx context.Context, kind string, q store.ListQuery) ([]store.Doc, error) {
	docs, err := h.Store.List(ctx, kind, q)
	h.mu.Lock()
	hold := h.armed && kind == assignmentKind
	if hold {
		h.armed = false
	}
	h.mu.Unlock()
	if hold {
		close(h.read)
		<-h.release
	}
	return docs, err
}

// TestReloadNeverInstallsAnOlderIndex: a reload that read the role
// assignments before an assignment's delete, and installs what it read
// only after the delete's own reload, leaves the index without the
// deleted assignment. Reloads ran at once, the last to install won, and
// the index kept the deleted assignment: it granted what it granted and
// was listed until the next change of roles (for good on one replica).
// A server met it when a resource group's delete removed the assignments
// at the group while a role assignment PUT there reloaded: the assignment
// was listed after its group was gone (TestCreatesRaceGroupDelete in 48
// groups, 15 rounds, under a harness stopping the test process at random).
func TestReloadNeverInstallsAnOlderIndex(t *testing.T) {
	ctx := context.Background()
	h := &heldList{Store: storetest.SQLite(t), read: make(chan struct{}), release: make(chan struct{})}
	a, err := New(ctx, h, clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), 0)
	if err != nil {
		t.Fatal(err)
	}
	scope := "/subscriptions/s/resourceGroups/rg"
	disk := scope + "/providers/Microsoft.Compute/disks/d"
	x := &Assignment{ID: scope + "/providers/Microsoft.Authorization/roleAssignments/1", Name: "1", AssignmentProperties: AssignmentProperties{Scope: scope,
		RoleDefinitionID: "/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/" + DiskBackupReader, PrincipalID: "p"}}
	if err := a.PutAssignment(ctx, x); err != nil {
		t.Fatal(err)
	}
	if !a.Allowed("p", "Microsoft.Compute/disks/read", disk) {
		t.Fatal("the assignment grants nothing")
	}
	// A reload (another change's) reads the assignment and is held.
	h.mu.Lock()
	h.armed = true
	h.mu.Unlock()
	stale := make(chan error, 1)
	go func() { stale <- a.Reload(ctx) }()
	select {
	case <-h.read:
	case <-time.After(time.Minute):
		t.Fatal("the reload never listed the assignments")
	}
	// The assignment is deleted (its delete reloads too).
	deleted := make(chan error, 1)
	go func() { _, err := a.DeleteAssignment(ctx, x.ID); deleted <- err }()
	// The held reload installs what it read: after the delete's reload
	// when reloads run at once (the delete then returns first), or before
	// it when the delete's waits for it (then nothing returns meanwhile:
	// a few seconds stand for the wait).
	var err1 error
	returned := false
	select {
	case err1 = <-deleted:
		returned = true
	case <-time.After(3 * time.Second):
	}
	close(h.release)
	if err := <-stale; err != nil {
		t.Fatal(err)
	}
	if !returned {
		select {
		case err1 = <-deleted:
		case <-time.After(time.Minute):
			t.Fatal("the delete did not return within a minute of the reload it waited for")
		}
	}
	if err1 != nil {
		t.Fatal(err1)
	}
	for _, y := range a.Assignments() {
		if y.ID == x.ID {
			t.Errorf("the index lists the deleted assignment %s", y.ID)
		}
	}
	if a.Allowed("p", "Microsoft.Compute/disks/read", disk) {
		t.Error("the deleted assignment still grants disks/read")
	}
}
