package main

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestFloorPercent(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		live uint64
		want int
	}{
		{2 * mib, 3100},  // a goal of 64 MiB: 2 MiB × 32
		{16 * mib, 300},  // 16 MiB × 4
		{32 * mib, 200},  // GOGC's own goal (96 MiB) is above the floor
		{500 * mib, 200}, // a large heap: GOGC's
	} {
		if got := floorPercent(64*mib, c.live, 200); got != c.want {
			t.Errorf("live %d MiB: GOGC %d, want %d", c.live/mib, got, c.want)
		}
	}
	if got := floorPercent(64*mib, 0, 200); got < 200 {
		t.Errorf("no live heap measured: GOGC %d", got)
	}
}

// TestHeapFloorFollowsTheLiveHeap runs collections with a small and then a
// large live heap: the GOGC heapFloor sets after each must put the goal at
// the floor, then leave GOGC's own.
func TestHeapFloorFollowsTheLiveHeap(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	const floor = 32 << 20
	defer heapFloor(floor, 100)()
	settle := func() int {
		for range 3 { // the cleanup runs after the collection, on its own goroutine
			runtime.GC()
			runtime.Gosched()
		}
		p := debug.SetGCPercent(-1)
		debug.SetGCPercent(p)
		return p
	}
	if p := settle(); p <= 100 {
		t.Fatalf("a small live heap: GOGC %d, want the floor's (above 100)", p)
	}
	big := make([][]byte, 0, 12)
	for range 12 {
		big = append(big, make([]byte, 8<<20)) // 96 MiB live, above the floor
	}
	if p := settle(); p != 100 {
		t.Fatalf("a live heap above the floor: GOGC %d, want 100", p)
	}
	runtime.KeepAlive(big)
	big = nil
	if p := settle(); p <= 100 {
		t.Fatalf("small again: GOGC %d, want the floor's", p)
	}
}
