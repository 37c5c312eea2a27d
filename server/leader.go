package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/identity"
	"github.com/safehold/safehold/lease"
	"github.com/safehold/safehold/metrics"
	"github.com/safehold/safehold/ops"
	"github.com/safehold/safehold/protection"
)

// maintain runs the singletons on the replica that holds the leader lease:
// the garbage collections other replicas requested (lease.Want) when their
// deletes left garbage. It checks at every change of leadership and every
// few seconds.
func (s *Server) maintain(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	var pruned time.Time // real time of the last prune of operation records
	for {
		led, _ := s.Leader.Do(ctx, func(ctx context.Context, epoch int64) error {
			s.runWanted(ctx)
			if s.presence != nil {
				// The tasks of a replica that stopped running are freed
				// for the others once it has been gone a lease of real
				// time: their leases, instants of the server clock, never
				// lapse while it stands still.
				if _, err := s.Jobs.ReleaseAbsent(ctx, s.replicaRunning); err != nil && ctx.Err() == nil {
					s.logger.Warn("free the tasks of replicas that stopped running", "err", err)
				}
				// Jobs whose runner stopped answering say so until another
				// replica takes them on (their task's lease lapses).
				if err := s.Engine.MarkStalledRunners(ctx, s.replicaEndpoint); err != nil && ctx.Err() == nil {
					s.logger.Warn("look for jobs whose runner stopped answering", "err", err)
				}
			}
			if time.Since(pruned) >= pruneEvery {
				pruned = time.Now()
				s.pruneOperations(ctx)
				s.pruneGoneVaults(ctx)
				s.pruneAdvances(ctx)
			}
			return nil
		})
		if !led {
			s.Metrics.SetGCFailing(0) // the leader counts them
		}
		select {
		case <-ctx.Done():
			return
		case <-s.Leader.Changed():
		case <-t.C:
		}
	}
}

// pruneEvery is how often (real time) the leader prunes operation records.
const pruneEvery = time.Hour

// pruneOperations deletes the records of operations that ended more than
// ops.Keep ago in real time (see ops.Keep), so a long-running server's
// store does not grow by one record per long-running request for ever.
func (s *Server) pruneOperations(ctx context.Context) {
	n, err := s.Platform.Ops.Prune(ctx, clock.RealNow(s.Config.Clock).Add(-ops.Keep))
	switch {
	case err != nil && ctx.Err() == nil:
		s.logger.Warn("prune operation records", "err", err)
	case n > 0:
		s.logger.Info("pruned operation records", "count", n, "endedBefore", ops.Keep.String()+" ago")
	}
}

// pruneGoneVaults deletes the markers of vaults deleted a day ago or more
// that no collection can reach (protection.PruneGoneVaults).
func (s *Server) pruneGoneVaults(ctx context.Context) {
	n, err := s.Engine.PruneGoneVaults(ctx, time.Now())
	switch {
	case err != nil && ctx.Err() == nil:
		s.logger.Warn("prune deleted vaults' markers", "err", err)
	case n > 0:
		s.logger.Info("pruned deleted vaults' markers", "count", n)
	}
}

func (s *Server) runWanted(ctx context.Context) {
	s.wantAbandoned(ctx)
	docs, err := lease.Wanted(ctx, s.Store)
	if err != nil {
		if ctx.Err() == nil {
			s.logger.Warn("list singleton requests", "err", err)
		}
		return
	}
	failing := 0 // requests waiting for their retry after a failure
	defer func() {
		if ctx.Err() == nil {
			s.Metrics.SetGCFailing(failing)
		}
	}()
	for _, d := range docs {
		if ctx.Err() != nil {
			return
		}
		if lease.Due(d).After(time.Now()) {
			if n, _ := lease.Failures(d); n > 0 {
				failing++
			}
			continue
		}
		var young time.Duration // garbage left in packs too young to touch
		var failed error
		repository := ""
		switch work := d.Key; {
		case work == compute.GCWork:
			repository = metrics.GCSnapshots
			young, failed = s.Compute.CollectGarbage()
		case strings.HasPrefix(work, protection.GCWorkPrefix):
			repository = metrics.GCVault
			young, failed = s.Engine.GCVaultNow(ctx, strings.TrimPrefix(work, protection.GCWorkPrefix))
		default:
			s.logger.Warn("unknown singleton request", "work", work)
		}
		if ctx.Err() != nil {
			return // leadership lost or stopping: the request stays as it is
		}
		// The request stays in the store until its work is done: a
		// leader killed during it leaves it to the next one, one that
		// failed (an outage of the object store) is retried with backoff,
		// and the young packs' garbage is collected when due by whichever
		// replica leads.
		var err error
		switch {
		case failed != nil:
			failing++
			var due time.Time
			due, err = lease.Failed(ctx, s.Store, d, time.Now(), failed)
			if repository != "" {
				s.Metrics.GCFailed(repository)
			}
			// Failures in a row, this one counted; past lease.Persistent
			// the failure is no passing outage: an error, retried
			// later and later (up to lease.RetryMax).
			if n, _ := lease.Failures(d); n+1 >= lease.Persistent {
				s.logger.Error("singleton request keeps failing; retrying later", "work", d.Key, "failures", n+1, "at", due, "err", failed)
			} else {
				s.logger.Warn("singleton request failed; retrying", "work", d.Key, "failures", n+1, "at", due, "err", failed)
			}
		case young > 0:
			err = lease.Again(ctx, s.Store, d, time.Now().Add(young+time.Second))
		default:
			err = lease.Done(ctx, s.Store, d)
		}
		if err != nil && ctx.Err() == nil {
			s.logger.Warn("singleton request done", "work", d.Key, "err", err)
		}
	}
}

// wantAbandoned requests a collection of each repository a writer died
// writing into (its gate entry lapsed: a replica killed during a capture or
// a copy into a vault's tier), which left packs no manifest references:
// without it they stayed until some later delete asked for a collection.
func (s *Server) wantAbandoned(ctx context.Context) {
	repos, err := lease.Abandoned(ctx, s.Store, time.Now())
	if err != nil {
		if ctx.Err() == nil {
			s.logger.Warn("list abandoned writers", "err", err)
		}
		return
	}
	for _, repo := range repos {
		var work string
		switch {
		case repo == compute.GateRepo:
			work = compute.GCWork
		case strings.HasPrefix(repo, protection.GatePrefix):
			work = protection.GCWorkPrefix + strings.TrimPrefix(repo, protection.GatePrefix)
		default:
			continue
		}
		if err := lease.WantOnce(ctx, s.Store, work, time.Now()); err != nil && ctx.Err() == nil {
			s.logger.Warn("request a collection after a writer died", "work", work, "err", err)
		}
	}
}

// placeDisks sends the creation of a managed disk (PUT of a disk) to the
// leader when this replica does not lead: new disks live on the leader, so
// that the disks of one VM, which a backup freezes at one instant, share
// one owner (see compute.Replica). The caller was authenticated here; the
// leader authenticates the forwarded request again (tokens are accepted by
// every replica).
func (s *Server) placeDisks(next http.Handler) http.Handler {
	if s.Config.Store == "" || s.forwardToLeader == nil {
		return next
	}
	fwd := s.forwardToLeader
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && r.Header.Get(forwardedHeader) == "" && isDiskPath(r.URL.Path) {
			if _, leading := s.Leader.Leading(); !leading {
				if row, err := lease.Get(r.Context(), s.Store, s.Leader.Name); err == nil && row.Alive(time.Now()) && row.Data != "" {
					if r.Header.Get("Authorization") == "" {
						// A request the server makes as its context's
						// caller (a deployment's, rp/deployments): the
						// leader authenticates the caller's token. One
						// this replica cannot make (no caller, a key
						// that cannot sign) is this replica's failure
						// to forward, not the caller's credentials
						// (no 401): 503, as when the leader does not
						// answer.
						if err := s.bearerOfCaller(r, row.Data); err != nil {
							s.logger.Error("token for a request forwarded to the leader", "path", r.URL.Path, "err", err)
							arm.WriteError(w, leaderUnavailable(row.Data, fmt.Errorf("no token for its caller: %w", err)))
							return
						}
					}
					r.Header.Set(forwardedHeader, "1")
					fwd(w, r, row.Data)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// bearerOfCaller gives r, a request the server makes itself as the caller
// in its context, that caller's bearer token (of the issuer at base), as a
// client's request has its own.
func (s *Server) bearerOfCaller(r *http.Request, base string) error {
	c, ok := arm.CallerFrom(r.Context())
	if !ok || c.ObjectID == "" {
		return fmt.Errorf("the request to %s has no caller", r.URL.Path)
	}
	tok, _, err := s.Issuer.Issue(&identity.Principal{ObjectID: c.ObjectID, AppID: c.AppID, Kind: c.Kind, TenantID: c.TenantID}, identity.PublicARMAudiences[0], base)
	if err != nil {
		return err
	}
	r.Header.Set("Authorization", "Bearer "+tok)
	return nil
}

// forwardedHeader marks a request one replica forwarded to another (never
// forwarded again); rp/compute's data plane uses the same name.
const forwardedHeader = "X-Safehold-Forwarded"

// isDiskPath reports whether p is a disk's ARM path
// (.../providers/Microsoft.Compute/disks/{name}).
func isDiskPath(p string) bool {
	l := strings.ToLower(p)
	i := strings.LastIndex(l, "/providers/microsoft.compute/disks/")
	return i >= 0 && !strings.Contains(strings.Trim(l[i+len("/providers/microsoft.compute/disks/"):], "/"), "/")
}

// deleteAll removes every object of a backend (a vault's prefix).
func deleteAll(ctx context.Context, be blob.Backend) error {
	var keys []string
	if err := be.List(ctx, "", func(in blob.Info) error { keys = append(keys, in.Key); return nil }); err != nil {
		return err
	}
	var errs []error
	for _, k := range keys {
		if err := be.Delete(ctx, k); err != nil && !errors.Is(err, blob.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// forwarder proxies a disk data-plane request to the replica that owns the
// disk (its endpoint, trusted through Safehold's CA): the SAS signature
// travels in the query, so the owner verifies it as if it came directly.
func forwarder(caFile string) (func(w http.ResponseWriter, r *http.Request, ownerURL string), error) {
	return forwarderOf(caFile, storageUnavailable("DiskOwnerUnavailable", "owns this disk"))
}

// blobForwarder proxies a storage account's blob request to the replica
// holding the blob's bytes, as forwarder does a disk's.
func blobForwarder(caFile string) (func(w http.ResponseWriter, r *http.Request, ownerURL string), error) {
	return forwarderOf(caFile, storageUnavailable("BlobOwnerUnavailable", "holds this blob's bytes"))
}

// leaderForwarder proxies an ARM request to the leading replica (the
// creation of a disk, placeDisks); when the leader does not answer, its
// client is answered an ARM error, 503 ServiceUnavailable with
// Retry-After (the leader's lease lapses within its TTL and another
// replica leads).
func leaderForwarder(caFile string) (func(w http.ResponseWriter, r *http.Request, leaderURL string), error) {
	return forwarderOf(caFile, func(w http.ResponseWriter, leaderURL string, err error) {
		arm.WriteError(w, leaderUnavailable(leaderURL, err))
	})
}

// leaderUnavailable is the error of a request the leading replica, at
// leaderURL, must serve and could not be sent.
func leaderUnavailable(leaderURL string, err error) *arm.Error {
	return arm.Errorf(http.StatusServiceUnavailable, "ServiceUnavailable",
		"The request must be served by the leading replica (%s), which creates new disks, and could not be sent to it: %v. Retry the request: if that replica is down, another one leads within %v.", leaderURL, err, lease.DefaultTTL)
}

// storageUnavailable answers a data-plane request that could not reach the
// replica that does what, in Azure Storage's error shape (code also in
// x-ms-error-code).
func storageUnavailable(code, does string) func(w http.ResponseWriter, ownerURL string, err error) {
	return func(w http.ResponseWriter, ownerURL string, err error) {
		w.Header().Set("x-ms-error-code", code)
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>%s</Code><Message>The replica that %s (%s) did not answer: %s</Message></Error>",
			code, does, html.EscapeString(ownerURL), html.EscapeString(err.Error()))
	}
}

// forwarderOf is a reverse proxy to a replica's endpoint whose failures
// (no valid endpoint, no answer) fail answers.
func forwarderOf(caFile string, fail func(w http.ResponseWriter, ownerURL string, err error)) (func(w http.ResponseWriter, r *http.Request, ownerURL string), error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("forwarder: %w", err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(pem)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return func(w http.ResponseWriter, r *http.Request, ownerURL string) {
		u, err := url.Parse(ownerURL)
		if err != nil || u.Host == "" {
			fail(w, ownerURL, errors.New("it has no valid endpoint"))
			return
		}
		p := &httputil.ReverseProxy{
			// The Host the client asked for stays (as behind a load
			// balancer): URLs in the answer name it, not the owner.
			Rewrite:      func(pr *httputil.ProxyRequest) { pr.SetURL(u); pr.Out.Host = pr.In.Host },
			Transport:    tr,
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) { fail(w, ownerURL, err) },
		}
		p.ServeHTTP(w, r)
	}, nil
}
