package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Lists of one type (every ARM list: resource groups of a subscription,
// policies of a vault), or of a whole kind (the jobs of a vault), are
// answered from memory. SQLite has one writer, this process, so the writer
// goroutine sees every committed change: it keeps a mirror of the documents
// of each (kind, type) that was listed (type "": every document of the
// kind), applying
// each group's writes after its COMMIT and before any of its Updates
// returns. A list therefore sees every acknowledged write (read-after-write)
// and nothing uncommitted, as a query would, without SQLite's parse, row
// stepping and value copies per list (with modernc's driver, most of the
// server's CPU under mixed load).
//
// A mirror is loaded after the first list of its (kind, type) (which SQLite
// answers), in the background but inside the writer's transaction order (as
// a read-only Update), so the changes of the groups that follow apply on top
// of exactly the state it read. (The load cannot be waited for: a List may
// run inside an Update's fn, on the writer goroutine itself.) Mirrors are
// bounded: a type with more than mirrorMaxDocs documents, or mirrors beyond
// mirrorMaxBytes in all, are not kept and those lists go to SQLite. Lists
// inside a transaction read the mirrors only while nothing in the group
// has written the kind (sqliteTx.List), else SQLite (they must see the
// group's writes).

const (
	mirrorMaxDocs  = 20000
	mirrorMaxBytes = 64 << 20
	mirrorRetry    = 5 * time.Minute // after a type was too large
)

type mirrorKey struct{ kind, typ string } // typ lower-case

type mirror struct {
	docs  []*Doc // sorted by key (lower-case); pointers, so an insert moves 8 bytes a document
	bytes int
}

// find is where key is in m.docs, or would be inserted.
func (m *mirror) find(key string) (int, bool) {
	return slices.BinarySearchFunc(m.docs, key, func(d *Doc, k string) int { return strings.Compare(d.Key, k) })
}

type mirrorSet struct {
	mu      sync.RWMutex
	m       map[mirrorKey]*mirror
	refused map[mirrorKey]time.Time // too large: not before then
	loading map[mirrorKey]bool
	bytes   int
}

// startLoad reports whether the caller should load (kind, typ): nobody is
// loading it yet.
func (ms *mirrorSet) startLoad(kind, typ string) bool {
	mk := mirrorKey{kind, strings.ToLower(typ)}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	if ms.loading[mk] {
		return false
	}
	if ms.loading == nil {
		ms.loading = map[mirrorKey]bool{}
	}
	ms.loading[mk] = true
	return true
}

func (ms *mirrorSet) loaded(kind, typ string) {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	delete(ms.loading, mirrorKey{kind, strings.ToLower(typ)})
}

// mirrorOp is one committed change, in commit order.
type mirrorOp struct {
	put     *Doc      // a created or replaced document (as stored)
	kind    string    // delete: kind and key, or kind and scope prefix
	key     string    //
	prefix  string    //
	scope   bool      // a DeleteScope
	install *mirror   // a mirror loaded at this point of the order
	mk      mirrorKey // its key (also for a refusal)
	refuse  bool
}

func docBytes(d *Doc) int { return len(d.Key) + len(d.Scope) + len(d.Type) + len(d.Value) + 96 }

func (m *mirror) remove(key string) int {
	i, ok := m.find(key)
	if !ok {
		return 0
	}
	n := docBytes(m.docs[i])
	m.docs = slices.Delete(m.docs, i, i+1)
	m.bytes -= n
	return n
}

func (m *mirror) put(d *Doc) int {
	n := docBytes(d)
	i, found := m.find(d.Key)
	if found {
		n -= docBytes(m.docs[i])
		m.docs[i] = d
	} else {
		m.docs = slices.Insert(m.docs, i, d)
	}
	m.bytes += n
	return n
}

// apply makes a committed group's changes visible to lists.
func (ms *mirrorSet) apply(ops []mirrorOp) {
	if len(ops) == 0 {
		return
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	for _, op := range ops {
		switch {
		case op.refuse:
			ms.refuse(op.mk)
		case op.install != nil:
			if old, ok := ms.m[op.mk]; ok {
				ms.bytes -= old.bytes
			}
			if ms.bytes+op.install.bytes > mirrorMaxBytes {
				delete(ms.m, op.mk)
				ms.refuse(op.mk)
				continue
			}
			if ms.m == nil {
				ms.m = map[mirrorKey]*mirror{}
			}
			ms.m[op.mk] = op.install
			ms.bytes += op.install.bytes
		case op.put != nil:
			for k, m := range ms.m {
				if k.kind == op.put.Kind && k.typ != op.put.Type && k.typ != "" {
					ms.bytes -= m.remove(op.put.Key) // a Put may change a document's type
				}
			}
			ms.put(mirrorKey{op.put.Kind, op.put.Type}, op.put)
			if op.put.Type != "" {
				ms.put(mirrorKey{op.put.Kind, ""}, op.put) // the kind's
			}
		case op.scope:
			for k, m := range ms.m {
				if k.kind != op.kind {
					continue
				}
				m.docs = slices.DeleteFunc(m.docs, func(d *Doc) bool {
					if !strings.HasPrefix(d.Scope, op.prefix) {
						return false
					}
					n := docBytes(d)
					m.bytes -= n
					ms.bytes -= n
					return true
				})
			}
		default:
			for k, m := range ms.m {
				if k.kind == op.kind {
					ms.bytes -= m.remove(op.key)
				}
			}
		}
	}
}

// put stores d in the mirror mk, if there is one, dropping the mirror
// when that makes it too large.
func (ms *mirrorSet) put(mk mirrorKey, d *Doc) {
	m, ok := ms.m[mk]
	if !ok {
		return
	}
	ms.bytes += m.put(d)
	if len(m.docs) > mirrorMaxDocs || ms.bytes > mirrorMaxBytes {
		ms.bytes -= m.bytes
		delete(ms.m, mk)
		ms.refuse(mk)
	}
}

func (ms *mirrorSet) refuse(mk mirrorKey) {
	if ms.refused == nil {
		ms.refused = map[mirrorKey]time.Time{}
	}
	ms.refused[mk] = time.Now().Add(mirrorRetry)
}

// reset drops every mirror (a commit whose outcome is unknown).
func (ms *mirrorSet) reset() {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	ms.m, ms.bytes = nil, 0
}

// list answers q from the mirror of (kind, q.Type); ok is false when there
// is none (or it may not be kept).
func (ms *mirrorSet) list(kind string, q ListQuery) (out []Doc, ok, load bool) {
	docs, ok, load := ms.view(kind, q)
	if len(docs) == 0 {
		return nil, ok, load
	}
	// The answer and the copies of the values (which callers own) are one
	// allocation each.
	size := 0
	for _, d := range docs {
		size += len(d.Value)
	}
	out = make([]Doc, 0, len(docs))
	values := make([]byte, 0, size)
	for _, p := range docs {
		d := *p
		if len(d.Value) == 0 {
			d.Value = nil
		} else {
			start := len(values)
			values = append(values, d.Value...)
			d.Value = values[start:len(values):len(values)] // an append of the caller's reallocates
		}
		out = append(out, d)
	}
	return out, true, false
}

// view is list without copies: the mirror's own documents, which are never
// modified (a change replaces a document), so they stay what they were
// when listed.
func (ms *mirrorSet) view(kind string, q ListQuery) (out []*Doc, ok, load bool) {
	mk := mirrorKey{kind, strings.ToLower(q.Type)}
	ms.mu.RLock()
	defer ms.mu.RUnlock()
	m, ok := ms.m[mk]
	if !ok {
		return nil, false, time.Now().After(ms.refused[mk])
	}
	prefix, after := strings.ToLower(q.ScopePrefix), strings.ToLower(q.After)
	docs := m.docs
	if after != "" {
		i, found := m.find(after)
		if found {
			i++
		}
		docs = docs[i:]
	}
	// Two passes: the first counts, so the answer is one allocation.
	n := 0
	for _, d := range docs {
		if strings.HasPrefix(d.Scope, prefix) {
			n++
			if q.Limit > 0 && n == q.Limit {
				break
			}
		}
	}
	if n == 0 {
		return nil, true, false
	}
	out = make([]*Doc, 0, n)
	for _, d := range docs {
		if len(out) == n {
			break
		}
		if strings.HasPrefix(d.Scope, prefix) {
			out = append(out, d)
		}
	}
	return out, true, false
}

// mirrorAnyMaxDocs bounds the mirrors anyUnder scans: beyond it, SQLite's
// index answers sooner than a pass over every document of the kind.
const mirrorAnyMaxDocs = 256

// anyUnder answers store.AnyUnder for kinds: those whose whole kind is
// mirrored with at most mirrorAnyMaxDocs documents (and, when skip is set,
// that skip does not exclude) from memory, the others with rest (not
// called when none is left or a mirror found one).
func (ms *mirrorSet) anyUnder(prefix string, kinds []string, rest func([]string) (bool, error), skip func(kind string) bool) (bool, error) {
	p := strings.ToLower(prefix)
	var left []string
	ms.mu.RLock()
	for i, k := range kinds {
		m, ok := ms.m[mirrorKey{k, ""}]
		if !ok || len(m.docs) > mirrorAnyMaxDocs || skip != nil && skip(k) {
			if left == nil {
				left = make([]string, 0, len(kinds)-i)
			}
			left = append(left, k)
			continue
		}
		for _, d := range m.docs {
			if strings.HasPrefix(d.Scope, p) {
				ms.mu.RUnlock()
				return true, nil
			}
		}
	}
	ms.mu.RUnlock()
	if len(left) == 0 {
		return false, nil
	}
	return rest(left)
}

// loadMirror reads every document of (kind, typ) in the writer's order and
// installs the mirror (or refuses a type too large) when the read commits.
func (s *SQLite) loadMirror(ctx context.Context, kind, typ string) error {
	return s.update(ctx, func(t *sqliteTx) error {
		mk := mirrorKey{kind, strings.ToLower(typ)}
		sqlq, args := `SELECT kind, key, scope, type, value, version, created, updated FROM docs WHERE kind = ?`, []any{kind}
		if mk.typ != "" {
			sqlq += ` AND type = ?`
			args = append(args, mk.typ)
		}
		rows, err := t.q.QueryContext(ctx, sqlq, args...)
		if err != nil {
			return fmt.Errorf("load %s %s: %w", kind, typ, err)
		}
		defer rows.Close()
		m := &mirror{}
		for rows.Next() {
			d, err := scanDoc(rows.Scan)
			if err != nil {
				return fmt.Errorf("load %s %s: %w", kind, typ, err)
			}
			m.docs = append(m.docs, &d)
			m.bytes += docBytes(&d)
			if len(m.docs) > mirrorMaxDocs || m.bytes > mirrorMaxBytes {
				t.ops = append(t.ops, mirrorOp{mk: mk, refuse: true})
				return nil
			}
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("load %s %s: %w", kind, typ, err)
		}
		slices.SortFunc(m.docs, func(a, b *Doc) int { return strings.Compare(a.Key, b.Key) })
		t.ops = append(t.ops, mirrorOp{mk: mk, install: m})
		return nil
	})
}
