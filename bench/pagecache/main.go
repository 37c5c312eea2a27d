// Command pagecache measures what writing new data through the page cache
// costs in CPU on this host, the way the local backend writes packs (one
// 8 MiB write, fsync, close per file): once with each file removed after
// its fsync (the next file reuses the freed pages) and once keeping the
// files (every page is new to the page cache, as a backup's packs are).
// bench/engine-measured.md explains why the difference matters.
//
//	go run ./bench/pagecache [-dir /tmp] [-mib 1024]
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

func cpu() (user, sys time.Duration) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

func main() {
	dir := flag.String("dir", os.TempDir(), "directory to write into (its file system is measured)")
	mib := flag.Int("mib", 1024, "MiB written per pass")
	flag.Parse()
	const fileSize = 8 << 20
	bufs := make([][]byte, 16) // 128 MiB of sources, cycled: cold in the CPU caches
	for i := range bufs {
		bufs[i] = make([]byte, fileSize)
		for j := range bufs[i] {
			bufs[i][j] = byte(j*7 + i)
		}
	}
	work, err := os.MkdirTemp(*dir, "pagecache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer os.RemoveAll(work)
	n := *mib << 20 / fileSize
	for _, keep := range []bool{false, true} {
		u0, s0 := cpu()
		t0 := time.Now()
		for i := 0; i < n; i++ {
			name := filepath.Join(work, fmt.Sprintf("f%d", i))
			f, err := os.Create(name)
			if err == nil {
				_, err = f.Write(bufs[i%len(bufs)])
			}
			if err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			if !keep {
				os.Remove(name)
			}
		}
		u1, s1 := cpu()
		what := "files removed after fsync (pages reused)"
		if keep {
			what = "files kept (new pages, as packs)"
		}
		fmt.Printf("%-42s %5d MiB: user %.2f s, sys %.2f s, wall %.2f s\n", what, n*fileSize>>20,
			(u1 - u0).Seconds(), (s1 - s0).Seconds(), time.Since(t0).Seconds())
	}
}
