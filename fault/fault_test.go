package fault_test

import (
	"context"
	"testing"
	"time"

	"github.com/safehold/safehold/fault"
	"github.com/safehold/safehold/internal/testsvc"
)

// TestRemovingARuleReleasesWhatItHolds: a match waiting out a rule's
// latency goes on, without the rule's error, as soon as the rule is gone,
// whichever way it goes: deleted by name, replaced by a rule of the same
// name, or cleared with the others.
func TestRemovingARuleReleasesWhatItHolds(t *testing.T) {
	for name, remove := range map[string]func(t *testing.T, s *fault.Set){
		"delete": func(t *testing.T, s *fault.Set) { s.Delete("hold") },
		"replace": func(t *testing.T, s *fault.Set) {
			add(t, s, fault.Rule{Name: "hold", Operation: fault.OpBackup, Path: "*/other", Code: "Other"})
		},
		"clear": func(t *testing.T, s *fault.Set) { s.Clear() },
	} {
		t.Run(name, func(t *testing.T) {
			s := &fault.Set{}
			add(t, s, fault.Rule{Name: "hold", Operation: fault.OpDelete, Path: "*/items/a", Latency: "10m", Code: "UserErrorHeld"})
			done := make(chan error, 1)
			go func() { done <- s.Apply(context.Background(), fault.OpDelete, "", "/vaults/v/items/a") }()
			testsvc.WaitFor(t, "the match to hold", func() bool {
				for _, r := range s.List() {
					if r.Name == "hold" && r.Operation == fault.OpDelete && r.Hits == 1 {
						return true
					}
				}
				return false
			})
			remove(t, s)
			testsvc.WaitDone(t, "the match the removed rule held to be released", done)
		})
	}
}

func add(t *testing.T, s *fault.Set, r fault.Rule) {
	t.Helper()
	if _, err := s.Add(r, time.Now()); err != nil {
		t.Fatal(err)
	}
}
