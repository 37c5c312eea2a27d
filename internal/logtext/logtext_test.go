package logtext

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

// Every record, flat or not, comes out as slog.TextHandler writes it.
func TestSameAsSlogText(t *testing.T) {
	at := time.Date(2026, 12, 2, 13, 9, 52, 123456789, time.FixedZone("X", 3600))
	strs := []string{"", "plain", "with space", "a=b", `q"uote`, `back\slash`, "tab\there", "nl\n", "\x00", "\x7f", "é", "日本", "\u00a0nbsp", "\u200bzw",
		"bad\xffutf8", "/subscriptions/27f4655b/resourcegroups/bench", "api-version=2021-04-01&$filter=x eq 'y'", "127.0.0.1:40000"}
	var recs []slog.Record
	for _, s := range strs {
		r := slog.NewRecord(at, slog.LevelInfo, "request", 0)
		r.AddAttrs(slog.String("method", "GET"), slog.String("path", s), slog.String(s+"key", "v"))
		recs = append(recs, r)
		r = slog.NewRecord(at, slog.LevelWarn+1, s, 0)
		recs = append(recs, r)
	}
	r := slog.NewRecord(at, slog.LevelInfo, "request", 0)
	r.AddAttrs(slog.Int("status", 200), slog.Int("neg", -7), slog.Uint64("u", math.MaxUint64), slog.Float64("f", 0.1), slog.Float64("inf", math.Inf(1)),
		slog.Bool("b", true), slog.Duration("duration", 1234567*time.Nanosecond), slog.Duration("zero", 0), slog.Duration("long", 90*time.Minute),
		slog.String("a", "1"), slog.String("b", "2"), slog.String("c", "3"), slog.String("d", "4"), slog.String("e", "5"), slog.String("f", "6"))
	recs = append(recs, r)
	recs = append(recs, slog.NewRecord(time.Time{}, slog.LevelDebug, "no time", 0))
	// What the fast path leaves to slog.
	r = slog.NewRecord(at, slog.LevelError, "slow", 0)
	r.AddAttrs(slog.Any("err", errors.New("boom")), slog.Time("t", at), slog.Group("g", slog.Int("x", 1)), slog.Attr{}, slog.Any("nil", nil), slog.Any("bytes", []byte("b y")))
	recs = append(recs, r)
	r = slog.NewRecord(at, slog.LevelInfo, "inline", 0)
	r.AddAttrs(slog.Group("", slog.String("k", "v")))
	recs = append(recs, r)

	for _, rec := range recs {
		var want, got bytes.Buffer
		slog.NewTextHandler(&want, &slog.HandlerOptions{Level: slog.LevelDebug}).Handle(context.Background(), rec)
		New(&got, &slog.HandlerOptions{Level: slog.LevelDebug}).Handle(context.Background(), rec)
		if got.String() != want.String() {
			t.Errorf("record %q:\n got %q\nwant %q", rec.Message, got.String(), want.String())
		}
	}
}

// A Line comes out as slog.TextHandler writes the record with the same
// time, level, message and attributes.
func TestLineSameAsSlogText(t *testing.T) {
	at := time.Date(2026, 12, 2, 13, 9, 52, 123456789, time.FixedZone("X", 3600))
	strs := []string{"", "plain", "with space", "a=b", `q"uote`, `back\slash`, "tab\there", "nl\n", "\x00", "\x7f", "é", "日本", "\u00a0nbsp", "\u200bzw",
		"bad\xffutf8", "/subscriptions/27f4655b/resourcegroups/bench", "api-version=2021-04-01&$filter=x eq 'y'", "127.0.0.1:40000"}
	ints := []int64{0, 200, -7, math.MaxInt64, math.MinInt64}
	durs := []time.Duration{0, 1, 1234567, 90 * time.Minute, -time.Second}
	for i, s := range strs {
		for _, when := range []time.Time{at, {}} {
			level := []slog.Level{slog.LevelInfo, slog.LevelWarn + 1, slog.LevelError}[i%3]
			n, d := ints[i%len(ints)], durs[i%len(durs)]
			r := slog.NewRecord(when, level, s, 0)
			r.AddAttrs(slog.String("method", "GET"), slog.String("path", s), slog.String(s+"key", "v"), slog.Int64("status", n), slog.Duration("duration", d))
			var want, got bytes.Buffer
			slog.NewTextHandler(&want, nil).Handle(context.Background(), r)
			l := New(&got, nil).(Lines).Line(when, level, s)
			if l == nil {
				t.Fatalf("no line at level %v", level)
			}
			if err := l.String("method", "GET").String("path", s).String(s+"key", "v").Int("status", n).Duration("duration", d).Write(); err != nil {
				t.Fatal(err)
			}
			if got.String() != want.String() {
				t.Errorf("line %q:\n got %q\nwant %q", s, got.String(), want.String())
			}
		}
	}
	if l := New(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}).(Lines).Line(at, slog.LevelInfo, "request"); l != nil {
		t.Error("a line below the handler's level was started")
	}
	if _, ok := New(io.Discard, &slog.HandlerOptions{AddSource: true}).(Lines); ok {
		t.Error("the handler with AddSource (slog's own) writes lines without the source")
	}
}

// Times come out as slog writes them, in any zone, within a second and
// across seconds (the formatted second is reused), and strings that need
// quotes are quoted as slog quotes them.
func TestTimesAndQuotesSameAsSlogText(t *testing.T) {
	base := time.Date(2026, 12, 2, 23, 59, 58, 0, time.UTC)
	var times []time.Time
	for _, loc := range []*time.Location{time.UTC, time.Local, time.FixedZone("X", -(3*3600 + 30*60)), time.FixedZone("Y", 45*60)} {
		for _, d := range []time.Duration{0, time.Millisecond - 1, 5 * time.Millisecond, 999*time.Millisecond + 999, time.Second, 1500 * time.Millisecond, 2*time.Second + 7, 24 * time.Hour, -time.Hour} {
			times = append(times, base.Add(d).In(loc), base.Add(d).In(loc)) // twice: the second from the formatted second
		}
	}
	times = append(times, time.Date(12345, 1, 2, 3, 4, 5, 6e6, time.UTC), time.Date(-5, 1, 2, 3, 4, 5, 6e6, time.UTC), time.Now(), time.Now())
	strs := []string{"a=b", `a"b`, `a\b`, "a b", "é=", "\x7f=", "~=", " =", "=\t"}
	for i, at := range times {
		s := strs[i%len(strs)]
		r := slog.NewRecord(at, slog.LevelInfo, "request", 0)
		r.AddAttrs(slog.String("query", s))
		var want, got, line bytes.Buffer
		slog.NewTextHandler(&want, nil).Handle(context.Background(), r)
		New(&got, nil).Handle(context.Background(), r)
		New(&line, nil).(Lines).Line(at, slog.LevelInfo, "request").String("query", s).Write()
		if got.String() != want.String() || line.String() != want.String() {
			t.Errorf("time %v, %q:\n got %q\nline %q\nwant %q", at, s, got.String(), line.String(), want.String())
		}
	}
}

// Levels, derived loggers and options behave as slog's.
func TestHandlerOptions(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(New(&buf, nil))
	l.Debug("hidden")
	l.Info("shown", "n", 1)
	l.With("k", "v").WithGroup("g").Info("derived", "x", 2)
	out := buf.String()
	if strings.Contains(out, "hidden") || !strings.Contains(out, "msg=shown n=1\n") || !strings.Contains(out, "msg=derived k=v g.x=2\n") {
		t.Fatalf("unexpected output:\n%s", out)
	}
	buf.Reset()
	rep := func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}
	slog.New(New(&buf, &slog.HandlerOptions{ReplaceAttr: rep})).Info("replaced")
	if buf.String() != "level=INFO msg=replaced\n" {
		t.Fatalf("ReplaceAttr not applied: %q", buf.String())
	}
}

// meetingWriter is a ConcurrentWriter whose Writes wait (up to a second)
// until two are under way at once, and record whether they met.
type meetingWriter struct {
	mu     sync.Mutex
	inside int
	met    chan struct{}
	buf    bytes.Buffer
}

func (w *meetingWriter) ConcurrentWrites() {}

func (w *meetingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.inside++
	if w.inside == 2 {
		close(w.met)
	}
	w.mu.Unlock()
	select {
	case <-w.met:
	case <-time.After(time.Second):
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.inside--
	return w.buf.Write(p)
}

// A ConcurrentWriter gets the lines of several goroutines at once (logtext
// adds no lock of its own, which made every request's access line wait
// while a preempted thread held it), each line in one Write, through the
// fast path and slog's; any other writer gets one Write at a time.
func TestConcurrentWriterIsNotLocked(t *testing.T) {
	at := time.Date(2026, 12, 3, 7, 30, 0, 0, time.UTC)
	write := func(h slog.Handler, i int) {
		if i%2 == 0 {
			h.(Lines).Line(at, slog.LevelInfo, "request").Int("n", int64(i)).Write()
			return
		}
		r := slog.NewRecord(at, slog.LevelInfo, "other", 0)
		r.AddAttrs(slog.Any("err", errors.New("x")), slog.Int("n", i)) // slog's path
		h.Handle(context.Background(), r)
	}
	w := &meetingWriter{met: make(chan struct{})}
	h := New(w, nil)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); write(h, i) }()
	}
	wg.Wait()
	select {
	case <-w.met:
	default:
		t.Fatal("the second line waited for the first one's Write to return")
	}
	want := []string{`time=2026-12-03T07:30:00.000Z level=INFO msg=request n=0`, `time=2026-12-03T07:30:00.000Z level=INFO msg=other err=x n=1`}
	for _, l := range want {
		if !strings.Contains(w.buf.String(), l+"\n") {
			t.Fatalf("line %q missing from:\n%s", l, w.buf.String())
		}
	}

	var plain struct {
		mu      sync.Mutex
		inside  int
		overlap bool
		bytes.Buffer
	}
	ph := New(writerFunc(func(p []byte) (int, error) {
		plain.mu.Lock()
		plain.inside++
		plain.overlap = plain.overlap || plain.inside > 1
		plain.mu.Unlock()
		time.Sleep(time.Millisecond)
		plain.mu.Lock()
		defer plain.mu.Unlock()
		plain.inside--
		return plain.Write(p)
	}), nil)
	for i := range 8 {
		wg.Add(1)
		go func() { defer wg.Done(); write(ph, i) }()
	}
	wg.Wait()
	if plain.overlap || strings.Count(plain.String(), "\n") != 8 {
		t.Fatalf("a plain writer got overlapping Writes (%v) or not 8 lines:\n%s", plain.overlap, plain.String())
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// BenchmarkAccessLine is the server's access-log line (server/handler.go).
func BenchmarkAccessLine(b *testing.B) {
	for _, c := range []struct {
		name string
		h    slog.Handler
	}{{"slog", slog.NewTextHandler(io.Discard, nil)}, {"logtext", New(io.Discard, nil)}, {"line", nil}} {
		b.Run(c.name, func(b *testing.B) {
			if c.h == nil {
				h := New(io.Discard, nil).(Lines)
				b.ReportAllocs()
				for range b.N {
					h.Line(time.Now(), slog.LevelInfo, "request").String("method", "GET").String("path", "/subscriptions/27f4655b-afa4-4258-85e0-6bf5e9135f09/resourcegroups/bench").
						String("query", "api-version=2021-04-01").Int("status", 200).Int("bytes", 207).Duration("duration", 1234567).
						String("request_id", "12681d3a-5b3c-4f58-90c7-04323bf886c8").String("client_request_id", "").String("remote", "127.0.0.1:40000").Write()
				}
				return
			}
			l := slog.New(c.h)
			ctx := context.Background()
			b.ReportAllocs()
			for range b.N {
				l.LogAttrs(ctx, slog.LevelInfo, "request",
					slog.String("method", "GET"), slog.String("path", "/subscriptions/27f4655b-afa4-4258-85e0-6bf5e9135f09/resourcegroups/bench"), slog.String("query", "api-version=2021-04-01"),
					slog.Int("status", 200), slog.Int("bytes", 207), slog.Duration("duration", 1234567),
					slog.String("request_id", "12681d3a-5b3c-4f58-90c7-04323bf886c8"), slog.String("client_request_id", ""),
					slog.String("remote", "127.0.0.1:40000"))
			}
		})
	}
}

// needsQuoting answers as slog's text handler quotes, for any special byte
// at any place of strings long and short (the eight-byte steps and the
// tail), and for any byte next to another.
func TestNeedsQuotingAsSlogsRule(t *testing.T) {
	var out bytes.Buffer
	text := slog.NewTextHandler(&out, nil)
	rule := func(s string) bool { // whether slog's text handler quotes s
		out.Reset()
		r := slog.NewRecord(time.Time{}, slog.LevelInfo, "m", 0)
		r.AddAttrs(slog.String("k", s))
		text.Handle(context.Background(), r)
		return strings.HasPrefix(out.String(), `level=INFO msg=m k="`)
	}
	check := func(s string) {
		if got, want := needsQuoting(s), rule(s); got != want {
			t.Errorf("needsQuoting(%q) = %v, slog's rule says %v", s, got, want)
		}
	}
	plain := "/subscriptions/27f4655b-afa4-4258-85e0-6bf5e9135f09/resourcegroups/bench?a~b"
	for n := 0; n <= 24; n++ {
		check(plain[:n])
		for at := 0; at < n; at++ {
			for c := 0; c < 256; c++ {
				check(plain[:at] + string(rune(c))[:1] + plain[at+1:n])
				check(plain[:at] + string([]byte{byte(c)}) + plain[at+1:n])
			}
		}
	}
	for _, s := range []string{"é", "日本", "\u00a0nbsp", "\u200bzw", "bad\xffutf8", plain + "é", plain + "\u00a0", plain + "\u2028", "12345678é"} {
		check(s)
	}
}
