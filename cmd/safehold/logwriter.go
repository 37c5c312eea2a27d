package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/safehold/safehold/internal/logtext"
)

// logWriter batches log output: the access log writes one line per request,
// and a write(2) per line costs as much as serving a small GET. Lines are
// kept in memory for at most flushEvery and written together; every record
// other than an access-log line (audit lines, warnings, errors, job events)
// is written through at once by flushingHandler, so only access-log lines of
// the last few milliseconds can be lost to kill -9.
//
// An access-log line does not write the batch itself: a Write that fills the
// buffer to flushAt wakes the flusher, so the write(2) of 64 KiB is not made
// inside a request while every other request's line waits for the lock
// (unless the flusher is behind by several batches; then the Write writes,
// which bounds the memory). Writes to out are made outside the buffer's
// lock.
type logWriter struct {
	mu  sync.Mutex // guards buf
	buf []byte

	// wmu serializes the writes to out: a flush holds it from taking the
	// buffer to writing it, so the output keeps the order of the Writes.
	wmu   sync.Mutex
	out   io.Writer
	spare []byte // the batch last written, the next buffer (guarded by wmu)

	kick chan struct{} // wakes the flusher; nil: Write flushes itself
	stop chan struct{}
	done chan struct{}
}

const (
	flushEvery = 20 * time.Millisecond
	flushAt    = 64 << 10 // bytes buffered before a write regardless of time
)

func newLogWriter(out io.Writer) *logWriter {
	w := &logWriter{out: out, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(flushEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				w.Flush()
			case <-w.kick:
				w.Flush()
			case <-w.stop:
				w.Flush()
				return
			}
		}
	}()
	return w
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.buf = append(w.buf, p...)
	n := len(w.buf)
	w.mu.Unlock()
	switch {
	case n < flushAt:
	case w.kick == nil || n >= 4*flushAt: // no flusher, or it is behind
		w.Flush()
	default:
		select {
		case w.kick <- struct{}{}:
		default: // already woken
		}
	}
	return len(p), nil
}

// ConcurrentWrites tells logtext that Write may be called by several
// goroutines at once (each call's bytes are appended under w.mu), so the
// access log's lines take one lock, not two.
func (w *logWriter) ConcurrentWrites() {}

var _ logtext.ConcurrentWriter = (*logWriter)(nil)

// Flush writes what is buffered.
func (w *logWriter) Flush() {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	w.mu.Lock()
	b := w.buf
	w.buf = w.spare[:0]
	w.mu.Unlock()
	if len(b) > 0 {
		w.out.Write(b)
	}
	w.spare = b
}

// Close stops the flusher after a last flush.
func (w *logWriter) Close() {
	close(w.stop)
	<-w.done
}

// flushingHandler writes every record but access-log lines ("request")
// through to the output at once.
type flushingHandler struct {
	slog.Handler
	w *logWriter
}

func (h flushingHandler) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Message != "request" {
		h.w.Flush()
	}
	return err
}

// Line passes an access-log line to the handler's Line: such lines are the
// ones that wait in the buffer. Other records go through Handle.
func (h flushingHandler) Line(t time.Time, level slog.Level, msg string) *logtext.Line {
	if l, ok := h.Handler.(logtext.Lines); ok && msg == "request" {
		return l.Line(t, level, msg)
	}
	return nil
}

func (h flushingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return flushingHandler{h.Handler.WithAttrs(as), h.w}
}

func (h flushingHandler) WithGroup(name string) slog.Handler {
	return flushingHandler{h.Handler.WithGroup(name), h.w}
}
