package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// Access-log lines wait in memory; any other record writes them and itself
// through at once, in order; Close writes the rest.
func TestLogWriterBuffersOnlyAccessLines(t *testing.T) {
	var out bytes.Buffer
	lw := newLogWriter(&out)
	read := func() string { // the writer writes out under its lock only
		lw.mu.Lock()
		defer lw.mu.Unlock()
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
