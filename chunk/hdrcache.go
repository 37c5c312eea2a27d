package chunk

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"github.com/safehold/safehold/internal/datafile"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// The header cache (cacheDir/packs) holds a copy of each pack's tail
// (header and trailer) under the pack's name, so opening, GC, verify and
// the naming of lost chunks need not read it from the backend. A name is
// either a file holding one tail (written for packs other stores wrote,
// read from the backend) or one of the names of a shared file holding the
// tails of the packs this store flushed together:
//
//	"SHHC" | n u32 | n × (pack key [16] | offset u32 | length u32) |
//	crc32c of all before u32 | tails
//
// The packs a store writes get their copies when their entries leave the
// memory table (flushMem): one unnamed file (O_TMPFILE) for up to
// hdrBatch of them, linked under each pack's name. A full backup of the
// bench image created a file per pack for it (besides the pack); creating
// a file allocates an inode, which on the bench host's ext4 took ~1.5-4 %
// of the backup's CPU (the group's recently deleted inodes are skipped one
// by one), a link does not. Deleting a pack removes its name; the file goes
// with its last name. It is only a cache: a damaged or torn copy fails its
// checks and is read from the pack again.
const (
	hdrMagic  = "SHHC"
	hdrBatch  = 64
	hdrDirEnt = 16 + 4 + 4
)

// readCachedTail returns the cached tail of pack key (nil if none).
func (s *Store) readCachedTail(key string) []byte {
	f, err := os.Open(s.cachePath(key))
	if err != nil {
		return nil
	}
	defer f.Close()
	var head [8]byte
	if _, err := f.ReadAt(head[:], 0); err != nil || string(head[:4]) != hdrMagic {
		t, err := io.ReadAll(f) // one tail (or too short for any)
		if err != nil {
			return nil
		}
		return t
	}
	n := int(binary.LittleEndian.Uint32(head[4:]))
	if n <= 0 || n > hdrBatch {
		return nil
	}
	dir := make([]byte, n*hdrDirEnt+4)
	if _, err := f.ReadAt(dir, 8); err != nil {
		return nil
	}
	sum := crc(append(head[:], dir[:n*hdrDirEnt]...))
	if binary.LittleEndian.Uint32(dir[n*hdrDirEnt:]) != sum {
		return nil
	}
	want, err := hex.DecodeString(strings.TrimPrefix(key, packPrefix))
	if err != nil || len(want) != 16 {
		return nil
	}
	for i := 0; i < n; i++ {
		e := dir[i*hdrDirEnt:]
		if string(e[:16]) != string(want) {
			continue
		}
		off := int64(binary.LittleEndian.Uint32(e[16:]))
		l := int(binary.LittleEndian.Uint32(e[20:]))
		if l > 64<<20 {
			return nil
		}
		t := make([]byte, l)
		if _, err := f.ReadAt(t, off); err != nil {
			return nil
		}
		return t
	}
	return nil
}

// writeCachedTails caches the tails of packs this store wrote: one file
// for up to hdrBatch of them, linked under each name (see above). Where
// the file system cannot make unnamed files, each gets a file of its own.
func (s *Store) writeCachedTails(keys []string, tails [][]byte) {
	for len(keys) > 0 {
		n := min(len(keys), hdrBatch)
		if !s.writeTailBatch(keys[:n], tails[:n]) {
			for i := range n {
				s.writeCache(keys[i], tails[i])
			}
		}
		keys, tails = keys[n:], tails[n:]
	}
}

// writeTailBatch writes one shared file; false if no unnamed file could be
// made (nothing was linked).
func (s *Store) writeTailBatch(keys []string, tails [][]byte) bool {
	dirLen := 8 + len(keys)*hdrDirEnt + 4
	size := dirLen
	for _, t := range tails {
		size += len(t)
	}
	buf := make([]byte, 0, size)
	buf = append(buf, hdrMagic...)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(keys)))
	off := dirLen
	for i, k := range keys {
		b, err := hex.DecodeString(strings.TrimPrefix(k, packPrefix))
		if err != nil || len(b) != 16 {
			return false
		}
		buf = append(buf, b...)
		buf = binary.LittleEndian.AppendUint32(buf, uint32(off))
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(tails[i])))
		off += len(tails[i])
	}
	buf = binary.LittleEndian.AppendUint32(buf, crc(buf))
	for _, t := range tails {
		buf = append(buf, t...)
	}
	dir := filepath.Join(s.cacheDir, "packs")
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, uint32(datafile.Mode))
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	for b := buf; len(b) > 0; {
		n, err := unix.Write(fd, b)
		if err != nil && errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || n <= 0 {
			return true // nothing linked: the packs are read from the backend when needed
		}
		b = b[n:]
	}
	from := "/proc/self/fd/" + strconv.Itoa(fd)
	for i, k := range keys {
		p := s.cachePath(k)
		err := unix.Linkat(unix.AT_FDCWD, from, unix.AT_FDCWD, p, unix.AT_SYMLINK_FOLLOW)
		if errors.Is(err, unix.EEXIST) {
			os.Remove(p) // an older copy (read from the pack before)
			err = unix.Linkat(unix.AT_FDCWD, from, unix.AT_FDCWD, p, unix.AT_SYMLINK_FOLLOW)
		}
		if err != nil {
			if i == 0 && errors.Is(err, unix.ENOENT) {
				return false // no /proc
			}
			s.writeCache(k, tails[i])
		}
	}
	return true
}
