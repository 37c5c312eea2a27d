package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/spf13/cobra"
)

const adminPath = "/providers/Safehold.Admin"

func adminURL(path string) string { return adminPath + path + "?api-version=2024-01-01" }

func newClockCmd() *cobra.Command {
	var dataDir string
	var o adminOutput
	cmd := &cobra.Command{Use: "clock", Short: "Show or move the server's clock (schedules, retention, expiry; never tokens or TLS)",
		Long: `The server's clock drives schedules, retention, expiry, soft-delete purge and the times of jobs
and recovery points (never tokens or TLS). Moving it needs the Owner role on the subscription.

  safehold clock show              print the server time (RFC 3339)
  safehold clock advance 1d        move forward (1d, 2d12h, 1w, 36h, 90m, P7D), running every scheduled
                                   backup, retention and purge of the skipped window in order at its
                                   own time; returns when done, saying on stderr meanwhile what it
                                   waits for (--timeout or Ctrl-C stop it where it got to)
  safehold clock advance -1d       move back (-1d, -36h, -P7D; also after --), as clock set to that
                                   time: nothing runs, work due later stays due later
  safehold clock set TIME          freeze the clock at TIME (RFC 3339)
  safehold clock resume            let the clock run again from where it stands (keeps the offset)

After set or advance the clock stays frozen until resume. A frozen clock falls behind real time as
real time passes: the offset clock show -o json gives is as of that moment, and resume keeps it.`}
	addConnFlag(cmd, &dataDir)
	o.add(cmd, "print the clock state as JSON")
	out := func(cmd *cobra.Command, m map[string]any) {
		if o.json() {
			printJSON(cmd, m)
			return
		}
		fmt.Fprintln(cmd.OutOrStdout(), m["now"])
	}
	// requestID makes an advance idempotent: a retry with the same id
	// (an answer lost to a replica killed mid-advance) moves the clock to
	// where the first request would have, once.
	var requestID string
	var timeout time.Duration
	// Each verb is one admin call; body builds its request body from the arguments.
	for _, v := range []struct {
		use, short, method, path string
		args                     cobra.PositionalArgs
		body                     func(args []string) any
	}{
		{"show", "Print the server time (RFC 3339)", "GET", "/clock", cobra.NoArgs, nil},
		{"advance DURATION", "Move the clock forward (1d, 2d12h, 1w, 36h, 90m, P7D, PT4H), running the scheduled work of the skipped window, or back (-1d, -P7D)", "POST", "/clock/advance",
			cobra.ExactArgs(1), func(args []string) any {
				if requestID == "" {
					requestID = uuid.NewString()
				}
				return map[string]string{"duration": args[0], "requestId": requestID}
			}},
		{"set TIME", "Freeze the clock at TIME (RFC 3339, e.g. 2026-01-01T00:00:00Z)", "POST", "/clock/set",
			cobra.ExactArgs(1), func(args []string) any { return map[string]string{"time": args[0]} }},
		{"resume", "Let the clock run again from where it stands (keeping the offset to real time)", "POST", "/clock/resume", cobra.NoArgs, nil},
	} {
		sub := &cobra.Command{Use: v.use, Short: v.short, Args: v.args,
			RunE: o.run(func(cmd *cobra.Command, args []string) error {
				var body any
				if v.body != nil {
					body = v.body(args)
				}
				var m map[string]any
				var err error
				if v.path == "/clock/advance" {
					m, err = advanceClock(cmd, dataDir, body, args[0], requestID, timeout)
				} else {
					m, err = adminCall(cmd.Context(), dataDir, v.method, adminURL(v.path), body)
				}
				var se *advanceStopped
				if errors.As(err, &se) {
					return err
				}
				var ae *adminError
				if err != nil && v.path == "/clock/advance" && !errors.As(err, &ae) {
					// No answer: the advance may have been applied, in part
					// or whole. The same id applies it once.
					return fmt.Errorf("%w\nthe advance may have been applied; to make sure it is, once, retry it (through any replica) with --request-id %s", err, requestID)
				}
				if err != nil {
					return err
				}
				out(cmd, m)
				return nil
			})}
		if v.path == "/clock/advance" {
			sub.Flags().StringVar(&requestID, "request-id", "", "the advance's id (default: a new one): an advance retried with the id of one whose answer was lost (its replica killed) moves the clock once, to where the first would have")
			sub.Flags().DurationVar(&timeout, "timeout", 0, "stop waiting after this long (e.g. 10m; default: until the advance ends), leaving the clock where the advance got to")
			takeNegativeDurations(sub)
		}
		cmd.AddCommand(sub)
	}
	return cmd
}

// takeNegativeDurations lets cmd take a duration back as operators type
// it (clock advance -1d, -36h, -P7D), which the flag parser reads as the
// shorthand flags -1 and -d ("unknown shorthand flag"): cmd parses its
// flags itself, keeping an argument that looks like a negative duration
// as an argument. `-- -1d` takes it too.
func takeNegativeDurations(cmd *cobra.Command) {
	runE, check := cmd.RunE, cmd.Args
	cmd.DisableFlagParsing = true
	cmd.Args = cobra.ArbitraryArgs // checked below, once the flags are out
	cmd.RunE = func(c *cobra.Command, args []string) error {
		var flags, back []string
		for i, a := range args {
			if a == "--" {
				flags = append(flags, args[i:]...)
				break
			}
			if negativeDuration(a) {
				back = append(back, a)
			} else {
				flags = append(flags, a)
			}
		}
		c.DisableFlagParsing = false
		err := c.ParseFlags(flags)
		c.DisableFlagParsing = true
		if err != nil {
			return usageError(c, err)
		}
		if help, _ := c.Flags().GetBool("help"); help {
			return c.Help()
		}
		args = append(back, c.Flags().Args()...)
		if err := check(c, args); err != nil {
			return usageError(c, err)
		}
		return runE(c, args)
	}
}

// negativeDuration reports whether a looks like a duration back (-1d,
// -90m, -P7D) rather than a flag: no flag of Safehold's starts with a
// digit or -P.
func negativeDuration(a string) bool {
	return len(a) > 1 && a[0] == '-' && (a[1] >= '0' && a[1] <= '9' || len(a) > 2 && a[1]|0x20 == 'p' && (a[2] >= '0' && a[2] <= '9' || a[2]|0x20 == 't'))
}

// advanceStopped is a clock advance the CLI stopped waiting for (its
// --timeout, Ctrl-C): the server stops it with the request.
type advanceStopped struct{ msg string }

func (e *advanceStopped) Error() string { return e.msg }

// advanceClock runs a clock advance (POST /clock/advance with body),
// saying on stderr what it waits for while it runs (the server's GET
// /clock names the jobs not ended and what each waits for: a backup
// waiting for a replica that holds its disk and is not running kept an
// advance silent for minutes). It stops waiting after timeout (0: none) or
// at Ctrl-C, saying where the clock stands and how to go on.
func advanceClock(cmd *cobra.Command, dataDir string, body any, dur, requestID string, timeout time.Duration) (map[string]any, error) {
	ctx := cmd.Context()
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	type answer struct {
		m   map[string]any
		err error
	}
	done := make(chan answer, 1)
	go func() {
		m, err := adminCall(ctx, dataDir, "POST", adminURL("/clock/advance"), body)
		done <- answer{m, err}
	}()
	next := time.NewTimer(3 * time.Second)
	defer next.Stop()
	said, saidAt := "", time.Time{}
	for {
		select {
		case a := <-done:
			if a.err != nil && ctx.Err() != nil {
				return nil, stoppedAdvance(ctx, cmd, dataDir, timeout, dur, requestID)
			}
			return a.m, a.err
		case <-next.C:
			next.Reset(5 * time.Second)
			st, err := adminCall(ctx, dataDir, "GET", adminURL("/clock"), nil)
			if err != nil {
				continue
			}
			if msg := advanceWaits(st); msg != said || time.Since(saidAt) >= 30*time.Second {
				fmt.Fprintln(cmd.ErrOrStderr(), msg)
				said, saidAt = msg, time.Now()
			}
		}
	}
}

// advanceWaits says what a running advance waits for, from GET /clock.
func advanceWaits(st map[string]any) string {
	now, _ := st["now"].(string)
	adv, _ := st["advance"].(map[string]any)
	if adv == nil {
		return "clock advance: waiting for the server (the clock stands at " + now + ")"
	}
	target, _ := adv["target"].(string)
	var b strings.Builder
	fmt.Fprintf(&b, "clock advance: the clock stands at %s, on its way to %s; ", now, target)
	jobs, _ := adv["jobs"].([]any)
	if len(jobs) == 0 {
		b.WriteString("waiting for the work due then (schedules, retention) to finish")
		return b.String()
	}
	b.WriteString("waiting for:")
	for _, x := range jobs {
		j, _ := x.(map[string]any)
		str := func(k string) string { s, _ := j[k].(string); return s }
		pct, _ := j["progress"].(float64)
		fmt.Fprintf(&b, "\n  %s of %s (job %s, %s, %d%%)", str("operation"), str("item"), str("id"), str("status"), int(pct))
		if w := str("waiting"); w != "" {
			b.WriteString(": " + w)
		}
	}
	return b.String()
}

// stoppedAdvance is the error of an advance the CLI stopped waiting for:
// where the clock stands (the server stops the advance with the request,
// the clock frozen where it got to) and how to take it on.
func stoppedAdvance(ctx context.Context, cmd *cobra.Command, dataDir string, timeout time.Duration, dur, requestID string) error {
	why := "interrupted"
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && cmd.Context().Err() == nil {
		why = fmt.Sprintf("--timeout %s passed", timeout)
	}
	where := ""
	qctx, cancel := context.WithTimeout(context.WithoutCancel(cmd.Context()), 10*time.Second)
	defer cancel()
	if st, err := adminCall(qctx, dataDir, "GET", adminURL("/clock"), nil); err == nil {
		if now, _ := st["now"].(string); now != "" {
			where = " at " + now
		}
	}
	return &advanceStopped{fmt.Sprintf("stopped waiting for the clock advance (%s): the server stops it where it got to, the clock frozen there%s; `safehold clock advance %s --request-id %s` takes it on to the same target", why, where, dur, requestID)}
}
