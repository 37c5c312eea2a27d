package metrics_test

import (
	"context"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/safehold/safehold/metrics"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

// The instrumented store keeps the store contract, its View (which passes
// reads that do not copy on) included, and observes a View as a get.
func TestWrappedStore(t *testing.T) {
	wrap := func(t *testing.T, m *metrics.Metrics) store.Store {
		s := m.WrapStore(storetest.SQLite(t))
		if _, ok := s.(store.Viewer); !ok {
			t.Fatal("the instrumented store hides the SQLite store's View")
		}
		return s
	}
	storetest.Run(t, func(t *testing.T) store.Store { return wrap(t, metrics.New()) })

	m := metrics.New()
	s := wrap(t, m)
	before := gets(t, m)
	if ok, err := store.Exists(context.Background(), s, "k", "x"); ok || err != nil {
		t.Fatalf("Exists: %v %v", ok, err)
	}
	if n := gets(t, m); n != before+1 {
		t.Fatalf("a View counted %d gets, want 1", n-before)
	}
}

// gets is how many store gets m has observed.
func gets(t *testing.T, m *metrics.Metrics) uint64 {
	return series(t, m, "safehold_store_operation_duration_seconds", "get").GetHistogram().GetSampleCount()
}

// series is m's series of the family name with a label whose value is op
// (operation, direction; nil when there is none yet, which reads as zero).
func series(t *testing.T, m *metrics.Metrics, name, op string) *dto.Metric {
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, x := range f.GetMetric() {
			for _, l := range x.GetLabel() {
				if l.GetValue() == op {
					return x
				}
			}
		}
	}
	return nil
}
