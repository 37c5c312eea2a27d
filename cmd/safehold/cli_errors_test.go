package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
)

// TestCLIDataPlaneErrorsAndVaultFilter: a disk transfer refused by the SAS
// data plane says why (its Azure Storage XML message, without the request
// id and time), not only the code: `disk download` printed
// "safehold: DiskOwnerUnavailable" without the message naming the replica
// to restart. And `job list --vault` takes a vault's name or id, as `vault
// show` does; a name no vault has is an error naming the command that
// lists them: it was an empty list and exit 0, so a typo looked like a
// vault without jobs. So is an --operation no job can have, naming those
// it can (an empty list before); one in another case still filters.
func TestCLIDataPlaneErrorsAndVaultFilter(t *testing.T) {
	e := testserver.Start(t)
	dv := fixture.ProtectDisk(t, e)
	dv.Backup(t, e)

	mustRun(t, e, "fault", "add", "disk", "--name", "reads", "--method", "GET", "--status", "409", "--code", "InjectedConflict", "--count", "5")
	_, err := run(t, e, nil, "disk", "download", "data1", filepath.Join(t.TempDir(), "d.img"))
	if err == nil || !strings.Contains(err.Error(), "InjectedConflict: Safehold fault injection: disk failed as a fault rule asked.") ||
		strings.Contains(err.Error(), "RequestId") {
		t.Errorf("disk download refused by the data plane: %v", err)
	}
	mustRun(t, e, "fault", "clear")

	vaultID := "/subscriptions/" + e.Sub + "/resourceGroups/" + dv.RG + "/providers/Microsoft.DataProtection/backupVaults/" + dv.Vault
	for _, v := range []string{dv.Vault, strings.ToUpper(dv.Vault), vaultID} {
		if out := mustRun(t, e, "job", "list", "--vault", v, "-o", "tsv"); !strings.Contains(out, "\tBackup\tCompleted\t") {
			t.Errorf("job list --vault %s:\n%s", v, out)
		}
	}
	_, err = run(t, e, nil, "job", "list", "--vault", "vualt1")
	if err == nil || !strings.Contains(err.Error(), `no vault "vualt1" (see `+"`safehold vault list`)") {
		t.Errorf("job list --vault of a vault that does not exist: %v", err)
	}
	_, err = run(t, e, nil, "job", "list", "--operation", "Bogus")
	if err == nil || !strings.Contains(err.Error(), `--operation "Bogus": use one of `) || !strings.Contains(err.Error(), "Backup, Restore") {
		t.Errorf("job list --operation Bogus: %v", err)
	}
	if out := mustRun(t, e, "job", "list", "--operation", "backup", "-o", "tsv"); !strings.Contains(out, "\tBackup\tCompleted\t") {
		t.Errorf("job list --operation backup:\n%s", out)
	}
}

// TestDamagedSnapshotReadsSayWhy: reading a snapshot whose stored data is
// damaged (a flipped byte in its pack) is 409 SnapshotDataDamaged saying
// what to do, on the SAS data plane (safehold disk download) and for a disk
// created from it (its operation fails with that code): both answered 500
// InternalError ("Please retry the request", which the SDKs do in vain)
// or InternalServerError. And verify names the damaged snapshot resource:
// it named only its engine id, which no API shows.
func TestDamagedSnapshotReadsSayWhy(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("rg")
	diskID, _ := fixture.Disk(t, e, "rg", "d1", 1, 0, 8<<20)
	fixture.Snapshot(t, e, "rg", "s1", diskID)
	for _, f := range packs(t, e.DataDir) {
		fixture.FlipByte(t, f)
	}

	dir := t.TempDir()
	target := filepath.Join(dir, "s1.img")
	if err := os.WriteFile(target, []byte("an earlier download"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := run(t, e, nil, "disk", "download", "s1", target)
	if err == nil || !strings.Contains(err.Error(), "SnapshotDataDamaged: The stored data of snapshot 's1' is damaged") || !strings.Contains(err.Error(), "safehold verify --read-data") {
		t.Errorf("disk download of the damaged snapshot: %v", err)
	}
	keptAsItWas(t, dir, target, "an earlier download")
	// verify names the snapshot resource, not only its engine id.
	snapID := "/subscriptions/" + e.Sub + "/resourceGroups/rg/providers/Microsoft.Compute/snapshots/s1"
	if out, err := verifyCLI(t, e, "--read-data"); err == nil || !strings.Contains(out, "DAMAGED disk snapshot "+snapID+" (engine id ") {
		t.Errorf("verify --read-data of the damaged snapshot: %v\n%s", err, out)
	}
	dc, err := armcompute.NewDisksClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = fixture.Wait(dc.BeginCreateOrUpdate(e.Ctx(), "rg", "from-s1", armcompute.Disk{Location: to.Ptr("westus"), Properties: &armcompute.DiskProperties{
		CreationData: &armcompute.CreationData{CreateOption: to.Ptr(armcompute.DiskCreateOptionCopy),
			SourceResourceID: to.Ptr("/subscriptions/" + e.Sub + "/resourceGroups/rg/providers/Microsoft.Compute/snapshots/s1")}}}, nil))
	if err == nil || !strings.Contains(err.Error(), "SnapshotDataDamaged") || strings.Contains(err.Error(), "InternalServerError") {
		t.Errorf("disk from the damaged snapshot: %v", err)
	}
}

// keptAsItWas fails the test unless dir holds target alone, with content:
// a download that failed left no file of its own (a full-size image with
// zeros where the rest was to go, which looked whole) and did not empty
// the file it was to replace.
func keptAsItWas(t *testing.T, dir, target, content string) {
	t.Helper()
	if st, err := os.Stat(target); err != nil || st.Size() != int64(len(content)) {
		t.Errorf("%s after a failed download: %v; want it as it was (%d bytes)", target, sizeOf(st, err), len(content))
	} else if b, err := os.ReadFile(target); err != nil || string(b) != content {
		t.Errorf("%s after a failed download: %q, %v; want it as it was (%q)", target, b, err, content)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("after a failed download %s holds %v; want %s alone", dir, names, filepath.Base(target))
	}
}

// TestInterruptedDiskTransfers interrupts disk transfers and a wait (the
// command's context canceled, as main does on Ctrl-C or SIGTERM): a
// download held in the middle of its data reads leaves the file it was to
// replace as it was and no part of its own, and revokes the disk's access
// (the disk is Unattached again, not ActiveSAS for the grant's hour); an
// upload held likewise revokes its access and says the disk holds part of
// the file; `backup now` stopped while the job runs says the job goes on
// and how to wait for it (or, stopped while it looks the job up, that it
// may have started and where to look). The binary, sent SIGINT, does the
// same, says so and dies of the signal. Before, a download truncated the file first and
// left a full-size image with zeros where the rest was to go, and the
// process died with the grant still active.
func TestInterruptedDiskTransfers(t *testing.T) {
	e := testserver.Start(t)
	dv := fixture.ProtectDisk(t, e)
	dc, err := armcompute.NewDisksClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	diskState := func() armcompute.DiskState {
		d, err := dc.Get(e.Ctx(), "disk-rg", "data1", nil)
		if err != nil {
			t.Fatal(err)
		}
		return *d.Properties.DiskState
	}
	// interrupt runs the CLI and cancels it once ready says the command is
	// in the middle of its work (a fault rule holds it there meanwhile).
	interrupt := func(ready func() bool, args ...string) error {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() {
			_, err := runCtx(t, ctx, e, nil, args...)
			done <- err
		}()
		testsvc.WaitFor(t, args[0]+" "+args[1]+" in the middle of its work", func() bool {
			select {
			case err := <-done:
				t.Fatalf("%s %s ended before it was interrupted: %v", args[0], args[1], err)
			default:
			}
			return ready()
		})
		cancel()
		return <-done
	}

	dir := t.TempDir()
	target := filepath.Join(dir, "d.img")
	if err := os.WriteFile(target, []byte("an earlier download"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The first read (the page ranges) goes through, the next is held.
	mustRun(t, e, "fault", "add", "disk", "--name", "first", "--method", "GET", "--latency", "1ms", "--count", "1")
	mustRun(t, e, "fault", "add", "disk", "--name", "held", "--latency", "10m")
	// held reports whether the rule held holds a request (the command is
	// past what the first let through).
	held := func() bool {
		for _, l := range strings.Split(mustRun(t, e, "fault", "list"), "\n") {
			if f := strings.Fields(l); len(f) > 0 && f[0] == "held" {
				return f[len(f)-1] != "0"
			}
		}
		return false
	}
	err = interrupt(held, "disk", "download", "data1", target)
	if err == nil || !strings.Contains(err.Error(), "download stopped; "+target+" is as it was before") {
		t.Errorf("interrupted download: %v", err)
	}
	keptAsItWas(t, dir, target, "an earlier download")
	if st := diskState(); st != armcompute.DiskStateUnattached {
		t.Errorf("disk after an interrupted download: %s, want Unattached (the access revoked)", st)
	}

	img := filepath.Join(t.TempDir(), "up.img")
	if err := os.WriteFile(img, bytes.Repeat([]byte{7}, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, e, "fault", "clear", "held")
	mustRun(t, e, "fault", "add", "disk", "--name", "first", "--method", "GET", "--latency", "1ms", "--count", "1")
	mustRun(t, e, "fault", "add", "disk", "--name", "held", "--latency", "10m")
	err = interrupt(held, "disk", "upload", img, "data1")
	if err == nil || !strings.Contains(err.Error(), "disk "+"data1"+" holds part of "+img+" (upload it again)") {
		t.Errorf("interrupted upload: %v", err)
	}
	if st := diskState(); st != armcompute.DiskStateUnattached {
		t.Errorf("disk after an interrupted upload: %s, want Unattached (the access revoked)", st)
	}
	mustRun(t, e, "fault", "clear", "held")

	// The binary, interrupted by SIGINT as Ctrl-C does: it stops as above,
	// says so, and dies of the signal (a shell's loop stops too).
	mustRun(t, e, "fault", "add", "disk", "--name", "first", "--method", "GET", "--latency", "1ms", "--count", "1")
	mustRun(t, e, "fault", "add", "disk", "--name", "held", "--latency", "10m")
	cmd := asCLIProcess("disk", "download", "data1", target, "--data-dir", e.DataDir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	testsvc.WaitFor(t, "the download's data read held", held)
	// A process started with SIGINT ignored (this test run in a shell's
	// background, `go test ... &`) passes that on, and the command keeps
	// it ignored as it should: SIGTERM then, which it handles the same way.
	sig := syscall.SIGINT
	if signal.Ignored(sig) {
		sig = syscall.SIGTERM
	}
	cmd.Process.Signal(sig)
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || !ee.Sys().(syscall.WaitStatus).Signaled() || ee.Sys().(syscall.WaitStatus).Signal() != sig ||
		!strings.Contains(stderr.String(), "safehold: interrupted: download stopped; "+target+" is as it was before") {
		t.Errorf("safehold disk download interrupted by %v: %v\n%s", sig, err, stderr.String())
	}
	keptAsItWas(t, dir, target, "an earlier download")
	if st := diskState(); st != armcompute.DiskStateUnattached {
		t.Errorf("disk after a download interrupted by SIGINT: %s, want Unattached (the access revoked)", st)
	}
	mustRun(t, e, "fault", "clear", "held")

	mustRun(t, e, "fault", "add", "backup", "--name", "held", "--latency", "10m")
	running := func() bool {
		out := mustRun(t, e, "job", "list", "--operation", "Backup", "--status", "InProgress", "-o", "tsv")
		return strings.Contains(out, "InProgress")
	}
	err = interrupt(running, "backup", "now", dv.Instance)
	// Stopped while it waits for the job, or (the job is running already)
	// while it looks the job up.
	if err == nil || !regexp.MustCompile("stopped waiting for job [-0-9a-f]+, which goes on in the server \\(`safehold job wait [-0-9a-f]+` waits for it again\\)|"+
		"stopped before the backup's job was found; it may have started \\(see `safehold job list --vault vault1`\\)").MatchString(err.Error()) {
		t.Errorf("interrupted backup now: %v", err)
	}
	mustRun(t, e, "fault", "clear", "held")
}

func sizeOf(st os.FileInfo, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%d bytes", st.Size())
}

// TestServerStoppedWhileWaitingForAJob: a server that stops while `backup
// now` waits for its job fails the command saying the server does not
// answer and that the job goes on once it runs again, naming it for `job
// wait`, which then waits for it to complete: the command said only that
// the server was not answering, as if the backup had not been taken on, so
// an operator would start it again.
func TestServerStoppedWhileWaitingForAJob(t *testing.T) {
	e := testserver.Start(t)
	dv := fixture.ProtectDisk(t, e)
	mustRun(t, e, "fault", "add", "backup", "--name", "held", "--latency", "10m")
	errc := make(chan error, 1)
	go func() {
		_, err := run(t, e, nil, "backup", "now", dv.Instance)
		errc <- err
	}()
	// Stopped once the command reads its job (it waits for it then).
	testsvc.WaitFor(t, "backup now reading its job", func() bool {
		for k, v := range e.Metrics() {
			if strings.HasPrefix(k, "safehold_http_requests_total{") && strings.Contains(k, `method="GET"`) && regexp.MustCompile(`/backupJobs/\{[^}/]+\}"`).MatchString(k) && v > 0 {
				return true
			}
		}
		return false
	})
	e.Stop()
	var err error
	select {
	case err = <-errc:
	case <-time.After(testsvc.WaitLimit):
		t.Fatal("backup now still waits for a stopped server")
	}
	m := regexp.MustCompile("(?s)is not answering.*\njob ([-0-9a-f]+) goes on in the server once it runs again: `safehold job wait ([-0-9a-f]+)` waits for it").FindStringSubmatch(fmt.Sprint(err))
	if m == nil || m[1] != m[2] {
		t.Fatalf("backup now when its server stopped: %v", err)
	}
	e.Restart() // the rule held it in the stopped server's memory only
	out := mustRun(t, e, "job", "wait", m[1])
	if !strings.Contains(out, "Completed") {
		t.Fatalf("job wait after the restart:\n%s", out)
	}
}

// TestDiskDownloadOfAnAttachedDisk: the refusal of a download (SAS access)
// of a disk attached to a VM that is not deallocated says what to do for
// that disk: for an OS disk, deallocate the VM or download a snapshot of
// it (it said to detach the disk, which an OS disk cannot be); for a data
// disk, detaching too. Both ways the message names then work.
func TestDiskDownloadOfAnAttachedDisk(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("rg")
	osID, _ := fixture.Disk(t, e, "rg", "os1", 1, 0, 1<<20)
	dataID, _ := fixture.Disk(t, e, "rg", "data1", 1, 0, 1<<20)
	fixture.VM(t, e, "rg", "vm1", osID, dataID)
	dir := t.TempDir()
	_, err := run(t, e, nil, "disk", "download", "os1", filepath.Join(dir, "os1.img"))
	if err == nil || !strings.Contains(err.Error(), "is the OS disk of VM") || !strings.Contains(err.Error(), "Stop (deallocate) the VM") ||
		!strings.Contains(err.Error(), "take a snapshot of the disk") || strings.Contains(err.Error(), "detach the disk") {
		t.Errorf("disk download of a running VM's OS disk: %v", err)
	}
	_, err = run(t, e, nil, "disk", "download", "data1", filepath.Join(dir, "data1.img"))
	if err == nil || !strings.Contains(err.Error(), "is attached to VM") || !strings.Contains(err.Error(), "detach the disk") || !strings.Contains(err.Error(), "take a snapshot of the disk") {
		t.Errorf("disk download of a running VM's data disk: %v", err)
	}
	// A snapshot of the OS disk downloads; so does the disk once its VM
	// is deallocated.
	fixture.Snapshot(t, e, "rg", "os1-snap", osID)
	mustRun(t, e, "disk", "download", "os1-snap", filepath.Join(dir, "os1-snap.img"))
	vc, err := armcompute.NewVirtualMachinesClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fixture.Wait(vc.BeginDeallocate(e.Ctx(), "rg", "vm1", nil)); err != nil {
		t.Fatal(err)
	}
	mustRun(t, e, "disk", "download", "os1", filepath.Join(dir, "os1.img"))
}

// TestBackupOfADiskBeingWrittenSaysToEndItsAccess: a backup of a disk
// granted for writing (its SAS or NBD export open: ActiveUpload) fails
// saying why and what to do: end the disk's access, then back it up again.
// It failed UserErrorBackupFailed recommending to retry and look for the
// job in the log, which fails the same way (hostile29).
func TestBackupOfADiskBeingWrittenSaysToEndItsAccess(t *testing.T) {
	e := testserver.Start(t)
	dv := fixture.ProtectDisk(t, e)
	_, revoke := fixture.DiskAccessByID(t, e, dv.DiskID, armcompute.AccessLevelWrite)
	_, err := run(t, e, nil, "backup", "now", dv.Instance)
	if err == nil {
		t.Fatal("backup now of a disk granted for writing succeeded")
	}
	for _, want := range []string{"Failed: UserErrorDiskSnapshotFailed", "is in state ActiveUpload", "to fix: End the disk's access (endGetAccess"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("backup now of a disk granted for writing: %v\nlacks %q", err, want)
		}
	}
	revoke()
	if out := mustRun(t, e, "backup", "now", dv.Instance); !strings.Contains(out, "Completed") {
		t.Fatalf("backup now once its access ended:\n%s", out)
	}
}
