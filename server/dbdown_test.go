package server_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/blob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/pageblob"
	"github.com/safehold/safehold/internal/fixture"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
)

// TestDiskSASAnswers503WhileTheDatabaseIsDown: a disk's SAS page write
// and read while PostgreSQL is stopped answer 503 ServerBusy with
// Retry-After and a message naming the metadata database, as ARM requests
// do, and succeed once it is started again: they answered 500
// InternalError (found by TestReplicasOutages).
func TestDiskSASAnswers503WhileTheDatabaseIsDown(t *testing.T) {
	pg := testsvc.OutagePostgres(t)
	e := testserver.Start(t, testserver.WithStore(pg.URL))
	e.ResourceGroups("disks")
	fixture.Disk(t, e, "disks", "d1", 1)
	sas, revoke := fixture.DiskAccess(t, e, "disks", "d1", "Write")
	defer revoke()
	hc, err := e.Conn.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	var last *http.Response
	pc, err := pageblob.NewClientWithNoCredential(sas.URL(), &pageblob.ClientOptions{ClientOptions: policy.ClientOptions{Transport: hc, Retry: policy.RetryOptions{MaxRetries: -1}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	data := bytes.Repeat([]byte("outage"), 512<<10/6+1)[:512<<10]
	pg.Stop()
	started := false
	defer func() {
		if !started {
			pg.Start()
		}
	}()
	check := func(what string, err error) {
		t.Helper()
		var re *azcore.ResponseError
		if !errors.As(err, &re) {
			t.Fatalf("%s while the database is down: %v", what, err)
		}
		last = re.RawResponse
		if re.StatusCode != http.StatusServiceUnavailable || re.ErrorCode != "ServerBusy" || last.Header.Get("Retry-After") == "" {
			t.Fatalf("%s while the database is down: %d %s (Retry-After %q): %v", what, re.StatusCode, re.ErrorCode, last.Header.Get("Retry-After"), err)
		}
	}
	err = fixture.WritePages(pc, 0, data)
	check("a page write", err)
	_, err = pc.DownloadStream(ctx, &blob.DownloadStreamOptions{Range: blob.HTTPRange{Offset: 0, Count: 4096}})
	check("a read", err)
	pg.Start()
	started = true
	if err := fixture.WritePages(pc, 0, data); err != nil {
		t.Fatalf("a page write once the database is back: %v", err)
	}
	if got := fixture.ReadPages(t, pc, 0, int64(len(data))); !bytes.Equal(got, data) {
		t.Fatal("the pages read back differ")
	}
}

// TestTokenRequestAnswers503WhileTheDatabaseIsDown: a service principal's
// token request (azidentity's client-secret flow) while PostgreSQL is
// stopped answers 503 temporarily_unavailable with Retry-After, which the
// client retries, and succeeds once the database is started again: it
// answered 400 AADSTS700016 "Application ... was not found in the
// directory", a permanent-looking verdict on a client id that exists
// (found by the chaos26 fault campaign: `safehold clock advance` during a
// PostgreSQL stop).
func TestTokenRequestAnswers503WhileTheDatabaseIsDown(t *testing.T) {
	pg := testsvc.OutagePostgres(t)
	e := testserver.Start(t, testserver.WithStore(pg.URL))
	scope := e.Conn.ARMEndpoint + "/.default"
	token := func() error {
		cred, err := e.Conn.Credential() // a new one: no cached token
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		_, err = cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}})
		return err
	}
	if err := token(); err != nil {
		t.Fatalf("a token before the outage: %v", err)
	}
	pg.Stop()
	started := false
	defer func() {
		if !started {
			pg.Start()
		}
	}()
	err := token()
	var af *azidentity.AuthenticationFailedError
	if !errors.As(err, &af) || af.RawResponse == nil {
		t.Fatalf("a token while the database is down: %v", err)
	}
	if af.RawResponse.StatusCode != http.StatusServiceUnavailable || af.RawResponse.Header.Get("Retry-After") == "" ||
		!strings.Contains(err.Error(), "temporarily_unavailable") || !strings.Contains(err.Error(), "metadata database") {
		t.Fatalf("a token while the database is down: %d (Retry-After %q): %v", af.RawResponse.StatusCode, af.RawResponse.Header.Get("Retry-After"), err)
	}
	pg.Start()
	started = true
	if err := token(); err != nil {
		t.Fatalf("a token once the database is back: %v", err)
	}
}

// TestTokenRequestWithAControlCharacterInItsClientIDIs400: a client_id
// holding a NUL (which PostgreSQL refuses in a query) names no application:
// 400 unauthorized_client AADSTS700016, as any unknown client id, not 503
// temporarily_unavailable "the directory ... is unavailable", which sends
// the client retrying and the operator to a database that is up (found by
// review26 after 14da0d8).
func TestTokenRequestWithAControlCharacterInItsClientIDIs400(t *testing.T) {
	e := testserver.Start(t, testserver.WithStore(testsvc.PostgresSchema(t)))
	hc, err := e.Conn.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a\x00b", e.Conn.ClientID + "\x00", "\x01", "\xff\xfe"} {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {e.Conn.ClientSecret}, "scope": {e.Conn.ARMEndpoint + "/.default"}}
		resp, err := hc.PostForm(e.Conn.ARMEndpoint+"/"+e.Conn.TenantID+"/oauth2/v2.0/token", form)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "unauthorized_client") || !strings.Contains(string(b), "AADSTS700016") {
			t.Errorf("client_id %q: %d %s, want 400 unauthorized_client AADSTS700016", id, resp.StatusCode, b)
		}
	}
}
