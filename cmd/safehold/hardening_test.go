package main_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// cli builds the safehold binary once per test run, in a temporary
// directory removed once the tests have run (testsvc.Main).
func cli(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "safehold-cli-")
		if err != nil {
			buildErr = err
			return
		}
		testsvc.AtEnd(func() { os.RemoveAll(dir) }) // it was left in /tmp by every run
		binPath = filepath.Join(dir, "safehold")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = err
			t.Logf("%s", out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build safehold: %v", buildErr)
	}
	return binPath
}

func runCLI(t *testing.T, args ...string) testsvc.Result {
	t.Helper()
	bin := cli(t) // the first call builds the binary: not part of the command's time
	return testsvc.Run(t, 60*time.Second, nil, bin, args...)
}

func listSPs(t *testing.T, dataDir string) []map[string]any {
	t.Helper()
	r := runCLI(t, "sp", "list", "--data-dir", dataDir, "-o", "json")
	if r.Code != 0 {
		t.Fatalf("sp list: %+v", r)
	}
	var l []map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &l); err != nil {
		t.Fatalf("sp list output: %v\n%s", err, r.Stdout)
	}
	return l
}

// TestSPCommands: sp create is all or nothing and prints one JSON document
// (so `| jq -r .clientSecret` works); sp delete of an unknown id exits 1.
func TestSPCommands(t *testing.T) {
	e := testserver.Start(t)
	dd := e.DataDir
	before := len(listSPs(t, dd))

	// A misspelt role: exit 1 naming it, and no principal left behind.
	r := runCLI(t, "sp", "create", "bot1", "--role", "Disk Backup Readr", "--data-dir", dd)
	if r.Code != 1 || !strings.Contains(r.Stderr, "Disk Backup Readr") {
		t.Fatalf("sp create with an unknown role: %+v", r)
	}
	// A scope that does not exist: the same.
	r = runCLI(t, "sp", "create", "bot2", "--role", "Contributor", "--scope", "/subscriptions/"+e.Sub+"/resourceGroups/nope", "--data-dir", dd)
	if r.Code != 1 {
		t.Fatalf("sp create with a missing scope: %+v", r)
	}
	if n := len(listSPs(t, dd)); n != before {
		t.Fatalf("failed sp create left %d principals behind", n-before)
	}

	// Success: exactly one JSON document, with the secret.
	r = runCLI(t, "sp", "create", "bot3", "--role", "Disk Backup Reader", "--data-dir", dd)
	if r.Code != 0 {
		t.Fatalf("sp create: %+v", r)
	}
	dec := json.NewDecoder(strings.NewReader(r.Stdout))
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("sp create output: %v\n%s", err, r.Stdout)
	}
	if dec.More() {
		t.Fatalf("sp create printed more than one JSON document:\n%s", r.Stdout)
	}
	if s, _ := doc["clientSecret"].(string); s == "" {
		t.Fatalf("sp create output has no clientSecret:\n%s", r.Stdout)
	}
	if _, ok := doc["roleAssignment"].(map[string]any); !ok {
		t.Fatalf("sp create output has no roleAssignment:\n%s", r.Stdout)
	}

	// Delete: unknown id exits 1 with a message; a known one exits 0.
	r = runCLI(t, "sp", "delete", "00000000-0000-0000-0000-000000000000", "--data-dir", dd)
	if r.Code != 1 || !strings.Contains(r.Stderr, "00000000-0000-0000-0000-000000000000") {
		t.Fatalf("sp delete of an unknown id: %+v", r)
	}
	r = runCLI(t, "sp", "delete", doc["objectId"].(string), "--data-dir", dd)
	if r.Code != 0 {
		t.Fatalf("sp delete: %+v", r)
	}
	if n := len(listSPs(t, dd)); n != before {
		t.Fatalf("after delete: %d principals, want %d", n, before)
	}
}

// TestNoServerAnswers: with no server at the address in connection.json a
// verb says so at once, naming the address and how to start one.
func TestNoServerAnswers(t *testing.T) {
	e := testserver.Start(t)
	e.Stop()
	r := runCLI(t, "sp", "list", "--data-dir", e.DataDir)
	if r.Code != 1 || !strings.Contains(r.Stderr, "no Safehold server answers at "+e.Conn.ARMEndpoint) || !strings.Contains(r.Stderr, "safehold serve") {
		t.Fatalf("sp list with no server: %+v", r)
	}
	if strings.Contains(r.Stderr, "MSAL") || strings.Contains(r.Stderr, "ClientSecretCredential") {
		t.Fatalf("sp list with no server printed a token error:\n%s", r.Stderr)
	}
}

// serve starts `safehold serve` and returns its stderr up to the banner's
// end, then stops it.
func serve(t *testing.T, dataDir string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := serveProcess(ctx, cli(t), "--addr", "127.0.0.1:0", "--data-dir", dataDir)
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(stderr)
	seen := false
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if strings.Contains(sc.Text(), "connection:") {
			seen = true
			break
		}
	}
	cmd.Process.Signal(os.Interrupt)
	go func() {
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n") // drain
		}
	}()
	cmd.Wait()
	if !seen {
		t.Fatalf("serve did not print its banner:\n%s", out.String())
	}
	return out.String()
}

// TestServeShowsTheSecretOnce: the admin client secret is printed on the
// first start only; later starts point at connection.json.
func TestServeShowsTheSecretOnce(t *testing.T) {
	dd := filepath.Join(t.TempDir(), "data")
	first := serve(t, dd)
	b, err := os.ReadFile(filepath.Join(dd, "connection.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		ClientSecret string `json:"clientSecret"`
	}
	json.Unmarshal(b, &c)
	if c.ClientSecret == "" || !strings.Contains(first, c.ClientSecret) {
		t.Fatalf("first start does not show the secret:\n%s", first)
	}
	for i := 0; i < 2; i++ {
		later := serve(t, dd)
		if strings.Contains(later, c.ClientSecret) {
			t.Fatalf("start %d shows the secret again:\n%s", i+2, later)
		}
		if !strings.Contains(later, filepath.Join(dd, "connection.json")) {
			t.Fatalf("start %d does not say where connection.json is:\n%s", i+2, later)
		}
	}
}

// TestServeRefusesUnknownLogFormat: --log-format yaml is an error, not text.
func TestServeRefusesUnknownLogFormat(t *testing.T) {
	r := runCLI(t, "serve", "--addr", "127.0.0.1:0", "--data-dir", filepath.Join(t.TempDir(), "d"), "--log-format", "yaml")
	if r.Code != 1 || !strings.Contains(r.Stderr, "--log-format") || !strings.Contains(r.Stderr, "yaml") {
		t.Fatalf("serve --log-format yaml: %+v", r)
	}
}

// TestServeStartupErrorsSayWhatToFix: serve refuses bad settings before it
// starts, each with a message naming the flag and what it takes, and a
// taken address says another program listens there.
func TestServeStartupErrorsSayWhatToFix(t *testing.T) {
	dd := filepath.Join(t.TempDir(), "d")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--log-level", "loud"}, `--log-level "loud" is not supported: use debug, info, warn or error`},
		{[]string{"--retry-after", "-1"}, "--retry-after -1: give whole seconds, 0 or more"},
		// a lease of under 3ns made the first job's renewal ticker panic the server
		{[]string{"--lease-ttl", "1ns"}, "--lease-ttl 1ns: give 1s or more"},
		{[]string{"--lease-ttl", "-1s"}, "--lease-ttl -1s: give 1s or more"},
		{[]string{"--import-dir", filepath.Join(dd, "nosuch")}, "is not a directory: give an existing directory"},
	} {
		r := runCLI(t, append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dd}, c.args...)...)
		if r.Code != 1 || !strings.Contains(r.Stderr, c.want) {
			t.Errorf("serve %v: exit %d, stderr %q (want %q)", c.args, r.Code, r.Stderr, c.want)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r := runCLI(t, "serve", "--addr", l.Addr().String(), "--data-dir", dd)
	if r.Code != 1 || !strings.Contains(r.Stderr, "address already in use") || !strings.Contains(r.Stderr, "choose another --addr") {
		t.Errorf("serve on a taken address: %+v", r)
	}
}

// TestDamagedConnectionFile: a connection.json that is empty or lacks the
// credentials is named, with how to get it rewritten (serve writes it at
// each start), for the backup-work verbs and the admin verbs alike.
func TestDamagedConnectionFile(t *testing.T) {
	dd := t.TempDir()
	for _, body := range []string{"", `{"armEndpoint":"https://127.0.0.1:8443","tenantId":"t"}`} {
		if err := os.WriteFile(filepath.Join(dd, "connection.json"), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, verb := range [][]string{{"item", "list"}, {"clock", "show"}, {"quota", "show", "westus"}} {
			r := runCLI(t, append(verb, "--data-dir", dd)...)
			if r.Code != 1 || !strings.Contains(r.Stderr, filepath.Join(dd, "connection.json")) || !strings.Contains(r.Stderr, "writes it at each start: restart the server to rewrite it") {
				t.Errorf("safehold %v with connection.json %q: %+v", verb, body, r)
			}
		}
	}
}

// TestServeOnADataDirInUse: `safehold serve` on a data dir another server
// runs on exits 1 saying so, naming the holder's process.
func TestServeOnADataDirInUse(t *testing.T) {
	e := testserver.Start(t)
	r := runCLI(t, "serve", "--addr", "127.0.0.1:0", "--data-dir", e.DataDir)
	if r.Code != 1 || !strings.Contains(r.Stderr, "is in use by another safehold serve (pid "+strconv.Itoa(os.Getpid())+")") || !strings.Contains(r.Stderr, "stop that server first") {
		t.Fatalf("serve on a data dir in use: %+v", r)
	}
}
