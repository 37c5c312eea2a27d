package main

// The index benchmark: a repository that already holds N chunks (16 M by
// default: 1 TiB of unique 64 KiB blocks in 128 Ki packs), built
// synthetically, then opened and backed up into, one phase per process so
// each phase's peak RSS is its own (bench/index.sh runs them).
//
//	safehold-bench index build   -dir D [-chunks 16000000]   first open: read every pack header, write the on-disk index
//	safehold-bench index lookup  -dir D [-lookups 1000000]   start-up from the index, then lookups of present and absent IDs
//	safehold-bench index backup  -dir D [-backup-mib 1024]   start-up, then a full capture of a synthetic disk
//	safehold-bench index live    -dir D [-map]               start-up, then GC's mark of every chunk (a chunk.LiveSet, or -map the former map) and lookups in it
//
// The synthetic backend answers List and the pack-tail reads of the N
// chunks' packs from a formula (pack i holds 128 entries whose IDs are
// derived from i), so no terabyte is written; every other object (the
// store's config, the backup's packs, manifests) goes to a local
// directory under D. The store itself is the real one: the same Open,
// header cache, on-disk index and capture path as a server's.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/blob/local"
	"github.com/safehold/safehold/chunk"
	"github.com/safehold/safehold/snapshot"
)

const (
	synthPerPack  = 128
	synthRecord   = 48 << 10 // stored bytes per synthetic chunk
	synthEntry    = 32 + 1 + 4 + 4 + 4 + 4
	synthKeyStart = "pack/5e"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// synth is a blob.Backend whose pack/5e… objects are generated.
type synth struct {
	blob.Backend // the real local directory for everything else
	packs        int
	mod          time.Time
}

func synthKey(i int) string { return fmt.Sprintf("%s%030x", synthKeyStart, i) }

func synthID(pack, j int) chunk.ID {
	r := rand.NewPCG(uint64(pack)*0x9e3779b97f4a7c15+1, uint64(j)+7)
	var id chunk.ID
	for k := 0; k < 32; k += 8 {
		binary.LittleEndian.PutUint64(id[k:], r.Uint64())
	}
	return id
}

func (s *synth) tail(i int) []byte {
	hdr := binary.LittleEndian.AppendUint32(nil, synthPerPack)
	for j := 0; j < synthPerPack; j++ {
		id := synthID(i, j)
		hdr = append(hdr, id[:]...)
		hdr = append(hdr, 2) // S2
		hdr = binary.LittleEndian.AppendUint32(hdr, uint32(j*synthRecord))
		hdr = binary.LittleEndian.AppendUint32(hdr, synthRecord)
		hdr = binary.LittleEndian.AppendUint32(hdr, 64<<10)
		hdr = binary.LittleEndian.AppendUint32(hdr, 0)
	}
	t := binary.LittleEndian.AppendUint32(hdr, uint32(len(hdr)))
	t = binary.LittleEndian.AppendUint32(t, crc32.Checksum(hdr, castagnoli))
	return append(t, "SHPACK01"...)
}

func (s *synth) size() int64 {
	return synthPerPack*synthRecord + 4 + synthPerPack*synthEntry + 16
}

func (s *synth) index(key string) (int, bool) {
	if !strings.HasPrefix(key, synthKeyStart) {
		return 0, false
	}
	i, err := strconv.ParseInt(strings.TrimPrefix(key, synthKeyStart), 16, 64)
	if err != nil || i < 0 || int(i) >= s.packs {
		return 0, false
	}
	return int(i), true
}

func (s *synth) Get(ctx context.Context, key string, off, length int64) ([]byte, error) {
	i, ok := s.index(key)
	if !ok {
		return s.Backend.Get(ctx, key, off, length)
	}
	end, err := blob.CheckRange(key, s.size(), off, length)
	if err != nil {
		return nil, err
	}
	out := make([]byte, end-off)
	tail := s.tail(i)
	ts := s.size() - int64(len(tail))
	if end > ts { // the generated header and trailer; records read as zeros
		from := max(off, ts)
		copy(out[from-off:], tail[from-ts:end-ts])
	}
	return out, nil
}

func (s *synth) Stat(ctx context.Context, key string) (blob.Info, error) {
	if _, ok := s.index(key); ok {
		return blob.Info{Key: key, Size: s.size(), ModTime: s.mod}, nil
	}
	return s.Backend.Stat(ctx, key)
}

func (s *synth) List(ctx context.Context, prefix string, fn func(blob.Info) error) error {
	if strings.HasPrefix(synthKeyStart, prefix) || strings.HasPrefix(prefix, "pack/") {
		for i := 0; i < s.packs; i++ {
			if k := synthKey(i); strings.HasPrefix(k, prefix) {
				if err := fn(blob.Info{Key: k, Size: s.size(), ModTime: s.mod}); err != nil {
					return err
				}
			}
		}
	}
	return s.Backend.List(ctx, prefix, fn)
}

func (s *synth) Put(ctx context.Context, key string, data []byte) error {
	if _, ok := s.index(key); ok {
		return fmt.Errorf("put %s: %w", key, blob.ErrExist)
	}
	return s.Backend.Put(ctx, key, data)
}

func (s *synth) Delete(ctx context.Context, key string) error {
	if _, ok := s.index(key); ok {
		return errors.New("synthetic packs are not deleted by this benchmark")
	}
	return s.Backend.Delete(ctx, key)
}

// noise is a Source of incompressible, never-repeating blocks.
type noise struct{ size, seed int64 }

func (n noise) Size() int64 { return n.size }
func (n noise) ReadAt(p []byte, off int64) (int, error) {
	if off >= n.size {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), n.size-off)]
	for i := 0; i < len(p); i += 8 {
		v := (uint64(off)+uint64(i))*0x9e3779b97f4a7c15 ^ 0x5851f42d4c957f2d ^ uint64(n.seed)<<40
		v ^= v >> 29
		v *= 0xbf58476d1ce4e5b9
		v ^= v >> 32
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], v)
		copy(p[i:], b[:])
	}
	return len(p), nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func vm(field string) int64 {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, field+":") {
			f := strings.Fields(l)
			if len(f) >= 2 {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				return kb << 10
			}
		}
	}
	return -1
}

func runIndex(phase string, args []string) error {
	// Like `safehold serve`: GOGC 200 and a soft memory limit of 224 MiB
	// (its --memory-limit default; -memory-limit 0 measures without one).
	fs := flag.NewFlagSet("index "+phase, flag.ExitOnError)
	liveMap := fs.Bool("map", false, "live phase: mark into a map (the former mark) instead of a chunk.LiveSet")
	memLimit := fs.Int64("memory-limit", 224, "soft memory limit in MiB, as safehold serve --memory-limit (0: none)")
	dir := fs.String("dir", "", "work directory (local objects, cache)")
	chunks := fs.Int("chunks", 16_000_000, "chunks already in the repository")
	lookups := fs.Int("lookups", 1_000_000, "lookups of absent IDs (and a fifth as many of present ones)")
	backupMiB := fs.Int64("backup-mib", 1024, "size of the synthetic disk captured by the backup phase")
	fs.Parse(args)
	if *dir == "" {
		return errors.New("-dir is required")
	}
	debug.SetGCPercent(200)
	debug.SetMemoryLimit(math.MaxInt64)
	if *memLimit > 0 {
		debug.SetMemoryLimit(*memLimit << 20)
	}
	out := map[string]any{"phase": phase, "memoryLimitMiB": *memLimit}
	ctx := context.Background()
	lb, err := local.Open(filepath.Join(*dir, "objects"))
	if err != nil {
		return err
	}
	be := &synth{Backend: lb, packs: (*chunks + synthPerPack - 1) / synthPerPack, mod: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	cache := filepath.Join(*dir, "cache")
	out["chunks"], out["packs"] = be.packs*synthPerPack, be.packs
	t0 := time.Now()
	repo, err := snapshot.Open(ctx, be, cache, snapshot.Options{})
	if err != nil {
		return err
	}
	open := time.Since(t0)
	n, _ := repo.Size()
	out["openSeconds"] = open.Seconds()
	out["indexedChunks"] = n
	out["rssAfterOpenMiB"] = float64(vm("VmRSS")) / (1 << 20)
	switch phase {
	case "build":
	case "lookup":
		cs := repo.Chunks()
		r := rand.New(rand.NewPCG(1, 2))
		hits := *lookups / 5
		c1 := cpuTime()
		t1 := time.Now()
		for i := 0; i < hits; i++ {
			if !cs.Has(synthID(r.IntN(be.packs), r.IntN(synthPerPack))) {
				return fmt.Errorf("present chunk not found")
			}
		}
		dh, ch := time.Since(t1), cpuTime()-c1
		c2 := cpuTime()
		t2 := time.Now()
		found := 0
		for i := 0; i < *lookups; i++ {
			var id chunk.ID
			binary.LittleEndian.PutUint64(id[0:], r.Uint64())
			binary.LittleEndian.PutUint64(id[8:], r.Uint64())
			binary.LittleEndian.PutUint64(id[16:], r.Uint64())
			if cs.Has(id) {
				found++
			}
		}
		dm, cm := time.Since(t2), cpuTime()-c2
		if found > 0 {
			return fmt.Errorf("%d random IDs found", found)
		}
		out["presentLookupsPerSec"] = float64(hits) / dh.Seconds()
		out["absentLookupsPerSec"] = float64(*lookups) / dm.Seconds()
		// Per CPU second too: on a shared machine wall time includes waiting.
		out["presentLookupsPerCPUSec"] = float64(hits) / ch.Seconds()
		out["absentLookupsPerCPUSec"] = float64(*lookups) / cm.Seconds()
	case "backup":
		src := noise{size: *backupMiB << 20, seed: time.Now().UnixNano()} // new data every run
		t1 := time.Now()
		m, st, err := repo.Capture(ctx, src, snapshot.CaptureOptions{})
		if err != nil {
			return err
		}
		d := time.Since(t1)
		out["backupSeconds"] = d.Seconds()
		out["backupMiBPerSec"] = float64(*backupMiB) / d.Seconds()
		out["backupStoredMiB"] = float64(st.BytesStored) / (1 << 20)
		out["snapshot"] = m.ID
	case "live":
		// GC's mark at this scale: every chunk live, in pack order (random
		// ID order), as the mark adds them; then lookups like the sweep's.
		cs := repo.Chunks()
		c1 := cpuTime()
		t1 := time.Now()
		var has func(chunk.ID) bool
		spills := 0
		if *liveMap {
			m := make(map[chunk.ID]struct{}) // the former mark
			for p := 0; p < be.packs; p++ {
				for j := 0; j < synthPerPack; j++ {
					m[synthID(p, j)] = struct{}{}
				}
			}
			has = func(id chunk.ID) bool { _, ok := m[id]; return ok }
		} else {
			l := cs.NewLiveSet(0)
			defer l.Close()
			for p := 0; p < be.packs; p++ {
				for j := 0; j < synthPerPack; j++ {
					if err := l.Add(synthID(p, j)); err != nil {
						return err
					}
				}
			}
			if err := l.Finish(); err != nil {
				return err
			}
			spills = l.Spilled()
			has = func(id chunk.ID) bool {
				ok, err := l.Has(id)
				if err != nil {
					panic(err)
				}
				return ok
			}
		}
		out["markSeconds"], out["markCPUSeconds"], out["markSpills"] = time.Since(t1).Seconds(), (cpuTime() - c1).Seconds(), spills
		r := rand.New(rand.NewPCG(3, 4))
		hits := *lookups / 5
		t2 := time.Now()
		for i := 0; i < hits; i++ {
			if !has(synthID(r.IntN(be.packs), r.IntN(synthPerPack))) {
				return fmt.Errorf("live chunk not in the mark")
			}
		}
		out["markPresentLookupsPerSec"] = float64(hits) / time.Since(t2).Seconds()
		t3 := time.Now()
		for i := 0; i < *lookups; i++ {
			var id chunk.ID
			binary.LittleEndian.PutUint64(id[0:], r.Uint64())
			binary.LittleEndian.PutUint64(id[8:], r.Uint64())
			if has(id) {
				return fmt.Errorf("random ID in the mark")
			}
		}
		out["markAbsentLookupsPerSec"] = float64(*lookups) / time.Since(t3).Seconds()
		out["rssAfterMarkMiB"] = float64(vm("VmRSS")) / (1 << 20)
	default:
		return fmt.Errorf("unknown index phase %q", phase)
	}
	if err := repo.Close(); err != nil {
		return err
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	out["peakRSSMiB"] = float64(vm("VmHWM")) / (1 << 20)
	out["goHeapSysMiB"] = float64(ms.HeapSys) / (1 << 20)
	out["seconds"] = time.Since(t0).Seconds()
	return json.NewEncoder(os.Stdout).Encode(out)
}
