package server_test

import (
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
)

// TestDataDirIsTheOwnersOnly: after backups (the operational store's
// packs, its index cache, the volumes' change maps), no file or directory
// in the data dir is open to the group or others, whatever the umask:
// every data file is made through one helper (internal/datafile). The
// index cache's runs.json was written 0644 while the rest was 0600.
func TestDataDirIsTheOwnersOnly(t *testing.T) {
	e := testserver.Start(t)
	dv := fixture.ProtectDisk(t, e)
	dv.Backup(t, e)
	dv.WriteRandom(t, e, 8<<20, 4<<20)
	dv.Backup(t, e)
	e.Stop() // what a clean stop writes too (change maps)
	files := 0
	if err := filepath.WalkDir(e.DataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink == 0 && fi.Mode().Perm()&0o077 != 0 {
			rel, _ := filepath.Rel(e.DataDir, path)
			t.Errorf("%s is %s: open to the group or others", rel, fi.Mode().Perm())
		}
		files++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if files < 20 {
		t.Fatalf("walked only %d files and directories of the data dir", files)
	}
}
