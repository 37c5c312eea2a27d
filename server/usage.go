package server

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/safehold/safehold/arm"
	"github.com/safehold/safehold/metrics"
	"github.com/safehold/safehold/resource"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/version"
)

// UsageNamespace serves the storage figures the CLI's status and the
// dashboard show: GET /subscriptions/{id}/providers/Safehold.Storage/usage/default
// (read permission on the subscription, e.g. Reader).
const UsageNamespace = "Safehold.Storage"

type usageProvider struct{ s *Server }

func (u *usageProvider) Register(rt *arm.Router, p *resource.Platform) error {
	rt.RegisterNamespace(arm.Namespace{Name: UsageNamespace, AnyVersion: true, Versions: []string{"2024-01-01"}})
	rt.Handle("GET", "/subscriptions/{subscriptionId}/providers/"+UsageNamespace+"/usage/{name}", u.get, arm.Action("Microsoft.Resources/subscriptions/read"))
	return nil
}

// usageBody is the storage usage resource.
type usageBody struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Type       string     `json:"type"`
	Properties usageProps `json:"properties"`
}

type usageProps struct {
	metrics.Usage
	DedupRatio float64 `json:"dedupRatio"` // logicalBytes / storedBytes (0 when nothing is stored)
	// MeasuredAt is the server's time (its clock, moved or not): the
	// dashboard's views follow it, not the browser's clock.
	MeasuredAt time.Time `json:"measuredAt"`
}

func (u *usageProvider) get(r *arm.Request) (*arm.Response, error) {
	sub := r.Param("subscriptionId")
	if _, err := u.s.Store.Get(r.HTTP.Context(), resource.SubscriptionKind, sub); errors.Is(err, store.ErrNotFound) {
		return nil, arm.Errorf(http.StatusNotFound, "SubscriptionNotFound", "The subscription '%s' could not be found.", sub)
	} else if err != nil {
		return nil, err
	}
	if !arm.ContainsFold([]string{"default"}, r.Param("name")) {
		return nil, arm.Errorf(http.StatusNotFound, "ResourceNotFound", "The usage '%s' was not found: the only one is 'default'.", r.Param("name"))
	}
	us, err := u.s.storageUsage(r.HTTP.Context())
	if err != nil {
		return nil, err
	}
	p := usageProps{Usage: us, MeasuredAt: u.s.Config.Clock.Now().UTC()}
	if us.StoredBytes > 0 {
		p.DedupRatio = float64(us.LogicalBytes) / float64(us.StoredBytes)
	}
	return arm.OK(usageBody{ID: "/subscriptions/" + sub + "/providers/" + UsageNamespace + "/usage/default", Name: "default",
		Type: UsageNamespace + "/usage", Properties: p}), nil
}

// storageUsage measures the snapshot repository.
func (s *Server) storageUsage(ctx context.Context) (metrics.Usage, error) {
	u, err := s.Compute.Repository().Usage(ctx)
	if err != nil {
		return metrics.Usage{}, err
	}
	return metrics.Usage{Snapshots: u.Snapshots, LogicalBytes: u.LogicalBytes, StoredBytes: u.StoredBytes, Chunks: u.Chunks, DamagedSnapshots: u.Damaged}, nil
}

// health checks the metadata store, the blob backend and that the data
// directory takes writes. Unhealthy, it carries an ARM error saying which
// part fails and what to do (the handler answers it with 503).
func (s *Server) health(ctx context.Context) map[string]any {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var problems []string
	check := func(err error, what string) map[string]any {
		if err != nil {
			problems = append(problems, what+" ("+err.Error()+")")
			return map[string]any{"status": "unhealthy", "error": err.Error()}
		}
		return map[string]any{"status": "ok"}
	}
	_, err := s.Store.Get(ctx, "config", "bootstrap")
	st := check(err, "the metadata store does not answer")
	if s.blob == nil {
		err = errors.New("no blob backend")
	} else {
		err = metrics.Health(ctx, s.blob)
	}
	bl := check(err, "the object storage does not answer")
	dd := check(writable(s.Config.DataDir), "the data directory "+s.Config.DataDir+" cannot be written: free space on its file system, or make it writable")
	h := map[string]any{"status": "ok", "version": version.Get(), "store": st, "blob": bl, "dataDir": dd}
	if len(problems) > 0 {
		h["status"] = "unhealthy"
		h["error"] = map[string]any{"code": "ServiceUnavailable", "message": "The server is unhealthy: " + strings.Join(problems, "; ") + "."}
	}
	return h
}

// writable checks that dir takes a small file's write (a full file system,
// or one remounted read-only, does not); "" (no data dir) is writable.
func writable(dir string) error {
	if dir == "" {
		return nil
	}
	f, err := os.CreateTemp(dir, ".healthz-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	_, err = f.Write(make([]byte, 4096))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
