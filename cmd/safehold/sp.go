package main

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/google/uuid"
	"github.com/safehold/safehold/rbac"
	"github.com/spf13/cobra"
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
			// Resolve the role and scope first: create nothing unless the
			// whole command can succeed.
			var roleID string
			if role != "" {
				var err error
				if roleID, _, err = resolveRole(cmd, dataDir, role); err != nil {
					return err
				}
				if scope, err = resolveScope(cmd, dataDir, scope); err != nil {
					return err
				}
			}
			m, err := adminCall(cmd.Context(), dataDir, "POST", spPath+"?api-version=2024-01-01", map[string]string{"displayName": args[0]})
			if err != nil {
				return err
			}
			if role != "" {
				a, err := putAssignment(cmd, dataDir, m["objectId"].(string), roleID, scope)
				if err != nil {
					// Undo: a principal whose secret is never shown is of no use.
					if _, derr := adminCall(cmd.Context(), dataDir, "DELETE", spPath+"/"+m["objectId"].(string)+"?api-version=2024-01-01", nil); derr != nil {
						return fmt.Errorf("%w (and removing the new principal %s failed: %v)", err, m["objectId"], derr)
					}
					return err
				}
				m["roleAssignment"] = a
			}
			printJSON(cmd, m) // one JSON document: | jq -r .clientSecret works
			return nil
		},
	}
	create.Flags().StringVar(&role, "role", "", "grant this role (name or id), e.g. Contributor")
	create.Flags().StringVar(&scope, "scope", "", "scope of --role (default: the default subscription)")
	var o adminOutput
	list := &cobra.Command{Use: "list", Short: "List service principals and managed identities (a table; -o json the principals)", Args: cobra.NoArgs,
		RunE: o.run(func(cmd *cobra.Command, args []string) error {
			m, err := adminCall(cmd.Context(), dataDir, "GET", spPath+"?api-version=2024-01-01", nil)
			if err != nil {
				return err
			}
			ps, _ := m["value"].([]any)
			if ps == nil {
				ps = []any{}
			}
			if o.json() {
				printJSON(cmd, ps)
				return nil
			}
			rows := make([][]string, 0, len(ps))
			for _, x := range ps {
				p, _ := x.(map[string]any)
				str := func(k string) string { s, _ := p[k].(string); return s }
				rows = append(rows, []string{str("displayName"), str("kind"), str("objectId"), str("appId")})
			}
			printTable(cmd, o.output, "NAME\tKIND\tOBJECT ID\tAPP ID", rows)
			return nil
		})}
	o.add(list, "print the principals as JSON")
	del := &cobra.Command{Use: "delete OBJECT_ID", Short: "Delete a service principal and its role assignments", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := adminCall(cmd.Context(), dataDir, "GET", spPath+"/"+url.PathEscape(args[0])+"?api-version=2024-01-01", nil); err != nil {
				return fmt.Errorf("no service principal with object id %q: %w", args[0], err)
			}
			_, err := adminCall(cmd.Context(), dataDir, "DELETE", spPath+"/"+url.PathEscape(args[0])+"?api-version=2024-01-01", nil)
			if err == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "deleted service principal %s\n", args[0])
			}
			return err
		}}
	cmd.AddCommand(create, list, del)
	return cmd
}

func newRoleCmd() *cobra.Command {
	var dataDir, scope string
	var o adminOutput
	cmd := &cobra.Command{Use: "role", Short: "Manage role assignments"}
	addConnFlag(cmd, &dataDir)
	o.add(cmd, "print the role assignment as JSON (the ARM resource)")
	assign := &cobra.Command{Use: "assign PRINCIPAL_ID ROLE", Short: "Grant a role (name like 'Disk Backup Reader' or id) at --scope", Args: cobra.ExactArgs(2),
		RunE: o.run(func(cmd *cobra.Command, args []string) error {
			return assignRole(cmd, &o, dataDir, args[0], args[1], scope)
		})}
	assign.Flags().StringVar(&scope, "scope", "", "scope (default: the default subscription)")
	cmd.AddCommand(assign)
	return cmd
}

func assignRole(cmd *cobra.Command, o *adminOutput, dataDir, principal, role, scope string) error {
	roleID, roleName, err := resolveRole(cmd, dataDir, role)
	if err != nil {
		return err
	}
	if scope, err = resolveScope(cmd, dataDir, scope); err != nil {
		return err
	}
	m, err := putAssignment(cmd, dataDir, principal, roleID, scope)
	var ae *adminError
	if errors.As(err, &ae) && ae.Code == "RoleAssignmentExists" {
		// Assigning a role the principal holds there already is done (as
		// az role assignment create answers): print that assignment.
		if id := existingAssignment.FindString(ae.Message); id != "" {
			if m, err = adminCall(cmd.Context(), dataDir, "GET", strings.TrimRight(scope, "/")+"/providers/Microsoft.Authorization/roleAssignments/"+id+"?api-version=2022-04-01", nil); err == nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "%s already has this role at %s\n", principal, scope)
			}
		}
	}
	if err != nil {
		return err
	}
	if o.json() {
		printJSON(cmd, m)
		return nil
	}
	// A table (as the other verbs print): the principal, the role by its
	// name, the scope and the assignment's name (its id's last segment).
	props, _ := m["properties"].(map[string]any)
	str := func(v any) string { s, _ := v.(string); return s }
	row := []string{str(props["principalId"]), roleName, str(props["scope"]), str(m["name"])}
	if row[2] == "" {
		row[2] = scope
	}
	printTable(cmd, o.output, "PRINCIPAL\tROLE\tSCOPE\tASSIGNMENT", [][]string{row})
	return nil
}

// existingAssignment finds the id of the assignment a RoleAssignmentExists error names.
var existingAssignment = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)

// resolveRole finds a role definition by name or id (built-in or custom):
// its id and name.
func resolveRole(cmd *cobra.Command, dataDir, role string) (string, string, error) {
	for _, r := range rbac.BuiltInRoles {
		if strings.EqualFold(r.RoleName, role) || strings.EqualFold(r.ID, role) {
			return r.ID, r.RoleName, nil
		}
	}
	m, err := adminCall(cmd.Context(), dataDir, "GET", "/providers/Microsoft.Authorization/roleDefinitions?api-version=2022-04-01", nil)
	if err != nil {
		return "", "", err
	}
	vals, _ := m["value"].([]any)
	var names []string
	for _, v := range vals {
		d, _ := v.(map[string]any)
		props, _ := d["properties"].(map[string]any)
		name, _ := props["roleName"].(string)
		id, _ := d["name"].(string)
		if strings.EqualFold(name, role) || strings.EqualFold(id, role) {
			return id, name, nil
		}
		names = append(names, name)
	}
	return "", "", fmt.Errorf("no role named %q; roles: %s", role, strings.Join(names, ", "))
}

// resolveScope defaults the scope to the default subscription and checks
// that it names a subscription or resource group that exists.
func resolveScope(cmd *cobra.Command, dataDir, scope string) (string, error) {
	if scope == "" {
		c, err := adminCall(cmd.Context(), dataDir, "GET", "/subscriptions?api-version=2022-12-01", nil)
		if err != nil {
			return "", err
		}
		subs, _ := c["value"].([]any)
		if len(subs) == 0 {
			return "", cmdErr("no subscription visible; pass --scope")
		}
		return subs[0].(map[string]any)["id"].(string), nil
	}
	if !strings.HasPrefix(scope, "/subscriptions/") {
		return "", fmt.Errorf("--scope %q is not a scope: use /subscriptions/{id}[/resourceGroups/{name}[/providers/...]]", scope)
	}
	if _, err := adminCall(cmd.Context(), dataDir, "GET", "/"+strings.Trim(scope, "/")+"/providers/Microsoft.Authorization/roleAssignments?api-version=2022-04-01&$filter=atScope()", nil); err != nil {
		return "", fmt.Errorf("--scope %s: %w", scope, err)
	}
	return scope, nil
}

func putAssignment(cmd *cobra.Command, dataDir, principal, roleID, scope string) (map[string]any, error) {
	sub := scope
	if i := strings.Index(strings.ToLower(scope+"/"), "/resourcegroups/"); i > 0 {
		sub = scope[:i]
	}
	return adminCall(cmd.Context(), dataDir, "PUT", strings.TrimRight(scope, "/")+"/providers/Microsoft.Authorization/roleAssignments/"+uuid.NewString()+"?api-version=2022-04-01",
		map[string]any{"properties": map[string]string{"principalId": principal, "roleDefinitionId": sub + "/providers/Microsoft.Authorization/roleDefinitions/" + roleID}})
}

type cmdErr string

func (e cmdErr) Error() string { return string(e) }
