// Package metrics is Safehold's Prometheus instrumentation: HTTP requests by
// route, method and status with latency histograms; backup jobs by
// operation and result with durations; bytes backed up and restored;
// repository logical and stored size; metadata-store and blob-backend
// latencies. Each server has its own registry (tests run several servers in
// one process), served at /metrics.
//
// Jobs are observed where they are recorded: the instrumented store sees a
// job document become terminal (Completed, Failed, Cancelled) in a committed
// transaction and counts it once, whichever engine or provider finished it.
package metrics

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Usage is the snapshot repository's size.
type Usage struct {
	Snapshots    int   `json:"snapshots"`
	LogicalBytes int64 `json:"logicalBytes"` // what the snapshots hold (non-zero blocks), as if each were a full copy
	StoredBytes  int64 `json:"storedBytes"`  // repository bytes after dedup and compression
	Chunks       int   `json:"chunks"`
	// DamagedSnapshots have a part that cannot be read (`safehold verify`
	// names them); LogicalBytes counts the rest of them.
	DamagedSnapshots int `json:"damagedSnapshots,omitempty"`
}

// Metrics holds one server's collectors.
type Metrics struct {
	Registry *prometheus.Registry

	requests  *prometheus.CounterVec
	reqLat    *prometheus.HistogramVec
	jobs      *prometheus.CounterVec
	jobDur    *prometheus.HistogramVec
	jobBytes  *prometheus.CounterVec
	storeLat  *prometheus.HistogramVec
	blobLat   *prometheus.HistogramVec
	blobBytes *prometheus.CounterVec
	gcFailed  *prometheus.CounterVec
	gcFailing prometheus.Gauge

	reqMu     sync.RWMutex
	reqSeries map[requestLabels]*requestSeries

	usageMu   sync.Mutex
	usageFn   func(context.Context) (Usage, error)
	usage     Usage
	usageTime time.Time
}

// New makes the collectors and registers them (with the Go and process
// collectors) in a fresh registry.
func New() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	lat := []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "safehold_http_requests_total",
		Help: "HTTP requests this replica answered, by route (the ARM route pattern or a fixed name), method and status code; with several replicas, sum them across replicas."}, []string{"route", "method", "status"})
	m.reqLat = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "safehold_http_request_duration_seconds",
		Help: "HTTP request latency by route and method.", Buckets: lat}, []string{"route", "method"})
	m.jobs = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "safehold_jobs_total",
		Help: "Backup jobs that ended on this replica (each job is counted once, by the replica that ended it), by operation (Backup, Restore, ConfigureBackup, ...) and result (Completed, Failed, Cancelled); with several replicas, sum them across replicas."}, []string{"operation", "result"})
	m.jobDur = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "safehold_job_duration_seconds",
		Help: "Duration of ended backup jobs by operation and result.", Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600}}, []string{"operation", "result"})
	m.jobBytes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "safehold_job_bytes_total",
		Help: "Bytes transferred by jobs that completed on this replica (each job is counted once, by the replica that ended it): direction backup (bytes backed up) or restore (bytes restored); with several replicas, sum them across replicas."}, []string{"direction"})
	m.storeLat = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "safehold_store_operation_duration_seconds",
		Help: "Metadata store latency by operation (get, list, update, claim, ...).", Buckets: lat}, []string{"operation"})
	m.blobLat = prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "safehold_blob_operation_duration_seconds",
		Help: "Blob backend latency by operation (put, get, stat, list, delete).", Buckets: lat}, []string{"operation"})
	m.blobBytes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "safehold_blob_bytes_total",
		Help: "Bytes moved to and from the blob backend (direction put or get)."}, []string{"direction"})
	m.gcFailed = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "safehold_gc_failures_total",
		Help: "Garbage collections that failed (each is retried with a backoff growing to hours), by repository: snapshots (the snapshot store) or vault (a vault's tier)."}, []string{"repository"})
	for _, d := range []string{"backup", "restore"} {
		m.jobBytes.WithLabelValues(d)
	}
	// The job series every replica shows from its start, at 0, whether or
	// not it has ended a job: a replica that never ended one showed no
	// safehold_jobs_total at all (no HELP, no series), so a sum or rate
	// across replicas missed it rather than counting its 0.
	for _, op := range []string{"Backup", "Restore"} {
		for _, r := range []string{"Completed", "Failed", "Cancelled"} {
			m.jobs.WithLabelValues(op, r)
		}
	}
	for _, r := range []string{GCSnapshots, GCVault} {
		m.gcFailed.WithLabelValues(r)
	}
	m.gcFailing = prometheus.NewGauge(prometheus.GaugeOpts{Name: "safehold_gc_requests_failing",
		Help: "Garbage collections whose last run failed, waiting for their retry, as the leader saw them at its last round (0 on a replica that does not lead)."})
	m.Registry.MustRegister(m.requests, m.reqLat, m.jobs, m.jobDur, m.jobBytes, m.storeLat, m.blobLat, m.blobBytes, m.gcFailed, m.gcFailing,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "safehold_repository_logical_bytes",
			Help: "Bytes the recovery snapshots hold (non-zero blocks), counting each snapshot as a full copy: the shared repository's figure, the same on every replica (take max across replicas, not sum)."}, func() float64 { return float64(m.Usage().LogicalBytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "safehold_repository_stored_bytes",
			Help: "Bytes the snapshot repository stores after deduplication and compression: the shared repository's figure, the same on every replica (take max across replicas, not sum)."}, func() float64 { return float64(m.Usage().StoredBytes) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "safehold_repository_snapshots",
			Help: "Snapshots in the repository: the shared repository's figure, the same on every replica (take max across replicas, not sum)."}, func() float64 { return float64(m.Usage().Snapshots) }),
	)
	return m
}

// Repositories of safehold_gc_failures_total.
const (
	GCSnapshots = "snapshots"
	GCVault     = "vault"
)

// GCFailed counts a failed collection of a repository (GCSnapshots or
// GCVault).
func (m *Metrics) GCFailed(repository string) { m.gcFailed.WithLabelValues(repository).Inc() }

// SetGCFailing sets how many collections wait for their retry after a
// failure (the leader counts them at each round; no scrape reads the
// store).
func (m *Metrics) SetGCFailing(n int) { m.gcFailing.Set(float64(n)) }

// SetUsage sets the function that measures the repository.
func (m *Metrics) SetUsage(fn func(context.Context) (Usage, error)) {
	m.usageMu.Lock()
	m.usageFn, m.usageTime = fn, time.Time{}
	m.usageMu.Unlock()
}

// Usage measures the repository (at most once a second; errors keep the
// last figures).
func (m *Metrics) Usage() Usage {
	m.usageMu.Lock()
	defer m.usageMu.Unlock()
	if m.usageFn == nil || time.Since(m.usageTime) < time.Second {
		return m.usage
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if u, err := m.usageFn(ctx); err == nil {
		m.usage, m.usageTime = u, time.Now()
	}
	return m.usage
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

// ObserveRequest records one HTTP request.
func (m *Metrics) ObserveRequest(route, method string, status int, d time.Duration) {
	k := requestLabels{route, methodLabel(method), status}
	m.reqMu.RLock()
	s := m.reqSeries[k]
	m.reqMu.RUnlock()
	if s == nil {
		s = &requestSeries{m.requests.WithLabelValues(route, k.method, statusText(status)), m.reqLat.WithLabelValues(route, k.method)}
		m.reqMu.Lock()
		if m.reqSeries == nil {
			m.reqSeries = map[requestLabels]*requestSeries{}
		}
		if len(m.reqSeries) < maxRequestSeries {
			m.reqSeries[k] = s
		}
		m.reqMu.Unlock()
	}
	s.count.Inc()
	s.lat.Observe(d.Seconds())
}

// methodLabel is method when HTTP defines it, else "OTHER": the method is
// the client's (no token needed), and each one made up would add series
// to both vectors for good.
func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete,
		http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "OTHER"
}

// requestLabels and requestSeries: ObserveRequest's children of the two
// vectors for one route, method and status, kept (up to maxRequestSeries
// of them) so that a request does not hash its
// labels and lock each vector (the vectors' series are never deleted).
type requestLabels struct {
	route, method string
	status        int
}

type requestSeries struct {
	count prometheus.Counter
	lat   prometheus.Observer
}

const maxRequestSeries = 4096

// since records the seconds since t under op in a latency histogram (the
// blob and store decorators' calls).
func since(h *prometheus.HistogramVec, op string, t time.Time) {
	h.WithLabelValues(op).Observe(time.Since(t).Seconds())
}

func statusText(s int) string {
	if s == 0 {
		s = http.StatusOK
	}
	return strconv.Itoa(s)
}

// endedJob is the part of a stored job the metrics read.
type endedJob struct {
	Operation        string     `json:"operation"`
	Status           string     `json:"status"`
	StartTime        time.Time  `json:"startTime"`
	EndTime          *time.Time `json:"endTime"`
	BytesTransferred int64      `json:"bytesTransferred"`
}

func terminal(status string) bool {
	switch status {
	case "Completed", "Failed", "Cancelled", "CompletedWithWarnings":
		return true
	}
	return false
}

func (m *Metrics) observeJob(j endedJob) {
	m.jobs.WithLabelValues(j.Operation, j.Status).Inc()
	if j.EndTime != nil {
		m.jobDur.WithLabelValues(j.Operation, j.Status).Observe(j.EndTime.Sub(j.StartTime).Seconds())
	}
	// A job that failed or was cancelled may have moved bytes, but backed
	// up or restored nothing.
	if j.BytesTransferred > 0 && (j.Status == "Completed" || j.Status == "CompletedWithWarnings") {
		switch j.Operation {
		case "Backup":
			m.jobBytes.WithLabelValues("backup").Add(float64(j.BytesTransferred))
		case "Restore":
			m.jobBytes.WithLabelValues("restore").Add(float64(j.BytesTransferred))
		}
	}
}

func decodeJob(b []byte) (endedJob, bool) {
	var j endedJob
	if json.Unmarshal(b, &j) != nil {
		return j, false
	}
	return j, true
}
