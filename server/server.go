// Package server assembles Safehold: the store, identity, the ARM router
// with every resource provider, background workers, TLS, and the HTTP
// middleware (request ids, access log, panic recovery, authentication).
package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/safehold/safehold/accountblob"
	"github.com/safehold/safehold/internal/datafile"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/arm/armops"
	"github.com/safehold/safehold/blob"
	"github.com/safehold/safehold/blob/local"
	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/connect"
	"github.com/safehold/safehold/fault"
	"github.com/safehold/safehold/identity"
	"github.com/safehold/safehold/job"
	"github.com/safehold/safehold/lease"
	"github.com/safehold/safehold/metrics"
	"github.com/safehold/safehold/ops"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/protection/computedisks"
	"github.com/safehold/safehold/rbac"
	"github.com/safehold/safehold/resource"
	rpcompute "github.com/safehold/safehold/rp/compute"
	"github.com/safehold/safehold/rp/dataprotection"
	"github.com/safehold/safehold/rp/deployments"
	rpnetwork "github.com/safehold/safehold/rp/network"
	"github.com/safehold/safehold/rp/recoveryservices"
	"github.com/safehold/safehold/rp/resources"
	rpstorage "github.com/safehold/safehold/rp/storage"
	"github.com/safehold/safehold/snapshot"
	"github.com/safehold/safehold/store"
)

// Provider is a resource provider, one face: it registers its namespaces,
// routes and operation kinds on the router.
type Provider interface {
	Register(rt *arm.Router, p *resource.Platform) error
}

// Config configures a server.
type Config struct {
	Addr         string   // listen address, e.g. 127.0.0.1:8443
	DataDir      string   // state lives here
	TLSHostnames []string // extra names for the generated certificate
	TLSCert      string   // bring-your-own certificate (with TLSKey)
	TLSKey       string
	InsecureHTTP bool // serve plain HTTP (tokens then need InsecureAllowCredentialWithHTTP)
	RetryAfter   int  // seconds in Retry-After of async responses (default 1)
	// RBACDelay postpones the effect of role assignment changes (to test propagation handling).
	RBACDelay time.Duration
	Logger    *slog.Logger
	Clock     clock.Clock
	// Providers are extra resource providers (Microsoft.Resources is built in).
	Providers []Provider
	// Setup runs after the platform exists and before serving (e.g. to wire RBAC).
	Setup func(ctx context.Context, s *Server) error
	// Compute configures Microsoft.Compute (NBD listener, import directory).
	Compute compute.Options
	// NBDTLS makes the NBD listener (Compute.NBDAddr) TLS-only, with the
	// server's certificate; a listener beyond loopback requires it.
	NBDTLS bool
	// LogRequests logs request and response bodies at debug level, secrets redacted.
	LogRequests bool
	// ClockStart freezes the controllable clock at this time on start
	// (serve --clock); nil keeps the persisted clock state.
	ClockStart *time.Time
	// LeaseTTL is how long a job's lease (and its item's) outlives its
	// last renewal: how soon another replica resumes the work of one that
	// died (default 60 s).
	LeaseTTL time.Duration
	// Store selects the metadata store: "" for the SQLite file in DataDir,
	// or a postgres:// URL shared by several replicas.
	Store string
	// Blob selects object storage for vault repositories and snapshots:
	// "" for directories in DataDir, or an azblob:// or s3:// URL.
	Blob string
	// VerifyEvery is how often every vault is verified (0: weekly; < 0:
	// never) and VerifySample what such a run reads (0: 5 % of the packs;
	// >= 1: every chunk; < 0: structure only); a vault's tags
	// safehold-verify-every and safehold-verify-sample override them.
	VerifyEvery  time.Duration
	VerifySample float64
	// JobRetention is how long ended jobs stay in the vaults' job lists
	// (0: six months, as in Azure; < 0: forever).
	JobRetention time.Duration
}

// Connection is what a client needs to reach the server (connection.json),
// as the client side (package connect) reads it.
type Connection = connect.Connection

// Bootstrap is the first-start state kept in the store.
type Bootstrap struct {
	TenantID       string `json:"tenantId"`
	SubscriptionID string `json:"subscriptionId"`
	AdminObjectID  string `json:"adminObjectId"`
	AdminAppID     string `json:"adminAppId"`
	NodeID         string `json:"nodeId"`
}

// Server is a running Safehold.
type Server struct {
	Config    Config
	Store     store.Store
	Platform  *resource.Platform
	Router    *arm.Router
	Issuer    *identity.Issuer
	Jobs      *job.Runner
	Bootstrap Bootstrap
	Conn      Connection
	Handler   http.Handler
	Blobs     *accountblob.Service // the blobs of the storage accounts (Microsoft.Storage)
	Compute   *compute.Service
	Engine    *protection.Engine // protection for both vault kinds
	Authz     *rbac.Authorizer
	// AdminSecretIssued reports that this start issued the admin's client
	// secret (first start, or connection.json was lost): the only start
	// that shows it.
	AdminSecretIssued bool
	Metrics           *metrics.Metrics
	// NodeID is this replica's id (kept in its data dir).
	NodeID string
	// Leader is this replica's campaign for the singleton lease.
	Leader *lease.Leader
	// presence is this replica's lease "replica:{node id}" (replicas only).
	presence *lease.Leader
	// forwardToLeader sends a request the leader serves (placeDisks) to
	// it (replicas only).
	forwardToLeader func(w http.ResponseWriter, r *http.Request, leaderURL string)
	// clockSeen is the stored clock state this replica last wrote or
	// restored (followClock restores newer ones, writes its own again over
	// older ones).
	clockSeen storedClock

	blob    blob.Backend // the snapshot repository's (instrumented) backend, for health checks
	dirLock *os.File     // the data dir's lock (lockDataDir), held until Close
	// ClockControl is the clock the admin API moves (nil when Config.Clock
	// is not a *clock.Control, e.g. a test's fake clock).
	ClockControl *clock.Control

	advanceMu sync.Mutex
	kinds     kindLister // the unwrapped store's kind listing (reset)
	// remembered answers every request's reads of the caller's principal,
	// the subscription and (a write's) its locks from memory while the role assignments'
	// generation, read with the request's checks, stands (PostgreSQL; nil
	// on SQLite, whose checks read from memory already).
	remembered *store.Remembered
	// Faults are the fault-injection rules (admin API, safehold fault).
	Faults *fault.Set
	// advancing is the target of the clock advance running here (nil:
	// none): GET /clock then shows the jobs it waits for.
	advancing atomic.Pointer[time.Time]

	logger *slog.Logger
	// listenAt is the address the stand-in listened on while the store was
	// waited for (openStoreWaiting), else "".
	listenAt string
	mux      *http.ServeMux // the endpoints under Handler; armOnly skips it for ARM paths
	listener net.Listener
	tlsCfg   *tls.Config
	http     *http.Server
}

// New opens the data dir, bootstraps on first start and builds the handler.
// It listens (so the address is known) but does not serve until Serve.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8443"
	}
	if cfg.DataDir == "" {
		cfg.DataDir = "safehold-data"
	}
	if cfg.RetryAfter < 1 {
		cfg.RetryAfter = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.NewControl()
	}
	dd, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	cfg.DataDir = dd
	if err := datafile.MkdirAll(dd); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if err := secureDataDir(dd, cfg.Logger); err != nil {
		return nil, fmt.Errorf("secure data dir: %w", err)
	}
	lock, err := lockDataDir(dd)
	if err != nil {
		return nil, err
	}
	st, listenAt, err := openStoreWaiting(ctx, cfg)
	if err != nil {
		lock.Close()
		return nil, err
	}
	m := metrics.New()
	s := &Server{Config: cfg, Store: m.WrapStore(st), logger: cfg.Logger, Metrics: m, Faults: &fault.Set{}, kinds: st, dirLock: lock, listenAt: listenAt}
	// Before any write (the bootstrap's principals): each write of a
	// principal, subscription or lock moves the generation from the first.
	s.remembered = store.NewRemembered(s.Store, rbac.GenerationRead(), identity.PrincipalKind, resource.SubscriptionKind, resource.LockKind)
	if err := s.init(ctx); err != nil {
		// Stop what init started (the leader and presence campaigns, the
		// listener, compute's workers), not only the store: a failed start
		// left the leader renewing on a closed store every TTL/3.
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) init(ctx context.Context) error {
	cfg := s.Config
	bs, err := loadBootstrap(ctx, s.Store)
	if err != nil {
		return err
	}
	s.Bootstrap = *bs
	if err := s.initClock(ctx); err != nil {
		return err
	}
	dir := &identity.Directory{Store: s.Store, TenantID: bs.TenantID}

	at := cfg.Addr
	if s.listenAt != "" {
		at = s.listenAt // where the stand-in answered while the store was waited for
	}
	ln, err := net.Listen("tcp", at)
	if err != nil {
		return fmt.Errorf("listen %s: %w", at, err)
	}
	s.listener = ln
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	host, _, _ := net.SplitHostPort(cfg.Addr)
	if host != "" && host != "0.0.0.0" && host != "::" && !arm.ContainsFold(hosts, host) {
		hosts = append(hosts, host)
	}
	for _, h := range cfg.TLSHostnames {
		if !arm.ContainsFold(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	endpointHost := "127.0.0.1"
	if host != "" && host != "0.0.0.0" && host != "::" {
		endpointHost = host
	}
	scheme := "https"
	caFile := ""
	if cfg.InsecureHTTP {
		scheme = "http"
	} else {
		certFile, keyFile := cfg.TLSCert, cfg.TLSKey
		if certFile == "" {
			if err := syncCA(ctx, s.Store, cfg.DataDir, time.Now()); err != nil {
				return err
			}
			f, err := ensureTLS(cfg.DataDir, hosts, time.Now())
			if err != nil {
				return err
			}
			certFile, keyFile, caFile = f.Cert, f.Key, f.CACert
		}
		if s.tlsCfg, err = loadTLSConfig(certFile, keyFile); err != nil {
			return err
		}
	}
	base := scheme + "://" + net.JoinHostPort(endpointHost, port)

	var audiences []string
	for _, h := range hosts {
		audiences = append(audiences, scheme+"://"+net.JoinHostPort(h, port))
		if (scheme == "https" && port == "443") || (scheme == "http" && port == "80") {
			audiences = append(audiences, scheme+"://"+h)
		}
	}
	s.Issuer = &identity.Issuer{Dir: dir, Clock: clock.Real{}, TenantID: bs.TenantID, Hosts: hosts, Audiences: audiences}
	nodeID, err := replicaID(cfg, bs)
	if err != nil {
		return err
	}
	// Before this replica registers: one whose object storage is not the
	// others' refuses to start (checkObjectStorage).
	var root blobRoot
	if cfg.Blob != "" {
		if root, err = openBlobURL(ctx, cfg.Blob); err != nil {
			return err
		}
	}
	if err := checkObjectStorage(ctx, s.logger, s.Store, cfg.Store != "", bs.TenantID, cfg.Blob, root); err != nil {
		return err
	}
	if cfg.Store != "" {
		if err := registerReplica(ctx, s.Store, nodeID, base, audiences); err != nil {
			return err
		}
		s.Issuer.Peers = (&peerAudiences{st: s.Store}).get
	}
	if err := s.Issuer.LoadOrCreateKey(ctx, s.Store); err != nil {
		return err
	}
	secret, fresh, err := ensureAdminSecret(ctx, s.Store, dir, bs, filepath.Join(cfg.DataDir, "connection.json"), cfg.Store != "")
	if err != nil {
		return err
	}
	s.AdminSecretIssued = fresh
	s.Conn = Connection{ARMEndpoint: base, AuthorityHost: base + "/", TenantID: bs.TenantID, SubscriptionID: bs.SubscriptionID,
		ClientID: bs.AdminAppID, ClientSecret: secret, CACertFile: caFile}
	b, _ := json.MarshalIndent(s.Conn, "", "  ")
	if err := datafile.WriteAtomic(filepath.Join(cfg.DataDir, "connection.json"), append(b, '\n')); err != nil {
		return fmt.Errorf("write connection.json: %w", err)
	}
	if err := secureDataDir(cfg.DataDir, s.logger); err != nil { // the WAL, TLS keys and connection.json now exist
		return fmt.Errorf("secure data dir: %w", err)
	}

	s.Jobs = &job.Runner{Store: s.Store, Clock: cfg.Clock, Logger: s.logger, NodeID: nodeID, Lease: cfg.LeaseTTL}
	s.NodeID = nodeID
	// One leader lease for every singleton (GC, scheduled verify): real
	// time, renewed every TTL/3; a lone replica leads from its start.
	s.Leader = &lease.Leader{Store: s.Store, Name: "leader", Holder: nodeID + "/" + uuid.NewString(), Data: base, Logger: s.logger}
	s.Leader.Start(ctx)
	if cfg.Store != "" {
		// This replica is live while it renews a lease of its own (see
		// LiveReplicas); Close releases it.
		s.presence = &lease.Leader{Store: s.Store, Name: replicaLeasePrefix + nodeID, Holder: nodeID, Data: base, Logger: s.logger}
		s.presence.Start(ctx)
	}
	s.Platform = &resource.Platform{FaultHook: s.injectOp, Store: s.Store, Clock: cfg.Clock, Jobs: s.Jobs, Ops: ops.NewManager(s.Store, cfg.Clock, s.Jobs, armops.Describe), Dir: dir, Logger: s.logger, DataDir: cfg.DataDir, TenantID: bs.TenantID,
		Leader: s.Leader}
	if root != nil {
		s.Platform.OpenBlob = func(ctx context.Context, prefix string) (blob.Backend, error) { return root.Sub(prefix) }
	}
	s.Router = arm.NewRouter()
	s.Router.RetryAfter = cfg.RetryAfter
	s.Router.Locations = resource.Locations
	s.Router.Logger = s.logger
	s.Router.GroupWritable = func(ctx context.Context, sub, rg string) error {
		return resource.CheckGroupWritable(ctx, s.checkReader(ctx), sub, rg)
	}
	s.Router.Locked = func(ctx context.Context, method, scope string) error {
		return resource.CheckLocks(ctx, s.checkReader(ctx), method, scope)
	}
	s.Router.ResourceLocation = func(ctx context.Context, id string) string {
		rid, err := arm.ParseID(id)
		if err != nil {
			return ""
		}
		var v struct {
			Location string `json:"location"`
		}
		if resource.Get(ctx, s.checkReader(ctx), rid, &v) != nil {
			return ""
		}
		return v.Location
	}
	if err := s.initRBAC(ctx); err != nil {
		return err
	}
	wrap := cfg.Compute.WrapBlob
	cfg.Compute.WrapBlob = func(be blob.Backend) blob.Backend {
		if wrap != nil {
			be = wrap(be)
		}
		s.blob = s.Metrics.WrapBlob(be)
		return s.blob
	}
	if err := s.configureNBD(&cfg, host); err != nil {
		return err
	}
	if cfg.Store != "" { // replicas: live disks are owned (see compute.Replica)
		fwd, err := forwarder(caFile)
		if err != nil {
			return err
		}
		cfg.Compute.Replica = &compute.Replica{NodeID: nodeID, URL: base, Forward: fwd}
		s.Config.Compute.Replica = cfg.Compute.Replica
		if s.forwardToLeader, err = leaderForwarder(caFile); err != nil {
			return err
		}
	}
	if s.Blobs, err = accountblob.New(s.Store, cfg.Clock, filepath.Join(cfg.DataDir, "storage-blobs")); err != nil {
		return err
	}
	if cfg.Store != "" { // replicas: a blob's bytes are where they were written
		fwd, err := blobForwarder(caFile)
		if err != nil {
			return err
		}
		s.Blobs.Replica = &accountblob.Replica{Node: nodeID, Forward: fwd, Peer: s.replicaEndpoint}
	}
	cfg.Compute.Blobs = s.Blobs
	if cfg.Compute.OlderReaders == nil {
		// The operational snapshot store in shared object storage follows
		// the vault tiers' rule (olderReplicaLive).
		cfg.Compute.OlderReaders = s.olderReplicaLive
	}
	if s.Compute, err = compute.New(s.Platform, cfg.Compute); err != nil {
		return err
	}
	s.Metrics.SetUsage(s.storageUsage)
	s.Engine = protection.New(&protection.Engine{Store: s.Store, Clock: cfg.Clock, Runner: s.Jobs, Disks: computedisks.New(s.Compute),
		Logger: s.logger, DataDir: cfg.DataDir, NodeID: nodeID, Leader: s.Leader, SharedVaults: root != nil, ItemLease: cfg.LeaseTTL, Faults: s.Faults,
		VerifyEvery: cfg.VerifyEvery, VerifySample: cfg.VerifySample, JobRetention: cfg.JobRetention,
		OpenVault: func(ctx context.Context, key string) (*snapshot.Repository, error) {
			dir := protection.VaultDir(cfg.DataDir, key)
			var be blob.Backend
			var err error
			if root != nil { // --blob: vaults/{key}/ in the object store; the index cache stays local
				be, err = root.Sub("vaults/" + key)
			} else {
				be, err = local.Open(filepath.Join(dir, "repo"))
			}
			if err != nil {
				return nil, fmt.Errorf("open vault store: %w", err)
			}
			return snapshot.Open(ctx, be, filepath.Join(dir, "cache"), snapshot.Options{OlderReaders: s.olderReplicaLive})
		}})
	if root != nil {
		s.Engine.RemoveVaultData = func(ctx context.Context, key string) error {
			os.RemoveAll(protection.VaultDir(cfg.DataDir, key)) // the local index cache
			be, err := root.Sub("vaults/" + key)
			if err != nil {
				return err
			}
			defer be.Close()
			return deleteAll(ctx, be)
		}
	}
	if err := s.Engine.Start(ctx); err != nil {
		return err
	}
	network := &rpnetwork.Provider{}
	s.Compute.SetNetwork(network)
	providers := append([]Provider{&resources.Provider{}, s.authzProvider(), rpcompute.New(s.Compute), network,
		&recoveryservices.Provider{Compute: s.Compute, Engine: s.Engine}, &dataprotection.Provider{Compute: s.Compute, Engine: s.Engine}, &usageProvider{s: s}, &rpstorage.Provider{Blobs: s.Blobs}, &deployments.Provider{Through: s.placeDisks}}, cfg.Providers...)
	for _, p := range providers {
		if err := p.Register(s.Router, s.Platform); err != nil {
			return fmt.Errorf("register provider: %w", err)
		}
	}
	s.registerAdmin()
	if err := s.Engine.PlanVerifies(ctx); err != nil {
		return err
	}
	if err := s.Engine.PlanJobPruning(ctx); err != nil {
		return err
	}
	s.Router.OpenOperationRoutes()
	if cfg.Setup != nil {
		if err := cfg.Setup(ctx, s); err != nil {
			return err
		}
	}
	s.Handler = s.buildHandler()
	return nil
}

// openedStore is a store that can also list its kinds (admin reset).
type openedStore interface {
	store.Store
	kindLister
}

func openStore(ctx context.Context, cfg Config) (openedStore, error) {
	switch {
	case cfg.Store == "":
		return store.OpenSQLite(ctx, filepath.Join(cfg.DataDir, "safehold.db"), cfg.Clock)
	case store.IsPostgresURL(cfg.Store):
		return store.OpenPostgres(ctx, cfg.Store, cfg.Clock)
	default:
		return nil, fmt.Errorf("--store: unsupported URL %q (want postgres:// or postgresql://, or none for SQLite)", redactURL(cfg.Store))
	}
}

// replicaID is this process's node id, kept in its data dir: each replica
// sharing a store has its own (job leases are "node/boot", and a restarting
// node frees only its own). A single node on SQLite keeps the id recorded
// at bootstrap.
func replicaID(cfg Config, bs *Bootstrap) (string, error) {
	f := filepath.Join(cfg.DataDir, "node-id")
	if b, err := os.ReadFile(f); err == nil && len(strings.TrimSpace(string(b))) > 0 {
		return strings.TrimSpace(string(b)), nil
	}
	id := uuid.NewString()
	if cfg.Store == "" && bs.NodeID != "" {
		id = bs.NodeID
	}
	if err := datafile.WriteAtomic(f, []byte(id+"\n")); err != nil {
		return "", fmt.Errorf("write node id: %w", err)
	}
	return id, nil
}

// redactURL hides a password in a URL for messages.
func redactURL(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		rest := u[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			if c := strings.Index(rest[:at], ":"); c >= 0 {
				return u[:i+3] + rest[:c] + ":xxxxx" + rest[at:]
			}
		}
	}
	return u
}

func loadBootstrap(ctx context.Context, st store.Store) (*Bootstrap, error) {
	var bs Bootstrap
	d, err := st.Get(ctx, "config", "bootstrap")
	if err == nil {
		if err := json.Unmarshal(d.Value, &bs); err != nil {
			return nil, fmt.Errorf("decode bootstrap: %w", err)
		}
		return &bs, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	bs = Bootstrap{TenantID: uuid.NewString(), SubscriptionID: uuid.NewString(), NodeID: uuid.NewString()}
	dir := &identity.Directory{Store: st, TenantID: bs.TenantID}
	err = st.Update(ctx, func(tx store.Tx) error {
		p, _, err := dir.CreateServicePrincipal(ctx, tx, "safehold-admin")
		if err != nil {
			return err
		}
		bs.AdminObjectID, bs.AdminAppID = p.ObjectID, p.AppID
		if err := resources.PutSubscription(ctx, tx, resources.NewSubscription(bs.SubscriptionID, bs.TenantID, "Safehold default subscription")); err != nil {
			return err
		}
		b, _ := json.Marshal(bs)
		return tx.Create(ctx, store.Doc{Kind: "config", Key: "bootstrap", Value: b})
	})
	if errors.Is(err, store.ErrConflict) {
		// Another replica bootstrapped the shared store at the same moment:
		// its transaction won, ours rolled back whole. Use its state.
		return loadBootstrap(ctx, st)
	}
	if err != nil {
		return nil, fmt.Errorf("bootstrap: %w", err)
	}
	return &bs, nil
}

// ensureAdminSecret returns the admin's client secret: the one in an
// existing connection.json if it still verifies, else a freshly rotated one
// (the store keeps only a salted hash). With a shared store (replicas),
// the secret itself is kept in the store too (document config/admin-secret;
// the store already holds the token-signing key, which is worth more), so
// that every replica writes the same connection.json; replicas starting
// together rotate at most once between them.
// fresh reports a newly issued secret (first start, or connection.json lost).
func ensureAdminSecret(ctx context.Context, st store.Store, dir *identity.Directory, bs *Bootstrap, connFile string, shared bool) (secret string, fresh bool, err error) {
	p, err := dir.Get(ctx, bs.AdminObjectID)
	if err != nil {
		return "", false, fmt.Errorf("load admin principal: %w", err)
	}
	if b, err := os.ReadFile(connFile); err == nil {
		var c Connection
		if json.Unmarshal(b, &c) == nil && c.ClientID == p.AppID && p.CheckSecret(c.ClientSecret) {
			if shared {
				if err := publishAdminSecret(ctx, st, c.ClientSecret); err != nil {
					return "", false, err
				}
			}
			return c.ClientSecret, false, nil
		}
	}
	secret = identity.NewSecret()
	fresh = true
	err = st.Update(ctx, func(tx store.Tx) error {
		if shared {
			if d, err := tx.Get(ctx, "config", adminSecretKey); err == nil {
				if cur, err := dir.Get(ctx, bs.AdminObjectID); err == nil && cur.CheckSecret(string(d.Value)) {
					secret, fresh = string(d.Value), false // another replica's, still valid
					return nil
				}
			}
		}
		p.SetSecret(secret)
		if err := dir.Put(ctx, tx, p); err != nil {
			return err
		}
		if shared {
			return tx.Put(ctx, store.Doc{Kind: "config", Key: adminSecretKey, Value: []byte(secret)})
		}
		return nil
	})
	if err != nil {
		return "", false, err
	}
	return secret, fresh, nil
}

const adminSecretKey = "admin-secret"

func publishAdminSecret(ctx context.Context, st store.Store, secret string) error {
	if d, err := st.Get(ctx, "config", adminSecretKey); err == nil && string(d.Value) == secret {
		return nil
	}
	return st.Update(ctx, func(tx store.Tx) error {
		return tx.Put(ctx, store.Doc{Kind: "config", Key: adminSecretKey, Value: []byte(secret)})
	})
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.listener.Addr().String() }

// Serve runs the workers and serves until ctx is done, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context) error {
	// Jobs and upkeep ride out an object store failing for half a minute
	// (blob.Retry); requests answer 503 sooner.
	if err := s.Jobs.Start(blob.Patient(ctx)); err != nil {
		return err
	}
	mctx, stopMaint := context.WithCancel(blob.Patient(context.WithoutCancel(ctx)))
	defer stopMaint()
	go s.maintain(mctx)
	go s.followClock(mctx)
	go s.Blobs.Run(mctx, s.logger)
	s.http = &http.Server{Handler: s.Handler, ReadHeaderTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second,
		ErrorLog: slog.NewLogLogger(s.logger.Handler(), slog.LevelDebug), ConnContext: connContext, ConnState: connIdle}
	var ln net.Listener = &fixListener{Listener: s.listener, tlsCfg: s.tlsCfg}
	errc := make(chan error, 1)
	go func() { errc <- s.http.Serve(ln) }()
	select {
	case err := <-errc:
		s.Jobs.Stop()
		return err
	case <-ctx.Done():
	}
	s.logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := s.http.Shutdown(sctx)
	s.Jobs.Stop()
	return err
}

// Close releases the store (after Serve returned). It also stops what a
// start that failed part of the way had started (New).
func (s *Server) Close() error {
	if s.listener != nil {
		s.listener.Close()
	}
	if s.Leader != nil {
		s.Leader.Stop()
	}
	if s.presence != nil {
		s.presence.Stop()
	}
	if s.Engine != nil {
		s.Engine.Close()
	}
	if s.Compute != nil {
		s.Compute.Close()
	}
	err := s.Store.Close()
	if s.dirLock != nil {
		s.dirLock.Close()
	}
	return err
}

// isLoopback reports whether a listen host only accepts local connections.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// configureNBD checks the NBD listener's address against its TLS setting:
// beyond loopback it must be TLS-only, since NBD itself carries no
// authentication beyond the granted export name.
func (s *Server) configureNBD(cfg *Config, _ string) error {
	if cfg.Compute.NBDAddr == "" {
		if cfg.NBDTLS {
			return errors.New("--nbd-tls needs --nbd-addr")
		}
		return nil
	}
	host, _, err := net.SplitHostPort(cfg.Compute.NBDAddr)
	if err != nil {
		return fmt.Errorf("--nbd-addr %s: %w", cfg.Compute.NBDAddr, err)
	}
	if !cfg.NBDTLS {
		if !isLoopback(host) {
			return fmt.Errorf("--nbd-addr %s listens beyond loopback without TLS: add --nbd-tls (NBD STARTTLS with the server's certificate from Safehold's CA), or listen on 127.0.0.1", cfg.Compute.NBDAddr)
		}
		return nil
	}
	if s.tlsCfg == nil {
		return errors.New("--nbd-tls serves the server's certificate: it cannot be combined with --insecure-http")
	}
	c := s.tlsCfg.Clone()
	c.NextProtos = nil
	c.MinVersion = tls.VersionTLS12
	cfg.Compute.NBDTLS = c
	return nil
}
