package store

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
)

// pgListMemo remembers the lists a request's batch of reads read
// (ReadBatch: every list's first page, resource.PrefetchList), each with
// the writer_gen its statement saw, and has the next such list read again
// only when writer_gen moved since: the statement reads writer_gen and,
// in the same snapshot, the list only when writer_gen is not the value it
// was remembered at (pgListGenSQL). Every change of docs moves writer_gen in
// its own transaction (the writer's bump at its COMMIT, the trigger of
// 0005_writer_gen_own_bump.sql for any other statement), so a list
// remembered at the value the statement finds is the list as that snapshot
// holds it, whichever replica or hand wrote last: an unchanged list costs
// the database one row of writer_gen instead of its rows (65-70 groups or
// policies in bench/mixed, with their values) and the server their
// decoding.
type pgListMemo struct {
	mu   sync.Mutex
	m    map[pgListKey]pgListMemoEntry
	docs int          // the documents of m's lists
	hits atomic.Int64 // lists answered from memory (tests)
}

type pgListMemoEntry struct {
	gen  int64
	docs []Doc // never modified once stored
}

// pgListMemoMax bounds the lists remembered and pgListMemoDocs their
// documents (a memo that full starts again); lists of more than
// pgListCacheDocs documents are not remembered.
const (
	pgListMemoMax  = 1024
	pgListMemoDocs = 16384
)

func (m *pgListMemo) get(lk pgListKey) (pgListMemoEntry, bool) {
	m.mu.Lock()
	e, ok := m.m[lk]
	m.mu.Unlock()
	return e, ok
}

func (m *pgListMemo) put(lk pgListKey, gen int64, docs []Doc) {
	if len(docs) > pgListCacheDocs {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.m[lk]; ok && e.gen > gen {
		return // a newer one is there already
	}
	if m.m == nil || len(m.m) >= pgListMemoMax || m.docs+len(docs) > pgListMemoDocs {
		m.m, m.docs = map[pgListKey]pgListMemoEntry{}, 0
	}
	m.docs += len(docs) - len(m.m[lk].docs)
	m.m[lk] = pgListMemoEntry{gen, docs}
}

// queue queues the list of kind that q selects in b, answered into res:
// from memory when writer_gen has not moved since it was read, else as
// the database reads it then (and remembered).
func (m *pgListMemo) queue(b *pgx.Batch, kind string, q ListQuery, res *ReadResult) {
	lk := pgListKey{kind, pgListKeyOf(q)}
	held, ok := m.get(lk)
	if !ok {
		held.gen = -1 // (writer_gen starts at 0 and only grows)
	}
	sqlq, args := pgListGenSQL(kind, q, held.gen)
	b.Queue(sqlq, args...).Query(func(rows pgx.Rows) error {
		gen, docs, err := pgScanGenList(rows)
		switch {
		case err != nil:
			res.Err = fmt.Errorf("list %s: %w", kind, err)
			return res.Err
		case len(docs) == 0:
			// Empty now (writer_gen unread): as held, if it held none.
		case gen == held.gen:
			m.hits.Add(1)
			res.Docs = slices.Clone(held.docs) // (the values shared: see ListView)
		default:
			res.Docs = docs
			m.put(lk, gen, slices.Clone(docs))
		}
		return nil
	})
}

// pgListGenSQL is pgListSQL's list with writer_gen on each row, read in
// one statement (one snapshot), and only its first document when
// writer_gen is held (the value the list was remembered at): an empty
// list is no row, whatever writer_gen is, and so is a held one that was
// empty.
func pgListGenSQL(kind string, q ListQuery, held int64) (string, []any) {
	limit := q.Limit
	q.Limit = 0
	sqlq, args := pgListSQL(kind, q)
	args = append(args, held)
	end := "NULL"
	if limit > 0 {
		end = strconv.Itoa(limit)
	}
	return `SELECT (SELECT gen FROM writer_gen), ` + strings.TrimPrefix(sqlq, `SELECT `) +
		` LIMIT CASE WHEN (SELECT gen FROM writer_gen) = $` + strconv.Itoa(len(args)) + ` THEN 1 ELSE ` + end + ` END`, args
}

// pgScanGenList reads pgListGenSQL's rows.
func pgScanGenList(rows pgx.Rows) (gen int64, docs []Doc, err error) {
	defer rows.Close()
	for rows.Next() {
		var d Doc
		if err := rows.Scan(pgDocRow{d: &d, gen: &gen}); err != nil {
			return 0, nil, err
		}
		docs = append(docs, d)
	}
	if err := rows.Err(); err != nil {
		return 0, nil, err
	}
	return gen, docs, nil
}

// advance moves the lists remembered at writer_gen from to to, the value
// the writer's commit of the fns wrote (in order) left: the writer found
// writer_gen at from when it began and at from+1 as it committed, so
// nothing but those fns changed documents in between. A list their writes
// change in a way it cannot tell (a DeleteScope of its kind, a Put whose
// stored version the writer does not know, a document gone from a full
// page) is forgotten, and so is one they grow past pgListCacheDocs (as
// put would not remember it: an unpaged list, a vault's jobs, grows with
// every write).
func (m *pgListMemo) advance(from, to int64, fns []*pgTx) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for lk, e := range m.m {
		if e.gen != from {
			continue
		}
		m.docs -= len(e.docs)
		if docs, ok := pgListApply(lk, e.docs, fns); ok && len(docs) <= pgListCacheDocs {
			m.docs += len(docs)
			m.m[lk] = pgListMemoEntry{to, docs}
		} else {
			delete(m.m, lk)
		}
	}
}

// pgListApply is the list lk, docs before the fns' writes, after them;
// false when it cannot be told. docs is not modified.
func pgListApply(lk pgListKey, docs []Doc, fns []*pgTx) ([]Doc, bool) {
	out, copied := docs, false
	for _, t := range fns {
		if slices.Contains(t.bulk, lk.kind) {
			return nil, false
		}
		for ck, c := range t.changes {
			if ck.kind != lk.kind {
				continue
			}
			if c.unknown {
				if pgListMay(lk.q, out, ck.key, c.d, c.found) {
					return nil, false
				}
				continue
			}
			i, there := slices.BinarySearchFunc(out, ck.key, func(d Doc, key string) int { return strings.Compare(d.Key, key) })
			in := c.found && strings.HasPrefix(c.d.Scope, lk.q.ScopePrefix) && (lk.q.Type == "" || c.d.Type == lk.q.Type) && c.d.Key > lk.q.After
			if !there && !in {
				continue
			}
			if !copied {
				out, copied = slices.Clone(out), true
			}
			switch {
			case there && in:
				out[i] = c.d
			case there:
				if lk.q.Limit > 0 && len(out) >= lk.q.Limit {
					return nil, false // the page's next document is not known
				}
				out = slices.Delete(out, i, i+1)
			default:
				out = slices.Insert(out, i, c.d)
				if lk.q.Limit > 0 && len(out) > lk.q.Limit {
					out = out[:lk.q.Limit]
				}
			}
		}
	}
	return out, true
}
