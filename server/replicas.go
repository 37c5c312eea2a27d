package server

import (
	"context"
	"encoding/json"
	"sync"
	"time"

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
}

func registerReplica(ctx context.Context, st store.Store, nodeID, endpoint string, audiences []string) error {
	b, _ := json.Marshal(replicaDoc{NodeID: nodeID, Endpoint: endpoint, Audiences: audiences})
	return st.Update(ctx, func(tx store.Tx) error {
		return tx.Put(ctx, store.Doc{Kind: replicaKind, Key: nodeID, Value: b})
	})
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
