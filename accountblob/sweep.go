package accountblob

import (
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/safehold/safehold/store"
)

// sweepKey is the store document a replica bumps when it deleted blobs or
// a container whose files other replicas hold (DeleteContainer): each
// replica sweeps its own directory when it sees it change (Run).
const sweepKey = "storage-blob-sweep"

// SweepEvery is how often Run looks for a sweep another replica asked for.
const SweepEvery = 5 * time.Second

// Sweep removes the files of this service's directory that no stored blob
// holds: the bytes of blobs another replica deleted with their container
// or account (it can remove only its own files), and what a write
// interrupted between its file and its document left. Blocks staged for a
// container that no longer exists go too. A file being written (its blob
// not stored yet) stays. It returns how many files and staging directories
// it removed.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	// The directory first, then the documents: a file listed here whose
	// blob is stored later was pending when listed (newBlob's done comes
	// after the store), and staged blocks listed here are of a container
	// that existed before.
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return 0, err
	}
	staged, err := os.ReadDir(filepath.Join(s.dir, "blocks"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, err
	}
	s.pmu.Lock()
	pending := maps.Clone(s.pending)
	s.pmu.Unlock()
	held, err := store.ListJSON[struct {
		File string `json:"file"`
	}](ctx, s.st, blobKind, store.ListQuery{}, "blob")
	if err != nil {
		return 0, err
	}
	containers, err := store.ListJSON[Container](ctx, s.st, containerKind, store.ListQuery{}, "container")
	if err != nil {
		return 0, err
	}
	keep := make(map[string]bool, len(held)+len(containers))
	for _, b := range held {
		keep[b.File] = true
	}
	for _, c := range containers {
		keep[hashName(ckey(c.Account, c.Name))] = true
	}
	n := 0
	for _, e := range ents {
		if name := e.Name(); !e.IsDir() && isFileName(name) && !keep[name] && pending[name] == 0 {
			if err := os.Remove(s.path(name)); err == nil {
				n++
			} else if !errors.Is(err, os.ErrNotExist) {
				return n, err
			}
		}
	}
	for _, e := range staged {
		if e.IsDir() && !keep[e.Name()] {
			if err := os.RemoveAll(filepath.Join(s.dir, "blocks", e.Name())); err != nil {
				return n, err
			}
			n++
		}
	}
	return n, nil
}

// isFileName reports whether name is one newFileName makes.
func isFileName(name string) bool {
	b, err := hex.DecodeString(name)
	return err == nil && len(b) == 16
}

// askSweep asks every replica to sweep its directory (Run).
func (s *Service) askSweep(ctx context.Context) error {
	return s.st.Update(ctx, func(tx store.Tx) error {
		n := 0
		if d, err := tx.Get(ctx, "config", sweepKey); err == nil {
			n, _ = strconv.Atoi(string(d.Value))
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return tx.Put(ctx, store.Doc{Kind: "config", Key: sweepKey, Value: []byte(strconv.Itoa(n + 1))})
	})
}

// Run sweeps this service's directory a moment after it starts (not in
// the middle of a start's first requests), then whenever another replica
// asks for it (it deleted files this one holds), until ctx ends.
func (s *Service) Run(ctx context.Context, logger *slog.Logger) {
	var seen []byte
	first := true
	t := time.NewTicker(SweepEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d, err := s.st.Get(ctx, "config", sweepKey)
		var v []byte
		if err == nil {
			v = d.Value
		}
		if first || (err == nil || errors.Is(err, store.ErrNotFound)) && string(v) != string(seen) {
			if n, err := s.Sweep(ctx); err != nil {
				if ctx.Err() == nil {
					logger.Warn("sweep storage account blobs", "err", err)
				}
			} else {
				first, seen = false, v
				if n > 0 {
					logger.Info("removed the files of deleted storage account blobs", "count", n)
				}
			}
		}
	}
}
