// Package testsvc hands tests the external services of a scaled-out Safehold:
// PostgreSQL, an Azure Blob server (Azurite) and an S3 server (versitygw).
//
// .ci/run (through .ci/services.sh) starts them and exports their addresses:
//
//	SAFEHOLD_TEST_PG      postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable
//	SAFEHOLD_TEST_AZURITE http://127.0.0.1:PORT/devstoreaccount1 (Azurite's well-known account and key)
//	SAFEHOLD_TEST_S3      http://ACCESS:SECRET@127.0.0.1:PORT
//
// When a variable is unset (a developer running go test ./... by hand), the
// PostgreSQL helper starts a throw-away cluster itself if PostgreSQL's
// binaries are installed, and the blob helpers start Azurite or versitygw if
// .ci/services.sh left them in its cache; otherwise the test is skipped with
// a message saying how to run it. Under CI=true a missing service fails the
// test instead: CI never skips them.
//
// Packages using the auto-start call Main from TestMain so that servers
// started here stop when the test binary ends.
//
// WaitFor (and WaitWithin) is the one poll-until-it-holds loop of the tests,
// with or without these services.
package testsvc

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/jackc/pgx/v5"
)

var (
	mu      sync.Mutex
	stops   []func()
	started = map[string]string{} // service → address started by this process
	failed  = map[string]string{} // service → why it could not start
)

// Main runs the tests and then stops the services this process started.
func Main(m *testing.M) int {
	code := m.Run()
	mu.Lock()
	defer mu.Unlock()
	for i := len(stops) - 1; i >= 0; i-- {
		stops[i]()
	}
	return code
}

// AtEnd has Main run fn once the tests have run (before it stops the
// services), for what a test run made for all its tests: a binary built
// once, in a temporary directory of its own.
func AtEnd(fn func()) {
	mu.Lock()
	defer mu.Unlock()
	stops = append(stops, fn)
}

// skipOrFail skips the test for a reason format states, or fails it under
// CI=true: CI installs and starts everything the tests need.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format+" [CI=true: nothing may be missing]", args...)
	}
	t.Skipf(format, args...)
}

func unavailable(t testing.TB, what, why string) {
	t.Helper()
	skipOrFail(t, "%s not available (%s); run bash .ci/run, or source .ci/services.sh first", what, why)
}

// Missing skips the test because what (a program, a package) is not
// installed, or fails it under CI=true; how says how to install it.
func Missing(t testing.TB, what, how string) {
	t.Helper()
	skipOrFail(t, "%s is not installed (%s)", what, how)
}

// Tool returns the path of the program name, which a test drives (az,
// node, qemu-io, ...); when it is not on PATH, the test is skipped or fails
// (Missing, with how).
func Tool(t testing.TB, name, how string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, name, how)
	}
	return p
}

// NodeModules returns the node_modules directory, below the directory the
// environment variable env names (def when it is unset), that holds the
// npm package pkg a test's script requires; when it does not, the test is
// skipped or fails (Missing, with how).
func NodeModules(t testing.TB, env, def, pkg, how string) string {
	t.Helper()
	dir := os.Getenv(env)
	if dir == "" {
		dir = def
	}
	nm := filepath.Join(dir, "node_modules")
	if dir == "" {
		Missing(t, fmt.Sprintf("npm package %s ($%s is not set)", pkg, env), how)
	} else if _, err := os.Stat(filepath.Join(nm, pkg, "package.json")); err != nil {
		Missing(t, fmt.Sprintf("npm package %s (in %s, $%s)", pkg, nm, env), how)
	}
	return nm
}

// Result is how a program that Run ran ended: its exit status (-1 when it
// was killed, at Run's limit), what it printed, and how long it took.
type Result struct {
	Code           int
	Stdout, Stderr string
	Took           time.Duration
}

// Run runs the program name with args, with the environment env (nil: this
// process's), for at most limit, and returns how it ended. A program that
// cannot start fails the test; one that fails is the caller's to judge
// (Result.Code).
func Run(t testing.TB, limit time.Duration, env []string, name string, args ...string) Result {
	t.Helper()
	return RunIn(t, limit, "", env, name, args...)
}

// RunIn is Run in the working directory dir ("": this process's), for
// programs that write files where they run.
func RunIn(t testing.TB, limit time.Duration, dir string, env []string, name string, args ...string) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := DiesWithParent(exec.CommandContext(ctx, name, args...))
	cmd.Env, cmd.Dir = env, dir
	// Once the program is killed at the limit, its output is what it has
	// written by then: a child it left holding the pipes (az's) made Wait
	// wait for that child too, past the limit (709 s for a limit of 600).
	cmd.WaitDelay = 10 * time.Second
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := Result{Stdout: stdout.String(), Stderr: stderr.String(), Took: time.Since(start)}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.Code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
	}
	return r
}

// RandomName is a lower-case name unique to one test.
func RandomName(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// WaitLimit is how long WaitFor waits for its condition: a guard against a
// hang, not a timing assertion (the work waited for is asynchronous).
const WaitLimit = 2 * time.Minute

// WaitFor polls cond every 20 ms until it holds, and fails the test when
// it still does not after WaitLimit; what names the awaited state in the
// failure.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	WaitWithin(t, WaitLimit, what, cond)
}

// WaitWithin is WaitFor with another limit than WaitLimit.
func WaitWithin(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SizedFile creates a file of size bytes (a hole where the file system
// keeps them) in the test's temporary directory, open for reading and
// writing; it is closed at the test's end.
func SizedFile(t testing.TB, size int64) *os.File {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "img"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	return f
}

// WaitDone waits, at most WaitLimit, for the error a goroutine sends on
// done as it ends, and fails the test when that error is not nil or when
// none comes; what names the awaited end.
func WaitDone(t testing.TB, what string, done <-chan error) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(WaitLimit):
		t.Fatalf("timed out after %v waiting for %s", WaitLimit, what)
	}
}

// Child starts this test binary again to run only the test named test (a
// child process that a crash test kills part way), with env added to its
// environment and flags (such as -test.v) on its command line; the child's
// standard error is the test's. It returns the running command and a
// scanner over the child's standard output, which the caller reads (the
// child blocks once the pipe is full). The test fails if the child does not
// start. The child dies with the test binary (DiesWithParent), and its
// temporary directories (its TMPDIR: its tests' TempDir, the servers'
// data) are made in one of the test's, removed at its end: a child
// killed part way never removes its own, which were left in /tmp.
func Child(t testing.TB, test string, env []string, flags ...string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := DiesWithParent(exec.Command(os.Args[0], append([]string{"-test.run=^" + test + "$"}, flags...)...))
	cmd.Env = append(append(os.Environ(), "TMPDIR="+t.TempDir()), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, bufio.NewScanner(out)
}

// FreePort is a loopback TCP port free now, for a server that a test
// starts with the port on its command line (and may start again on it).
// The port lies outside the kernel's ephemeral range
// (net.ipv4.ip_local_port_range), from which every listen on port 0 and
// every outgoing connection takes its port: one that net.Listen on port 0
// picked, closed and handed over could be taken by any of those in
// between (the other packages' test servers and clients, thousands under
// go test ./...), and the server then failed to listen or, worse, a
// readiness check reached another process. Only a program naming the
// port itself can take it now. 0 when no port is free.
func FreePort() int {
	lo, hi := 32768, 60999 // Linux's default
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			l, errl := strconv.Atoi(f[0])
			h, errh := strconv.Atoi(f[1])
			if errl == nil && errh == nil && l <= h {
				lo, hi = l, h
			}
		}
	}
	var ranges [][2]int // [first, last] outside [lo, hi]
	if first := 10000; lo-1 >= first {
		ranges = append(ranges, [2]int{first, lo - 1})
	}
	if hi+1 <= 65535 {
		ranges = append(ranges, [2]int{hi + 1, 65535})
	}
	n := 0
	for _, r := range ranges {
		n += r[1] - r[0] + 1
	}
	for try := 0; try < 200 && n > 0; try++ {
		k := mrand.IntN(n)
		for _, r := range ranges {
			if size := r[1] - r[0] + 1; k >= size {
				k -= size
				continue
			}
			if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", r[0]+k)); err == nil {
				l.Close()
				return r[0] + k
			}
			break
		}
	}
	return 0
}

// PostgresURL is the URL of a PostgreSQL server for tests (see the package
// documentation for where it comes from).
func PostgresURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("SAFEHOLD_TEST_PG"); u != "" {
		return u
	}
	mu.Lock()
	defer mu.Unlock()
	if u, ok := started["pg"]; ok {
		return u
	}
	if why, ok := failed["pg"]; ok {
		unavailable(t, "PostgreSQL", why)
	}
	u, stop, err := startPostgres()
	if err != nil {
		failed["pg"] = err.Error()
		unavailable(t, "PostgreSQL", err.Error()+"; set SAFEHOLD_TEST_PG")
	}
	started["pg"] = u
	stops = append(stops, stop)
	return u
}

// PostgresSchema creates a fresh schema for one test and returns a URL whose
// connections use it; the schema is dropped at cleanup.
func PostgresSchema(t testing.TB) string {
	t.Helper()
	base := PostgresURL(t)
	schema := RandomName("t_")
	pgMake(t, base, "CREATE SCHEMA "+schema, "DROP SCHEMA "+schema+" CASCADE")
	return WithParam(base, "search_path", schema)
}

// pgMake runs create on the PostgreSQL server at base, and drop at the
// test's cleanup.
func pgMake(t testing.TB, base, create, drop string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect %s: %v", base, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, create); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(ctx, base)
		if err == nil {
			c.Exec(ctx, drop)
			c.Close(ctx)
		}
	})
}

// PostgresDatabase creates a fresh database for one test and returns its
// URL; the database is dropped at cleanup (with any connection left to it).
// A test that acts on a whole database (pg_terminate_backend of every
// connection to current_database()) needs one of its own: the others share
// one database in their schemas (PostgresSchema), and go test ./... runs
// packages at once, so another package's connections died under it.
func PostgresDatabase(t testing.TB) string {
	t.Helper()
	base := PostgresURL(t)
	name := RandomName("t_")
	pgMake(t, base, "CREATE DATABASE "+name, "DROP DATABASE "+name+" WITH (FORCE)")
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// WithParam sets a query parameter of a URL.
func WithParam(raw, k, v string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	q.Set(k, v)
	u.RawQuery = q.Encode()
	return u.String()
}

func pgBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool {
		vi, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[i])))
		vj, _ := strconv.Atoi(filepath.Base(filepath.Dir(dirs[j])))
		return vi < vj
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("no PostgreSQL server binaries (initdb) installed")
}

// OwnPostgres starts a throw-away cluster for one test alone (stopped at
// cleanup), for tests that restart it: the URL of its database and restart,
// which restarts the cluster (pg_ctl restart -m fast: every connection is
// dropped) and returns once it accepts connections again.
func OwnPostgres(t testing.TB) (url string, restart func()) {
	t.Helper()
	pg, err := newPostgres()
	if err != nil {
		unavailable(t, "PostgreSQL", err.Error())
	}
	t.Cleanup(pg.stop)
	return pg.url, func() {
		t.Helper()
		if err := pg.restart(); err != nil {
			t.Fatal(err)
		}
	}
}

// FrozenPostgres starts a throw-away cluster of the test's own, as
// OwnPostgres does, and returns its URL and freeze, which stops every
// process of the cluster (SIGSTOP: the postmaster, then each backend) as a
// hung server or host would be, its kernel still accepting and
// acknowledging connections, and returns thaw (SIGCONT), which the test's
// cleanup calls too if the test did not.
func FrozenPostgres(t testing.TB) (url string, freeze func() (thaw func())) {
	t.Helper()
	pg, err := newPostgres()
	if err != nil {
		unavailable(t, "PostgreSQL", err.Error())
	}
	t.Cleanup(pg.stop)
	return pg.url, func() func() {
		t.Helper()
		pids, err := pg.pids()
		if err != nil {
			t.Fatal(err)
		}
		var once sync.Once
		thaw := func() {
			once.Do(func() {
				for i := len(pids) - 1; i >= 0; i-- {
					syscall.Kill(pids[i], syscall.SIGCONT)
				}
			})
		}
		t.Cleanup(thaw)
		for _, pid := range pids {
			if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
				thaw()
				t.Fatalf("stop postgres process %d: %v", pid, err)
			}
		}
		return thaw
	}
}

// pids are the cluster's processes: the postmaster first, then its
// children (read after the postmaster is stopped, so it forks none since).
func (pg *pgCluster) pids() ([]int, error) {
	b, err := os.ReadFile(filepath.Join(pg.data, "postmaster.pid"))
	if err != nil {
		return nil, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pm, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return nil, fmt.Errorf("postmaster.pid: %v", err)
	}
	if err := syscall.Kill(pm, syscall.SIGSTOP); err != nil {
		return nil, fmt.Errorf("stop the postmaster %d: %v", pm, err)
	}
	pids := []int{pm}
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, f := range procs {
		st, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces; it ends at the last ')'.
		i := strings.LastIndexByte(string(st), ')')
		fields := strings.Fields(string(st[i+1:]))
		if len(fields) < 2 || fields[1] != strconv.Itoa(pm) {
			continue
		}
		if pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Dir(f), "/proc/")); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// startPostgres starts a throw-away cluster on a loopback port, as
// .ci/services.sh does (as user postgres when running as root: initdb
// refuses root).
func startPostgres() (string, func(), error) {
	pg, err := newPostgres()
	if err != nil {
		return "", nil, err
	}
	return pg.url, pg.stop, nil
}

type pgCluster struct {
	url     string
	run     func(name string, args ...string) error
	data    string
	dir     string
	opts    string // the server's options (pg_ctl start -o)
	stopped bool
}

func (pg *pgCluster) stop() {
	if !pg.stopped {
		pg.stopped = true
		pg.run("pg_ctl", "-D", pg.data, "-m", "immediate", "-w", "stop")
		os.RemoveAll(pg.dir)
	}
}

func (pg *pgCluster) restart() error {
	if err := pg.run("pg_ctl", "-D", pg.data, "-l", filepath.Join(pg.dir, "log"), "-m", "fast", "-w", "-t", "30", "restart"); err != nil {
		return err
	}
	return pg.ready()
}

// ready waits until the cluster accepts connections.
func (pg *pgCluster) ready() error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		c, err := pgx.Connect(ctx, pg.url)
		if err == nil {
			c.Close(ctx)
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("postgres did not come up: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func newPostgres() (*pgCluster, error) {
	bin, err := pgBin()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "safehold-pg-")
	if err != nil {
		return nil, err
	}
	var asUser []string
	if os.Geteuid() == 0 {
		pu, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("running as root and no postgres user")
		}
		uid, _ := strconv.Atoi(pu.Uid)
		gid, _ := strconv.Atoi(pu.Gid)
		os.Chown(dir, uid, gid)
		asUser = []string{"runuser", "-u", "postgres", "--"}
	}
	run := func(name string, args ...string) error {
		full := append(append([]string{}, asUser...), append([]string{filepath.Join(bin, name)}, args...)...)
		out, err := exec.Command(full[0], full[1:]...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%s: %v: %s", name, err, strings.TrimSpace(string(out)))
		}
		return nil
	}
	data := filepath.Join(dir, "data")
	if err := run("initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	port := FreePort()
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300", port, dir)
	if err := run("pg_ctl", "-D", data, "-l", filepath.Join(dir, "log"), "-w", "-t", "30", "-o", opts, "start"); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	pg := &pgCluster{url: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port), run: run, data: data, dir: dir, opts: opts}
	if err := pg.ready(); err != nil {
		pg.stop()
		return nil, err
	}
	return pg, nil
}

// Azurite's published development account (not a secret).
const (
	AzuriteAccount = "devstoreaccount1"
	AzuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// S3 credentials of the versitygw that .ci/services.sh and this package start.
const (
	S3Access = "safehold"
	S3Secret = "safehold-secret"
)

// CacheDir is where .ci/services.sh installs Azurite and versitygw.
func CacheDir() string {
	if d := os.Getenv("SAFEHOLD_CACHE"); d != "" {
		return d
	}
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "safehold")
	}
	return filepath.Join(os.TempDir(), "safehold-cache")
}

// AzuriteEndpoint is the blob endpoint of an Azurite server for tests
// (account AzuriteAccount, key AzuriteKey).
func AzuriteEndpoint(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("SAFEHOLD_TEST_AZURITE"); u != "" {
		return u
	}
	return startCached(t, "azurite", "Azurite", func() (string, func(), error) {
		bin := filepath.Join(CacheDir(), "azurite", "node_modules", ".bin", "azurite-blob")
		if _, err := os.Stat(bin); err != nil {
			return "", nil, fmt.Errorf("%s not installed", bin)
		}
		port := FreePort()
		dir, _ := os.MkdirTemp("", "safehold-azurite-")
		cmd := exec.Command(bin, "--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(port), "--loose", "--skipApiVersionCheck",
			"--inMemoryPersistence", "--extentMemoryLimit", "1024", "--silent")
		return startProcess(cmd, dir, fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("http://127.0.0.1:%d/%s", port, AzuriteAccount))
	})
}

// AzuriteContainer is the --blob URL of a new container on the Azurite of
// AzuriteEndpoint ("azblob://NAME?endpoint=..."; the account and key are
// AzuriteAccount and AzuriteKey, from AZURE_STORAGE_ACCOUNT and
// AZURE_STORAGE_KEY), deleted at the test's end: Azurite keeps blobs in
// memory.
func AzuriteContainer(t testing.TB, prefix string) string {
	t.Helper()
	az := AzuriteEndpoint(t)
	container := strings.ToLower(RandomName(prefix))
	t.Cleanup(func() {
		cred, err := azblob.NewSharedKeyCredential(AzuriteAccount, AzuriteKey)
		if err != nil {
			return
		}
		if c, err := azblob.NewClientWithSharedKeyCredential(az+"/", cred, nil); err == nil {
			c.DeleteContainer(context.Background(), container, nil)
		}
	})
	return "azblob://" + container + "?endpoint=" + url.QueryEscape(az)
}

// S3Endpoint is the endpoint of an S3 server for tests (credentials S3Access
// and S3Secret unless SAFEHOLD_TEST_S3 carries others as user:password).
func S3Endpoint(t testing.TB) (endpoint, access, secret string) {
	t.Helper()
	raw := os.Getenv("SAFEHOLD_TEST_S3")
	if raw == "" {
		raw = startCached(t, "s3", "the S3 server (versitygw)", func() (string, func(), error) {
			bin := filepath.Join(CacheDir(), "bin", "versitygw")
			if _, err := os.Stat(bin); err != nil {
				return "", nil, fmt.Errorf("%s not installed", bin)
			}
			port := FreePort()
			dir, _ := os.MkdirTemp("", "safehold-s3-")
			cmd := exec.Command(bin, "--access", S3Access, "--secret", S3Secret, "--port", fmt.Sprintf("127.0.0.1:%d", port), "posix", dir)
			return startProcess(cmd, dir, fmt.Sprintf("127.0.0.1:%d", port), fmt.Sprintf("http://%s:%s@127.0.0.1:%d", S3Access, S3Secret, port))
		})
	}
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("SAFEHOLD_TEST_S3: %v", err)
	}
	access, secret = S3Access, S3Secret
	if u.User != nil {
		access = u.User.Username()
		secret, _ = u.User.Password()
	}
	u.User = nil
	return u.String(), access, secret
}

func startCached(t testing.TB, key, what string, start func() (string, func(), error)) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if u, ok := started[key]; ok {
		return u
	}
	if why, ok := failed[key]; ok {
		unavailable(t, what, why)
	}
	u, stop, err := start()
	if err != nil {
		failed[key] = err.Error()
		unavailable(t, what, err.Error())
	}
	started[key] = u
	stops = append(stops, stop)
	return u
}

// startProcess starts cmd and waits until addr accepts connections.
func startProcess(cmd *exec.Cmd, dir, addr, url string) (string, func(), error) {
	DiesWithParent(cmd)
	log, _ := os.Create(filepath.Join(dir, "server.log"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		cmd.Process.Kill()
		cmd.Wait()
		os.RemoveAll(dir)
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			return url, stop, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	stop()
	return "", nil, fmt.Errorf("%s did not listen on %s", cmd.Path, addr)
}

// Postgres is a throw-away cluster of one test's own (OutagePostgres), with
// the outages an operator's database goes through.
type Postgres struct {
	URL string
	t   testing.TB
	pg  *pgCluster
}

// OutagePostgres starts a throw-away cluster for one test alone (stopped at
// cleanup), whose outages the test causes through the methods of Postgres.
func OutagePostgres(t testing.TB) *Postgres {
	t.Helper()
	pg, err := newPostgres()
	if err != nil {
		unavailable(t, "PostgreSQL", err.Error())
	}
	t.Cleanup(pg.stop)
	return &Postgres{URL: pg.url, t: t, pg: pg}
}

// Restart restarts the cluster (pg_ctl restart -m fast, as a minor upgrade
// does: every connection is dropped) and returns once it accepts
// connections again.
func (p *Postgres) Restart() {
	p.t.Helper()
	if err := p.pg.restart(); err != nil {
		p.t.Fatal(err)
	}
}

// Crash SIGKILLs every process of the cluster (the postmaster first: a
// host or container that dies); connections are refused until Start.
func (p *Postgres) Crash() {
	p.t.Helper()
	pids, err := p.pg.pids() // stops the postmaster, so it forks no more
	if err != nil {
		p.t.Fatal(err)
	}
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	// Wait until they are gone: a start finds their shared memory otherwise.
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		alive := false
		for _, pid := range pids {
			if syscall.Kill(pid, 0) == nil {
				if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && !strings.Contains(string(st[strings.LastIndexByte(string(st), ')')+1:]), " Z ") {
					alive = true
				}
			}
		}
		if !alive {
			return
		}
	}
	p.t.Fatal("the cluster's processes did not die")
}

// Stop stops the cluster (pg_ctl stop -m fast); connections are refused
// until Start.
func (p *Postgres) Stop() {
	p.t.Helper()
	if err := p.pg.run("pg_ctl", "-D", p.pg.data, "-m", "fast", "-w", "-t", "30", "stop"); err != nil {
		p.t.Fatal(err)
	}
}

// StopImmediate stops the cluster as pg_ctl stop -m immediate does (every
// backend quits without a checkpoint; the next start recovers);
// connections are refused until Start.
func (p *Postgres) StopImmediate() {
	p.t.Helper()
	if err := p.pg.run("pg_ctl", "-D", p.pg.data, "-m", "immediate", "-w", "-t", "30", "stop"); err != nil {
		p.t.Fatal(err)
	}
}

// Start starts the cluster after Stop or Crash (recovering, after a crash)
// and returns once it accepts connections.
func (p *Postgres) Start() {
	p.t.Helper()
	if err := p.pg.run("pg_ctl", "-D", p.pg.data, "-l", filepath.Join(p.pg.dir, "log"), "-w", "-t", "60", "-o", p.pg.opts, "start"); err != nil {
		p.t.Fatal(err)
	}
	if err := p.pg.ready(); err != nil {
		p.t.Fatal(err)
	}
}

// Exhaust takes every connection the cluster accepts (max_connections,
// its superuser slots included), as a runaway client would, and returns
// release, which closes them (the test's cleanup calls it too).
func (p *Postgres) Exhaust() (release func()) {
	p.t.Helper()
	ctx := context.Background()
	var conns []*pgx.Conn
	for i := 0; ; i++ {
		c, err := pgx.Connect(ctx, p.URL)
		if err != nil {
			if !strings.Contains(err.Error(), "53300") && !strings.Contains(err.Error(), "too many") && !strings.Contains(err.Error(), "remaining connection slots") {
				p.t.Fatalf("connection %d: %v", i, err)
			}
			break
		}
		conns = append(conns, c)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			for _, c := range conns {
				c.Close(ctx)
			}
		})
	}
	p.t.Cleanup(release)
	return release
}
