package store_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

const (
	killDBEnv    = "SAFEHOLD_STORE_KILL_DB"
	killRoundEnv = "SAFEHOLD_STORE_KILL_ROUND" // prefixes the keys: each round writes new ones
)

// TestSQLiteKill9Child is TestSQLiteKill9KeepsAcknowledgedWrites's child:
// it writes documents from 16 goroutines, printing the key of each write
// once its Update has returned, until it is killed.
func TestSQLiteKill9Child(t *testing.T) {
	path, round := os.Getenv(killDBEnv), os.Getenv(killRoundEnv)
	if path == "" {
		t.Skip("runs only as TestSQLiteKill9KeepsAcknowledgedWrites's child")
	}
	ctx := context.Background()
	s, err := store.OpenSQLite(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				key := fmt.Sprintf("%s-%d-%d", round, w, i)
				err := s.Update(ctx, func(tx store.Tx) error {
					if i > 0 { // each write depends on the one before it
						if _, err := tx.Get(ctx, "k", fmt.Sprintf("%s-%d-%d", round, w, i-1)); err != nil {
							return err
						}
					}
					return tx.Put(ctx, store.Doc{Kind: "k", Key: key, Scope: "/s", Type: "t", Value: []byte(key)})
				})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				fmt.Fprintln(out, key)
				out.Flush()
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

// Killing the process (SIGKILL) while it writes loses no write whose Update
// had returned: every key the child printed is in the database it leaves.
func TestSQLiteKill9KeepsAcknowledgedWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	path := filepath.Join(t.TempDir(), "meta.db")
	for round, after := range []int{50, 400, 1500} {
		cmd, sc := testsvc.Child(t, "TestSQLiteKill9Child", []string{killDBEnv + "=" + path, fmt.Sprintf("%s=r%d", killRoundEnv, round)})
		var acked []string
		for len(acked) < after && sc.Scan() {
			acked = append(acked, sc.Text())
		}
		cmd.Process.Kill()
		for sc.Scan() { // what it acknowledged before it died
			acked = append(acked, sc.Text())
		}
		cmd.Wait()
		if len(acked) < after {
			t.Fatalf("round %d: the child acknowledged %d writes and stopped: %q", round, len(acked), acked)
		}
		s := storetest.SQLiteAt(t, path)
		ctx := context.Background()
		for _, key := range acked {
			if key == "PASS" || key == "FAIL" {
				continue
			}
			d, err := s.Get(ctx, "k", key)
			if err != nil || string(d.Value) != key {
				t.Fatalf("round %d: acknowledged write %s after kill -9: %+v, %v", round, key, d, err)
			}
		}
		docs, err := s.List(ctx, "k", store.ListQuery{})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: %d writes acknowledged before the kill, %d documents after it", round, len(acked), len(docs))
		s.Close()
	}
}
