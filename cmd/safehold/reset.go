package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

func newResetCmd() *cobra.Command {
	var dataDir string
	var yes bool
	cmd := &cobra.Command{Use: "reset", Short: "Delete every resource and all backup data, keeping the tenant, subscription, admin credentials and CA",
		Long: `reset deletes every resource group and everything in it, all jobs, recovery points and backup data,
service principals other than the admin, role assignments other than the admin's Owner, management
locks, and the subscription's tags and predefined tag names. It keeps the tenant, the subscription,
the admin principal and its secret, the CA and connection.json, so clients keep working without
reconfiguration; it also keeps the server clock where it stands (a frozen one stays frozen: safehold
clock resume or set) and the fault rules (safehold fault clear). Needs the Owner role on the
subscription.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !yes {
				fmt.Fprint(cmd.ErrOrStderr(), "Delete every resource and all backup data on this server? Type 'yes' to confirm: ")
				line, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				if strings.TrimSpace(strings.ToLower(line)) != "yes" {
					return cmdErr("reset cancelled (nothing deleted); pass --yes to skip the question")
				}
			}
			m, err := adminCall(cmd.Context(), dataDir, "POST", adminURL("/reset"), nil)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "reset done in %v: %v resource group(s), %v document(s), %v task(s), %v principal(s) removed\n",
				m["duration"], m["resourceGroups"], m["documents"], m["tasks"], m["principals"])
			return nil
		}}
	addConnFlag(cmd, &dataDir)
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	cmd.SetIn(os.Stdin)
	return cmd
}
