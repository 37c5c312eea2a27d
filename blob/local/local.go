// Package local is the default blob.Backend: a directory on a local file
// system.
//
// Keys map to files under the root. Keys whose last element has at least four
// characters are sharded by its first two characters ("pack/3fa2…" is stored
// as root/pack/3f/3fa2…) so no directory grows too large. A Put writes an
// unnamed file in root/tmp~ (O_TMPFILE), fsyncs it, links it to its final
// name (which fails if the key exists, so puts are immutable) and fsyncs the
// directory: after a crash an object is either complete or absent, and an
// interrupted put leaves nothing behind. Where the file system has no
// O_TMPFILE (or /proc is missing) a Put writes a named temporary file in
// root/tmp~ instead, links it and removes the temporary name; such leftovers
// are never listed and CleanTemp removes them. PutUnsynced (blob.GroupSyncer,
// the chunk store's pack puts) leaves the directory's fsync to SyncPuts, which
// a writer's flush calls: one fsync per directory for all its packs. Large objects (the chunk store's packs) are written and read
// with O_DIRECT when their buffers are aligned (see directMin): they bypass
// the page cache.
package local

import (
	"context"
	"errors"
	"fmt"
	"github.com/safehold/safehold/internal/datafile"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/internal/directio"
)

const tmpDir = "tmp~"

// Backend stores objects as files under a root directory.
type Backend struct {
	root  string
	named bool // tests: put through a named temporary file (putNamed) only
	// syncMu serializes SyncPuts, so one that finds nothing pending
	// returns only after a sync in flight (which took its entries) ended.
	syncMu sync.Mutex
	// unsynced are the directories holding links of PutUnsynced that no
	// fsync has covered yet; under dirMu.
	dirMu    sync.Mutex
	unsynced map[string]struct{}
	// durable are the directories whose own entry this backend has seen
	// synced into their parent (mkdirAll).
	durable sync.Map
}

var (
	_ blob.Backend     = (*Backend)(nil)
	_ blob.GroupSyncer = (*Backend)(nil)
)

// Open opens (creating if needed) a backend rooted at dir.
func Open(dir string) (*Backend, error) {
	if err := datafile.MkdirAll(filepath.Join(dir, tmpDir)); err != nil {
		return nil, fmt.Errorf("open local backend: %w", err)
	}
	return &Backend{root: dir}, nil
}

// Root returns the backend's directory.
func (b *Backend) Root() string { return b.root }

func shardName(key string) string {
	dir, name := "", key
	if i := strings.LastIndexByte(key, '/'); i >= 0 {
		dir, name = key[:i], key[i+1:]
	}
	if len(name) >= 4 {
		return filepath.Join(dir, name[:2], name)
	}
	return filepath.FromSlash(key)
}

func (b *Backend) path(key string) (string, error) {
	if err := blob.ValidKey(key); err != nil {
		return "", err
	}
	return filepath.Join(b.root, shardName(key)), nil
}

// syncDir fsyncs a directory (raw descriptors: os.Open of a directory
// also tries to register it with the runtime's poller).
func syncDir(dir string) error {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	if err := directio.Fsync(fd); err != nil {
		return &fs.PathError{Op: "sync", Path: dir, Err: err}
	}
	return nil
}

// Put implements blob.Backend.
func (b *Backend) Put(ctx context.Context, key string, data []byte) error {
	return b.put(ctx, key, data, true)
}

// PutUnsynced implements blob.GroupSyncer: Put without the fsync of the
// object's directory, which SyncPuts does once for every put into it
// since the last one. The object's file is written and fsynced before it
// is linked, so a power loss leaves it whole or absent.
func (b *Backend) PutUnsynced(ctx context.Context, key string, data []byte) error {
	return b.put(ctx, key, data, false)
}

// SyncPuts implements blob.GroupSyncer: it fsyncs each directory that
// PutUnsynced linked objects in since it was last synced. A directory
// that is gone (its repository removed) holds nothing to make durable; one
// whose fsync fails stays pending for the next SyncPuts.
func (b *Backend) SyncPuts(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sync puts: %w", err)
	}
	b.syncMu.Lock()
	defer b.syncMu.Unlock()
	b.dirMu.Lock()
	dirs := b.unsynced
	b.unsynced = nil
	b.dirMu.Unlock()
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for dir := range dirs {
		wg.Go(func() { // a pack store's few shard directories: their device flushes overlap
			err := syncDir(dir)
			if err == nil || errors.Is(err, fs.ErrNotExist) {
				return
			}
			mu.Lock()
			errs = append(errs, err)
			mu.Unlock()
			b.pending(dir)
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("sync puts: %w", errors.Join(errs...))
	}
	return nil
}

// pending records that dir holds a link no fsync has covered.
func (b *Backend) pending(dir string) {
	b.dirMu.Lock()
	if b.unsynced == nil {
		b.unsynced = make(map[string]struct{})
	}
	b.unsynced[dir] = struct{}{}
	b.dirMu.Unlock()
}

func (b *Backend) put(ctx context.Context, key string, data []byte, syncNow bool) (err error) {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	p, err := b.path(key)
	if err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	dir := filepath.Dir(p)
	if err := b.mkdirAll(dir); err != nil {
		return fmt.Errorf("put %s: %w", key, err)
	}
	done, err := false, error(nil)
	if !b.named {
		done, err = b.putUnnamed(p, data)
	}
	if !done && err == nil {
		err = b.putNamed(p, data)
	}
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("put %s: %w", key, blob.ErrExist)
		}
		return fmt.Errorf("put %s: %w", key, err)
	}
	if !syncNow {
		b.pending(dir)
		return nil
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("put %s: sync dir: %w", key, err)
	}
	return nil
}

// putUnnamed writes data to an unnamed file in the temporary directory
// (O_TMPFILE), fsyncs it and links it as p: one file creation and one open
// per put, and nothing left behind by a put that fails or is killed. A
// pack put was a named temporary file, a second open of it for O_DIRECT and
// an unlink: on this project's bench host creating files was 4 % of a full
// backup's CPU (ext4 skips the group's recently deleted inodes one by one
// for each new one). done is false, with no error, when the file system or
// the process cannot do it (no O_TMPFILE, no /proc to link it from): the
// caller puts through a named temporary file.
func (b *Backend) putUnnamed(p string, data []byte) (done bool, err error) {
	tmp := filepath.Join(b.root, tmpDir)
	direct := len(data) >= directMin && blob.Aligned(data)
	flags := unix.O_TMPFILE | unix.O_WRONLY | unix.O_CLOEXEC
	fd, err := unix.Open(tmp, flags|directFlag(direct), 0o600)
	if err != nil && direct {
		direct = false // no direct I/O here: write buffered
		fd, err = unix.Open(tmp, flags, 0o600)
	}
	if err != nil {
		return false, nil // no O_TMPFILE (EOPNOTSUPP, EISDIR on old kernels, ...)
	}
	defer unix.Close(fd)
	if err := writeFd(fd, data, direct); err != nil {
		return true, fmt.Errorf("write: %w", err)
	}
	if err := directio.Fsync(fd); err != nil {
		return true, fmt.Errorf("sync: %w", err)
	}
	err = unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), unix.AT_FDCWD, p, unix.AT_SYMLINK_FOLLOW)
	if errors.Is(err, unix.ENOENT) {
		if _, serr := os.Stat("/proc/self/fd"); serr != nil {
			return false, nil // no /proc: name the file the other way
		}
	}
	if err != nil {
		if errors.Is(err, unix.EEXIST) {
			return true, fs.ErrExist
		}
		return true, fmt.Errorf("link: %w", err)
	}
	return true, nil
}

func directFlag(direct bool) int {
	if direct {
		return unix.O_DIRECT
	}
	return 0
}

// writeFd writes data to the new, empty file fd: when direct (fd was opened
// with O_DIRECT, data is aligned) its blob.Align-multiple prefix straight
// from data, then the rest buffered (O_DIRECT cleared). A file system that
// refuses the first direct write gets everything buffered.
func writeFd(fd int, data []byte, direct bool) error {
	done := 0
	if direct {
		n := len(data) &^ (blob.Align - 1)
		for done < n {
			w, err := directio.Pwrite(fd, data[done:n], int64(done))
			if err != nil {
				if done == 0 && (errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP)) {
					break // no direct I/O here: write buffered
				}
				return err
			}
			if w == 0 {
				return io.ErrShortWrite
			}
			done += w
		}
		if done < len(data) {
			fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
			if err == nil {
				_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl&^unix.O_DIRECT)
			}
			if err != nil {
				return err
			}
		}
	}
	for done < len(data) {
		w, err := unix.Pwrite(fd, data[done:], int64(done))
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return err
		}
		if w == 0 {
			return io.ErrShortWrite
		}
		done += w
	}
	return nil
}

// putNamed is Put through a named temporary file in the temporary
// directory, hard-linked as p and then removed.
func (b *Backend) putNamed(p string, data []byte) (err error) {
	f, err := os.CreateTemp(filepath.Join(b.root, tmpDir), "put-")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if f != nil {
			f.Close()
		}
		os.Remove(tmp)
	}()
	if err := writeNew(f, tmp, data); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	if err := f.Close(); err != nil {
		f = nil
		return fmt.Errorf("close: %w", err)
	}
	f = nil
	if err := os.Link(tmp, p); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return err
		}
		return fmt.Errorf("link: %w", err)
	}
	return nil
}

// mkdirAll creates dir and fsyncs the parents of every directory it creates,
// so a new shard directory survives a crash together with its first file.
func (b *Backend) mkdirAll(dir string) error {
	if len(dir) <= len(b.root) {
		return nil // the root is Open's
	}
	if _, ok := b.durable.Load(dir); ok {
		if _, err := os.Stat(dir); err == nil {
			return nil
		}
		b.durable.Delete(dir) // removed since: made again below
	}
	parent := filepath.Dir(dir)
	if parent != dir && len(parent) > len(b.root) {
		if err := b.mkdirAll(parent); err != nil {
			return err
		}
	}
	if err := datafile.Mkdir(dir); err != nil && !errors.Is(err, fs.ErrExist) {
		return err
	}
	// Sync the parent even when dir was there already: another put may
	// have made it and not yet synced its entry (once per directory and
	// process), and a pack linked in dir is durable only once dir's own
	// entry is.
	if err := syncDir(parent); err != nil {
		return err
	}
	b.durable.Store(dir, true)
	return nil
}

// Get implements blob.Backend.
func (b *Backend) Get(ctx context.Context, key string, off, length int64) ([]byte, error) {
	return b.GetInto(ctx, key, off, length, nil)
}

// GetInto is Get that reads into scratch instead of a new buffer when
// scratch holds the range (the result then aliases scratch): a reader that
// reuses its buffers (a restore's range reads) saves allocating, zeroing
// and faulting in a fresh buffer per read.
//
// The file is opened once: with O_DIRECT at once for a range of
// directMin or more (a restore's range reads), else buffered, its mode
// switched (fcntl) where that guess was wrong (a whole object read of
// directMin or more, a scratch buffer that is not aligned). It was opened
// buffered, and again with O_DIRECT to read a large range.
func (b *Backend) GetInto(ctx context.Context, key string, off, length int64, scratch []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	p, err := b.path(key)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", key, err)
	}
	fd, direct, err := openRead(p, length >= directMin)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("get %s: %w", key, blob.ErrNotExist)
		}
		return nil, fmt.Errorf("get %s: %w", key, &fs.PathError{Op: "open", Path: p, Err: err})
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("get %s: %w", key, &fs.PathError{Op: "stat", Path: p, Err: err})
	}
	end, err := blob.CheckRange(key, st.Size, off, length)
	if err != nil {
		return nil, err
	}
	if end-off >= directMin {
		// The aligned pages around the range, read with O_DIRECT into an
		// aligned buffer (scratch if it is one and holds them).
		aoff, aend := off&^(blob.Align-1), (end+blob.Align-1)&^(blob.Align-1)
		buf := scratch
		if int64(cap(buf)) < aend-aoff || !blob.Aligned(buf[:1]) {
			if int64(cap(buf)) >= end-off {
				buf = nil // read buffered into scratch below
			} else {
				buf = blob.AlignedBuf(int(aend - aoff))
			}
		}
		if buf != nil && (direct || setDirect(fd, true) == nil) {
			direct = true
			n, ok, err := readDirect(fd, buf[:aend-aoff], aoff)
			if err != nil {
				return nil, fmt.Errorf("get %s: read: %w", key, err)
			}
			if ok {
				if int64(n) < end-aoff {
					return nil, fmt.Errorf("get %s: read: %w", key, io.ErrUnexpectedEOF)
				}
				return buf[off-aoff : end-aoff : end-aoff], nil
			}
		}
	}
	if direct {
		if err := setDirect(fd, false); err != nil {
			return nil, fmt.Errorf("get %s: read: %w", key, err)
		}
	}
	var buf []byte
	if int64(cap(scratch)) >= end-off {
		buf = scratch[:end-off]
	} else {
		buf = make([]byte, end-off)
	}
	for n := 0; n < len(buf); {
		r, err := unix.Pread(fd, buf[n:], off+int64(n))
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return nil, fmt.Errorf("get %s: read: %w", key, &fs.PathError{Op: "read", Path: p, Err: err})
		case r == 0:
			return nil, fmt.Errorf("get %s: read: %w", key, io.ErrUnexpectedEOF)
		}
		n += r
	}
	return buf, nil
}

// openRead opens name to read, with O_DIRECT when direct asks and the file
// system takes it (direct tells whether it did).
func openRead(name string, direct bool) (fd int, _ bool, err error) {
	mode := unix.O_RDONLY | unix.O_CLOEXEC
	if direct {
		mode |= unix.O_DIRECT
	}
	for {
		fd, err = unix.Open(name, mode, 0)
		switch {
		case err == unix.EINTR:
			continue
		case err == unix.EINVAL && mode&unix.O_DIRECT != 0:
			mode &^= unix.O_DIRECT // no direct I/O here
			continue
		}
		return fd, err == nil && mode&unix.O_DIRECT != 0, err
	}
}

// setDirect sets or clears fd's O_DIRECT (an error where the file system
// refuses direct I/O).
func setDirect(fd int, on bool) error {
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return err
	}
	if on {
		fl |= unix.O_DIRECT
	} else {
		fl &^= unix.O_DIRECT
	}
	_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl)
	return err
}

// Objects of at least directMin bytes are written and read with O_DIRECT
// (in whole blob.Align-sized pages from aligned buffers; the rest goes through
// the page cache). A backup writes a repository's packs once and reads them
// rarely, so copying them through the page cache only costs CPU (on
// this project's bench host, taking 1 GiB of new pages for the cache cost
// more system time than compressing the data) and evicts what the rest of
// the machine keeps cached. File systems that refuse direct I/O get
// buffered I/O.
const directMin = 256 << 10

// writeNew writes data to the new, empty file f whose path is name: the
// blob.Align-multiple prefix with O_DIRECT through a second descriptor when data
// is large and aligned, the rest through f. f.Sync covers both.
func writeNew(f *os.File, name string, data []byte) error {
	done := 0
	if n := len(data) &^ (blob.Align - 1); n >= directMin && blob.Aligned(data) {
		fd, err := unix.Open(name, unix.O_WRONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
		if err == nil {
			for done < n {
				w, err := directio.Pwrite(fd, data[done:n], int64(done))
				if err != nil {
					if done == 0 && (errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP)) {
						break // no direct I/O here: write buffered
					}
					unix.Close(fd)
					return err
				}
				if w == 0 {
					unix.Close(fd)
					return io.ErrShortWrite
				}
				done += w
			}
			if err := unix.Close(fd); err != nil {
				return err
			}
		}
	}
	if done < len(data) {
		if _, err := f.WriteAt(data[done:], int64(done)); err != nil {
			return err
		}
	}
	return nil
}

// readDirect reads into buf at off (both aligned) from fd, opened with
// O_DIRECT. ok is false when the file system refuses direct I/O (the
// caller reads buffered); n may be short at the end of the file.
func readDirect(fd int, buf []byte, off int64) (n int, ok bool, err error) {
	for n < len(buf) {
		r, err := directio.Pread(fd, buf[n:], off+int64(n))
		if err != nil {
			if n == 0 && (errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP)) {
				return 0, false, nil
			}
			return n, true, err
		}
		if r == 0 {
			break // end of file
		}
		n += r
	}
	return n, true, nil
}

// Stat implements blob.Backend.
func (b *Backend) Stat(ctx context.Context, key string) (blob.Info, error) {
	if err := ctx.Err(); err != nil {
		return blob.Info{}, fmt.Errorf("stat %s: %w", key, err)
	}
	p, err := b.path(key)
	if err != nil {
		return blob.Info{}, fmt.Errorf("stat %s: %w", key, err)
	}
	st, err := os.Stat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return blob.Info{}, fmt.Errorf("stat %s: %w", key, blob.ErrNotExist)
		}
		return blob.Info{}, fmt.Errorf("stat %s: %w", key, err)
	}
	return blob.Info{Key: key, Size: st.Size(), ModTime: st.ModTime()}, nil
}

// keyOf reverses shardName for a path relative to the root.
func keyOf(rel string) string {
	els := strings.Split(filepath.ToSlash(rel), "/")
	n := len(els)
	if n >= 2 {
		last := els[n-1]
		if len(last) >= 4 && els[n-2] == last[:2] {
			els = append(els[:n-2], last)
		}
	}
	return strings.Join(els, "/")
}

// List implements blob.Backend.
func (b *Backend) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	// Walk from the deepest directory that contains every key with the prefix.
	start := b.root
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = filepath.Join(b.root, filepath.FromSlash(prefix[:i]))
	}
	err := filepath.WalkDir(start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(b.root, p)
		if d.IsDir() {
			if rel == tmpDir {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		key := keyOf(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // deleted while listing
			}
			return err
		}
		return fn(blob.Info{Key: key, Size: info.Size(), ModTime: info.ModTime()})
	})
	if err != nil {
		return fmt.Errorf("list %s: %w", prefix, err)
	}
	return nil
}

// Delete implements blob.Backend. The directory is fsynced so a deleted
// object (a snapshot manifest, say) does not come back after a crash.
func (b *Backend) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	p, err := b.path(key)
	if err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if err := os.Remove(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("delete %s: %w", key, blob.ErrNotExist)
		}
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("delete %s: sync dir: %w", key, err)
	}
	return nil
}

// CleanTemp removes temporary files of interrupted puts older than age.
func (b *Backend) CleanTemp(age time.Duration, now time.Time) error {
	ents, err := os.ReadDir(filepath.Join(b.root, tmpDir))
	if err != nil {
		return fmt.Errorf("clean temp: %w", err)
	}
	for _, e := range ents {
		info, err := e.Info()
		if err == nil && now.Sub(info.ModTime()) > age {
			os.Remove(filepath.Join(b.root, tmpDir, e.Name()))
		}
	}
	return nil
}

// Close implements blob.Backend.
func (b *Backend) Close() error { return nil }
