package store

import (
	"context"
	"sync/atomic"
)

// Version counts the committed transactions that wrote documents of one
// kind (KindVersioner.KindVersion).
type Version struct{ n atomic.Uint64 }

// Load returns the count.
func (v *Version) Load() uint64 { return v.n.Load() }

func (v *Version) bump() { v.n.Add(1) }

// KindVersioner is a store that can tell without a read whether documents
// of a kind may have changed.
type KindVersioner interface {
	// KindVersion returns kind's Version: the store increases it after each
	// commit that wrote (created, replaced or deleted) a document of kind,
	// once a read sees the commit and before the Update returns. A reader
	// that loads the Version, reads, and later loads the same number has
	// seen the kind's documents as they still are. nil: the store cannot
	// tell (another process may write to it, as PostgreSQL's replicas do).
	KindVersion(kind string) *Version
}

// KindVersion returns r's Version of kind, or nil when r cannot tell
// (KindVersioner).
func KindVersion(r Reader, kind string) *Version {
	if v, ok := r.(KindVersioner); ok {
		return v.KindVersion(kind)
	}
	return nil
}

// KnownKeys is Exists for the documents of one kind that answers from
// memory the keys it has read as existing, as long as no transaction that
// wrote a document of the kind has committed since (KindVersion): the
// checks made on every request (the caller's principal, the subscription)
// then cost no store read while those documents do not change, and a
// deleted one is refused on the very next check. Where the store cannot
// tell (KindVersion nil) every check reads.
type KnownKeys struct {
	r    Reader
	kind string
	ver  *Version
	set  atomic.Pointer[knownSet]
}

// knownSet is the keys read as existing while the kind's Version was ver;
// never modified once stored (an addition stores a copy).
type knownSet struct {
	ver  uint64
	keys map[string]struct{}
}

// knownMax bounds a KnownKeys' memory: a set that full starts again.
const knownMax = 4096

// NewKnownKeys returns the existence check of kind's documents in r.
func NewKnownKeys(r Reader, kind string) *KnownKeys {
	return &KnownKeys{r: r, kind: kind, ver: KindVersion(r, kind)}
}

// Exists reports whether the document of key exists, as Exists does.
func (k *KnownKeys) Exists(ctx context.Context, key string) (bool, error) {
	if k.ver == nil {
		return Exists(ctx, k.r, k.kind, key)
	}
	v := k.ver.Load() // before the read: a commit after it moves the Version
	s := k.set.Load()
	if s != nil && s.ver == v {
		if _, ok := s.keys[key]; ok {
			return true, nil
		}
	}
	ok, err := Exists(ctx, k.r, k.kind, key)
	if ok {
		n := &knownSet{ver: v, keys: map[string]struct{}{key: {}}}
		if s != nil && s.ver == v && len(s.keys) < knownMax {
			for key := range s.keys {
				n.keys[key] = struct{}{}
			}
		}
		k.set.CompareAndSwap(s, n) // another check's set may have gone first: either is right
	}
	return ok, err
}
