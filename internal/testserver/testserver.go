// Package testserver starts a real Safehold server (HTTPS, fresh data dir)
// inside a test and hands out SDK credentials and options for it.
package testserver

import (
	"context"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/connect"
	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/server"
)

// Env is a running server.
type Env struct {
	T       testing.TB
	DataDir string
	Server  *server.Server
	Conn    *connect.Connection
	Cred    azcore.TokenCredential
	Opts    *arm.ClientOptions
	Sub     string

	cfg    server.Config
	cancel context.CancelFunc
	done   chan error
}

// Option changes the server configuration.
type Option func(*server.Config)

// Start starts a server on a fresh data dir; it stops at test cleanup.
func Start(t testing.TB, opts ...Option) *Env {
	t.Helper()
	cfg := server.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), RetryAfter: 1}
	if os.Getenv("SAFEHOLD_TEST_LOG") == "" {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.Store == "" && os.Getenv("SAFEHOLD_TEST_STORE") == "postgres" {
		// Run this package's server tests on PostgreSQL (a fresh schema
		// each, unless an option names the store: WithStore).
		cfg.Store = testsvc.PostgresSchema(t)
	}
	e := &Env{T: t, DataDir: cfg.DataDir, cfg: cfg}
	e.start()
	t.Cleanup(e.Stop)
	return e
}

// StartOnS3 starts a server (Start) whose object storage (--blob) is a
// bucket of its own on the tests' S3 server, reached through a proxy
// (testsvc.Proxy): down stops the proxy, and the object storage seems down
// to the server from then on.
func StartOnS3(t testing.TB, opts ...Option) (e *Env, down func()) {
	t.Helper()
	ep, access, secret := testsvc.S3Endpoint(t)
	u, err := url.Parse(ep)
	if err != nil {
		t.Fatal(err)
	}
	proxy, down := testsvc.Proxy(t, u.Host)
	t.Setenv("AWS_ACCESS_KEY_ID", access)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	opts = append([]Option{func(c *server.Config) {
		c.Blob = "s3://" + testsvc.RandomName("blob") + "?endpoint=http://" + proxy + "&region=us-east-1"
	}}, opts...)
	return Start(t, opts...), down
}

// StartOnFaultyS3 starts a server (Start) whose object storage (--blob) is
// a bucket of its own on the tests' S3 server behind a testsvc.FaultyStore,
// which the test makes fail as it likes.
func StartOnFaultyS3(t testing.TB, opts ...Option) (*Env, *testsvc.FaultyStore) {
	t.Helper()
	ep, access, secret := testsvc.S3Endpoint(t)
	f := testsvc.NewFaultyStore(t, ep)
	t.Setenv("AWS_ACCESS_KEY_ID", access)
	t.Setenv("AWS_SECRET_ACCESS_KEY", secret)
	opts = append([]Option{func(c *server.Config) {
		c.Blob = "s3://" + testsvc.RandomName("blob") + "?endpoint=" + f.URL + "&region=us-east-1"
	}}, opts...)
	return Start(t, opts...), f
}

// StartWithGroups starts a server (Start) and creates the resource groups
// groups in it (ResourceGroups).
func StartWithGroups(t testing.TB, groups ...string) *Env {
	t.Helper()
	e := Start(t)
	e.ResourceGroups(groups...)
	return e
}

func (e *Env) start() {
	e.T.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := server.New(ctx, e.cfg)
	if err != nil {
		cancel()
		e.T.Fatalf("start server: %v", err)
	}
	e.Server, e.cancel, e.done = s, cancel, make(chan error, 1)
	go func() { e.done <- s.Serve(ctx) }()
	conn, err := connect.Load(filepath.Join(e.DataDir, "connection.json"))
	if err != nil {
		e.T.Fatal(err)
	}
	e.Conn, e.Sub = conn, conn.SubscriptionID
	if e.Cred, err = conn.Credential(); err != nil {
		e.T.Fatal(err)
	}
	e.Opts = conn.ARMOptions()
}

// Stop shuts the server down gracefully (idempotent).
func (e *Env) Stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	select {
	case <-e.done:
	case <-time.After(testsvc.WaitLimit):
		e.T.Errorf("server did not stop within %v", testsvc.WaitLimit)
	}
	e.Server.Close()
	e.cancel = nil
}

// Restart stops the server and starts a new one on the same data dir (a new port).
func (e *Env) Restart() {
	e.T.Helper()
	e.Stop()
	e.start()
}

// RestartWith restarts the server (Restart) with opts applied to its
// configuration, as an operator restarting with other flags does.
func (e *Env) RestartWith(opts ...Option) {
	e.T.Helper()
	e.Stop()
	for _, o := range opts {
		o(&e.cfg)
	}
	e.start()
}

// StoreURL is the server's store: "" for the SQLite file in DataDir, or the
// PostgreSQL URL (its schema) it runs on. A server started in another
// process on the same data dir gets it with WithStore.
func (e *Env) StoreURL() string { return e.cfg.Store }

// WithStore runs the server on the store url ("" : the SQLite file in the
// data dir), such as another server's StoreURL.
func WithStore(url string) Option { return func(c *server.Config) { c.Store = url } }

// Ctx is a context for one test call.
func (e *Env) Ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	e.T.Cleanup(cancel)
	return ctx
}

// WaitFor polls cond until it holds, and fails the test when it still
// does not after testsvc.WaitLimit (see testsvc.WaitFor).
func (e *Env) WaitFor(what string, cond func() bool) {
	e.T.Helper()
	testsvc.WaitFor(e.T, what, cond)
}

// WithClock runs the server on clk (schedules, retention, expiry); tokens and
// TLS keep using real time.
func WithClock(clk clock.Clock) Option { return func(c *server.Config) { c.Clock = clk } }

// Factory is an Azure SDK client factory for the server's subscription,
// credential and options (f := testserver.Factory(e,
// armcompute.NewClientFactory)); it fails the test if the SDK refuses them.
func Factory[F any](e *Env, newFactory func(string, azcore.TokenCredential, *arm.ClientOptions) (F, error)) F {
	e.T.Helper()
	f, err := newFactory(e.Sub, e.Cred, e.Opts)
	if err != nil {
		e.T.Fatal(err)
	}
	return f
}
