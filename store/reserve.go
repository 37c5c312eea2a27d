package store

import (
	"context"
	"errors"
	"github.com/safehold/safehold/internal/datafile"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

type freeingKey struct{}

// Freeing marks ctx's writes as ones that end a state only a write can end
// and free space, such as the end of a disk's upload access (endGetAccess)
// or a disk's delete: on a SQLite store whose file system is full, such a
// write that fails for want of space gives back the space the store keeps
// in reserve and is tried again. Without it, an upload that filled the file
// system could not be ended: its revoke answered 507 like any other write,
// and the disk, ActiveUpload, could not be deleted until the grant ran out.
func Freeing(ctx context.Context) context.Context {
	return context.WithValue(ctx, freeingKey{}, true)
}

func freeing(ctx context.Context) bool { v, _ := ctx.Value(freeingKey{}).(bool); return v }

// reserveSize is the space a SQLite store keeps in reserve beside its
// database: a write adds a few pages to the WAL, so this is room for
// dozens of writes once it is given back (a revoke, then the disk's delete).
const reserveSize = 1 << 20

// reserve is a file of reserveSize bytes beside a store's database, on
// the file system its writes need space on. It is made when the store
// opens, given back (removed) when a Freeing write finds the file system
// full, and made again once there is room for it several times over.
//
// One open store holds it at a time, by an exclusive lock on the file
// (lockFile): another process (or another open) on the same database
// holds none and never touches it, where each rewrote it at its open and
// a give-back by one removed the reserve the other still counted on (its
// write was then retried with no space freed). Close keeps the file for
// the next open, which takes it as it is when whole: a server restarted
// on a full file system could not make it again, and rewriting it (it was
// truncated first) let another writer take the space meanwhile.
type reserve struct {
	path    string
	held    atomic.Bool // read without mu by restore's callers
	mu      sync.Mutex
	f       *os.File // the file, locked, while held
	lastTry time.Time
}

// make takes or writes the reserve file; it reports whether it holds one.
// A file system without the room for it has no reserve (and no file
// left), and neither has a store while another holds the file.
func (r *reserve) make() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastTry = time.Now()
	if r.held.Load() {
		return true
	}
	f, err := datafile.OpenFile(r.path, os.O_RDWR|os.O_CREATE)
	if err != nil {
		return false
	}
	// Locked, it must still be the file at the path: its holder may have
	// given it back (removed it) between the open and the lock.
	if !lockFile(f) || !r.isAtPath(f) {
		f.Close()
		return false
	}
	if fi, err := f.Stat(); err != nil || fi.Size() != reserveSize {
		err = f.Truncate(0)
		buf := make([]byte, 64<<10)
		for n := 0; n < reserveSize && err == nil; n += len(buf) {
			_, err = f.WriteAt(buf, int64(n))
		}
		if err == nil {
			err = f.Sync()
		}
		if err != nil {
			os.Remove(r.path)
			f.Close()
			return false
		}
	}
	r.f = f
	r.held.Store(true)
	return true
}

// isAtPath reports whether f is the file at the reserve's path.
func (r *reserve) isAtPath(f *os.File) bool {
	fi, err := f.Stat()
	if err != nil {
		return false
	}
	pi, err := os.Stat(r.path)
	return err == nil && os.SameFile(fi, pi)
}

// release removes the reserve file; it reports whether there was one to
// give back.
func (r *reserve) release() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.held.Load() {
		return false
	}
	r.held.Store(false)
	r.lastTry = time.Now()
	if r.isAtPath(r.f) {
		if err := os.Remove(r.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			r.f.Close()
			r.f = nil
			return false
		}
	}
	// Its blocks are free once the last descriptor closes.
	r.f.Close()
	r.f = nil
	return true
}

// close lets go of the reserve (at the store's Close), keeping its file
// for the next open.
func (r *reserve) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held.Load() {
		r.held.Store(false)
		r.f.Close()
		r.f = nil
	}
}

// restore makes the reserve again once given back, at most every ten
// seconds and only when the file system has room for it four times over
// (so that it takes no space a write in progress is about to need).
func (r *reserve) restore() {
	if r.held.Load() {
		return
	}
	r.mu.Lock()
	due := !r.held.Load() && time.Since(r.lastTry) >= 10*time.Second
	if due {
		r.lastTry = time.Now()
	}
	r.mu.Unlock()
	if due && freeSpace(r.path) >= 4*reserveSize {
		r.make()
	}
}
