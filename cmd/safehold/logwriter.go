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
type logWriter struct {
	mu   sync.Mutex
	out  io.Writer
	buf  []byte
	stop chan struct{}
	done chan struct{}
}

const (
	flushEvery = 20 * time.Millisecond
	flushAt    = 64 << 10 // bytes buffered before a write regardless of time
)

func newLogWriter(out io.Writer) *logWriter {
	w := &logWriter{out: out, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		t := time.NewTicker(flushEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
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
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if len(w.buf) >= flushAt {
		w.flushLocked()
	}
	return len(p), nil
}

// Flush writes what is buffered.
func (w *logWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flushLocked()
}

func (w *logWriter) flushLocked() {
	if len(w.buf) == 0 {
		return
	}
	w.out.Write(w.buf)
	w.buf = w.buf[:0]
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
