package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// adminOutput is the output flag of the admin verbs (clock, fault,
// verify): -o/--output table, json or tsv, as the other verbs', and their
// older --json.
type adminOutput struct {
	output string
	asJSON bool
}

// add adds the flags to cmd (persistent: to a group's verbs too).
func (o *adminOutput) add(cmd *cobra.Command, jsonHelp string) {
	f := cmd.PersistentFlags()
	f.StringVarP(&o.output, "output", "o", envOr("SAFEHOLD_OUTPUT", "table"), "output format: table, json or tsv (env SAFEHOLD_OUTPUT)")
	f.BoolVar(&o.asJSON, "json", false, jsonHelp+" (as -o json)")
}

func (o *adminOutput) json() bool { return o.asJSON || o.output == "json" }

// run makes a verb's RunE that checks the output flag and, with -o json,
// prints an error that ends the verb before it printed anything to stdout
// as JSON there too ({"error": {"code", "message", "status"}}), so a
// script's JSON parser gets a document either way; the message on stderr
// and the exit status stay as for any error.
func (o *adminOutput) run(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		switch o.output {
		case "table", "json", "tsv":
		default:
			return usageError(cmd, fmt.Errorf("--output %q: use table, json or tsv", o.output))
		}
		out := &countingWriter{w: cmd.OutOrStdout()}
		cmd.SetOut(out)
		defer cmd.SetOut(out.w)
		err := fn(cmd, args)
		if err != nil && o.json() && out.n == 0 {
			e := map[string]any{"message": err.Error()}
			var ae *adminError
			if errors.As(err, &ae) {
				e = map[string]any{"code": ae.Code, "message": ae.Message, "status": ae.Status}
				if ae.Code == "" {
					e["message"] = ae.Status
				}
			}
			printJSON(cmd, map[string]any{"error": e})
		}
		return err
	}
}

// countingWriter counts what is written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// printTable prints rows under header (tab-separated column names) as an
// aligned table, or with output "tsv" the rows alone, tab-separated, as the
// other verbs'.
func printTable(cmd *cobra.Command, output, header string, rows [][]string) {
	var w io.Writer = cmd.OutOrStdout()
	if output != "tsv" {
		t := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		defer t.Flush()
		fmt.Fprintln(t, header)
		w = t
	}
	for _, r := range rows {
		vals := make([]string, len(r))
		for i, v := range r {
			vals[i] = printable(strings.NewReplacer("\t", " ", "\n", " ").Replace(v))
		}
		fmt.Fprintln(w, strings.Join(vals, "\t"))
	}
}
