// Package blobtest holds the conformance suite every blob.Backend runs
// (Run) and a fault-injecting wrapper for tests of the layers above (Faulty).
package blobtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"

	"github.com/safehold/safehold/blob"
)

// Run checks that the backends made by newBackend keep the blob.Backend
// contract. Each subtest gets a fresh, empty backend.
func Run(t *testing.T, newBackend func(t *testing.T) blob.Backend) {
	ctx := context.Background()
	setup := func(t *testing.T) blob.Backend {
		b := newBackend(t)
		t.Cleanup(func() { b.Close() })
		return b
	}
	data := func(n int, seed uint64) []byte {
		r := rand.New(rand.NewPCG(seed, 1))
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(r.Uint32())
		}
		return p
	}

	t.Run("PutGet", func(t *testing.T) {
		b := setup(t)
		for i, n := range []int{0, 1, 1000, 1 << 20} {
			key := fmt.Sprintf("obj/key-%d", i)
			want := data(n, uint64(i))
			if err := b.Put(ctx, key, want); err != nil {
				t.Fatalf("put %s: %v", key, err)
			}
			got, err := b.Get(ctx, key, 0, -1)
			if err != nil {
				t.Fatalf("get %s: %v", key, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("get %s: content differs", key)
			}
			info, err := b.Stat(ctx, key)
			if err != nil || info.Size != int64(n) || info.Key != key {
				t.Fatalf("stat %s = %+v, %v; want size %d", key, info, err, n)
			}
		}
	})

	t.Run("Ranges", func(t *testing.T) {
		b := setup(t)
		want := data(10000, 7)
		if err := b.Put(ctx, "r/obj", want); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ off, n int64 }{{0, 0}, {0, 1}, {5, 100}, {9999, 1}, {10000, 0}, {123, -1}, {10000, -1}} {
			got, err := b.Get(ctx, "r/obj", c.off, c.n)
			if err != nil {
				t.Fatalf("get [%d,+%d): %v", c.off, c.n, err)
			}
			end := c.off + c.n
			if c.n < 0 {
				end = int64(len(want))
			}
			if !bytes.Equal(got, want[c.off:end]) {
				t.Fatalf("get [%d,+%d): content differs", c.off, c.n)
			}
		}
		for _, c := range []struct{ off, n int64 }{{9999, 2}, {10001, 0}, {-1, 1}, {20000, -1}} {
			if _, err := b.Get(ctx, "r/obj", c.off, c.n); !errors.Is(err, blob.ErrRange) {
				t.Fatalf("get [%d,+%d) = %v, want ErrRange", c.off, c.n, err)
			}
		}
	})

	t.Run("Immutable", func(t *testing.T) {
		b := setup(t)
		if err := b.Put(ctx, "i/obj", []byte("first")); err != nil {
			t.Fatal(err)
		}
		if err := b.Put(ctx, "i/obj", []byte("second")); !errors.Is(err, blob.ErrExist) {
			t.Fatalf("second put = %v, want ErrExist", err)
		}
		got, err := b.Get(ctx, "i/obj", 0, -1)
		if err != nil || string(got) != "first" {
			t.Fatalf("get after second put = %q, %v", got, err)
		}
	})

	t.Run("Missing", func(t *testing.T) {
		b := setup(t)
		if _, err := b.Get(ctx, "m/none", 0, -1); !errors.Is(err, blob.ErrNotExist) {
			t.Fatalf("get = %v, want ErrNotExist", err)
		}
		if _, err := b.Stat(ctx, "m/none"); !errors.Is(err, blob.ErrNotExist) {
			t.Fatalf("stat = %v, want ErrNotExist", err)
		}
		if err := b.Delete(ctx, "m/none"); !errors.Is(err, blob.ErrNotExist) {
			t.Fatalf("delete = %v, want ErrNotExist", err)
		}
	})

	t.Run("BadKeys", func(t *testing.T) {
		b := setup(t)
		for _, k := range []string{"", "/a", "a/", "a//b", "../x", "a/./b", "UPPER", "sp ace", "a\\b"} {
			if err := b.Put(ctx, k, []byte("x")); err == nil {
				t.Fatalf("put %q succeeded, want an invalid-key error", k)
			}
		}
	})

	t.Run("ListDelete", func(t *testing.T) {
		b := setup(t)
		keys := []string{"config", "pack/abcd", "pack/ab/abcd", "pack/abce", "pack/x", "snapshot/x1y2z3", "snap/zz"}
		for _, k := range keys {
			if err := b.Put(ctx, k, []byte(k)); err != nil {
				t.Fatalf("put %s: %v", k, err)
			}
		}
		list := func(prefix string) []string {
			var got []string
			err := b.List(ctx, prefix, func(in blob.Info) error {
				if in.Size != int64(len(in.Key)) {
					return fmt.Errorf("%s: size %d", in.Key, in.Size)
				}
				got = append(got, in.Key)
				return nil
			})
			if err != nil {
				t.Fatalf("list %q: %v", prefix, err)
			}
			sort.Strings(got)
			return got
		}
		eq := func(got []string, want ...string) {
			t.Helper()
			sort.Strings(want)
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("list = %v, want %v", got, want)
			}
		}
		eq(list(""), keys...)
		eq(list("pack/"), "pack/abcd", "pack/ab/abcd", "pack/abce", "pack/x")
		eq(list("pack/abc"), "pack/abcd", "pack/abce")
		eq(list("snap"), "snapshot/x1y2z3", "snap/zz")
		eq(list("nothing/"))
		stop := errors.New("stop")
		if err := b.List(ctx, "", func(blob.Info) error { return stop }); !errors.Is(err, stop) {
			t.Fatalf("list with failing fn = %v, want stop", err)
		}
		if err := b.Delete(ctx, "pack/abcd"); err != nil {
			t.Fatal(err)
		}
		eq(list("pack/"), "pack/ab/abcd", "pack/abce", "pack/x")
		if _, err := b.Get(ctx, "pack/abcd", 0, -1); !errors.Is(err, blob.ErrNotExist) {
			t.Fatalf("get deleted = %v", err)
		}
		// A deleted key may be put again.
		if err := b.Put(ctx, "pack/abcd", []byte("again")); err != nil {
			t.Fatalf("put after delete: %v", err)
		}
	})

	t.Run("Concurrent", func(t *testing.T) {
		b := setup(t)
		var wg sync.WaitGroup
		errs := make(chan error, 64)
		for g := 0; g < 8; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 20; i++ {
					key := fmt.Sprintf("c/%d-%d", g, i)
					want := data(4096, uint64(g*100+i))
					if err := b.Put(ctx, key, want); err != nil {
						errs <- err
						return
					}
					got, err := b.Get(ctx, key, 0, -1)
					if err != nil || !bytes.Equal(got, want) {
						errs <- fmt.Errorf("get %s: %v", key, err)
						return
					}
				}
				// Everyone races to create the same key: exactly one wins.
				err := b.Put(ctx, "c/shared", []byte{byte(g)})
				if err != nil && !errors.Is(err, blob.ErrExist) {
					errs <- err
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		n := 0
		b.List(ctx, "c/", func(blob.Info) error { n++; return nil })
		if n != 8*20+1 {
			t.Fatalf("listed %d objects, want %d", n, 8*20+1)
		}
	})

	t.Run("Canceled", func(t *testing.T) {
		b := setup(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := b.Put(cctx, "x/y", []byte("z")); !errors.Is(err, context.Canceled) {
			t.Fatalf("put with canceled ctx = %v", err)
		}
		if _, err := b.Stat(ctx, "x/y"); !errors.Is(err, blob.ErrNotExist) {
			t.Fatalf("canceled put left an object: %v", err)
		}
	})
}

// RunStore runs the suite on a backend of an object store twice: each
// subtest on a container (bucket) that does not exist yet, which the
// backend creates; and under a prefix of a container whose other prefix
// holds an object, so that two prefixes of one container prove to be
// separate namespaces. newSpace names a fresh container; open opens the
// backend on container space under prefix ("" for none).
func RunStore(t *testing.T, newSpace func() string, open func(t *testing.T, space, prefix string) blob.Backend) {
	t.Run("Fresh", func(t *testing.T) {
		Run(t, func(t *testing.T) blob.Backend { return open(t, newSpace(), "") })
	})
	t.Run("Prefixes", func(t *testing.T) {
		Run(t, func(t *testing.T) blob.Backend {
			space := newSpace()
			other := open(t, space, "other")
			if err := other.Put(context.Background(), "pack/abcd", []byte("x")); err != nil {
				t.Fatal(err)
			}
			return open(t, space, "vaults/v1")
		})
	})
}
