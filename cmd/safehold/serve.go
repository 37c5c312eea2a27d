package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/safehold/safehold/compute"
	"github.com/safehold/safehold/internal/logtext"
	"github.com/safehold/safehold/protection"
	"github.com/safehold/safehold/server"
	"github.com/safehold/safehold/version"
	"github.com/spf13/cobra"
)

// envDuration is a duration from the environment (zero when unset or invalid).
func envDuration(name string) time.Duration {
	d, _ := time.ParseDuration(os.Getenv(name))
	return d
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// DefaultMemoryLimitMiB is serve's soft memory limit (--memory-limit):
// peak RSS stays within 256 MiB with a 16-million-chunk repository
// (bench/index.sh, which sets the same limit).
const DefaultMemoryLimitMiB = 224

func newServeCmd() *cobra.Command {
	var (
		addr, dataDir, tlsCert, tlsKey, logLevel, logFormat string
		hostnames                                           []string
		insecure, logRequests, nbdTLS                       bool
		retryAfter                                          int
		rbacDelay, leaseTTL                                 time.Duration
		clockStart                                          string
		computeOpts                                         compute.Options
		storeURL, blobURL                                   string
		verifyEvery, verifySample, jobRetention             string
		memLimitMiB                                         int64
	)
	ra, _ := strconv.Atoi(envOr("SAFEHOLD_RETRY_AFTER", "1"))
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Start the Safehold server (HTTPS ARM endpoint, token issuer, backup engine)",
		RunE: func(cmd *cobra.Command, args []string) error {
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level %q is not supported: use debug, info, warn or error", logLevel)
			}
			if retryAfter < 0 {
				return fmt.Errorf("--retry-after %d: give whole seconds, 0 or more", retryAfter)
			}
			if leaseTTL != 0 && leaseTTL < time.Second {
				return fmt.Errorf("--lease-ttl %s: give 1s or more (a lease is renewed every third of it), or leave it out for 60s", leaseTTL)
			}
			if d := computeOpts.ImportDir; d != "" {
				if st, err := os.Stat(d); err != nil || !st.IsDir() {
					return fmt.Errorf("--import-dir %s is not a directory: give an existing directory holding the images (or leave it out: no local file is read)", d)
				}
			}
			if logRequests && lvl > slog.LevelDebug {
				lvl = slog.LevelDebug // the bodies are logged at debug
			}
			var h slog.Handler
			lw := newLogWriter(os.Stderr)
			defer lw.Close()
			switch logFormat {
			case "text":
				h = logtext.New(lw, &slog.HandlerOptions{Level: lvl}) // slog's text format, faster for the access log
			case "json":
				h = slog.NewJSONHandler(lw, &slog.HandlerOptions{Level: lvl})
			default:
				return fmt.Errorf("--log-format %q is not supported: use text or json", logFormat)
			}
			logger := slog.New(flushingHandler{h, lw})
			if os.Getenv("GOGC") == "" {
				// The live heap is small: trade a little memory for fewer
				// collections and pauses (GOGC 200, and a heap of
				// heapFloorMiB before a collection, within half the soft limit).
				floor := uint64(heapFloorMiB)
				if memLimitMiB > 0 && os.Getenv("GOMEMLIMIT") == "" {
					floor = min(floor, uint64(memLimitMiB)/2)
				}
				defer heapFloor(floor<<20, 200)()
			}
			if os.Getenv("GOMEMLIMIT") == "" && memLimitMiB > 0 {
				// A soft limit: with GOGC 200 the heap may grow to three
				// times the live heap, which bursts of garbage (the first
				// index build of a large repository) push past 256 MiB; the
				// limit makes the collector work harder near it instead.
				debug.SetMemoryLimit(memLimitMiB << 20)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// For the benchmarks (bench/mixed.sh PROFILE=1): a CPU profile
			// of the whole run, written when the server stops.
			stopProfile, err := recordRun("SAFEHOLD_CPUPROFILE", pprof.StartCPUProfile, pprof.StopCPUProfile)
			if err != nil {
				return err
			}
			defer stopProfile()
			// bench/mixed.sh TRACE=FILE: an execution trace of the whole
			// run (go tool trace FILE), written when the server stops.
			stopTrace, err := recordRun("SAFEHOLD_TRACE", trace.Start, trace.Stop)
			if err != nil {
				return err
			}
			defer stopTrace()
			if p := os.Getenv("SAFEHOLD_WAITPROFILE"); p != "" {
				// bench/mixed.sh WAITPROFILE=PREFIX: the block and mutex
				// profiles of the whole run, PREFIX.block and PREFIX.mutex.
				runtime.SetBlockProfileRate(10000) // one sample per 10 µs blocked
				runtime.SetMutexProfileFraction(10)
				defer func() {
					for _, name := range []string{"block", "mutex"} {
						if f, err := os.Create(p + "." + name); err == nil {
							pprof.Lookup(name).WriteTo(f, 0)
							f.Close()
						}
					}
				}()
			}
			cfg := server.Config{Addr: addr, DataDir: dataDir, TLSHostnames: hostnames, TLSCert: tlsCert, TLSKey: tlsKey,
				InsecureHTTP: insecure, RetryAfter: retryAfter, RBACDelay: rbacDelay, Logger: logger, Compute: computeOpts, LogRequests: logRequests, NBDTLS: nbdTLS,
				Store: storeURL, Blob: blobURL, LeaseTTL: leaseTTL}
			every, err := protection.ParseVerifyEvery(verifyEvery)
			if err != nil {
				return fmt.Errorf("--verify-every: %w", err)
			}
			readData, sample, err := protection.ParseVerifySample(verifySample)
			if err != nil {
				return fmt.Errorf("--verify-sample: %w", err)
			}
			switch {
			case readData:
				sample = 1
			case sample == 0:
				sample = -1 // structure only
			}
			cfg.VerifyEvery, cfg.VerifySample = every, sample
			if cfg.JobRetention, err = protection.ParseJobRetention(jobRetention); err != nil {
				return fmt.Errorf("--job-retention: %w", err)
			}
			if (tlsCert == "") != (tlsKey == "") {
				return fmt.Errorf("--tls-cert and --tls-key go together")
			}
			if clockStart != "" {
				t, err := time.Parse(time.RFC3339Nano, clockStart)
				if err != nil {
					return fmt.Errorf("--clock: %q is not an RFC 3339 time such as 2026-01-01T00:00:00Z", clockStart)
				}
				if err := server.CheckClockTime(t); err != nil {
					return fmt.Errorf("--clock: %q is out of range: %v", clockStart, err)
				}
				cfg.ClockStart = &t
			}
			if err := configure(&cfg); err != nil {
				return err
			}
			s, err := server.New(ctx, cfg)
			if err != nil {
				return addrInUse(err)
			}
			defer s.Close()
			printBanner(s)
			logger.Info("serving", "version", version.Get().String(), "arm_endpoint", s.Conn.ARMEndpoint, "data_dir", s.Config.DataDir)
			return addrInUse(s.Serve(ctx))
		},
	}
	f := cmd.Flags()
	f.StringVar(&addr, "addr", envOr("SAFEHOLD_ADDR", "127.0.0.1:8443"), "listen address (env SAFEHOLD_ADDR)")
	f.StringVar(&dataDir, "data-dir", envOr("SAFEHOLD_DATA_DIR", "./safehold-data"), "state directory (env SAFEHOLD_DATA_DIR)")
	f.StringVar(&storeURL, "store", os.Getenv("SAFEHOLD_STORE"), "metadata store: a postgres:// or postgresql:// URL shared by replicas; default: the SQLite file in --data-dir (env SAFEHOLD_STORE)")
	f.StringVar(&blobURL, "blob", os.Getenv("SAFEHOLD_BLOB"), "object storage for vault repositories and snapshots: azblob://CONTAINER?endpoint=URL (AZURE_STORAGE_ACCOUNT/AZURE_STORAGE_KEY) or s3://BUCKET?endpoint=URL&region=R (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY); default: directories in --data-dir (env SAFEHOLD_BLOB)")
	f.StringSliceVar(&hostnames, "tls-hostname", splitEnv("SAFEHOLD_TLS_HOSTNAMES"), "extra host names for the generated server certificate (env SAFEHOLD_TLS_HOSTNAMES, comma-separated)")
	f.StringVar(&tlsCert, "tls-cert", os.Getenv("SAFEHOLD_TLS_CERT"), "serve this certificate instead of the generated one (env SAFEHOLD_TLS_CERT)")
	f.StringVar(&tlsKey, "tls-key", os.Getenv("SAFEHOLD_TLS_KEY"), "key of --tls-cert (env SAFEHOLD_TLS_KEY)")
	f.BoolVar(&insecure, "insecure-http", os.Getenv("SAFEHOLD_INSECURE_HTTP") == "true", "serve plain HTTP instead of HTTPS (clients then need InsecureAllowCredentialWithHTTP; env SAFEHOLD_INSECURE_HTTP=true)")
	f.IntVar(&retryAfter, "retry-after", ra, "Retry-After seconds on long-running operations (env SAFEHOLD_RETRY_AFTER)")
	delay, _ := time.ParseDuration(envOr("SAFEHOLD_RBAC_PROPAGATION_DELAY", "0s"))
	f.StringVar(&computeOpts.NBDAddr, "nbd-addr", os.Getenv("SAFEHOLD_NBD_ADDR"), "serve granted disks over NBD on this address, e.g. 127.0.0.1:10809: beginGetAccess answers the export's nbdUri, endGetAccess ends it; beyond loopback it needs --nbd-tls (env SAFEHOLD_NBD_ADDR; off when empty)")
	f.BoolVar(&nbdTLS, "nbd-tls", os.Getenv("SAFEHOLD_NBD_TLS") == "true", "require TLS on the NBD listener (NBD STARTTLS with the server's certificate; clients use nbds:// and trust tls/ca.pem) (env SAFEHOLD_NBD_TLS=true)")
	f.StringVar(&computeOpts.ImportDir, "import-dir", os.Getenv("SAFEHOLD_IMPORT_DIR"), "let disks be imported from local image files below this directory (createOption Import, sourceUri file:///DIR/image.raw or image.raw); none by default (env SAFEHOLD_IMPORT_DIR)")
	f.DurationVar(&rbacDelay, "rbac-propagation-delay", delay, "make role assignment changes take effect only after this long, as Azure's propagation does (env SAFEHOLD_RBAC_PROPAGATION_DELAY)")
	f.StringVar(&logLevel, "log-level", envOr("SAFEHOLD_LOG_LEVEL", "info"), "debug, info, warn or error (env SAFEHOLD_LOG_LEVEL)")
	f.BoolVar(&logRequests, "log-requests", os.Getenv("SAFEHOLD_LOG_REQUESTS") == "true", "log request and response bodies at debug level (sets --log-level debug), secrets and SAS signatures redacted; disk data-plane bodies are not logged (env SAFEHOLD_LOG_REQUESTS=true)")
	f.StringVar(&logFormat, "log-format", envOr("SAFEHOLD_LOG_FORMAT", "text"), "text or json (env SAFEHOLD_LOG_FORMAT)")
	f.Int64Var(&memLimitMiB, "memory-limit", DefaultMemoryLimitMiB, "soft limit of the Go heap in MiB (0: none; the GOMEMLIMIT variable overrides it); raise it for repositories far beyond 1 TiB of unique data, whose resident chunk index (~4 bytes per chunk) approaches it")
	f.DurationVar(&leaseTTL, "lease-ttl", envDuration("SAFEHOLD_LEASE_TTL"), "how long a job's lease outlives its last renewal: how soon another replica resumes the work of one that died (default 60s; env SAFEHOLD_LEASE_TTL)")
	f.StringVar(&clockStart, "clock", os.Getenv("SAFEHOLD_CLOCK"), "start with the server clock frozen at this RFC 3339 time (schedules, retention, expiry; never tokens or TLS); move it with safehold clock (env SAFEHOLD_CLOCK)")
	f.StringVar(&verifyEvery, "verify-every", envOr("SAFEHOLD_VERIFY_EVERY", "P7D"), "verify every vault's backup data this often (a Verify job in the vault's job list): an ISO 8601 or Go duration (P7D, PT12H, 36h) or off; a vault's tag safehold-verify-every overrides it (env SAFEHOLD_VERIFY_EVERY)")
	f.StringVar(&verifySample, "verify-sample", envOr("SAFEHOLD_VERIFY_SAMPLE", "0.05"), "what a scheduled verify re-reads: a fraction of the packs (0.05), all (every chunk) or structure; a vault's tag safehold-verify-sample overrides it (env SAFEHOLD_VERIFY_SAMPLE)")
	f.StringVar(&jobRetention, "job-retention", envOr("SAFEHOLD_JOB_RETENTION", "P180D"), "how long ended jobs stay in the vaults' job lists, as Azure keeps six months of job history: an ISO 8601 or Go duration of at least a day (P180D, 720h) or off to keep them forever (env SAFEHOLD_JOB_RETENTION)")
	addServeFlags(f)
	return cmd
}

// addrInUse adds what to do to a listen error on a taken address.
func addrInUse(err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%w\nanother program (another safehold serve?) listens there: stop it, or choose another --addr (or --nbd-addr)", err)
	}
	return err
}

func splitEnv(name string) []string {
	v := os.Getenv(name)
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

func printBanner(s *server.Server) {
	c := s.Conn
	conn := filepath.Join(s.Config.DataDir, "connection.json")
	secret := "(not shown again: it is in " + conn + ")"
	if s.AdminSecretIssued {
		secret = c.ClientSecret + "   (shown this once; it is kept in " + conn + ")"
	}
	fmt.Fprintf(os.Stderr, `
Safehold is ready.
  armEndpoint:    %s
  authorityHost:  %s
  tenantId:       %s
  subscriptionId: %s
  clientId:       %s
  clientSecret:   %s
  caCertFile:     %s
  connection:     %s

`, c.ARMEndpoint, c.AuthorityHost, c.TenantID, c.SubscriptionID, c.ClientID, secret, c.CACertFile, conn)
}

// recordRun starts a recording of the whole run (a CPU profile, an
// execution trace) into the file the environment variable env names, when
// it names one; the func returned stops the recording and closes the file.
func recordRun(env string, start func(io.Writer) error, stop func()) (func(), error) {
	p := os.Getenv(env)
	if p == "" {
		return func() {}, nil
	}
	f, err := os.Create(p)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", env, err)
	}
	if err := start(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", env, err)
	}
	return func() {
		stop()
		f.Close()
	}, nil
}
