package main

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestGroupCommandRefusesAnUnknownSubcommand: a command that only groups
// others (vault, job, role, sp, clock, fault, ...) followed by a word that
// is none of its commands is an error naming it and the commands there
// are, and the process exits 1; alone, or with --help, it prints its help
// and succeeds, its subcommands' help keeps their use line. Before, cobra
// answered `safehold role list` (there is no role list) and `safehold
// vault bogus` with the group's help and exit status 0, so a script took
// the mistyped command for done (hostile29).
func TestGroupCommandRefusesAnUnknownSubcommand(t *testing.T) {
	var groups []*cobra.Command
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.HasSubCommands() && sub.Name() != "help" {
				groups = append(groups, sub)
			}
			walk(sub)
		}
	}
	walk(newRootCmd())
	if len(groups) < 8 {
		t.Fatalf("test setup: %d group commands", len(groups))
	}
	exec1 := func(args ...string) (string, error) {
		root := newRootCmd()
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(args)
		err := root.ExecuteContext(context.Background())
		return out.String(), err
	}
	for _, g := range groups {
		path := strings.Fields(g.CommandPath())[1:]
		out, err := exec1(append(path, "bogus")...)
		if err == nil || !strings.Contains(err.Error(), `unknown command "bogus" for "`+g.CommandPath()+`"`) ||
			!strings.Contains(err.Error(), g.Commands()[0].Name()) || !strings.Contains(err.Error(), "see `"+g.CommandPath()+" --help`") {
			t.Errorf("%s bogus: %v\n%s", g.CommandPath(), err, out)
		}
		for _, args := range [][]string{path, append(path, "--help")} {
			out, err := exec1(args...)
			if err != nil || !strings.Contains(out, "Usage:\n  "+g.CommandPath()+" [command]\n") || strings.Contains(out, g.CommandPath()+" [flags]") {
				t.Errorf("%s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
		sub := g.Commands()[0]
		if out, err := exec1(append(path, sub.Name(), "--help")...); err != nil || !strings.Contains(out, "Usage:\n  "+sub.UseLine()) {
			t.Errorf("%s --help: %v\n%s", sub.CommandPath(), err, out)
		}
	}
	if _, err := exec1("job", "lst"); err == nil || !strings.Contains(err.Error(), `did you mean "list"?`) {
		t.Errorf("job lst: %v", err)
	}
	cmd := asCLIProcess("role", "list")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(stderr.String(), `safehold: unknown command "list" for "safehold role"`) {
		t.Fatalf("safehold role list: %v\n%s", err, stderr.String())
	}
}
