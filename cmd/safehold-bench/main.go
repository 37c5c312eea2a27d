// Command safehold-bench drives the snapshot engine for benchmarks, one
// step per process so each step can be timed (wall, CPU, peak RSS) the same
// way bench/engine.sh times the peer tools.
//
//	safehold-bench engine full      -repo R -cache C -src disk.img -name full
//	safehold-bench engine incr      -repo R -cache C -src disk.img -parent full -name incr [-changed list.txt]
//	safehold-bench engine restore   -repo R -cache C -name incr -out restored.img
//	safehold-bench engine verify    -repo R -cache C [-sample 0.1]
//	safehold-bench engine delete    -repo R -cache C -name full
//	safehold-bench engine gc        -repo R -cache C [-repack 0]
//	safehold-bench engine stats     -repo R -cache C
//	safehold-bench index build|lookup|backup -dir D [-chunks 16000000]   (index.go)
//
// -changed names a file of changed byte ranges, one "offset length" pair per
// line (what the volume layer's change tracking supplies); without it an
// incremental hash-compares every block. Each step prints one JSON line.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"time"

	"github.com/safehold/safehold/blob/local"
	"github.com/safehold/safehold/snapshot"
)

func main() {
	if len(os.Args) < 3 || (os.Args[1] != "engine" && os.Args[1] != "index") {
		fmt.Fprintln(os.Stderr, "usage: safehold-bench engine full|incr|restore|verify|delete|gc|stats [flags]")
		fmt.Fprintln(os.Stderr, "       safehold-bench index build|lookup|backup -dir D [flags]")
		os.Exit(2)
	}
	// The engine keeps at most a few packs in flight; a soft memory limit
	// stops the Go heap from growing to twice that between collections.
	// A capture's working set is ~70 MiB (the open pack and four in
	// flight, 8.25 MiB each; two 4 MiB batch buffers and their encoded
	// records; the index's memory table): at 80 MiB the collector ran
	// 40-180 times per full backup of the bench image, at 96 MiB a few.
	debug.SetMemoryLimit(96 << 20)
	if tf := os.Getenv("SAFEHOLD_BENCH_TRACE"); tf != "" { // for profiling a step
		f, err := os.Create(tf)
		if err == nil && trace.Start(f) == nil {
			defer f.Close()
			defer trace.Stop()
		}
	}
	if pf := os.Getenv("SAFEHOLD_BENCH_CPUPROFILE"); pf != "" {
		f, err := os.Create(pf)
		if err == nil && pprof.StartCPUProfile(f) == nil {
			defer f.Close()
			defer pprof.StopCPUProfile()
		}
	}
	if len(os.Args) >= 3 && os.Args[1] == "index" {
		if err := runIndex(os.Args[2], os.Args[3:]); err != nil {
			fmt.Fprintln(os.Stderr, "safehold-bench:", err)
			pprof.StopCPUProfile()
			os.Exit(1)
		}
		return
	}
	if err := run(os.Args[2], os.Args[3:]); err != nil {
		fmt.Fprintln(os.Stderr, "safehold-bench:", err)
		trace.Stop()
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(step string, args []string) error {
	fs := flag.NewFlagSet(step, flag.ExitOnError)
	repoDir := fs.String("repo", "", "repository directory (local backend)")
	cacheDir := fs.String("cache", "", "local index cache directory")
	src := fs.String("src", "", "disk image to capture")
	name := fs.String("name", "", "snapshot name (tag) to create, restore or delete")
	parentName := fs.String("parent", "", "name of the parent snapshot")
	changed := fs.String("changed", "", "file of changed ranges (offset length per line); \"-\" for none")
	out := fs.String("out", "", "restore target")
	sample := fs.Float64("sample", 0, "verify: fraction of packs to read (0 = all)")
	repack := fs.Float64("repack", 0, "gc: repack packs with at least this fraction of garbage")
	packMiB := fs.Int("pack-mib", 8, "target pack size in MiB")
	uploads := fs.Int("uploads", 0, "concurrent pack uploads (default 4)")
	comp := fs.String("compression", "", "minlz (default), s2, zstd or none")
	workers := fs.Int("workers", 0, "parallelism (default GOMAXPROCS)")
	rworkers := fs.Int("restore-workers", 0, "restore: parallel fetches (default 2x workers)")
	buffered := fs.Bool("buffered", false, "restore: write through the page cache only (no O_DIRECT)")
	progress := fs.Bool("progress", false, "print progress to stderr")
	fs.Parse(args)
	if *repoDir == "" || *cacheDir == "" {
		return errors.New("-repo and -cache are required")
	}
	ctx := context.Background()
	be, err := local.Open(*repoDir)
	if err != nil {
		return err
	}
	r, err := snapshot.Open(ctx, be, *cacheDir, snapshot.Options{PackSize: *packMiB << 20, Workers: *workers,
		Uploads: *uploads, Compression: *comp})
	if err != nil {
		return err
	}
	defer r.Close()
	var prog func(snapshot.Progress)
	if *progress {
		prog = func(p snapshot.Progress) {
			fmt.Fprintf(os.Stderr, "%s %d/%d MiB, %.0f MiB/s, stored %d MiB, ETA %s\n", p.Op, p.Done>>20, p.Total>>20,
				p.Rate/(1<<20), p.Stored>>20, p.ETA.Round(time.Second))
		}
	}
	enc := json.NewEncoder(os.Stdout)
	switch step {
	case "full", "incr":
		f, err := os.Open(*src)
		if err != nil {
			return err
		}
		defer f.Close()
		s, err := snapshot.FileSource(f)
		if err != nil {
			return err
		}
		defer s.Close()
		opts := snapshot.CaptureOptions{Tags: map[string]string{"name": *name}, Progress: prog}
		if step == "incr" {
			p, err := find(ctx, r, *parentName)
			if err != nil {
				return err
			}
			opts.Parent = p.ID
			if *changed != "" {
				if opts.Changed, err = readRanges(*changed); err != nil {
					return err
				}
			}
		}
		m, st, err := r.Capture(ctx, s, opts)
		if err != nil {
			return err
		}
		return enc.Encode(map[string]any{"step": step, "id": m.ID, "stats": st})
	case "restore":
		m, err := find(ctx, r, *name)
		if err != nil {
			return err
		}
		// Sync: the restored image is durable when the step reports success
		// (O_DIRECT writes leave the file's extent changes in the journal).
		st, err := r.Restore(ctx, m.ID, *out, snapshot.RestoreOptions{Progress: prog, Workers: *rworkers, Buffered: *buffered, Sync: true})
		if err != nil {
			return err
		}
		return enc.Encode(map[string]any{"step": step, "id": m.ID, "stats": st})
	case "verify":
		rep, err := r.Verify(ctx, snapshot.VerifyOptions{Sample: *sample, Progress: prog})
		if err != nil {
			return err
		}
		if err := enc.Encode(map[string]any{"step": step, "report": rep}); err != nil {
			return err
		}
		if !rep.OK {
			return fmt.Errorf("verify found %d bad chunks affecting %v", len(rep.Bad), rep.BadSnapshots)
		}
		return nil
	case "delete":
		m, err := find(ctx, r, *name)
		if err != nil {
			return err
		}
		if err := r.Delete(ctx, m.ID); err != nil {
			return err
		}
		return enc.Encode(map[string]any{"step": step, "id": m.ID})
	case "gc":
		st, err := r.GC(ctx, snapshot.GCOptions{Repack: *repack})
		if err != nil {
			return err
		}
		return enc.Encode(map[string]any{"step": step, "stats": st})
	case "stats":
		n, b := r.Size()
		ms, err := r.List(ctx)
		if err != nil {
			return err
		}
		return enc.Encode(map[string]any{"chunks": n, "packBytes": b, "snapshots": len(ms)})
	}
	return fmt.Errorf("unknown step %q", step)
}

// find returns the newest snapshot tagged with name.
func find(ctx context.Context, r *snapshot.Repository, name string) (*snapshot.Manifest, error) {
	ms, err := r.List(ctx)
	if err != nil {
		return nil, err
	}
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Tags["name"] == name {
			return ms[i], nil
		}
	}
	return nil, fmt.Errorf("no snapshot named %q", name)
}

func readRanges(path string) ([]snapshot.Range, error) {
	rs := []snapshot.Range{}
	if path == "-" {
		return rs, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if len(fields) != 2 {
			return nil, fmt.Errorf("%s: want \"offset length\", got %q", path, sc.Text())
		}
		off, err1 := strconv.ParseInt(fields[0], 10, 64)
		n, err2 := strconv.ParseInt(fields[1], 10, 64)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%s: bad line %q", path, sc.Text())
		}
		rs = append(rs, snapshot.Range{Off: off, Len: n})
	}
	return rs, sc.Err()
}
