package server_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/server"
	"github.com/safehold/safehold/store"
)

// TestClockMoveBackWithAnIDAppliesOnce: a clock advance of -1d with a
// request id, then a move forward of 2 h, then the first request again
// (its answer was lost; the CLI retries with the same id): the retry
// answers without moving the clock, which stays 2 h past the move back,
// and so does a third try. Before, the retry set the clock back to the
// first request's target again, undoing the 2 h.
func TestClockMoveBackWithAnIDAppliesOnce(t *testing.T) {
	e := testserver.Start(t)
	t0 := time.Date(2030, 3, 1, 12, 0, 0, 0, time.UTC)
	setClock(t, e, t0)
	back := map[string]string{"duration": "-1d", "requestId": "5b2c6a8e-5d1f-4a57-9a8e-2f3f0c9e6d11"}
	resp, m := call(t, e, "POST", adminURL("/clock/advance"), back)
	mustStatus(t, 200, resp, m)
	if got := clockNow(t, e); !got.Equal(t0.AddDate(0, 0, -1)) {
		t.Fatalf("after the move back the clock stands at %s", got)
	}
	advanceClock(t, e, "2h")
	want := t0.AddDate(0, 0, -1).Add(2 * time.Hour)
	for try := 2; try <= 3; try++ {
		resp, m = call(t, e, "POST", adminURL("/clock/advance"), back)
		mustStatus(t, 200, resp, m)
		if got := clockNow(t, e); !got.Equal(want) {
			t.Fatalf("try %d of the move back with its id moved the clock to %s, want it to stay at %s", try, got, want)
		}
		if runs, _ := m["runs"].(float64); runs != 0 {
			t.Fatalf("try %d answered runs %v", try, m["runs"])
		}
	}
	// A forward advance with an id, applied, is not made again either
	// after the clock was set back meanwhile.
	fwd := map[string]string{"duration": "3h", "requestId": "0d8a4a33-3c0e-4f2b-8c55-1a7e4b6c9f20"}
	resp, m = call(t, e, "POST", adminURL("/clock/advance"), fwd)
	mustStatus(t, 200, resp, m)
	setClock(t, e, t0)
	resp, m = call(t, e, "POST", adminURL("/clock/advance"), fwd)
	mustStatus(t, 200, resp, m)
	if got := clockNow(t, e); !got.Equal(t0) {
		t.Fatalf("the forward advance's retry moved the clock to %s, want it to stay at %s", got, t0)
	}
}

// TestClockAdvanceRecordsArePrunedByTheLeader: the records that make
// clock advances with a request id idempotent are kept a day, and the
// leader's upkeep deletes older ones (an advance with an id only looks its
// own up). Before, only a later advance with a new id pruned them, listing
// every record of the day in its write.
func TestClockAdvanceRecordsArePrunedByTheLeader(t *testing.T) {
	e := testserver.Start(t)
	ctx := context.Background()
	old := time.Now().UTC().Add(-25 * time.Hour)
	fresh := time.Now().UTC().Add(-time.Hour)
	if err := e.Server.Store.Update(ctx, func(tx store.Tx) error {
		for key, at := range map[string]time.Time{"old-advance": old, "fresh-advance": fresh} {
			if err := store.WriteJSON(ctx, tx.Put, store.Doc{Kind: "clock.advance", Key: key},
				map[string]any{"target": at, "at": at, "applied": true}, "clock advance"); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.Restart() // the leader's upkeep runs at its start
	testsvc.WaitFor(t, "the day-old advance record to go", func() bool {
		_, err := e.Server.Store.Get(ctx, "clock.advance", "old-advance")
		return err != nil
	})
	if _, err := e.Server.Store.Get(ctx, "clock.advance", "fresh-advance"); err != nil {
		t.Fatalf("the hour-old advance record: %v, want it kept", err)
	}
}

// TestClockAdvanceWhoseClientLeftIsNotAServerError: a clock advance
// waiting for a running backup (held by a fault rule's latency) whose
// client disconnects is logged as 499 (the client closed the request),
// not as a 500 with "request failed ... context canceled". Before, the
// router took the handler's context.Canceled for an internal error
// (found by the outage campaign's operators).
func TestClockAdvanceWhoseClientLeftIsNotAServerError(t *testing.T) {
	logs := &syncBuf{}
	e := testserver.Start(t, func(c *server.Config) { c.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
	dv := fixture.ProtectDisk(t, e)
	addRule(t, e, map[string]any{"name": "hold", "operation": "backup", "latency": "10m", "count": 1})
	bp, err := dv.StartBackup(t, e)
	if err != nil {
		t.Fatal(err)
	}
	e.WaitFaultRuleHit("the backup to be held", "hold")

	hc, err := e.Conn.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", e.Conn.ARMEndpoint+adminURL("/clock/advance"), strings.NewReader(`{"duration":"1h"}`))
	req.Header.Set("Authorization", "Bearer "+e.Token(nil))
	req.Header.Set("Content-Type", "application/json")
	done := make(chan error, 1)
	go func() {
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			err = fmt.Errorf("the advance answered %d while its backup was held", resp.StatusCode)
		}
		done <- err
	}()
	// The advance runs (it waits for the held backup), then its client goes.
	e.WaitFor("the advance to wait for the backup", func() bool {
		_, m := call(t, e, "GET", adminURL("/clock"), nil)
		return m["advance"] != nil
	})
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
	e.WaitFor("the advance's access log line", func() bool { return strings.Contains(logs.String(), "path="+admin+"/clock/advance") })
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "/clock/advance") && (strings.Contains(l, "status=500") || strings.Contains(l, "level=ERROR")) {
			t.Errorf("the advance whose client left is logged as a server error: %s", l)
		}
		if strings.Contains(l, "msg=request ") && strings.Contains(l, "/clock/advance") && !strings.Contains(l, "status=499") {
			t.Errorf("the advance whose client left is not logged as 499: %s", l)
		}
	}
	// The backup is released and ends; the clock still answers.
	call(t, e, "DELETE", adminURL("/faultRules/hold"), nil)
	fixture.Done(t, bp, nil)
	advanceClock(t, e, "1h")
}

// TestClockStaysInItsRange: the clock is not set or moved back before
// 1970-01-01 (400 naming the limit, the clock unmoved), and a frozen
// clock resumes only within 290 years of real time (400 naming the
// range, the clock left frozen where it was). Before, clock advance
// -P3000Y from 2027 set the clock to year -973 (with a request id, the
// CLI's, it was a 500), after which a backup was a 500; and a clock
// resumed at 2400-01-01 ran from 2319 (at 1500-01-01, from 1734): its
// offset to real time is a time.Duration, which saturated.
func TestClockStaysInItsRange(t *testing.T) {
	e := testserver.Start(t)
	t0 := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	setClock(t, e, t0)
	refused := func(what, path string, body map[string]string, code string) {
		t.Helper()
		resp, m := call(t, e, "POST", adminURL(path), body)
		msg, _ := testserver.Field(m, "error.message").(string)
		if resp.StatusCode != http.StatusBadRequest || testserver.ErrorCode(m) != code || !strings.Contains(msg, "1970-01-01T00:00:00Z") {
			t.Fatalf("%s: want 400 %s naming 1970-01-01T00:00:00Z, got %d %v", what, code, resp.StatusCode, m)
		}
		if got := clockNow(t, e); !got.Equal(t0) {
			t.Fatalf("%s: the clock moved to %v", what, got)
		}
	}
	refused("advance -P3000Y", "/clock/advance", map[string]string{"duration": "-P3000Y"}, "InvalidDuration")
	refused("advance -P3000Y with a request id", "/clock/advance", map[string]string{"duration": "-P3000Y", "requestId": "0d5e3f5c-3a8b-4a0e-9d7e-7c1f1b6a2c44"}, "InvalidDuration")
	refused("advance -P57Y1D", "/clock/advance", map[string]string{"duration": "-P57Y1D"}, "InvalidDuration")
	refused("set 1969-12-31T23:59:59Z", "/clock/set", map[string]string{"time": "1969-12-31T23:59:59Z"}, "InvalidTime")
	refused("set 0000-01-01T00:00:00Z", "/clock/set", map[string]string{"time": "0000-01-01T00:00:00Z"}, "InvalidTime")
	if m := advanceClock(t, e, "-P57Y"); m["now"] != "1970-01-01T00:00:00Z" {
		t.Fatalf("advance -P57Y from %v: %v", t0, m)
	}

	for _, far := range []time.Time{time.Date(2400, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(8999, 12, 31, 0, 0, 0, 0, time.UTC)} {
		setClock(t, e, far)
		resp, m := call(t, e, "POST", adminURL("/clock/resume"), nil)
		msg, _ := testserver.Field(m, "error.message").(string)
		if resp.StatusCode != http.StatusBadRequest || testserver.ErrorCode(m) != "InvalidTime" || !strings.Contains(msg, "290 years") {
			t.Fatalf("resume at %v: want 400 InvalidTime naming the range, got %d %v", far, resp.StatusCode, m)
		}
		if got := clockNow(t, e); !got.Equal(far) {
			t.Fatalf("resume at %v refused, yet the clock is at %v", far, got)
		}
	}
	// Within the range it runs from where it stands.
	near := time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)
	setClock(t, e, near)
	resp, m := call(t, e, "POST", adminURL("/clock/resume"), nil)
	mustStatus(t, http.StatusOK, resp, m)
	if got := clockNow(t, e); got.Before(near) || got.After(near.Add(10*time.Minute)) {
		t.Fatalf("resumed at %v, the clock is at %v", near, got)
	}
}
