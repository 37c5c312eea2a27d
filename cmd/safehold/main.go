// Command safehold is a self-hosted Azure Backup: one binary that speaks
// Azure Resource Manager for Azure Backup and backs up real disk bytes.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

func main() {
	// Ctrl-C (or SIGTERM) cancels the command's context, so a command
	// stops the way it stops on an error: a download removes the part it
	// wrote, a disk transfer revokes its access, a wait says the job goes
	// on. The process then dies of the signal, as the shell expects of an
	// interrupted command (a script's loop stops too). A second one ends
	// the process at once. `serve` handles its own. A signal the process
	// was started ignoring (a shell's `cmd &` ignores SIGINT, nohup SIGHUP)
	// stays ignored: handling it would let a Ctrl-C meant for the shell stop
	// a command run in the background, and resetting it would not kill.
	sigs := make(chan os.Signal, 1)
	for _, sig := range []os.Signal{os.Interrupt, syscall.SIGTERM} {
		if !signal.Ignored(sig) {
			signal.Notify(sigs, sig)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var got os.Signal
	stopped := make(chan struct{})
	go func() {
		select {
		case got = <-sigs:
			signal.Stop(sigs)
			cancel()
		case <-stopped:
		}
	}()
	err := newRootCmd().ExecuteContext(ctx)
	close(stopped)
	signal.Stop(sigs)
	if err == nil {
		return
	}
	if ctx.Err() != nil {
		fmt.Fprintf(os.Stderr, "safehold: interrupted: %v\n", err)
		if sig, ok := got.(syscall.Signal); ok {
			signal.Reset(sig)
			syscall.Kill(os.Getpid(), sig)
			time.Sleep(5 * time.Second) // its delivery ends the process
		}
		os.Exit(130)
	}
	fmt.Fprintln(os.Stderr, "safehold:", printableLines(err.Error()))
	os.Exit(1)
}

// newRootCmd is the command tree (tests run it in-process).
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "safehold",
		Short: "Self-hosted Azure Backup that speaks Azure Resource Manager",
		Long: `Self-hosted Azure Backup that speaks Azure Resource Manager.

safehold serve starts the server (HTTPS on 127.0.0.1:8443, state in ./safehold-data) and writes
safehold-data/connection.json: its endpoint, CA certificate, tenant, default subscription and the
admin's client id and secret. The other commands (but version) talk to that running server as the
admin (the backup verbs also as --client-id/--client-secret), through the connection.json below the
directory they run in: --data-dir (env SAFEHOLD_DATA_DIR) points elsewhere. README.md says how to
point az, the Go SDK and the JavaScript SDK at the server.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newServeCmd(), newSPCmd(), newRoleCmd())
	root.AddCommand(newClockCmd(), newResetCmd(), newFaultCmd(), newVerifyCmd(), newQuotaCmd())
	root.AddCommand(newVaultCmd(), newItemCmd(), newBackupCmd(), newJobCmd(), newPointCmd(), newRestoreCmd(), newDiskCmd(), newImageCmd(), newStatusCmd(), newVersionCmd())
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return usageError(cmd, err) })
	explainArgs(root)
	return root
}

// usageError is err (a wrong argument or flag) with the command's usage
// line and where its help is, so the message says what to type instead.
func usageError(cmd *cobra.Command, err error) error {
	return fmt.Errorf("%v\nusage: %s (see `%s --help`)", err, cmd.UseLine(), cmd.CommandPath())
}

const groupOnly = "safehold-group-only"

// explainArgs makes every command's argument check answer a usageError,
// and a command that only groups others (vault, job, role, ...) refuse a
// word that is none of them: cobra answers such a command with its help
// and no error whatever follows it, so `safehold role list` (no such
// command) printed help and exited 0, and a script took it for done.
func explainArgs(cmd *cobra.Command) {
	if cmd.HasParent() && cmd.HasSubCommands() && !cmd.Runnable() {
		// Its usage stays "safehold vault [command]" alone: the run below
		// only refuses, it is no use of its own (its subcommands inherit
		// the template, and keep their use line).
		if cmd.Annotations == nil {
			cmd.Annotations = map[string]string{}
		}
		cmd.Annotations[groupOnly] = "1"
		cmd.SetUsageTemplate(strings.Replace(cmd.UsageTemplate(), "{{if .Runnable}}", `{{if and .Runnable (ne (index .Annotations "`+groupOnly+`") "1")}}`, 1))
		cmd.SuggestionsMinimumDistance = 2 // as the root's: "lst" suggests list
		cmd.RunE = func(c *cobra.Command, args []string) error {
			if len(args) == 0 {
				return c.Help()
			}
			msg := fmt.Sprintf("unknown command %q for %q", args[0], c.CommandPath())
			if s := c.SuggestionsFor(args[0]); len(s) > 0 {
				msg += fmt.Sprintf(" (did you mean %q?)", s[0])
			}
			var names []string
			for _, sub := range c.Commands() {
				if sub.IsAvailableCommand() {
					names = append(names, sub.Name())
				}
			}
			return fmt.Errorf("%s\nusage: %s COMMAND, one of: %s (see `%s --help`)", msg, c.CommandPath(), strings.Join(names, ", "), c.CommandPath())
		}
	}
	if check := cmd.Args; check != nil {
		cmd.Args = func(c *cobra.Command, args []string) error {
			if err := check(c, args); err != nil {
				return usageError(c, err)
			}
			return nil
		}
	}
	for _, c := range cmd.Commands() {
		explainArgs(c)
	}
}
