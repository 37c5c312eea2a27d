package clients_test

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
)

// TestAzCLIStorageBlobs drives the blob service of a Safehold storage
// account with az storage and nothing but a connection string: the one
// az storage account show-connection-string gives with --blob-endpoint set
// to the account's primaryEndpoints.blob (README), and the same built by
// hand from az storage account keys list. Containers are created and
// listed; a file goes up (a second upload without --overwrite is refused),
// is listed by prefix, comes back byte for byte, and is deleted; a .vhd
// goes up as a page blob. A container SAS az generates lists and reads but
// does not write. A wrong key is Azure's 403 AuthenticationFailed,
// which az reports as an authentication failure.
func TestAzCLIStorageBlobs(t *testing.T) {
	e := testserver.Start(t)
	az := loggedIn(t, e)
	az.run("group", "create", "-n", "stg", "-l", "westus", "-o", "none")
	az.run("storage", "account", "create", "-n", "azblobs1", "-g", "stg", "-l", "westus", "--sku", "Standard_LRS", "-o", "none")
	endpoint := az.tsv("storage", "account", "show", "-n", "azblobs1", "-g", "stg", "--query", "primaryEndpoints.blob")
	if !strings.HasSuffix(endpoint, "/storage/blob/azblobs1/") {
		t.Fatalf("primaryEndpoints.blob %q", endpoint)
	}
	key := az.tsv("storage", "account", "keys", "list", "-n", "azblobs1", "-g", "stg", "--query", "[0].value")
	cs := az.tsv("storage", "account", "show-connection-string", "-n", "azblobs1", "-g", "stg", "--blob-endpoint", endpoint, "--query", "connectionString")
	if !strings.Contains(cs, "AccountKey="+key) || !strings.Contains(cs, "BlobEndpoint="+endpoint) {
		t.Fatalf("connection string %q lacks the key or the blob endpoint", cs)
	}
	byHand := "DefaultEndpointsProtocol=https;AccountName=azblobs1;AccountKey=" + key + ";BlobEndpoint=" + strings.TrimSuffix(endpoint, "/")
	// Storage commands need no login: a fresh configuration directory.
	az.env = append(az.env[:len(az.env):len(az.env)], "AZURE_CONFIG_DIR="+t.TempDir())

	if out := az.tsv("storage", "container", "create", "-n", "docs", "--connection-string", cs, "--query", "created"); out != "true" {
		t.Fatalf("container create: %q", out)
	}
	az.run("storage", "container", "create", "-n", "disks", "--connection-string", byHand, "-o", "none")
	if out := az.tsv("storage", "container", "list", "--connection-string", cs, "--query", "[].name"); out != "disks\ndocs" {
		t.Fatalf("container list: %q", out)
	}

	dir := t.TempDir()
	data := make([]byte, 3<<20+11)
	rand.Read(data)
	src := filepath.Join(dir, "data.bin")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	az.run("storage", "blob", "upload", "-c", "docs", "-n", "a/data.bin", "-f", src, "--connection-string", cs, "-o", "none")
	az.run("storage", "blob", "upload", "-c", "docs", "-n", "b/note.txt", "--data", "hello", "--connection-string", byHand, "-o", "none")
	r := testsvc.Run(t, clientLimit, az.env, az.bin, "storage", "blob", "upload", "-c", "docs", "-n", "a/data.bin", "-f", src, "--connection-string", cs, "-o", "none")
	if r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "BlobAlreadyExists") {
		t.Fatalf("a second upload without --overwrite: exit %d %s%s", r.Code, r.Stdout, r.Stderr)
	}
	az.run("storage", "blob", "upload", "-c", "docs", "-n", "a/data.bin", "-f", src, "--overwrite", "--connection-string", cs, "-o", "none")
	if out := az.tsv("storage", "blob", "list", "-c", "docs", "--prefix", "a/", "--connection-string", cs, "--query", "[].[name,properties.contentLength,properties.blobType]"); out != "a/data.bin\t3145739\tBlockBlob" {
		t.Fatalf("blob list a/: %q", out)
	}
	if out := az.tsv("storage", "blob", "list", "-c", "docs", "--connection-string", cs, "--query", "[].name"); out != "a/data.bin\nb/note.txt" {
		t.Fatalf("blob list: %q", out)
	}
	dst := filepath.Join(dir, "back.bin")
	az.run("storage", "blob", "download", "-c", "docs", "-n", "a/data.bin", "-f", dst, "--connection-string", cs, "-o", "none")
	if back, err := os.ReadFile(dst); err != nil || !bytes.Equal(back, data) {
		t.Fatalf("downloaded file differs (%v)", err)
	}

	// A .vhd uploads as a page blob (az's default for the extension).
	vhd := make([]byte, 1<<20+512)
	rand.Read(vhd[:4096])
	copy(vhd[1<<20:], "conectix")
	vhdFile := filepath.Join(dir, "disk.vhd")
	if err := os.WriteFile(vhdFile, vhd, 0o600); err != nil {
		t.Fatal(err)
	}
	az.run("storage", "blob", "upload", "-c", "disks", "-n", "disk.vhd", "-f", vhdFile, "--connection-string", cs, "-o", "none")
	if out := az.tsv("storage", "blob", "show", "-c", "disks", "-n", "disk.vhd", "--connection-string", cs, "--query", "[properties.blobType,properties.contentLength]"); out != "PageBlob\n1049088" {
		t.Fatalf("vhd blob: %q", out)
	}
	az.run("storage", "blob", "download", "-c", "disks", "-n", "disk.vhd", "-f", dst, "--overwrite", "--connection-string", cs, "-o", "none")
	if back, err := os.ReadFile(dst); err != nil || !bytes.Equal(back, vhd) {
		t.Fatalf("downloaded vhd differs (%v)", err)
	}

	az.run("storage", "blob", "delete", "-c", "docs", "-n", "a/data.bin", "--connection-string", cs, "-o", "none")
	if out := az.tsv("storage", "blob", "list", "-c", "docs", "--connection-string", cs, "--query", "[].name"); out != "b/note.txt" {
		t.Fatalf("blob list after delete: %q", out)
	}

	// A container SAS az signs, in a connection string: it lists and reads,
	// and may not write.
	token := az.tsv("storage", "container", "generate-sas", "-n", "docs", "--permissions", "rl", "--https-only",
		"--expiry", time.Now().Add(time.Hour).UTC().Format("2006-01-02T15:04Z"), "--connection-string", cs)
	sasCS := "BlobEndpoint=" + endpoint + ";SharedAccessSignature=" + token
	if out := az.tsv("storage", "blob", "list", "-c", "docs", "--connection-string", sasCS, "--query", "[].name"); out != "b/note.txt" {
		t.Fatalf("blob list with a SAS: %q", out)
	}
	az.run("storage", "blob", "download", "-c", "docs", "-n", "b/note.txt", "-f", dst, "--overwrite", "--connection-string", sasCS, "-o", "none")
	if back, err := os.ReadFile(dst); err != nil || string(back) != "hello" {
		t.Fatalf("download with a SAS: %q %v", back, err)
	}
	r = testsvc.Run(t, clientLimit, az.env, az.bin, "storage", "blob", "upload", "-c", "docs", "-n", "c.txt", "--data", "x", "--connection-string", sasCS, "-o", "none")
	// (az words 403 AuthorizationPermissionMismatch, and only it, so.)
	if r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "You do not have the required permissions needed to perform this operation") {
		t.Fatalf("an upload with a read/list SAS: exit %d %s%s", r.Code, r.Stdout, r.Stderr)
	}

	wrong := strings.Replace(cs, key, strings.Repeat("A", len(key)-4)+"AA==", 1)
	r = testsvc.Run(t, clientLimit, az.env, az.bin, "storage", "container", "list", "--connection-string", wrong, "-o", "none")
	// (az words Azure's 403 AuthenticationFailed as "Authentication failure".)
	if r.Code == 0 || !strings.Contains(r.Stdout+r.Stderr, "Authentication failure") {
		t.Fatalf("a wrong key: exit %d %s%s", r.Code, r.Stdout, r.Stderr)
	}
}
