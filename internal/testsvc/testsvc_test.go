package testsvc

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFreePortOutsideEphemeralRange: FreePort's port can be listened on
// and lies outside the kernel's ephemeral range, where no listen on port 0
// and no outgoing connection can take it before the server the test starts
// listens on it (the replicas test starts a killed replica again on its
// port minutes later).
func TestFreePortOutsideEphemeralRange(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		t.Skipf("no ephemeral port range to read: %v", err)
	}
	var lo, hi int
	if _, err := fmt.Sscan(string(b), &lo, &hi); err != nil {
		t.Fatalf("ip_local_port_range %q: %v", b, err)
	}
	for range 50 {
		p := FreePort()
		if p == 0 {
			t.Fatal("FreePort found no free port")
		}
		if p >= lo && p <= hi {
			t.Fatalf("FreePort %d is in the ephemeral range %d-%d", p, lo, hi)
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatalf("FreePort %d: %v", p, err)
		}
		l.Close()
	}
}

const childTempEnv = "SAFEHOLD_TESTSVC_CHILD_TEMP"

// TestChildTempChild is TestChildTempDirsGoWithTheTest's child: it makes a
// temporary directory, says where, and waits to be killed.
func TestChildTempChild(t *testing.T) {
	if os.Getenv(childTempEnv) == "" {
		t.Skip("runs only as TestChildTempDirsGoWithTheTest's child")
	}
	fmt.Println("TEMP", t.TempDir())
	time.Sleep(time.Minute)
}

// TestChildTempDirsGoWithTheTest: a Child killed part way (as the crash
// tests kill theirs) leaves no temporary directory once its test has
// ended. Its TempDir was left in /tmp (TestKill9Child…, one per round of
// the crash tests).
func TestChildTempDirsGoWithTheTest(t *testing.T) {
	var dir string
	t.Run("child", func(t *testing.T) {
		cmd, sc := Child(t, "TestChildTempChild", []string{childTempEnv + "=1"}, "-test.v")
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "TEMP "); ok {
				dir = d
				break
			}
		}
		cmd.Process.Kill()
		cmd.Wait()
		if dir == "" {
			t.Fatal("the child said no temporary directory")
		}
		if _, err := os.Stat(dir); err != nil {
			t.Fatalf("the child's temporary directory %s: %v", dir, err)
		}
	})
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		os.RemoveAll(filepath.Dir(dir))
		t.Fatalf("the killed child's temporary directory %s is there after its test (%v)", dir, err)
	}
}
