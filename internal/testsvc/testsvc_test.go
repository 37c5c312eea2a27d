package testsvc

import (
	"fmt"
	"net"
	"os"
	"testing"
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
