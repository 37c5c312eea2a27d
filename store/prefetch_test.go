package store_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

// prefetchDocs writes the documents the prefetch tests read.
func prefetchDocs(t *testing.T, s store.Store) {
	ctx := context.Background()
	err := s.Update(ctx, func(tx store.Tx) error {
		for _, d := range []store.Doc{
			{Kind: "k", Key: "/S/One", Scope: "/s/1/", Type: "T", Value: []byte(`{"n":1}`)},
			{Kind: "k", Key: "/s/two", Scope: "/s/2/", Value: []byte(`{"n":2}`)},
			{Kind: "k", Key: "/x/three", Scope: "/x/", Value: []byte(`{"n":3}`)},
			{Kind: "other", Key: "/s/one", Scope: "/s/1/", Value: []byte(`{"n":4}`)},
		} {
			if err := tx.Put(ctx, d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The prefetch's reads: a document (cased otherwise), one that does not
// exist, lists with a scope, a type, a limit, and an empty one.
var prefetchReads = []store.Read{
	{Kind: "k", Key: "/s/ONE"},
	{Kind: "k", Key: "/s/none"},
	{Kind: "k", List: true, Q: store.ListQuery{ScopePrefix: "/S/"}},
	{Kind: "k", List: true, Q: store.ListQuery{Type: "t"}},
	{Kind: "k", List: true, Q: store.ListQuery{Limit: 1}},
	{Kind: "nothing", List: true, Q: store.ListQuery{ScopePrefix: "/s/"}},
}

// checkPrefetched compares each of p's answers to prefetchReads with the
// store's own answer to the same read, through every way of reading.
func checkPrefetched(t *testing.T, s store.Store, p store.Reader) {
	ctx := context.Background()
	for _, rd := range prefetchReads {
		if rd.List {
			want, werr := s.List(ctx, rd.Kind, rd.Q)
			got, err := p.List(ctx, rd.Kind, rd.Q)
			if err != nil || werr != nil || len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
				t.Fatalf("List %+v: %v %+v, the store's %v %+v", rd, err, got, werr, want)
			}
			var viewed []store.Doc
			if err := store.ListView(ctx, p, rd.Kind, rd.Q, func(d *store.Doc, _ bool) bool { viewed = append(viewed, *d); return true }); err != nil || len(viewed) != len(want) || (len(want) > 0 && !reflect.DeepEqual(viewed, want)) {
				t.Fatalf("ListView %+v: %v %+v, the store's %+v", rd, err, viewed, want)
			}
			continue
		}
		want, werr := s.Get(ctx, rd.Kind, rd.Key)
		got, err := p.Get(ctx, rd.Kind, rd.Key)
		if !errors.Is(err, werr) || !reflect.DeepEqual(got, want) {
			t.Fatalf("Get %+v: %v %+v, the store's %v %+v", rd, err, got, werr, want)
		}
		v, err := store.View(ctx, p, rd.Kind, rd.Key)
		if !errors.Is(err, werr) || !reflect.DeepEqual(v, want) {
			t.Fatalf("View %+v: %v %+v, the store's %+v", rd, err, v, want)
		}
		if ok, err := store.Exists(ctx, p, rd.Kind, rd.Key); err != nil || ok != (werr == nil) {
			t.Fatalf("Exists %+v: %v %v", rd, ok, err)
		}
	}
	// A Get's value is the caller's to change.
	g, _ := p.Get(ctx, "k", "/s/one")
	g.Value[0] = 'z'
	if v, _ := store.View(ctx, p, "k", "/s/one"); string(v.Value) != `{"n":1}` {
		t.Fatalf("a Get's value changed the prefetched one: %q", v.Value)
	}
	// What was not prefetched is the store's.
	if d, err := p.Get(ctx, "other", "/S/ONE"); err != nil || string(d.Value) != `{"n":4}` {
		t.Fatalf("a read not prefetched: %v %+v", err, d)
	}
	if docs, err := p.List(ctx, "k", store.ListQuery{ScopePrefix: "/x/"}); err != nil || len(docs) != 1 {
		t.Fatalf("a list not prefetched: %v %+v", err, docs)
	}
}

func TestPrefetchAnswersAsTheStore(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) store.Store{
		"sqlite":   func(t *testing.T) store.Store { return storetest.SQLite(t) },
		"postgres": func(t *testing.T) store.Store { return storetest.Postgres(t, testsvc.PostgresSchema(t)) },
	} {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			prefetchDocs(t, s)
			checkPrefetched(t, s, store.Prefetch(context.Background(), s, prefetchReads...))
		})
	}
}

// On PostgreSQL the prefetched reads are made in one round trip, before
// they are asked: with the store closed they still answer, while a read
// that was not prefetched fails.
func TestPostgresPrefetchReadsAtOnce(t *testing.T) {
	ctx := context.Background()
	s := storetest.Postgres(t, testsvc.PostgresSchema(t))
	prefetchDocs(t, s)
	p := store.Prefetch(ctx, s, prefetchReads...)
	if p == store.Reader(s) {
		t.Fatal("PostgreSQL does not prefetch")
	}
	want := map[string]int{}
	for _, rd := range prefetchReads {
		if rd.List {
			docs, _ := s.List(ctx, rd.Kind, rd.Q)
			want[rd.Kind+rd.Q.ScopePrefix+rd.Q.Type] = len(docs)
		}
	}
	s.Close()
	for _, rd := range prefetchReads {
		if rd.List {
			docs, err := p.List(ctx, rd.Kind, rd.Q)
			if err != nil || len(docs) != want[rd.Kind+rd.Q.ScopePrefix+rd.Q.Type] {
				t.Fatalf("List %+v after Close: %v %d documents", rd, err, len(docs))
			}
		} else if _, err := p.Get(ctx, rd.Kind, rd.Key); err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get %+v after Close: %v", rd, err)
		}
	}
	if d, err := p.Get(ctx, "k", "/s/one"); err != nil || string(d.Value) != `{"n":1}` {
		t.Fatalf("a prefetched document after Close: %v %+v", err, d)
	}
	if _, err := p.Get(ctx, "other", "/s/one"); err == nil {
		t.Fatal("a read not prefetched answered with the store closed")
	}
}

// A database out of reach fails each prefetched read with the store's
// error (a 503 for the request), not with ErrNotFound.
func TestPostgresPrefetchFailsEachRead(t *testing.T) {
	ctx := context.Background()
	s := storetest.Postgres(t, testsvc.PostgresSchema(t))
	prefetchDocs(t, s)
	s.Close()
	p := store.Prefetch(ctx, s, prefetchReads...)
	for _, rd := range prefetchReads {
		var err error
		if rd.List {
			_, err = p.List(ctx, rd.Kind, rd.Q)
		} else {
			_, err = p.Get(ctx, rd.Kind, rd.Key)
		}
		if err == nil || errors.Is(err, store.ErrNotFound) {
			t.Fatalf("%+v with the store closed: %v", rd, err)
		}
	}
}

// A request's prefetched reads travel in its context (WithPrefetched):
// Prefetched answers them over any reader given, as read then, and passes
// the rest on to that reader; without them it is the reader itself.
func TestPrefetchedTravelsInTheContext(t *testing.T) {
	ctx := context.Background()
	url := testsvc.PostgresSchema(t)
	s, other := storetest.Postgres(t, url), storetest.Postgres(t, url)
	prefetchDocs(t, s)
	if r := store.Prefetched(ctx, other); r != store.Reader(other) {
		t.Fatal("Prefetched without prefetched reads is not the reader given")
	}
	if _, ok := store.PrefetchedIn(ctx); ok {
		t.Fatal("PrefetchedIn: reads where none were made")
	}
	if store.WithPrefetched(ctx, s) != ctx {
		t.Fatal("WithPrefetched of a store, not of prefetched reads, changed the context")
	}
	ctx = store.WithPrefetched(ctx, store.Prefetch(ctx, s, prefetchReads...))
	if _, ok := store.PrefetchedIn(ctx); !ok {
		t.Fatal("PrefetchedIn: no reads")
	}
	p := store.Prefetched(ctx, other)
	checkPrefetched(t, s, p)
	// Their answers are those of the moment they were read; the rest is
	// the given reader's, now.
	if err := other.Update(ctx, func(tx store.Tx) error {
		if err := tx.Delete(ctx, "k", "/s/one"); err != nil {
			return err
		}
		return tx.Put(ctx, store.Doc{Kind: "other", Key: "/s/one", Value: []byte(`{"n":5}`)})
	}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if d, err := p.Get(ctx, "k", "/s/one"); err != nil || string(d.Value) != `{"n":1}` {
		t.Fatalf("a prefetched document: %v %+v", err, d)
	}
	if d, err := p.Get(ctx, "other", "/s/one"); err != nil || string(d.Value) != `{"n":5}` {
		t.Fatalf("a read not prefetched, through the reader given: %v %+v", err, d)
	}
}
