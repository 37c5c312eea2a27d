package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/version"
)

// dbWaitMax is the longest wait between two tries to reach a metadata
// database that is out of reach at start (1 s, doubling up to it).
const dbWaitMax = 15 * time.Second

// openStoreWaiting opens the store. A PostgreSQL store out of reach at
// start (store.ErrUnavailable: refused, starting up, too many
// connections) is waited for, not given up on: a replica started during a
// database outage (a host reboot, a rollout) comes up once the database
// does. Meanwhile it logs what it waits for at each try, and a stand-in
// server on cfg.Addr answers /healthz 503 "starting" and every other
// request a 503 ServiceUnavailable saying so (load balancers and
// orchestrators see it not ready, clients retry). It returns the address
// the stand-in listened on ("" when there was none), for the server to
// listen on the same one (a port 0 was chosen then). ctx done (SIGTERM)
// ends the wait with an error.
func openStoreWaiting(ctx context.Context, cfg Config) (openedStore, string, error) {
	st, err := openStore(ctx, cfg)
	if err == nil || !errors.Is(err, store.ErrUnavailable) {
		return st, "", err
	}
	w, lerr := startStandIn(cfg)
	if lerr != nil {
		return nil, "", fmt.Errorf("listen %s: %w", cfg.Addr, lerr)
	}
	defer w.close()
	started := time.Now()
	for d := time.Second; ; d = min(2*d, dbWaitMax) {
		w.waitingFor.Store(&err)
		cfg.Logger.Warn("waiting for the metadata database: not serving until it answers", "store", redactURL(cfg.Store),
			"err", err, "retry_in", d.String(), "waited", time.Since(started).Round(time.Second).String())
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, "", fmt.Errorf("stopped while waiting for the metadata database (%s): %w", redactURL(cfg.Store), err)
		case <-t.C:
		}
		if st, err = openStore(ctx, cfg); err == nil || !errors.Is(err, store.ErrUnavailable) {
			if err == nil {
				cfg.Logger.Info("the metadata database answers: starting", "store", redactURL(cfg.Store), "waited", time.Since(started).Round(time.Second).String())
			}
			return st, w.addr, err
		}
	}
}

// standIn is the server answering on the listen address while the
// metadata database is waited for.
type standIn struct {
	addr       string
	srv        *http.Server
	waitingFor atomic.Pointer[error]
}

func startStandIn(cfg Config) (*standIn, error) {
	tlsCfg, err := standInTLS(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	w := &standIn{addr: ln.Addr().String()}
	message := func() string {
		why := "it does not answer"
		if e := w.waitingFor.Load(); e != nil {
			why = (*e).Error()
		}
		return fmt.Sprintf("The server is starting: it waits for its metadata database (%s), which is out of reach (%s). It serves once the database answers; retry the request then.", redactURL(cfg.Store), why)
	}
	w.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, TLSConfig: tlsCfg, ErrorLog: nil,
		Handler: http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			rw.Header().Set("Retry-After", "5")
			if r.URL.Path == "/healthz" {
				rw.Header().Set("Content-Type", "application/json; charset=utf-8")
				rw.WriteHeader(http.StatusServiceUnavailable)
				json.NewEncoder(rw).Encode(map[string]any{"status": "starting", "version": version.Get(),
					"store": map[string]any{"status": "unhealthy", "error": message()},
					"error": map[string]any{"code": "ServiceUnavailable", "message": message()}})
				return
			}
			arm.WriteError(rw, arm.Errorf(http.StatusServiceUnavailable, "ServiceUnavailable", "%s", message()))
		})}
	go func() {
		if tlsCfg != nil {
			w.srv.ServeTLS(ln, "", "")
		} else {
			w.srv.Serve(ln)
		}
	}()
	return w, nil
}

func (w *standIn) close() { w.srv.Close() }

// standInTLS is the stand-in's TLS: the server's certificate when there
// is one already (--tls-cert, or the data dir's from an earlier start),
// else a throw-away self-signed one (the first start: the real one is
// issued under the CA the replicas share in the store). nil with
// --insecure-http.
func standInTLS(cfg Config) (*tls.Config, error) {
	if cfg.InsecureHTTP {
		return nil, nil
	}
	cert, key := cfg.TLSCert, cfg.TLSKey
	if cert == "" {
		if f := tlsFiles(cfg.DataDir); fileExists(f.Cert) && fileExists(f.Key) {
			cert, key = f.Cert, f.Key
		}
	}
	if cert != "" {
		if c, err := loadTLSConfig(cert, key); err == nil {
			return c, nil
		}
	}
	now := time.Now()
	ca, caKey, err := newCA(now)
	if err != nil {
		return nil, err
	}
	leaf, leafKey, err := newServerCert(ca, caKey, []string{"localhost", "127.0.0.1", "::1"}, now)
	if err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{{Certificate: [][]byte{leaf.Raw}, PrivateKey: leafKey, Leaf: leaf}}}, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
