// Package datafile makes the files and directories of Safehold's data
// dir and caches: the owner's only, whatever the umask (they hold the
// backed-up disks' bytes, the index of what is where, keys and secrets).
// Every data file is made through it, so no file is made more open than
// the rest.
package datafile

import (
	"io/fs"
	"os"
	"path/filepath"
)

const (
	// Mode is every data file's permission.
	Mode fs.FileMode = 0o600
	// DirMode is every data directory's permission.
	DirMode fs.FileMode = 0o700
)

// OpenFile is os.OpenFile creating with Mode.
func OpenFile(name string, flag int) (*os.File, error) { return os.OpenFile(name, flag, Mode) }

// Create is os.Create with Mode: a new or truncated file, read and write.
func Create(name string) (*os.File, error) {
	return OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC)
}

// WriteFile is os.WriteFile with Mode.
func WriteFile(name string, data []byte) error { return os.WriteFile(name, data, Mode) }

// MkdirAll is os.MkdirAll with DirMode.
func MkdirAll(dir string) error { return os.MkdirAll(dir, DirMode) }

// Mkdir is os.Mkdir with DirMode.
func Mkdir(dir string) error { return os.Mkdir(dir, DirMode) }

// WriteAtomic replaces the file at path with data (Mode): written to a
// temporary file beside it, synced, renamed over it.
func WriteAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path))
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(Mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
