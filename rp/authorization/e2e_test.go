package authorization_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/authorization/armauthorization/v2"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v6"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/identity"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/rbac"
	"github.com/safehold/safehold/server"
)

type sp struct {
	ObjectID     string `json:"objectId"`
	AppID        string `json:"appId"`
	ClientSecret string `json:"clientSecret"`
}

func newSP(t *testing.T, e *testserver.Env, name string) sp {
	t.Helper()
	resp, m := e.Do("POST", "/providers/Safehold.Identity/servicePrincipals?api-version=2024-01-01", map[string]string{"displayName": name})
	if resp.StatusCode != 201 {
		t.Fatalf("create sp: %d %v", resp.StatusCode, m)
	}
	b, _ := json.Marshal(m)
	var s sp
	json.Unmarshal(b, &s)
	return s
}

func TestRBACWithSDK(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	sub := "/subscriptions/" + e.Sub
	ra, err := armauthorization.NewRoleAssignmentsClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	e.ResourceGroups("team-a", "team-b")

	// Built-in roles are served under their real ids.
	rd, _ := armauthorization.NewRoleDefinitionsClient(e.Cred, e.Opts)
	got, err := rd.Get(ctx, sub, rbac.DiskBackupReader, nil)
	if err != nil || *got.Properties.RoleName != "Disk Backup Reader" || *got.Properties.RoleType != "BuiltInRole" {
		t.Fatalf("role definition: %v %+v", err, got)
	}
	n := testserver.Count(t, ctx, rd.NewListPager(sub, &armauthorization.RoleDefinitionsClientListOptions{Filter: to.Ptr("roleName eq 'Backup Contributor'")}))
	if n != 1 {
		t.Fatalf("roleName filter: %d roles", n)
	}

	// A Reader can GET but not PUT.
	readerID, readerCred := fixture.Principal(t, e, "reader")
	readerRGs, _ := armresources.NewResourceGroupsClient(e.Sub, readerCred, e.Opts)
	if _, err := readerRGs.Get(ctx, "team-a", nil); err == nil {
		t.Fatal("principal without roles could read")
	} else if st, c := testserver.ErrorOf(err); st != 403 || c != "AuthorizationFailed" {
		t.Fatalf("no role: %d %s", st, c)
	}
	fixture.Assign(t, e, sub, rbac.Reader, readerID)
	if _, err := readerRGs.Get(ctx, "team-a", nil); err != nil {
		t.Fatalf("Reader GET: %v", err)
	}
	_, err = readerRGs.CreateOrUpdate(ctx, "reader-made", armresources.ResourceGroup{Location: to.Ptr("westus")}, nil)
	st, c := testserver.ErrorOf(err)
	if st != 403 || c != "AuthorizationFailed" || !strings.Contains(strings.ToLower(err.Error()), strings.ToLower("does not have authorization to perform action 'Microsoft.Resources/subscriptions/resourceGroups/write' over scope '/subscriptions/"+e.Sub+"/resourceGroups/reader-made'")) {
		t.Fatalf("Reader PUT: %v", err)
	}

	// Contributor on one resource group: writes there, nowhere else; deleting the assignment takes it away.
	contribID, cCred := fixture.Principal(t, e, "contrib")
	cRGs, _ := armresources.NewResourceGroupsClient(e.Sub, cCred, e.Opts)
	name := fixture.Assign(t, e, sub+"/resourceGroups/team-a", rbac.Contributor, contribID)
	if _, err := cRGs.CreateOrUpdate(ctx, "team-a", armresources.ResourceGroup{Location: to.Ptr("westus"), Tags: map[string]*string{"owner": to.Ptr("a")}}, nil); err != nil {
		t.Fatalf("Contributor write in its group: %v", err)
	}
	if _, err := cRGs.CreateOrUpdate(ctx, "team-b", armresources.ResourceGroup{Location: to.Ptr("westus")}, nil); err == nil {
		t.Fatal("Contributor wrote outside its group")
	} else if st, _ := testserver.ErrorOf(err); st != 403 {
		t.Fatalf("outside group: %v", err)
	}
	// Contributor cannot grant roles (notActions Microsoft.Authorization/*/Write).
	craClient, _ := armauthorization.NewRoleAssignmentsClient(e.Sub, cCred, e.Opts)
	_, err = craClient.Create(ctx, sub+"/resourceGroups/team-a", uuid.NewString(), armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
		RoleDefinitionID: to.Ptr(sub + "/providers/Microsoft.Authorization/roleDefinitions/" + rbac.Owner), PrincipalID: to.Ptr(contribID)}}, nil)
	if st, _ := testserver.ErrorOf(err); st != 403 {
		t.Fatalf("Contributor granting Owner: %v", err)
	}
	// Listing with a principal filter finds the assignment.
	found := false
	for page := range fixture.Pages(t, ra.NewListForScopePager(sub, &armauthorization.RoleAssignmentsClientListForScopeOptions{Filter: to.Ptr("principalId eq '" + contribID + "'")})) {
		for _, x := range page.Value {
			if *x.Name == name && *x.Properties.PrincipalID == contribID {
				found = true
			} else if *x.Properties.PrincipalID != contribID {
				t.Fatalf("filter leaked %s", *x.Properties.PrincipalID)
			}
		}
	}
	if !found {
		t.Fatal("assignment not listed")
	}
	if _, err := ra.Delete(ctx, sub+"/resourceGroups/team-a", name, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := cRGs.Get(ctx, "team-a", nil); err == nil {
		t.Fatal("right survived deleting the assignment")
	}

	// Bad input.
	_, err = ra.Create(ctx, sub, "not-a-guid", armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
		RoleDefinitionID: to.Ptr(sub + "/providers/Microsoft.Authorization/roleDefinitions/" + rbac.Reader), PrincipalID: to.Ptr(readerID)}}, nil)
	if st, c := testserver.ErrorOf(err); st != 400 || c != "InvalidRoleAssignmentId" {
		t.Fatalf("bad name: %v", err)
	}
	_, err = ra.Create(ctx, sub, uuid.NewString(), armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
		RoleDefinitionID: to.Ptr(sub + "/providers/Microsoft.Authorization/roleDefinitions/" + uuid.NewString()), PrincipalID: to.Ptr(readerID)}}, nil)
	if st, c := testserver.ErrorOf(err); st != 400 || c != "RoleDefinitionDoesNotExist" {
		t.Fatalf("unknown role: %v", err)
	}
	_, err = ra.Create(ctx, sub, uuid.NewString(), armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
		RoleDefinitionID: to.Ptr(sub + "/providers/Microsoft.Authorization/roleDefinitions/" + rbac.Reader), PrincipalID: to.Ptr(uuid.NewString())}}, nil)
	if st, c := testserver.ErrorOf(err); st != 400 || c != "PrincipalNotFound" {
		t.Fatalf("unknown principal: %v", err)
	}
	// A principal id that is no GUID is no principal's: 400
	// InvalidPrincipalId, as Azure answers (it was PrincipalNotFound).
	_, err = ra.Create(ctx, sub, uuid.NewString(), armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
		RoleDefinitionID: to.Ptr(sub + "/providers/Microsoft.Authorization/roleDefinitions/" + rbac.Reader), PrincipalID: to.Ptr("User")}}, nil)
	if st, c := testserver.ErrorOf(err); st != 400 || c != "InvalidPrincipalId" || !strings.Contains(err.Error(), "'User'") {
		t.Fatalf("a principal id that is no GUID: %v", err)
	}
	_, err = ra.Create(ctx, sub, uuid.NewString(), armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
		RoleDefinitionID: to.Ptr(sub + "/providers/Microsoft.Authorization/roleDefinitions/" + rbac.Reader), PrincipalID: to.Ptr(readerID)}}, nil)
	if st, c := testserver.ErrorOf(err); st != 409 || c != "RoleAssignmentExists" {
		t.Fatalf("duplicate: %v", err)
	}

	// Custom role: only what it lists.
	customID := uuid.NewString()
	_, err = rd.CreateOrUpdate(ctx, sub, customID, armauthorization.RoleDefinition{Properties: &armauthorization.RoleDefinitionProperties{
		RoleName: to.Ptr("Group reader"), AssignableScopes: []*string{to.Ptr(sub)},
		Permissions: []*armauthorization.Permission{{Actions: []*string{to.Ptr("Microsoft.Resources/subscriptions/resourceGroups/read")}}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	customSP, customCred := fixture.Principal(t, e, "custom")
	fixture.Assign(t, e, sub, customID, customSP)
	customRGs, _ := armresources.NewResourceGroupsClient(e.Sub, customCred, e.Opts)
	if _, err := customRGs.Get(ctx, "team-b", nil); err != nil {
		t.Fatalf("custom role read: %v", err)
	}
	if _, err := customRGs.CreateOrUpdate(ctx, "team-b", armresources.ResourceGroup{Location: to.Ptr("westus")}, nil); err == nil {
		t.Fatal("custom role could write")
	}
	if _, err := rd.Delete(ctx, sub, customID, nil); err == nil {
		t.Fatal("deleted a role that is in use")
	}
}

func TestTokensAreChecked(t *testing.T) {
	e := testserver.Start(t)
	path := "/subscriptions/" + e.Sub + "/resourcegroups?api-version=2021-04-01"
	if resp, m := e.Do("GET", path, nil, testserver.Bearer("")); resp.StatusCode != 401 || testserver.ErrorCode(m) != "AuthenticationFailed" {
		t.Fatalf("no token: %d %v", resp.StatusCode, m)
	}
	good := e.Token(e.Cred)
	if resp, _ := e.Do("GET", path, nil, testserver.Bearer(good)); resp.StatusCode != 200 {
		t.Fatalf("good token: %d", resp.StatusCode)
	}
	// Forged: right claims, another key.
	parser := jwt.NewParser()
	var claims jwt.MapClaims
	if _, _, err := parser.ParseUnverified(good, &claims); err != nil {
		t.Fatal(err)
	}
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	forged, _ := jwt.NewWithClaims(jwt.SigningMethodRS256, claims).SignedString(other)
	if resp, m := e.Do("GET", path, nil, testserver.Bearer(forged)); resp.StatusCode != 401 || testserver.ErrorCode(m) != "InvalidAuthenticationToken" {
		t.Fatalf("forged: %d %v", resp.StatusCode, m)
	}
	// Tampered payload with the original signature.
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + strings.TrimRight(parts[1], "A") + "B." + parts[2]
	if resp, _ := e.Do("GET", path, nil, testserver.Bearer(tampered)); resp.StatusCode != 401 {
		t.Fatalf("tampered: %d", resp.StatusCode)
	}
	// Expired and wrong-audience tokens signed with the server's own key.
	p, err := e.Server.Platform.Dir.Get(context.Background(), e.Server.Bootstrap.AdminObjectID)
	if err != nil {
		t.Fatal(err)
	}
	past := &identity.Issuer{Dir: e.Server.Issuer.Dir, TenantID: e.Server.Issuer.TenantID, Clock: fixedClock(time.Now().Add(-2 * time.Hour))}
	if err := past.LoadOrCreateKey(context.Background(), e.Server.Store); err != nil {
		t.Fatal(err)
	}
	expired, _, err := past.Issue(p, e.Conn.ARMEndpoint, e.Conn.ARMEndpoint)
	if err != nil {
		t.Fatal(err)
	}
	if resp, m := e.Do("GET", path, nil, testserver.Bearer(expired)); resp.StatusCode != 401 || testserver.ErrorCode(m) != "ExpiredAuthenticationToken" {
		t.Fatalf("expired: %d %v", resp.StatusCode, m)
	}
	wrongAud, _, _ := e.Server.Issuer.Issue(p, "https://vault.azure.net", e.Conn.ARMEndpoint)
	if resp, m := e.Do("GET", path, nil, testserver.Bearer(wrongAud)); resp.StatusCode != 401 || testserver.ErrorCode(m) != "InvalidAuthenticationTokenAudience" {
		t.Fatalf("wrong audience: %d %v", resp.StatusCode, m)
	}
}

type fixedClock time.Time

func (f fixedClock) Now() time.Time { return time.Time(f) }

// An assignment takes effect once the propagation delay has passed on the
// server's clock: a test's own, which stands still until the test moves it
// (on real time, a request slower than the delay on a loaded machine would
// see the assignment in effect already).
func TestPropagationDelay(t *testing.T) {
	fake := clock.NewFake(time.Now())
	e := testserver.Start(t, testserver.WithClock(fake), func(c *server.Config) { c.RBACDelay = 2 * time.Second })
	ctx := e.Ctx()
	e.ResourceGroups("slow-rg")
	readerID, cred := fixture.Principal(t, e, "slow")
	rgs, _ := armresources.NewResourceGroupsClient(e.Sub, cred, e.Opts)
	fixture.Assign(t, e, "/subscriptions/"+e.Sub, rbac.Reader, readerID)
	if _, err := rgs.Get(ctx, "slow-rg", nil); err == nil {
		t.Fatal("assignment effective before the propagation delay")
	}
	e.MoveClock(fake, fake.Now().Add(time.Second))
	if _, err := rgs.Get(ctx, "slow-rg", nil); err == nil {
		t.Fatal("assignment effective a second into a propagation delay of two")
	}
	e.MoveClock(fake, fake.Now().Add(time.Second))
	e.WaitFor("the assignment to take effect", func() bool {
		_, err := rgs.Get(ctx, "slow-rg", nil)
		return err == nil
	})
}

// A principal whose role covers one resource group lists just that group,
// and can poll the long-running operations it starts there.
func TestScopedPrincipalListsAndPolls(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	adminRGs, _ := armresources.NewResourceGroupsClient(e.Sub, e.Cred, e.Opts)
	for _, g := range []string{"mine", "theirs"} {
		if _, err := adminRGs.CreateOrUpdate(ctx, g, armresources.ResourceGroup{Location: to.Ptr("westus"), Tags: map[string]*string{"team": to.Ptr(g)}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	sID, cred := fixture.Principal(t, e, "scoped")
	fixture.Assign(t, e, "/subscriptions/"+e.Sub+"/resourceGroups/mine", rbac.Owner, sID)
	rgs, _ := armresources.NewResourceGroupsClient(e.Sub, cred, e.Opts)
	var names []string
	for page := range fixture.Pages(t, rgs.NewListPager(nil)) {
		for _, g := range page.Value {
			names = append(names, *g.Name)
		}
	}
	if len(names) != 1 || names[0] != "mine" {
		t.Fatalf("scoped list: %v", names)
	}
	// A subscription-wide list shows a scoped principal only what it may read.
	adminDisks, _ := armcompute.NewDisksClient(e.Sub, e.Cred, e.Opts)
	for _, g := range []string{"mine", "theirs"} {
		if _, err := fixture.Wait(adminDisks.BeginCreateOrUpdate(ctx, g, "disk-"+g, fixture.EmptyDisk("westus", 1), nil)); err != nil {
			t.Fatal(err)
		}
	}
	disks, _ := armcompute.NewDisksClient(e.Sub, cred, e.Opts)
	var diskNames []string
	for pg := disks.NewListPager(nil); pg.More(); {
		page, err := pg.NextPage(ctx)
		if err != nil {
			t.Fatalf("scoped disk list: %v", err)
		}
		for _, d := range page.Value {
			diskNames = append(diskNames, *d.Name)
		}
	}
	if len(diskNames) != 1 || diskNames[0] != "disk-mine" {
		t.Fatalf("scoped disk list: %v", diskNames)
	}
	// Tag filter (admin).
	page, err := adminRGs.NewListPager(&armresources.ResourceGroupsClientListOptions{Filter: to.Ptr("tagName eq 'team' and tagValue eq 'theirs'")}).NextPage(ctx)
	if err != nil || len(page.Value) != 1 || *page.Value[0].Name != "theirs" {
		t.Fatalf("tag filter: %v %v", err, page.Value)
	}
	// The scoped owner deletes its group through the poller: the operation URL is pollable.
	if _, err := fixture.Wait(rgs.BeginDelete(ctx, "mine", nil)); err != nil {
		t.Fatalf("delete and poll as scoped principal: %v", err)
	}
	// Deleting a group that does not exist is 404, which the SDK reports as an error with that code.
	_, err = adminRGs.BeginDelete(ctx, "never-was", nil)
	if st, c := testserver.ErrorOf(err); st != 404 || c != "ResourceGroupNotFound" {
		t.Fatalf("delete absent group: %v", err)
	}
	_, err = adminRGs.CreateOrUpdate(ctx, "mars-rg", armresources.ResourceGroup{Location: to.Ptr("mars")}, nil)
	if st, c := testserver.ErrorOf(err); st != 400 || c != "LocationNotAvailableForResourceGroup" {
		t.Fatalf("unknown location: %v", err)
	}
}

// TestListNeedsAGrant: as in ARM, a collection the caller may not read as a
// whole lists the items it may read only to a caller holding the action
// somewhere below it; a caller with no grant there is denied (403
// AuthorizationFailed), not shown an empty list that hides the missing
// role (and tells whether the vault exists).
func TestListNeedsAGrant(t *testing.T) {
	e := testserver.Start(t)
	e.ResourceGroups("vaultrg", "disks")
	fixture.RSVault(t, e, "vaultrg", "rv", fixture.StandardVault())
	outsider, cred := fixture.Principal(t, e, "outsider")
	as := testserver.As(cred)

	V := "/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/rv"
	jobs := V + "/backupJobs?api-version=2023-04-01"
	lists := []string{jobs,
		V + "/backupPolicies?api-version=2023-04-01",
		V + "/backupProtectedItems?api-version=2023-04-01",
		"/subscriptions/" + e.Sub + "/providers/Microsoft.RecoveryServices/vaults?api-version=2023-04-01",
		"/subscriptions/" + e.Sub + "/providers/Microsoft.Compute/disks?api-version=2024-03-02",
		"/subscriptions/" + e.Sub + "/resourceGroups/vaultrg/providers/Microsoft.RecoveryServices/vaults/nosuch/backupJobs?api-version=2023-04-01",
	}
	for _, u := range lists {
		resp, m := e.Do("GET", u, nil, as)
		if resp.StatusCode != 403 || testserver.ErrorCode(m) != "AuthorizationFailed" {
			t.Errorf("GET %s without a role: %d %v, want 403 AuthorizationFailed", u, resp.StatusCode, m)
		}
	}

	// A role below the subscription: the subscription-wide vault list
	// shows what it covers; the vault's jobs, which it does not cover,
	// stay denied.
	fixture.Assign(t, e, "/subscriptions/"+e.Sub+"/resourceGroups/disks", rbac.Reader, outsider)
	resp, m := e.Do("GET", lists[3], nil, as)
	if resp.StatusCode != 200 || testserver.Field(m, "value") == nil || len(testserver.Field(m, "value").([]any)) != 0 {
		t.Fatalf("vault list with a Reader role on another group: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.Do("GET", jobs, nil, as); resp.StatusCode != 403 {
		t.Fatalf("jobs of a vault the role does not cover: %d %v", resp.StatusCode, m)
	}
	// A role on the vault's group: the vault is listed, its jobs readable.
	fixture.Assign(t, e, "/subscriptions/"+e.Sub+"/resourceGroups/vaultrg", rbac.BackupReader, outsider)
	resp, m = e.Do("GET", lists[3], nil, as)
	if v, _ := testserver.Field(m, "value").([]any); resp.StatusCode != 200 || len(v) != 1 {
		t.Fatalf("vault list with Backup Reader on its group: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.Do("GET", jobs, nil, as); resp.StatusCode != 200 {
		t.Fatalf("jobs with Backup Reader: %d %v", resp.StatusCode, m)
	}
}

func TestServicePrincipalAdminAPI(t *testing.T) {
	e := testserver.Start(t)
	s := newSP(t, e, "temp")
	cred, _ := e.Conn.CredentialFor(s.AppID, s.ClientSecret)
	tok := e.Token(cred)
	// A plain service principal cannot manage principals.
	if resp, m := e.Do("POST", "/providers/Safehold.Identity/servicePrincipals?api-version=2024-01-01", map[string]string{}, testserver.Bearer(tok)); resp.StatusCode != 403 {
		t.Fatalf("non-admin create: %d %v", resp.StatusCode, m)
	}
	admin := e.Token(e.Cred)
	resp, m := e.Do("GET", "/providers/Safehold.Identity/servicePrincipals?api-version=2024-01-01", nil, testserver.Bearer(admin))
	if resp.StatusCode != 200 || len(m["value"].([]any)) < 2 {
		t.Fatalf("list: %d %v", resp.StatusCode, m)
	}
	if resp, _ := e.Do("DELETE", "/providers/Safehold.Identity/servicePrincipals/"+s.ObjectID+"?api-version=2024-01-01", nil, testserver.Bearer(admin)); resp.StatusCode != 200 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	// Its token no longer works, and it can't get a new one.
	if resp, _ := e.Do("GET", "/subscriptions?api-version=2021-04-01", nil, testserver.Bearer(tok)); resp.StatusCode != 401 {
		t.Fatalf("deleted principal's token: %d", resp.StatusCode)
	}
	cred2, _ := e.Conn.CredentialFor(s.AppID, s.ClientSecret)
	if _, err := cred2.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{e.Conn.ARMEndpoint + "/.default"}}); err == nil {
		t.Fatal("deleted principal got a token")
	}
}

// TestPermissionsAndDenyAssignments: a caller lists their own permissions
// at a resource group (no role needed to ask): one entry per role they hold
// there or above, with the role's actions; a group that does not exist is
// 404. Deny assignments, which Safehold does not have, list empty to a
// reader and a named one is 404; a caller without a role may not list them.
func TestPermissionsAndDenyAssignments(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	sub := "/subscriptions/" + e.Sub
	e.ResourceGroups("team-a", "team-b")
	id, cred := fixture.Principal(t, e, "asker")
	perms, err := armauthorization.NewPermissionsClient(e.Sub, cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	list := func(rg string) []*armauthorization.Permission {
		t.Helper()
		var out []*armauthorization.Permission
		pager := perms.NewListForResourceGroupPager(rg, nil)
		for pager.More() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				t.Fatalf("permissions at %s: %v", rg, err)
			}
			out = append(out, page.Value...)
		}
		return out
	}
	if p := list("team-a"); len(p) != 0 {
		t.Fatalf("permissions without a role: %+v", p)
	}
	fixture.Assign(t, e, sub, rbac.Reader, id)
	fixture.Assign(t, e, sub+"/resourceGroups/team-a", rbac.BackupContributor, id)
	actions := func(p []*armauthorization.Permission) []string {
		var out []string
		for _, x := range p {
			for _, a := range x.Actions {
				out = append(out, *a)
			}
		}
		return out
	}
	a := actions(list("team-a"))
	if len(list("team-a")) != 2 || !slices.Contains(a, "*/read") || !slices.Contains(a, "Microsoft.RecoveryServices/*") {
		t.Fatalf("permissions at team-a: %v", a)
	}
	var not []string
	for _, x := range list("team-a") {
		for _, a := range x.NotActions {
			not = append(not, *a)
		}
	}
	if !slices.Contains(not, "Microsoft.RecoveryServices/Vaults/delete") {
		t.Fatalf("notActions at team-a: %v", not)
	}
	if b := actions(list("team-b")); len(b) != 1 || b[0] != "*/read" {
		t.Fatalf("permissions at team-b: %v", b)
	}
	pager := perms.NewListForResourceGroupPager("nowhere", nil)
	if _, err := pager.NextPage(ctx); !testserver.HasError(err, 404, "ResourceGroupNotFound") {
		t.Fatalf("permissions at a missing group: %v", err)
	}

	for _, c := range []struct {
		who  string
		cred azcore.TokenCredential
		code int
	}{{"a reader", cred, 200}, {"a caller without a role", nil, 403}} {
		cr := c.cred
		if cr == nil {
			_, cr = fixture.Principal(t, e, "nobody")
		}
		da, _ := armauthorization.NewDenyAssignmentsClient(e.Sub, cr, e.Opts)
		page, err := da.NewListForResourceGroupPager("team-a", nil).NextPage(ctx)
		if c.code == 200 && (err != nil || len(page.Value) != 0) || c.code != 200 && !testserver.HasError(err, c.code, "AuthorizationFailed") {
			t.Fatalf("%s lists deny assignments: %v %+v", c.who, err, page)
		}
	}
	da, _ := armauthorization.NewDenyAssignmentsClient(e.Sub, cred, e.Opts)
	if _, err := da.Get(ctx, sub+"/resourceGroups/team-a", uuid.NewString(), nil); !testserver.HasError(err, 404, "DenyAssignmentNotFound") {
		t.Fatalf("a named deny assignment: %v", err)
	}
}

// A role with no notActions answers them as an empty list, as Azure does
// (clients iterate or compare it; null is not what Azure sends), in its
// definition and in the caller's permissions.
func TestNoNotActionsIsAnEmptyList(t *testing.T) {
	e := testserver.Start(t)
	sub := "/subscriptions/" + e.Sub
	for _, path := range []string{
		sub + "/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7?api-version=2022-04-01", // Reader
		sub + "/resourceGroups/rg1/providers/Microsoft.Authorization/permissions?api-version=2022-04-01",
	} {
		if strings.Contains(path, "/resourceGroups/") {
			e.ResourceGroups("rg1")
		}
		resp, m := e.Do("GET", path, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %v", path, resp.StatusCode, m)
		}
		b, _ := json.Marshal(m)
		if strings.Contains(string(b), `"notActions":null`) || !strings.Contains(string(b), `"notActions":`) {
			t.Fatalf("GET %s: notActions not a list: %s", path, b)
		}
	}
}

// TestCustomRoleAssignableOnlyAtItsScopes: a custom role is assignable at
// its assignableScopes and below them, as in Azure; an assignment anywhere
// else (another group, the subscription above) is 400
// RoleAssignmentScopeNotAssignableToRoleDefinition and stores nothing, so
// the principal gets no access there. Before, a User Access Administrator
// of another group could assign it there.
func TestCustomRoleAssignableOnlyAtItsScopes(t *testing.T) {
	e := testserver.StartWithGroups(t, "team-a", "team-b")
	ctx := e.Ctx()
	sub := "/subscriptions/" + e.Sub
	teamA, teamB := sub+"/resourceGroups/team-a", sub+"/resourceGroups/team-b"
	rd, _ := armauthorization.NewRoleDefinitionsClient(e.Cred, e.Opts)
	role := uuid.NewString()
	if _, err := rd.CreateOrUpdate(ctx, teamA, role, armauthorization.RoleDefinition{Properties: &armauthorization.RoleDefinitionProperties{
		RoleName: to.Ptr("team-a all"), AssignableScopes: []*string{to.Ptr(teamA)},
		Permissions: []*armauthorization.Permission{{Actions: []*string{to.Ptr("*")}}}}}, nil); err != nil {
		t.Fatal(err)
	}
	// The assigner may assign roles in team-b (User Access Administrator there).
	adminID, adminCred := fixture.Principal(t, e, "team-b access admin")
	fixture.Assign(t, e, teamB, rbac.UserAccessAdministrator, adminID)
	userID, userCred := fixture.Principal(t, e, "user")
	ra, _ := armauthorization.NewRoleAssignmentsClient(e.Sub, adminCred, e.Opts)
	for _, scope := range []string{teamB, sub} {
		_, err := ra.Create(ctx, scope, uuid.NewString(), armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
			RoleDefinitionID: to.Ptr(sub + "/providers/Microsoft.Authorization/roleDefinitions/" + role), PrincipalID: to.Ptr(userID)}}, nil)
		if scope == sub {
			// The subscription is also outside the assigner's reach: ARM's
			// authorization answers first.
			if st, c := testserver.ErrorOf(err); st != 403 || c != "AuthorizationFailed" {
				t.Fatalf("assigning at the subscription as team-b's admin: %v", err)
			}
			ra, _ = armauthorization.NewRoleAssignmentsClient(e.Sub, e.Cred, e.Opts) // the subscription's Owner
			_, err = ra.Create(ctx, scope, uuid.NewString(), armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
				RoleDefinitionID: to.Ptr(sub + "/providers/Microsoft.Authorization/roleDefinitions/" + role), PrincipalID: to.Ptr(userID)}}, nil)
		}
		var re *azcore.ResponseError
		if st, c := testserver.ErrorOf(err); st != 400 || c != "RoleAssignmentScopeNotAssignableToRoleDefinition" {
			t.Fatalf("assigning the team-a role at %s: %v", scope, err)
		} else if errors.As(err, &re) && !strings.Contains(re.Error(), teamA) {
			t.Fatalf("the error does not name the role's assignable scope: %v", err)
		}
	}
	rgs, _ := armresources.NewResourceGroupsClient(e.Sub, userCred, e.Opts)
	if _, err := rgs.Get(ctx, "team-b", nil); err == nil {
		t.Fatal("the refused assignment gave access to team-b")
	}
	n := testserver.Count(t, ctx, ra.NewListForScopePager(sub, &armauthorization.RoleAssignmentsClientListForScopeOptions{Filter: to.Ptr("principalId eq '" + userID + "'")}))
	if n != 0 {
		t.Fatalf("%d assignments stored for the user", n)
	}
	// At its scope (and below it) the role is assignable.
	fixture.Assign(t, e, teamA, role, userID)
	if _, err := rgs.Get(ctx, "team-a", nil); err != nil {
		t.Fatalf("the role at team-a: %v", err)
	}
}

// TestGUIDForms: a role assignment's or a custom role's name is a GUID
// written dashed, in either case; in braces, undashed or as a URN it is
// 400 (InvalidRoleAssignmentId, InvalidRoleDefinitionId) naming the form,
// as it would name the GUID's resource a second time under another key
// (an assignment PUT as '{guid}' and as 'guid' were two). A principal id
// is taken in any GUID form, as Azure takes it, and answered dashed: an
// undashed one was looked up as given and answered PrincipalNotFound.
func TestGUIDForms(t *testing.T) {
	e, ctx, sub, rd := roleServer(t)
	ra, err := armauthorization.NewRoleAssignmentsClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	principal, _ := fixture.Principal(t, e, "p")
	assign := func(name, principal string) (armauthorization.RoleAssignmentsClientCreateResponse, error) {
		return ra.Create(ctx, sub, name, armauthorization.RoleAssignmentCreateParameters{Properties: &armauthorization.RoleAssignmentProperties{
			RoleDefinitionID: to.Ptr(sub + "/providers/Microsoft.Authorization/roleDefinitions/" + rbac.Reader), PrincipalID: to.Ptr(principal)}}, nil)
	}
	g := uuid.New()
	for _, name := range []string{"{" + g.String() + "}", strings.ReplaceAll(g.String(), "-", ""), "urn:uuid:" + g.String()} {
		if _, err := assign(name, principal); !testserver.HasError(err, 400, "InvalidRoleAssignmentId") || !strings.Contains(err.Error(), "xxxxxxxx-xxxx") {
			t.Fatalf("an assignment named %s: %v", name, err)
		}
		if _, err := rd.CreateOrUpdate(ctx, sub, name, readRole("readers "+name), nil); !testserver.HasError(err, 400, "InvalidRoleDefinitionId") {
			t.Fatalf("a role named %s: %v", name, err)
		}
	}
	// The principal undashed, the name upper case: one assignment, the
	// principal answered dashed.
	got, err := assign(strings.ToUpper(g.String()), strings.ReplaceAll(strings.ToUpper(principal), "-", ""))
	if err != nil {
		t.Fatalf("an assignment with the principal id undashed: %v", err)
	}
	if !strings.EqualFold(*got.Properties.PrincipalID, principal) {
		t.Fatalf("principalId answered %s, want %s", *got.Properties.PrincipalID, principal)
	}
	n := 0
	for pager := ra.NewListForScopePager(sub, &armauthorization.RoleAssignmentsClientListForScopeOptions{
		Filter: to.Ptr("principalId eq '{" + principal + "}'")}); pager.More(); {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n += len(page.Value)
	}
	if n != 1 {
		t.Fatalf("assignments listed for the principal's id in braces: %d, want 1", n)
	}
}

// TestRoleDefinitionsNeedRead: role definitions are read at a scope with
// Microsoft.Authorization/roleDefinitions/read there, as Azure's reference
// of Role Definitions - List and Get says (Reader's */read grants it): a
// caller with no role was answered every built-in and custom role of any
// subscription or group, and the tenant's list (no scope), which still
// shows everyone the built-in roles, named every custom role of the
// tenant; it now shows a custom role only to a caller who may read roles
// at one of the role's assignable scopes.
func TestRoleDefinitionsNeedRead(t *testing.T) {
	e := testserver.StartWithGroups(t, "team-a", "team-b")
	sub := "/subscriptions/" + e.Sub
	teamA := sub + "/resourceGroups/team-a"
	role := uuid.NewString()
	const v = "?api-version=2022-04-01"
	if resp, m := e.Do("PUT", teamA+"/providers/Microsoft.Authorization/roleDefinitions/"+role+v, map[string]any{"properties": map[string]any{
		"roleName": "team-a secret role", "assignableScopes": []string{teamA}, "permissions": []any{map[string]any{"actions": []string{"*/read"}}}}}); resp.StatusCode != 201 {
		t.Fatalf("custom role: %d %v", resp.StatusCode, m)
	}
	outsiderID, cred := fixture.Principal(t, e, "outsider")
	as := testserver.As(cred)
	names := func(m map[string]any) string {
		var out []string
		for _, x := range m["value"].([]any) {
			out = append(out, testserver.Field(x.(map[string]any), "properties.roleName").(string))
		}
		return strings.Join(out, ",")
	}
	for _, u := range []string{sub, teamA, sub + "/resourceGroups/team-b"} {
		for _, path := range []string{"/providers/Microsoft.Authorization/roleDefinitions", "/providers/Microsoft.Authorization/roleDefinitions/" + rbac.Reader, "/providers/Microsoft.Authorization/roleDefinitions/" + role} {
			if resp, m := e.Do("GET", u+path+v, nil, as); resp.StatusCode != 403 || testserver.ErrorCode(m) != "AuthorizationFailed" {
				t.Errorf("GET %s%s without a role: %d %v, want 403 AuthorizationFailed", u, path, resp.StatusCode, m)
			}
		}
	}
	resp, m := e.Do("GET", "/providers/Microsoft.Authorization/roleDefinitions"+v, nil, as)
	if resp.StatusCode != 200 || !strings.Contains(names(m), "Reader") || strings.Contains(names(m), "team-a secret role") {
		t.Errorf("the tenant's role definitions without a role: %d %s, want the built-in roles only", resp.StatusCode, names(m))
	}
	if resp, m := e.Do("GET", "/providers/Microsoft.Authorization/roleDefinitions/"+role+v, nil, as); resp.StatusCode != 404 {
		t.Errorf("the tenant's custom role without a role: %d %v, want 404", resp.StatusCode, m)
	}

	// Reader on team-a: its roles (the custom one included) are readable
	// there, and the custom role in the tenant's list; not the subscription's.
	fixture.Assign(t, e, teamA, rbac.Reader, outsiderID)
	if resp, m := e.Do("GET", teamA+"/providers/Microsoft.Authorization/roleDefinitions"+v, nil, as); resp.StatusCode != 200 || !strings.Contains(names(m), "team-a secret role") {
		t.Errorf("team-a's role definitions as its Reader: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.Do("GET", teamA+"/providers/Microsoft.Authorization/roleDefinitions/"+rbac.Reader+v, nil, as); resp.StatusCode != 200 {
		t.Errorf("Reader's definition at team-a as its Reader: %d %v", resp.StatusCode, m)
	}
	if resp, m := e.Do("GET", "/providers/Microsoft.Authorization/roleDefinitions"+v, nil, as); resp.StatusCode != 200 || !strings.Contains(names(m), "team-a secret role") {
		t.Errorf("the tenant's role definitions as team-a's Reader: %d %s, want the custom role too", resp.StatusCode, names(m))
	}
	if resp, m := e.Do("GET", sub+"/providers/Microsoft.Authorization/roleDefinitions/"+rbac.Reader+v, nil, as); resp.StatusCode != 403 {
		t.Errorf("a role definition at the subscription as team-a's Reader: %d %v, want 403", resp.StatusCode, m)
	}
}
