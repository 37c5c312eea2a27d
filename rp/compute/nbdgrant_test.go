package compute_test

import (
	"encoding/json"
	"io"
	"net/http"

	"bytes"
	"context"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
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
)

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
	const size = 16 << 20
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
	if !strings.Contains(info, "16777216") || !strings.Contains(info, `"is_read_only": false`) {
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
	var resp *http.Response
	if _, err := p.PollUntilDone(runtime.WithCaptureResponse(e.Ctx(), &resp), poll); err != nil {
		e.t.Fatalf("grant %s: %v", name, err)
	}
	b, _ := io.ReadAll(resp.Body)
	var body struct {
		NBDURI string `json:"nbdUri"`
	}
	if err := json.Unmarshal(b, &body); err != nil || body.NBDURI == "" {
		e.t.Fatalf("grant %s: no nbdUri in %s", name, b)
	}
	return body.NBDURI
}
