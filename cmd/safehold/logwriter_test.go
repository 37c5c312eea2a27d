package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/logtext"
)

// Access-log lines wait in memory; any other record writes them and itself
// through at once, in order; Close writes the rest.
func TestLogWriterBuffersOnlyAccessLines(t *testing.T) {
	var out bytes.Buffer
	lw := newLogWriter(&out)
	read := func() string { // the writer writes out under its write lock only
		lw.wmu.Lock()
		defer lw.wmu.Unlock()
		return out.String()
	}
	log := slog.New(flushingHandler{slog.NewTextHandler(lw, nil), lw})
	lw.mu.Lock() // hold the periodic flusher off while the lines are written
	lw.buf = append(lw.buf, "msg=request n=0\n"...)
	lw.mu.Unlock()
	log.Info("request", "n", 1)
	log.Info("audit", "action", "write")
	s := read()
	if !strings.Contains(s, "n=0") || !strings.Contains(s, "n=1") || !strings.Contains(s, "msg=audit") {
		t.Fatalf("an audit line did not write the buffered lines through:\n%s", s)
	}
	if strings.Index(s, "n=1") > strings.Index(s, "msg=audit") {
		t.Fatalf("lines out of order:\n%s", s)
	}
	log.Info("request", "n", 2)
	lw.Close()
	if s := read(); !strings.Contains(s, "n=2") {
		t.Fatalf("Close lost a buffered line:\n%s", s)
	}
}

// An access-log line written through the handler's Line waits in the buffer
// as one written through slog does, with the same bytes; other messages
// have no Line (they go through Handle, which writes them through).
func TestLogWriterAccessLine(t *testing.T) {
	var out bytes.Buffer
	lw := &logWriter{out: &out} // without the periodic flusher
	h := flushingHandler{logtext.New(lw, nil), lw}
	at := time.Date(2026, 12, 2, 15, 0, 0, 0, time.UTC)
	l := h.Line(at, slog.LevelInfo, "request")
	if l == nil {
		t.Fatal("no Line for an access-log line")
	}
	l.String("path", "/x").Int("status", 200).Write()
	want := "time=2026-12-02T15:00:00.000Z level=INFO msg=request path=/x status=200\n"
	if string(lw.buf) != want || out.Len() != 0 {
		t.Fatalf("buffered %q, written %q; want %q buffered", lw.buf, out.String(), want)
	}
	if h.Line(at, slog.LevelInfo, "audit") != nil {
		t.Fatal("an audit line would not be written through")
	}
	lw.Flush()
	if out.String() != want {
		t.Fatalf("flushed %q, want %q", out.String(), want)
	}
}

// A Write that fills the buffer leaves the batch's write to the flusher: it
// returns while the output is blocked, and the flusher then writes it all.
func TestLogWriterFullBufferWakesFlusher(t *testing.T) {
	out := &blockedWriter{release: make(chan struct{}), wrote: make(chan int, 16)}
	lw := newLogWriter(out)
	done := make(chan struct{})
	go func() {
		lw.Write(bytes.Repeat([]byte("x"), flushAt))
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a Write that filled the buffer waited for the output")
	}
	close(out.release)
	for n := 0; n < flushAt; {
		select {
		case w := <-out.wrote:
			n += w
		case <-time.After(10 * time.Second):
			t.Fatalf("the flusher wrote %d of %d bytes", n, flushAt)
		}
	}
	lw.Close()
}

// blockedWriter's writes wait until release is closed.
type blockedWriter struct {
	release chan struct{}
	wrote   chan int
}

func (w *blockedWriter) Write(p []byte) (int, error) {
	<-w.release
	w.wrote <- len(p)
	return len(p), nil
}
