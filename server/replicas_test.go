package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armresources"
	"github.com/safehold/safehold/connect"
	"github.com/safehold/safehold/internal/testserver"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/server"
	"github.com/safehold/safehold/store"
)

// TestReplicasShareOneSafehold: three replicas start at the same moment
// against one empty PostgreSQL store. They bootstrap once between them
// (one tenant, one admin, one CA, one signing key), write the same
// credentials, and any replica accepts a token obtained from another and
// serves what another wrote.
func TestReplicasShareOneSafehold(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const n = 3
	srv := make([]*server.Server, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range srv {
		wg.Add(1)
		go func() {
			defer wg.Done()
			srv[i], errs[i] = server.New(ctx, server.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Store: url,
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		}()
	}
	wg.Wait()
	var serveWG sync.WaitGroup
	for i, s := range srv {
		if errs[i] != nil {
			t.Fatalf("replica %d: %v", i, errs[i])
		}
		serveWG.Add(1)
		go func() { defer serveWG.Done(); s.Serve(ctx) }()
	}
	defer func() {
		cancel()
		serveWG.Wait()
		for _, s := range srv {
			s.Close()
		}
	}()
	conns := make([]*connect.Connection, n)
	for i, s := range srv {
		c, err := connect.Load(filepath.Join(s.Config.DataDir, "connection.json"))
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}
	ca0, _ := os.ReadFile(conns[0].CACertFile)
	for i, c := range conns[1:] {
		if c.TenantID != conns[0].TenantID || c.SubscriptionID != conns[0].SubscriptionID || c.ClientID != conns[0].ClientID || c.ClientSecret != conns[0].ClientSecret {
			t.Fatalf("replica %d writes other credentials: %+v vs %+v", i+1, c, conns[0])
		}
		if ca, _ := os.ReadFile(c.CACertFile); !bytes.Equal(ca, ca0) {
			t.Fatalf("replica %d has its own CA", i+1)
		}
		if c.ARMEndpoint == conns[0].ARMEndpoint {
			t.Fatalf("replicas share an endpoint")
		}
	}
	// A token from replica 0 (its audience) used on replica i.
	cred, err := conns[0].Credential()
	if err != nil {
		t.Fatal(err)
	}
	client := func(i int) *armresources.ResourceGroupsClient {
		opts := conns[i].ARMOptions()
		cfg := cloud.Configuration{ActiveDirectoryAuthorityHost: conns[0].AuthorityHost, Services: map[cloud.ServiceName]cloud.ServiceConfiguration{
			cloud.ResourceManager: {Endpoint: conns[i].ARMEndpoint, Audience: conns[0].ARMEndpoint}}}
		opts.Cloud = cfg
		c, err := armresources.NewResourceGroupsClient(conns[0].SubscriptionID, cred, opts)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if _, err := client(1).CreateOrUpdate(ctx, "shared-rg", armresources.ResourceGroup{Location: to.Ptr("westus")}, nil); err != nil {
		t.Fatalf("create on replica 1 with replica 0's token: %v", err)
	}
	got, err := client(2).Get(ctx, "shared-rg", nil)
	if err != nil || *got.Name != "shared-rg" {
		t.Fatalf("read on replica 2: %v", err)
	}
	// And on the replica that issued the token.
	if _, err := client(0).Get(ctx, "shared-rg", nil); err != nil {
		t.Fatalf("read on replica 0: %v", err)
	}
}

// Each replica is live while it runs and drops out of the others' view as
// it stops (a clock advance waits for other replicas' runners only while
// there are some: a lone replica on PostgreSQL steps at once).
func TestReplicasUnregisterWhenTheyStop(t *testing.T) {
	url := testsvc.PostgresSchema(t)
	ctx := context.Background()
	start := func() *server.Server {
		s, err := server.New(ctx, server.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Store: url, InsecureHTTP: true,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a := start()
	defer a.Close()
	live := func() []string {
		t.Helper()
		ids, err := a.LiveReplicas(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	if got := live(); len(got) != 1 || got[0] != a.NodeID {
		t.Fatalf("a lone replica sees %v", got)
	}
	b := start()
	if got := live(); len(got) != 2 || !slices.Contains(got, b.NodeID) {
		t.Fatalf("with a second replica: %v", got)
	}
	b.Close()
	if got := live(); len(got) != 1 || got[0] != a.NodeID {
		t.Fatalf("after the second replica stopped: %v", got)
	}
}

// Requests on a database that stopped answering (every process of the
// server stopped, as on a hung host: nothing resets the connections) answer
// 503 ServiceUnavailable with Retry-After within the store's
// round_trip_timeout, reads and writes alike, never a hang or a 500; once
// the database answers again, so does the server.
func TestFrozenDatabaseAnswers503(t *testing.T) {
	u, freeze := testsvc.FrozenPostgres(t)
	e := testserver.Start(t, testserver.WithStore(testsvc.WithParam(u, "round_trip_timeout", "2s")))
	e.ResourceGroups("rg1")
	path := "/subscriptions/" + e.Sub + "/resourcegroups/rg1?api-version=2021-04-01"
	body := map[string]any{"location": "westus", "tags": map[string]string{"k": "v"}}
	// A hang is told by a deadline far past round_trip_timeout (TCP
	// waits for ever on a frozen server), not by timing the answer: the
	// machine's load only delays it.
	hc, err := e.Conn.HTTPClient()
	if err != nil {
		t.Fatal(err)
	}
	patient := *hc
	patient.Timeout = 2 * time.Minute
	token := e.Token(nil)
	thaw := freeze()
	for _, method := range []string{"GET", "PUT"} {
		b, _ := json.Marshal(body)
		req, err := http.NewRequest(method, e.Conn.ARMEndpoint+path, bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := patient.Do(req)
		if err != nil {
			thaw()
			t.Fatalf("%s on a frozen database: no answer (%v)", method, err)
		}
		var m struct {
			Error struct{ Code, Message string }
		}
		json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || m.Error.Code != "ServiceUnavailable" {
			thaw()
			t.Fatalf("%s on a frozen database: %d %v %+v", method, resp.StatusCode, resp.Header, m)
		}
	}
	thaw()
	testsvc.WaitWithin(t, 30*time.Second, "the server to answer again", func() bool {
		resp, _ := e.Do("PUT", path, body, testserver.AnyStatus())
		return resp.StatusCode == http.StatusOK
	})
	if resp, m := e.Do("GET", path, nil); resp.StatusCode != http.StatusOK || m["tags"].(map[string]any)["k"] != "v" {
		t.Fatalf("the group once the database answers: %d %v", resp.StatusCode, m)
	}
	// A job the database stops under (the group's delete) still ends.
	resp, m := e.Do("DELETE", path, nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("delete: %d %v", resp.StatusCode, m)
	}
	thaw = freeze()
	time.Sleep(3 * time.Second)
	thaw()
	loc := resp.Header.Get("Location")
	var status int
	testsvc.WaitWithin(t, 2*time.Minute, "the delete to end", func() bool {
		resp, m = e.Do("GET", loc, nil, testserver.AnyStatus())
		status = resp.StatusCode
		return status != http.StatusAccepted && status != http.StatusServiceUnavailable
	})
	if status == http.StatusOK {
		if resp, _ := e.Do("GET", path, nil, testserver.AnyStatus()); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("the group after its delete ended: %d", resp.StatusCode)
		}
	} else if _, ok := m["error"].(map[string]any); !ok || status >= 500 {
		t.Fatalf("the delete ended: %d %v", status, m)
	}
}

// A write held up by the database (a row locked by hand past the store's
// writer_statement_timeout) answers 503 ServiceUnavailable with
// Retry-After, never a hang or a 500; the same write succeeds once the
// database lets it.
func TestStuckDatabaseWriteAnswers503(t *testing.T) {
	base := testsvc.PostgresSchema(t)
	e := testserver.Start(t, testserver.WithStore(testsvc.WithParam(base, "writer_statement_timeout", "300ms")))
	e.ResourceGroups("rg1")
	ctx := context.Background()
	other, err := store.OpenPostgres(ctx, base, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	c, err := other.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	if _, err := c.Exec(ctx, `BEGIN`); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, `SELECT 1 FROM docs WHERE kind = 'resource' AND key = $1 FOR UPDATE`, strings.ToLower("/subscriptions/"+e.Sub+"/resourceGroups/rg1")); err != nil {
		t.Fatal(err)
	}
	path := "/subscriptions/" + e.Sub + "/resourcegroups/rg1?api-version=2021-04-01"
	body := map[string]any{"location": "westus", "tags": map[string]string{"k": "v"}}
	resp, m := e.Do("PUT", path, body, testserver.AnyStatus())
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || m["error"].(map[string]any)["code"] != "ServiceUnavailable" {
		t.Fatalf("a write held up by a locked row: %d %v %v", resp.StatusCode, resp.Header, m)
	}
	if _, err := c.Exec(ctx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	if resp, m := e.Do("PUT", path, body); resp.StatusCode != http.StatusOK {
		t.Fatalf("the write once the row is free: %d %v", resp.StatusCode, m)
	}
}
