package compute_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/failure"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/nbd/nbdtest"
	"github.com/safehold/safehold/snapshot"
)

func failureCode(err error) string {
	var fe *failure.Error
	if errors.As(err, &fe) {
		return fe.Code
	}
	return ""
}

// openBlob grants access to the disk or snapshot id for an hour and opens
// its page blob through the grant.
func openBlob(t *testing.T, s *compute.Service, id, access string) *compute.PageBlob {
	t.Helper()
	ctx := context.Background()
	g, err := s.GrantAccess(ctx, id, access, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.OpenPageBlob(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPageBlob drives the disk data plane without HTTP: pages written
// through a Write grant, data ranges, a snapshot read back bit-exact, the
// diff of the live disk against that snapshot, and the Azure Storage codes
// of its failures.
func TestPageBlob(t *testing.T) {
	s := newService(t)
	ctx := context.Background()
	const size = 8 << 20
	for _, n := range []string{"d", "other"} {
		if _, err := s.CreateDisk(ctx, compute.DiskSpec{ID: diskID(n), Location: "westus", CreateOption: "Empty", SizeBytes: size}); err != nil {
			t.Fatal(err)
		}
	}
	b := openBlob(t, s, diskID("d"), "Write")
	if !b.Writable() || b.Size() != size {
		t.Fatalf("disk blob: writable %v size %d", b.Writable(), b.Size())
	}
	page := bytes.Repeat([]byte{7}, 2*compute.PageSize)
	if err := b.WritePages(page, 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := b.WritePages(page, size); failureCode(err) != "InvalidPageRange" {
		t.Fatalf("write beyond the end: %v", err)
	}
	rs, err := b.DataRanges(ctx, 0, size)
	if err != nil || len(rs) != 1 || rs[0].Off > 1<<20 || rs[0].Off+rs[0].Len < 1<<20+int64(len(page)) {
		t.Fatalf("data ranges: %v %+v", err, rs)
	}
	b.Close()
	if err := s.RevokeAccess(ctx, diskID("d")); err != nil {
		t.Fatal(err)
	}

	for _, n := range []string{"d", "other"} {
		if _, err := s.SnapshotDisks(ctx, []compute.SnapshotSpec{{DiskID: diskID(n), SnapshotID: snapID("s-" + n), Incremental: true}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	sb := openBlob(t, s, snapID("s-d"), "Read")
	defer sb.Close()
	got := make([]byte, len(page))
	if _, err := sb.ReadAt(got, 1<<20); err != nil || !bytes.Equal(got, page) || sb.Writable() {
		t.Fatalf("snapshot read: %v equal %v writable %v", err, bytes.Equal(got, page), sb.Writable())
	}
	if rs, err := sb.DataRanges(ctx, 0, size); err != nil || len(rs) != 1 || rs[0].Off > 1<<20 || rs[0].Off+rs[0].Len < 1<<20+int64(len(page)) {
		t.Fatalf("snapshot data ranges: %v %+v", err, rs)
	}

	b = openBlob(t, s, diskID("d"), "Write")
	defer b.Close()
	if err := b.ClearPages(1<<20, compute.PageSize); err != nil {
		t.Fatal(err)
	}
	if err := b.WritePages(page[:compute.PageSize], 3<<20); err != nil {
		t.Fatal(err)
	}
	id, err := s.ResolvePrevious(ctx, b, "s-d")
	if err != nil || id != snapID("s-d") {
		t.Fatalf("resolve s-d: %q %v", id, err)
	}
	prev, err := s.OpenPrevious(ctx, b, id)
	if err != nil {
		t.Fatal(err)
	}
	defer prev.Close()
	set, clr, err := b.Diff(ctx, prev, 0, size)
	want := []compute.Range{{Off: 3 << 20, Len: compute.PageSize}}
	wantClr := []compute.Range{{Off: 1 << 20, Len: compute.PageSize}}
	if err != nil || len(set) != 1 || set[0] != want[0] || len(clr) != 1 || clr[0] != wantClr[0] {
		t.Fatalf("diff: %v set %+v clear %+v", err, set, clr)
	}
	if _, err := s.OpenPrevious(ctx, b, snapID("s-other")); failureCode(err) != "PreviousSnapshotNotFound" {
		t.Fatalf("diff against another disk's snapshot: %v", err)
	}
	if _, err := s.ResolvePrevious(ctx, b, "nothing"); failureCode(err) != "InvalidQueryParameterValue" {
		t.Fatalf("resolve an unknown snapshot: %v", err)
	}
	if _, err := s.OpenPrevious(ctx, b, snapID("gone")); failureCode(err) != "BlobNotFound" {
		t.Fatalf("diff against a missing snapshot: %v", err)
	}
}

// A replica whose NBD listener is bound to a wildcard address advertises
// it under the host of its endpoint, which clients and the other replicas
// reach: a grant's nbdUri never names 0.0.0.0.
func TestNBDURIOfWildcardListener(t *testing.T) {
	s := newServiceOpts(t, compute.Options{NBDAddr: "0.0.0.0:0",
		Replica: &compute.Replica{NodeID: "node-a", URL: "https://replica-a.example:8443"}})
	ctx := context.Background()
	if _, err := s.CreateDisk(ctx, compute.DiskSpec{ID: diskID("d"), Location: "westus", CreateOption: "Empty", SizeBytes: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	g, err := s.GrantAccess(ctx, diskID("d"), "Read", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	uri, err := s.NBDURI(ctx, g)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(s.NBDAddr())
	if want := "nbd://replica-a.example:" + port + "/"; !strings.HasPrefix(uri, want) || port == "" || port == "0" {
		t.Fatalf("nbdUri %q, want the prefix %q", uri, want)
	}
}

// The service tracks an NBD export (so that endGetAccess can end it) only
// while a connection has it open: clients that connect, inspect or read,
// and disconnect during a long grant (a 12-hour file recovery session) do
// not pile up exports, each holding its disk's volume or its snapshot's
// reader and segment cache, until the grant expires.
func TestNBDExportsForgottenWhenConnectionsEnd(t *testing.T) {
	s, ctx := nbdDiskAndSnapshot(t, "s")
	for _, id := range []string{diskID("d"), snapID("s")} {
		g, err := s.GrantAccess(ctx, id, "Read", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		uri, err := s.NBDURI(ctx, g)
		if err != nil {
			t.Fatal(err)
		}
		u, err := url.Parse(uri)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(u.Path, "/")
		for range 5 {
			cl := nbdtest.MustDial(t, u.Host, name, false)
			if n := s.OpenNBDExports(); n != 1 {
				t.Fatalf("%s: %d exports tracked with one connection open, want 1", id, n)
			}
			cl.Close()
			// The server sees the disconnect in its own time.
			for deadline := time.Now().Add(testsvc.WaitLimit); s.OpenNBDExports() != 0 && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
			if n := s.OpenNBDExports(); n != 0 {
				t.Fatalf("%s: %d exports still tracked after their connection closed", id, n)
			}
		}
	}
}

// A snapshot deleted while an NBD connection to it stays open (a client
// that never disconnects) has its content collected: the export's end
// releases the reader that protected it, not only the client's
// disconnect.
func TestNBDEndedSnapshotExportReleasesContent(t *testing.T) {
	s, ctx := nbdDiskAndSnapshot(t, "empty")
	v, _ := s.Volume(ctx, diskID("d"))
	p := make([]byte, 1<<20)
	for i := range p {
		p[i] = byte(i*7 + i>>9)
	}
	if _, err := v.WriteAt(p, 0); err != nil {
		t.Fatal(err)
	}
	chunks := func() int {
		t.Helper()
		if _, err := s.Repository().GC(ctx, snapshot.GCOptions{}); err != nil {
			t.Fatal(err)
		}
		n, _ := s.Repository().Size()
		return n
	}
	before := chunks()
	if _, err := s.SnapshotDisks(ctx, []compute.SnapshotSpec{{DiskID: diskID("d"), SnapshotID: snapID("s")}}, nil); err != nil {
		t.Fatal(err)
	}
	if chunks() <= before {
		t.Fatal("the snapshot stored no chunks of its own")
	}
	g, err := s.GrantAccess(ctx, snapID("s"), "Read", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	uri, _ := s.NBDURI(ctx, g)
	u, _ := url.Parse(uri)
	cl := nbdtest.MustDial(t, u.Host, strings.TrimPrefix(u.Path, "/"), false)
	defer cl.Close()
	if err := s.DeleteSnapshot(ctx, snapID("s")); err != nil {
		t.Fatal(err)
	}
	if n := chunks(); n != before {
		t.Fatalf("%d chunks after the granted snapshot was deleted, want %d: the open connection still protects its content", n, before)
	}
}

// nbdDiskAndSnapshot is a service with an NBD listener, a 4 MiB disk d and
// its snapshot named snap.
func nbdDiskAndSnapshot(t *testing.T, snap string) (*compute.Service, context.Context) {
	t.Helper()
	s := newServiceOpts(t, compute.Options{NBDAddr: "127.0.0.1:0"})
	ctx := context.Background()
	if _, err := s.CreateDisk(ctx, compute.DiskSpec{ID: diskID("d"), Location: "westus", CreateOption: "Empty", SizeBytes: 4 << 20}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SnapshotDisks(ctx, []compute.SnapshotSpec{{DiskID: diskID("d"), SnapshotID: snapID(snap)}}, nil); err != nil {
		t.Fatal(err)
	}
	return s, ctx
}
