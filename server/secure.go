package server

import (
	"errors"
	"github.com/safehold/safehold/internal/datafile"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
)

// secretFiles are the files under the data dir that hold secrets: the
// database (with the token-signing and SAS keys) and its WAL and shared
// memory, the TLS private keys and connection.json (the admin secret).
var secretFiles = []string{"safehold.db", "safehold.db-wal", "safehold.db-shm", "safehold.db-journal", "connection.json",
	filepath.Join("tls", "ca-key.pem"), filepath.Join("tls", "server-key.pem")}

// secureDataDir makes the data dir 0700 and every secret file in it 0600,
// tightening (with a warning) whatever was created more open, e.g. a data
// dir made beforehand with 0755 or files written under a lax umask. It
// creates an empty database file 0600 when none exists, so that SQLite
// (which gives its WAL and shared-memory files the database's mode) never
// creates one world-readable.
func secureDataDir(dir string, logger *slog.Logger) error {
	tighten := func(path string, want fs.FileMode) error {
		fi, err := os.Lstat(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return nil
		}
		if fi.Mode().Perm()&^want != 0 {
			if err := os.Chmod(path, want); err != nil {
				return err
			}
			logger.Warn("tightened the permissions of a file holding secrets: other local users could read it", "path", path, "was", fi.Mode().Perm().String(), "now", want.String())
		}
		return nil
	}
	if err := tighten(dir, datafile.DirMode); err != nil {
		return err
	}
	if err := tighten(filepath.Join(dir, "tls"), datafile.DirMode); err != nil {
		return err
	}
	db := filepath.Join(dir, "safehold.db")
	if f, err := datafile.OpenFile(db, os.O_CREATE|os.O_EXCL|os.O_WRONLY); err == nil {
		f.Close()
	} else if !errors.Is(err, fs.ErrExist) {
		return err
	}
	for _, name := range secretFiles {
		if err := tighten(filepath.Join(dir, name), datafile.Mode); err != nil {
			return err
		}
	}
	return nil
}
