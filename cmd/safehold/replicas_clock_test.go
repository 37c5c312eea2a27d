package main_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testsvc"
)

// TestClockAdvanceRetriedAfterAKillAppliesOnce: `safehold clock advance
// PT5H` through one replica, killed (SIGKILL) after the advance moved the
// clock part way (to a scheduled backup in the window, held by a fault
// rule's latency) and before it answered, then retried with the same
// --request-id through the other replica, leaves the clock at the first
// request's target (the clock as it stood plus five hours), not five
// hours past where the killed replica left it. Before, an advance had no
// identity: the retry advanced a second time from the moved clock.
func TestClockAdvanceRetriedAfterAKillAppliesOnce(t *testing.T) {
	c := startReplicasOn(t, 2, testsvc.PostgresSchema(t), testsvc.AzuriteContainer(t, "e2e"), nil)
	e := c.env
	fixture.ProtectDisk(t, e)
	safehold := func(r int, args ...string) (string, error) {
		out, err := exec.Command(c.bin, append(args, "--data-dir", c.reps[r].dir)...).CombinedOutput()
		return string(out), err
	}
	must := func(r int, args ...string) string {
		t.Helper()
		out, err := safehold(r, args...)
		if err != nil {
			t.Fatalf("safehold %v on replica %d: %v\n%s", args, r, err, out)
		}
		return out
	}
	clockNow := func(r int) time.Time {
		t.Helper()
		var m struct{ Now string }
		out := must(r, "clock", "show", "--json")
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("clock show: %v: %s", err, out)
		}
		tm, err := time.Parse(time.RFC3339Nano, m.Now)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	hits := func(r int) int {
		t.Helper()
		var rules []struct{ Hits int }
		if err := json.Unmarshal([]byte(must(r, "fault", "list", "--json")), &rules); err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, x := range rules {
			n += x.Hits
		}
		return n
	}
	// A frozen clock at a known time: the advance's target is t0 + 5 h.
	t0 := clockNow(0).Truncate(time.Second).Add(time.Second)
	must(0, "clock", "set", t0.Format(time.RFC3339))
	target := t0.Add(5 * time.Hour)

	// The window holds a scheduled backup (the policy's PT4H), held in its
	// capture wherever it runs, so the advance stops there part way.
	for r := range c.reps {
		must(r, "fault", "add", "backup", "--name", "hold", "--latency", "10m")
	}
	const id = "0f8fad5b-d9cb-469f-a165-70867728950e"
	victim, other := 0, 1
	adv := exec.Command(c.bin, "clock", "advance", "PT5H", "--request-id", id, "--json", "--data-dir", c.reps[victim].dir)
	var advOut strings.Builder
	adv.Stdout, adv.Stderr = &advOut, &advOut
	if err := adv.Start(); err != nil {
		t.Fatal(err)
	}
	advDone := make(chan error, 1)
	go func() { advDone <- adv.Wait() }()
	testsvc.WaitWithin(t, 2*time.Minute, "the advance to reach the scheduled backup", func() bool {
		select {
		case err := <-advDone:
			t.Fatalf("the advance ended before the held backup: %v\n%s", err, advOut.String())
		default:
		}
		return hits(0)+hits(1) > 0
	})
	moved := clockNow(other)
	if !moved.After(t0) || !moved.Before(target) {
		t.Fatalf("the clock stands at %s, want part way between %s and %s", moved, t0, target)
	}
	// Killed between applying (part of) the advance and answering.
	if err := c.reps[victim].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-advDone:
		if err == nil {
			t.Fatalf("the advance answered though its replica was killed: %s", advOut.String())
		}
		if !strings.Contains(advOut.String(), "--request-id "+id) {
			t.Errorf("the failed advance does not say how to retry it once: %s", advOut.String())
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the advance did not end after its replica was killed")
	}
	must(other, "fault", "clear")

	// The retry through the other replica, with the same id.
	must(other, "clock", "advance", "PT5H", "--request-id", id, "--json")
	if got := clockNow(other); !got.Equal(target) {
		t.Fatalf("after the retried advance the clock stands at %s, want %s (the first request's target; %s past where the killed replica left it would be %s)", got, target, 5*time.Hour, moved.Add(5*time.Hour))
	}
	// Once more (an answer lost again): nothing moves.
	must(other, "clock", "advance", "PT5H", "--request-id", id)
	if got := clockNow(other); !got.Equal(target) {
		t.Fatalf("a third try with the same id moved the clock to %s, want it at %s", got, target)
	}
	// A new advance (a new id) moves it again.
	must(other, "clock", "advance", "1h")
	if got := clockNow(other); !got.Equal(target.Add(time.Hour)) {
		t.Fatalf("a new advance moved the clock to %s, want %s", got, target.Add(time.Hour))
	}
}
