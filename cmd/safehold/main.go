// Command safehold is a self-hosted Azure Backup: one binary that speaks
// Azure Resource Manager for Azure Backup and backs up real disk bytes.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "safehold:", err)
		os.Exit(1)
	}
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
	return root
}
