package store

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// Under writes that never pause, the WAL is still checkpointed and restarted
// from its start: it stays near SQLite's 1,000-page checkpoint threshold
// instead of growing with every commit (as it did with checkpoints run
// beside the writer, which never caught up with it).
func TestSQLiteWALStaysBoundedUnderContinuousWrites(t *testing.T) {
	s := openTestSQLite(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	stop := time.Now().Add(2 * time.Second)
	var written sync.Map
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; time.Now().Before(stop); i++ {
				key := fmt.Sprintf("k%d-%d", w, i%128)
				if err := s.Update(ctx, func(tx Tx) error {
					return tx.Put(ctx, Doc{Kind: "k", Key: key, Scope: "/s", Type: "t", Value: []byte(`{"properties":{"provisioningState":"Succeeded"}}`)})
				}); err != nil {
					t.Error(err)
					return
				}
				written.Store(key, true)
			}
		}()
	}
	wg.Wait()
	fi, err := os.Stat(s.wal.Name())
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	written.Range(func(any, any) bool { n++; return true })
	const limit = 16 << 20 // four times the 1,000 pages of 4 KiB
	if fi.Size() > limit {
		t.Fatalf("the WAL is %d bytes after 2 s of writes (%d documents), want ≤ %d: it is not checkpointed and restarted", fi.Size(), n, limit)
	}
	t.Logf("WAL %d bytes after writing %d documents", fi.Size(), n)
}
