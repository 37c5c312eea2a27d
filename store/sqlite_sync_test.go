package store

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// gateSync makes the syncer's fdatasync wait until release is closed, each
// time telling entered first; fail, when not nil, is its result after that.
func gateSync(s *SQLite, entered chan<- struct{}, release <-chan struct{}, fail error) {
	s.syncMu.Lock() // the syncer reads syncWAL under syncMu
	defer s.syncMu.Unlock()
	real := s.syncWAL
	s.syncWAL = func() error {
		entered <- struct{}{}
		<-release
		if fail != nil {
			return fail
		}
		return real()
	}
}

func openTestSQLite(t *testing.T) *SQLite {
	t.Helper()
	s, err := OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "meta.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// within waits for ch, failing t if nothing comes for a minute (something
// that should happen at once did not: the writer waits for the syncer).
func within(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(time.Minute):
		t.Fatalf("waited a minute for %s", what)
	}
}

func putAsync(s *SQLite, key string, ran chan<- struct{}) <-chan error {
	done := make(chan error, 1)
	ctx := context.Background()
	go func() {
		done <- s.Update(ctx, func(tx Tx) error {
			if ran != nil {
				ran <- struct{}{}
			}
			return tx.Put(ctx, Doc{Kind: "k", Key: key, Value: []byte(key)})
		})
	}()
	return done
}

// An Update is answered only after the WAL sync that follows its commit,
// while the writer already commits the next group: the second Update runs
// (and its commit is seen by readers) while the first one's sync has not
// ended, and neither is answered before the syncs end.
func TestSQLiteAnswersAfterTheWALSync(t *testing.T) {
	ctx := context.Background()
	s := openTestSQLite(t)
	entered, release := make(chan struct{}), make(chan struct{})
	gateSync(s, entered, release, nil)

	a := putAsync(s, "a", nil)
	within(t, entered, "a's sync to begin") // a's group is committed
	select {
	case err := <-a:
		t.Fatalf("the Update of a was answered (%v) before its WAL sync ended", err)
	default:
	}
	if d, err := s.Get(ctx, "k", "a"); err != nil || string(d.Value) != "a" {
		t.Fatalf("get a during its sync: %+v, %v; want the committed document", d, err)
	}
	ran := make(chan struct{}, 1)
	b := putAsync(s, "b", ran)
	within(t, ran, "b's fn to run while a's sync is in flight")
	select {
	case err := <-b:
		t.Fatalf("the Update of b was answered (%v) before any WAL sync after its commit", err)
	default:
	}
	close(release)
	go func() { // b's group needs a sync of its own (or shares a later one)
		for range entered {
		}
	}()
	if err := <-a; err != nil {
		t.Fatal(err)
	}
	if err := <-b; err != nil {
		t.Fatal(err)
	}
	s.Close()
	close(entered)
}

// A failed WAL sync fails the Updates of the groups it was to make durable,
// and every later Update, without running it: whether the frames reached
// the disk is unknown.
func TestSQLiteFailedWALSyncFailsTheStore(t *testing.T) {
	s := openTestSQLite(t)
	entered, release := make(chan struct{}, 16), make(chan struct{})
	close(release)
	gateSync(s, entered, release, errors.New("input/output error"))
	if err := <-putAsync(s, "a", nil); err == nil || !strings.Contains(err.Error(), "sync WAL") {
		t.Fatalf("update during a failing sync: %v, want the sync's error", err)
	}
	ran := make(chan struct{}, 1)
	if err := <-putAsync(s, "b", ran); err == nil || !strings.Contains(err.Error(), "input/output error") {
		t.Fatalf("update after a failed sync: %v, want the sync's error", err)
	}
	select {
	case <-ran:
		t.Fatal("an Update ran after a failed WAL sync")
	default:
	}
}

// An Update queued while Close runs, after the writer last looked at the
// queue, is answered with the store closed instead of waiting forever.
func TestSQLiteUpdateQueuedAfterCloseFails(t *testing.T) {
	s := openTestSQLite(t)
	s.Close()
	req := &writeReq{ctx: context.Background(), fn: func(*sqliteTx) error { return nil }, done: make(chan writeResult, 1)}
	s.writes <- req // what update's select may pick when closing and a queue slot are both ready
	if res := s.await(req); !errors.Is(res.err, errStoreClosed) {
		t.Fatalf("update queued after close: %v, want %v", res.err, errStoreClosed)
	}
}
