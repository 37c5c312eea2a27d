package server

import (
	"fmt"
	"github.com/safehold/safehold/internal/datafile"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// dirLockFile is the file in the data dir whose lock a running server holds.
const dirLockFile = "serve.lock"

// lockDataDir takes the data dir's lock for this server's life (released by
// closing the file, or by the process's exit, a SIGKILL included): the data
// dir's disks (their change maps and freezes live in the memory of the
// process that opens them), its repositories' indexes and packs, its
// connection.json and, on SQLite, the node id of the job leases belong to
// one server at a time. A second server on a data dir in use is refused,
// naming the holder's process.
func lockDataDir(dir string) (*os.File, error) {
	f, err := datafile.OpenFile(filepath.Join(dir, dirLockFile), os.O_RDWR|os.O_CREATE)
	if err != nil {
		return nil, fmt.Errorf("lock data dir: %w", err)
	}
	held, err := lockExclusive(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock data dir %s: %w", dir, err)
	}
	if !held {
		b, _ := io.ReadAll(io.LimitReader(f, 256))
		f.Close()
		holder := strings.TrimSpace(string(b))
		if holder == "" {
			holder = "another process"
		}
		return nil, fmt.Errorf("data dir %s is in use by another safehold serve (%s): stop that server first, or give this one another --data-dir (each server, each replica too, needs its own)", dir, holder)
	}
	// The pid is for the message of a server refused later; the lock is
	// the flock. On a full file system the write fails and the server
	// starts all the same (a full disk is for the store's reserve to ride
	// out), the refused one then naming "another process".
	if f.Truncate(0) == nil {
		f.WriteAt([]byte(fmt.Sprintf("pid %d\n", os.Getpid())), 0)
	}
	return f, nil
}
