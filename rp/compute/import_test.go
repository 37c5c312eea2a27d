package compute_test

import (
	"encoding/json"

	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/server"
)

// TestImportOnlyFromImportDir: local imports read only files below
// --import-dir (none without it), after resolving symlinks and '..'; a
// root-only file or another Safehold's database is never read, and the
// answer names --import-dir.
func TestImportOnlyFromImportDir(t *testing.T) {
	secretDir := t.TempDir()
	secret := filepath.Join(secretDir, "secret.raw")
	if err := os.WriteFile(secret, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	other := testserver.Start(t) // another Safehold instance: its database holds its signing key
	otherDB := filepath.Join(other.DataDir, "safehold.db")
	other.Stop()

	importBody := func(uri string) map[string]any {
		return map[string]any{"location": "westus", "properties": map[string]any{"creationData": map[string]any{"createOption": "Import", "sourceUri": uri}}}
	}
	refused := func(e *env, name, uri string) {
		t.Helper()
		resp, m := e.Do("PUT", e.diskID(name)+"?api-version=2024-03-02", importBody(uri))
		msg, _ := testserver.Field(m, "error.message").(string)
		if resp.StatusCode != 400 || testserver.ErrorCode(m) != "InvalidParameter" || !strings.Contains(msg, "--import-dir") {
			t.Fatalf("import of %s: want 400 InvalidParameter naming --import-dir, got %d %v", uri, resp.StatusCode, m)
		}
		if resp, _ := e.Do("GET", e.diskID(name)+"?api-version=2024-03-02", nil); resp.StatusCode != 404 {
			t.Fatalf("disk %s exists after a refused import: %d", name, resp.StatusCode)
		}
	}

	// No --import-dir: no local file, even on loopback.
	e, _ := start(t)
	refused(e, "a", "file://"+secret)
	refused(e, "b", "file://"+otherDB)
	refused(e, "c", secret)
	e.Stop()

	// With --import-dir: only below it, symlinks and '..' resolved.
	imp := t.TempDir()
	if err := os.WriteFile(filepath.Join(imp, "ok.raw"), make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(imp, "link.raw")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(other.DataDir, filepath.Join(imp, "otherdata")); err != nil {
		t.Fatal(err)
	}
	e, _ = start(t, func(c *server.Config) { c.Compute.ImportDir = imp })
	refused(e, "d", "file://"+secret)
	refused(e, "e", "file://"+filepath.Join(imp, "link.raw"))
	refused(e, "f", "link.raw")
	refused(e, "g", "file://"+filepath.Join(imp, "..", filepath.Base(secretDir), "secret.raw"))
	refused(e, "h", "../"+filepath.Base(secretDir)+"/secret.raw")
	refused(e, "i", "otherdata/safehold.db")
	refused(e, "j", "file://"+otherDB)
	d := e.putDisk("ok", map2disk(importBody("file://"+filepath.Join(imp, "ok.raw"))))
	if *d.Properties.DiskSizeBytes != 1<<20 {
		t.Fatalf("import inside --import-dir: %+v", d.Properties)
	}
	d = e.putDisk("rel", map2disk(importBody("ok.raw")))
	if *d.Properties.DiskSizeBytes != 1<<20 {
		t.Fatalf("relative import inside --import-dir: %+v", d.Properties)
	}
}

func map2disk(m map[string]any) armcompute.Disk {
	b, _ := json.Marshal(m)
	var d armcompute.Disk
	json.Unmarshal(b, &d)
	return d
}
