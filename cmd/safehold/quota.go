package main

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newQuotaCmd() *cobra.Command {
	var dataDir, sub string
	cmd := &cobra.Command{Use: "quota", Short: "Show or set the compute quotas of a region (vCPUs, VMs)",
		Long: `Compute quotas work as in Azure: per subscription and region, a limit of vCPUs in total
(cores), per VM size family (standardDSv3Family, ...) and of VMs (virtualMachines). Creating,
resizing or starting a VM beyond a limit fails with 409 OperationNotAllowed, and restore
validation reports UserErrorCoreCountSubscriptionQuotaReached. The defaults are generous; lower
them to test how a client handles a reached quota. Setting needs the Owner role.

  safehold quota show westus
  safehold quota set westus cores=4 standardDSv3Family=2
  safehold quota set westus cores=default        (back to the default limit)`}
	addConnFlag(cmd, &dataDir)
	cmd.PersistentFlags().StringVar(&sub, "subscription", "", "subscription id (default: the server's default subscription)")
	path := func(loc string) (string, error) {
		s := sub
		if s == "" {
			conn, err := loadConnection(dataDir)
			if err != nil {
				return "", err
			}
			s = conn.SubscriptionID
		}
		return adminURL("/computeQuotas/" + url.PathEscape(s) + "/" + url.PathEscape(loc)), nil
	}
	print := func(cmd *cobra.Command, m map[string]any) error {
		tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "QUOTA\tNAME\tCURRENT\tLIMIT")
		vals, _ := m["value"].([]any)
		for _, x := range vals {
			q, _ := x.(map[string]any)
			fmt.Fprintf(tw, "%v\t%v\t%v\t%v\n", q["name"], q["localizedName"], q["currentValue"], q["limit"])
		}
		return tw.Flush()
	}
	show := &cobra.Command{Use: "show LOCATION", Short: "Show a region's quotas and their use", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := path(args[0])
			if err != nil {
				return err
			}
			m, err := adminCall(cmd.Context(), dataDir, "GET", p, nil)
			if err != nil {
				return err
			}
			return print(cmd, m)
		}}
	set := &cobra.Command{Use: "set LOCATION NAME=LIMIT...", Short: "Set limits (NAME is cores, virtualMachines or a family; LIMIT a number or default)", Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			limits := map[string]int64{}
			for _, a := range args[1:] {
				name, v, ok := strings.Cut(a, "=")
				if !ok || name == "" {
					return fmt.Errorf("%q: write NAME=LIMIT, e.g. cores=4", a)
				}
				if v == "default" {
					limits[name] = -1
					continue
				}
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil || n < 0 {
					return fmt.Errorf("%q: the limit is a number of 0 or more, or default", a)
				}
				limits[name] = n
			}
			p, err := path(args[0])
			if err != nil {
				return err
			}
			m, err := adminCall(cmd.Context(), dataDir, "POST", p, map[string]any{"limits": limits})
			if err != nil {
				return err
			}
			return print(cmd, m)
		}}
	cmd.AddCommand(show, set)
	return cmd
}
