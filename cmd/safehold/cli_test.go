package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/server"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// run runs the CLI in-process against the test server.
func run(t *testing.T, e *testserver.Env, stderr io.Writer, args ...string) (string, error) {
	t.Helper()
	return runCtx(t, context.Background(), e, stderr, args...)
}

// runCtx is run with the command's context under ctx (canceling it is the
// Ctrl-C of main).
func runCtx(t *testing.T, ctx context.Context, e *testserver.Env, stderr io.Writer, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	if stderr == nil {
		stderr = io.Discard
	}
	root.SetErr(stderr)
	root.SetArgs(append(args, "--data-dir", e.DataDir))
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

func mustRun(t *testing.T, e *testserver.Env, args ...string) string {
	t.Helper()
	out, err := run(t, e, nil, args...)
	if err != nil {
		t.Fatalf("safehold %s: %v", strings.Join(args, " "), err)
	}
	return out
}

var (
	guidRE = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)
	timeRE = regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})`)
	hexRE  = regexp.MustCompile(`\b[0-9a-f]{32}\b`)
)

// normalize replaces ids and times by placeholders of the same length (so
// table columns keep their widths): each distinct GUID gets a number in
// order of appearance, and so does each 32-hex-digit recovery point name;
// every time becomes 2000-01-01T00:00:00Z (tables print times without
// fractions, so their widths stay).
func normalize(s string) string {
	seen := map[string]int{}
	s = guidRE.ReplaceAllStringFunc(s, func(g string) string {
		g = strings.ToLower(g)
		if _, ok := seen[g]; !ok {
			seen[g] = len(seen) + 1
		}
		return fmt.Sprintf("%08d-0000-0000-0000-000000000000", seen[g])
	})
	hexes := map[string]int{}
	s = hexRE.ReplaceAllStringFunc(s, func(h string) string {
		if _, ok := hexes[h]; !ok {
			hexes[h] = len(hexes) + 1
		}
		return fmt.Sprintf("p%031d", hexes[h])
	})
	return timeRE.ReplaceAllString(s, "2000-01-01T00:00:00Z")
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	got = normalize(got)
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from %s:\n--- got\n%s\n--- want\n%s", name, path, got, want)
	}
}

// TestCLI drives the backup-work commands against a real server with a
// protected disk (Backup vault) and a protected VM (Recovery Services
// vault), comparing table, TSV and JSON output with golden files.
func TestCLI(t *testing.T) {
	e := testserver.Start(t)
	dv := fixture.ProtectDisk(t, e)
	fixture.ProtectVM(t, e)

	golden(t, "vault-list", mustRun(t, e, "vault", "list"))
	golden(t, "vault-list-json", mustRun(t, e, "vault", "list", "-o", "json"))
	golden(t, "item-list", mustRun(t, e, "item", "list"))
	golden(t, "item-list-json", mustRun(t, e, "item", "list", "-o", "json"))
	golden(t, "item-list-tsv", mustRun(t, e, "item", "list", "-o", "tsv"))

	// Back up both kinds (not a terminal: no progress bar on stderr).
	var stderr bytes.Buffer
	out, err := run(t, e, &stderr, "backup", "now", "data1-bi")
	if err != nil {
		t.Fatal(err)
	}
	if stderr.Len() != 0 {
		t.Errorf("progress written to a non-terminal: %q", stderr.String())
	}
	if !strings.Contains(out, "Completed") || !strings.Contains(out, "100%") {
		t.Fatalf("backup now:\n%s", out)
	}
	// The job's table pads no row to the width of its id (each row of it
	// wrapped on a terminal).
	for _, l := range strings.Split(out, "\n") {
		if strings.HasSuffix(l, " ") {
			t.Errorf("backup now: a line ends in spaces: %q", l)
		}
	}
	if out := mustRun(t, e, "backup", "now", "app1"); !strings.Contains(out, "Completed") {
		t.Fatalf("backup now app1:\n%s", out)
	}
	// --no-wait returns the running (or already finished) job; job wait waits for it.
	out = mustRun(t, e, "backup", "now", "data1", "--no-wait", "-o", "json")
	name := regexp.MustCompile(`"name": "([^"]+)"`).FindStringSubmatch(out)
	if name == nil {
		t.Fatalf("no job name in %s", out)
	}
	if out := mustRun(t, e, "job", "wait", name[1], "-o", "tsv"); !strings.Contains(out, "Status\tCompleted") {
		t.Fatalf("job wait:\n%s", out)
	}

	golden(t, "job-list", mustRun(t, e, "job", "list", "--operation", "Backup", "--vault", "rsvault1"))
	jl := mustRun(t, e, "job", "list", "-o", "json")
	// (a scheduled PT4H backup may add a job and a point when the test crosses a 4-hour boundary)
	if strings.Count(jl, `"operation": "Backup"`) < 3 || strings.Count(jl, `"operation": "ConfigureBackup"`) < 2 {
		t.Fatalf("job list json:\n%s", jl)
	}
	golden(t, "job-show-json", mustRun(t, e, "job", "show", name[1], "-o", "json"))

	// Points: the disk has two (Default tag, 7 days), the VM one.
	pl := mustRun(t, e, "point", "list", "data1-bi", "-o", "tsv")
	if lines := strings.Split(strings.TrimSpace(pl), "\n"); len(lines) < 2 || !strings.Contains(lines[0], "\tIncremental\tDefault\t") {
		t.Fatalf("points of data1-bi:\n%s", pl)
	}
	golden(t, "point-list-vm", mustRun(t, e, "point", "list", "app1"))
	// The VM's point shows when it expires (its recoveryPointProperties:
	// an on-demand backup keeps it 30 days), as the disk's do.
	var vmPoints []struct {
		Time   *time.Time `json:"time"`
		Expiry *time.Time `json:"expiryTime"`
	}
	if err := json.Unmarshal([]byte(mustRun(t, e, "point", "list", "app1", "-o", "json")), &vmPoints); err != nil || len(vmPoints) == 0 {
		t.Fatalf("points of app1: %v %v", vmPoints, err)
	}
	if p := vmPoints[0]; p.Time == nil || p.Expiry == nil || p.Expiry.Sub(*p.Time) < 29*24*time.Hour || p.Expiry.Sub(*p.Time) > 31*24*time.Hour {
		t.Errorf("the VM's point: time %v, expiry %v; want an expiry 30 days after it", p.Time, p.Expiry)
	}
	checkLastBackups(t, e)
	point := strings.Split(strings.Split(pl, "\n")[0], "\t")[0]

	// Restore the newest point to a new disk and read it back (sparse).
	if out := mustRun(t, e, "restore", point, "--target-disk", "restored1", "--target-resource-group", "target-rg"); !strings.Contains(out, "Completed") {
		t.Fatalf("restore:\n%s", out)
	}
	img := filepath.Join(t.TempDir(), "restored.img")
	out = mustRun(t, e, "disk", "download", "restored1", img, "-o", "json")
	if !strings.Contains(out, `"bytesWritten": 4194304`) {
		t.Fatalf("download wrote other than the 4 MiB of data:\n%s", out)
	}
	checkImage(t, img, 1<<30, dv.Written)

	// Upload a sparse image to a new disk, download it again.
	src := filepath.Join(t.TempDir(), "src.img")
	f, _ := os.Create(src)
	model := map[int64][]byte{}
	for i, off := range []int64{8 << 20, 700 << 20} {
		b := bytes.Repeat([]byte{byte(i + 7), 0x5a}, 1<<19)
		f.WriteAt(b, off)
		model[off] = b
	}
	f.Truncate(1 << 30)
	f.Close()
	out = mustRun(t, e, "disk", "upload", src, "up1", "--resource-group", "disk-rg", "-o", "json")
	if !strings.Contains(out, `"bytesWritten": 2097152`) || !strings.Contains(out, `"created": true`) {
		t.Fatalf("upload:\n%s", out)
	}
	back := filepath.Join(t.TempDir(), "back.img")
	mustRun(t, e, "disk", "download", "up1", back)
	checkImage(t, back, 1<<30, model)

	st := mustRun(t, e, "status", "-o", "json")
	for _, want := range []string{`"health": "ok"`, `"BackupVault": 1`, `"RecoveryServicesVault": 1`, `"items": 2`, `"dedupRatio"`, `"module": "github.com/safehold/safehold"`} {
		if !strings.Contains(st, want) {
			t.Fatalf("status lacks %s:\n%s", want, st)
		}
	}
	if out := mustRun(t, e, "status"); !regexp.MustCompile(`DedupRatio\s+│ \d+\.\d\dx`).MatchString(out) || !strings.Contains(out, "StorageUsed") {
		t.Fatalf("status table:\n%s", out)
	}

	// Errors say what to do.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"backup", "now", "nosuch"}, "see `safehold item list`"},
		{[]string{"restore", point}, "--target-disk and --target-resource-group are required"},
		{[]string{"point", "list", "data1", "-o", "yaml"}, "use table, json or tsv"},
		{[]string{"disk", "upload", src, "nosuchdisk"}, "pass --resource-group to create it"},
	} {
		if _, err := run(t, e, nil, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("safehold %s: %v (want %q)", strings.Join(c.args, " "), err, c.want)
		}
	}
	vr := newRootCmd()
	var vout bytes.Buffer
	vr.SetOut(&vout)
	vr.SetArgs([]string{"version", "-o", "json"})
	if err := vr.Execute(); err != nil {
		t.Fatal(err)
	}
	if out := vout.String(); !strings.Contains(out, `"module": "github.com/safehold/safehold"`) || !strings.Contains(out, `"goVersion": "go1.`) {
		t.Errorf("version:\n%s", out)
	}
	// The root help says where the commands find the server.
	vr = newRootCmd()
	vout.Reset()
	vr.SetOut(&vout)
	vr.SetArgs([]string{"--help"})
	if err := vr.Execute(); err != nil {
		t.Fatal(err)
	}
	if out := vout.String(); !strings.Contains(out, "safehold serve starts the server") || !strings.Contains(out, "through the connection.json below the\ndirectory they run in: --data-dir (env SAFEHOLD_DATA_DIR)") {
		t.Errorf("safehold --help:\n%s", out)
	}
	// A test binary carries no version control stamp, as a binary built with
	// -buildvcs=false (GOFLAGS) in a checkout does not: the line says why.
	vr = newRootCmd()
	vout.Reset()
	vr.SetOut(&vout)
	vr.SetArgs([]string{"version"})
	if err := vr.Execute(); err != nil {
		t.Fatal(err)
	}
	if out := vout.String(); !strings.Contains(out, "commit  unknown (no version control stamp: built outside a git checkout, or with -buildvcs=false") {
		t.Errorf("version without a stamp:\n%s", out)
	}
	e.Stop()
	if _, err := run(t, e, nil, "item", "list"); err == nil || !strings.Contains(err.Error(), "is not answering: start it with `safehold serve") {
		t.Errorf("server stopped: %v", err)
	}
	root := newRootCmd()
	root.SetArgs([]string{"item", "list", "--data-dir", t.TempDir()})
	root.SetOut(io.Discard)
	if err := root.Execute(); err == nil || !strings.Contains(err.Error(), "start the server with `safehold serve") {
		t.Errorf("no server: %v", err)
	}
}

// checkImage compares a downloaded image with the written regions and checks
// it stayed sparse.
func checkImage(t *testing.T, path string, size int64, model map[int64][]byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) != size {
		t.Fatalf("%s: %d bytes, want %d", path, len(b), size)
	}
	want := make([]byte, size)
	for off, p := range model {
		copy(want[off:], p)
	}
	if !bytes.Equal(b, want) {
		t.Fatalf("%s differs from what was written", path)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	if st.Blocks*512 > 64<<20 {
		t.Fatalf("%s is not sparse: %d bytes allocated", path, st.Blocks*512)
	}
}

// ptyWriter collects what the program wrote to a pseudo-terminal.
type ptyOut struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (p *ptyOut) String() string { p.mu.Lock(); defer p.mu.Unlock(); return p.buf.String() }

// On a terminal, backup now and restore draw a progress bar that reaches
// 100%; on a pipe they do not (TestCLI).
func TestCLIProgressBarOnTerminal(t *testing.T) {
	e := testserver.Start(t)
	fixture.ProtectDisk(t, e)
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatalf("open pty: %v", err)
	}
	defer ptmx.Close()
	pty.Setsize(ptmx, &pty.Winsize{Rows: 24, Cols: 120})
	var got ptyOut
	done := make(chan struct{})
	go func() {
		defer close(done)
		b := make([]byte, 4096)
		for {
			n, err := ptmx.Read(b)
			got.mu.Lock()
			got.buf.Write(b[:n])
			got.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	out, err := run(t, e, tty, "backup", "now", "data1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Completed") {
		t.Fatalf("backup now:\n%s", out)
	}
	pl := mustRun(t, e, "point", "list", "data1", "-o", "tsv")
	point := strings.Split(pl, "\t")[0]
	if _, err := run(t, e, tty, "restore", point, "--target-disk", "r1", "--target-resource-group", "target-rg"); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(t.TempDir(), "r1.img")
	if _, err := run(t, e, tty, "disk", "download", "r1", img); err != nil {
		t.Fatal(err)
	}
	tty.Close()
	deadline := time.Now().Add(testsvc.WaitLimit)
	for !strings.Contains(got.String(), "Download r1") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	s := got.String()
	for _, want := range []string{"Backup data1", "Restore r1", "Download r1", "100%", "4.0 MiB"} {
		if !strings.Contains(s, want) {
			t.Errorf("terminal output lacks %q:\n%q", want, s)
		}
	}
	if !strings.Contains(s, "\r") {
		t.Errorf("the bar is not redrawn in place: %q", s)
	}
}

// TestStatusWithoutData: on a server that stores nothing, `safehold status`
// shows the dedup ratio as n/a (there is no ratio of no data), not 0.00x.
// TestStatusNamesTheServerClock checks that status names a moved or
// frozen server clock (after clock advance it stays frozen, and no
// scheduled backup runs until clock resume: status said nothing of it).
func TestStatusNamesTheServerClock(t *testing.T) {
	e := testserver.Start(t)
	if out := mustRun(t, e, "status"); !regexp.MustCompile(`Clock\s+│ \d{4}-\d\d-\d\dT`).MatchString(out) || strings.Contains(out, "frozen") || strings.Contains(out, "real time") {
		t.Fatalf("status of a server on real time:\n%s", out)
	}
	mustRun(t, e, "clock", "advance", "36h")
	// A Reader may not read the admin clock: status names the server's time
	// all the same (it was missing), not the offset.
	var sp struct{ AppID, ClientSecret string }
	if err := json.Unmarshal([]byte(mustRun(t, e, "sp", "create", "status-reader", "--role", "Reader")), &sp); err != nil || sp.AppID == "" {
		t.Fatalf("sp create: %+v %v", sp, err)
	}
	if out := mustRun(t, e, "status", "--client-id", sp.AppID, "--client-secret", sp.ClientSecret); !regexp.MustCompile(`Clock\s+│ \d{4}-\d\d-\d\dT\S+ \(whether it was moved or is frozen only an Owner reads\)`).MatchString(out) {
		t.Fatalf("status as a Reader:\n%s", out)
	}
	out := mustRun(t, e, "status")
	if !regexp.MustCompile(`Clock\s+│ frozen at \S+, 3[56]h\d+m\d+s ahead of real time now \(it falls behind as real time passes\): no scheduled backup runs until .safehold clock resume.`).MatchString(out) {
		t.Fatalf("status after clock advance 36h:\n%s", out)
	}
	mustRun(t, e, "clock", "resume")
	var st struct{ Clock *statusClock }
	if err := json.Unmarshal([]byte(mustRun(t, e, "status", "-o", "json")), &st); err != nil || st.Clock == nil || st.Clock.Frozen || !strings.HasPrefix(st.Clock.Offset, "35h") && !strings.HasPrefix(st.Clock.Offset, "36h") {
		t.Fatalf("status -o json after clock resume: %+v, %v", st.Clock, err)
	}
}

func TestStatusWithoutData(t *testing.T) {
	e := testserver.Start(t)
	out := mustRun(t, e, "status")
	if !regexp.MustCompile(`DedupRatio\s+│ n/a`).MatchString(out) || strings.Contains(out, "0.00x") {
		t.Fatalf("status of an empty server:\n%s", out)
	}
	if out := mustRun(t, e, "status", "-o", "tsv"); !strings.Contains(out, "n/a") {
		t.Fatalf("status tsv of an empty server:\n%s", out)
	}
}

// TestCLIErrorsSayWhatToFix: the errors a user meets first name the fix. A
// failed job's error carries its recommended action (here the role the
// vault's identity lacks on a restore's target group, with the group); a
// refused sign-in is the token service's reason and the flags to check, not
// the SDK's dump of the exchange; a missing argument shows the usage line;
// a missing resource group says to create it.
func TestCLIErrorsSayWhatToFix(t *testing.T) {
	e := testserver.Start(t)
	dv := fixture.ProtectDisk(t, e)
	dv.Backup(t, e)
	e.ResourceGroups("norole-rg")
	point := strings.Split(mustRun(t, e, "point", "list", "data1-bi", "-o", "tsv"), "\t")[0]
	_, err := run(t, e, nil, "restore", point, "--target-disk", "r1", "--target-resource-group", "norole-rg")
	if err == nil || !strings.Contains(err.Error(), "UserErrorMissingRequiredPermissions") ||
		!strings.Contains(err.Error(), "to fix: ") || !strings.Contains(err.Error(), "'Disk Restore Operator'") || !strings.Contains(err.Error(), "/resourceGroups/norole-rg") {
		t.Errorf("restore without the vault's role on the target group: %v", err)
	}
	job := regexp.MustCompile(`safehold job show ([0-9a-f-]+)`).FindStringSubmatch(fmt.Sprint(err))
	if job == nil {
		t.Fatalf("no job named in %v", err)
	}
	if out := mustRun(t, e, "job", "show", job[1], "-o", "json"); !strings.Contains(out, `"recommendedAction": "`) || !strings.Contains(out, "Disk Restore Operator") {
		t.Errorf("job show of the failed restore:\n%s", out)
	}
	if out := mustRun(t, e, "job", "show", job[1]); !regexp.MustCompile(`RecommendedAction\s+│ .*Disk Restore Operator`).MatchString(out) {
		t.Errorf("job show table of the failed restore:\n%s", out)
	}

	// job list's table cuts the long error (job show has it whole), TSV does not.
	if out := mustRun(t, e, "job", "list", "--status", "Failed"); !strings.Contains(out, "UserErrorMissingRequiredPermissions: Appropriate permission…") {
		t.Errorf("job list table of the failed restore:\n%s", out)
	}
	if out := mustRun(t, e, "job", "list", "--status", "Failed", "-o", "tsv"); !strings.Contains(out, "UserErrorMissingRequiredPermissions: Appropriate permissions to perform the operation is missing.") {
		t.Errorf("job list tsv of the failed restore:\n%s", out)
	}

	_, err = run(t, e, nil, "item", "list", "--client-id", e.Conn.ClientID, "--client-secret", "not-the-secret")
	if err == nil || !strings.Contains(err.Error(), "sign-in failed: AADSTS7000215") || !strings.Contains(err.Error(), "check --client-id and --client-secret") ||
		strings.Contains(err.Error(), "RESPONSE") || strings.Contains(err.Error(), "-----") {
		t.Errorf("item list with a wrong secret: %v", err)
	}
	_, err = run(t, e, nil, "backup", "now")
	if err == nil || !strings.Contains(err.Error(), "usage: safehold backup now ITEM [flags] (see `safehold backup now --help`)") {
		t.Errorf("backup now without an item: %v", err)
	}
	_, err = run(t, e, nil, "job", "list", "--state", "Failed")
	if err == nil || !strings.Contains(err.Error(), "unknown flag: --state") || !strings.Contains(err.Error(), "usage: safehold job list") {
		t.Errorf("job list with an unknown flag: %v", err)
	}
	_, err = run(t, e, nil, "job", "list", "--status", "Done")
	if err == nil || !strings.Contains(err.Error(), `--status "Done": use one of InProgress, Completed,`) {
		t.Errorf("job list --status Done: %v", err)
	}
	if out := mustRun(t, e, "job", "list", "--status", "completed", "-o", "tsv"); !strings.Contains(out, "\tCompleted\t") {
		t.Errorf("job list --status completed (any case):\n%s", out)
	}
	img := filepath.Join(t.TempDir(), "one.img")
	if err := os.WriteFile(img, bytes.Repeat([]byte{1}, 4096), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = run(t, e, nil, "disk", "upload", img+".missing", "new1", "--resource-group", "target-rg")
	if err == nil || !strings.Contains(err.Error(), "no such file or directory: give the path of a raw disk image file") {
		t.Errorf("disk upload of a missing file: %v", err)
	}
	_, err = run(t, e, nil, "disk", "upload", img, "new1", "--resource-group", "no-such-rg")
	if err == nil || !strings.Contains(err.Error(), "ResourceGroupNotFound") || !strings.Contains(err.Error(), "create the resource group first") {
		t.Errorf("disk upload into a missing group: %v", err)
	}
}

// checkLastBackups checks item list's last backup of both kinds of item
// after their backups: a backup instance's is its newest recovery point's
// time (the column was empty for every backup instance), a protected
// item's is set.
func checkLastBackups(t *testing.T, e *testserver.Env) {
	t.Helper()
	var items []struct {
		Name, VaultKind string
		LastBackup      *time.Time
	}
	if err := json.Unmarshal([]byte(mustRun(t, e, "item", "list", "-o", "json")), &items); err != nil || len(items) != 2 {
		t.Fatalf("item list -o json: %d items, %v", len(items), err)
	}
	var points []struct{ Time *time.Time }
	if err := json.Unmarshal([]byte(mustRun(t, e, "point", "list", "data1-bi", "-o", "json")), &points); err != nil || len(points) == 0 || points[0].Time == nil {
		t.Fatalf("point list data1-bi -o json: %+v, %v", points, err)
	}
	newest := *points[0].Time
	for _, p := range points {
		if p.Time != nil && p.Time.After(newest) {
			newest = *p.Time
		}
	}
	for _, it := range items {
		switch {
		case it.LastBackup == nil:
			t.Errorf("item list: %s (%s) has no last backup", it.Name, it.VaultKind)
		case it.VaultKind == kindDP && !it.LastBackup.Equal(newest):
			t.Errorf("item list: %s's last backup is %s, its newest recovery point's time %s", it.Name, it.LastBackup, newest)
		}
	}
	if out := mustRun(t, e, "item", "list"); !strings.Contains(out, newest.Local().Format("2006-01-02")) && !strings.Contains(out, newest.UTC().Format("2006-01-02")) {
		t.Errorf("item list's table shows no last backup of data1-bi (%s):\n%s", newest, out)
	}
	// An instance whose points cannot be read (here a fault rule refuses
	// their list as a role without recoveryPoints/read would) is listed
	// with no last backup and a warning naming it; the list is not lost
	// (it failed as a whole before).
	mustRun(t, e, "fault", "add", "arm", "--name", "no-points", "--method", "GET", "--path", "*/backupInstances/*/recoveryPoints",
		"--status", "403", "--code", "AuthorizationFailed", "--message", "no recoveryPoints/read here")
	var stderr strings.Builder
	out, err := run(t, e, &stderr, "item", "list", "-o", "json")
	mustRun(t, e, "fault", "clear", "no-points")
	if err != nil {
		t.Fatalf("item list with one instance's points refused: %v\n%s", err, stderr.String())
	}
	items = nil
	if err := json.Unmarshal([]byte(out), &items); err != nil || len(items) != 2 {
		t.Fatalf("item list -o json with one instance's points refused: %d items, %v\n%s", len(items), err, out)
	}
	for _, it := range items {
		if it.VaultKind == kindDP && it.LastBackup != nil {
			t.Errorf("item list: %s shows a last backup %s its points' list was refused", it.Name, it.LastBackup)
		}
		if it.VaultKind != kindDP && it.LastBackup == nil {
			t.Errorf("item list: %s lost its last backup to another instance's refused points", it.Name)
		}
	}
	if w := stderr.String(); !strings.Contains(w, "data1-bi") || !strings.Contains(w, "AuthorizationFailed") {
		t.Errorf("item list's warning does not name the instance and the error:\n%s", w)
	}
}

// TestStatusSaysTheDataDirIsFull: with the server's data directory full,
// `safehold status` shows the server unhealthy and its DataDir row says
// why (no space left), the rest reported as usual; it showed unhealthy
// (once /healthz checked the data dir) without a row saying what failed.
func TestStatusSaysTheDataDirIsFull(t *testing.T) {
	dir := testsvc.SmallDisk(t, 64)
	e := testserver.Start(t, func(c *server.Config) { c.DataDir = filepath.Join(dir, "data") })
	if out := mustRun(t, e, "status"); !regexp.MustCompile(`DataDir\s+│ ok`).MatchString(out) {
		t.Fatalf("status before the data dir fills up:\n%s", out)
	}
	testsvc.FillUp(t, filepath.Join(dir, "filler"), 0)
	out := mustRun(t, e, "status")
	if !regexp.MustCompile(`Health\s+│ unhealthy`).MatchString(out) || !regexp.MustCompile(`DataDir\s+│ unhealthy .*no space left`).MatchString(out) || !strings.Contains(out, "Vaults") {
		t.Fatalf("status with the data dir full:\n%s", out)
	}
}
