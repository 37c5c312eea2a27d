package compute_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/failure"
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
