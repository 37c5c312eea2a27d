package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestClockAdvanceTakesDaysAndWeeks drives `safehold clock advance` with the
// day and week counts operators type (1d, 2d12h, 1w, 1W2d) against a real
// server: `clock advance 1d` was refused (only 36h or P1D were accepted).
// What it cannot read is refused with 400 InvalidDuration naming the forms
// it takes, and leaves the clock where it stood.
func TestClockAdvanceTakesDaysAndWeeks(t *testing.T) {
	e := testserver.Start(t)
	mustRun(t, e, "clock", "set", "2030-01-01T00:00:00Z")
	for _, c := range []struct{ arg, want string }{
		{"1d", "2030-01-02T00:00:00Z"},
		{"2d12h", "2030-01-04T12:00:00Z"},
		{"1w", "2030-01-11T12:00:00Z"},
		{"1W2d", "2030-01-20T12:00:00Z"},
		{"1d30m", "2030-01-21T12:30:00Z"},
		{"90m", "2030-01-21T14:00:00Z"},
		{"P1D", "2030-01-22T14:00:00Z"},
	} {
		if out := mustRun(t, e, "clock", "advance", c.arg); strings.TrimSpace(out) != c.want {
			t.Fatalf("clock advance %s: %q, want %s", c.arg, out, c.want)
		}
	}
	for _, arg := range []string{"1.5d", "d", "1d-2h", "2x", "1d1w", "tomorrow"} {
		_, err := run(t, e, nil, "clock", "advance", arg)
		if err == nil || !strings.Contains(err.Error(), "InvalidDuration") || !strings.Contains(err.Error(), "2d12h") || !strings.Contains(err.Error(), "P7D") {
			t.Fatalf("clock advance %s: %v, want InvalidDuration naming the accepted forms", arg, err)
		}
	}
	if out := mustRun(t, e, "clock", "show"); strings.TrimSpace(out) != "2030-01-22T14:00:00Z" {
		t.Fatalf("clock after refused advances: %q", out)
	}
}

// TestClockAdvanceTakesNegativeDurations drives `safehold clock advance`
// back as operators type it (-1d, -36h, -P1D, and after --) against a real
// server: the clock moves back, frozen, and nothing runs. `clock advance
// -1d` was refused by the flag parser ("unknown shorthand flag: '1' in
// -1d"), and `-- -1d` by the server (400, "the clock only advances").
func TestClockAdvanceTakesNegativeDurations(t *testing.T) {
	e := testserver.Start(t)
	mustRun(t, e, "clock", "set", "2030-01-10T00:00:00Z")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-1d"}, "2030-01-09T00:00:00Z"},
		{[]string{"-36h"}, "2030-01-07T12:00:00Z"},
		{[]string{"-P1D"}, "2030-01-06T12:00:00Z"},
		{[]string{"-pt12h"}, "2030-01-06T00:00:00Z"},
		{[]string{"-1w2d", "-o", "table"}, "2029-12-28T00:00:00Z"},
		{[]string{"2d"}, "2029-12-30T00:00:00Z"},
	} {
		if out := mustRun(t, e, append([]string{"clock", "advance"}, c.args...)...); strings.TrimSpace(out) != c.want {
			t.Fatalf("clock advance %v: %q, want %s", c.args, out, c.want)
		}
	}
	// After --, with the flags before it; and -o json after the duration.
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(io.Discard)
	root.SetArgs([]string{"clock", "advance", "--data-dir", e.DataDir, "-o", "json", "--", "-12h"})
	if err := root.Execute(); err != nil {
		t.Fatalf("clock advance -- -12h: %v", err)
	}
	var st struct {
		Now    string `json:"now"`
		Frozen bool   `json:"frozen"`
		Runs   *int   `json:"runs"`
	}
	if err := json.Unmarshal(out.Bytes(), &st); err != nil || st.Now != "2029-12-29T12:00:00Z" || !st.Frozen || st.Runs == nil || *st.Runs != 0 {
		t.Fatalf("clock advance -- -12h -o json: %s %v", out.String(), err)
	}
	if out := mustRun(t, e, "clock", "advance", "-1d", "--json"); !strings.Contains(out, `"now": "2029-12-28T12:00:00Z"`) {
		t.Fatalf("clock advance -1d --json: %s", out)
	}
	// What is neither a flag nor a duration is still refused, saying why.
	if _, err := run(t, e, nil, "clock", "advance", "-x"); err == nil || !strings.Contains(err.Error(), "unknown shorthand flag") || !strings.Contains(err.Error(), "clock advance") {
		t.Fatalf("clock advance -x: %v", err)
	}
	for _, bad := range [][]string{{"-1d", "-2d"}, {}} {
		if _, err := run(t, e, nil, append([]string{"clock", "advance"}, bad...)...); err == nil || !strings.Contains(err.Error(), "arg") {
			t.Fatalf("clock advance %v: %v, want a usage error", bad, err)
		}
	}
	if _, err := run(t, e, nil, "clock", "advance", "-1x"); err == nil || !strings.Contains(err.Error(), "InvalidDuration") {
		t.Fatalf("clock advance -1x: %v, want InvalidDuration", err)
	}
	if out := mustRun(t, e, "clock", "advance", "--help"); !strings.Contains(out, "-1d") {
		t.Fatalf("clock advance --help: %s", out)
	}
	if out := mustRun(t, e, "clock", "show"); strings.TrimSpace(out) != "2029-12-28T12:00:00Z" {
		t.Fatalf("clock after the refused advances: %q", out)
	}
}

// TestAdminCLI drives the clock, fault and reset verbs against a real
// server: clock set/advance/show/resume (an advance runs the scheduled
// backups of the window), fault add/list/clear (an arm rule makes the next
// CLI request fail with its code), reset refusing without --yes and then
// leaving no vault while the CLI's credentials keep working.
func TestAdminCLI(t *testing.T) {
	e := testserver.Start(t)
	if out := mustRun(t, e, "clock", "set", "2030-01-01T07:00:00Z"); strings.TrimSpace(out) != "2030-01-01T07:00:00Z" {
		t.Fatalf("clock set: %q", out)
	}
	fixture.ProtectDisk(t, e) // PT4H schedule
	before := len(mustRun(t, e, "job", "list", "-o", "json"))
	if out := mustRun(t, e, "clock", "advance", "P1D"); strings.TrimSpace(out) != "2030-01-02T07:00:00Z" {
		t.Fatalf("clock advance: %q", out)
	}
	if out := mustRun(t, e, "clock", "advance", "90m"); strings.TrimSpace(out) != "2030-01-02T08:30:00Z" {
		t.Fatalf("clock advance 90m: %q", out)
	}
	if jobsOut := mustRun(t, e, "job", "list", "-o", "json"); len(jobsOut) <= before || !strings.Contains(jobsOut, "Backup") {
		t.Fatalf("no backup jobs after advancing a day:\n%s", jobsOut)
	}
	if out := mustRun(t, e, "clock", "show", "--json"); !strings.Contains(out, `"frozen": true`) {
		t.Fatalf("clock show: %s", out)
	}
	mustRun(t, e, "clock", "resume")
	out := strings.TrimSpace(mustRun(t, e, "clock", "show"))
	if now, err := time.Parse(time.RFC3339Nano, out); err != nil || now.Before(time.Date(2030, 1, 2, 8, 30, 0, 0, time.UTC)) || now.After(time.Date(2030, 1, 2, 8, 31, 0, 0, time.UTC)) {
		t.Fatalf("clock after resume: %q %v", out, err)
	}
	if _, err := run(t, e, nil, "clock", "advance", "soon"); err == nil || !strings.Contains(err.Error(), "InvalidDuration") {
		t.Fatalf("clock advance soon: %v", err)
	}

	mustRun(t, e, "fault", "add", "arm", "--name", "vaults", "--method", "GET", "--path", "*/backupVaults*", "--status", "409", "--code", "InjectedConflict", "--count", "1")
	if out := mustRun(t, e, "fault", "list"); !strings.Contains(out, "vaults") || !strings.Contains(out, "InjectedConflict") {
		t.Fatalf("fault list:\n%s", out)
	}
	if _, err := run(t, e, nil, "vault", "list"); err == nil || !strings.Contains(err.Error(), "InjectedConflict") {
		t.Fatalf("vault list with a fault rule: %v", err)
	}
	if out := mustRun(t, e, "vault", "list"); !strings.Contains(out, "vault1") {
		t.Fatalf("vault list after the rule was used up:\n%s", out)
	}
	mustRun(t, e, "fault", "add", "backup", "--code", "UserErrorInsufficientStorage")
	if out := mustRun(t, e, "fault", "clear"); !strings.Contains(out, "removed 1") {
		t.Fatalf("fault clear: %q", out)
	}
	if _, err := run(t, e, nil, "fault", "add", "teleport", "--code", "X"); err == nil || !strings.Contains(err.Error(), "InvalidFaultRule") {
		t.Fatalf("bad rule: %v", err)
	}

	root := newRootCmd()
	root.SetIn(strings.NewReader("no\n"))
	root.SetArgs([]string{"reset", "--data-dir", e.DataDir})
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("reset answered no: %v", err)
	}
	if out := mustRun(t, e, "vault", "list"); !strings.Contains(out, "vault1") {
		t.Fatalf("reset without confirmation deleted:\n%s", out)
	}
	if out := mustRun(t, e, "reset", "--yes"); !strings.Contains(out, "reset done") {
		t.Fatalf("reset: %q", out)
	}
	if out := mustRun(t, e, "vault", "list", "-o", "json"); strings.Contains(out, "vault1") {
		t.Fatalf("vault left after reset:\n%s", out)
	}
}

// TestQuotaCLI: safehold quota set lowers a region's vCPU limit, show
// reports it with the use of the region's VMs, and a VM beyond it is
// refused by the server with Azure's quota error; default restores it.
func TestQuotaCLI(t *testing.T) {
	e := testserver.StartWithGroups(t, "rg1")
	ctx := context.Background()
	cs := e.Server.Compute
	base := "/subscriptions/" + e.Sub + "/resourceGroups/rg1/providers/Microsoft.Compute/"
	n := 0
	vm := func(name string) error {
		n++
		d, err := cs.CreateDisk(ctx, compute.DiskSpec{ID: base + "disks/" + name + "-os" + strings.Repeat("x", n), Location: "westus", CreateOption: "Empty", SizeBytes: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		_, err = cs.CreateVM(ctx, compute.VMSpec{ID: base + "virtualMachines/" + name, Location: "westus", OSDiskID: d.ID, VMSize: "Standard_D2s_v3"})
		return err
	}
	if err := vm("vm1"); err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, e, "quota", "set", "westus", "cores=3")
	if !strings.Contains(out, "Total Regional vCPUs") || !strings.Contains(out, "standardDSv3Family") {
		t.Fatalf("quota set:\n%s", out)
	}
	line := func(out, name string) string {
		for _, l := range strings.Split(out, "\n") {
			if f := strings.Fields(l); len(f) > 0 && f[0] == name {
				return strings.Join(append(f[:1:1], f[len(f)-2:]...), " ")
			}
		}
		return ""
	}
	if got := line(mustRun(t, e, "quota", "show", "westus"), "cores"); got != "cores 2 3" {
		t.Fatalf("quota show cores: %q", got)
	}
	if err := vm("vm2"); err == nil || !strings.Contains(err.Error(), "Total Regional Cores quota") {
		t.Fatalf("a VM beyond the CLI's limit: %v", err)
	}
	if _, err := run(t, e, nil, "quota", "set", "westus", "cores=lots"); err == nil {
		t.Fatal("cores=lots accepted")
	}
	mustRun(t, e, "quota", "set", "westus", "cores=default")
	if got := line(mustRun(t, e, "quota", "show", "westus"), "cores"); got != "cores 2 10000" {
		t.Fatalf("quota show after default: %q", got)
	}
	if err := vm("vm2"); err != nil {
		t.Fatal(err)
	}
}

// TestRoleAssignTwice: assigning a role a principal already holds at the
// scope succeeds and prints that assignment (a second run of a setup
// script does not fail on it), saying so on stderr. The output is a table
// by default, JSON with -o json, a row with -o tsv.
func TestRoleAssignTwice(t *testing.T) {
	e := testserver.Start(t)
	var sp struct{ ObjectID string }
	if err := json.Unmarshal([]byte(mustRun(t, e, "sp", "create", "bot")), &sp); err != nil || sp.ObjectID == "" {
		t.Fatalf("sp create: %v", err)
	}
	e.ResourceGroups("rg1")
	scope := "/subscriptions/" + e.Sub + "/resourceGroups/rg1"
	var first, second struct{ ID string }
	json.Unmarshal([]byte(mustRun(t, e, "role", "assign", sp.ObjectID, "Reader", "--scope", scope, "-o", "json")), &first)
	var stderr bytes.Buffer
	out, err := run(t, e, &stderr, "role", "assign", sp.ObjectID, "Reader", "--scope", scope, "--json")
	if err != nil {
		t.Fatalf("second role assign: %v", err)
	}
	json.Unmarshal([]byte(out), &second)
	if first.ID == "" || second.ID != first.ID || !strings.Contains(stderr.String(), "already has this role at "+scope) {
		t.Fatalf("second role assign: %s (first %s), stderr %q", out, first.ID, stderr.String())
	}
	// Another role at the same scope is a new assignment.
	var other struct{ ID string }
	json.Unmarshal([]byte(mustRun(t, e, "role", "assign", sp.ObjectID, "Backup Reader", "--scope", scope, "-o", "json")), &other)
	if other.ID == "" || other.ID == first.ID {
		t.Fatalf("another role: %s", other.ID)
	}
	// By default a table, as the other verbs print (it printed the raw
	// JSON): the principal, the role's name, the scope, the assignment;
	// -o tsv the row alone.
	name := other.ID[strings.LastIndex(other.ID, "/")+1:]
	tbl := mustRun(t, e, "role", "assign", sp.ObjectID, "Backup Reader", "--scope", scope)
	lines := strings.Split(strings.TrimSpace(tbl), "\n")
	if len(lines) != 2 || strings.Join(strings.Fields(lines[0]), " ") != "PRINCIPAL ROLE SCOPE ASSIGNMENT" ||
		!strings.HasPrefix(lines[1], sp.ObjectID) || !strings.Contains(lines[1], "Backup Reader") || !strings.Contains(lines[1], scope) || !strings.HasSuffix(lines[1], name) {
		t.Fatalf("role assign's table:\n%s", tbl)
	}
	if tsv := mustRun(t, e, "role", "assign", sp.ObjectID, "Backup Reader", "--scope", scope, "-o", "tsv"); tsv != strings.Join([]string{sp.ObjectID, "Backup Reader", scope, name}, "\t")+"\n" {
		t.Fatalf("role assign -o tsv: %q", tsv)
	}
	if _, err := run(t, e, nil, "role", "assign", sp.ObjectID, "Backup Reader", "--scope", scope, "-o", "yaml"); err == nil || !strings.Contains(err.Error(), "use table, json or tsv") {
		t.Fatalf("role assign -o yaml: %v", err)
	}
}

// TestFaultRuleOddInputs: a rule name `fault clear NAME` could not address
// ('x/../y' was added, then clear answered 404 for 'y') is refused when
// added, a name with a '.' is cleared by name, and --percent NaN is refused
// by the CLI naming the flag (it sent an empty body: "the request body is
// empty").
func TestFaultRuleOddInputs(t *testing.T) {
	e := testserver.Start(t)
	for _, name := range []string{"x/../y", "a/b", "..", "a b", "a%2Fb"} {
		if _, err := run(t, e, nil, "fault", "add", "arm", "--name", name, "--path", "/nomatch", "--code", "X"); err == nil || !strings.Contains(err.Error(), "InvalidFaultRule") {
			t.Fatalf("fault add --name %q: %v", name, err)
		}
	}
	if out := mustRun(t, e, "fault", "list"); strings.Contains(out, "nomatch") {
		t.Fatalf("refused rules listed:\n%s", out)
	}
	mustRun(t, e, "fault", "add", "arm", "--name", "v1.2_x-y", "--path", "/nomatch", "--code", "X")
	if out := mustRun(t, e, "fault", "clear", "v1.2_x-y"); !strings.Contains(out, "removed 1") {
		t.Fatalf("fault clear v1.2_x-y: %q", out)
	}
	if _, err := run(t, e, nil, "fault", "add", "arm", "--percent", "NaN", "--code", "X"); err == nil || !strings.Contains(err.Error(), "--percent") {
		t.Fatalf("fault add --percent NaN: %v", err)
	}
	if out := mustRun(t, e, "fault", "list"); strings.Contains(out, "arm") {
		t.Fatalf("a rule was added:\n%s", out)
	}
	// verify --sample NaN passed its range check (NaN compares false) and
	// went as far as encoding the request.
	if _, err := run(t, e, nil, "verify", "--sample", "NaN"); err == nil || !strings.Contains(err.Error(), "--sample NaN") {
		t.Fatalf("verify --sample NaN: %v", err)
	}
}

// TestAdminVerbsPrintJSON: clock, fault and verify take -o json (as the
// other verbs; --json stays) and print one JSON document on stdout, an
// error too ({"error": {"code", "message"}}, exit 1 and the stderr line
// as before), and fault list -o tsv prints its rows without a header:
// fault list printed its table whatever -o said, and -o was refused by
// clock and verify.
func TestAdminVerbsPrintJSON(t *testing.T) {
	e := testserver.Start(t)
	doc := func(what, out string) any {
		t.Helper()
		var v any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("%s: not one JSON document: %v\n%s", what, err, out)
		}
		return v
	}
	errDoc := func(what, out string, err error, code, says string) {
		t.Helper()
		m, _ := doc(what, out).(map[string]any)
		ed, _ := m["error"].(map[string]any)
		if err == nil || ed == nil || code != "" && ed["code"] != code || !strings.Contains(fmt.Sprint(ed["message"]), says) {
			t.Errorf("%s: %v, stdout %s; want an error %s saying %q", what, err, out, code, says)
		}
	}
	if m, _ := doc("clock show -o json", mustRun(t, e, "clock", "show", "-o", "json")).(map[string]any); m["now"] == nil {
		t.Errorf("clock show -o json: %v", m)
	}
	out, err := run(t, e, nil, "clock", "advance", "soon", "-o", "json")
	errDoc("clock advance soon -o json", out, err, "InvalidDuration", "soon")

	mustRun(t, e, "fault", "add", "arm", "--name", "r1", "--path", "/nomatch", "--code", "X")
	rules, _ := doc("fault list -o json", mustRun(t, e, "fault", "list", "-o", "json")).([]any)
	if r, _ := rules[0].(map[string]any); len(rules) != 1 || r["name"] != "r1" || r["code"] != "X" {
		t.Errorf("fault list -o json: %v", rules)
	}
	if out := mustRun(t, e, "fault", "list", "-o", "tsv"); !strings.HasPrefix(out, "r1\tarm\t") || strings.Contains(out, "NAME") {
		t.Errorf("fault list -o tsv: %q", out)
	}
	out, err = run(t, e, nil, "fault", "add", "arm", "--name", "a b", "--code", "X", "-o", "json")
	errDoc("fault add --name 'a b' -o json", out, err, "InvalidFaultRule", "")
	if m, _ := doc("fault clear -o json", mustRun(t, e, "fault", "clear", "-o", "json")).(map[string]any); m["removed"] != float64(1) {
		t.Errorf("fault clear -o json: %v", m)
	}
	if rules := doc("fault list -o json (none)", mustRun(t, e, "fault", "list", "-o", "json")); fmt.Sprint(rules) != "[]" {
		t.Errorf("fault list -o json with no rule: %v", rules)
	}

	if m, _ := doc("verify -o json", mustRun(t, e, "verify", "-o", "json")).(map[string]any); m["ok"] != true {
		t.Errorf("verify -o json: %v", m)
	}
	out, err = run(t, e, nil, "verify", "--sample", "NaN", "-o", "json")
	errDoc("verify --sample NaN -o json", out, err, "", "--sample NaN")
	if _, err := run(t, e, nil, "clock", "show", "-o", "yaml"); err == nil || !strings.Contains(err.Error(), "use table, json or tsv") {
		t.Errorf("clock show -o yaml: %v", err)
	}
}

// TestClockAdvanceRetriedAfterTheClockMovedOn retries a forward advance
// with the id of one that was applied (its answer lost, as the CLI's error
// for an unanswered advance tells the operator to), after the clock moved
// on since (another advance, a resume): the retry moves nothing. Before,
// the retry took the recorded target, now behind the clock, for a move back
// and set the clock back to it, frozen (a day back here). A move back
// retried is a set to its absolute target, made again.
func TestClockAdvanceRetriedAfterTheClockMovedOn(t *testing.T) {
	e := testserver.Start(t)
	mustRun(t, e, "clock", "set", "2030-01-10T00:00:00Z")
	const id = "6f1c2a7e-4b0d-4c39-9d57-1f0e8a2b3c4d"
	if out := mustRun(t, e, "clock", "advance", "1h", "--request-id", id); strings.TrimSpace(out) != "2030-01-10T01:00:00Z" {
		t.Fatalf("clock advance 1h: %q", out)
	}
	if out := mustRun(t, e, "clock", "advance", "1d"); strings.TrimSpace(out) != "2030-01-11T01:00:00Z" {
		t.Fatalf("clock advance 1d: %q", out)
	}
	if out := mustRun(t, e, "clock", "advance", "1h", "--request-id", id); strings.TrimSpace(out) != "2030-01-11T01:00:00Z" {
		t.Fatalf("the advance retried with its id after the clock moved on: %q, want the clock left at 2030-01-11T01:00:00Z", out)
	}
	// A move back retried is made again: a set to its first target.
	const back = "0b6e3f1d-8a2c-4e57-b1f9-3d2c4a5e6f70"
	if out := mustRun(t, e, "clock", "advance", "-2h", "--request-id", back); strings.TrimSpace(out) != "2030-01-10T23:00:00Z" {
		t.Fatalf("clock advance -2h: %q", out)
	}
	if out := mustRun(t, e, "clock", "advance", "-2h", "--request-id", back); strings.TrimSpace(out) != "2030-01-10T23:00:00Z" {
		t.Fatalf("clock advance -2h retried: %q, want 2030-01-10T23:00:00Z", out)
	}
}

// TestClockAdvanceSaysWhatItWaitsFor: `safehold clock advance` over a
// scheduled backup that does not end (held here by a backup fault rule;
// by a dead disk owner in TestJobsSayTheyWaitForADeadDiskOwner) says on
// stderr what it waits for, the backup job by item and id, and --timeout
// stops it, saying where the clock stands and how to go on; the same
// --request-id then takes the clock to the first target. It hung without
// a word until the backup ended.
func TestClockAdvanceSaysWhatItWaitsFor(t *testing.T) {
	e := testserver.Start(t)
	fixture.ProtectDisk(t, e)
	t0 := time.Now().UTC().Truncate(time.Second).Add(time.Second)
	mustRun(t, e, "clock", "set", t0.Format(time.RFC3339))
	mustRun(t, e, "fault", "add", "backup", "--name", "hold", "--latency", "10m")
	const id = "6d1f0c52-7a0c-4c43-9d0e-0d5c3b1f2a77"
	var stderr bytes.Buffer
	_, err := run(t, e, &stderr, "clock", "advance", "PT5H", "--request-id", id, "--timeout", "20s")
	if err == nil || !strings.Contains(err.Error(), "stopped waiting for the clock advance (--timeout 20s passed)") ||
		!strings.Contains(err.Error(), "safehold clock advance PT5H --request-id "+id) {
		t.Fatalf("clock advance held by a backup: %v\nstderr: %s", err, stderr.String())
	}
	if !regexp.MustCompile(`clock advance: the clock stands at \S+, on its way to ` + regexp.QuoteMeta(t0.Add(5*time.Hour).Format(time.RFC3339)) + `; waiting for:\n  Backup of data1 \(job [0-9a-f-]{36}, InProgress, \d+%\)`).MatchString(stderr.String()) {
		t.Fatalf("clock advance said while it waited:\n%s", stderr.String())
	}
	mustRun(t, e, "fault", "clear", "hold")
	var out struct{ Now string }
	if err := json.Unmarshal([]byte(mustRun(t, e, "clock", "advance", "PT5H", "--request-id", id, "--json")), &out); err != nil {
		t.Fatal(err)
	}
	if now, err := time.Parse(time.RFC3339Nano, out.Now); err != nil || !now.Equal(t0.Add(5*time.Hour)) {
		t.Fatalf("the advance taken on with its request id ended at %s (%v), want %s", out.Now, err, t0.Add(5*time.Hour))
	}
}

// TestFaultAddAndSPListPrintTables: `fault add` prints the rule it added
// as `fault list` shows it, and `sp list` a table of the principals, as
// the other verbs print (both printed raw JSON whatever -o said); -o json
// gives the JSON as before, -o tsv the rows.
func TestFaultAddAndSPListPrintTables(t *testing.T) {
	e := testserver.Start(t)
	out := mustRun(t, e, "fault", "add", "transfer", "--name", "slow", "--latency", "2s", "--count", "1")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], "NAME") || strings.Join(strings.Fields(lines[1]), " ") != "slow transfer - - - - 2s 1 - 0" {
		t.Fatalf("fault add:\n%s", out)
	}
	var rule struct{ Name, Operation string }
	if err := json.Unmarshal([]byte(mustRun(t, e, "fault", "add", "backup", "--name", "b", "--code", "X", "-o", "json")), &rule); err != nil || rule.Name != "b" || rule.Operation != "backup" {
		t.Fatalf("fault add -o json: %+v (%v)", rule, err)
	}
	out = mustRun(t, e, "sp", "list")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) < 2 || strings.Join(strings.Fields(lines[0]), " ") != "NAME KIND OBJECT ID APP ID" ||
		!strings.Contains(out, "ServicePrincipal") || !strings.Contains(out, e.Conn.ClientID) {
		t.Fatalf("sp list:\n%s", out)
	}
	var sps []struct{ AppID string }
	if err := json.Unmarshal([]byte(mustRun(t, e, "sp", "list", "-o", "json")), &sps); err != nil || len(sps) == 0 {
		t.Fatalf("sp list -o json: %v", err)
	}
	if tsv := mustRun(t, e, "sp", "list", "-o", "tsv"); strings.Contains(tsv, "OBJECT ID") || !strings.Contains(tsv, "\t"+e.Conn.ClientID+"\n") {
		t.Fatalf("sp list -o tsv: %q", tsv)
	}
}
