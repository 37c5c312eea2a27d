package compute_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/volume"
)

const crashSlots = 64

// openServiceAt opens a compute service on a fixed data dir (reopenable).
func openServiceAt(tb testing.TB, dir string) (*compute.Service, func()) {
	tb.Helper()
	return openServiceOpts(tb, dir, compute.Options{})
}

// openServiceOpts opens a compute service with opts on a bare platform
// (store, clock, data dir dir) with resource group rg; the func closes both.
func openServiceOpts(tb testing.TB, dir string, opts compute.Options) (*compute.Service, func()) {
	tb.Helper()
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(dir, "db"), clock.Real{})
	if err != nil {
		tb.Fatal(err)
	}
	p := &resource.Platform{Store: st, Clock: clock.Real{}, DataDir: dir}
	err = st.Update(ctx, func(tx store.Tx) error {
		return resource.Put(ctx, tx, arm.ResourceID{SubscriptionID: sub, ResourceGroup: "rg"},
			map[string]any{"id": "/subscriptions/" + sub + "/resourceGroups/rg", "name": "rg", "type": "Microsoft.Resources/resourceGroups", "location": "westus"})
	})
	if err != nil {
		st.Close()
		tb.Fatal(err)
	}
	s, err := compute.New(p, opts)
	if err != nil {
		st.Close()
		tb.Fatal(err)
	}
	return s, func() { s.Close(); st.Close() }
}

// TestCrashChild is the process TestKill9DuringWritesAndSnapshots kills:
// it writes records to a disk and snapshots it, until killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("SAFEHOLD_CRASH_DIR")
	if dir == "" {
		t.Skip("run by TestKill9DuringWritesAndSnapshots")
	}
	s, _ := openServiceAt(t, dir)
	ctx := context.Background()
	if _, err := s.CreateDisk(ctx, compute.DiskSpec{ID: diskID("crash"), Location: "westus", CreateOption: "Empty", SizeBytes: 64 << 20}); err != nil {
		t.Fatal(err)
	}
	v, _ := s.Volume(ctx, diskID("crash"))
	buf := make([]byte, volume.BlockSize)
	for i := int64(1); ; i++ {
		for j := 0; j < len(buf); j += 8 {
			binary.LittleEndian.PutUint64(buf[j:], uint64(i))
		}
		if _, err := v.WriteAt(buf, (i%crashSlots)*volume.BlockSize); err != nil {
			t.Fatal(err)
		}
		if i%40 == 0 {
			if _, err := s.SnapshotDisks(ctx, []compute.SnapshotSpec{{DiskID: diskID("crash"), SnapshotID: snapID(fmt.Sprint("c", i)), Incremental: true}}, nil); err != nil {
				t.Fatal(err)
			}
			if i == 40 {
				fmt.Println("ready")
			}
		}
	}
}

// killWhenReady runs test as a child process (with env, one VAR=value),
// waits until it prints "ready", lets it run on for a random time from
// minMS to maxMS milliseconds and SIGKILLs it.
func killWhenReady(t *testing.T, test, env string, minMS, maxMS int) {
	t.Helper()
	cmd, sc := testsvc.Child(t, test, []string{env}, "-test.v")
	ready := false
	for sc.Scan() {
		if strings.Contains(sc.Text(), "ready") {
			ready = true
			break
		}
	}
	if !ready {
		cmd.Wait()
		t.Fatal("child never got ready")
	}
	go func() {
		for sc.Scan() {
		}
	}()
	time.Sleep(time.Duration(minMS+rand.IntN(maxMS-minMS)) * time.Millisecond)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
}

func slotRecords(t *testing.T, rd interface {
	ReadAt([]byte, int64) (int, error)
}) []int64 {
	t.Helper()
	out := make([]int64, crashSlots)
	buf := make([]byte, volume.BlockSize)
	for s := range out {
		if _, err := rd.ReadAt(buf, int64(s)*volume.BlockSize); err != nil {
			t.Fatal(err)
		}
		first := binary.LittleEndian.Uint64(buf)
		for j := 0; j < len(buf); j += 8 {
			if binary.LittleEndian.Uint64(buf[j:]) != first {
				t.Fatalf("slot %d is torn", s)
			}
		}
		out[s] = int64(first)
	}
	return out
}

func checkPrefix(t *testing.T, what string, got []int64) {
	t.Helper()
	var k int64
	for _, v := range got {
		k = max(k, v)
	}
	for s, v := range got {
		want := k - ((k-int64(s))%crashSlots+crashSlots)%crashSlots
		if want < 0 {
			want = 0
		}
		if v != want {
			t.Fatalf("%s: slot %d holds record %d, want %d (after record %d): not one instant", what, s, v, want, k)
		}
	}
}

// TestKill9DuringWritesAndSnapshots SIGKILLs a process that is writing and
// snapshotting, then reopens its data dir: every recorded snapshot is one
// instant, and the next incremental snapshot (which must not trust the
// change map) equals the disk exactly.
func TestKill9DuringWritesAndSnapshots(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	for round := 0; round < 2; round++ {
		dir := t.TempDir()
		killWhenReady(t, "TestCrashChild", "SAFEHOLD_CRASH_DIR="+dir, 50, 450)

		s, closeFn := openServiceAt(t, dir)
		ctx := context.Background()
		sns, err := s.ListSnapshots(ctx, "/subscriptions/"+sub)
		if err != nil || len(sns) == 0 {
			t.Fatalf("snapshots after the crash: %d %v", len(sns), err)
		}
		for _, sn := range sns {
			got, err := s.Snapshot(ctx, sn.ID)
			if err != nil {
				t.Fatal(err)
			}
			rd, err := s.Repository().OpenReader(ctx, got.EngineID)
			if err != nil {
				t.Fatalf("snapshot %s lost its content: %v", sn.Name, err)
			}
			checkPrefix(t, sn.Name, slotRecords(t, rd))
		}
		v, _ := s.Volume(ctx, diskID("crash"))
		if _, _, ok := v.Changes(); ok {
			t.Fatal("change map trusted after kill -9")
		}
		want := make([]byte, v.Size())
		v.ReadAt(want, 0)
		next, err := s.SnapshotDisks(ctx, []compute.SnapshotSpec{{DiskID: diskID("crash"), SnapshotID: snapID("after"), Incremental: true}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		rd, _ := s.Repository().OpenReader(ctx, next[0].EngineID)
		got := make([]byte, v.Size())
		rd.ReadAt(got, 0)
		if !bytes.Equal(got, want) {
			t.Fatal("the first snapshot after kill -9 differs from the disk")
		}
		closeFn()
	}
}
