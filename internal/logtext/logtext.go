// Package logtext is slog's text format, byte for byte, written faster for
// the records a server logs most: flat ones (the access log's line per
// request, the audit lines), whose attributes are strings, numbers, bools
// and durations. Such a record is formatted here into a pooled buffer and
// written with one Write; any other record (a group, an error or any other
// value, a handler with attributes or groups of its own) goes through
// slog.TextHandler unchanged. A Line (Lines.Line) is such a record that its
// caller appends attribute by attribute, without a slog.Record: the access
// log's line per request.
package logtext

import (
	"context"
	"encoding/binary"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
)

// New returns a handler that writes what slog.NewTextHandler(w, opts)
// would. Options the fast path does not implement (AddSource, ReplaceAttr)
// make it that handler itself.
func New(w io.Writer, opts *slog.HandlerOptions) slog.Handler {
	var o slog.HandlerOptions
	if opts != nil {
		o = *opts
	}
	lw := w
	if _, ok := w.(ConcurrentWriter); !ok {
		lw = &lockedWriter{w: w}
	}
	slow := slog.NewTextHandler(lw, &o)
	if o.AddSource || o.ReplaceAttr != nil {
		return slow
	}
	return &handler{w: lw, level: o.Level, slow: slow}
}

// ConcurrentWriter is an io.Writer whose Write may be called by several
// goroutines at once, each call's bytes kept together (a line is one
// Write). New writes to one without a lock of its own: a server logs a
// line per request, and a lock around a writer that has its own made every
// request's line wait whenever the OS preempted the thread holding it.
type ConcurrentWriter interface {
	io.Writer
	ConcurrentWrites()
}

// lockedWriter serializes the fast path's writes with slog's own.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

type handler struct {
	w     io.Writer    // a ConcurrentWriter or a lockedWriter
	level slog.Leveler // nil: slog.LevelInfo
	slow  slog.Handler
}

func (h *handler) Enabled(_ context.Context, l slog.Level) bool {
	min := slog.LevelInfo
	if h.level != nil {
		min = h.level.Level()
	}
	return l >= min
}

// WithAttrs and WithGroup return slog's handler: records of a derived
// logger are not the flat ones this package is for.
func (h *handler) WithAttrs(as []slog.Attr) slog.Handler { return h.slow.WithAttrs(as) }
func (h *handler) WithGroup(name string) slog.Handler    { return h.slow.WithGroup(name) }

// Lines is implemented by handlers that write a flat record appended
// attribute by attribute (New's handler, and handlers wrapping one that pass
// it on).
type Lines interface {
	// Line starts the record slog would write for a Record with time t,
	// level and message msg and the attributes the caller then appends, or
	// returns nil when this handler cannot write it so: the caller logs
	// through slog instead (which also drops a level not enabled).
	Line(t time.Time, level slog.Level, msg string) *Line
}

// Line is a record being appended: the bytes slog.TextHandler writes for a
// record with the same time, level, message and attributes. Write ends it;
// a Line is not used after Write.
type Line struct {
	b []byte
	w io.Writer
}

var lines = sync.Pool{New: func() any { return &Line{b: make([]byte, 0, 512)} }}

// Line starts a record (see Lines). It returns nil for a level the handler
// does not write.
func (h *handler) Line(t time.Time, level slog.Level, msg string) *Line {
	if !h.Enabled(context.Background(), level) {
		return nil
	}
	l := lines.Get().(*Line)
	l.w = h.w
	l.b = appendHead(l.b[:0], t, level, msg)
	return l
}

// String appends the attribute key=v.
func (l *Line) String(key, v string) *Line {
	l.b = appendString(appendKey(l.b, key), v)
	return l
}

// Int appends the attribute key=v.
func (l *Line) Int(key string, v int64) *Line {
	l.b = strconv.AppendInt(appendKey(l.b, key), v, 10)
	return l
}

// Duration appends the attribute key=v.
func (l *Line) Duration(key string, v time.Duration) *Line {
	l.b = append(appendKey(l.b, key), v.String()...)
	return l
}

// Write writes the line with one Write and releases it.
func (l *Line) Write() error {
	l.b = append(l.b, '\n')
	_, err := l.w.Write(l.b)
	l.w = nil
	if cap(l.b) <= 16<<10 { // keep the pool's buffers small
		lines.Put(l)
	}
	return err
}

func appendKey(b []byte, key string) []byte {
	b = append(b, ' ')
	b = appendString(b, key)
	return append(b, '=')
}

var bufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	bp := bufs.Get().(*[]byte)
	b, ok := appendRecord((*bp)[:0], r)
	var err error
	if ok {
		_, err = h.w.Write(b)
	} else {
		err = h.slow.Handle(ctx, r)
	}
	if cap(b) <= 16<<10 { // keep the pool's buffers small
		*bp = b
		bufs.Put(bp)
	}
	return err
}

// appendRecord appends r's line as slog's text handler writes it, or
// reports false when r holds an attribute the fast path does not format.
func appendRecord(b []byte, r slog.Record) ([]byte, bool) {
	b = appendHead(b, r.Time, r.Level, r.Message)
	ok := true
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "" { // slog drops empty attributes and inlines groups
			ok = false
			return false
		}
		b = appendKey(b, a.Key)
		v := a.Value
		switch v.Kind() {
		case slog.KindString:
			b = appendString(b, v.String())
		case slog.KindInt64:
			b = strconv.AppendInt(b, v.Int64(), 10)
		case slog.KindUint64:
			b = strconv.AppendUint(b, v.Uint64(), 10)
		case slog.KindFloat64:
			b = strconv.AppendFloat(b, v.Float64(), 'g', -1, 64)
		case slog.KindBool:
			b = strconv.AppendBool(b, v.Bool())
		case slog.KindDuration:
			b = append(b, v.Duration().String()...)
		default: // times, groups, errors and any other value: slog's formatter
			ok = false
		}
		return ok
	})
	return append(b, '\n'), ok
}

// appendHead appends what comes before the attributes: the time (unless
// zero), the level and the message.
func appendHead(b []byte, t time.Time, level slog.Level, msg string) []byte {
	if !t.IsZero() {
		b = append(b, "time="...)
		b = appendRFC3339Millis(b, t.Round(0))
		b = append(b, ' ')
	}
	b = append(b, "level="...)
	b = appendString(b, level.String())
	b = append(b, " msg="...)
	return appendString(b, msg)
}

func appendString(b []byte, s string) []byte {
	if s == "" {
		return append(b, `""`...)
	}
	if needsQuoting(s) {
		return appendQuote(b, s)
	}
	return append(b, s...)
}

// appendQuote is strconv.AppendQuote, which for printable ASCII without
// '"' or '\\' (a query string with '=') only adds the quotes.
func appendQuote(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' || c == '"' || c == '\\' {
			return strconv.AppendQuote(b, s)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// needsQuoting is slog's rule for the text format: empty strings, and
// strings with a space, '=', '"', a control character or a rune that is
// not printable. A line checks each of its keys and values, and a table
// lookup a byte was ~40 % of its CPU: a string of eight bytes or more is
// looked at eight bytes at a time (special8, its last eight overlapping
// the ones before), a shorter one a byte at a time; from the first special
// byte on, needsQuotingFrom decides.
func needsQuoting(s string) bool {
	if len(s) == 0 {
		return true
	}
	if len(s) < 8 {
		for i := 0; i < len(s); i++ {
			if special[s[i]] {
				return needsQuotingFrom(s[i:])
			}
		}
		return false
	}
	for i := 0; ; i += 8 {
		if i+8 > len(s) {
			i = len(s) - 8 // the last eight bytes, some looked at already
		}
		if special8(binary.LittleEndian.Uint64([]byte(s[i : i+8]))) {
			return needsQuotingFrom(s[i:])
		}
		if i+8 == len(s) {
			return false
		}
	}
}

// special8 reports whether one of the eight bytes of x is special: below
// 0x21 (a control character or the space), '"', '=' or from 0x80 (UTF-8's
// multi-byte runes). Each test is the exact "has a byte below n" of
// bit-twiddling (for bytes below 0x80; the bytes from 0x80 are the last
// test), '"' and '=' as a zero byte of x xor them.
func special8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	below := func(x uint64, n uint64) uint64 { return (x - ones*n) & ^x & highs }
	return below(x, 0x21)|below(x^(ones*'"'), 1)|below(x^(ones*'='), 1)|x&highs != 0
}

// special marks the bytes needsQuoting looks at closer: those that need
// quoting and those that start a multi-byte rune.
var special = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t[' '], t['='], t['"'] = true, true, true
	for c := utf8.RuneSelf; c < 256; c++ {
		t[c] = true
	}
	return t
}()

func needsQuotingFrom(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if special[c] {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}

// appendRFC3339Millis is slog's time format: RFC 3339 with exactly three
// digits of milliseconds, truncated. The text up to the seconds' fraction
// and the zone are those of the last second formatted when t is in the
// same second and location (a log's lines come in order): only the
// milliseconds are formatted then.
func appendRFC3339Millis(b []byte, t time.Time) []byte {
	sec, ms := t.Unix(), t.Nanosecond()/int(time.Millisecond)
	if c := lastSecond.Load(); c != nil && c.sec == sec && c.loc == t.Location() {
		b = append(b, c.head...)
		b = append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
		return append(b, c.zone...)
	}
	n := len(b)
	b = formatRFC3339Millis(b, t)
	const headLen = len("2006-01-02T15:04:05")
	if f := b[n:]; len(f) > headLen+4 && f[headLen] == '.' {
		lastSecond.Store(&formattedSecond{sec: sec, loc: t.Location(), head: string(f[:headLen]), zone: string(f[headLen+4:])})
	}
	return b
}

// formattedSecond is the text of a second of a location's time:
// head.mmmzone.
type formattedSecond struct {
	sec        int64
	loc        *time.Location
	head, zone string
}

var lastSecond atomic.Pointer[formattedSecond]

func formatRFC3339Millis(b []byte, t time.Time) []byte {
	const prefixLen = len("2006-01-02T15:04:05.000")
	n := len(b)
	t = t.Truncate(time.Millisecond).Add(time.Millisecond / 10)
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b[:n+prefixLen], b[n+prefixLen+1:]...)
}
