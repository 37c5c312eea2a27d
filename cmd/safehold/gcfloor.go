package main

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// heapFloorMiB is the heap `safehold serve` lets grow before a collection
// when its live heap is small. The control plane's live heap is a few MiB
// (caches, routes, connections), so with GOGC alone the collector would
// run every 10 MiB or so of garbage: 35 times in 5 s of authenticated GETs
// from wrk (each GET leaves ~6 KB), with a stop-the-world pause of 1–3 ms
// each on a busy host. With the floor it ran 5 times. A large live heap (a repository's chunk index)
// is not affected: its goal is GOGC's, above the floor, and the soft memory
// limit (--memory-limit) still bounds it.
const heapFloorMiB = 64

// heapFloor keeps the collector's heap goal at least floor bytes, within
// GOGC percent of the live heap at most (the goal GOGC alone gives when
// the live heap is large): after each collection it sets GOGC to the
// percentage that puts the next goal at the floor, never below gogc.
// (Go's own minimum goal is 4 MiB times GOGC/100, a floor that would also
// scale the goal of a large heap.) stop ends it, leaving GOGC as it is.
func heapFloor(floor uint64, gogc int) (stop func()) {
	// Before the first collection there is no live heap measured: the heap
	// allocated so far (garbage included) stands in for it.
	first := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(first)
	debug.SetGCPercent(floorPercent(floor, first[0].Value.Uint64(), gogc))
	live := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	var arm func()
	var stopped atomic.Bool
	adjust := func() {
		if stopped.Load() {
			return
		}
		metrics.Read(live)
		debug.SetGCPercent(floorPercent(floor, live[0].Value.Uint64(), gogc))
		arm()
	}
	// A sentinel whose cleanup runs after the collection that finds it
	// unreachable, and arms the next: once per cycle.
	arm = func() {
		runtime.AddCleanup(&sentinel{}, func(struct{}) { adjust() }, struct{}{})
	}
	arm()
	return func() { stopped.Store(true) }
}

// sentinel is heapFloor's object per cycle: with a pointer, so it is never
// one of the tiny allocator's shared blocks (whose cleanups may never run).
type sentinel struct {
	_ *int
	_ [8]byte
}

// floorPercent is the GOGC that puts the goal of a live heap of live bytes
// at floor, and at least gogc: goal = live × (1 + GOGC/100).
func floorPercent(floor, live uint64, gogc int) int {
	const most = 1 << 20 // an empty heap: a finite percentage
	if live == 0 {
		return most
	}
	p := int(min(floor*100/live, most)) - 100
	return max(p, gogc)
}
