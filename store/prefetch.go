package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strings"
	"sync/atomic"
)

// A Read is one read of a Prefetch: the document of Kind and Key, or (List)
// the documents of Kind that Q selects.
type Read struct {
	Kind string
	Key  string
	List bool
	Q    ListQuery
}

// ReadResult is what one Read found: its document or its list, or its
// error (ErrNotFound for a document that does not exist).
type ReadResult struct {
	Doc  Doc
	Docs []Doc
	Err  error
}

// BatchReader is a Reader that makes several reads in one round trip to its
// database (PostgreSQL: one pipeline of statements on one connection), each
// as Get or List would make it on its own. A failure of the whole batch (the
// database out of reach) is each read's error.
type BatchReader interface {
	ReadBatch(ctx context.Context, reads []Read) []ReadResult
}

// Prefetch makes reads at once and returns a Reader that answers each of
// them, as often as it is asked, with what was read then, and passes any
// other read on to r: a request's checks (the caller's principal, the
// subscription, the locks), which would each cost a round trip, cost one.
// When r is no BatchReader (SQLite, which reads from memory), it is r.
// The answers are those of one moment of the request, as r's own reads
// would be: they are not for a caller that reads what it wrote since.
func Prefetch(ctx context.Context, r Reader, reads ...Read) Reader {
	b, ok := r.(BatchReader)
	if !ok || len(reads) == 0 {
		return r
	}
	p := &prefetched{Reader: r, reads: make([]Read, len(reads))}
	for i, rd := range reads {
		p.reads[i] = normRead(rd)
	}
	p.results = b.ReadBatch(ctx, reads)
	return p
}

type prefetchedKey struct{}

// WithPrefetched returns ctx carrying r, the Reader Prefetch returned for
// the request ctx belongs to (nothing when r is no such reader), for the
// handler's checks (Prefetched).
func WithPrefetched(ctx context.Context, r Reader) context.Context {
	if p, ok := r.(*prefetched); ok {
		return context.WithValue(ctx, prefetchedKey{}, p)
	}
	return ctx
}

// Prefetched returns a Reader that answers the reads made for ctx's
// request at its start (WithPrefetched: the checks of what its path names,
// resource.CheckReads), as often as it is asked, with what was read then,
// and passes any other read on to r; r itself when ctx carries none. For
// the checks a handler makes before it writes anything (the resource
// group and the parent a request names exist): never for a transaction's
// reads, nor for a read after the request's own writes, which the
// prefetched answers do not see.
func Prefetched(ctx context.Context, r Reader) Reader {
	p, ok := ctx.Value(prefetchedKey{}).(*prefetched)
	if !ok {
		return r
	}
	// (r is a store of a comparable type, or of another type than p's.)
	return &prefetched{Reader: r, reads: p.reads, results: p.results, mem: p.mem, gen: p.gen, genOK: p.genOK, fill: p.fill && r == p.Reader}
}

// PrefetchWith is Prefetch of those of reads that the Reader ctx carries
// (WithPrefetched) did not read, answering these and those: a handler's
// reads that the request's checks may already have made (a list's first
// page, resource.PrefetchList) cost no round trip more when they did, one
// when they did not. Prefetch when ctx carries none.
func PrefetchWith(ctx context.Context, r Reader, reads ...Read) Reader {
	p, ok := ctx.Value(prefetchedKey{}).(*prefetched)
	if !ok {
		return Prefetch(ctx, r, reads...)
	}
	q := &prefetched{Reader: r, reads: slices.Clone(p.reads), results: slices.Clone(p.results), mem: p.mem, gen: p.gen, genOK: p.genOK, fill: p.fill && r == p.Reader}
	var more []Read
	for _, rd := range reads {
		if rd = normRead(rd); !slices.Contains(q.reads, rd) && !slices.Contains(more, rd) {
			more = append(more, rd)
		}
	}
	if b, ok := r.(BatchReader); ok && len(more) > 0 {
		q.reads, q.results = append(q.reads, more...), append(q.results, b.ReadBatch(ctx, more)...)
	}
	return q
}

// PrefetchedIn is the Reader ctx carries (WithPrefetched), reading on
// through the Reader it was prefetched from; false when it carries none.
func PrefetchedIn(ctx context.Context) (Reader, bool) {
	if p, ok := ctx.Value(prefetchedKey{}).(*prefetched); ok {
		return p, true
	}
	return nil, false
}

// normRead is rd as it is matched: keys and queries compare case-insensitively.
func normRead(rd Read) Read {
	if rd.List {
		rd.Key = ""
		rd.Q.ScopePrefix, rd.Q.Type, rd.Q.After = strings.ToLower(rd.Q.ScopePrefix), strings.ToLower(rd.Q.Type), strings.ToLower(rd.Q.After)
		if rd.Q.Limit < 0 {
			rd.Q.Limit = 0
		}
	} else {
		rd.Key, rd.Q = lowerKey(rd.Key), ListQuery{}
	}
	return rd
}

// prefetched is Prefetch's Reader.
type prefetched struct {
	Reader
	reads   []Read // normRead's
	results []ReadResult
	// PrefetchRemembering's: the memory, the generation read (genOK) and
	// whether a document read from Reader may be remembered (fill: Reader
	// is the store, not a transaction, whose reads may see its own writes).
	mem         *Remembered
	gen         string
	genOK, fill bool
}

func (p *prefetched) find(rd Read) (ReadResult, bool) {
	rd = normRead(rd)
	for i, x := range p.reads {
		if x == rd {
			return p.results[i], true
		}
	}
	if p.genOK && p.mem.holds(rd) {
		return p.mem.lookup(p.gen, rd)
	}
	return ReadResult{}, false
}

// filling reports whether what rd reads from Reader is to be remembered.
func (p *prefetched) filling(rd Read) bool {
	return p.fill && p.genOK && p.mem.holds(rd)
}

// read is the document of rd read from Reader (View or Get), kept in
// memory when rd is one to remember.
func (p *prefetched) read(ctx context.Context, rd Read, get func(context.Context, Reader, string, string) (Doc, error)) (Doc, error) {
	d, err := get(ctx, p.Reader, rd.Kind, rd.Key)
	if err == nil && p.filling(normRead(rd)) {
		kept := d
		kept.Value = bytes.Clone(d.Value) // (Get's is the caller's own)
		p.mem.remember(p.gen, normRead(rd), ReadResult{Doc: kept})
	}
	return d, err
}

// list is the list of rd read from Reader, kept in memory (it is
// rd's own; false when rd is not one to remember).
func (p *prefetched) list(ctx context.Context, rd Read) (ReadResult, bool) {
	if !p.filling(normRead(rd)) {
		return ReadResult{}, false
	}
	docs, err := p.Reader.List(ctx, rd.Kind, rd.Q)
	if err == nil {
		p.mem.remember(p.gen, normRead(rd), ReadResult{Docs: docs})
	}
	return ReadResult{Docs: docs, Err: err}, true
}

// View answers a prefetched document, else r's View.
func (p *prefetched) View(ctx context.Context, kind, key string) (Doc, error) {
	if res, ok := p.find(Read{Kind: kind, Key: key}); ok {
		return res.Doc, res.Err
	}
	return p.read(ctx, Read{Kind: kind, Key: key}, View)
}

// Get is View with a value of the caller's own.
func (p *prefetched) Get(ctx context.Context, kind, key string) (Doc, error) {
	if res, ok := p.find(Read{Kind: kind, Key: key}); ok {
		d := res.Doc
		d.Value = append([]byte(nil), d.Value...)
		return d, res.Err
	}
	return p.read(ctx, Read{Kind: kind, Key: key}, func(ctx context.Context, r Reader, kind, key string) (Doc, error) {
		return r.Get(ctx, kind, key)
	})
}

// ListView answers a prefetched list (no document stable), else r's.
func (p *prefetched) ListView(ctx context.Context, kind string, q ListQuery, fn func(d *Doc, stable bool) bool) error {
	res, ok := p.find(Read{Kind: kind, List: true, Q: q})
	if !ok {
		res, ok = p.list(ctx, Read{Kind: kind, List: true, Q: q})
	}
	if ok {
		for i := range res.Docs {
			if !fn(&res.Docs[i], false) {
				break
			}
		}
		return res.Err
	}
	return ListView(ctx, p.Reader, kind, q, fn)
}

// List is ListView with documents of the caller's own.
func (p *prefetched) List(ctx context.Context, kind string, q ListQuery) ([]Doc, error) {
	res, ok := p.find(Read{Kind: kind, List: true, Q: q})
	if !ok {
		res, ok = p.list(ctx, Read{Kind: kind, List: true, Q: q})
	}
	if ok {
		if res.Err != nil {
			return nil, res.Err
		}
		out := make([]Doc, len(res.Docs))
		for i, d := range res.Docs {
			out[i] = d
			out[i].Value = append([]byte(nil), d.Value...)
		}
		return out, nil
	}
	return p.Reader.List(ctx, kind, q)
}

// AnyUnder is r's.
func (p *prefetched) AnyUnder(ctx context.Context, prefix string, kinds []string) (bool, error) {
	return AnyUnder(ctx, p.Reader, prefix, kinds...)
}

// NewGeneration is a new value for a generation document: a JSON string of
// random hex digits, never the same twice.
func NewGeneration() []byte {
	var b [12]byte
	rand.Read(b[:])
	return []byte(`"` + hex.EncodeToString(b[:]) + `"`)
}

// GenerationKeeper is a store that writes a generation document in every
// transaction that writes a document of some kinds.
type GenerationKeeper interface {
	// KeepGeneration makes every Update that writes (creates, replaces or
	// deletes, by key or by scope) a document of kinds write gen's
	// document too, with a NewGeneration, in the same transaction; false
	// when it cannot (a wrapper of a store that does not).
	KeepGeneration(gen Read, kinds ...string) bool
}

// Remembered answers the reads of some kinds' documents, gets and lists
// (rarely written, read by every request: the caller's principal, the
// subscription, its locks) from memory while their generation document
// holds the value it had when they were read. Every transaction that writes one of them writes that generation too
// (GenerationKeeper), and PrefetchRemembering reads it first in the request's
// one round trip, so a change made through any replica counts on the very
// next request through any other. A change made by hand (psql) moves no
// generation and is not seen until one moves.
type Remembered struct {
	gen   Read // normRead's
	kinds []string
	set   atomic.Pointer[rememberedSet]
}

// rememberedSet is the documents and lists read while the generation was
// gen; never modified once stored (an addition stores a copy).
type rememberedSet struct {
	gen  string
	docs map[Read]ReadResult // by normRead's read; no error
}

// rememberedMax bounds a Remembered's memory: a set that full starts again.
const rememberedMax = 4096

// NewRemembered returns the memory of kinds' documents in s under the
// generation document gen, which it has s keep (GenerationKeeper); nil (every
// read goes to s) unless s reads in batches and keeps generations.
func NewRemembered(s Reader, gen Read, kinds ...string) *Remembered {
	k, ok := s.(GenerationKeeper)
	if _, batches := s.(BatchReader); !ok || !batches || !k.KeepGeneration(gen, kinds...) {
		return nil
	}
	return &Remembered{gen: normRead(gen), kinds: slices.Clone(kinds)}
}

// holds reports whether rd (normRead's) is a read m remembers.
func (m *Remembered) holds(rd Read) bool {
	return slices.Contains(m.kinds, rd.Kind)
}

// lookup is what rd read at generation gen, remembered.
func (m *Remembered) lookup(gen string, rd Read) (ReadResult, bool) {
	if s := m.set.Load(); s != nil && s.gen == gen {
		res, ok := s.docs[rd]
		return res, ok
	}
	return ReadResult{}, false
}

// remember keeps res, what rd read after the generation was read as gen.
func (m *Remembered) remember(gen string, rd Read, res ReadResult) {
	s := m.set.Load()
	n := &rememberedSet{gen: gen, docs: map[Read]ReadResult{rd: res}}
	if s != nil && s.gen == gen && len(s.docs) < rememberedMax {
		for k, v := range s.docs {
			n.docs[k] = v
		}
	}
	m.set.CompareAndSwap(s, n) // another request's set may have gone first: either is right
}

// PrefetchRemembering is Prefetch reading m's generation first and, of the
// gets m remembers, only those it does not hold yet: the answers of the
// others come from memory when the generation read is the one they were
// read at, else from r when asked. m nil: Prefetch.
func PrefetchRemembering(ctx context.Context, r Reader, m *Remembered, reads ...Read) Reader {
	b, ok := r.(BatchReader)
	if m == nil || !ok {
		return Prefetch(ctx, r, reads...)
	}
	held := m.set.Load()
	batch := []Read{m.gen}
	for _, rd := range reads {
		n := normRead(rd)
		if n == m.gen {
			continue
		}
		if held != nil && m.holds(n) {
			if _, ok := held.docs[n]; ok {
				continue // (expected from memory; read from r if the generation moved)
			}
		}
		batch = append(batch, n)
	}
	// The generation first: each document read after it is as new as
	// that generation's, or newer (never older), so it may be answered
	// while the generation stands.
	p := &prefetched{Reader: r, reads: batch, results: b.ReadBatch(ctx, batch), mem: m, fill: true}
	if g := p.results[0]; g.Err == nil {
		// (No generation document, ErrNotFound, is none: its delete would
		// move nothing, and a later one could find the set of before.)
		p.gen, p.genOK = string(g.Doc.Value), true
		for i, rd := range batch[1:] {
			if res := p.results[i+1]; m.holds(rd) && res.Err == nil {
				m.remember(p.gen, rd, res)
			}
		}
	}
	return p
}
