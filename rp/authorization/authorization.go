// Package authorization serves Microsoft.Authorization (role definitions,
// role assignments and management locks at any scope) and Safehold.Identity (the admin API for
// service principals) over the rbac and identity packages.
package authorization

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/google/uuid"
	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/identity"
	"github.com/safehold/safehold/rbac"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
)

// Provider serves Microsoft.Authorization and Safehold.Identity.
type Provider struct {
	Authz *rbac.Authorizer
	// AdminScope is where a caller needs roleAssignments/write to manage service principals.
	AdminScope string
	// Forget drops cached token verifications (after a principal is deleted).
	Forget func()

	p *resource.Platform
}

const ns = "Microsoft.Authorization"

// Register implements server.Provider.
func (pr *Provider) Register(rt *arm.Router, p *resource.Platform) error {
	pr.p = p
	rt.RegisterNamespace(arm.Namespace{Name: ns, AnyVersion: true, Versions: arm.APIVersionsAuthorization})
	ra := "/{*scope}/providers/Microsoft.Authorization/roleAssignments"
	rt.Handle("GET", ra, pr.listAssignments, arm.Action("Microsoft.Authorization/roleAssignments/read"))
	rt.HandleResource(ra+"/{roleAssignmentName}", arm.Methods{Get: pr.getAssignment, Put: pr.putAssignment, Delete: pr.deleteAssignment})
	pr.registerLocks(rt)
	rt.Handle("GET", "/providers/Microsoft.Authorization/operations", rt.OperationsCatalog(ns, "Microsoft Authorization"), arm.NoAuthz())
	pr.registerProviderOperations(rt)
	// What the caller may do at a scope: anyone may ask about themselves.
	rt.Handle("GET", "/{*scope}/providers/Microsoft.Authorization/permissions", pr.listPermissions, arm.NoAuthz())
	// Safehold has no deny assignments: every scope lists none.
	da := "/{*scope}/providers/Microsoft.Authorization/denyAssignments"
	rt.Handle("GET", da, pr.listDenyAssignments, arm.Action("Microsoft.Authorization/denyAssignments/read"))
	rt.Handle("GET", da+"/{denyAssignmentId}", pr.getDenyAssignment, arm.Action("Microsoft.Authorization/denyAssignments/read"))
	for _, prefix := range []string{"/{*scope}", ""} {
		rd := prefix + "/providers/Microsoft.Authorization/roleDefinitions"
		// Role definitions are read at a scope with roleDefinitions/read
		// there (Reader's */read), as Azure's reference says; the tenant's
		// list (no scope) shows anyone the built-in roles, and a custom
		// role only to a caller who may read roles at one of its
		// assignable scopes (readableRole).
		read := arm.Action("Microsoft.Authorization/roleDefinitions/read")
		if prefix == "" {
			read = arm.NoAuthz()
		}
		rt.Handle("GET", rd, pr.listRoles, read)
		rt.Handle("GET", rd+"/{roleDefinitionId}", pr.getRole, read)
		rt.Handle("PUT", rd+"/{roleDefinitionId}", pr.putRole, arm.Action("Microsoft.Authorization/roleDefinitions/write"))
		rt.Handle("DELETE", rd+"/{roleDefinitionId}", pr.deleteRole, arm.Action("Microsoft.Authorization/roleDefinitions/delete"))
	}
	rt.RegisterNamespace(arm.Namespace{Name: "Safehold.Identity", AnyVersion: true, Versions: []string{"2024-01-01"}})
	sp := "/providers/Safehold.Identity/servicePrincipals"
	rt.Handle("GET", sp, pr.listSPs, arm.NoAuthz())
	rt.Handle("POST", sp, pr.createSP, arm.NoAuthz())
	rt.Handle("GET", sp+"/{objectId}", pr.getSP, arm.NoAuthz())
	rt.Handle("DELETE", sp+"/{objectId}", pr.deleteSP, arm.NoAuthz())
	return nil
}

func scopeOf(r *arm.Request) string {
	s := r.Param("scope")
	if s == "" {
		return "/"
	}
	return s
}

// resourceBody is the body of a role assignment or role definition: the
// proxy resource envelope and the properties (a PUT sends the properties
// alone).
type resourceBody[P any] struct {
	arm.ProxyResource
	Properties P `json:"properties"`
}

// decodeProperties decodes the properties of a PUT body.
func decodeProperties[P any](r *arm.Request) (P, error) {
	var body resourceBody[P]
	err := r.Decode(&body)
	return body.Properties, err
}

type assignmentBody = resourceBody[rbac.AssignmentProperties]

func toBody(x *rbac.Assignment) assignmentBody {
	return assignmentBody{ProxyResource: arm.ProxyResource{ID: x.ID, Name: x.Name, Type: "Microsoft.Authorization/roleAssignments"}, Properties: x.AssignmentProperties}
}

func assignmentID(scope, name string) string {
	return strings.TrimRight(scope, "/") + "/providers/Microsoft.Authorization/roleAssignments/" + name
}

func notFoundAssignment(name string) error {
	return arm.Errorf(http.StatusNotFound, "RoleAssignmentNotFound", "The role assignment '%s' is not found.", name)
}

func (pr *Provider) getAssignment(r *arm.Request) (*arm.Response, error) {
	x, err := pr.Authz.GetAssignment(r.HTTP.Context(), assignmentID(scopeOf(r), r.Param("roleAssignmentName")))
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFoundAssignment(r.Param("roleAssignmentName"))
	}
	if err != nil {
		return nil, err
	}
	return arm.OK(toBody(x)), nil
}

// checkScope verifies the scope names something that exists.
func (pr *Provider) checkScope(ctx context.Context, scope string) error {
	return checkScopeIn(ctx, pr.p.Store, scope)
}

// checkScopeIn is checkScope reading r (a transaction's, to check the
// scope where an assignment is stored).
func checkScopeIn(ctx context.Context, r store.Reader, scope string) error {
	if scope == "/" {
		return nil
	}
	id, err := arm.ParseID(scope)
	if err != nil {
		return arm.BadRequest("InvalidScope", "The scope '%s' is not a valid scope: %v.", scope, err)
	}
	if err := resource.CheckSubscription(ctx, r, id.SubscriptionID); err != nil {
		return err
	}
	if id.Namespace == "" && id.ResourceGroup != "" {
		return resource.CheckResourceGroup(ctx, r, id.SubscriptionID, id.ResourceGroup)
	}
	if id.Namespace != "" {
		ok, err := resource.Exists(ctx, r, scope)
		if err != nil {
			return err
		}
		if !ok {
			return arm.Errorf(http.StatusNotFound, "ResourceNotFound", "The scope '%s' does not exist: the resource '%s' was not found.", scope, id.Type()+"/"+id.Name())
		}
	}
	return nil
}

// dashedGUID reports whether s is a GUID as a resource name holds one:
// 8-4-4-4-12 hex digits in either case. uuid.Parse also takes it in
// braces, undashed or as a URN, each of which would name the resource of
// that GUID a second time under another key.
func dashedGUID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil && len(s) == 36
}

// principalGUID reads a principal id given in any of a GUID's forms (Azure
// takes it so, and stores the object id): the dashed form is kept as
// sent, another is answered dashed in lower case.
func principalGUID(s string) (string, bool) {
	u, err := uuid.Parse(s)
	if err != nil {
		return "", false
	}
	if len(s) == 36 {
		return s, true
	}
	return u.String(), true
}

// assignableAt refuses an assignment of role at scope outside its
// assignableScopes: a role is assignable at them and below them only (a
// built-in role's is "/"), as in Azure.
func assignableAt(role *rbac.RoleDefinition, scope string) error {
	if slices.ContainsFunc(role.AssignableScopes, func(s string) bool { return rbac.ScopeCovers(s, scope) }) {
		return nil
	}
	return arm.BadRequest("RoleAssignmentScopeNotAssignableToRoleDefinition",
		"The role definition '%s' (%s) is not assignable at the scope '%s': its assignableScopes are '%s'. Assign it at or below one of them, or add the scope to the role's assignableScopes.",
		role.RoleName, role.ID, scope, strings.Join(role.AssignableScopes, "', '"))
}

func (pr *Provider) putAssignment(r *arm.Request) (*arm.Response, error) {
	ctx := r.HTTP.Context()
	scope, name := scopeOf(r), r.Param("roleAssignmentName")
	if !dashedGUID(name) {
		return nil, arm.BadRequest("InvalidRoleAssignmentId", "The role assignment ID '%s' is not valid. The role assignment ID must be a GUID, written xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx.", name)
	}
	pp, err := decodeProperties[rbac.AssignmentProperties](r)
	if err != nil {
		return nil, err
	}
	// properties.scope is read-only, but a client may send it (the Go SDK
	// does when set, a body copied from a GET has it): it must name the
	// URI's scope, as ARM requires, or the assignment would be made at
	// another scope than the caller asked for.
	if pp.Scope != "" && !strings.EqualFold("/"+strings.Trim(pp.Scope, "/"), "/"+strings.Trim(scope, "/")) {
		return nil, arm.BadRequestAt("properties.scope", "InvalidCreateRoleAssignmentRequest",
			"The request to create role assignment '%s' is not valid. Role assignment scope '%s' must match the scope specified on the URI '%s'. Leave properties.scope out, or PUT the assignment at its scope's URI.", name, pp.Scope, scope)
	}
	if pp.PrincipalID == "" {
		return nil, arm.InvalidRequest("properties.principalId is required: the object id of the user, service principal or managed identity to grant the role to.")
	}
	if id, ok := principalGUID(pp.PrincipalID); ok {
		pp.PrincipalID = id
	} else {
		return nil, arm.BadRequest("InvalidPrincipalId", "The Principal ID '%s' is not valid. Principal ID must be a GUID: the object id of the user, service principal or managed identity.", pp.PrincipalID)
	}
	if pp.RoleDefinitionID == "" {
		return nil, arm.InvalidRequest("properties.roleDefinitionId is required, e.g. '/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7' for Reader.")
	}
	// A role definition id names the scope it is read at
	// (/subscriptions/{sub}/providers/...); one outside the assignment's
	// scope tree must be readable by the caller (linked access).
	if i := strings.Index(strings.ToLower(pp.RoleDefinitionID), "/providers/microsoft.authorization/roledefinitions/"); i > 0 {
		defScope := pp.RoleDefinitionID[:i]
		if !rbac.ScopeCovers(defScope, scope) {
			if err := r.CheckLinked(arm.Link{Action: "Microsoft.Authorization/roleDefinitions/read", Scope: defScope}); err != nil {
				return nil, err
			}
		}
	}
	guid := pp.RoleDefinitionID[strings.LastIndex(pp.RoleDefinitionID, "/")+1:]
	role, ok := pr.Authz.Role(guid)
	if !ok {
		return nil, arm.BadRequest("RoleDefinitionDoesNotExist", "The specified role definition with ID '%s' does not exist.", guid)
	}
	if err := assignableAt(role, scope); err != nil {
		return nil, err
	}
	if err := pr.checkScope(ctx, scope); err != nil {
		return nil, err
	}
	principal, err := pr.p.Dir.Get(ctx, pp.PrincipalID)
	if err != nil {
		return nil, arm.BadRequest("PrincipalNotFound", "Principal %s does not exist in the directory %s. Check that you have the correct principal ID.", strings.ReplaceAll(pp.PrincipalID, "-", ""), pr.p.TenantID)
	}
	// Every principal of Safehold's directory is a service principal (a
	// managed identity's too, as ARM types it); a principalType given is
	// checked against it, as Azure does.
	ptype := "ServicePrincipal"
	if pp.PrincipalType != "" && !strings.EqualFold(pp.PrincipalType, ptype) {
		return nil, arm.BadRequestAt("properties.principalType", "UnmatchedPrincipalType", "The PrincipalId '%s' has type '%s' , which is different from specified PrincipalType '%s'. Give principalType '%s', or leave it out.",
			strings.ReplaceAll(pp.PrincipalID, "-", ""), ptype, pp.PrincipalType, ptype)
	}
	roleDefID := "/providers/Microsoft.Authorization/roleDefinitions/" + guid
	if id, err := arm.ParseID(scope); err == nil && id.SubscriptionID != "" {
		roleDefID = "/subscriptions/" + id.SubscriptionID + roleDefID
	}
	id := assignmentID(scope, name)
	existing, err := pr.Authz.GetAssignment(ctx, id)
	if err == nil {
		if strings.EqualFold(existing.PrincipalID, pp.PrincipalID) && strings.EqualFold(existing.RoleGUID(), guid) {
			return arm.Created(toBody(existing)), nil
		}
		return nil, arm.Conflict("RoleAssignmentUpdateNotPermitted", "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.")
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	for _, x := range pr.Authz.Assignments() {
		if strings.EqualFold(x.PrincipalID, pp.PrincipalID) && strings.EqualFold(x.RoleGUID(), guid) && strings.EqualFold(strings.TrimRight(x.Scope, "/"), strings.TrimRight(scope, "/")) {
			return nil, arm.Conflict("RoleAssignmentExists", "The role assignment already exists. The ID of the existing role assignment is %s.", x.Name)
		}
	}
	x := &rbac.Assignment{ID: id, Name: name, AssignmentProperties: rbac.AssignmentProperties{Scope: scope, RoleDefinitionID: roleDefID, PrincipalID: principal.ObjectID, PrincipalType: ptype,
		Description: pp.Description, Condition: pp.Condition, CreatedBy: r.Caller().ObjectID, UpdatedBy: r.Caller().ObjectID}}
	// The scope is checked again where the assignment is stored, with its
	// group open to new things: a group's delete (which removes an empty
	// group in one transaction, or cascades from its Deleting state) racing
	// this PUT must not leave the assignment behind.
	// So are the role, the scopes it is assignable at, the principal and
	// the assignment's uniqueness, read above from memory: a role or
	// principal deleted meanwhile, a role narrowed meanwhile, or the same
	// assignment made meanwhile under another name, refuses it.
	if err := pr.Authz.PutAssignment(ctx, x, func(r store.Reader) error {
		if err := checkScopeIn(ctx, r, scope); err != nil {
			return err
		}
		if cur, err := rbac.RoleIn(ctx, r, guid); errors.Is(err, store.ErrNotFound) {
			return arm.BadRequest("RoleDefinitionDoesNotExist", "The specified role definition with ID '%s' does not exist.", guid)
		} else if err != nil {
			return err
		} else if err := assignableAt(cur, scope); err != nil {
			return err
		}
		if _, err := pr.p.Dir.GetIn(ctx, r, principal.ObjectID); errors.Is(err, store.ErrNotFound) {
			return arm.BadRequest("PrincipalNotFound", "Principal %s does not exist in the directory %s. Check that you have the correct principal ID.", strings.ReplaceAll(pp.PrincipalID, "-", ""), pr.p.TenantID)
		} else if err != nil {
			return err
		}
		same, err := rbac.AssignmentsIn(ctx, r, scope, principal.ObjectID)
		if err != nil {
			return err
		}
		for _, o := range same {
			if strings.EqualFold(o.RoleGUID(), guid) && strings.EqualFold(strings.TrimRight(o.Scope, "/"), strings.TrimRight(scope, "/")) && !strings.EqualFold(o.ID, id) {
				return arm.Conflict("RoleAssignmentExists", "The role assignment already exists. The ID of the existing role assignment is %s.", o.Name)
			}
		}
		if id, err := arm.ParseID(scope); err == nil && id.ResourceGroup != "" {
			return resource.CheckGroupOpen(ctx, r, id.SubscriptionID, id.ResourceGroup)
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return arm.Created(toBody(x)), nil
}

func (pr *Provider) deleteAssignment(r *arm.Request) (*arm.Response, error) {
	x, err := pr.Authz.DeleteAssignment(r.HTTP.Context(), assignmentID(scopeOf(r), r.Param("roleAssignmentName")))
	if errors.Is(err, store.ErrNotFound) {
		return arm.NoContent(), nil
	}
	if err != nil {
		return nil, err
	}
	return arm.OK(toBody(x)), nil
}

var (
	principalFilterRE = regexp.MustCompile(`(?i)principalId\s+eq\s+'([^']+)'`)
	assignedToRE      = regexp.MustCompile(`(?i)assignedTo\('([^']+)'\)`)
	atScopeRE         = regexp.MustCompile(`(?i)atScope\(\)`)
	roleNameRE        = regexp.MustCompile(`(?i)roleName\s+eq\s+'([^']+)'`)
	roleTypeRE        = regexp.MustCompile(`(?i)type\s+eq\s+'([^']+)'`)
	orRE              = regexp.MustCompile(`(?i)\sor\s`)
)

func (pr *Provider) listAssignments(r *arm.Request) (*arm.Response, error) {
	scope := scopeOf(r)
	if err := pr.checkScope(r.HTTP.Context(), scope); err != nil {
		return nil, err
	}
	filter := r.Query("$filter")
	principal := ""
	if m := principalFilterRE.FindStringSubmatch(filter); m != nil {
		principal = m[1]
	} else if m := assignedToRE.FindStringSubmatch(filter); m != nil {
		principal = m[1]
	}
	if id, ok := principalGUID(principal); ok {
		principal = id // any GUID form names the principal, as in Azure
	}
	atScope := atScopeRE.MatchString(filter)
	if orRE.MatchString(filter) {
		return nil, arm.BadRequest("InvalidFilterInQueryString", "The $filter '%s' is not supported: 'or' cannot combine conditions; use atScope(), principalId eq '{id}' or assignedTo('{id}'), joined with 'and'.", filter)
	}
	if filter != "" && principal == "" && !atScope {
		return nil, arm.BadRequest("InvalidFilterInQueryString", "The $filter '%s' is not supported. Use atScope(), principalId eq '{id}' or assignedTo('{id}').", filter)
	}
	var out []assignmentBody
	for _, x := range pr.Authz.Assignments() {
		if principal != "" && !strings.EqualFold(x.PrincipalID, principal) {
			continue
		}
		above := rbac.ScopeCovers(x.Scope, scope)
		below := rbac.ScopeCovers(scope, x.Scope)
		if above || (below && !atScope) {
			out = append(out, toBody(x))
		}
	}
	return arm.PageOK(r, out, 500)
}

// listPermissions answers the caller's permissions at the scope (a
// resource group or a resource; Permissions_ListForResourceGroup and
// Permissions_ListForResource): the role permissions of each assignment of
// theirs at the scope or above.
func (pr *Provider) listPermissions(r *arm.Request) (*arm.Response, error) {
	scope := scopeOf(r)
	if err := pr.checkScope(r.HTTP.Context(), scope); err != nil {
		return nil, err
	}
	return arm.PageOK(r, pr.Authz.PermissionsAt(r.Caller().ObjectID, scope), 500)
}

func (pr *Provider) listDenyAssignments(r *arm.Request) (*arm.Response, error) {
	if err := pr.checkScope(r.HTTP.Context(), scopeOf(r)); err != nil {
		return nil, err
	}
	return arm.OK(arm.Values([]any{})), nil
}

func (pr *Provider) getDenyAssignment(r *arm.Request) (*arm.Response, error) {
	if err := pr.checkScope(r.HTTP.Context(), scopeOf(r)); err != nil {
		return nil, err
	}
	return nil, arm.Errorf(http.StatusNotFound, "DenyAssignmentNotFound", "The deny assignment '%s' is not found: Safehold has no deny assignments.", r.Param("denyAssignmentId"))
}

type roleBody = resourceBody[roleProp]

type roleProp struct {
	RoleName         string            `json:"roleName"`
	Type             string            `json:"type"`
	Description      string            `json:"description"`
	AssignableScopes []string          `json:"assignableScopes"`
	Permissions      []rbac.Permission `json:"permissions"`
	CreatedOn        string            `json:"createdOn,omitempty"`
	UpdatedOn        string            `json:"updatedOn,omitempty"`
}

func roleID(scope, guid string) string {
	id, err := arm.ParseID(scope)
	if scope == "/" || scope == "" || err != nil || id.SubscriptionID == "" {
		return "/providers/Microsoft.Authorization/roleDefinitions/" + guid
	}
	return "/subscriptions/" + id.SubscriptionID + "/providers/Microsoft.Authorization/roleDefinitions/" + guid
}

func toRole(scope string, d *rbac.RoleDefinition) roleBody {
	return roleBody{ProxyResource: arm.ProxyResource{ID: roleID(scope, d.ID), Name: d.ID, Type: "Microsoft.Authorization/roleDefinitions"}, Properties: roleProp{
		RoleName: d.RoleName, Type: d.RoleType, Description: d.Description, AssignableScopes: d.AssignableScopes, Permissions: d.Permissions,
		CreatedOn: "2015-02-02T21:55:09.8806423Z", UpdatedOn: "2024-01-01T00:00:00.0000000Z"}}
}

func (pr *Provider) listRoles(r *arm.Request) (*arm.Response, error) {
	scope := scopeOf(r)
	filter := r.Query("$filter")
	name, typ := "", ""
	if m := roleNameRE.FindStringSubmatch(filter); m != nil {
		name = m[1]
	}
	if m := roleTypeRE.FindStringSubmatch(filter); m != nil {
		typ = m[1]
	}
	var out []roleBody
	for _, d := range pr.Authz.Roles() {
		if name != "" && !strings.EqualFold(d.RoleName, name) {
			continue
		}
		if typ != "" && !strings.EqualFold(d.RoleType, typ) {
			continue
		}
		if d.RoleType == "CustomRole" && scope == "/" && !pr.readableRole(r, d) {
			continue
		}
		if d.RoleType == "CustomRole" && scope != "/" {
			visible := false
			for _, s := range d.AssignableScopes {
				if rbac.ScopeCovers(s, scope) || rbac.ScopeCovers(scope, s) {
					visible = true
				}
			}
			if !visible {
				continue
			}
		}
		out = append(out, toRole(scope, d))
	}
	return arm.PageOK(r, out, 500)
}

func (pr *Provider) getRole(r *arm.Request) (*arm.Response, error) {
	d, ok := pr.Authz.Role(r.Param("roleDefinitionId"))
	if ok && d.RoleType == "CustomRole" && scopeOf(r) == "/" {
		ok = pr.readableRole(r, d)
	}
	if !ok {
		return nil, arm.Errorf(http.StatusNotFound, "RoleDefinitionDoesNotExist", "The specified role definition with ID '%s' does not exist.", r.Param("roleDefinitionId"))
	}
	return arm.OK(toRole(scopeOf(r), d)), nil
}

// readableRole reports whether the caller may read the custom role d
// outside a scope (the tenant's role definitions): it holds
// roleDefinitions/read at one of the role's assignable scopes. Custom
// roles were listed there to anyone.
func (pr *Provider) readableRole(r *arm.Request, d *rbac.RoleDefinition) bool {
	if pr.p.Authorize == nil {
		return true
	}
	for _, sc := range d.AssignableScopes {
		if pr.p.Authorize(r.HTTP.Context(), r.Caller().ObjectID, "Microsoft.Authorization/roleDefinitions/read", sc) == nil {
			return true
		}
	}
	return false
}

func (pr *Provider) putRole(r *arm.Request) (*arm.Response, error) {
	guid := r.Param("roleDefinitionId")
	if !dashedGUID(guid) {
		return nil, arm.BadRequest("InvalidRoleDefinitionId", "The role definition ID '%s' is not valid: it must be a GUID, written xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx.", guid)
	}
	if d, ok := pr.Authz.Role(guid); ok && d.RoleType == "BuiltInRole" {
		return nil, arm.BadRequest("RoleDefinitionUpdateNotPermitted", "The built-in role '%s' cannot be changed; create a custom role with a new GUID instead.", d.RoleName)
	}
	p, err := decodeProperties[roleProp](r)
	if err != nil {
		return nil, err
	}
	if p.RoleName == "" {
		return nil, arm.InvalidRequest("properties.roleName is required.")
	}
	if len(p.Permissions) == 0 {
		return nil, arm.InvalidRequest("properties.permissions must hold at least one block with actions.")
	}
	if len(p.AssignableScopes) == 0 {
		return nil, arm.InvalidRequest("properties.assignableScopes must list at least one scope, e.g. '/subscriptions/{sub}'.")
	}
	invalid := func(sc string, err error) error {
		return arm.BadRequest("InvalidAssignableScope", "properties.assignableScopes: the scope '%s' is not valid or does not exist: %v", sc, err)
	}
	// A custom role is written at each of its assignable scopes, as in
	// Azure: the caller needs roleDefinitions/write on every one (403
	// AuthorizationFailed naming it), not only where it PUTs. Every scope
	// is authorized before any is looked up, so that a caller learns
	// nothing of what exists where it has no access (a 400 for a scope
	// that does not exist would tell it).
	for _, sc := range p.AssignableScopes {
		if sc != "/" {
			if _, err := arm.ParseID(sc); err != nil {
				return nil, invalid(sc, err)
			}
		}
	}
	// An update needs the same at the scopes the role has now: its
	// assignments there get the new permissions, and a scope left out is
	// taken from whoever manages roles there.
	scopes := p.AssignableScopes
	if old, ok := pr.Authz.Role(guid); ok {
		scopes = append(slices.Clone(old.AssignableScopes), scopes...)
	}
	if err := pr.authorizeAt(r, "Microsoft.Authorization/roleDefinitions/write", scopes); err != nil {
		return nil, err
	}
	for _, sc := range p.AssignableScopes {
		if err := pr.checkScope(r.HTTP.Context(), sc); err != nil {
			return nil, invalid(sc, err)
		}
	}
	sameName := func(roles []*rbac.RoleDefinition) error {
		for _, s := range roles {
			if strings.EqualFold(s.RoleName, p.RoleName) && !strings.EqualFold(s.ID, guid) {
				return arm.Conflict("RoleDefinitionWithSameNameExists", "A custom role with the same name '%s' already exists in this directory. Use a different name.", p.RoleName)
			}
		}
		return nil
	}
	if err := sameName(pr.Authz.Roles()); err != nil {
		return nil, err
	}
	for i := range p.Permissions {
		for _, l := range []*[]string{&p.Permissions[i].Actions, &p.Permissions[i].NotActions, &p.Permissions[i].DataActions, &p.Permissions[i].NotDataActions} {
			if *l == nil {
				*l = []string{}
			}
		}
	}
	d := &rbac.RoleDefinition{ID: guid, RoleName: p.RoleName, Description: p.Description, RoleType: "CustomRole", AssignableScopes: p.AssignableScopes, Permissions: p.Permissions}
	// Again in the write's transaction, from the roles stored there: a
	// role of that name, or a change of this role's scopes, made meanwhile
	// (the checks above read memory).
	err = pr.Authz.PutRole(r.HTTP.Context(), d, func(old *rbac.RoleDefinition, custom []*rbac.RoleDefinition) error {
		if err := sameName(custom); err != nil {
			return err
		}
		if old != nil && !slices.Equal(old.AssignableScopes, scopes[:len(scopes)-len(p.AssignableScopes)]) {
			return pr.authorizeAt(r, "Microsoft.Authorization/roleDefinitions/write", old.AssignableScopes)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return arm.Created(toRole(scopeOf(r), d)), nil
}

// authorizeAt checks that the caller may do action at each of scopes (403
// AuthorizationFailed naming the first it may not).
func (pr *Provider) authorizeAt(r *arm.Request, action string, scopes []string) error {
	if pr.p.Authorize == nil {
		return nil
	}
	for _, sc := range scopes {
		if err := pr.p.Authorize(r.HTTP.Context(), r.Caller().ObjectID, action, sc); err != nil {
			return err
		}
	}
	return nil
}

func (pr *Provider) deleteRole(r *arm.Request) (*arm.Response, error) {
	guid := r.Param("roleDefinitionId")
	d, ok := pr.Authz.Role(guid)
	if !ok {
		return arm.NoContent(), nil
	}
	if d.RoleType == "BuiltInRole" {
		return nil, arm.BadRequest("RoleDefinitionUpdateNotPermitted", "The built-in role '%s' cannot be deleted.", d.RoleName)
	}
	// As its writes, a custom role's delete is authorized at every
	// assignable scope, before its assignments are looked at.
	if err := pr.authorizeAt(r, "Microsoft.Authorization/roleDefinitions/delete", d.AssignableScopes); err != nil {
		return nil, err
	}
	inUse := arm.BadRequest("RoleDefinitionHasAssignments", "There are existing role assignments referencing role '%s'; delete them first.", d.RoleName)
	if pr.Authz.RoleInUse(guid) {
		return nil, inUse
	}
	// Again from the store in the delete's transaction: the scopes the
	// role has there (an update widened them meanwhile: the caller needs
	// the delete at those too) and an assignment of the role made
	// meanwhile (the checks above read memory).
	ctx := r.HTTP.Context()
	if err := pr.Authz.DeleteRole(ctx, guid, func(rd store.Reader) error {
		if cur, err := rbac.RoleIn(ctx, rd, guid); err == nil && !slices.Equal(cur.AssignableScopes, d.AssignableScopes) {
			if err := pr.authorizeAt(r, "Microsoft.Authorization/roleDefinitions/delete", cur.AssignableScopes); err != nil {
				return err
			}
		} else if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		xs, err := rbac.AssignmentsIn(ctx, rd, "", "")
		if err != nil {
			return err
		}
		for _, x := range xs {
			if strings.EqualFold(x.RoleGUID(), guid) {
				return inUse
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	return arm.OK(toRole(scopeOf(r), d)), nil
}

// Service principals (admin API).

type spBody struct {
	ObjectID     string `json:"objectId"`
	AppID        string `json:"appId"`
	DisplayName  string `json:"displayName"`
	TenantID     string `json:"tenantId"`
	Kind         string `json:"kind"`
	ResourceID   string `json:"resourceId,omitempty"`
	ClientSecret string `json:"clientSecret,omitempty"`
}

func (pr *Provider) requireAdmin(r *arm.Request) error {
	return pr.Authz.Check(r.HTTP.Context(), r.Caller(), "Microsoft.Authorization/roleAssignments/write", pr.AdminScope)
}

func (pr *Provider) listSPs(r *arm.Request) (*arm.Response, error) {
	if err := pr.requireAdmin(r); err != nil {
		return nil, err
	}
	ps, err := pr.p.Dir.List(r.HTTP.Context(), "")
	if err != nil {
		return nil, err
	}
	out := make([]spBody, 0, len(ps))
	for _, p := range ps {
		out = append(out, spBody{ObjectID: p.ObjectID, AppID: p.AppID, DisplayName: p.DisplayName, TenantID: p.TenantID, Kind: p.Kind, ResourceID: p.ResourceID})
	}
	return arm.OK(arm.Values(out)), nil
}

func (pr *Provider) getSP(r *arm.Request) (*arm.Response, error) {
	if err := pr.requireAdmin(r); err != nil {
		return nil, err
	}
	p, err := pr.p.Dir.Get(r.HTTP.Context(), r.Param("objectId"))
	if err != nil {
		return nil, arm.Errorf(http.StatusNotFound, "PrincipalNotFound", "Principal '%s' does not exist.", r.Param("objectId"))
	}
	return arm.OK(spBody{ObjectID: p.ObjectID, AppID: p.AppID, DisplayName: p.DisplayName, TenantID: p.TenantID, Kind: p.Kind, ResourceID: p.ResourceID}), nil
}

func (pr *Provider) createSP(r *arm.Request) (*arm.Response, error) {
	if err := pr.requireAdmin(r); err != nil {
		return nil, err
	}
	var body struct {
		DisplayName string `json:"displayName"`
	}
	if err := r.DecodeOptional(&body); err != nil {
		return nil, err
	}
	if body.DisplayName == "" {
		body.DisplayName = "safehold-sp-" + uuid.NewString()[:8]
	}
	ctx := r.HTTP.Context()
	var p *identity.Principal
	var secret string
	err := pr.p.Store.Update(ctx, func(tx store.Tx) error {
		var err error
		p, secret, err = pr.p.Dir.CreateServicePrincipal(ctx, tx, body.DisplayName)
		return err
	})
	if err != nil {
		return nil, err
	}
	return arm.Created(spBody{ObjectID: p.ObjectID, AppID: p.AppID, DisplayName: p.DisplayName, TenantID: p.TenantID, Kind: p.Kind, ClientSecret: secret}), nil
}

func (pr *Provider) deleteSP(r *arm.Request) (*arm.Response, error) {
	if err := pr.requireAdmin(r); err != nil {
		return nil, err
	}
	ctx := r.HTTP.Context()
	id := r.Param("objectId")
	if strings.EqualFold(id, r.Caller().ObjectID) {
		return nil, arm.BadRequest("CannotDeleteSelf", "A principal cannot delete itself.")
	}
	// Its assignments go in the same transaction: none outlives it (a
	// failure between two writes left them, and the DELETE again found
	// the principal gone and answered 204 without them).
	assigned := false
	err := pr.p.Store.Update(ctx, func(tx store.Tx) error {
		if err := pr.p.Dir.Delete(ctx, tx, id); err != nil {
			return err
		}
		var err error
		assigned, err = rbac.DeleteAssignmentsIn(ctx, tx, "", id)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return arm.NoContent(), nil
	}
	if err != nil {
		return nil, err
	}
	if assigned {
		if err := pr.Authz.Reload(ctx); err != nil {
			return nil, err
		}
	}
	if pr.Forget != nil {
		pr.Forget()
	}
	return arm.OK(nil), nil
}
