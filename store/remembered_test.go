package store_test

import (
	"context"
	"errors"
	"testing"

	"github.com/safehold/safehold/internal/testsvc"
	"github.com/safehold/safehold/store"
	"github.com/safehold/safehold/store/storetest"
)

// Two replicas on one PostgreSQL schema, each remembering the documents of
// kinds "p" and "s" under the generation document gen/g: a document
// created, replaced or deleted (by key or by scope) through one is read as
// it now is through the other on its very next prefetch, by get and in a
// list, while one read again with no such write between is answered from
// memory (no statement for it in the round trip: its answer stays with the
// database closed); a write of another kind, or one whose Update failed,
// moves nothing.
func TestPostgresRememberedSeesEachWriteAtOnce(t *testing.T) {
	ctx := context.Background()
	url := testsvc.PostgresSchema(t)
	a, b := storetest.Postgres(t, url), storetest.Postgres(t, url)
	gen := store.Read{Kind: "gen", Key: "g"}
	if store.NewRemembered(a, gen, "p", "s") == nil {
		t.Fatal("PostgreSQL does not remember")
	}
	mb := store.NewRemembered(b, gen, "p", "s")
	put := func(s store.Store, kind, key, value string) {
		t.Helper()
		if err := s.Update(ctx, func(tx store.Tx) error {
			return tx.Put(ctx, store.Doc{Kind: kind, Key: key, Scope: "/" + key + "/", Value: []byte(value)})
		}); err != nil {
			t.Fatal(err)
		}
	}
	genOf := func() string {
		t.Helper()
		d, err := a.Get(ctx, gen.Kind, gen.Key)
		if err != nil {
			t.Fatalf("the generation: %v", err)
		}
		return string(d.Value)
	}
	// read prefetches p/x, s/y and the list of s under /y/ through b,
	// and answers the three (a value or "none"; the list's values).
	sList := store.Read{Kind: "s", List: true, Q: store.ListQuery{ScopePrefix: "/Y/"}}
	read := func(s store.Reader) (px, sy, sl string) {
		t.Helper()
		p := store.PrefetchRemembering(ctx, s, mb, store.Read{Kind: "p", Key: "X"}, store.Read{Kind: "s", Key: "y"}, sList, gen)
		docs, err := p.List(ctx, "s", sList.Q)
		if err != nil {
			t.Fatalf("the list of s: %v", err)
		}
		var viewed []string
		if err := store.ListView(ctx, p, "s", sList.Q, func(d *store.Doc, _ bool) bool { viewed = append(viewed, string(d.Value)); return true }); err != nil {
			t.Fatalf("the list of s viewed: %v", err)
		}
		for i, d := range docs {
			sl += string(d.Value)
			if i >= len(viewed) || viewed[i] != string(d.Value) {
				t.Fatalf("the list of s viewed: %q, listed %d documents", viewed, len(docs))
			}
		}
		for _, x := range []struct {
			key string
			to  *string
		}{{"p/x", &px}, {"s/y", &sy}} {
			kind, key := x.key[:1], x.key[2:]
			d, err := store.View(ctx, p, kind, key)
			switch {
			case errors.Is(err, store.ErrNotFound):
				*x.to = "none"
			case err != nil:
				t.Fatalf("%s: %v", x.key, err)
			default:
				*x.to = string(d.Value)
				if g, err := p.Get(ctx, kind, key); err != nil || string(g.Value) != *x.to {
					t.Fatalf("%s: Get %v %q, View %q", x.key, err, g.Value, *x.to)
				}
			}
		}
		return px, sy, sl
	}
	want := func(px, sy string) {
		t.Helper()
		sl := sy
		if sy == "none" {
			sl = ""
		}
		if gx, gy, gl := read(b); gx != px || gy != sy || gl != sl {
			t.Fatalf("through b: p/x %s, s/y %s, listed %q; want %s, %s, %q", gx, gy, gl, px, sy, sl)
		}
	}

	put(a, "p", "x", "1")
	g := genOf()
	want("1", "none")
	want("1", "none") // (from memory now)
	put(a, "p", "x", "2")
	want("2", "none")
	put(a, "s", "y", "3")
	want("2", "3")
	if err := a.Update(ctx, func(tx store.Tx) error { return tx.Delete(ctx, "p", "x") }); err != nil {
		t.Fatal(err)
	}
	want("none", "3")
	put(a, "p", "x", "4")
	want("4", "3")
	if err := a.Update(ctx, func(tx store.Tx) error {
		_, err := tx.DeleteScope(ctx, "s", "/y/")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	want("4", "none")
	put(a, "s", "y", "5")
	want("4", "5")
	if genOf() == g {
		t.Fatal("the writes of p and s moved no generation")
	}

	// Neither a write of another kind nor a failed Update moves it.
	g = genOf()
	put(a, "other", "x", "6")
	if err := a.Update(ctx, func(tx store.Tx) error {
		tx.Put(ctx, store.Doc{Kind: "p", Key: "x", Value: []byte("7")})
		return errors.New("fails")
	}); err == nil {
		t.Fatal("a failing Update succeeded")
	}
	if genOf() != g {
		t.Fatal("a write of another kind or a failed Update moved the generation")
	}
	want("4", "5")

	// Remembered: with the generation read and nothing else, b's
	// answers hold while its database is gone.
	p := store.PrefetchRemembering(ctx, b, mb, store.Read{Kind: "p", Key: "x"}, store.Read{Kind: "s", Key: "y"}, sList)
	b.Close()
	if docs, err := p.List(ctx, "s", sList.Q); err != nil || len(docs) != 1 || string(docs[0].Value) != "5" {
		t.Fatalf("the list of s remembered: %v %+v", err, docs)
	}
	if d, err := store.View(ctx, p, "p", "x"); err != nil || string(d.Value) != "4" {
		t.Fatalf("p/x remembered: %v %q", err, d.Value)
	}
	if d, err := p.Get(ctx, "s", "y"); err != nil || string(d.Value) != "5" {
		t.Fatalf("s/y remembered: %v %q", err, d.Value)
	}
	if _, err := store.View(ctx, p, "other", "x"); err == nil {
		t.Fatal("a read of a kind not remembered answered with the database closed")
	}
}
