package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armsubscriptions"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
)

// raw sends an HTTP request with the admin's token (token ""), another
// token, or none (token "-"), and checks the request id headers every
// answer carries. body is as for testserver.Env.Do; 5xx answers come back
// to the caller (fault rules make some on purpose).
func raw(t *testing.T, e *testserver.Env, method, path, token string, body any) (*http.Response, map[string]any) {
	t.Helper()
	opts := []testserver.RequestOption{testserver.RequestIDs(), testserver.AnyStatus()}
	switch token {
	case "":
	case "-":
		opts = append(opts, testserver.Bearer(""))
	default:
		opts = append(opts, testserver.Bearer(token))
	}
	return e.Do(method, path, body, opts...)
}

func TestFoundationEndToEnd(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()

	subs, err := armsubscriptions.NewClient(e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for page := range fixture.Pages(t, subs.NewListPager(nil)) {
		for _, s := range page.Value {
			if *s.SubscriptionID == e.Sub && *s.State == armsubscriptions.SubscriptionStateEnabled {
				found = true
			}
		}
	}
	if !found {
		t.Fatalf("default subscription %s not listed", e.Sub)
	}

	rgs, err := armresources.NewResourceGroupsClient(e.Sub, e.Cred, e.Opts)
	if err != nil {
		t.Fatal(err)
	}
	created, err := rgs.CreateOrUpdate(ctx, "MyGroup", armresources.ResourceGroup{Location: to.Ptr("westus"), Tags: map[string]*string{"env": to.Ptr("test")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if *created.Name != "MyGroup" || *created.Properties.ProvisioningState != "Succeeded" {
		t.Fatalf("created %+v", created)
	}
	got, err := rgs.Get(ctx, "mygroup", nil)
	if err != nil {
		t.Fatal(err)
	}
	if *got.Name != "MyGroup" || *got.Tags["env"] != "test" {
		t.Fatalf("get in other casing: name %q", *got.Name)
	}
	ex, err := rgs.CheckExistence(ctx, "MYGROUP", nil)
	if err != nil || !ex.Success {
		t.Fatalf("HEAD: %v %v", err, ex.Success)
	}
	_, err = rgs.CreateOrUpdate(ctx, "MyGroup", armresources.ResourceGroup{Location: to.Ptr("eastus")}, nil)
	testserver.WantError(t, "location change", err, 409, "InvalidResourceGroupLocation")
	if _, err := fixture.Wait(rgs.BeginDelete(ctx, "MyGroup", nil)); err != nil {
		t.Fatal(err)
	}
	ex, err = rgs.CheckExistence(ctx, "MyGroup", nil)
	if err != nil || ex.Success {
		t.Fatalf("after delete HEAD: %v %v", err, ex.Success)
	}
	_, err = rgs.Get(ctx, "MyGroup", nil)
	testserver.WantError(t, "get deleted", err, 404, "ResourceGroupNotFound")

	// CloudError answers.
	sub := "/subscriptions/" + e.Sub
	resp, m := raw(t, e, "GET", sub+"/resourcegroups?api-version=2021-04-01", "-", nil)
	if resp.StatusCode != 401 || testserver.ErrorCode(m) != "AuthenticationFailed" {
		t.Fatalf("no token: %d %v", resp.StatusCode, m)
	}
	resp, m = raw(t, e, "GET", sub+"/resourcegroups?api-version=2021-04-01", "not-a-jwt", nil)
	if resp.StatusCode != 401 || testserver.ErrorCode(m) != "InvalidAuthenticationToken" {
		t.Fatalf("bad token: %d %v", resp.StatusCode, m)
	}
	resp, m = raw(t, e, "GET", sub+"/resourcegroups", "", nil)
	if resp.StatusCode != 400 || testserver.ErrorCode(m) != "MissingApiVersionParameter" {
		t.Fatalf("no api-version: %d %v", resp.StatusCode, m)
	}
	resp, m = raw(t, e, "GET", sub+"/resourceGroups/x/providers/Microsoft.Nope/things/y?api-version=2021-04-01", "", nil)
	if resp.StatusCode != 400 || testserver.ErrorCode(m) != "InvalidResourceNamespace" {
		t.Fatalf("unknown provider: %d %v", resp.StatusCode, m)
	}
	resp, m = raw(t, e, "PUT", sub+"/resourcegroups/bad?api-version=2021-04-01", "", []byte(`{"location": "westus",`))
	if resp.StatusCode != 400 || testserver.ErrorCode(m) != "InvalidRequestContent" {
		t.Fatalf("malformed JSON: %d %v", resp.StatusCode, m)
	}
	resp, m = raw(t, e, "PUT", sub+"/resourcegroups/bad?api-version=2021-04-01", "", []byte(`{}`))
	if resp.StatusCode != 400 || testserver.ErrorCode(m) != "LocationRequired" {
		t.Fatalf("no location: %d %v", resp.StatusCode, m)
	}
	resp, m = raw(t, e, "POST", sub+"/resourcegroups?api-version=2021-04-01", "", nil)
	if resp.StatusCode != 405 || testserver.ErrorCode(m) == "" {
		t.Fatalf("wrong method: %d %v", resp.StatusCode, m)
	}
	resp, m = raw(t, e, "GET", sub+"/nothing/here?api-version=2021-04-01", "", nil)
	if resp.StatusCode != 404 || testserver.ErrorCode(m) == "" {
		t.Fatalf("unknown route: %d %v", resp.StatusCode, m)
	}
	resp, m = raw(t, e, "GET", sub+"/resourcegroups?api-version=2021-04-01", "", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("list: %d %v", resp.StatusCode, m)
	}
}

func TestWrongSecretGetsOAuthError(t *testing.T) {
	e := testserver.Start(t)
	cred, err := e.Conn.CredentialFor(e.Conn.ClientID, "wrong-secret")
	if err != nil {
		t.Fatal(err)
	}
	_, err = cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{e.Conn.ARMEndpoint + "/.default"}})
	var ae *azidentity.AuthenticationFailedError
	if !errors.As(err, &ae) || ae.RawResponse.StatusCode != 401 || !strings.Contains(err.Error(), "invalid_client") {
		t.Fatalf("wrong secret: %v", err)
	}
}

func TestRestartKeepsState(t *testing.T) {
	e := testserver.Start(t)
	ctx := e.Ctx()
	rgs, _ := armresources.NewResourceGroupsClient(e.Sub, e.Cred, e.Opts)
	if _, err := rgs.CreateOrUpdate(ctx, "keep", armresources.ResourceGroup{Location: to.Ptr("westus")}, nil); err != nil {
		t.Fatal(err)
	}
	ca1, _ := os.ReadFile(e.Conn.CACertFile)
	conn1 := *e.Conn
	e.Restart()
	ca2, _ := os.ReadFile(e.Conn.CACertFile)
	if !bytes.Equal(ca1, ca2) {
		t.Fatal("CA changed across restart")
	}
	if e.Conn.ClientID != conn1.ClientID || e.Conn.ClientSecret != conn1.ClientSecret || e.Conn.TenantID != conn1.TenantID || e.Conn.SubscriptionID != conn1.SubscriptionID {
		t.Fatalf("credentials changed: %+v vs %+v", e.Conn, conn1)
	}
	rgs, _ = armresources.NewResourceGroupsClient(e.Sub, e.Cred, e.Opts)
	if _, err := rgs.Get(ctx, "keep", nil); err != nil {
		t.Fatalf("group lost across restart: %v", err)
	}
}

// TestLongRunningOperationRaw shows a resource-group delete exactly as ARM
// answers it: 202 with an absolute Location on the caller's host carrying
// the api-version and an integer Retry-After; the Location answers 202 while
// running and 200 when done.
func TestLongRunningOperationRaw(t *testing.T) {
	e := testserver.Start(t)
	sub := "/subscriptions/" + e.Sub
	resp, m := raw(t, e, "PUT", sub+"/resourcegroups/lro?api-version=2021-04-01", "", []byte(`{"location":"westus"}`))
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d %v", resp.StatusCode, m)
	}
	resp, _ = raw(t, e, "DELETE", sub+"/resourcegroups/lro?api-version=2021-04-01", "", nil)
	if resp.StatusCode != 202 {
		t.Fatalf("delete: %d", resp.StatusCode)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, e.Conn.ARMEndpoint+"/") || !strings.Contains(loc, "api-version=2021-04-01") {
		t.Fatalf("Location %q", loc)
	}
	if ra := resp.Header.Get("Retry-After"); ra != "1" {
		t.Fatalf("Retry-After %q", ra)
	}
	deadline := time.Now().Add(testsvc.WaitLimit)
	for {
		resp, _ = raw(t, e, "GET", loc, "", nil)
		if resp.StatusCode == 200 {
			break
		}
		if resp.StatusCode != 202 || time.Now().After(deadline) {
			t.Fatalf("poll: %d", resp.StatusCode)
		}
		if resp.Header.Get("Retry-After") == "" {
			t.Fatal("202 poll without Retry-After")
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp, _ = raw(t, e, "HEAD", sub+"/resourcegroups/lro?api-version=2021-04-01", "", nil)
	if resp.StatusCode != 404 {
		t.Fatalf("HEAD after delete: %d", resp.StatusCode)
	}
}

// Seed URLs with doubled slashes, upper-case query names and unknown
// subscriptions get Azure's answers, and every response carries ARM's
// standard headers.
func TestARMEdgeCases(t *testing.T) {
	e := testserver.Start(t)
	resp, m := raw(t, e, "PUT", "//subscriptions/"+e.Sub+"//resourcegroups/edge?API-VERSION=2021-04-01", "", []byte(`{"location":"westus"}`))
	if resp.StatusCode != 201 {
		t.Fatalf("double slash / upper-case api-version: %d %v", resp.StatusCode, m)
	}
	for _, h := range []string{"Cache-Control", "Pragma", "Expires", "X-Content-Type-Options", "Strict-Transport-Security"} {
		if resp.Header.Get(h) == "" {
			t.Fatalf("missing header %s", h)
		}
	}
	resp, m = raw(t, e, "GET", "/subscriptions/11111111-1111-1111-1111-111111111111/resourcegroups/x?api-version=2021-04-01", "", nil)
	if resp.StatusCode != 404 || testserver.ErrorCode(m) != "SubscriptionNotFound" {
		t.Fatalf("unknown subscription: %d %v", resp.StatusCode, m)
	}
	if e, _ := m["error"].(map[string]any); e == nil || e["details"] != nil || !hasKey(e, "target") {
		t.Fatalf("CloudError should carry target and details as null: %v", m)
	}
	// Subscription-wide lists of every provider: an unknown subscription is
	// a 404 there too, not an empty list (lists the caller may read only in
	// part are filtered; a subscription that does not exist is not).
	for _, p := range []string{
		"/resourcegroups?api-version=2021-04-01",
		"/providers/Microsoft.Compute/disks?api-version=2023-04-02",
		"/providers/Microsoft.Compute/snapshots?api-version=2023-04-02",
		"/providers/Microsoft.Compute/virtualMachines?api-version=2023-07-01",
		"/providers/Microsoft.Compute/locations/westus/usages?api-version=2023-07-01",
		"/providers/Microsoft.DataProtection/backupVaults?api-version=2023-05-01",
		"/providers/Microsoft.RecoveryServices/vaults?api-version=2023-04-01",
		"/providers/Microsoft.Storage/storageAccounts?api-version=2023-01-01",
	} {
		resp, m := raw(t, e, "GET", "/subscriptions/11111111-1111-1111-1111-111111111111"+p, "", nil)
		if resp.StatusCode != 404 || testserver.ErrorCode(m) != "SubscriptionNotFound" {
			t.Errorf("list %s in an unknown subscription: %d %v", p, resp.StatusCode, m)
		}
		if resp, m := raw(t, e, "GET", "/subscriptions/"+e.Sub+p, "", nil); resp.StatusCode != 200 {
			t.Errorf("list %s: %d %v", p, resp.StatusCode, m)
		}
	}
}

func hasKey(m map[string]any, k string) bool { _, ok := m[k]; return ok }

func TestCollapseKeepsEncodedSlashes(t *testing.T) {
	e := testserver.Start(t)
	// An encoded %2F inside a segment must survive the double-slash cleanup: the
	// lookup answers 404 for the name it was given, not a routing error.
	resp, m := raw(t, e, "GET", "//subscriptions/"+e.Sub+"/resourcegroups/a%2F%2Fb?api-version=2021-04-01", "", nil)
	if resp.StatusCode != 404 || testserver.ErrorCode(m) != "ResourceGroupNotFound" || !strings.Contains(m["error"].(map[string]any)["message"].(string), "a//b") {
		t.Fatalf("%d %v", resp.StatusCode, m)
	}
}

// TestTokenForTwoResourcesIsRefused: a client-credentials token request
// whose scope names two resources (azidentity sends a GetToken's scopes
// space-separated) is 400 invalid_scope, as Entra ID answers it (AADSTS70011
// naming the scope): Safehold issued a token for the last one named, which
// the caller had no way to tell from one for the first. One resource, with
// its /.default once or twice (in another case too: one resource), still
// gets its token; the same scope twice was refused as two resources.
func TestTokenForTwoResourcesIsRefused(t *testing.T) {
	e := testserver.Start(t)
	cred, err := e.Conn.CredentialFor(e.Conn.ClientID, e.Conn.ClientSecret)
	if err != nil {
		t.Fatal(err)
	}
	arm := e.Conn.ARMEndpoint + "/.default"
	_, err = cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{arm, "https://management.azure.com/.default"}})
	var ae *azidentity.AuthenticationFailedError
	if !errors.As(err, &ae) || ae.RawResponse.StatusCode != 400 || !strings.Contains(err.Error(), "invalid_scope") || !strings.Contains(err.Error(), "70011") {
		t.Fatalf("a token for two resources: %v", err)
	}
	if _, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{arm}}); err != nil {
		t.Fatalf("a token for one: %v", err)
	}
	// (azidentity sends a scope once: the request as another client sends it.)
	for _, twice := range []string{arm + " " + arm, arm + " " + strings.ToUpper(arm)} {
		if st, m := tokenFor(t, e, twice); st != 200 {
			t.Fatalf("a token for one resource's scope sent twice (%s): %d %v", twice, st, m)
		}
	}
}

// TestCertificateCredentialIsToldToUseTheSecret: the SDK's certificate
// credential (a signed client_assertion, no client_secret) gets Entra's
// 401 invalid_client AADSTS700027 saying the service principal has no
// certificate registered and signs in with its client secret: it was told
// "Invalid client secret provided", naming a secret it never sent.
func TestCertificateCredentialIsToldToUseTheSecret(t *testing.T) {
	e := testserver.Start(t)
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ci"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := azidentity.NewClientCertificateCredential(e.Conn.TenantID, e.Conn.ClientID, []*x509.Certificate{cert}, key,
		&azidentity.ClientCertificateCredentialOptions{ClientOptions: e.Conn.ClientOptions(), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{e.Conn.ARMEndpoint + "/.default"}})
	var ae *azidentity.AuthenticationFailedError
	if !errors.As(err, &ae) || ae.RawResponse.StatusCode != 401 || !strings.Contains(err.Error(), "AADSTS700027") || !strings.Contains(err.Error(), "client secret") {
		t.Fatalf("a certificate credential: %v", err)
	}
}
