package main

import (
	"github.com/google/uuid"
	"github.com/safehold/safehold/rbac"
	"github.com/spf13/cobra"
	"strings"
)

const spPath = "/providers/Safehold.Identity/servicePrincipals"

func newSPCmd() *cobra.Command {
	var dataDir string
	cmd := &cobra.Command{Use: "sp", Short: "Manage service principals (create prints the client secret once)"}
	addConnFlag(cmd, &dataDir)
	var role, scope string
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a service principal, optionally granting it a role",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := adminCall(cmd.Context(), dataDir, "POST", spPath+"?api-version=2024-01-01", map[string]string{"displayName": args[0]})
			if err != nil {
				return err
			}
			if role != "" {
				if err := assignRole(cmd, dataDir, m["objectId"].(string), role, scope); err != nil {
					return err
				}
			}
			printJSON(cmd, m)
			return nil
		},
	}
	create.Flags().StringVar(&role, "role", "", "grant this role (name or id), e.g. Contributor")
	create.Flags().StringVar(&scope, "scope", "", "scope of --role (default: the default subscription)")
	list := &cobra.Command{Use: "list", Short: "List service principals and managed identities", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := adminCall(cmd.Context(), dataDir, "GET", spPath+"?api-version=2024-01-01", nil)
			if err != nil {
				return err
			}
			printJSON(cmd, m["value"])
			return nil
		}}
	del := &cobra.Command{Use: "delete OBJECT_ID", Short: "Delete a service principal and its role assignments", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := adminCall(cmd.Context(), dataDir, "DELETE", spPath+"/"+args[0]+"?api-version=2024-01-01", nil)
			return err
		}}
	cmd.AddCommand(create, list, del)
	return cmd
}

func newRoleCmd() *cobra.Command {
	var dataDir, scope string
	cmd := &cobra.Command{Use: "role", Short: "Manage role assignments"}
	addConnFlag(cmd, &dataDir)
	assign := &cobra.Command{Use: "assign PRINCIPAL_ID ROLE", Short: "Grant a role (name like 'Disk Backup Reader' or id) at --scope", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return assignRole(cmd, dataDir, args[0], args[1], scope)
		}}
	assign.Flags().StringVar(&scope, "scope", "", "scope (default: the default subscription)")
	cmd.AddCommand(assign)
	return cmd
}

func assignRole(cmd *cobra.Command, dataDir, principal, role, scope string) error {
	roleID := role
	for _, r := range rbac.BuiltInRoles {
		if strings.EqualFold(r.RoleName, role) {
			roleID = r.ID
		}
	}
	if scope == "" {
		c, err := adminCall(cmd.Context(), dataDir, "GET", "/subscriptions?api-version=2022-12-01", nil)
		if err != nil {
			return err
		}
		subs, _ := c["value"].([]any)
		if len(subs) == 0 {
			return cmdErr("no subscription visible; pass --scope")
		}
		scope = subs[0].(map[string]any)["id"].(string)
	}
	sub := scope
	if i := strings.Index(strings.ToLower(scope+"/"), "/resourcegroups/"); i > 0 {
		sub = scope[:i]
	}
	m, err := adminCall(cmd.Context(), dataDir, "PUT", strings.TrimRight(scope, "/")+"/providers/Microsoft.Authorization/roleAssignments/"+uuid.NewString()+"?api-version=2022-04-01",
		map[string]any{"properties": map[string]string{"principalId": principal, "roleDefinitionId": sub + "/providers/Microsoft.Authorization/roleDefinitions/" + roleID}})
	if err != nil {
		return err
	}
	printJSON(cmd, m)
	return nil
}

type cmdErr string

func (e cmdErr) Error() string { return string(e) }
