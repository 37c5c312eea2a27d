// Command safehold is a self-hosted Azure Backup: one binary that speaks
// Azure Resource Manager for Azure Backup and backs up real disk bytes.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
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
	fmt.Fprintln(os.Stderr, "safehold:", err)
	os.Exit(1)
}

// newRootCmd is the command tree (tests run it in-process).
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "safehold",
		Short:         "Self-hosted Azure Backup that speaks Azure Resource Manager",
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

// explainArgs makes every command's argument check answer a usageError.
func explainArgs(cmd *cobra.Command) {
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
