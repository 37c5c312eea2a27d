package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The writer's COMMITs do not checkpoint; the checkpointer does, on its own
// connection, once checkpointPages frames wait, and nothing is lost.
func TestSQLiteCheckpointsOffTheWriter(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "meta.db")
	s, err := OpenSQLite(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if s != nil {
			s.Close()
		}
	}()
	if s.ck == nil {
		t.Fatal("checkpoints stayed in the writer's commits")
	}
	// Hold the checkpointer's only connection: it cannot checkpoint.
	held, err := s.ck.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// (Deferred after s.Close, so it runs before it: Close waits for the
	// checkpointer.)
	defer held.Close()
	value := []byte(strings.Repeat("x", 8000)) // three pages a document
	const docs = 600
	for i := range docs {
		if err := s.Update(ctx, func(tx Tx) error {
			return tx.Put(ctx, Doc{Kind: "k", Key: fmt.Sprint(i), Value: value})
		}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.shm.pending()
	if err != nil {
		t.Fatal(err)
	}
	if n < checkpointPages {
		t.Fatalf("%d frames wait for a checkpoint after %d documents of 8,000 bytes, want ≥ %d: the writer checkpointed", n, docs, checkpointPages)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() > 1<<20 {
		t.Fatalf("database file before any checkpoint: %v, %v (want < 1 MiB)", fi.Size(), err)
	}
	held.Close()
	// The next WAL sync wakes the checkpointer.
	deadline := time.Now().Add(time.Minute)
	for {
		if err := s.Update(ctx, func(tx Tx) error {
			return tx.Put(ctx, Doc{Kind: "k", Key: "wake", Value: []byte("1")})
		}); err != nil {
			t.Fatal(err)
		}
		if n, err = s.shm.pending(); err != nil {
			t.Fatal(err)
		}
		if n < checkpointPages {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d frames still wait for a checkpoint a minute after the checkpointer was free", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() < docs*8000 {
		t.Fatalf("database file after the checkpoint: %v, %v (want ≥ %d bytes)", fi.Size(), err, docs*8000)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = nil
	s2, err := OpenSQLite(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	got, err := s2.List(ctx, "k", ListQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != docs+1 {
		t.Fatalf("%d documents after reopening, want %d", len(got), docs+1)
	}
}
