package testsvc

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy forwards TCP connections from a new loopback address to addr. Its
// stop closes the listener and every connection, so the service behind
// seems to go down (new connections are refused); it runs at the test's end
// too.
func Proxy(t testing.TB, addr string) (string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	stopped := false
	track := func(c net.Conn) bool {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			c.Close()
			return false
		}
		conns = append(conns, c)
		return true
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !track(c) {
				continue
			}
			go func() {
				u, err := net.Dial("tcp", addr)
				if err != nil || !track(u) {
					c.Close()
					return
				}
				go func() { io.Copy(u, c); u.Close() }()
				io.Copy(c, u)
				c.Close()
			}()
		}
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			ln.Close()
			mu.Lock()
			stopped = true
			for _, c := range conns {
				c.Close()
			}
			mu.Unlock()
		})
	}
	t.Cleanup(stop)
	return ln.Addr().String(), stop
}
