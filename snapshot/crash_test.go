package snapshot_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/safehold/safehold/blob/local"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/snapshot"
)

const crashEnv = "SAFEHOLD_SNAPSHOT_CRASH_CHILD"

// crashDisk returns the expected disk content after step i (0 = base).
func crashDisk(i int) ([]byte, []snapshot.Range) {
	const blocks = 64
	want := make([]byte, blocks*bs)
	fill(want[:40*bs], 'r', 1)
	fill(want[48*bs:], 't', 2)
	var last []snapshot.Range
	for s := 1; s <= i; s++ {
		last = last[:0]
		for _, b := range []int{(s * 7) % blocks, (s*13 + 5) % blocks, (s * 29) % blocks} {
			fill(want[b*bs:(b+1)*bs], 'r', uint64(1000+s*10+b))
			last = append(last, snapshot.Range{Off: int64(b) * bs, Len: bs})
		}
	}
	return want, last
}

// TestCrashChild is the child process of TestKill9: it captures snapshot
// after snapshot until killed.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("runs only as TestKill9's child")
	}
	ctx := context.Background()
	be, err := local.Open(filepath.Join(dir, "repo"))
	if err != nil {
		t.Fatal(err)
	}
	r, err := snapshot.Open(ctx, be, filepath.Join(dir, "cache"), snapshot.Options{PackSize: 256 << 10})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "disk.img")
	parent := snapshot.ID("")
	for i := 0; ; i++ {
		want, changed := crashDisk(i)
		if err := os.WriteFile(path, want, 0o600); err != nil {
			t.Fatal(err)
		}
		opts := snapshot.CaptureOptions{Parent: parent, Tags: map[string]string{"step": strconv.Itoa(i)}}
		if i%3 != 0 {
			opts.Changed = changed
		}
		m, _ := captureFile(t, r, path, opts)
		parent = m.ID
		if i%5 == 4 {
			if _, err := r.GC(ctx, snapshot.GCOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestKill9 runs captures in a child process, kills it with SIGKILL at a
// random moment and checks that every recorded snapshot restores exactly
// and the repository verifies.
func TestKill9(t *testing.T) {
	if os.Getenv(crashEnv) != "" {
		t.Skip()
	}
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for round := 0; round < 3; round++ {
		dir := t.TempDir()
		// The child dies with this binary, and what it leaves in its
		// TMPDIR goes with this test's temporary directories.
		cmd := testsvc.DiesWithParent(exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1"))
		cmd.Env = append(os.Environ(), crashEnv+"="+dir, "TMPDIR="+t.TempDir())
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(150+rng.IntN(600)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()

		be, err := local.Open(filepath.Join(dir, "repo"))
		if err != nil {
			t.Fatal(err)
		}
		// Reopen with the child's (possibly torn) cache, as a restart would.
		r, err := snapshot.Open(ctx, be, filepath.Join(dir, "cache"), snapshot.Options{})
		if err != nil {
			t.Fatal(err)
		}
		ms, err := r.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: %d snapshots survived the kill", round, len(ms))
		for _, m := range ms {
			step, err := strconv.Atoi(m.Tags["step"])
			if err != nil {
				t.Fatalf("snapshot %s: bad tag %v", m.ID, m.Tags)
			}
			want, _ := crashDisk(step)
			checkRestore(t, r, m.ID, want)
		}
		verifyAndCollect(t, r, fmt.Sprintf("round %d", round))
		r.Close()
	}
}
