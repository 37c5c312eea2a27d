package main

import (
	"errors"
	"fmt"

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
                                   own time; returns when done
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
				m, err := adminCall(cmd.Context(), dataDir, v.method, adminURL(v.path), body)
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
