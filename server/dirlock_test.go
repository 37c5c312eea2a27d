package server_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/server"
)

// TestSecondServerOnADataDirInUseIsRefused: a server started on a data dir
// another server runs on fails to start, naming the data dir and the
// holder's process, and changes nothing (connection.json still names the
// first, which keeps serving); once the first has stopped, the data dir
// starts again. Two servers on one data dir each kept the dir's disks with
// their own change maps and freezes, so a backup through one missed the
// writes through the other, and the second rewrote connection.json and (on
// SQLite, one node id) released the first's running jobs' leases.
func TestSecondServerOnADataDirInUseIsRefused(t *testing.T) {
	e := testserver.Start(t)
	conn, err := os.ReadFile(filepath.Join(e.DataDir, "connection.json"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := server.New(context.Background(), server.Config{Addr: "127.0.0.1:0", DataDir: e.DataDir})
	if err == nil {
		s.Close()
		t.Fatal("a second server started on a data dir in use")
	}
	for _, want := range []string{e.DataDir + " is in use by another safehold serve", fmt.Sprintf("(pid %d)", os.Getpid()), "another --data-dir"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("second server: %v; want it to say %q", err, want)
		}
	}
	if now, _ := os.ReadFile(filepath.Join(e.DataDir, "connection.json")); !bytes.Equal(now, conn) {
		t.Fatalf("the refused server rewrote connection.json:\n%s\nwas:\n%s", now, conn)
	}
	if resp, _ := e.Do("GET", "/subscriptions?api-version=2022-12-01", nil); resp.StatusCode != 200 {
		t.Fatalf("the first server after the refusal: %d", resp.StatusCode)
	}
	e.Stop()
	s, err = server.New(context.Background(), server.Config{Addr: "127.0.0.1:0", DataDir: e.DataDir})
	if err != nil {
		t.Fatalf("the data dir after its server stopped: %v", err)
	}
	s.Close()
}
