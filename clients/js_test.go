package clients_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
)

// npmModules returns the node_modules directory .ci/clients.sh installs the
// JavaScript SDK into, skipping (or failing in CI) when it is absent.
func npmModules(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("SAFEHOLD_NPM_DIR")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "safehold", "npm")
	}
	nm := filepath.Join(dir, "node_modules")
	if _, err := os.Stat(filepath.Join(nm, "@azure", "arm-recoveryservicesbackup", "package.json")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the JavaScript SDK is not installed in %s: .ci/clients.sh should have installed it", dir)
		}
		t.Skipf("the JavaScript SDK is not installed in %s (bash .ci/run installs it)", dir)
	}
	return nm
}

// runNode runs a script of testdata/js against e with what a JS user sets:
// NODE_EXTRA_CA_CERTS (Safehold's CA) and the connection file.
func runNode(t *testing.T, e *testserver.Env, script string) string {
	t.Helper()
	node := need(t, "node")
	nm := npmModules(t)
	connFile := filepath.Join(t.TempDir(), "connection.json")
	b, err := json.Marshal(e.Conn)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(connFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, filepath.Join("testdata", "js", script))
	cmd.Env = append(os.Environ(), "NODE_PATH="+nm, "NODE_EXTRA_CA_CERTS="+e.Conn.CACertFile, "SAFEHOLD_CONNECTION="+connFile)
	out, err := cmd.CombinedOutput()
	t.Logf("node %s:\n%s", script, out)
	if err != nil {
		t.Fatalf("node %s: %v", script, err)
	}
	return string(out)
}

// TestJSSDKSeed002 runs seed 002 with @azure/identity, @azure/arm-compute 24,
// @azure/arm-authorization 9, @azure/arm-recoveryservices 6 and
// @azure/arm-recoveryservicesbackup 12, every client at its default
// api-version.
func TestJSSDKSeed002(t *testing.T) {
	e := testserver.Start(t)
	if out := runNode(t, e, "seed002.cjs"); !strings.Contains(out, "seed 002 done") {
		t.Fatal("seed 002 did not finish")
	}
}

// TestJSSeed000CoreClient runs seed 000 (disk backup in a Backup vault)
// with @azure/arm-resources, @azure/arm-compute and @azure/arm-authorization
// at their default api-versions and the Data Protection paths through
// @azure/core-client (@azure/arm-dataprotection is not served by the npm
// registry here).
func TestJSSeed000CoreClient(t *testing.T) {
	e := testserver.Start(t)
	if out := runNode(t, e, "seed000.cjs"); !strings.Contains(out, "seed 000 done") {
		t.Fatal("seed 000 did not finish")
	}
}
