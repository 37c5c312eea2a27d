package store

import (
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
)

// Checkpoints (copying the WAL's frames into the database file) run on a
// connection of their own, not inside the writer's COMMITs: SQLite's
// automatic checkpoint would run in the COMMIT that crosses its threshold,
// and a checkpoint fsyncs twice (the WAL before it copies any frame, the
// database before the WAL may be reused), so every group queued behind that
// COMMIT waited for two fsyncs and the copy. The writer's connection has
// wal_autocheckpoint=0; after each WAL sync the syncer wakes the
// checkpointer, which runs a PASSIVE checkpoint once the WAL holds
// checkpointPages frames not yet copied (SQLite's own default threshold).
//
// Durability is SQLite's, unchanged: the checkpointing connection has
// synchronous=NORMAL, which keeps both checkpoint syncs, a checkpoint only
// copies committed frames, and the writer restarts the WAL from its start
// only once every frame is copied and the database synced. A PASSIVE
// checkpoint takes no lock the writer needs, so both run at once.
const checkpointPages = 1000

// walIndex reads the WAL's frame count and how many of them are copied into
// the database from the wal-index header in the -shm file (see SQLite's
// walformat.html, "The WAL-Index Header": mxFrame at byte 16 of the header,
// nBackfill at byte 96, in native byte order). It reads without SQLite's
// locks: a torn read only makes a checkpoint come early or late.
type walIndex struct{ shm *os.File }

func (w walIndex) pending() (uint32, error) {
	var b [100]byte
	if _, err := w.shm.ReadAt(b[:], 0); err != nil && err != io.EOF {
		return 0, err
	}
	mxFrame := binary.NativeEndian.Uint32(b[16:])
	backfilled := binary.NativeEndian.Uint32(b[96:])
	if backfilled >= mxFrame {
		return 0, nil
	}
	return mxFrame - backfilled, nil
}

// startCheckpointer opens the checkpointing connection and moves the
// checkpoints off the writer's connection. It leaves them where they were
// (SQLite's automatic checkpoint in the writer) if any of that fails.
func (s *SQLite) startCheckpointer(ctx context.Context, path, pragmas string) {
	fail := func(err error) {
		slog.Warn("sqlite: checkpoints stay in the writer's commits", "path", path, "err", err)
		if s.ck != nil {
			s.ck.Close()
			s.ck = nil
		}
		if s.shm.shm != nil {
			s.shm.shm.Close()
			s.shm.shm = nil
		}
	}
	shm, err := os.Open(path + "-shm")
	if err != nil {
		fail(err)
		return
	}
	s.shm = walIndex{shm}
	if _, err := s.shm.pending(); err != nil {
		fail(err)
		return
	}
	ck, err := sql.Open("sqlite", "file:"+path+"?"+pragmas)
	if err != nil {
		fail(err)
		return
	}
	ck.SetMaxOpenConns(1)
	s.ck = ck
	var busy, frames, copied int
	if err := ck.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied); err != nil {
		fail(fmt.Errorf("checkpoint: %w", err))
		return
	}
	if _, err := s.wc.ExecContext(ctx, `PRAGMA wal_autocheckpoint = 0`); err != nil {
		fail(err)
		return
	}
	s.ckpt = make(chan struct{}, 1)
	s.ckptDone = make(chan struct{})
	go s.checkpointer()
}

// checkpointer runs a PASSIVE checkpoint when the WAL holds
// checkpointPages frames not yet copied, looking after each WAL sync (a
// wake-up on s.ckpt) until the syncer stops.
func (s *SQLite) checkpointer() {
	defer close(s.ckptDone)
	for range s.ckpt {
		n, err := s.shm.pending()
		if err == nil && n < checkpointPages {
			continue
		}
		var busy, frames, copied int
		if err := s.ck.QueryRowContext(context.Background(), `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied); err != nil {
			slog.Warn("sqlite: checkpoint", "err", err) // the next wake-up tries again
		}
	}
}

// wakeCheckpointer tells the checkpointer a WAL sync ended (never blocks).
func (s *SQLite) wakeCheckpointer() {
	if s.ckpt == nil {
		return
	}
	select {
	case s.ckpt <- struct{}{}:
	default:
	}
}

// stopCheckpointer (once the syncer has stopped) waits for the last
// checkpoint and closes the checkpointing connection.
func (s *SQLite) stopCheckpointer() error {
	if s.ckpt == nil {
		return nil
	}
	close(s.ckpt)
	<-s.ckptDone
	s.ckpt = nil
	return errors.Join(s.ck.Close(), s.shm.shm.Close())
}
