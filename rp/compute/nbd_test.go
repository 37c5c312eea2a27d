package compute_test

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/server"
	"github.com/safehold/safehold/volume"
)

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestNBDClients drives the NBD export with Debian's clients: nbdinfo
// (OPT_LIST, OPT_INFO, BLOCK_STATUS base:allocation), qemu-io (WRITE,
// READ, TRIM, WRITE_ZEROES, FLUSH) and nbdcopy, and checks every write
// lands in the same volume the SAS path serves.
func TestNBDClients(t *testing.T) {
	needTool(t, "qemu-io", "nbdinfo", "nbdcopy")
	e, ctx := start(t, withNBD())
	const size = 128<<20 + 512 // a VHD size (Azure's uploadSizeBytes), raw content: kept whole
	e.putDisk("n1", armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionUpload), UploadSizeBytes: to.Ptr[int64](size)}}})
	d, _ := e.disks.Get(ctx, e.rg, "n1", nil)
	addr := e.Server.Compute.NBDAddr()
	url := e.nbdURI("n1", armcompute.AccessLevelWrite)
	if strings.Contains(url, *d.Properties.UniqueID) || !strings.HasPrefix(url, "nbd://"+addr+"/") {
		t.Fatalf("nbdUri %s", url)
	}

	// Nothing is listed.
	if list := run(t, "nbdinfo", "--list", "--json", "nbd://"+addr); strings.Contains(list, "sas-") || strings.Contains(strings.ToLower(list), "disks") {
		t.Fatalf("nbdinfo --list shows exports:\n%s", list)
	}
	info := run(t, "nbdinfo", "--json", url)
	if !strings.Contains(info, "134218240") || !strings.Contains(info, "\"can_trim\": true") {
		t.Fatalf("nbdinfo:\n%s", info)
	}
	run(t, "qemu-io", "-f", "raw", "-c", "write -P 0x11 0 1M", "-c", "write -P 0x22 64M 2M", "-c", "discard 64M 1M",
		"-c", "write -z 0 64k", "-c", "flush", "-c", "read -P 0x11 64k 960k", "-c", "read -P 0 64M 1M", url)
	m := newModel(t, size)
	m.write(bytes.Repeat([]byte{0x11}, 1<<20), 0)
	m.write(bytes.Repeat([]byte{0x22}, 2<<20), 64<<20)
	m.zero(64<<20, 1<<20)
	m.zero(0, 64<<10)

	// base:allocation: data where written, holes elsewhere.
	mp := run(t, "nbdinfo", "--map", url)
	if !strings.Contains(mp, "data") || !strings.Contains(mp, "hole") {
		t.Fatalf("nbdinfo --map:\n%s", mp)
	}
	var dataBytes int64
	for _, line := range strings.Split(strings.TrimSpace(mp), "\n") {
		f := strings.Fields(line)
		if len(f) >= 4 && f[3] == "data" {
			var n int64
			for _, c := range f[1] {
				n = n*10 + int64(c-'0')
			}
			dataBytes += n
		}
	}
	if dataBytes < 1984<<10 || dataBytes > 4<<20 {
		t.Fatalf("map shows %d data bytes, want about 2 MiB:\n%s", dataBytes, mp)
	}
	// nbdcopy reads the whole export; it matches the model.
	out := filepath.Join(t.TempDir(), "copy.raw")
	run(t, "nbdcopy", url, out)
	got, _ := os.ReadFile(out)
	want := make([]byte, size)
	m.f.ReadAt(want, 0)
	if !bytes.Equal(got, want) {
		t.Fatal("nbdcopy output differs from the expected content")
	}
	// The SAS path sees the same bytes.
	e.revokeDisk("n1")
	compareSAS(t, e, e.grantDisk("n1", armcompute.AccessLevelRead), m)
}

// TestImportCopyAndCrashFallback: Import copies a local file in; Copy from
// a disk freezes it; after an unclean stop the next incremental snapshot
// scans instead of trusting the change map, and is still right.
func TestImportCopyAndCrashFallback(t *testing.T) {
	imp := t.TempDir()
	e, ctx := start(t, func(c *server.Config) { c.Compute.ImportDir = imp })
	const size = 32 << 20
	src := filepath.Join(imp, "disk.raw")
	f, _ := os.Create(src)
	f.Truncate(size)
	f.WriteAt(bytes.Repeat([]byte{0x33}, 3<<20), 5<<20)
	f.Close()
	m := newModel(t, size)
	m.write(bytes.Repeat([]byte{0x33}, 3<<20), 5<<20)

	d := e.putDisk("imp", armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionImport), SourceURI: to.Ptr("file://" + src)}}})
	if *d.Properties.DiskSizeBytes != size || *d.Properties.CreationData.CreateOption != armcompute.DiskCreateOptionImport {
		t.Fatalf("imported disk: %+v", d.Properties)
	}
	compareSAS(t, e, e.grantDisk("imp", armcompute.AccessLevelRead), m)
	e.revokeDisk("imp")
	c := e.putDisk("cp", armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy), SourceResourceID: to.Ptr(e.diskID("imp"))}}})
	if *c.Properties.CreationData.SourceUniqueID != *d.Properties.UniqueID {
		t.Fatalf("copy source: %+v", c.Properties.CreationData)
	}
	compareSAS(t, e, e.grantDisk("cp", armcompute.AccessLevelRead), m)

	svc := e.Server.Compute
	if _, err := svc.SnapshotDisks(ctx, []compute.SnapshotSpec{{DiskID: e.diskID("imp"), SnapshotID: e.snapID("i1"), Incremental: true}}, nil); err != nil {
		t.Fatal(err)
	}
	v, _ := svc.Volume(ctx, e.diskID("imp"))
	p := bytes.Repeat([]byte{0x44}, 4096)
	v.WriteAt(p, 20<<20)
	m.write(p, 20<<20)
	// An unclean stop: the volume's open marker survives (as after kill -9).
	uid := *d.Properties.UniqueID
	e.Stop()
	if err := os.WriteFile(filepath.Join(e.DataDir, "volumes", uid+".open"), []byte("open\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	orphan := filepath.Join(e.DataDir, "volumes", "orphan-of-a-crashed-create.raw")
	os.WriteFile(orphan, []byte("x"), 0o600)
	e.restart()
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Fatalf("orphaned volume kept after restart: %v", err)
	}
	svc = e.Server.Compute
	sns, err := svc.SnapshotDisks(e.Ctx(), []compute.SnapshotSpec{{DiskID: e.diskID("imp"), SnapshotID: e.snapID("i2"), Incremental: true}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sns[0].Stats.BytesScanned <= volume.BlockSize {
		t.Fatalf("after an unclean stop the snapshot trusted the change map (scanned %d bytes)", sns[0].Stats.BytesScanned)
	}
	if sns[0].Stats.BytesChanged != volume.BlockSize {
		t.Fatalf("full scan found %d changed bytes, want one block", sns[0].Stats.BytesChanged)
	}
	e.diskFromSnapshot("i2disk", "i2")
	compareSAS(t, e, e.grantDisk("i2disk", armcompute.AccessLevelRead), m)
}

// TestNBDIsGrantedAndTLS: with --nbd-tls the NBD listener serves a disk
// only through the export name a grant (beginGetAccess) issued, over TLS
// with the server's certificate from Safehold's CA: nbdinfo, nbdcopy
// (nbds:// with tls-certificates), qemu-io and qemu-img (tls-creds-x509)
// reach it; plain NBD, unknown or guessed names, ARM ids and uniqueIds do
// not, LIST shows nothing, a Read grant is read-only, and endGetAccess
// ends the export.
func TestNBDIsGrantedAndTLS(t *testing.T) {
	needTool(t, "qemu-io", "qemu-img", "nbdinfo", "nbdcopy")
	e, _ := start(t, func(c *server.Config) { c.Compute.NBDAddr = "127.0.0.1:0"; c.NBDTLS = true })
	const size = 20<<20 + 512 // the smallest upload Azure takes
	e.putDisk("n1", armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionUpload), UploadSizeBytes: to.Ptr[int64](size)}}})
	d, err := e.disks.Get(e.Ctx(), e.rg, "n1", nil)
	if err != nil {
		t.Fatal(err)
	}
	addr := e.Server.Compute.NBDAddr()
	uri := e.nbdURI("n1", armcompute.AccessLevelWrite)
	if !strings.HasPrefix(uri, "nbds://"+addr+"/sas-") {
		t.Fatalf("nbdUri %s", uri)
	}
	export := uri[strings.LastIndex(uri, "/")+1:]
	host, port, _ := strings.Cut(addr, ":")

	// The client trusts Safehold's CA (libnbd and qemu read ca-cert.pem from a directory).
	certs := t.TempDir()
	ca, err := os.ReadFile(e.Conn.CACertFile)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(certs, "ca-cert.pem"), ca, 0o644)
	tlsURI := uri + "?tls-certificates=" + url.QueryEscape(certs)
	qemuTLS := []string{"--object", "tls-creds-x509,id=tls0,endpoint=client,dir=" + certs}
	qemuImage := "driver=nbd,server.type=inet,server.host=" + host + ",server.port=" + port + ",export=" + export + ",tls-creds=tls0"

	info := run(t, "nbdinfo", "--json", tlsURI)
	if !strings.Contains(info, "20972032") || !strings.Contains(info, `"is_read_only": false`) {
		t.Fatalf("nbdinfo over TLS:\n%s", info)
	}
	run(t, "qemu-io", append(qemuTLS, "--image-opts", "-c", "write -P 0x5a 1M 2M", "-c", "flush", qemuImage)...)
	out := filepath.Join(t.TempDir(), "copy.raw")
	run(t, "nbdcopy", tlsURI, out)
	got, _ := os.ReadFile(out)
	want := make([]byte, size)
	copy(want[1<<20:], bytes.Repeat([]byte{0x5a}, 2<<20))
	if !bytes.Equal(got, want) {
		t.Fatal("nbdcopy over TLS read other bytes than qemu-io wrote")
	}
	// Without TLS, and with names that are not a live grant's: refused.
	fails := func(what string, name string, args ...string) {
		t.Helper()
		if o, err := exec.Command(name, args...).CombinedOutput(); err == nil {
			t.Fatalf("%s succeeded:\n%s", what, o)
		}
	}
	fails("plain NBD", "nbdinfo", "nbd://"+addr+"/"+export)
	for _, name := range []string{*d.Properties.UniqueID, strings.TrimPrefix(e.diskID("n1"), "/"), export + "x", strings.Split(export, ".")[0]} {
		fails("export "+name, "nbdinfo", "nbds://"+addr+"/"+url.PathEscape(name)+"?tls-certificates="+url.QueryEscape(certs))
	}
	if list := run(t, "nbdinfo", "--list", "--json", "nbds://"+addr+"?tls-certificates="+url.QueryEscape(certs)); strings.Contains(list, "sas-") || strings.Contains(list, "\"export-name\"") {
		t.Fatalf("nbdinfo --list shows exports:\n%s", list)
	}
	// endGetAccess ends the export.
	e.revokeDisk("n1")
	fails("the export after endGetAccess", "nbdinfo", tlsURI)

	// A Read grant: readable with qemu-img, not writable.
	ruri := e.nbdURI("n1", armcompute.AccessLevelRead)
	rexport := ruri[strings.LastIndex(ruri, "/")+1:]
	if rexport == export {
		t.Fatal("a new grant reused the export name")
	}
	rimage := strings.Replace(qemuImage, "export="+export, "export="+rexport, 1)
	img := filepath.Join(t.TempDir(), "want.raw")
	os.WriteFile(img, want, 0o600)
	run(t, "qemu-img", append([]string{"compare"}, append(qemuTLS, "--image-opts", rimage, "driver=raw,file.filename="+img)...)...)
	fails("writing through a Read grant", "qemu-io", append(qemuTLS, "--image-opts", "-c", "write -P 1 0 64k", rimage)...)
	e.revokeDisk("n1")
}

// TestNBDBeyondLoopbackNeedsTLS: a non-loopback --nbd-addr without
// --nbd-tls stops start-up with a message saying so.
func TestNBDBeyondLoopbackNeedsTLS(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0"} {
		_, err := server.New(context.Background(), server.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Compute: computeOpts(addr)})
		if err == nil || !strings.Contains(err.Error(), "--nbd-tls") || !strings.Contains(err.Error(), "loopback") {
			t.Fatalf("--nbd-addr %s without --nbd-tls: %v", addr, err)
		}
	}
}

func computeOpts(nbdAddr string) compute.Options { return compute.Options{NBDAddr: nbdAddr} }

// nbdURI grants access to a disk (beginGetAccess through the SDK) and
// returns the grant's NBD URI, which Safehold adds to the AccessUri body.
func (e *env) nbdURI(name string, access armcompute.AccessLevel) string {
	e.t.Helper()
	p, err := e.disks.BeginGrantAccess(e.Ctx(), e.rg, name, armcompute.GrantAccessData{Access: to.Ptr(access), DurationInSeconds: to.Ptr[int32](3600)}, nil)
	if err != nil {
		e.t.Fatalf("grant %s: %v", name, err)
	}
	return nbdURIOf(e.t, e, p)
}
