package server_test

import (
	"context"
	"errors"
	"net"
	"runtime"
	"strings"
	"testing"

	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/server"
)

// TestFailedStartStopsWhatItStarted: a server whose start fails after its
// leader campaign began (an NBD address beyond loopback without TLS; a
// Setup that fails once everything else runs) stops what it started: no
// campaign keeps renewing on the closed store (it logged "leader lease ...
// store is closed" every few seconds for the life of the process), no
// worker of compute's stays, and its port is free again.
func TestFailedStartStopsWhatItStarted(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  server.Config
		want string
	}{
		{"nbd beyond loopback", server.Config{Compute: compute.Options{NBDAddr: "0.0.0.0:0"}}, "without TLS"},
		{"setup fails", server.Config{Setup: func(context.Context, *server.Server) error { return errors.New("setup refused") }}, "setup refused"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := ours()
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := ln.Addr().String()
			ln.Close()
			cfg := c.cfg
			cfg.Addr, cfg.DataDir, cfg.InsecureHTTP = addr, t.TempDir(), true
			s, err := server.New(context.Background(), cfg)
			if err == nil {
				s.Close()
				t.Fatal("the server started")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("start: %v; want %q", err, c.want)
			}
			if left := ours(); len(left) > len(before) {
				t.Fatalf("the failed start left %d goroutines of ours (%d before):\n%s", len(left), len(before), strings.Join(left, "\n\n"))
			}
			ln, err = net.Listen("tcp", addr)
			if err != nil {
				t.Fatalf("the failed start kept its port: %v", err)
			}
			ln.Close()
		})
	}
}

// ours lists the goroutines running Safehold's code (a leader's campaign,
// compute's workers) other than the test's own.
func ours() []string {
	buf := make([]byte, 1<<22)
	buf = buf[:runtime.Stack(buf, true)]
	var gs []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "github.com/safehold/safehold/") && !strings.Contains(g, "testing.tRunner") && !strings.Contains(g, "testing.(*T).Run") {
			gs = append(gs, g)
		}
	}
	return gs
}
