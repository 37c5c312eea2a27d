package store

import (
	"context"
	"strings"
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
	return &prefetched{Reader: r, reads: p.reads, results: p.results}
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
}

func (p *prefetched) find(rd Read) (ReadResult, bool) {
	rd = normRead(rd)
	for i, x := range p.reads {
		if x == rd {
			return p.results[i], true
		}
	}
	return ReadResult{}, false
}

// View answers a prefetched document, else r's View.
func (p *prefetched) View(ctx context.Context, kind, key string) (Doc, error) {
	if res, ok := p.find(Read{Kind: kind, Key: key}); ok {
		return res.Doc, res.Err
	}
	return View(ctx, p.Reader, kind, key)
}

// Get is View with a value of the caller's own.
func (p *prefetched) Get(ctx context.Context, kind, key string) (Doc, error) {
	if res, ok := p.find(Read{Kind: kind, Key: key}); ok {
		d := res.Doc
		d.Value = append([]byte(nil), d.Value...)
		return d, res.Err
	}
	return p.Reader.Get(ctx, kind, key)
}

// ListView answers a prefetched list (no document stable), else r's.
func (p *prefetched) ListView(ctx context.Context, kind string, q ListQuery, fn func(d *Doc, stable bool) bool) error {
	if res, ok := p.find(Read{Kind: kind, List: true, Q: q}); ok {
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
	if res, ok := p.find(Read{Kind: kind, List: true, Q: q}); ok {
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
