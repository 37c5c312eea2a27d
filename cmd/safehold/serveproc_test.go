package main_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/testsvc"
)

// serveProcess is `bin serve args...` as a process of its own, under ctx,
// that dies with the test binary (testsvc.DiesWithParent): the tests'
// servers were left running, holding their ports, data dirs and database
// connections, when go test -timeout or a kill -9 ended the test binary.
func serveProcess(ctx context.Context, bin string, args ...string) *exec.Cmd {
	return testsvc.DiesWithParent(exec.CommandContext(ctx, bin, append([]string{"serve"}, args...)...))
}

const (
	serveParentDirEnv = "SAFEHOLD_TEST_SERVE_PARENT_DIR"
	serveParentBinEnv = "SAFEHOLD_TEST_SERVE_PARENT_BIN"
)

// TestServeParentChild is the test binary TestKilledTestTakesItsServeDown
// kills: it starts `safehold serve` as the tests do (serveProcess), prints
// its pid and waits to be killed.
func TestServeParentChild(t *testing.T) {
	dir := os.Getenv(serveParentDirEnv)
	if dir == "" {
		t.Skip("the child of TestKilledTestTakesItsServeDown")
	}
	cmd := serveProcess(context.Background(), os.Getenv(serveParentBinEnv), "--addr", "127.0.0.1:0", "--data-dir", dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("serve pid %d\n", cmd.Process.Pid)
	time.Sleep(10 * time.Minute) // killed long before
}

// TestKilledTestTakesItsServeDown: a test binary killed with SIGKILL (as go
// test -timeout or a cancelled CI job end it) takes the `safehold serve` it
// started down with it. The server went on running, an orphan, when
// nothing set its parent-death signal.
func TestKilledTestTakesItsServeDown(t *testing.T) {
	bin := cli(t)
	dir := filepath.Join(t.TempDir(), "d")
	parent, sc := testsvc.Child(t, "TestServeParentChild", []string{serveParentDirEnv + "=" + dir, serveParentBinEnv + "=" + bin})
	pid := 0
	for pid == 0 && sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "serve pid "); ok {
			pid, _ = strconv.Atoi(rest)
		}
	}
	if pid == 0 {
		parent.Process.Kill()
		parent.Wait()
		t.Fatal("the parent test printed no serve pid")
	}
	t.Cleanup(func() {
		if running(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	go func() {
		for sc.Scan() {
		}
	}()
	// The server is up (it wrote its connection file) before its parent dies.
	testsvc.WaitFor(t, "safehold serve to write connection.json", func() bool {
		if !running(pid) {
			t.Fatalf("safehold serve (pid %d) ended by itself", pid)
		}
		_, err := os.Stat(filepath.Join(dir, "connection.json"))
		return err == nil
	})
	parent.Process.Signal(syscall.SIGKILL)
	parent.Wait()
	testsvc.WaitFor(t, fmt.Sprintf("safehold serve (pid %d) to end with the killed test binary", pid), func() bool { return !running(pid) })
}

// running reports whether the process pid runs a `safehold serve` (one
// that ended and waits to be reaped does not run).
func running(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// pid (comm) state ...: the state follows the last ')'.
	if i := strings.LastIndexByte(string(stat), ')'); i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' || stat[i+2] == 'X' {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && strings.Contains(string(cmdline), "serve\x00")
}
