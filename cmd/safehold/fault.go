package main

import (
	"fmt"
	"math"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
)

func newFaultCmd() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{Use: "fault", Short: "Inject failures and latency into chosen operations (for tests)",
		Long: `Fault rules make chosen operations fail or slow down. Injected failures travel the real paths:
backup and restore jobs end Failed with the rule's code, long-running operations end Failed, ARM
requests are answered with the rule's status and code. Needs the Owner role on the subscription.

  safehold fault add backup --code UserErrorInsufficientStorage --count 1
  safehold fault add restore --path '*/backupInstances/bi1' --code UserErrorRecoveryPointCorrupt
  safehold fault add validate --code UserErrorMissingPermissions --percent 50
  safehold fault add arm --method PUT --path '*/providers/Microsoft.Compute/disks/*' --status 429 --code TooManyRequests
  safehold fault add disk --method PUT --latency 2s
  safehold fault list
  safehold fault clear [NAME]`}
	addConnFlag(cmd, &dataDir)
	var o adminOutput
	o.add(cmd, "print the rules as JSON")
	var name, method, path, code, message, latency string
	var status, count int
	var percent float64
	add := &cobra.Command{Use: "add OPERATION", Short: "Add a rule; OPERATION is backup, restore, validate, delete, transfer, arm or disk", Args: cobra.ExactArgs(1),
		RunE: o.run(func(cmd *cobra.Command, args []string) error {
			if math.IsNaN(percent) || math.IsInf(percent, 0) {
				return fmt.Errorf("--percent %v is not a number between 0 and 100", percent)
			}
			body := map[string]any{"operation": args[0], "name": name, "method": method, "path": path, "code": code,
				"message": message, "latency": latency, "status": status, "count": count, "percent": percent}
			m, err := adminCall(cmd.Context(), dataDir, "POST", adminURL("/faultRules"), body)
			if err != nil {
				return err
			}
			if o.json() {
				printJSON(cmd, m)
				return nil
			}
			printRules(cmd, o.output, []any{m}) // the rule added, as fault list shows it
			return nil
		})}
	f := add.Flags()
	f.StringVar(&name, "name", "", "rule name (default: generated); a rule of the same name is replaced")
	f.StringVar(&method, "method", "", "HTTP method: GET, HEAD, PUT, PATCH, POST or DELETE (arm and disk rules; default any)")
	f.StringVar(&path, "path", "", "pattern of the request path (arm, disk) or item id (backup, restore, validate, delete, transfer); * matches anything")
	f.StringVar(&code, "code", "", "error code to fail with, e.g. UserErrorInsufficientStorage")
	f.StringVar(&message, "message", "", "error message (default: says it was injected)")
	f.IntVar(&status, "status", 0, "HTTP status of the error (default 500 for arm/disk, 400 otherwise)")
	f.StringVar(&latency, "latency", "", "delay each match by this Go duration, e.g. 2s")
	f.IntVar(&count, "count", 0, "apply to the next N matches only (default: until cleared)")
	f.Float64Var(&percent, "percent", 0, "apply to this percentage of matches (default 100)")
	list := &cobra.Command{Use: "list", Short: "List the fault rules", Args: cobra.NoArgs,
		RunE: o.run(func(cmd *cobra.Command, args []string) error {
			m, err := adminCall(cmd.Context(), dataDir, "GET", adminURL("/faultRules"), nil)
			if err != nil {
				return err
			}
			rules, _ := m["value"].([]any)
			if o.json() {
				if rules == nil {
					rules = []any{}
				}
				printJSON(cmd, rules)
				return nil
			}
			printRules(cmd, o.output, rules)
			return nil
		})}
	clear := &cobra.Command{Use: "clear [NAME]", Short: "Remove one rule, or all of them", Args: cobra.MaximumNArgs(1),
		RunE: o.run(func(cmd *cobra.Command, args []string) error {
			p := "/faultRules"
			if len(args) == 1 {
				p += "/" + url.PathEscape(args[0])
			}
			m, err := adminCall(cmd.Context(), dataDir, "DELETE", adminURL(p), nil)
			if err != nil {
				return err
			}
			if o.json() {
				printJSON(cmd, map[string]any{"removed": m["removed"]})
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %v rule(s)\n", m["removed"])
			return nil
		})}
	cmd.AddCommand(add, list, clear)
	return cmd
}

// printRules prints fault rules as a table (output "tsv": rows alone,
// tab-separated, as the other verbs').
func printRules(cmd *cobra.Command, output string, rules []any) {
	rows := make([][]string, 0, len(rules))
	for _, x := range rules {
		r, _ := x.(map[string]any)
		s := func(k string) string {
			v := r[k]
			if v == nil || v == "" || v == float64(0) {
				return "-"
			}
			return strings.TrimSpace(fmt.Sprint(v))
		}
		rows = append(rows, []string{s("name"), s("operation"), s("method"), s("path"), s("status"), s("code"), s("latency"), s("count"), s("percent"), fmt.Sprint(r["hits"])})
	}
	printTable(cmd, output, "NAME\tOPERATION\tMETHOD\tPATH\tSTATUS\tCODE\tLATENCY\tCOUNT\tPERCENT\tHITS", rows)
}
