package fault_test

import (
	"context"
	"errors"
	"fmt"
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
		for _, count := range []int{0, 1} {
			t.Run(fmt.Sprintf("%s/count%d", name, count), func(t *testing.T) {
				held(t, remove, count)
			})
		}
	}
}

// held runs one case of TestRemovingARuleReleasesWhatItHolds. A rule of
// Count 1 is used up by the match it holds: it was removed at once, so no
// delete or clear could release the match (`safehold fault clear NAME`
// answered 404 and the job stayed held for the rule's whole latency).
func held(t *testing.T, remove func(t *testing.T, s *fault.Set), count int) {
	s := &fault.Set{}
	add(t, s, fault.Rule{Name: "hold", Operation: fault.OpDelete, Path: "*/items/a", Latency: "10m", Code: "UserErrorHeld", Count: count})
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
	for _, r := range s.List() {
		if r.Name == "hold" && r.Operation == fault.OpDelete {
			t.Fatalf("the removed rule is still listed: %+v", r)
		}
	}
}

// TestUsedUpRuleGoesWithItsLastWait: a rule of Count 1 with a latency is
// listed (its hit counted) while the match it delays waits, matches
// nothing more meanwhile, and goes once that wait ends, whichever way it
// ends: the waiting request gone (its context ended) or the latency run
// out. The listing is checked under a latency of ten minutes, the wait
// then ended by the test: with a latency of 300 ms the check had to land
// within those 300 ms, and a test stalled longer (a loaded machine) found
// the rule gone already and waited for ever for its hit.
func TestUsedUpRuleGoesWithItsLastWait(t *testing.T) {
	t.Run("request gone", func(t *testing.T) {
		s := &fault.Set{}
		add(t, s, fault.Rule{Name: "once", Operation: fault.OpBackup, Latency: "10m", Count: 1})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- s.Apply(ctx, fault.OpBackup, "", "/items/a") }()
		testsvc.WaitFor(t, "the match to hold", func() bool { l := s.List(); return len(l) == 1 && l[0].Hits == 1 })
		if d, e := s.Match(fault.OpBackup, "", "/items/b"); d != 0 || e != nil {
			t.Fatalf("a used-up rule matched again: %v %v", d, e)
		}
		if l := s.List(); len(l) != 1 {
			t.Fatalf("the used-up rule went while its match waits: %+v", l)
		}
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("the wait of a request gone: %v", err)
			}
		case <-time.After(testsvc.WaitLimit):
			t.Fatal("the wait went on after its request's context ended")
		}
		if l := s.List(); len(l) != 0 {
			t.Fatalf("the used-up rule outlived its wait: %+v", l)
		}
	})
	t.Run("latency run out", func(t *testing.T) {
		s := &fault.Set{}
		const latency = 50 * time.Millisecond
		add(t, s, fault.Rule{Name: "once", Operation: fault.OpBackup, Latency: latency.String(), Count: 1})
		t0 := time.Now()
		if err := s.Apply(context.Background(), fault.OpBackup, "", "/items/a"); err != nil {
			t.Fatal(err)
		}
		if took := time.Since(t0); took < latency {
			t.Fatalf("the match waited %v, not the rule's latency %v", took, latency)
		}
		if l := s.List(); len(l) != 0 {
			t.Fatalf("the used-up rule outlived its wait: %+v", l)
		}
		if d, e := s.Match(fault.OpBackup, "", "/items/b"); d != 0 || e != nil {
			t.Fatalf("a used-up rule matched again: %v %v", d, e)
		}
	})
}

func add(t *testing.T, s *fault.Set, r fault.Rule) {
	t.Helper()
	if _, err := s.Add(r, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// A rule matches from its Add to its removal, whichever way it goes (the
// set counts its rules so that a request takes no lock while there are
// none): after a Count is used up, a delete, a clear, and when added again.
func TestRulesMatchUntilRemoved(t *testing.T) {
	s := &fault.Set{}
	matches := func() bool { _, e := s.Match(fault.OpARM, "GET", "/subscriptions/x"); return e != nil }
	if matches() {
		t.Fatal("an empty set matched")
	}
	rule := fault.Rule{Name: "r", Operation: fault.OpARM, Path: "/subscriptions/*", Code: "Injected"}
	once := rule
	once.Count = 1
	add(t, s, once)
	if !matches() || matches() {
		t.Fatal("a rule of Count 1 did not match exactly once")
	}
	add(t, s, rule)
	if !matches() || !matches() {
		t.Fatal("a rule added after one was used up does not match")
	}
	s.Delete("r")
	if matches() {
		t.Fatal("a deleted rule matched")
	}
	add(t, s, rule)
	if !matches() {
		t.Fatal("a rule added again does not match")
	}
	s.Clear()
	if matches() {
		t.Fatal("a cleared rule matched")
	}
}
