package server

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/safehold/safehold/lease"
	"github.com/safehold/safehold/snapshot"
	"github.com/safehold/safehold/store"
)

// Replicas sharing a store (PostgreSQL) each register their ARM endpoints
// under kind "replica", keyed by node id; every replica accepts tokens
// obtained for any registered endpoint (identity.Issuer.Peers).
const replicaKind = "replica"

type replicaDoc struct {
	NodeID    string   `json:"nodeId"`
	Endpoint  string   `json:"endpoint"`
	Audiences []string `json:"audiences"`
	// StoreFormat is the newest repository format the replica's binary
	// opens (snapshot.MaxFormat); a version before session 26 wrote none
	// (and may read format 1 only).
	StoreFormat int `json:"storeFormat,omitempty"`
}

// replicaLeasePrefix names the lease each running replica renews.
const replicaLeasePrefix = "replica:"

// LiveReplicas lists the node ids of the replicas running on this store
// (this one included): those renewing their lease. A replica that stopped
// released it; one that died drops out once its lease expired (15 s). With
// SQLite it is this one alone.
func (s *Server) LiveReplicas(ctx context.Context) ([]string, error) {
	if s.presence == nil {
		return []string{s.NodeID}, nil
	}
	rows, err := lease.Live(ctx, s.Store, replicaLeasePrefix, time.Now())
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.Holder
	}
	return ids, nil
}

// replicaEndpoint is the endpoint of the replica node (from its presence
// lease) and whether it runs.
func (s *Server) replicaEndpoint(ctx context.Context, node string) (string, bool, error) {
	row, err := lease.Get(ctx, s.Store, replicaLeasePrefix+node)
	if errors.Is(err, store.ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return row.Data, row.Holder == node && row.Alive(time.Now()), nil
}

// replicaRunning reports whether the replica node runs (its presence lease
// is renewed).
func (s *Server) replicaRunning(ctx context.Context, node string) (bool, error) {
	_, running, err := s.replicaEndpoint(ctx, node)
	return running, err
}

func registerReplica(ctx context.Context, st store.Store, nodeID, endpoint string, audiences []string) error {
	b, _ := json.Marshal(replicaDoc{NodeID: nodeID, Endpoint: endpoint, Audiences: audiences, StoreFormat: snapshot.MaxFormat})
	return st.Update(ctx, func(tx store.Tx) error {
		return tx.Put(ctx, store.Doc{Kind: replicaKind, Key: nodeID, Value: b})
	})
}

// olderReplicaLive reports whether a live replica other than this one may
// read only format-1 repositories: its registration names no newer format
// (its version predates StoreFormat, and may predate format 2) or is not
// there. A repository created then is made in format 1
// (snapshot.Options.OlderReaders), which every version reads: in a
// rolling upgrade, a vault the upgraded replicas create in the shared
// object storage stays readable by those not upgraded yet, whose jobs on
// it failed ("unsupported store format 2/blake3").
func (s *Server) olderReplicaLive(ctx context.Context) (bool, error) {
	if s.presence == nil {
		return false, nil
	}
	rows, err := lease.Live(ctx, s.Store, replicaLeasePrefix, time.Now())
	if err != nil {
		return false, err
	}
	docs, err := s.Store.List(ctx, replicaKind, store.ListQuery{})
	if err != nil {
		return false, err
	}
	format := map[string]int{}
	for _, d := range docs {
		var r replicaDoc
		if json.Unmarshal(d.Value, &r) == nil {
			format[r.NodeID] = r.StoreFormat
		}
	}
	for _, r := range rows {
		if r.Holder != s.NodeID && format[r.Holder] < snapshot.MaxFormat {
			return true, nil
		}
	}
	return false, nil
}

// peerAudiences lists the registered replicas' audiences, re-read from the
// store at most every two seconds.
type peerAudiences struct {
	st   store.Store
	mu   sync.Mutex
	at   time.Time
	list []string
}

func (p *peerAudiences) get() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if time.Since(p.at) < 2*time.Second {
		return p.list
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	docs, err := p.st.List(ctx, replicaKind, store.ListQuery{})
	if err != nil {
		return p.list
	}
	var out []string
	for _, d := range docs {
		var r replicaDoc
		if json.Unmarshal(d.Value, &r) == nil {
			out = append(out, r.Audiences...)
		}
	}
	p.list, p.at = out, time.Now()
	return out
}
