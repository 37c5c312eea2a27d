package compute_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/nbd/nbdtest"
	"github.com/safehold/safehold/snapshot"
)

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
			for deadline := time.Now().Add(10 * time.Second); s.OpenNBDExports() != 0 && time.Now().Before(deadline); {
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
