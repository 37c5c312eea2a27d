package main

import (
	"os"
	"os/exec"
	"testing"

	"github.com/safehold/safehold/internal/testsvc"
)

// TestMain stops the services (PostgreSQL, Azurite, S3) that the tests
// started themselves when .ci/services.sh did not provide them. With
// asCLI set, the test binary is the safehold command (asCLIProcess).
func TestMain(m *testing.M) {
	if os.Getenv(asCLI) != "" {
		main()
		os.Exit(0)
	}
	os.Exit(testsvc.Main(m))
}

const asCLI = "SAFEHOLD_TEST_AS_CLI"

// asCLIProcess is the safehold command with args as a process of its own
// (this test binary running main), for what only a process shows: how it
// takes a signal, and its exit.
func asCLIProcess(args ...string) *exec.Cmd {
	cmd := testsvc.DiesWithParent(exec.Command(os.Args[0], args...))
	cmd.Env = append(os.Environ(), asCLI+"=1")
	return cmd
}
