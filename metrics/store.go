package metrics

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/safehold/safehold/clock"
	"github.com/safehold/safehold/store"
)

const jobKind = "protection.job" // protection's job documents

// WrapStore instruments st: every call's latency, and jobs that end in a
// committed transaction.
func (m *Metrics) WrapStore(st store.Store) store.Store {
	s := &instStore{Store: st, m: m}
	if _, ok := st.(store.BatchReader); ok {
		return batchStore{s}
	}
	return s
}

type instStore struct {
	store.Store
	m         *Metrics
	get, list opObserver // the hot reads' series, looked up once
}

// opObserver is one operation's series of a histogram, looked up (and so
// created, as WithLabelValues does) at its first observation: a lookup
// hashes the label and takes the vector's lock, ~15 % of a cached Get.
type opObserver struct {
	once sync.Once
	o    prometheus.Observer
}

// start is clock.Mono's reading at the start: the hot reads (three per
// GET) read the clock twice, not the wall and monotonic clocks three times.
func (l *opObserver) observe(h *prometheus.HistogramVec, op string, start time.Duration) {
	d := clock.Mono() - start
	l.once.Do(func() { l.o = h.WithLabelValues(op) })
	l.o.Observe(d.Seconds())
}

func (s *instStore) Get(ctx context.Context, kind, key string) (store.Doc, error) {
	defer s.get.observe(s.m.storeLat, "get", clock.Mono())
	return s.Store.Get(ctx, kind, key)
}

// View passes a read that does not copy the value on to the wrapped store
// (store.View), observed as a get.
func (s *instStore) View(ctx context.Context, kind, key string) (store.Doc, error) {
	defer s.get.observe(s.m.storeLat, "get", clock.Mono())
	return store.View(ctx, s.Store, kind, key)
}

func (s *instStore) List(ctx context.Context, kind string, q store.ListQuery) ([]store.Doc, error) {
	defer s.list.observe(s.m.storeLat, "list", clock.Mono())
	return s.Store.List(ctx, kind, q)
}

// ListView passes a list that does not copy the documents on to the
// wrapped store (store.ListView), observed as a list.
func (s *instStore) ListView(ctx context.Context, kind string, q store.ListQuery, fn func(d *store.Doc, stable bool) bool) error {
	defer s.list.observe(s.m.storeLat, "list", clock.Mono())
	return store.ListView(ctx, s.Store, kind, q, fn)
}

// AnyUnder passes an existence check under a scope on to the wrapped store
// (store.AnyUnder), observed as a list.
func (s *instStore) AnyUnder(ctx context.Context, prefix string, kinds []string) (bool, error) {
	defer s.list.observe(s.m.storeLat, "list", clock.Mono())
	return store.AnyUnder(ctx, s.Store, prefix, kinds...)
}

// batchStore is instStore of a store that makes several reads in one
// round trip (store.BatchReader), which it passes on.
type batchStore struct{ *instStore }

// ReadBatch passes a batch of reads on, observed as a get.
func (s batchStore) ReadBatch(ctx context.Context, reads []store.Read) []store.ReadResult {
	defer s.get.observe(s.m.storeLat, "get", clock.Mono())
	return s.Store.(store.BatchReader).ReadBatch(ctx, reads)
}

// KeepGeneration passes the wrapped store's on (store.GenerationKeeper).
func (s batchStore) KeepGeneration(gen store.Read, kinds ...string) bool {
	k, ok := s.Store.(store.GenerationKeeper)
	return ok && k.KeepGeneration(gen, kinds...)
}

// KindVersion passes the wrapped store's Versions on (store.KindVersion):
// a store.KnownKeys over this store answers from memory what the wrapped
// one's would.
func (s *instStore) KindVersion(kind string) *store.Version {
	return store.KindVersion(s.Store, kind)
}

func (s *instStore) GetTask(ctx context.Context, id string) (store.Task, error) {
	defer since(s.m.storeLat, "get_task", time.Now())
	return s.Store.GetTask(ctx, id)
}

func (s *instStore) GetTaskByKey(ctx context.Context, key string) (store.Task, error) {
	defer since(s.m.storeLat, "get_task", time.Now())
	return s.Store.GetTaskByKey(ctx, key)
}

func (s *instStore) ClaimTasks(ctx context.Context, owner string, now time.Time, lease time.Duration, limit int) ([]store.Task, error) {
	defer since(s.m.storeLat, "claim_tasks", time.Now())
	return s.Store.ClaimTasks(ctx, owner, now, lease, limit)
}

func (s *instStore) ExtendLease(ctx context.Context, l store.Lease, until time.Time) error {
	defer since(s.m.storeLat, "extend_lease", time.Now())
	return s.Store.ExtendLease(ctx, l, until)
}

// PullTasks passes the wrapped store's store.TaskPuller on, so a clock set
// back keeps due work due through this wrapper too (0 moved when the
// wrapped store cannot move tasks).
func (s *instStore) PullTasks(ctx context.Context, from, to time.Time) (int, error) {
	p, ok := s.Store.(store.TaskPuller)
	if !ok {
		return 0, nil
	}
	defer since(s.m.storeLat, "pull_tasks", time.Now())
	return p.PullTasks(ctx, from, to)
}

// Leases passes the wrapped store's store.LeaseLister on, so the leader
// frees the tasks of a replica gone a lease through this wrapper too (none
// listed when the wrapped store cannot list them).
func (s *instStore) Leases(ctx context.Context) ([]store.Task, error) {
	l, ok := s.Store.(store.LeaseLister)
	if !ok {
		return nil, nil
	}
	defer since(s.m.storeLat, "leases", time.Now())
	return l.Leases(ctx)
}

// DueFor passes the wrapped store's store.DueReader on, so a clock
// advance waits for pinned work without claiming it through this wrapper
// too (claimable, as before, when the wrapped store cannot tell).
func (s *instStore) DueFor(ctx context.Context, node string, now, wall time.Time) (bool, time.Time, error) {
	d, ok := s.Store.(store.DueReader)
	if !ok {
		return true, time.Time{}, nil
	}
	return d.DueFor(ctx, node, now, wall)
}

var (
	_ store.LeaseLister = (*instStore)(nil)
	_ store.DueReader   = (*instStore)(nil)
	_ store.TaskPuller  = (*instStore)(nil)
)

// Wakeups passes the wrapped store's cross-process wake-ups through (nil,
// which never fires, when it has none).
func (s *instStore) Wakeups() <-chan struct{} {
	if w, ok := s.Store.(store.Waker); ok {
		return w.Wakeups()
	}
	return nil
}

// Update runs fn in a transaction that notes jobs turning terminal; they
// are counted once the transaction commits (a retried fn starts afresh).
func (s *instStore) Update(ctx context.Context, fn func(tx store.Tx) error) error {
	start := time.Now()
	var ended []endedJob
	err := s.Store.Update(ctx, func(tx store.Tx) error {
		ended = ended[:0]
		return fn(&instTx{Tx: tx, ended: &ended})
	})
	since(s.m.storeLat, "update", start)
	if err == nil {
		for _, j := range ended {
			s.m.observeJob(j)
		}
	}
	return err
}

type instTx struct {
	store.Tx
	ended *[]endedJob
}

func (t *instTx) note(ctx context.Context, d store.Doc) {
	if !strings.EqualFold(d.Kind, jobKind) {
		return
	}
	j, ok := decodeJob(d.Value)
	if !ok || !terminal(j.Status) {
		return
	}
	if old, err := t.Tx.Get(ctx, d.Kind, d.Key); err == nil {
		if o, ok := decodeJob(old.Value); ok && terminal(o.Status) {
			return // already ended (a rewrite of an ended job)
		}
	}
	*t.ended = append(*t.ended, j)
}

// AnyUnder passes an existence check under a scope on to the transaction
// (store.AnyUnder).
func (t *instTx) AnyUnder(ctx context.Context, prefix string, kinds []string) (bool, error) {
	return store.AnyUnder(ctx, t.Tx, prefix, kinds...)
}

func (t *instTx) Create(ctx context.Context, d store.Doc) error {
	t.note(ctx, d)
	return t.Tx.Create(ctx, d)
}

func (t *instTx) Put(ctx context.Context, d store.Doc) error {
	t.note(ctx, d)
	return t.Tx.Put(ctx, d)
}
