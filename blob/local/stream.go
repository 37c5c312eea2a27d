package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/internal/directio"
)

var _ blob.Streamer = (*Backend)(nil)

// Stream implements blob.Streamer: an unnamed file in the temporary
// directory (O_TMPFILE, opened with O_DIRECT), written in pieces, then
// fsynced and linked to its name by Commit, as putUnnamed does with a
// whole object. A crash or an Abort leaves nothing: the kernel frees an
// unnamed file with its last descriptor. Where the file system has no
// O_TMPFILE (or there is no /proc to link it from) the file is a named
// temporary file, which Abort removes and CleanTemp removes after a
// crash, as putNamed's.
//
// A size is allocated at once (fallocate): the pieces of a pack written
// between another pack's pieces then lie together on the disk, where
// each write allocating for itself left most packs of a full backup in
// 3-4 extents apart, and a restore's 4 MiB reads in several requests.
// Commit cuts the file to the end of what was written.
func (b *Backend) Stream(ctx context.Context, size int64) (blob.Stream, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("stream: %w", err)
	}
	tmp := filepath.Join(b.root, tmpDir)
	st := &stream{b: b, fd: -1}
	if !b.named {
		if _, err := os.Stat("/proc/self/fd"); err == nil {
			st.fd, st.direct = openDirect(tmp, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC)
		}
	}
	if st.fd < 0 {
		f, err := os.CreateTemp(tmp, "put-")
		if err != nil {
			return nil, fmt.Errorf("stream: %w", err)
		}
		st.name = f.Name()
		f.Close()
		st.fd, st.direct = openDirect(st.name, unix.O_RDWR|unix.O_CLOEXEC)
		if st.fd < 0 {
			os.Remove(st.name)
			return nil, fmt.Errorf("stream: open %s: %w", st.name, unix.Errno(-st.fd))
		}
	}
	if size > 0 && unix.Fallocate(st.fd, 0, 0, size) == nil {
		st.size = size // (a file system without fallocate allocates as it goes)
	}
	return st, nil
}

// openDirect opens path with flags and O_DIRECT, or without O_DIRECT
// where the file system refuses it; fd is -errno when both fail.
func openDirect(path string, flags int) (fd int, direct bool) {
	fd, err := unix.Open(path, flags|unix.O_DIRECT, 0o600)
	if err == nil {
		return fd, true
	}
	fd, err = unix.Open(path, flags, 0o600)
	if err == nil {
		return fd, false
	}
	var en unix.Errno
	if errors.As(err, &en) {
		return -int(en), false
	}
	return -int(unix.EIO), false
}

// stream is Backend.Stream's object being written.
type stream struct {
	b    *Backend
	name string // the named temporary file ("": unnamed)
	// mu: read-held by each ReadAt and WriteAt, held by Commit and Abort,
	// which close fd.
	mu     sync.RWMutex
	fd     int
	ended  bool
	size   int64 // allocated by Stream (the file's size until Commit cuts it)
	endMu  sync.Mutex
	end    int64 // the end of the furthest piece written
	modeMu sync.Mutex
	direct bool // fd has O_DIRECT (under modeMu once shared)
}

// buffered clears fd's O_DIRECT for good (a piece that is not aligned,
// a file system that refuses a direct write): direct writes in flight end
// as they began, the rest go through the page cache, which Commit's fsync
// writes back.
func (st *stream) buffered() error {
	st.modeMu.Lock()
	defer st.modeMu.Unlock()
	if !st.direct {
		return nil
	}
	if err := setDirect(st.fd, false); err != nil {
		return err
	}
	st.direct = false
	return nil
}

func (st *stream) isDirect() bool {
	st.modeMu.Lock()
	defer st.modeMu.Unlock()
	return st.direct
}

func (st *stream) WriteAt(p []byte, off int64) error {
	st.mu.RLock()
	defer st.mu.RUnlock()
	if st.ended {
		return fmt.Errorf("stream write: %w", blob.ErrEnded)
	}
	direct := st.isDirect()
	if direct && (!blob.Aligned(p) || off%blob.Align != 0 || len(p)%blob.Align != 0) {
		if err := st.buffered(); err != nil {
			return fmt.Errorf("stream write: %w", err)
		}
		direct = false
	}
	for done := 0; done < len(p); {
		var w int
		var err error
		if direct {
			w, err = directio.Pwrite(st.fd, p[done:], off+int64(done))
			if err != nil && done == 0 && (errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP)) {
				if err := st.buffered(); err != nil {
					return fmt.Errorf("stream write: %w", err)
				}
				direct = false // no direct I/O here: write buffered
				continue
			}
		} else {
			w, err = unix.Pwrite(st.fd, p[done:], off+int64(done))
			if errors.Is(err, unix.EINTR) {
				continue
			}
		}
		if err != nil {
			return fmt.Errorf("stream write: %w", err)
		}
		if w == 0 {
			return fmt.Errorf("stream write: %w", io.ErrShortWrite)
		}
		done += w
	}
	st.endMu.Lock()
	st.end = max(st.end, off+int64(len(p)))
	st.endMu.Unlock()
	return nil
}

// ReadAt reads the aligned pages around the range into an aligned buffer
// (direct or not, whichever fd's mode is now) and copies the range out.
func (st *stream) ReadAt(p []byte, off int64) error {
	st.mu.RLock()
	defer st.mu.RUnlock()
	if st.ended {
		return fmt.Errorf("stream read: %w", blob.ErrEnded)
	}
	if off < 0 {
		return fmt.Errorf("stream read at %d: %w", off, blob.ErrRange)
	}
	end := off + int64(len(p))
	st.endMu.Lock()
	written := st.end
	st.endMu.Unlock()
	if end > written {
		return fmt.Errorf("stream read [%d,%d) of %d bytes written: %w", off, end, written, blob.ErrRange)
	}
	aoff, aend := off&^(blob.Align-1), (end+blob.Align-1)&^(blob.Align-1)
	buf := blob.AlignedBuf(int(aend - aoff))
	for n := 0; int64(n) < end-aoff; {
		r, err := directio.Pread(st.fd, buf[n:], aoff+int64(n))
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return fmt.Errorf("stream read: %w", err)
		case r == 0:
			return fmt.Errorf("stream read [%d,%d): %w", off, end, io.ErrUnexpectedEOF)
		}
		n += r
	}
	copy(p, buf[off-aoff:])
	return nil
}

func (st *stream) Commit(ctx context.Context, key string) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.ended {
		return fmt.Errorf("put %s: %w", key, blob.ErrEnded)
	}
	st.ended = true
	defer st.close()
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	b := st.b
	p, err := b.path(key)
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	dir := filepath.Dir(p)
	if err := b.mkdirAll(dir); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	if st.size > 0 && st.size != st.end { // (no WriteAt in flight: mu is held)
		if err := unix.Ftruncate(st.fd, st.end); err != nil {
			return fmt.Errorf("put %s: truncate: %w", key, err)
		}
	}
	if err := directio.Fsync(st.fd); err != nil {
		return fmt.Errorf("put %s: sync: %w", key, err)
	}
	if st.name == "" {
		err = unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(st.fd), unix.AT_FDCWD, p, unix.AT_SYMLINK_FOLLOW)
	} else {
		err = os.Link(st.name, p)
	}
	if err != nil {
		if errors.Is(err, unix.EEXIST) || errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("put %s: %w", key, blob.ErrExist)
		}
		return fmt.Errorf("put %s: link: %w", key, err)
	}
	b.pending(dir)
	return nil
}

func (st *stream) Abort() {
	st.mu.Lock()
	defer st.mu.Unlock()
	if !st.ended {
		st.ended = true
		st.close()
	}
}

// close closes fd and removes the temporary name; st.mu is held.
func (st *stream) close() {
	unix.Close(st.fd)
	if st.name != "" {
		os.Remove(st.name)
	}
}
